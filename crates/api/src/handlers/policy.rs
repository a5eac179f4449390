//! The fleet-safety configs of CreateJob, UpdateJob and CreateJobTemplate
//! (`jobExecutionsRolloutConfig`, `abortConfig`, `jobExecutionsRetryConfig`,
//! `schedulingConfig` and a template's `maintenanceWindows`) from their DTOs into
//! the core's [`JobPolicy`], with the checks the model validator cannot make: the
//! decimal precision AWS documents, then the rules of `iotjobs_core::policy::check_policy`
//! (which members go together, across members). Ranges and required members were
//! checked against the model before the handler ran.

use iotjobs_core::policy::{
    AbortCriteria, EndBehavior, ExponentialRate, FailureType, JobPolicy, RateIncrease,
    RetryCriteria, RolloutRate, Schedule,
};
use iotjobs_core::schedule::{
    CronExpression, MaintenanceWindow, format_schedule_time, next_window_starts,
    parse_schedule_time,
};
use iotjobs_core::{JobsError, Timestamp};
use iotjobs_model::generated::iot::{
    AbortConfig, JobExecutionsRetryConfig, JobExecutionsRolloutConfig,
    MaintenanceWindow as MaintenanceWindowDto, ScheduledJobRollout, SchedulingConfig,
};

/// The configs of one request, as DTOs.
pub(crate) struct PolicyConfigs<'a> {
    pub(crate) rollout: Option<&'a JobExecutionsRolloutConfig>,
    pub(crate) abort: Option<&'a AbortConfig>,
    pub(crate) retry: Option<&'a JobExecutionsRetryConfig>,
    pub(crate) scheduling: Option<&'a SchedulingConfig>,
}

pub(crate) fn rollout(c: &JobExecutionsRolloutConfig) -> Result<RolloutRate, JobsError> {
    const M: &str = "jobExecutionsRolloutConfig";
    let exponential = match &c.exponential_rate {
        None => None,
        Some(e) => {
            let factor = required(
                e.increment_factor,
                &format!("{M}.exponentialRate.incrementFactor"),
            )?;
            let criteria = e.rate_increase_criteria.as_ref().ok_or_else(|| {
                JobsError::required_member(&format!("{M}.exponentialRate.rateIncreaseCriteria"))
            })?;
            let increase = RateIncrease {
                notified_things: criteria.number_of_notified_things.map(i64::from),
                succeeded_things: criteria.number_of_succeeded_things.map(i64::from),
            };
            Some(ExponentialRate {
                base_per_minute: required(
                    e.base_rate_per_minute.map(i64::from),
                    &format!("{M}.exponentialRate.baseRatePerMinute"),
                )?,
                increment_factor_tenths: decimal(
                    factor,
                    1,
                    &format!("{M}.exponentialRate.incrementFactor"),
                )?,
                increase,
            })
        }
    };
    // Whether it sets a rate at all is core's check (`policy::check_policy`).
    Ok(RolloutRate {
        maximum_per_minute: c.maximum_per_minute.map(i64::from),
        exponential,
    })
}

pub(crate) fn abort(c: &AbortConfig) -> Result<Vec<AbortCriteria>, JobsError> {
    let list = c.criteria_list.as_deref().unwrap_or_default();
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let at = |m: &str| format!("abortConfig.criteriaList.{}.{m}", i + 1);
            let failure = required(a.failure_type.as_deref(), &at("failureType"))?;
            let threshold = required(a.threshold_percentage, &at("thresholdPercentage"))?;
            if threshold <= 0.0 {
                return Err(JobsError::validation(format_args!(
                    "Value '{threshold}' at '{}' failed to satisfy constraint: Member must be greater than 0",
                    at("thresholdPercentage")
                )));
            }
            Ok(AbortCriteria {
                failure_type: FailureType::parse(failure)
                    .ok_or_else(|| JobsError::unknown_value(&at("failureType"), failure))?,
                threshold_hundredths: decimal(threshold, 2, &at("thresholdPercentage"))?,
                min_executed_things: required(
                    a.min_number_of_executed_things.map(i64::from),
                    &at("minNumberOfExecutedThings"),
                )?,
            })
        })
        .collect()
}

pub(crate) fn retry(c: &JobExecutionsRetryConfig) -> Result<Vec<RetryCriteria>, JobsError> {
    let list = c.criteria_list.as_deref().unwrap_or_default();
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let at = |m: &str| format!("jobExecutionsRetryConfig.criteriaList.{}.{m}", i + 1);
            let failure = required(r.failure_type.as_deref(), &at("failureType"))?;
            let failure_type = FailureType::parse(failure)
                .filter(|f| *f != FailureType::Rejected)
                .ok_or_else(|| JobsError::unknown_value(&at("failureType"), failure))?;
            Ok(RetryCriteria {
                failure_type,
                number_of_retries: required(
                    r.number_of_retries.map(i64::from),
                    &at("numberOfRetries"),
                )?,
            })
        })
        .collect()
}

