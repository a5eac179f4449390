//! Row mapping for the SQLite backend: one function per statement, so the SQL the
//! backend runs can be read in one place. No rule is decided here.

use super::db_err;
use crate::policy_codec;
use crate::tx::{ExecutionKey, Lock, ThingExecutions, Touch, Tx};
use iotjobs_core::audit::{Actor, AuditChange, AuditFilter, AuditRecord, AuditSubject};
use iotjobs_core::certificate::{Certificate, CertificateStatus, ThingPrincipalType};
use iotjobs_core::execution::{JobExecution, JobExecutionStatus, StatusDetails};
use iotjobs_core::group::{ThingGroup, ThingGroupFilter};
use iotjobs_core::job::{Job, JobProcessDetails, JobProgress, JobStatus, TargetSelection};
use iotjobs_core::page::{Page, PageRequest, compound_key};
use iotjobs_core::policy::Rollout;
use iotjobs_core::store::{ExecutionSelector, JobFilter, StoreResult, ThingFilter};
use iotjobs_core::template::{JobBasis, JobTemplate};
use iotjobs_core::{JobsError, Thing, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::BTreeMap;

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad {what} JSON: {e}").into(),
        )
    })
}

fn bad_enum(what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {v:?}").into(),
    )
}

fn ts(v: i64) -> Timestamp {
    Timestamp(v)
}

// ---- things ---------------------------------------------------------------------

const THING_COLUMNS: &str =
    "thing_name, thing_id, thing_type_name, attributes, billing_group_name, version, created_at";

fn thing_from_row(r: &Row<'_>) -> rusqlite::Result<Thing> {
    Ok(Thing {
        thing_name: r.get(0)?,
        thing_id: r.get(1)?,
        thing_type_name: r.get(2)?,
        attributes: from_json::<BTreeMap<String, String>>(&r.get::<_, String>(3)?, "attributes")?,
        billing_group_name: r.get(4)?,
        version: r.get(5)?,
        created_at: ts(r.get(6)?),
    })
}

fn select_thing(conn: &Connection, name: &str) -> StoreResult<Option<Thing>> {
    conn.prepare_cached(&format!(
        "SELECT {THING_COLUMNS} FROM things WHERE thing_name = ?1"
    ))
    .and_then(|mut s| s.query_row([name], thing_from_row).optional())
    .map_err(db_err)
}

/// Insert unless the name exists; true if inserted.
fn insert_thing(conn: &Connection, t: &Thing) -> StoreResult<bool> {
    conn.prepare_cached(
        "INSERT INTO things (thing_name, thing_id, thing_type_name, attributes, billing_group_name, version, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (thing_name) DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            t.thing_name,
            t.thing_id,
            t.thing_type_name,
            to_json(&t.attributes),
            t.billing_group_name,
            t.version,
            t.created_at.millis()
        ])
    })
    .map(|n| n == 1)
    .map_err(db_err)
}

// ---- jobs -----------------------------------------------------------------------

/// The progress columns (what execution changes and the rollout touch), as a macro so
/// that [`JOB_COLUMNS`] can begin with them.
macro_rules! progress_columns {
    () => {
        "job_id, status, target_selection, in_progress_timeout_minutes, \
         n_queued, n_in_progress, n_succeeded, n_failed, n_timed_out, n_rejected, n_removed, n_canceled, \
         last_updated_at, completed_at, policy, rollout_waiting, rollout_notified, rollout_started_at, \
         rollout_bucket, rollout_in_bucket, rollout_ended, wake_at, rollout_bucket_rate"
    };
}

const PROGRESS_COLUMNS: &str = progress_columns!();
/// How many columns [`PROGRESS_COLUMNS`] has: the description's start in [`JOB_COLUMNS`].
const N_PROGRESS: usize = 23;

fn progress_from_row(r: &Row<'_>) -> rusqlite::Result<JobProgress> {
    let status: String = r.get(1)?;
    let selection: String = r.get(2)?;
    let policy = r.get_ref(14)?.as_str_or_null()?;
    Ok(JobProgress {
        job_id: r.get(0)?,
        status: JobStatus::parse(&status).ok_or_else(|| bad_enum("job status", &status))?,
        target_selection: TargetSelection::parse(&selection)
            .ok_or_else(|| bad_enum("target selection", &selection))?,
        in_progress_timeout_minutes: r.get(3)?,
        process_details: JobProcessDetails {
            queued: r.get(4)?,
            in_progress: r.get(5)?,
            succeeded: r.get(6)?,
            failed: r.get(7)?,
            timed_out: r.get(8)?,
            rejected: r.get(9)?,
            removed: r.get(10)?,
            canceled: r.get(11)?,
        },
        last_updated_at: ts(r.get(12)?),
        completed_at: r.get::<_, Option<i64>>(13)?.map(ts),
        policy: policy_codec::decode(policy, "sqlite").map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(14, rusqlite::types::Type::Text, e.into())
        })?,
        rollout: Rollout {
            waiting: r.get(15)?,
            notified: r.get(16)?,
            started_at: r.get::<_, Option<i64>>(17)?.map(ts),
            bucket: r.get(18)?,
            in_bucket: r.get(19)?,
            ended: r.get(20)?,
            wake_at: r.get::<_, Option<i64>>(21)?.map(ts),
            bucket_rate: r.get(22)?,
        },
    })
}

fn select_job_progress(conn: &Connection, job_id: &str) -> StoreResult<Option<JobProgress>> {
    conn.prepare_cached(&format!(
        "SELECT {PROGRESS_COLUMNS} FROM jobs WHERE job_id = ?1"
    ))
    .and_then(|mut s| s.query_row([job_id], progress_from_row).optional())
    .map_err(db_err)
}

/// Every column of a job: the progress columns, then the description.
const JOB_COLUMNS: &str = concat!(
    progress_columns!(),
    ", targets, document, document_source, description, force_canceled, \
     reason_code, comment, created_at, configs"
);

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<Job> {
    const D: usize = N_PROGRESS;
    Ok(Job {
        progress: progress_from_row(r)?,
        targets: from_json(&r.get::<_, String>(D)?, "targets")?,
        document: r.get(D + 1)?,
        document_source: r.get(D + 2)?,
        description: r.get(D + 3)?,
        force_canceled: r.get(D + 4)?,
        reason_code: r.get(D + 5)?,
        comment: r.get(D + 6)?,
        created_at: ts(r.get(D + 7)?),
        configs: from_json(&r.get::<_, String>(D + 8)?, "configs")?,
    })
}

fn select_job(conn: &Connection, job_id: &str) -> StoreResult<Option<Job>> {
    conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1"))
        .and_then(|mut s| s.query_row([job_id], job_from_row).optional())
        .map_err(db_err)
}

/// Insert unless the id exists; true if inserted.
fn insert_job(conn: &Connection, job: &Job) -> StoreResult<bool> {
    let p = &job.progress;
    let d = &p.process_details;
    let o = &p.rollout;
    conn.prepare_cached(&format!(
        "INSERT INTO jobs ({JOB_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                 ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)
         ON CONFLICT (job_id) DO NOTHING"
    ))
    .and_then(|mut s| {
        s.execute(params![
            p.job_id,
            p.status.as_str(),
            p.target_selection.as_str(),
            p.in_progress_timeout_minutes,
            d.queued,
            d.in_progress,
            d.succeeded,
            d.failed,
            d.timed_out,
            d.rejected,
            d.removed,
            d.canceled,
            p.last_updated_at.millis(),
            p.completed_at.map(Timestamp::millis),
            policy_codec::encode(&p.policy),
            o.waiting,
            o.notified,
            o.started_at.map(Timestamp::millis),
            o.bucket,
            o.in_bucket,
            o.ended,
            o.wake_at.map(Timestamp::millis),
            o.bucket_rate,
            to_json(&job.targets),
            job.document,
            job.document_source,
            job.description,
            job.force_canceled,
            job.reason_code,
            job.comment,
            job.created_at.millis(),
            to_json(&job.configs),
        ])
    })
    .map(|n| n == 1)
    .map_err(db_err)
}

