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
//! This module must not decide any rule: it loads rows, calls `iotjobs-core`, and
//! stores the result.

mod rows;

use iotjobs_core::error::ResourceKind;
use iotjobs_core::state_machine::{Change, ExecutionCommand, apply_to_job};
use iotjobs_core::store::{AppliedChange, ExecutionSelector, StoreResult};
use iotjobs_core::{Job, JobExecution, JobsError, NewJob, NewThing, Store, Thing, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
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
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    writer: Mutex<Option<mpsc::Sender<WriteFn>>>,
    readers: Mutex<Vec<Connection>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
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
            JobsError::Unavailable(format!("database busy: {e}"))
        }
        other => JobsError::Internal(format!("sqlite: {other}")),
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path` and apply migrations.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self, JobsError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                JobsError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = open_connection(path, options, true).map_err(db_err)?;
        migrate(&conn).map_err(db_err)?;
        let (tx, rx) = mpsc::channel::<WriteFn>();
        let handle = std::thread::Builder::new()
            .name("iotjobs-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| JobsError::Internal(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                options,
                writer: Mutex::new(Some(tx)),
                readers: Mutex::new(Vec::new()),
                writer_thread: Mutex::new(Some(handle)),
            }),
        })
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
            .map_err(|_| JobsError::Internal("writer lock poisoned".into()))?
            .clone()
            .ok_or_else(|| JobsError::Unavailable("store is closed".into()))?;
        sender
            .send(job)
            .map_err(|_| JobsError::Unavailable("the SQLite writer has stopped".into()))?;
        rx.await
            .map_err(|_| JobsError::Internal("the write was dropped (writer panicked?)".into()))?
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
        .map_err(|e| JobsError::Internal(format!("reader task failed: {e}")))?
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
const MIGRATIONS: &[&str] = &[include_str!("schema.sql")];

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

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteFn>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
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

impl Store for SqliteStore {
    async fn create_thing(
        &self,
        new: NewThing,
        thing_id: String,
        now: Timestamp,
    ) -> StoreResult<(Thing, bool)> {
        self.write(move |conn| {
            if let Some(existing) = rows::select_thing(conn, &new.thing_name)? {
                return Ok((existing, false));
            }
            let thing = Thing {
                thing_name: new.thing_name,
                thing_id,
                thing_type_name: new.thing_type_name,
                attributes: new.attributes,
                billing_group_name: new.billing_group_name,
                version: 1,
                created_at: now,
            };
            rows::insert_thing(conn, &thing)?;
            Ok((thing, true))
        })
        .await
    }

    async fn describe_thing(&self, thing_name: &str) -> StoreResult<Option<Thing>> {
        let name = thing_name.to_owned();
        self.read(move |conn| rows::select_thing(conn, &name)).await
    }

    async fn create_job(&self, new: NewJob, now: Timestamp) -> StoreResult<Job> {
        self.write(move |conn| {
            let exists: Option<i64> = conn
                .prepare_cached("SELECT 1 FROM jobs WHERE job_id = ?1")
                .and_then(|mut s| s.query_row([&new.job_id], |r| r.get(0)).optional())
                .map_err(db_err)?;
            if exists.is_some() {
                return Err(JobsError::AlreadyExists {
                    message: format!("Job {} already exists", new.job_id),
                    kind: ResourceKind::Job,
                    name: new.job_id.clone(),
                    resource_id: new.job_id.clone(),
                });
            }
            for thing in &new.target_things {
                if rows::select_thing(conn, thing)?.is_none() {
                    return Err(JobsError::NotFound(format!("Thing {thing} does not exist")));
                }
            }
            let things = new.target_things.clone();
            let job = Job::from_new(new, now);
            rows::insert_job(conn, &job)?;
            for thing in &things {
                rows::insert_execution(conn, &JobExecution::queued(job.job_id(), thing, 1, now))?;
            }
            Ok(job)
        })
        .await
    }

    async fn describe_job(&self, job_id: &str) -> StoreResult<Option<Job>> {
        let id = job_id.to_owned();
        self.read(move |conn| rows::select_job(conn, &id)).await
    }

    async fn describe_job_execution(
        &self,
        selector: &ExecutionSelector,
    ) -> StoreResult<Option<JobExecution>> {
        let selector = selector.clone();
        self.read(move |conn| rows::select_execution(conn, &selector))
            .await
    }

    async fn get_pending_job_executions(
        &self,
        thing_name: &str,
        limit: usize,
    ) -> StoreResult<Vec<JobExecution>> {
        let name = thing_name.to_owned();
        self.read(move |conn| rows::select_pending(conn, &name, limit))
            .await
    }

    async fn update_job_execution(
        &self,
        selector: ExecutionSelector,
        cmd: ExecutionCommand,
        now: Timestamp,
    ) -> StoreResult<Option<AppliedChange>> {
        self.write(move |conn| {
            let Some(exec) = rows::select_execution(conn, &selector)? else {
                return match &selector {
                    ExecutionSelector::NextPending { .. } => Ok(None),
                    ExecutionSelector::Exact {
                        thing_name, job_id, ..
                    } => Err(rows::explain_missing_execution(conn, thing_name, job_id)),
                };
            };
            let mut job = rows::select_job_progress(conn, &exec.job_id)?.ok_or_else(|| {
                JobsError::Internal(format!("execution without job {}", exec.job_id))
            })?;
            let before = job.clone();
            let change = apply_to_job(&mut job, &exec, &cmd, now)?;
            let applied = match change {
                Change::Update(next) => {
                    rows::update_execution(conn, &next)?;
                    AppliedChange {
                        execution: next,
                        exists: true,
                        job: job.clone(),
                    }
                }
                Change::Delete => {
                    rows::delete_execution(conn, &exec)?;
                    AppliedChange {
                        execution: exec,
                        exists: false,
                        job: job.clone(),
                    }
                }
                Change::Unchanged => AppliedChange {
                    execution: exec,
                    exists: true,
                    job: job.clone(),
                },
            };
            if job != before {
                rows::update_job_progress(conn, &job)?;
            }
            Ok(Some(applied))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
