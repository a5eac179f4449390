//! The domain's error type. Every failure a caller can see is one of these variants;
//! the wire edge maps each to an AWS error code and HTTP status exactly once.
//! Nothing here knows a status code or a header.

use crate::execution::ExecutionState;
use std::fmt;

/// What kind of resource an error is about (used to build ARNs at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Thing,
    ThingGroup,
    Job,
    JobExecution,
    Certificate,
    JobTemplate,
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
    /// A resource with that id exists (AWS: ConflictException, which the newer operations
    /// such as CreateJobTemplate declare instead of ResourceAlreadyExistsException; its
    /// body carries `resourceId` and no ARN).
    #[error("{message}")]
    Conflict {
        message: String,
        /// The id in use (`resourceId` in the error body).
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
    /// A certificate that cannot be parsed (AWS: CertificateValidationException).
    #[error("{0}")]
    CertificateValidation(String),
    /// The certificate's status does not allow the operation (AWS:
    /// CertificateStateException).
    #[error("{0}")]
    CertificateState(String),
    /// The resource is still attached to others (AWS: DeleteConflictException).
    #[error("{0}")]
    DeleteConflict(String),
    /// The storage backend cannot serve now (AWS: ServiceUnavailableException).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected backend failure (AWS: InternalFailureException).
    #[error("{0}")]
    Internal(String),
}

/// Every message a caller can read, built in one place so that each wording is one
/// named decision. Stores and handlers call these; they never format a message of
/// their own (a tidy test in the integration binary checks it).
///
/// AWS words a missing resource two ways and so do we: lookups of the resource itself
/// (DescribeThing, the data plane, ListJobExecutionsForThing) answer "Thing X cannot be
/// found.", as live AWS does (wire spec §8); references from another resource (a job's
/// target, a group member, an execution's thing) answer "Thing X does not exist".
impl JobsError {
    // ---- not found --------------------------------------------------------------------

    /// The thing named by the request itself does not exist.
    pub fn thing_not_found(thing: &str) -> Self {
        Self::NotFound(format!("Thing {thing} cannot be found."))
    }

    /// A thing that another resource refers to (a job target, a group member, an
    /// execution's thing) does not exist.
    pub fn referenced_thing_not_found(thing: &str) -> Self {
        Self::NotFound(format!("Thing {thing} does not exist"))
    }

    pub fn thing_group_not_found(group: &str) -> Self {
        Self::NotFound(format!("Thing group {group} does not exist"))
    }

    pub fn job_not_found(job_id: &str) -> Self {
        Self::NotFound(format!("Job {job_id} does not exist"))
    }

    pub fn job_execution_not_found(thing: &str, job_id: &str) -> Self {
        Self::NotFound(format!(
            "Job execution for thing {thing} within job {job_id} does not exist"
        ))
    }

    /// Which part of "the execution of job J on thing T" is missing: the job first,
    /// then the thing, else only the execution.
    pub fn missing_job_execution(
        thing: &str,
        job_id: &str,
        job_exists: bool,
        thing_exists: bool,
    ) -> Self {
        if !job_exists {
            Self::job_not_found(job_id)
        } else if !thing_exists {
            Self::referenced_thing_not_found(thing)
        } else {
            Self::job_execution_not_found(thing, job_id)
        }
    }

    /// A certificate named by its id (DescribeCertificate and friends, or a principal).
    pub fn certificate_not_found(certificate_id: &str) -> Self {
        Self::NotFound(format!("Certificate {certificate_id} does not exist"))
    }

    // ---- state transitions ------------------------------------------------------------

    /// A device asked for a status only the service sets (QUEUED, CANCELED, TIMED_OUT,
    /// REMOVED): InvalidStateTransitionException with live AWS's wording (wire spec §8).
    /// `state` is the execution's when it was looked up; the data plane refuses before
    /// any lookup, so it sends none.
    pub fn status_not_device_settable(
        status: crate::JobExecutionStatus,
        state: Option<ExecutionState>,
    ) -> Self {
        Self::InvalidStateTransition {
            message: format!("The status of job execution cannot be changed to be {status}"),
            state,
        }
    }

