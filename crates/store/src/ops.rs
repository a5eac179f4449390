//! The `Store` logic, written once for every backend: what each operation loads, which
//! core function decides, and what is written back, all inside one transaction `tx`.
//!
//! Each function here is one transaction's work; [`crate::store_impl`] decides how many
//! transactions an operation takes (CancelJob and the sweep take several, so that one
//! huge job never holds the store for long) and each backend how a transaction runs
//! (SQLite: on its writer thread in a group commit; PostgreSQL: a pooled transaction,
//! retried after a deadlock).
//!
//! Nothing here decides a rule or words a message: rules and messages come from
//! `iotjobs-core`; statements from the backend's [`Tx`].

use crate::tx::{ExecutionKey, Lock, ThingExecutions, Touch, Tx};
use iotjobs_core::audit::{AuditChange, AuditSubject};
use iotjobs_core::certificate::{
    Certificate, CertificateStatus, NewCertificate, ThingPrincipalType, check_attach,
};
use iotjobs_core::execution::check_listing_for_thing;
use iotjobs_core::group::{
    NewThingGroup, ThingGroup, ThingGroupFilter, ThingGroupUpdate, check_join,
    execution_number_on_join, removed_on_leave,
};
use iotjobs_core::job::{JobProgress, JobUpdate, check_associate_targets, resolve_targets};
use iotjobs_core::page::{Page, PageRequest};
use iotjobs_core::policy::{EndBehavior, ScheduleEvent};
use iotjobs_core::state_machine::{
    Change, ExecutionCommand, UniformChange, apply_to_job, uniform_change,
};
use iotjobs_core::store::{
    AppliedChange, AssociatedTargets, ExecutionSelector, JobFilter, StoreResult, ThingFilter,
};
use iotjobs_core::template::{JobTemplate, NewJobTemplate};
use iotjobs_core::thing::ThingUpdate;
use iotjobs_core::{
    Job, JobEventOperation, JobExecution, JobExecutionEventOperation, JobExecutionStatus,
    JobStatus, JobsError, JobsEvent, NewJob, NewThing, TargetSelection, Thing, Timestamp,
};
use std::collections::BTreeMap;

/// Executions changed per transaction by bulk operations (CancelJob, job purges):
/// about 25-50 ms of SQLite writer time each, so other requests keep flowing
/// (rust-deps.md §3: a 1M-row transaction would hold the writer for seconds).
pub(crate) const BULK_CHUNK: usize = 5_000;

/// Executions covered per transaction by CancelJob ([`cancel_job_executions_from`]): each
/// costs the writer a few µs as one statement per status, so a chunk holds it for a
/// few ms and other requests wait little between two chunks.
pub(crate) const CANCEL_CHUNK: usize = 4_000;

/// How many canceled jobs one sweep looks at for executions left to cancel.
const SWEEP_CANCELED_JOBS: usize = 16;

/// How many due jobs one sweep transaction advances (schedules, windows, rollouts).
pub(crate) const SWEEP_JOBS: usize = 16;

// ---- the audit log ----------------------------------------------------------------------

/// Record a change for the audit log (written with the transaction, see `Tx::audit`).
fn audit(
    tx: &impl Tx,
    at: Timestamp,
    subject: AuditSubject,
    (job_id, name): (Option<&str>, Option<&str>),
    (old, new): (Option<&str>, Option<&str>),
    detail: Option<String>,
) {
    tx.audit(
        at,
        AuditChange {
            subject,
            job_id: job_id.map(str::to_owned),
            name: name.map(str::to_owned),
            old_status: old.map(str::to_owned),
            new_status: new.map(str::to_owned),
            detail,
        },
    );
}

fn audit_job(
    tx: &impl Tx,
    at: Timestamp,
    job_id: &str,
    old: Option<JobStatus>,
    new: Option<JobStatus>,
) {
    let (old, new) = (old.map(JobStatus::as_str), new.map(JobStatus::as_str));
    audit(
        tx,
        at,
        AuditSubject::Job,
        (Some(job_id), None),
        (old, new),
        None,
    );
}

fn audit_certificate(
    tx: &impl Tx,
    at: Timestamp,
    id: &str,
    statuses: (Option<&str>, Option<&str>),
) {
    audit(
        tx,
        at,
        AuditSubject::Certificate,
        (None, Some(id)),
        statuses,
        None,
    );
}

fn audit_thing(tx: &impl Tx, at: Timestamp, thing: &str, detail: Option<String>) {
    audit(
        tx,
        at,
        AuditSubject::Thing,
        (None, Some(thing)),
        (None, None),
        detail,
    );
}

// ---- things ---------------------------------------------------------------------------

/// Insert-if-absent that cannot lose a race between nodes: insert, then read what won.
pub(crate) async fn create_thing(
    tx: &impl Tx,
    new: &NewThing,
    thing_id: &str,
    now: Timestamp,
) -> StoreResult<(Thing, bool)> {
    if let Some(existing) = tx.select_thing(&new.thing_name, Lock::No).await? {
        return Ok((existing, false));
    }
    let thing = Thing::create(new, thing_id, now);
    let created = tx.insert_thing(&thing).await?;
    if created {
        audit_thing(tx, now, &thing.thing_name, None);
    }
    let stored = tx.select_thing(&thing.thing_name, Lock::No).await?;
    // Gone between our insert and this read: a concurrent delete won the race. Running
    // the transaction again decides anew (PostgreSQL retries conflicts; SQLite's single
    // writer cannot get here).
    let stored =
        stored.ok_or_else(|| JobsError::transaction_conflict("the thing was deleted meanwhile"))?;
    Ok((stored, created))
}

/// DeleteThing: the thing's pending executions become REMOVED through the state
/// machine, then its row and memberships go. Unknown thing: nothing to do.
pub(crate) async fn delete_thing(
    tx: &impl Tx,
    name: &str,
    expected_version: Option<i64>,
    now: Timestamp,
) -> StoreResult<()> {
    let Some(thing) = tx.select_thing(name, Lock::ForUpdate).await? else {
        return Ok(());
    };
    thing.check_deletable(expected_version, tx.thing_has_principals(name).await?)?;
    remove_executions(tx, tx.select_all_pending(name).await?, now).await?;
    audit_thing(tx, now, name, None);
    tx.delete_thing_rows(name).await
}

// ---- certificates ----------------------------------------------------------------------

