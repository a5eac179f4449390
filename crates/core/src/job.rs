//! Jobs: a document sent to a set of targets, and the per-status counters that
//! DescribeJob reports as `jobProcessDetails`.

use crate::JobsError;
use crate::execution::JobExecutionStatus;
use crate::policy::{ABORT_REASON_CODE, AbortCriteria, JobPolicy, Rollout};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// Names of the things targeted directly (thing ARNs).
    pub target_things: Vec<String>,
    /// Names of the thing groups targeted (thing-group ARNs): their members (and the
    /// members of their descendant groups) get an execution at creation; for a
    /// CONTINUOUS job, so does every thing that joins them later.
    pub target_groups: Vec<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub description: Option<String>,
    pub target_selection: TargetSelection,
    /// `timeoutConfig.inProgressTimeoutInMinutes`, the only config the rules read.
    pub in_progress_timeout_minutes: Option<i64>,
    /// The rollout, abort, retry and scheduling configs, as rules ([`crate::policy`]).
    pub policy: JobPolicy,
    /// Every config as given (rollout, abort, retry, presigned URL, scheduling, tags,
    /// …) kept verbatim as JSON text keyed by member name, so that DescribeJob returns
    /// them. The core never interprets them.
    pub configs: BTreeMap<String, String>,
}

/// The most targets one job may have ("The total number of targets associated with a
/// job must not exceed 100", AssociateTargetsWithJob model doc).
pub const MAX_TARGETS: usize = 100;

/// CreateJob's checks on the request that the model cannot express. `document` is
/// whether an inline document was given, `document_source` whether a URL was; the
/// edge checks that an inline document is a JSON object (the core knows no JSON) and
/// reports it with [`JobsError::document_not_json`] or
/// [`JobsError::document_not_object`].
pub fn check_create_job(
    targets: usize,
    document: bool,
    document_source: bool,
) -> Result<(), JobsError> {
    if targets > MAX_TARGETS {
        return Err(JobsError::InvalidRequest(format!(
            "A job can have at most {MAX_TARGETS} targets, got {targets}"
        )));
    }
    // "Required if you don't specify a value for documentSource" (model doc); one or
    // the other, not both.
    match (document, document_source) {
        (false, false) => Err(JobsError::InvalidRequest(
            "Either document or documentSource must be specified".into(),
        )),
        (true, true) => Err(JobsError::InvalidRequest(
            "Specify only one of document and documentSource".into(),
        )),
        _ => Ok(()),
    }
}

/// AssociateTargetsWithJob (AWS API reference): only a CONTINUOUS job that is
/// IN_PROGRESS takes more targets, and a job has at most [`MAX_TARGETS`] in all
/// (`total`: its targets with the new ones, each once).
pub fn check_associate_targets(job: &JobProgress, total: usize) -> Result<(), JobsError> {
    if job.target_selection != TargetSelection::Continuous {
        return Err(JobsError::associate_needs_continuous(&job.job_id));
    }
    if job.status != JobStatus::InProgress {
        return Err(JobsError::associate_needs_in_progress(
            &job.job_id,
            job.status,
        ));
    }
    if total > MAX_TARGETS {
        return Err(JobsError::LimitExceeded(format!(
            "A job can have at most {MAX_TARGETS} targets; job {} would have {total}",
            job.job_id
        )));
    }
    Ok(())
}

impl JobsError {
    /// AssociateTargetsWithJob on a SNAPSHOT job.
    pub fn associate_needs_continuous(job_id: &str) -> Self {
        Self::InvalidRequest(format!(
            "Targets can be associated only with a job whose targetSelection is CONTINUOUS; \
             job {job_id} is SNAPSHOT"
        ))
    }

    /// AssociateTargetsWithJob on a job that is not IN_PROGRESS.
    pub fn associate_needs_in_progress(job_id: &str, status: JobStatus) -> Self {
        Self::InvalidRequest(format!(
            "Targets can be associated only with an IN_PROGRESS job; job {job_id} is {}",
            status.as_str()
        ))
    }

    /// A job document that is valid JSON but not an object: "Job documents are UTF-8
    /// encoded JSON documents" (Jobs key concepts), and every example, template and
    /// device SDK reads an object. Says what the document is instead.
    pub fn document_not_object(kind: DocumentKind) -> Self {
        JobsError::InvalidRequest(format!(
            "The job document must be a JSON object; got {}",
            kind.noun()
        ))
    }

