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
//! The WAL stays bounded: a checkpoint thread copies committed frames into the database
//! file (PASSIVE, never blocking anyone), and the writer, between two batches, restarts
//! the WAL from its beginning once it holds [`WAL_RESTART_FRAMES`] frames (see
//! [`WalBound`]). Under continuous writes SQLite would never restart it on its own.
//!
//! A full disk fails the batch it hits with [`JobsError::storage_full`]: SQLite rolls
//! back, nothing acknowledged is lost, reads go on, and the next batch tries again, so
//! writes resume by themselves once space is freed.
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
/// WAL frames (pages) after which the writer restarts the WAL between two batches: 32 MiB
/// at the default 4 KiB page. Small enough that the WAL file stays below 64 MiB at the
/// highest write rates measured (a batch of 256 cancels adds up to about 8 MiB), large
/// enough that the writer pauses rarely (each restart waits for the last frames to be
/// copied and the database file to be fsynced).
const WAL_RESTART_FRAMES: u32 = 8192;
/// What SQLite truncates the WAL file to when it restarts it, should it ever have grown
/// beyond (e.g. while a long read kept the writer from restarting it).
const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;
/// How long the writer waits for readers (and a running PASSIVE checkpoint) when it
/// restarts the WAL; if they are not done by then it serves the next batch and tries
/// again later, rather than stall every write behind a slow read.
const WAL_RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// The writer connection's usual busy timeout.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
    /// Run inside the batch transaction. Returns its failure, if any (so that the
    /// writer rolls back its savepoint), and how to answer the caller once the batch's
    /// COMMIT is known.
    fn run(self: Box<Self>, conn: &Connection) -> (Result<(), JobsError>, Finisher);
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
    fn run(self: Box<Self>, conn: &Connection) -> (Result<(), JobsError>, Finisher) {
        let Pending { f, reply } = *self;
        let result = f(conn);
        let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
        let finish: Finisher = Box::new(move |commit| {
            // Only a committed success is reported as success.
            let _ = reply.send(commit.and(result));
        });
        (outcome, finish)
    }

    fn abort(self: Box<Self>, err: JobsError) {
        let _ = self.reply.send(Err(err));
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    changes: crate::ChangeFeed,
    /// CancelJobs in progress, which the sweep leaves alone ([`crate::ops::CancelingJobs`]).
    canceling: crate::ops::CancelingJobs,
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
    /// Dropping it (and the writer's clone) stops the checkpointer thread.
    checkpointer: Mutex<Option<mpsc::SyncSender<()>>>,
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
        // SQLite's answer to ENOSPC (and EDQUOT) on a write.
        rusqlite::Error::SqliteFailure(ref f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            JobsError::storage_full("sqlite", e)
        }
        other => JobsError::storage("sqlite", other),
    }
}

/// [`db_err`] for the writer, which also knows where the database lives: an I/O error
/// (SQLITE_IOERR: a failed fsync or write) on a filesystem with no space left is the full
/// disk too. SQLite reports ENOSPC on `write` as SQLITE_FULL, but on `fsync` (and on
/// partial writes followed by another error) only as an I/O error, and rusqlite does not
/// expose the errno; the free space of the filesystem is what tells them apart.
fn write_err(e: rusqlite::Error, dir: &Path) -> JobsError {
    let io_error = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::SystemIoFailure
    );
    if io_error && filesystem_is_full(dir) {
        return JobsError::storage_full("sqlite", e);
    }
    db_err(e)
}

