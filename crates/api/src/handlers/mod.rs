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
    match (plane, op) {
        (Plane::Control, "CreateThing") => encode(
            things::create_thing(app, parse(input)?)
                .await
                .map_err(jobs)?,
        ),
        (Plane::Control, "DescribeThing") => encode(
            things::describe_thing(app, parse(input)?)
                .await
                .map_err(jobs)?,
        ),
        (Plane::Control, "CreateJob") => {
            encode(jobs::create_job(app, parse(input)?).await.map_err(jobs)?)
        }
        (Plane::Control, "DescribeJob") => {
            encode(jobs::describe_job(app, parse(input)?).await.map_err(jobs)?)
        }
        (Plane::Control, "DescribeJobExecution") => encode(
            job_executions::describe_job_execution(app, parse(input)?)
                .await
                .map_err(jobs)?,
        ),
        (Plane::Control, "CancelJobExecution") => {
            job_executions::cancel_job_execution(app, parse(input)?)
                .await
                .map_err(jobs)?;
            Ok(None)
        }
        (Plane::Data, "GetPendingJobExecutions") => encode(
            data_plane::get_pending_job_executions(app, parse(input)?)
                .await
                .map_err(jobs)?,
        ),
        (Plane::Data, "StartNextPendingJobExecution") => encode(
            data_plane::start_next_pending_job_execution(app, parse(input)?)
                .await
                .map_err(jobs)?,
        ),
        (Plane::Data, "DescribeJobExecution") => encode(
            data_plane::describe_job_execution(app, parse(input)?)
                .await
                .map_err(jobs)?,
        ),
        (Plane::Data, "UpdateJobExecution") => encode(
            data_plane::update_job_execution(app, parse(input)?)
                .await
                .map_err(jobs)?,
        ),
        (_, other) => Err(ApiError::new(
            "NotImplementedException",
            501,
            format!("iotjobs does not implement {other} yet"),
        )),
    }
}
