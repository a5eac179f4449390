//! The complete jobs lifecycle through aws-sdk-iot: CancelJob, DeleteJob, UpdateJob,
//! GetJobDocument, ListJobs, DeleteJobExecution, the list operations, thing groups,
//! DeleteThing.

use crate::harness::{Server, code_status, setup, thing_arn};
use aws_sdk_iot::types::{
    JobExecutionStatus as S, JobStatus, TargetSelection, ThingGroupProperties, TimeoutConfig,
};

fn group_arn(name: &str) -> String {
    format!("arn:aws:iot:us-east-1:000000000000:thinggroup/{name}")
}

async fn exec_status(iot: &aws_sdk_iot::Client, thing: &str, job: &str) -> (S, i64) {
    let out = iot
        .describe_job_execution()
        .thing_name(thing)
        .job_id(job)
        .send()
        .await
        .unwrap();
    let e = out.execution().unwrap();
    (e.status().cloned().unwrap(), e.execution_number().unwrap())
}

async fn counters(iot: &aws_sdk_iot::Client, job: &str) -> (JobStatus, [i32; 5]) {
    let out = iot.describe_job().job_id(job).send().await.unwrap();
    let j = out.job().unwrap();
    let d = j.job_process_details().unwrap();
    (
        j.status().cloned().unwrap(),
        [
            d.number_of_queued_things().unwrap(),
            d.number_of_in_progress_things().unwrap(),
            d.number_of_succeeded_things().unwrap(),
            d.number_of_canceled_things().unwrap(),
            d.number_of_removed_things().unwrap(),
        ],
    )
}

/// Move thing `t`'s execution of `job` to IN_PROGRESS, and optionally to SUCCEEDED.
async fn device(server: &Server, t: &str, job: &str, finish: bool) {
    use aws_sdk_iotjobsdataplane::types::JobExecutionStatus as D;
    let data = server.data();
    data.update_job_execution()
        .thing_name(t)
        .job_id(job)
        .status(D::InProgress)
        .send()
        .await
        .unwrap();
    if finish {
        data.update_job_execution()
            .thing_name(t)
            .job_id(job)
            .status(D::Succeeded)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn cancel_job_without_then_with_force() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["q", "p", "s"]).await;
    device(&server, "p", "job-1", false).await;
    device(&server, "s", "job-1", true).await;

    let out = iot
        .cancel_job()
        .job_id("job-1")
        .reason_code("RECALL")
        .comment("bad build")
        .send()
        .await
        .unwrap();
    assert_eq!(out.job_id(), Some("job-1"));
    assert_eq!(exec_status(&iot, "q", "job-1").await.0, S::Canceled);
    assert_eq!(exec_status(&iot, "p", "job-1").await.0, S::InProgress);
    assert_eq!(exec_status(&iot, "s", "job-1").await.0, S::Succeeded);
    assert_eq!(
        counters(&iot, "job-1").await,
        (JobStatus::Canceled, [0, 1, 1, 1, 0])
    );
    let job = iot.describe_job().job_id("job-1").send().await.unwrap();
    let job = job.job().unwrap();
    assert_eq!(job.reason_code(), Some("RECALL"));
    assert_eq!(job.comment(), Some("bad build"));
    assert_eq!(job.force_canceled(), None);

    // Again without force: nothing to upgrade.
    let err = iot.cancel_job().job_id("job-1").send().await.unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));
    // With force: the IN_PROGRESS execution goes too; the finished one stays.
    iot.cancel_job()
        .job_id("job-1")
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(exec_status(&iot, "p", "job-1").await.0, S::Canceled);
    assert_eq!(exec_status(&iot, "s", "job-1").await.0, S::Succeeded);
    assert_eq!(
        counters(&iot, "job-1").await,
        (JobStatus::Canceled, [0, 0, 1, 2, 0])
    );
    let err = iot.cancel_job().job_id("nope").send().await.unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
}

