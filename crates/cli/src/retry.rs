//! botocore's legacy retry mode (the AWS CLI v1 default, `cfg/retry-mode#legacy`):
//! at most 5 attempts (`max_attempts` / `AWS_MAX_ATTEMPTS` change it), retried on
//! connection errors, HTTP 500/502/503/504/509/429, and HTTP 400 with a throttling code;
//! before retry `n` (1-based) it sleeps `random() * 2^(n-1)` seconds (`_retry.json`,
//! `delay: exponential, base: rand, growth_factor: 2`).
//!
//! Only decisions and delays live here; the loop that signs and sends is in `call`.

use std::time::Duration;

/// Attempts when nothing configures `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Whether an HTTP error response is retried (`_retry.json` policies).
pub fn retryable_response(status: u16, code: &str) -> bool {
    match status {
        500 | 502 | 503 | 504 | 509 | 429 => true,
        400 => matches!(
            code,
            "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "RequestThrottledException"
                | "ProvisionedThroughputExceededException"
        ),
        _ => false,
    }
}

/// The sleep before retry `n` (n = 1 for the second attempt).
pub fn delay(n: u32) -> Duration {
    let base = fastrand::f64();
    Duration::from_secs_f64(base * f64::from(1u32 << (n - 1).min(20)))
}

/// The `amz-sdk-request` header for `attempt` (1-based): `attempt=1` first, then
/// `ttl=<send time + read timeout>; attempt=<n>; max=<max>`.
pub fn sdk_request_header(attempt: u32, max: u32, ttl_epoch_secs: Option<u64>) -> String {
    match (attempt, ttl_epoch_secs) {
        (1, _) => "attempt=1".into(),
        (n, Some(ttl)) => format!("ttl={}; attempt={n}; max={max}", amz_date(ttl)),
        (n, None) => format!("attempt={n}; max={max}"),
    }
}

/// `YYYYMMDDTHHMMSSZ`
pub fn amz_date(epoch_secs: u64) -> String {
    let secs = i64::try_from(epoch_secs).unwrap_or(0);
    let (y, m, d) = iotjobs_core::time::civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_policies() {
        for s in [500, 502, 503, 504, 509, 429] {
            assert!(retryable_response(s, ""));
        }
        assert!(retryable_response(400, "ThrottlingException"));
        assert!(!retryable_response(400, "InvalidRequestException"));
        assert!(!retryable_response(409, "ThrottlingException"));
        assert!(!retryable_response(404, ""));
    }

    #[test]
    fn delays_grow_and_headers_read_like_botocore() {
        for n in 1..=4 {
            assert!(delay(n) <= Duration::from_secs(1 << (n - 1)));
        }
        assert_eq!(sdk_request_header(1, 5, Some(0)), "attempt=1");
        assert_eq!(
            sdk_request_header(2, 5, Some(1_700_000_060)),
            "ttl=20231114T221420Z; attempt=2; max=5"
        );
    }
}
