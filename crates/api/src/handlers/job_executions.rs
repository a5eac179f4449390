//! Control-plane job-execution operations, CancelJobExecution first among them.

use super::convert::{
    control_execution, control_summary, execution_status_filter, next_token, page_request,
    thing_arn,
};
use crate::app::App;
use iotjobs_core::execution::check_status_details;
use iotjobs_core::{ExecutionCommand, ExecutionSelector, JobsError, Store};
use iotjobs_model::generated::iot::{
    CancelJobExecutionRequest, DeleteJobExecutionRequest, DescribeJobExecutionRequest,
    DescribeJobExecutionResponse, JobExecutionSummaryForJob, JobExecutionSummaryForThing,
    ListJobExecutionsForJobRequest, ListJobExecutionsForJobResponse,
    ListJobExecutionsForThingRequest, ListJobExecutionsForThingResponse,
};

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
        thing_name: req.thing_name,
        job_id: req.job_id,
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
    let thing_name = req.thing_name;
    let job_id = req.job_id;
    let selector = ExecutionSelector::Exact {
        thing_name: thing_name.clone(),
        job_id: job_id.clone(),
        execution_number: req.execution_number,
    };
    let exec = app
        .store
        .describe_job_execution(&selector)
        .await?
        .ok_or_else(|| JobsError::job_execution_not_found(&thing_name, &job_id))?;
    Ok(DescribeJobExecutionResponse {
        execution: Some(control_execution(&app.config, &exec, app.now())),
    })
}

/// DeleteJobExecution: without `force`, only QUEUED or finished executions (AWS CLI
/// guide; the rule is the state machine's).
pub(crate) async fn delete_job_execution<S: Store>(
    app: &App<S>,
    req: DeleteJobExecutionRequest,
) -> Result<(), JobsError> {
    let selector = ExecutionSelector::Exact {
        thing_name: req.thing_name,
        job_id: req.job_id,
        execution_number: Some(req.execution_number),
    };
    let cmd = ExecutionCommand::Delete {
        force: req.force.unwrap_or(false),
    };
    app.store
        .update_job_execution(selector, cmd, app.now())
        .await?;
    Ok(())
}

pub(crate) async fn list_job_executions_for_job<S: Store>(
    app: &App<S>,
    req: ListJobExecutionsForJobRequest,
) -> Result<ListJobExecutionsForJobResponse, JobsError> {
    let job_id = req.job_id;
    let page = app
        .store
        .list_job_executions_for_job(
            &job_id,
            execution_status_filter(req.status)?,
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    Ok(ListJobExecutionsForJobResponse {
        execution_summaries: Some(
            page.items
                .iter()
                .map(|e| JobExecutionSummaryForJob {
                    thing_arn: Some(thing_arn(&app.config, &e.thing_name)),
                    job_execution_summary: Some(control_summary(e)),
                })
                .collect(),
        ),
        next_token: next_token(page.next),
    })
}

pub(crate) async fn list_job_executions_for_thing<S: Store>(
    app: &App<S>,
    req: ListJobExecutionsForThingRequest,
) -> Result<ListJobExecutionsForThingResponse, JobsError> {
    let thing_name = req.thing_name;
    let page = app
        .store
        .list_job_executions_for_thing(
            &thing_name,
            execution_status_filter(req.status)?,
            req.job_id.as_deref(),
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    Ok(ListJobExecutionsForThingResponse {
        execution_summaries: Some(
            page.items
                .iter()
                .map(|e| JobExecutionSummaryForThing {
                    job_id: Some(e.job_id.clone()),
                    job_execution_summary: Some(control_summary(e)),
                })
                .collect(),
        ),
        next_token: next_token(page.next),
    })
}
