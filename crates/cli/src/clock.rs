//! `iotjobs clock`: move the test clock of a server started with `serve --test-clock`
//! (`POST /iotjobs-api/clock`, iotjobs' own endpoint, not an AWS operation), signed with
//! the caller's credentials as every other command is (profile, environment, SigV4 with
//! the `iot` signing name). The server answers once everything due by the new time
//! (timeouts, rollout steps, schedules, maintenance windows) has been applied.
//!
//! No server code here (the CLI is a client).

use crate::own_api::OwnApi;

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
    let body = match to {
        ClockMove::AdvanceSeconds(s) => serde_json::json!({ "advanceSeconds": s }),
        ClockMove::EpochSeconds(s) => serde_json::json!({ "epochSeconds": s }),
    }
    .to_string();
    let answer = OwnApi::new(endpoint, profile, region)?.call(
        "POST",
        "/iotjobs-api/clock",
        Some(&body),
        "moving the test clock",
    )?;
    answer["epochSeconds"]
        .as_f64()
        .ok_or_else(|| format!("the server answered without epochSeconds: {answer}"))
}