/// Write the progress columns: status, counters, timestamps and rollout state (not the
/// policy: execution changes never change it; `update_job` writes it).
fn update_job_progress(conn: &Connection, p: &JobProgress) -> StoreResult<()> {
    // Most changes (an execution's) move counters only. SQLite rewrites the entries of
    // every index whose columns a statement SETs, changed or not, so the common case
    // first tries a statement that leaves the indexed columns (`status`, `wake_at`)
    // alone and matches only while they hold the values being written: one dirty page
    // (the WAL frame and its checksum) fewer per commit and per job.
    const COUNTERS_ONLY: &str = "UPDATE jobs SET n_queued = ?3, n_in_progress = ?4, n_succeeded = ?5,
         n_failed = ?6, n_timed_out = ?7, n_rejected = ?8, n_removed = ?9, n_canceled = ?10,
         last_updated_at = ?11, completed_at = ?12, rollout_waiting = ?13, rollout_notified = ?14,
         rollout_started_at = ?15, rollout_bucket = ?16, rollout_in_bucket = ?17, rollout_ended = ?18,
         rollout_bucket_rate = ?20 WHERE job_id = ?1 AND status = ?2 AND wake_at IS ?19";
    const ALL: &str = "UPDATE jobs SET status = ?2, n_queued = ?3, n_in_progress = ?4, n_succeeded = ?5, n_failed = ?6,
         n_timed_out = ?7, n_rejected = ?8, n_removed = ?9, n_canceled = ?10, last_updated_at = ?11,
         completed_at = ?12, rollout_waiting = ?13, rollout_notified = ?14,
         rollout_started_at = ?15, rollout_bucket = ?16, rollout_in_bucket = ?17, rollout_ended = ?18,
         wake_at = ?19, rollout_bucket_rate = ?20 WHERE job_id = ?1";
    if write_job_progress(conn, COUNTERS_ONLY, p)? == 0 {
        write_job_progress(conn, ALL, p)?;
    }
    Ok(())
}

/// Runs one of `update_job_progress`'s statements; the number of rows changed.
fn write_job_progress(conn: &Connection, sql: &str, p: &JobProgress) -> StoreResult<usize> {
    let d = &p.process_details;
    let o = &p.rollout;
    conn.prepare_cached(sql)
        .and_then(|mut s| {
            s.execute(params![
                p.job_id,
                p.status.as_str(),
                d.queued,
                d.in_progress,
                d.succeeded,
                d.failed,
                d.timed_out,
                d.rejected,
                d.removed,
                d.canceled,
                p.last_updated_at.millis(),
                p.completed_at.map(Timestamp::millis),
                o.waiting,
                o.notified,
                o.started_at.map(Timestamp::millis),
                o.bucket,
                o.in_bucket,
                o.ended,
                o.wake_at.map(Timestamp::millis),
                o.bucket_rate,
            ])
        })
        .map_err(db_err)
}

// ---- job executions ---------------------------------------------------------------

const EXECUTION_COLUMNS: &str = "thing_name, job_id, execution_number, status, force_canceled, \
     status_details, queued_at, started_at, last_updated_at, version_number, in_progress_deadline, step_deadline, \
     retry_attempt, retry_timed_out";

fn execution_from_row(r: &Row<'_>) -> rusqlite::Result<JobExecution> {
    let status: String = r.get(3)?;
    Ok(JobExecution {
        thing_name: r.get(0)?,
        job_id: r.get(1)?,
        execution_number: r.get(2)?,
        status: JobExecutionStatus::parse(&status)
            .ok_or_else(|| bad_enum("execution status", &status))?,
        force_canceled: r.get(4)?,
        status_details: from_json::<StatusDetails>(&r.get::<_, String>(5)?, "status details")?,
        queued_at: ts(r.get(6)?),
        started_at: r.get::<_, Option<i64>>(7)?.map(ts),
        last_updated_at: ts(r.get(8)?),
        version_number: r.get(9)?,
        in_progress_deadline: r.get::<_, Option<i64>>(10)?.map(ts),
        step_deadline: r.get::<_, Option<i64>>(11)?.map(ts),
        retry_attempt: r.get(12)?,
        retry_timed_out: r.get(13)?,
    })
}

fn select_execution(
    conn: &Connection,
    selector: &ExecutionSelector,
) -> StoreResult<Option<JobExecution>> {
    let result = match selector {
        ExecutionSelector::Exact {
            thing_name,
            job_id,
            execution_number: Some(n),
        } => conn
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM job_executions
                 WHERE thing_name = ?1 AND job_id = ?2 AND execution_number = ?3"
            ))
            .and_then(|mut s| {
                s.query_row(params![thing_name, job_id, n], execution_from_row)
                    .optional()
            }),
        ExecutionSelector::Exact {
            thing_name,
            job_id,
            execution_number: None,
        } => conn
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM job_executions
                 WHERE thing_name = ?1 AND job_id = ?2 ORDER BY execution_number DESC LIMIT 1"
            ))
            .and_then(|mut s| {
                s.query_row(params![thing_name, job_id], execution_from_row)
                    .optional()
            }),
        // IN_PROGRESS first, then QUEUED; each oldest first (AWS "Jobs device HTTP API").
        ExecutionSelector::NextPending { thing_name } => conn
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM job_executions
                 WHERE thing_name = ?1 AND status IN ('QUEUED', 'IN_PROGRESS')
                 ORDER BY status = 'QUEUED', queued_at, job_id LIMIT 1"
            ))
            .and_then(|mut s| s.query_row([thing_name], execution_from_row).optional()),
    };
    result.map_err(db_err)
}

fn select_pending(
    conn: &Connection,
    thing_name: &str,
    limit: usize,
) -> StoreResult<Vec<JobExecution>> {
    let mut out = Vec::new();
    for status in ["IN_PROGRESS", "QUEUED"] {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM job_executions
                 WHERE thing_name = ?1 AND status = ?2 AND status IN ('QUEUED', 'IN_PROGRESS')
                 ORDER BY queued_at, job_id LIMIT ?3"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![thing_name, status, limit as i64],
                execution_from_row,
            )
            .map_err(db_err)?;
        for row in rows {
            out.push(row.map_err(db_err)?);
        }
    }
    Ok(out)
}

fn insert_execution(conn: &Connection, e: &JobExecution) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO job_executions ({EXECUTION_COLUMNS}, timeout_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))
    .and_then(|mut s| s.execute(rusqlite::params_from_iter(execution_params(e))))
    .map(drop)
    .map_err(db_err)
}

fn update_execution(conn: &Connection, e: &JobExecution) -> StoreResult<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE job_executions SET status = ?4, force_canceled = ?5, status_details = ?6,
             queued_at = ?7, started_at = ?8, last_updated_at = ?9, version_number = ?10,
             in_progress_deadline = ?11, step_deadline = ?12, retry_attempt = ?13,
             retry_timed_out = ?14, timeout_at = ?15
             WHERE thing_name = ?1 AND job_id = ?2 AND execution_number = ?3",
        )
        .and_then(|mut s| s.execute(rusqlite::params_from_iter(execution_params(e))))
        .map_err(db_err)?;
    if changed != 1 {
        return Err(JobsError::bug("an execution vanished during its update"));
    }
    Ok(())
}

