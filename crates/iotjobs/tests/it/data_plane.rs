//! The device side through aws-sdk-iotjobsdataplane.

use crate::harness::{Server, code_status, setup};
use aws_sdk_iotjobsdataplane::types::JobExecutionStatus;

#[tokio::test]
async fn start_next_then_update_to_succeeded() {
    let server = Server::start();
    setup(&server.iot(), "job-1", &["t1"]).await;
    let data = server.data();
    let out = data
        .start_next_pending_job_execution()
        .thing_name("t1")
        .status_details("step", "download")
        .step_timeout_in_minutes(10)
        .send()
        .await
        .unwrap();
    let e = out.execution().expect("execution");
    assert_eq!(e.status(), Some(&JobExecutionStatus::InProgress));
    assert_eq!(e.version_number(), 2);
    assert_eq!(e.execution_number(), Some(1));
    assert!(e.job_document().unwrap().contains("firmware-update"));
    let secs = e.approximate_seconds_before_timed_out().unwrap();
    assert!((590..=600).contains(&secs), "{secs}");
    // Data-plane times are integer epoch seconds.
    let queued = e.queued_at();
    assert!(
        queued > 1_600_000_000 && queued < 10_000_000_000,
        "{queued}"
    );

    let out = data
        .update_job_execution()
        .thing_name("t1")
        .job_id("job-1")
        .status(JobExecutionStatus::Succeeded)
        .expected_version(2)
        .include_job_execution_state(true)
        .send()
        .await
        .unwrap();
    let state = out.execution_state().unwrap();
    assert_eq!(state.status(), Some(&JobExecutionStatus::Succeeded));
    assert_eq!(state.version_number(), 3);
    assert_eq!(out.job_document(), None, "not asked for");

    let pending = data
        .get_pending_job_executions()
        .thing_name("t1")
        .send()
        .await
        .unwrap();
    assert!(pending.in_progress_jobs().is_empty());
    assert!(pending.queued_jobs().is_empty());
}

#[tokio::test]
async fn update_after_forced_cancel_is_rejected() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    let data = server.data();
    data.start_next_pending_job_execution()
        .thing_name("t1")
        .send()
        .await
        .unwrap();
    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .force(true)
        .send()
        .await
        .unwrap();
    // The device still believes it holds version 2.
    let err = data
        .update_job_execution()
        .thing_name("t1")
        .job_id("job-1")
        .status(JobExecutionStatus::Succeeded)
        .expected_version(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_status(&err),
        ("InvalidStateTransitionException".into(), 409)
    );
    // The body also carries executionState (iot-jobs-data model doc).
    let body = err.raw_response().unwrap().body().bytes().unwrap().to_vec();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["executionState"]["status"], "CANCELED");
    assert_eq!(body["executionState"]["versionNumber"], 3);
    assert!(
        err.into_service_error()
            .is_invalid_state_transition_exception()
    );
}

#[tokio::test]
async fn next_describes_without_changing() {
    let server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["t1"]).await;
    let data = server.data();
    // The SDK sends `$next` as %24next; the server decodes it.
    let out = data
        .describe_job_execution()
        .thing_name("t1")
        .job_id("$next")
        .send()
        .await
        .unwrap();
    let e = out.execution().expect("the QUEUED execution");
    assert_eq!(e.job_id(), Some("job-1"));
    assert_eq!(e.status(), Some(&JobExecutionStatus::Queued));
    assert!(
        e.job_document().is_some(),
        "includeJobDocument defaults to true"
    );
    let again = data
        .describe_job_execution()
        .thing_name("t1")
        .job_id("$next")
        .include_job_document(false)
        .send()
        .await
        .unwrap();
    let e = again.execution().unwrap();
    assert_eq!(e.version_number(), 1, "describing changed nothing");
    assert_eq!(e.job_document(), None);

    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("t1")
        .send()
        .await
        .unwrap();
    let none = data
        .describe_job_execution()
        .thing_name("t1")
        .job_id("$next")
        .send()
        .await
        .unwrap();
    assert!(none.execution().is_none(), "nothing pending: no execution");
}

#[tokio::test]
async fn device_cannot_set_service_statuses_or_skip_versions() {
    let server = Server::start();
    setup(&server.iot(), "job-1", &["t1"]).await;
    let data = server.data();
    let err = data
        .update_job_execution()
        .thing_name("t1")
        .job_id("job-1")
        .status(JobExecutionStatus::Canceled)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_status(&err),
        ("InvalidStateTransitionException".into(), 409)
    );
    let err = data
        .update_job_execution()
        .thing_name("t1")
        .job_id("job-1")
        .status(JobExecutionStatus::InProgress)
        .expected_version(5)
        .send()
        .await
        .unwrap_err();
    // The data plane's model has no VersionConflictException: AWS answers 400.
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));
}
