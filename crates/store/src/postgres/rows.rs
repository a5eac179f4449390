//! Row mapping for the PostgreSQL backend: one method per statement on [`Tx`], so the SQL
//! can be read in one place. No rule is decided here.

use super::pg_err;
use crate::policy_codec;
use crate::tx::{Lock, ThingExecutions, Touch, Tx};
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
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// A transaction with the backend's statements as methods, run with as few round trips
/// as the statements allow:
///
/// - `BEGIN` is not a round trip of its own: it is sent with the transaction's first
///   statement, in one pipeline (tokio-postgres pipelines requests issued before their
///   answers are awaited).
/// - The writes of an execution change (`UPDATE job_executions`, `UPDATE jobs`) are
///   deferred ([`Deferred`]): they go out with the transaction's next statement, or with
///   the audit insert, the NOTIFYs and `COMMIT` in the final pipeline. Every statement
///   still runs in the order the operation issued it, and every read sees the writes
///   before it; a deferred write that fails aborts the transaction, so the `COMMIT`
///   behind it rolls back, and its error is the transaction's.
/// - A change of one execution reads the execution and its job in one statement
///   ([`Tx::select_execution_for_change`]).
///
/// A CancelJobExecution is then two round trips (it was seven).
pub(crate) struct PgTx<'a>(
    pub(crate) &'a deadpool_postgres::Client,
    /// Things whose executions this transaction changed (see [`Tx::touched`]).
    pub(crate) std::sync::Mutex<crate::Changed>,
    /// What is sent but not yet awaited, and where the transaction stands.
    pub(crate) std::sync::Mutex<Local>,
);

/// [`PgTx`]'s own state.
#[derive(Default)]
pub(crate) struct Local {
    /// `BEGIN` was sent (a rollback is owed unless `COMMIT` follows).
    begin_sent: bool,
    /// `BEGIN` succeeded: a statement of this transaction may have run (a write is then
    /// not retried after a lost connection).
    pub(crate) begun: bool,
    /// `COMMIT` was sent.
    done: bool,
    /// Writes not sent yet, in order.
    deferred: Vec<Deferred>,
    /// The job row read and locked with an execution by
    /// [`Tx::select_execution_for_change`], for the next `select_job_progress`.
    job: Option<JobProgress>,
}

/// A write sent with the next statement rather than on its own.
enum Deferred {
    Execution(Box<JobExecution>),
    Progress(Box<JobProgress>),
}

/// A statement's answer, in a pipeline: the error, or the row count.
type Sent<'f> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'f>,
>;

