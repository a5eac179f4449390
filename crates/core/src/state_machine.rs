//! The job-execution state machine: one pure function from (execution, command, now)
//! to the change to make, or the error AWS would answer.
//!
//! No I/O, no clock, no storage: the caller loads the execution, calls [`apply`] and
//! commits what it returns. The rules follow the AWS IoT Jobs lifecycle ("Jobs and job
//! execution states"), the CancelJobExecution `force` documentation, and the live
//! answers recorded in the wire spec §8 (messages and check order).

use crate::error::JobsError;
use crate::execution::{JobExecution, JobExecutionStatus, StatusDetails};
use crate::job::JobProgress;
use crate::time::Timestamp;

use JobExecutionStatus::*;

/// Everything that can happen to one job execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionCommand {
    /// Operator CancelJobExecution (control plane).
    Cancel {
        force: bool,
        expected_version: Option<i64>,
        status_details: Option<StatusDetails>,
    },
    /// Device UpdateJobExecution (data plane).
    DeviceUpdate {
        status: JobExecutionStatus,
        expected_version: Option<i64>,
        status_details: Option<StatusDetails>,
        step_timeout_in_minutes: Option<i64>,
    },
    /// Device StartNextPendingJobExecution, applied to the execution it selected.
    StartNext {
        status_details: Option<StatusDetails>,
        step_timeout_in_minutes: Option<i64>,
    },
    /// The service's timeout sweep found this execution's timer expired.
    Timeout,
    /// Operator DeleteJobExecution.
    Delete { force: bool },
    /// The thing stopped being a target (deleted, or left the target group).
    Remove,
    /// The job's retry config queues a FAILED or TIMED_OUT execution again
    /// (`policy::JobProgress::retry_due` decides whether it may).
    Retry,
}

impl ExecutionCommand {
    /// Short label for tables and logs.
    pub fn label(&self) -> String {
        match self {
            Self::Cancel { force, .. } => format!("Cancel(force={force})"),
            Self::DeviceUpdate { status, .. } => format!("DeviceUpdate({status})"),
            Self::StartNext { .. } => "StartNext".into(),
            Self::Timeout => "Timeout".into(),
            Self::Delete { force } => format!("Delete(force={force})"),
            Self::Remove => "Remove".into(),
            Self::Retry => "Retry".into(),
        }
    }
}

/// What the caller must commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Store this new version of the execution.
    Update(JobExecution),
    /// Remove the execution record.
    Delete,
    /// Nothing to write (StartNext on an execution already IN_PROGRESS).
    Unchanged,
}

