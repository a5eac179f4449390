//! Conformance checks of the fleet-safety rules as a store applies them: rollout rates,
//! abort criteria, retries, start and end times, maintenance windows; and a property
//! check that drives random jobs through random device updates, clock advances, sweeps
//! and cancels and checks the invariants after every step.
//!
//! Everything goes through the `Store` API only; the clock is the `now` each call takes.

use super::*;
use iotjobs_core::JobExecutionStatus as E;
use iotjobs_core::policy::{
    ABORT_REASON_CODE, AbortCriteria, EndBehavior, ExponentialRate, FailureType, JobPolicy,
    MAX_RETRIES, RateIncrease, RetryCriteria, RolloutRate, Schedule,
};
use iotjobs_core::schedule::{CronExpression, MaintenanceWindow};
use iotjobs_core::{AppliedChange, Job, JobExecution, JobProcessDetails};
use std::collections::{BTreeMap, BTreeSet};

const MINUTE_MS: i64 = 60_000;

/// T0 plus `n` seconds.
fn secs(n: i64) -> Timestamp {
    Timestamp(T0.0 + n * 1000)
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

async fn create_things<S: Store>(s: &S, names: &[String]) {
    for n in names {
        s.create_thing(thing(n), format!("id-{n}"), T0)
            .await
            .unwrap();
    }
}

/// A SNAPSHOT job over `things` (in that order) with `policy`, without a timeout.
fn policy_job(id: &str, things: &[String], policy: JobPolicy) -> NewJob {
    let refs: Vec<&str> = things.iter().map(String::as_str).collect();
    let mut j = job(id, &refs);
    j.policy = policy;
    j.in_progress_timeout_minutes = None;
    j.configs.clear();
    j
}

fn per_minute(rate: i64) -> RolloutRate {
    RolloutRate {
        maximum_per_minute: Some(rate),
        exponential: None,
    }
}

fn rate_policy(rate: i64) -> JobPolicy {
    JobPolicy {
        rollout: Some(per_minute(rate)),
        ..JobPolicy::default()
    }
}

fn schedule(start: Option<Timestamp>, end: Option<(Timestamp, EndBehavior)>) -> Schedule {
    Schedule {
        start,
        end: end.map(|(t, _)| t),
        end_behavior: end.map(|(_, b)| b),
        windows: vec![],
    }
}

fn retry(criteria: &[(FailureType, i64)]) -> Vec<RetryCriteria> {
    criteria
        .iter()
        .map(|&(failure_type, number_of_retries)| RetryCriteria {
            failure_type,
            number_of_retries,
        })
        .collect()
}

fn report(status: JobExecutionStatus) -> ExecutionCommand {
    ExecutionCommand::DeviceUpdate {
        status,
        expected_version: None,
        status_details: None,
        step_timeout_in_minutes: None,
    }
}

/// A device reports `status` for its execution of `job`.
async fn set<S: Store>(
    s: &S,
    thing: &str,
    job: &str,
    status: JobExecutionStatus,
    at: Timestamp,
) -> AppliedChange {
    s.update_job_execution(exact(thing, job), report(status), at)
        .await
        .unwrap_or_else(|e| panic!("{thing}/{job} -> {status}: {e:?}"))
        .expect("an exact selector")
}

async fn execution<S: Store>(s: &S, thing: &str, job: &str) -> JobExecution {
    s.describe_job_execution(&exact(thing, job))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no execution of {job} on {thing}"))
}

/// Every execution of the job, in key order.
async fn executions_of<S: Store>(s: &S, job: &str) -> Vec<JobExecution> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = s
            .list_job_executions_for_job(job, None, page(after, 250))
            .await
            .unwrap();
        out.extend(p.items);
        match p.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

fn recount(executions: &[JobExecution]) -> JobProcessDetails {
    let mut d = JobProcessDetails::default();
    for e in executions {
        *d.bucket_mut(e.status) += 1;
    }
    d
}

/// The job's counters equal its executions recounted; it has `executions` of them and
/// `waiting` targets still in its rollout queue. Returns the job.
async fn assert_rollout<S: Store>(s: &S, job: &str, executions: usize, waiting: i64) -> Job {
    let j = s.describe_job(job).await.unwrap().unwrap();
    let listed = executions_of(s, job).await;
    assert_eq!(j.progress.process_details, recount(&listed), "{job}");
    assert_eq!(
        (listed.len(), j.progress.rollout.waiting),
        (executions, waiting),
        "{job}: (executions, waiting)"
    );
    j
}

async fn job_status<S: Store>(s: &S, job: &str) -> JobStatus {
    s.describe_job(job).await.unwrap().unwrap().progress.status
}

pub async fn rollout_creates_executions_at_a_constant_rate<S: Store>(s: S) {
    let names = numbered("t", 25);
    create_things(&s, &names).await;
    let created = s
        .create_job(policy_job("j", &names, rate_policy(10)), T0)
        .await
        .unwrap();
    // The first minute's executions come with the job; the rest wait, uncounted.
    assert_eq!(created.progress.status, JobStatus::InProgress);
    assert_eq!(created.progress.process_details.queued, 10);
    assert_eq!(created.progress.rollout.waiting, 15);
    assert_rollout(&s, "j", 10, 15).await;
    assert_eq!(s.next_job_wake().await.unwrap(), Some(secs(60)));
    assert_eq!(status_of(&s, "t10", "j").await, None, "not reached yet");

    // Half a minute later the minute's rate is spent: nothing is due.
    let r = s.sweep(secs(30), 1000).await.unwrap();
    assert!(r.is_idle(), "{r:?}");
    assert_rollout(&s, "j", 10, 15).await;

    // The next minute, within a sweep budget of 4: 4 now, and due again at once.
    let r = s.sweep(secs(60), 4).await.unwrap();
    assert_eq!(r.rollouts, 1);
    assert_rollout(&s, "j", 14, 11).await;
    assert_eq!(s.next_job_wake().await.unwrap(), Some(secs(60)));
    s.sweep(secs(60), 1000).await.unwrap();
    assert_rollout(&s, "j", 20, 5).await;
    assert_eq!(s.next_job_wake().await.unwrap(), Some(secs(120)));
    assert!(s.sweep(secs(90), 1000).await.unwrap().is_idle());

    let r = s.sweep(secs(120), 1000).await.unwrap();
    assert_eq!(r.rollouts, 1);
    let j = assert_rollout(&s, "j", 25, 0).await;
    assert_eq!(
        j.progress.status,
        JobStatus::InProgress,
        "devices still to run"
    );
    assert_eq!(j.progress.process_details.queued, 25);
    assert_eq!(s.next_job_wake().await.unwrap(), None);
    assert_eq!(s.count_executions().await.unwrap().queued, 25);

    // Targets are reached in order, ten a minute, each execution queued when created.
    for e in executions_of(&s, "j").await {
        let i: i64 = e.thing_name[1..].parse().unwrap();
        assert_eq!(e.queued_at, secs(60 * (i / 10)), "{}", e.thing_name);
        assert_eq!((e.status, e.execution_number), (E::Queued, 1));
    }
    assert!(s.sweep(secs(600), 1000).await.unwrap().is_idle());
    assert_rollout(&s, "j", 25, 0).await;
}

pub async fn rollout_skips_targets_deleted_before_their_turn<S: Store>(s: S) {
    let names = numbered("t", 6);
    create_things(&s, &names).await;
    s.create_job(policy_job("j", &names, rate_policy(2)), T0)
        .await
        .unwrap();
    assert_rollout(&s, "j", 2, 4).await;
    s.delete_thing("t03", None, secs(10)).await.unwrap();
    s.delete_thing("t05", None, secs(10)).await.unwrap();
    for t in ["t00", "t01"] {
        set(&s, t, "j", E::Succeeded, secs(20)).await;
    }
    // Every execution so far succeeded, but targets still wait: not complete.
    assert_eq!(job_status(&s, "j").await, JobStatus::InProgress);

    // t03 is skipped without using the minute's rate: t04 goes in its place.
    s.sweep(secs(60), 1000).await.unwrap();
    assert_rollout(&s, "j", 4, 1).await;
    assert_eq!(status_of(&s, "t03", "j").await, None);
    for t in ["t02", "t04"] {
        let e = execution(&s, t, "j").await;
        assert_eq!((e.status, e.queued_at), (E::Queued, secs(60)));
        set(&s, t, "j", E::Succeeded, secs(90)).await;
    }
    assert_eq!(job_status(&s, "j").await, JobStatus::InProgress);
    assert_eq!(s.next_job_wake().await.unwrap(), Some(secs(120)));

    // The last target is gone too: the queue empties and the job completes.
    let r = s.sweep(secs(120), 1000).await.unwrap();
    assert_eq!(r.rollouts, 1);
    let j = assert_rollout(&s, "j", 4, 0).await;
    assert_eq!(j.progress.status, JobStatus::Completed);
    assert_eq!(j.progress.completed_at, Some(secs(120)));
    assert_eq!(j.progress.process_details.succeeded, 4);
    assert_eq!(status_of(&s, "t05", "j").await, None);
    assert_eq!(s.next_job_wake().await.unwrap(), None);
}

pub async fn cancel_job_drops_targets_still_waiting<S: Store>(s: S) {
    let names = numbered("t", 5);
    let later = numbered("l", 2);
    create_things(&s, &names).await;
    create_things(&s, &later).await;
    s.create_job(policy_job("j", &names, rate_policy(1)), T0)
        .await
        .unwrap();
    let scheduled = JobPolicy {
        schedule: Some(schedule(Some(T0.plus_minutes(40)), None)),
        ..JobPolicy::default()
    };
    let l = s
        .create_job(policy_job("later", &later, scheduled), T0)
        .await
        .unwrap();
    assert_eq!(l.progress.status, JobStatus::Scheduled);
    assert_eq!(s.next_job_wake().await.unwrap(), Some(secs(60)));

    let j = s
        .cancel_job("j", false, None, None, secs(10))
        .await
        .unwrap();
    assert_eq!(j.progress.status, JobStatus::Canceled);
    assert_eq!(
        (
            j.progress.process_details.canceled,
            j.progress.rollout.waiting
        ),
        (1, 0)
    );
    assert_eq!(s.next_job_wake().await.unwrap(), Some(T0.plus_minutes(40)));
    let l = s
        .cancel_job("later", false, None, None, secs(20))
        .await
        .unwrap();
    assert_eq!(
        (l.progress.status, l.progress.rollout.waiting),
        (JobStatus::Canceled, 0)
    );
    assert_eq!(s.next_job_wake().await.unwrap(), None);

    for at in [60, 120, 300, 40 * 60, 41 * 60] {
        let r = s.sweep(secs(at), 1000).await.unwrap();
        assert_eq!(r.rollouts, 0, "at +{at}s: {r:?}");
    }
    let j = assert_rollout(&s, "j", 1, 0).await;
    assert_eq!(j.progress.status, JobStatus::Canceled);
    assert_eq!(
        status_of(&s, "t00", "j").await,
        Some((E::Canceled, 1)),
        "the one execution it had"
    );
    let l = assert_rollout(&s, "later", 0, 0).await;
    assert_eq!(l.progress.status, JobStatus::Canceled);
    assert_eq!(s.next_job_wake().await.unwrap(), None);
}

pub async fn abort_cancels_the_job_exactly_at_the_threshold<S: Store>(s: S) {
    // Eight reached at once (p, a1-a6, q), two waiting (w1, w2).
    let targets: Vec<String> = ["p", "a1", "a2", "a3", "a4", "a5", "a6", "q", "w1", "w2"]
        .map(String::from)
        .to_vec();
    create_things(&s, &targets).await;
    let policy = JobPolicy {
        rollout: Some(per_minute(8)),
        abort: vec![
            AbortCriteria {
                failure_type: FailureType::Failed,
                threshold_hundredths: 5000,
                min_executed_things: 4,
            },
            AbortCriteria {
                failure_type: FailureType::TimedOut,
                threshold_hundredths: 1,
                min_executed_things: 100,
            },
        ],
        ..JobPolicy::default()
    };
    s.create_job(policy_job("j", &targets, policy), T0)
        .await
        .unwrap();
    assert_rollout(&s, "j", 8, 2).await;
    set(&s, "p", "j", E::InProgress, secs(1)).await;
    // Executed / failed: 1/0, 2/1, 3/1 (below the minimum), 4/1 = 25 %, 5/2 = 40 %.
    for (i, (t, status)) in [
        ("a1", E::Succeeded),
        ("a2", E::Failed),
        ("a3", E::Succeeded),
        ("a4", E::Succeeded),
        ("a5", E::Failed),
    ]
    .into_iter()
    .enumerate()
    {
        set(&s, t, "j", status, secs(2 + i as i64)).await;
        assert_eq!(
            job_status(&s, "j").await,
            JobStatus::InProgress,
            "after {t}"
        );
    }
    // 6 executed, 3 failed: exactly 50 %.
    set(&s, "a6", "j", E::Failed, secs(10)).await;
    let j = assert_rollout(&s, "j", 8, 0).await;
    assert_eq!(j.progress.status, JobStatus::Canceled);
    assert_eq!(j.reason_code.as_deref(), Some(ABORT_REASON_CODE));
    assert_eq!(ABORT_REASON_CODE, "ABORT_CRITERIA_MET");
    let comment = j.comment.clone().unwrap_or_default();
    assert!(comment.contains("FAILED"), "{comment}");
    assert!(!j.force_canceled);
    let d = j.progress.process_details;
    assert_eq!(
        (d.queued, d.in_progress, d.succeeded, d.failed, d.canceled),
        (0, 1, 3, 3, 1)
    );
    assert_eq!(status_of(&s, "q", "j").await, Some((E::Canceled, 1)));
    assert_eq!(status_of(&s, "p", "j").await, Some((E::InProgress, 1)));
    assert_eq!(s.next_job_wake().await.unwrap(), None);

    // The waiting targets never get an execution.
    for at in [60, 120] {
        assert_eq!(s.sweep(secs(at), 1000).await.unwrap().rollouts, 0);
    }
    assert_rollout(&s, "j", 8, 0).await;
    for t in ["w1", "w2"] {
        assert_eq!(status_of(&s, t, "j").await, None);
    }
    // The IN_PROGRESS execution may still finish; the job stays canceled.
    set(&s, "p", "j", E::Succeeded, secs(130)).await;
    let j = assert_rollout(&s, "j", 8, 0).await;
    assert_eq!(j.progress.status, JobStatus::Canceled);
    assert_eq!(j.progress.process_details.succeeded, 4);
}

pub async fn retry_requeues_failed_executions_up_to_the_limit<S: Store>(s: S) {
    let names = ["x", "y", "z", "w"].map(String::from).to_vec();
    create_things(&s, &names).await;
    let policy = JobPolicy {
        retry: retry(&[(FailureType::Failed, 2)]),
        ..JobPolicy::default()
    };
    s.create_job(policy_job("r", &names[..3], policy), T0)
        .await
        .unwrap();
    set(&s, "x", "r", E::InProgress, secs(1)).await;
    let applied = set(&s, "x", "r", E::Failed, secs(2)).await;
    // The device learns the status it set; the store holds the retry.
    assert_eq!(applied.execution.status, E::Failed);
    let d = applied.job.process_details;
    assert_eq!((d.queued, d.in_progress, d.failed), (3, 0, 0));
    let x = execution(&s, "x", "r").await;
    assert_eq!(
        (x.status, x.retry_attempt, x.execution_number),
        (E::Queued, 1, 1)
    );
    assert_eq!((x.started_at, x.in_progress_deadline), (None, None));
    let j = assert_rollout(&s, "r", 3, 0).await;
    let d = j.progress.process_details;
    assert_eq!((d.queued, d.failed), (3, 0));

    set(&s, "x", "r", E::Failed, secs(3)).await;
    let x = execution(&s, "x", "r").await;
    assert_eq!(
        (x.status, x.retry_attempt, x.execution_number),
        (E::Queued, 2, 1)
    );
    // Retries used up: FAILED stays.
    set(&s, "x", "r", E::Failed, secs(4)).await;
    let x = execution(&s, "x", "r").await;
    assert_eq!((x.status, x.retry_attempt), (E::Failed, 2));
    let d = assert_rollout(&s, "r", 3, 0).await.progress.process_details;
    assert_eq!((d.queued, d.failed), (2, 1));
    // REJECTED is never retried.
    set(&s, "z", "r", E::Rejected, secs(5)).await;
    let z = execution(&s, "z", "r").await;
    assert_eq!((z.status, z.retry_attempt), (E::Rejected, 0));
    assert_eq!(job_status(&s, "r").await, JobStatus::InProgress);
    set(&s, "y", "r", E::Succeeded, secs(6)).await;
    let j = assert_rollout(&s, "r", 3, 0).await;
    assert_eq!(j.progress.status, JobStatus::Completed);
    let d = j.progress.process_details;
    assert_eq!((d.queued, d.succeeded, d.failed, d.rejected), (0, 1, 1, 1));

    // At most ten retries per execution.
    let policy = JobPolicy {
        retry: retry(&[(FailureType::Failed, MAX_RETRIES)]),
        ..JobPolicy::default()
    };
    s.create_job(policy_job("r10", &names[3..], policy), T0)
        .await
        .unwrap();
    for attempt in 1..=MAX_RETRIES {
        set(&s, "w", "r10", E::Failed, secs(10 + attempt)).await;
        let w = execution(&s, "w", "r10").await;
        assert_eq!((w.status, w.retry_attempt), (E::Queued, attempt));
        assert_eq!(job_status(&s, "r10").await, JobStatus::InProgress);
    }
    set(&s, "w", "r10", E::Failed, secs(30)).await;
    let w = execution(&s, "w", "r10").await;
    assert_eq!((w.status, w.retry_attempt), (E::Failed, MAX_RETRIES));
    assert_eq!(job_status(&s, "r10").await, JobStatus::Completed);
}

pub async fn retry_requeues_timed_out_executions_in_the_sweep<S: Store>(s: S) {
    let names = ["x", "y", "z"].map(String::from).to_vec();
    create_things(&s, &names).await;
    let mut new = policy_job(
        "t",
        &names[..2],
        JobPolicy {
            retry: retry(&[(FailureType::Failed, 1), (FailureType::TimedOut, 1)]),
            ..JobPolicy::default()
        },
    );
    new.in_progress_timeout_minutes = Some(2);
    s.create_job(new, T0).await.unwrap();
    set(&s, "x", "t", E::InProgress, T0.plus_minutes(1)).await;
    assert_eq!(s.sweep(T0.plus_minutes(2), 100).await.unwrap().timed_out, 0);
    let r = s.sweep(T0.plus_minutes(3), 100).await.unwrap();
    assert_eq!(r.timed_out, 1);
    let x = execution(&s, "x", "t").await;
    assert_eq!(
        (
            x.status,
            x.retry_attempt,
            x.retry_timed_out,
            x.execution_number
        ),
        (E::Queued, 1, 1, 1)
    );
    assert_eq!(x.in_progress_deadline, None);
    let d = assert_rollout(&s, "t", 2, 0).await.progress.process_details;
    assert_eq!((d.queued, d.in_progress, d.timed_out), (2, 0, 0));

    // The second timeout stays.
    set(&s, "x", "t", E::InProgress, T0.plus_minutes(4)).await;
    assert_eq!(
        execution(&s, "x", "t").await.in_progress_deadline,
        Some(T0.plus_minutes(6))
    );
    let r = s.sweep(T0.plus_minutes(6), 100).await.unwrap();
    assert_eq!(r.timed_out, 1);
    let x = execution(&s, "x", "t").await;
    assert_eq!((x.status, x.retry_attempt), (E::TimedOut, 1));
    // FAILED retries are counted apart from TIMED_OUT ones.
    set(&s, "y", "t", E::Failed, T0.plus_minutes(7)).await;
    let y = execution(&s, "y", "t").await;
    assert_eq!(
        (y.status, y.retry_attempt, y.retry_timed_out),
        (E::Queued, 1, 0)
    );
    set(&s, "y", "t", E::Failed, T0.plus_minutes(8)).await;
    let j = assert_rollout(&s, "t", 2, 0).await;
    assert_eq!(j.progress.status, JobStatus::Completed);
    let d = j.progress.process_details;
    assert_eq!((d.queued, d.failed, d.timed_out), (0, 1, 1));

    // ALL: failures and timeouts share one count.
    let mut new = policy_job(
        "all",
        &names[2..],
        JobPolicy {
            retry: retry(&[(FailureType::All, 2)]),
            ..JobPolicy::default()
        },
    );
    new.in_progress_timeout_minutes = Some(2);
    s.create_job(new, T0.plus_minutes(9)).await.unwrap();
    set(&s, "z", "all", E::Failed, T0.plus_minutes(10)).await;
    set(&s, "z", "all", E::InProgress, T0.plus_minutes(11)).await;
    assert_eq!(
        s.sweep(T0.plus_minutes(13), 100).await.unwrap().timed_out,
        1
    );
    let z = execution(&s, "z", "all").await;
    assert_eq!(
        (z.status, z.retry_attempt, z.retry_timed_out),
        (E::Queued, 2, 1)
    );
    set(&s, "z", "all", E::Failed, T0.plus_minutes(14)).await;
    let z = execution(&s, "z", "all").await;
    assert_eq!((z.status, z.retry_attempt), (E::Failed, 2));
    assert_eq!(job_status(&s, "all").await, JobStatus::Completed);
}

pub async fn scheduled_job_starts_at_its_start_time<S: Store>(s: S) {
    let names = numbered("t", 3);
    create_things(&s, &names).await;
    let start = T0.plus_minutes(40);
    let policy = JobPolicy {
        schedule: Some(schedule(Some(start), None)),
        ..JobPolicy::default()
    };
    let j = s
        .create_job(policy_job("j", &names, policy), T0)
        .await
        .unwrap();
    assert_eq!(j.progress.status, JobStatus::Scheduled);
    assert_rollout(&s, "j", 0, 3).await;
    assert_eq!(s.next_job_wake().await.unwrap(), Some(start));
    assert!(
        s.get_pending_job_executions("t00", 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(s.sweep(T0.plus_minutes(39), 1000).await.unwrap().is_idle());
    let j = assert_rollout(&s, "j", 0, 3).await;
    assert_eq!(j.progress.status, JobStatus::Scheduled);

    let r = s.sweep(start, 1000).await.unwrap();
    assert_eq!(r.rollouts, 1);
    let j = assert_rollout(&s, "j", 3, 0).await;
    assert_eq!(j.progress.status, JobStatus::InProgress);
    assert_eq!(j.progress.process_details.queued, 3);
    for e in executions_of(&s, "j").await {
        assert_eq!((e.status, e.queued_at), (E::Queued, start));
    }
    assert_eq!(s.next_job_wake().await.unwrap(), None);
}

pub async fn schedule_end_stops_or_cancels_the_job<S: Store>(s: S) {
    let stop = numbered("s", 4);
    let cancel = numbered("c", 2);
    let force = numbered("f", 2);
    for names in [&stop, &cancel, &force] {
        create_things(&s, names).await;
    }
    let end = T0.plus_minutes(30);
    let ending = |behavior, rollout| JobPolicy {
        rollout,
        schedule: Some(schedule(None, Some((end, behavior)))),
        ..JobPolicy::default()
    };
    s.create_job(
        policy_job(
            "stop",
            &stop,
            ending(EndBehavior::StopRollout, Some(per_minute(1))),
        ),
        T0,
    )
    .await
    .unwrap();
    s.create_job(
        policy_job("cancel", &cancel, ending(EndBehavior::Cancel, None)),
        T0,
    )
    .await
    .unwrap();
    s.create_job(
        policy_job("force", &force, ending(EndBehavior::ForceCancel, None)),
        T0,
    )
    .await
    .unwrap();
    // Without a rate or a start time, every target has its execution at once.
    assert_rollout(&s, "cancel", 2, 0).await;
    assert_rollout(&s, "stop", 1, 3).await;
    set(&s, "c00", "cancel", E::InProgress, T0.plus_minutes(5)).await;
    set(&s, "f00", "force", E::InProgress, T0.plus_minutes(5)).await;

    s.sweep(T0.plus_minutes(1), 1000).await.unwrap();
    assert_rollout(&s, "stop", 2, 2).await;
    s.sweep(T0.plus_minutes(29), 1000).await.unwrap();
    assert_rollout(&s, "stop", 3, 1).await;
    for j in ["stop", "cancel", "force"] {
        assert_eq!(job_status(&s, j).await, JobStatus::InProgress, "{j}");
    }
    assert_eq!(s.next_job_wake().await.unwrap(), Some(end));

    let r = s.sweep(end, 1000).await.unwrap();
    assert_eq!(r.rollouts, 3, "{r:?}");
    // STOP_ROLLOUT: the waiting target is dropped; the executions go on.
    let j = assert_rollout(&s, "stop", 3, 0).await;
    assert_eq!(j.progress.status, JobStatus::InProgress);
    assert_eq!(status_of(&s, "s03", "stop").await, None);
    // CANCEL: CancelJob without force.
    let j = assert_rollout(&s, "cancel", 2, 0).await;
    assert_eq!(j.progress.status, JobStatus::Canceled);
    assert!(!j.force_canceled);
    let comment = j.comment.clone().unwrap_or_default();
    assert!(comment.contains("CANCEL"), "{comment}");
    assert_eq!(
        status_of(&s, "c00", "cancel").await,
        Some((E::InProgress, 1))
    );
    assert_eq!(status_of(&s, "c01", "cancel").await, Some((E::Canceled, 1)));
    // FORCE_CANCEL: CancelJob with force.
    let j = assert_rollout(&s, "force", 2, 0).await;
    assert_eq!(j.progress.status, JobStatus::Canceled);
    assert!(j.force_canceled);
    assert_eq!(j.progress.process_details.canceled, 2);
    assert!(execution(&s, "f00", "force").await.force_canceled);
    assert_eq!(s.next_job_wake().await.unwrap(), None);

    assert_eq!(
        s.sweep(T0.plus_minutes(31), 1000).await.unwrap().rollouts,
        0
    );
    for t in &stop[..3] {
        set(&s, t, "stop", E::Succeeded, T0.plus_minutes(32)).await;
    }
    let j = assert_rollout(&s, "stop", 3, 0).await;
    assert_eq!(j.progress.status, JobStatus::Completed);
}

/// The start of the `k`-th whole hour after T0.
fn hour_mark(k: i64) -> Timestamp {
    Timestamp((T0.0 / 3_600_000 + k) * 3_600_000)
}

pub async fn rollout_runs_only_inside_maintenance_windows<S: Store>(s: S) {
    let names = numbered("t", 25);
    create_things(&s, &names).await;
    let hourly = MaintenanceWindow {
        start: CronExpression::parse("cron(0 * * * ? *)", "m").unwrap(),
        duration_minutes: 10,
    };
    let policy = JobPolicy {
        rollout: Some(per_minute(2)),
        schedule: Some(Schedule {
            windows: vec![hourly],
            ..schedule(None, None)
        }),
        ..JobPolicy::default()
    };
    let (h1, h2) = (hour_mark(1), hour_mark(2));
    assert!(T0.plus_minutes(10) < h1, "T0 is outside a window");
    let j = s
        .create_job(policy_job("j", &names, policy), T0)
        .await
        .unwrap();
    assert_eq!(j.progress.status, JobStatus::Scheduled);
    assert_rollout(&s, "j", 0, 25).await;
    assert_eq!(s.next_job_wake().await.unwrap(), Some(h1));
    assert!(s.sweep(T0.plus_minutes(20), 1000).await.unwrap().is_idle());
    assert_eq!(job_status(&s, "j").await, JobStatus::Scheduled);

    // The first window: two a minute for ten minutes.
    for m in 0..10 {
        s.sweep(h1.plus_minutes(m), 1000).await.unwrap();
        let j = assert_rollout(&s, "j", 2 * (m as usize + 1), 23 - 2 * m).await;
        assert_eq!(j.progress.status, JobStatus::InProgress, "minute {m}");
        assert_eq!(
            s.next_job_wake().await.unwrap(),
            Some(h1.plus_minutes(m + 1))
        );
    }
    // The window closes: SCHEDULED until the next, with five targets waiting.
    s.sweep(h1.plus_minutes(10), 1000).await.unwrap();
    let j = assert_rollout(&s, "j", 20, 5).await;
    assert_eq!(j.progress.status, JobStatus::Scheduled);
    assert_eq!(s.next_job_wake().await.unwrap(), Some(h2));
    // Executions keep running between windows; the job neither completes nor rolls out.
    set(&s, "t00", "j", E::Succeeded, h1.plus_minutes(30)).await;
    assert!(s.sweep(h2.plus_minutes(-1), 1000).await.unwrap().is_idle());
    let j = assert_rollout(&s, "j", 20, 5).await;
    assert_eq!(j.progress.status, JobStatus::Scheduled);

    // The second window reaches the rest.
    for (m, executions) in [(0, 22), (1, 24), (2, 25)] {
        s.sweep(h2.plus_minutes(m), 1000).await.unwrap();
        let j = assert_rollout(&s, "j", executions, 25 - executions as i64).await;
        assert_eq!(j.progress.status, JobStatus::InProgress);
    }
    let windows = [(h1, h1.plus_minutes(10)), (h2, h2.plus_minutes(10))];
    for e in executions_of(&s, "j").await {
        assert!(
            windows
                .iter()
                .any(|(open, close)| *open <= e.queued_at && e.queued_at < *close),
            "{} queued at {:?}, outside every window",
            e.thing_name,
            e.queued_at
        );
        if e.status == E::Queued {
            set(&s, &e.thing_name, "j", E::Succeeded, h2.plus_minutes(5)).await;
        }
    }
    let j = assert_rollout(&s, "j", 25, 0).await;
    assert_eq!(j.progress.status, JobStatus::Completed);
    s.sweep(h2.plus_minutes(10), 1000).await.unwrap();
    assert_eq!(job_status(&s, "j").await, JobStatus::Completed);
    assert_eq!(s.next_job_wake().await.unwrap(), None);
}

/// The executions created in each of the first `minutes` minutes of a rollout begun at
/// T0.
async fn per_minute_counts<S: Store>(s: &S, job: &str, minutes: usize) -> Vec<i64> {
    let mut counts = vec![0; minutes];
    for e in executions_of(s, job).await {
        counts[((e.queued_at.millis() - T0.millis()) / MINUTE_MS) as usize] += 1;
    }
    counts
}

fn exponential(base: i64, factor_tenths: i64, every_notified: i64, cap: i64) -> JobPolicy {
    JobPolicy {
        rollout: Some(RolloutRate {
            maximum_per_minute: Some(cap),
            exponential: Some(ExponentialRate {
                base_per_minute: base,
                increment_factor_tenths: factor_tenths,
                increase: RateIncrease {
                    notified_things: Some(every_notified),
                    succeeded_things: None,
                },
            }),
        }),
        ..JobPolicy::default()
    }
}

pub async fn exponential_rollout_grows_by_its_factor<S: Store>(s: S) {
    let (doubling, slow) = (numbered("a", 20), numbered("b", 19));
    create_things(&s, &doubling).await;
    create_things(&s, &slow).await;
    // AWS's example in small: base 2, factor 2, every 2 notified, capped at 8.
    s.create_job(
        policy_job("doubling", &doubling, exponential(2, 20, 2, 8)),
        T0,
    )
    .await
    .unwrap();
    // Base 1, factor 1.5, every thing notified: base × 1.5^k is 1, 1.5, 2.25, 3.4, 5.1, …
    s.create_job(policy_job("slow", &slow, exponential(1, 15, 1, 10)), T0)
        .await
        .unwrap();
    for m in 1..=5 {
        s.sweep(T0.plus_minutes(m), 1000).await.unwrap();
    }
    // Minute 1: 2 notified before it (one increase); minute 2: 6 (three, capped at 8).
    assert_eq!(
        per_minute_counts(&s, "doubling", 6).await,
        [2, 4, 8, 6, 0, 0]
    );
    // The rate must grow past 1 (floor(base × factor^k) per minute: 1, 1, 2, 5, 10).
    let counts = per_minute_counts(&s, "slow", 6).await;
    let mut notified = 0;
    for (minute, &count) in counts.iter().enumerate() {
        let bound = (1.5f64.powi(notified as i32) + 1e-9).floor() as i64;
        assert!(
            count <= bound.min(10),
            "minute {minute}: {count} > {bound} ({counts:?})"
        );
        notified += count;
    }
    assert!(
        counts[3] >= 2 && counts[4] > counts[3],
        "an exponential rate with factor 1.5 never grows from a base of 1: per minute {counts:?}"
    );
}

/// A job deleted in the middle of its rollout leaves no waiting target behind: a new job
/// with the same id reaches only its own targets.
pub async fn deleted_job_leaves_no_waiting_targets_behind<S: Store>(s: S) {
    let (old, new) = (numbered("o", 5), numbered("n", 2));
    create_things(&s, &old).await;
    create_things(&s, &new).await;
    s.create_job(policy_job("j", &old, rate_policy(1)), T0)
        .await
        .unwrap();
    s.delete_job("j", true, secs(10)).await.unwrap();
    let r = s.sweep(secs(60), 1000).await.unwrap();
    assert_eq!((r.deleted_jobs, r.purged_executions), (1, 1), "{r:?}");
    assert_eq!(s.next_job_wake().await.unwrap(), None);
    s.create_job(policy_job("j", &new, rate_policy(10)), secs(70))
        .await
        .unwrap();
    s.sweep(secs(130), 1000).await.unwrap();
    let j = assert_rollout(&s, "j", 2, 0).await;
    assert_eq!(j.progress.status, JobStatus::InProgress);
    let reached: Vec<String> = executions_of(&s, "j")
        .await
        .into_iter()
        .map(|e| e.thing_name)
        .collect();
    assert_eq!(reached, new);
}

/// A CONTINUOUS job that has not started yet (SCHEDULED) still targets its groups: a
/// thing that joins one before the start time gets its execution when the job starts.
pub async fn scheduled_continuous_job_reaches_things_that_joined_before_start<S: Store>(s: S) {
    setup(&s, &["a", "b", "d"], &[]).await;
    s.create_thing_group(group("g", None), "g".into(), T0)
        .await
        .unwrap();
    s.add_thing_to_thing_group("g", "a", T0).await.unwrap();
    let start = T0.plus_minutes(40);
    let mut new = group_job("c", &["g"], TargetSelection::Continuous);
    new.policy = JobPolicy {
        schedule: Some(schedule(Some(start), None)),
        ..JobPolicy::default()
    };
    let j = s.create_job(new, T0).await.unwrap();
    assert_eq!(
        (j.progress.status, j.progress.rollout.waiting),
        (JobStatus::Scheduled, 1)
    );
    // b joins while the job waits for its start time.
    s.add_thing_to_thing_group("g", "b", T0.plus_minutes(10))
        .await
        .unwrap();
    assert_eq!(status_of(&s, "b", "c").await, None, "not before the start");
    s.sweep(start, 1000).await.unwrap();
    assert_eq!(job_status(&s, "c").await, JobStatus::InProgress);
    assert_eq!(status_of(&s, "a", "c").await, Some((E::Queued, 1)));
    // Once started, a joining thing gets its execution at once.
    s.add_thing_to_thing_group("g", "d", start.plus_minutes(1))
        .await
        .unwrap();
    assert_eq!(status_of(&s, "d", "c").await, Some((E::Queued, 1)));
    assert_eq!(
        status_of(&s, "b", "c").await,
        Some((E::Queued, 1)),
        "b joined target group g before the job started; at the start it is a member \
         like a, yet it never gets an execution"
    );
}

/// A CONTINUOUS job targets a group's members: a thing that leaves the group while it
/// still waits in the rollout queue is no longer a target and gets no execution (one it
/// had while QUEUED would become REMOVED).
pub async fn continuous_rollout_skips_things_that_left_before_their_turn<S: Store>(s: S) {
    setup(&s, &["a", "b", "c"], &[]).await;
    s.create_thing_group(group("g", None), "g".into(), T0)
        .await
        .unwrap();
    for t in ["a", "b", "c"] {
        s.add_thing_to_thing_group("g", t, T0).await.unwrap();
    }
    let mut new = group_job("c", &["g"], TargetSelection::Continuous);
    new.policy = rate_policy(1);
    s.create_job(new, T0).await.unwrap();
    assert_rollout(&s, "c", 1, 2).await;
    assert_eq!(status_of(&s, "a", "c").await, Some((E::Queued, 1)));
    s.remove_thing_from_thing_group("g", "b", secs(10))
        .await
        .unwrap();
    s.sweep(secs(60), 1000).await.unwrap();
    s.sweep(secs(120), 1000).await.unwrap();
    assert_eq!(status_of(&s, "c", "c").await, Some((E::Queued, 1)));
    assert_eq!(
        status_of(&s, "b", "c").await,
        None,
        "b left target group g before the rollout reached it, yet it got a QUEUED execution"
    );
}

// ---- the property check --------------------------------------------------------------

/// xorshift64: a small deterministic generator, so that a failing case can be replayed
/// from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that neighbouring seeds start far apart.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn index(&mut self, len: usize) -> usize {
        (self.next() % len as u64) as usize
    }
}

const FAILURE_TYPES: [FailureType; 4] = [
    FailureType::Failed,
    FailureType::Rejected,
    FailureType::TimedOut,
    FailureType::All,
];

/// A random policy (rate 1-5 a minute or exponential, maybe abort criteria, maybe
/// retries 0-3 per failure type) and in-progress timeout (1-3 minutes, or none).
fn random_policy(rng: &mut Rng) -> (JobPolicy, Option<i64>) {
    let rollout = if rng.chance(50) {
        per_minute(rng.range(1, 5))
    } else {
        let base = rng.range(1, 3);
        let cap = rng.range(base, 8);
        let notified = rng.chance(60).then(|| rng.range(1, 5));
        let succeeded = (notified.is_none() || rng.chance(40)).then(|| rng.range(1, 5));
        RolloutRate {
            maximum_per_minute: Some(cap),
            exponential: Some(ExponentialRate {
                base_per_minute: base,
                increment_factor_tenths: rng.range(11, 30),
                increase: RateIncrease {
                    notified_things: notified,
                    succeeded_things: succeeded,
                },
            }),
        }
    };
    let mut abort = Vec::new();
    if rng.chance(50) {
        for _ in 0..rng.range(1, 2) {
            let failure_type = FAILURE_TYPES[rng.index(4)];
            if abort
                .iter()
                .any(|c: &AbortCriteria| c.failure_type == failure_type)
            {
                continue;
            }
            abort.push(AbortCriteria {
                failure_type,
                threshold_hundredths: rng.range(1000, 9000),
                min_executed_things: rng.range(1, 6),
            });
        }
    }
    let retry = match rng.range(0, 4) {
        0 => vec![],
        1 => retry(&[(FailureType::All, rng.range(0, 3))]),
        2 => retry(&[(FailureType::Failed, rng.range(0, 3))]),
        3 => retry(&[(FailureType::TimedOut, rng.range(0, 3))]),
        _ => retry(&[
            (FailureType::Failed, rng.range(0, 3)),
            (FailureType::TimedOut, rng.range(0, 3)),
        ]),
    };
    let timeout = rng.chance(60).then(|| rng.range(1, 3));
    let policy = JobPolicy {
        rollout: Some(rollout),
        abort,
        retry,
        schedule: None,
    };
    (policy, timeout)
}

/// Whether the retry config gives `e` (its retries counted before this failure)
/// another attempt after it became `status` (FAILED or TIMED_OUT).
fn retry_expected(policy: &JobPolicy, e: &JobExecution, status: JobExecutionStatus) -> bool {
    if e.retry_attempt >= MAX_RETRIES {
        return false;
    }
    let timed_out = e.retry_timed_out;
    let failed = e.retry_attempt - timed_out;
    policy.retry.iter().any(|c| match c.failure_type {
        FailureType::All => e.retry_attempt < c.number_of_retries,
        FailureType::Failed => status == E::Failed && failed < c.number_of_retries,
        FailureType::TimedOut => status == E::TimedOut && timed_out < c.number_of_retries,
        FailureType::Rejected => false,
    })
}

/// The retries the config allows one execution: (FAILED, TIMED_OUT, in total).
fn retry_limits(policy: &JobPolicy) -> (i64, i64, i64) {
    let of = |t| {
        policy
            .retry
            .iter()
            .find(|c| c.failure_type == t)
            .map(|c| c.number_of_retries)
    };
    match of(FailureType::All) {
        Some(n) => (n, n, n.min(MAX_RETRIES)),
        None => {
            let (f, t) = (
                of(FailureType::Failed).unwrap_or(0),
                of(FailureType::TimedOut).unwrap_or(0),
            );
            (f, t, (f + t).min(MAX_RETRIES))
        }
    }
}

/// The most executions minute `bucket` may create: the constant rate, or the
/// exponential rate from AWS's definition (base × factor^increases, rounded down,
/// capped), counting the things notified before the minute and those succeeded by now
/// (the rate only grows with them, so this bounds every rate the minute used).
fn minute_limit(rate: &RolloutRate, notified_before: i64, succeeded: i64) -> i64 {
    let cap = rate.maximum_per_minute.unwrap_or(1000);
    let Some(e) = &rate.exponential else {
        return cap;
    };
    let steps = |reached: i64, every: Option<i64>| every.map_or(0, |n| reached / n.max(1));
    let k = steps(notified_before, e.increase.notified_things)
        .max(steps(succeeded, e.increase.succeeded_things));
    let exact = e.base_per_minute as f64 * (e.increment_factor_tenths as f64 / 10.0).powi(k as i32);
    ((exact + 1e-6).floor() as i64).min(cap)
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)*) => {
        if !$cond {
            return Err(format!($($why)*));
        }
    };
}

