//! The state machine over every status × every command, plus the details each rule
//! promises (versions, timestamps, timers, messages, job counters).

use super::*;
use crate::job::{JobProcessDetails, JobStatus, TargetSelection};
use std::fmt::Write as _;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const NOW: Timestamp = Timestamp(1_700_000_600_000);

/// An execution in `status`, as it would be after reaching it normally. IN_PROGRESS ones
/// have an expired in-progress timer so that `Timeout` applies to them.
fn exec_in(status: JobExecutionStatus) -> JobExecution {
    let mut e = JobExecution::queued("job-1", "thing-1", 1, T0);
    e.status_details.insert("k".into(), "v".into());
    if status != Queued {
        e.status = status;
        e.version_number = 2;
        e.started_at = Some(T0.plus_minutes(1));
        e.last_updated_at = T0.plus_minutes(1);
    }
    if status == InProgress {
        e.in_progress_deadline = Some(T0.plus_minutes(5));
    }
    e
}

fn all_commands() -> Vec<ExecutionCommand> {
    let mut cmds = vec![
        ExecutionCommand::Cancel {
            force: false,
            expected_version: None,
            status_details: None,
        },
        ExecutionCommand::Cancel {
            force: true,
            expected_version: None,
            status_details: None,
        },
    ];
    for status in JobExecutionStatus::ALL {
        cmds.push(ExecutionCommand::DeviceUpdate {
            status,
            expected_version: None,
            status_details: None,
            step_timeout_in_minutes: None,
        });
    }
    cmds.extend([
        ExecutionCommand::StartNext {
            status_details: None,
            step_timeout_in_minutes: None,
        },
        ExecutionCommand::Timeout,
        ExecutionCommand::Delete { force: false },
        ExecutionCommand::Delete { force: true },
        ExecutionCommand::Remove,
        ExecutionCommand::Retry,
    ]);
    cmds
}

fn outcome(r: &Result<Change, JobsError>) -> String {
    match r {
        Ok(Change::Update(e)) => format!("{} v{}", e.status, e.version_number),
        Ok(Change::Delete) => "deleted".into(),
        Ok(Change::Unchanged) => "unchanged".into(),
        Err(JobsError::InvalidStateTransition { .. }) => "409 ISTE".into(),
        Err(e) => format!("other: {e:?}"),
    }
}

/// The whole matrix, one line per (status, command). A rule change shows up here as a
/// reviewable diff.
#[test]
fn every_status_by_every_command() {
    let mut table = String::new();
    for status in JobExecutionStatus::ALL {
        for cmd in all_commands() {
            let r = apply(&exec_in(status), &cmd, Some(60), NOW);
            writeln!(table, "{status:<11} {:<24} {}", cmd.label(), outcome(&r)).unwrap();
        }
    }
    let expected = "\
QUEUED      Cancel(force=false)      CANCELED v2
QUEUED      Cancel(force=true)       CANCELED v2
QUEUED      DeviceUpdate(QUEUED)     409 ISTE
QUEUED      DeviceUpdate(IN_PROGRESS) IN_PROGRESS v2
QUEUED      DeviceUpdate(SUCCEEDED)  SUCCEEDED v2
QUEUED      DeviceUpdate(FAILED)     FAILED v2
QUEUED      DeviceUpdate(TIMED_OUT)  409 ISTE
QUEUED      DeviceUpdate(REJECTED)   REJECTED v2
QUEUED      DeviceUpdate(REMOVED)    409 ISTE
QUEUED      DeviceUpdate(CANCELED)   409 ISTE
QUEUED      StartNext                IN_PROGRESS v2
QUEUED      Timeout                  409 ISTE
QUEUED      Delete(force=false)      deleted
QUEUED      Delete(force=true)       deleted
QUEUED      Remove                   REMOVED v2
QUEUED      Retry                    409 ISTE
IN_PROGRESS Cancel(force=false)      409 ISTE
IN_PROGRESS Cancel(force=true)       CANCELED v3
IN_PROGRESS DeviceUpdate(QUEUED)     409 ISTE
IN_PROGRESS DeviceUpdate(IN_PROGRESS) IN_PROGRESS v3
IN_PROGRESS DeviceUpdate(SUCCEEDED)  SUCCEEDED v3
IN_PROGRESS DeviceUpdate(FAILED)     FAILED v3
IN_PROGRESS DeviceUpdate(TIMED_OUT)  409 ISTE
IN_PROGRESS DeviceUpdate(REJECTED)   REJECTED v3
IN_PROGRESS DeviceUpdate(REMOVED)    409 ISTE
IN_PROGRESS DeviceUpdate(CANCELED)   409 ISTE
IN_PROGRESS StartNext                unchanged
IN_PROGRESS Timeout                  TIMED_OUT v3
IN_PROGRESS Delete(force=false)      409 ISTE
IN_PROGRESS Delete(force=true)       deleted
IN_PROGRESS Remove                   REMOVED v3
IN_PROGRESS Retry                    409 ISTE
";
    let mut expected = expected.to_owned();
    // Every terminal status answers every command the same way: nothing but a delete
    // changes a finished execution, and a retry one that FAILED or TIMED_OUT.
    for status in [Succeeded, Failed, TimedOut, Rejected, Removed, Canceled] {
        for cmd in all_commands() {
            let o = match cmd {
                ExecutionCommand::Delete { .. } => "deleted",
                ExecutionCommand::Retry if matches!(status, Failed | TimedOut) => "QUEUED v3",
                _ => "409 ISTE",
            };
            writeln!(expected, "{status:<11} {:<24} {o}", cmd.label()).unwrap();
        }
    }
    assert_eq!(table, expected);
}

