//! The PostgreSQL backend, for several stateless iotjobs nodes sharing one database.
//!
//! Every operation is one transaction on a pooled connection. Concurrency across nodes:
//! a change locks the execution row (`SELECT … FOR UPDATE`) and then its job's row, in
//! that order everywhere, runs the core's state machine on what it read, and writes the
//! result; a racing change on another node waits for the lock and then sees the new
//! state, so exactly one of two conflicting commands wins and the other gets the error
//! AWS would give (InvalidStateTransition or a version mismatch). Background work takes
//! rows with `FOR UPDATE SKIP LOCKED`, so two nodes' sweeps never do the same work.
//! Deadlocks and serialization failures are retried a few times.
//!
//! Like the SQLite backend, this module decides no rule: rules come from
//! `iotjobs-core`, and the shared conformance suite checks both backends alike.

mod rows;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use iotjobs_core::error::ResourceKind;
use iotjobs_core::group::{NewThingGroup, ThingGroup, check_join, execution_number_on_join};
use iotjobs_core::job::{JobProgress, JobUpdate};
use iotjobs_core::page::{Page, PageRequest};
use iotjobs_core::state_machine::{Change, ExecutionCommand, apply_to_job};
use iotjobs_core::store::{
    AppliedChange, ExecutionSelector, JobFilter, StoreResult, SweepReport, ThingFilter,
};
use iotjobs_core::{
    Job, JobExecution, JobExecutionStatus, JobStatus, JobsError, NewJob, NewThing, Store, Thing,
    Timestamp,
};
use rows::Tx;
use std::collections::BTreeMap;

/// Executions changed per transaction by bulk operations (see the SQLite backend).
const BULK_CHUNK: usize = 5_000;
/// How often a transaction that hit a deadlock or serialization failure is retried.
const MAX_RETRIES: usize = 8;
/// Advisory lock key that serializes migrations when several nodes start at once.
const MIGRATION_LOCK: i64 = 0x0069_6f74_6a6f_6273; // "iotjobs" in ASCII

/// Migrations in order; `iotjobs_schema_version` records how many were applied.
const MIGRATIONS: &[&str] = &[include_str!("schema.sql"), include_str!("schema_v2.sql")];

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

pub(crate) fn pg_err(e: tokio_postgres::Error) -> JobsError {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE =>
        {
            JobsError::Unavailable(format!("{RETRYABLE}: {e}"))
        }
        _ if e.is_closed() => JobsError::Unavailable(format!("database connection lost: {e}")),
        _ => JobsError::Internal(format!("postgres: {e}")),
    }
}

/// Marks an `Unavailable` error that a retry of the whole transaction can fix.
const RETRYABLE: &str = "transaction conflict";

fn retryable(e: &JobsError) -> bool {
    matches!(e, JobsError::Unavailable(m) if m.starts_with(RETRYABLE))
}

