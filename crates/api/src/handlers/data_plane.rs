//! The device data plane (`iot-jobs-data`) over HTTP: what a device calls to find, start
//! and report its job executions. The operations are `iotjobs_core::device`'s, shared
//! with the MQTT transport; these handlers only convert DTOs. The documents they return
//! carry presigned URLs signed by the server's S3 client (`AccountConfig::s3`).

use super::convert::{data_execution, data_state, data_summary};
use crate::app::App;
use iotjobs_core::device::{self, DeviceUpdate};
use iotjobs_core::{JobsError, Store};
use iotjobs_model::generated::iot_jobs_data::{
    DescribeJobExecutionRequest, DescribeJobExecutionResponse, GetPendingJobExecutionsRequest,
    GetPendingJobExecutionsResponse, StartNextPendingJobExecutionRequest,
    StartNextPendingJobExecutionResponse, UpdateJobExecutionRequest, UpdateJobExecutionResponse,
};

pub(crate) async fn get_pending_job_executions<S: Store>(
    app: &App<S>,
    req: GetPendingJobExecutionsRequest,
) -> Result<GetPendingJobExecutionsResponse, JobsError> {
    let pending = device::get_pending_job_executions(&app.store, &req.thing_name).await?;
    Ok(GetPendingJobExecutionsResponse {
        in_progress_jobs: Some(pending.in_progress.iter().map(data_summary).collect()),
        queued_jobs: Some(pending.queued.iter().map(data_summary).collect()),
    })
}

/// StartNextPendingJobExecution. Nothing pending: `{}` without `execution`.
pub(crate) async fn start_next_pending_job_execution<S: Store>(
    app: &App<S>,
    req: StartNextPendingJobExecutionRequest,
) -> Result<StartNextPendingJobExecutionResponse, JobsError> {
    let now = app.now();
    let started = device::start_next_pending_job_execution(
        &app.store,
        app.config.s3.as_ref(),
        &req.thing_name,
        req.status_details,
        req.step_timeout_in_minutes,
        now,
    )
    .await?;
    Ok(StartNextPendingJobExecutionResponse {
        execution: started.map(|s| data_execution(&s.execution, s.job_document, now)),
    })
}

/// DescribeJobExecution (data plane). `jobId=$next` arrives as `%24next`; nothing
/// pending → `{}`. "Unless set to false, the response contains the job document"
/// (model doc).
pub(crate) async fn describe_job_execution<S: Store>(
    app: &App<S>,
    req: DescribeJobExecutionRequest,
) -> Result<DescribeJobExecutionResponse, JobsError> {
    let now = app.now();
    let found = device::describe_job_execution(
        &app.store,
        app.config.s3.as_ref(),
        &req.thing_name,
        &req.job_id,
        req.execution_number,
        req.include_job_document.unwrap_or(true),
    )
    .await?;
    Ok(DescribeJobExecutionResponse {
        execution: found.map(|f| data_execution(&f.execution, f.job_document, now)),
    })
}

/// UpdateJobExecution: the device reports progress or a result.
pub(crate) async fn update_job_execution<S: Store>(
    app: &App<S>,
    req: UpdateJobExecutionRequest,
) -> Result<UpdateJobExecutionResponse, JobsError> {
    let update = DeviceUpdate {
        job_id: req.job_id,
        status: req.status,
        status_details: req.status_details,
        expected_version: req.expected_version,
        execution_number: req.execution_number,
        step_timeout_in_minutes: req.step_timeout_in_minutes,
        include_job_document: req.include_job_document.unwrap_or(false),
    };
    let done = device::update_job_execution(
        &app.store,
        app.config.s3.as_ref(),
        &req.thing_name,
        update,
        app.now(),
    )
    .await?;
    Ok(UpdateJobExecutionResponse {
        execution_state: req
            .include_job_execution_state
            .unwrap_or(false)
            .then(|| data_state(&done.execution)),
        job_document: done.job_document,
    })
}
