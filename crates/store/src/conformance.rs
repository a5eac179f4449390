//! The storage conformance suite: one set of checks that every backend must pass
//! unchanged, so that backends cannot drift apart.
//!
//! Each check takes a fresh, empty store. Backends run them through
//! [`conformance_tests!`](crate::conformance_tests), which expands to one `#[tokio::test]`
//! per check.

use iotjobs_core::store::{ExecutionSelector, JobFilter, Store, ThingFilter};
use iotjobs_core::{
    AttributeUpdate, ExecutionCommand, JobExecutionStatus, JobStatus, JobsError, NewJob, NewThing,
    NewThingGroup, PageRequest, TargetSelection, ThingGroupFilter, ThingGroupUpdate, ThingUpdate,
    Timestamp,
};
use iotjobs_core::{CertificateStatus, NewCertificate, ThingPrincipalType};
use std::collections::BTreeMap;

mod rollouts;
mod templates;
pub use rollouts::*;
pub use templates::*;

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
        target_groups: vec![],
        document: Some(r#"{"op":"install"}"#.into()),
        document_source: None,
        description: Some("d".into()),
        target_selection: TargetSelection::Snapshot,
        in_progress_timeout_minutes: Some(30),
        policy: Default::default(),
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

/// Test fixture: a thing without type or attributes.
pub fn bare_thing(name: &str) -> NewThing {
    NewThing {
        thing_name: name.into(),
        thing_type_name: None,
        attributes: Default::default(),
        billing_group_name: None,
    }
}

/// Test fixture for the backends' own tests: things named `names` (no attributes) and a
/// SNAPSHOT job `job_id` targeting all of them, created at `now`.
pub async fn seed_job_over_things<S: Store>(s: &S, job_id: &str, names: &[String], now: Timestamp) {
    for n in names {
        s.create_thing(bare_thing(n), n.clone(), now).await.unwrap();
    }
    let new = NewJob {
        job_id: job_id.into(),
        targets: vec![],
        target_things: names.to_vec(),
        target_groups: vec![],
        document: None,
        document_source: None,
        description: None,
        target_selection: TargetSelection::Snapshot,
        in_progress_timeout_minutes: None,
        policy: Default::default(),
        configs: Default::default(),
    };
    s.create_job(new, now).await.unwrap();
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

fn group(name: &str, parent: Option<&str>) -> NewThingGroup {
    NewThingGroup {
        group_name: name.into(),
        parent_group_name: parent.map(Into::into),
        description: None,
        attributes: Default::default(),
        tags: None,
    }
}

fn group_job(id: &str, groups: &[&str], selection: TargetSelection) -> NewJob {
    let mut j = job(id, &[]);
    j.targets = groups
        .iter()
        .map(|g| format!("arn:aws:iot:us-east-1:000000000000:thinggroup/{g}"))
        .collect();
    j.target_groups = groups.iter().map(|g| g.to_string()).collect();
    j.target_selection = selection;
    j
}

fn page(after: Option<String>, limit: usize) -> PageRequest {
    PageRequest { after, limit }
}

async fn status_of<S: Store>(s: &S, thing: &str, job: &str) -> Option<(JobExecutionStatus, i64)> {
    s.describe_job_execution(&exact(thing, job))
        .await
        .unwrap()
        .map(|e| (e.status, e.execution_number))
}

pub async fn thing_groups_nest_and_list<S: Store>(s: S) {
    setup(&s, &["a", "b", "c"], &[]).await;
    let (root, created) = s
        .create_thing_group(group("root", None), "g1".into(), T0)
        .await
        .unwrap();
    assert!(created && root.root_to_parent.is_empty());
    let (_, again) = s
        .create_thing_group(group("root", None), "g9".into(), T0)
        .await
        .unwrap();
    assert!(!again);
    let (child, _) = s
        .create_thing_group(group("child", Some("root")), "g2".into(), T0)
        .await
        .unwrap();
    assert_eq!(child.root_to_parent, ["root"]);
    let (leaf, _) = s
        .create_thing_group(group("leaf", Some("child")), "g3".into(), T0)
        .await
        .unwrap();
    assert_eq!(leaf.root_to_parent, ["root", "child"]);
    let err = s
        .create_thing_group(group("orphan", Some("nope")), "g4".into(), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, JobsError::NotFound(_)));

    s.add_thing_to_thing_group("root", "a", T0).await.unwrap();
    s.add_thing_to_thing_group("leaf", "b", T0).await.unwrap();
    s.add_thing_to_thing_group("leaf", "b", T0).await.unwrap();
    let direct = s
        .list_things_in_thing_group("root", false, page(None, 10))
        .await
        .unwrap();
    assert_eq!(direct.items, ["a"]);
    let all = s
        .list_things_in_thing_group("root", true, page(None, 1))
        .await
        .unwrap();
    assert_eq!(all.items, ["a"]);
    let rest = s
        .list_things_in_thing_group("root", true, page(all.next, 1))
        .await
        .unwrap();
    assert_eq!(
        (rest.items.as_slice(), rest.next),
        (&["b".to_string()][..], None)
    );
    assert!(matches!(
        s.add_thing_to_thing_group("nope", "a", T0).await,
        Err(JobsError::NotFound(_))
    ));
    assert!(matches!(
        s.add_thing_to_thing_group("root", "ghost", T0).await,
        Err(JobsError::NotFound(_))
    ));
    s.remove_thing_from_thing_group("root", "a", T0)
        .await
        .unwrap();
    let direct = s
        .list_things_in_thing_group("root", false, page(None, 10))
        .await
        .unwrap();
    assert!(direct.items.is_empty());
}

pub async fn a_thing_joins_at_most_ten_groups<S: Store>(s: S) {
    setup(&s, &["a"], &[]).await;
    for i in 0..11 {
        let name = format!("g{i}");
        s.create_thing_group(group(&name, None), name.clone(), T0)
            .await
            .unwrap();
        let r = s.add_thing_to_thing_group(&name, "a", T0).await;
        assert_eq!(r.is_ok(), i < 10, "group {i}: {r:?}");
    }
}

pub async fn group_targets_expand_at_creation<S: Store>(s: S) {
    setup(&s, &["a", "b", "c", "d"], &[]).await;
    s.create_thing_group(group("fleet", None), "g1".into(), T0)
        .await
        .unwrap();
    s.create_thing_group(group("sub", Some("fleet")), "g2".into(), T0)
        .await
        .unwrap();
    s.add_thing_to_thing_group("fleet", "a", T0).await.unwrap();
    s.add_thing_to_thing_group("sub", "b", T0).await.unwrap();
    let mut j = group_job("j1", &["fleet"], TargetSelection::Snapshot);
    // A thing targeted directly and through the group gets one execution.
    j.target_things = vec!["a".into(), "c".into()];
    let created = s.create_job(j, T0).await.unwrap();
    assert_eq!(created.progress.process_details.queued, 3);
    for t in ["a", "b", "c"] {
        assert_eq!(
            status_of(&s, t, "j1").await,
            Some((JobExecutionStatus::Queued, 1))
        );
    }
    assert_eq!(status_of(&s, "d", "j1").await, None);
    // SNAPSHOT: a later member gets nothing.
    s.add_thing_to_thing_group("fleet", "d", T0).await.unwrap();
    assert_eq!(status_of(&s, "d", "j1").await, None);
    let err = s
        .create_job(group_job("j2", &["nope"], TargetSelection::Snapshot), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, JobsError::NotFound(_)));
    let filtered = s
        .list_jobs(
            &JobFilter {
                thing_group_name: Some("fleet".into()),
                ..Default::default()
            },
            page(None, 10),
        )
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 1);
}

