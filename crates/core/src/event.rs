//! Jobs events: which committed changes AWS IoT announces on `$aws/events/job/{jobId}/...`
//! and `$aws/events/jobExecution/{jobId}/...` (AWS IoT developer guide, "Jobs events"),
//! decided here as pure rules over a change's before and after.
//!
//! The store records an event in the transaction that makes it and hands it to its
//! change listener only after COMMIT (see [`crate::store::ChangeListener`]); rendering
//! (topics, JSON, ARNs) and delivery belong to the MQTT side. Nothing here knows MQTT.

use crate::execution::{JobExecution, JobExecutionStatus};
use crate::job::{Job, JobStatus};
use crate::time::Timestamp;

/// One announced change.
#[derive(Debug, Clone, PartialEq)]
pub enum JobsEvent {
    /// A job reached a status AWS announces; `job` as it stands after the change.
    Job {
        operation: JobEventOperation,
        job: Box<Job>,
        at: Timestamp,
    },
    /// An execution reached a status AWS announces, or was deleted; `execution` as it
    /// stands after the change (before deletion, for `deleted`).
    JobExecution {
        operation: JobExecutionEventOperation,
        execution: Box<JobExecution>,
        at: Timestamp,
    },
}

/// The `operation` of a job event, which is also its topic's last level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEventOperation {
    Completed,
    Canceled,
    DeletionInProgress,
    Deleted,
}

impl JobEventOperation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Canceled => "canceled",
            Self::DeletionInProgress => "deletion_in_progress",
            Self::Deleted => "deleted",
        }
    }

    /// The job status the event reports.
    pub const fn status(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Canceled => "CANCELED",
            Self::DeletionInProgress => "DELETION_IN_PROGRESS",
            Self::Deleted => "DELETED",
        }
    }

    /// The event a job-status change makes, if any: a job that becomes COMPLETED,
    /// CANCELED or DELETION_IN_PROGRESS (`deleted` is announced when its rows go, see
    /// the store's deletion sweep). CancelJob is one step in iotjobs (the job is CANCELED
    /// at once; its executions follow, each with its own `canceled` event), so AWS's
    /// `cancellation_in_progress` is never announced.
    pub fn of_job_transition(before: JobStatus, after: JobStatus) -> Option<Self> {
        if before == after {
            return None;
        }
        match after {
            JobStatus::Completed => Some(Self::Completed),
            JobStatus::Canceled => Some(Self::Canceled),
            JobStatus::DeletionInProgress => Some(Self::DeletionInProgress),
            JobStatus::InProgress | JobStatus::Scheduled => None,
        }
    }
}

/// The `operation` of a job-execution event, which is also its topic's last level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobExecutionEventOperation {
    Succeeded,
    Failed,
    Rejected,
    Canceled,
    Removed,
    TimedOut,
    Deleted,
}

impl JobExecutionEventOperation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
            Self::Removed => "removed",
            Self::TimedOut => "timed_out",
            Self::Deleted => "deleted",
        }
    }

    /// The event an execution's status change makes: reaching one of the six terminal
    /// statuses AWS announces. QUEUED and IN_PROGRESS (and staying put) announce nothing.
    pub fn of_transition(before: JobExecutionStatus, after: JobExecutionStatus) -> Option<Self> {
        use JobExecutionStatus as S;
        if before == after {
            return None;
        }
        match after {
            S::Succeeded => Some(Self::Succeeded),
            S::Failed => Some(Self::Failed),
            S::Rejected => Some(Self::Rejected),
            S::Canceled => Some(Self::Canceled),
            S::Removed => Some(Self::Removed),
            S::TimedOut => Some(Self::TimedOut),
            S::Queued | S::InProgress => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_execution_transition_announces_exactly_the_terminal_arrivals() {
        use JobExecutionStatus as S;
        for before in S::ALL {
            for after in S::ALL {
                let op = JobExecutionEventOperation::of_transition(before, after);
                let terminal = !matches!(after, S::Queued | S::InProgress);
                assert_eq!(
                    op.is_some(),
                    before != after && terminal,
                    "{before:?} -> {after:?}"
                );
                if let Some(op) = op {
                    // The operation names the status reached (AWS: `timed_out` ⇔ TIMED_OUT).
                    assert_eq!(op.as_str().to_uppercase(), after.as_str());
                }
            }
        }
    }

    #[test]
    fn every_job_transition_announces_completed_canceled_or_deletion() {
        for before in JobStatus::ALL {
            for after in JobStatus::ALL {
                let op = JobEventOperation::of_job_transition(before, after);
                let announced = matches!(
                    after,
                    JobStatus::Completed | JobStatus::Canceled | JobStatus::DeletionInProgress
                );
                assert_eq!(
                    op.is_some(),
                    before != after && announced,
                    "{before:?} -> {after:?}"
                );
                if let Some(op) = op {
                    assert_eq!(op.status(), after.as_str());
                }
            }
        }
    }
}
