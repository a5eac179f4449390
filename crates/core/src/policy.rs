//! Fleet safety: the four job configs that make a rollout stop itself before a bad
//! document reaches the whole fleet, as rules.
//!
//! - rollout (`jobExecutionsRolloutConfig`): how many targets get their execution per
//!   minute, constant or exponential;
//! - abort (`abortConfig`): cancel the job once failures pass a threshold;
//! - retry (`jobExecutionsRetryConfig`): a FAILED or TIMED_OUT execution queued again,
//!   with `retryAttempt` counting the attempts;
//! - scheduling (`schedulingConfig`): SCHEDULED until `startTime`, an `endTime` with its
//!   end behaviour, and maintenance windows outside which nothing rolls out.
//!
//! The edge parses and validates the request into a [`JobPolicy`]; the store keeps it
//! with the job and calls the functions here with `now`. A target that the rollout has
//! not reached yet has no execution: it waits in the job's rollout queue, counted by
//! [`Rollout::waiting`], and is invisible to devices and to DescribeJob's counts.
//!
//! No I/O, no clock: every function takes `now`.

use crate::error::JobsError;
use crate::execution::{JobExecution, JobExecutionStatus};
use crate::job::{JobProcessDetails, JobProgress, JobStatus};
use crate::schedule::{MaintenanceWindow, next_window_start, window_containing};
use crate::time::Timestamp;
use std::sync::Arc;

/// The most executions AWS notifies per minute, and `maximumPerMinute`'s upper bound
/// (AWS "Specify job configurations by using the AWS IoT Jobs API": 1 to 1000).
pub const MAX_RATE_PER_MINUTE: i64 = 1000;

/// The most retries of one execution across every failure type (AWS "How job
/// configurations work": up to 10 retries per device).
pub const MAX_RETRIES: i64 = 10;

/// A job's enforced configs. `Default` is a job without any: everything at once, never
/// aborted, never retried, not scheduled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobPolicy {
    pub rollout: Option<RolloutRate>,
    pub abort: Vec<AbortCriteria>,
    pub retry: Vec<RetryCriteria>,
    pub schedule: Option<Schedule>,
}

impl JobPolicy {
    /// The empty policy, shared: every plain job's progress row points at this one, so
    /// loading a job on the hot path (a cancel) allocates no policy.
    pub fn none() -> Arc<JobPolicy> {
        static NONE: std::sync::OnceLock<Arc<JobPolicy>> = std::sync::OnceLock::new();
        Arc::clone(NONE.get_or_init(Arc::default))
    }

    pub fn is_empty(&self) -> bool {
        self == &JobPolicy::default()
    }

    /// Whether the job's targets go through the rollout queue rather than all getting
    /// their execution at creation: a rate, a start time or maintenance windows.
    pub fn queues_targets(&self) -> bool {
        self.rollout.is_some()
            || self
                .schedule
                .as_ref()
                .is_some_and(|s| s.start.is_some() || !s.windows.is_empty())
    }
}

/// `jobExecutionsRolloutConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRate {
    /// `maximumPerMinute`: the constant rate, and the cap of an exponential one.
    pub maximum_per_minute: Option<i64>,
    pub exponential: Option<ExponentialRate>,
}

/// `exponentialRate`: start at `base_per_minute`; every time `increase` more things
/// have been notified (or have succeeded), multiply the rate by the factor.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialRate {
    pub base_per_minute: i64,
    /// `incrementFactor` in tenths (one decimal digit, as the model allows): 1.5 → 15.
    pub increment_factor_tenths: i64,
    pub increase: RateIncrease,
}

/// `rateIncreaseCriteria`: the rate grows each time another `notified` things were
/// notified or another `succeeded` things succeeded, whichever comes first (AWS's
/// example: base 50, factor 2, thresholds 1000: 50, 100, 200, 400 per minute after
/// 1000, 2000, 3000 things). At least one is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateIncrease {
    pub notified_things: Option<i64>,
    pub succeeded_things: Option<i64>,
}

/// Model enum `JobExecutionFailureType` (abort) and `RetryableFailureType` (retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureType {
    Failed,
    Rejected,
    TimedOut,
    All,
}

