//! The storage conformance suite: one set of checks that every backend must pass
//! unchanged, so that backends cannot drift apart.
//!
//! Each check takes a fresh, empty store. Backends run them through
//! [`conformance_tests!`](crate::conformance_tests), which expands to one `#[tokio::test]`
//! per check.

use iotjobs_core::store::{ExecutionSelector, Store};
use iotjobs_core::{
    ExecutionCommand, JobExecutionStatus, JobStatus, JobsError, NewJob, NewThing, TargetSelection,
    Timestamp,
};
use std::collections::BTreeMap;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn thing(name: &str) -> NewThing {
    NewThing {
        thing_name: name.into(),
        thing_type_name: None,
        attributes: [("model".to_string(), "x1".to_string())].into(),
        billing_group_name: None,
    }
}

fn job(id: &str, things: &[&str]) -> NewJob {
    NewJob {
        job_id: id.into(),
        targets: things
            .iter()
            .map(|t| format!("arn:aws:iot:us-east-1:000000000000:thing/{t}"))
            .collect(),
        target_things: things.iter().map(|t| t.to_string()).collect(),
        document: Some(r#"{"op":"install"}"#.into()),
        document_source: None,
        description: Some("d".into()),
        target_selection: TargetSelection::Snapshot,
        in_progress_timeout_minutes: Some(30),
        configs: BTreeMap::from([(
            "timeoutConfig".to_string(),
            r#"{"inProgressTimeoutInMinutes":30}"#.to_string(),
        )]),
    }
}

fn exact(thing: &str, job: &str) -> ExecutionSelector {
    ExecutionSelector::Exact {
        thing_name: thing.into(),
        job_id: job.into(),
        execution_number: None,
    }
}

fn cancel(force: bool, expected_version: Option<i64>) -> ExecutionCommand {
    ExecutionCommand::Cancel {
        force,
        expected_version,
        status_details: None,
    }
}

async fn setup<S: Store>(s: &S, things: &[&str], jobs: &[(&str, &[&str])]) {
    for t in things {
        s.create_thing(thing(t), format!("id-{t}"), T0)
            .await
            .unwrap();
    }
    for (j, targets) in jobs {
        s.create_job(job(j, targets), T0).await.unwrap();
    }
}

pub async fn create_thing_is_insert_if_absent<S: Store>(s: S) {
    let (t, created) = s
        .create_thing(thing("t1"), "id-1".into(), T0)
        .await
        .unwrap();
    assert!(created);
    assert_eq!((t.version, t.thing_id.as_str()), (1, "id-1"));
    let (again, created) = s
        .create_thing(thing("t1"), "id-2".into(), T0)
        .await
        .unwrap();
    assert!(!created, "second insert returns the existing thing");
    assert_eq!(again.thing_id, "id-1");
    let read = s.describe_thing("t1").await.unwrap().unwrap();
    assert_eq!(read, t);
    assert_eq!(s.describe_thing("nope").await.unwrap(), None);
}

pub async fn create_job_queues_one_execution_per_thing<S: Store>(s: S) {
    setup(&s, &["t1", "t2"], &[("j1", &["t1", "t2"])]).await;
    let j = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(j.progress.status, JobStatus::InProgress);
    assert_eq!(j.progress.process_details.queued, 2);
    assert_eq!(j.document.as_deref(), Some(r#"{"op":"install"}"#));
    assert_eq!(j.configs.get("timeoutConfig").map(String::len), Some(33));
    assert_eq!(j.targets.len(), 2);
    let e = s
        .describe_job_execution(&exact("t2", "j1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.status, JobExecutionStatus::Queued);
    assert_eq!((e.version_number, e.execution_number), (1, 1));
    assert_eq!(e.queued_at, T0);
}

pub async fn create_job_rejects_duplicates_and_unknown_things<S: Store>(s: S) {
    setup(&s, &["t1"], &[("j1", &["t1"])]).await;
    let err = s.create_job(job("j1", &["t1"]), T0).await.unwrap_err();
    assert!(matches!(err, JobsError::AlreadyExists { .. }), "{err:?}");
    let err = s
        .create_job(job("j2", &["t1", "ghost"]), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, JobsError::NotFound(_)), "{err:?}");
    // Nothing of the failed job was stored.
    assert_eq!(s.describe_job("j2").await.unwrap(), None);
    assert_eq!(
        s.describe_job_execution(&exact("t1", "j2")).await.unwrap(),
        None
    );
}

pub async fn cancel_updates_execution_and_counters_atomically<S: Store>(s: S) {
    setup(&s, &["t1", "t2"], &[("j1", &["t1", "t2"])]).await;
    let now = T0.plus_minutes(1);
    let applied = s
        .update_job_execution(exact("t1", "j1"), cancel(false, Some(1)), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.execution.status, JobExecutionStatus::Canceled);
    assert_eq!(applied.execution.version_number, 2);
    assert_eq!(applied.job.process_details.canceled, 1);
    let stored = s
        .describe_job_execution(&exact("t1", "j1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, applied.execution);
    assert_eq!(stored.last_updated_at, now);
    let j = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(
        (
            j.progress.process_details.queued,
            j.progress.process_details.canceled
        ),
        (1, 1)
    );
    assert_eq!(j.progress.status, JobStatus::InProgress);

    // The last pending execution completes the SNAPSHOT job.
    s.update_job_execution(exact("t2", "j1"), cancel(true, None), now)
        .await
        .unwrap();
    let j = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(j.progress.status, JobStatus::Completed);
    assert_eq!(j.progress.completed_at, Some(now));
}

pub async fn rejected_commands_change_nothing<S: Store>(s: S) {
    setup(&s, &["t1"], &[("j1", &["t1"])]).await;
    let before = s.describe_job("j1").await.unwrap().unwrap();
    let err = s
        .update_job_execution(exact("t1", "j1"), cancel(false, Some(9)), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, JobsError::VersionMismatch { found: 1, .. }));
    s.update_job_execution(exact("t1", "j1"), cancel(false, None), T0)
        .await
        .unwrap();
    let err = s
        .update_job_execution(exact("t1", "j1"), cancel(true, None), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, JobsError::InvalidStateTransition { .. }));
    let e = s
        .describe_job_execution(&exact("t1", "j1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.version_number, 2, "only the successful cancel bumped it");
    let after = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(after.progress.process_details.canceled, 1);
    assert_eq!(after.document, before.document);
}

pub async fn missing_execution_is_not_found<S: Store>(s: S) {
    setup(&s, &["t1", "t2"], &[("j1", &["t1"])]).await;
    for (thing, job) in [("t1", "nojob"), ("ghost", "j1"), ("t2", "j1")] {
        let err = s
            .update_job_execution(exact(thing, job), cancel(false, None), T0)
            .await
            .unwrap_err();
        assert!(
            matches!(err, JobsError::NotFound(_)),
            "{thing}/{job}: {err:?}"
        );
    }
    let none = s
        .update_job_execution(
            ExecutionSelector::NextPending {
                thing_name: "t2".into(),
            },
            ExecutionCommand::StartNext {
                status_details: None,
                step_timeout_in_minutes: None,
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(none, None, "nothing pending for t2");
}

pub async fn next_pending_prefers_in_progress_then_oldest<S: Store>(s: S) {
    setup(&s, &["t1"], &[]).await;
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        s.create_job(job(id, &["t1"]), T0.plus_minutes(i as i64))
            .await
            .unwrap();
    }
    let next = ExecutionSelector::NextPending {
        thing_name: "t1".into(),
    };
    let e = s.describe_job_execution(&next).await.unwrap().unwrap();
    assert_eq!(e.job_id, "a", "oldest QUEUED first");
    // Start "b" explicitly: the IN_PROGRESS one now comes first.
    s.update_job_execution(
        exact("t1", "b"),
        ExecutionCommand::DeviceUpdate {
            status: JobExecutionStatus::InProgress,
            expected_version: None,
            status_details: None,
            step_timeout_in_minutes: None,
        },
        T0.plus_minutes(5),
    )
    .await
    .unwrap();
    let e = s.describe_job_execution(&next).await.unwrap().unwrap();
    assert_eq!(e.job_id, "b");
    let pending = s.get_pending_job_executions("t1", 10).await.unwrap();
    let ids: Vec<_> = pending.iter().map(|e| e.job_id.as_str()).collect();
    assert_eq!(ids, ["b", "a", "c"]);
    let limited = s.get_pending_job_executions("t1", 1).await.unwrap();
    assert_eq!(limited.len(), 2, "limit applies per status");

    // StartNext on an IN_PROGRESS execution changes nothing.
    let applied = s
        .update_job_execution(
            next.clone(),
            ExecutionCommand::StartNext {
                status_details: Some([("k".to_string(), "v".to_string())].into()),
                step_timeout_in_minutes: None,
            },
            T0.plus_minutes(6),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.execution.job_id, "b");
    assert_eq!(applied.execution.version_number, 2);
    assert!(applied.execution.status_details.is_empty());
    assert_eq!(
        applied.execution.in_progress_deadline,
        Some(T0.plus_minutes(35))
    );
}

pub async fn device_update_after_forced_cancel_is_rejected<S: Store>(s: S) {
    setup(&s, &["t1"], &[("j1", &["t1"])]).await;
    let update = |status, version| ExecutionCommand::DeviceUpdate {
        status,
        expected_version: Some(version),
        status_details: None,
        step_timeout_in_minutes: None,
    };
    s.update_job_execution(
        exact("t1", "j1"),
        update(JobExecutionStatus::InProgress, 1),
        T0,
    )
    .await
    .unwrap();
    s.update_job_execution(exact("t1", "j1"), cancel(true, Some(2)), T0)
        .await
        .unwrap();
    let err = s
        .update_job_execution(
            exact("t1", "j1"),
            update(JobExecutionStatus::Succeeded, 2),
            T0,
        )
        .await
        .unwrap_err();
    let JobsError::InvalidStateTransition {
        state: Some(st), ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (st.status, st.version_number),
        (JobExecutionStatus::Canceled, 3)
    );
    let e = s
        .describe_job_execution(&exact("t1", "j1"))
        .await
        .unwrap()
        .unwrap();
    assert!(e.force_canceled);
}

pub async fn delete_removes_record_and_counts<S: Store>(s: S) {
    setup(&s, &["t1", "t2"], &[("j1", &["t1", "t2"])]).await;
    let applied = s
        .update_job_execution(
            exact("t1", "j1"),
            ExecutionCommand::Delete { force: false },
            T0,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!applied.exists);
    assert_eq!(
        s.describe_job_execution(&exact("t1", "j1")).await.unwrap(),
        None
    );
    let j = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(j.progress.process_details.queued, 1);
}

/// Expand to one `#[tokio::test]` per conformance check, each given a fresh store made
/// by `$make` (an expression evaluating to a store).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            create_thing_is_insert_if_absent,
            create_job_queues_one_execution_per_thing,
            create_job_rejects_duplicates_and_unknown_things,
            cancel_updates_execution_and_counters_atomically,
            rejected_commands_change_nothing,
            missing_execution_is_not_found,
            next_pending_prefers_in_progress_then_oldest,
            device_update_after_forced_cancel_is_rejected,
            delete_removes_record_and_counts,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}