#[test]
fn cancel_sets_force_canceled_only_with_force_and_replaces_details() {
    let details: StatusDetails = [("reason".to_string(), "operator".to_string())].into();
    let cmd = ExecutionCommand::Cancel {
        force: true,
        expected_version: Some(2),
        status_details: Some(details.clone()),
    };
    let Ok(Change::Update(e)) = apply(&exec_in(InProgress), &cmd, None, NOW) else {
        panic!("forced cancel of IN_PROGRESS must succeed")
    };
    assert!(e.force_canceled);
    assert_eq!(
        e.status_details, details,
        "supplied details replace the map"
    );
    assert_eq!(e.last_updated_at, NOW);
    assert_eq!(
        e.started_at,
        Some(T0.plus_minutes(1)),
        "startedAt unchanged"
    );
    assert_eq!(e.queued_at, T0);
    assert_eq!(e.timeout_at(), None, "timers stop at a terminal status");

    let cmd = ExecutionCommand::Cancel {
        force: false,
        expected_version: None,
        status_details: None,
    };
    let Ok(Change::Update(e)) = apply(&exec_in(Queued), &cmd, None, NOW) else {
        panic!("cancel of QUEUED must succeed")
    };
    assert!(!e.force_canceled);
    assert_eq!(e.status_details.get("k").map(String::as_str), Some("v"));
}

