//! Two server processes on one PostgreSQL database, hit at the same moment on the same
//! executions: a forced CancelJobExecution through node A and a device
//! UpdateJobExecution(SUCCEEDED) through node B. Every execution must end with exactly
//! one winner, the loser getting 409 InvalidStateTransitionException (never a 500), and
//! each job's `jobProcessDetails` must equal a recount of its executions.

use crate::harness::{Server, code_status, thing_arn};
use aws_sdk_iot::types::JobExecutionStatus as S;
use aws_sdk_iotjobsdataplane::types::JobExecutionStatus as D;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

const THINGS: usize = 100;
const JOBS: usize = 20; // 20 jobs × 100 things = 2,000 executions

/// A fresh schema in the test database, as a `--database` URL for the servers.
pub async fn fresh_schema() -> String {
    let base = std::env::var("IOTJOBS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "iotjobs_it_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
    );
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required for this test: {e}"));
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_cancel_and_device_update_on_two_nodes() {
    let url = fresh_schema().await;
    let node_a = Server::start_on(&url);
    let node_b = Server::start_on(&url);
    let (iot_a, iot_b, data_b) = (node_a.iot(), node_b.iot(), node_b.data());

    let things: Vec<String> = (0..THINGS).map(|i| format!("t{i:03}")).collect();
    for t in &things {
        iot_b.create_thing().thing_name(t).send().await.unwrap();
    }
    let jobs: Vec<String> = (0..JOBS).map(|j| format!("job-{j:02}")).collect();
    for j in &jobs {
        let mut req = iot_a.create_job().job_id(j).document("{}");
        for t in &things {
            req = req.targets(thing_arn(t));
        }
        req.send().await.unwrap();
    }
    let pairs: Vec<(String, String)> = jobs
        .iter()
        .flat_map(|j| things.iter().map(move |t| (t.clone(), j.clone())))
        .collect();
    assert_eq!(pairs.len(), 2_000);

    // Every execution IN_PROGRESS (version 2), through node B.
    let limit = Arc::new(Semaphore::new(32));
    let mut starts = Vec::new();
    for (t, j) in &pairs {
        let (data, t, j, limit) = (data_b.clone(), t.clone(), j.clone(), limit.clone());
        starts.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            data.update_job_execution()
                .thing_name(t)
                .job_id(j)
                .status(D::InProgress)
                .expected_version(1)
                .send()
                .await
                .unwrap();
        }));
    }
    for s in starts {
        s.await.unwrap();
    }

    // The race: both requests of a pair are sent at once, 64 pairs in flight.
    let limit = Arc::new(Semaphore::new(64));
    let mut races = Vec::new();
    for (t, j) in &pairs {
        let (iot, data) = (iot_a.clone(), data_b.clone());
        let (t, j, limit) = (t.clone(), j.clone(), limit.clone());
        races.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let cancel = iot
                .cancel_job_execution()
                .thing_name(&t)
                .job_id(&j)
                .force(true)
                .send();
            let finish = data
                .update_job_execution()
                .thing_name(&t)
                .job_id(&j)
                .status(D::Succeeded)
                .expected_version(2)
                .send();
            let (c, f) = tokio::join!(cancel, finish);
            let c = c.map(drop).map_err(|e| code_status(&e));
            let f = f.map(drop).map_err(|e| {
                let (code, status) = match &e {
                    aws_sdk_iotjobsdataplane::error::SdkError::ServiceError(s) => (
                        aws_sdk_iotjobsdataplane::error::ProvideErrorMetadata::code(s.err())
                            .unwrap_or("")
                            .to_owned(),
                        s.raw().status().as_u16(),
                    ),
                    other => panic!("not a service error: {other:?}"),
                };
                (code, status)
            });
            (t, j, c, f)
        }));
    }
    let mut winners: BTreeMap<(String, String), S> = BTreeMap::new();
    for r in races {
        let (t, j, c, f) = r.await.unwrap();
        let loser = match (&c, &f) {
            (Ok(()), Err(e)) => {
                winners.insert((t.clone(), j.clone()), S::Canceled);
                e
            }
            (Err(e), Ok(())) => {
                winners.insert((t.clone(), j.clone()), S::Succeeded);
                e
            }
            _ => panic!("{t}/{j}: exactly one must win: cancel {c:?}, update {f:?}"),
        };
        assert_eq!(
            loser,
            &("InvalidStateTransitionException".to_string(), 409),
            "{t}/{j}"
        );
    }
    assert_eq!(winners.len(), 2_000);

    // Afterwards, through the other node: each execution shows its winner at version 3,
    // and every job's counters equal a recount.
    for j in &jobs {
        let mut recount: BTreeMap<String, i32> = BTreeMap::new();
        let mut pages = iot_b
            .list_job_executions_for_job()
            .job_id(j)
            .max_results(250)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for s in page.unwrap().execution_summaries() {
                let thing = s
                    .thing_arn()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned();
                let status = s.job_execution_summary().unwrap().status().unwrap().clone();
                assert_eq!(winners[&(thing, j.clone())], status);
                *recount.entry(status.as_str().to_owned()).or_default() += 1;
            }
        }
        let job = iot_a.describe_job().job_id(j).send().await.unwrap();
        let d = job.job().unwrap().job_process_details().unwrap();
        let get = |k: &str| recount.get(k).copied().unwrap_or(0);
        assert_eq!(d.number_of_canceled_things(), Some(get("CANCELED")), "{j}");
        assert_eq!(
            d.number_of_succeeded_things(),
            Some(get("SUCCEEDED")),
            "{j}"
        );
        assert_eq!(d.number_of_in_progress_things(), Some(0), "{j}");
        assert_eq!(get("CANCELED") + get("SUCCEEDED"), THINGS as i32);
    }
    let sample = iot_a
        .describe_job_execution()
        .thing_name("t042")
        .job_id("job-07")
        .send()
        .await
        .unwrap();
    assert_eq!(sample.execution().unwrap().version_number(), 3);
}
