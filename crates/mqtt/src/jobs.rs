//! AWS IoT Jobs over MQTT: the topics under `$aws/things/{thing}/jobs/`, their JSON
//! payloads, and the one mapping from typed errors to the `…/rejected` error codes (as
//! `crates/api/src/error.rs` is for HTTP). The operations themselves are
//! `iotjobs_core::device`'s, the same the HTTP data plane calls.
//!
//! Shapes follow the AWS IoT Device SDK's (`awsiot.iotjobs`): field names as it reads
//! them, every time in epoch **seconds**, `jobDocument` a JSON object (the HTTP plane
//! sends a string), optional fields omitted. `clientToken` is echoed verbatim.
//!
//! The job document is embedded as the text CreateJob stored ([`RawValue`]), never
//! rebuilt as a `serde_json::Value`: that would sort its keys, round its numbers through
//! f64 and refuse nesting deeper than 128 levels, all of which CreateJob accepts. So
//! payloads are serialized from structs straight to bytes.
//!
//! This module knows no MQTT packets (the endpoint does) and decides no Jobs rule.

use iotjobs_core::device::{self, DeviceUpdate, NEXT};
use iotjobs_core::execution::{JobExecution, StatusDetails};
use iotjobs_core::presign::Presigner;
use iotjobs_core::{Clock, JobsError, Store, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;

/// What a request topic asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobsRequest {
    GetPending,
    StartNext,
    /// `job_id` may be [`NEXT`].
    Describe {
        job_id: String,
    },
    Update {
        job_id: String,
    },
}

impl JobsRequest {
    /// The data-plane operation it is (the audit log's operation name).
    pub fn operation(&self) -> &'static str {
        match self {
            Self::GetPending => "GetPendingJobExecutions",
            Self::StartNext => "StartNextPendingJobExecution",
            Self::Describe { .. } => "DescribeJobExecution",
            Self::Update { .. } => "UpdateJobExecution",
        }
    }
}

/// `$aws/things/{thing}/jobs/`.
pub fn prefix(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/")
}

/// Parse a request topic of `thing` (`None`: not a jobs API topic, answered
/// `InvalidTopic`). `$next` is valid only for `get` (§2.9 of the MQTT research note:
/// `$next/update` has no meaning).
pub fn parse_topic(thing: &str, topic: &str) -> Option<JobsRequest> {
    let rest = topic.strip_prefix(&prefix(thing))?;
    match rest.split('/').collect::<Vec<_>>()[..] {
        ["get"] => Some(JobsRequest::GetPending),
        ["start-next"] => Some(JobsRequest::StartNext),
        [job, "get"] if valid_job_id(job) || job == NEXT => Some(JobsRequest::Describe {
            job_id: job.to_owned(),
        }),
        [job, "update"] if valid_job_id(job) => Some(JobsRequest::Update {
            job_id: job.to_owned(),
        }),
        _ => None,
    }
}

/// A job id as the model allows it: `[a-zA-Z0-9_-]+`, 1 to 64 characters.
fn valid_job_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ---- payloads ------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetPendingIn {
    client_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartNextIn {
    client_token: Option<String>,
    status_details: Option<StatusDetails>,
    step_timeout_in_minutes: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeIn {
    client_token: Option<String>,
    execution_number: Option<i64>,
    include_job_document: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateIn {
    client_token: Option<String>,
    status: Option<String>,
    status_details: Option<StatusDetails>,
    expected_version: Option<i64>,
    execution_number: Option<i64>,
    include_job_execution_state: Option<bool>,
    include_job_document: Option<bool>,
    step_timeout_in_minutes: Option<i64>,
}

/// `JobExecution` (SDK `JobExecutionData`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionOut {
    job_id: String,
    thing_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_document: Option<Box<RawValue>>,
    status: &'static str,
    /// Left out when empty, as on the HTTP data plane (AWS's `notify-next` examples
    /// carry no `statusDetails` for an execution without details).
    #[serde(skip_serializing_if = "StatusDetails::is_empty")]
    status_details: StatusDetails,
    queued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<i64>,
    last_updated_at: i64,
    version_number: i64,
    execution_number: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    approximate_seconds_before_timed_out: Option<i64>,
}

/// `JobExecutionSummary`: no status, no thing name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryOut {
    job_id: String,
    queued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<i64>,
    last_updated_at: i64,
    version_number: i64,
    execution_number: i64,
}

/// `JobExecutionState`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StateOut {
    status: &'static str,
    #[serde(skip_serializing_if = "StatusDetails::is_empty")]
    status_details: StatusDetails,
    version_number: i64,
}

