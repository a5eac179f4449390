//! Control-plane job-execution operations, CancelJobExecution first among them.

use super::convert::{check_status_details, control_execution, required};
use crate::generated::iot::{
    CancelJobExecutionRequest, DescribeJobExecutionRequest, DescribeJobExecutionResponse,
};
use crate::server::App;
use iotjobs_core::{ExecutionCommand, ExecutionSelector, JobsError, Store};

/// CancelJobExecution (`PUT /things/{thingName}/jobs/{jobId}/cancel`).
///
/// QUEUED → CANCELED; IN_PROGRESS → CANCELED only with `force=true`; terminal →
/// 409 InvalidStateTransitionException; `expectedVersion` mismatch → 409
/// VersionConflictException. The rules are the core state machine's; this handler
/// only checks the input and picks the execution.
pub(crate) async fn cancel_job_execution<S: Store>(
    app: &App<S>,
    req: CancelJobExecutionRequest,
) -> Result<(), JobsError> {
    check_status_details(req.status_details.as_ref())?;
    let selector = ExecutionSelector::Exact {
        thing_name: required(req.thing_name, "thingName")?,
        job_id: required(req.job_id, "jobId")?,
        execution_number: None,
    };
    let cmd = ExecutionCommand::Cancel {
        force: req.force.unwrap_or(false),
        expected_version: req.expected_version,
        status_details: req.status_details,
    };
    app.store
        .update_job_execution(selector, cmd, app.now())
        .await?;
    Ok(())
}

pub(crate) async fn describe_job_execution<S: Store>(
    app: &App<S>,
    req: DescribeJobExecutionRequest,
) -> Result<DescribeJobExecutionResponse, JobsError> {
    let thing_name = required(req.thing_name, "thingName")?;
    let job_id = required(req.job_id, "jobId")?;
    let selector = ExecutionSelector::Exact {
        thing_name: thing_name.clone(),
        job_id: job_id.clone(),
        execution_number: req.execution_number,
    };
    let exec = app
        .store
        .describe_job_execution(&selector)
        .await?
        .ok_or_else(|| {
            JobsError::NotFound(format!(
                "Job execution for thing {thing_name} within job {job_id} does not exist"
            ))
        })?;
    Ok(DescribeJobExecutionResponse {
        execution: Some(control_execution(&app.config, &exec, app.now())),
    })
}
