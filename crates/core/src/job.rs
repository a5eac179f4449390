//! Jobs: a document sent to a set of targets, and the per-status counters that
//! DescribeJob reports as `jobProcessDetails`.

use crate::execution::JobExecutionStatus;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Model enum `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    InProgress,
    Canceled,
    Completed,
    DeletionInProgress,
    Scheduled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        Self::InProgress,
        Self::Canceled,
        Self::Completed,
        Self::DeletionInProgress,
        Self::Scheduled,
    ];
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Canceled => "CANCELED",
            Self::Completed => "COMPLETED",
            Self::DeletionInProgress => "DELETION_IN_PROGRESS",
            Self::Scheduled => "SCHEDULED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Model enum `TargetSelection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetSelection {
    /// Targets are resolved once, at creation; the job completes when all are done.
    Snapshot,
    /// Things that join a target group later also get an execution; never completes.
    Continuous,
}

impl TargetSelection {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "SNAPSHOT",
            Self::Continuous => "CONTINUOUS",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SNAPSHOT" => Some(Self::Snapshot),
            "CONTINUOUS" => Some(Self::Continuous),
            _ => None,
        }
    }
}

/// How many of a job's executions are in each status. Kept exact on every change
/// instead of recounted, so that DescribeJob and the completion check cost O(1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProcessDetails {
    pub queued: i64,
    pub in_progress: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub timed_out: i64,
    pub rejected: i64,
    pub removed: i64,
    pub canceled: i64,
}

impl JobProcessDetails {
    pub fn bucket_mut(&mut self, status: JobExecutionStatus) -> &mut i64 {
        match status {
            JobExecutionStatus::Queued => &mut self.queued,
            JobExecutionStatus::InProgress => &mut self.in_progress,
            JobExecutionStatus::Succeeded => &mut self.succeeded,
            JobExecutionStatus::Failed => &mut self.failed,
            JobExecutionStatus::TimedOut => &mut self.timed_out,
            JobExecutionStatus::Rejected => &mut self.rejected,
            JobExecutionStatus::Removed => &mut self.removed,
            JobExecutionStatus::Canceled => &mut self.canceled,
        }
    }

    pub fn get(&self, status: JobExecutionStatus) -> i64 {
        let mut copy = *self;
        *copy.bucket_mut(status)
    }

    /// Move one execution from `from` (None: newly created) to `to` (None: deleted).
    pub fn record(&mut self, from: Option<JobExecutionStatus>, to: Option<JobExecutionStatus>) {
        if from == to {
            return;
        }
        if let Some(f) = from {
            *self.bucket_mut(f) -= 1;
        }
        if let Some(t) = to {
            *self.bucket_mut(t) += 1;
        }
    }

    pub fn pending(&self) -> i64 {
        self.queued + self.in_progress
    }
}

/// What CreateJob asks for, after the edge has parsed and checked it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_id: String,
    /// Target ARNs exactly as given (returned by DescribeJob).
    pub targets: Vec<String>,
    /// Names of the things that get an execution now.
    pub target_things: Vec<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub description: Option<String>,
    pub target_selection: TargetSelection,
    /// `timeoutConfig.inProgressTimeoutInMinutes`, the only config the rules read.
    pub in_progress_timeout_minutes: Option<i64>,
    /// Other configs (rollout, abort, retry, presigned URL, scheduling, tags, …) kept
    /// verbatim as JSON text keyed by member name, so that DescribeJob returns them.
    /// The core never interprets them.
    pub configs: BTreeMap<String, String>,
}

/// The part of a job that execution changes touch: status, counters and the one
/// config the rules read. Split from [`Job`] so that the hot path (a cancel) loads and
/// writes a few integers, never the job document.
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    pub job_id: String,
    pub status: JobStatus,
    pub target_selection: TargetSelection,
    pub in_progress_timeout_minutes: Option<i64>,
    pub process_details: JobProcessDetails,
    pub last_updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

impl JobProgress {
    /// Account for one execution changing status (`None`: created or deleted), and
    /// complete the job if that was the last pending one.
    pub fn record_execution_change(
        &mut self,
        from: Option<JobExecutionStatus>,
        to: Option<JobExecutionStatus>,
        now: Timestamp,
    ) {
        self.process_details.record(from, to);
        self.complete_if_done(now);
    }

    /// A SNAPSHOT job becomes COMPLETED once all of its executions are terminal
    /// (AWS "Jobs and job execution states"). CONTINUOUS jobs never complete by
    /// themselves, and canceled or deleting jobs keep their status.
    pub fn complete_if_done(&mut self, now: Timestamp) {
        if self.status == JobStatus::InProgress
            && self.target_selection == TargetSelection::Snapshot
            && self.process_details.pending() == 0
        {
            self.status = JobStatus::Completed;
            self.completed_at = Some(now);
            self.last_updated_at = now;
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub targets: Vec<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub description: Option<String>,
    pub force_canceled: bool,
    pub reason_code: Option<String>,
    pub comment: Option<String>,
    pub created_at: Timestamp,
    pub configs: BTreeMap<String, String>,
    pub progress: JobProgress,
}

impl Job {
    /// The job as it stands right after CreateJob: one QUEUED execution per target thing.
    pub fn from_new(new: NewJob, now: Timestamp) -> Job {
        let mut progress = JobProgress {
            job_id: new.job_id,
            status: JobStatus::InProgress,
            target_selection: new.target_selection,
            in_progress_timeout_minutes: new.in_progress_timeout_minutes,
            process_details: JobProcessDetails {
                queued: new.target_things.len() as i64,
                ..JobProcessDetails::default()
            },
            last_updated_at: now,
            completed_at: None,
        };
        progress.complete_if_done(now);
        Job {
            targets: new.targets,
            document: new.document,
            document_source: new.document_source,
            description: new.description,
            force_canceled: false,
            reason_code: None,
            comment: None,
            created_at: now,
            configs: new.configs,
            progress,
        }
    }

    pub fn job_id(&self) -> &str {
        &self.progress.job_id
    }
}
