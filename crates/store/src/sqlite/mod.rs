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
use iotjobs_core::group::{NewThingGroup, ThingGroup, check_join, execution_number_on_join};
use iotjobs_core::job::{JobProgress, JobUpdate};
use iotjobs_core::page::{Page, PageRequest};
use iotjobs_core::state_machine::{Change, ExecutionCommand, apply_to_job};
use iotjobs_core::store::{
    AppliedChange, ExecutionSelector, JobFilter, StoreResult, SweepReport, ThingFilter,
};
use iotjobs_core::{
    Job, JobExecution, JobExecutionStatus, JobsError, NewJob, NewThing, Store, Thing, Timestamp,
};
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;

/// Most requests committed together. Bounds the latency one batch adds.
const MAX_BATCH: usize = 256;
/// Executions changed per transaction by bulk operations (CancelJob, job purges):
/// about 25-50 ms of writer time each, so other requests keep flowing
/// (rust-deps.md §3: a 1M-row transaction would hold the writer for seconds).
const BULK_CHUNK: usize = 5_000;
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
    /// Dropping it stops the checkpointer thread.
    checkpointer: Mutex<Option<mpsc::Sender<()>>>,
    checkpointer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
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
            .map_err(|e| JobsError::Internal(format!("cannot start checkpoint thread: {e}")))?;
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
                checkpointer: Mutex::new(Some(stop_tx)),
                checkpointer_thread: Mutex::new(Some(checkpointer_thread)),
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
            if rows::select_job_progress(conn, &new.job_id)?.is_some() {
                return Err(JobsError::AlreadyExists {
                    message: format!("Job {} already exists", new.job_id),
                    kind: ResourceKind::Job,
                    name: new.job_id.clone(),
                    resource_id: new.job_id.clone(),
                });
            }
            let mut things: Vec<String> = Vec::new();
            for thing in &new.target_things {
                if rows::select_thing(conn, thing)?.is_none() {
                    return Err(JobsError::NotFound(format!("Thing {thing} does not exist")));
                }
                things.push(thing.clone());
            }
            for group in &new.target_groups {
                if rows::select_group(conn, group)?.is_none() {
                    return Err(JobsError::NotFound(format!(
                        "Thing group {group} does not exist"
                    )));
                }
                things.extend(rows::group_things_recursive(conn, group)?);
            }
            // Each thing once, in a stable order.
            let mut seen = std::collections::HashSet::new();
            things.retain(|t| seen.insert(t.clone()));
            let direct = new.target_things.clone();
            let groups = new.target_groups.clone();
            let job = Job::from_new(new, things.len(), now);
            rows::insert_job(conn, &job)?;
            for t in &direct {
                rows::insert_job_target(conn, job.job_id(), "thing", t)?;
            }
            for g in &groups {
                rows::insert_job_target(conn, job.job_id(), "group", g)?;
            }
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
            let mut jobs = JobCache::default();
            let applied = jobs.apply(conn, exec, &cmd, now)?;
            jobs.flush(conn)?;
            Ok(Some(applied))
        })
        .await
    }

    async fn list_things(
        &self,
        filter: &ThingFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Thing>> {
        let filter = filter.clone();
        self.read(move |conn| rows::list_things(conn, &filter, &page))
            .await
    }

    async fn delete_thing(
        &self,
        thing_name: &str,
        expected_version: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let name = thing_name.to_owned();
        self.write(move |conn| {
            let Some(thing) = rows::select_thing(conn, &name)? else {
                return Ok(());
            };
            if let Some(v) = expected_version
                && v != thing.version
            {
                return Err(JobsError::VersionMismatch {
                    expected: v,
                    found: thing.version,
                    state: None,
                });
            }
            let mut jobs = JobCache::default();
            for exec in rows::select_all_pending(conn, &name)? {
                jobs.apply(conn, exec, &ExecutionCommand::Remove, now)?;
            }
            jobs.flush(conn)?;
            rows::delete_thing_rows(conn, &name)
        })
        .await
    }

    async fn create_thing_group(
        &self,
        new: NewThingGroup,
        group_id: String,
        now: Timestamp,
    ) -> StoreResult<(ThingGroup, bool)> {
        self.write(move |conn| {
            if let Some(existing) = rows::select_group(conn, &new.group_name)? {
                return Ok((existing, false));
            }
            if let Some(parent) = &new.parent_group_name
                && rows::select_group(conn, parent)?.is_none()
            {
                return Err(JobsError::NotFound(format!(
                    "Thing group {parent} does not exist"
                )));
            }
            let group = ThingGroup {
                group_name: new.group_name.clone(),
                group_id,
                parent_group_name: new.parent_group_name,
                description: new.description,
                attributes: new.attributes,
                tags: new.tags,
                version: 1,
                created_at: now,
                root_to_parent: Vec::new(),
            };
            rows::insert_group(conn, &group)?;
            let stored = rows::select_group(conn, &new.group_name)?
                .ok_or_else(|| JobsError::Internal("group vanished".into()))?;
            Ok((stored, true))
        })
        .await
    }

    async fn describe_thing_group(&self, group_name: &str) -> StoreResult<Option<ThingGroup>> {
        let name = group_name.to_owned();
        self.read(move |conn| rows::select_group(conn, &name)).await
    }

    async fn add_thing_to_thing_group(
        &self,
        group_name: &str,
        thing_name: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (group, thing) = (group_name.to_owned(), thing_name.to_owned());
        self.write(move |conn| {
            require_group_and_thing(conn, &group, &thing)?;
            let ancestors = rows::ancestors(conn, &group)?;
            let mut current = Vec::new();
            for g in rows::groups_of_thing(conn, &thing)? {
                let root = rows::ancestors(conn, &g)?.pop().unwrap_or_default();
                current.push((g, root));
            }
            let root = ancestors.last().cloned().unwrap_or_default();
            if !check_join(&thing, &group, &root, &current)? {
                return Ok(());
            }
            rows::insert_member(conn, &group, &thing)?;
            // CONTINUOUS jobs that target this group or an ancestor queue an execution
            // for the newcomer ("targetSelection" model doc), unless it already has
            // one that was not REMOVED.
            let mut jobs = JobCache::default();
            for job_id in rows::continuous_jobs_targeting(conn, &ancestors)? {
                let latest = rows::select_execution(
                    conn,
                    &ExecutionSelector::Exact {
                        thing_name: thing.clone(),
                        job_id: job_id.clone(),
                        execution_number: None,
                    },
                )?;
                let Some(number) = execution_number_on_join(latest.as_ref()) else {
                    continue;
                };
                rows::insert_execution(conn, &JobExecution::queued(&job_id, &thing, number, now))?;
                jobs.load(conn, &job_id)?.record_execution_change(
                    None,
                    Some(JobExecutionStatus::Queued),
                    now,
                );
            }
            jobs.flush(conn)
        })
        .await
    }

    async fn remove_thing_from_thing_group(
        &self,
        group_name: &str,
        thing_name: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (group, thing) = (group_name.to_owned(), thing_name.to_owned());
        self.write(move |conn| {
            require_group_and_thing(conn, &group, &thing)?;
            if !rows::delete_member(conn, &group, &thing)? {
                return Ok(());
            }
            // Groups the thing is still in, with their ancestors: a job targeting any
            // of them still targets the thing.
            let mut still = Vec::new();
            for g in rows::groups_of_thing(conn, &thing)? {
                still.extend(rows::ancestors(conn, &g)?);
            }
            let left = rows::ancestors(conn, &group)?;
            let mut jobs = JobCache::default();
            for job_id in rows::continuous_jobs_targeting(conn, &left)? {
                if rows::job_targets_thing(conn, &job_id, &thing, &still)? {
                    continue;
                }
                let latest = rows::select_execution(
                    conn,
                    &ExecutionSelector::Exact {
                        thing_name: thing.clone(),
                        job_id: job_id.clone(),
                        execution_number: None,
                    },
                )?;
                if let Some(exec) = latest.filter(|e| e.status == JobExecutionStatus::Queued) {
                    jobs.apply(conn, exec, &ExecutionCommand::Remove, now)?;
                }
            }
            jobs.flush(conn)
        })
        .await
    }

    async fn list_things_in_thing_group(
        &self,
        group_name: &str,
        recursive: bool,
        page: PageRequest,
    ) -> StoreResult<Page<String>> {
        let group = group_name.to_owned();
        self.read(move |conn| {
            if rows::select_group(conn, &group)?.is_none() {
                return Err(JobsError::NotFound(format!(
                    "Thing group {group} does not exist"
                )));
            }
            rows::list_group_things(conn, &group, recursive, &page)
        })
        .await
    }

    async fn list_jobs(&self, filter: &JobFilter, page: PageRequest) -> StoreResult<Page<Job>> {
        let filter = filter.clone();
        self.read(move |conn| rows::list_jobs(conn, &filter, &page))
            .await
    }

    async fn update_job(&self, job_id: &str, update: JobUpdate, now: Timestamp) -> StoreResult<()> {
        let id = job_id.to_owned();
        self.write(move |conn| {
            let mut job = require_job(conn, &id)?;
            job.update(update, now)?;
            rows::update_job(conn, &job)
        })
        .await
    }

    async fn cancel_job(
        &self,
        job_id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        now: Timestamp,
    ) -> StoreResult<Job> {
        let id = job_id.to_owned();
        self.write({
            let id = id.clone();
            move |conn| {
                let mut job = require_job(conn, &id)?;
                job.cancel(force, reason_code, comment, now)?;
                rows::update_job(conn, &job)
            }
        })
        .await?;
        // Then the executions, one bounded transaction at a time.
        loop {
            let id = id.clone();
            let done = self
                .write(move |conn| cancel_job_executions(conn, &id, BULK_CHUNK, now))
                .await?;
            if done == 0 {
                break;
            }
        }
        let id2 = id.clone();
        self.read(move |conn| rows::select_job(conn, &id2))
            .await?
            .ok_or_else(|| JobsError::NotFound(format!("Job {id} does not exist")))
    }

    async fn delete_job(&self, job_id: &str, force: bool, now: Timestamp) -> StoreResult<()> {
        let id = job_id.to_owned();
        self.write(move |conn| {
            let mut job = require_job(conn, &id)?;
            let deleting = rows::count_jobs_deleting(conn)?;
            job.begin_delete(force, deleting, now)?;
            rows::update_job(conn, &job)
        })
        .await
    }

    async fn list_job_executions_for_job(
        &self,
        job_id: &str,
        status: Option<JobExecutionStatus>,
        page: PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        let id = job_id.to_owned();
        self.read(move |conn| {
            if rows::select_job_progress(conn, &id)?.is_none() {
                return Err(JobsError::NotFound(format!("Job {id} does not exist")));
            }
            rows::list_executions_for_job(conn, &id, status, &page)
        })
        .await
    }

    async fn list_job_executions_for_thing(
        &self,
        thing_name: &str,
        status: Option<JobExecutionStatus>,
        job_id: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        let thing = thing_name.to_owned();
        let job = job_id.map(str::to_owned);
        self.read(move |conn| {
            let result =
                rows::list_executions_for_thing(conn, &thing, status, job.as_deref(), &page)?;
            if result.items.is_empty() && rows::select_thing(conn, &thing)?.is_none() {
                return Err(JobsError::NotFound(format!(
                    "Thing {thing} cannot be found."
                )));
            }
            Ok(result)
        })
        .await
    }

    async fn sweep(&self, now: Timestamp, budget: usize) -> StoreResult<SweepReport> {
        self.write(move |conn| {
            let mut report = SweepReport::default();
            // 1. Timeouts.
            let mut jobs = JobCache::default();
            for exec in rows::select_timed_out(conn, now, budget)? {
                if jobs.try_apply(conn, exec, &ExecutionCommand::Timeout, now)? {
                    report.timed_out += 1;
                }
            }
            jobs.flush(conn)?;
            // 2. Cancellations a CancelJob left unfinished.
            for job_id in rows::jobs_with_unfinished_cancel(conn, 16)? {
                if report.canceled >= budget {
                    break;
                }
                report.canceled +=
                    cancel_job_executions(conn, &job_id, budget - report.canceled, now)?;
            }
            // 3. Jobs being deleted: their executions, then the job.
            for job_id in rows::jobs_deleting(conn)? {
                let left = budget.saturating_sub(report.purged_executions);
                if left == 0 {
                    break;
                }
                let purged = rows::purge_job_executions(conn, &job_id, left)?;
                report.purged_executions += purged;
                if purged < left {
                    rows::delete_job_rows(conn, &job_id)?;
                    report.deleted_jobs += 1;
                }
            }
            Ok(report)
        })
        .await
    }

    async fn reset(&self) -> StoreResult<()> {
        self.write(rows::delete_everything).await
    }

    async fn claim_account(&self, account_id: &str) -> StoreResult<()> {
        let account = account_id.to_owned();
        self.write(move |conn| rows::claim_account(conn, &account))
            .await
    }
}