/// RegisterCertificateWithoutCA: insert, then read what won (a racing registration of
/// the same certificate on another node loses with `AlreadyExists`).
pub(crate) async fn register_certificate(
    tx: &impl Tx,
    new: &NewCertificate,
    now: Timestamp,
) -> StoreResult<Certificate> {
    let cert = Certificate::registered(new, now);
    if !tx.insert_certificate(&cert).await? {
        return Err(JobsError::certificate_already_exists(&cert.certificate_id));
    }
    audit_certificate(
        tx,
        now,
        &cert.certificate_id,
        (None, Some(cert.status.as_str())),
    );
    Ok(cert)
}

async fn require_certificate(tx: &impl Tx, id: &str, lock: Lock) -> StoreResult<Certificate> {
    tx.select_certificate(id, lock)
        .await?
        .ok_or_else(|| JobsError::certificate_not_found(id))
}

pub(crate) async fn update_certificate(
    tx: &impl Tx,
    id: &str,
    new_status: CertificateStatus,
    generation_id: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let mut cert = require_certificate(tx, id, Lock::ForUpdate).await?;
    let old = cert.status;
    if cert.update_status(new_status, generation_id, now)? {
        tx.update_certificate(&cert).await?;
        audit_certificate(
            tx,
            now,
            id,
            (Some(old.as_str()), Some(cert.status.as_str())),
        );
    }
    Ok(())
}

pub(crate) async fn delete_certificate(
    tx: &impl Tx,
    id: &str,
    arn: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let cert = require_certificate(tx, id, Lock::ForUpdate).await?;
    let attached = !tx.certificate_things(id).await?.is_empty();
    cert.check_deletable(attached, arn)?;
    audit_certificate(tx, now, id, (Some(cert.status.as_str()), None));
    tx.delete_certificate_row(id).await
}

/// AttachThingPrincipal. Locks the thing, then the certificate (the order DeleteThing
/// and DeleteCertificate take them in), so that neither is deleted while it is attached.
pub(crate) async fn attach_thing_principal(
    tx: &impl Tx,
    thing: &str,
    id: &str,
    principal: &str,
    kind: ThingPrincipalType,
    now: Timestamp,
) -> StoreResult<()> {
    require_thing(tx, thing, Lock::ForUpdate).await?;
    require_certificate(tx, id, Lock::ForUpdate).await?;
    let attached = tx.certificate_things(id).await?;
    if check_attach(principal, thing, kind, &attached)? {
        tx.insert_thing_principal(thing, id, kind).await?;
        audit_thing(tx, now, thing, Some(format!("certificate={id}")));
    }
    Ok(())
}

pub(crate) async fn detach_thing_principal(
    tx: &impl Tx,
    thing: &str,
    id: &str,
    now: Timestamp,
) -> StoreResult<()> {
    require_thing(tx, thing, Lock::ForUpdate).await?;
    require_certificate(tx, id, Lock::ForUpdate).await?;
    audit_thing(tx, now, thing, Some(format!("certificate={id}")));
    tx.delete_thing_principal(thing, id).await
}

pub(crate) async fn list_thing_principals(
    tx: &impl Tx,
    thing: &str,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    require_thing(tx, thing, Lock::No).await?;
    tx.list_thing_principals(thing, page).await
}

/// UpdateThing: the thing named by the request must exist.
pub(crate) async fn update_thing(
    tx: &impl Tx,
    name: &str,
    update: &ThingUpdate,
    expected_version: Option<i64>,
    now: Timestamp,
) -> StoreResult<()> {
    let mut thing = tx
        .select_thing(name, Lock::ForUpdate)
        .await?
        .ok_or_else(|| JobsError::thing_not_found(name))?;
    thing.update(update, expected_version)?;
    audit_thing(tx, now, name, None);
    tx.update_thing(&thing).await
}

pub(crate) async fn list_thing_groups_for_thing(
    tx: &impl Tx,
    thing: &str,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    if tx.select_thing(thing, Lock::No).await?.is_none() {
        return Err(JobsError::thing_not_found(thing));
    }
    tx.list_groups_of_thing(thing, page).await
}

async fn require_thing(tx: &impl Tx, name: &str, lock: Lock) -> StoreResult<Thing> {
    tx.select_thing(name, lock)
        .await?
        .ok_or_else(|| JobsError::referenced_thing_not_found(name))
}

// ---- thing groups -----------------------------------------------------------------------

pub(crate) async fn create_thing_group(
    tx: &impl Tx,
    new: &NewThingGroup,
    group_id: &str,
    now: Timestamp,
) -> StoreResult<(ThingGroup, bool)> {
    if let Some(existing) = tx.select_group(&new.group_name, Lock::No).await? {
        return Ok((existing, false));
    }
    if let Some(parent) = &new.parent_group_name {
        // KEY SHARE: a concurrent DeleteThingGroup of the parent waits, then sees the child.
        require_group(tx, parent, Lock::KeyShare).await?;
    }
    let group = ThingGroup::create(new, group_id, now);
    let created = tx.insert_group(&group).await?;
    if created {
        audit_group(tx, now, &group.group_name);
    }
    let stored = tx.select_group(&new.group_name, Lock::No).await?;
    // Gone between our insert and this read: a concurrent delete won the race. Running
    // the transaction again decides anew (PostgreSQL retries conflicts; SQLite's single
    // writer cannot get here).
    let stored =
        stored.ok_or_else(|| JobsError::transaction_conflict("the group was deleted meanwhile"))?;
    Ok((stored, created))
}

async fn require_group(tx: &impl Tx, name: &str, lock: Lock) -> StoreResult<ThingGroup> {
    tx.select_group(name, lock)
        .await?
        .ok_or_else(|| JobsError::thing_group_not_found(name))
}

pub(crate) async fn update_thing_group(
    tx: &impl Tx,
    name: &str,
    update: &ThingGroupUpdate,
    expected_version: Option<i64>,
    now: Timestamp,
) -> StoreResult<i64> {
    let mut group = tx
        .select_group(name, Lock::ForUpdate)
        .await?
        .ok_or_else(|| JobsError::thing_group_not_found(name))?;
    group.update(update, expected_version)?;
    tx.update_group(&group).await?;
    audit_group(tx, now, name);
    Ok(group.version)
}