    // ---- already exists ---------------------------------------------------------------

    /// The same certificate registered twice (AWS's wording).
    pub fn certificate_already_exists(certificate_id: &str) -> Self {
        Self::AlreadyExists {
            message: "The certificate is already provisioned or registered".into(),
            kind: ResourceKind::Certificate,
            name: certificate_id.to_owned(),
            resource_id: certificate_id.to_owned(),
        }
    }

    pub fn thing_already_exists(thing: &str, thing_id: &str) -> Self {
        Self::AlreadyExists {
            message: format!("Thing {thing} already exists with different attributes"),
            kind: ResourceKind::Thing,
            name: thing.to_owned(),
            resource_id: thing_id.to_owned(),
        }
    }

    pub fn thing_group_already_exists(group: &str, group_id: &str) -> Self {
        Self::AlreadyExists {
            message: format!("Thing group {group} already exists with a different configuration"),
            kind: ResourceKind::ThingGroup,
            name: group.to_owned(),
            resource_id: group_id.to_owned(),
        }
    }

    pub fn job_already_exists(job_id: &str) -> Self {
        Self::AlreadyExists {
            message: format!("Job {job_id} already exists"),
            kind: ResourceKind::Job,
            name: job_id.to_owned(),
            resource_id: job_id.to_owned(),
        }
    }

    // ---- invalid requests -------------------------------------------------------------

    /// A value outside what iotjobs knows for `member` (the model's enums are checked
    /// before; this is what is left for values the core has no variant for).
    pub fn unknown_value(member: &str, value: &str) -> Self {
        Self::InvalidRequest(format!("Unknown {member} {value}"))
    }

    /// A `nextToken` that no page of ours produced.
    pub fn invalid_next_token() -> Self {
        Self::InvalidRequest("Invalid nextToken".into())
    }

    /// A `POST /iotjobs-api/clock` body that is not one of the two forms.
    pub fn invalid_test_clock_request() -> Self {
        Self::InvalidRequest(
            "The test clock takes {\"advanceSeconds\": N} (N >= 0) or {\"epochSeconds\": T}".into(),
        )
    }

    /// The test clock never goes backwards.
    pub fn test_clock_backwards(now: crate::Timestamp, asked: crate::Timestamp) -> Self {
        Self::InvalidRequest(format!(
            "The test clock never goes backwards: it is at {} and {} was asked",
            now.epoch_seconds_f64(),
            asked.epoch_seconds_f64()
        ))
    }

    /// A query parameter of `GET /iotjobs-api/audit` that is not one, or not valid.
    pub fn invalid_audit_parameter(name: &str, value: &str) -> Self {
        Self::InvalidRequest(format!(
            "Invalid audit query parameter {name}={value:?}: expected jobId, thingName, \
             principal, since and until (epoch seconds), maxResults (1-250), nextToken"
        ))
    }

    /// A `marker` that no page of ours produced (ListCertificates).
    pub fn invalid_marker() -> Self {
        Self::InvalidRequest("Invalid marker".into())
    }

    // ---- certificates -----------------------------------------------------------------

    /// A `certificatePem` that is not one PEM certificate.
    pub fn invalid_certificate(detail: impl fmt::Display) -> Self {
        Self::CertificateValidation(format!("The certificate is not valid: {detail}"))
    }

    /// A status a certificate cannot be registered with or updated to.
    pub fn certificate_status_not_allowed(status: &str) -> Self {
        Self::InvalidRequest(format!("The certificate status {status} is not allowed"))
    }

    /// A REVOKED certificate asked for another status.
    pub fn certificate_revoked(new_status: &str) -> Self {
        Self::CertificateState(format!(
            "The certificate is REVOKED and cannot be set to {new_status}"
        ))
    }

    /// DeleteCertificate of an ACTIVE certificate (AWS's wording).
    pub fn certificate_active_on_delete() -> Self {
        Self::CertificateState(
            "Certificate must be deactivated (not ACTIVE) before deletion.".into(),
        )
    }

