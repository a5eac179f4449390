//! A step timeout notifies the device: the sweep (run here with a manual clock, so that
//! no test waits the one-minute minimum) times out the IN_PROGRESS execution, and the
//! device connected over MQTT receives `notify` (`jobs: {}`) and `notify-next` (no
//! execution), as for a cancel (MQTT research note §8, item 6).

use iotjobs_core::{
    Clock, ExecutionCommand, ExecutionSelector, JobExecutionStatus, ManualClock, NewJob, NewThing,
    Store, TargetSelection, Timestamp,
};
use iotjobs_store::{SqliteOptions, SqliteStore};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_timeout_sends_notify_and_notify_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let t0 = Timestamp(1_700_000_000_000);
    let clock = Arc::new(ManualClock::new(t0));
    let thing = NewThing {
        thing_name: "dev1".into(),
        thing_type_name: None,
        attributes: Default::default(),
        billing_group_name: None,
    };
    store.create_thing(thing, "dev1".into(), t0).await.unwrap();
    let job = NewJob {
        job_id: "j1".into(),
        targets: vec![],
        target_things: vec!["dev1".into()],
        target_groups: vec![],
        document: Some("{}".into()),
        document_source: None,
        description: None,
        target_selection: TargetSelection::Snapshot,
        in_progress_timeout_minutes: None,
        policy: Default::default(),
        configs: Default::default(),
    };
    store.create_job(job, t0).await.unwrap();
    // The device has started it with a one-minute step timer.
    let start = ExecutionCommand::DeviceUpdate {
        status: JobExecutionStatus::InProgress,
        expected_version: None,
        status_details: None,
        step_timeout_in_minutes: Some(1),
    };
    let exact = ExecutionSelector::Exact {
        thing_name: "dev1".into(),
        job_id: "j1".into(),
        execution_number: None,
    };
    store.update_job_execution(exact, start, t0).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(iotjobs_mqtt::run(
        listener,
        None,
        store.clone(),
        clock.clone(),
        async {
            let _ = stopped.await;
        },
    ));

    let mut opts = MqttOptions::new("dev1", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    let (tx, mut packets) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(p) = event
                && tx.send(p).is_err()
            {
                return;
            }
        }
    });
    assert!(matches!(next(&mut packets).await, Packet::ConnAck(_)));
    for topic in ["notify", "notify-next"] {
        let filter = format!("$aws/things/dev1/jobs/{topic}");
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        assert!(matches!(next(&mut packets).await, Packet::SubAck(_)));
    }

    // Two minutes later the sweep times the execution out.
    clock.advance_millis(120_000);
    let report = store.sweep(clock.now(), 100).await.unwrap();
    assert_eq!(report.timed_out, 1);

    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 2 {
        if let Packet::Publish(p) = next(&mut packets).await {
            let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
            seen.insert(p.topic.clone(), body);
        }
    }
    let notify = &seen["$aws/things/dev1/jobs/notify"];
    assert_eq!(notify["jobs"], serde_json::json!({}), "{notify}");
    assert_eq!(notify["timestamp"], clock.now().epoch_seconds());
    let notify_next = &seen["$aws/things/dev1/jobs/notify-next"];
    assert!(notify_next.get("execution").is_none(), "{notify_next}");
    let e = store
        .describe_job_execution(&ExecutionSelector::Exact {
            thing_name: "dev1".into(),
            job_id: "j1".into(),
            execution_number: None,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.status, JobExecutionStatus::TimedOut);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

async fn next(packets: &mut mpsc::UnboundedReceiver<Packet>) -> Packet {
    tokio::time::timeout(Duration::from_secs(5), packets.recv())
        .await
        .expect("a packet within 5 s")
        .expect("the client's event loop ended")
}
