//! Conversions between core records and the generated DTOs, ARNs, and the input checks
//! that the models state only in documentation.

use crate::app::{AccountConfig, arn};
use iotjobs_core::error::ResourceKind;
use iotjobs_core::execution::JobExecution;
use iotjobs_core::job::DocumentKind;
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

pub(crate) fn job_template_arn(c: &AccountConfig, job_template_id: &str) -> String {
    arn(c, ResourceKind::JobTemplate, job_template_id)
}

/// The region, account and resource (`type/name…`) of an ARN of this service
/// (`arn:aws*:iot:{region}:{account}:{resource}`); `None` for anything else.
fn iot_arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iot", region, account, resource] = parts[..] else {
        return None;
    };
    partition
        .starts_with("aws")
        .then_some((region, account, resource))
}

/// Parse `arn:aws:iot:{region}:{account}:thing/{name}` or `…:thinggroup/{name}`.
/// A malformed ARN is 400; a well-formed one of another region or account names a
/// resource that this account cannot see: 404, as for a thing that does not exist.
pub(crate) fn parse_target(c: &AccountConfig, arn: &str) -> Result<Target, JobsError> {
    let bad = || JobsError::invalid_target_arn(arn);
    let (region, account, resource) = iot_arn_parts(arn).ok_or_else(bad)?;
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

/// The job id of CreateJobTemplate's `jobArn`, `arn:aws:iot:{region}:{account}:job/{id}`.
/// A job of another region or account is not one this service holds (400, as for a
/// CreateJob target).
pub(crate) fn parse_job_arn(c: &AccountConfig, arn: &str) -> Result<String, JobsError> {
    let bad = || JobsError::wrong_arn_kind(arn, "job");
    let (region, account, resource) = iot_arn_parts(arn).ok_or_else(bad)?;
    if region != c.region || account != c.account_id {
        return Err(JobsError::arn_outside_account(
            arn,
            &c.region,
            &c.account_id,
        ));
    }
    match resource.split_once('/') {
        Some(("job", id)) if !id.is_empty() && !id.contains('/') => Ok(id.to_owned()),
        _ => Err(bad()),
    }
}

/// What CreateJob's `jobTemplateArn` names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TemplateArn {
    /// A custom template of this account: `arn:aws:iot:{region}:{account}:jobtemplate/{id}`.
    Custom(String),
    /// An AWS managed template, whose ARN has no account:
    /// `arn:aws:iot:{region}::jobtemplate/{name}:{version}` (the version may be left out).
    Managed {
        name: String,
        version: Option<String>,
    },
}

/// Parse a `jobTemplateArn` (this region; this account, or none for a managed template).
pub(crate) fn parse_job_template_arn(
    c: &AccountConfig,
    arn: &str,
) -> Result<TemplateArn, JobsError> {
    let bad = || JobsError::wrong_arn_kind(arn, "job template");
    let (region, account, resource) = iot_arn_parts(arn).ok_or_else(bad)?;
    let Some(("jobtemplate", name)) = resource.split_once('/') else {
        return Err(bad());
    };
    if name.is_empty() || name.contains('/') {
        return Err(bad());
    }
    let outside = || JobsError::arn_outside_account(arn, &c.region, &c.account_id);
    if region != c.region {
        return Err(outside());
    }
    if account.is_empty() {
        let (name, version) = match name.split_once(':') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (name, None),
        };
        return Ok(TemplateArn::Managed {
            name: name.to_owned(),
            version,
        });
    }
    if account != c.account_id {
        return Err(outside());
    }
    if name.contains(':') {
        return Err(bad());
    }
    Ok(TemplateArn::Custom(name.to_owned()))
}

/// "Job documents are UTF-8 encoded JSON documents" (Jobs key concepts): a job document
/// (inline in CreateJob or CreateJobTemplate, or read from `documentSource`) must be a
/// JSON object; any object the model's 32768 characters can hold is accepted and stored
/// as given (GetJobDocument and the devices get the same text back).
///
/// The check never builds the document: serde_json's `IgnoredAny` scans it with an
/// explicit stack instead of recursion (its `ignore_value`), so it has no depth limit
/// (32 KB of `[` nest 16k deep, far past the 128 levels `serde_json::Value` allows), and
/// it reads numbers as digits without converting them, so `1e400` or a 40-digit
/// integer is accepted as written rather than refused or rounded through f64.
pub(crate) fn check_document(document: Option<&str>) -> Result<(), JobsError> {
    let Some(doc) = document else {
        return Ok(());
    };
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(doc) {
        // serde_json's message is "<reason> at line L column C"; the core words the rest.
        let text = e.to_string();
        let reason = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(r, _)| r);
        return Err(JobsError::document_not_json(e.line(), e.column(), reason));
    }
    // It parsed, so its first byte after JSON whitespace says what it is.
    let kind = match doc
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()
    {
        Some(b'{') => return Ok(()),
        Some(b'[') => DocumentKind::Array,
        Some(b'"') => DocumentKind::String,
        Some(b't' | b'f') => DocumentKind::Boolean,
        Some(b'n') => DocumentKind::Null,
        _ => DocumentKind::Number,
    };
    Err(JobsError::document_not_object(kind))
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

    #[test]
    fn job_and_template_arns() {
        let c = AccountConfig::default();
        assert_eq!(
            parse_job_arn(&c, "arn:aws:iot:us-east-1:000000000000:job/j-1"),
            Ok("j-1".into())
        );
        for bad in [
            "j-1",
            "arn:aws:iot:us-east-1:000000000000:job/",
            "arn:aws:iot:us-east-1:000000000000:thing/j",
            "arn:aws:iot:eu-west-1:000000000000:job/j",
            "arn:aws:iot:us-east-1:111111111111:job/j",
        ] {
            assert!(
                matches!(parse_job_arn(&c, bad), Err(JobsError::InvalidRequest(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse_job_template_arn(&c, "arn:aws:iot:us-east-1:000000000000:jobtemplate/t_1"),
            Ok(TemplateArn::Custom("t_1".into()))
        );
        assert_eq!(
            parse_job_template_arn(&c, "arn:aws:iot:us-east-1::jobtemplate/AWS-Reboot:1.0"),
            Ok(TemplateArn::Managed {
                name: "AWS-Reboot".into(),
                version: Some("1.0".into())
            })
        );
        assert_eq!(
            parse_job_template_arn(&c, "arn:aws:iot:us-east-1::jobtemplate/AWS-Reboot"),
            Ok(TemplateArn::Managed {
                name: "AWS-Reboot".into(),
                version: None
            })
        );
        for bad in [
            "arn:aws:iot:us-east-1:000000000000:job/t",
            "arn:aws:iot:us-east-1:000000000000:jobtemplate/",
            "arn:aws:iot:us-east-1:000000000000:jobtemplate/a:1",
            "arn:aws:iot:eu-west-1:000000000000:jobtemplate/t",
            "arn:aws:iot:eu-west-1::jobtemplate/AWS-Reboot:1.0",
            "arn:aws:iot:us-east-1:111111111111:jobtemplate/t",
        ] {
            assert!(
                matches!(
                    parse_job_template_arn(&c, bad),
                    Err(JobsError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
    }
}