pub async fn continuous_jobs_follow_group_membership<S: Store>(s: S) {
    setup(&s, &["a", "b"], &[]).await;
    s.create_thing_group(group("fleet", None), "g1".into(), T0)
        .await
        .unwrap();
    s.create_thing_group(group("sub", Some("fleet")), "g2".into(), T0)
        .await
        .unwrap();
    s.add_thing_to_thing_group("fleet", "a", T0).await.unwrap();
    s.create_job(group_job("j1", &["fleet"], TargetSelection::Continuous), T0)
        .await
        .unwrap();
    // Joining a descendant group of a target counts.
    s.add_thing_to_thing_group("sub", "b", T0).await.unwrap();
    assert_eq!(
        status_of(&s, "b", "j1").await,
        Some((JobExecutionStatus::Queued, 1))
    );
    let j = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(j.progress.process_details.queued, 2);
    // Leaving: the QUEUED execution becomes REMOVED.
    s.remove_thing_from_thing_group("sub", "b", T0)
        .await
        .unwrap();
    assert_eq!(
        status_of(&s, "b", "j1").await,
        Some((JobExecutionStatus::Removed, 1))
    );
    // Coming back starts a new execution.
    s.add_thing_to_thing_group("fleet", "b", T0).await.unwrap();
    assert_eq!(
        status_of(&s, "b", "j1").await,
        Some((JobExecutionStatus::Queued, 2))
    );
    // Not twice in one hierarchy (AWS "Static thing groups").
    assert!(matches!(
        s.add_thing_to_thing_group("sub", "b", T0).await,
        Err(JobsError::InvalidRequest(_))
    ));
    let j = s.describe_job("j1").await.unwrap().unwrap();
    let d = j.progress.process_details;
    assert_eq!((d.queued, d.removed), (2, 1));
    assert_eq!(
        j.progress.status,
        JobStatus::InProgress,
        "CONTINUOUS never completes"
    );

    // Still targeted through another targeted group: leaving one keeps the execution.
    s.create_thing_group(group("other", None), "g3".into(), T0)
        .await
        .unwrap();
    s.create_job(
        group_job("j2", &["fleet", "other"], TargetSelection::Continuous),
        T0,
    )
    .await
    .unwrap();
    s.add_thing_to_thing_group("other", "b", T0).await.unwrap();
    s.remove_thing_from_thing_group("other", "b", T0)
        .await
        .unwrap();
    assert_eq!(
        status_of(&s, "b", "j2").await,
        Some((JobExecutionStatus::Queued, 1))
    );
    s.remove_thing_from_thing_group("fleet", "b", T0)
        .await
        .unwrap();
    assert_eq!(
        status_of(&s, "b", "j2").await,
        Some((JobExecutionStatus::Removed, 1))
    );
}

pub async fn cancel_job_cancels_queued_and_forced_in_progress<S: Store>(s: S) {
    setup(&s, &["q", "p", "d"], &[("j1", &["q", "p", "d"])]).await;
    let start = ExecutionCommand::DeviceUpdate {
        status: JobExecutionStatus::InProgress,
        expected_version: None,
        status_details: None,
        step_timeout_in_minutes: None,
    };
    s.update_job_execution(exact("p", "j1"), start.clone(), T0)
        .await
        .unwrap();
    s.update_job_execution(exact("d", "j1"), start, T0)
        .await
        .unwrap();
    s.update_job_execution(
        exact("d", "j1"),
        ExecutionCommand::DeviceUpdate {
            status: JobExecutionStatus::Succeeded,
            expected_version: None,
            status_details: None,
            step_timeout_in_minutes: None,
        },
        T0,
    )
    .await
    .unwrap();
    let job = s
        .cancel_job(
            "j1",
            false,
            Some("RECALL".into()),
            Some("bad build".into()),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(job.progress.status, JobStatus::Canceled);
    assert_eq!(job.reason_code.as_deref(), Some("RECALL"));
    let d = job.progress.process_details;
    assert_eq!(
        (d.queued, d.in_progress, d.succeeded, d.canceled),
        (0, 1, 1, 1)
    );
    assert_eq!(
        status_of(&s, "p", "j1").await.unwrap().0,
        JobExecutionStatus::InProgress
    );
    // Canceling again without force: refused. With force: upgrades.
    assert!(matches!(
        s.cancel_job("j1", false, None, None, T0).await,
        Err(JobsError::InvalidRequest(_))
    ));
    let job = s.cancel_job("j1", true, None, None, T0).await.unwrap();
    assert!(job.force_canceled);
    assert_eq!(job.reason_code.as_deref(), Some("RECALL"), "kept");
    let d = job.progress.process_details;
    assert_eq!((d.in_progress, d.succeeded, d.canceled), (0, 1, 2));
    let e = s
        .describe_job_execution(&exact("p", "j1"))
        .await
        .unwrap()
        .unwrap();
    assert!(e.force_canceled);
    assert!(matches!(
        s.cancel_job("nope", false, None, None, T0).await,
        Err(JobsError::NotFound(_))
    ));
}

/// CancelJob over more executions than one of its transactions covers: each execution in
/// a status the cancel covers ends as the state machine makes it (`apply` on what it was),
/// the others stay as they were, the counters add up, and the change listener hears of
/// every canceled execution's thing, with the execution that left its pending list, and
/// of a `canceled` event for each.
pub async fn bulk_cancel_changes_each_execution_as_the_state_machine_does<S: Store>(s: S) {
    use iotjobs_core::{ChangeNotice, JobExecution, JobsEvent, apply};
    const N: usize = crate::ops::CANCEL_CHUNK + 100;
    let names: Vec<String> = (0..N).map(|i| format!("t{i:05}")).collect();
    seed_job_over_things(&s, "j1", &names, T0).await;
    let device = |status, step| ExecutionCommand::DeviceUpdate {
        status,
        expected_version: None,
        status_details: Some([("k".to_string(), "v".to_string())].into()),
        step_timeout_in_minutes: step,
    };
    // In progress (with a step timer) on both sides of the first chunk's end; one
    // finished; one canceled already.
    for i in [3, N - 50, N - 1] {
        let cmd = device(JobExecutionStatus::InProgress, Some(30));
        s.update_job_execution(exact(&names[i], "j1"), cmd, T0)
            .await
            .unwrap();
    }
    s.update_job_execution(
        exact(&names[7], "j1"),
        device(JobExecutionStatus::InProgress, None),
        T0,
    )
    .await
    .unwrap();
    s.update_job_execution(
        exact(&names[7], "j1"),
        device(JobExecutionStatus::Succeeded, None),
        T0,
    )
    .await
    .unwrap();
    s.update_job_execution(exact(&names[9], "j1"), cancel(false, None), T0)
        .await
        .unwrap();
    let all = || {
        let s = &s;
        async move {
            let mut out: Vec<JobExecution> = Vec::new();
            let mut p = page(None, 1000);
            loop {
                let got = s
                    .list_job_executions_for_job("j1", None, p.clone())
                    .await
                    .unwrap();
                out.extend(got.items);
                match got.next {
                    Some(next) => p.after = Some(next),
                    None => return out,
                }
            }
        }
    };
    let before = all().await;
    assert_eq!(before.len(), N);
    let seen = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), 0usize)));
    let sink = seen.clone();
    s.set_change_listener(std::sync::Arc::new(move |notice: ChangeNotice<'_>| {
        let ChangeNotice::Committed { things, events } = notice else {
            panic!("a single store never resyncs");
        };
        let mut seen = sink.lock().unwrap();
        seen.0.extend(things.iter().cloned());
        seen.1 += events
            .iter()
            .filter(|e| {
                matches!(e, JobsEvent::JobExecution { operation, .. }
                if operation.as_str() == "canceled")
            })
            .count();
    }));
    let at = T0.plus_minutes(1);
    let job = s.cancel_job("j1", true, None, None, at).await.unwrap();
    let after = all().await;
    let cmd = cancel(true, None);
    let mut canceled = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (&b.thing_name, b.execution_number),
            (&a.thing_name, a.execution_number)
        );
        if b.status.is_pending() {
            assert_eq!(
                apply(b, &cmd, None, at),
                Ok(iotjobs_core::Change::Update(a.clone())),
                "{}",
                b.thing_name
            );
            canceled.push(b.thing_name.clone());
        } else {
            assert_eq!(a, b, "not pending: unchanged");
        }
    }
    assert_eq!(canceled.len(), N - 2);
    let d = job.progress.process_details;
    assert_eq!(
        (d.queued, d.in_progress, d.succeeded, d.canceled),
        (0, 0, 1, N as i64 - 1)
    );
    let (things, events) = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(events, N - 2);
    let mut heard: Vec<String> = things
        .iter()
        .map(|t| {
            assert_eq!(
                t.left_pending,
                Some(vec![("j1".to_string(), 1)]),
                "{}",
                t.thing
            );
            t.thing.clone()
        })
        .collect();
    heard.sort();
    assert_eq!(heard, canceled);
}