/// What the property check knows of its one job "j".
struct Model {
    things: i64,
    policy: JobPolicy,
    now: Timestamp,
    /// As last observed.
    status: JobStatus,
    executions: Vec<JobExecution>,
    /// The check canceled the job itself (else a cancel is an abort).
    canceled_by_us: bool,
    forced: bool,
    /// The executions the job had when it was first seen canceled.
    canceled_with: Option<BTreeSet<(String, i64)>>,
}

impl Model {
    fn find(&self, thing: &str) -> Option<&JobExecution> {
        self.executions.iter().find(|e| e.thing_name == thing)
    }
}

/// Read the job back and check every invariant; `swept`: a sweep at `m.now` just ran.
async fn observe<S: Store>(s: &S, m: &mut Model, swept: bool) -> Result<(), String> {
    let job = s.describe_job("j").await.unwrap().expect("the job");
    let execs = executions_of(s, "j").await;
    let counts = recount(&execs);
    let p = &job.progress;
    let status = p.status;
    let waiting = p.rollout.waiting;
    let n = execs.len() as i64;
    ensure!(
        p.process_details == counts,
        "counters {:?} != recount {counts:?}",
        p.process_details
    );
    let all = s.count_executions().await.unwrap();
    ensure!(all == counts, "count_executions {all:?} != {counts:?}");

    // Status moves only forward.
    match m.status {
        JobStatus::InProgress => {}
        before => ensure!(status == before, "{before:?} became {status:?}"),
    }
    // Every target has an execution or waits, until the job stops its rollout.
    match status {
        JobStatus::InProgress => ensure!(
            n + waiting == m.things,
            "{n} executions + {waiting} waiting != {} targets",
            m.things
        ),
        JobStatus::Canceled | JobStatus::Completed => {
            ensure!(waiting == 0, "{status:?} with {waiting} waiting")
        }
        other => return Err(format!("unexpected job status {other:?}")),
    }
    // COMPLETED exactly when every target was reached and none is pending.
    if status == JobStatus::Completed {
        ensure!(
            counts.pending() == 0 && n == m.things,
            "COMPLETED with {} pending, {n} of {} reached",
            counts.pending(),
            m.things
        );
    }
    if status == JobStatus::InProgress {
        ensure!(
            !(waiting == 0 && counts.pending() == 0),
            "every execution finished and nothing waits, yet IN_PROGRESS"
        );
    }
    // A canceled job has nothing QUEUED (a forced one nothing pending), and never gets
    // another execution.
    if status == JobStatus::Canceled {
        ensure!(counts.queued == 0, "canceled with {} QUEUED", counts.queued);
        if job.force_canceled {
            ensure!(
                counts.pending() == 0,
                "force-canceled with pending executions"
            );
        }
        let keys: BTreeSet<(String, i64)> = execs
            .iter()
            .map(|e| (e.thing_name.clone(), e.execution_number))
            .collect();
        match &m.canceled_with {
            Some(before) => ensure!(
                keys == *before,
                "a canceled job's executions changed: {before:?} -> {keys:?}"
            ),
            None => {
                if !m.canceled_by_us {
                    ensure!(
                        job.reason_code.as_deref() == Some(ABORT_REASON_CODE),
                        "canceled without CancelJob, reason {:?}",
                        job.reason_code
                    );
                }
                m.canceled_with = Some(keys);
            }
        }
    }
    // An abort criterion met never leaves the job IN_PROGRESS.
    if status == JobStatus::InProgress {
        let d = counts;
        let executed = d.succeeded + d.failed + d.rejected + d.timed_out;
        for c in &m.policy.abort {
            let failures = c.failure_type.count(&d);
            ensure!(
                !(executed > 0
                    && executed >= c.min_executed_things
                    && failures * 10_000 >= c.threshold_hundredths * executed),
                "abort criterion {c:?} met ({failures} of {executed}) but the job runs on"
            );
        }
    }
    // Retries within the config's limits.
    let (failed_limit, timed_out_limit, total_limit) = retry_limits(&m.policy);
    for e in &execs {
        ensure!(
            e.execution_number == 1,
            "{}: execution number {}",
            e.thing_name,
            e.execution_number
        );
        let failed = e.retry_attempt - e.retry_timed_out;
        ensure!(
            e.retry_attempt <= total_limit
                && failed <= failed_limit
                && e.retry_timed_out <= timed_out_limit
                && e.retry_attempt <= MAX_RETRIES,
            "{}: retryAttempt {} ({} after TIMED_OUT) beyond the limits {:?}",
            e.thing_name,
            e.retry_attempt,
            e.retry_timed_out,
            (failed_limit, timed_out_limit, total_limit)
        );
    }
    // The rate: minute buckets counted from the first execution.
    let rate = m.policy.rollout.as_ref().expect("a rate");
    if let Some(first) = execs.iter().map(|e| e.queued_at).min() {
        let bucket_of = |t: Timestamp| (t.millis() - first.millis()) / MINUTE_MS;
        let mut per_bucket: BTreeMap<i64, i64> = BTreeMap::new();
        for e in &execs {
            *per_bucket.entry(bucket_of(e.queued_at)).or_default() += 1;
        }
        let mut before = 0;
        for (&bucket, &count) in &per_bucket {
            let limit = minute_limit(rate, before, counts.succeeded);
            ensure!(
                count <= limit,
                "minute {bucket} created {count} executions, more than {limit}"
            );
            before += count;
        }
        // A sweep leaves the minute's allowance spent while targets wait.
        if swept && status == JobStatus::InProgress && waiting > 0 {
            let bucket = bucket_of(m.now);
            let count = per_bucket.get(&bucket).copied().unwrap_or(0);
            let least = match &rate.exponential {
                None => rate.maximum_per_minute.unwrap_or(1000),
                Some(e) => e.base_per_minute,
            };
            ensure!(
                count >= least,
                "after a sweep in minute {bucket}, only {count} created there (at least {least} due)"
            );
        }
    }
    // The sweep's wake-up: while targets wait, some time in the next minute at most;
    // never once nothing waits.
    let wake = s.next_job_wake().await.unwrap();
    if status == JobStatus::InProgress && waiting > 0 {
        let limit = m.now.millis() + MINUTE_MS;
        ensure!(
            wake.is_some_and(|w| w.millis() <= limit),
            "{waiting} waiting but next_job_wake {wake:?} (now {:?})",
            m.now
        );
        if swept {
            ensure!(
                wake.is_some_and(|w| w > m.now),
                "due again right after a sweep: {wake:?}"
            );
        }
    } else {
        ensure!(wake.is_none(), "nothing waits but next_job_wake {wake:?}");
    }
    m.status = status;
    m.forced = job.force_canceled;
    m.executions = execs;
    Ok(())
}

