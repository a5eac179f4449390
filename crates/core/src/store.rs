//! The storage port: what any backend (SQLite, PostgreSQL) must offer.
//!
//! Methods are business operations ("apply this command to that execution"), not
//! tables or rows, so that each backend chooses how to make them atomic: SQLite runs
//! them on one writer thread with group commit, PostgreSQL in a transaction with row
//! locks. Every method that changes state is atomic and durable when it returns `Ok`.
//! Backends never decide a rule: they load records, call the pure functions of this
//! crate ([`crate::state_machine::apply_to_job`]), and persist what those return.

use crate::error::JobsError;
use crate::execution::JobExecution;
use crate::job::{Job, JobProgress, NewJob};
use crate::state_machine::ExecutionCommand;
use crate::thing::{NewThing, Thing};
use crate::time::Timestamp;
use std::future::Future;

pub type StoreResult<T> = Result<T, JobsError>;

/// Which execution a command is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionSelector {
    /// The execution of `job_id` on `thing_name`; the latest one unless a number is given.
    Exact {
        thing_name: String,
        job_id: String,
        execution_number: Option<i64>,
    },
    /// The thing's next pending execution: IN_PROGRESS ones first, then QUEUED ones, each
    /// oldest first (AWS "Jobs device HTTP API", StartNextPendingJobExecution).
    NextPending { thing_name: String },
}

/// The result of [`Store::update_job_execution`].
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedChange {
    /// The execution after the change (before it, for a delete).
    pub execution: JobExecution,
    /// False when the execution record was removed.
    pub exists: bool,
    /// The job's status and counters after the change.
    pub job: JobProgress,
}

/// The storage port. Async so that a networked backend does not block the runtime;
/// `Send` futures so that handlers can run on any worker thread.
pub trait Store: Send + Sync + 'static {
    /// Insert a thing unless one with that name exists. Returns the stored thing and
    /// whether this call created it (CreateThing's idempotency is decided by the caller).
    fn create_thing(
        &self,
        new: NewThing,
        thing_id: String,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<(Thing, bool)>> + Send;

    fn describe_thing(
        &self,
        thing_name: &str,
    ) -> impl Future<Output = StoreResult<Option<Thing>>> + Send;

    /// Create a job and one QUEUED execution per target thing, atomically.
    /// Errors: `AlreadyExists` if the job id is taken, `NotFound` if a target thing
    /// does not exist.
    fn create_job(
        &self,
        new: NewJob,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Job>> + Send;

    fn describe_job(&self, job_id: &str) -> impl Future<Output = StoreResult<Option<Job>>> + Send;

    /// Read one execution (for `NextPending`, the one StartNext would pick) without
    /// changing it.
    fn describe_job_execution(
        &self,
        selector: &ExecutionSelector,
    ) -> impl Future<Output = StoreResult<Option<JobExecution>>> + Send;

    /// The thing's QUEUED and IN_PROGRESS executions, oldest first, at most `limit`
    /// of each status.
    fn get_pending_job_executions(
        &self,
        thing_name: &str,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<JobExecution>>> + Send;

    /// Apply `cmd` to the selected execution atomically: load it and its job, run the
    /// state machine, persist the execution and the job's counters together.
    /// `Ok(None)`: `NextPending` found nothing pending. An `Exact` selector that matches
    /// nothing is `NotFound`.
    fn update_job_execution(
        &self,
        selector: ExecutionSelector,
        cmd: ExecutionCommand,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<AppliedChange>>> + Send;
}