pub async fn delete_job_is_limited_then_swept<S: Store>(s: S) {
    setup(&s, &["t"], &[]).await;
    for i in 0..12 {
        let id = format!("j{i}");
        s.create_job(job(&id, &["t"]), T0).await.unwrap();
    }
    let err = s.delete_job("j0", false, T0).await.unwrap_err();
    assert!(
        matches!(err, JobsError::InvalidStateTransition { .. }),
        "{err:?}"
    );
    for i in 0..10 {
        s.delete_job(&format!("j{i}"), true, T0).await.unwrap();
    }
    let err = s.delete_job("j10", true, T0).await.unwrap_err();
    assert!(matches!(err, JobsError::LimitExceeded(_)), "{err:?}");
    let err = s.delete_job("j0", true, T0).await.unwrap_err();
    assert!(matches!(err, JobsError::InvalidStateTransition { .. }));
    let j0 = s.describe_job("j0").await.unwrap().unwrap();
    assert_eq!(j0.progress.status, JobStatus::DeletionInProgress);

    let report = s.sweep(T0, 1000).await.unwrap();
    assert_eq!((report.deleted_jobs, report.purged_executions), (10, 10));
    assert_eq!(s.describe_job("j0").await.unwrap(), None);
    assert_eq!(
        s.describe_job_execution(&exact("t", "j0")).await.unwrap(),
        None
    );
    assert!(s.sweep(T0, 1000).await.unwrap().is_idle());
    // The id is free again.
    s.create_job(job("j0", &["t"]), T0).await.unwrap();
    s.delete_job("j10", true, T0).await.unwrap();
}

/// The sweep's purge of a force-deleted job tells the change listener which things lost
/// a pending execution (their devices get notify / notify-next, as for a cancel), and
/// says nothing of an execution that was no longer pending.
pub async fn purging_a_deleted_job_reports_pending_executions<S: Store>(s: S) {
    setup(&s, &["a", "b", "c"], &[("j1", &["a", "b", "c"])]).await;
    s.update_job_execution(
        exact("b", "j1"),
        ExecutionCommand::DeviceUpdate {
            status: JobExecutionStatus::InProgress,
            expected_version: None,
            status_details: None,
            step_timeout_in_minutes: None,
        },
        T0,
    )
    .await
    .unwrap();
    s.update_job_execution(
        exact("c", "j1"),
        ExecutionCommand::Cancel {
            force: false,
            expected_version: None,
            status_details: None,
        },
        T0,
    )
    .await
    .unwrap();
    s.delete_job("j1", true, T0).await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    s.set_change_listener(std::sync::Arc::new(
        move |notice: iotjobs_core::ChangeNotice<'_>| {
            let iotjobs_core::ChangeNotice::Committed { things, .. } = notice else {
                panic!("a single store never resyncs");
            };
            sink.lock().unwrap().extend(things.iter().cloned());
        },
    ));
    let report = s.sweep(T0, 1000).await.unwrap();
    assert_eq!((report.deleted_jobs, report.purged_executions), (1, 3));
    let mut heard: Vec<_> = std::mem::take(&mut *seen.lock().unwrap())
        .into_iter()
        .map(|t| (t.thing, t.left_pending))
        .collect();
    heard.sort();
    let left = Some(vec![("j1".to_string(), 1)]);
    assert_eq!(
        heard,
        vec![("a".to_string(), left.clone()), ("b".to_string(), left)]
    );
}

pub async fn sweep_times_out_expired_executions<S: Store>(s: S) {
    setup(&s, &["a", "b"], &[("j1", &["a", "b"])]).await;
    for t in ["a", "b"] {
        s.update_job_execution(
            exact(t, "j1"),
            ExecutionCommand::DeviceUpdate {
                status: JobExecutionStatus::InProgress,
                expected_version: None,
                status_details: None,
                // "a" has a 5 minute step timer; both have the job's 30 minute timer.
                step_timeout_in_minutes: (t == "a").then_some(5),
            },
            T0,
        )
        .await
        .unwrap();
    }
    assert!(s.sweep(T0.plus_minutes(4), 100).await.unwrap().is_idle());
    let r = s.sweep(T0.plus_minutes(5), 100).await.unwrap();
    assert_eq!(r.timed_out, 1);
    assert_eq!(
        status_of(&s, "a", "j1").await.unwrap().0,
        JobExecutionStatus::TimedOut
    );
    assert_eq!(
        status_of(&s, "b", "j1").await.unwrap().0,
        JobExecutionStatus::InProgress
    );
    let r = s.sweep(T0.plus_minutes(30), 100).await.unwrap();
    assert_eq!(r.timed_out, 1);
    let j = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(j.progress.process_details.timed_out, 2);
    assert_eq!(j.progress.status, JobStatus::Completed);
}

pub async fn executions_page_by_key_even_while_inserting<S: Store>(s: S) {
    let things: Vec<String> = (0..25).map(|i| format!("t{i:02}")).collect();
    let mut refs: Vec<&str> = things.iter().map(String::as_str).collect();
    refs.push("early");
    setup(&s, &refs, &[]).await;
    s.create_thing_group(group("g", None), "g".into(), T0)
        .await
        .unwrap();
    for t in &refs[..20] {
        s.add_thing_to_thing_group("g", t, T0).await.unwrap();
    }
    s.create_job(group_job("j", &["g"], TargetSelection::Continuous), T0)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let p = s
            .list_job_executions_for_job("j", None, page(after, 7))
            .await
            .unwrap();
        seen.extend(p.items.iter().map(|e| e.thing_name.clone()));
        pages += 1;
        if pages == 2 {
            // New executions appear mid-listing: two after the cursor (they are
            // listed) and one before it (it is not, and nothing shifts).
            s.add_thing_to_thing_group("g", "t20", T0).await.unwrap();
            s.add_thing_to_thing_group("g", "t24", T0).await.unwrap();
            s.add_thing_to_thing_group("g", "early", T0).await.unwrap();
        }
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut expected: Vec<String> = things[..20].to_vec();
    expected.extend(["t20".to_string(), "t24".to_string()]);
    assert_eq!(seen, expected, "no duplicate, none missing, in key order");
    let queued = s
        .list_job_executions_for_job("j", Some(JobExecutionStatus::Queued), page(None, 250))
        .await
        .unwrap();
    assert_eq!(queued.items.len(), 23);
    let none = s
        .list_job_executions_for_job("j", Some(JobExecutionStatus::Canceled), page(None, 250))
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next.is_none());
    assert!(matches!(
        s.list_job_executions_for_job("nope", None, page(None, 5))
            .await,
        Err(JobsError::NotFound(_))
    ));
}

