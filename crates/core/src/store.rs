//! The storage port: what any backend (SQLite, PostgreSQL) must offer.
//!
//! Methods are business operations ("apply this command to that execution"), not
//! tables or rows, so that each backend chooses how to make them atomic: SQLite runs
//! them on one writer thread with group commit, PostgreSQL in a transaction with row
//! locks. Every method that changes state is atomic and durable when it returns `Ok`.
//! Backends never decide a rule: they load records, call the pure functions of this
//! crate ([`crate::state_machine::apply_to_job`]), and persist what those return.

use crate::certificate::{Certificate, CertificateStatus, NewCertificate, ThingPrincipalType};
use crate::error::JobsError;
use crate::event::JobsEvent;
use crate::execution::{JobExecution, JobExecutionStatus};
use crate::group::{NewThingGroup, ThingGroup, ThingGroupFilter, ThingGroupUpdate};
use crate::job::{
    Job, JobProcessDetails, JobProgress, JobStatus, JobUpdate, NewJob, TargetSelection,
};
use crate::page::{Page, PageRequest};
use crate::state_machine::ExecutionCommand;
use crate::template::{JobTemplate, NewJobTemplate};
use crate::thing::{NewThing, Thing, ThingUpdate};
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

/// ListThings filters (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingFilter {
    pub attribute_name: Option<String>,
    pub attribute_value: Option<String>,
    /// Match `attribute_value` as a prefix instead of exactly.
    pub use_prefix_attribute_value: bool,
    pub thing_type_name: Option<String>,
}

impl ThingFilter {
    /// ListThings: "attributeValue" filters the values of "attributeName", so it
    /// cannot come alone.
    pub fn check(&self) -> Result<(), JobsError> {
        if self.attribute_value.is_some() && self.attribute_name.is_none() {
            return Err(JobsError::InvalidRequest(
                "attributeValue requires attributeName".into(),
            ));
        }
        Ok(())
    }
}

/// ListJobs filters (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub target_selection: Option<TargetSelection>,
    /// Jobs that target this thing group.
    pub thing_group_name: Option<String>,
}

/// The targets AssociateTargetsWithJob adds: their ARNs as given, and the names they
/// resolve to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssociatedTargets {
    pub arns: Vec<String>,
    pub things: Vec<String>,
    pub groups: Vec<String>,
}

/// What a backend counts about itself ([`Store::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Write transactions committed (SQLite: group-commit batches).
    pub commit_batches: u64,
    /// Writes those transactions carried (SQLite: requests in the batches); over any
    /// interval, writes ÷ batches is the mean batch size.
    pub committed_writes: u64,
    /// The write-ahead log's size now, where the backend has one of its own (SQLite).
    pub wal_bytes: Option<u64>,
}

/// What one [`Store::sweep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// IN_PROGRESS executions whose timer expired, now TIMED_OUT.
    pub timed_out: usize,
    /// Executions of canceled jobs canceled by the sweep (work a CancelJob left undone,
    /// e.g. because its process stopped mid-way).
    pub canceled: usize,
    /// Execution records removed from jobs in DELETION_IN_PROGRESS.
    pub purged_executions: usize,
    /// Jobs whose deletion completed (their id is free again).
    pub deleted_jobs: usize,
    /// Jobs whose schedule, maintenance windows or rollout steps were advanced.
    pub rollouts: usize,
}

impl JobFilter {
    /// ListJobs' `thingGroupId` filter: iotjobs keys jobs' group targets by name.
    pub fn thing_group_id_not_supported() -> JobsError {
        JobsError::InvalidRequest(
            "The thingGroupId filter is not supported by iotjobs; use thingGroupName".into(),
        )
    }
}

impl SweepReport {
    pub fn is_idle(&self) -> bool {
        *self == SweepReport::default()
    }
}