pub fn execution_out(e: &JobExecution, document: Option<&str>, now: Timestamp) -> ExecutionOut {
    ExecutionOut {
        job_id: e.job_id.clone(),
        thing_name: e.thing_name.clone(),
        job_document: document.and_then(raw_document),
        status: e.status.as_str(),
        status_details: e.status_details.clone(),
        queued_at: e.queued_at.epoch_seconds(),
        started_at: e.started_at.map(Timestamp::epoch_seconds),
        last_updated_at: e.last_updated_at.epoch_seconds(),
        version_number: e.version_number,
        execution_number: e.execution_number,
        approximate_seconds_before_timed_out: e.approximate_seconds_before_timed_out(now),
    }
}

/// The stored document as it is embedded in a payload (over MQTT the document is an
/// object, SDK: `Dict`). CreateJob stored valid JSON, so `None` would mean a damaged
/// record: the field is left out rather than the reply lost.
fn raw_document(text: &str) -> Option<Box<RawValue>> {
    RawValue::from_string(text.to_owned()).ok()
}

pub fn summary_out(e: &JobExecution) -> SummaryOut {
    SummaryOut {
        job_id: e.job_id.clone(),
        queued_at: e.queued_at.epoch_seconds(),
        started_at: e.started_at.map(Timestamp::epoch_seconds),
        last_updated_at: e.last_updated_at.epoch_seconds(),
        version_number: e.version_number,
        execution_number: e.execution_number,
    }
}

fn state_out(e: &iotjobs_core::ExecutionState) -> StateOut {
    StateOut {
        status: e.status.as_str(),
        status_details: e.status_details.clone(),
        version_number: e.version_number,
    }
}

/// A response body: the members of `fields` (a struct or a JSON object), then
/// `timestamp` and the echoed `clientToken`.
#[derive(Serialize)]
struct Reply<'a, T> {
    #[serde(flatten)]
    fields: T,
    timestamp: i64,
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
}

fn body<T: Serialize>(fields: T, now: Timestamp, token: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&Reply {
        fields,
        timestamp: now.epoch_seconds(),
        client_token: token,
    })
    .unwrap_or_default()
}

/// GetPendingJobExecutions' answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PendingOut {
    in_progress_jobs: Vec<SummaryOut>,
    queued_jobs: Vec<SummaryOut>,
}

/// StartNext's and DescribeJobExecution's answer: `{}` when there is no execution.
#[derive(Serialize)]
struct ExecutionFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<ExecutionOut>,
}

/// UpdateJobExecution's answer: each member only when asked for.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_state: Option<StateOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_document: Option<Box<RawValue>>,
}

/// The `…/rejected` body of an error (`ErrorResponse`).
pub fn rejected(
    code: &str,
    message: &str,
    state: Option<Value>,
    now: Timestamp,
    token: Option<&str>,
) -> Vec<u8> {
    let mut fields = serde_json::json!({ "code": code, "message": message });
    if let Some(s) = state {
        fields["executionState"] = s;
    }
    body(fields, now, token)
}