    /// UpdateJob without a member to update ([`JobUpdate::check`]).
    pub fn nothing_to_update() -> Self {
        JobsError::InvalidRequest(
            "UpdateJob needs something to update: at least one of description, \
             presignedUrlConfig, jobExecutionsRolloutConfig, abortConfig, timeoutConfig and \
             jobExecutionsRetryConfig"
                .into(),
        )
    }

    /// A job document that is not JSON: where the parser stopped (1-based line and
    /// column, as JSON tools count them) and why.
    pub fn document_not_json(line: usize, column: usize, reason: &str) -> Self {
        JobsError::InvalidRequest(format!(
            "The job document is not valid JSON at line {line} column {column}: {reason}"
        ))
    }
}

/// What a job document is when it is valid JSON but not an object (the edge, which
/// knows JSON, tells; the core words the refusal, [`JobsError::document_not_object`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Array,
    String,
    Number,
    Boolean,
    Null,
}

impl DocumentKind {
    const fn noun(self) -> &'static str {
        match self {
            Self::Array => "an array",
            Self::String => "a string",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
            Self::Null => "null",
        }
    }
}

/// `timeoutConfig.inProgressTimeoutInMinutes`: "The minimum value is 1 and the maximum
/// value is 10080" (TimeoutConfig doc; the model shape has no min/max).
pub fn check_in_progress_timeout(minutes: Option<i64>) -> Result<(), JobsError> {
    match minutes {
        Some(m) if !(1..=10080).contains(&m) => Err(JobsError::validation(format_args!(
            "Value '{m}' at 'timeoutConfig.inProgressTimeoutInMinutes' failed to satisfy constraint: Member must be between 1 and 10080"
        ))),
        _ => Ok(()),
    }
}