/// Poll `first` in order, then `last`, until all are done: each sends its request on
/// its first poll (prepared statements, simple queries), so they go out in this order
/// without waiting for each other's answers.
async fn pipelined<T>(
    first: Vec<Sent<'_>>,
    last: impl std::future::Future<Output = T>,
) -> (Vec<Result<u64, tokio_postgres::Error>>, T) {
    use std::task::Poll;
    let mut first: Vec<(Sent<'_>, Option<Result<u64, tokio_postgres::Error>>)> =
        first.into_iter().map(|f| (f, None)).collect();
    let mut last = std::pin::pin!(last);
    let mut out = None;
    std::future::poll_fn(|cx| {
        for (f, done) in first.iter_mut() {
            if done.is_none()
                && let Poll::Ready(r) = f.as_mut().poll(cx)
            {
                *done = Some(r);
            }
        }
        if out.is_none()
            && let Poll::Ready(r) = last.as_mut().poll(cx)
        {
            out = Some(r);
        }
        if out.is_some() && first.iter().all(|(_, d)| d.is_some()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let results = first.into_iter().filter_map(|(_, d)| d).collect();
    (results, out.expect("polled to completion"))
}

/// The update of one execution row, failing (division by zero, reported as a bug) when
/// no row matched: a deferred write's row count is known only after COMMIT was sent.
const UPDATE_EXECUTION: &str = "WITH u AS (
     UPDATE job_executions SET status = $4, force_canceled = $5, status_details = $6,
       queued_at = $7, started_at = $8, last_updated_at = $9, version_number = $10,
       in_progress_deadline = $11, step_deadline = $12, retry_attempt = $13,
       retry_timed_out = $14, timeout_at = $15
     WHERE thing_name = $1 AND job_id = $2 AND execution_number = $3 RETURNING 1)
   SELECT 1 / count(*)::int FROM u";

const UPDATE_PROGRESS: &str = "UPDATE jobs SET status = $2, n_queued = $3, n_in_progress = $4, n_succeeded = $5, n_failed = $6,
     n_timed_out = $7, n_rejected = $8, n_removed = $9, n_canceled = $10, last_updated_at = $11,
     completed_at = $12, rollout_waiting = $13, rollout_notified = $14,
     rollout_started_at = $15, rollout_bucket = $16, rollout_in_bucket = $17, rollout_ended = $18,
     wake_at = $19, rollout_bucket_rate = $20 WHERE job_id = $1";

/// A deferred write's error: the failed row check of [`UPDATE_EXECUTION`] is a bug.
fn deferred_err(e: tokio_postgres::Error) -> JobsError {
    if e.code() == Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO) {
        JobsError::bug("an execution vanished during its update")
    } else {
        pg_err(e)
    }
}

impl Drop for PgTx<'_> {
    /// A transaction neither committed nor finished: roll it back. The request is queued
    /// on the connection now (before the connection can serve anyone else) and its
    /// answer not awaited, as `tokio_postgres::Transaction` does.
    fn drop(&mut self) {
        let Ok(local) = self.2.get_mut() else { return };
        if local.begin_sent && !local.done {
            let mut rollback = std::pin::pin!(self.0.batch_execute("ROLLBACK"));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let _ = rollback.as_mut().poll(&mut cx);
        }
    }
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(s)
        .map_err(|e| JobsError::storage("postgres", format_args!("bad stored {what}: {e}")))
}

fn ts(v: i64) -> Timestamp {
    Timestamp(v)
}

fn bad(what: &str, v: &str) -> JobsError {
    JobsError::storage("postgres", format_args!("unknown stored {what} {v:?}"))
}

/// Advisory lock key that serializes DeleteJob across nodes (see
/// [`Tx::lock_job_deletions`]); next to the migration lock's key.
const JOB_DELETION_LOCK: i64 = super::MIGRATION_LOCK + 1;

const THING_COLUMNS: &str = "thing_name, thing_id, thing_type_name, attributes::text, billing_group_name, version, created_at";

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

const JOB_COLUMNS: &str = concat!(
    progress_columns!(),
    ", targets, document, document_source, description, force_canceled, \
     reason_code, comment, created_at, configs"
);

const EXECUTION_COLUMNS: &str = "thing_name, job_id, execution_number, status, force_canceled, \
     status_details, queued_at, started_at, last_updated_at, version_number, in_progress_deadline, step_deadline, \
     retry_attempt, retry_timed_out";

const CERTIFICATE_COLUMNS: &str = "certificate_id, certificate_pem, status, created_at, \
     last_modified_at, customer_version, generation_id, not_before, not_after";

const JOB_TEMPLATE_COLUMNS: &str =
    "job_template_id, description, document, document_source, configs, created_at";

fn job_template_from_row(r: &Row) -> StoreResult<JobTemplate> {
    Ok(JobTemplate {
        job_template_id: r.get(0),
        description: r.get(1),
        basis: JobBasis {
            document: r.get(2),
            document_source: r.get(3),
            configs: from_json(r.get(4), "configs")?,
        },
        created_at: ts(r.get(5)),
    })
}

fn certificate_from_row(r: &Row) -> StoreResult<Certificate> {
    let status: String = r.get(2);
    Ok(Certificate {
        certificate_id: r.get(0),
        certificate_pem: r.get(1),
        status: CertificateStatus::parse(&status)
            .ok_or_else(|| bad("certificate status", &status))?,
        created_at: ts(r.get(3)),
        last_modified_at: ts(r.get(4)),
        customer_version: r.get(5),
        generation_id: r.get(6),
        not_before: r.get::<_, Option<i64>>(7).map(ts),
        not_after: r.get::<_, Option<i64>>(8).map(ts),
    })
}

fn thing_from_row(r: &Row) -> StoreResult<Thing> {
    Ok(Thing {
        thing_name: r.get(0),
        thing_id: r.get(1),
        thing_type_name: r.get(2),
        attributes: from_json(r.get::<_, &str>(3), "attributes")?,
        billing_group_name: r.get(4),
        version: r.get(5),
        created_at: ts(r.get(6)),
    })
}

fn progress_from_row(r: &Row) -> StoreResult<JobProgress> {
    progress_from_row_at(r, 0)
}

/// The progress columns from column `at` on.
fn progress_from_row_at(r: &Row, at: usize) -> StoreResult<JobProgress> {
    let status: &str = r.get(at + 1);
    let selection: &str = r.get(at + 2);
    Ok(JobProgress {
        job_id: r.get(at),
        status: JobStatus::parse(status).ok_or_else(|| bad("job status", status))?,
        target_selection: TargetSelection::parse(selection)
            .ok_or_else(|| bad("target selection", selection))?,
        in_progress_timeout_minutes: r.get(at + 3),
        process_details: JobProcessDetails {
            queued: r.get(at + 4),
            in_progress: r.get(at + 5),
            succeeded: r.get(at + 6),
            failed: r.get(at + 7),
            timed_out: r.get(at + 8),
            rejected: r.get(at + 9),
            removed: r.get(at + 10),
            canceled: r.get(at + 11),
        },
        last_updated_at: ts(r.get(at + 12)),
        completed_at: r.get::<_, Option<i64>>(at + 13).map(ts),
        policy: policy_codec::decode(r.get::<_, Option<&str>>(at + 14), "postgres")?,
        rollout: Rollout {
            waiting: r.get(at + 15),
            notified: r.get(at + 16),
            started_at: r.get::<_, Option<i64>>(at + 17).map(ts),
            bucket: r.get(at + 18),
            in_bucket: r.get(at + 19),
            ended: r.get(at + 20),
            wake_at: r.get::<_, Option<i64>>(at + 21).map(ts),
            bucket_rate: r.get(at + 22),
        },
    })
}

fn job_from_row(r: &Row) -> StoreResult<Job> {
    const D: usize = N_PROGRESS;
    Ok(Job {
        progress: progress_from_row(r)?,
        targets: from_json(r.get::<_, &str>(D), "targets")?,
        document: r.get(D + 1),
        document_source: r.get(D + 2),
        description: r.get(D + 3),
        force_canceled: r.get(D + 4),
        reason_code: r.get(D + 5),
        comment: r.get(D + 6),
        created_at: ts(r.get(D + 7)),
        configs: from_json(r.get::<_, &str>(D + 8), "configs")?,
    })
}

fn execution_from_row(r: &Row) -> StoreResult<JobExecution> {
    let status: &str = r.get(3);
    Ok(JobExecution {
        thing_name: r.get(0),
        job_id: r.get(1),
        execution_number: r.get(2),
        status: JobExecutionStatus::parse(status).ok_or_else(|| bad("execution status", status))?,
        force_canceled: r.get(4),
        status_details: from_json::<StatusDetails>(r.get::<_, &str>(5), "status details")?,
        queued_at: ts(r.get(6)),
        started_at: r.get::<_, Option<i64>>(7).map(ts),
        last_updated_at: ts(r.get(8)),
        version_number: r.get(9),
        in_progress_deadline: r.get::<_, Option<i64>>(10).map(ts),
        step_deadline: r.get::<_, Option<i64>>(11).map(ts),
        retry_attempt: r.get(12),
        retry_timed_out: r.get(13),
    })
}

fn executions(rows: Vec<Row>) -> StoreResult<Vec<JobExecution>> {
    rows.iter().map(execution_from_row).collect()
}

impl PgTx<'_> {
    pub(crate) fn new(client: &deadpool_postgres::Client) -> PgTx<'_> {
        PgTx(client, Default::default(), Default::default())
    }

    /// Whether `BEGIN` succeeded (see [`Local::begun`]).
    pub(crate) fn begun(&self) -> bool {
        self.2.lock().is_ok_and(|l| l.begun)
    }

    /// Commit; returns what the transaction changed. Other nodes hear of the things
    /// through `NOTIFY channel` in the same transaction, which PostgreSQL delivers only
    /// if the transaction commits (newline-separated thing names, in payloads under
    /// PostgreSQL's 8,000-byte limit). The deferred writes, the audit records, the
    /// NOTIFYs and `COMMIT` go out in one pipeline.
    pub(crate) async fn commit(
        &self,
        channel: &str,
        node: &str,
        peers_listen: bool,
        actor: &Actor,
    ) -> StoreResult<crate::Changed> {
        let changed = std::mem::take(&mut *self.1.lock().unwrap_or_else(|e| e.into_inner()));
        let mut payloads = Vec::new();
        if peers_listen {
            let mut things: Vec<&str> = changed
                .things
                .iter()
                .map(|(thing, _)| thing.as_str())
                .collect();
            things.sort_unstable();
            things.dedup();
            // `node\nthing\nthing…`: the listener skips its own node's changes, which it
            // announced already.
            let mut payload = String::new();
            for thing in things {
                if payload.len() + thing.len() + 1 > 7_000 {
                    payloads.push(std::mem::take(&mut payload));
                }
                if payload.is_empty() {
                    payload.push_str(node);
                }
                payload.push('\n');
                payload.push_str(thing);
            }
            if !payload.is_empty() {
                payloads.push(payload);
            }
        }
        self.finish(&changed, actor, channel, &payloads).await?;
        Ok(changed)
    }

    /// The final pipeline: the deferred writes, the audit records, the NOTIFYs, `COMMIT`
    /// (nothing at all when no statement was sent and none is left).
    async fn finish(
        &self,
        changed: &crate::Changed,
        actor: &Actor,
        channel: &str,
        payloads: &[String],
    ) -> StoreResult<()> {
        let audit = AuditColumns::new(&changed.audit);
        let notify = if payloads.is_empty() {
            None
        } else {
            Some(self.prepare("SELECT pg_notify($1, $2)").await?)
        };
        let insert = match &audit {
            Some(_) => Some(self.prepare(INSERT_AUDIT).await?),
            None => None,
        };
        let mut last: Vec<Sent<'_>> = Vec::new();
        if let (Some(stmt), Some(a)) = (&insert, &audit) {
            last.push(Box::pin(async move {
                self.0.execute(stmt, &a.params(actor)).await
            }));
        }
        if let Some(stmt) = &notify {
            for payload in payloads {
                last.push(Box::pin(async move {
                    self.0.execute(stmt, &[&channel, payload]).await
                }));
            }
        }
        let begun = self.2.lock().is_ok_and(|l| l.begin_sent);
        if !begun && last.is_empty() && self.no_deferred() {
            return Ok(());
        }
        self.send(last, async {
            if let Ok(mut l) = self.2.lock() {
                l.done = true;
            }
            self.0.batch_execute("COMMIT").await
        })
        .await
    }

    fn no_deferred(&self) -> bool {
        self.2.lock().is_ok_and(|l| l.deferred.is_empty())
    }

    async fn prepare(&self, sql: &str) -> StoreResult<tokio_postgres::Statement> {
        self.0.prepare_cached(sql).await.map_err(pg_err)
    }

    /// Send `BEGIN` (if not sent yet), the deferred writes, then `more`, then `last`, in
    /// one pipeline; the first error among them is the result, else `last`'s.
    async fn send<T>(
        &self,
        more: Vec<Sent<'_>>,
        last: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        let (begin, deferred) = {
            let mut l = self.2.lock().unwrap_or_else(|e| e.into_inner());
            (!l.begin_sent, std::mem::take(&mut l.deferred))
        };
        // Statements are prepared before the pipeline (a prepared statement's request
        // goes out on its first poll; preparing is a round trip only on a connection's
        // first use of the statement).
        let mut statements = Vec::with_capacity(deferred.len());
        for d in &deferred {
            statements.push(self.prepare(d.sql()).await?);
        }
        let details: Vec<String> = deferred.iter().map(Deferred::details).collect();
        let params: Vec<_> = deferred
            .iter()
            .zip(&details)
            .map(|(d, details)| d.params(details))
            .collect();
        let mut first: Vec<Sent<'_>> = Vec::with_capacity(deferred.len() + more.len() + 1);
        if begin {
            if let Ok(mut l) = self.2.lock() {
                l.begin_sent = true;
            }
            first.push(Box::pin(async {
                self.0.batch_execute("BEGIN").await.map(|()| 0)
            }));
        }
        for (stmt, p) in statements.iter().zip(&params) {
            first.push(Box::pin(
                async move { self.0.execute(stmt, &p.refs()).await },
            ));
        }
        let n_deferred = params.len();
        first.extend(more);
        let (results, out) = pipelined(first, last).await;
        let mut results = results.into_iter();
        if begin {
            match results.next() {
                Some(Err(e)) => return Err(pg_err(e)),
                _ => {
                    if let Ok(mut l) = self.2.lock() {
                        l.begun = true;
                    }
                }
            }
        }
        for (i, r) in results.enumerate() {
            match r {
                Err(e) if i < n_deferred => return Err(deferred_err(e)),
                Err(e) => return Err(pg_err(e)),
                Ok(_) => {}
            }
        }
        out.map_err(pg_err)
    }

    async fn query(&self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        let stmt = self.prepare(sql).await?;
        self.send(Vec::new(), self.0.query(&stmt, params)).await
    }

    async fn query_opt(&self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        let stmt = self.prepare(sql).await?;
        self.send(Vec::new(), self.0.query_opt(&stmt, params)).await
    }

    async fn execute(&self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        let stmt = self.prepare(sql).await?;
        self.send(Vec::new(), self.0.execute(&stmt, params)).await
    }

    fn defer(&self, write: Deferred) {
        let mut l = self.2.lock().unwrap_or_else(|e| e.into_inner());
        if let Deferred::Progress(p) = &write
            && l.job.as_ref().is_some_and(|j| j.job_id == p.job_id)
        {
            l.job = None;
        }
        l.deferred.push(write);
    }

    /// [`Tx::select_execution`] with the row locked, re-read after the lock so that a
    /// change committed by another node while we waited is seen.
    async fn select_execution_for_update(
        &self,
        selector: &ExecutionSelector,
    ) -> StoreResult<Option<JobExecution>> {
        let first = self.select_execution_locking(selector, FOR_UPDATE).await?;
        // A row locked by another transaction is re-checked against the WHERE clause
        // once that transaction commits; for NextPending (ORDER BY … LIMIT 1) that can
        // yield nothing although another pending row exists: look once more.
        let first = match (first, selector) {
            (None, ExecutionSelector::NextPending { .. }) => {
                self.select_execution_locking(selector, FOR_UPDATE).await?
            }
            (found, _) => found,
        };
        let Some(found) = first else {
            return Ok(None);
        };
        // For NextPending, the row we locked may have stopped being pending while we
        // waited for it: select again (it is locked now, so it cannot change again).
        if let ExecutionSelector::NextPending { .. } = selector
            && found.status.is_terminal()
        {
            return Box::pin(self.select_execution_for_update(selector)).await;
        }
        Ok(Some(found))
    }

    /// The selected execution; `lock` is appended to the query (`FOR UPDATE` or "").
    async fn select_execution_locking(
        &self,
        selector: &ExecutionSelector,
        lock: &str,
    ) -> StoreResult<Option<JobExecution>> {
        // IN_PROGRESS first, then QUEUED; each oldest first (AWS "Jobs device HTTP API").
        let (thing_name, job_id, number) = match selector {
            ExecutionSelector::NextPending { thing_name } => {
                let sql = format!(
                    "SELECT {EXECUTION_COLUMNS} FROM job_executions
                     WHERE thing_name = $1 AND status IN ('QUEUED', 'IN_PROGRESS')
                     ORDER BY status = 'QUEUED', queued_at, job_id LIMIT 1{lock}"
                );
                let row = self.query_opt(&sql, &[thing_name]).await?;
                return row.as_ref().map(execution_from_row).transpose();
            }
            ExecutionSelector::Exact {
                thing_name,
                job_id,
                execution_number,
            } => (thing_name, job_id, execution_number),
        };
        let row = if let Some(n) = number {
            let sql = format!(
                "SELECT {EXECUTION_COLUMNS} FROM job_executions
                 WHERE thing_name = $1 AND job_id = $2 AND execution_number = $3{lock}"
            );
            self.query_opt(&sql, &[thing_name, job_id, n]).await?
        } else {
            let sql = format!(
                "SELECT {EXECUTION_COLUMNS} FROM job_executions
                 WHERE thing_name = $1 AND job_id = $2 ORDER BY execution_number DESC LIMIT 1{lock}"
            );
            self.query_opt(&sql, &[thing_name, job_id]).await?
        };
        row.as_ref().map(execution_from_row).transpose()
    }
}

