//! Row mapping for the SQLite backend: one function per statement, so the SQL the
//! backend runs can be read in one place. No rule is decided here.

use super::db_err;
use iotjobs_core::execution::{JobExecution, JobExecutionStatus, StatusDetails};
use iotjobs_core::job::{Job, JobProcessDetails, JobProgress, JobStatus, TargetSelection};
use iotjobs_core::store::{ExecutionSelector, StoreResult};
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

pub(super) fn select_thing(conn: &Connection, name: &str) -> StoreResult<Option<Thing>> {
    conn.prepare_cached(
        "SELECT thing_name, thing_id, thing_type_name, attributes, billing_group_name, version, created_at
         FROM things WHERE thing_name = ?1",
    )
    .and_then(|mut s| {
        s.query_row([name], |r| {
            Ok(Thing {
                thing_name: r.get(0)?,
                thing_id: r.get(1)?,
                thing_type_name: r.get(2)?,
                attributes: from_json::<BTreeMap<String, String>>(&r.get::<_, String>(3)?, "attributes")?,
                billing_group_name: r.get(4)?,
                version: r.get(5)?,
                created_at: ts(r.get(6)?),
            })
        })
        .optional()
    })
    .map_err(db_err)
}

pub(super) fn insert_thing(conn: &Connection, t: &Thing) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO things (thing_name, thing_id, thing_type_name, attributes, billing_group_name, version, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
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
    .map(drop)
    .map_err(db_err)
}

// ---- jobs -----------------------------------------------------------------------

const PROGRESS_COLUMNS: &str = "job_id, status, target_selection, in_progress_timeout_minutes, \
     n_queued, n_in_progress, n_succeeded, n_failed, n_timed_out, n_rejected, n_removed, n_canceled, \
     last_updated_at, completed_at";

fn progress_from_row(r: &Row<'_>) -> rusqlite::Result<JobProgress> {
    let status: String = r.get(1)?;
    let selection: String = r.get(2)?;
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
    })
}

pub(super) fn select_job_progress(
    conn: &Connection,
    job_id: &str,
) -> StoreResult<Option<JobProgress>> {
    conn.prepare_cached(&format!(
        "SELECT {PROGRESS_COLUMNS} FROM jobs WHERE job_id = ?1"
    ))
    .and_then(|mut s| s.query_row([job_id], progress_from_row).optional())
    .map_err(db_err)
}

pub(super) fn select_job(conn: &Connection, job_id: &str) -> StoreResult<Option<Job>> {
    conn.prepare_cached(&format!(
        "SELECT {PROGRESS_COLUMNS}, targets, document, document_source, description, force_canceled, \
         reason_code, comment, created_at, configs FROM jobs WHERE job_id = ?1"
    ))
    .and_then(|mut s| {
        s.query_row([job_id], |r| {
            Ok(Job {
                progress: progress_from_row(r)?,
                targets: from_json(&r.get::<_, String>(14)?, "targets")?,
                document: r.get(15)?,
                document_source: r.get(16)?,
                description: r.get(17)?,
                force_canceled: r.get(18)?,
                reason_code: r.get(19)?,
                comment: r.get(20)?,
                created_at: ts(r.get(21)?),
                configs: from_json(&r.get::<_, String>(22)?, "configs")?,
            })
        })
        .optional()
    })
    .map_err(db_err)
}

pub(super) fn insert_job(conn: &Connection, job: &Job) -> StoreResult<()> {
    let p = &job.progress;
    let d = &p.process_details;
    conn.prepare_cached(&format!(
        "INSERT INTO jobs ({PROGRESS_COLUMNS}, targets, document, document_source, description, \
         force_canceled, reason_code, comment, created_at, configs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
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
    .map(drop)
    .map_err(db_err)
}

pub(super) fn update_job_progress(conn: &Connection, p: &JobProgress) -> StoreResult<()> {
    let d = &p.process_details;
    conn.prepare_cached(
        "UPDATE jobs SET status = ?2, n_queued = ?3, n_in_progress = ?4, n_succeeded = ?5, n_failed = ?6,
         n_timed_out = ?7, n_rejected = ?8, n_removed = ?9, n_canceled = ?10, last_updated_at = ?11,
         completed_at = ?12 WHERE job_id = ?1",
    )
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
        ])
    })
    .map(drop)
    .map_err(db_err)
}

// ---- job executions ---------------------------------------------------------------

const EXECUTION_COLUMNS: &str = "thing_name, job_id, execution_number, status, force_canceled, \
     status_details, queued_at, started_at, last_updated_at, version_number, in_progress_deadline, step_deadline";

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
    })
}

pub(super) fn select_execution(
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

pub(super) fn select_pending(
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

pub(super) fn insert_execution(conn: &Connection, e: &JobExecution) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO job_executions ({EXECUTION_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))
    .and_then(|mut s| s.execute(rusqlite::params_from_iter(execution_params(e))))
    .map(drop)
    .map_err(db_err)
}

pub(super) fn update_execution(conn: &Connection, e: &JobExecution) -> StoreResult<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE job_executions SET status = ?4, force_canceled = ?5, status_details = ?6,
             queued_at = ?7, started_at = ?8, last_updated_at = ?9, version_number = ?10,
             in_progress_deadline = ?11, step_deadline = ?12
             WHERE thing_name = ?1 AND job_id = ?2 AND execution_number = ?3",
        )
        .and_then(|mut s| s.execute(rusqlite::params_from_iter(execution_params(e))))
        .map_err(db_err)?;
    if changed != 1 {
        return Err(JobsError::Internal(format!(
            "execution {}/{} vanished during update",
            e.thing_name, e.job_id
        )));
    }
    Ok(())
}

pub(super) fn delete_execution(conn: &Connection, e: &JobExecution) -> StoreResult<()> {
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
    ]
}

/// Say which part of "the execution of job J on thing T" does not exist: the job, the
/// thing, or only the execution. Runs only on the error path.
pub(super) fn explain_missing_execution(
    conn: &Connection,
    thing_name: &str,
    job_id: &str,
) -> JobsError {
    let job = select_job_progress(conn, job_id);
    if matches!(job, Ok(None)) {
        return JobsError::NotFound(format!("Job {job_id} does not exist"));
    }
    if matches!(select_thing(conn, thing_name), Ok(None)) {
        return JobsError::NotFound(format!("Thing {thing_name} does not exist"));
    }
    JobsError::NotFound(format!(
        "Job execution for thing {thing_name} within job {job_id} does not exist"
    ))
}