/// Execution number 1, QUEUED, for each thing (CreateJob).
fn insert_queued_executions(
    conn: &Connection,
    job_id: &str,
    things: &[String],
    now: Timestamp,
) -> StoreResult<()> {
    // One statement, prepared once: every column but the thing is the same for all and
    // bound once, the thing per row (a million-thing group's CreateJob inserts a million
    // rows here).
    let mut stmt = conn
        .prepare_cached(&format!(
            "INSERT INTO job_executions ({EXECUTION_COLUMNS}, timeout_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ))
        .map_err(db_err)?;
    let template = JobExecution::queued(job_id, "", 1, now);
    for (i, value) in execution_params(&template).iter().enumerate().skip(1) {
        stmt.raw_bind_parameter(i + 1, value).map_err(db_err)?;
    }
    for thing in things {
        stmt.raw_bind_parameter(1, thing).map_err(db_err)?;
        stmt.raw_execute().map_err(db_err)?;
    }
    Ok(())
}

/// The key of the `n`-th execution of a job after `after` (`('', 0)` is before every
/// key: thing names are not empty).
fn nth_execution_key(
    conn: &Connection,
    job_id: &str,
    after: Option<&ExecutionKey>,
    n: usize,
) -> StoreResult<Option<ExecutionKey>> {
    let (thing, number) = after.map_or(("", 0), |(t, n)| (t.as_str(), *n));
    conn.prepare_cached(
        "SELECT thing_name, execution_number FROM job_executions INDEXED BY job_executions_by_job
         WHERE job_id = ?1 AND (thing_name, execution_number) > (?2, ?3)
         ORDER BY thing_name, execution_number LIMIT 1 OFFSET ?4",
    )
    .and_then(|mut s| {
        s.query_row(
            params![job_id, thing, number, n.saturating_sub(1) as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
    })
    .map_err(db_err)
}

/// One UPDATE for every execution of the job in `change.from` within the key range.
fn update_executions_uniform(
    conn: &Connection,
    job_id: &str,
    after: Option<&ExecutionKey>,
    upto: Option<&ExecutionKey>,
    change: &iotjobs_core::UniformChange,
) -> StoreResult<Vec<JobExecution>> {
    let (thing, number) = after.map_or(("", 0), |(t, n)| (t.as_str(), *n));
    let bound = if upto.is_some() {
        "AND (thing_name, execution_number) <= (?9, ?10)"
    } else {
        "AND ?9 IS NULL AND ?10 IS NULL"
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "UPDATE job_executions INDEXED BY job_executions_by_job
             SET status = ?4, force_canceled = ?5, version_number = version_number + 1,
                 last_updated_at = ?6,
                 in_progress_deadline = CASE WHEN ?7 THEN NULL ELSE in_progress_deadline END,
                 step_deadline = CASE WHEN ?7 THEN NULL ELSE step_deadline END,
                 timeout_at = CASE WHEN ?7 THEN NULL ELSE timeout_at END
             WHERE job_id = ?1 AND (thing_name, execution_number) > (?2, ?3) {bound}
               AND status = ?8
             RETURNING {EXECUTION_COLUMNS}"
        ))
        .map_err(db_err)?;
    let (upto_thing, upto_number) = upto.map(|(t, n)| (t.as_str(), *n)).unzip();
    stmt.query_map(
        params![
            job_id,
            thing,
            number,
            change.to.as_str(),
            change.force_canceled,
            change.now.millis(),
            change.stop_timers,
            change.from.as_str(),
            upto_thing,
            upto_number,
        ],
        execution_from_row,
    )
    .and_then(Iterator::collect)
    .map_err(db_err)
}

fn delete_execution(conn: &Connection, e: &JobExecution) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM job_executions WHERE thing_name = ?1 AND job_id = ?2 AND execution_number = ?3",
    )
    .and_then(|mut s| s.execute(params![e.thing_name, e.job_id, e.execution_number]))
    .map(drop)
    .map_err(db_err)
}

fn execution_params(e: &JobExecution) -> Vec<Box<dyn rusqlite::ToSql + '_>> {
    vec![
        Box::new(&e.thing_name),
        Box::new(&e.job_id),
        Box::new(e.execution_number),
        Box::new(e.status.as_str()),
        Box::new(e.force_canceled),
        Box::new(to_json(&e.status_details)),
        Box::new(e.queued_at.millis()),
        Box::new(e.started_at.map(Timestamp::millis)),
        Box::new(e.last_updated_at.millis()),
        Box::new(e.version_number),
        Box::new(e.in_progress_deadline.map(Timestamp::millis)),
        Box::new(e.step_deadline.map(Timestamp::millis)),
        Box::new(e.retry_attempt),
        Box::new(e.retry_timed_out),
        Box::new(e.timeout_at().map(Timestamp::millis)),
    ]
}

// ---- jobs, beyond creation ------------------------------------------------------------

/// Write every mutable column of a job (UpdateJob, CancelJob, DeleteJob): the progress
/// columns (policy and rollout included), then the description's.
/// Every mutable column: the progress columns (rollout included), then the
/// description's and the policy (which only UpdateJob changes, so execution changes,
/// which write the progress alone, never encode it).
fn update_job(conn: &Connection, job: &Job) -> StoreResult<()> {
    update_job_progress(conn, &job.progress)?;
    conn.prepare_cached(
        "UPDATE jobs SET in_progress_timeout_minutes = ?2, description = ?3, force_canceled = ?4,
         reason_code = ?5, comment = ?6, configs = ?7, policy = ?8 WHERE job_id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            job.progress.job_id,
            job.progress.in_progress_timeout_minutes,
            job.description,
            job.force_canceled,
            job.reason_code,
            job.comment,
            to_json(&job.configs),
            policy_codec::encode(&job.progress.policy),
        ])
    })
    .map(drop)
    .map_err(db_err)
}

fn count_jobs_deleting(conn: &Connection) -> StoreResult<usize> {
    conn.prepare_cached("SELECT COUNT(*) FROM jobs WHERE status = 'DELETION_IN_PROGRESS'")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .map(|n| n as usize)
        .map_err(db_err)
}

fn insert_job_target(
    conn: &Connection,
    job_id: &str,
    target_type: &str,
    name: &str,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO job_targets (job_id, target_type, target_name) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut s| s.execute(params![job_id, target_type, name]))
    .map(drop)
    .map_err(db_err)
}

fn list_jobs(conn: &Connection, filter: &JobFilter, page: &PageRequest) -> StoreResult<Page<Job>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE job_id > ?1
               AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR target_selection = ?3)
               AND (?4 IS NULL OR job_id IN (SELECT job_id FROM job_targets
                                             WHERE target_type = 'group' AND target_name = ?4))
             ORDER BY job_id LIMIT ?5"
        ))
        .map_err(db_err)?;
    let jobs: Vec<Job> = stmt
        .query_map(
            params![
                page.after.as_deref().unwrap_or(""),
                filter.status.map(JobStatus::as_str),
                filter.target_selection.map(TargetSelection::as_str),
                filter.thing_group_name,
                (page.limit + 1) as i64,
            ],
            job_from_row,
        )
        .and_then(Iterator::collect)
        .map_err(db_err)?;
    Ok(Page::from_rows(jobs, page.limit, |j| {
        j.progress.job_id.clone()
    }))
}

/// Up to `limit` executions of a job in one of `statuses`.
fn select_job_executions_in(
    conn: &Connection,
    job_id: &str,
    statuses: &[JobExecutionStatus],
    limit: usize,
) -> StoreResult<Vec<JobExecution>> {
    let list: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE job_id = ?1 AND status IN (SELECT value FROM json_each(?2)) LIMIT ?3"
        ))
        .map_err(db_err)?;
    stmt.query_map(
        params![job_id, to_json(&list), limit as i64],
        execution_from_row,
    )
    .and_then(Iterator::collect)
    .map_err(db_err)
}

/// Jobs whose cancellation left executions behind (a CancelJob interrupted mid-way).
fn jobs_with_unfinished_cancel(conn: &Connection, limit: usize) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "SELECT job_id FROM jobs WHERE status = 'CANCELED'
           AND (n_queued > 0 OR (force_canceled AND n_in_progress > 0)) LIMIT ?1",
    )
    .and_then(|mut s| s.query_map([limit as i64], |r| r.get(0))?.collect())
    .map_err(db_err)
}

