//! The SQLite backend: the shared conformance suite, plus what only a file-backed
//! store can show (reopening, concurrency through the group-commit writer).

use super::*;
use crate::conformance::seed_job_over_things;
use iotjobs_core::{
    ExecutionCommand, ExecutionSelector, JobExecutionStatus, NewJob, Store, Timestamp,
};

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite"), SqliteOptions::default()).unwrap();
    (dir, store)
}

mod conformance {
    // The TempDir must outlive the store: leak it for the test's duration.
    crate::conformance_tests!({
        let (dir, store) = super::fresh();
        std::mem::forget(dir);
        store
    });
}

#[tokio::test]
async fn reopening_keeps_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let t0 = Timestamp(1_700_000_000_000);
    {
        let s = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        for t in ["t1", "t2"] {
            let new = crate::conformance::bare_thing(t);
            s.create_thing(new, t.into(), t0).await.unwrap();
        }
        let new = NewJob {
            job_id: "j1".into(),
            targets: vec![],
            target_things: vec!["t1".into(), "t2".into()],
            target_groups: vec![],
            document: Some("{}".into()),
            document_source: None,
            description: None,
            target_selection: iotjobs_core::TargetSelection::Snapshot,
            in_progress_timeout_minutes: None,
            policy: Default::default(),
            configs: Default::default(),
        };
        s.create_job(new, t0).await.unwrap();
        let sel = ExecutionSelector::Exact {
            thing_name: "t1".into(),
            job_id: "j1".into(),
            execution_number: None,
        };
        s.update_job_execution(
            sel,
            ExecutionCommand::Cancel {
                force: false,
                expected_version: None,
                status_details: Some([("why".to_string(), "test".to_string())].into()),
            },
            t0,
        )
        .await
        .unwrap();
    }
    let s = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let e = s
        .describe_job_execution(&ExecutionSelector::Exact {
            thing_name: "t1".into(),
            job_id: "j1".into(),
            execution_number: None,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.status, JobExecutionStatus::Canceled);
    assert_eq!(
        e.status_details.get("why").map(String::as_str),
        Some("test")
    );
    let j = s.describe_job("j1").await.unwrap().unwrap();
    assert_eq!(j.progress.process_details.canceled, 1);
    assert_eq!(j.progress.process_details.queued, 1);
}

/// Many concurrent cancels share batches; each gets its own answer, and a failing one
/// does not undo its batch neighbours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_each_get_their_own_result() {
    let (_dir, s) = fresh();
    let t0 = Timestamp(1_700_000_000_000);
    let names: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
    seed_job_over_things(&s, "j", &names, t0).await;
    let mut tasks = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let s = s.clone();
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            // Every third request carries a wrong version and must fail alone.
            let expected = if i % 3 == 0 { Some(42) } else { Some(1) };
            s.update_job_execution(
                ExecutionSelector::Exact {
                    thing_name: n,
                    job_id: "j".into(),
                    execution_number: None,
                },
                ExecutionCommand::Cancel {
                    force: false,
                    expected_version: expected,
                    status_details: None,
                },
                t0,
            )
            .await
        }));
    }
    let mut ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(JobsError::VersionMismatch { .. }) => assert_eq!(i % 3, 0),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 200 - 67);
    let j = s.describe_job("j").await.unwrap().unwrap();
    assert_eq!(j.progress.process_details.canceled, 133);
    assert_eq!(j.progress.process_details.queued, 67);
}

#[test]
fn database_url_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.db");
    assert!(crate::open_sqlite_url(&format!("sqlite://{}", p.display())).is_ok());
    assert!(
        crate::open_sqlite_url(&format!("sqlite://{}?synchronous=normal", p.display())).is_ok()
    );
    assert!(
        crate::open_sqlite_url(&format!("sqlite://{}?synchronous=bogus", p.display())).is_err()
    );
    assert!(crate::open_sqlite_url("postgres://localhost/x").is_err());
    assert!(crate::open_sqlite_url("sqlite://").is_err());
}