/// The one mapping from typed errors to MQTT error codes (the research note's §2.5
/// table). Internal details go to the log, never to the device.
fn error_reply(err: JobsError, now: Timestamp, token: Option<&str>) -> Vec<u8> {
    let state = |s: &Option<iotjobs_core::ExecutionState>| {
        s.as_ref()
            .and_then(|s| serde_json::to_value(state_out(s)).ok())
    };
    match &err {
        JobsError::InvalidRequest(m) => rejected("InvalidRequest", m, None, now, token),
        JobsError::NotFound(m) => rejected("ResourceNotFound", m, None, now, token),
        JobsError::InvalidStateTransition { message, state: s } => {
            rejected("InvalidStateTransition", message, state(s), now, token)
        }
        JobsError::VersionMismatch { state: s, .. } => {
            rejected("VersionMismatch", &err.to_string(), state(s), now, token)
        }
        JobsError::TerminalState(m) => rejected("TerminalStateReached", m, None, now, token),
        // Not produced by the device operations; the closest code a device understands.
        JobsError::AlreadyExists { message, .. }
        | JobsError::Conflict { message, .. }
        | JobsError::LimitExceeded(message)
        | JobsError::CertificateValidation(message)
        | JobsError::CertificateState(message)
        | JobsError::DeleteConflict(message) => {
            rejected("InvalidRequest", message, None, now, token)
        }
        JobsError::Unavailable(m) | JobsError::Internal(m) => {
            tracing::error!(detail = %m, "MQTT jobs request failed");
            rejected(
                "InternalError",
                "An internal error occurred",
                None,
                now,
                token,
            )
        }
    }
}

/// A request payload: empty is `{}` (what AWS accepts, see the research note §2.2);
/// not JSON is `InvalidJson`; JSON of the wrong shape is `InvalidRequest`.
fn decode<T: serde::de::DeserializeOwned + Default>(
    payload: &[u8],
) -> Result<T, (&'static str, String)> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| ("InvalidJson", format!("The payload is not valid JSON: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| ("InvalidRequest", format!("The request is not valid: {e}")))
}

/// The token of a payload that may not decode as its request (so that even a refusal
/// echoes it).
pub(crate) fn token_of(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("clientToken")?.as_str().map(str::to_owned)
}

/// Runs device requests against one account's store.
pub struct JobsService<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    /// Signs the presigned URLs of the job documents in the answers.
    pub presigner: Arc<dyn Presigner>,
}

impl<S: Store> JobsService<S> {
    /// Answer one request published by `thing` on `topic`: the reply topic and payload.
    pub async fn handle(&self, thing: &str, topic: &str, payload: &[u8]) -> (String, Vec<u8>) {
        let now = self.clock.now();
        let Some(request) = parse_topic(thing, topic) else {
            let token = token_of(payload);
            let msg = format!("The topic {topic} is not a Jobs API topic");
            return (
                format!("{topic}/rejected"),
                rejected("InvalidTopic", &msg, None, now, token.as_deref()),
            );
        };
        let (accepted, refused) = (format!("{topic}/accepted"), format!("{topic}/rejected"));
        // The device is the actor of whatever its request changes (audit log).
        let actor = iotjobs_core::audit::Actor {
            principal: format!("thing/{thing}"),
            source: None,
            operation: request.operation().to_owned(),
            request_id: token_of(payload),
        };
        let result =
            iotjobs_core::audit::with_actor(actor, self.run(thing, request, payload, now)).await;
        match result {
            Ok(body) => (accepted, body),
            Err(body) => (refused, body),
        }
    }