fn jobs_deleting(conn: &Connection) -> StoreResult<Vec<String>> {
    conn.prepare_cached("SELECT job_id FROM jobs WHERE status = 'DELETION_IN_PROGRESS'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(db_err)
}

/// Delete up to `limit` execution records of a job; returns how many went.
fn purge_job_executions(
    conn: &Connection,
    job_id: &str,
    limit: usize,
) -> StoreResult<(usize, Vec<(String, i64)>)> {
    let mut stmt = conn
        .prepare_cached(
            "DELETE FROM job_executions WHERE (thing_name, job_id, execution_number) IN
               (SELECT thing_name, job_id, execution_number FROM job_executions WHERE job_id = ?1 LIMIT ?2)
             RETURNING thing_name, execution_number, status",
        )
        .map_err(db_err)?;
    let mut rows = stmt.query(params![job_id, limit as i64]).map_err(db_err)?;
    let (mut n, mut pending) = (0, Vec::new());
    while let Some(r) = rows.next().map_err(db_err)? {
        n += 1;
        let status: String = r.get(2).map_err(db_err)?;
        let status = JobExecutionStatus::parse(&status)
            .ok_or_else(|| db_err(bad_enum("execution status", &status)))?;
        if status.is_pending() {
            pending.push((r.get(0).map_err(db_err)?, r.get(1).map_err(db_err)?));
        }
    }
    Ok((n, pending))
}

fn delete_job_rows(conn: &Connection, job_id: &str) -> StoreResult<()> {
    for sql in [
        "DELETE FROM job_targets WHERE job_id = ?1",
        "DELETE FROM job_rollout_queue WHERE job_id = ?1",
        "DELETE FROM jobs WHERE job_id = ?1",
    ] {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([job_id]))
            .map_err(db_err)?;
    }
    Ok(())
}

// ---- rollouts ---------------------------------------------------------------------------

/// Queue `things` after the job's current last waiting target, in this order.
fn insert_rollout_targets(conn: &Connection, job_id: &str, things: &[String]) -> StoreResult<()> {
    if things.is_empty() {
        return Ok(());
    }
    let next: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq) + 1, 0) FROM job_rollout_queue WHERE job_id = ?1")
        .and_then(|mut s| s.query_row([job_id], |r| r.get(0)))
        .map_err(db_err)?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO job_rollout_queue (job_id, seq, thing_name) VALUES (?1, ?2, ?3)",
        )
        .map_err(db_err)?;
    for (seq, thing) in (next..).zip(things) {
        stmt.execute(params![job_id, seq, thing]).map_err(db_err)?;
    }
    Ok(())
}

/// Remove and return the first `limit` waiting targets of the job, in queue order.
fn take_rollout_targets(conn: &Connection, job_id: &str, limit: usize) -> StoreResult<Vec<String>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let taken: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, thing_name FROM job_rollout_queue WHERE job_id = ?1 ORDER BY seq LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![job_id, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(db_err)?;
    // The first rows by seq: exactly those at or before the last one taken.
    if let Some((last, _)) = taken.last() {
        conn.prepare_cached("DELETE FROM job_rollout_queue WHERE job_id = ?1 AND seq <= ?2")
            .and_then(|mut s| s.execute(params![job_id, last]))
            .map_err(db_err)?;
    }
    Ok(taken.into_iter().map(|(_, thing)| thing).collect())
}

fn delete_rollout_targets(conn: &Connection, job_id: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM job_rollout_queue WHERE job_id = ?1")
        .and_then(|mut s| s.execute([job_id]))
        .map(drop)
        .map_err(db_err)
}

/// Jobs whose `wake_at` has come, earliest first.
fn jobs_due(conn: &Connection, now: Timestamp, limit: usize) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "SELECT job_id FROM jobs WHERE wake_at IS NOT NULL AND wake_at <= ?1
         ORDER BY wake_at, job_id LIMIT ?2",
    )
    .and_then(|mut s| {
        s.query_map(params![now.millis(), limit as i64], |r| r.get(0))?
            .collect()
    })
    .map_err(db_err)
}

fn next_job_wake(conn: &Connection) -> StoreResult<Option<Timestamp>> {
    conn.prepare_cached("SELECT min(wake_at) FROM jobs WHERE wake_at IS NOT NULL")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, Option<i64>>(0)))
        .map(|t| t.map(ts))
        .map_err(db_err)
}

// ---- executions, beyond one row -------------------------------------------------------

fn select_timed_out(
    conn: &Connection,
    now: Timestamp,
    limit: usize,
) -> StoreResult<Vec<JobExecution>> {
    conn.prepare_cached(&format!(
        "SELECT {EXECUTION_COLUMNS} FROM job_executions
         WHERE status = 'IN_PROGRESS' AND timeout_at IS NOT NULL AND timeout_at <= ?1
         ORDER BY timeout_at LIMIT ?2"
    ))
    .and_then(|mut s| {
        s.query_map(params![now.millis(), limit as i64], execution_from_row)?
            .collect()
    })
    .map_err(db_err)
}

/// All pending executions of a thing (bounded by the number of jobs targeting it).
fn select_all_pending(conn: &Connection, thing_name: &str) -> StoreResult<Vec<JobExecution>> {
    conn.prepare_cached(&format!(
        "SELECT {EXECUTION_COLUMNS} FROM job_executions
         WHERE thing_name = ?1 AND status IN ('QUEUED', 'IN_PROGRESS') ORDER BY queued_at"
    ))
    .and_then(|mut s| s.query_map([thing_name], execution_from_row)?.collect())
    .map_err(db_err)
}

fn list_executions_for_job(
    conn: &Connection,
    job_id: &str,
    status: Option<JobExecutionStatus>,
    page: &PageRequest,
) -> StoreResult<Page<JobExecution>> {
    let (after_thing, after_n) = page.after_compound()?;
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE job_id = ?1 AND (thing_name, execution_number) > (?2, ?3)
               AND (?4 IS NULL OR status = ?4)
             ORDER BY thing_name, execution_number LIMIT ?5"
        ))
        .and_then(|mut s| {
            s.query_map(
                params![
                    job_id,
                    after_thing,
                    after_n,
                    status.map(JobExecutionStatus::as_str),
                    (page.limit + 1) as i64
                ],
                execution_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(rows, page.limit, |e| {
        compound_key(&e.thing_name, e.execution_number)
    }))
}

fn list_executions_for_thing(
    conn: &Connection,
    thing_name: &str,
    status: Option<JobExecutionStatus>,
    job_id: Option<&str>,
    page: &PageRequest,
) -> StoreResult<Page<JobExecution>> {
    let (after_job, after_n) = page.after_compound()?;
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE thing_name = ?1 AND (job_id, execution_number) > (?2, ?3)
               AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR job_id = ?5)
             ORDER BY job_id, execution_number LIMIT ?6"
        ))
        .and_then(|mut s| {
            s.query_map(
                params![
                    thing_name,
                    after_job,
                    after_n,
                    status.map(JobExecutionStatus::as_str),
                    job_id,
                    (page.limit + 1) as i64
                ],
                execution_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(rows, page.limit, |e| {
        compound_key(&e.job_id, e.execution_number)
    }))
}

// ---- things, beyond one row -------------------------------------------------------------

fn list_things(
    conn: &Connection,
    filter: &ThingFilter,
    page: &PageRequest,
) -> StoreResult<Page<Thing>> {
    // Attribute names match `[a-zA-Z0-9_.,@/:#-]+` (model), so quoting them in a JSON
    // path is safe.
    let path = filter.attribute_name.as_ref().map(|n| format!("$.\"{n}\""));
    let things: Vec<Thing> = conn
        .prepare_cached(&format!(
            "SELECT {THING_COLUMNS} FROM things
             WHERE thing_name > ?1
               AND (?2 IS NULL OR json_extract(attributes, ?2) IS NOT NULL)
               AND (?3 IS NULL OR (CASE WHEN ?4 THEN substr(json_extract(attributes, ?2), 1, length(?3)) = ?3
                                        ELSE json_extract(attributes, ?2) = ?3 END))
               AND (?5 IS NULL OR thing_type_name = ?5)
             ORDER BY thing_name LIMIT ?6"
        ))
        .and_then(|mut s| {
            s.query_map(
                params![
                    page.after.as_deref().unwrap_or(""),
                    path,
                    filter.attribute_value,
                    filter.use_prefix_attribute_value,
                    filter.thing_type_name,
                    (page.limit + 1) as i64
                ],
                thing_from_row,
            )?
            .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(things, page.limit, |t| {
        t.thing_name.clone()
    }))
}

fn delete_thing_rows(conn: &Connection, thing_name: &str) -> StoreResult<()> {
    for sql in [
        "DELETE FROM thing_group_members WHERE thing_name = ?1",
        "DELETE FROM things WHERE thing_name = ?1",
    ] {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([thing_name]))
            .map_err(db_err)?;
    }
    Ok(())
}

// ---- thing groups -----------------------------------------------------------------------

fn select_group(conn: &Connection, name: &str) -> StoreResult<Option<ThingGroup>> {
    let group = conn
        .prepare_cached(
            "SELECT group_name, group_id, parent_group_name, description, attributes, tags, version, created_at
             FROM thing_groups WHERE group_name = ?1",
        )
        .and_then(|mut s| {
            s.query_row([name], |r| {
                Ok(ThingGroup {
                    group_name: r.get(0)?,
                    group_id: r.get(1)?,
                    parent_group_name: r.get(2)?,
                    description: r.get(3)?,
                    attributes: from_json(&r.get::<_, String>(4)?, "attributes")?,
                    tags: r.get(5)?,
                    version: r.get(6)?,
                    created_at: ts(r.get(7)?),
                    root_to_parent: Vec::new(),
                })
            })
            .optional()
        })
        .map_err(db_err)?;
    let Some(mut group) = group else {
        return Ok(None);
    };
    // Ancestors, nearest first; reversed to root-first.
    let mut ancestors = ancestors(conn, name)?;
    ancestors.retain(|a| a != name);
    ancestors.reverse();
    group.root_to_parent = ancestors;
    Ok(Some(group))
}

/// Insert unless the name exists; true if inserted.
fn insert_group(conn: &Connection, g: &ThingGroup) -> StoreResult<bool> {
    conn.prepare_cached(
        "INSERT INTO thing_groups (group_name, group_id, parent_group_name, description, attributes, tags, version, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (group_name) DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            g.group_name,
            g.group_id,
            g.parent_group_name,
            g.description,
            to_json(&g.attributes),
            g.tags,
            g.version,
            g.created_at.millis()
        ])
    })
    .map(|n| n == 1)
    .map_err(db_err)
}

