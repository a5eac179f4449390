//! The PostgreSQL backend: the shared conformance suite, each test in a fresh schema of
//! the database named by `IOTJOBS_TEST_PG_URL` (default: the local test database).
//! PostgreSQL must be running: these tests fail, never skip, without it.

use super::*;
use crate::conformance::seed_job_over_things;
use iotjobs_core::{
    ChangeNotice, ExecutionCommand, ExecutionSelector, JobExecutionStatus, Store, Timestamp,
};
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) fn test_url() -> String {
    std::env::var("IOTJOBS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store on a new, empty schema.
pub(crate) async fn fresh() -> PgStore {
    static N: AtomicUsize = AtomicUsize::new(0);
    let schema = format!(
        "iotjobs_test_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let url = test_url();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for these tests: {e}"));
    tokio::spawn(conn);
    drop_schemas_of_dead_runs(&client).await;
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.options(format!("-c search_path={schema}"));
    PgStore::with_config(config, 4).await.unwrap()
}

/// Test schemas are named after the process that made them; drop those of processes
/// that are gone, so that repeated local runs do not pile schemas up. Once per process.
async fn drop_schemas_of_dead_runs(client: &tokio_postgres::Client) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let rows = client
        .query(
            "SELECT nspname FROM pg_namespace
             WHERE nspname LIKE 'iotjobs\\_test\\_%' OR nspname LIKE 'iotjobs\\_it\\_%'",
            &[],
        )
        .await
        .unwrap_or_default();
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

mod conformance {
    crate::conformance_tests!(super::fresh().await);
}

/// Two stores (two "nodes") migrating the same schema at once: the advisory lock makes
/// one apply the migrations and the other find them applied.
#[tokio::test]
async fn concurrent_start_up_migrates_once() {
    let store = fresh().await;
    let schema = schema_of(&store).await;
    // Drop the tables again and migrate twice concurrently from scratch.
    store
        .client()
        .await
        .unwrap()
        .batch_execute(&format!(
            "DROP SCHEMA {schema} CASCADE; CREATE SCHEMA {schema};"
        ))
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = test_url().parse().unwrap();
    config.options(format!("-c search_path={schema}"));
    let (a, b) = tokio::join!(
        PgStore::with_config(config.clone(), 2),
        PgStore::with_config(config, 2)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let version: i64 = a
        .client()
        .await
        .unwrap()
        .query_one("SELECT version FROM iotjobs_schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, MIGRATIONS.len() as i64);
    b.describe_thing("x").await.unwrap();
}

/// A forced cancel and a device update racing on the same executions from two pools:
/// each execution ends with exactly one winner and exact counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_cancel_and_update_have_one_winner() {
    let node_a = fresh().await;
    let node_b = second_node(&node_a).await;
    let t0 = Timestamp(1_700_000_000_000);
    let things: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    seed_job_over_things(&node_a, "j", &things, t0).await;
    let exact = |t: &str| ExecutionSelector::Exact {
        thing_name: t.into(),
        job_id: "j".into(),
        execution_number: None,
    };
    let start = ExecutionCommand::DeviceUpdate {
        status: JobExecutionStatus::InProgress,
        expected_version: Some(1),
        status_details: None,
        step_timeout_in_minutes: None,
    };
    for t in &things {
        node_b
            .update_job_execution(exact(t), start.clone(), t0)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for t in &things {
        let (a, b) = (node_a.clone(), node_b.clone());
        let (sa, sb) = (exact(t), exact(t));
        tasks.push(tokio::spawn(async move {
            let cancel = a.update_job_execution(
                sa,
                ExecutionCommand::Cancel {
                    force: true,
                    expected_version: None,
                    status_details: None,
                },
                t0,
            );
            let finish = b.update_job_execution(
                sb,
                ExecutionCommand::DeviceUpdate {
                    status: JobExecutionStatus::Succeeded,
                    expected_version: Some(2),
                    status_details: None,
                    step_timeout_in_minutes: None,
                },
                t0,
            );
            let (c, f) = tokio::join!(cancel, finish);
            (c.is_ok(), f.is_ok(), c, f)
        }));
    }
    let (mut canceled, mut succeeded) = (0, 0);
    for (t, task) in things.iter().zip(tasks) {
        let (c_ok, f_ok, c, f) = task.await.unwrap();
        assert!(c_ok ^ f_ok, "{t}: exactly one winner: {c:?} / {f:?}");
        let loser = if c_ok { f.unwrap_err() } else { c.unwrap_err() };
        assert!(
            matches!(loser, JobsError::InvalidStateTransition { .. }),
            "{t}: {loser:?}"
        );
        let e = node_a
            .describe_job_execution(&exact(t))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.version_number, 3, "{t}");
        if c_ok {
            canceled += 1;
            assert_eq!(e.status, JobExecutionStatus::Canceled);
        } else {
            succeeded += 1;
            assert_eq!(e.status, JobExecutionStatus::Succeeded);
        }
    }
    let j = node_b.describe_job("j").await.unwrap().unwrap();
    let d = j.progress.process_details;
    assert_eq!(
        (d.canceled, d.succeeded, d.in_progress),
        (canceled, succeeded, 0)
    );
    assert_eq!(j.progress.status, iotjobs_core::JobStatus::Completed);
}

/// Node B hears the executions node A changes (NOTIFY on A's commit, LISTEN on B), and
/// after B's LISTEN connection is killed it reconnects and announces a resync (an empty
/// list), so a device on B misses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_nodes_hear_committed_changes_and_resync_after_a_lost_listener() {
    let node_a = fresh().await;
    let node_b = second_node(&node_a).await;
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
    // A resync is heard as an empty list. Other nodes' commits carry no events.
    node_b.set_change_listener(std::sync::Arc::new(move |notice: ChangeNotice<'_>| {
        let _ = tx.send(match notice {
            ChangeNotice::Committed { things, events } => {
                assert!(
                    events.is_empty(),
                    "events stay with the node that made them"
                );
                things.iter().map(|t| t.thing.clone()).collect()
            }
            ChangeNotice::Resync => Vec::new(),
        });
    }));
    let t0 = Timestamp(1_700_000_000_000);
    // The LISTEN connection is set up asynchronously: wait until it is there.
    let listening = || async {
        let rows = node_a
            .client()
            .await
            .unwrap()
            .query(
                "SELECT pid FROM pg_stat_activity WHERE query = $1",
                &[&format!("LISTEN \"{}\"", node_b.channel)],
            )
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>()
    };
    // ... and until node A has noticed it (before that, A sends no NOTIFY).
    for _ in 0..100 {
        if !listening().await.is_empty() && node_a.peers_listen() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    seed_job_over_things(&node_a, "j", &["t1".to_string(), "t2".to_string()], t0).await;
    assert_eq!(heard_things(&mut heard).await, ["t1", "t2"]);
    // A refused command on A: nothing committed, nothing heard; then a real change.
    let sel = |t: &str| ExecutionSelector::Exact {
        thing_name: t.into(),
        job_id: "j".into(),
        execution_number: None,
    };
    let cancel = |v| ExecutionCommand::Cancel {
        force: false,
        expected_version: v,
        status_details: None,
    };
    node_a
        .update_job_execution(sel("t1"), cancel(Some(7)), t0)
        .await
        .unwrap_err();
    node_a
        .update_job_execution(sel("t1"), cancel(None), t0)
        .await
        .unwrap();
    assert_eq!(heard_things(&mut heard).await, ["t1"]);

    // Kill B's LISTEN connection; A changes t2 meanwhile; B resyncs.
    let pids = listening().await;
    assert_eq!(pids.len(), 1, "one LISTEN connection for node B");
    node_a
        .client()
        .await
        .unwrap()
        .execute("SELECT pg_terminate_backend($1)", &[&pids[0]])
        .await
        .unwrap();
    node_a
        .update_job_execution(sel("t2"), cancel(None), t0)
        .await
        .unwrap();
    let mut got = heard_within_5s(&mut heard).await;
    // The notification may still have reached the old connection; else the resync.
    if got == ["t2"] {
        got = heard_within_5s(&mut heard).await;
    }
    assert!(got.is_empty(), "a resync after reconnecting, got {got:?}");
}

async fn heard_within_5s(
    heard: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<String>>,
) -> Vec<String> {
    tokio::time::timeout(std::time::Duration::from_secs(5), heard.recv())
        .await
        .expect("heard within 5 s")
        .unwrap()
}

/// The schema a store's connections use.
async fn schema_of(store: &PgStore) -> String {
    store
        .client()
        .await
        .unwrap()
        .query_one("SELECT current_schema()", &[])
        .await
        .unwrap()
        .get(0)
}

/// A second node on the same schema as `node`.
async fn second_node(node: &PgStore) -> PgStore {
    let schema = schema_of(node).await;
    let mut config: tokio_postgres::Config = test_url().parse().unwrap();
    config.options(format!("-c search_path={schema}"));
    PgStore::with_config(config, 8).await.unwrap()
}

/// DeleteThingGroup on one node while another node adds members to the group and
/// devices start their executions of a CONTINUOUS job on it: no deadlock surfaces (every
/// call succeeds, or an add finds the group gone), no membership outlives the group, and
/// the job's counters equal a recount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_thing_group_races_with_joins_and_device_updates() {
    use iotjobs_core::{NewJob, NewThingGroup, PageRequest, TargetSelection};
    let node_a = fresh().await;
    let node_b = second_node(&node_a).await;
    let t0 = Timestamp(1_700_000_000_000);
    let group = NewThingGroup {
        group_name: "g".into(),
        parent_group_name: None,
        description: None,
        attributes: Default::default(),
        tags: None,
    };
    node_a
        .create_thing_group(group, "g".into(), t0)
        .await
        .unwrap();
    let members: Vec<String> = (0..30).map(|i| format!("m{i:02}")).collect();
    let joiners: Vec<String> = (0..10).map(|i| format!("x{i:02}")).collect();
    for t in members.iter().chain(&joiners) {
        let new = crate::conformance::bare_thing(t);
        node_a.create_thing(new, t.clone(), t0).await.unwrap();
    }
    for t in &members {
        node_a.add_thing_to_thing_group("g", t, t0).await.unwrap();
    }
    let job = NewJob {
        job_id: "j".into(),
        targets: vec![],
        target_things: vec![],
        target_groups: vec!["g".into()],
        document: Some("{}".into()),
        document_source: None,
        description: None,
        target_selection: TargetSelection::Continuous,
        in_progress_timeout_minutes: None,
        policy: Default::default(),
        configs: Default::default(),
    };
    node_a.create_job(job, t0).await.unwrap();

    let start = ExecutionCommand::DeviceUpdate {
        status: JobExecutionStatus::InProgress,
        expected_version: None,
        status_details: None,
        step_timeout_in_minutes: None,
    };
    let mut tasks = Vec::new();
    for t in members.iter().rev() {
        let (b, t, start) = (node_b.clone(), t.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let sel = ExecutionSelector::Exact {
                thing_name: t,
                job_id: "j".into(),
                execution_number: None,
            };
            match b.update_job_execution(sel, start, t0).await {
                // The group's deletion REMOVED the QUEUED execution first.
                Err(JobsError::InvalidStateTransition { .. }) => Ok(()),
                other => other.map(drop),
            }
        }));
    }
    for t in &joiners {
        let (b, t) = (node_b.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            match b.add_thing_to_thing_group("g", &t, t0).await {
                Err(JobsError::NotFound(_)) => Ok(()), // the group was deleted first
                other => other,
            }
        }));
    }
    let deleting = {
        let a = node_a.clone();
        tokio::spawn(async move { a.delete_thing_group("g", None, t0).await })
    };
    deleting.await.unwrap().unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for t in members.iter().chain(&joiners) {
        let page = PageRequest {
            after: None,
            limit: 10,
        };
        let groups = node_a.list_thing_groups_for_thing(t, page).await.unwrap();
        assert!(
            groups.items.is_empty(),
            "{t} is still in {:?}",
            groups.items
        );
    }
    // The counters equal a recount of the executions.
    let all = node_a
        .list_job_executions_for_job(
            "j",
            None,
            PageRequest {
                after: None,
                limit: 250,
            },
        )
        .await
        .unwrap()
        .items;
    let d = node_a
        .describe_job("j")
        .await
        .unwrap()
        .unwrap()
        .progress
        .process_details;
    for status in JobExecutionStatus::ALL {
        let n = all.iter().filter(|e| e.status == status).count() as i64;
        assert_eq!(d.get(status), n, "{status}");
    }
}

