//! The test clock (`serve --test-clock`), something AWS cannot offer: the server's
//! clock starts at the real time and moves only when told, so that hours of timeouts run
//! in milliseconds in CI. `POST /iotjobs-api/clock` with `{"advanceSeconds": N}` or
//! `{"epochSeconds": T}` (never backwards) moves it, then applies everything due by the
//! new time (the sweep: timeouts, rollout steps, schedule and maintenance-window
//! boundaries, each at its own time on the way) in every account before it answers
//! `{"epochSeconds": now}`. Admins only (`auth::Action::TestClock`,
//! checked by `server`); without the flag the path does not exist (404).
//!
//! SigV4 keeps the real clock: signatures are made with the caller's clock.

use crate::app::App;
use crate::background::sweep_until_idle;
use iotjobs_core::{Clock, JobsError, ManualClock, Store, StoreResult, Timestamp};
use serde_json::{Value, json};
use std::sync::Arc;

/// Where the test clock is served.
pub const CLOCK_PATH: &str = "/iotjobs-api/clock";

/// Move `clock` as `body` asks, sweep every account, answer the new time.
pub async fn advance<S: Store>(
    clock: &ManualClock,
    apps: &[&Arc<App<S>>],
    body: &[u8],
) -> StoreResult<Value> {
    let target = target(clock.now(), body)?;
    // Stop at every job wake-up on the way (a rollout minute, a schedule or window
    // boundary), so that ten minutes advanced at once roll out ten minutes' worth, in
    // order, as the real clock would.
    loop {
        for app in apps {
            sweep_until_idle(app).await?;
        }
        let mut next = None::<Timestamp>;
        for app in apps {
            if let Some(w) = app.store.next_job_wake().await? {
                next = Some(next.map_or(w, |n| n.min(w)));
            }
        }
        match next {
            Some(w) if w > clock.now() && w < target => clock.set(w),
            _ => break,
        }
    }
    // Never backwards, also when two requests race: only move forward.
    if target > clock.now() {
        clock.set(target);
    }
    for app in apps {
        sweep_until_idle(app).await?;
    }
    Ok(json!({ "epochSeconds": clock.now().epoch_seconds_f64() }))
}

/// The time `body` asks for, from `now`.
fn target(now: Timestamp, body: &[u8]) -> StoreResult<Timestamp> {
    let v: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|_| JobsError::invalid_test_clock_request())?;
    let obj = v
        .as_object()
        .ok_or_else(JobsError::invalid_test_clock_request)?;
    let number = |key: &str| obj.get(key).map(|v| v.as_f64().filter(|n| n.is_finite()));
    match (number("advanceSeconds"), number("epochSeconds"), obj.len()) {
        (Some(Some(secs)), None, 1) if (0.0..=1e10).contains(&secs) => {
            Ok(Timestamp(now.0 + (secs * 1000.0).round() as i64))
        }
        (None, Some(Some(epoch)), 1) if epoch <= 1e11 => {
            let t = Timestamp((epoch * 1000.0).round() as i64);
            if t < now {
                Err(JobsError::test_clock_backwards(now, t))
            } else {
                Ok(t)
            }
        }
        _ => Err(JobsError::invalid_test_clock_request()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_move_forward_only() {
        let now = Timestamp(1_700_000_000_000);
        assert_eq!(
            target(now, br#"{"advanceSeconds": 90}"#).unwrap(),
            Timestamp(1_700_000_090_000)
        );
        assert_eq!(
            target(now, br#"{"epochSeconds": 1700000100.5}"#).unwrap(),
            Timestamp(1_700_000_100_500)
        );
        assert_eq!(target(now, br#"{"advanceSeconds": 0}"#).unwrap(), now);
        for bad in [
            &br#"{"epochSeconds": 1600000000}"#[..],
            br#"{"advanceSeconds": -1}"#,
            br#"{"advanceSeconds": "5"}"#,
            br#"{"advanceSeconds": 5, "epochSeconds": 1800000000}"#,
            br#"{}"#,
            b"",
            b"[1]",
            b"not json",
        ] {
            assert!(
                matches!(target(now, bad), Err(JobsError::InvalidRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