    /// DeleteCertificate of a certificate attached to a thing (AWS's wording).
    pub fn certificate_attached_on_delete(certificate_arn: &str) -> Self {
        Self::DeleteConflict(format!(
            "Things must be detached before deletion (arn: {certificate_arn})"
        ))
    }

    /// CreateKeysAndCertificate on a server without a certificate authority: AWS always
    /// has one; iotjobs signs with the CA key given by `--mqtt-client-ca-key`. Of the
    /// operation's modelled errors, InvalidRequestException (400) is the one that fits and
    /// that no SDK retries (ThrottlingException, ServiceUnavailableException and
    /// InternalFailureException are retried; UnauthorizedException is about the caller).
    pub fn certificate_issuer_not_configured() -> Self {
        Self::InvalidRequest(
            "CreateKeysAndCertificate needs a certificate authority: start iotjobs serve with \
             --mqtt-client-ca-key FILE, the private key of the --mqtt-client-ca certificate"
                .into(),
        )
    }

    /// CreateKeysAndCertificate after the CA certificate of `--mqtt-client-ca-key`
    /// expired: a certificate it signed would fail every TLS handshake.
    pub fn certificate_issuer_expired() -> Self {
        Self::InvalidRequest(
            "CreateKeysAndCertificate cannot issue certificates: the --mqtt-client-ca \
             certificate of --mqtt-client-ca-key has expired; give the server a valid one"
                .into(),
        )
    }

    /// Generating a key pair or signing a certificate failed (a crypto library error:
    /// never the caller's input). Goes to the log.
    pub fn certificate_issuing_failed(detail: impl fmt::Display) -> Self {
        Self::Internal(format!("certificate issuer: {detail}"))
    }

    /// A principal that is not a certificate ARN of this account and region.
    pub fn invalid_principal(principal: &str) -> Self {
        Self::InvalidRequest(format!(
            "Principal {principal} is not a certificate ARN of this account and region"
        ))
    }

    /// An exclusive attachment in the way of another one.
    pub fn principal_attached_exclusively(principal: &str, thing: &str) -> Self {
        Self::InvalidRequest(format!(
            "Principal {principal} is attached to thing {thing}, and one of the attachments is EXCLUSIVE_THING"
        ))
    }

    /// DeleteThing of a thing with principals attached (AWS's wording).
    pub fn thing_has_principals(thing: &str) -> Self {
        Self::InvalidRequest(format!(
            "Cannot delete. Thing {thing} is still attached to one or more principals"
        ))
    }

    /// One of two members that name the same resource must be given.
    pub fn name_or_arn_required(name_member: &str, arn_member: &str) -> Self {
        Self::InvalidRequest(format!("Specify {name_member} or {arn_member}"))
    }

    pub fn invalid_target_arn(arn: &str) -> Self {
        Self::InvalidRequest(format!("Invalid target ARN: {arn}"))
    }

    /// A well-formed ARN of another region or account: from this account's view the
    /// resource does not exist, so ResourceNotFoundException (404), the error CreateJob
    /// models for a target it cannot find (wire spec §7 #17). A malformed ARN stays
    /// [`JobsError::invalid_target_arn`] (400).
    pub fn target_outside_account(arn: &str, region: &str, account_id: &str) -> Self {
        Self::NotFound(format!(
            "Target {arn} cannot be found: it is not in this service's region {region} and account {account_id}"
        ))
    }

    /// An ARN of the wrong resource type (`kind` as AWS words it: "thing", "thing group").
    pub fn wrong_arn_kind(arn: &str, kind: &str) -> Self {
        Self::InvalidRequest(format!("{arn} is not a {kind} ARN"))
    }

    /// A limit the models state only in their documentation, worded as AWS words a
    /// model constraint failure ("1 validation error detected: ...").
    pub fn validation(detail: impl fmt::Display) -> Self {
        Self::InvalidRequest(format!("1 validation error detected: {detail}"))
    }

