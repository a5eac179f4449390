//! Handlers: one free function per AWS operation, named after it.
//!
//! A handler turns the generated request DTO into core types, calls the store, and
//! turns the result back into the generated response DTO. Rules live in
//! `iotjobs-core`; SQL in `iotjobs-store`; wire details in `wire` and `error`.
//! Checks the model cannot express (e.g. at most 10 status-details pairs) are core
//! functions too; a handler only calls them.
//!
//! Handlers use `app`, `error`, `wire`, `x509` and the generated DTOs; they must not import
//! `server` (which calls them) or know HTTP.

mod certificates;
pub(crate) mod convert;
mod data_plane;
mod endpoint;
mod job_executions;
mod job_templates;
mod jobs;
mod managed_templates;
mod policy;
mod things;

use crate::app::App;
use crate::error::ApiError;
use crate::wire::Plane;
use iotjobs_core::Store;
use iotjobs_model::generated::{iot, iot_jobs_data};
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

/// Call the handler for `op` on `plane`.
///
/// The served operations are the generated `Operation` enums, matched exhaustively: a
/// served operation without a handler does not compile. An operation of the model that
/// iotjobs does not serve answers 501 NotImplementedException, so a client sees an
/// AWS-shaped error that names the operation rather than a bare 404 (decoding refuses
/// such an operation first, as its input shape is not generated; this is the same answer
/// for one that has no input).
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
    let not_implemented =
        || ApiError::not_implemented(format!("iotjobs does not implement {op} yet"));
    match plane {
        Plane::Control => {
            use iot::Operation as Op;
            let Some(op) = Op::from_name(op) else {
                return Err(not_implemented());
            };
            match op {
                Op::DescribeEndpoint => returns!(endpoint::describe_endpoint),
                Op::CreateThing => returns!(things::create_thing),
                Op::DescribeThing => returns!(things::describe_thing),
                Op::ListThings => returns!(things::list_things),
                Op::DeleteThing => returns!(things::delete_thing),
                Op::UpdateThing => returns!(things::update_thing),
                Op::CreateThingGroup => returns!(things::create_thing_group),
                Op::DescribeThingGroup => returns!(things::describe_thing_group),
                Op::UpdateThingGroup => returns!(things::update_thing_group),
                Op::DeleteThingGroup => returns!(things::delete_thing_group),
                Op::ListThingGroups => returns!(things::list_thing_groups),
                Op::ListThingGroupsForThing => returns!(things::list_thing_groups_for_thing),
                Op::AddThingToThingGroup => returns!(things::add_thing_to_thing_group),
                Op::RemoveThingFromThingGroup => returns!(things::remove_thing_from_thing_group),
                Op::ListThingsInThingGroup => returns!(things::list_things_in_thing_group),
                Op::RegisterCertificateWithoutCA => {
                    returns!(certificates::register_certificate_without_ca)
                }
                Op::CreateKeysAndCertificate => {
                    returns!(certificates::create_keys_and_certificate)
                }
                Op::DescribeCertificate => returns!(certificates::describe_certificate),
                Op::UpdateCertificate => empty!(certificates::update_certificate),
                Op::DeleteCertificate => empty!(certificates::delete_certificate),
                Op::ListCertificates => returns!(certificates::list_certificates),
                Op::AttachThingPrincipal => returns!(certificates::attach_thing_principal),
                Op::DetachThingPrincipal => returns!(certificates::detach_thing_principal),
                Op::ListThingPrincipals => returns!(certificates::list_thing_principals),
                Op::CreateJob => returns!(jobs::create_job),
                Op::DescribeJob => returns!(jobs::describe_job),
                Op::ListJobs => returns!(jobs::list_jobs),
                Op::UpdateJob => empty!(jobs::update_job),
                Op::CancelJob => returns!(jobs::cancel_job),
                Op::AssociateTargetsWithJob => returns!(jobs::associate_targets_with_job),
                Op::DeleteJob => empty!(jobs::delete_job),
                Op::GetJobDocument => returns!(jobs::get_job_document),
                Op::ListManagedJobTemplates => {
                    returns!(managed_templates::list_managed_job_templates)
                }
                Op::DescribeManagedJobTemplate => {
                    returns!(managed_templates::describe_managed_job_template)
                }
                Op::CreateJobTemplate => returns!(job_templates::create_job_template),
                Op::DescribeJobTemplate => returns!(job_templates::describe_job_template),
                Op::ListJobTemplates => returns!(job_templates::list_job_templates),
                Op::DeleteJobTemplate => empty!(job_templates::delete_job_template),
                Op::DescribeJobExecution => returns!(job_executions::describe_job_execution),
                Op::CancelJobExecution => empty!(job_executions::cancel_job_execution),
                Op::DeleteJobExecution => empty!(job_executions::delete_job_execution),
                Op::ListJobExecutionsForJob => {
                    returns!(job_executions::list_job_executions_for_job)
                }
                Op::ListJobExecutionsForThing => {
                    returns!(job_executions::list_job_executions_for_thing)
                }
            }
        }
        Plane::Data => {
            use iot_jobs_data::Operation as Op;
            let Some(op) = Op::from_name(op) else {
                return Err(not_implemented());
            };
            match op {
                Op::GetPendingJobExecutions => returns!(data_plane::get_pending_job_executions),
                Op::StartNextPendingJobExecution => {
                    returns!(data_plane::start_next_pending_job_execution)
                }
                Op::DescribeJobExecution => returns!(data_plane::describe_job_execution),
                Op::UpdateJobExecution => returns!(data_plane::update_job_execution),
            }
        }
    }
}