/// One random operation (CancelJob when `cancel`); returns its description for the
/// trace.
async fn random_step<S: Store>(
    s: &S,
    m: &mut Model,
    rng: &mut Rng,
    cancel: bool,
) -> Result<String, String> {
    let pending: Vec<JobExecution> = m
        .executions
        .iter()
        .filter(|e| e.status.is_pending())
        .cloned()
        .collect();
    if !cancel && rng.chance(50) && !pending.is_empty() {
        let e = pending[rng.index(pending.len())].clone();
        let status = match rng.range(0, 99) {
            0..=29 => E::InProgress,
            30..=59 => E::Succeeded,
            60..=84 => E::Failed,
            _ => E::Rejected,
        };
        let was_running = m.status == JobStatus::InProgress;
        let what = format!(
            "+{}s {} {} (attempt {}) -> {status}",
            (m.now.millis() - T0.millis()) / 1000,
            e.thing_name,
            e.status,
            e.retry_attempt
        );
        match s
            .update_job_execution(exact(&e.thing_name, "j"), report(status), m.now)
            .await
        {
            Ok(Some(applied)) => ensure!(
                applied.execution.status == status,
                "{what}: answered {}",
                applied.execution.status
            ),
            Ok(None) => return Err(format!("{what}: no execution")),
            Err(JobsError::InvalidStateTransition { .. }) => return Ok(format!("{what}: refused")),
            Err(other) => panic!("{what}: {other:?}"),
        }
        observe(s, m, false)
            .await
            .map_err(|why| format!("{what}: {why}"))?;
        let after = m.find(&e.thing_name).expect("still listed").clone();
        if status == E::Failed && was_running && retry_expected(&m.policy, &e, E::Failed) {
            ensure!(
                after.retry_attempt == e.retry_attempt + 1
                    && after.retry_timed_out == e.retry_timed_out
                    && (after.status == E::Queued
                        || (after.status == E::Canceled && m.status == JobStatus::Canceled)),
                "{what}: expected a retry, found {} attempt {}",
                after.status,
                after.retry_attempt
            );
        } else {
            ensure!(
                after.status == status && after.retry_attempt == e.retry_attempt,
                "{what}: found {} attempt {}",
                after.status,
                after.retry_attempt
            );
        }
        Ok(what)
    } else if cancel {
        let force = rng.chance(50);
        let what = format!(
            "+{}s cancel_job(force={force})",
            (m.now.millis() - T0.millis()) / 1000
        );
        match s.cancel_job("j", force, None, None, m.now).await {
            Ok(job) => {
                ensure!(
                    job.progress.status == JobStatus::Canceled,
                    "{what}: {:?}",
                    job.progress.status
                );
                m.canceled_by_us = true;
            }
            Err(JobsError::InvalidRequest(_)) => {
                let refusable = m.status == JobStatus::Completed
                    || (m.status == JobStatus::Canceled && (!force || m.forced));
                ensure!(refusable, "{what}: refused while {:?}", m.status);
            }
            Err(other) => panic!("{what}: {other:?}"),
        }
        observe(s, m, false)
            .await
            .map_err(|why| format!("{what}: {why}"))?;
        Ok(what)
    } else {
        let advance = rng.range(0, 90);
        m.now = Timestamp(m.now.millis() + advance * 1000);
        sweep_and_check(s, m).await
    }
}

