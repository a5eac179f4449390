//! The embedded SQLite backend.
//!
//! Writes: one writer thread owns the only writing connection. Requests queue up on a
//! channel; the thread takes everything queued (up to [`MAX_BATCH`]), runs each request
//! inside its own SAVEPOINT within one `BEGIN IMMEDIATE … COMMIT`, and answers every
//! request only after the COMMIT returned. With `synchronous=FULL` that COMMIT is an
//! fsync of the WAL, so an acknowledged write survives power loss, and concurrent
//! requests share one fsync (group commit) instead of paying one each.
//!
//! Reads: a small pool of reader connections on blocking threads; WAL lets them read
//! the last committed state while the writer works.
//!
//! This module must not decide any rule or sequence any operation: the `Store` logic is
//! `crate::ops`, written once for both backends; here is only how a transaction runs.

pub mod backup;
mod rows;

use iotjobs_core::JobsError;
use iotjobs_core::store::StoreResult;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;

/// Most requests committed together. Bounds the latency one batch adds.
const MAX_BATCH: usize = 256;
/// Reader connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// How hard SQLite syncs on commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync the WAL on every commit: survives power loss. The default.
    Full,
    /// fsync only at checkpoints: survives a process crash, may lose the last commits on
    /// power loss. For throwaway test environments.
    Normal,
}

impl Synchronous {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Some(Self::Full),
            "normal" => Some(Self::Normal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
        }
    }
}

/// A queued write request, type-erased so that one channel carries every kind.
trait WriteJob: Send {
    /// Run inside the batch transaction. Returns whether it succeeded (so that the
    /// writer rolls back its savepoint if not) and how to answer the caller once the
    /// batch's COMMIT is known.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finisher);
    /// Answer the caller without running (the batch could not start).
    fn abort(self: Box<Self>, err: JobsError);
}

type WriteFn = Box<dyn WriteJob>;
type Finisher = Box<dyn FnOnce(Result<(), JobsError>) + Send>;

struct Pending<F, R> {
    f: F,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<F, R> WriteJob for Pending<F, R>
where
    F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finisher) {
        let Pending { f, reply } = *self;
        let result = f(conn);
        let ok = result.is_ok();
        let finish: Finisher = Box::new(move |commit| {
            // Only a committed success is reported as success.
            let _ = reply.send(commit.and(result));
        });
        (ok, finish)
    }

    fn abort(self: Box<Self>, err: JobsError) {
        let _ = self.reply.send(Err(err));
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    changes: crate::ChangeFeed,
    /// Roles held ([`iotjobs_core::Store::try_lead`]): one process owns a SQLite file,
    /// so leading is only exclusive among this store's users.
    leaders: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Counted by the writer thread ([`iotjobs_core::Store::stats`]).
    stats: Arc<WriterStats>,
}

/// Group commits and the requests they carried, counted by the writer thread.
#[derive(Default)]
struct WriterStats {
    batches: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    writer: Mutex<Option<mpsc::Sender<WriteFn>>>,
    readers: Mutex<Vec<Connection>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Dropping it stops the checkpointer thread.
    checkpointer: Mutex<Option<mpsc::Sender<()>>>,
    checkpointer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A role held in this process; dropping it frees the role.
struct LocalLease {
    role: String,
    leaders: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl iotjobs_core::Lease for LocalLease {
    fn is_held(&self) -> bool {
        true
    }
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        self.leaders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.role);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer thread after it finishes queued work.
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Some(handle) = self.writer_thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
        if let Ok(mut c) = self.checkpointer.lock() {
            c.take();
        }
        if let Some(handle) = self
            .checkpointer_thread
            .lock()
            .ok()
            .and_then(|mut h| h.take())
        {
            let _ = handle.join();
        }
    }
}

