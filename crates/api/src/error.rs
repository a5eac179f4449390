//! The one place where errors become AWS restJson1 error responses.
//!
//! Inside, errors are typed ([`iotjobs_core::JobsError`], [`crate::wire::WireError`]);
//! here they get their AWS error code (the error shape's name), HTTP status (the shape's
//! `httpStatusCode` in the plane's model) and body. The response carries the code in
//! `x-amzn-ErrorType` and `{"message": …}` in the body, which is what botocore and the
//! AWS SDK for Rust read (header first, then body `code`/`__type`).

use crate::auth::AuthError;
use crate::{Plane, ServiceConfig};
use iotjobs_core::JobsError;
use iotjobs_core::error::ResourceKind;
use iotjobs_core::execution::ExecutionState;
use serde_json::{Map, Value, json};

/// An error on its way to the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The AWS error code, e.g. `InvalidStateTransitionException`.
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    /// Extra body members (`executionState`, `resourceId`, …).
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// 400 InvalidRequestException: bad input on either plane.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", 400, message)
    }

    /// Map a domain error for the given plane. The planes differ in two places:
    /// - a version mismatch is VersionConflictException (409) on the control plane, but
    ///   the data plane's model has no such error and AWS answers InvalidRequestException
    ///   (400) there (wire spec §8);
    /// - the data plane's InvalidStateTransitionException "also contains the
    ///   executionState field" (iot-jobs-data model), the control plane's does not.
    pub fn from_jobs(err: JobsError, plane: Plane, config: &ServiceConfig) -> Self {
        let data = plane == Plane::Data;
        match err {
            JobsError::InvalidRequest(m) => Self::invalid_request(m),
            JobsError::NotFound(m) => Self::new("ResourceNotFoundException", 404, m),
            JobsError::AlreadyExists {
                message,
                kind,
                name,
                resource_id,
            } => {
                let mut e = Self::new("ResourceAlreadyExistsException", 409, message);
                e.extra
                    .insert("resourceId".into(), Value::String(resource_id));
                e.extra.insert(
                    "resourceArn".into(),
                    Value::String(arn(config, kind, &name)),
                );
                e
            }
            JobsError::InvalidStateTransition { message, state } => {
                let mut e = Self::new("InvalidStateTransitionException", 409, message);
                if let (true, Some(state)) = (data, state) {
                    e.extra
                        .insert("executionState".into(), execution_state_json(&state));
                }
                e
            }
            ref mismatch @ JobsError::VersionMismatch { ref state, .. } => {
                let message = mismatch.to_string();
                if data {
                    let mut e = Self::invalid_request(message);
                    if let Some(state) = state {
                        e.extra
                            .insert("executionState".into(), execution_state_json(state));
                    }
                    e
                } else {
                    Self::new("VersionConflictException", 409, message)
                }
            }
            JobsError::LimitExceeded(m) => Self::new("LimitExceededException", 410, m),
            JobsError::TerminalState(m) => Self::new("TerminalStateException", 410, m),
            JobsError::Unavailable(m) => Self::new("ServiceUnavailableException", 503, m),
            JobsError::Internal(m) => {
                // Log the detail; the client sees a generic message (never internals).
                tracing::error!(detail = %m, "internal failure");
                Self::new(
                    "InternalFailureException",
                    500,
                    "An internal error occurred; see the server log.",
                )
            }
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("message".into(), Value::String(self.message.clone()));
        Value::Object(body)
    }
}

impl From<crate::wire::WireError> for ApiError {
    fn from(e: crate::wire::WireError) -> Self {
        match e.kind {
            // An operation of the AWS model that iotjobs does not serve: say so, with
            // a code that no client retries.
            crate::wire::WireErrorKind::NotServed => {
                ApiError::new("NotImplementedException", 501, e.message)
            }
            _ => ApiError::invalid_request(e.message),
        }
    }
}

/// The ARN of a resource of this service.
pub fn arn(config: &ServiceConfig, kind: ResourceKind, name: &str) -> String {
    let kind = match kind {
        ResourceKind::Thing => "thing",
        ResourceKind::ThingGroup => "thinggroup",
        ResourceKind::Job | ResourceKind::JobExecution => "job",
    };
    format!(
        "arn:aws:iot:{}:{}:{kind}/{name}",
        config.region, config.account_id
    )
}

/// The data plane's `executionState` object.
pub fn execution_state_json(state: &ExecutionState) -> Value {
    json!({
        "status": state.status.as_str(),
        "statusDetails": state.status_details,
        "versionNumber": state.version_number,
    })
}

impl ApiError {
    /// Map an authentication or authorization refusal. All are 403, with the codes AWS
    /// answers for them (API Gateway-fronted services such as `iot`: the error body
    /// carries `message`, the header the code).
    pub fn from_auth(err: AuthError) -> Self {
        match err {
            AuthError::MissingAuthenticationToken => Self::new(
                "MissingAuthenticationTokenException",
                403,
                "Missing Authentication Token",
            ),
            AuthError::IncompleteSignature(m) => Self::new("IncompleteSignatureException", 403, m),
            AuthError::UnrecognizedClient => Self::new(
                "UnrecognizedClientException",
                403,
                "The security token included in the request is invalid.",
            ),
            AuthError::InvalidSignature(m) => Self::new("InvalidSignatureException", 403, m),
            AuthError::AccessDenied(m) => Self::new("AccessDeniedException", 403, m),
        }
    }
}
