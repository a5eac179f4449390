//! What an operator meets (docs/operations.md): a full disk, and a database stamped by
//! a newer iotjobs, on the real binary.

use crate::harness::{Server, code_status};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    /// Mounting needs root (CAP_SYS_ADMIN); the project's machines and CI run the tests
    /// as root. Without it this test fails: it does not skip.
    fn mount(size: &str) -> SmallFilesystem {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs failed ({status}): this test needs root"
        );
        SmallFilesystem { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the free space with a file of zeros; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).expect("create filler");
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        filler
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A full disk: writes answer 503 ServiceUnavailableException saying that the storage is
/// full, reads go on, nothing acknowledged is lost, and writes succeed again as soon as
/// space is freed, without a restart.
///
/// The database lives on a 4 MiB tmpfs that the test fills with a file: SQLite then gets
/// ENOSPC from write(2) on the WAL, exactly as on a full disk (a size limit such as
/// RLIMIT_FSIZE would give EFBIG instead, and a `max_page_count` pragma would never reach
/// the filesystem).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_keeps_reads_and_recovers_when_space_is_freed() {
    let fs = SmallFilesystem::mount("4m");
    let url = format!("sqlite://{}", fs.path().join("iotjobs.sqlite").display());
    let mut server = Server::start_on(&url);
    let iot = server.iot();
    iot.create_thing()
        .thing_name("before")
        .send()
        .await
        .unwrap();

    let filler = fs.fill();
    // Attributes make each thing a few KiB, so that the WAL needs new space soon (what
    // it had already allocated is reused until then).
    let mut acknowledged = vec!["before".to_owned()];
    let mut refusal = None;
    for i in 0..2000 {
        let name = format!("t{i}");
        let mut create = iot.create_thing().thing_name(&name);
        let mut attributes = aws_sdk_iot::types::AttributePayload::builder();
        for a in 0..3 {
            attributes = attributes.attributes(format!("a{a}"), "x".repeat(800));
        }
        create = create.attribute_payload(attributes.build());
        match create.send().await {
            Ok(_) => acknowledged.push(name),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("2,000 writes succeeded on a full filesystem");
    assert_eq!(
        code_status(&refusal),
        ("ServiceUnavailableException".to_owned(), 503)
    );
    let message = refusal
        .as_service_error()
        .and_then(|e| aws_sdk_iot::error::ProvideErrorMetadata::message(e))
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("storage is full"), "{message}");

    // Reads keep working, and see every acknowledged write.
    for name in &acknowledged {
        iot.describe_thing().thing_name(name).send().await.unwrap();
    }
    // Still full: still refused.
    let again = iot.create_thing().thing_name("still-full").send().await;
    assert_eq!(
        code_status(&again.unwrap_err()),
        ("ServiceUnavailableException".to_owned(), 503)
    );

    // Space freed: the same server takes writes again.
    std::fs::remove_file(&filler).unwrap();
    iot.create_thing().thing_name("after").send().await.unwrap();
    acknowledged.push("after".into());

    // And all of it survives a restart.
    server.stop();
    let server = Server::start_on(&url);
    let iot = server.iot();
    for name in &acknowledged {
        iot.describe_thing().thing_name(name).send().await.unwrap();
    }
    let refused = iot
        .describe_thing()
        .thing_name("still-full")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&refused).1, 404);
}

/// `iotjobs serve` on `database`: expected to fail at start-up; returns its stderr.
fn refused_start(database: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_iotjobs"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .output()
        .expect("run iotjobs");
    assert!(
        !out.status.success(),
        "iotjobs served {database}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A SQLite file migrated by a newer iotjobs (`PRAGMA user_version` above ours) is not
/// served: the server refuses to start and names both versions.
#[test]
fn a_newer_sqlite_schema_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iotjobs.sqlite");
    let url = format!("sqlite://{}", path.display());
    // Started once to create and migrate the file (committed before it listens), then
    // killed: `serve` installs its SIGTERM handler only after printing its address.
    drop(Server::start_on(&url));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let ours: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "user_version", ours + 1).unwrap();
    drop(conn);
    let stderr = refused_start(&url);
    assert!(
        stderr.contains(&format!("schema version {}", ours + 1))
            && stderr.contains(&format!("versions 0 to {ours}")),
        "{stderr}"
    );
}

/// The same for a PostgreSQL schema (`iotjobs_schema_version`).
#[tokio::test]
async fn a_newer_postgres_schema_refuses_to_start() {
    let url = crate::multinode::fresh_schema().await;
    // Started once to migrate the schema (committed before it listens), then killed.
    drop(Server::start_on(&url));
    let schema = url
        .rsplit("search_path%3D")
        .next()
        .expect("a schema in the URL");
    let base = std::env::var("IOTJOBS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let ours: i64 = client
        .query_one(
            &format!("SELECT version FROM {schema}.iotjobs_schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            &format!("UPDATE {schema}.iotjobs_schema_version SET version = $1"),
            &[&(ours + 1)],
        )
        .await
        .unwrap();
    let stderr = refused_start(&url);
    assert!(
        stderr.contains(&format!("schema version {}", ours + 1))
            && stderr.contains(&format!("versions 0 to {ours}")),
        "{stderr}"
    );
}

/// A PostgreSQL start-up failure says what PostgreSQL said (here: no such database),
/// not the driver's bare "db error".
#[test]
fn a_postgres_start_up_error_carries_the_servers_message() {
    let base = std::env::var("IOTJOBS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (head, query) = base.split_once('?').unwrap_or((&base, ""));
    let server = head.rsplit_once('/').map_or(head, |(s, _)| s);
    let url = format!("{server}/iotjobs_no_such_database?{query}");
    let stderr = refused_start(url.trim_end_matches('?'));
    assert!(
        stderr.contains("database \"iotjobs_no_such_database\" does not exist"),
        "{stderr}"
    );
}