pub async fn executions_for_thing_filter_and_page<S: Store>(s: S) {
    setup(
        &s,
        &["t", "u"],
        &[("a", &["t"]), ("b", &["t"]), ("c", &["t", "u"])],
    )
    .await;
    s.update_job_execution(exact("t", "b"), cancel(false, None), T0)
        .await
        .unwrap();
    let p1 = s
        .list_job_executions_for_thing("t", None, None, page(None, 2))
        .await
        .unwrap();
    let ids: Vec<_> = p1.items.iter().map(|e| e.job_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let p2 = s
        .list_job_executions_for_thing("t", None, None, page(p1.next, 2))
        .await
        .unwrap();
    assert_eq!((p2.items.len(), p2.next), (1, None));
    let canceled = s
        .list_job_executions_for_thing("t", Some(JobExecutionStatus::Canceled), None, page(None, 9))
        .await
        .unwrap();
    assert_eq!(canceled.items.len(), 1);
    let only_c = s
        .list_job_executions_for_thing("t", None, Some("c"), page(None, 9))
        .await
        .unwrap();
    assert_eq!(only_c.items.len(), 1);
    assert!(matches!(
        s.list_job_executions_for_thing("ghost", None, None, page(None, 9))
            .await,
        Err(JobsError::NotFound(_))
    ));
    let bad = s
        .list_job_executions_for_thing("t", None, None, page(Some("garbage".into()), 9))
        .await;
    assert!(matches!(bad, Err(JobsError::InvalidRequest(_))));
}

pub async fn delete_thing_removes_pending_executions<S: Store>(s: S) {
    setup(&s, &["t", "u"], &[("a", &["t", "u"]), ("b", &["t"])]).await;
    s.update_job_execution(exact("t", "b"), cancel(false, None), T0)
        .await
        .unwrap();
    let err = s.delete_thing("t", Some(5), T0).await.unwrap_err();
    assert!(matches!(err, JobsError::VersionMismatch { found: 1, .. }));
    s.delete_thing("t", Some(1), T0).await.unwrap();
    assert_eq!(s.describe_thing("t").await.unwrap(), None);
    assert_eq!(
        status_of(&s, "t", "a").await.unwrap().0,
        JobExecutionStatus::Removed
    );
    assert_eq!(
        status_of(&s, "t", "b").await.unwrap().0,
        JobExecutionStatus::Canceled
    );
    let a = s.describe_job("a").await.unwrap().unwrap();
    assert_eq!(
        (
            a.progress.process_details.removed,
            a.progress.process_details.queued
        ),
        (1, 1)
    );
    // Deleting an unknown thing succeeds (DeleteThing model doc).
    s.delete_thing("t", None, T0).await.unwrap();
}

pub async fn list_things_filters_by_attribute<S: Store>(s: S) {
    for (name, model) in [("a", "x1"), ("b", "x2"), ("c", "y1")] {
        let mut t = thing(name);
        t.attributes = [("model".to_string(), model.to_string())].into();
        s.create_thing(t, name.into(), T0).await.unwrap();
    }
    let mut plain = thing("d");
    plain.attributes.clear();
    s.create_thing(plain, "d".into(), T0).await.unwrap();
    let names = |p: iotjobs_core::Page<iotjobs_core::Thing>| {
        p.items
            .into_iter()
            .map(|t| t.thing_name)
            .collect::<Vec<_>>()
    };
    let all = s
        .list_things(&ThingFilter::default(), page(None, 3))
        .await
        .unwrap();
    assert!(all.next.is_some());
    assert_eq!(names(all), ["a", "b", "c"]);
    let f = ThingFilter {
        attribute_name: Some("model".into()),
        attribute_value: Some("x".into()),
        use_prefix_attribute_value: true,
        thing_type_name: None,
    };
    assert_eq!(
        names(s.list_things(&f, page(None, 10)).await.unwrap()),
        ["a", "b"]
    );
    let exact_value = ThingFilter {
        use_prefix_attribute_value: false,
        attribute_value: Some("x2".into()),
        ..f.clone()
    };
    assert_eq!(
        names(s.list_things(&exact_value, page(None, 10)).await.unwrap()),
        ["b"]
    );
    let has = ThingFilter {
        attribute_name: Some("model".into()),
        ..Default::default()
    };
    assert_eq!(
        names(s.list_things(&has, page(None, 10)).await.unwrap()).len(),
        3
    );
}

pub async fn update_and_list_jobs<S: Store>(s: S) {
    setup(&s, &["t"], &[("a", &["t"]), ("b", &["t"])]).await;
    s.update_job(
        "a",
        iotjobs_core::JobUpdate {
            description: Some("new".into()),
            in_progress_timeout_minutes: Some(Some(7)),
            configs: [("abortConfig".to_string(), "{}".to_string())].into(),
            ..Default::default()
        },
        T0.plus_minutes(1),
    )
    .await
    .unwrap();
    let a = s.describe_job("a").await.unwrap().unwrap();
    assert_eq!(a.description.as_deref(), Some("new"));
    assert_eq!(a.progress.in_progress_timeout_minutes, Some(7));
    assert_eq!(a.progress.last_updated_at, T0.plus_minutes(1));
    assert!(a.configs.contains_key("abortConfig") && a.configs.contains_key("timeoutConfig"));
    s.cancel_job("b", false, None, None, T0).await.unwrap();
    let canceled = s
        .list_jobs(
            &JobFilter {
                status: Some(JobStatus::Canceled),
                ..Default::default()
            },
            page(None, 10),
        )
        .await
        .unwrap();
    assert_eq!(canceled.items.len(), 1);
    let first = s
        .list_jobs(&JobFilter::default(), page(None, 1))
        .await
        .unwrap();
    let second = s
        .list_jobs(&JobFilter::default(), page(first.next, 1))
        .await
        .unwrap();
    assert_eq!(second.items[0].job_id(), "b");
    assert_eq!(second.next, None);
}

pub async fn reset_wipes_everything<S: Store>(s: S) {
    setup(&s, &["t"], &[("a", &["t"])]).await;
    s.create_thing_group(group("g", None), "g".into(), T0)
        .await
        .unwrap();
    s.reset().await.unwrap();
    assert_eq!(s.describe_thing("t").await.unwrap(), None);
    assert_eq!(s.describe_job("a").await.unwrap(), None);
    assert_eq!(s.describe_thing_group("g").await.unwrap(), None);
    setup(&s, &["t"], &[("a", &["t"])]).await;
    s.register_certificate(cert("c1"), T0).await.unwrap();
    s.attach_thing_principal("t", "c1", "arn-c1", ThingPrincipalType::NonExclusive, T0)
        .await
        .unwrap();
    s.reset().await.unwrap();
    assert_eq!(s.describe_certificate("c1").await.unwrap(), None);
    setup(&s, &["t"], &[]).await;
    s.register_certificate(cert("c1"), T0).await.unwrap();
    let listed = s.list_thing_principals("t", page(None, 10)).await.unwrap();
    assert!(listed.items.is_empty(), "attachments were wiped");
}

fn cert(id: &str) -> NewCertificate {
    NewCertificate {
        certificate_id: id.into(),
        certificate_pem: format!("-----BEGIN CERTIFICATE-----\n{id}\n-----END CERTIFICATE-----\n"),
        status: CertificateStatus::Active,
        generation_id: format!("gen-{id}"),
        not_before: Some(Timestamp(1_000)),
        not_after: None,
    }
}

/// Register (once), describe, update through the status rules, delete only when
/// deactivated and detached.
pub async fn certificates_register_update_and_delete<S: Store>(s: S) {
    let c = s.register_certificate(cert("c1"), T0).await.unwrap();
    assert_eq!(
        (c.customer_version, c.status),
        (1, CertificateStatus::Active)
    );
    let again = s.register_certificate(cert("c1"), T0).await.unwrap_err();
    assert!(
        matches!(again, JobsError::AlreadyExists { .. }),
        "{again:?}"
    );
    let stored = s.describe_certificate("c1").await.unwrap().unwrap();
    assert_eq!(stored, c);
    assert_eq!(s.describe_certificate("nope").await.unwrap(), None);

    let later = Timestamp(T0.0 + 5_000);
    s.update_certificate("c1", CertificateStatus::Inactive, "g2".into(), later)
        .await
        .unwrap();
    let c = s.describe_certificate("c1").await.unwrap().unwrap();
    assert_eq!(
        (
            c.status,
            c.customer_version,
            c.last_modified_at,
            c.created_at
        ),
        (CertificateStatus::Inactive, 2, later, T0)
    );
    assert_eq!(c.generation_id, "g2");
    let missing = s
        .update_certificate("nope", CertificateStatus::Inactive, "g".into(), later)
        .await
        .unwrap_err();
    assert!(matches!(missing, JobsError::NotFound(_)), "{missing:?}");

    s.update_certificate("c1", CertificateStatus::Active, "g3".into(), later)
        .await
        .unwrap();
    let active = s.delete_certificate("c1", "arn-c1", T0).await.unwrap_err();
    assert!(
        matches!(active, JobsError::CertificateState(_)),
        "{active:?}"
    );

    setup(&s, &["t1"], &[]).await;
    s.attach_thing_principal("t1", "c1", "arn-c1", ThingPrincipalType::NonExclusive, T0)
        .await
        .unwrap();
    s.update_certificate("c1", CertificateStatus::Revoked, "g4".into(), later)
        .await
        .unwrap();
    let revoked = s
        .update_certificate("c1", CertificateStatus::Active, "g5".into(), later)
        .await
        .unwrap_err();
    assert!(
        matches!(revoked, JobsError::CertificateState(_)),
        "{revoked:?}"
    );
    let attached = s.delete_certificate("c1", "arn-c1", T0).await.unwrap_err();
    assert!(
        matches!(&attached, JobsError::DeleteConflict(m) if m.contains("arn-c1")),
        "{attached:?}"
    );
    s.detach_thing_principal("t1", "c1", T0).await.unwrap();
    s.delete_certificate("c1", "arn-c1", T0).await.unwrap();
    assert_eq!(s.describe_certificate("c1").await.unwrap(), None);
    let gone = s.delete_certificate("c1", "arn-c1", T0).await.unwrap_err();
    assert!(matches!(gone, JobsError::NotFound(_)), "{gone:?}");
}

/// ListCertificates pages by creation date, both ways, with ties broken by id.
pub async fn certificates_list_by_creation_date<S: Store>(s: S) {
    for (id, at) in [("b", 2), ("a", 1), ("c", 2), ("d", 3)] {
        s.register_certificate(cert(id), Timestamp(T0.0 + at))
            .await
            .unwrap();
    }
    for (ascending, want) in [(true, ["a", "b", "c", "d"]), (false, ["d", "c", "b", "a"])] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = s
                .list_certificates(ascending, page(after, 3))
                .await
                .unwrap();
            seen.extend(p.items.into_iter().map(|c| c.certificate_id));
            match p.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, want, "ascending={ascending}");
    }
}