pub(crate) fn schedule(c: &SchedulingConfig) -> Result<Schedule, JobsError> {
    const M: &str = "schedulingConfig";
    let time = |t: &Option<String>, member: &str| {
        t.as_deref()
            .map(|t| parse_schedule_time(t, &format!("{M}.{member}")))
            .transpose()
    };
    let windows = maintenance_windows(
        c.maintenance_windows.as_deref().unwrap_or_default(),
        &format!("{M}.maintenanceWindows"),
    )?;
    Ok(Schedule {
        start: time(&c.start_time, "startTime")?,
        end: time(&c.end_time, "endTime")?,
        end_behavior: c
            .end_behavior
            .as_deref()
            .map(|b| {
                EndBehavior::parse(b)
                    .ok_or_else(|| JobsError::unknown_value(&format!("{M}.endBehavior"), b))
            })
            .transpose()?,
        windows,
    })
}

/// Maintenance windows (`member`: where they are in the request, for messages): a
/// job's `schedulingConfig.maintenanceWindows`, a template's `maintenanceWindows`.
pub(crate) fn maintenance_windows(
    windows: &[MaintenanceWindowDto],
    member: &str,
) -> Result<Vec<MaintenanceWindow>, JobsError> {
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let at = |m: &str| format!("{member}.{}.{m}", i + 1);
            let cron = required(w.start_time.as_deref(), &at("startTime"))?;
            Ok(MaintenanceWindow {
                start: CronExpression::parse(cron, &at("startTime"))?,
                duration_minutes: required(
                    w.duration_in_minutes.map(i64::from),
                    &at("durationInMinutes"),
                )?,
            })
        })
        .collect()
}

/// CreateJob's policy: every config parsed, then the cross-member checks at `now`.
pub(crate) fn job_policy(c: PolicyConfigs<'_>, now: Timestamp) -> Result<JobPolicy, JobsError> {
    let policy = JobPolicy {
        rollout: c.rollout.map(rollout).transpose()?,
        abort: c.abort.map(abort).transpose()?.unwrap_or_default(),
        retry: c.retry.map(retry).transpose()?.unwrap_or_default(),
        schedule: c.scheduling.map(schedule).transpose()?,
    };
    iotjobs_core::policy::check_policy(&policy, now)?;
    Ok(policy)
}

/// DescribeJob's `scheduledJobRollouts`: the next seven maintenance windows' starts.
pub(crate) fn scheduled_job_rollouts(
    policy: &JobPolicy,
    now: Timestamp,
) -> Option<Vec<ScheduledJobRollout>> {
    let windows = &policy.schedule.as_ref()?.windows;
    if windows.is_empty() {
        return None;
    }
    Some(
        next_window_starts(windows, now, 7)
            .into_iter()
            .map(|t| ScheduledJobRollout {
                start_time: Some(format_schedule_time(t)),
            })
            .collect(),
    )
}

fn required<T>(v: Option<T>, member: &str) -> Result<T, JobsError> {
    v.ok_or_else(|| JobsError::required_member(member))
}

/// A decimal with at most `digits` digits after the point, as an integer in units of
/// 10^-digits ("supports up to two digits after the decimal (for example, 10.9 and
/// 10.99, but not 10.999)", AbortCriteria model doc; one digit for incrementFactor).
fn decimal(v: f64, digits: u32, member: &str) -> Result<i64, JobsError> {
    let scale = 10f64.powi(digits as i32);
    let scaled = v * scale;
    let units = scaled.round();
    if (scaled - units).abs() > 1e-6 * scale.max(1.0) {
        return Err(JobsError::validation(format_args!(
            "Value '{v}' at '{member}' failed to satisfy constraint: Member must have at most {digits} digit{} after the decimal point",
            if digits == 1 { "" } else { "s" }
        )));
    }
    Ok(units as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_the_documented_precision() {
        assert_eq!(decimal(10.99, 2, "m"), Ok(1099));
        assert_eq!(decimal(10.9, 2, "m"), Ok(1090));
        assert_eq!(decimal(100.0, 2, "m"), Ok(10000));
        assert_eq!(decimal(0.01, 2, "m"), Ok(1));
        assert!(decimal(10.999, 2, "m").is_err());
        assert_eq!(decimal(1.5, 1, "m"), Ok(15));
        assert_eq!(decimal(1.1, 1, "m"), Ok(11));
        assert!(decimal(1.55, 1, "m").is_err());
    }
}
