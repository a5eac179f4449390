//! The device data plane's four operations, once for every transport: the HTTP data
//! plane (`iot-jobs-data`) and MQTT (`$aws/things/{thing}/jobs/...`) both call these and
//! only convert their results to their own shapes.
//!
//! They run over the [`Store`] port; the rules they apply are the state machine's and
//! the ones below (what "pending" and `$next` mean, what a device may describe). Every
//! job document they hand out has its presigned-URL placeholders replaced by fresh URLs
//! through the [`Presigner`] port ([`crate::presign`]): AWS generates them "when a
//! device requests a job document".

use crate::JobsError;
use crate::execution::{JobExecution, JobExecutionStatus, StatusDetails};
use crate::execution::{check_status_details, check_step_timeout};
use crate::presign::{self, Presigner};
use crate::state_machine::ExecutionCommand;
use crate::store::{AppliedChange, ExecutionSelector, Store};
use crate::time::Timestamp;

/// GetPendingJobExecutions returns at most 10 pending executions in all, IN_PROGRESS
/// ones first (AWS IoT Jobs limits).
pub const MAX_PENDING: usize = 10;

/// The `jobId` that means "the next pending execution" (Jobs device API, HTTP and MQTT).
pub const NEXT: &str = "$next";

/// A thing's pending executions, each list oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingExecutions {
    pub in_progress: Vec<JobExecution>,
    pub queued: Vec<JobExecution>,
}

/// An execution with its job's document when asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionWithDocument {
    pub execution: JobExecution,
    /// The job document (JSON text) as the device receives it: presigned URLs in
    /// place of their placeholders.
    pub job_document: Option<String>,
}

/// What UpdateJobExecution asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceUpdate {
    pub job_id: String,
    /// The status as sent (checked here against the statuses a device may set).
    pub status: String,
    pub status_details: Option<StatusDetails>,
    pub expected_version: Option<i64>,
    pub execution_number: Option<i64>,
    pub step_timeout_in_minutes: Option<i64>,
    pub include_job_document: bool,
}

/// The result of UpdateJobExecution: the execution afterwards, and the document when
/// asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceUpdateResult {
    pub execution: JobExecution,
    pub job_document: Option<String>,
}

async fn ensure_thing<S: Store>(store: &S, thing: &str) -> Result<(), JobsError> {
    match store.describe_thing(thing).await? {
        Some(_) => Ok(()),
        None => Err(JobsError::thing_not_found(thing)),
    }
}

/// The job's document, read for a device: placeholders replaced by URLs that
/// `presigner` signs now, for the job's `presignedUrlConfig.expiresInSec`.
pub async fn job_document<S: Store>(
    store: &S,
    presigner: &dyn Presigner,
    job_id: &str,
) -> Result<Option<String>, JobsError> {
    let Some(mut job) = store.describe_job(job_id).await? else {
        return Ok(None);
    };
    Ok(job.document.take().map(|document| {
        let config = job.configs.get(presign::PRESIGNED_URL_CONFIG);
        presign::document_for_device(document, config.map(String::as_str), presigner)
    }))
}

/// GetPendingJobExecutions: IN_PROGRESS and QUEUED executions, oldest first, at most
/// [`MAX_PENDING`] of each. An unknown thing (with nothing pending) is ResourceNotFound.
pub async fn get_pending_job_executions<S: Store>(
    store: &S,
    thing: &str,
) -> Result<PendingExecutions, JobsError> {
    let mut pending = store.get_pending_job_executions(thing, MAX_PENDING).await?;
    if pending.is_empty() {
        ensure_thing(store, thing).await?;
    }
    pending.truncate(MAX_PENDING);
    let (in_progress, queued): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .partition(|e| e.status == JobExecutionStatus::InProgress);
    Ok(PendingExecutions {
        in_progress,
        queued,
    })
}