/// Attach (idempotent, exclusive), list, detach; a thing with principals cannot be
/// deleted.
pub async fn thing_principals_attach_list_and_detach<S: Store>(s: S) {
    setup(&s, &["t1", "t2"], &[]).await;
    for id in ["c2", "c1", "c3"] {
        s.register_certificate(cert(id), T0).await.unwrap();
    }
    let non = ThingPrincipalType::NonExclusive;
    for id in ["c2", "c1", "c2"] {
        s.attach_thing_principal("t1", id, "arn", non, T0)
            .await
            .unwrap();
    }
    let e = s
        .attach_thing_principal("nope", "c1", "arn", non, T0)
        .await
        .unwrap_err();
    assert!(matches!(e, JobsError::NotFound(_)), "{e:?}");
    let e = s
        .attach_thing_principal("t1", "nope", "arn", non, T0)
        .await
        .unwrap_err();
    assert!(matches!(e, JobsError::NotFound(_)), "{e:?}");
    let first = s.list_thing_principals("t1", page(None, 1)).await.unwrap();
    assert_eq!(first.items, ["c1"]);
    let rest = s
        .list_thing_principals("t1", page(first.next, 10))
        .await
        .unwrap();
    assert_eq!((rest.items, rest.next), (vec!["c2".to_string()], None));
    assert!(
        s.list_thing_principals("nope", page(None, 1))
            .await
            .is_err()
    );

    // c1 on t1 too (non-exclusive) is fine; exclusive c3 on t2 keeps it off t1.
    s.attach_thing_principal("t2", "c1", "arn", non, T0)
        .await
        .unwrap();
    s.attach_thing_principal("t2", "c3", "arn", ThingPrincipalType::Exclusive, T0)
        .await
        .unwrap();
    let e = s
        .attach_thing_principal("t1", "c3", "arn", non, T0)
        .await
        .unwrap_err();
    assert!(matches!(e, JobsError::InvalidRequest(_)), "{e:?}");

    let e = s.delete_thing("t1", None, T0).await.unwrap_err();
    assert!(
        matches!(&e, JobsError::InvalidRequest(m) if m.contains("principals")),
        "{e:?}"
    );
    for id in ["c1", "c2", "c2"] {
        s.detach_thing_principal("t1", id, T0).await.unwrap();
    }
    s.delete_thing("t1", None, T0).await.unwrap();
    assert_eq!(s.describe_thing("t1").await.unwrap(), None);
    let e = s.detach_thing_principal("t1", "c1", T0).await.unwrap_err();
    assert!(matches!(e, JobsError::NotFound(_)), "{e:?}");
}

/// The first account claim wins; another is refused, also after a reset, and the
/// data stays.
pub async fn a_store_belongs_to_the_first_account_that_claims_it<S: Store>(store: S) {
    store.claim_account("111111111111").await.unwrap();
    store
        .create_thing(thing("t1"), "id-1".into(), T0)
        .await
        .unwrap();
    store.claim_account("111111111111").await.unwrap();
    let err = store.claim_account("222222222222").await.unwrap_err();
    assert!(
        matches!(&err, JobsError::InvalidRequest(m) if m.contains("111111111111")),
        "{err:?}"
    );
    assert!(store.describe_thing("t1").await.unwrap().is_some());
    store.reset().await.unwrap();
    assert!(store.claim_account("222222222222").await.is_err());
    store.claim_account("111111111111").await.unwrap();
}