/// DeleteThingGroup: each member leaves the group as RemoveThingFromThingGroup would
/// make it leave, then the group goes. Unknown group: nothing to do.
pub(crate) async fn delete_thing_group(
    tx: &impl Tx,
    name: &str,
    expected_version: Option<i64>,
    now: Timestamp,
) -> StoreResult<()> {
    // The group row locked FOR UPDATE conflicts with the KEY SHARE lock that adding a
    // member or a child takes on it, so neither can slip in (PostgreSQL).
    let Some(group) = tx.select_group(name, Lock::ForUpdate).await? else {
        return Ok(());
    };
    group.check_deletable(expected_version, tx.has_child_groups(name).await?)?;
    let continuous = tx
        .continuous_jobs_targeting(&tx.ancestors(name).await?)
        .await?;
    // Two phases, to keep the lock order thing → execution → job across members: first
    // every member leaves (its thing and the executions leaving removes are locked),
    // then the executions change and their jobs are locked.
    let mut removed = Vec::new();
    for thing in tx.group_members(name).await? {
        // A thing deleted meanwhile has left already (DeleteThing drops memberships).
        if tx.select_thing(&thing, Lock::ForUpdate).await?.is_none() {
            continue;
        }
        tx.delete_member(name, &thing).await?;
        removed.extend(executions_leaving(tx, &thing, &continuous).await?);
    }
    remove_executions(tx, removed, now).await?;
    audit_group(tx, now, name);
    tx.delete_group_rows(name).await
}

fn audit_group(tx: &impl Tx, at: Timestamp, group: &str) {
    audit(
        tx,
        at,
        AuditSubject::ThingGroup,
        (None, Some(group)),
        (None, None),
        None,
    );
}

pub(crate) async fn list_thing_groups(
    tx: &impl Tx,
    filter: &ThingGroupFilter,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    if let Some(parent) = &filter.parent_group {
        require_group(tx, parent, Lock::No).await?;
    }
    tx.list_groups(filter, page).await
}

/// AddThingToThingGroup. The thing's row is locked, so that membership changes of one
/// thing are serialized across nodes and the core's joining checks cannot race. Every
/// IN_PROGRESS CONTINUOUS job that targets the group or an ancestor queues an
/// execution for the newcomer ("targetSelection" model doc), numbered by the core.
pub(crate) async fn add_thing_to_thing_group(
    tx: &impl Tx,
    group: &str,
    thing: &str,
    now: Timestamp,
) -> StoreResult<()> {
    require_group(tx, group, Lock::KeyShare).await?;
    require_thing(tx, thing, Lock::ForUpdate).await?;
    let ancestors = tx.ancestors(group).await?;
    let mut current = Vec::new();
    for g in tx.groups_of_thing(thing).await? {
        let root = tx.ancestors(&g).await?.pop().unwrap_or_default();
        current.push((g, root));
    }
    let root = ancestors.last().cloned().unwrap_or_default();
    if !check_join(thing, group, &root, &current)? {
        return Ok(());
    }
    tx.insert_member(group, thing).await?;
    audit_thing(tx, now, thing, Some(format!("group={group}")));
    let mut jobs = JobCache::default();
    for job_id in tx.continuous_jobs_targeting(&ancestors).await? {
        let latest = tx
            .select_execution(&latest_of(thing, &job_id), Lock::ForUpdate)
            .await?;
        let Some(number) = execution_number_on_join(latest.as_ref()) else {
            continue;
        };
        // A job not rolling out yet (SCHEDULED) queues the newcomer with its other
        // targets; the rollout gives it its execution.
        let job = jobs.load(tx, &job_id).await?;
        if job.queue_joining_thing(now) {
            tx.insert_rollout_targets(&job_id, &[thing.to_owned()])
                .await?;
            continue;
        }
        tx.insert_execution(&JobExecution::queued(&job_id, thing, number, now))
            .await?;
        tx.touched(thing, Touch::Other);
        let queued = Some(JobExecutionStatus::Queued.as_str());
        let ids = (Some(job_id.as_str()), Some(thing));
        audit(
            tx,
            now,
            AuditSubject::JobExecution,
            ids,
            (None, queued),
            None,
        );
        jobs.load(tx, &job_id).await?.record_execution_change(
            None,
            Some(JobExecutionStatus::Queued),
            now,
        );
    }
    jobs.flush(tx, now).await
}

/// RemoveThingFromThingGroup (see [`leave_group`]).
pub(crate) async fn remove_thing_from_thing_group(
    tx: &impl Tx,
    group: &str,
    thing: &str,
    now: Timestamp,
) -> StoreResult<()> {
    require_group(tx, group, Lock::KeyShare).await?;
    require_thing(tx, thing, Lock::ForUpdate).await?;
    if !tx.delete_member(group, thing).await? {
        return Ok(());
    }
    audit_thing(tx, now, thing, Some(format!("group={group}")));
    let continuous = tx
        .continuous_jobs_targeting(&tx.ancestors(group).await?)
        .await?;
    let leaving = executions_leaving(tx, thing, &continuous).await?;
    remove_executions(tx, leaving, now).await
}

/// REMOVED for each of `executions` (already locked), through the state machine; each
/// job's counters written once.
async fn remove_executions(
    tx: &impl Tx,
    executions: Vec<JobExecution>,
    now: Timestamp,
) -> StoreResult<()> {
    let mut jobs = JobCache::default();
    for exec in executions {
        jobs.apply(tx, exec, &ExecutionCommand::Remove, now).await?;
    }
    jobs.flush(tx, now).await
}

/// Whether the job still targets `thing`, directly or through a group it is in (or an
/// ancestor of one).
async fn still_targeted(tx: &impl Tx, job_id: &str, thing: &str) -> StoreResult<bool> {
    let mut groups = Vec::new();
    for g in tx.groups_of_thing(thing).await? {
        groups.extend(tx.ancestors(&g).await?);
    }
    tx.job_targets_thing(job_id, thing, &groups).await
}

/// What a thing's leaving a group (its membership already deleted) does to the
/// CONTINUOUS jobs that targeted that group or an ancestor (`continuous`): for each one
/// that no longer targets the thing (directly or through a group it is still in), the
/// execution the core says becomes REMOVED, locked.
async fn executions_leaving(
    tx: &impl Tx,
    thing: &str,
    continuous: &[String],
) -> StoreResult<Vec<JobExecution>> {
    if continuous.is_empty() {
        return Ok(Vec::new());
    }
    // Groups the thing is still in, with their ancestors: a job targeting any of them
    // still targets the thing.
    let mut still = Vec::new();
    for g in tx.groups_of_thing(thing).await? {
        still.extend(tx.ancestors(&g).await?);
    }
    let mut removed = Vec::new();
    for job_id in continuous {
        if tx.job_targets_thing(job_id, thing, &still).await? {
            continue;
        }
        let latest = tx
            .select_execution(&latest_of(thing, job_id), Lock::ForUpdate)
            .await?;
        removed.extend(removed_on_leave(latest));
    }
    Ok(removed)
}

