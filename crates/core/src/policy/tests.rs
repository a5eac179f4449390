//! The rollout, abort, retry and scheduling rules, driven with explicit times.

use super::*;
use crate::job::{Job, NewJob, TargetSelection};
use std::collections::BTreeMap;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const MIN: i64 = 60_000;

fn at(minutes: i64) -> Timestamp {
    Timestamp(T0.millis() + minutes * MIN)
}

fn job(policy: JobPolicy, targets: usize) -> Job {
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
        policy,
        configs: BTreeMap::new(),
    };
    Job::from_new(new, targets, T0)
}

fn constant(rate: i64) -> JobPolicy {
    JobPolicy {
        rollout: Some(RolloutRate {
            maximum_per_minute: Some(rate),
            exponential: None,
        }),
        ..JobPolicy::default()
    }
}

/// Run the rollout as the store does at each wake-up until nothing is due, creating
/// an execution for every entry; returns (minute, executions created) per step.
fn drive(p: &mut JobProgress, from: Timestamp, until: Timestamp) -> Vec<(i64, i64)> {
    let mut steps = Vec::new();
    let mut now = from;
    while let Some(wake) = p.next_wake(now) {
        if wake > until {
            break;
        }
        now = wake.max(now);
        p.schedule_event(now);
        let n = p.rollout_allowance(now);
        p.record_rollout(n, n, now);
        if n > 0 {
            steps.push(((now.millis() - T0.millis()) / MIN, n));
        }
        if p.next_wake(now) == Some(now) && n == 0 {
            break;
        }
    }
    steps
}

#[test]
fn without_a_rate_every_target_gets_its_execution_at_creation() {
    let j = job(JobPolicy::default(), 5);
    assert_eq!(j.progress.process_details.queued, 5);
    assert_eq!(j.progress.rollout.waiting, 0);
    assert_eq!(j.progress.rollout.wake_at, None);
}

#[test]
fn a_constant_rate_creates_at_most_that_many_per_minute() {
    let mut j = job(constant(10), 25);
    assert_eq!(
        j.progress.process_details.queued, 0,
        "nothing before the first step"
    );
    assert_eq!(j.progress.rollout.waiting, 25);
    assert_eq!(
        j.progress.rollout.wake_at,
        Some(T0),
        "the first step is due at once"
    );
    let steps = drive(&mut j.progress, T0, at(10));
    assert_eq!(steps, vec![(0, 10), (1, 10), (2, 5)]);
    assert_eq!(j.progress.process_details.queued, 25);
    assert_eq!(j.progress.rollout.waiting, 0);
    assert_eq!(j.progress.next_wake(at(3)), None);
}

#[test]
fn a_second_step_in_the_same_minute_gets_only_what_is_left() {
    let mut j = job(constant(10), 100);
    let p = &mut j.progress;
    assert_eq!(p.rollout_allowance(T0), 10);
    p.record_rollout(4, 4, T0);
    assert_eq!(p.rollout_allowance(Timestamp(T0.millis() + 30_000)), 6);
    p.record_rollout(6, 6, T0);
    assert_eq!(p.rollout_allowance(Timestamp(T0.millis() + 59_999)), 0);
    assert_eq!(p.next_wake(T0), Some(at(1)));
    assert_eq!(p.rollout_allowance(at(1)), 10);
}

#[test]
fn an_exponential_rate_multiplies_each_time_another_n_things_are_notified() {
    let policy = JobPolicy {
        rollout: Some(RolloutRate {
            maximum_per_minute: Some(40),
            exponential: Some(ExponentialRate {
                base_per_minute: 5,
                increment_factor_tenths: 20,
                increase: RateIncrease {
                    notified_things: Some(10),
                    succeeded_things: None,
                },
            }),
        }),
        ..JobPolicy::default()
    };
    let mut j = job(policy, 200);
    let steps = drive(&mut j.progress, T0, at(20));
    // 5, 5 (10 notified → ×2), 10 (20 → ×2 again: 20), 20 (40 → ×2: 40, the cap), 40 …
    assert_eq!(
        steps,
        vec![
            (0, 5),
            (1, 5),
            (2, 10),
            (3, 20),
            (4, 40),
            (5, 40),
            (6, 40),
            (7, 40)
        ]
    );
}