pub async fn update_thing_counts_versions_and_merges_attributes<S: Store>(s: S) {
    setup(&s, &["t1"], &[]).await;
    let merge = |pairs: &[(&str, &str)], merge: bool| ThingUpdate {
        attributes: Some(AttributeUpdate {
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            merge,
        }),
        ..Default::default()
    };
    s.update_thing(
        "t1",
        merge(&[("fw", "2"), ("model", "")], true),
        Some(1),
        T0,
    )
    .await
    .unwrap();
    let t = s.describe_thing("t1").await.unwrap().unwrap();
    assert_eq!(t.version, 2);
    assert_eq!(t.attributes, [("fw".to_string(), "2".to_string())].into());
    assert!(matches!(
        s.update_thing("t1", ThingUpdate::default(), Some(1), T0)
            .await,
        Err(JobsError::VersionMismatch {
            expected: 1,
            found: 2,
            ..
        })
    ));
    s.update_thing("t1", merge(&[("x", "y")], false), None, T0)
        .await
        .unwrap();
    let t = s.describe_thing("t1").await.unwrap().unwrap();
    assert_eq!((t.version, t.attributes.len()), (3, 1));
    assert!(matches!(
        s.update_thing("nope", ThingUpdate::default(), None, T0)
            .await,
        Err(JobsError::NotFound(_))
    ));
}

pub async fn update_and_delete_thing_groups<S: Store>(s: S) {
    setup(&s, &["a"], &[]).await;
    s.create_thing_group(group("root", None), "g1".into(), T0)
        .await
        .unwrap();
    s.create_thing_group(group("leaf", Some("root")), "g2".into(), T0)
        .await
        .unwrap();
    s.add_thing_to_thing_group("leaf", "a", T0).await.unwrap();
    let update = ThingGroupUpdate {
        description: Some("new".into()),
        attributes: None,
    };
    assert_eq!(
        s.update_thing_group("leaf", update.clone(), Some(1), T0)
            .await,
        Ok(2)
    );
    assert!(matches!(
        s.update_thing_group("leaf", update.clone(), Some(1), T0)
            .await,
        Err(JobsError::VersionMismatch { .. })
    ));
    assert!(matches!(
        s.update_thing_group("nope", update, None, T0).await,
        Err(JobsError::NotFound(_))
    ));
    // A group with children cannot go; the version is checked first.
    assert!(matches!(
        s.delete_thing_group("root", Some(9), T0).await,
        Err(JobsError::VersionMismatch { .. })
    ));
    assert!(matches!(
        s.delete_thing_group("root", None, T0).await,
        Err(JobsError::InvalidRequest(m)) if m.contains("child groups")
    ));
    // A CONTINUOUS job on the root: deleting the leaf REMOVEs its member's QUEUED execution.
    s.create_job(group_job("j", &["root"], TargetSelection::Continuous), T0)
        .await
        .unwrap();
    assert_eq!(
        status_of(&s, "a", "j").await,
        Some((JobExecutionStatus::Queued, 1))
    );
    s.delete_thing_group("leaf", Some(2), T0).await.unwrap();
    assert_eq!(
        status_of(&s, "a", "j").await,
        Some((JobExecutionStatus::Removed, 1))
    );
    assert!(s.describe_thing_group("leaf").await.unwrap().is_none());
    let groups = s
        .list_thing_groups_for_thing("a", page(None, 10))
        .await
        .unwrap();
    assert!(groups.items.is_empty());
    // Unknown groups are deleted silently; the root has no children now.
    s.delete_thing_group("leaf", None, T0).await.unwrap();
    s.delete_thing_group("root", None, T0).await.unwrap();
    let j = s.describe_job("j").await.unwrap().unwrap();
    assert_eq!(j.progress.process_details.removed, 1);
}

pub async fn list_thing_groups_by_parent_prefix_and_page<S: Store>(s: S) {
    setup(&s, &["a"], &[]).await;
    for (name, parent) in [
        ("r1", None),
        ("r2", None),
        ("r1-a", Some("r1")),
        ("r1-b", Some("r1")),
        ("r1-a-x", Some("r1-a")),
    ] {
        s.create_thing_group(group(name, parent), name.into(), T0)
            .await
            .unwrap();
    }
    let list = |parent: Option<&str>, prefix: Option<&str>, recursive: bool| {
        let f = ThingGroupFilter {
            parent_group: parent.map(str::to_owned),
            name_prefix: prefix.map(str::to_owned),
            recursive,
        };
        let s = &s;
        async move {
            s.list_thing_groups(&f, page(None, 100))
                .await
                .map(|p| p.items)
        }
    };
    let all = ["r1", "r1-a", "r1-a-x", "r1-b", "r2"];
    assert_eq!(list(None, None, true).await.unwrap(), all);
    assert_eq!(list(None, None, false).await.unwrap(), ["r1", "r2"]);
    assert_eq!(
        list(Some("r1"), None, false).await.unwrap(),
        ["r1-a", "r1-b"]
    );
    assert_eq!(
        list(Some("r1"), None, true).await.unwrap(),
        ["r1-a", "r1-a-x", "r1-b"]
    );
    assert_eq!(
        list(None, Some("r1-a"), true).await.unwrap(),
        ["r1-a", "r1-a-x"]
    );
    assert!(matches!(
        list(Some("nope"), None, true).await,
        Err(JobsError::NotFound(_))
    ));
    let f = ThingGroupFilter {
        recursive: true,
        ..Default::default()
    };
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let p = s.list_thing_groups(&f, page(after, 2)).await.unwrap();
        seen.extend(p.items);
        match p.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    assert_eq!(seen, all);
    s.add_thing_to_thing_group("r2", "a", T0).await.unwrap();
    s.add_thing_to_thing_group("r1-b", "a", T0).await.unwrap();
    let p = s
        .list_thing_groups_for_thing("a", page(None, 1))
        .await
        .unwrap();
    assert_eq!(p.items, ["r1-b"]);
    let p = s
        .list_thing_groups_for_thing("a", page(p.next, 1))
        .await
        .unwrap();
    assert_eq!((p.items, p.next), (vec!["r2".to_string()], None));
    assert!(matches!(
        s.list_thing_groups_for_thing("nope", page(None, 1)).await,
        Err(JobsError::NotFound(_))
    ));
}

