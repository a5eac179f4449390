//! Job executions: one job's run on one thing.

use crate::JobsError;
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt;

/// Name/value pairs a device or operator attaches to an execution. Ordered, so that
/// what is stored and returned is deterministic.
pub type StatusDetails = BTreeMap<String, String>;

/// The statuses of a job execution (model enum `JobExecutionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobExecutionStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    TimedOut,
    Rejected,
    Removed,
    Canceled,
}

impl JobExecutionStatus {
    pub const ALL: [JobExecutionStatus; 8] = [
        Self::Queued,
        Self::InProgress,
        Self::Succeeded,
        Self::Failed,
        Self::TimedOut,
        Self::Rejected,
        Self::Removed,
        Self::Canceled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Rejected => "REJECTED",
            Self::Removed => "REMOVED",
            Self::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Terminal statuses never change again (AWS "Jobs and job execution states").
    pub const fn is_terminal(self) -> bool {
        !self.is_pending()
    }

    /// "Pending" is QUEUED or IN_PROGRESS, as GetPendingJobExecutions uses the word.
    pub const fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::InProgress)
    }

    /// Statuses a device may report through UpdateJobExecution. The others are set only
    /// by the service (the AWS lifecycle table: "Initiated by device? No").
    pub const fn is_device_settable(self) -> bool {
        matches!(
            self,
            Self::InProgress | Self::Succeeded | Self::Failed | Self::Rejected
        )
    }

    /// A device asking for a status it may not set is refused whatever the execution's
    /// state (live AWS checks the requested status first, wire spec §8), so the data
    /// plane refuses it before any lookup: the answer is the same for an unknown job or
    /// thing, and reveals nothing about them.
    pub fn check_device_settable(self) -> Result<(), JobsError> {
        if self.is_device_settable() {
            Ok(())
        } else {
            Err(JobsError::status_not_device_settable(self, None))
        }
    }
}

impl fmt::Display for JobExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One execution record, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobExecution {
    pub job_id: String,
    pub thing_name: String,
    /// 1 for the first execution of a (job, thing) pair.
    pub execution_number: i64,
    pub status: JobExecutionStatus,
    /// True once canceled with `force=true`.
    pub force_canceled: bool,
    pub status_details: StatusDetails,
    pub queued_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub last_updated_at: Timestamp,
    /// Optimistic-concurrency counter: 1 when queued, +1 on every accepted change.
    pub version_number: i64,
    /// When the job's in-progress timer (timeoutConfig) expires, if running.
    pub in_progress_deadline: Option<Timestamp>,
    /// When the device's current step timer expires, if one is set.
    pub step_deadline: Option<Timestamp>,
    /// `retryAttempt`: how many times the retry config queued this execution again.
    pub retry_attempt: i64,
    /// How many of those retries followed a TIMED_OUT (the rest followed a FAILED): the
    /// retry config counts each failure type's retries apart.
    pub retry_timed_out: i64,
}

impl JobExecution {
    /// A fresh QUEUED execution.
    pub fn queued(job_id: &str, thing_name: &str, execution_number: i64, now: Timestamp) -> Self {
        JobExecution {
            job_id: job_id.to_owned(),
            thing_name: thing_name.to_owned(),
            execution_number,
            status: JobExecutionStatus::Queued,
            force_canceled: false,
            status_details: StatusDetails::new(),
            queued_at: now,
            started_at: None,
            last_updated_at: now,
            version_number: 1,
            in_progress_deadline: None,
            step_deadline: None,
            retry_attempt: 0,
            retry_timed_out: 0,
        }
    }