pub(crate) async fn list_things_in_thing_group(
    tx: &impl Tx,
    group: &str,
    recursive: bool,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    require_group(tx, group, Lock::No).await?;
    tx.list_group_things(group, recursive, page).await
}

/// The latest execution of `job_id` on `thing`.
fn latest_of(thing: &str, job_id: &str) -> ExecutionSelector {
    ExecutionSelector::Exact {
        thing_name: thing.to_owned(),
        job_id: job_id.to_owned(),
        execution_number: None,
    }
}

// ---- jobs -------------------------------------------------------------------------------

/// CreateJob: the job, its targets, and one QUEUED execution per resolved thing,
/// atomically.
pub(crate) async fn create_job(tx: &impl Tx, new: &NewJob, now: Timestamp) -> StoreResult<Job> {
    if tx
        .select_job_progress(&new.job_id, Lock::No)
        .await?
        .is_some()
    {
        return Err(JobsError::job_already_exists(&new.job_id));
    }
    let mut things = Vec::with_capacity(new.target_things.len());
    for thing in &new.target_things {
        let exists = tx.select_thing(thing, Lock::No).await?.is_some();
        things.push((thing.clone(), exists));
    }
    let mut groups = Vec::with_capacity(new.target_groups.len());
    for group in &new.target_groups {
        let members = match tx.select_group(group, Lock::No).await? {
            Some(_) => Some(tx.group_things_recursive(group).await?),
            None => None,
        };
        groups.push((group.clone(), members));
    }
    let resolved = resolve_targets(&things, groups)?;
    let mut job = Job::from_new(new.clone(), resolved.len(), now);
    if !tx.insert_job(&job).await? {
        // Another node created the same id concurrently.
        return Err(JobsError::job_already_exists(&new.job_id));
    }
    for t in &new.target_things {
        tx.insert_job_target(job.job_id(), "thing", t).await?;
    }
    for g in &new.target_groups {
        tx.insert_job_target(job.job_id(), "group", g).await?;
    }
    if job.progress.rollout.waiting > 0 {
        // A rate, a start time or windows: the targets wait in the rollout queue, and
        // the first step (if one is due now) runs in this transaction.
        tx.insert_rollout_targets(job.job_id(), &resolved).await?;
        rollout_step(tx, &mut job, now, BULK_CHUNK).await?;
        job.progress.rollout.wake_at = job.progress.next_wake(now);
        tx.update_job_progress(&job.progress).await?;
    } else {
        tx.insert_queued_executions(job.job_id(), &resolved, now)
            .await?;
        for thing in &resolved {
            tx.touched(thing, Touch::Other);
        }
    }
    // One record for the job; its QUEUED executions are named by the count (a
    // 10,000-thing job writes one record, not 10,000).
    let status = Some(job.progress.status.as_str());
    let detail = Some(format!("executions={}", resolved.len()));
    audit(
        tx,
        now,
        AuditSubject::Job,
        (Some(job.job_id()), None),
        (None, status),
        detail,
    );
    Ok(job)
}

/// AssociateTargetsWithJob: the new targets recorded, and a QUEUED execution for each
/// thing they resolve to that has no execution of this job yet (a thing already
/// targeted keeps its execution, whatever its status).
pub(crate) async fn associate_targets_with_job(
    tx: &impl Tx,
    job_id: &str,
    add: &AssociatedTargets,
    now: Timestamp,
) -> StoreResult<Job> {
    let mut job = require_job(tx, job_id).await?;
    let mut targets = job.targets.clone();
    for arn in &add.arns {
        if !targets.contains(arn) {
            targets.push(arn.clone());
        }
    }
    check_associate_targets(&job.progress, targets.len())?;
    let mut things = Vec::with_capacity(add.things.len());
    for thing in &add.things {
        let exists = tx.select_thing(thing, Lock::No).await?.is_some();
        things.push((thing.clone(), exists));
    }
    let mut groups = Vec::with_capacity(add.groups.len());
    for group in &add.groups {
        let members = match tx.select_group(group, Lock::KeyShare).await? {
            Some(_) => Some(tx.group_things_recursive(group).await?),
            None => None,
        };
        groups.push((group.clone(), members));
    }
    let resolved = resolve_targets(&things, groups)?;
    for t in &add.things {
        tx.insert_job_target(job_id, "thing", t).await?;
    }
    for g in &add.groups {
        tx.insert_job_target(job_id, "group", g).await?;
    }
    tx.update_job_targets(job_id, &targets).await?;
    let mut jobs = JobCache::default();
    let mut queued = 0;
    for thing in &resolved {
        if tx
            .select_execution(&latest_of(thing, job_id), Lock::ForUpdate)
            .await?
            .is_some()
        {
            continue;
        }
        tx.insert_execution(&JobExecution::queued(job_id, thing, 1, now))
            .await?;
        tx.touched(thing, Touch::Other);
        jobs.load(tx, job_id).await?.record_execution_change(
            None,
            Some(JobExecutionStatus::Queued),
            now,
        );
        queued += 1;
    }
    jobs.flush(tx, now).await?;
    let status = Some(job.progress.status.as_str());
    let detail = Some(format!(
        "targets={}, executions={queued}",
        targets.len() - job.targets.len()
    ));
    audit(
        tx,
        now,
        AuditSubject::Job,
        (Some(job_id), None),
        (status, status),
        detail,
    );
    job.targets = targets;
    Ok(job)
}

/// The job, locked: every job-level rule reads it and writes it back.
pub(crate) async fn require_job(tx: &impl Tx, job_id: &str) -> StoreResult<Job> {
    tx.select_job(job_id, Lock::ForUpdate)
        .await?
        .ok_or_else(|| JobsError::job_not_found(job_id))
}

pub(crate) async fn update_job(
    tx: &impl Tx,
    job_id: &str,
    update: &JobUpdate,
    now: Timestamp,
) -> StoreResult<()> {
    let mut job = require_job(tx, job_id).await?;
    job.update(update.clone(), now)?;
    let status = Some(job.progress.status);
    audit_job(tx, now, job_id, status, status);
    tx.update_job(&job).await?;
    // A new abort config applies to the failures already counted.
    if let Some(criteria) = job.progress.abort_due().cloned() {
        abort_job(tx, job, &criteria, now).await?;
        cancel_job_executions(tx, job_id, BULK_CHUNK, now).await?;
    }
    Ok(())
}

