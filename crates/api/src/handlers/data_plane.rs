//! The device data plane (`iot-jobs-data`): what a device calls to find, start and
//! report its job executions.

use super::convert::{data_execution, data_state, data_summary};
use crate::app::App;
use iotjobs_core::execution::{check_status_details, check_step_timeout};
use iotjobs_core::{ExecutionCommand, ExecutionSelector, JobExecutionStatus, JobsError, Store};
use iotjobs_model::generated::iot_jobs_data::{
    DescribeJobExecutionRequest, DescribeJobExecutionResponse, GetPendingJobExecutionsRequest,
    GetPendingJobExecutionsResponse, StartNextPendingJobExecutionRequest,
    StartNextPendingJobExecutionResponse, UpdateJobExecutionRequest, UpdateJobExecutionResponse,
};

/// GetPendingJobExecutions returns at most 10 pending executions (AWS IoT Jobs limits).
const MAX_PENDING: usize = 10;

/// The `jobId` that means "the next pending execution" (Jobs device HTTP API).
const NEXT: &str = "$next";

async fn ensure_thing<S: Store>(app: &App<S>, thing_name: &str) -> Result<(), JobsError> {
    match app.store.describe_thing(thing_name).await? {
        Some(_) => Ok(()),
        None => Err(JobsError::thing_not_found(thing_name)),
    }
}

async fn job_document<S: Store>(app: &App<S>, job_id: &str) -> Result<Option<String>, JobsError> {
    Ok(app
        .store
        .describe_job(job_id)
        .await?
        .and_then(|j| j.document))
}

pub(crate) async fn get_pending_job_executions<S: Store>(
    app: &App<S>,
    req: GetPendingJobExecutionsRequest,
) -> Result<GetPendingJobExecutionsResponse, JobsError> {
    let thing_name = req.thing_name;
    let mut pending = app
        .store
        .get_pending_job_executions(&thing_name, MAX_PENDING)
        .await?;
    if pending.is_empty() {
        ensure_thing(app, &thing_name).await?;
    }
    pending.truncate(MAX_PENDING);
    let (in_progress, queued): (Vec<_>, Vec<_>) = pending
        .iter()
        .partition(|e| e.status == JobExecutionStatus::InProgress);
    Ok(GetPendingJobExecutionsResponse {
        in_progress_jobs: Some(in_progress.into_iter().map(data_summary).collect()),
        queued_jobs: Some(queued.into_iter().map(data_summary).collect()),
    })
}

/// StartNextPendingJobExecution: the oldest IN_PROGRESS execution, else the oldest
/// QUEUED one (which becomes IN_PROGRESS). Nothing pending: `{}` without `execution`.
pub(crate) async fn start_next_pending_job_execution<S: Store>(
    app: &App<S>,
    req: StartNextPendingJobExecutionRequest,
) -> Result<StartNextPendingJobExecutionResponse, JobsError> {
    let thing_name = req.thing_name;
    check_status_details(req.status_details.as_ref())?;
    check_step_timeout(req.step_timeout_in_minutes)?;
    let cmd = ExecutionCommand::StartNext {
        status_details: req.status_details,
        step_timeout_in_minutes: req.step_timeout_in_minutes,
    };
    let now = app.now();
    let applied = app
        .store
        .update_job_execution(
            ExecutionSelector::NextPending {
                thing_name: thing_name.clone(),
            },
            cmd,
            now,
        )
        .await?;
    let Some(applied) = applied else {
        ensure_thing(app, &thing_name).await?;
        return Ok(StartNextPendingJobExecutionResponse { execution: None });
    };
    let document = job_document(app, &applied.execution.job_id).await?;
    Ok(StartNextPendingJobExecutionResponse {
        execution: Some(data_execution(&applied.execution, document, now)),
    })
}

/// DescribeJobExecution (data plane). `jobId=$next` (sent as `%24next`) describes the
/// execution StartNext would pick, without changing it; nothing pending → `{}`.
/// An explicit job id of a finished execution is 410 TerminalStateException, as live
/// AWS answers (wire spec §8).
pub(crate) async fn describe_job_execution<S: Store>(
    app: &App<S>,
    req: DescribeJobExecutionRequest,
) -> Result<DescribeJobExecutionResponse, JobsError> {
    let thing_name = req.thing_name;
    let job_id = req.job_id;
    let now = app.now();
    let selector = if job_id == NEXT {
        ExecutionSelector::NextPending {
            thing_name: thing_name.clone(),
        }
    } else {
        ExecutionSelector::Exact {
            thing_name: thing_name.clone(),
            job_id: job_id.clone(),
            execution_number: req.execution_number,
        }
    };
    let Some(exec) = app.store.describe_job_execution(&selector).await? else {
        if job_id == NEXT {
            ensure_thing(app, &thing_name).await?;
            return Ok(DescribeJobExecutionResponse { execution: None });
        }
        return Err(JobsError::job_execution_not_found(&thing_name, &job_id));
    };
    if job_id != NEXT {
        exec.check_describable_by_device()?;
    }
    // "Unless set to false, the response contains the job document" (model doc).
    let document = if req.include_job_document.unwrap_or(true) {
        job_document(app, &exec.job_id).await?
    } else {
        None
    };
    Ok(DescribeJobExecutionResponse {
        execution: Some(data_execution(&exec, document, now)),
    })
}

/// UpdateJobExecution: the device reports progress or a result.
pub(crate) async fn update_job_execution<S: Store>(
    app: &App<S>,
    req: UpdateJobExecutionRequest,
) -> Result<UpdateJobExecutionResponse, JobsError> {
    let thing_name = req.thing_name;
    let job_id = req.job_id;
    let status_text = req.status;
    let status = JobExecutionStatus::parse(&status_text)
        .ok_or_else(|| JobsError::unknown_value("job execution status", &status_text))?;
    check_status_details(req.status_details.as_ref())?;
    check_step_timeout(req.step_timeout_in_minutes)?;
    let cmd = ExecutionCommand::DeviceUpdate {
        status,
        expected_version: req.expected_version,
        status_details: req.status_details,
        step_timeout_in_minutes: req.step_timeout_in_minutes,
    };
    let selector = ExecutionSelector::Exact {
        thing_name,
        job_id,
        execution_number: req.execution_number,
    };
    let applied = app
        .store
        .update_job_execution(selector, cmd, app.now())
        .await?
        .ok_or_else(|| JobsError::bug("an exact execution selector returned nothing"))?;
    let document = if req.include_job_document.unwrap_or(false) {
        job_document(app, &applied.execution.job_id).await?
    } else {
        None
    };
    Ok(UpdateJobExecutionResponse {
        execution_state: req
            .include_job_execution_state
            .unwrap_or(false)
            .then(|| data_state(&applied.execution)),
        job_document: document,
    })
}
