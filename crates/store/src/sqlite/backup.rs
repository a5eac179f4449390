//! Online backups of the SQLite databases (`iotjobs backup`): a consistent copy of a
//! database that a running server keeps writing, taken from another process.
//!
//! `VACUUM INTO` copies the database as of one read transaction (WAL mode lets it read
//! while the server's writer commits) into a new, compact file, so the copy holds every
//! transaction committed before it started and none of the later ones, never half of
//! one. The copy is then opened and checked (`PRAGMA integrity_check`, same schema
//! version) before it is reported. Nothing here writes to the source database.
//!
//! PostgreSQL is not handled here: `pg_dump` is the tool for it (docs/operations.md).

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One database file copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUp {
    pub source: PathBuf,
    pub copy: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
}

/// The database files of one iotjobs deployment: the main file (the server's own account)
/// and the per-account files next to it (`iotjobs-123456789012.sqlite` beside
/// `iotjobs.sqlite`, see `crate::sqlite_account_url`), in name order after the main one.
pub fn deployment_files(main: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = vec![main.to_path_buf()];
    let (Some(dir), Some(name)) = (main.parent(), main.file_name().and_then(|n| n.to_str())) else {
        return Ok(files);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let mut accounts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let account = file
            .strip_prefix(stem)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.strip_suffix(ext));
        if account.is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
            accounts.push(main.with_file_name(file));
        }
    }
    accounts.sort();
    files.extend(accounts);
    Ok(files)
}

/// Copy the database at `source` into `copy` (which must not exist) consistently while
/// a server may be writing it, and check the copy.
pub fn backup(source: &Path, copy: &Path) -> Result<BackedUp, String> {
    if copy.exists() {
        return Err(format!(
            "{} exists: a backup never overwrites",
            copy.display()
        ));
    }
    // Read-only, and never creating the file: a mistyped path must not leave an empty
    // database behind.
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("opening {}: {e}", source.display()))?;
    // The server's writer holds the write lock only while it commits; a read
    // transaction never waits for it in WAL mode, but a checkpoint may briefly.
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("reading {}: {e}", source.display()))?;
    let target = copy
        .to_str()
        .ok_or_else(|| format!("{}: not a UTF-8 path", copy.display()))?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(|e| format!("copying {} to {}: {e}", source.display(), copy.display()))?;
    drop(conn);
    check(copy, schema_version)?;
    let bytes = std::fs::metadata(copy).map_err(|e| e.to_string())?.len();
    Ok(BackedUp {
        source: source.to_path_buf(),
        copy: copy.to_path_buf(),
        bytes,
        schema_version,
    })
}

/// The copy opens, passes `PRAGMA integrity_check` and has the source's schema version.
fn check(copy: &Path, schema_version: i64) -> Result<(), String> {
    let conn = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("opening the copy {}: {e}", copy.display()))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("checking the copy {}: {e}", copy.display()))?;
    if integrity != "ok" {
        return Err(format!(
            "the copy {} failed its integrity check: {integrity}",
            copy.display()
        ));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version != schema_version {
        return Err(format!(
            "the copy {} has schema version {version}, the source {schema_version}",
            copy.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::seed_job_over_things;
    use crate::{SqliteOptions, SqliteStore};
    use iotjobs_core::{Store, Timestamp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_taken_under_writes_is_a_consistent_database() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("iotjobs.sqlite");
        let store = SqliteStore::open(&main, SqliteOptions::default()).unwrap();
        let names: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        seed_job_over_things(&store, "j0", &names, Timestamp(1_700_000_000_000)).await;
        // Another account's file beside it, and files that are not account files.
        std::fs::write(dir.path().join("iotjobs-123456789012.sqlite"), b"").unwrap();
        std::fs::write(dir.path().join("iotjobs-notanaccount.sqlite"), b"").unwrap();
        let files = deployment_files(&main).unwrap();
        assert_eq!(
            files,
            [main.clone(), dir.path().join("iotjobs-123456789012.sqlite")]
        );

        // Keep writing (new jobs) while the backup runs.
        let writer = {
            let store = store.clone();
            let names = names.clone();
            tokio::spawn(async move {
                for j in 1..40 {
                    let new = iotjobs_core::NewJob {
                        job_id: format!("j{j}"),
                        targets: vec![],
                        target_things: names.clone(),
                        target_groups: vec![],
                        document: None,
                        document_source: None,
                        description: None,
                        target_selection: iotjobs_core::TargetSelection::Snapshot,
                        in_progress_timeout_minutes: None,
                        policy: Default::default(),
                        configs: Default::default(),
                    };
                    store
                        .create_job(new, Timestamp(1_700_000_000_000 + j))
                        .await
                        .unwrap();
                }
            })
        };
        let copy = dir.path().join("backup.sqlite");
        let report = tokio::task::spawn_blocking({
            let (main, copy) = (main.clone(), copy.clone());
            move || backup(&main, &copy)
        })
        .await
        .unwrap()
        .unwrap();
        writer.await.unwrap();
        assert!(report.bytes > 0 && report.schema_version > 0);
        assert!(
            backup(&main, &copy)
                .unwrap_err()
                .contains("never overwrites")
        );

        // The copy opens as a store, and every job in it is whole: 50 executions each.
        let restored = SqliteStore::open(&copy, SqliteOptions::default()).unwrap();
        let jobs = restored
            .list_jobs(
                &iotjobs_core::JobFilter::default(),
                iotjobs_core::PageRequest {
                    after: None,
                    limit: 250,
                },
            )
            .await
            .unwrap();
        assert!(!jobs.items.is_empty());
        for job in &jobs.items {
            let d = restored
                .describe_job(&job.progress.job_id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                d.progress.process_details.queued, 50,
                "{}",
                job.progress.job_id
            );
        }
    }

    #[test]
    fn a_missing_source_is_an_error_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.sqlite");
        let err = backup(&missing, &dir.path().join("copy.sqlite")).unwrap_err();
        assert!(err.contains("opening"), "{err}");
        assert!(!missing.exists());
    }
}