/// Sweep at `m.now`, then check the timeouts it had to apply.
async fn sweep_and_check<S: Store>(s: &S, m: &mut Model) -> Result<String, String> {
    let what = format!("+{}s sweep", (m.now.millis() - T0.millis()) / 1000);
    let before = m.executions.clone();
    let was_running = m.status == JobStatus::InProgress;
    let report = s.sweep(m.now, 1000).await.unwrap();
    observe(s, m, true)
        .await
        .map_err(|why| format!("{what}: {why}"))?;
    let expired: Vec<&JobExecution> = before
        .iter()
        .filter(|e| e.status == E::InProgress && e.timeout_at().is_some_and(|t| t <= m.now))
        .collect();
    ensure!(
        report.timed_out == expired.len(),
        "{what}: {} timed out, {} expired",
        report.timed_out,
        expired.len()
    );
    for e in expired {
        let after = m.find(&e.thing_name).expect("still listed");
        if was_running && retry_expected(&m.policy, e, E::TimedOut) {
            ensure!(
                after.retry_attempt == e.retry_attempt + 1
                    && after.retry_timed_out == e.retry_timed_out + 1
                    && (after.status == E::Queued
                        || (after.status == E::Canceled && m.status == JobStatus::Canceled)),
                "{what}: {} expected a retry, found {} attempt {}",
                e.thing_name,
                after.status,
                after.retry_attempt
            );
        } else {
            ensure!(
                after.status == E::TimedOut && after.retry_attempt == e.retry_attempt,
                "{what}: {} expected TIMED_OUT, found {} attempt {}",
                e.thing_name,
                after.status,
                after.retry_attempt
            );
        }
    }
    // A job the sweep canceled (an abort after a timeout) got no execution after it.
    if was_running && m.status == JobStatus::Canceled {
        let new = m
            .executions
            .iter()
            .filter(|e| !before.iter().any(|b| b.thing_name == e.thing_name))
            .count();
        ensure!(new == 0, "{what}: aborted, yet {new} executions created");
    }
    Ok(format!("{what}: {report:?}"))
}