impl FailureType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::TimedOut => "TIMED_OUT",
            Self::All => "ALL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Failed, Self::Rejected, Self::TimedOut, Self::All]
            .into_iter()
            .find(|f| f.as_str() == s)
    }

    /// The failures of this type among a job's executions.
    pub fn count(self, d: &JobProcessDetails) -> i64 {
        match self {
            Self::Failed => d.failed,
            Self::Rejected => d.rejected,
            Self::TimedOut => d.timed_out,
            Self::All => d.failed + d.rejected + d.timed_out,
        }
    }

    fn covers(self, status: JobExecutionStatus) -> bool {
        match self {
            Self::Failed => status == JobExecutionStatus::Failed,
            Self::Rejected => status == JobExecutionStatus::Rejected,
            Self::TimedOut => status == JobExecutionStatus::TimedOut,
            Self::All => matches!(
                status,
                JobExecutionStatus::Failed
                    | JobExecutionStatus::Rejected
                    | JobExecutionStatus::TimedOut
            ),
        }
    }
}

/// One `abortConfig.criteriaList` item (`action` is always CANCEL, the model's only
/// value).
#[derive(Debug, Clone, PartialEq)]
pub struct AbortCriteria {
    pub failure_type: FailureType,
    /// `thresholdPercentage` in hundredths of a percent (two decimal digits, as the
    /// model allows): 10.5 % → 1050. Integers, so "exactly at the threshold" is exact.
    pub threshold_hundredths: i64,
    pub min_executed_things: i64,
}

/// One `jobExecutionsRetryConfig.criteriaList` item.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryCriteria {
    /// FAILED, TIMED_OUT or ALL (the model's `RetryableFailureType`).
    pub failure_type: FailureType,
    pub number_of_retries: i64,
}

/// Model enum `JobEndBehavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndBehavior {
    StopRollout,
    Cancel,
    ForceCancel,
}

impl EndBehavior {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StopRollout => "STOP_ROLLOUT",
            Self::Cancel => "CANCEL",
            Self::ForceCancel => "FORCE_CANCEL",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::StopRollout, Self::Cancel, Self::ForceCancel]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// `schedulingConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// Applies only with `end`; STOP_ROLLOUT when not given.
    pub end_behavior: Option<EndBehavior>,
    pub windows: Vec<MaintenanceWindow>,
}

/// Where a job's rollout stands: the part of its row that the rollout rules read and
/// write. All zero for a job whose targets all got their execution at creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    /// Targets in the rollout queue: no execution yet.
    pub waiting: i64,
    /// Executions the rollout has created ("notified things").
    pub notified: i64,
    /// When the rollout began: minute buckets are counted from here.
    pub started_at: Option<Timestamp>,
    /// The current minute bucket (minutes since `started_at`) and how many executions
    /// were created in it.
    pub bucket: i64,
    pub in_bucket: i64,
    /// The current minute's rate, fixed when the minute began (so that one minute
    /// never mixes two rates, whatever happens during it), or when UpdateJob changed
    /// the rollout config.
    pub bucket_rate: i64,
    /// The schedule's end has been applied: no more targets will be reached.
    pub ended: bool,
    /// When the background sweep must look at the job next (`None`: never by itself).
    pub wake_at: Option<Timestamp>,
}

/// What reaching a schedule boundary does to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleEvent {
    /// `startTime` passed: SCHEDULED → IN_PROGRESS.
    Started,
    /// `endTime` passed: apply this end behaviour.
    Ended(EndBehavior),
    /// A maintenance window closed: IN_PROGRESS → SCHEDULED until the next one.
    WindowClosed,
}

/// The reason code and comment an abort leaves on the job, as CancelJob would with them.
pub const ABORT_REASON_CODE: &str = "ABORT_CRITERIA_MET";

impl JobProgress {
    /// The schedule boundary due at `now`, if one is, applied to the job's status
    /// (`Started`) or to its rollout (`Ended`: the queue is to be dropped; a CANCEL or
    /// FORCE_CANCEL end is for the caller to apply as CancelJob).
    pub fn schedule_event(&mut self, now: Timestamp) -> Option<ScheduleEvent> {
        let policy = Arc::clone(&self.policy);
        let schedule = policy.schedule.as_ref()?;
        if !matches!(self.status, JobStatus::Scheduled | JobStatus::InProgress) {
            return None;
        }
        if !self.rollout.ended && schedule.end.is_some_and(|e| e <= now) {
            // The end applies whatever the windows say; a job still SCHEDULED ends too.
            self.status = JobStatus::InProgress;
            self.rollout.ended = true;
            self.rollout.waiting = 0;
            self.last_updated_at = now;
            let behavior = schedule.end_behavior.unwrap_or(EndBehavior::StopRollout);
            if behavior == EndBehavior::StopRollout {
                self.complete_if_done(now);
            }
            return Some(ScheduleEvent::Ended(behavior));
        }
        if self.rollout.ended {
            return None;
        }
        let in_window =
            schedule.windows.is_empty() || window_containing(&schedule.windows, now).is_some();
        let started = schedule.start.is_none_or(|s| s <= now);
        match self.status {
            JobStatus::Scheduled if started && in_window => {
                self.status = JobStatus::InProgress;
                self.last_updated_at = now;
                Some(ScheduleEvent::Started)
            }
            // AWS "Jobs and job execution states": at the end of a maintenance window
            // the rollout stops and the job is SCHEDULED until the next window opens.
            JobStatus::InProgress if !in_window => {
                self.status = JobStatus::Scheduled;
                self.last_updated_at = now;
                Some(ScheduleEvent::WindowClosed)
            }
            _ => None,
        }
    }