/// `cols` (a column list) with each column qualified by `table`.
fn qualified(table: &str, cols: &str) -> String {
    cols.split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An execution and its job's progress columns, both locked (execution first: rows
/// are locked in the order of `FOR UPDATE OF`). `$3` is the execution number, or NULL
/// for the latest.
static SELECT_EXECUTION_AND_JOB: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {}, {} FROM job_executions e JOIN jobs j ON j.job_id = e.job_id
         WHERE e.thing_name = $1 AND e.job_id = $2
           AND ($3::bigint IS NULL OR e.execution_number = $3)
         ORDER BY e.execution_number DESC LIMIT 1 FOR UPDATE OF e, j",
        qualified("e", EXECUTION_COLUMNS),
        qualified("j", PROGRESS_COLUMNS)
    )
});

/// How many columns [`EXECUTION_COLUMNS`] has.
const N_EXECUTION: usize = 14;

/// The SQL suffix of a locking read.
const FOR_UPDATE: &str = " FOR UPDATE";

fn lock_sql(lock: Lock) -> &'static str {
    match lock {
        Lock::No => "",
        Lock::ForUpdate => FOR_UPDATE,
        Lock::KeyShare => " FOR KEY SHARE",
    }
}

/// A transaction's audit records, written in one statement (inside it, before COMMIT).
const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (at, principal, source, operation, request_id, subject,
       job_id, name, old_status, new_status, detail)
     SELECT a, $7, $8, $9, $10, s, j, n, o, w, d
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $11::text[])
       AS r(a, s, j, n, o, w, d)";

/// The columns of [`INSERT_AUDIT`], one array per column.
struct AuditColumns<'a> {
    at: Vec<i64>,
    subject: Vec<&'a str>,
    job_id: Vec<Option<&'a str>>,
    name: Vec<Option<&'a str>>,
    old: Vec<Option<&'a str>>,
    new: Vec<Option<&'a str>>,
    detail: Vec<Option<&'a str>>,
}

impl<'a> AuditColumns<'a> {
    /// `None` when there is nothing to write.
    fn new(records: &'a [(Timestamp, AuditChange)]) -> Option<Self> {
        if records.is_empty() {
            return None;
        }
        Some(AuditColumns {
            at: records.iter().map(|(t, _)| t.millis()).collect(),
            subject: records.iter().map(|(_, c)| c.subject.as_str()).collect(),
            job_id: records.iter().map(|(_, c)| c.job_id.as_deref()).collect(),
            name: records.iter().map(|(_, c)| c.name.as_deref()).collect(),
            old: records
                .iter()
                .map(|(_, c)| c.old_status.as_deref())
                .collect(),
            new: records
                .iter()
                .map(|(_, c)| c.new_status.as_deref())
                .collect(),
            detail: records.iter().map(|(_, c)| c.detail.as_deref()).collect(),
        })
    }

    fn params<'s>(&'s self, actor: &'s Actor) -> [&'s (dyn ToSql + Sync); 11] {
        [
            &self.at,
            &self.subject,
            &self.job_id,
            &self.name,
            &self.old,
            &self.new,
            &actor.principal,
            &actor.source,
            &actor.operation,
            &actor.request_id,
            &self.detail,
        ]
    }
}