/// A database written by schema version 1 opens under version 2 with its data intact:
/// direct thing targets are backfilled into `job_targets`, timers into `timeout_at`.
#[tokio::test]
async fn migrates_a_version_1_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        conn.execute_batch(
            r#"PRAGMA user_version = 1;
            INSERT INTO things VALUES ('t1', 'id', NULL, '{}', NULL, 1, 0);
            INSERT INTO jobs VALUES ('j1', 'IN_PROGRESS', 'CONTINUOUS', 30, 0, 1, 0, 0, 0, 0, 0, 0, 0, NULL,
              '["arn:aws:iot:us-east-1:000000000000:thing/t1"]', '{}', NULL, NULL, 0, NULL, NULL, 0, '{}');
            INSERT INTO job_executions VALUES ('t1', 'j1', 1, 'IN_PROGRESS', 0, '{}', 0, 0, 0, 2, 1800000, 60000);"#,
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let r = s.sweep(Timestamp(60_000), 10).await.unwrap();
    assert_eq!(
        r.timed_out, 1,
        "timeout_at backfilled from the step deadline"
    );
    // The backfilled thing target keeps the thing targeted when it leaves a group.
    s.create_thing_group(
        iotjobs_core::NewThingGroup {
            group_name: "g".into(),
            parent_group_name: None,
            description: None,
            attributes: Default::default(),
            tags: None,
        },
        "g".into(),
        Timestamp(0),
    )
    .await
    .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM job_targets WHERE job_id = 'j1' AND target_type = 'thing' AND target_name = 't1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// A file stamped with a schema version this build did not write (a newer iotjobs
/// migrated it, or the number is bogus) is refused, naming both versions, and left as
/// it was.
#[test]
fn a_database_of_an_unknown_schema_version_is_refused() {
    let supported = MIGRATIONS.len() as i64;
    for version in [supported + 1, 99, -1] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
        let message = match SqliteStore::open(&path, SqliteOptions::default()) {
            Ok(_) => panic!("schema version {version} was served"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(&format!("schema version {version}"))
                && message.contains(&format!("versions 0 to {supported}")),
            "{message}"
        );
        let kept: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, version);
    }
}

/// Create things `names` with 64 in flight (about 4 KiB each, so each writes at least one
/// page of its own), with readers beside them; returns the largest WAL file seen.
async fn create_things_concurrently(
    s: &SqliteStore,
    names: std::ops::Range<usize>,
    wal: &std::path::Path,
) -> u64 {
    let t0 = Timestamp(1_700_000_000_000);
    let attributes: std::collections::BTreeMap<String, String> = (0..40)
        .map(|i| (format!("attribute{i:02}"), "x".repeat(100)))
        .collect();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(names.start));
    let largest = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..64 {
        let (s, next, largest) = (s.clone(), next.clone(), largest.clone());
        let (attributes, wal, end) = (attributes.clone(), wal.to_owned(), names.end);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let new = iotjobs_core::NewThing {
                    attributes: attributes.clone(),
                    ..crate::conformance::bare_thing(&format!("t{i}"))
                };
                s.create_thing(new, format!("id{i}"), t0).await.unwrap();
                if worker % 8 == 0 {
                    // Readers beside the writer (they hold WAL snapshots while they read).
                    s.describe_thing(&format!("t{}", i / 2)).await.unwrap();
                }
                let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                largest.fetch_max(size, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    largest.load(std::sync::atomic::Ordering::Relaxed)
}

/// The WAL's size at a restart, in bytes.
const RESTART_BYTES: u64 = WAL_RESTART_FRAMES as u64 * 4096;

/// Under writes that never pause (64 in flight, with readers beside them), the WAL file
/// stays bounded: the writer restarts it every `WAL_RESTART_FRAMES` frames. Without that,
/// the checkpoint thread never catches up with the writer and the WAL only grows; this
/// run writes several times `WAL_RESTART_FRAMES` worth of pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_continuous_writes() {
    let (dir, s) = fresh();
    let wal = dir.path().join("db.sqlite-wal");
    let largest = create_things_concurrently(&s, 0..4 * WAL_RESTART_FRAMES as usize, &wal).await;
    let db = std::fs::metadata(dir.path().join("db.sqlite"))
        .unwrap()
        .len();
    assert!(
        db > 2 * RESTART_BYTES,
        "the run wrote too little to show anything: database {db} bytes"
    );
    assert!(
        largest < 2 * RESTART_BYTES,
        "the WAL grew to {largest} bytes (database: {db} bytes)"
    );
}

/// A read that lasts (as a backup's snapshot does) keeps the WAL from starting over:
/// SQLite cannot overwrite pages the reader may still need. Writes go on meanwhile, and
/// once the read ends the next restart cuts the file back to `JOURNAL_SIZE_LIMIT` and the
/// WAL is bounded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_read_defers_the_wal_restart_and_writes_go_on() {
    let (dir, s) = fresh();
    let wal = dir.path().join("db.sqlite-wal");
    let n = WAL_RESTART_FRAMES as usize;
    create_things_concurrently(&s, 0..n / 4, &wal).await;
    let reader = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM things", [], |r| r.get(0))
        .unwrap();
    let during = create_things_concurrently(&s, n / 4..3 * n, &wal).await;
    assert!(
        during > 2 * RESTART_BYTES,
        "the WAL started over under a reader of old pages ({during} bytes)"
    );
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    // Writes go on; a restart can still be deferred by the short reads beside them (a
    // busy machine makes that likelier), so allow several restart periods, but the WAL
    // must come back within the limit.
    let mut after = u64::MAX;
    for round in 0..8 {
        let start = 3 * n + round * n;
        create_things_concurrently(&s, start..start + n, &wal).await;
        after = std::fs::metadata(&wal).unwrap().len();
        if after <= JOURNAL_SIZE_LIMIT as u64 {
            break;
        }
    }
    assert!(
        after <= JOURNAL_SIZE_LIMIT as u64,
        "the WAL stayed at {after} bytes after the read ended"
    );
}