    /// How many executions the rollout may create at `now`: none while the job is not
    /// IN_PROGRESS or outside every maintenance window; else what is left of this
    /// minute's rate. Moves to the minute bucket of `now`.
    pub fn rollout_allowance(&mut self, now: Timestamp) -> i64 {
        if self.status != JobStatus::InProgress || self.rollout.waiting == 0 {
            return 0;
        }
        if let Some(s) = &self.policy.schedule
            && !s.windows.is_empty()
            && window_containing(&s.windows, now).is_none()
        {
            return 0;
        }
        let started = match self.rollout.started_at {
            Some(s) => s,
            None => {
                self.rollout.started_at = Some(now);
                self.rollout.bucket = 0;
                self.rollout.in_bucket = 0;
                self.rollout.bucket_rate = self.rollout_rate();
                now
            }
        };
        let bucket = (now.millis() - started.millis()).max(0) / 60_000;
        if bucket != self.rollout.bucket {
            self.rollout.bucket = bucket;
            self.rollout.in_bucket = 0;
            self.rollout.bucket_rate = self.rollout_rate();
        }
        (self.rollout.bucket_rate - self.rollout.in_bucket).clamp(0, self.rollout.waiting)
    }

    /// The rate a minute beginning now gets (see [`Rollout::bucket_rate`]). Without a
    /// rollout config, everything at once (a scheduled job's targets when its start or
    /// window comes).
    pub fn rollout_rate(&self) -> i64 {
        let Some(r) = &self.policy.rollout else {
            return i64::MAX;
        };
        let cap = r.maximum_per_minute.unwrap_or(MAX_RATE_PER_MINUTE);
        match &r.exponential {
            None => cap,
            Some(e) => {
                let steps =
                    |reached: i64, every: Option<i64>| every.map_or(0, |n| reached / n.max(1));
                // Things notified before this minute: the minute's rate is fixed when it
                // begins, so one minute never mixes two rates.
                let notified = self.rollout.notified - self.rollout.in_bucket;
                let increases = steps(notified, e.increase.notified_things).max(steps(
                    self.process_details.succeeded,
                    e.increase.succeeded_things,
                ));
                // floor(base × factor^k), rounded once at the end: rounding at every step
                // would keep a small base (1 with factor 1.5, or any base below 10 with
                // factor 1.1) from ever growing. The epsilon absorbs f64's error on
                // results that are whole numbers.
                let factor = e.increment_factor_tenths as f64 / 10.0;
                let mut rate = e.base_per_minute as f64;
                for _ in 0..increases {
                    if rate >= cap as f64 {
                        break;
                    }
                    rate *= factor;
                }
                ((rate + 1e-9).floor() as i64).min(cap)
            }
        }
    }

    /// A thing joined a group that this SCHEDULED CONTINUOUS job targets (before its
    /// start, or between maintenance windows): it waits in the rollout queue with the
    /// others instead of getting its execution now. False when the job gives it its
    /// execution at once.
    pub fn queue_joining_thing(&mut self, now: Timestamp) -> bool {
        if self.status != JobStatus::Scheduled || self.rollout.ended {
            return false;
        }
        self.rollout.waiting += 1;
        self.last_updated_at = now;
        self.rollout.wake_at = self.next_wake(now);
        true
    }

    /// Account for a rollout step: `created` executions made from `consumed` queue
    /// entries (a target deleted meanwhile, or one that already has an execution, is
    /// consumed without one).
    pub fn record_rollout(&mut self, created: i64, consumed: i64, now: Timestamp) {
        self.rollout.waiting = (self.rollout.waiting - consumed).max(0);
        self.rollout.notified += created;
        self.rollout.in_bucket += created;
        self.process_details.queued += created;
        if created > 0 || consumed > 0 {
            self.last_updated_at = now;
        }
        self.complete_if_done(now);
    }