/// The abort config's cancel of `job` (locked, its counters current): written, its
/// waiting targets dropped, its event announced. Its QUEUED executions follow as for
/// CancelJob ([`cancel_job_executions`], then the sweep).
async fn abort_job(
    tx: &impl Tx,
    mut job: Job,
    criteria: &iotjobs_core::policy::AbortCriteria,
    now: Timestamp,
) -> StoreResult<()> {
    let before = job.progress.status;
    job.abort(criteria, now)?;
    tx.delete_rollout_targets(job.job_id()).await?;
    tx.update_job(&job).await?;
    audit_job(
        tx,
        now,
        job.job_id(),
        Some(before),
        Some(job.progress.status),
    );
    announce_job(tx, before, job, now);
    Ok(())
}

/// CancelJob's first transaction: the job-level rule. Its executions follow in
/// [`cancel_job_executions`] transactions.
pub(crate) async fn cancel_job(
    tx: &impl Tx,
    job_id: &str,
    force: bool,
    reason: (&Option<String>, &Option<String>),
    now: Timestamp,
) -> StoreResult<()> {
    let mut job = require_job(tx, job_id).await?;
    let before = job.progress.status;
    job.cancel(force, reason.0.clone(), reason.1.clone(), now)?;
    tx.delete_rollout_targets(job_id).await?;
    tx.update_job(&job).await?;
    audit_job(tx, now, job_id, Some(before), Some(job.progress.status));
    announce_job(tx, before, job, now);
    Ok(())
}

/// Record the Jobs event of a job-status change, if it makes one.
fn announce_job(tx: &impl Tx, before: JobStatus, job: Job, now: Timestamp) {
    if let Some(operation) = JobEventOperation::of_job_transition(before, job.progress.status) {
        tx.announce(JobsEvent::Job {
            operation,
            job: Box::new(job),
            at: now,
        });
    }
}

/// Cancel up to `limit` executions of a canceled job that are still in the statuses its
/// cancellation covers. Returns how many were canceled (0: nothing left).
pub(crate) async fn cancel_job_executions(
    tx: &impl Tx,
    job_id: &str,
    limit: usize,
    now: Timestamp,
) -> StoreResult<usize> {
    let Some(job) = tx.select_job(job_id, Lock::No).await? else {
        return Ok(0);
    };
    if job.progress.status != JobStatus::Canceled {
        return Ok(0);
    }
    let cmd = ExecutionCommand::Cancel {
        force: job.force_canceled,
        expected_version: None,
        status_details: None,
    };
    let mut jobs = JobCache::default();
    let mut n = 0;
    let statuses = job.statuses_to_cancel();
    for exec in tx.select_job_executions_in(job_id, statuses, limit).await? {
        if jobs.try_apply(tx, exec, &cmd, now).await? {
            n += 1;
        }
    }
    jobs.flush(tx, now).await?;
    Ok(n)
}

/// CancelJob's executions, one chunk per transaction: the next `limit` executions of a
/// canceled job after `after` in key order (its first when `None`), those in the
/// statuses its cancellation covers canceled. For each such status the core says what
/// the cancel does to every execution in it ([`uniform_change`]), and that change is
/// made to all of the chunk's executions in that status at once; a status the core has
/// no such change for is skipped, as [`JobCache::try_apply`] skips refusals. Returns how
/// many were canceled and where the next chunk starts (`None`: the job's last
/// execution was in this one). Unlike [`cancel_job_executions`] it never reads an
/// execution it already passed, so a job of a million costs each chunk the same.
pub(crate) async fn cancel_job_executions_from(
    tx: &impl Tx,
    job_id: &str,
    limit: usize,
    after: Option<&ExecutionKey>,
    now: Timestamp,
) -> StoreResult<(usize, Option<ExecutionKey>)> {
    let Some(job) = tx.select_job(job_id, Lock::No).await? else {
        return Ok((0, None));
    };
    if job.progress.status != JobStatus::Canceled {
        return Ok((0, None));
    }
    let cmd = ExecutionCommand::Cancel {
        force: job.force_canceled,
        expected_version: None,
        status_details: None,
    };
    let upto = tx.nth_execution_key(job_id, after, limit.max(1)).await?;
    let mut jobs = JobCache::default();
    let mut n = 0;
    for &status in job.statuses_to_cancel() {
        let Some(change) = uniform_change(status, &cmd, now) else {
            continue;
        };
        let changed = tx
            .update_executions_uniform(job_id, after, upto.as_ref(), &change)
            .await?;
        n += jobs
            .record_uniform(tx, job_id, &change, changed, now)
            .await?;
    }
    jobs.flush(tx, now).await?;
    Ok((n, upto))
}

/// DeleteJob: the job-level rule, with the global count of deletions in progress
/// (locked across nodes until commit).
pub(crate) async fn delete_job(
    tx: &impl Tx,
    job_id: &str,
    force: bool,
    now: Timestamp,
) -> StoreResult<()> {
    tx.lock_job_deletions().await?;
    let mut job = require_job(tx, job_id).await?;
    let deleting = tx.count_jobs_deleting().await?;
    let before = job.progress.status;
    job.begin_delete(force, deleting, now)?;
    tx.update_job(&job).await?;
    audit_job(tx, now, job_id, Some(before), Some(job.progress.status));
    announce_job(tx, before, job, now);
    Ok(())
}

/// The job as it is now, which must exist (CancelJob's answer).
pub(crate) async fn read_job(tx: &impl Tx, job_id: &str) -> StoreResult<Job> {
    tx.select_job(job_id, Lock::No)
        .await?
        .ok_or_else(|| JobsError::job_not_found(job_id))
}

// ---- job executions -----------------------------------------------------------------------

pub(crate) async fn list_job_executions_for_job(
    tx: &impl Tx,
    job_id: &str,
    status: Option<JobExecutionStatus>,
    page: &PageRequest,
) -> StoreResult<Page<JobExecution>> {
    if tx.select_job_progress(job_id, Lock::No).await?.is_none() {
        return Err(JobsError::job_not_found(job_id));
    }
    tx.list_executions_for_job(job_id, status, page).await
}