/// One random case: a fresh store, a random job, random steps, then every device
/// succeeding until the job is done.
async fn random_case<S: Store>(s: &S, seed: u64) -> Result<(), (String, Vec<String>)> {
    let mut rng = Rng::new(seed);
    s.reset().await.unwrap();
    let things = rng.range(3, 15);
    let names = numbered("t", things as usize);
    create_things(s, &names).await;
    let (policy, timeout) = random_policy(&mut rng);
    let mut new = policy_job("j", &names, policy.clone());
    new.in_progress_timeout_minutes = timeout;
    let mut trace = vec![format!(
        "{things} things, timeout {timeout:?}, policy {policy:?}"
    )];
    s.create_job(new, T0).await.unwrap();
    let mut m = Model {
        things,
        policy,
        now: T0,
        status: JobStatus::InProgress,
        executions: vec![],
        canceled_by_us: false,
        forced: false,
        canceled_with: None,
    };
    if let Err(why) = observe(s, &mut m, true).await {
        return Err((format!("after CreateJob: {why}"), trace));
    }
    // A third of the jobs are canceled once, some again (with force or not).
    let cancel_at = rng.chance(33).then(|| rng.range(0, 59));
    for step in 0..60 {
        let cancel = cancel_at.is_some_and(|c| step == c || step == c + 4);
        match random_step(s, &mut m, &mut rng, cancel).await {
            Ok(what) => trace.push(what),
            Err(why) => return Err((why, trace)),
        }
    }
    // Drain: every pending execution succeeds, the sweep runs when due, until the job
    // is done. A rollout that stalls fails here.
    for _ in 0..100 {
        let pending: Vec<String> = m
            .executions
            .iter()
            .filter(|e| e.status.is_pending())
            .map(|e| e.thing_name.clone())
            .collect();
        if pending.is_empty() && m.status != JobStatus::InProgress {
            return Ok(());
        }
        for t in pending {
            let what = format!("drain: {t} -> SUCCEEDED");
            if let Err(e) = s
                .update_job_execution(exact(&t, "j"), report(E::Succeeded), m.now)
                .await
            {
                return Err((format!("{what}: {e:?}"), trace));
            }
            if let Err(why) = observe(s, &mut m, false).await {
                return Err((format!("{what}: {why}"), trace));
            }
            trace.push(what);
        }
        if let Some(wake) = s.next_job_wake().await.unwrap() {
            m.now = m.now.max(wake);
        }
        match sweep_and_check(s, &mut m).await {
            Ok(what) => trace.push(what),
            Err(why) => return Err((why, trace)),
        }
    }
    Err((format!("never finished: {:?}", m.status), trace))
}

/// Random jobs through random steps, invariants checked after each (see [`observe`]).
/// Deterministic: a failure names its seed.
pub async fn random_rollouts_keep_their_invariants<S: Store>(s: S) {
    for case in 0..40u64 {
        let seed = 0x0510_11AD + case;
        if let Err((why, trace)) = random_case(&s, seed).await {
            panic!(
                "case {case} (seed {seed:#x}): {why}\ntrace:\n  {}",
                trace.join("\n  ")
            );
        }
    }
}
