//! Handlers: one free function per AWS operation, named after it.
//!
//! A handler turns the generated request DTO into core types, calls the store, and
//! turns the result back into the generated response DTO. Rules live in
//! `iotjobs-core`; SQL in `iotjobs-store`; wire details in `wire` and `error`.
//! Handlers may add checks the model cannot express (e.g. at most 10 status-details
//! pairs) and must say where AWS documents them.

pub(crate) mod convert;
mod data_plane;
mod job_executions;
mod jobs;
mod things;

use crate::error::ApiError;
use crate::server::{App, Plane};
use iotjobs_core::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decode a validated input into its DTO. Validation already ran against the model, so
/// a failure here means the value is outside what serde accepts (e.g. a huge integer).
fn parse<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input)
        .map_err(|e| ApiError::invalid_request(format!("Could not decode request: {e}")))
}

fn encode<T: Serialize>(output: T) -> Result<Option<Value>, ApiError> {
    serde_json::to_value(output)
        .map(Some)
        .map_err(|e| ApiError::new("InternalFailureException", 500, e.to_string()))
}

/// Call the handler for `op` on `plane`. Operations in the model that iotjobs does not
/// serve answer 501 NotImplementedException, so a client sees an AWS-shaped error
/// that names the operation rather than a bare 404.
pub(crate) async fn call<S: Store>(
    app: &App<S>,
    plane: Plane,
    op: &str,
    input: Value,
) -> Result<Option<Value>, ApiError> {
    let jobs = |e| ApiError::from_jobs(e, plane, &app.config);
    // `returns` operations answer their output shape; `empty` ones (no output shape in
    // the model) answer 200 with an empty body.
    macro_rules! returns {
        ($handler:path) => {
            encode($handler(app, parse(input)?).await.map_err(jobs)?)
        };
    }
    macro_rules! empty {
        ($handler:path) => {{
            $handler(app, parse(input)?).await.map_err(jobs)?;
            Ok(None)
        }};
    }
    match (plane, op) {
        (Plane::Control, "CreateThing") => returns!(things::create_thing),
        (Plane::Control, "DescribeThing") => returns!(things::describe_thing),
        (Plane::Control, "ListThings") => returns!(things::list_things),
        (Plane::Control, "DeleteThing") => returns!(things::delete_thing),
        (Plane::Control, "CreateThingGroup") => returns!(things::create_thing_group),
        (Plane::Control, "DescribeThingGroup") => returns!(things::describe_thing_group),
        (Plane::Control, "AddThingToThingGroup") => returns!(things::add_thing_to_thing_group),
        (Plane::Control, "RemoveThingFromThingGroup") => {
            returns!(things::remove_thing_from_thing_group)
        }
        (Plane::Control, "ListThingsInThingGroup") => {
            returns!(things::list_things_in_thing_group)
        }
        (Plane::Control, "CreateJob") => returns!(jobs::create_job),
        (Plane::Control, "DescribeJob") => returns!(jobs::describe_job),
        (Plane::Control, "ListJobs") => returns!(jobs::list_jobs),
        (Plane::Control, "UpdateJob") => empty!(jobs::update_job),
        (Plane::Control, "CancelJob") => returns!(jobs::cancel_job),
        (Plane::Control, "DeleteJob") => empty!(jobs::delete_job),
        (Plane::Control, "GetJobDocument") => returns!(jobs::get_job_document),
        (Plane::Control, "DescribeJobExecution") => {
            returns!(job_executions::describe_job_execution)
        }
        (Plane::Control, "CancelJobExecution") => empty!(job_executions::cancel_job_execution),
        (Plane::Control, "DeleteJobExecution") => empty!(job_executions::delete_job_execution),
        (Plane::Control, "ListJobExecutionsForJob") => {
            returns!(job_executions::list_job_executions_for_job)
        }
        (Plane::Control, "ListJobExecutionsForThing") => {
            returns!(job_executions::list_job_executions_for_thing)
        }
        (Plane::Data, "GetPendingJobExecutions") => {
            returns!(data_plane::get_pending_job_executions)
        }
        (Plane::Data, "StartNextPendingJobExecution") => {
            returns!(data_plane::start_next_pending_job_execution)
        }
        (Plane::Data, "DescribeJobExecution") => returns!(data_plane::describe_job_execution),
        (Plane::Data, "UpdateJobExecution") => returns!(data_plane::update_job_execution),
        (_, other) => Err(ApiError::new(
            "NotImplementedException",
            501,
            format!("iotjobs does not implement {other} yet"),
        )),
    }
}