    /// When the sweep must look at this job next, after everything due at `now` was
    /// done: the start time, the next minute bucket or maintenance window while targets
    /// wait, and the end time.
    pub fn next_wake(&self, now: Timestamp) -> Option<Timestamp> {
        let schedule = self.policy.schedule.as_ref();
        let windows = schedule.map(|s| s.windows.as_slice()).unwrap_or(&[]);
        let mut wake: Option<Timestamp> = None;
        let mut at = |t: Timestamp| wake = Some(wake.map_or(t, |w| w.min(t)));
        let live = matches!(self.status, JobStatus::Scheduled | JobStatus::InProgress);
        if live
            && !self.rollout.ended
            && let Some(e) = schedule.and_then(|s| s.end)
        {
            at(e);
        }
        match self.status {
            JobStatus::Scheduled if !self.rollout.ended => {
                let start = schedule.and_then(|s| s.start).unwrap_or(now).max(now);
                if windows.is_empty() {
                    at(start);
                } else if let Some((open, _)) = window_containing(windows, start) {
                    at(open.max(start));
                } else if let Some(w) = next_window_start(windows, start) {
                    at(w);
                }
            }
            JobStatus::InProgress => {
                let window = window_containing(windows, now);
                if let Some((_, close)) = window
                    && !self.rollout.ended
                {
                    at(close);
                }
                if self.rollout.waiting > 0 {
                    if !windows.is_empty() && window.is_none() {
                        if let Some(w) = next_window_start(windows, now) {
                            at(w);
                        }
                    } else if self.rollout.started_at.is_some()
                        && self.rollout.in_bucket >= self.rollout.bucket_rate
                    {
                        let started = self.rollout.started_at.unwrap_or(now);
                        at(Timestamp(
                            started.millis() + (self.rollout.bucket + 1) * 60_000,
                        ));
                    } else {
                        // Budget-limited: more may go right away.
                        at(now);
                    }
                }
            }
            _ => {}
        }
        wake
    }

    /// IN_PROGRESS, or SCHEDULED between two maintenance windows after its rollout
    /// began: its executions run, fail, retry and count towards an abort.
    pub fn is_running(&self) -> bool {
        self.status == JobStatus::InProgress
            || (self.status == JobStatus::Scheduled && self.rollout.started_at.is_some())
    }

    /// The abort criterion met by the job's counters, if any: a job IN_PROGRESS with at
    /// least `minNumberOfExecutedThings` executions finished, of which failures of the
    /// type make at least `thresholdPercentage` percent.
    pub fn abort_due(&self) -> Option<&AbortCriteria> {
        if !self.is_running() {
            return None;
        }
        let d = &self.process_details;
        let executed = d.succeeded + d.failed + d.rejected + d.timed_out;
        self.policy.abort.iter().find(|c| {
            executed >= c.min_executed_things
                && executed > 0
                && c.failure_type.count(d) * 10_000 >= c.threshold_hundredths * executed
        })
    }

    /// Whether `exec`, just finished, gets another attempt under the retry config:
    /// its failure type has retries left and the execution has not used
    /// [`MAX_RETRIES`].
    pub fn retry_due(&self, exec: &JobExecution) -> bool {
        if !self.is_running() {
            return false;
        }
        let status = exec.status;
        if !matches!(
            status,
            JobExecutionStatus::Failed | JobExecutionStatus::TimedOut
        ) || exec.retry_attempt >= MAX_RETRIES
        {
            return false;
        }
        let timed_out = exec.retry_timed_out;
        let failed = exec.retry_attempt - timed_out;
        self.policy.retry.iter().any(|c| {
            c.failure_type.covers(status)
                && match c.failure_type {
                    FailureType::All => exec.retry_attempt < c.number_of_retries,
                    FailureType::TimedOut => timed_out < c.number_of_retries,
                    _ => failed < c.number_of_retries,
                }
        })
    }
}

impl JobsError {
    /// A config that must set at least one of two members (`rateIncreaseCriteria`, a
    /// rollout config), though the model makes neither required.
    pub fn config_needs_one_of(config: &str, a: &str, b: &str) -> Self {
        JobsError::InvalidRequest(format!("{config} must set {a} or {b}"))
    }
}

/// The checks on a policy that span members (the model checks each member's range):
/// called by the edge after parsing, for CreateJob and UpdateJob.
pub fn check_policy(policy: &JobPolicy, now: Timestamp) -> Result<(), JobsError> {
    check_rules(policy)?;
    if let Some(s) = &policy.schedule {
        check_schedule(s, now)?;
    }
    Ok(())
}