impl Tx for PgTx<'_> {
    fn audit(&self, at: Timestamp, change: AuditChange) {
        if let Ok(mut c) = self.1.lock() {
            c.audit.push((at, change));
        }
    }

    async fn count_executions(&self) -> StoreResult<JobProcessDetails> {
        // sum(bigint) is numeric in PostgreSQL: cast back.
        let rows = self
            .query(
                "SELECT coalesce(sum(n_queued), 0)::bigint, coalesce(sum(n_in_progress), 0)::bigint,
                        coalesce(sum(n_succeeded), 0)::bigint, coalesce(sum(n_failed), 0)::bigint,
                        coalesce(sum(n_timed_out), 0)::bigint, coalesce(sum(n_rejected), 0)::bigint,
                        coalesce(sum(n_removed), 0)::bigint, coalesce(sum(n_canceled), 0)::bigint
                 FROM jobs",
                &[],
            )
            .await?;
        let r = rows
            .first()
            .ok_or_else(|| JobsError::bug("an aggregate returned no row"))?;
        Ok(JobProcessDetails {
            queued: r.get(0),
            in_progress: r.get(1),
            succeeded: r.get(2),
            failed: r.get(3),
            timed_out: r.get(4),
            rejected: r.get(5),
            removed: r.get(6),
            canceled: r.get(7),
        })
    }

    async fn list_audit(
        &self,
        f: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        let after = crate::audit_cursor(page)?;
        let limit = (page.limit + 1) as i64;
        let rows = self
            .query(
                "SELECT seq, at, principal, source, operation, request_id, subject, job_id,
                        name, old_status, new_status, detail
                 FROM audit_log
                 WHERE seq > $1
                   AND ($2::text IS NULL OR job_id = $2)
                   AND ($3::text IS NULL OR name = $3)
                   AND ($4::text IS NULL OR principal = $4)
                   AND ($5::bigint IS NULL OR at >= $5)
                   AND ($6::bigint IS NULL OR at < $6)
                 ORDER BY seq LIMIT $7",
                &[
                    &after,
                    &f.job_id,
                    &f.name,
                    &f.principal,
                    &f.since.map(Timestamp::millis),
                    &f.until.map(Timestamp::millis),
                    &limit,
                ],
            )
            .await?;
        let records = rows
            .iter()
            .map(|r| AuditRecord {
                seq: r.get(0),
                at: Timestamp(r.get(1)),
                actor: Actor {
                    principal: r.get(2),
                    source: r.get(3),
                    operation: r.get(4),
                    request_id: r.get(5),
                },
                change: AuditChange {
                    subject: AuditSubject::parse(r.get(6)).unwrap_or(AuditSubject::Job),
                    job_id: r.get(7),
                    name: r.get(8),
                    old_status: r.get(9),
                    new_status: r.get(10),
                    detail: r.get(11),
                },
            })
            .collect();
        Ok(Page::from_rows(records, page.limit, |r| r.seq.to_string()))
    }

    fn announce(&self, event: iotjobs_core::JobsEvent) {
        if let Ok(mut c) = self.1.lock() {
            c.events.push(event);
        }
    }
    fn touched(&self, thing: &str, how: Touch<'_>) {
        if let Ok(mut c) = self.1.lock() {
            c.things.push(how.record(thing));
        }
    }

    // ---- things -------------------------------------------------------------------

    async fn select_thing(&self, name: &str, lock: Lock) -> StoreResult<Option<Thing>> {
        let lock = lock_sql(lock);
        let sql = format!("SELECT {THING_COLUMNS} FROM things WHERE thing_name = $1{lock}");
        self.query_opt(&sql, &[&name])
            .await?
            .as_ref()
            .map(thing_from_row)
            .transpose()
    }

    /// Insert unless the name exists; true if inserted.
    async fn insert_thing(&self, t: &Thing) -> StoreResult<bool> {
        let n = self
            .execute(
                "INSERT INTO things (thing_name, thing_id, thing_type_name, attributes, billing_group_name, version, created_at)
                 VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7) ON CONFLICT (thing_name) DO NOTHING",
                &[
                    &t.thing_name,
                    &t.thing_id,
                    &t.thing_type_name,
                    &to_json(&t.attributes),
                    &t.billing_group_name,
                    &t.version,
                    &t.created_at.millis(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn list_things(
        &self,
        filter: &ThingFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Thing>> {
        let after = page.after.clone().unwrap_or_default();
        let limit = (page.limit + 1) as i64;
        let rows = self
            .query(
                &format!(
                    "SELECT {THING_COLUMNS} FROM things
                     WHERE thing_name > $1
                       AND ($2::text IS NULL OR attributes ? $2)
                       AND ($3::text IS NULL OR (CASE WHEN $4 THEN starts_with(attributes ->> $2, $3)
                                                      ELSE attributes ->> $2 = $3 END))
                       AND ($5::text IS NULL OR thing_type_name = $5)
                     ORDER BY thing_name LIMIT $6"
                ),
                &[
                    &after,
                    &filter.attribute_name,
                    &filter.attribute_value,
                    &filter.use_prefix_attribute_value,
                    &filter.thing_type_name,
                    &limit,
                ],
            )
            .await?;
        let things = rows
            .iter()
            .map(thing_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(things, page.limit, |t| {
            t.thing_name.clone()
        }))
    }

    async fn delete_thing_rows(&self, name: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM thing_group_members WHERE thing_name = $1",
            &[&name],
        )
        .await?;
        self.execute("DELETE FROM things WHERE thing_name = $1", &[&name])
            .await
            .map(drop)
    }

    // ---- groups -------------------------------------------------------------------

    async fn select_group(&self, name: &str, lock: Lock) -> StoreResult<Option<ThingGroup>> {
        let lock = lock_sql(lock);
        let sql = format!(
            "SELECT group_name, group_id, parent_group_name, description, attributes::text, tags, version, created_at
             FROM thing_groups WHERE group_name = $1{lock}"
        );
        let row = self.query_opt(&sql, &[&name]).await?;
        let Some(r) = row else { return Ok(None) };
        let mut ancestors = self.ancestors(name).await?;
        ancestors.retain(|a| a != name);
        ancestors.reverse();
        Ok(Some(ThingGroup {
            group_name: r.get(0),
            group_id: r.get(1),
            parent_group_name: r.get(2),
            description: r.get(3),
            attributes: from_json(r.get::<_, &str>(4), "attributes")?,
            tags: r.get(5),
            version: r.get(6),
            created_at: ts(r.get(7)),
            root_to_parent: ancestors,
        }))
    }

    async fn insert_group(&self, g: &ThingGroup) -> StoreResult<bool> {
        let n = self
            .execute(
                "INSERT INTO thing_groups (group_name, group_id, parent_group_name, description, attributes, tags, version, created_at)
                 VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8) ON CONFLICT (group_name) DO NOTHING",
                &[
                    &g.group_name,
                    &g.group_id,
                    &g.parent_group_name,
                    &g.description,
                    &to_json(&g.attributes),
                    &g.tags,
                    &g.version,
                    &g.created_at.millis(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn update_thing(&self, t: &Thing) -> StoreResult<()> {
        self.execute(
            "UPDATE things SET thing_type_name = $2, attributes = $3::text::jsonb, version = $4
             WHERE thing_name = $1",
            &[
                &t.thing_name,
                &t.thing_type_name,
                &to_json(&t.attributes),
                &t.version,
            ],
        )
        .await
        .map(drop)
    }

    async fn update_group(&self, g: &ThingGroup) -> StoreResult<()> {
        self.execute(
            "UPDATE thing_groups SET description = $2, attributes = $3::text::jsonb, version = $4
             WHERE group_name = $1",
            &[
                &g.group_name,
                &g.description,
                &to_json(&g.attributes),
                &g.version,
            ],
        )
        .await
        .map(drop)
    }

    async fn has_child_groups(&self, group: &str) -> StoreResult<bool> {
        let row = self
            .query_opt(
                "SELECT EXISTS (SELECT 1 FROM thing_groups WHERE parent_group_name = $1)",
                &[&group],
            )
            .await?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    async fn group_members(&self, group: &str) -> StoreResult<Vec<String>> {
        let rows = self
            .query(
                "SELECT thing_name FROM thing_group_members WHERE group_name = $1 ORDER BY thing_name",
                &[&group],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn delete_group_rows(&self, group: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM thing_group_members WHERE group_name = $1",
            &[&group],
        )
        .await?;
        self.execute("DELETE FROM thing_groups WHERE group_name = $1", &[&group])
            .await
            .map(drop)
    }

    /// ListThingGroups in one statement (see the SQLite backend for the cases).
    async fn list_groups(
        &self,
        f: &ThingGroupFilter,
        p: &PageRequest,
    ) -> StoreResult<Page<String>> {
        let after = p.after.clone().unwrap_or_default();
        let rows = self
            .query(
                "WITH RECURSIVE down(name, depth) AS (
                     SELECT group_name, 1 FROM thing_groups
                     WHERE ($1::text IS NULL AND ($2 OR parent_group_name IS NULL)) OR parent_group_name = $1
                     UNION
                     SELECT g.group_name, down.depth + 1 FROM thing_groups g JOIN down ON g.parent_group_name = down.name
                     WHERE $2 AND $1::text IS NOT NULL AND down.depth < 64)
                 SELECT DISTINCT name FROM down
                 WHERE name > $3 AND ($4::text IS NULL OR starts_with(name, $4))
                 ORDER BY name LIMIT $5",
                &[
                    &f.parent_group,
                    &f.recursive,
                    &after,
                    &f.name_prefix,
                    &((p.limit + 1) as i64),
                ],
            )
            .await?;
        let names = rows.iter().map(|r| r.get(0)).collect();
        Ok(Page::from_rows(names, p.limit, Clone::clone))
    }

    async fn list_groups_of_thing(&self, t: &str, p: &PageRequest) -> StoreResult<Page<String>> {
        let after = p.after.clone().unwrap_or_default();
        let rows = self
            .query(
                "SELECT group_name FROM thing_group_members WHERE thing_name = $1 AND group_name > $2
                 ORDER BY group_name LIMIT $3",
                &[&t, &after, &((p.limit + 1) as i64)],
            )
            .await?;
        let names = rows.iter().map(|r| r.get(0)).collect();
        Ok(Page::from_rows(names, p.limit, Clone::clone))
    }

    /// The group and its ancestors, nearest first.
    async fn ancestors(&self, group: &str) -> StoreResult<Vec<String>> {
        let rows = self
            .query(
                "WITH RECURSIVE up(name, depth) AS (
                     SELECT $1::text COLLATE \"C\", 0
                     UNION
                     SELECT g.parent_group_name, up.depth + 1 FROM thing_groups g JOIN up ON g.group_name = up.name
                     WHERE g.parent_group_name IS NOT NULL AND up.depth < 64)
                 SELECT name FROM up ORDER BY depth",
                &[&group],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn group_things_recursive(&self, group: &str) -> StoreResult<Vec<String>> {
        let rows = self
            .query(
                "WITH RECURSIVE down(name) AS (
                     SELECT $1::text COLLATE \"C\"
                     UNION SELECT g.group_name FROM thing_groups g JOIN down ON g.parent_group_name = down.name)
                 SELECT DISTINCT thing_name FROM thing_group_members WHERE group_name IN (SELECT name FROM down)
                 ORDER BY thing_name",
                &[&group],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn list_group_things(
        &self,
        group: &str,
        recursive: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<String>> {
        let after = page.after.clone().unwrap_or_default();
        let limit = (page.limit + 1) as i64;
        let rows = self
            .query(
                "WITH RECURSIVE down(name) AS (
                     SELECT $1::text COLLATE \"C\"
                     UNION SELECT g.group_name FROM thing_groups g JOIN down ON g.parent_group_name = down.name
                     WHERE $2)
                 SELECT DISTINCT thing_name FROM thing_group_members
                 WHERE group_name IN (SELECT name FROM down) AND thing_name > $3
                 ORDER BY thing_name LIMIT $4",
                &[&group, &recursive, &after, &limit],
            )
            .await?;
        let names = rows.iter().map(|r| r.get(0)).collect();
        Ok(Page::from_rows(names, page.limit, Clone::clone))
    }

    async fn groups_of_thing(&self, thing: &str) -> StoreResult<Vec<String>> {
        let rows = self
            .query(
                "SELECT group_name FROM thing_group_members WHERE thing_name = $1 ORDER BY group_name",
                &[&thing],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn insert_member(&self, group: &str, thing: &str) -> StoreResult<bool> {
        let n = self
            .execute(
                "INSERT INTO thing_group_members (group_name, thing_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&group, &thing],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_member(&self, group: &str, thing: &str) -> StoreResult<bool> {
        let n = self
            .execute(
                "DELETE FROM thing_group_members WHERE group_name = $1 AND thing_name = $2",
                &[&group, &thing],
            )
            .await?;
        Ok(n == 1)
    }

    async fn continuous_jobs_targeting(&self, groups: &[String]) -> StoreResult<Vec<String>> {
        let groups = to_json(groups);
        let rows = self
            .query(
                "SELECT DISTINCT t.job_id FROM job_targets t JOIN jobs j ON j.job_id = t.job_id
                 WHERE t.target_type = 'group'
                   AND t.target_name IN (SELECT jsonb_array_elements_text($1::text::jsonb))
                   AND j.target_selection = 'CONTINUOUS' AND j.status IN ('IN_PROGRESS', 'SCHEDULED')
                 ORDER BY t.job_id",
                &[&groups],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn job_targets_thing(
        &self,
        job_id: &str,
        thing: &str,
        groups: &[String],
    ) -> StoreResult<bool> {
        let groups = to_json(groups);
        let row = self
            .query_opt(
                "SELECT EXISTS (SELECT 1 FROM job_targets WHERE job_id = $1 AND
                    ((target_type = 'thing' AND target_name = $2) OR
                     (target_type = 'group' AND target_name IN (SELECT jsonb_array_elements_text($3::text::jsonb)))))",
                &[&job_id, &thing, &groups],
            )
            .await?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    // ---- jobs ---------------------------------------------------------------------

    async fn select_job_progress(
        &self,
        job_id: &str,
        lock: Lock,
    ) -> StoreResult<Option<JobProgress>> {
        if lock == Lock::ForUpdate
            && let Ok(mut l) = self.2.lock()
            && l.job.as_ref().is_some_and(|j| j.job_id == job_id)
        {
            // Read and locked with the execution just now (select_execution_for_change).
            return Ok(l.job.take());
        }
        let lock = lock_sql(lock);
        let sql = format!("SELECT {PROGRESS_COLUMNS} FROM jobs WHERE job_id = $1{lock}");
        self.query_opt(&sql, &[&job_id])
            .await?
            .as_ref()
            .map(progress_from_row)
            .transpose()
    }

    async fn select_job(&self, job_id: &str, lock: Lock) -> StoreResult<Option<Job>> {
        let lock = lock_sql(lock);
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1{lock}");
        self.query_opt(&sql, &[&job_id])
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    /// Insert unless the id exists; true if inserted.
    async fn insert_job(&self, job: &Job) -> StoreResult<bool> {
        let p = &job.progress;
        let d = &p.process_details;
        let o = &p.rollout;
        let n = self
            .execute(
                &format!(
                    "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                     $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28,
                     $29, $30, $31, $32) ON CONFLICT (job_id) DO NOTHING"
                ),
                &[
                    &p.job_id,
                    &p.status.as_str(),
                    &p.target_selection.as_str(),
                    &p.in_progress_timeout_minutes,
                    &d.queued,
                    &d.in_progress,
                    &d.succeeded,
                    &d.failed,
                    &d.timed_out,
                    &d.rejected,
                    &d.removed,
                    &d.canceled,
                    &p.last_updated_at.millis(),
                    &p.completed_at.map(Timestamp::millis),
                    &policy_codec::encode(&p.policy),
                    &o.waiting,
                    &o.notified,
                    &o.started_at.map(Timestamp::millis),
                    &o.bucket,
                    &o.in_bucket,
                    &o.ended,
                    &o.wake_at.map(Timestamp::millis),
                    &o.bucket_rate,
                    &to_json(&job.targets),
                    &job.document,
                    &job.document_source,
                    &job.description,
                    &job.force_canceled,
                    &job.reason_code,
                    &job.comment,
                    &job.created_at.millis(),
                    &to_json(&job.configs),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// Write the progress columns: status, counters, timestamps and rollout state (not
    /// the policy: execution changes never change it; `update_job` writes it).
    /// Deferred: sent with the next statement (see [`PgTx`]).
    async fn update_job_progress(&self, p: &JobProgress) -> StoreResult<()> {
        self.defer(Deferred::Progress(Box::new(p.clone())));
        Ok(())
    }

    /// Every mutable column: the progress columns (rollout included), then the
    /// description's and the policy (which only UpdateJob changes, so execution changes,
    /// which write the progress alone, never encode it).
    async fn update_job(&self, job: &Job) -> StoreResult<()> {
        self.update_job_progress(&job.progress).await?;
        self.execute(
            "UPDATE jobs SET in_progress_timeout_minutes = $2, description = $3, force_canceled = $4,
             reason_code = $5, comment = $6, configs = $7, policy = $8 WHERE job_id = $1",
            &[
                &job.progress.job_id,
                &job.progress.in_progress_timeout_minutes,
                &job.description,
                &job.force_canceled,
                &job.reason_code,
                &job.comment,
                &to_json(&job.configs),
                &policy_codec::encode(&job.progress.policy),
            ],
        )
        .await
        .map(drop)
    }

    async fn lock_job_deletions(&self) -> StoreResult<()> {
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&JOB_DELETION_LOCK])
            .await
            .map(drop)
    }

    async fn count_jobs_deleting(&self) -> StoreResult<usize> {
        let rows = self
            .query(
                "SELECT COUNT(*) FROM jobs WHERE status = 'DELETION_IN_PROGRESS'",
                &[],
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0) as usize))
    }

    async fn update_job_targets(&self, job_id: &str, targets: &[String]) -> StoreResult<()> {
        self.execute(
            "UPDATE jobs SET targets = $2 WHERE job_id = $1",
            &[&job_id, &to_json(targets)],
        )
        .await
        .map(drop)
    }

    async fn insert_job_target(&self, job_id: &str, kind: &str, name: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO job_targets (job_id, target_type, target_name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&job_id, &kind, &name],
        )
        .await
        .map(drop)
    }

    async fn list_jobs(&self, filter: &JobFilter, page: &PageRequest) -> StoreResult<Page<Job>> {
        let after = page.after.clone().unwrap_or_default();
        let limit = (page.limit + 1) as i64;
        let rows = self
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs
                     WHERE job_id > $1
                       AND ($2::text IS NULL OR status = $2)
                       AND ($3::text IS NULL OR target_selection = $3)
                       AND ($4::text IS NULL OR job_id IN (SELECT job_id FROM job_targets
                                                           WHERE target_type = 'group' AND target_name = $4))
                     ORDER BY job_id LIMIT $5"
                ),
                &[
                    &after,
                    &filter.status.map(JobStatus::as_str),
                    &filter.target_selection.map(TargetSelection::as_str),
                    &filter.thing_group_name,
                    &limit,
                ],
            )
            .await?;
        let jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(jobs, page.limit, |j| {
            j.progress.job_id.clone()
        }))
    }

    async fn jobs_with_unfinished_cancel(&self, limit: usize) -> StoreResult<Vec<String>> {
        let rows = self
            .query(
                "SELECT job_id FROM jobs WHERE status = 'CANCELED'
                   AND (n_queued > 0 OR (force_canceled AND n_in_progress > 0))
                 ORDER BY job_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn jobs_deleting(&self) -> StoreResult<Vec<String>> {
        let rows = self
            .query(
                "SELECT job_id FROM jobs WHERE status = 'DELETION_IN_PROGRESS'
                 ORDER BY job_id FOR UPDATE SKIP LOCKED",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn purge_job_executions(
        &self,
        job_id: &str,
        limit: usize,
    ) -> StoreResult<(usize, Vec<(String, i64)>)> {
        let rows = self
            .query(
                "DELETE FROM job_executions WHERE (thing_name, job_id, execution_number) IN
                   (SELECT thing_name, job_id, execution_number FROM job_executions WHERE job_id = $1 LIMIT $2)
                 RETURNING thing_name, execution_number, status",
                &[&job_id, &(limit as i64)],
            )
            .await?;
        let mut pending = Vec::new();
        for r in &rows {
            let status: &str = r.get(2);
            let status =
                JobExecutionStatus::parse(status).ok_or_else(|| bad("execution status", status))?;
            if status.is_pending() {
                pending.push((r.get::<_, String>(0), r.get::<_, i64>(1)));
            }
        }
        Ok((rows.len(), pending))
    }

    async fn delete_job_rows(&self, job_id: &str) -> StoreResult<()> {
        self.execute("DELETE FROM job_targets WHERE job_id = $1", &[&job_id])
            .await?;
        self.delete_rollout_targets(job_id).await?;
        self.execute("DELETE FROM jobs WHERE job_id = $1", &[&job_id])
            .await
            .map(drop)
    }

    // ---- rollouts ------------------------------------------------------------------

    /// Queue `things` after the job's current last waiting target, in this order, in
    /// one statement per chunk.
    async fn insert_rollout_targets(&self, job_id: &str, things: &[String]) -> StoreResult<()> {
        for chunk in things.chunks(5_000) {
            self.execute(
                "INSERT INTO job_rollout_queue (job_id, seq, thing_name)
                 SELECT $1::text, b.next + u.ord - 1, u.t
                 FROM (SELECT coalesce(max(seq) + 1, 0) AS next FROM job_rollout_queue
                       WHERE job_id = $1::text) AS b,
                      unnest($2::text[]) WITH ORDINALITY AS u(t, ord)",
                &[&job_id, &chunk],
            )
            .await?;
        }
        Ok(())
    }

    async fn take_rollout_targets(&self, job_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .query(
                "DELETE FROM job_rollout_queue WHERE job_id = $1 AND seq IN
                   (SELECT seq FROM job_rollout_queue WHERE job_id = $1 ORDER BY seq LIMIT $2)
                 RETURNING seq, thing_name",
                &[&job_id, &(limit as i64)],
            )
            .await?;
        let mut taken: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        taken.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(taken.into_iter().map(|(_, thing)| thing).collect())
    }

    async fn delete_rollout_targets(&self, job_id: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM job_rollout_queue WHERE job_id = $1",
            &[&job_id],
        )
        .await
        .map(drop)
    }

    async fn jobs_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<String>> {
        let rows = self
            .query(
                "SELECT job_id FROM jobs WHERE wake_at IS NOT NULL AND wake_at <= $1
                 ORDER BY wake_at, job_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&now.millis(), &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn next_job_wake(&self) -> StoreResult<Option<Timestamp>> {
        let row = self
            .query_opt(
                "SELECT min(wake_at) FROM jobs WHERE wake_at IS NOT NULL",
                &[],
            )
            .await?;
        Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)).map(ts))
    }

    // ---- executions -----------------------------------------------------------------

    async fn select_execution(
        &self,
        selector: &ExecutionSelector,
        lock: Lock,
    ) -> StoreResult<Option<JobExecution>> {
        match lock {
            Lock::No => self.select_execution_locking(selector, "").await,
            Lock::ForUpdate => self.select_execution_for_update(selector).await,
            Lock::KeyShare => {
                self.select_execution_locking(selector, lock_sql(lock))
                    .await
            }
        }
    }

    /// One statement for both rows (an `Exact` selector): the job's row is kept for the
    /// `select_job_progress` that follows.
    async fn select_execution_for_change(
        &self,
        selector: &ExecutionSelector,
    ) -> StoreResult<Option<JobExecution>> {
        let ExecutionSelector::Exact {
            thing_name,
            job_id,
            execution_number,
        } = selector
        else {
            return self.select_execution_for_update(selector).await;
        };
        let row = self
            .query_opt(
                &SELECT_EXECUTION_AND_JOB,
                &[thing_name, job_id, execution_number],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let execution = execution_from_row(&row)?;
        let job = progress_from_row_at(&row, N_EXECUTION)?;
        if let Ok(mut l) = self.2.lock() {
            l.job = Some(job);
        }
        Ok(Some(execution))
    }

    async fn select_pending(&self, thing: &str, limit: usize) -> StoreResult<Vec<JobExecution>> {
        let mut out = Vec::new();
        for status in ["IN_PROGRESS", "QUEUED"] {
            let sql = format!(
                "SELECT {EXECUTION_COLUMNS} FROM job_executions
                 WHERE thing_name = $1 AND status = $2 ORDER BY queued_at, job_id LIMIT $3"
            );
            let rows = self
                .query(&sql, &[&thing, &status, &(limit as i64)])
                .await?;
            out.extend(executions(rows)?);
        }
        Ok(out)
    }

    async fn select_all_pending(&self, thing: &str) -> StoreResult<Vec<JobExecution>> {
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE thing_name = $1 AND status IN ('QUEUED', 'IN_PROGRESS')
             ORDER BY job_id, execution_number FOR UPDATE"
        );
        executions(self.query(&sql, &[&thing]).await?)
    }

    async fn select_job_executions_in(
        &self,
        job_id: &str,
        statuses: &[JobExecutionStatus],
        limit: usize,
    ) -> StoreResult<Vec<JobExecution>> {
        let list: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE job_id = $1 AND status = ANY($2)
             ORDER BY thing_name, execution_number LIMIT $3 FOR UPDATE SKIP LOCKED"
        );
        executions(self.query(&sql, &[&job_id, &list, &(limit as i64)]).await?)
    }

    async fn select_timed_out(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<JobExecution>> {
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE status = 'IN_PROGRESS' AND timeout_at IS NOT NULL AND timeout_at <= $1
             ORDER BY timeout_at, thing_name, job_id LIMIT $2 FOR UPDATE SKIP LOCKED"
        );
        executions(self.query(&sql, &[&now.millis(), &(limit as i64)]).await?)
    }

    async fn list_executions_for_job(
        &self,
        job_id: &str,
        status: Option<JobExecutionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        let (after_thing, after_n) = page.after_compound()?;
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE job_id = $1 AND (thing_name, execution_number) > ($2::text COLLATE \"C\", $3)
               AND ($4::text IS NULL OR status = $4)
             ORDER BY thing_name, execution_number LIMIT $5"
        );
        let rows = self
            .query(
                &sql,
                &[
                    &job_id,
                    &after_thing,
                    &after_n,
                    &status.map(JobExecutionStatus::as_str),
                    &((page.limit + 1) as i64),
                ],
            )
            .await?;
        Ok(Page::from_rows(executions(rows)?, page.limit, |e| {
            compound_key(&e.thing_name, e.execution_number)
        }))
    }

    async fn list_executions_for_thing(
        &self,
        q: &ThingExecutions<'_>,
        page: &PageRequest,
    ) -> StoreResult<Page<JobExecution>> {
        let (after_job, after_n) = page.after_compound()?;
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions
             WHERE thing_name = $1 AND (job_id, execution_number) > ($2::text COLLATE \"C\", $3)
               AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR job_id = $5)
             ORDER BY job_id, execution_number LIMIT $6"
        );
        let rows = self
            .query(
                &sql,
                &[
                    &q.thing,
                    &after_job,
                    &after_n,
                    &q.status.map(JobExecutionStatus::as_str),
                    &q.job_id,
                    &((page.limit + 1) as i64),
                ],
            )
            .await?;
        Ok(Page::from_rows(executions(rows)?, page.limit, |e| {
            compound_key(&e.job_id, e.execution_number)
        }))
    }

    async fn insert_execution(&self, e: &JobExecution) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO job_executions ({EXECUTION_COLUMNS}, timeout_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            &execution_params(e, &to_json(&e.status_details)).as_slice_params(),
        )
        .await
        .map(drop)
    }

    /// Insert one QUEUED execution per thing in one statement (CreateJob of a large
    /// group).
    async fn insert_queued_executions(
        &self,
        job_id: &str,
        things: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        for chunk in things.chunks(5_000) {
            self.execute(
                "INSERT INTO job_executions (thing_name, job_id, execution_number, status, force_canceled,
                   status_details, queued_at, started_at, last_updated_at, version_number,
                   in_progress_deadline, step_deadline, retry_attempt, retry_timed_out, timeout_at)
                 SELECT t, $2, 1, 'QUEUED', false, '{}', $3, NULL, $3, 1, NULL, NULL, 0, 0, NULL
                 FROM unnest($1::text[]) AS t",
                &[&chunk, &job_id, &now.millis()],
            )
            .await?;
        }
        Ok(())
    }

    /// Deferred: sent with the next statement (see [`PgTx`]); a missing row fails the
    /// transaction ([`UPDATE_EXECUTION`]).
    async fn update_execution(&self, e: &JobExecution) -> StoreResult<()> {
        self.defer(Deferred::Execution(Box::new(e.clone())));
        Ok(())
    }

    async fn nth_execution_key(
        &self,
        job_id: &str,
        after: Option<&crate::tx::ExecutionKey>,
        n: usize,
    ) -> StoreResult<Option<crate::tx::ExecutionKey>> {
        // ('', 0) is before every key: thing names are not empty.
        let (thing, number) = after.map_or(("", 0), |(t, n)| (t.as_str(), *n));
        let row = self
            .query_opt(
                "SELECT thing_name, execution_number FROM job_executions
                 WHERE job_id = $1 AND (thing_name, execution_number) > ($2, $3)
                 ORDER BY thing_name, execution_number LIMIT 1 OFFSET $4",
                &[&job_id, &thing, &number, &(n.saturating_sub(1) as i64)],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn update_executions_uniform(
        &self,
        job_id: &str,
        after: Option<&crate::tx::ExecutionKey>,
        upto: Option<&crate::tx::ExecutionKey>,
        change: &iotjobs_core::UniformChange,
    ) -> StoreResult<Vec<JobExecution>> {
        let (thing, number) = after.map_or(("", 0), |(t, n)| (t.as_str(), *n));
        let (upto_thing, upto_number) = upto.map(|(t, n)| (t.as_str(), *n)).unzip();
        let sql = format!(
            "UPDATE job_executions
             SET status = $4, force_canceled = $5, version_number = version_number + 1,
                 last_updated_at = $6,
                 in_progress_deadline = CASE WHEN $7 THEN NULL ELSE in_progress_deadline END,
                 step_deadline = CASE WHEN $7 THEN NULL ELSE step_deadline END,
                 timeout_at = CASE WHEN $7 THEN NULL ELSE timeout_at END
             WHERE job_id = $1 AND (thing_name, execution_number) > ($2, $3)
               AND ($9::text IS NULL OR (thing_name, execution_number) <= ($9, $10::bigint))
               AND status = $8
             RETURNING {EXECUTION_COLUMNS}"
        );
        let rows = self
            .query(
                &sql,
                &[
                    &job_id,
                    &thing,
                    &number,
                    &change.to.as_str(),
                    &change.force_canceled,
                    &change.now.millis(),
                    &change.stop_timers,
                    &change.from.as_str(),
                    &upto_thing,
                    &upto_number,
                ],
            )
            .await?;
        executions(rows)
    }

    async fn delete_execution(&self, e: &JobExecution) -> StoreResult<()> {
        self.execute(
            "DELETE FROM job_executions WHERE thing_name = $1 AND job_id = $2 AND execution_number = $3",
            &[&e.thing_name, &e.job_id, &e.execution_number],
        )
        .await
        .map(drop)
    }

    async fn claim_account(&self, account: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO store_meta (key, value) VALUES ('account_id', $1) \
             ON CONFLICT (key) DO NOTHING",
            &[&account],
        )
        .await?;
        let owner: String = self
            .query_opt("SELECT value FROM store_meta WHERE key = 'account_id'", &[])
            .await?
            .ok_or_else(|| JobsError::bug("the account claim vanished"))?
            .get(0);
        if owner == account {
            Ok(())
        } else {
            Err(iotjobs_core::JobsError::account_mismatch(&owner, account))
        }
    }

    // ---- certificates -----------------------------------------------------------------

    async fn select_certificate(&self, id: &str, lock: Lock) -> StoreResult<Option<Certificate>> {
        let lock = lock_sql(lock);
        let sql = format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE certificate_id = $1{lock}"
        );
        self.query_opt(&sql, &[&id])
            .await?
            .as_ref()
            .map(certificate_from_row)
            .transpose()
    }

    async fn insert_certificate(&self, c: &Certificate) -> StoreResult<bool> {
        let sql = format!(
            "INSERT INTO certificates ({CERTIFICATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (certificate_id) DO NOTHING"
        );
        let n = self
            .execute(
                &sql,
                &[
                    &c.certificate_id,
                    &c.certificate_pem,
                    &c.status.as_str(),
                    &c.created_at.millis(),
                    &c.last_modified_at.millis(),
                    &c.customer_version,
                    &c.generation_id,
                    &c.not_before.map(|t| t.millis()),
                    &c.not_after.map(|t| t.millis()),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn update_certificate(&self, c: &Certificate) -> StoreResult<()> {
        self.execute(
            "UPDATE certificates SET status = $2, last_modified_at = $3, customer_version = $4,
             generation_id = $5 WHERE certificate_id = $1",
            &[
                &c.certificate_id,
                &c.status.as_str(),
                &c.last_modified_at.millis(),
                &c.customer_version,
                &c.generation_id,
            ],
        )
        .await
        .map(drop)
    }

    async fn delete_certificate_row(&self, id: &str) -> StoreResult<()> {
        self.execute("DELETE FROM certificates WHERE certificate_id = $1", &[&id])
            .await
            .map(drop)
    }

    async fn list_certificates(
        &self,
        ascending: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<Certificate>> {
        let (cmp, order, after_id, after_ms) = crate::keyset(page, ascending)?;
        let sql = format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates
             WHERE (created_at, certificate_id) {cmp} ($1, $2::text COLLATE \"C\")
             ORDER BY created_at {order}, certificate_id {order} LIMIT $3"
        );
        let rows = self
            .query(&sql, &[&after_ms, &after_id, &((page.limit + 1) as i64)])
            .await?;
        let certs = rows
            .iter()
            .map(certificate_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(certs, page.limit, |c| {
            compound_key(&c.certificate_id, c.created_at.millis())
        }))
    }

    async fn certificate_things(&self, id: &str) -> StoreResult<Vec<(String, ThingPrincipalType)>> {
        let rows = self
            .query(
                "SELECT thing_name, principal_type FROM thing_principals WHERE certificate_id = $1
                 ORDER BY thing_name",
                &[&id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get(1);
                ThingPrincipalType::parse(&kind)
                    .map(|k| (r.get(0), k))
                    .ok_or_else(|| bad("principal type", &kind))
            })
            .collect()
    }

    async fn insert_thing_principal(
        &self,
        thing: &str,
        id: &str,
        kind: ThingPrincipalType,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO thing_principals (thing_name, certificate_id, principal_type) VALUES ($1, $2, $3)
             ON CONFLICT (thing_name, certificate_id) DO NOTHING",
            &[&thing, &id, &kind.as_str()],
        )
        .await
        .map(drop)
    }

    async fn delete_thing_principal(&self, thing: &str, id: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM thing_principals WHERE thing_name = $1 AND certificate_id = $2",
            &[&thing, &id],
        )
        .await
        .map(drop)
    }

    async fn list_thing_principals(
        &self,
        thing: &str,
        p: &PageRequest,
    ) -> StoreResult<Page<String>> {
        let after = p.after.clone().unwrap_or_default();
        let rows = self
            .query(
                "SELECT certificate_id FROM thing_principals WHERE thing_name = $1 AND certificate_id > $2
                 ORDER BY certificate_id LIMIT $3",
                &[&thing, &after, &((p.limit + 1) as i64)],
            )
            .await?;
        let ids = rows.iter().map(|r| r.get(0)).collect();
        Ok(Page::from_rows(ids, p.limit, Clone::clone))
    }

    async fn thing_has_principals(&self, thing: &str) -> StoreResult<bool> {
        let row = self
            .query_opt(
                "SELECT 1 FROM thing_principals WHERE thing_name = $1 LIMIT 1",
                &[&thing],
            )
            .await?;
        Ok(row.is_some())
    }

    // ---- custom job templates ---------------------------------------------------------

    async fn select_job_template(&self, id: &str) -> StoreResult<Option<JobTemplate>> {
        let sql =
            format!("SELECT {JOB_TEMPLATE_COLUMNS} FROM job_templates WHERE job_template_id = $1");
        self.query_opt(&sql, &[&id])
            .await?
            .as_ref()
            .map(job_template_from_row)
            .transpose()
    }

    async fn insert_job_template(&self, t: &JobTemplate) -> StoreResult<bool> {
        let sql = format!(
            "INSERT INTO job_templates ({JOB_TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (job_template_id) DO NOTHING"
        );
        let n = self
            .execute(
                &sql,
                &[
                    &t.job_template_id,
                    &t.description,
                    &t.basis.document,
                    &t.basis.document_source,
                    &to_json(&t.basis.configs),
                    &t.created_at.millis(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_job_template(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .execute(
                "DELETE FROM job_templates WHERE job_template_id = $1",
                &[&id],
            )
            .await?;
        Ok(n == 1)
    }

    async fn list_job_templates(&self, page: &PageRequest) -> StoreResult<Page<JobTemplate>> {
        let after = page.after.clone().unwrap_or_default();
        let sql = format!(
            "SELECT {JOB_TEMPLATE_COLUMNS} FROM job_templates WHERE job_template_id > $1
             ORDER BY job_template_id LIMIT $2"
        );
        let rows = self
            .query(&sql, &[&after, &((page.limit + 1) as i64)])
            .await?;
        let templates = rows
            .iter()
            .map(job_template_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(templates, page.limit, |t| {
            t.job_template_id.clone()
        }))
    }

    async fn delete_everything(&self) -> StoreResult<()> {
        self.send(
            Vec::new(),
            self.0.batch_execute(
                "TRUNCATE job_executions, job_targets, job_rollout_queue, jobs, thing_group_members, thing_groups, things, thing_principals, certificates, audit_log, job_templates",
            ),
        )
        .await
    }
}

impl Deferred {
    fn sql(&self) -> &'static str {
        match self {
            Deferred::Execution(_) => UPDATE_EXECUTION,
            Deferred::Progress(_) => UPDATE_PROGRESS,
        }
    }

    /// The execution's status details as JSON (empty for a job).
    fn details(&self) -> String {
        match self {
            Deferred::Execution(e) => to_json(&e.status_details),
            Deferred::Progress(_) => String::new(),
        }
    }

    fn params<'a>(&'a self, details: &'a str) -> DeferredParams<'a> {
        match self {
            Deferred::Execution(e) => DeferredParams::Execution(execution_params(e, details)),
            Deferred::Progress(p) => DeferredParams::Progress(ProgressParams::new(p)),
        }
    }
}

enum DeferredParams<'a> {
    Execution(ExecutionParams<'a>),
    Progress(ProgressParams<'a>),
}

impl DeferredParams<'_> {
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        match self {
            DeferredParams::Execution(e) => e.as_slice_params().to_vec(),
            DeferredParams::Progress(p) => p.as_slice_params().to_vec(),
        }
    }
}

/// The parameters of [`UPDATE_PROGRESS`].
struct ProgressParams<'a> {
    p: &'a JobProgress,
    status: &'static str,
    last_updated_at: i64,
    completed_at: Option<i64>,
    started_at: Option<i64>,
    wake_at: Option<i64>,
}

impl<'a> ProgressParams<'a> {
    fn new(p: &'a JobProgress) -> Self {
        ProgressParams {
            p,
            status: p.status.as_str(),
            last_updated_at: p.last_updated_at.millis(),
            completed_at: p.completed_at.map(Timestamp::millis),
            started_at: p.rollout.started_at.map(Timestamp::millis),
            wake_at: p.rollout.wake_at.map(Timestamp::millis),
        }
    }

    fn as_slice_params(&self) -> [&(dyn ToSql + Sync); 20] {
        let d = &self.p.process_details;
        let o = &self.p.rollout;
        [
            &self.p.job_id,
            &self.status,
            &d.queued,
            &d.in_progress,
            &d.succeeded,
            &d.failed,
            &d.timed_out,
            &d.rejected,
            &d.removed,
            &d.canceled,
            &self.last_updated_at,
            &self.completed_at,
            &o.waiting,
            &o.notified,
            &self.started_at,
            &o.bucket,
            &o.in_bucket,
            &o.ended,
            &self.wake_at,
            &o.bucket_rate,
        ]
    }
}

/// The parameters of an execution row, in column order plus `timeout_at`.
struct ExecutionParams<'a> {
    e: &'a JobExecution,
    status: &'static str,
    details: &'a str,
    queued_at: i64,
    started_at: Option<i64>,
    last_updated_at: i64,
    in_progress_deadline: Option<i64>,
    step_deadline: Option<i64>,
    timeout_at: Option<i64>,
}

fn execution_params<'a>(e: &'a JobExecution, details: &'a str) -> ExecutionParams<'a> {
    ExecutionParams {
        e,
        status: e.status.as_str(),
        details,
        queued_at: e.queued_at.millis(),
        started_at: e.started_at.map(Timestamp::millis),
        last_updated_at: e.last_updated_at.millis(),
        in_progress_deadline: e.in_progress_deadline.map(Timestamp::millis),
        step_deadline: e.step_deadline.map(Timestamp::millis),
        timeout_at: e.timeout_at().map(Timestamp::millis),
    }
}

impl ExecutionParams<'_> {
    fn as_slice_params(&self) -> [&(dyn ToSql + Sync); 15] {
        [
            &self.e.thing_name,
            &self.e.job_id,
            &self.e.execution_number,
            &self.status,
            &self.e.force_canceled,
            &self.details,
            &self.queued_at,
            &self.started_at,
            &self.last_updated_at,
            &self.e.version_number,
            &self.in_progress_deadline,
            &self.step_deadline,
            &self.e.retry_attempt,
            &self.e.retry_timed_out,
            &self.timeout_at,
        ]
    }
}
