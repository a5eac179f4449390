//! `iotjobs audit`: read a server's audit log (`GET /iotjobs-api/audit`, iotjobs' own
//! endpoint, not an AWS operation) with the caller's credentials, resolved and signed as
//! for every other command (profile, environment, SigV4 with the `iot` signing name),
//! following `nextToken` until `max_items` records or the end.
//!
//! It prints nothing itself: records go to a callback, so the binary chooses the format.
//! No server code here (the CLI is a client).

use crate::credentials::Config;
use crate::http::{Client, Options};
use crate::pyjson::Value as PyValue;
use crate::request::{percent_encode, timestamp_epoch};
use std::time::SystemTime;

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
    let config = Config::load(q.profile.as_deref());
    let region = config
        .region(q.region.as_deref())
        .map_err(|e| e.to_string())?;
    let creds = config.credentials().map_err(|e| e.to_string())?;
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
    let client = Client::new(&Options {
        verify_ssl: true,
        ..Options::default()
    })?;
    let base = q.endpoint.trim_end_matches('/');
    let host = base
        .split_once("://")
        .map_or(base, |(_, r)| r)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
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
        let url = format!("{base}/iotjobs-api/audit?{}", query.join("&"));
        let signed = crate::sign::sign_request(
            &crate::sign::Signable {
                method: "GET",
                url: &url,
                host: &host,
                content_type: None,
                headers: &[],
                body: &[],
            },
            &crate::sign::Scope {
                creds: &creds,
                region: &region,
                service: "iot",
                time: SystemTime::now(),
            },
        )?;
        let resp = client
            .send("GET", &url, &signed, &[])
            .map_err(|e| e.message(&url))?;
        let body: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|e| format!("the server answered {} without JSON: {e}", resp.status))?;
        if resp.status != 200 {
            let code = resp
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("x-amzn-ErrorType"))
                .map_or("error", |(_, v)| v.as_str());
            let message = body["message"]
                .as_str()
                .or(body["Message"].as_str())
                .unwrap_or("");
            return Err(format!(
                "An error occurred ({}) when reading the audit log: {message}",
                code.split(':').next().unwrap_or(code)
            ));
        }
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
