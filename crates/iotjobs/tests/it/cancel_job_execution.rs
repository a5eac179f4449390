//! CancelJobExecution through aws-sdk-iot: every outcome of spec §3.

use crate::harness::{Server, code_status, setup};
use aws_sdk_iot::types::JobExecutionStatus;

async fn status_of(iot: &aws_sdk_iot::Client, thing: &str, job: &str) -> (JobExecutionStatus, i64) {
    let out = iot
        .describe_job_execution()
        .thing_name(thing)
        .job_id(job)
        .send()
        .await
        .expect("describe");
    let e = out.execution().expect("execution");
    (e.status().cloned().expect("status"), e.version_number())
}

async fn start(server: &Server, thing: &str) {
    server
        .data()
        .start_next_pending_job_execution()
        .thing_name(thing)
        .send()
        .await
        .expect("start next");
}

#[tokio::test]
async fn cancel_queued_execution() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1", "t2"]).await;
    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .send()
        .await
        .expect("cancel QUEUED");
    let out = iot
        .describe_job_execution()
        .thing_name("t1")
        .job_id("job-1")
        .send()
        .await
        .unwrap();
    let e = out.execution().unwrap();
    assert_eq!(e.status(), Some(&JobExecutionStatus::Canceled));
    assert_eq!(e.version_number(), 2, "a cancel bumps the version");
    assert_eq!(e.force_canceled(), None, "not forced");
    assert!(e.last_updated_at().unwrap() >= e.queued_at().unwrap());
    assert_eq!(
        e.thing_arn(),
        Some("arn:aws:iot:us-east-1:000000000000:thing/t1")
    );

    let job = iot.describe_job().job_id("job-1").send().await.unwrap();
    let job = job.job().unwrap();
    let d = job.job_process_details().unwrap();
    assert_eq!(d.number_of_canceled_things(), Some(1));
    assert_eq!(d.number_of_queued_things(), Some(1));
    assert_eq!(
        job.status(),
        Some(&aws_sdk_iot::types::JobStatus::InProgress)
    );

    // The last pending execution: the SNAPSHOT job completes.
    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("t2")
        .force(false)
        .send()
        .await
        .unwrap();
    let job = iot.describe_job().job_id("job-1").send().await.unwrap();
    let job = job.job().unwrap();
    assert_eq!(
        job.status(),
        Some(&aws_sdk_iot::types::JobStatus::Completed)
    );
    assert!(job.completed_at().is_some());
    assert_eq!(
        job.job_process_details()
            .unwrap()
            .number_of_canceled_things(),
        Some(2)
    );
}

#[tokio::test]
async fn cancel_in_progress_needs_force() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    start(&server, "t1").await;

    let err = iot
        .cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_status(&err),
        ("InvalidStateTransitionException".into(), 409)
    );
    assert!(
        err.into_service_error()
            .is_invalid_state_transition_exception()
    );
    assert_eq!(
        status_of(&iot, "t1", "job-1").await,
        (JobExecutionStatus::InProgress, 2),
        "a rejected cancel changes nothing"
    );

    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .force(true)
        .status_details("reason", "operator-abort")
        .send()
        .await
        .expect("forced cancel");
    let out = iot
        .describe_job_execution()
        .thing_name("t1")
        .job_id("job-1")
        .send()
        .await
        .unwrap();
    let e = out.execution().unwrap();
    assert_eq!(e.status(), Some(&JobExecutionStatus::Canceled));
    assert_eq!(e.force_canceled(), Some(true));
    assert_eq!(e.version_number(), 3);
    assert!(e.started_at().is_some());
    let details = e.status_details().unwrap().details_map().unwrap();
    assert_eq!(
        details.get("reason").map(String::as_str),
        Some("operator-abort")
    );
    let job = iot.describe_job().job_id("job-1").send().await.unwrap();
    let d = job.job().unwrap().job_process_details().unwrap().clone();
    assert_eq!(
        (
            d.number_of_in_progress_things(),
            d.number_of_canceled_things()
        ),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn cancel_terminal_execution_is_rejected_even_with_force() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .send()
        .await
        .unwrap();
    for force in [false, true] {
        let err = iot
            .cancel_job_execution()
            .job_id("job-1")
            .thing_name("t1")
            .force(force)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code_status(&err),
            ("InvalidStateTransitionException".into(), 409),
            "force={force}"
        );
    }
    assert_eq!(
        status_of(&iot, "t1", "job-1").await,
        (JobExecutionStatus::Canceled, 2)
    );
}

#[tokio::test]
async fn expected_version_conflict() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    let err = iot
        .cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .expected_version(7)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("VersionConflictException".into(), 409));
    assert!(err.into_service_error().is_version_conflict_exception());
    assert_eq!(
        status_of(&iot, "t1", "job-1").await,
        (JobExecutionStatus::Queued, 1)
    );
    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .expected_version(1)
        .send()
        .await
        .expect("matching version");
}

#[tokio::test]
async fn status_details_limits() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    let cancel = || iot.cancel_job_execution().job_id("job-1").thing_name("t1");

    let mut eleven = cancel();
    for i in 0..11 {
        eleven = eleven.status_details(format!("k{i}"), "v");
    }
    let err = eleven.send().await.unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));

    let err = cancel()
        .status_details("bad key!", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));

    let err = cancel()
        .status_details("k", "x".repeat(1025))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));

    let err = cancel()
        .status_details("k", "line\nbreak")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));

    assert_eq!(
        status_of(&iot, "t1", "job-1").await,
        (JobExecutionStatus::Queued, 1),
        "rejected input changes nothing"
    );

    let mut ten = cancel();
    for i in 0..10 {
        ten = ten.status_details(format!("k{i}"), "v".repeat(1024));
    }
    ten.send()
        .await
        .expect("10 pairs of 1024 chars are allowed");
}

#[tokio::test]
async fn unknown_job_thing_or_execution_is_not_found() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    iot.create_thing().thing_name("t2").send().await.unwrap();
    for (thing, job) in [
        ("t1", "no-such-job"),
        ("no-such-thing", "job-1"),
        ("t2", "job-1"),
    ] {
        let err = iot
            .cancel_job_execution()
            .job_id(job)
            .thing_name(thing)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code_status(&err),
            ("ResourceNotFoundException".into(), 404),
            "{thing}/{job}"
        );
        assert!(err.into_service_error().is_resource_not_found_exception());
    }
}

#[tokio::test]
async fn bad_ids_are_invalid_requests() {
    let server = Server::start();
    let iot = server.iot();
    for (thing, job) in [
        ("t1", "bad id!"),
        ("t1", &"j".repeat(65)),
        ("bad/thing", "j"),
    ] {
        let err = iot
            .cancel_job_execution()
            .job_id(job)
            .thing_name(thing)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code_status(&err),
            ("InvalidRequestException".into(), 400),
            "{thing}/{job}"
        );
    }
}

/// Thing names may contain ':' (pattern `[a-zA-Z0-9:_-]+`); the SDK sends it as %3A.
#[tokio::test]
async fn percent_encoded_thing_name() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["thing:1"]).await;
    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("thing:1")
        .send()
        .await
        .expect("cancel");
    assert_eq!(
        status_of(&iot, "thing:1", "job-1").await,
        (JobExecutionStatus::Canceled, 2)
    );
}
