//! The statements every backend offers inside one transaction: the small interface that
//! [`crate::ops`] (the `Store` logic, written once) runs on. A backend implements it
//! with its own SQL; it sequences nothing and decides no rule.
//!
//! Methods are `async` because PostgreSQL's driver is; SQLite's implementation never
//! suspends (rusqlite is synchronous), so its writer thread runs the same futures to
//! completion with [`crate::block_on`].
//!
//! Locking is part of the interface because several nodes share one PostgreSQL
//! database: [`Lock::ForUpdate`] reads lock the row until commit (in the order
//! execution → job everywhere), and the methods that pick background work skip rows
//! another node has locked. SQLite has one writer, so it serializes everything already
//! and ignores both.

use iotjobs_core::certificate::{Certificate, ThingPrincipalType};
use iotjobs_core::execution::{JobExecution, JobExecutionStatus};
use iotjobs_core::group::{ThingGroup, ThingGroupFilter};
use iotjobs_core::job::{Job, JobProgress};
use iotjobs_core::page::{Page, PageRequest};
use iotjobs_core::store::{ExecutionSelector, JobFilter, StoreResult, ThingFilter};
use iotjobs_core::template::JobTemplate;
use iotjobs_core::{Thing, Timestamp};

/// Whether a read locks what it reads until the transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    No,
    ForUpdate,
    /// Keep the row from being deleted (or its key changed) until commit, without
    /// blocking other readers or other KEY SHARE holders: a group that a member or a child
    /// is being added to.
    KeyShare,
}

/// What ListJobExecutionsForThing filters on.
pub(crate) struct ThingExecutions<'a> {
    pub(crate) thing: &'a str,
    pub(crate) status: Option<JobExecutionStatus>,
    pub(crate) job_id: Option<&'a str>,
}

/// How a transaction changed one execution of a thing, for the change listener
/// ([`iotjobs_core::ThingChanged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch<'a> {
    /// Execution (job id, execution number) is not pending after it (finished,
    /// canceled, removed, deleted).
    NotPending(&'a str, i64),
    /// Anything else: an execution queued, or changed while it stays pending.
    Other,
}

/// What a transaction records per [`Tx::touched`]: the thing, and the execution that is
/// not pending after it (`None`: [`Touch::Other`]).
pub(crate) type Touched = (String, Option<(String, i64)>);

impl Touch<'_> {
    pub(crate) fn record(self, thing: &str) -> Touched {
        match self {
            Touch::NotPending(job_id, number) => {
                (thing.to_owned(), Some((job_id.to_owned(), number)))
            }
            Touch::Other => (thing.to_owned(), None),
        }
    }
}

/// An execution's key within its job, (thing, execution number): bulk work over a job's
/// executions goes through them in this order, chunk by chunk.
pub(crate) type ExecutionKey = (String, i64);