#[tokio::test]
async fn delete_job_then_reuse_its_id() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    let err = iot.delete_job().job_id("job-1").send().await.unwrap_err();
    assert_eq!(
        code_status(&err),
        ("InvalidStateTransitionException".into(), 409)
    );
    iot.delete_job()
        .job_id("job-1")
        .force(true)
        .send()
        .await
        .unwrap();
    // The background sweep removes it; it was woken by the delete.
    let mut gone = false;
    for _ in 0..100 {
        match iot.describe_job().job_id("job-1").send().await {
            Err(e) if code_status(&e).1 == 404 => {
                gone = true;
                break;
            }
            Ok(out) => assert_eq!(
                out.job().unwrap().status(),
                Some(&JobStatus::DeletionInProgress)
            ),
            Err(e) => panic!("{e:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "deleted within 5 s");
    let err = iot
        .describe_job_execution()
        .thing_name("t1")
        .job_id("job-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err).1, 404);
    iot.create_job()
        .job_id("job-1")
        .targets(thing_arn("t1"))
        .document("{}")
        .send()
        .await
        .expect("the id is free again");
}

#[tokio::test]
async fn update_job_and_get_document_and_list_jobs() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-a", &["t1"]).await;
    iot.create_job()
        .job_id("job-b")
        .targets(thing_arn("t1"))
        .document(r#"{"b":1}"#)
        .target_selection(TargetSelection::Continuous)
        .send()
        .await
        .unwrap();
    iot.update_job()
        .job_id("job-a")
        .description("new description")
        .timeout_config(
            TimeoutConfig::builder()
                .in_progress_timeout_in_minutes(15)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let job = iot.describe_job().job_id("job-a").send().await.unwrap();
    let job = job.job().unwrap();
    assert_eq!(job.description(), Some("new description"));
    assert_eq!(
        job.timeout_config()
            .unwrap()
            .in_progress_timeout_in_minutes(),
        Some(15)
    );
    let doc = iot.get_job_document().job_id("job-b").send().await.unwrap();
    assert_eq!(doc.document(), Some(r#"{"b":1}"#));

    let all = iot.list_jobs().send().await.unwrap();
    let ids: Vec<_> = all.jobs().iter().filter_map(|j| j.job_id()).collect();
    assert_eq!(ids, ["job-a", "job-b"]);
    let continuous = iot
        .list_jobs()
        .target_selection(TargetSelection::Continuous)
        .send()
        .await
        .unwrap();
    assert_eq!(continuous.jobs().len(), 1);
    // The SDK's paginator follows nextToken.
    let pages: Vec<_> = iot
        .list_jobs()
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let ids: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().jobs.unwrap_or_default())
        .filter_map(|j| j.job_id)
        .collect();
    assert_eq!(ids, ["job-a", "job-b"]);
}

#[tokio::test]
async fn delete_job_execution_rules() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["q", "p"]).await;
    device(&server, "p", "job-1", false).await;
    let err = iot
        .delete_job_execution()
        .job_id("job-1")
        .thing_name("p")
        .execution_number(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_status(&err),
        ("InvalidStateTransitionException".into(), 409)
    );
    iot.delete_job_execution()
        .job_id("job-1")
        .thing_name("q")
        .execution_number(1)
        .send()
        .await
        .expect("QUEUED may be deleted without force");
    let err = iot
        .describe_job_execution()
        .thing_name("q")
        .job_id("job-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
    iot.delete_job_execution()
        .job_id("job-1")
        .thing_name("p")
        .execution_number(1)
        .force(true)
        .send()
        .await
        .unwrap();
    // No executions left: the SNAPSHOT job's counters are all zero.
    assert_eq!(counters(&iot, "job-1").await.1, [0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn groups_snapshot_and_continuous_targets() {
    let server = Server::start();
    let iot = server.iot();
    for t in ["a", "b", "c", "late"] {
        iot.create_thing().thing_name(t).send().await.unwrap();
    }
    iot.create_thing_group()
        .thing_group_name("fleet")
        .thing_group_properties(
            ThingGroupProperties::builder()
                .thing_group_description("all devices")
                .build(),
        )
        .send()
        .await
        .unwrap();
    iot.create_thing_group()
        .thing_group_name("eu")
        .parent_group_name("fleet")
        .send()
        .await
        .unwrap();
    let eu = iot
        .describe_thing_group()
        .thing_group_name("eu")
        .send()
        .await
        .unwrap();
    let meta = eu.thing_group_metadata().unwrap();
    assert_eq!(meta.parent_group_name(), Some("fleet"));
    assert_eq!(
        meta.root_to_parent_thing_groups()[0].group_arn(),
        Some(group_arn("fleet").as_str())
    );
    iot.add_thing_to_thing_group()
        .thing_group_name("fleet")
        .thing_name("a")
        .send()
        .await
        .unwrap();
    iot.add_thing_to_thing_group()
        .thing_group_arn(group_arn("eu"))
        .thing_arn(thing_arn("b"))
        .send()
        .await
        .unwrap();
    let members = iot
        .list_things_in_thing_group()
        .thing_group_name("fleet")
        .recursive(true)
        .send()
        .await
        .unwrap();
    assert_eq!(members.things(), ["a", "b"]);

    for (id, sel) in [
        ("snap", TargetSelection::Snapshot),
        ("cont", TargetSelection::Continuous),
    ] {
        iot.create_job()
            .job_id(id)
            .targets(group_arn("fleet"))
            .targets(thing_arn("c"))
            .document("{}")
            .target_selection(sel)
            .send()
            .await
            .unwrap();
    }
    for job in ["snap", "cont"] {
        for t in ["a", "b", "c"] {
            assert_eq!(exec_status(&iot, t, job).await, (S::Queued, 1), "{t}/{job}");
        }
    }
    // A thing joining later: only the CONTINUOUS job picks it up.
    iot.add_thing_to_thing_group()
        .thing_group_name("eu")
        .thing_name("late")
        .send()
        .await
        .unwrap();
    assert_eq!(exec_status(&iot, "late", "cont").await, (S::Queued, 1));
    let err = iot
        .describe_job_execution()
        .thing_name("late")
        .job_id("snap")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err).1, 404);
    // Leaving the group: its QUEUED execution of the CONTINUOUS job is REMOVED.
    iot.remove_thing_from_thing_group()
        .thing_group_name("eu")
        .thing_name("late")
        .send()
        .await
        .unwrap();
    assert_eq!(exec_status(&iot, "late", "cont").await, (S::Removed, 1));
    assert_eq!(
        counters(&iot, "cont").await,
        (JobStatus::InProgress, [3, 0, 0, 0, 1])
    );
    let by_group = iot
        .list_jobs()
        .thing_group_name("fleet")
        .send()
        .await
        .unwrap();
    assert_eq!(by_group.jobs().len(), 2);
}

#[tokio::test]
async fn delete_thing_removes_its_pending_executions() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["gone", "kept"]).await;
    device(&server, "gone", "job-1", false).await;
    let err = iot
        .delete_thing()
        .thing_name("gone")
        .expected_version(9)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("VersionConflictException".into(), 409));
    iot.delete_thing()
        .thing_name("gone")
        .expected_version(1)
        .send()
        .await
        .unwrap();
    assert_eq!(exec_status(&iot, "gone", "job-1").await.0, S::Removed);
    assert_eq!(
        counters(&iot, "job-1").await,
        (JobStatus::InProgress, [1, 0, 0, 0, 1])
    );
    iot.delete_thing()
        .thing_name("never-existed")
        .send()
        .await
        .expect("deleting an unknown thing succeeds");
    let things = iot.list_things().send().await.unwrap();
    let names: Vec<_> = things
        .things()
        .iter()
        .filter_map(|t| t.thing_name())
        .collect();
    assert_eq!(names, ["kept"]);
}

#[tokio::test]
async fn list_job_executions_paginate() {
    let server = Server::start();
    let iot = server.iot();
    let names: Vec<String> = (0..120).map(|i| format!("t{i:03}")).collect();
    iot.create_thing_group()
        .thing_group_name("g")
        .send()
        .await
        .unwrap();
    for n in &names {
        iot.create_thing().thing_name(n).send().await.unwrap();
        iot.add_thing_to_thing_group()
            .thing_group_name("g")
            .thing_name(n)
            .send()
            .await
            .unwrap();
    }
    iot.create_job()
        .job_id("j")
        .targets(group_arn("g"))
        .document("{}")
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut pages = iot
        .list_job_executions_for_job()
        .job_id("j")
        .max_results(50)
        .into_paginator()
        .send();
    let mut n_pages = 0;
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        n_pages += 1;
        for s in page.execution_summaries() {
            seen.push(
                s.thing_arn()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    assert_eq!(n_pages, 3);
    let expected: Vec<String> = names.clone();
    assert_eq!(seen, expected);
    let for_thing = iot
        .list_job_executions_for_thing()
        .thing_name("t007")
        .status(S::Queued)
        .send()
        .await
        .unwrap();
    assert_eq!(for_thing.execution_summaries()[0].job_id(), Some("j"));
    let err = iot
        .list_job_executions_for_job()
        .job_id("j")
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));
}