fn require_job(conn: &Connection, job_id: &str) -> StoreResult<Job> {
    rows::select_job(conn, job_id)?
        .ok_or_else(|| JobsError::NotFound(format!("Job {job_id} does not exist")))
}

fn require_group_and_thing(conn: &Connection, group: &str, thing: &str) -> StoreResult<()> {
    if rows::select_group(conn, group)?.is_none() {
        return Err(JobsError::NotFound(format!(
            "Thing group {group} does not exist"
        )));
    }
    if rows::select_thing(conn, thing)?.is_none() {
        return Err(JobsError::NotFound(format!("Thing {thing} does not exist")));
    }
    Ok(())
}

/// Cancel up to `limit` executions of a canceled job that are still in the statuses its
/// cancellation covers. Returns how many were canceled.
fn cancel_job_executions(
    conn: &Connection,
    job_id: &str,
    limit: usize,
    now: Timestamp,
) -> StoreResult<usize> {
    let job = require_job(conn, job_id)?;
    if job.progress.status != iotjobs_core::JobStatus::Canceled {
        return Ok(0);
    }
    let cmd = ExecutionCommand::Cancel {
        force: job.force_canceled,
        expected_version: None,
        status_details: None,
    };
    let mut jobs = JobCache::default();
    let mut n = 0;
    for exec in rows::select_job_executions_in(conn, job_id, job.statuses_to_cancel(), limit)? {
        if jobs.try_apply(conn, exec, &cmd, now)? {
            n += 1;
        }
    }
    jobs.flush(conn)?;
    Ok(n)
}