/// One transaction's statements. Every listing takes a keyset [`PageRequest`] and
/// returns at most `limit` items plus the key to continue after.
#[allow(async_fn_in_trait)] // crate-private: callers use concrete backends, never `dyn`.
pub(crate) trait Tx {
    /// Record that this transaction changed an execution of `thing`, and how (reported
    /// to the store's change listener after commit).
    fn touched(&self, thing: &str, how: Touch<'_>);
    /// Record a Jobs event this transaction made (announced after commit).
    fn announce(&self, event: iotjobs_core::JobsEvent);
    /// Record an audit change; the backend writes it, with the transaction's actor,
    /// before COMMIT.
    fn audit(&self, at: iotjobs_core::Timestamp, change: iotjobs_core::audit::AuditChange);
    /// The sum of every job's execution counters.
    async fn count_executions(&self) -> StoreResult<iotjobs_core::JobProcessDetails>;
    /// The audit log, oldest first.
    async fn list_audit(
        &self,
        filter: &iotjobs_core::audit::AuditFilter,
        page: &iotjobs_core::PageRequest,
    ) -> StoreResult<iotjobs_core::Page<iotjobs_core::audit::AuditRecord>>;

    // ---- things ----
    async fn select_thing(&self, name: &str, lock: Lock) -> StoreResult<Option<Thing>>;
    /// Insert unless the name is taken; true if inserted.
    async fn insert_thing(&self, thing: &Thing) -> StoreResult<bool>;
    async fn list_things(&self, f: &ThingFilter, page: &PageRequest) -> StoreResult<Page<Thing>>;
    /// The thing's row and its group memberships (its executions stay).
    async fn delete_thing_rows(&self, name: &str) -> StoreResult<()>;
    /// Write a thing's type, attributes and version (UpdateThing).
    async fn update_thing(&self, thing: &Thing) -> StoreResult<()>;

    // ---- thing groups ----
    async fn select_group(&self, name: &str, lock: Lock) -> StoreResult<Option<ThingGroup>>;
    /// Write a group's description, attributes and version (UpdateThingGroup).
    async fn update_group(&self, group: &ThingGroup) -> StoreResult<()>;
    async fn has_child_groups(&self, group: &str) -> StoreResult<bool>;
    /// The things directly in the group, in name order.
    async fn group_members(&self, group: &str) -> StoreResult<Vec<String>>;
    /// The group's row and its memberships.
    async fn delete_group_rows(&self, group: &str) -> StoreResult<()>;
    /// ListThingGroups (the parent, if any, exists).
    async fn list_groups(&self, f: &ThingGroupFilter, p: &PageRequest)
    -> StoreResult<Page<String>>;
    /// The groups the thing is directly in, paged by name.
    async fn list_groups_of_thing(&self, t: &str, p: &PageRequest) -> StoreResult<Page<String>>;
    /// Insert unless the name is taken; true if inserted.
    async fn insert_group(&self, group: &ThingGroup) -> StoreResult<bool>;
    /// The group and its ancestors, nearest first.
    async fn ancestors(&self, group: &str) -> StoreResult<Vec<String>>;
    /// Things in the group or its descendants, each once, in name order.
    async fn group_things_recursive(&self, group: &str) -> StoreResult<Vec<String>>;
    async fn list_group_things(
        &self,
        group: &str,
        recursive: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<String>>;
    /// The groups the thing is directly in, in name order.
    async fn groups_of_thing(&self, thing: &str) -> StoreResult<Vec<String>>;
    /// True if the thing was not a member yet.
    async fn insert_member(&self, group: &str, thing: &str) -> StoreResult<bool>;
    /// True if the thing was a member.
    async fn delete_member(&self, group: &str, thing: &str) -> StoreResult<bool>;
    /// IN_PROGRESS or SCHEDULED CONTINUOUS jobs that target one of `groups`, in id order.
    async fn continuous_jobs_targeting(&self, groups: &[String]) -> StoreResult<Vec<String>>;
    /// Does the job target the thing directly or through one of `groups`?
    async fn job_targets_thing(
        &self,
        job: &str,
        thing: &str,
        groups: &[String],
    ) -> StoreResult<bool>;

    // ---- jobs ----
    async fn select_job_progress(&self, id: &str, lock: Lock) -> StoreResult<Option<JobProgress>>;
    async fn select_job(&self, id: &str, lock: Lock) -> StoreResult<Option<Job>>;
    /// Insert unless the id is taken; true if inserted.
    async fn insert_job(&self, job: &Job) -> StoreResult<bool>;
    /// Record a target of a job: `kind` is "thing" or "group".
    async fn insert_job_target(&self, job: &str, kind: &str, name: &str) -> StoreResult<()>;
    /// Replace a job's list of target ARNs (AssociateTargetsWithJob).
    async fn update_job_targets(&self, job: &str, targets: &[String]) -> StoreResult<()>;
    /// The progress columns: status, counters, timestamps, rollout state. Not the
    /// policy, which only [`Tx::update_job`] (UpdateJob) changes.
    async fn update_job_progress(&self, progress: &JobProgress) -> StoreResult<()>;
    /// Every mutable column of a job (UpdateJob, CancelJob, DeleteJob).
    async fn update_job(&self, job: &Job) -> StoreResult<()>;
    /// Serialize DeleteJob across nodes until commit: the limit on concurrent
    /// deletions counts every node's.
    async fn lock_job_deletions(&self) -> StoreResult<()>;
    async fn count_jobs_deleting(&self) -> StoreResult<usize>;
    async fn list_jobs(&self, f: &JobFilter, page: &PageRequest) -> StoreResult<Page<Job>>;
    /// Background work: CANCELED jobs with executions left to cancel.
    async fn jobs_with_unfinished_cancel(&self, limit: usize) -> StoreResult<Vec<String>>;
    /// Background work: jobs in DELETION_IN_PROGRESS.
    async fn jobs_deleting(&self) -> StoreResult<Vec<String>>;
    /// Remove up to `limit` of the job's executions: how many were removed, and
    /// (thing, execution number) of those that were pending (their devices' pending
    /// lists change: notify / notify-next, as for a cancel).
    async fn purge_job_executions(
        &self,
        job: &str,
        limit: usize,
    ) -> StoreResult<(usize, Vec<(String, i64)>)>;
    /// The job's row, its targets and its rollout queue (its executions must be gone).
    async fn delete_job_rows(&self, job: &str) -> StoreResult<()>;

    // ---- rollouts (the job's policy and rollout state are columns of its row) ----
    /// Queue `things` for the job's rollout, in this order.
    async fn insert_rollout_targets(&self, job: &str, things: &[String]) -> StoreResult<()>;
    /// Remove and return up to `limit` of the job's waiting targets, in queue order.
    async fn take_rollout_targets(&self, job: &str, limit: usize) -> StoreResult<Vec<String>>;
    /// Drop every waiting target of the job (CancelJob, an abort, a schedule's end).
    async fn delete_rollout_targets(&self, job: &str) -> StoreResult<()>;
    /// Background work: up to `limit` jobs whose `wake_at` is at or before `now`,
    /// earliest first, locked (PostgreSQL skips jobs another node has locked).
    async fn jobs_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<String>>;
    /// The earliest `wake_at` of any job (the test clock steps through each).
    async fn next_job_wake(&self) -> StoreResult<Option<Timestamp>>;

    // ---- job executions ----
    async fn select_execution(
        &self,
        selector: &ExecutionSelector,
        lock: Lock,
    ) -> StoreResult<Option<JobExecution>>;
    /// [`Tx::select_execution`] with [`Lock::ForUpdate`], for a change that goes on to
    /// lock the execution's job (`select_job_progress` with [`Lock::ForUpdate`]): a
    /// backend may lock and read the job's row in the same round trip (execution first,
    /// so the lock order stays) and answer that next read from it.
    async fn select_execution_for_change(
        &self,
        selector: &ExecutionSelector,
    ) -> StoreResult<Option<JobExecution>> {
        self.select_execution(selector, Lock::ForUpdate).await
    }
    /// The thing's IN_PROGRESS, then QUEUED executions, oldest first, at most `limit`
    /// of each status.
    async fn select_pending(&self, thing: &str, limit: usize) -> StoreResult<Vec<JobExecution>>;
    /// Every QUEUED or IN_PROGRESS execution of the thing, locked.
    async fn select_all_pending(&self, thing: &str) -> StoreResult<Vec<JobExecution>>;
    /// Background work: up to `limit` executions of the job in one of `statuses`.
    async fn select_job_executions_in(
        &self,
        job: &str,
        statuses: &[JobExecutionStatus],
        limit: usize,
    ) -> StoreResult<Vec<JobExecution>>;
    /// Background work: IN_PROGRESS executions whose timer expired by `now`.
    async fn select_timed_out(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<JobExecution>>;
    async fn list_executions_for_job(
        &self,
        job: &str,
        status: Option<JobExecutionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<JobExecution>>;
    async fn list_executions_for_thing(
        &self,
        q: &ThingExecutions<'_>,
        page: &PageRequest,
    ) -> StoreResult<Page<JobExecution>>;
    async fn insert_execution(&self, execution: &JobExecution) -> StoreResult<()>;
    /// Execution number 1, QUEUED, for each thing (CreateJob).
    async fn insert_queued_executions(
        &self,
        job: &str,
        things: &[String],
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn update_execution(&self, execution: &JobExecution) -> StoreResult<()>;
    /// Bulk work: the key of the `n`-th execution of the job after `after` (from its
    /// first when `None`), in key order; `None` when fewer follow.
    async fn nth_execution_key(
        &self,
        job: &str,
        after: Option<&ExecutionKey>,
        n: usize,
    ) -> StoreResult<Option<ExecutionKey>>;
    /// Bulk work: make `change` to every execution of the job in status `change.from`
    /// whose key is after `after` (all when `None`) and at most `upto` (no bound when
    /// `None`), locked; returns them as changed, in no particular order.
    async fn update_executions_uniform(
        &self,
        job: &str,
        after: Option<&ExecutionKey>,
        upto: Option<&ExecutionKey>,
        change: &iotjobs_core::UniformChange,
    ) -> StoreResult<Vec<JobExecution>>;
    async fn delete_execution(&self, execution: &JobExecution) -> StoreResult<()>;

    // ---- certificates and thing principals ----
    async fn select_certificate(&self, id: &str, lock: Lock) -> StoreResult<Option<Certificate>>;
    /// Insert unless the id is taken; true if inserted.
    async fn insert_certificate(&self, cert: &Certificate) -> StoreResult<bool>;
    /// Write a certificate's status, modification date, versions (UpdateCertificate).
    async fn update_certificate(&self, cert: &Certificate) -> StoreResult<()>;
    async fn delete_certificate_row(&self, id: &str) -> StoreResult<()>;
    /// By (creation date, id), ascending or descending; the page key is
    /// `compound_key(id, created_at millis)`.
    async fn list_certificates(
        &self,
        ascending: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<Certificate>>;
    /// The things the certificate is attached to, with each attachment's type, in name
    /// order.
    async fn certificate_things(&self, id: &str) -> StoreResult<Vec<(String, ThingPrincipalType)>>;
    async fn insert_thing_principal(
        &self,
        thing: &str,
        id: &str,
        kind: ThingPrincipalType,
    ) -> StoreResult<()>;
    async fn delete_thing_principal(&self, thing: &str, id: &str) -> StoreResult<()>;
    /// The ids of the certificates attached to the thing, paged by id.
    async fn list_thing_principals(
        &self,
        thing: &str,
        p: &PageRequest,
    ) -> StoreResult<Page<String>>;
    async fn thing_has_principals(&self, thing: &str) -> StoreResult<bool>;

    // ---- custom job templates ----
    async fn select_job_template(&self, id: &str) -> StoreResult<Option<JobTemplate>>;
    /// Insert unless the id is taken; true if inserted.
    async fn insert_job_template(&self, template: &JobTemplate) -> StoreResult<bool>;
    /// True if the template existed (and is gone now).
    async fn delete_job_template(&self, id: &str) -> StoreResult<bool>;
    /// By id.
    async fn list_job_templates(&self, page: &PageRequest) -> StoreResult<Page<JobTemplate>>;

    // ---- the store itself ----
    /// Record the account on first use; refuse another account.
    async fn claim_account(&self, account: &str) -> StoreResult<()>;
    /// Every resource (not the account claim).
    async fn delete_everything(&self) -> StoreResult<()>;
}