pub(crate) async fn list_job_executions_for_thing(
    tx: &impl Tx,
    q: &ThingExecutions<'_>,
    page: &PageRequest,
) -> StoreResult<Page<JobExecution>> {
    let result = tx.list_executions_for_thing(q, page).await?;
    let empty = result.items.is_empty();
    // The thing is looked up only for an empty page (the core's rule needs no more).
    let exists = !empty || tx.select_thing(q.thing, Lock::No).await?.is_some();
    check_listing_for_thing(q.thing, empty, exists)?;
    Ok(result)
}

/// Apply `cmd` to the selected execution: lock it, lock its job, run the state machine,
/// write both. `None`: `NextPending` found nothing pending.
pub(crate) async fn update_job_execution(
    tx: &impl Tx,
    selector: &ExecutionSelector,
    cmd: &ExecutionCommand,
    now: Timestamp,
) -> StoreResult<Option<AppliedChange>> {
    let Some(exec) = tx.select_execution_for_change(selector).await? else {
        return match selector {
            ExecutionSelector::NextPending { .. } => Ok(None),
            ExecutionSelector::Exact {
                thing_name, job_id, ..
            } => {
                let job = tx.select_job_progress(job_id, Lock::No).await?.is_some();
                let thing = tx.select_thing(thing_name, Lock::No).await?.is_some();
                Err(JobsError::missing_job_execution(
                    thing_name, job_id, job, thing,
                ))
            }
        };
    };
    let mut jobs = JobCache::default();
    let applied = jobs.apply(tx, exec, cmd, now).await?;
    jobs.flush_and_abort(tx, now).await?;
    Ok(Some(applied))
}

// ---- background work (the sweep) ------------------------------------------------------------

/// Time out up to `budget` IN_PROGRESS executions whose timer expired.
pub(crate) async fn sweep_timeouts(
    tx: &impl Tx,
    now: Timestamp,
    budget: usize,
) -> StoreResult<usize> {
    let mut jobs = JobCache::default();
    let mut n = 0;
    for exec in tx.select_timed_out(now, budget).await? {
        if jobs
            .try_apply(tx, exec, &ExecutionCommand::Timeout, now)
            .await?
        {
            n += 1;
        }
    }
    jobs.flush_and_abort(tx, now).await?;
    Ok(n)
}

/// Apply everything time-driven that is due by `now` to up to `limit` jobs (those whose
/// `wake_at` has come): schedule starts and ends, maintenance windows opening and
/// closing, and rollout steps of at most `budget` executions in all. Returns how many
/// jobs were advanced.
pub(crate) async fn sweep_rollouts(
    tx: &impl Tx,
    now: Timestamp,
    limit: usize,
    budget: usize,
) -> StoreResult<usize> {
    let mut n = 0;
    let mut left = budget;
    for job_id in tx.jobs_due(now, limit).await? {
        left = left.saturating_sub(advance_job(tx, &job_id, now, left.max(1)).await?);
        n += 1;
    }
    Ok(n)
}

/// One job's time-driven work at `now` (see [`sweep_rollouts`]); the job row was
/// locked by `jobs_due`. Returns the executions created or canceled.
async fn advance_job(
    tx: &impl Tx,
    job_id: &str,
    now: Timestamp,
    budget: usize,
) -> StoreResult<usize> {
    let Some(mut job) = tx.select_job(job_id, Lock::ForUpdate).await? else {
        return Ok(0);
    };
    let before = job.progress.status;
    let mut cancel = false;
    match job.progress.schedule_event(now) {
        Some(ScheduleEvent::Ended(behavior)) => {
            tx.delete_rollout_targets(job_id).await?;
            if behavior != EndBehavior::StopRollout {
                // The end behaviour CANCEL / FORCE_CANCEL is CancelJob at endTime.
                let comment = format!(
                    "Job canceled at its scheduled endTime (endBehavior {})",
                    behavior.as_str()
                );
                let force = behavior == EndBehavior::ForceCancel;
                job.cancel(force, None, Some(comment), now)?;
                cancel = true;
            }
        }
        Some(ScheduleEvent::Started | ScheduleEvent::WindowClosed) | None => {}
    }
    let created = rollout_step(tx, &mut job, now, budget).await?;
    job.progress.rollout.wake_at = job.progress.next_wake(now);
    if job.progress.rollout.wake_at.is_some_and(|w| w <= now)
        && created == 0
        && job.progress.status == before
    {
        // Due again at once but nothing moved: look again in a second rather than spin
        // (never expected; a guard for the sweep loop and the test clock).
        job.progress.rollout.wake_at = Some(Timestamp(now.millis() + 1_000));
    }
    tx.update_job(&job).await?;
    if job.progress.status != before {
        audit_job(tx, now, job_id, Some(before), Some(job.progress.status));
        announce_job(tx, before, job, now);
    }
    let canceled = if cancel {
        cancel_job_executions(tx, job_id, budget, now).await?
    } else {
        0
    };
    Ok(created + canceled)
}

/// Create the executions the job's rollout allows at `now` (at most `budget`): take
/// targets from its queue in order, and queue an execution for each that still exists
/// and has none of this job yet. The job's counters and rollout state are updated in
/// `job`; the caller writes it.
async fn rollout_step(
    tx: &impl Tx,
    job: &mut Job,
    now: Timestamp,
    budget: usize,
) -> StoreResult<usize> {
    let job_id = job.job_id().to_owned();
    let mut total = 0;
    loop {
        let allowance = job.progress.rollout_allowance(now);
        let take = usize::try_from(allowance).unwrap_or(0).min(budget - total);
        if take == 0 {
            break;
        }
        let things = tx.take_rollout_targets(&job_id, take).await?;
        if things.is_empty() {
            // The queue is empty although the row counts waiting targets: trust the
            // queue (nothing left to roll out).
            let waiting = job.progress.rollout.waiting;
            job.progress.record_rollout(0, waiting, now);
            break;
        }
        let mut created = 0;
        let continuous = job.progress.target_selection == TargetSelection::Continuous;
        for thing in &things {
            // KEY SHARE: a concurrent DeleteThing waits for this commit, then removes
            // the new execution; a thing deleted before is skipped.
            if tx.select_thing(thing, Lock::KeyShare).await?.is_none()
                || tx
                    .select_execution(&latest_of(thing, &job_id), Lock::No)
                    .await?
                    .is_some()
            {
                continue;
            }
            // A CONTINUOUS job reaches only things it still targets: one that left the
            // targeted groups before its turn is skipped.
            if continuous && !still_targeted(tx, &job_id, thing).await? {
                continue;
            }
            tx.insert_execution(&JobExecution::queued(&job_id, thing, 1, now))
                .await?;
            tx.touched(thing, Touch::Other);
            created += 1;
        }
        job.progress
            .record_rollout(created as i64, things.len() as i64, now);
        let status = Some(job.progress.status.as_str());
        audit(
            tx,
            now,
            AuditSubject::Job,
            (Some(&job_id), None),
            (status, status),
            Some(format!("rollout executions={created}")),
        );
        total += created;
        if things.len() < take {
            break;
        }
    }
    Ok(total)
}