/// The group and its ancestors, nearest first.
fn ancestors(conn: &Connection, group: &str) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "WITH RECURSIVE up(name, depth) AS (
             SELECT ?1, 0
             UNION
             SELECT g.parent_group_name, up.depth + 1 FROM thing_groups g JOIN up ON g.group_name = up.name
             WHERE g.parent_group_name IS NOT NULL AND up.depth < 64)
         SELECT name FROM up ORDER BY depth",
    )
    .and_then(|mut s| s.query_map([group], |r| r.get(0))?.collect())
    .map_err(db_err)
}

fn update_thing(conn: &Connection, t: &Thing) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE things SET thing_type_name = ?2, attributes = ?3, version = ?4 WHERE thing_name = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            t.thing_name,
            t.thing_type_name,
            to_json(&t.attributes),
            t.version
        ])
    })
    .map(drop)
    .map_err(db_err)
}

fn update_group(conn: &Connection, g: &ThingGroup) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE thing_groups SET description = ?2, attributes = ?3, version = ?4 WHERE group_name = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            g.group_name,
            g.description,
            to_json(&g.attributes),
            g.version
        ])
    })
    .map(drop)
    .map_err(db_err)
}

fn has_child_groups(conn: &Connection, group: &str) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM thing_groups WHERE parent_group_name = ?1)")
        .and_then(|mut s| s.query_row([group], |r| r.get(0)))
        .map_err(db_err)
}

fn group_members(conn: &Connection, group: &str) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "SELECT thing_name FROM thing_group_members WHERE group_name = ?1 ORDER BY thing_name",
    )
    .and_then(|mut s| s.query_map([group], |r| r.get(0))?.collect())
    .map_err(db_err)
}

fn delete_group_rows(conn: &Connection, group: &str) -> StoreResult<()> {
    for sql in [
        "DELETE FROM thing_group_members WHERE group_name = ?1",
        "DELETE FROM thing_groups WHERE group_name = ?1",
    ] {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([group]))
            .map_err(db_err)?;
    }
    Ok(())
}

/// ListThingGroups in one statement: without a parent, every group (`recursive`) or
/// the roots; with one, its children, and with `recursive` their descendants too.
fn list_groups(
    conn: &Connection,
    f: &ThingGroupFilter,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    let after = page.after.clone().unwrap_or_default();
    let names: Vec<String> = conn
        .prepare_cached(
            "WITH RECURSIVE down(name, depth) AS (
                 SELECT group_name, 1 FROM thing_groups
                 WHERE (?1 IS NULL AND (?2 OR parent_group_name IS NULL)) OR parent_group_name = ?1
                 UNION
                 SELECT g.group_name, down.depth + 1 FROM thing_groups g JOIN down ON g.parent_group_name = down.name
                 WHERE ?2 AND ?1 IS NOT NULL AND down.depth < 64)
             SELECT DISTINCT name FROM down
             WHERE name > ?3 AND (?4 IS NULL OR substr(name, 1, length(?4)) = ?4)
             ORDER BY name LIMIT ?5",
        )
        .and_then(|mut s| {
            s.query_map(
                params![
                    f.parent_group,
                    f.recursive,
                    after,
                    f.name_prefix,
                    (page.limit + 1) as i64
                ],
                |r| r.get(0),
            )?
            .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(names, page.limit, Clone::clone))
}

fn list_groups_of_thing(
    conn: &Connection,
    thing: &str,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    let after = page.after.clone().unwrap_or_default();
    let names: Vec<String> = conn
        .prepare_cached(
            "SELECT group_name FROM thing_group_members WHERE thing_name = ?1 AND group_name > ?2
             ORDER BY group_name LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(params![thing, after, (page.limit + 1) as i64], |r| r.get(0))?
                .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(names, page.limit, Clone::clone))
}

/// Distinct things in `group` and (always) its descendant groups.
fn group_things_recursive(conn: &Connection, group: &str) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "WITH RECURSIVE down(name) AS (
             SELECT ?1 UNION SELECT g.group_name FROM thing_groups g JOIN down ON g.parent_group_name = down.name)
         SELECT DISTINCT thing_name FROM thing_group_members WHERE group_name IN (SELECT name FROM down)
         ORDER BY thing_name",
    )
    .and_then(|mut s| s.query_map([group], |r| r.get(0))?.collect())
    .map_err(db_err)
}

fn list_group_things(
    conn: &Connection,
    group: &str,
    recursive: bool,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    let names: Vec<String> = conn
        .prepare_cached(
            "WITH RECURSIVE down(name) AS (
                 SELECT ?1 UNION SELECT g.group_name FROM thing_groups g JOIN down ON g.parent_group_name = down.name
                 WHERE ?2)
             SELECT DISTINCT thing_name FROM thing_group_members
             WHERE group_name IN (SELECT name FROM down) AND thing_name > ?3
             ORDER BY thing_name LIMIT ?4",
        )
        .and_then(|mut s| {
            s.query_map(
                params![
                    group,
                    recursive,
                    page.after.as_deref().unwrap_or(""),
                    (page.limit + 1) as i64
                ],
                |r| r.get(0),
            )?
            .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(names, page.limit, Clone::clone))
}

fn groups_of_thing(conn: &Connection, thing: &str) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "SELECT group_name FROM thing_group_members WHERE thing_name = ?1 ORDER BY group_name",
    )
    .and_then(|mut s| s.query_map([thing], |r| r.get(0))?.collect())
    .map_err(db_err)
}

/// Insert a membership; false if it already existed.
fn insert_member(conn: &Connection, group: &str, thing: &str) -> StoreResult<bool> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO thing_group_members (group_name, thing_name) VALUES (?1, ?2)",
    )
    .and_then(|mut s| s.execute([group, thing]))
    .map(|n| n == 1)
    .map_err(db_err)
}

/// Delete a membership; false if there was none.
fn delete_member(conn: &Connection, group: &str, thing: &str) -> StoreResult<bool> {
    conn.prepare_cached("DELETE FROM thing_group_members WHERE group_name = ?1 AND thing_name = ?2")
        .and_then(|mut s| s.execute([group, thing]))
        .map(|n| n == 1)
        .map_err(db_err)
}

/// IN_PROGRESS CONTINUOUS jobs that target any of `groups`.
fn continuous_jobs_targeting(conn: &Connection, groups: &[String]) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "SELECT DISTINCT t.job_id FROM job_targets t JOIN jobs j ON j.job_id = t.job_id
         WHERE t.target_type = 'group' AND t.target_name IN (SELECT value FROM json_each(?1))
           AND j.target_selection = 'CONTINUOUS' AND j.status IN ('IN_PROGRESS', 'SCHEDULED')
         ORDER BY t.job_id",
    )
    .and_then(|mut s| s.query_map([to_json(groups)], |r| r.get(0))?.collect())
    .map_err(db_err)
}