#[test]
fn an_exponential_rate_can_follow_succeeded_things() {
    let policy = JobPolicy {
        rollout: Some(RolloutRate {
            maximum_per_minute: None,
            exponential: Some(ExponentialRate {
                base_per_minute: 10,
                increment_factor_tenths: 15,
                increase: RateIncrease {
                    notified_things: None,
                    succeeded_things: Some(3),
                },
            }),
        }),
        ..JobPolicy::default()
    };
    let mut p = job(policy, 100).progress;
    assert_eq!(p.rollout_rate(), 10);
    p.process_details.succeeded = 3;
    assert_eq!(p.rollout_rate(), 15);
    p.process_details.succeeded = 8;
    assert_eq!(p.rollout_rate(), 22, "10 × 1.5 × 1.5, rounded down");
    p.process_details.succeeded = 3000;
    assert_eq!(p.rollout_rate(), MAX_RATE_PER_MINUTE, "capped at 1000");
}

fn abort_at(failure_type: FailureType, threshold_hundredths: i64, min: i64) -> JobPolicy {
    JobPolicy {
        abort: vec![AbortCriteria {
            failure_type,
            threshold_hundredths,
            min_executed_things: min,
        }],
        ..JobPolicy::default()
    }
}

#[test]
fn abort_at_exactly_the_threshold_and_not_one_execution_before() {
    // 50 % of at least 4 finished executions FAILED.
    let mut p = job(abort_at(FailureType::Failed, 5000, 4), 10).progress;
    p.process_details.queued = 5;
    p.process_details.failed = 2;
    p.process_details.succeeded = 1;
    assert!(p.abort_due().is_none(), "3 finished: below the minimum");
    p.process_details.succeeded = 3;
    assert!(p.abort_due().is_none(), "2 of 5: 40 %");
    p.process_details.failed = 3;
    assert!(p.abort_due().is_some(), "3 of 6: exactly 50 %");
    // Hundredths are exact: 33.33 % of 3 is met by 1 failure, 33.34 % is not.
    let mut q = job(abort_at(FailureType::All, 3333, 1), 3).progress;
    q.process_details.timed_out = 1;
    q.process_details.succeeded = 2;
    assert!(q.abort_due().is_some());
    let mut r = job(abort_at(FailureType::All, 3334, 1), 3).progress;
    r.process_details = q.process_details;
    assert!(r.abort_due().is_none());
    // Other failure types do not count.
    let mut s = job(abort_at(FailureType::Rejected, 100, 1), 3).progress;
    s.process_details.failed = 3;
    assert!(s.abort_due().is_none());
    // A canceled job is not aborted again.
    p.status = JobStatus::Canceled;
    assert!(p.abort_due().is_none());
}

fn retry(criteria: &[(FailureType, i64)]) -> JobPolicy {
    JobPolicy {
        retry: criteria
            .iter()
            .map(|&(failure_type, number_of_retries)| RetryCriteria {
                failure_type,
                number_of_retries,
            })
            .collect(),
        ..JobPolicy::default()
    }
}

fn finished(
    status: JobExecutionStatus,
    failed_retries: i64,
    timed_out_retries: i64,
) -> JobExecution {
    let mut e = JobExecution::queued("j", "t", 1, T0);
    e.status = status;
    e.retry_attempt = failed_retries + timed_out_retries;
    e.retry_timed_out = timed_out_retries;
    e
}

#[test]
fn retries_count_per_failure_type_up_to_the_limit() {
    use JobExecutionStatus::*;
    let p = job(
        retry(&[(FailureType::Failed, 2), (FailureType::TimedOut, 1)]),
        1,
    )
    .progress;
    assert!(p.retry_due(&finished(Failed, 0, 0)));
    assert!(p.retry_due(&finished(Failed, 1, 1)));
    assert!(
        !p.retry_due(&finished(Failed, 2, 0)),
        "FAILED retries used up"
    );
    assert!(
        p.retry_due(&finished(TimedOut, 2, 0)),
        "TIMED_OUT ones are apart"
    );
    assert!(!p.retry_due(&finished(TimedOut, 0, 1)));
    for status in [Queued, InProgress, Succeeded, Rejected, Removed, Canceled] {
        assert!(!p.retry_due(&finished(status, 0, 0)), "{status}");
    }
    let all = job(retry(&[(FailureType::All, 3)]), 1).progress;
    assert!(all.retry_due(&finished(TimedOut, 2, 0)));
    assert!(!all.retry_due(&finished(Failed, 1, 2)), "ALL counts both");
    let none = job(retry(&[(FailureType::Failed, 0)]), 1).progress;
    assert!(!none.retry_due(&finished(Failed, 0, 0)));
}