/// StartNextPendingJobExecution: the oldest IN_PROGRESS execution, else the oldest
/// QUEUED one, which becomes IN_PROGRESS. `None`: nothing pending.
pub async fn start_next_pending_job_execution<S: Store>(
    store: &S,
    presigner: &dyn Presigner,
    thing: &str,
    status_details: Option<StatusDetails>,
    step_timeout_in_minutes: Option<i64>,
    now: Timestamp,
) -> Result<Option<ExecutionWithDocument>, JobsError> {
    check_status_details(status_details.as_ref())?;
    check_step_timeout(step_timeout_in_minutes)?;
    let cmd = ExecutionCommand::StartNext {
        status_details,
        step_timeout_in_minutes,
    };
    let selector = ExecutionSelector::NextPending {
        thing_name: thing.to_owned(),
    };
    let Some(applied) = store.update_job_execution(selector, cmd, now).await? else {
        ensure_thing(store, thing).await?;
        return Ok(None);
    };
    let job_document = job_document(store, presigner, &applied.execution.job_id).await?;
    Ok(Some(ExecutionWithDocument {
        execution: applied.execution,
        job_document,
    }))
}

/// DescribeJobExecution. `job_id` [`NEXT`] describes what StartNext would pick, without
/// changing it (`None`: nothing pending). An explicit job id of a finished execution is
/// TerminalState, as live AWS answers (wire spec §8).
pub async fn describe_job_execution<S: Store>(
    store: &S,
    presigner: &dyn Presigner,
    thing: &str,
    job_id: &str,
    execution_number: Option<i64>,
    include_job_document: bool,
) -> Result<Option<ExecutionWithDocument>, JobsError> {
    let next = job_id == NEXT;
    let selector = if next {
        ExecutionSelector::NextPending {
            thing_name: thing.to_owned(),
        }
    } else {
        ExecutionSelector::Exact {
            thing_name: thing.to_owned(),
            job_id: job_id.to_owned(),
            execution_number,
        }
    };
    let Some(execution) = store.describe_job_execution(&selector).await? else {
        if next {
            ensure_thing(store, thing).await?;
            return Ok(None);
        }
        return Err(JobsError::job_execution_not_found(thing, job_id));
    };
    if !next {
        execution.check_describable_by_device()?;
    }
    let job_document = if include_job_document {
        job_document(store, presigner, &execution.job_id).await?
    } else {
        None
    };
    Ok(Some(ExecutionWithDocument {
        execution,
        job_document,
    }))
}

/// UpdateJobExecution: the device reports progress or a result.
pub async fn update_job_execution<S: Store>(
    store: &S,
    presigner: &dyn Presigner,
    thing: &str,
    update: DeviceUpdate,
    now: Timestamp,
) -> Result<DeviceUpdateResult, JobsError> {
    let status = JobExecutionStatus::parse(&update.status)
        .ok_or_else(|| JobsError::unknown_value("job execution status", &update.status))?;
    // Before any lookup: an unknown job or thing gets the same refusal (§8, and the
    // invariant that a device's refusal reveals nothing).
    status.check_device_settable()?;
    check_status_details(update.status_details.as_ref())?;
    check_step_timeout(update.step_timeout_in_minutes)?;
    let cmd = ExecutionCommand::DeviceUpdate {
        status,
        expected_version: update.expected_version,
        status_details: update.status_details,
        step_timeout_in_minutes: update.step_timeout_in_minutes,
    };
    let selector = ExecutionSelector::Exact {
        thing_name: thing.to_owned(),
        job_id: update.job_id.clone(),
        execution_number: update.execution_number,
    };
    let applied: AppliedChange = store
        .update_job_execution(selector, cmd, now)
        .await?
        .ok_or_else(|| JobsError::bug("an exact execution selector returned nothing"))?;
    let job_document = if update.include_job_document {
        job_document(store, presigner, &update.job_id).await?
    } else {
        None
    };
    Ok(DeviceUpdateResult {
        execution: applied.execution,
        job_document,
    })
}