#[test]
fn cancel_checks_version_before_state() {
    let cmd = ExecutionCommand::Cancel {
        force: false,
        expected_version: Some(7),
        status_details: None,
    };
    let err = apply(&exec_in(Succeeded), &cmd, None, NOW).unwrap_err();
    assert!(
        matches!(
            err,
            JobsError::VersionMismatch {
                expected: 7,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Expected version 7 but found version 2");
}

#[test]
fn device_update_checks_requested_status_then_terminal_then_version() {
    // Requested service-only status wins over everything (live AWS, spec §8).
    let cmd = ExecutionCommand::DeviceUpdate {
        status: Canceled,
        expected_version: Some(99),
        status_details: None,
        step_timeout_in_minutes: None,
    };
    let err = apply(&exec_in(Succeeded), &cmd, None, NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "The status of job execution cannot be changed to be CANCELED"
    );

    // A force-canceled execution: a stale version still gets the terminal error, with
    // the current state attached for the data plane's `executionState`.
    let mut canceled = exec_in(Canceled);
    canceled.version_number = 3;
    let cmd = ExecutionCommand::DeviceUpdate {
        status: Succeeded,
        expected_version: Some(2),
        status_details: None,
        step_timeout_in_minutes: None,
    };
    let err = apply(&canceled, &cmd, None, NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Job job-1 for thing-1 has already finished with status CANCELED"
    );
    let JobsError::InvalidStateTransition {
        state: Some(state), ..
    } = err
    else {
        panic!("state attached")
    };
    assert_eq!(state.status, Canceled);
    assert_eq!(state.version_number, 3);

    // Pending execution, stale version: version mismatch.
    let cmd = ExecutionCommand::DeviceUpdate {
        status: Succeeded,
        expected_version: Some(1),
        status_details: None,
        step_timeout_in_minutes: None,
    };
    let err = apply(&exec_in(InProgress), &cmd, None, NOW).unwrap_err();
    assert!(matches!(
        err,
        JobsError::VersionMismatch {
            expected: 1,
            found: 2,
            ..
        }
    ));
}

#[test]
fn start_sets_started_at_and_timers() {
    let cmd = ExecutionCommand::StartNext {
        status_details: None,
        step_timeout_in_minutes: Some(10),
    };
    let Ok(Change::Update(e)) = apply(&exec_in(Queued), &cmd, Some(60), NOW) else {
        panic!()
    };
    assert_eq!(e.started_at, Some(NOW));
    assert_eq!(e.in_progress_deadline, Some(NOW.plus_minutes(60)));
    assert_eq!(e.step_deadline, Some(NOW.plus_minutes(10)));
    assert_eq!(e.timeout_at(), Some(NOW.plus_minutes(10)));
    assert_eq!(e.approximate_seconds_before_timed_out(NOW), Some(600));

    // The step timer never outlives the in-progress timer.
    let cmd = ExecutionCommand::DeviceUpdate {
        status: InProgress,
        expected_version: None,
        status_details: None,
        step_timeout_in_minutes: Some(600),
    };
    let Ok(Change::Update(e2)) = apply(&e, &cmd, Some(60), NOW) else {
        panic!()
    };
    assert_eq!(e2.step_deadline, Some(NOW.plus_minutes(60)));
    assert_eq!(e2.started_at, Some(NOW), "startedAt set once");

    // -1 removes the step timer; absent keeps it.
    let cmd = ExecutionCommand::DeviceUpdate {
        status: InProgress,
        expected_version: None,
        status_details: None,
        step_timeout_in_minutes: Some(-1),
    };
    let Ok(Change::Update(e3)) = apply(&e, &cmd, Some(60), NOW) else {
        panic!()
    };
    assert_eq!(e3.step_deadline, None);
    assert_eq!(e3.in_progress_deadline, Some(NOW.plus_minutes(60)));
}

#[test]
fn timeout_only_after_the_deadline() {
    let mut e = exec_in(InProgress);
    e.in_progress_deadline = Some(NOW.plus_minutes(1));
    assert!(apply(&e, &ExecutionCommand::Timeout, None, NOW).is_err());
    assert!(apply(&e, &ExecutionCommand::Timeout, None, NOW.plus_minutes(1)).is_ok());
    e.in_progress_deadline = None;
    assert!(apply(&e, &ExecutionCommand::Timeout, None, NOW.plus_minutes(99)).is_err());
}

fn progress(queued: i64, in_progress: i64, selection: TargetSelection) -> JobProgress {
    JobProgress {
        job_id: "job-1".into(),
        status: JobStatus::InProgress,
        target_selection: selection,
        in_progress_timeout_minutes: None,
        process_details: JobProcessDetails {
            queued,
            in_progress,
            ..Default::default()
        },
        last_updated_at: T0,
        completed_at: None,
        policy: Default::default(),
        rollout: Default::default(),
    }
}

#[test]
fn counters_follow_changes_and_snapshot_jobs_complete() {
    let cancel = ExecutionCommand::Cancel {
        force: true,
        expected_version: None,
        status_details: None,
    };
    let mut job = progress(1, 1, TargetSelection::Snapshot);
    apply_to_job(&mut job, &exec_in(Queued), &cancel, NOW).unwrap();
    assert_eq!(
        (job.process_details.queued, job.process_details.canceled),
        (0, 1)
    );
    assert_eq!(
        job.status,
        JobStatus::InProgress,
        "one execution still pending"
    );
    apply_to_job(&mut job, &exec_in(InProgress), &cancel, NOW).unwrap();
    assert_eq!(job.process_details.in_progress, 0);
    assert_eq!(job.process_details.canceled, 2);
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.completed_at, Some(NOW));

    // A failed command leaves the counters alone.
    let mut job = progress(0, 1, TargetSelection::Snapshot);
    let soft = ExecutionCommand::Cancel {
        force: false,
        expected_version: None,
        status_details: None,
    };
    assert!(apply_to_job(&mut job, &exec_in(InProgress), &soft, NOW).is_err());
    assert_eq!(job, progress(0, 1, TargetSelection::Snapshot));

    // CONTINUOUS jobs never complete by themselves.
    let mut job = progress(1, 0, TargetSelection::Continuous);
    apply_to_job(&mut job, &exec_in(Queued), &cancel, NOW).unwrap();
    assert_eq!(job.status, JobStatus::InProgress);

    // Deleting a pending execution takes it out of its bucket.
    let mut job = progress(2, 0, TargetSelection::Snapshot);
    let (change, retried) = apply_to_job(
        &mut job,
        &exec_in(Queued),
        &ExecutionCommand::Delete { force: false },
        NOW,
    )
    .unwrap();
    assert_eq!(retried, None);
    assert_eq!(change, Change::Delete);
    assert_eq!(job.process_details.queued, 1);
}

#[test]
fn a_retry_queues_the_same_execution_again_and_counts_the_attempt() {
    let mut e = exec_in(TimedOut);
    e.step_deadline = Some(NOW);
    let Ok(Change::Update(next)) = apply(&e, &ExecutionCommand::Retry, Some(60), NOW) else {
        panic!("retry refused");
    };
    assert_eq!(next.status, Queued);
    assert_eq!(next.execution_number, e.execution_number);
    assert_eq!((next.retry_attempt, next.retry_timed_out), (1, 1));
    assert_eq!(next.version_number, e.version_number + 1);
    assert_eq!((next.started_at, next.timeout_at()), (None, None));
    assert_eq!(next.status_details, e.status_details, "details kept");
    let Ok(Change::Update(again)) = apply(&exec_in(Failed), &ExecutionCommand::Retry, None, NOW)
    else {
        panic!("retry refused");
    };
    assert_eq!((again.retry_attempt, again.retry_timed_out), (1, 0));
}

/// The bulk form of a command is the same rule as [`apply`]: for every status and
/// command, wherever [`uniform_change`] gives a change, `apply` makes exactly that change
/// (on executions with and without timers, details, retries), and it never gives one
/// where `apply` refuses or deletes.
#[test]
fn uniform_changes_are_what_apply_does() {
    let mut found = 0;
    for status in JobExecutionStatus::ALL {
        let mut variants = vec![exec_in(status)];
        let mut timers = exec_in(status);
        timers.in_progress_deadline = Some(T0.plus_minutes(30));
        timers.step_deadline = Some(T0.plus_minutes(20));
        timers.retry_attempt = 2;
        timers.retry_timed_out = 1;
        timers.force_canceled = true;
        variants.push(timers);
        for cmd in all_commands() {
            let Some(u) = uniform_change(status, &cmd, NOW) else {
                continue;
            };
            found += 1;
            assert_eq!(u.from, status);
            assert!(
                !matches!(u.to, Failed | TimedOut),
                "never a retried outcome"
            );
            for exec in &variants {
                assert_eq!(
                    apply(exec, &cmd, Some(60), NOW),
                    Ok(Change::Update(u.applied(exec))),
                    "{status} {}",
                    cmd.label()
                );
            }
        }
    }
    // Cancel of QUEUED (with and without force) and force-cancel of IN_PROGRESS.
    assert_eq!(found, 3);
    let versioned = ExecutionCommand::Cancel {
        force: true,
        expected_version: Some(1),
        status_details: None,
    };
    assert_eq!(uniform_change(Queued, &versioned, NOW), None);
}