/// The next announcement that names things, skipping resyncs (empty lists), which the
/// listening node also sends a while after it starts listening.
async fn heard_things(
    heard: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<String>>,
) -> Vec<String> {
    loop {
        let things = heard_within_5s(heard).await;
        if !things.is_empty() {
            return things;
        }
    }
}

/// A node alone on its schema sends no NOTIFY (PostgreSQL serializes NOTIFYing commits);
/// once another node LISTENs, it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_notifies_only_while_another_node_listens() {
    let node_a = fresh().await;
    let wait_until = |want: bool| {
        let a = node_a.clone();
        async move {
            for _ in 0..100 {
                if a.peers_listen() == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("peers_listen never became {want}");
        }
    };
    wait_until(false).await;
    let node_b = second_node(&node_a).await;
    node_b.set_change_listener(std::sync::Arc::new(|_: ChangeNotice<'_>| {}));
    wait_until(true).await;
    drop(node_b);
    // A node's own LISTEN connection is not a peer: alone on its schema, a node with a
    // change listener still sends no NOTIFY.
    let node_c = fresh().await;
    node_c.set_change_listener(std::sync::Arc::new(|_: ChangeNotice<'_>| {}));
    tokio::time::sleep(PEER_CHECK * 3).await;
    assert!(!node_c.peers_listen(), "its own listener counted as a peer");
}

/// A lead role passes between nodes: node B cannot take it while node A holds it; when
/// A's lock connection is killed (as when A's process dies), A's lease reports the role
/// lost within a check period and B takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_role_passes_to_another_node_when_its_holder_loses_its_connection() {
    let node_a = fresh().await;
    let node_b = second_node(&node_a).await;
    let lease_a = node_a.try_lead("mqtt-broker").await.unwrap().unwrap();
    assert!(node_b.try_lead("mqtt-broker").await.unwrap().is_none());
    // The backend holding the advisory lock (a bigint key is classid:objid).
    let key = lease_key(&node_a.channel, "mqtt-broker");
    let killed: Vec<bool> = node_b
        .client()
        .await
        .unwrap()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
             AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&key],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(killed, [true]);
    let mut lost = false;
    for _ in 0..60 {
        if !lease_a.is_held() {
            lost = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(lost, "the lease still claims a role whose lock is gone");
    assert!(node_b.try_lead("mqtt-broker").await.unwrap().is_some());
}

/// A schema stamped with a version this build did not write (a newer iotjobs migrated
/// it, or the number is bogus) is refused at start-up, naming both versions, and left
/// as it was.
#[tokio::test]
async fn a_schema_of_an_unknown_version_is_refused() {
    let supported = MIGRATIONS.len() as i64;
    for version in [supported + 1, 99, -1] {
        let store = fresh().await;
        let schema = schema_of(&store).await;
        let client = store.client().await.unwrap();
        client
            .execute(
                "UPDATE iotjobs_schema_version SET version = $1",
                &[&version],
            )
            .await
            .unwrap();
        let refused = PgStore::connect_in_schema(&test_url(), &schema).await;
        let message = match refused {
            Ok(_) => panic!("schema version {version} was served"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(&format!("schema version {version}"))
                && message.contains(&format!("versions 0 to {supported}")),
            "{message}"
        );
        let kept: i64 = client
            .query_one("SELECT version FROM iotjobs_schema_version", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(kept, version);
    }
}

/// A start-up failure carries PostgreSQL's own words, not the driver's "db error".
#[tokio::test]
async fn start_up_errors_carry_the_servers_message() {
    let mut config: tokio_postgres::Config = test_url().parse().unwrap();
    config.dbname("iotjobs_no_such_database");
    let message = match PgStore::with_config(config, 1).await {
        Ok(_) => panic!("connected to a database that does not exist"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("database \"iotjobs_no_such_database\" does not exist"),
        "{message}"
    );
}

/// A store on `node`'s schema whose connections carry `application_name`, so that a
/// test can end exactly its sessions.
async fn named_node(node: &PgStore, application_name: &str) -> PgStore {
    let schema = schema_of(node).await;
    let mut config: tokio_postgres::Config = test_url().parse().unwrap();
    config.options(format!("-c search_path={schema}"));
    config.application_name(application_name);
    PgStore::with_config(config, 4).await.unwrap()
}

/// End every session of `application_name`, as an administrator (or a server restart)
/// would, and wait until PostgreSQL has removed them (the store may open new ones
/// meanwhile: its peer watcher connects every second).
async fn terminate_sessions(admin: &tokio_postgres::Client, application_name: &str) {
    let killed: Vec<i32> = admin
        .query(
            // In the select list, so that only the rows of this application are ended
            // (a WHERE clause may evaluate its conditions in any order).
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !killed.is_empty(),
        "no session of {application_name} to end"
    );
    for _ in 0..500 {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&killed],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the sessions of {application_name} did not end");
}

/// Wait until a session of `application_name` waits for a lock.
async fn until_waiting_for_a_lock(admin: &tokio_postgres::Client, application_name: &str) {
    for _ in 0..1000 {
        let waiting: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&application_name],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no session of {application_name} came to wait for the lock");
}

/// A lost connection: a read is answered from a new connection whether the connection
/// died between requests or under the read; a write whose statement was running when it
/// died fails as `connection_lost` (a 503 at the edge), and the next write succeeds.
/// Sessions are ended with `pg_terminate_backend`; to end one in the middle of a request,
/// the request is first made to wait for a table lock this test holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_retries_reads_and_fails_writes_as_unavailable() {
    let base = fresh().await;
    let app = format!("iotjobs_lost_{}", std::process::id());
    let store = named_node(&base, &app).await;
    let t0 = Timestamp(1_700_000_000_000);
    let thing = crate::conformance::bare_thing;
    store
        .create_thing(thing("t1"), "id1".into(), t0)
        .await
        .unwrap();
    let mut admin = base.client().await.unwrap();

    // Between requests.
    terminate_sessions(&admin, &app).await;
    let read = store.describe_thing("t1").await.unwrap();
    assert_eq!(read.map(|t| t.thing_name).as_deref(), Some("t1"));

    // Under a read.
    let lock = admin.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE things IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let reader = {
        let store = store.clone();
        tokio::spawn(async move { store.describe_thing("t1").await })
    };
    let watcher = base.client().await.unwrap();
    until_waiting_for_a_lock(&watcher, &app).await;
    terminate_sessions(&watcher, &app).await;
    lock.rollback().await.unwrap();
    let read = reader.await.unwrap().expect("the read is run again");
    assert_eq!(read.map(|t| t.thing_name).as_deref(), Some("t1"));

    // Under a write.
    let lock = admin.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE things IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { store.create_thing(thing("t2"), "id2".into(), t0).await })
    };
    until_waiting_for_a_lock(&watcher, &app).await;
    terminate_sessions(&watcher, &app).await;
    lock.rollback().await.unwrap();
    match writer.await.unwrap() {
        Err(e) => assert!(e.is_connection_lost(), "{e:?}"),
        Ok(_) => panic!("a write whose connection died under it reported success"),
    }
    assert!(store.describe_thing("t2").await.unwrap().is_none());
    store
        .create_thing(thing("t3"), "id3".into(), t0)
        .await
        .unwrap();
}

/// A tablespace on a small tmpfs, for one test: mounted (root only: the project's
/// machines and CI run tests as root), handed to the PostgreSQL server's OS user and
/// created; dropped, with whatever schema used it, and unmounted when dropped.
struct SmallTablespace {
    name: String,
    schema: String,
    dir: tempfile::TempDir,
}

impl SmallTablespace {
    async fn create(admin: &tokio_postgres::Client, size: &str) -> SmallTablespace {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "mounting a tmpfs needs root");
        // The server (on this machine: the tests use a local PostgreSQL) must own it.
        let data: String = admin
            .query_one("SHOW data_directory", &[])
            .await
            .unwrap()
            .get(0);
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&data).unwrap());
        std::os::unix::fs::chown(dir.path(), Some(owner), None).unwrap();
        // The temp dir's own mode must let the server reach the mount point.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let name = format!("iotjobs_full_{}", std::process::id());
        admin
            .batch_execute(&format!(
                "CREATE TABLESPACE {name} LOCATION '{}'",
                dir.path().display()
            ))
            .await
            .unwrap();
        SmallTablespace {
            name,
            schema: String::new(),
            dir,
        }
    }

    /// Fill the tmpfs with a file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write as _;
        let filler = self.dir.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 8192];
        while f.write_all(&chunk).is_ok() {}
        filler
    }
}