    /// The earliest running timer, if any: when this execution times out.
    pub fn timeout_at(&self) -> Option<Timestamp> {
        match (self.in_progress_deadline, self.step_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `approximateSecondsBeforeTimedOut`: reported only while a timer runs and the
    /// execution is not terminal.
    pub fn approximate_seconds_before_timed_out(&self, now: Timestamp) -> Option<i64> {
        if self.status.is_terminal() {
            return None;
        }
        self.timeout_at()
            .map(|t| ((t.millis() - now.millis()).max(0) + 999) / 1000)
    }

    /// The data plane's DescribeJobExecution of an explicit job id answers only for a
    /// pending execution: a finished one is TerminalStateException (410), as live AWS
    /// answers (wire spec §8). `$next` never selects a finished one.
    pub fn check_describable_by_device(&self) -> Result<(), JobsError> {
        if self.status.is_terminal() {
            return Err(crate::JobsError::TerminalState(
                "Job Execution has reached terminal state. It is neither IN_PROGRESS nor QUEUED"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn state(&self) -> ExecutionState {
        ExecutionState {
            status: self.status,
            status_details: self.status_details.clone(),
            version_number: self.version_number,
        }
    }
}

/// The `executionState` triple that the data plane returns, also inside some errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionState {
    pub status: JobExecutionStatus,
    pub status_details: StatusDetails,
    pub version_number: i64,
}

/// The status-details limits that the models state only in prose: "You can specify at
/// most 10 name/value pairs" (CancelJobExecution, UpdateJobExecution) and "The maximum
/// length of the value in the name/value pair is 1,024 characters" (iot-jobs-data
/// `DetailsMap`). Key and value patterns are checked by the model validator.
pub fn check_status_details(details: Option<&StatusDetails>) -> Result<(), JobsError> {
    let Some(details) = details else {
        return Ok(());
    };
    if details.len() > 10 {
        return Err(crate::JobsError::validation(format_args!(
            "Value at 'statusDetails' failed to satisfy constraint: Map must have at most 10 entries, but has {}",
            details.len()
        )));
    }
    for (k, v) in details {
        let n = v.chars().count();
        if n > 1024 {
            return Err(crate::JobsError::validation(format_args!(
                "Value at 'statusDetails.{k}' failed to satisfy constraint: Member must have length less than or equal to 1024, but has length {n}"
            )));
        }
    }
    Ok(())
}

/// `stepTimeoutInMinutes`: 1 to 10080, or -1 to cancel the step timer (model docs).
pub fn check_step_timeout(minutes: Option<i64>) -> Result<(), JobsError> {
    match minutes {
        None | Some(-1) | Some(1..=10080) => Ok(()),
        Some(m) => Err(crate::JobsError::validation(format_args!(
            "Value '{m}' at 'stepTimeoutInMinutes' failed to satisfy constraint: Member must be -1 or between 1 and 10080"
        ))),
    }
}

/// ListJobExecutionsForThing of a thing with no executions: ResourceNotFoundException
/// when the thing does not exist either (live AWS); a deleted thing's remaining
/// executions are still listed (so a caller need look the thing up only for an empty
/// page).
pub fn check_listing_for_thing(
    thing: &str,
    page_is_empty: bool,
    thing_exists: bool,
) -> Result<(), JobsError> {
    if page_is_empty && !thing_exists {
        return Err(crate::JobsError::thing_not_found(thing));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_details_limits() {
        let ten: StatusDetails = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(check_status_details(Some(&ten)).is_ok());
        let eleven: StatusDetails = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(check_status_details(Some(&eleven)).is_err());
        let long: StatusDetails = [("k".to_string(), "é".repeat(1024))].into();
        assert!(
            check_status_details(Some(&long)).is_ok(),
            "chars, not bytes"
        );
        let too_long: StatusDetails = [("k".to_string(), "x".repeat(1025))].into();
        assert!(check_status_details(Some(&too_long)).is_err());
    }

    #[test]
    fn a_device_may_set_four_statuses_and_is_refused_the_others_without_a_state() {
        for status in JobExecutionStatus::ALL {
            match status.check_device_settable() {
                Ok(()) => assert!(status.is_device_settable(), "{status}"),
                Err(JobsError::InvalidStateTransition { message, state }) => {
                    assert!(!status.is_device_settable(), "{status}");
                    assert_eq!(
                        message,
                        format!("The status of job execution cannot be changed to be {status}")
                    );
                    assert_eq!(state, None, "refused before any lookup: no state to show");
                }
                Err(e) => panic!("{status}: {e:?}"),
            }
        }
    }

    #[test]
    fn step_timeouts() {
        for ok in [None, Some(-1), Some(1), Some(10080)] {
            assert!(check_step_timeout(ok).is_ok());
        }
        for bad in [Some(0), Some(-2), Some(10081)] {
            assert!(check_step_timeout(bad).is_err());
        }
    }
}
