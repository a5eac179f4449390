//! Job executions: one job's run on one thing.

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
