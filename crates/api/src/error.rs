//! The one place where errors become AWS restJson1 error responses.
//!
//! Inside, errors are typed ([`iotjobs_core::JobsError`], [`crate::wire::WireError`]);
//! here they get their AWS error code (the error shape's name), HTTP status (the shape's
//! `httpStatusCode` in the plane's model, [`status_of`]) and body. The response carries the
//! code in `x-amzn-ErrorType` and `{"message": …}` in the body, which is what botocore and
//! the AWS SDK for Rust read (header first, then body `code`/`__type`).
//!
//! Errors decided at the edge before an operation runs (authentication, routing, body size
//! and timeouts) are AWS's front end's, not error shapes of a model: they are built with
//! their status where they are decided ([`ApiError::new`]).
//!
//! This module uses `app`, `auth`, `listener` and `wire`; it must not import `server` or
//! `handlers`, which use it.

use crate::app::{AccountConfig, arn};
use crate::auth::AuthError;
use crate::listener::{MAX_HEAD_BYTES, Unparsable};
use crate::wire::{Plane, WireError, WireErrorKind};
use iotjobs_core::JobsError;
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

    /// An error shape of `plane`'s model: the status is the model's ([`status_of`]).
    fn modeled(plane: Plane, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, status_of(plane, code), message)
    }

    /// 400 InvalidRequestException: bad input on either plane (both models say 400).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", 400, message)
    }

    /// 501 NotImplementedException: an operation of the models that iotjobs does not
    /// serve (see [`NOT_IN_MODELS`]).
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(NOT_IMPLEMENTED, not_in_models(NOT_IMPLEMENTED), message)
    }

    /// Map a domain error for the given plane: the code is chosen here, per variant and
    /// plane; the status is the model's ([`status_of`]). The planes differ in two places:
    /// - a version mismatch is VersionConflictException (409) on the control plane, but
    ///   the data plane's model has no such error and AWS answers InvalidRequestException
    ///   (400) there (wire spec §8);
    /// - the data plane's InvalidStateTransitionException "also contains the
    ///   executionState field" (iot-jobs-data model), the control plane's does not.
    ///
    /// Every code sent here is declared by a served operation of that plane's model, except
    /// some that take their status from the other plane's model (tests
    /// `jobs_error_codes_are_declared_by_the_model`): TerminalStateException,
    /// ResourceAlreadyExistsException, LimitExceededException and two of the certificate
    /// registry's (CertificateStateException, DeleteConflictException) and
    /// ConflictException (CreateJobTemplate's), which no operation of the plane they are
    /// missing from produces, and InternalFailureException, which
    /// iotjobs answers for an internal failure on both planes (the data plane's model
    /// calls its 500 InternalServerException).
    pub fn from_jobs(err: JobsError, plane: Plane, config: &AccountConfig) -> Self {
        let data = plane == Plane::Data;
        let modeled = |code, message| Self::modeled(plane, code, message);
        let storage_full = err.is_storage_full();
        match err {
            JobsError::InvalidRequest(m) => modeled("InvalidRequestException", m),
            JobsError::NotFound(m) => modeled("ResourceNotFoundException", m),
            JobsError::AlreadyExists {
                message,
                kind,
                name,
                resource_id,
            } => {
                let mut e = modeled("ResourceAlreadyExistsException", message);
                e.extra
                    .insert("resourceId".into(), Value::String(resource_id));
                e.extra.insert(
                    "resourceArn".into(),
                    Value::String(arn(config, kind, &name)),
                );
                e
            }
            JobsError::Conflict {
                message,
                resource_id,
            } => {
                let mut e = modeled("ConflictException", message);
                e.extra
                    .insert("resourceId".into(), Value::String(resource_id));
                e
            }
            JobsError::InvalidStateTransition { message, state } => {
                let mut e = modeled("InvalidStateTransitionException", message);
                if let (true, Some(state)) = (data, state) {
                    e.extra
                        .insert("executionState".into(), execution_state_json(&state));
                }
                e
            }
            ref mismatch @ JobsError::VersionMismatch { ref state, .. } => {
                let message = mismatch.to_string();
                if data {
                    let mut e = modeled("InvalidRequestException", message);
                    if let Some(state) = state {
                        e.extra
                            .insert("executionState".into(), execution_state_json(state));
                    }
                    e
                } else {
                    modeled("VersionConflictException", message)
                }
            }
            JobsError::LimitExceeded(m) => modeled("LimitExceededException", m),
            JobsError::TerminalState(m) => modeled("TerminalStateException", m),
            JobsError::CertificateValidation(m) => modeled("CertificateValidationException", m),
            JobsError::CertificateState(m) => modeled("CertificateStateException", m),
            JobsError::DeleteConflict(m) => modeled("DeleteConflictException", m),
            JobsError::Unavailable(m) if storage_full => {
                // The engine's detail (which file, which device) goes to the log; the
                // client learns that writes wait for free space and reads still work.
                tracing::error!(detail = %m, "storage full: writes refused until space is freed");
                modeled("ServiceUnavailableException", STORAGE_FULL_MESSAGE.into())
            }
            JobsError::Unavailable(m) => {
                // The detail is the storage engine's (connection errors, deadlocks): log
                // it; the client sees that it may retry.
                tracing::warn!(detail = %m, "service unavailable");
                modeled(
                    "ServiceUnavailableException",
                    "The service is unavailable; retry the request.".into(),
                )
            }
            JobsError::Internal(m) => {
                // Log the detail; the client sees a generic message (never internals).
                tracing::error!(detail = %m, "internal failure");
                modeled(
                    "InternalFailureException",
                    "An internal error occurred; see the server log.".into(),
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

impl From<&Unparsable> for ApiError {
    /// A request hyper could not parse as HTTP/1.1, answered in AWS's shape instead of
    /// hyper's empty 400/431. AWS's front ends answer such requests with a bare HTML 400
    /// before any service sees them, so there is no AWS wording to mimic: a head over the
    /// limit keeps the 431 of HTTP (RFC 6585) under a code named like the 413 one, and
    /// everything else is the 400 InvalidRequestException both models declare, with
    /// hyper's reason.
    fn from(u: &Unparsable) -> Self {
        if u.status == HEAD_TOO_LARGE.1 {
            Self::new(
                HEAD_TOO_LARGE.0,
                HEAD_TOO_LARGE.1,
                format!(
                    "The request line and headers are larger than the limit of {MAX_HEAD_BYTES} bytes"
                ),
            )
        } else {
            Self::invalid_request(format!(
                "The request is not valid HTTP/1.1 ({}); the connection is closed",
                u.reason
            ))
        }
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        match e.kind {
            // An operation of the AWS model that iotjobs does not serve: say so, with
            // a code that no client retries.
            WireErrorKind::NotServed => ApiError::not_implemented(e.message),
            _ => ApiError::invalid_request(e.message),
        }
    }
}

/// What a caller reads when the server's storage is full (a 503: the same write may be
/// retried once an operator has freed space).
pub const STORAGE_FULL_MESSAGE: &str = "The server's storage is full: it accepts no writes until space is freed. \
     Nothing was changed; reads still work. Retry the request later.";

/// The code for an operation of the models that iotjobs does not serve.
const NOT_IMPLEMENTED: &str = "NotImplementedException";

/// The code and status for a request head over the limit.
const HEAD_TOO_LARGE: (&str, u16) = ("RequestHeaderFieldsTooLargeException", 431);

/// The codes iotjobs sends that no error shape of either model declares, with their
/// statuses; every other code's status comes from the models ([`status_of`]).
const NOT_IN_MODELS: &[(&str, u16)] = &[
    // An operation of the models that iotjobs does not serve: a code no SDK retries, and
    // the status HTTP has for "not implemented".
    (NOT_IMPLEMENTED, 501),
    HEAD_TOO_LARGE,
];

fn not_in_models(code: &str) -> u16 {
    NOT_IN_MODELS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(500, |(_, status)| *status)
}

/// The HTTP status of error `code` answered on `plane`: the `httpStatusCode` of that error
/// shape in the plane's model; for a code that only the other plane's model declares, that
/// model's (see [`ApiError::from_jobs`]); for a code of neither model, [`NOT_IN_MODELS`].
/// A code in none of them is a bug (a test covers every code `from_jobs` sends) and
/// answers 500.
pub fn status_of(plane: Plane, code: &str) -> u16 {
    let other = match plane {
        Plane::Control => Plane::Data,
        Plane::Data => Plane::Control,
    };
    plane
        .model()
        .error_status(code)
        .or_else(|| other.model().error_status(code))
        .unwrap_or_else(|| not_in_models(code))
}

/// The data plane's `executionState` object; `statusDetails` is left out when empty, as
/// the data plane does everywhere (live AWS's `VersionMismatch` rejection carries
/// `executionState {status, versionNumber}` for an execution without details, wire spec §8).
pub fn execution_state_json(state: &ExecutionState) -> Value {
    let mut body = json!({
        "status": state.status.as_str(),
        "versionNumber": state.version_number,
    });
    if !state.status_details.is_empty() {
        body["statusDetails"] = json!(state.status_details);
    }
    body
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

#[cfg(test)]
mod tests {
    use super::*;
    use iotjobs_core::error::ResourceKind;
    use iotjobs_core::execution::JobExecutionStatus;

    /// One error of every `JobsError` variant.
    fn every_jobs_error() -> Vec<JobsError> {
        let state = || {
            Some(ExecutionState {
                status: JobExecutionStatus::InProgress,
                status_details: Default::default(),
                version_number: 2,
            })
        };
        let all = vec![
            JobsError::InvalidRequest("m".into()),
            JobsError::NotFound("m".into()),
            JobsError::AlreadyExists {
                message: "m".into(),
                kind: ResourceKind::Thing,
                name: "t".into(),
                resource_id: "id".into(),
            },
            JobsError::Conflict {
                message: "m".into(),
                resource_id: "id".into(),
            },
            JobsError::InvalidStateTransition {
                message: "m".into(),
                state: state(),
            },
            JobsError::VersionMismatch {
                expected: 1,
                found: 2,
                state: state(),
            },
            JobsError::LimitExceeded("m".into()),
            JobsError::TerminalState("m".into()),
            JobsError::CertificateValidation("m".into()),
            JobsError::CertificateState("m".into()),
            JobsError::DeleteConflict("m".into()),
            JobsError::Unavailable("m".into()),
            JobsError::Internal("m".into()),
        ];
        // A new variant breaks this match, so the list above cannot miss one.
        for e in &all {
            match e {
                JobsError::InvalidRequest(_)
                | JobsError::NotFound(_)
                | JobsError::AlreadyExists { .. }
                | JobsError::Conflict { .. }
                | JobsError::InvalidStateTransition { .. }
                | JobsError::VersionMismatch { .. }
                | JobsError::LimitExceeded(_)
                | JobsError::TerminalState(_)
                | JobsError::CertificateValidation(_)
                | JobsError::CertificateState(_)
                | JobsError::DeleteConflict(_)
                | JobsError::Unavailable(_)
                | JobsError::Internal(_) => {}
            }
        }
        all
    }

    /// Every code `from_jobs` sends on a plane is declared by a served operation of that
    /// plane's model, except the ones its doc lists, and no status changed when the
    /// statuses moved from a hand table to the models.
    #[test]
    fn jobs_error_codes_are_declared_by_the_model() {
        // (plane, code): not declared on that plane; the status is the other model's.
        let documented: &[(Plane, &str)] = &[
            // Only the data plane's DescribeJobExecution produces TerminalState.
            (Plane::Control, "TerminalStateException"),
            // Only control-plane creates produce AlreadyExists.
            (Plane::Data, "ResourceAlreadyExistsException"),
            // Only DeleteJob (control plane) produces LimitExceeded.
            (Plane::Data, "LimitExceededException"),
            // One code for an internal failure on both planes.
            (Plane::Data, "InternalFailureException"),
            // The certificate registry is on the control plane only (the data plane's
            // model declares its own CertificateValidationException).
            (Plane::Data, "CertificateStateException"),
            (Plane::Data, "DeleteConflictException"),
            // Only CreateJobTemplate (control plane) produces Conflict.
            (Plane::Data, "ConflictException"),
        ];
        let config = AccountConfig::default();
        for plane in [Plane::Control, Plane::Data] {
            let model = plane.model();
            let declared = |code: &str| {
                model.served.iter().any(|name| {
                    model
                        .find_op(name)
                        .is_some_and(|op| op.errors.contains(&code))
                })
            };
            let mut statuses = Vec::new();
            for err in every_jobs_error() {
                let e = ApiError::from_jobs(err, plane, &config);
                assert_eq!(
                    declared(e.code),
                    !documented.contains(&(plane, e.code)),
                    "{plane:?} {}",
                    e.code
                );
                assert!(model.error(e.code).is_some() || documented.contains(&(plane, e.code)));
                statuses.push(e.status);
            }
            // The statuses of the hand table these replaced, variant by variant.
            let before = match plane {
                Plane::Control => [
                    400, 404, 409, 409, 409, 409, 410, 410, 400, 406, 409, 503, 500,
                ],
                Plane::Data => [
                    400, 404, 409, 409, 409, 400, 410, 410, 400, 406, 409, 503, 500,
                ],
            };
            assert_eq!(statuses, before, "{plane:?}");
        }
    }

    /// A full disk and a lost database connection are 503s on both planes (every
    /// served operation's model declares ServiceUnavailableException), and a full disk
    /// says so; neither shows the engine's detail.
    #[test]
    fn storage_full_and_connection_lost_are_service_unavailable() {
        let config = AccountConfig::default();
        for plane in [Plane::Control, Plane::Data] {
            let full = ApiError::from_jobs(
                JobsError::storage_full("sqlite", "database or disk is full"),
                plane,
                &config,
            );
            assert_eq!(
                (full.code, full.status),
                ("ServiceUnavailableException", 503)
            );
            assert_eq!(full.message, STORAGE_FULL_MESSAGE);
            assert!(!full.message.contains("sqlite"));
            let lost = ApiError::from_jobs(
                JobsError::connection_lost("postgres", "db error: FATAL: terminating connection"),
                plane,
                &config,
            );
            assert_eq!(
                (lost.code, lost.status),
                ("ServiceUnavailableException", 503)
            );
            assert!(!lost.message.contains("FATAL"));
        }
    }

    #[test]
    fn statuses_not_in_a_model() {
        for plane in [Plane::Control, Plane::Data] {
            assert_eq!(plane.model().error_status(NOT_IMPLEMENTED), None);
            assert_eq!(status_of(plane, NOT_IMPLEMENTED), 501);
            // `invalid_request` needs no plane because both models agree.
            assert_eq!(
                plane.model().error_status("InvalidRequestException"),
                Some(400)
            );
        }
        assert_eq!(ApiError::not_implemented("m").status, 501);
    }

    #[test]
    fn unparsable_requests() {
        let too_large = ApiError::from(&Unparsable {
            status: 431,
            reason: "message head is too large".into(),
        });
        assert_eq!(
            (too_large.code, too_large.status),
            ("RequestHeaderFieldsTooLargeException", 431)
        );
        assert_eq!(status_of(Plane::Control, too_large.code), 431);
        assert!(
            too_large.message.contains("65536 bytes"),
            "{}",
            too_large.message
        );
        let bad = ApiError::from(&Unparsable {
            status: 400,
            reason: "invalid content-length parsed".into(),
        });
        assert_eq!((bad.code, bad.status), ("InvalidRequestException", 400));
        assert!(bad.message.contains("invalid content-length parsed"));
    }
}
