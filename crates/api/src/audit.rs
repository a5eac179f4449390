//! `GET /iotjobs-api/audit`: the caller's account's audit log (`iotjobs_core::audit`), for
//! `iotjobs audit` and the console. Not an AWS operation: AWS keeps such records in
//! CloudTrail; this is iotjobs' own, under its own path prefix, signed like every request
//! and allowed to admins and operators (`auth::Action::ReadAudit`, checked by `server`).
//!
//! Query: `jobId`, `thingName` (a thing, group or certificate id), `principal`, `since`
//! and `until` (epoch seconds, `since` inclusive), `maxResults` (1-250, default 100),
//! `nextToken`. Answer: `{"records": [...], "nextToken"?}`, oldest first, times in epoch
//! seconds as the AWS JSON protocols write timestamps.

use crate::app::App;
use iotjobs_core::audit::{AuditFilter, AuditRecord};
use iotjobs_core::{JobsError, PageRequest, Store, StoreResult, Timestamp};
use serde_json::{Map, Value, json};

/// Where the audit log is served.
pub const AUDIT_PATH: &str = "/iotjobs-api/audit";

/// The page of the audit log `query` asks for, as the JSON answer.
pub async fn list<S: Store>(app: &App<S>, query: Option<&str>) -> StoreResult<Value> {
    let (filter, page) = parse(query)?;
    let page = app.store.list_audit(&filter, page).await?;
    let mut out = Map::new();
    out.insert(
        "records".into(),
        Value::Array(page.items.iter().map(record_json).collect()),
    );
    if let Some(next) = page.next {
        out.insert("nextToken".into(), Value::String(next));
    }
    Ok(Value::Object(out))
}

fn parse(query: Option<&str>) -> StoreResult<(AuditFilter, PageRequest)> {
    let mut filter = AuditFilter::default();
    let mut page = PageRequest {
        after: None,
        limit: 100,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .map_err(|_| JobsError::invalid_audit_parameter(name, raw))?
            .into_owned();
        let bad = || JobsError::invalid_audit_parameter(name, &value);
        let time = |v: &str| -> StoreResult<Timestamp> {
            let secs: f64 = v.parse().map_err(|_| bad())?;
            if !(0.0..=1e11).contains(&secs) {
                return Err(bad());
            }
            Ok(Timestamp((secs * 1000.0).round() as i64))
        };
        match name {
            "jobId" => filter.job_id = Some(value.clone()),
            "thingName" => filter.name = Some(value.clone()),
            "principal" => filter.principal = Some(value.clone()),
            "since" => filter.since = Some(time(&value)?),
            "until" => filter.until = Some(time(&value)?),
            "maxResults" => {
                page.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=250).contains(n))
                    .ok_or_else(bad)?
            }
            "nextToken" => page.after = Some(value.clone()),
            _ => return Err(bad()),
        }
    }
    Ok((filter, page))
}

fn record_json(r: &AuditRecord) -> Value {
    let c = &r.change;
    let mut m = Map::new();
    m.insert("seq".into(), json!(r.seq));
    m.insert("at".into(), json!(r.at.epoch_seconds_f64()));
    m.insert("principal".into(), json!(r.actor.principal));
    m.insert("operation".into(), json!(r.actor.operation));
    m.insert("subject".into(), json!(c.subject.as_str()));
    let optional = [
        ("source", &r.actor.source),
        ("requestId", &r.actor.request_id),
        ("jobId", &c.job_id),
        ("name", &c.name),
        ("oldStatus", &c.old_status),
        ("newStatus", &c.new_status),
        ("detail", &c.detail),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            m.insert(key.into(), json!(v));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_parses_into_a_filter_and_a_page() {
        let (f, p) = parse(Some(
            "jobId=fw-1&thingName=dev%201&principal=AKOP1&since=1700000000.5&until=1700000100&maxResults=10&nextToken=42",
        ))
        .unwrap();
        assert_eq!(f.job_id.as_deref(), Some("fw-1"));
        assert_eq!(f.name.as_deref(), Some("dev 1"));
        assert_eq!(f.principal.as_deref(), Some("AKOP1"));
        assert_eq!(f.since, Some(Timestamp(1_700_000_000_500)));
        assert_eq!(f.until, Some(Timestamp(1_700_000_100_000)));
        assert_eq!((p.limit, p.after.as_deref()), (10, Some("42")));
        assert_eq!(parse(None).unwrap().1.limit, 100);
        for bad in [
            "maxResults=0",
            "maxResults=251",
            "since=yesterday",
            "since=-1",
            "color=red",
        ] {
            assert!(
                matches!(parse(Some(bad)), Err(JobsError::InvalidRequest(_))),
                "{bad}"
            );
        }
    }
}