/// Job progress rows loaded during one transaction, written back once at the end, so
/// that a bulk change over many executions of one job updates its row once.
#[derive(Default)]
struct JobCache {
    jobs: BTreeMap<String, (JobProgress, JobProgress)>,
}

impl JobCache {
    fn load(&mut self, conn: &Connection, job_id: &str) -> StoreResult<&mut JobProgress> {
        if !self.jobs.contains_key(job_id) {
            let p = rows::select_job_progress(conn, job_id)?
                .ok_or_else(|| JobsError::Internal(format!("execution without job {job_id}")))?;
            self.jobs.insert(job_id.to_owned(), (p.clone(), p));
        }
        Ok(&mut self.jobs.get_mut(job_id).expect("just inserted").1)
    }

    /// Run the state machine on one execution and persist the execution; the job's new
    /// counters stay in the cache until [`JobCache::flush`].
    fn apply(
        &mut self,
        conn: &Connection,
        exec: JobExecution,
        cmd: &ExecutionCommand,
        now: Timestamp,
    ) -> StoreResult<AppliedChange> {
        let job = self.load(conn, &exec.job_id)?;
        let mut next_job = job.clone();
        let change = apply_to_job(&mut next_job, &exec, cmd, now)?;
        *job = next_job.clone();
        Ok(match change {
            Change::Update(next) => {
                rows::update_execution(conn, &next)?;
                AppliedChange {
                    execution: next,
                    exists: true,
                    job: next_job,
                }
            }
            Change::Delete => {
                rows::delete_execution(conn, &exec)?;
                AppliedChange {
                    execution: exec,
                    exists: false,
                    job: next_job,
                }
            }
            Change::Unchanged => AppliedChange {
                execution: exec,
                exists: true,
                job: next_job,
            },
        })
    }

    /// [`JobCache::apply`] for bulk work: a rule refusal (the execution moved on) skips
    /// the execution; storage errors still fail the transaction.
    fn try_apply(
        &mut self,
        conn: &Connection,
        exec: JobExecution,
        cmd: &ExecutionCommand,
        now: Timestamp,
    ) -> StoreResult<bool> {
        match self.apply(conn, exec, cmd, now) {
            Ok(_) => Ok(true),
            Err(JobsError::InvalidStateTransition { .. } | JobsError::VersionMismatch { .. }) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn flush(self, conn: &Connection) -> StoreResult<()> {
        for (before, after) in self.jobs.values() {
            if before != after {
                rows::update_job_progress(conn, after)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