/// Jobs whose executions a CancelJob of this store (in this process) is canceling right
/// now: the sweep leaves them to it. (The sweep goes through a job's executions from its
/// first, so while a CancelJob works through a large job from the same end the sweep
/// would read again, on every round, everything canceled so far, and compete with it for
/// the writer.) Every clone of a store shares one.
#[derive(Clone, Default)]
pub(crate) struct CancelingJobs(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl CancelingJobs {
    /// Registers `job_id` until the returned guard is dropped.
    pub(crate) fn start(&self, job_id: &str) -> Canceling {
        self.lock().push(job_id.to_owned());
        Canceling(self.clone(), job_id.to_owned())
    }

    /// The jobs being canceled now.
    pub(crate) fn jobs(&self) -> Vec<String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A job registered with [`CancelingJobs`] until dropped.
pub(crate) struct Canceling(CancelingJobs, String);

impl Drop for Canceling {
    fn drop(&mut self) {
        let mut jobs = self.0.lock();
        if let Some(i) = jobs.iter().position(|j| *j == self.1) {
            jobs.swap_remove(i);
        }
    }
}

/// Finish up to `budget` cancellations that a CancelJob left undone (e.g. its process
/// stopped half-way), except those of the jobs in `busy` (a CancelJob of this process is
/// canceling their executions now: see [`Canceling`]).
pub(crate) async fn sweep_cancellations(
    tx: &impl Tx,
    now: Timestamp,
    budget: usize,
    busy: &[String],
) -> StoreResult<usize> {
    let mut n = 0;
    for job_id in tx.jobs_with_unfinished_cancel(SWEEP_CANCELED_JOBS).await? {
        if n >= budget {
            break;
        }
        if busy.contains(&job_id) {
            continue;
        }
        n += cancel_job_executions(tx, &job_id, budget - n, now).await?;
    }
    Ok(n)
}

/// Remove up to `budget` executions of jobs being deleted, and the jobs whose
/// executions are all gone. Returns (executions purged, jobs deleted).
pub(crate) async fn sweep_deletions(
    tx: &impl Tx,
    budget: usize,
    now: Timestamp,
) -> StoreResult<(usize, usize)> {
    let (mut purged, mut deleted) = (0, 0);
    for job_id in tx.jobs_deleting().await? {
        let left = budget.saturating_sub(purged);
        if left == 0 {
            break;
        }
        let (n, pending) = tx.purge_job_executions(&job_id, left).await?;
        purged += n;
        // A pending execution deleted with its job changes its device's pending list,
        // as a cancel would: notify / notify-next follow this commit.
        for (thing, execution_number) in &pending {
            tx.touched(thing, Touch::NotPending(&job_id, *execution_number));
        }
        if n < left {
            // The job's last look, for its `deleted` event.
            let job = tx.select_job(&job_id, Lock::No).await?;
            tx.delete_job_rows(&job_id).await?;
            audit_job(
                tx,
                now,
                &job_id,
                job.as_ref().map(|j| j.progress.status),
                None,
            );
            if let Some(job) = job {
                tx.announce(JobsEvent::Job {
                    operation: JobEventOperation::Deleted,
                    job: Box::new(job),
                    at: now,
                });
            }
            deleted += 1;
        }
    }
    Ok((purged, deleted))
}

// ---- the job rows touched by execution changes ----------------------------------------------

/// Job progress rows loaded (and locked) during one transaction, written back once at
/// the end, so that a bulk change over many executions of one job updates its row once.
#[derive(Default)]
struct JobCache {
    jobs: BTreeMap<String, (JobProgress, JobProgress)>,
}

impl JobCache {
    async fn load(&mut self, tx: &impl Tx, job_id: &str) -> StoreResult<&mut JobProgress> {
        if !self.jobs.contains_key(job_id) {
            let p = tx
                .select_job_progress(job_id, Lock::ForUpdate)
                .await?
                .ok_or_else(|| JobsError::bug("an execution without its job"))?;
            self.jobs.insert(job_id.to_owned(), (p.clone(), p));
        }
        Ok(&mut self.jobs.get_mut(job_id).expect("just inserted").1)
    }

    /// Run the state machine on one execution and persist the execution; the job's new
    /// counters stay in the cache until [`JobCache::flush`].
    async fn apply(
        &mut self,
        tx: &impl Tx,
        exec: JobExecution,
        cmd: &ExecutionCommand,
        now: Timestamp,
    ) -> StoreResult<AppliedChange> {
        let job = self.load(tx, &exec.job_id).await?;
        let mut next_job = job.clone();
        // The retry config queues a FAILED or TIMED_OUT execution again, in the same
        // transaction: the caller still learns the status it set.
        let (change, retry) = apply_to_job(&mut next_job, &exec, cmd, now)?;
        *job = next_job.clone();
        let how = match &change {
            Change::Unchanged => None,
            Change::Update(next) if next.status.is_pending() => Some(Touch::Other),
            Change::Update(_) | Change::Delete => {
                Some(Touch::NotPending(&exec.job_id, exec.execution_number))
            }
        };
        if let Some(how) = how {
            tx.touched(&exec.thing_name, how);
        }
        let (execution, exists) = match change {
            Change::Update(next) => {
                tx.update_execution(&next).await?;
                let statuses = (Some(exec.status.as_str()), Some(next.status.as_str()));
                let ids = (Some(exec.job_id.as_str()), Some(exec.thing_name.as_str()));
                audit(tx, now, AuditSubject::JobExecution, ids, statuses, None);
                if let Some(operation) =
                    JobExecutionEventOperation::of_transition(exec.status, next.status)
                {
                    tx.announce(JobsEvent::JobExecution {
                        operation,
                        execution: Box::new(next.clone()),
                        at: now,
                    });
                }
                (next, true)
            }
            Change::Delete => {
                tx.delete_execution(&exec).await?;
                let statuses = (Some(exec.status.as_str()), None);
                let ids = (Some(exec.job_id.as_str()), Some(exec.thing_name.as_str()));
                audit(tx, now, AuditSubject::JobExecution, ids, statuses, None);
                tx.announce(JobsEvent::JobExecution {
                    operation: JobExecutionEventOperation::Deleted,
                    execution: Box::new(exec.clone()),
                    at: now,
                });
                (exec, false)
            }
            Change::Unchanged => (exec, true),
        };
        if let Some(retried) = retry {
            tx.update_execution(&retried).await?;
            tx.touched(&retried.thing_name, Touch::Other);
            let statuses = (
                Some(execution.status.as_str()),
                Some(retried.status.as_str()),
            );
            let ids = (
                Some(retried.job_id.as_str()),
                Some(retried.thing_name.as_str()),
            );
            let detail = Some(format!("retryAttempt={}", retried.retry_attempt));
            audit(tx, now, AuditSubject::JobExecution, ids, statuses, detail);
        }
        Ok(AppliedChange {
            execution,
            exists,
            job: next_job,
        })
    }

    /// Account for `changed`, the executions of `job_id` that `change` made (all at
    /// once, [`Tx::update_executions_uniform`]), as [`JobCache::apply`] does for one:
    /// the job's counters, the changed things for the change listener, a Jobs event per
    /// execution. One audit record names them by their count, as CreateJob's does its
    /// executions. Returns how many.
    async fn record_uniform(
        &mut self,
        tx: &impl Tx,
        job_id: &str,
        change: &UniformChange,
        changed: Vec<JobExecution>,
        now: Timestamp,
    ) -> StoreResult<usize> {
        let n = changed.len();
        if n == 0 {
            return Ok(0);
        }
        let job = self.load(tx, job_id).await?;
        for _ in 0..n {
            job.record_execution_change(Some(change.from), Some(change.to), now);
        }
        let operation = JobExecutionEventOperation::of_transition(change.from, change.to);
        for next in changed {
            let how = if next.status.is_pending() {
                Touch::Other
            } else {
                Touch::NotPending(&next.job_id, next.execution_number)
            };
            tx.touched(&next.thing_name, how);
            if let Some(operation) = operation {
                tx.announce(JobsEvent::JobExecution {
                    operation,
                    execution: Box::new(next),
                    at: now,
                });
            }
        }
        let statuses = (Some(change.from.as_str()), Some(change.to.as_str()));
        let detail = Some(format!("executions={n}"));
        audit(
            tx,
            now,
            AuditSubject::JobExecution,
            (Some(job_id), None),
            statuses,
            detail,
        );
        Ok(n)
    }

    /// [`JobCache::apply`] for bulk work: a rule refusal (the execution moved on) skips
    /// the execution; storage errors still fail the transaction.
    async fn try_apply(
        &mut self,
        tx: &impl Tx,
        exec: JobExecution,
        cmd: &ExecutionCommand,
        now: Timestamp,
    ) -> StoreResult<bool> {
        match self.apply(tx, exec, cmd, now).await {
            Ok(_) => Ok(true),
            Err(JobsError::InvalidStateTransition { .. } | JobsError::VersionMismatch { .. }) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// [`JobCache::flush`], then the abort config of each job whose new counters meet
    /// it: the job canceled and a first chunk of its QUEUED executions (the sweep
    /// finishes larger ones, as for CancelJob).
    async fn flush_and_abort(self, tx: &impl Tx, now: Timestamp) -> StoreResult<()> {
        let due: Vec<_> = self
            .jobs
            .values()
            .filter_map(|(_, after)| after.abort_due().map(|c| (after.clone(), c.clone())))
            .collect();
        self.flush(tx, now).await?;
        for (progress, criteria) in due {
            let job_id = progress.job_id.clone();
            let Some(mut job) = tx.select_job(&job_id, Lock::ForUpdate).await? else {
                continue;
            };
            job.progress = progress;
            abort_job(tx, job, &criteria, now).await?;
            cancel_job_executions(tx, &job_id, BULK_CHUNK, now).await?;
        }
        Ok(())
    }

    async fn flush(self, tx: &impl Tx, now: Timestamp) -> StoreResult<()> {
        for (before, after) in self.jobs.values() {
            if before != after {
                tx.update_job_progress(after).await?;
                if before.status != after.status {
                    audit_job(
                        tx,
                        now,
                        &after.job_id,
                        Some(before.status),
                        Some(after.status),
                    );
                }
                if JobEventOperation::of_job_transition(before.status, after.status).is_some() {
                    // Rare (a job completing): the whole job for its event.
                    if let Some(job) = tx.select_job(&after.job_id, Lock::No).await? {
                        announce_job(tx, before.status, job, now);
                    }
                }
            }
        }
        Ok(())
    }
}

// ---- custom job templates ---------------------------------------------------------------

/// CreateJobTemplate: insert, or `Conflict` when the id is taken (also when another node
/// inserted it first: the insert decides, not an earlier read).
pub(crate) async fn create_job_template(
    tx: &impl Tx,
    new: &NewJobTemplate,
    now: Timestamp,
) -> StoreResult<JobTemplate> {
    let template = JobTemplate::create(new.clone(), now);
    if !tx.insert_job_template(&template).await? {
        return Err(JobsError::job_template_already_exists(
            &template.job_template_id,
        ));
    }
    audit_job_template(tx, now, &template.job_template_id);
    Ok(template)
}

/// DeleteJobTemplate: the row only; jobs made from the template copied what they took.
pub(crate) async fn delete_job_template(tx: &impl Tx, id: &str, now: Timestamp) -> StoreResult<()> {
    if !tx.delete_job_template(id).await? {
        return Err(JobsError::job_template_not_found(id));
    }
    audit_job_template(tx, now, id);
    Ok(())
}

/// Templates have no status: a record names the template; the operation tells whether
/// it was created or deleted.
fn audit_job_template(tx: &impl Tx, at: Timestamp, id: &str) {
    audit(
        tx,
        at,
        AuditSubject::JobTemplate,
        (None, Some(id)),
        (None, None),
        None,
    );
}

/// ListThings and ListJobs need no logic beyond the statement (other plain reads call
/// `Tx` directly from `store_impl.rs`).
pub(crate) async fn list_things(
    tx: &impl Tx,
    filter: &ThingFilter,
    page: &PageRequest,
) -> StoreResult<Page<Thing>> {
    tx.list_things(filter, page).await
}

pub(crate) async fn list_jobs(
    tx: &impl Tx,
    filter: &JobFilter,
    page: &PageRequest,
) -> StoreResult<Page<Job>> {
    tx.list_jobs(filter, page).await
}