/// Whether `job_id` targets `thing` directly or through any of `groups`.
fn job_targets_thing(
    conn: &Connection,
    job_id: &str,
    thing: &str,
    groups: &[String],
) -> StoreResult<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM job_targets WHERE job_id = ?1 AND
            ((target_type = 'thing' AND target_name = ?2) OR
             (target_type = 'group' AND target_name IN (SELECT value FROM json_each(?3)))))",
    )
    .and_then(|mut s| s.query_row(params![job_id, thing, to_json(groups)], |r| r.get(0)))
    .map_err(db_err)
}

/// Record the store's account on first call; refuse another later.
fn claim_account(conn: &Connection, account: &str) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('account_id', ?1)",
        [account],
    )
    .map_err(db_err)?;
    let owner: String = conn
        .query_row(
            "SELECT value FROM store_meta WHERE key = 'account_id'",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    if owner == account {
        Ok(())
    } else {
        Err(iotjobs_core::JobsError::account_mismatch(&owner, account))
    }
}

// ---- certificates ------------------------------------------------------------------------

const CERTIFICATE_COLUMNS: &str = "certificate_id, certificate_pem, status, created_at, \
     last_modified_at, customer_version, generation_id, not_before, not_after";

fn certificate_from_row(r: &Row<'_>) -> rusqlite::Result<Certificate> {
    let status: String = r.get(2)?;
    Ok(Certificate {
        certificate_id: r.get(0)?,
        certificate_pem: r.get(1)?,
        status: CertificateStatus::parse(&status)
            .ok_or_else(|| bad_enum("certificate status", &status))?,
        created_at: ts(r.get(3)?),
        last_modified_at: ts(r.get(4)?),
        customer_version: r.get(5)?,
        generation_id: r.get(6)?,
        not_before: r.get::<_, Option<i64>>(7)?.map(ts),
        not_after: r.get::<_, Option<i64>>(8)?.map(ts),
    })
}

fn select_certificate(conn: &Connection, id: &str) -> StoreResult<Option<Certificate>> {
    conn.prepare_cached(&format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE certificate_id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], certificate_from_row).optional())
    .map_err(db_err)
}

fn insert_certificate(conn: &Connection, c: &Certificate) -> StoreResult<bool> {
    conn.prepare_cached(&format!(
        "INSERT INTO certificates ({CERTIFICATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (certificate_id) DO NOTHING"
    ))
    .and_then(|mut s| {
        s.execute(params![
            c.certificate_id,
            c.certificate_pem,
            c.status.as_str(),
            c.created_at.millis(),
            c.last_modified_at.millis(),
            c.customer_version,
            c.generation_id,
            c.not_before.map(|t| t.millis()),
            c.not_after.map(|t| t.millis()),
        ])
    })
    .map(|n| n == 1)
    .map_err(db_err)
}

fn update_certificate(conn: &Connection, c: &Certificate) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE certificates SET status = ?2, last_modified_at = ?3, customer_version = ?4,
         generation_id = ?5 WHERE certificate_id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            c.certificate_id,
            c.status.as_str(),
            c.last_modified_at.millis(),
            c.customer_version,
            c.generation_id,
        ])
    })
    .map(drop)
    .map_err(db_err)
}

fn delete_certificate_row(conn: &Connection, id: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM certificates WHERE certificate_id = ?1")
        .and_then(|mut s| s.execute([id]))
        .map(drop)
        .map_err(db_err)
}

fn list_certificates(
    conn: &Connection,
    ascending: bool,
    page: &PageRequest,
) -> StoreResult<Page<Certificate>> {
    let (cmp, order, after_id, after_ms) = crate::keyset(page, ascending)?;
    let sql = format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE (created_at, certificate_id) {cmp} (?1, ?2)
         ORDER BY created_at {order}, certificate_id {order} LIMIT ?3"
    );
    let rows: Vec<Certificate> = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(
                params![after_ms, after_id, (page.limit + 1) as i64],
                certificate_from_row,
            )?
            .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(rows, page.limit, |c| {
        compound_key(&c.certificate_id, c.created_at.millis())
    }))
}

fn certificate_things(
    conn: &Connection,
    id: &str,
) -> StoreResult<Vec<(String, ThingPrincipalType)>> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT thing_name, principal_type FROM thing_principals WHERE certificate_id = ?1
             ORDER BY thing_name",
        )
        .and_then(|mut s| s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(db_err)?;
    rows.into_iter()
        .map(|(t, k)| {
            ThingPrincipalType::parse(&k)
                .map(|k| (t, k))
                .ok_or_else(|| db_err(bad_enum("principal type", &k)))
        })
        .collect()
}

fn insert_thing_principal(
    conn: &Connection,
    thing: &str,
    id: &str,
    kind: ThingPrincipalType,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO thing_principals (thing_name, certificate_id, principal_type) VALUES (?1, ?2, ?3)
         ON CONFLICT (thing_name, certificate_id) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![thing, id, kind.as_str()]))
    .map(drop)
    .map_err(db_err)
}

fn delete_thing_principal(conn: &Connection, thing: &str, id: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM thing_principals WHERE thing_name = ?1 AND certificate_id = ?2",
    )
    .and_then(|mut s| s.execute([thing, id]))
    .map(drop)
    .map_err(db_err)
}

fn list_thing_principals(
    conn: &Connection,
    thing: &str,
    page: &PageRequest,
) -> StoreResult<Page<String>> {
    let after = page.after.clone().unwrap_or_default();
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT certificate_id FROM thing_principals WHERE thing_name = ?1 AND certificate_id > ?2
             ORDER BY certificate_id LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(params![thing, after, (page.limit + 1) as i64], |r| r.get(0))?
                .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(ids, page.limit, Clone::clone))
}

fn thing_has_principals(conn: &Connection, thing: &str) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM thing_principals WHERE thing_name = ?1)")
        .and_then(|mut s| s.query_row([thing], |r| r.get(0)))
        .map_err(db_err)
}

// ---- custom job templates --------------------------------------------------------------

const JOB_TEMPLATE_COLUMNS: &str =
    "job_template_id, description, document, document_source, configs, created_at";

fn job_template_from_row(r: &Row<'_>) -> rusqlite::Result<JobTemplate> {
    Ok(JobTemplate {
        job_template_id: r.get(0)?,
        description: r.get(1)?,
        basis: JobBasis {
            document: r.get(2)?,
            document_source: r.get(3)?,
            configs: from_json(&r.get::<_, String>(4)?, "configs")?,
        },
        created_at: ts(r.get(5)?),
    })
}

