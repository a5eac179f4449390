//! How a job's [`JobPolicy`] is kept in its row: one JSON text column (`policy`),
//! NULL for a job without rollout, abort, retry or scheduling rules, so that the hot
//! path of such jobs reads no JSON at all.
//!
//! The format is ours (stable field names, numbers in the core's integer units), not
//! AWS's: DescribeJob returns the configs as given from the `configs` column. Nothing
//! here decides a rule.

use iotjobs_core::JobsError;
use iotjobs_core::Timestamp;
use iotjobs_core::policy::{
    AbortCriteria, EndBehavior, ExponentialRate, FailureType, JobPolicy, RateIncrease,
    RetryCriteria, RolloutRate, Schedule,
};
use iotjobs_core::schedule::{CronExpression, MaintenanceWindow};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rollout: Option<StoredRollout>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    abort: Vec<StoredAbort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retry: Vec<StoredRetry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<StoredSchedule>,
}

#[derive(Serialize, Deserialize)]
struct StoredRollout {
    max: Option<i64>,
    exp: Option<StoredExponential>,
}

#[derive(Serialize, Deserialize)]
struct StoredExponential {
    base: i64,
    factor_tenths: i64,
    notified: Option<i64>,
    succeeded: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct StoredAbort {
    failure_type: String,
    threshold_hundredths: i64,
    min_executed: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredRetry {
    failure_type: String,
    retries: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredSchedule {
    start: Option<i64>,
    end: Option<i64>,
    end_behavior: Option<String>,
    windows: Vec<(String, i64)>,
}

/// The column's value: `None` (NULL) for an empty policy.
pub(crate) fn encode(policy: &JobPolicy) -> Option<String> {
    if policy.is_empty() {
        return None;
    }
    let stored = Stored {
        rollout: policy.rollout.as_ref().map(|r| StoredRollout {
            max: r.maximum_per_minute,
            exp: r.exponential.as_ref().map(|e| StoredExponential {
                base: e.base_per_minute,
                factor_tenths: e.increment_factor_tenths,
                notified: e.increase.notified_things,
                succeeded: e.increase.succeeded_things,
            }),
        }),
        abort: policy
            .abort
            .iter()
            .map(|a| StoredAbort {
                failure_type: a.failure_type.as_str().into(),
                threshold_hundredths: a.threshold_hundredths,
                min_executed: a.min_executed_things,
            })
            .collect(),
        retry: policy
            .retry
            .iter()
            .map(|r| StoredRetry {
                failure_type: r.failure_type.as_str().into(),
                retries: r.number_of_retries,
            })
            .collect(),
        schedule: policy.schedule.as_ref().map(|s| StoredSchedule {
            start: s.start.map(Timestamp::millis),
            end: s.end.map(Timestamp::millis),
            end_behavior: s.end_behavior.map(|b| b.as_str().into()),
            windows: s
                .windows
                .iter()
                .map(|w| (w.start.as_str().to_owned(), w.duration_minutes))
                .collect(),
        }),
    };
    Some(serde_json::to_string(&stored).unwrap_or_default())
}

/// The policy a column value holds; `backend` names the store in errors.
pub(crate) fn decode(text: Option<&str>, backend: &str) -> Result<Arc<JobPolicy>, JobsError> {
    let Some(text) = text else {
        return Ok(JobPolicy::none());
    };
    let bad = |what: &dyn std::fmt::Display| {
        JobsError::storage(backend, format_args!("bad stored job policy: {what}"))
    };
    let s: Stored = serde_json::from_str(text).map_err(|e| bad(&e))?;
    let failure = |v: &str| FailureType::parse(v).ok_or_else(|| bad(&v));
    let policy = JobPolicy {
        rollout: s.rollout.map(|r| RolloutRate {
            maximum_per_minute: r.max,
            exponential: r.exp.map(|e| ExponentialRate {
                base_per_minute: e.base,
                increment_factor_tenths: e.factor_tenths,
                increase: RateIncrease {
                    notified_things: e.notified,
                    succeeded_things: e.succeeded,
                },
            }),
        }),
        abort: s
            .abort
            .iter()
            .map(|a| {
                Ok(AbortCriteria {
                    failure_type: failure(&a.failure_type)?,
                    threshold_hundredths: a.threshold_hundredths,
                    min_executed_things: a.min_executed,
                })
            })
            .collect::<Result<_, JobsError>>()?,
        retry: s
            .retry
            .iter()
            .map(|r| {
                Ok(RetryCriteria {
                    failure_type: failure(&r.failure_type)?,
                    number_of_retries: r.retries,
                })
            })
            .collect::<Result<_, JobsError>>()?,
        schedule: match s.schedule {
            None => None,
            Some(s) => Some(Schedule {
                start: s.start.map(Timestamp),
                end: s.end.map(Timestamp),
                end_behavior: match s.end_behavior {
                    None => None,
                    Some(b) => Some(EndBehavior::parse(&b).ok_or_else(|| bad(&b))?),
                },
                windows: s
                    .windows
                    .iter()
                    .map(|(cron, minutes)| {
                        Ok(MaintenanceWindow {
                            start: CronExpression::parse(cron, "maintenanceWindows.startTime")
                                .map_err(|e| bad(&e))?,
                            duration_minutes: *minutes,
                        })
                    })
                    .collect::<Result<_, JobsError>>()?,
            }),
        },
    };
    Ok(Arc::new(policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_round_trips_and_an_empty_one_is_null() {
        assert_eq!(encode(&JobPolicy::default()), None);
        assert_eq!(*decode(None, "t").unwrap(), JobPolicy::default());
        let policy = JobPolicy {
            rollout: Some(RolloutRate {
                maximum_per_minute: Some(100),
                exponential: Some(ExponentialRate {
                    base_per_minute: 5,
                    increment_factor_tenths: 15,
                    increase: RateIncrease {
                        notified_things: Some(10),
                        succeeded_things: None,
                    },
                }),
            }),
            abort: vec![AbortCriteria {
                failure_type: FailureType::All,
                threshold_hundredths: 1099,
                min_executed_things: 3,
            }],
            retry: vec![RetryCriteria {
                failure_type: FailureType::TimedOut,
                number_of_retries: 2,
            }],
            schedule: Some(Schedule {
                start: Some(Timestamp(1_800_000_000_000)),
                end: None,
                end_behavior: Some(EndBehavior::ForceCancel),
                windows: vec![MaintenanceWindow {
                    start: CronExpression::parse("cron(0 22 ? * SUN *)", "w").unwrap(),
                    duration_minutes: 60,
                }],
            }),
        };
        let text = encode(&policy).unwrap();
        assert_eq!(*decode(Some(&text), "t").unwrap(), policy);
        assert!(decode(Some("{\"abort\":[{\"failure_type\":\"NOPE\",\"threshold_hundredths\":1,\"min_executed\":1}]}"), "t").is_err());
    }
}
