//! Conversions between core records and the generated DTOs, ARNs, and the input checks
//! that the models state only in documentation.

use crate::app::{AccountConfig, arn};
use iotjobs_core::error::ResourceKind;
use iotjobs_core::execution::JobExecution;
use iotjobs_core::{JobsError, Timestamp};
use iotjobs_model::generated::{iot, iot_jobs_data};
use std::collections::BTreeMap;

/// Control-plane `timestamp` members: epoch seconds as a JSON number with a fraction
/// (the model has no `timestampFormat`, so restJson1 uses epoch seconds).
pub(crate) fn control_time(t: Timestamp) -> f64 {
    t.epoch_seconds_f64()
}

/// Data-plane time members are plain `long` epoch seconds (model `QueuedAt` etc.).
pub(crate) fn data_time(t: Timestamp) -> i64 {
    t.epoch_seconds()
}

pub(crate) fn thing_arn(c: &AccountConfig, thing_name: &str) -> String {
    arn(c, ResourceKind::Thing, thing_name)
}

pub(crate) fn job_arn(c: &AccountConfig, job_id: &str) -> String {
    arn(c, ResourceKind::Job, job_id)
}

/// What a CreateJob target ARN names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Thing(String),
    ThingGroup(String),
}

/// Parse `arn:aws:iot:{region}:{account}:thing/{name}` or `…:thinggroup/{name}`.
/// A malformed ARN is 400; a well-formed one of another region or account names a
/// resource that this account cannot see: 404, as for a thing that does not exist.
pub(crate) fn parse_target(c: &AccountConfig, arn: &str) -> Result<Target, JobsError> {
    let bad = || JobsError::invalid_target_arn(arn);
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, "iot", region, account, resource] = parts[..] else {
        return Err(bad());
    };
    if prefix != "arn" || !partition.starts_with("aws") {
        return Err(bad());
    }
    let target = match resource.split_once('/') {
        Some(("thing", name)) if !name.is_empty() => Target::Thing(name.to_owned()),
        Some(("thinggroup", name)) if !name.is_empty() => Target::ThingGroup(name.to_owned()),
        _ => return Err(bad()),
    };
    if region != c.region || account != c.account_id {
        return Err(JobsError::target_outside_account(
            arn,
            &c.region,
            &c.account_id,
        ));
    }
    Ok(target)
}

/// The control-plane `JobExecution` (DescribeJobExecution).
pub(crate) fn control_execution(
    c: &AccountConfig,
    e: &JobExecution,
    now: Timestamp,
) -> iot::JobExecution {
    iot::JobExecution {
        job_id: Some(e.job_id.clone()),
        status: Some(e.status.as_str().into()),
        // The model: "true if the job execution was canceled with the optional force
        // parameter set to true"; omitted otherwise.
        force_canceled: e.force_canceled.then_some(true),
        // AWS answers `"statusDetails": {}` for an execution without details (AWS CLI
        // example of `aws iot describe-job-execution`), `{"detailsMap": {...}}` with some.
        status_details: Some(iot::JobExecutionStatusDetails {
            details_map: (!e.status_details.is_empty()).then(|| e.status_details.clone()),
        }),
        thing_arn: Some(thing_arn(c, &e.thing_name)),
        queued_at: Some(control_time(e.queued_at)),
        started_at: e.started_at.map(control_time),
        last_updated_at: Some(control_time(e.last_updated_at)),
        execution_number: Some(e.execution_number),
        version_number: Some(e.version_number),
        approximate_seconds_before_timed_out: e.approximate_seconds_before_timed_out(now),
    }
}

/// The data-plane `JobExecution` (DescribeJobExecution, StartNext).
pub(crate) fn data_execution(
    e: &JobExecution,
    job_document: Option<String>,
    now: Timestamp,
) -> iot_jobs_data::JobExecution {
    iot_jobs_data::JobExecution {
        job_id: Some(e.job_id.clone()),
        thing_name: Some(e.thing_name.clone()),
        status: Some(e.status.as_str().into()),
        status_details: data_status_details(e),
        queued_at: Some(data_time(e.queued_at)),
        started_at: e.started_at.map(data_time),
        last_updated_at: Some(data_time(e.last_updated_at)),
        approximate_seconds_before_timed_out: e.approximate_seconds_before_timed_out(now),
        version_number: Some(e.version_number),
        execution_number: Some(e.execution_number),
        job_document,
    }
}

pub(crate) fn data_summary(e: &JobExecution) -> iot_jobs_data::JobExecutionSummary {
    iot_jobs_data::JobExecutionSummary {
        job_id: Some(e.job_id.clone()),
        queued_at: Some(data_time(e.queued_at)),
        started_at: e.started_at.map(data_time),
        last_updated_at: Some(data_time(e.last_updated_at)),
        version_number: Some(e.version_number),
        execution_number: Some(e.execution_number),
    }
}

pub(crate) fn data_state(e: &JobExecution) -> iot_jobs_data::JobExecutionState {
    iot_jobs_data::JobExecutionState {
        status: Some(e.status.as_str().into()),
        status_details: data_status_details(e),
        version_number: Some(e.version_number),
    }
}

/// The data plane leaves `statusDetails` out when an execution has none (AWS CLI
/// examples of `aws iot-jobs-data describe-job-execution` and
/// `start-next-pending-job-execution`), unlike the control plane's `{}`.
fn data_status_details(e: &JobExecution) -> Option<BTreeMap<String, String>> {
    (!e.status_details.is_empty()).then(|| e.status_details.clone())
}