/// Whether the filesystem holding `dir` has no space left for this (unprivileged)
/// process: fewer free blocks than one 64 KiB write needs.
fn filesystem_is_full(dir: &Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|s| s.f_bavail.saturating_mul(s.f_frsize) < 64 << 10)
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
        let mut conn = open_connection(path, options, true).map_err(db_err)?;
        migrate(&conn)?;
        // Checkpoints (copying WAL frames back into the database file, with its own
        // fsync) run on a thread of their own instead of inside the writer's commits:
        // the writer is the serialization point, so it should only commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_err)?;
        conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
            .map_err(db_err)?;
        let checkpoint_conn = open_connection(path, options, true).map_err(db_err)?;
        let checkpointing = Arc::new(Mutex::new(()));
        // One slot: a nudge while one is pending adds nothing.
        let (stop_tx, stop_rx) = mpsc::sync_channel::<()>(1);
        let checkpointer_thread = std::thread::Builder::new()
            .name("iotjobs-sqlite-checkpoint".into())
            .spawn({
                let checkpointing = checkpointing.clone();
                move || checkpoint_loop(checkpoint_conn, stop_rx, &checkpointing)
            })
            .map_err(|e| {
                JobsError::storage(
                    "sqlite",
                    format_args!("cannot start checkpoint thread: {e}"),
                )
            })?;
        let (tx, rx) = mpsc::channel::<WriteFn>();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let wal = WalBound::new(&mut conn, stop_tx.clone(), checkpointing).map_err(db_err)?;
        let stats = Arc::new(WriterStats::default());
        let handle = std::thread::Builder::new()
            .name("iotjobs-sqlite-writer".into())
            .spawn({
                let stats = stats.clone();
                move || writer_loop(conn, rx, wal, dir, &stats)
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
            canceling: crate::ops::CancelingJobs::default(),
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
    conn.busy_timeout(BUSY_TIMEOUT)?;
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

/// Migrations in order; `PRAGMA user_version` records how many were applied (the
/// schema version: 0 for a new file, `MIGRATIONS.len()` once up to date).
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
    include_str!("schema_v7.sql"),
];

/// Bring the database up to this build's schema version. A version above it (a newer
/// iotjobs migrated the file) or below 0 (not ours) is refused before anything is
/// written: this build does not know what such a schema means.
fn migrate(conn: &Connection) -> StoreResult<()> {
    let applied: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    let supported = MIGRATIONS.len() as i64;
    if !(0..=supported).contains(&applied) {
        return Err(JobsError::unsupported_schema_version(
            "sqlite", applied, supported,
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
        let step = conn
            .execute_batch(sql)
            .and_then(|_| conn.pragma_update(None, "user_version", (i + 1) as i64));
        match step {
            Ok(()) => conn.execute_batch("COMMIT").map_err(db_err)?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(db_err(e));
            }
        }
    }
    Ok(())
}

/// The pause between two checkpoints while writes go on: short, so that the writer's
/// RESTART, which waits for whatever the last checkpoint left, has little to copy
/// (measured at about 300 MB/s of WAL: a restart takes a median 6 ms after 1 ms pauses,
/// 20 ms after 10 ms pauses); not zero, so that the writer can take the checkpoint lock
/// between two checkpoints.
const CHECKPOINT_WHILE_BUSY: std::time::Duration = std::time::Duration::from_millis(1);
/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Run PASSIVE checkpoints (they never block the writer or readers) until the store
/// closes: every [`CHECKPOINT_EVERY`] or when the writer nudges (the WAL grew by a
/// quarter of [`WAL_RESTART_FRAMES`]), and back to back for as long as the WAL keeps
/// growing. Each one then has little to copy, and so does the RESTART the writer waits
/// for ([`WalBound`]): what was committed since the last one began. (SQLite restarts
/// the WAL by itself only when a checkpoint has caught up with the writer, which under
/// continuous writes it never does.)
///
/// `checkpointing` is held during each checkpoint, so that the writer, which waits for
/// the running one before its RESTART, is woken the moment it ends rather than polling
/// SQLite's checkpoint lock with sleeps of 1, 2, 5, ... ms.
fn checkpoint_loop(conn: Connection, nudges: mpsc::Receiver<()>, checkpointing: &Mutex<()>) {
    // Log a failure once, not every 100 ms (a full disk fails every checkpoint that
    // must grow the database file until space is freed).
    let mut failing = false;
    // Frames in the WAL at the last checkpoint: while that changes, writes go on.
    let mut last_frames = -1;
    let mut busy = false;
    loop {
        let wait = if busy {
            CHECKPOINT_WHILE_BUSY
        } else {
            CHECKPOINT_EVERY
        };
        if let Err(mpsc::RecvTimeoutError::Disconnected) = nudges.recv_timeout(wait) {
            return;
        }
        let outcome = {
            let _checkpointing = checkpointing.lock();
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
        };
        match outcome {
            Ok(frames) => {
                busy = frames != last_frames && frames > 0;
                last_frames = frames;
                if failing {
                    failing = false;
                    tracing::info!("WAL checkpoints succeed again");
                }
            }
            Err(e) => {
                busy = false;
                if !failing {
                    failing = true;
                    tracing::warn!(error = %e, "WAL checkpoint failed; retrying every 100 ms");
                }
            }
        }
    }
}

/// Keeps the WAL bounded from the writer thread. SQLite's WAL hook tells it, after each
/// commit, how many frames the WAL holds; past [`WAL_RESTART_FRAMES`] the writer, between
/// two batches (so holding no transaction), runs a RESTART checkpoint: it copies the
/// frames the checkpoint thread has not copied yet, waits for readers of older frames
/// to finish, and makes the next commit write the WAL from its beginning again. The WAL
/// file is then reused in place rather than appended to forever (and truncated to
/// [`JOURNAL_SIZE_LIMIT`] should it ever have grown larger).
struct WalBound {
    /// Frames in the WAL after the last commit, written by the WAL hook.
    frames: Arc<std::sync::atomic::AtomicU32>,
    /// Restart once `frames` reaches this.
    restart_at: u32,
    /// Wakes the checkpoint thread.
    checkpointer: mpsc::SyncSender<()>,
    /// Nudge the checkpoint thread once `frames` reaches this.
    nudge_at: u32,
    /// Held by the checkpoint thread while it checkpoints.
    checkpointing: Arc<Mutex<()>>,
}

/// Frames between two nudges of the checkpoint thread.
const NUDGE_FRAMES: u32 = WAL_RESTART_FRAMES / 4;

impl WalBound {
    fn new(
        conn: &mut Connection,
        checkpointer: mpsc::SyncSender<()>,
        checkpointing: Arc<Mutex<()>>,
    ) -> rusqlite::Result<Self> {
        let frames = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = frames.clone();
        // Replaces SQLite's auto-checkpoint hook, which `wal_autocheckpoint = 0` disabled.
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            seen.store(
                u32::try_from(pages).unwrap_or(0),
                std::sync::atomic::Ordering::Relaxed,
            );
            Ok(())
        }))?;
        Ok(WalBound {
            frames,
            restart_at: WAL_RESTART_FRAMES,
            checkpointer,
            nudge_at: NUDGE_FRAMES,
            checkpointing,
        })
    }

    /// Between batches: have the checkpoint thread copy what the last quarter of
    /// [`WAL_RESTART_FRAMES`] added, and restart the WAL if it has grown past the limit.
    fn after_batch(&mut self, conn: &Connection) {
        let frames = self.frames.load(std::sync::atomic::Ordering::Relaxed);
        if frames >= self.nudge_at {
            // Full: a nudge is pending already.
            let _ = self.checkpointer.try_send(());
            self.nudge_at = frames.saturating_add(NUDGE_FRAMES);
        }
        if frames < self.restart_at {
            return;
        }
        let start = std::time::Instant::now();
        let waited;
        let outcome = {
            let _checkpointing = self.checkpointing.lock();
            waited = start.elapsed();
            // A short wait: a reader still on old frames makes the restart fail with
            // `busy`; it is tried again a little later.
            let _ = conn.busy_timeout(WAL_RESTART_WAIT);
            let outcome =
                conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
            outcome
        };
        match outcome {
            Ok(0) => {
                tracing::debug!(frames, ?waited, took = ?start.elapsed(), "WAL restarted");
                self.frames.store(0, std::sync::atomic::Ordering::Relaxed);
                self.restart_at = WAL_RESTART_FRAMES;
                self.nudge_at = NUDGE_FRAMES;
            }
            // Tried again after another WAL_RESTART_FRAMES, not sooner: a long read (a
            // backup's snapshot) would otherwise cost every few batches a 50 ms wait.
            Ok(_) => {
                tracing::debug!(frames, "WAL restart deferred: readers still on old frames");
                self.restart_at = frames.saturating_add(WAL_RESTART_FRAMES);
            }
            Err(e) => {
                tracing::warn!(error = %e, frames, "WAL restart failed; retrying later");
                self.restart_at = frames.saturating_add(WAL_RESTART_FRAMES);
            }
        }
    }
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<WriteFn>,
    mut wal: WalBound,
    dir: PathBuf,
    stats: &WriterStats,
) {
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
        run_batch(&conn, batch, &dir);
        wal.after_batch(&conn);
    }
}

fn run_batch(conn: &Connection, batch: Vec<WriteFn>, dir: &Path) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = write_err(e, dir);
        for job in batch {
            job.abort(err.clone());
        }
        return;
    }
    // Cached statements: the savepoint dance runs once per request on the hot path.
    let exec = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    let mut finishers = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = exec("SAVEPOINT op") {
            job.abort(write_err(e, dir));
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)));
        let failure = match &outcome {
            Ok((Ok(()), _)) => None,
            Ok((Err(e), _)) => Some(e.clone()),
            Err(_) => Some(JobsError::bug("a store write panicked")),
        };
        if failure.is_some() {
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
        if let Some(err) = failure.filter(|_| conn.is_autocommit()) {
            // SQLite rolled the whole batch back (it may, on a full disk or an I/O
            // error): the requests before this one lost their writes too, and the ones
            // after it would run outside any batch. Fail them all with its error.
            for finish in finishers {
                finish(Err(err.clone()));
            }
            for job in jobs {
                job.abort(err.clone());
            }
            return;
        }
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        write_err(e, dir)
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