/// Decide what `cmd` does to `exec` at time `now`.
///
/// `in_progress_timeout_minutes` is the job's `timeoutConfig.inProgressTimeoutInMinutes`:
/// the in-progress timer starts when the execution becomes IN_PROGRESS.
pub fn apply(
    exec: &JobExecution,
    cmd: &ExecutionCommand,
    in_progress_timeout_minutes: Option<i64>,
    now: Timestamp,
) -> Result<Change, JobsError> {
    match cmd {
        ExecutionCommand::Cancel {
            force,
            expected_version,
            status_details,
        } => {
            // Check order (wire spec §7 #9): version before state, so a stale operator
            // learns about the version first.
            check_version(exec, *expected_version)?;
            match exec.status {
                Queued => {}
                InProgress if *force => {}
                InProgress => {
                    return Err(transition_error(
                        exec,
                        format!(
                            "Job execution for thing {} within job {} is IN_PROGRESS and cannot be canceled without force.",
                            exec.thing_name, exec.job_id
                        ),
                    ));
                }
                _ => {
                    // Wording as recorded in the wire spec §8.
                    return Err(transition_error(
                        exec,
                        format!(
                            "Job execution for thing {} within job {} cannot be canceled.",
                            exec.thing_name, exec.job_id
                        ),
                    ));
                }
            }
            let mut next = step(exec, Canceled, status_details.as_ref(), now);
            // The model: "true if the job execution was canceled with the optional force
            // parameter set to true".
            next.force_canceled = *force;
            Ok(Change::Update(next))
        }

        ExecutionCommand::DeviceUpdate {
            status,
            expected_version,
            status_details,
            step_timeout_in_minutes,
        } => {
            // Live AWS checks the requested status first, then the current one (§8).
            // `device::update_job_execution` refuses it before any lookup already; this
            // keeps the state machine total for every caller.
            if !status.is_device_settable() {
                return Err(JobsError::status_not_device_settable(
                    *status,
                    Some(exec.state()),
                ));
            }
            if exec.status.is_terminal() {
                return Err(finished_error(exec));
            }
            // The version comes after the terminal check: a device whose execution was
            // force-canceled holds a stale version, and must learn that the execution is
            // finished (409 InvalidStateTransitionException), not that its version is old.
            check_version(exec, *expected_version)?;
            let mut next = step(exec, *status, status_details.as_ref(), now);
            if *status == InProgress {
                if exec.status == Queued {
                    start_timers(&mut next, in_progress_timeout_minutes, now);
                }
                set_step_timer(&mut next, *step_timeout_in_minutes, now);
            }
            Ok(Change::Update(next))
        }

        ExecutionCommand::StartNext {
            status_details,
            step_timeout_in_minutes,
        } => match exec.status {
            Queued => {
                let mut next = step(exec, InProgress, status_details.as_ref(), now);
                start_timers(&mut next, in_progress_timeout_minutes, now);
                set_step_timer(&mut next, *step_timeout_in_minutes, now);
                Ok(Change::Update(next))
            }
            // "If the job execution is already IN_PROGRESS, its status details are not
            // changed" (Jobs device HTTP API); nothing else changes either.
            InProgress => Ok(Change::Unchanged),
            _ => Err(finished_error(exec)),
        },

        ExecutionCommand::Timeout => match exec.status {
            InProgress if exec.timeout_at().is_some_and(|t| t <= now) => {
                Ok(Change::Update(step(exec, TimedOut, None, now)))
            }
            // A sweep that raced with a device update (new step timer, or finished) must
            // not time the execution out.
            InProgress => Err(transition_error(
                exec,
                "The job execution's timer has not expired.".into(),
            )),
            _ => Err(finished_error(exec)),
        },

        ExecutionCommand::Delete { force } => {
            // Without force, only QUEUED or terminal executions may be deleted (AWS CLI
            // guide "Delete a job execution"; the model's force doc omits QUEUED, §7 #11).
            if exec.status == InProgress && !force {
                return Err(transition_error(
                    exec,
                    format!(
                        "Job execution for thing {} within job {} is IN_PROGRESS and cannot be deleted without force.",
                        exec.thing_name, exec.job_id
                    ),
                ));
            }
            Ok(Change::Delete)
        }

        ExecutionCommand::Remove => {
            if exec.status.is_terminal() {
                return Err(finished_error(exec));
            }
            Ok(Change::Update(step(exec, Removed, None, now)))
        }

        // A retry is the same execution (same executionNumber) back in QUEUED with
        // `retryAttempt` + 1 (wire spec §7 #16): AWS documents only `retryAttempt`.
        // The device sees it as newly queued: no start time, no timers.
        ExecutionCommand::Retry => match exec.status {
            Failed | TimedOut => {
                let mut next = step(exec, Queued, None, now);
                next.started_at = None;
                next.in_progress_deadline = None;
                next.step_deadline = None;
                next.retry_attempt += 1;
                if exec.status == TimedOut {
                    next.retry_timed_out += 1;
                }
                Ok(Change::Update(next))
            }
            _ => Err(transition_error(
                exec,
                format!(
                    "Job execution for thing {} within job {} is {} and cannot be retried.",
                    exec.thing_name, exec.job_id, exec.status
                ),
            )),
        },
    }
}

/// [`apply`], then account for the change in the job's counters (and complete the job
/// if that was its last pending execution), under the job's retry config: a change to
/// FAILED or TIMED_OUT that the config retries ([`JobProgress::retry_due`]) is followed
/// at once by [`ExecutionCommand::Retry`]. The counters see only the net move, so the
/// job never completes in between. `job` is updated in place only on success. Returns
/// the change `cmd` made and, when retried, the execution as the retry left it (the
/// one to store).
pub fn apply_to_job(
    job: &mut JobProgress,
    exec: &JobExecution,
    cmd: &ExecutionCommand,
    now: Timestamp,
) -> Result<(Change, Option<JobExecution>), JobsError> {
    let change = apply(exec, cmd, job.in_progress_timeout_minutes, now)?;
    let retried = match &change {
        Change::Update(next) if job.retry_due(next) => {
            match apply(
                next,
                &ExecutionCommand::Retry,
                job.in_progress_timeout_minutes,
                now,
            )? {
                Change::Update(r) => Some(r),
                _ => None,
            }
        }
        _ => None,
    };
    let to = match (&change, &retried) {
        (_, Some(r)) => Some(r.status),
        (Change::Update(next), None) => Some(next.status),
        (Change::Delete, None) => None,
        (Change::Unchanged, None) => Some(exec.status),
    };
    if change != Change::Unchanged {
        job.record_execution_change(Some(exec.status), to, now);
    }
    Ok((change, retried))
}