pub async fn committed_changes_reach_the_change_listener<S: Store>(s: S) {
    use iotjobs_core::{
        ChangeNotice, JobEventOperation as J, JobExecutionEventOperation as E, ThingChanged,
    };
    // Each notice as (things, events as "job/thing operation" strings).
    type Seen = Vec<(Vec<ThingChanged>, Vec<String>)>;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::new()));
    let sink = seen.clone();
    s.set_change_listener(std::sync::Arc::new(move |notice: ChangeNotice<'_>| {
        let ChangeNotice::Committed { things, events } = notice else {
            panic!("a single store never resyncs");
        };
        let events = events
            .iter()
            .map(|e| match e {
                iotjobs_core::JobsEvent::Job { operation, job, .. } => {
                    format!("{} {}", job.progress.job_id, operation.as_str())
                }
                iotjobs_core::JobsEvent::JobExecution {
                    operation,
                    execution,
                    ..
                } => format!(
                    "{}/{} {}",
                    execution.job_id,
                    execution.thing_name,
                    operation.as_str()
                ),
            })
            .collect();
        sink.lock().unwrap().push((things.to_vec(), events));
    }));
    let take = || std::mem::take(&mut *seen.lock().unwrap());
    // Pending after the write: nothing to tell but the thing.
    let things = |t: &[&str]| {
        t.iter()
            .map(|t| ThingChanged::unknown(*t))
            .collect::<Vec<_>>()
    };
    // Every change of the thing took execution 1 of `job` out of its pending list.
    let left = |thing: &str, job: &str| ThingChanged {
        thing: thing.into(),
        left_pending: Some(vec![(job.into(), 1)]),
    };
    let device = |status| ExecutionCommand::DeviceUpdate {
        status,
        expected_version: None,
        status_details: None,
        step_timeout_in_minutes: None,
    };
    setup(&s, &["t1", "t2", "t3"], &[("j1", &["t1", "t2"])]).await;
    assert_eq!(take(), vec![(things(&["t1", "t2"]), vec![])]);
    // A refused command changes nothing and announces nothing.
    s.update_job_execution(exact("t1", "j1"), cancel(false, Some(9)), T0)
        .await
        .unwrap_err();
    assert!(take().is_empty());
    // Moving to IN_PROGRESS changes a thing but makes no event; a terminal status does.
    s.update_job_execution(
        exact("t1", "j1"),
        device(JobExecutionStatus::InProgress),
        T0,
    )
    .await
    .unwrap();
    assert_eq!(take(), vec![(things(&["t1"]), vec![])]);
    s.update_job_execution(exact("t1", "j1"), cancel(true, None), T0)
        .await
        .unwrap();
    assert_eq!(
        take(),
        vec![(
            vec![left("t1", "j1")],
            vec![format!("j1/t1 {}", E::Canceled.as_str())]
        )]
    );
    // A whole-job cancel announces the job and every execution it changed.
    s.cancel_job("j1", false, None, None, T0).await.unwrap();
    let (changed, events): (Vec<_>, Vec<_>) = take().into_iter().unzip();
    assert_eq!(changed.concat(), vec![left("t2", "j1")]);
    assert_eq!(
        events.concat(),
        vec![
            format!("j1 {}", J::Canceled.as_str()),
            format!("j1/t2 {}", E::Canceled.as_str()),
        ]
    );
    // Reads announce nothing.
    s.describe_job_execution(&exact("t2", "j1")).await.unwrap();
    assert!(take().is_empty());
    // The last execution reaching a terminal status completes the job: both announced.
    s.create_job(job("j2", &["t3"]), T0).await.unwrap();
    take();
    s.update_job_execution(exact("t3", "j2"), device(JobExecutionStatus::Succeeded), T0)
        .await
        .unwrap();
    assert_eq!(
        take(),
        vec![(
            vec![left("t3", "j2")],
            vec![
                format!("j2/t3 {}", E::Succeeded.as_str()),
                format!("j2 {}", J::Completed.as_str()),
            ]
        )]
    );
    // DeleteJobExecution announces `deleted`; DeleteJob `deletion_in_progress`, then
    // `deleted` once the sweep removed its rows.
    s.update_job_execution(
        exact("t3", "j2"),
        ExecutionCommand::Delete { force: false },
        T0,
    )
    .await
    .unwrap();
    assert_eq!(
        take(),
        vec![(
            vec![left("t3", "j2")],
            vec![format!("j2/t3 {}", E::Deleted.as_str())]
        )]
    );
    s.delete_job("j2", false, T0).await.unwrap();
    assert_eq!(
        take(),
        vec![(
            vec![],
            vec![format!("j2 {}", J::DeletionInProgress.as_str())]
        )]
    );
    s.sweep(T0, 100).await.unwrap();
    let events: Vec<String> = take().into_iter().flat_map(|(_, e)| e).collect();
    assert_eq!(events, vec![format!("j2 {}", J::Deleted.as_str())]);
}

pub async fn leading_a_role_is_exclusive_until_released<S: Store>(s: S) {
    let lease = s
        .try_lead("mqtt-broker")
        .await
        .unwrap()
        .expect("nobody leads yet");
    assert!(lease.is_held());
    assert!(
        s.try_lead("mqtt-broker").await.unwrap().is_none(),
        "held elsewhere"
    );
    let other = s.try_lead("another-role").await.unwrap();
    assert!(other.is_some(), "roles are independent");
    drop(lease);
    // Giving a role up may take a moment (a database connection closing).
    let mut again = None;
    for _ in 0..100 {
        again = s.try_lead("mqtt-broker").await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        again.is_some_and(|l| l.is_held()),
        "free again once dropped"
    );
}