fn db_err(e: rusqlite::Error) -> JobsError {
    match e {
        rusqlite::Error::SqliteFailure(ref f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            JobsError::storage_unavailable(format_args!("database busy: {e}"))
        }
        other => JobsError::storage("sqlite", other),
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path` and apply migrations.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self, JobsError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                JobsError::storage(
                    "sqlite",
                    format_args!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        let conn = open_connection(path, options, true).map_err(db_err)?;
        migrate(&conn).map_err(db_err)?;
        // Checkpoints (copying WAL frames back into the database file, with its own
        // fsync) run on a thread of their own instead of inside the writer's commits:
        // the writer is the serialization point, so it should only commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_err)?;
        let checkpoint_conn = open_connection(path, options, true).map_err(db_err)?;
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let checkpointer_thread = std::thread::Builder::new()
            .name("iotjobs-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, stop_rx))
            .map_err(|e| {
                JobsError::storage(
                    "sqlite",
                    format_args!("cannot start checkpoint thread: {e}"),
                )
            })?;
        let (tx, rx) = mpsc::channel::<WriteFn>();
        let stats = Arc::new(WriterStats::default());
        let handle = std::thread::Builder::new()
            .name("iotjobs-sqlite-writer".into())
            .spawn({
                let stats = stats.clone();
                move || writer_loop(conn, rx, &stats)
            })
            .map_err(|e| {
                JobsError::storage("sqlite", format_args!("cannot start writer thread: {e}"))
            })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                options,
                writer: Mutex::new(Some(tx)),
                readers: Mutex::new(Vec::new()),
                writer_thread: Mutex::new(Some(handle)),
                checkpointer: Mutex::new(Some(stop_tx)),
                checkpointer_thread: Mutex::new(Some(checkpointer_thread)),
            }),
            changes: crate::ChangeFeed::default(),
            leaders: Arc::default(),
            stats,
        })
    }

    /// A change listener was set: one SQLite file has one writer, so every change is
    /// this process's own and already announced after its commit.
    fn on_change_listener(&self) {}

    /// [`iotjobs_core::Store::stats`]: the writer's counts and the `-wal` file's size.
    fn backend_stats(&self) -> iotjobs_core::StoreStats {
        use std::sync::atomic::Ordering::Relaxed;
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        iotjobs_core::StoreStats {
            commit_batches: self.stats.batches.load(Relaxed),
            committed_writes: self.stats.writes.load(Relaxed),
            wal_bytes: Some(std::fs::metadata(&wal).map_or(0, |m| m.len())),
        }
    }

    /// [`iotjobs_core::Store::try_lead`]: one process owns the file, so a role is this
    /// process's unless it already holds it.
    async fn lead(&self, role: &str) -> StoreResult<Option<Box<dyn iotjobs_core::Lease>>> {
        let mut leaders = self.leaders.lock().unwrap_or_else(|e| e.into_inner());
        if !leaders.insert(role.to_owned()) {
            return Ok(None);
        }
        Ok(Some(Box::new(LocalLease {
            role: role.to_owned(),
            leaders: self.leaders.clone(),
        })))
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` inside the next group-commit batch; answer after the COMMIT.
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let (reply, rx) = oneshot::channel();
        let job: WriteFn = Box::new(Pending { f, reply });
        let sender = self
            .inner
            .writer
            .lock()
            .map_err(|_| JobsError::bug("the SQLite writer's lock is poisoned"))?
            .clone()
            .ok_or_else(|| JobsError::storage_unavailable("the store is closed"))?;
        sender
            .send(job)
            .map_err(|_| JobsError::storage_unavailable("the SQLite writer has stopped"))?;
        rx.await
            .map_err(|_| JobsError::bug("a write was dropped (the writer panicked?)"))?
    }

    /// Run `f` on a reader connection on a blocking thread.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut r| r.pop());
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.path, inner.options, false).map_err(db_err)?,
            };
            let result = f(&conn);
            if let Ok(mut r) = inner.readers.lock()
                && r.len() < MAX_IDLE_READERS
            {
                r.push(conn);
            }
            result
        })
        .await
        .map_err(|e| JobsError::storage("sqlite", format_args!("reader task failed: {e}")))?
    }
}

fn open_connection(
    path: &Path,
    options: SqliteOptions,
    writer: bool,
) -> rusqlite::Result<Connection> {
    let flags = if writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Query-planner stability: without it SQLite may re-compile a cached statement on
    // every execution when a bound value could change the plan (measured: the
    // `ORDER BY execution_number DESC LIMIT 1` lookup was re-prepared on 9,999 of
    // 10,000 calls, 20-28 % of the writer's CPU). Our plans do not depend on values.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    if writer {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    let sync = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Migrations in order; `PRAGMA user_version` records how many were applied.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let step = conn
            .execute_batch(sql)
            .and_then(|_| conn.pragma_update(None, "user_version", (i + 1) as i64));
        match step {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Run PASSIVE checkpoints (they never block the writer or readers) until the store
/// closes. SQLite restarts the WAL from its beginning once a checkpoint has caught up,
/// so the WAL stays small while the writer never pays for checkpoints itself.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteFn>, stats: &WriterStats) {
    use std::sync::atomic::Ordering::Relaxed;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.batches.fetch_add(1, Relaxed);
        stats.writes.fetch_add(batch.len() as u64, Relaxed);
        run_batch(&conn, batch);
    }
}

fn run_batch(conn: &Connection, batch: Vec<WriteFn>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = db_err(e);
        for job in batch {
            job.abort(err.clone());
        }
        return;
    }
    // Cached statements: the savepoint dance runs once per request on the hot path.
    let exec = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    let mut finishers = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = exec("SAVEPOINT op") {
            job.abort(db_err(e));
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)));
        let ok = matches!(outcome, Ok((true, _)));
        if !ok {
            // Undo whatever a failed (or panicking) request wrote, keep its neighbours.
            let _ = exec("ROLLBACK TO op");
        }
        let _ = exec("RELEASE op");
        match outcome {
            Ok((_, finish)) => finishers.push(finish),
            // The caller's reply channel was dropped with the request: it sees an
            // internal error.
            Err(_) => tracing::error!("a store write panicked; its changes were rolled back"),
        }
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        db_err(e)
    });
    for finish in finishers {
        finish(commit.clone());
    }
}

/// Run `$body` (a call into `crate::ops` over `$tx`) in the next group-commit batch on
/// the writer thread; answer after the COMMIT.
macro_rules! sqlite_write {
    ($store:expr, |$tx:ident| $body:expr) => {{
        // Who asks (read here, on the caller's task), for the audit records.
        let actor = crate::actor();
        $store
            .write(move |conn| {
                let tx = rows::SqliteTx(conn, Default::default());
                let result = {
                    let $tx = &tx;
                    crate::block_on($body)
                };
                let changed = tx.1.into_inner();
                let result = result.and_then(|v| {
                    rows::insert_audit(conn, &actor, &changed.audit)?;
                    Ok(v)
                });
                result.map(|v| (v, changed))
            })
            .await
            .map(|(v, changed)| {
                // After the batch's COMMIT: only committed changes are announced.
                $store.changes.emit(changed);
                v
            })
    }};
}

/// Run `$body` on a reader connection (the last committed state).
macro_rules! sqlite_read {
    ($store:expr, |$tx:ident| $body:expr) => {
        $store
            .read(move |conn| {
                let $tx = &rows::SqliteTx(conn, Default::default());
                crate::block_on($body)
            })
            .await
    };
}

crate::store_impl::impl_store!(SqliteStore, sqlite_read, sqlite_write);

#[cfg(test)]
mod tests;
