//! `iotjobs audit`: read a server's audit log (`GET /iotjobs-api/audit`, iotjobs' own
//! endpoint, not an AWS operation) with the caller's credentials, resolved and signed as
//! for every other command (profile, environment, SigV4 with the `iot` signing name),
//! following `nextToken` until `max_items` records or the end.
//!
//! It prints nothing itself: records go to a callback, so the binary chooses the format.
//! No server code here (the CLI is a client).

use crate::own_api::OwnApi;
use crate::pyjson::Value as PyValue;
use crate::request::{percent_encode, timestamp_epoch};

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub endpoint: String,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub job_id: Option<String>,
    /// A thing, group or certificate id.
    pub thing_name: Option<String>,
    pub principal: Option<String>,
    /// Epoch seconds or ISO 8601, as the AWS CLI takes timestamps.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Stop after this many records.
    pub max_items: Option<usize>,
}

/// Read the log; each record (a JSON object) goes to `record`. `Err`: a message for
/// stderr (the server's error code and message when it refused).
pub fn read(q: &AuditQuery, mut record: impl FnMut(&serde_json::Value)) -> Result<usize, String> {
    let api = OwnApi::new(&q.endpoint, q.profile.as_deref(), q.region.as_deref())?;
    let mut params: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("jobId", &q.job_id),
        ("thingName", &q.thing_name),
        ("principal", &q.principal),
    ] {
        if let Some(v) = value {
            params.push((name, v.clone()));
        }
    }
    for (name, value) in [("since", &q.since), ("until", &q.until)] {
        if let Some(v) = value {
            let secs = timestamp_epoch(&PyValue::Str(v.clone()))
                .ok_or_else(|| format!("--{name}: not a timestamp: {v}"))?;
            params.push((name, secs.to_string()));
        }
    }
    let mut next: Option<String> = None;
    let mut count = 0;
    loop {
        let left = q.max_items.map(|m| m - count);
        let page_size = left.map_or(250, |l| l.clamp(1, 250));
        let mut query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        query.push(format!("maxResults={page_size}"));
        if let Some(t) = &next {
            query.push(format!("nextToken={}", percent_encode(t)));
        }
        query.sort();
        let body = api.call(
            "GET",
            &format!("/iotjobs-api/audit?{}", query.join("&")),
            None,
            "reading the audit log",
        )?;
        for r in body["records"].as_array().into_iter().flatten() {
            record(r);
            count += 1;
            if q.max_items.is_some_and(|m| count >= m) {
                return Ok(count);
            }
        }
        match body["nextToken"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => return Ok(count),
        }
    }
}
