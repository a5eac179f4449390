//! `iotjobs clock`: move the test clock of a server started with `serve --test-clock`
//! (`POST /iotjobs-api/clock`, iotjobs' own endpoint, not an AWS operation), signed with
//! the caller's credentials as every other command is (profile, environment, SigV4 with
//! the `iot` signing name). The server answers once everything due by the new time
//! (timeouts, rollout steps, schedules, maintenance windows) has been applied.
//!
//! No server code here (the CLI is a client).

use crate::credentials::Config;
use crate::http::{Client, Options};
use std::time::SystemTime;

/// Where to move the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockMove {
    AdvanceSeconds(f64),
    EpochSeconds(f64),
}

/// Move the clock of the server at `endpoint`; the server's new time (epoch seconds), or
/// a message for stderr (the server's error code and message when it refused).
pub fn move_clock(
    endpoint: &str,
    profile: Option<&str>,
    region: Option<&str>,
    to: ClockMove,
) -> Result<f64, String> {
    let config = Config::load(profile);
    let region = config.region(region).map_err(|e| e.to_string())?;
    let creds = config.credentials().map_err(|e| e.to_string())?;
    let body = match to {
        ClockMove::AdvanceSeconds(s) => serde_json::json!({ "advanceSeconds": s }),
        ClockMove::EpochSeconds(s) => serde_json::json!({ "epochSeconds": s }),
    }
    .to_string();
    let client = Client::new(&Options {
        verify_ssl: true,
        ..Options::default()
    })?;
    let base = endpoint.trim_end_matches('/');
    let host = base
        .split_once("://")
        .map_or(base, |(_, r)| r)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let url = format!("{base}/iotjobs-api/clock");
    let content_type = "application/json";
    let mut signed = crate::sign::sign_request(
        &crate::sign::Signable {
            method: "POST",
            url: &url,
            host: &host,
            content_type: Some(content_type),
            headers: &[],
            body: body.as_bytes(),
        },
        &crate::sign::Scope {
            creds: &creds,
            region: &region,
            service: "iot",
            time: SystemTime::now(),
        },
    )?;
    // The signature covers Content-Type; the request must carry it too.
    signed.push(("Content-Type".into(), content_type.into()));
    let resp = client
        .send("POST", &url, &signed, body.as_bytes())
        .map_err(|e| e.message(&url))?;
    let answer: serde_json::Value = serde_json::from_slice(&resp.body)
        .map_err(|e| format!("the server answered {} without JSON: {e}", resp.status))?;
    if resp.status != 200 {
        let code = resp
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-amzn-ErrorType"))
            .map_or("error", |(_, v)| v.as_str());
        let message = answer["message"]
            .as_str()
            .or(answer["Message"].as_str())
            .unwrap_or("");
        return Err(format!(
            "An error occurred ({}) when moving the test clock: {message}",
            code.split(':').next().unwrap_or(code)
        ));
    }
    answer["epochSeconds"]
        .as_f64()
        .ok_or_else(|| format!("the server answered without epochSeconds: {answer}"))
}
