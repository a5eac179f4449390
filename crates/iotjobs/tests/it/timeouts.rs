//! Timeouts and deletion limits with an injected clock: the server runs in-process with
//! a manual clock and no background sweeper, so the test decides when time passes and
//! when the sweep runs.

use crate::harness::{InProcess, code_status, setup};
use aws_sdk_iot::types::{JobExecutionStatus as S, JobStatus, TimeoutConfig};
use aws_sdk_iotjobsdataplane::types::JobExecutionStatus as D;

#[tokio::test]
async fn in_progress_and_step_timers_time_out() {
    let server = InProcess::start().await;
    let iot = server.iot();
    for t in ["a", "b"] {
        iot.create_thing().thing_name(t).send().await.unwrap();
    }
    iot.create_job()
        .job_id("j")
        .targets(crate::harness::thing_arn("a"))
        .targets(crate::harness::thing_arn("b"))
        .document("{}")
        .timeout_config(
            TimeoutConfig::builder()
                .in_progress_timeout_in_minutes(60)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let data = server.data();
    // "a" sets a 10-minute step timer; "b" only has the job's 60-minute timer.
    data.start_next_pending_job_execution()
        .thing_name("a")
        .step_timeout_in_minutes(10)
        .send()
        .await
        .unwrap();
    data.start_next_pending_job_execution()
        .thing_name("b")
        .send()
        .await
        .unwrap();

    server.advance_minutes(9);
    let e = data
        .describe_job_execution()
        .thing_name("a")
        .job_id("j")
        .send()
        .await
        .unwrap();
    assert_eq!(
        e.execution()
            .unwrap()
            .approximate_seconds_before_timed_out(),
        Some(60)
    );
    assert_eq!(server.sweep().await.timed_out, 0);

    server.advance_minutes(1);
    assert_eq!(server.sweep().await.timed_out, 1);
    let status = |t: &'static str| {
        let iot = iot.clone();
        async move {
            iot.describe_job_execution()
                .thing_name(t)
                .job_id("j")
                .send()
                .await
                .unwrap()
                .execution
                .unwrap()
                .status
                .unwrap()
        }
    };
    assert_eq!(status("a").await, S::TimedOut);
    assert_eq!(status("b").await, S::InProgress);

    // The device of a timed-out execution is told it has finished.
    let err = data
        .update_job_execution()
        .thing_name("a")
        .job_id("j")
        .status(D::Succeeded)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_status(&err),
        ("InvalidStateTransitionException".into(), 409)
    );

    // "b" renews nothing: its 60-minute timer expires.
    server.advance_minutes(50);
    assert_eq!(server.sweep().await.timed_out, 1);
    assert_eq!(status("b").await, S::TimedOut);
    let job = iot.describe_job().job_id("j").send().await.unwrap();
    let job = job.job().unwrap();
    assert_eq!(
        job.job_process_details()
            .unwrap()
            .number_of_timed_out_things(),
        Some(2)
    );
    assert_eq!(job.status(), Some(&JobStatus::Completed));
}

#[tokio::test]
async fn step_timer_can_be_renewed_and_removed() {
    let server = InProcess::start().await;
    setup(&server.iot(), "j", &["a"]).await;
    let data = server.data();
    data.start_next_pending_job_execution()
        .thing_name("a")
        .step_timeout_in_minutes(5)
        .send()
        .await
        .unwrap();
    server.advance_minutes(4);
    // Renew: a new step timer from now.
    data.update_job_execution()
        .thing_name("a")
        .job_id("j")
        .status(D::InProgress)
        .step_timeout_in_minutes(5)
        .send()
        .await
        .unwrap();
    server.advance_minutes(4);
    assert_eq!(server.sweep().await.timed_out, 0, "renewed at minute 4");
    // -1 removes the step timer altogether.
    data.update_job_execution()
        .thing_name("a")
        .job_id("j")
        .status(D::InProgress)
        .step_timeout_in_minutes(-1)
        .send()
        .await
        .unwrap();
    server.advance_minutes(10_000);
    assert_eq!(server.sweep().await.timed_out, 0);
}

/// "Only 10 jobs may have status DELETION_IN_PROGRESS at the same time, or a
/// LimitExceededException will occur" (DeleteJob model doc).
#[tokio::test]
async fn at_most_ten_jobs_deleting() {
    let server = InProcess::start().await;
    let iot = server.iot();
    setup(&iot, "job-0", &["t"]).await;
    for i in 1..12 {
        iot.create_job()
            .job_id(format!("job-{i}"))
            .targets(crate::harness::thing_arn("t"))
            .document("{}")
            .send()
            .await
            .unwrap();
    }
    for i in 0..10 {
        iot.delete_job()
            .job_id(format!("job-{i}"))
            .force(true)
            .send()
            .await
            .unwrap();
    }
    let err = iot
        .delete_job()
        .job_id("job-10")
        .force(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("LimitExceededException".into(), 410));
    let d = iot.describe_job().job_id("job-3").send().await.unwrap();
    assert_eq!(
        d.job().unwrap().status(),
        Some(&JobStatus::DeletionInProgress)
    );
    let r = server.sweep().await;
    assert_eq!(r.deleted_jobs, 10);
    iot.delete_job()
        .job_id("job-10")
        .force(true)
        .send()
        .await
        .expect("room again after the sweep");
}