/// What a [`ChangeListener`] hears.
#[derive(Debug, Clone, Copy)]
pub enum ChangeNotice<'a> {
    /// A write committed: the things whose job executions it changed (created, changed,
    /// removed or deleted), each once, and the Jobs events it made
    /// ([`crate::event`]; only this node's own commits carry events).
    Committed {
        things: &'a [ThingChanged],
        events: &'a [JobsEvent],
    },
    /// Changes may have been missed (with several nodes on PostgreSQL: the connection
    /// that hears the others' commits was lost): check every thing of interest.
    Resync,
}

/// Called after a write committed, so that the device transports notify devices
/// (`notify`, `notify-next`) and publish events only about committed changes. With
/// several nodes (PostgreSQL), other nodes' commits are announced too. It runs on the
/// writer's task: it must return quickly (hand the work to a channel).
pub type ChangeListener = std::sync::Arc<dyn Fn(ChangeNotice<'_>) + Send + Sync>;
/// One thing whose job executions a committed write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingChanged {
    pub thing: String,
    /// When every change the write made to the thing's executions left them out of its
    /// pending list (finished, canceled, removed, deleted): those executions, as (job
    /// id, execution number). `None` when an execution may be pending after the write
    /// (queued, or changed while pending), or when the write is another node's. A
    /// listener that knew the pending list can then tell the new one without reading it
    /// when none is left.
    pub left_pending: Option<Vec<(String, i64)>>,
}

impl ThingChanged {
    /// A change of `thing` with nothing known about it.
    pub fn unknown(thing: impl Into<String>) -> Self {
        ThingChanged {
            thing: thing.into(),
            left_pending: None,
        }
    }
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

