//! The domain's error type. Every failure a caller can see is one of these variants;
//! the wire edge maps each to an AWS error code and HTTP status exactly once.
//! Nothing here knows a status code or a header.

use crate::execution::ExecutionState;

/// What kind of resource an error is about (used to build ARNs at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Thing,
    ThingGroup,
    Job,
    JobExecution,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobsError {
    /// The request is well-formed on the wire but not acceptable (AWS: InvalidRequestException).
    #[error("{0}")]
    InvalidRequest(String),
    /// A named resource does not exist (AWS: ResourceNotFoundException).
    #[error("{0}")]
    NotFound(String),
    /// The resource exists with another configuration (AWS: ResourceAlreadyExistsException).
    #[error("{message}")]
    AlreadyExists {
        message: String,
        kind: ResourceKind,
        /// The resource's name (what its ARN ends with).
        name: String,
        /// The resource's id (`resourceId` in the error body).
        resource_id: String,
    },
    /// The command is not allowed from the execution's (or job's) current status
    /// (AWS: InvalidStateTransitionException). `state` is the execution's current state,
    /// which the data plane returns as `executionState` in the error body.
    #[error("{message}")]
    InvalidStateTransition {
        message: String,
        state: Option<ExecutionState>,
    },
    /// `expectedVersion` did not match. The control plane answers VersionConflictException
    /// (409); the data plane, whose model has no such error, answers InvalidRequestException
    /// (400). The plane decides, at the edge.
    #[error("Expected version {expected} but found version {found}")]
    VersionMismatch {
        expected: i64,
        found: i64,
        state: Option<ExecutionState>,
    },
    /// A quota was hit (AWS: LimitExceededException).
    #[error("{0}")]
    LimitExceeded(String),
    /// The data plane was asked to describe an execution that has finished
    /// (AWS: TerminalStateException).
    #[error("{0}")]
    TerminalState(String),
    /// The storage backend cannot serve now (AWS: ServiceUnavailableException).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected backend failure (AWS: InternalFailureException).
    #[error("{0}")]
    Internal(String),
}