    async fn run(
        &self,
        thing: &str,
        request: JobsRequest,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<Vec<u8>, Vec<u8>> {
        let fail = |(code, msg): (&str, String)| {
            rejected(code, &msg, None, now, token_of(payload).as_deref())
        };
        let store = &self.store;
        let presigner = self.presigner.as_ref();
        match request {
            JobsRequest::GetPending => {
                let req: GetPendingIn = decode(payload).map_err(fail)?;
                let token = req.client_token.as_deref();
                let p = device::get_pending_job_executions(store, thing)
                    .await
                    .map_err(|e| error_reply(e, now, token))?;
                let fields = PendingOut {
                    in_progress_jobs: p.in_progress.iter().map(summary_out).collect(),
                    queued_jobs: p.queued.iter().map(summary_out).collect(),
                };
                Ok(body(fields, now, token))
            }
            JobsRequest::StartNext => {
                let req: StartNextIn = decode(payload).map_err(fail)?;
                let token = req.client_token.as_deref();
                let started = device::start_next_pending_job_execution(
                    store,
                    presigner,
                    thing,
                    req.status_details.clone(),
                    req.step_timeout_in_minutes,
                    now,
                )
                .await
                .map_err(|e| error_reply(e, now, token))?;
                Ok(body(execution_fields(started, now), now, token))
            }
            JobsRequest::Describe { job_id } => {
                let req: DescribeIn = decode(payload).map_err(fail)?;
                let token = req.client_token.as_deref();
                let found = device::describe_job_execution(
                    store,
                    presigner,
                    thing,
                    &job_id,
                    req.execution_number,
                    req.include_job_document.unwrap_or(true),
                )
                .await
                .map_err(|e| error_reply(e, now, token))?;
                Ok(body(execution_fields(found, now), now, token))
            }
            JobsRequest::Update { job_id } => {
                let req: UpdateIn = decode(payload).map_err(fail)?;
                let token = req.client_token.as_deref();
                let Some(status) = req.status.clone() else {
                    return Err(error_reply(
                        JobsError::required_member("status"),
                        now,
                        token,
                    ));
                };
                let update = DeviceUpdate {
                    job_id,
                    status,
                    status_details: req.status_details.clone(),
                    expected_version: req.expected_version,
                    execution_number: req.execution_number,
                    step_timeout_in_minutes: req.step_timeout_in_minutes,
                    include_job_document: req.include_job_document.unwrap_or(false),
                };
                let done = device::update_job_execution(store, presigner, thing, update, now)
                    .await
                    .map_err(|e| error_reply(e, now, token))?;
                let fields = UpdateOut {
                    execution_state: req
                        .include_job_execution_state
                        .unwrap_or(false)
                        .then(|| state_out(&done.execution.state())),
                    job_document: done.job_document.as_deref().and_then(raw_document),
                };
                Ok(body(fields, now, token))
            }
        }
    }
}

/// `{"execution": …}` or `{}` when there is none.
fn execution_fields(
    found: Option<device::ExecutionWithDocument>,
    now: Timestamp,
) -> ExecutionFields {
    ExecutionFields {
        execution: found.map(|f| execution_out(&f.execution, f.job_document.as_deref(), now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_route_to_operations() {
        let t = |rest: &str| parse_topic("dev1", &format!("$aws/things/dev1/jobs/{rest}"));
        assert_eq!(t("get"), Some(JobsRequest::GetPending));
        assert_eq!(t("start-next"), Some(JobsRequest::StartNext));
        assert_eq!(
            t("$next/get"),
            Some(JobsRequest::Describe {
                job_id: "$next".into()
            })
        );
        assert_eq!(
            t("fw-1/update"),
            Some(JobsRequest::Update {
                job_id: "fw-1".into()
            })
        );
        for bad in [
            "$next/update",
            "foo",
            "fw-1/get/x",
            "a b/get",
            "get/accepted",
            "",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(parse_topic("dev1", "$aws/things/dev2/jobs/get"), None);
    }

    #[test]
    fn payloads_decode_empty_invalid_and_wrong_shapes() {
        assert!(decode::<GetPendingIn>(b"").is_ok());
        assert_eq!(
            decode::<GetPendingIn>(b"{not json").unwrap_err().0,
            "InvalidJson"
        );
        assert_eq!(
            decode::<UpdateIn>(br#"{"status": 3}"#).unwrap_err().0,
            "InvalidRequest"
        );
        assert_eq!(
            token_of(br#"{"clientToken":"abc","status":3}"#).as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn replies_carry_seconds_and_the_token() {
        let b = body(
            serde_json::json!({}),
            Timestamp(1_700_000_000_123),
            Some("t"),
        );
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["timestamp"], 1_700_000_000);
        assert_eq!(v["clientToken"], "t");
        let b = body(serde_json::json!({}), Timestamp(0), None);
        assert!(!String::from_utf8(b).unwrap().contains("clientToken"));
    }
}