/// Run `$body` (which uses `$tx: &Tx`) in a transaction; commit on `Ok`, roll back on
/// `Err`, and retry the whole transaction after a deadlock or serialization failure.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut attempt = 0;
        loop {
            let mut client = $store.client().await?;
            let owned = Tx(client.transaction().await.map_err(pg_err)?);
            let result: StoreResult<_> = {
                let $tx = &owned;
                async { $body }.await
            };
            let outcome = match result {
                Ok(v) => owned.commit().await.map(|()| v),
                // Dropping the transaction rolls it back.
                Err(e) => Err(e),
            };
            match outcome {
                Err(e) if retryable(&e) && attempt < MAX_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(2 << attempt)).await;
                }
                other => break other,
            }
        }
    }};
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db[?options]`) and apply migrations.
    /// Several nodes may start at once: an advisory lock serializes the migrations.
    pub async fn connect(url: &str) -> Result<PgStore, JobsError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| JobsError::Internal(format!("bad PostgreSQL URL: {e}")))?;
        Self::with_config(config, 16).await
    }

    /// Connect to the store of `account` (not the server's own): its tables live in a
    /// schema of their own, named after the main one (`<search_path>_<account>`, or
    /// `iotjobs_account_<account>` when the URL sets no search_path), so accounts on
    /// one database share nothing and two deployments with different main schemas keep
    /// their accounts apart too.
    pub async fn connect_for_account(url: &str, account: &str) -> Result<PgStore, JobsError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| JobsError::Internal(format!("bad PostgreSQL URL: {e}")))?;
        let base = config
            .get_options()
            .and_then(|o| o.split("search_path=").nth(1))
            .and_then(|rest| rest.split([' ', ',']).next())
            .filter(|s| !s.is_empty())
            .unwrap_or("iotjobs_account");
        Self::connect_in_schema(url, &format!("{base}_{account}")).await
    }

    /// Connect to `url` with every table in `schema` (created if missing).
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<PgStore, JobsError> {
        // PostgreSQL silently truncates identifiers to 63 bytes, which could make two
        // accounts' schemas one: refuse instead.
        if schema.is_empty()
            || schema.len() > 63
            || !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(JobsError::Internal(format!(
                "schema name {schema:?} must be 1-63 of [a-z0-9_]"
            )));
        }
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| JobsError::Internal(format!("bad PostgreSQL URL: {e}")))?;
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(pg_err)?;
        let conn = tokio::spawn(conn);
        // Several nodes may start at once; IF NOT EXISTS can still race, so a
        // duplicate-schema error from a concurrent creator is fine.
        if let Err(e) = client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            && e.code() != Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            && e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_SCHEMA)
        {
            return Err(pg_err(e));
        }
        drop(client);
        let _ = conn.await;
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        config.options(options);
        Self::with_config(config, 16).await
    }

    /// Connect with an explicit driver config and pool size.
    pub async fn with_config(
        config: tokio_postgres::Config,
        pool_size: usize,
    ) -> Result<PgStore, JobsError> {
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|e| JobsError::Internal(format!("cannot build pool: {e}")))?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| JobsError::Unavailable(format!("no database connection: {e}")))
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS iotjobs_schema_version (version BIGINT NOT NULL);
             INSERT INTO iotjobs_schema_version
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM iotjobs_schema_version);",
        )
        .await
        .map_err(pg_err)?;
        let applied: i64 = tx
            .query_one("SELECT version FROM iotjobs_schema_version", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            tx.batch_execute(sql).await.map_err(pg_err)?;
            tx.execute(
                "UPDATE iotjobs_schema_version SET version = $1",
                &[&((i + 1) as i64)],
            )
            .await
            .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)
    }
}

impl Store for PgStore {
    async fn create_thing(
        &self,
        new: NewThing,
        thing_id: String,
        now: Timestamp,
    ) -> StoreResult<(Thing, bool)> {
        transaction!(self, |tx| {
            let thing = Thing {
                thing_name: new.thing_name.clone(),
                thing_id: thing_id.clone(),
                thing_type_name: new.thing_type_name.clone(),
                attributes: new.attributes.clone(),
                billing_group_name: new.billing_group_name.clone(),
                version: 1,
                created_at: now,
            };
            // Insert-if-absent without a lost race: ON CONFLICT, then read what won.
            let created = tx.insert_thing(&thing).await?;
            let stored = tx
                .select_thing(&thing.thing_name)
                .await?
                .ok_or_else(|| JobsError::Internal("thing vanished".into()))?;
            Ok((stored, created))
        })
    }

    async fn describe_thing(&self, thing_name: &str) -> StoreResult<Option<Thing>> {
        transaction!(self, |tx| { tx.select_thing(thing_name).await })
    }

    async fn list_things(
        &self,
        filter: &ThingFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Thing>> {
        transaction!(self, |tx| { tx.list_things(filter, &page).await })
    }

    async fn delete_thing(
        &self,
        thing_name: &str,
        expected_version: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            let Some(thing) = tx.select_thing_for_update(thing_name).await? else {
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
            for exec in tx.select_all_pending_for_update(thing_name).await? {
                jobs.apply(tx, exec, &ExecutionCommand::Remove, now).await?;
            }
            jobs.flush(tx).await?;
            tx.delete_thing_rows(thing_name).await
        })
    }

    async fn create_thing_group(
        &self,
        new: NewThingGroup,
        group_id: String,
        now: Timestamp,
    ) -> StoreResult<(ThingGroup, bool)> {
        transaction!(self, |tx| {
            if let Some(existing) = tx.select_group(&new.group_name).await? {
                return Ok((existing, false));
            }
            if let Some(parent) = &new.parent_group_name
                && tx.select_group(parent).await?.is_none()
            {
                return Err(JobsError::NotFound(format!(
                    "Thing group {parent} does not exist"
                )));
            }
            let group = ThingGroup {
                group_name: new.group_name.clone(),
                group_id: group_id.clone(),
                parent_group_name: new.parent_group_name.clone(),
                description: new.description.clone(),
                attributes: new.attributes.clone(),
                tags: new.tags.clone(),
                version: 1,
                created_at: now,
                root_to_parent: Vec::new(),
            };
            let created = tx.insert_group(&group).await?;
            let stored = tx
                .select_group(&new.group_name)
                .await?
                .ok_or_else(|| JobsError::Internal("group vanished".into()))?;
            Ok((stored, created))
        })
    }

    async fn describe_thing_group(&self, group_name: &str) -> StoreResult<Option<ThingGroup>> {
        transaction!(self, |tx| { tx.select_group(group_name).await })
    }

    async fn add_thing_to_thing_group(
        &self,
        group_name: &str,
        thing_name: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            // Lock the thing row: membership changes of one thing are serialized, so
            // the group-count and same-hierarchy checks cannot race.
            require_group(tx, group_name).await?;
            if tx.select_thing_for_update(thing_name).await?.is_none() {
                return Err(JobsError::NotFound(format!(
                    "Thing {thing_name} does not exist"
                )));
            }
            let ancestors = tx.ancestors(group_name).await?;
            let mut current = Vec::new();
            for g in tx.groups_of_thing(thing_name).await? {
                let root = tx.ancestors(&g).await?.pop().unwrap_or_default();
                current.push((g, root));
            }
            let root = ancestors.last().cloned().unwrap_or_default();
            if !check_join(thing_name, group_name, &root, &current)? {
                return Ok(());
            }
            tx.insert_member(group_name, thing_name).await?;
            let mut jobs = JobCache::default();
            for job_id in tx.continuous_jobs_targeting(&ancestors).await? {
                let latest = tx
                    .select_execution_for_update(&ExecutionSelector::Exact {
                        thing_name: thing_name.to_owned(),
                        job_id: job_id.clone(),
                        execution_number: None,
                    })
                    .await?;
                let Some(number) = execution_number_on_join(latest.as_ref()) else {
                    continue;
                };
                tx.insert_execution(&JobExecution::queued(&job_id, thing_name, number, now))
                    .await?;
                jobs.load(tx, &job_id).await?.record_execution_change(
                    None,
                    Some(JobExecutionStatus::Queued),
                    now,
                );
            }
            jobs.flush(tx).await
        })
    }

    async fn remove_thing_from_thing_group(
        &self,
        group_name: &str,
        thing_name: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            require_group(tx, group_name).await?;
            if tx.select_thing_for_update(thing_name).await?.is_none() {
                return Err(JobsError::NotFound(format!(
                    "Thing {thing_name} does not exist"
                )));
            }
            if !tx.delete_member(group_name, thing_name).await? {
                return Ok(());
            }
            let mut still = Vec::new();
            for g in tx.groups_of_thing(thing_name).await? {
                still.extend(tx.ancestors(&g).await?);
            }
            let left = tx.ancestors(group_name).await?;
            let mut jobs = JobCache::default();
            for job_id in tx.continuous_jobs_targeting(&left).await? {
                if tx.job_targets_thing(&job_id, thing_name, &still).await? {
                    continue;
                }
                let latest = tx
                    .select_execution_for_update(&ExecutionSelector::Exact {
                        thing_name: thing_name.to_owned(),
                        job_id: job_id.clone(),
                        execution_number: None,
                    })
                    .await?;
                if let Some(exec) = latest.filter(|e| e.status == JobExecutionStatus::Queued) {
                    jobs.apply(tx, exec, &ExecutionCommand::Remove, now).await?;
                }
            }
            jobs.flush(tx).await
        })
    }

    async fn list_things_in_thing_group(
        &self,
        group_name: &str,
        recursive: bool,
        page: PageRequest,
    ) -> StoreResult<Page<String>> {
        transaction!(self, |tx| {
            require_group(tx, group_name).await?;
            tx.list_group_things(group_name, recursive, &page).await
        })
    }

    async fn create_job(&self, new: NewJob, now: Timestamp) -> StoreResult<Job> {
        transaction!(self, |tx| {
            if tx.select_job_progress(&new.job_id, false).await?.is_some() {
                return Err(already_exists(&new.job_id));
            }
            let mut things: Vec<String> = Vec::new();
            for thing in &new.target_things {
                if tx.select_thing(thing).await?.is_none() {
                    return Err(JobsError::NotFound(format!("Thing {thing} does not exist")));
                }
                things.push(thing.clone());
            }
            for group in &new.target_groups {
                if tx.select_group(group).await?.is_none() {
                    return Err(JobsError::NotFound(format!(
                        "Thing group {group} does not exist"
                    )));
                }
                things.extend(tx.group_things_recursive(group).await?);
            }
            let mut seen = std::collections::HashSet::new();
            things.retain(|t| seen.insert(t.clone()));
            let job = Job::from_new(new.clone(), things.len(), now);
            if !tx.insert_job(&job).await? {
                // Another node created the same id concurrently.
                return Err(already_exists(&new.job_id));
            }
            for t in &new.target_things {
                tx.insert_job_target(job.job_id(), "thing", t).await?;
            }
            for g in &new.target_groups {
                tx.insert_job_target(job.job_id(), "group", g).await?;
            }
            tx.insert_queued_executions(job.job_id(), &things, now)
                .await?;
            Ok(job)
        })
    }

    async fn describe_job(&self, job_id: &str) -> StoreResult<Option<Job>> {
        transaction!(self, |tx| { tx.select_job(job_id, false).await })
    }

    async fn list_jobs(&self, filter: &JobFilter, page: PageRequest) -> StoreResult<Page<Job>> {
        transaction!(self, |tx| { tx.list_jobs(filter, &page).await })
    }

    async fn update_job(&self, job_id: &str, update: JobUpdate, now: Timestamp) -> StoreResult<()> {
        transaction!(self, |tx| {
            let mut job = require_job(tx, job_id).await?;
            job.update(update.clone(), now)?;
            tx.update_job(&job).await
        })
    }

    async fn cancel_job(
        &self,
        job_id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        now: Timestamp,
    ) -> StoreResult<Job> {
        transaction!(self, |tx| {
            let mut job = require_job(tx, job_id).await?;
            job.cancel(force, reason_code.clone(), comment.clone(), now)?;
            tx.update_job(&job).await
        })?;
        loop {
            let done = transaction!(self, |tx| {
                cancel_job_executions(tx, job_id, BULK_CHUNK, now).await
            })?;
            if done == 0 {
                break;
            }
        }
        self.describe_job(job_id)
            .await?
            .ok_or_else(|| JobsError::NotFound(format!("Job {job_id} does not exist")))
    }

    async fn delete_job(&self, job_id: &str, force: bool, now: Timestamp) -> StoreResult<()> {
        transaction!(self, |tx| {
            // The limit on concurrent deletions is global: serialize deletions across
            // nodes with a transaction-scoped advisory lock.
            tx.advisory_lock(MIGRATION_LOCK + 1).await?;
            let mut job = require_job(tx, job_id).await?;
            let deleting = tx.count_jobs_deleting().await?;
            job.begin_delete(force, deleting, now)?;
            tx.update_job(&job).await
        })
    }

    async fn describe_job_execution(
        &self,
        selector: &ExecutionSelector,
    ) -> StoreResult<Option<JobExecution>> {
        transaction!(self, |tx| { tx.select_execution(selector, false).await })
    }

    async fn get_pending_job_executions(
        &self,
        thing_name: &str,
        limit: usize,
    ) -> StoreResult<Vec<JobExecution>> {
        transaction!(self, |tx| { tx.select_pending(thing_name, limit).await })
    }

    async fn list_job_executions_for_job(
        &self,
        job_id: &str,
        status: Option<JobExecutionStatus>,
        page: PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        transaction!(self, |tx| {
            if tx.select_job_progress(job_id, false).await?.is_none() {
                return Err(JobsError::NotFound(format!("Job {job_id} does not exist")));
            }
            tx.list_executions_for_job(job_id, status, &page).await
        })
    }

    async fn list_job_executions_for_thing(
        &self,
        thing_name: &str,
        status: Option<JobExecutionStatus>,
        job_id: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        transaction!(self, |tx| {
            let result = tx
                .list_executions_for_thing(thing_name, status, job_id, &page)
                .await?;
            if result.items.is_empty() && tx.select_thing(thing_name).await?.is_none() {
                return Err(JobsError::NotFound(format!(
                    "Thing {thing_name} cannot be found."
                )));
            }
            Ok(result)
        })
    }

    async fn update_job_execution(
        &self,
        selector: ExecutionSelector,
        cmd: ExecutionCommand,
        now: Timestamp,
    ) -> StoreResult<Option<AppliedChange>> {
        transaction!(self, |tx| {
            let Some(exec) = tx.select_execution_for_update(&selector).await? else {
                return match &selector {
                    ExecutionSelector::NextPending { .. } => Ok(None),
                    ExecutionSelector::Exact {
                        thing_name, job_id, ..
                    } => Err(tx.explain_missing_execution(thing_name, job_id).await),
                };
            };
            let mut jobs = JobCache::default();
            let applied = jobs.apply(tx, exec, &cmd, now).await?;
            jobs.flush(tx).await?;
            Ok(Some(applied))
        })
    }

    async fn sweep(&self, now: Timestamp, budget: usize) -> StoreResult<SweepReport> {
        let timed_out = transaction!(self, |tx| {
            let mut jobs = JobCache::default();
            let mut n = 0;
            for exec in tx.select_timed_out_skip_locked(now, budget).await? {
                if jobs
                    .try_apply(tx, exec, &ExecutionCommand::Timeout, now)
                    .await?
                {
                    n += 1;
                }
            }
            jobs.flush(tx).await?;
            Ok(n)
        })?;
        let canceled = transaction!(self, |tx| {
            let mut n = 0;
            for job_id in tx.jobs_with_unfinished_cancel_skip_locked(16).await? {
                if n >= budget {
                    break;
                }
                n += cancel_job_executions(tx, &job_id, budget - n, now).await?;
            }
            Ok(n)
        })?;
        let (purged_executions, deleted_jobs) = transaction!(self, |tx| {
            let (mut purged, mut deleted) = (0, 0);
            for job_id in tx.jobs_deleting_skip_locked().await? {
                let left = budget.saturating_sub(purged);
                if left == 0 {
                    break;
                }
                let n = tx.purge_job_executions(&job_id, left).await?;
                purged += n;
                if n < left {
                    tx.delete_job_rows(&job_id).await?;
                    deleted += 1;
                }
            }
            Ok((purged, deleted))
        })?;
        Ok(SweepReport {
            timed_out,
            canceled,
            purged_executions,
            deleted_jobs,
        })
    }

    async fn reset(&self) -> StoreResult<()> {
        transaction!(self, |tx| { tx.delete_everything().await })
    }

    async fn claim_account(&self, account_id: &str) -> StoreResult<()> {
        transaction!(self, |tx| { tx.claim_account(account_id).await })
    }
}

fn already_exists(job_id: &str) -> JobsError {
    JobsError::AlreadyExists {
        message: format!("Job {job_id} already exists"),
        kind: ResourceKind::Job,
        name: job_id.to_owned(),
        resource_id: job_id.to_owned(),
    }
}

async fn require_job(tx: &Tx<'_>, job_id: &str) -> StoreResult<Job> {
    tx.select_job(job_id, true)
        .await?
        .ok_or_else(|| JobsError::NotFound(format!("Job {job_id} does not exist")))
}

async fn require_group(tx: &Tx<'_>, group: &str) -> StoreResult<()> {
    match tx.select_group(group).await? {
        Some(_) => Ok(()),
        None => Err(JobsError::NotFound(format!(
            "Thing group {group} does not exist"
        ))),
    }
}

/// Cancel up to `limit` executions of a canceled job still in the statuses its
/// cancellation covers.
async fn cancel_job_executions(
    tx: &Tx<'_>,
    job_id: &str,
    limit: usize,
    now: Timestamp,
) -> StoreResult<usize> {
    let Some(job) = tx.select_job(job_id, false).await? else {
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
    for exec in tx
        .select_job_executions_in_skip_locked(job_id, job.statuses_to_cancel(), limit)
        .await?
    {
        if jobs.try_apply(tx, exec, &cmd, now).await? {
            n += 1;
        }
    }
    jobs.flush(tx).await?;
    Ok(n)
}

/// Job progress rows locked and loaded during one transaction, written back once.
#[derive(Default)]
struct JobCache {
    jobs: BTreeMap<String, (JobProgress, JobProgress)>,
}

impl JobCache {
    async fn load(&mut self, tx: &Tx<'_>, job_id: &str) -> StoreResult<&mut JobProgress> {
        if !self.jobs.contains_key(job_id) {
            let p = tx
                .select_job_progress(job_id, true)
                .await?
                .ok_or_else(|| JobsError::Internal(format!("execution without job {job_id}")))?;
            self.jobs.insert(job_id.to_owned(), (p.clone(), p));
        }
        Ok(&mut self.jobs.get_mut(job_id).expect("just inserted").1)
    }

    async fn apply(
        &mut self,
        tx: &Tx<'_>,
        exec: JobExecution,
        cmd: &ExecutionCommand,
        now: Timestamp,
    ) -> StoreResult<AppliedChange> {
        let job = self.load(tx, &exec.job_id).await?;
        let mut next_job = job.clone();
        let change = apply_to_job(&mut next_job, &exec, cmd, now)?;
        *job = next_job.clone();
        Ok(match change {
            Change::Update(next) => {
                tx.update_execution(&next).await?;
                AppliedChange {
                    execution: next,
                    exists: true,
                    job: next_job,
                }
            }
            Change::Delete => {
                tx.delete_execution(&exec).await?;
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

    async fn try_apply(
        &mut self,
        tx: &Tx<'_>,
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

    async fn flush(self, tx: &Tx<'_>) -> StoreResult<()> {
        for (before, after) in self.jobs.values() {
            if before != after {
                tx.update_job_progress(after).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