pub async fn every_change_is_audited_with_its_actor<S: Store>(s: S) {
    use iotjobs_core::audit::{Actor, AuditFilter, with_actor};
    let alice = Actor {
        principal: "AKALICE".into(),
        source: Some("192.0.2.1:5000".into()),
        operation: "CancelJobExecution".into(),
        request_id: Some("req-1".into()),
    };
    setup(&s, &["t1", "t2"], &[("j1", &["t1", "t2"])]).await;
    with_actor(
        alice.clone(),
        s.update_job_execution(exact("t1", "j1"), cancel(false, None), T0.plus_minutes(1)),
    )
    .await
    .unwrap();
    // A refused change leaves no record.
    with_actor(
        alice.clone(),
        s.update_job_execution(exact("t1", "j1"), cancel(false, Some(1)), T0),
    )
    .await
    .unwrap_err();
    s.sweep(T0, 10).await.unwrap();

    let all = |f: AuditFilter| {
        let s = &s;
        async move {
            let mut out = Vec::new();
            let mut page = page(None, 2);
            loop {
                let p = s.list_audit(&f, page.clone()).await.unwrap();
                out.extend(p.items);
                match p.next {
                    Some(next) => page.after = Some(next),
                    None => return out,
                }
            }
        }
    };
    let log = all(AuditFilter::default()).await;
    let seqs: Vec<i64> = log.iter().map(|r| r.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {seqs:?}"
    );
    type Row = (String, Option<String>, Option<String>, Option<String>);
    let summary: Vec<Row> = log
        .iter()
        .map(|r| {
            (
                r.change.subject.as_str().to_string(),
                r.change.name.clone(),
                r.change.old_status.clone(),
                r.change.new_status.clone(),
            )
        })
        .collect();
    let some = |v: &str| Some(v.to_string());
    assert_eq!(
        summary,
        vec![
            ("THING".into(), some("t1"), None, None),
            ("THING".into(), some("t2"), None, None),
            ("JOB".into(), None, None, some("IN_PROGRESS")),
            (
                "JOB_EXECUTION".into(),
                some("t1"),
                some("QUEUED"),
                some("CANCELED")
            ),
        ]
    );
    // Unattributed work is the service's; the cancel is Alice's, with where and which request.
    assert_eq!(log[0].actor, Actor::service("Background"));
    assert_eq!(log[2].change.detail.as_deref(), Some("executions=2"));
    assert_eq!(log[3].actor, alice);
    assert_eq!(log[3].at, T0.plus_minutes(1));
    assert_eq!(log[3].change.job_id.as_deref(), Some("j1"));

    // Filters: by job, by thing, by principal, by time.
    let by_job = all(AuditFilter {
        job_id: Some("j1".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_job.len(), 2);
    let by_thing = all(AuditFilter {
        name: Some("t1".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_thing.len(), 2);
    let by_alice = all(AuditFilter {
        principal: Some("AKALICE".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_alice, vec![log[3].clone()]);
    let later = all(AuditFilter {
        since: Some(T0.plus_minutes(1)),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(later, vec![log[3].clone()]);
    let earlier = all(AuditFilter {
        until: Some(T0.plus_minutes(1)),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(earlier.len(), 3);
    assert!(matches!(
        s.list_audit(&AuditFilter::default(), page(Some("x".into()), 2))
            .await,
        Err(JobsError::InvalidRequest(_))
    ));
}

pub async fn execution_counts_sum_every_job<S: Store>(s: S) {
    assert_eq!(
        s.count_executions().await.unwrap(),
        iotjobs_core::JobProcessDetails::default()
    );
    let writes_before = s.stats().committed_writes;
    setup(&s, &["t1", "t2"], &[("j1", &["t1", "t2"]), ("j2", &["t2"])]).await;
    s.update_job_execution(exact("t1", "j1"), cancel(false, None), T0)
        .await
        .unwrap();
    let counts = s.count_executions().await.unwrap();
    assert_eq!(
        (counts.queued, counts.canceled, counts.in_progress),
        (2, 1, 0)
    );
    let stats = s.stats();
    assert!(stats.committed_writes >= writes_before + 5, "{stats:?}");
    assert!(stats.commit_batches >= 1 && stats.commit_batches <= stats.committed_writes);
}

pub async fn associate_targets_queues_each_new_thing_once<S: Store>(s: S) {
    use iotjobs_core::AssociatedTargets;
    setup(&s, &["t1", "t2", "t3", "t4"], &[]).await;
    s.create_thing_group(group("g", None), "gid".into(), T0)
        .await
        .unwrap();
    for t in ["t2", "t3"] {
        s.add_thing_to_thing_group("g", t, T0).await.unwrap();
    }
    let mut continuous = job("c", &["t1", "t2"]);
    continuous.target_selection = TargetSelection::Continuous;
    s.create_job(continuous, T0).await.unwrap();
    s.create_job(job("snap", &["t1"]), T0).await.unwrap();
    let g_arn = "arn:aws:iot:us-east-1:000000000000:thinggroup/g".to_string();
    let add_g = AssociatedTargets {
        arns: vec![g_arn.clone()],
        things: vec![],
        groups: vec!["g".into()],
    };
    let j = s
        .associate_targets_with_job("c", add_g.clone(), T0.plus_minutes(1))
        .await
        .unwrap();
    assert_eq!(j.targets.len(), 3);
    assert!(j.targets.contains(&g_arn));
    // t2 already had an execution: only t3 is new.
    let j = s.describe_job("c").await.unwrap().unwrap();
    assert_eq!(j.progress.process_details.queued, 3);
    assert_eq!(j.targets.len(), 3, "stored");
    let e = s
        .describe_job_execution(&exact("t3", "c"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.status, e.execution_number),
        (JobExecutionStatus::Queued, 1)
    );
    // Again: nothing new.
    s.associate_targets_with_job("c", add_g, T0).await.unwrap();
    let j = s.describe_job("c").await.unwrap().unwrap();
    assert_eq!((j.progress.process_details.queued, j.targets.len()), (3, 3));
    // The group is a target now: a thing joining it gets an execution.
    s.add_thing_to_thing_group("g", "t4", T0).await.unwrap();
    assert_eq!(
        status_of(&s, "t4", "c").await,
        Some((JobExecutionStatus::Queued, 1))
    );
    // Refusals: SNAPSHOT, unknown group, too many targets; nothing changes.
    let snap = s
        .associate_targets_with_job(
            "snap",
            AssociatedTargets {
                arns: vec!["x".into()],
                things: vec!["t2".into()],
                groups: vec![],
            },
            T0,
        )
        .await;
    assert!(
        matches!(snap, Err(JobsError::InvalidRequest(_))),
        "{snap:?}"
    );
    let unknown = s
        .associate_targets_with_job(
            "c",
            AssociatedTargets {
                arns: vec!["y".into()],
                things: vec![],
                groups: vec!["nope".into()],
            },
            T0,
        )
        .await;
    assert!(
        matches!(unknown, Err(JobsError::NotFound(_))),
        "{unknown:?}"
    );
    let many = AssociatedTargets {
        arns: (0..98).map(|i| format!("arn-{i}")).collect(),
        things: vec![],
        groups: vec![],
    };
    let too_many = s.associate_targets_with_job("c", many, T0).await;
    assert!(
        matches!(too_many, Err(JobsError::LimitExceeded(_))),
        "{too_many:?}"
    );
    let j = s.describe_job("c").await.unwrap().unwrap();
    assert_eq!((j.progress.process_details.queued, j.targets.len()), (4, 3));
    assert!(matches!(
        s.associate_targets_with_job("nope", AssociatedTargets::default(), T0)
            .await,
        Err(JobsError::NotFound(_))
    ));
}

#[macro_export]
/// Expand to one `#[tokio::test]` per conformance check, each given a fresh store made
/// by `$make` (an expression evaluating to a store).
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
            thing_groups_nest_and_list,
            a_thing_joins_at_most_ten_groups,
            group_targets_expand_at_creation,
            continuous_jobs_follow_group_membership,
            cancel_job_cancels_queued_and_forced_in_progress,
            bulk_cancel_changes_each_execution_as_the_state_machine_does,
            delete_job_is_limited_then_swept,
            purging_a_deleted_job_reports_pending_executions,
            sweep_times_out_expired_executions,
            executions_page_by_key_even_while_inserting,
            executions_for_thing_filter_and_page,
            delete_thing_removes_pending_executions,
            list_things_filters_by_attribute,
            update_and_list_jobs,
            reset_wipes_everything,
            a_store_belongs_to_the_first_account_that_claims_it,
            leading_a_role_is_exclusive_until_released,
            every_change_is_audited_with_its_actor,
            execution_counts_sum_every_job,
            associate_targets_queues_each_new_thing_once,
            update_thing_counts_versions_and_merges_attributes,
            update_and_delete_thing_groups,
            list_thing_groups_by_parent_prefix_and_page,
            committed_changes_reach_the_change_listener,
            certificates_register_update_and_delete,
            certificates_list_by_creation_date,
            thing_principals_attach_list_and_detach,
            rollout_creates_executions_at_a_constant_rate,
            rollout_skips_targets_deleted_before_their_turn,
            cancel_job_drops_targets_still_waiting,
            abort_cancels_the_job_exactly_at_the_threshold,
            retry_requeues_failed_executions_up_to_the_limit,
            retry_requeues_timed_out_executions_in_the_sweep,
            scheduled_job_starts_at_its_start_time,
            schedule_end_stops_or_cancels_the_job,
            rollout_runs_only_inside_maintenance_windows,
            exponential_rollout_grows_by_its_factor,
            deleted_job_leaves_no_waiting_targets_behind,
            scheduled_continuous_job_reaches_things_that_joined_before_start,
            continuous_rollout_skips_things_that_left_before_their_turn,
            random_rollouts_keep_their_invariants,
            job_templates_create_describe_and_delete,
            job_templates_list_in_id_pages,
            job_templates_are_audited_and_reset,
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

/// The check list of [`conformance_tests!`] is written by hand; this keeps it equal to
/// the checks defined above, so that no check is defined and never run.
#[cfg(test)]
mod registration {
    #[test]
    fn every_check_is_registered_once() {
        // The checks live in this file and in its submodules.
        let source = [
            include_str!("conformance.rs"),
            include_str!("conformance/rollouts.rs"),
            include_str!("conformance/templates.rs"),
        ]
        .concat();
        let mut defined: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .filter_map(|l| l.split_once("<S: Store>("))
            .filter(|(_, params)| params.ends_with(": S) {"))
            .map(|(name, _)| name)
            .collect();
        let list = source
            .split_once("(@each $make;\n")
            .and_then(|(_, rest)| rest.split_once(");"))
            .map(|(list, _)| list)
            .expect("the list in conformance_tests!");
        let mut registered: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        assert!(defined.len() > 20, "parsed {defined:?}");
        defined.sort_unstable();
        registered.sort_unstable();
        assert_eq!(defined, registered);
    }
}