/// What a command does alike to every execution in one status, for bulk work that
/// changes a job's executions by the thousand (CancelJob): the store applies it to all
/// rows of `from` at once instead of running [`apply`] row by row. Every such row gets
/// status `to`, `forceCanceled` = `force_canceled`, version + 1, `lastUpdatedAt` =
/// `now`, and both timers stopped when `stop_timers`; everything else (status details,
/// start time, retry counts) stays. [`UniformChange::applied`] is the same change on one
/// execution; a test holds it equal to [`apply`] for every status and command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniformChange {
    pub from: JobExecutionStatus,
    pub to: JobExecutionStatus,
    pub force_canceled: bool,
    pub stop_timers: bool,
    pub now: Timestamp,
}

impl UniformChange {
    /// The execution as this change leaves it (`exec` is in status `from`).
    pub fn applied(&self, exec: &JobExecution) -> JobExecution {
        let mut next = exec.clone();
        next.status = self.to;
        next.force_canceled = self.force_canceled;
        next.version_number += 1;
        next.last_updated_at = self.now;
        if self.stop_timers {
            next.in_progress_deadline = None;
            next.step_deadline = None;
        }
        next
    }
}

/// The [`UniformChange`] `cmd` makes to every execution in `status` at `now`, if it has
/// one: a cancel that checks no version and sets no status details, of an execution it
/// may cancel (QUEUED; IN_PROGRESS with force). `None` otherwise: the change depends on
/// more than the status, or [`apply`] refuses executions in `status` (which bulk work
/// skips). Never a change that a job's retry config could follow with a retry (those go
/// through [`apply_to_job`], one by one).
pub fn uniform_change(
    status: JobExecutionStatus,
    cmd: &ExecutionCommand,
    now: Timestamp,
) -> Option<UniformChange> {
    let ExecutionCommand::Cancel {
        force,
        expected_version: None,
        status_details: None,
    } = cmd
    else {
        return None;
    };
    match status {
        Queued => {}
        InProgress if *force => {}
        _ => return None,
    }
    Some(UniformChange {
        from: status,
        to: Canceled,
        force_canceled: *force,
        stop_timers: Canceled.is_terminal(),
        now,
    })
}

fn check_version(exec: &JobExecution, expected: Option<i64>) -> Result<(), JobsError> {
    match expected {
        Some(v) if v != exec.version_number => Err(JobsError::VersionMismatch {
            expected: v,
            found: exec.version_number,
            state: Some(exec.state()),
        }),
        _ => Ok(()),
    }
}

fn transition_error(exec: &JobExecution, message: String) -> JobsError {
    JobsError::InvalidStateTransition {
        message,
        state: Some(exec.state()),
    }
}

fn finished_error(exec: &JobExecution) -> JobsError {
    // Wording as recorded in the wire spec §8.
    transition_error(
        exec,
        format!(
            "Job {} for {} has already finished with status {}",
            exec.job_id, exec.thing_name, exec.status
        ),
    )
}

/// The common part of every accepted change: new status, replaced details (wire spec
/// §6.6: a supplied map replaces the stored one; absent means unchanged), version +1,
/// `lastUpdatedAt` = now, and timers stopped when the execution finishes.
fn step(
    exec: &JobExecution,
    status: JobExecutionStatus,
    details: Option<&StatusDetails>,
    now: Timestamp,
) -> JobExecution {
    let mut next = exec.clone();
    next.status = status;
    if let Some(d) = details {
        next.status_details = d.clone();
    }
    next.version_number += 1;
    next.last_updated_at = now;
    if status.is_terminal() {
        next.in_progress_deadline = None;
        next.step_deadline = None;
    }
    next
}

/// QUEUED → IN_PROGRESS: record `startedAt` and start the job's in-progress timer.
fn start_timers(next: &mut JobExecution, in_progress_timeout_minutes: Option<i64>, now: Timestamp) {
    next.started_at = Some(now);
    next.in_progress_deadline = in_progress_timeout_minutes.map(|m| now.plus_minutes(m));
}

/// `stepTimeoutInMinutes`: a new value replaces the step timer, -1 removes it, absent
/// keeps it. The step deadline never runs past the in-progress deadline (AWS "How job
/// configurations work", timeout example).
fn set_step_timer(next: &mut JobExecution, step_timeout_in_minutes: Option<i64>, now: Timestamp) {
    match step_timeout_in_minutes {
        None => {}
        Some(m) if m < 0 => next.step_deadline = None,
        Some(m) => {
            let deadline = now.plus_minutes(m);
            next.step_deadline = Some(match next.in_progress_deadline {
                Some(cap) => deadline.min(cap),
                None => deadline,
            });
        }
    }
}

#[cfg(test)]
mod tests;