#[test]
fn retry_config_checks() {
    let ok = retry(&[(FailureType::Failed, 5), (FailureType::TimedOut, 5)]);
    assert!(check_policy(&ok, T0).is_ok());
    for bad in [
        retry(&[(FailureType::Failed, 6), (FailureType::TimedOut, 5)]),
        retry(&[(FailureType::Failed, 1), (FailureType::Failed, 1)]),
        retry(&[(FailureType::All, 1), (FailureType::Failed, 1)]),
    ] {
        assert!(
            matches!(check_policy(&bad, T0), Err(JobsError::InvalidRequest(_))),
            "{bad:?}"
        );
    }
    assert!(check_policy(&constant(1001), T0).is_err());
    assert!(check_policy(&constant(1000), T0).is_ok());
}

fn scheduled(start: Option<i64>, end: Option<i64>, end_behavior: Option<EndBehavior>) -> Schedule {
    Schedule {
        start: start.map(at),
        end: end.map(at),
        end_behavior,
        windows: vec![],
    }
}

#[test]
fn schedule_limits() {
    let check = |s: Schedule| {
        check_policy(
            &JobPolicy {
                schedule: Some(s),
                ..JobPolicy::default()
            },
            T0,
        )
    };
    assert!(check(scheduled(Some(30), Some(60), None)).is_ok());
    assert!(
        check(scheduled(Some(29), None, None)).is_err(),
        "start < 30 min ahead"
    );
    assert!(
        check(scheduled(Some(367 * 1440), None, None)).is_err(),
        "start > 1 year"
    );
    assert!(
        check(scheduled(Some(40), Some(69), None)).is_err(),
        "end < start + 30 min"
    );
    assert!(check(scheduled(None, Some(30), None)).is_ok());
    assert!(check(scheduled(None, Some(29), None)).is_err());
}

#[test]
fn a_scheduled_job_starts_at_its_start_time_and_stops_rolling_out_at_its_end() {
    let policy = JobPolicy {
        schedule: Some(scheduled(Some(30), Some(35), None)),
        ..constant(2)
    };
    let mut j = job(policy, 20);
    let p = &mut j.progress;
    assert_eq!(p.status, JobStatus::Scheduled);
    assert_eq!(p.rollout.wake_at, Some(at(30)));
    assert_eq!(p.schedule_event(at(29)), None);
    assert_eq!(p.rollout_allowance(at(29)), 0, "nothing before the start");
    assert_eq!(p.schedule_event(at(30)), Some(ScheduleEvent::Started));
    assert_eq!(p.status, JobStatus::InProgress);
    let steps = drive(p, at(30), at(34));
    assert_eq!(steps, vec![(30, 2), (31, 2), (32, 2), (33, 2), (34, 2)]);
    assert_eq!(p.next_wake(at(34)), Some(at(35)));
    assert_eq!(
        p.schedule_event(at(35)),
        Some(ScheduleEvent::Ended(EndBehavior::StopRollout))
    );
    assert_eq!(p.rollout.waiting, 0);
    assert_eq!(
        p.status,
        JobStatus::InProgress,
        "10 executions still queued"
    );
    p.record_execution_change(Some(JobExecutionStatus::Queued), None, at(36));
    assert_eq!(p.process_details.queued, 9);
    p.process_details.queued = 1;
    p.record_execution_change(
        Some(JobExecutionStatus::Queued),
        Some(JobExecutionStatus::Succeeded),
        at(37),
    );
    assert_eq!(p.status, JobStatus::Completed);
    assert_eq!(p.next_wake(at(37)), None);
}

#[test]
fn end_behaviours_are_reported_for_the_store_to_apply() {
    for behavior in [EndBehavior::Cancel, EndBehavior::ForceCancel] {
        let mut p = job(
            JobPolicy {
                schedule: Some(scheduled(None, Some(30), Some(behavior))),
                ..constant(1)
            },
            5,
        )
        .progress;
        assert_eq!(p.status, JobStatus::InProgress);
        assert_eq!(
            p.schedule_event(at(30)),
            Some(ScheduleEvent::Ended(behavior))
        );
        assert_eq!(p.schedule_event(at(31)), None, "once");
    }
}