/// Serialize a config DTO to the JSON text the store keeps verbatim.
pub(crate) fn config_json<T: serde::Serialize>(
    configs: &mut BTreeMap<String, String>,
    name: &str,
    value: Option<&T>,
) {
    if let Some(v) = value
        && let Ok(text) = serde_json::to_string(v)
    {
        configs.insert(name.to_owned(), text);
    }
}

/// Read back a config kept by [`config_json`].
pub(crate) fn config_value<T: serde::de::DeserializeOwned>(
    configs: &BTreeMap<String, String>,
    name: &str,
) -> Option<T> {
    configs
        .get(name)
        .and_then(|text| serde_json::from_str(text).ok())
}

/// `maxResults` when the request gives none.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;

/// Turn `nextToken` / `maxResults` into a page request. The token is opaque to clients:
/// base64url of a versioned store key, so a client cannot build or edit one by accident.
pub(crate) fn page_request(
    next_token: Option<&str>,
    max_results: Option<i32>,
) -> Result<iotjobs_core::PageRequest, JobsError> {
    use base64::Engine as _;
    let after = match next_token.filter(|t| !t.is_empty()) {
        None => None,
        Some(token) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            match bytes.as_deref().and_then(|s| s.strip_prefix("1:")) {
                Some(key) => Some(key.to_owned()),
                None => return Err(JobsError::invalid_next_token()),
            }
        }
    };
    let limit = max_results.map_or(DEFAULT_PAGE_SIZE, |m| m.clamp(1, 250) as usize);
    Ok(iotjobs_core::PageRequest { after, limit })
}

/// The opaque `nextToken` for a store key (see [`page_request`]).
pub(crate) fn next_token(key: Option<String>) -> Option<String> {
    use base64::Engine as _;
    key.map(|k| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("1:{k}")))
}

pub(crate) fn group_arn(c: &AccountConfig, group: &str) -> String {
    arn(c, ResourceKind::ThingGroup, group)
}

/// A thing named by name or by ARN (AddThingToThingGroup and friends: the model makes
/// neither required, so one of them must be there).
pub(crate) fn thing_by_name_or_arn(
    c: &AccountConfig,
    name: Option<String>,
    arn: Option<String>,
) -> Result<String, JobsError> {
    match (name, arn) {
        (Some(n), _) => Ok(n),
        (None, Some(a)) => match parse_target(c, &a)? {
            Target::Thing(n) => Ok(n),
            Target::ThingGroup(_) => Err(JobsError::wrong_arn_kind(&a, "thing")),
        },
        (None, None) => Err(JobsError::name_or_arn_required("thingName", "thingArn")),
    }
}

/// A thing group named by name or by ARN.
pub(crate) fn group_by_name_or_arn(
    c: &AccountConfig,
    name: Option<String>,
    arn: Option<String>,
) -> Result<String, JobsError> {
    match (name, arn) {
        (Some(n), _) => Ok(n),
        (None, Some(a)) => match parse_target(c, &a)? {
            Target::ThingGroup(n) => Ok(n),
            Target::Thing(_) => Err(JobsError::wrong_arn_kind(&a, "thing group")),
        },
        (None, None) => Err(JobsError::name_or_arn_required(
            "thingGroupName",
            "thingGroupArn",
        )),
    }
}

/// A status filter from a list request (validated against the enum already).
pub(crate) fn execution_status_filter(
    s: Option<String>,
) -> Result<Option<iotjobs_core::JobExecutionStatus>, JobsError> {
    s.map(|s| {
        iotjobs_core::JobExecutionStatus::parse(&s)
            .ok_or_else(|| JobsError::unknown_value("status", &s))
    })
    .transpose()
}

/// The control-plane `JobExecutionSummary` (list operations).
pub(crate) fn control_summary(e: &JobExecution) -> iot::JobExecutionSummary {
    iot::JobExecutionSummary {
        status: Some(e.status.as_str().into()),
        queued_at: Some(control_time(e.queued_at)),
        started_at: e.started_at.map(control_time),
        last_updated_at: Some(control_time(e.last_updated_at)),
        execution_number: Some(e.execution_number),
        retry_attempt: i32::try_from(e.retry_attempt).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_arns() {
        let c = AccountConfig::default();
        assert_eq!(
            parse_target(&c, "arn:aws:iot:us-east-1:000000000000:thing/t:1"),
            Ok(Target::Thing("t:1".into()))
        );
        assert_eq!(
            parse_target(&c, "arn:aws:iot:us-east-1:000000000000:thinggroup/g"),
            Ok(Target::ThingGroup("g".into()))
        );
        for bad in [
            "t1",
            "arn:aws:iot:us-east-1:000000000000:thing/",
            "arn:aws:iot:us-east-1:000000000000:job/j",
            "arn:aws:s3:us-east-1:000000000000:thing/t",
            "arn:aws:iot:us-east-1:thing/t",
            // malformed whatever its region
            "arn:aws:iot:eu-west-1:000000000000:job/j",
        ] {
            assert!(
                matches!(parse_target(&c, bad), Err(JobsError::InvalidRequest(_))),
                "{bad}"
            );
        }
        for elsewhere in [
            "arn:aws:iot:eu-west-1:000000000000:thing/t",
            "arn:aws:iot:us-east-1:111111111111:thing/t",
            "arn:aws:iot:us-east-1:111111111111:thinggroup/g",
        ] {
            assert!(
                matches!(parse_target(&c, elsewhere), Err(JobsError::NotFound(_))),
                "{elsewhere}"
            );
        }
    }
}