fn select_job_template(conn: &Connection, id: &str) -> StoreResult<Option<JobTemplate>> {
    conn.prepare_cached(&format!(
        "SELECT {JOB_TEMPLATE_COLUMNS} FROM job_templates WHERE job_template_id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], job_template_from_row).optional())
    .map_err(db_err)
}

fn insert_job_template(conn: &Connection, t: &JobTemplate) -> StoreResult<bool> {
    conn.prepare_cached(&format!(
        "INSERT INTO job_templates ({JOB_TEMPLATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (job_template_id) DO NOTHING"
    ))
    .and_then(|mut s| {
        s.execute(params![
            t.job_template_id,
            t.description,
            t.basis.document,
            t.basis.document_source,
            to_json(&t.basis.configs),
            t.created_at.millis(),
        ])
    })
    .map(|n| n == 1)
    .map_err(db_err)
}

fn delete_job_template(conn: &Connection, id: &str) -> StoreResult<bool> {
    conn.prepare_cached("DELETE FROM job_templates WHERE job_template_id = ?1")
        .and_then(|mut s| s.execute([id]))
        .map(|n| n == 1)
        .map_err(db_err)
}

fn list_job_templates(conn: &Connection, page: &PageRequest) -> StoreResult<Page<JobTemplate>> {
    let after = page.after.clone().unwrap_or_default();
    let rows: Vec<JobTemplate> = conn
        .prepare_cached(&format!(
            "SELECT {JOB_TEMPLATE_COLUMNS} FROM job_templates WHERE job_template_id > ?1
             ORDER BY job_template_id LIMIT ?2"
        ))
        .and_then(|mut s| {
            s.query_map(
                params![after, (page.limit + 1) as i64],
                job_template_from_row,
            )?
            .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(rows, page.limit, |t| {
        t.job_template_id.clone()
    }))
}

/// Wipe every table (the `--enable-reset` endpoint), except the account claim.
fn delete_everything(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(
        "DELETE FROM job_executions; DELETE FROM job_targets; DELETE FROM job_rollout_queue;
         DELETE FROM jobs;
         DELETE FROM thing_group_members; DELETE FROM thing_groups; DELETE FROM things;
         DELETE FROM thing_principals; DELETE FROM certificates; DELETE FROM audit_log;
         DELETE FROM job_templates;",
    )
    .map_err(db_err)
}

/// Every job's per-status execution counters, summed (NULL over no jobs: 0).
const SUM_COUNTERS: &str = "coalesce(sum(n_queued), 0), coalesce(sum(n_in_progress), 0),
    coalesce(sum(n_succeeded), 0), coalesce(sum(n_failed), 0), coalesce(sum(n_timed_out), 0),
    coalesce(sum(n_rejected), 0), coalesce(sum(n_removed), 0), coalesce(sum(n_canceled), 0)";

fn counters_from_sums(r: &Row<'_>) -> rusqlite::Result<JobProcessDetails> {
    Ok(JobProcessDetails {
        queued: r.get(0)?,
        in_progress: r.get(1)?,
        succeeded: r.get(2)?,
        failed: r.get(3)?,
        timed_out: r.get(4)?,
        rejected: r.get(5)?,
        removed: r.get(6)?,
        canceled: r.get(7)?,
    })
}

// ---- the audit log ------------------------------------------------------------------------

/// Write a transaction's audit records (inside it, before COMMIT).
pub(super) fn insert_audit(
    conn: &Connection,
    actor: &Actor,
    records: &[(Timestamp, AuditChange)],
) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO audit_log (at, principal, source, operation, request_id, subject,
               job_id, name, old_status, new_status, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(db_err)?;
    for (at, c) in records {
        stmt.execute(params![
            at.millis(),
            actor.principal,
            actor.source,
            actor.operation,
            actor.request_id,
            c.subject.as_str(),
            c.job_id,
            c.name,
            c.old_status,
            c.new_status,
            c.detail,
        ])
        .map_err(db_err)?;
    }
    Ok(())
}

fn list_audit(
    conn: &Connection,
    f: &AuditFilter,
    page: &PageRequest,
) -> StoreResult<Page<AuditRecord>> {
    let after = crate::audit_cursor(page)?;
    let rows: Vec<AuditRecord> = conn
        .prepare_cached(
            "SELECT seq, at, principal, source, operation, request_id, subject, job_id, name,
                    old_status, new_status, detail
             FROM audit_log
             WHERE seq > ?1
               AND (?2 IS NULL OR job_id = ?2)
               AND (?3 IS NULL OR name = ?3)
               AND (?4 IS NULL OR principal = ?4)
               AND (?5 IS NULL OR at >= ?5)
               AND (?6 IS NULL OR at < ?6)
             ORDER BY seq LIMIT ?7",
        )
        .and_then(|mut s| {
            s.query_map(
                params![
                    after,
                    f.job_id,
                    f.name,
                    f.principal,
                    f.since.map(Timestamp::millis),
                    f.until.map(Timestamp::millis),
                    (page.limit + 1) as i64
                ],
                |r| {
                    Ok(AuditRecord {
                        seq: r.get(0)?,
                        at: Timestamp(r.get(1)?),
                        actor: Actor {
                            principal: r.get(2)?,
                            source: r.get(3)?,
                            operation: r.get(4)?,
                            request_id: r.get(5)?,
                        },
                        change: AuditChange {
                            subject: AuditSubject::parse(&r.get::<_, String>(6)?)
                                .unwrap_or(AuditSubject::Job),
                            job_id: r.get(7)?,
                            name: r.get(8)?,
                            old_status: r.get(9)?,
                            new_status: r.get(10)?,
                            detail: r.get(11)?,
                        },
                    })
                },
            )?
            .collect()
        })
        .map_err(db_err)?;
    Ok(Page::from_rows(rows, page.limit, |r| r.seq.to_string()))
}

// ---- the statement interface ------------------------------------------------------------

/// A connection inside the writer's batch transaction (or a reader's snapshot): the
/// statements above as the backend-neutral [`Tx`]. Locks are ignored: the single
/// writer already serializes every change.
pub(super) struct SqliteTx<'c>(
    pub(super) &'c Connection,
    /// Things whose executions this transaction changed (see [`Tx::touched`]).
    pub(super) std::cell::RefCell<crate::Changed>,
);

impl Tx for SqliteTx<'_> {
    fn touched(&self, thing: &str, how: Touch<'_>) {
        self.1.borrow_mut().things.push(how.record(thing));
    }
    fn announce(&self, event: iotjobs_core::JobsEvent) {
        self.1.borrow_mut().events.push(event);
    }
    fn audit(&self, at: Timestamp, change: AuditChange) {
        self.1.borrow_mut().audit.push((at, change));
    }
    async fn count_executions(&self) -> StoreResult<JobProcessDetails> {
        self.0
            .prepare_cached(&format!("SELECT {SUM_COUNTERS} FROM jobs"))
            .and_then(|mut s| s.query_row([], counters_from_sums))
            .map_err(db_err)
    }
    async fn list_audit(
        &self,
        f: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        list_audit(self.0, f, page)
    }
    async fn select_thing(&self, name: &str, _: Lock) -> StoreResult<Option<Thing>> {
        select_thing(self.0, name)
    }
    async fn insert_thing(&self, thing: &Thing) -> StoreResult<bool> {
        insert_thing(self.0, thing)
    }
    async fn list_things(&self, f: &ThingFilter, page: &PageRequest) -> StoreResult<Page<Thing>> {
        list_things(self.0, f, page)
    }
    async fn delete_thing_rows(&self, name: &str) -> StoreResult<()> {
        delete_thing_rows(self.0, name)
    }
    async fn update_thing(&self, thing: &Thing) -> StoreResult<()> {
        update_thing(self.0, thing)
    }
    async fn select_group(&self, name: &str, _: Lock) -> StoreResult<Option<ThingGroup>> {
        select_group(self.0, name)
    }
    async fn update_group(&self, group: &ThingGroup) -> StoreResult<()> {
        update_group(self.0, group)
    }
    async fn has_child_groups(&self, group: &str) -> StoreResult<bool> {
        has_child_groups(self.0, group)
    }
    async fn group_members(&self, group: &str) -> StoreResult<Vec<String>> {
        group_members(self.0, group)
    }
    async fn delete_group_rows(&self, group: &str) -> StoreResult<()> {
        delete_group_rows(self.0, group)
    }
    async fn list_groups(
        &self,
        f: &ThingGroupFilter,
        p: &PageRequest,
    ) -> StoreResult<Page<String>> {
        list_groups(self.0, f, p)
    }
    async fn list_groups_of_thing(&self, t: &str, p: &PageRequest) -> StoreResult<Page<String>> {
        list_groups_of_thing(self.0, t, p)
    }
    async fn insert_group(&self, group: &ThingGroup) -> StoreResult<bool> {
        insert_group(self.0, group)
    }
    async fn ancestors(&self, group: &str) -> StoreResult<Vec<String>> {
        ancestors(self.0, group)
    }
    async fn group_things_recursive(&self, group: &str) -> StoreResult<Vec<String>> {
        group_things_recursive(self.0, group)
    }
    async fn list_group_things(
        &self,
        g: &str,
        all: bool,
        p: &PageRequest,
    ) -> StoreResult<Page<String>> {
        list_group_things(self.0, g, all, p)
    }
    async fn groups_of_thing(&self, thing: &str) -> StoreResult<Vec<String>> {
        groups_of_thing(self.0, thing)
    }
    async fn insert_member(&self, group: &str, thing: &str) -> StoreResult<bool> {
        insert_member(self.0, group, thing)
    }
    async fn delete_member(&self, group: &str, thing: &str) -> StoreResult<bool> {
        delete_member(self.0, group, thing)
    }
    async fn continuous_jobs_targeting(&self, groups: &[String]) -> StoreResult<Vec<String>> {
        continuous_jobs_targeting(self.0, groups)
    }
    async fn job_targets_thing(&self, job: &str, thing: &str, gs: &[String]) -> StoreResult<bool> {
        job_targets_thing(self.0, job, thing, gs)
    }
    async fn select_job_progress(&self, id: &str, _: Lock) -> StoreResult<Option<JobProgress>> {
        select_job_progress(self.0, id)
    }
    async fn select_job(&self, id: &str, _: Lock) -> StoreResult<Option<Job>> {
        select_job(self.0, id)
    }
    async fn insert_job(&self, job: &Job) -> StoreResult<bool> {
        insert_job(self.0, job)
    }
    async fn insert_job_target(&self, job: &str, kind: &str, name: &str) -> StoreResult<()> {
        insert_job_target(self.0, job, kind, name)
    }
    async fn update_job_progress(&self, progress: &JobProgress) -> StoreResult<()> {
        update_job_progress(self.0, progress)
    }
    async fn update_job(&self, job: &Job) -> StoreResult<()> {
        update_job(self.0, job)
    }
    async fn update_job_targets(&self, job_id: &str, targets: &[String]) -> StoreResult<()> {
        self.0
            .prepare_cached("UPDATE jobs SET targets = ?2 WHERE job_id = ?1")
            .and_then(|mut s| s.execute(params![job_id, to_json(&targets)]))
            .map(drop)
            .map_err(db_err)
    }
    async fn lock_job_deletions(&self) -> StoreResult<()> {
        Ok(()) // the writer thread is the lock
    }
    async fn count_jobs_deleting(&self) -> StoreResult<usize> {
        count_jobs_deleting(self.0)
    }
    async fn list_jobs(&self, f: &JobFilter, page: &PageRequest) -> StoreResult<Page<Job>> {
        list_jobs(self.0, f, page)
    }
    async fn jobs_with_unfinished_cancel(&self, limit: usize) -> StoreResult<Vec<String>> {
        jobs_with_unfinished_cancel(self.0, limit)
    }
    async fn jobs_deleting(&self) -> StoreResult<Vec<String>> {
        jobs_deleting(self.0)
    }
    async fn purge_job_executions(
        &self,
        job: &str,
        limit: usize,
    ) -> StoreResult<(usize, Vec<(String, i64)>)> {
        purge_job_executions(self.0, job, limit)
    }
    async fn delete_job_rows(&self, job: &str) -> StoreResult<()> {
        delete_job_rows(self.0, job)
    }
    async fn insert_rollout_targets(&self, job: &str, things: &[String]) -> StoreResult<()> {
        insert_rollout_targets(self.0, job, things)
    }
    async fn take_rollout_targets(&self, job: &str, limit: usize) -> StoreResult<Vec<String>> {
        take_rollout_targets(self.0, job, limit)
    }
    async fn delete_rollout_targets(&self, job: &str) -> StoreResult<()> {
        delete_rollout_targets(self.0, job)
    }
    async fn jobs_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<String>> {
        jobs_due(self.0, now, limit)
    }
    async fn next_job_wake(&self) -> StoreResult<Option<Timestamp>> {
        next_job_wake(self.0)
    }
    async fn select_execution(
        &self,
        s: &ExecutionSelector,
        _: Lock,
    ) -> StoreResult<Option<JobExecution>> {
        select_execution(self.0, s)
    }
    async fn select_pending(&self, thing: &str, limit: usize) -> StoreResult<Vec<JobExecution>> {
        select_pending(self.0, thing, limit)
    }
    async fn select_all_pending(&self, thing: &str) -> StoreResult<Vec<JobExecution>> {
        select_all_pending(self.0, thing)
    }
    async fn select_job_executions_in(
        &self,
        job: &str,
        st: &[JobExecutionStatus],
        n: usize,
    ) -> StoreResult<Vec<JobExecution>> {
        select_job_executions_in(self.0, job, st, n)
    }
    async fn select_timed_out(&self, now: Timestamp, n: usize) -> StoreResult<Vec<JobExecution>> {
        select_timed_out(self.0, now, n)
    }
    async fn list_executions_for_job(
        &self,
        job: &str,
        st: Option<JobExecutionStatus>,
        p: &PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        list_executions_for_job(self.0, job, st, p)
    }
    async fn list_executions_for_thing(
        &self,
        q: &ThingExecutions<'_>,
        p: &PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        list_executions_for_thing(self.0, q.thing, q.status, q.job_id, p)
    }
    async fn insert_execution(&self, execution: &JobExecution) -> StoreResult<()> {
        insert_execution(self.0, execution)
    }
    async fn insert_queued_executions(
        &self,
        job: &str,
        things: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        insert_queued_executions(self.0, job, things, now)
    }
    async fn update_execution(&self, execution: &JobExecution) -> StoreResult<()> {
        update_execution(self.0, execution)
    }
    async fn delete_execution(&self, execution: &JobExecution) -> StoreResult<()> {
        delete_execution(self.0, execution)
    }
    async fn nth_execution_key(
        &self,
        job: &str,
        after: Option<&ExecutionKey>,
        n: usize,
    ) -> StoreResult<Option<ExecutionKey>> {
        nth_execution_key(self.0, job, after, n)
    }
    async fn update_executions_uniform(
        &self,
        job: &str,
        after: Option<&ExecutionKey>,
        upto: Option<&ExecutionKey>,
        change: &iotjobs_core::UniformChange,
    ) -> StoreResult<Vec<JobExecution>> {
        update_executions_uniform(self.0, job, after, upto, change)
    }
    async fn claim_account(&self, account: &str) -> StoreResult<()> {
        claim_account(self.0, account)
    }
    async fn select_certificate(&self, id: &str, _: Lock) -> StoreResult<Option<Certificate>> {
        select_certificate(self.0, id)
    }
    async fn insert_certificate(&self, cert: &Certificate) -> StoreResult<bool> {
        insert_certificate(self.0, cert)
    }
    async fn update_certificate(&self, cert: &Certificate) -> StoreResult<()> {
        update_certificate(self.0, cert)
    }
    async fn delete_certificate_row(&self, id: &str) -> StoreResult<()> {
        delete_certificate_row(self.0, id)
    }
    async fn list_certificates(
        &self,
        ascending: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<Certificate>> {
        list_certificates(self.0, ascending, page)
    }
    async fn certificate_things(&self, id: &str) -> StoreResult<Vec<(String, ThingPrincipalType)>> {
        certificate_things(self.0, id)
    }
    async fn insert_thing_principal(
        &self,
        t: &str,
        c: &str,
        k: ThingPrincipalType,
    ) -> StoreResult<()> {
        insert_thing_principal(self.0, t, c, k)
    }
    async fn delete_thing_principal(&self, thing: &str, id: &str) -> StoreResult<()> {
        delete_thing_principal(self.0, thing, id)
    }
    async fn list_thing_principals(
        &self,
        thing: &str,
        p: &PageRequest,
    ) -> StoreResult<Page<String>> {
        list_thing_principals(self.0, thing, p)
    }
    async fn thing_has_principals(&self, thing: &str) -> StoreResult<bool> {
        thing_has_principals(self.0, thing)
    }
    async fn select_job_template(&self, id: &str) -> StoreResult<Option<JobTemplate>> {
        select_job_template(self.0, id)
    }
    async fn insert_job_template(&self, template: &JobTemplate) -> StoreResult<bool> {
        insert_job_template(self.0, template)
    }
    async fn delete_job_template(&self, id: &str) -> StoreResult<bool> {
        delete_job_template(self.0, id)
    }
    async fn list_job_templates(&self, page: &PageRequest) -> StoreResult<Page<JobTemplate>> {
        list_job_templates(self.0, page)
    }
    async fn delete_everything(&self) -> StoreResult<()> {
        delete_everything(self.0)
    }
}
