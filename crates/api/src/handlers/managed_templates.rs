//! AWS managed job templates for CreateJob: the seam where a `jobTemplateArn` without
//! an account (`arn:aws:iot:{region}::jobtemplate/{name}:{version}`) becomes a job's
//! basis.
//!
//! CreateJob (`jobs.rs`) sends every managed-template ARN here, and only here; custom
//! templates never come here. Managed templates are not served yet, so every one is
//! unknown for now; whoever serves them replaces [`managed_template_for_job`]'s body and
//! keeps its signature. This module must not apply the request's overrides: CreateJob
//! applies them over what it returns with `iotjobs_core::template::inherit`, as for a
//! custom template.

use crate::app::App;
use iotjobs_core::{JobBasis, JobsError, Store};
use std::collections::BTreeMap;

/// The basis of a job made from managed template `name` at `version` (`None`: the ARN
/// names no version, so the template's default one): its document with
/// `document_parameters` (CreateJob's `documentParameters`, which only managed templates
/// take) substituted, and its configs. Unknown template: 404.
pub(crate) async fn managed_template_for_job<S: Store>(
    _app: &App<S>,
    name: &str,
    version: Option<&str>,
    _document_parameters: Option<&BTreeMap<String, String>>,
) -> Result<JobBasis, JobsError> {
    Err(JobsError::managed_job_template_not_found(name, version))
}