impl Drop for SmallTablespace {
    fn drop(&mut self) {
        let (name, schema) = (self.name.clone(), self.schema.clone());
        // Runs on panics too; a fresh runtime, since this may be inside a test's one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&test_url(), tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                if !schema.is_empty() {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
                let _ = client
                    .batch_execute(&format!("DROP TABLESPACE IF EXISTS {name}"))
                    .await;
            });
        })
        .join();
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A full disk (SQLSTATE 53100): the tables live in a tablespace on a 4 MiB tmpfs that
/// the test fills, so PostgreSQL fails to extend a table file with ENOSPC, as on a full
/// disk. The write fails as `storage_full` (a 503 that says so at the edge), reads go
/// on, and once space is freed writes succeed again on the same store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_as_storage_full_and_recovers() {
    let (admin, conn) = tokio_postgres::connect(&test_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut space = SmallTablespace::create(&admin, "4m").await;
    let base = fresh().await;
    space.schema = schema_of(&base).await;
    drop(base);
    // Tables made from here on (the migrations of a new schema) go to the tablespace.
    admin
        .batch_execute(&format!(
            "DROP SCHEMA {0} CASCADE; CREATE SCHEMA {0}",
            space.schema
        ))
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = test_url().parse().unwrap();
    config.options(format!(
        "-c search_path={} -c default_tablespace={}",
        space.schema, space.name
    ));
    let store = PgStore::with_config(config, 4).await.unwrap();
    let t0 = Timestamp(1_700_000_000_000);
    store
        .create_thing(crate::conformance::bare_thing("before"), "id".into(), t0)
        .await
        .unwrap();

    let filler = space.fill();
    // About 8 KiB per thing that PostgreSQL cannot compress away (pseudo-random hex), so
    // that the tables must grow soon.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = move || {
        (0..1000 / 16)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{seed:016x}")
            })
            .collect::<String>()
    };
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for i in 0..5000 {
        let new = iotjobs_core::NewThing {
            attributes: (0..8).map(|a| (format!("a{a}"), noise())).collect(),
            ..crate::conformance::bare_thing(&format!("t{i}"))
        };
        match store.create_thing(new, format!("id{i}"), t0).await {
            Ok(_) => acknowledged.push(format!("t{i}")),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("5,000 writes succeeded on a full tablespace");
    assert!(refusal.is_storage_full(), "{refusal:?}");
    assert!(store.describe_thing("before").await.unwrap().is_some());
    for name in &acknowledged {
        assert!(
            store.describe_thing(name).await.unwrap().is_some(),
            "{name}"
        );
    }

    std::fs::remove_file(filler).unwrap();
    store
        .create_thing(crate::conformance::bare_thing("after"), "id".into(), t0)
        .await
        .unwrap();
    drop(store);
}