/// The things a new job gets an execution for: the things it targets directly, then
/// the members of each targeted group (descendants included), each thing once, in that
/// order. `things` pairs each directly targeted thing with whether it exists;
/// `groups` pairs each targeted group with its members (recursive), `None` when the
/// group does not exist. An unknown target is ResourceNotFoundException.
pub fn resolve_targets(
    things: &[(String, bool)],
    groups: Vec<(String, Option<Vec<String>>)>,
) -> Result<Vec<String>, JobsError> {
    let mut resolved = Vec::with_capacity(things.len());
    for (thing, exists) in things {
        if !exists {
            return Err(JobsError::referenced_thing_not_found(thing));
        }
        resolved.push(thing.clone());
    }
    for (group, members) in groups {
        let members = members.ok_or_else(|| JobsError::thing_group_not_found(&group))?;
        resolved.extend(members);
    }
    let mut seen = std::collections::HashSet::new();
    resolved.retain(|t| seen.insert(t.clone()));
    Ok(resolved)
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
    /// The abort, retry, rollout and scheduling rules (shared: cloning a progress row
    /// on the hot path must not copy them).
    pub policy: Arc<JobPolicy>,
    /// Where the rollout stands (targets still waiting for their execution, the
    /// current minute's count, when the sweep must look next).
    pub rollout: Rollout,
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

    /// A SNAPSHOT job becomes COMPLETED once all of its executions are terminal and
    /// no target waits for the rollout (AWS "Jobs and job execution states"). A
    /// CONTINUOUS job completes only after its schedule's end time, when all are
    /// terminal; without one it never completes by itself. Canceled or deleting jobs
    /// keep their status.
    pub fn complete_if_done(&mut self, now: Timestamp) {
        let finite = self.target_selection == TargetSelection::Snapshot || self.rollout.ended;
        if self.is_running()
            && finite
            && self.rollout.waiting == 0
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
    /// The job as it stands right after CreateJob for `targets` resolved things
    /// (groups expanded, each thing once): SCHEDULED until its start time, if it has
    /// one. Without a rate, start time or window ([`JobPolicy::queues_targets`]) each
    /// target has a QUEUED execution; with one, they wait in the rollout queue for
    /// the store's rollout steps ([`JobProgress::rollout_allowance`]).
    pub fn from_new(new: NewJob, targets: usize, now: Timestamp) -> Job {
        let targets = targets as i64;
        let queued = !new.policy.queues_targets();
        // SCHEDULED until the start time, and until a maintenance window opens (AWS
        // "Jobs and job execution states").
        let scheduled = new.policy.schedule.as_ref().is_some_and(|s| {
            s.start.is_some_and(|t| t > now)
                || (!s.windows.is_empty()
                    && crate::schedule::window_containing(&s.windows, now).is_none())
        });
        let mut progress = JobProgress {
            job_id: new.job_id,
            status: if scheduled {
                JobStatus::Scheduled
            } else {
                JobStatus::InProgress
            },
            target_selection: new.target_selection,
            in_progress_timeout_minutes: new.in_progress_timeout_minutes,
            process_details: JobProcessDetails {
                queued: if queued { targets } else { 0 },
                ..JobProcessDetails::default()
            },
            last_updated_at: now,
            completed_at: None,
            policy: Arc::new(new.policy),
            rollout: Rollout {
                waiting: if queued { 0 } else { targets },
                ..Rollout::default()
            },
        };
        progress.complete_if_done(now);
        progress.rollout.wake_at = progress.next_wake(now);
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

/// What UpdateJob may change (AWS "Create and manage jobs by using the AWS CLI": the
/// description and the rollout, abort, timeout, retry and presigned-URL configs).
/// `Some` replaces the stored value; `None` keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobUpdate {
    pub description: Option<String>,
    /// `timeoutConfig.inProgressTimeoutInMinutes`: applies to executions that start
    /// from now on; running timers keep their deadline ("can't be updated" once set).
    pub in_progress_timeout_minutes: Option<Option<i64>>,
    /// Configs replaced verbatim (member name → JSON text).
    pub configs: BTreeMap<String, String>,
    /// Rules replaced: the rollout rate, the abort and the retry criteria.
    pub rollout: Option<crate::policy::RolloutRate>,
    pub abort: Option<Vec<AbortCriteria>>,
    pub retry: Option<Vec<crate::policy::RetryCriteria>>,
}

impl JobUpdate {
    /// UpdateJob's checks on the request alone, made before the job is looked up (so a
    /// malformed request is 400 whether or not the job exists):
    /// - it must change something: every member but `jobId` (and the `namespaceId`
    ///   selector) is optional in the model, and a request without any would succeed
    ///   doing nothing, which hides a client's mistake (AWS documents no answer; the
    ///   choice is recorded in docs/compatibility.md);
    /// - the configs given pass the same cross-member checks as CreateJob's
    ///   ([`crate::policy::check_rules`]; each config given replaces the job's whole,
    ///   so checking the request's is checking the job's after the update);
    /// - retries can only be updated to 0 (AWS "Specify job configurations by using the
    ///   AWS IoT Jobs API": once the job exists its `numberOfRetries` can only be 0).
    pub fn check(&self) -> Result<(), JobsError> {
        if self.description.is_none()
            && self.in_progress_timeout_minutes.is_none()
            && self.configs.is_empty()
            && self.rollout.is_none()
            && self.abort.is_none()
            && self.retry.is_none()
        {
            return Err(JobsError::nothing_to_update());
        }
        if let Some(retry) = &self.retry
            && retry.iter().any(|c| c.number_of_retries != 0)
        {
            return Err(JobsError::InvalidRequest(
                "jobExecutionsRetryConfig: after a job is created, numberOfRetries can only be updated to 0".into(),
            ));
        }
        crate::policy::check_rules(&JobPolicy {
            rollout: self.rollout.clone(),
            abort: self.abort.clone().unwrap_or_default(),
            retry: self.retry.clone().unwrap_or_default(),
            schedule: None,
        })
    }
}

/// The most jobs that may be in DELETION_IN_PROGRESS at once (DeleteJob model doc:
/// "Only 10 jobs may have status DELETION_IN_PROGRESS at the same time, or a
/// LimitExceededException will occur").
pub const MAX_JOBS_DELETING: usize = 10;

impl Job {
    /// CancelJob's rule for the job itself. Executions follow separately (QUEUED ones,
    /// and IN_PROGRESS ones when forced), through the execution state machine.
    ///
    /// - IN_PROGRESS or SCHEDULED → CANCELED.
    /// - A CANCELED job canceled again with `force` (when it was not forced before)
    ///   upgrades to a forced cancel, so that its IN_PROGRESS executions are canceled
    ///   too (wire spec §7 #14).
    /// - Anything else is InvalidRequestException: CancelJob's model declares no 409.
    pub fn cancel(
        &mut self,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        now: Timestamp,
    ) -> Result<(), crate::JobsError> {
        let id = &self.progress.job_id;
        match self.progress.status {
            JobStatus::InProgress | JobStatus::Scheduled => {}
            JobStatus::Canceled if force && !self.force_canceled => {}
            JobStatus::Canceled => {
                return Err(crate::JobsError::InvalidRequest(format!(
                    "Job {id} is already canceled"
                )));
            }
            JobStatus::Completed => {
                return Err(crate::JobsError::InvalidRequest(format!(
                    "Job {id} is completed and cannot be canceled"
                )));
            }
            JobStatus::DeletionInProgress => {
                return Err(crate::JobsError::InvalidRequest(format!(
                    "Job {id} is being deleted and cannot be canceled"
                )));
            }
        }
        self.progress.status = JobStatus::Canceled;
        self.progress.last_updated_at = now;
        // "Stops rolling out new executions": waiting targets never get one.
        self.progress.rollout.waiting = 0;
        self.progress.rollout.wake_at = None;
        self.force_canceled = force;
        if reason_code.is_some() {
            self.reason_code = reason_code;
        }
        if comment.is_some() {
            self.comment = comment;
        }
        Ok(())
    }

    /// The execution statuses that CancelJob still has to cancel for this job: QUEUED
    /// always, IN_PROGRESS only when the job was canceled with force.
    pub fn statuses_to_cancel(&self) -> &'static [JobExecutionStatus] {
        if self.force_canceled {
            &[JobExecutionStatus::Queued, JobExecutionStatus::InProgress]
        } else {
            &[JobExecutionStatus::Queued]
        }
    }

    /// DeleteJob's rule. Without `force`, only a COMPLETED or CANCELED job may be
    /// deleted (an IN_PROGRESS one is InvalidStateTransitionException); a job already
    /// being deleted is InvalidStateTransitionException too; at most
    /// [`MAX_JOBS_DELETING`] jobs may be deleting at once (LimitExceededException).
    pub fn begin_delete(
        &mut self,
        force: bool,
        jobs_deleting: usize,
        now: Timestamp,
    ) -> Result<(), crate::JobsError> {
        let id = &self.progress.job_id;
        match self.progress.status {
            JobStatus::DeletionInProgress => {
                return Err(crate::JobsError::InvalidStateTransition {
                    message: format!("Job {id} is already being deleted"),
                    state: None,
                });
            }
            JobStatus::Completed | JobStatus::Canceled => {}
            JobStatus::InProgress | JobStatus::Scheduled if force => {}
            status => {
                return Err(crate::JobsError::InvalidStateTransition {
                    message: format!(
                        "Job {id} is {} and cannot be deleted without force",
                        status.as_str()
                    ),
                    state: None,
                });
            }
        }
        if jobs_deleting >= MAX_JOBS_DELETING {
            return Err(crate::JobsError::LimitExceeded(format!(
                "Only {MAX_JOBS_DELETING} jobs may be in DELETION_IN_PROGRESS at the same time"
            )));
        }
        self.progress.status = JobStatus::DeletionInProgress;
        self.progress.last_updated_at = now;
        Ok(())
    }

    /// UpdateJob's rule: a job being deleted cannot be updated (UpdateJob declares no
    /// 409, so InvalidRequestException).
    pub fn update(&mut self, update: JobUpdate, now: Timestamp) -> Result<(), crate::JobsError> {
        update.check()?;
        if self.progress.status == JobStatus::DeletionInProgress {
            return Err(crate::JobsError::InvalidRequest(format!(
                "Job {} is being deleted and cannot be updated",
                self.progress.job_id
            )));
        }
        if let Some(d) = update.description {
            self.description = Some(d);
        }
        if let Some(t) = update.in_progress_timeout_minutes {
            self.progress.in_progress_timeout_minutes = t;
        }
        self.configs.extend(update.configs);
        let new_rate = update.rollout.is_some();
        if new_rate || update.abort.is_some() || update.retry.is_some() {
            let mut policy = (*self.progress.policy).clone();
            if let Some(r) = update.rollout {
                policy.rollout = Some(r);
            }
            if let Some(a) = update.abort {
                policy.abort = a;
            }
            if let Some(r) = update.retry {
                policy.retry = r;
            }
            self.progress.policy = Arc::new(policy);
            if new_rate && self.progress.rollout.started_at.is_some() {
                // A new rollout config applies to the current minute at once.
                self.progress.rollout.bucket_rate = self.progress.rollout_rate();
            }
            // A new rate applies from the next rollout step.
            self.progress.rollout.wake_at = self.progress.next_wake(now);
        }
        self.progress.last_updated_at = now;
        Ok(())
    }

    /// The abort config's cancel: as CancelJob without force, with the criterion met
    /// named in the comment ("An abort-triggered cancel auto-fills comment and
    /// reasonCode", wire spec §6.7). QUEUED executions follow as for CancelJob;
    /// IN_PROGRESS ones are left to finish.
    pub fn abort(&mut self, criteria: &AbortCriteria, now: Timestamp) -> Result<(), JobsError> {
        let comment = format!(
            "Job aborted: {} failures reached {}.{:02}% of at least {} executed things",
            criteria.failure_type.as_str(),
            criteria.threshold_hundredths / 100,
            criteria.threshold_hundredths % 100,
            criteria.min_executed_things
        );
        self.cancel(false, Some(ABORT_REASON_CODE.into()), Some(comment), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobsError;

    const NOW: Timestamp = Timestamp(1_700_000_000_000);

    fn job(status: JobStatus) -> Job {
        let new = NewJob {
            job_id: "j".into(),
            targets: vec![],
            target_things: vec![],
            target_groups: vec![],
            document: None,
            document_source: None,
            description: None,
            target_selection: TargetSelection::Snapshot,
            in_progress_timeout_minutes: None,
            policy: JobPolicy::default(),
            configs: BTreeMap::new(),
        };
        let mut j = Job::from_new(new, 1, NOW);
        j.progress.status = status;
        j
    }

    /// CancelJob over every job status, without and with force.
    #[test]
    fn cancel_over_every_status() {
        let mut table = String::new();
        for status in JobStatus::ALL {
            for force in [false, true] {
                let mut j = job(status);
                let r = j.cancel(force, Some("R".into()), None, NOW);
                let out = match r {
                    Ok(()) => format!("{} forced={}", j.progress.status.as_str(), j.force_canceled),
                    Err(JobsError::InvalidRequest(_)) => "400".into(),
                    Err(e) => format!("{e:?}"),
                };
                table.push_str(&format!("{} force={force}: {out}\n", status.as_str()));
            }
        }
        assert_eq!(
            table,
            "\
IN_PROGRESS force=false: CANCELED forced=false
IN_PROGRESS force=true: CANCELED forced=true
CANCELED force=false: 400
CANCELED force=true: CANCELED forced=true
COMPLETED force=false: 400
COMPLETED force=true: 400
DELETION_IN_PROGRESS force=false: 400
DELETION_IN_PROGRESS force=true: 400
SCHEDULED force=false: CANCELED forced=false
SCHEDULED force=true: CANCELED forced=true
"
        );
        // A forced re-cancel of a forced cancel is refused too.
        let mut j = job(JobStatus::InProgress);
        j.cancel(true, None, None, NOW).unwrap();
        assert!(j.cancel(true, None, None, NOW).is_err());
        assert_eq!(j.statuses_to_cancel().len(), 2);
        assert_eq!(j.reason_code, None);
    }

    /// DeleteJob over every job status, without and with force.
    #[test]
    fn delete_over_every_status() {
        let mut table = String::new();
        for status in JobStatus::ALL {
            for force in [false, true] {
                let mut j = job(status);
                let out = match j.begin_delete(force, 0, NOW) {
                    Ok(()) => j.progress.status.as_str().to_string(),
                    Err(JobsError::InvalidStateTransition { .. }) => "409".into(),
                    Err(e) => format!("{e:?}"),
                };
                table.push_str(&format!("{} force={force}: {out}\n", status.as_str()));
            }
        }
        assert_eq!(
            table,
            "\
IN_PROGRESS force=false: 409
IN_PROGRESS force=true: DELETION_IN_PROGRESS
CANCELED force=false: DELETION_IN_PROGRESS
CANCELED force=true: DELETION_IN_PROGRESS
COMPLETED force=false: DELETION_IN_PROGRESS
COMPLETED force=true: DELETION_IN_PROGRESS
DELETION_IN_PROGRESS force=false: 409
DELETION_IN_PROGRESS force=true: 409
SCHEDULED force=false: 409
SCHEDULED force=true: DELETION_IN_PROGRESS
"
        );
        let mut j = job(JobStatus::Completed);
        assert!(matches!(
            j.begin_delete(false, MAX_JOBS_DELETING, NOW),
            Err(JobsError::LimitExceeded(_))
        ));
        assert_eq!(
            j.progress.status,
            JobStatus::Completed,
            "unchanged on error"
        );
    }

    #[test]
    fn update_replaces_given_fields_only() {
        let mut j = job(JobStatus::InProgress);
        j.description = Some("old".into());
        let update = JobUpdate {
            description: None,
            in_progress_timeout_minutes: Some(Some(5)),
            configs: [("abortConfig".to_string(), "{}".to_string())].into(),
            ..JobUpdate::default()
        };
        j.update(update.clone(), NOW).unwrap();
        assert_eq!(j.description.as_deref(), Some("old"));
        assert_eq!(j.progress.in_progress_timeout_minutes, Some(5));
        assert!(j.configs.contains_key("abortConfig"));
        let mut deleting = job(JobStatus::DeletionInProgress);
        assert!(deleting.update(update, NOW).is_err());
    }

    #[test]
    fn an_update_must_change_something_and_pass_the_config_checks() {
        use crate::policy::{AbortCriteria, FailureType, RetryCriteria, RolloutRate};
        assert_eq!(
            JobUpdate::default().check(),
            Err(JobsError::nothing_to_update())
        );
        let mut j = job(JobStatus::InProgress);
        assert_eq!(
            j.update(JobUpdate::default(), NOW),
            Err(JobsError::nothing_to_update())
        );
        for ok in [
            JobUpdate {
                description: Some(String::new()),
                ..JobUpdate::default()
            },
            JobUpdate {
                in_progress_timeout_minutes: Some(None),
                ..JobUpdate::default()
            },
            JobUpdate {
                configs: [("presignedUrlConfig".to_string(), "{}".to_string())].into(),
                ..JobUpdate::default()
            },
        ] {
            assert_eq!(ok.check(), Ok(()), "{ok:?}");
        }
        let abort = AbortCriteria {
            failure_type: FailureType::Failed,
            threshold_hundredths: 5000,
            min_executed_things: 1,
        };
        for bad in [
            JobUpdate {
                rollout: Some(RolloutRate {
                    maximum_per_minute: None,
                    exponential: None,
                }),
                ..JobUpdate::default()
            },
            JobUpdate {
                abort: Some(vec![abort.clone(), abort]),
                ..JobUpdate::default()
            },
            JobUpdate {
                retry: Some(vec![RetryCriteria {
                    failure_type: FailureType::Failed,
                    number_of_retries: 1,
                }]),
                ..JobUpdate::default()
            },
        ] {
            assert!(
                matches!(bad.check(), Err(JobsError::InvalidRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn associate_targets_needs_an_in_progress_continuous_job_within_the_limit() {
        let mut p = JobProgress {
            job_id: "j".into(),
            status: JobStatus::InProgress,
            target_selection: TargetSelection::Continuous,
            in_progress_timeout_minutes: None,
            process_details: JobProcessDetails::default(),
            last_updated_at: Timestamp(0),
            completed_at: None,
            policy: Default::default(),
            rollout: Default::default(),
        };
        assert!(check_associate_targets(&p, MAX_TARGETS).is_ok());
        assert!(matches!(
            check_associate_targets(&p, MAX_TARGETS + 1),
            Err(JobsError::LimitExceeded(_))
        ));
        for status in JobStatus::ALL {
            p.status = status;
            assert_eq!(
                check_associate_targets(&p, 1).is_ok(),
                status == JobStatus::InProgress,
                "{status:?}"
            );
        }
        p.status = JobStatus::InProgress;
        p.target_selection = TargetSelection::Snapshot;
        assert!(matches!(
            check_associate_targets(&p, 1),
            Err(JobsError::InvalidRequest(_))
        ));
    }
}