#[test]
fn waiting_targets_keep_a_snapshot_job_open_and_a_cancel_drops_them() {
    let mut j = job(constant(1), 3);
    assert_eq!(j.progress.status, JobStatus::InProgress);
    j.progress.complete_if_done(T0);
    assert_eq!(j.progress.status, JobStatus::InProgress, "3 targets wait");
    j.cancel(false, None, None, T0).unwrap();
    assert_eq!(j.progress.rollout.waiting, 0);
    assert_eq!(j.progress.next_wake(T0), None);
    let empty = job(constant(1), 0);
    assert_eq!(empty.progress.status, JobStatus::Completed);
}

#[test]
fn update_replaces_the_rate_for_the_next_step() {
    let mut j = job(constant(1), 10);
    let p = &mut j.progress;
    assert_eq!(p.rollout_allowance(T0), 1);
    p.record_rollout(1, 1, T0);
    let update = crate::job::JobUpdate {
        rollout: Some(RolloutRate {
            maximum_per_minute: Some(5),
            exponential: None,
        }),
        ..Default::default()
    };
    j.update(update, T0).unwrap();
    assert_eq!(j.progress.rollout_allowance(T0), 4, "5 this minute, 1 used");
}

fn hourly_window(minutes: i64) -> Vec<crate::schedule::MaintenanceWindow> {
    vec![crate::schedule::MaintenanceWindow {
        start: crate::schedule::CronExpression::parse("cron(0 * * * ? *)", "w").unwrap(),
        duration_minutes: minutes,
    }]
}

#[test]
fn a_job_with_windows_rolls_out_only_inside_them_and_is_scheduled_between() {
    // T0 is 22:13:20 UTC: outside the window (minute 0 to 10 of each hour).
    let policy = JobPolicy {
        schedule: Some(Schedule {
            start: None,
            end: None,
            end_behavior: None,
            windows: hourly_window(10),
        }),
        ..constant(3)
    };
    let mut j = job(policy, 10);
    let p = &mut j.progress;
    assert_eq!(
        p.status,
        JobStatus::Scheduled,
        "SCHEDULED until a window opens"
    );
    let open = Timestamp(1_700_002_800_000); // 23:00
    assert_eq!(p.rollout.wake_at, Some(open));
    assert_eq!(p.rollout_allowance(T0), 0);
    assert_eq!(p.schedule_event(open), Some(ScheduleEvent::Started));
    let steps = drive(p, open, Timestamp(open.millis() + 9 * MIN));
    // 3 per minute inside the window: 10 targets take minutes 0-3 of it.
    assert_eq!(steps.len(), 4);
    assert_eq!(steps.iter().map(|s| s.1).sum::<i64>(), 10);
    // The window closes at 23:10: SCHEDULED until midnight.
    let close = Timestamp(open.millis() + 10 * MIN);
    assert_eq!(p.next_wake(Timestamp(open.millis() + 5 * MIN)), Some(close));
    assert_eq!(p.schedule_event(close), Some(ScheduleEvent::WindowClosed));
    assert_eq!(p.status, JobStatus::Scheduled);
    assert!(p.is_running(), "executions still run between windows");
    assert_eq!(
        p.next_wake(close),
        Some(Timestamp(open.millis() + 60 * MIN))
    );
}

#[test]
fn a_window_rollout_waits_for_the_next_window_when_one_is_not_enough() {
    let policy = JobPolicy {
        schedule: Some(Schedule {
            start: None,
            end: None,
            end_behavior: None,
            windows: hourly_window(2),
        }),
        ..constant(1)
    };
    let mut p = job(policy, 5).progress;
    let open = Timestamp(1_700_002_800_000);
    let mut created = Vec::new();
    let mut now = T0;
    while let Some(w) = p.next_wake(now) {
        if p.rollout.waiting == 0 && p.status != JobStatus::InProgress {
            break;
        }
        now = w;
        p.schedule_event(now);
        let n = p.rollout_allowance(now);
        p.record_rollout(n, n, now);
        if n > 0 {
            created.push((now.millis() - open.millis()) / MIN);
        }
        if p.rollout.waiting == 0 {
            break;
        }
    }
    // 1 per minute, 2 minutes per hourly window: minutes 0, 1, 60, 61, 120.
    assert_eq!(created, vec![0, 1, 60, 61, 120]);
}
