//! Durability across a restart of the server process.

use crate::harness::{Server, setup};
use aws_sdk_iot::types::JobExecutionStatus;

#[tokio::test]
async fn restart_keeps_every_state() {
    let mut server = Server::start();
    let iot = server.iot();
    setup(&iot, "job-1", &["q", "p", "s", "c"]).await;
    let data = server.data();
    for t in ["p", "s"] {
        data.start_next_pending_job_execution()
            .thing_name(t)
            .send()
            .await
            .unwrap();
    }
    data.update_job_execution()
        .thing_name("s")
        .job_id("job-1")
        .status(aws_sdk_iotjobsdataplane::types::JobExecutionStatus::Succeeded)
        .status_details("result", "ok")
        .send()
        .await
        .unwrap();
    iot.cancel_job_execution()
        .job_id("job-1")
        .thing_name("c")
        .status_details("why", "recall")
        .send()
        .await
        .unwrap();

    let snapshot = |iot: aws_sdk_iot::Client| async move {
        let mut out = Vec::new();
        for t in ["q", "p", "s", "c"] {
            let e = iot
                .describe_job_execution()
                .thing_name(t)
                .job_id("job-1")
                .send()
                .await
                .unwrap()
                .execution
                .unwrap();
            out.push(format!(
                "{t} {:?} v{} {:?} {:?} {:?}",
                e.status,
                e.version_number,
                e.status_details.and_then(|d| d.details_map),
                e.queued_at,
                e.last_updated_at
            ));
        }
        let job = iot.describe_job().job_id("job-1").send().await.unwrap();
        out.push(format!("{:?}", job.job.unwrap().job_process_details));
        out
    };
    let before = snapshot(server.iot()).await;
    assert!(before[0].contains("Queued") && before[3].contains("Canceled"));
    server.restart();
    let after = snapshot(server.iot()).await;
    assert_eq!(before, after);
    // And the restarted server still works on that state.
    server
        .iot()
        .cancel_job_execution()
        .job_id("job-1")
        .thing_name("p")
        .force(true)
        .send()
        .await
        .unwrap();
    let e = server
        .iot()
        .describe_job_execution()
        .thing_name("p")
        .job_id("job-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        e.execution().unwrap().status(),
        Some(&JobExecutionStatus::Canceled)
    );
}