    /// Things in name order.
    fn list_things(
        &self,
        filter: &ThingFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Thing>>> + Send;

    /// Delete a thing: its pending executions become REMOVED (through the state
    /// machine), it leaves its groups. Unknown thing: `Ok` (DeleteThing model doc).
    /// `expected_version` mismatch: `VersionMismatch`; principals attached:
    /// InvalidRequest ([`Thing::check_deletable`]).
    fn delete_thing(
        &self,
        thing_name: &str,
        expected_version: Option<i64>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// UpdateThing: apply [`Thing::update`] to the stored thing. Unknown thing:
    /// `NotFound`.
    fn update_thing(
        &self,
        thing_name: &str,
        update: ThingUpdate,
        expected_version: Option<i64>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Insert a group unless one with that name exists (see `create_thing`). The parent,
    /// if named, must exist (`NotFound`).
    fn create_thing_group(
        &self,
        new: NewThingGroup,
        group_id: String,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<(ThingGroup, bool)>> + Send;

    fn describe_thing_group(
        &self,
        group_name: &str,
    ) -> impl Future<Output = StoreResult<Option<ThingGroup>>> + Send;

    /// UpdateThingGroup: apply [`ThingGroup::update`]; returns the new version.
    /// Unknown group: `NotFound`.
    fn update_thing_group(
        &self,
        group_name: &str,
        update: ThingGroupUpdate,
        expected_version: Option<i64>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<i64>> + Send;

    /// DeleteThingGroup: [`ThingGroup::check_deletable`], then every member leaves the
    /// group as in `remove_thing_from_thing_group` (CONTINUOUS jobs that no longer
    /// target a member REMOVE its QUEUED execution), then the group goes. Unknown group:
    /// `Ok` (DeleteThingGroup declares no ResourceNotFoundException).
    fn delete_thing_group(
        &self,
        group_name: &str,
        expected_version: Option<i64>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// ListThingGroups: names in name order. Unknown parent group: `NotFound`.
    fn list_thing_groups(
        &self,
        filter: &ThingGroupFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<String>>> + Send;

    /// ListThingGroupsForThing: the groups the thing is directly in, in name order.
    /// Unknown thing: `NotFound`.
    fn list_thing_groups_for_thing(
        &self,
        thing_name: &str,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<String>>> + Send;

    /// Add a thing to a group (idempotent). Every IN_PROGRESS CONTINUOUS job that
    /// targets the group or one of its ancestors queues an execution for the thing,
    /// unless the thing already has one that was not REMOVED.
    fn add_thing_to_thing_group(
        &self,
        group_name: &str,
        thing_name: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Remove a thing from a group (idempotent). For CONTINUOUS jobs that no longer
    /// target the thing through any group, its QUEUED execution becomes REMOVED.
    fn remove_thing_from_thing_group(
        &self,
        group_name: &str,
        thing_name: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Names of the group's things (with `recursive`, also of its descendant groups),
    /// in name order. Unknown group: `NotFound`.
    fn list_things_in_thing_group(
        &self,
        group_name: &str,
        recursive: bool,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<String>>> + Send;

    /// Create a job and one QUEUED execution per targeted thing (groups expanded,
    /// descendants included, each thing once), atomically.
    /// Errors: `AlreadyExists` if the job id is taken, `NotFound` if a target thing or
    /// group does not exist.
    fn create_job(
        &self,
        new: NewJob,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Job>> + Send;

    /// AssociateTargetsWithJob: add `targets` (ARNs; `things` and `groups` the names
    /// they resolve to, as for [`Store::create_job`]) to a CONTINUOUS job, and queue an
    /// execution for each resolved thing that has none of this job yet
    /// ([`crate::job::check_associate_targets`]). Returns the job as it is now.
    fn associate_targets_with_job(
        &self,
        job_id: &str,
        targets: AssociatedTargets,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Job>> + Send;

    fn describe_job(&self, job_id: &str) -> impl Future<Output = StoreResult<Option<Job>>> + Send;

    /// Jobs in id order.
    fn list_jobs(
        &self,
        filter: &JobFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Job>>> + Send;

    /// Apply [`Job::update`] to the stored job.
    fn update_job(
        &self,
        job_id: &str,
        update: JobUpdate,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// CancelJob: apply [`Job::cancel`], then cancel the job's executions in
    /// [`Job::statuses_to_cancel`] through the state machine, in bounded transactions
    /// (a huge job never holds the store for long). Returns the job afterwards. If the
    /// process stops half-way, [`Store::sweep`] finishes the work.
    fn cancel_job(
        &self,
        job_id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Job>> + Send;

    /// DeleteJob: apply [`Job::begin_delete`]. The records go later, in
    /// [`Store::sweep`]; the job id is free once they are gone.
    fn delete_job(
        &self,
        job_id: &str,
        force: bool,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The job's executions in (thing name, execution number) order. Unknown job:
    /// `NotFound`.
    fn list_job_executions_for_job(
        &self,
        job_id: &str,
        status: Option<JobExecutionStatus>,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<JobExecution>>> + Send;

    /// The thing's executions in (job id, execution number) order, optionally of one
    /// job. Unknown thing without executions: `NotFound`.
    fn list_job_executions_for_thing(
        &self,
        thing_name: &str,
        status: Option<JobExecutionStatus>,
        job_id: Option<&str>,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<JobExecution>>> + Send;

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

    /// Background work, at most `budget` records per kind: time out expired IN_PROGRESS
    /// executions, advance jobs' schedules and rollouts that are due, finish interrupted
    /// job cancellations, purge jobs being deleted.
    /// Safe to run from several processes at once: every change goes through the state
    /// machine inside the backend's transaction, so a second sweeper finds nothing left
    /// to do rather than doing it twice.
    fn sweep(
        &self,
        now: Timestamp,
        budget: usize,
    ) -> impl Future<Output = StoreResult<SweepReport>> + Send;

    /// Register the [`ChangeListener`] (one per store; a later call replaces it).
    fn set_change_listener(&self, listener: ChangeListener);

    // ---- the certificate registry ------------------------------------------------------

    /// RegisterCertificateWithoutCA: the certificate as stored. Registered already:
    /// `AlreadyExists` ([`JobsError::certificate_already_exists`]).
    fn register_certificate(
        &self,
        new: NewCertificate,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Certificate>> + Send;

    fn describe_certificate(
        &self,
        certificate_id: &str,
    ) -> impl Future<Output = StoreResult<Option<Certificate>>> + Send;

    /// UpdateCertificate: [`Certificate::update_status`]. Unknown certificate: `NotFound`.
    fn update_certificate(
        &self,
        certificate_id: &str,
        new_status: CertificateStatus,
        generation_id: String,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// DeleteCertificate: [`Certificate::check_deletable`] (`certificate_arn` is for its
    /// message). Unknown certificate: `NotFound`.
    fn delete_certificate(
        &self,
        certificate_id: &str,
        certificate_arn: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// ListCertificates: by creation date (then id), ascending or descending.
    fn list_certificates(
        &self,
        ascending: bool,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Certificate>>> + Send;

    /// AttachThingPrincipal: [`crate::certificate::check_attach`] (`principal` is the
    /// ARN, for messages). Unknown thing or certificate: `NotFound`.
    fn attach_thing_principal(
        &self,
        thing_name: &str,
        certificate_id: &str,
        principal: &str,
        kind: ThingPrincipalType,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// DetachThingPrincipal (idempotent). Unknown thing or certificate: `NotFound`.
    fn detach_thing_principal(
        &self,
        thing_name: &str,
        certificate_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// ListThingPrincipals: the ids of the certificates attached to the thing, in id
    /// order. Unknown thing: `NotFound`.
    fn list_thing_principals(
        &self,
        thing_name: &str,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<String>>> + Send;

    // ---- custom job templates ---------------------------------------------------------

    /// CreateJobTemplate: the template as stored. Id in use: `Conflict`
    /// ([`JobsError::job_template_already_exists`]).
    fn create_job_template(
        &self,
        new: NewJobTemplate,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<JobTemplate>> + Send;

    fn describe_job_template(
        &self,
        job_template_id: &str,
    ) -> impl Future<Output = StoreResult<Option<JobTemplate>>> + Send;

    /// ListJobTemplates: templates in id order.
    fn list_job_templates(
        &self,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<JobTemplate>>> + Send;

    /// DeleteJobTemplate. Jobs made from the template keep what they copied from it.
    /// Unknown template: `NotFound`.
    fn delete_job_template(
        &self,
        job_template_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// How many executions are in each status now, over every job (the sum of the
    /// jobs' counters: one read, however many executions there are).
    fn count_executions(&self) -> impl Future<Output = StoreResult<JobProcessDetails>> + Send;

    /// When the earliest time-driven job work falls due (a schedule start or end, a
    /// maintenance window boundary, the next rollout minute); `None`: none is planned.
    /// The test clock stops at each such time, so that a long advance applies every
    /// step in order.
    fn next_job_wake(&self) -> impl Future<Output = StoreResult<Option<Timestamp>>> + Send;

    /// Counters of the backend itself, for `/metrics` (cheap: no database round trip).
    fn stats(&self) -> StoreStats;

    /// Delete everything (the `--enable-reset` test endpoint). The account claim
    /// ([`Store::claim_account`]) stays.
    fn reset(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Record that this store holds `account_id`'s resources; the first claim wins.
    /// Refused (InvalidRequest) when the store already belongs to another account, so
    /// that restarting with another `--account-id` cannot hand one account's jobs to
    /// another.
    fn claim_account(&self, account_id: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Become the one node that does `role` (e.g. serving an external MQTT broker, whose
    /// requests must be consumed once): `Some` lease if no other holder of this store's
    /// data has it, `None` if one does. The role is held until the lease is dropped or
    /// [`Lease::is_held`] turns false (a lost database connection); a node that dies
    /// loses it with its connection, so a standby's next try succeeds.
    fn try_lead(
        &self,
        role: &str,
    ) -> impl Future<Output = StoreResult<Option<Box<dyn Lease>>>> + Send;

    /// The audit log ([`crate::audit`]), oldest first, filtered.
    fn list_audit(
        &self,
        filter: &crate::audit::AuditFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::audit::AuditRecord>>> + Send;
}

/// A role held by this node (see [`Store::try_lead`]); dropping it gives the role up.
pub trait Lease: Send + Sync {
    /// False once the role may have passed to another node: stop acting on it.
    fn is_held(&self) -> bool;
}