/// The checks of [`check_policy`] on the rules UpdateJob may replace (rollout, abort,
/// retry), which do not depend on the time (a schedule cannot be updated).
pub fn check_rules(policy: &JobPolicy) -> Result<(), JobsError> {
    if let Some(r) = &policy.rollout {
        check_rollout(r)?;
    }
    for (i, c) in policy.abort.iter().enumerate() {
        if policy.abort[..i]
            .iter()
            .any(|o| o.failure_type == c.failure_type)
        {
            return Err(JobsError::InvalidRequest(format!(
                "abortConfig.criteriaList has more than one criterion for failureType {}",
                c.failure_type.as_str()
            )));
        }
    }
    check_retry(&policy.retry)
}

/// A rollout config must say how fast: the model makes both of its members optional,
/// but one without either (`{}`) sets no rate, and an `exponentialRate` must say when the
/// rate grows (both `rateIncreaseCriteria` members are optional too). The model cannot
/// state these, so they are not in its "1 validation error detected" shape.
fn check_rollout(r: &RolloutRate) -> Result<(), JobsError> {
    const M: &str = "jobExecutionsRolloutConfig";
    if r.maximum_per_minute.is_none() && r.exponential.is_none() {
        return Err(JobsError::config_needs_one_of(
            M,
            "maximumPerMinute",
            "exponentialRate",
        ));
    }
    if let Some(e) = &r.exponential
        && e.increase.notified_things.is_none()
        && e.increase.succeeded_things.is_none()
    {
        return Err(JobsError::config_needs_one_of(
            &format!("{M}.exponentialRate.rateIncreaseCriteria"),
            "numberOfNotifiedThings",
            "numberOfSucceededThings",
        ));
    }
    if let Some(m) = r.maximum_per_minute
        && !(1..=MAX_RATE_PER_MINUTE).contains(&m)
    {
        return Err(JobsError::validation(format_args!(
            "Value '{m}' at 'jobExecutionsRolloutConfig.maximumPerMinute' failed to satisfy constraint: Member must have value between 1 and {MAX_RATE_PER_MINUTE}"
        )));
    }
    Ok(())
}

fn check_retry(retry: &[RetryCriteria]) -> Result<(), JobsError> {
    let mut total = 0;
    for (i, c) in retry.iter().enumerate() {
        if retry[..i].iter().any(|o| o.failure_type == c.failure_type) {
            return Err(JobsError::InvalidRequest(format!(
                "jobExecutionsRetryConfig.criteriaList has more than one criterion for failureType {}",
                c.failure_type.as_str()
            )));
        }
        if c.failure_type == FailureType::All && retry.len() > 1 {
            return Err(JobsError::InvalidRequest(
                "jobExecutionsRetryConfig.criteriaList: failureType ALL cannot be combined with another criterion".into(),
            ));
        }
        total += c.number_of_retries;
    }
    if total > MAX_RETRIES {
        return Err(JobsError::InvalidRequest(format!(
            "jobExecutionsRetryConfig: at most {MAX_RETRIES} retries in total across failure types, got {total}"
        )));
    }
    Ok(())
}

/// AWS's scheduling limits: `startTime` at least 30 minutes and at most one year ahead;
/// `endTime` at least 30 minutes after the start (or now) and at most two years after
/// it; the start before the end.
fn check_schedule(s: &Schedule, now: Timestamp) -> Result<(), JobsError> {
    const MINUTE: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MINUTE;
    if let Some(start) = s.start {
        if start.millis() < now.millis() + 30 * MINUTE {
            return Err(JobsError::InvalidRequest(
                "schedulingConfig.startTime must be at least 30 minutes in the future".into(),
            ));
        }
        if start.millis() > now.millis() + 366 * DAY {
            return Err(JobsError::InvalidRequest(
                "schedulingConfig.startTime must be at most one year in the future".into(),
            ));
        }
    }
    if let Some(end) = s.end {
        let from = s.start.unwrap_or(now);
        if end.millis() < from.millis() + 30 * MINUTE {
            return Err(JobsError::InvalidRequest(
                "schedulingConfig.endTime must be at least 30 minutes after startTime (or now)"
                    .into(),
            ));
        }
        if end.millis() > from.millis() + 2 * 366 * DAY {
            return Err(JobsError::InvalidRequest(
                "schedulingConfig.endTime must be at most two years after startTime (or now)"
                    .into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