    /// A required member is missing (for transports without a model validator, MQTT),
    /// worded as AWS's model validation words it.
    pub fn required_member(member: &str) -> Self {
        Self::validation(format_args!(
            "Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// An inconsistency that only a bug can cause (never a caller's mistake).
    pub fn bug(what: &str) -> Self {
        Self::Internal(format!("bug: {what}"))
    }

    // ---- storage ----------------------------------------------------------------------
    // Internal and Unavailable texts go to the log; the edge answers a generic message.

    /// The storage engine failed (`engine` names it: "sqlite", "postgres").
    pub fn storage(engine: &str, detail: impl fmt::Display) -> Self {
        Self::Internal(format!("{engine}: {detail}"))
    }

    /// The storage engine cannot serve now; a later retry may succeed.
    pub fn storage_unavailable(detail: impl fmt::Display) -> Self {
        Self::Unavailable(detail.to_string())
    }

    /// The transaction lost a race (deadlock, serialization failure): running the
    /// whole transaction again is the cure. [`JobsError::is_transaction_conflict`]
    /// recognizes it.
    pub fn transaction_conflict(detail: impl fmt::Display) -> Self {
        Self::Unavailable(format!("{TRANSACTION_CONFLICT}: {detail}"))
    }

    pub fn is_transaction_conflict(&self) -> bool {
        matches!(self, Self::Unavailable(m) if m.starts_with(TRANSACTION_CONFLICT))
    }

    /// The storage has no space left (a full disk, a quota): the engine refused to
    /// write. Nothing was committed, reads still work, and the same write succeeds once
    /// space is freed, so the caller may retry later. [`JobsError::is_storage_full`]
    /// recognizes it, and the edges answer that the storage is full.
    pub fn storage_full(engine: &str, detail: impl fmt::Display) -> Self {
        Self::Unavailable(format!("{STORAGE_FULL}: {engine}: {detail}"))
    }

    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::Unavailable(m) if m.starts_with(STORAGE_FULL))
    }

    /// The connection to the database server broke (the server restarted, an
    /// administrator ended the session, the network failed). A read may be run again on
    /// a new connection; a write may or may not have committed, so the caller decides.
    /// [`JobsError::is_connection_lost`] recognizes it.
    pub fn connection_lost(engine: &str, detail: impl fmt::Display) -> Self {
        Self::Unavailable(format!("{CONNECTION_LOST}: {engine}: {detail}"))
    }

    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Self::Unavailable(m) if m.starts_with(CONNECTION_LOST))
    }

    /// A database whose recorded schema version this build cannot serve: one written by
    /// a newer iotjobs (`found` above `supported`), or a version no iotjobs ever wrote
    /// (below 0). Serving it could misread or damage data, so the server refuses to
    /// start; the operator reads this at start-up.
    pub fn unsupported_schema_version(engine: &str, found: i64, supported: i64) -> Self {
        let why = if found < 0 {
            "which no version of iotjobs writes".to_owned()
        } else {
            format!(
                "which is newer than this iotjobs knows (it migrates databases up to schema version {supported}): \
                 the database was upgraded by a newer iotjobs; run that version (or newer), \
                 or restore a backup taken before the upgrade"
            )
        };
        Self::Internal(format!(
            "{engine}: refusing to serve a database of schema version {found}, {why}; \
             this iotjobs supports schema versions 0 to {supported}"
        ))
    }

    /// Refusal of `Store::claim_account`, worded the same by every backend.
    pub fn account_mismatch(owner: &str, claimed: &str) -> Self {
        Self::InvalidRequest(format!(
            "this database holds the resources of account {owner}, not {claimed}"
        ))
    }
}

/// The prefix that marks a [`JobsError::transaction_conflict`].
const TRANSACTION_CONFLICT: &str = "transaction conflict";
/// The prefix that marks a [`JobsError::storage_full`].
const STORAGE_FULL: &str = "storage full";
/// The prefix that marks a [`JobsError::connection_lost`].
const CONNECTION_LOST: &str = "database connection lost";
