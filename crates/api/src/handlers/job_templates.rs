//! Custom job templates: CreateJobTemplate, DescribeJobTemplate, ListJobTemplates,
//! DeleteJobTemplate.
//!
//! A template keeps what CreateJob would be given (a document, the presigned-URL,
//! rollout, abort, timeout and retry configs, maintenance windows, package versions) as
//! a [`JobBasis`], its configs as the request's JSON texts. They are checked here with
//! CreateJob's own checks (`policy.rs`, the core's timeout and policy rules), so a
//! template never holds a config that a job made from it would refuse. Which basis a
//! template may have and what it takes from a job (`jobArn`) are the core's rules
//! (`iotjobs_core::template`); this module only converts, and words no message.

use super::convert::{
    check_document, config_json, config_value, control_time, job_template_arn, next_token,
    page_request, parse_job_arn,
};
use super::jobs::{UpdatableConfigs, own_basis};
use super::policy::{PolicyConfigs, job_policy, maintenance_windows};
use crate::app::App;
use iotjobs_core::job::check_in_progress_timeout;
use iotjobs_core::template::{check_template_basis, inherit};
use iotjobs_core::{Job, JobBasis, JobTemplate, JobsError, NewJobTemplate, Store, Timestamp};
use iotjobs_model::generated::iot::{
    CreateJobTemplateRequest, CreateJobTemplateResponse, DeleteJobTemplateRequest,
    DescribeJobTemplateRequest, DescribeJobTemplateResponse, JobTemplateSummary,
    ListJobTemplatesRequest, ListJobTemplatesResponse, MaintenanceWindow, SchedulingConfig,
    TimeoutConfig,
};

/// A template's (and a job's) maintenance windows, as a config of their own.
pub(crate) const MAINTENANCE_WINDOWS: &str = "maintenanceWindows";

/// CreateJobTemplate. With `jobArn`, the template copies the job's document and configs
/// (as they are now, after any UpdateJob), and the members the request gives override
/// them ([`inherit`]); an unknown job is 404.
pub(crate) async fn create_job_template<S: Store>(
    app: &App<S>,
    req: CreateJobTemplateRequest,
) -> Result<CreateJobTemplateResponse, JobsError> {
    check_template_basis(
        req.document.is_some(),
        req.document_source.is_some(),
        req.job_arn.is_some(),
    )?;
    check_document(req.document.as_deref())?;
    let mut own = own_basis(
        (req.document, req.document_source),
        UpdatableConfigs {
            presigned_url: req.presigned_url_config.as_ref(),
            rollout: req.job_executions_rollout_config.as_ref(),
            abort: req.abort_config.as_ref(),
            timeout: req.timeout_config.as_ref(),
            retry: req.job_executions_retry_config.as_ref(),
        },
        req.maintenance_windows.as_ref(),
        req.destination_package_versions.as_ref(),
    );
    config_json(&mut own.configs, "tags", req.tags.as_ref());
    let basis = match req.job_arn.as_deref() {
        None => own,
        Some(arn) => {
            let job_id = parse_job_arn(&app.config, arn)?;
            let job = app
                .store
                .describe_job(&job_id)
                .await?
                .ok_or_else(|| JobsError::job_not_found(&job_id))?;
            inherit(&basis_of_job(&job), own)
        }
    };
    check_template_configs(&basis, app.now())?;
    let id = req.job_template_id;
    let new = NewJobTemplate {
        job_template_id: id.clone(),
        description: req.description,
        basis,
    };
    app.store.create_job_template(new, app.now()).await?;
    Ok(CreateJobTemplateResponse {
        job_template_arn: Some(job_template_arn(&app.config, &id)),
        job_template_id: Some(id),
    })
}

/// A job as a template's basis: its document and configs, the maintenance windows of
/// its `schedulingConfig` as the template's own member (a template has no start or end
/// time).
fn basis_of_job(job: &Job) -> JobBasis {
    let mut configs = job.configs.clone();
    let windows = config_value::<SchedulingConfig>(&job.configs, "schedulingConfig")
        .and_then(|s| s.maintenance_windows);
    config_json(&mut configs, MAINTENANCE_WINDOWS, windows.as_ref());
    // A job made from a `documentSource` also holds the text read from it at its
    // creation; the template keeps the source, so that its jobs read it again at theirs
    // (as a template created with that source would).
    let document = match &job.document_source {
        Some(_) => None,
        None => job.document.clone(),
    };
    JobBasis {
        document,
        document_source: job.document_source.clone(),
        configs,
    }
}

/// CreateJob's checks of the configs a template keeps (a job's own come from the
/// request and were checked with it; a copied one is checked again, at no cost).
fn check_template_configs(basis: &JobBasis, now: Timestamp) -> Result<(), JobsError> {
    let c = &basis.configs;
    let timeout: Option<TimeoutConfig> = config_value(c, "timeoutConfig");
    check_in_progress_timeout(timeout.and_then(|t| t.in_progress_timeout_in_minutes))?;
    let windows: Option<Vec<MaintenanceWindow>> = config_value(c, MAINTENANCE_WINDOWS);
    maintenance_windows(windows.as_deref().unwrap_or_default(), MAINTENANCE_WINDOWS)?;
    job_policy(
        PolicyConfigs {
            rollout: config_value(c, "jobExecutionsRolloutConfig").as_ref(),
            abort: config_value(c, "abortConfig").as_ref(),
            retry: config_value(c, "jobExecutionsRetryConfig").as_ref(),
            scheduling: None,
        },
        now,
    )
    .map(drop)
}

pub(crate) async fn describe_job_template<S: Store>(
    app: &App<S>,
    req: DescribeJobTemplateRequest,
) -> Result<DescribeJobTemplateResponse, JobsError> {
    let id = req.job_template_id;
    let t = app
        .store
        .describe_job_template(&id)
        .await?
        .ok_or_else(|| JobsError::job_template_not_found(&id))?;
    let c = &t.basis.configs;
    Ok(DescribeJobTemplateResponse {
        job_template_arn: Some(job_template_arn(&app.config, &id)),
        job_template_id: Some(id),
        description: Some(t.description.clone()),
        document_source: t.basis.document_source.clone(),
        document: t.basis.document.clone(),
        created_at: Some(control_time(t.created_at)),
        presigned_url_config: config_value(c, "presignedUrlConfig"),
        job_executions_rollout_config: config_value(c, "jobExecutionsRolloutConfig"),
        abort_config: config_value(c, "abortConfig"),
        timeout_config: config_value(c, "timeoutConfig"),
        job_executions_retry_config: config_value(c, "jobExecutionsRetryConfig"),
        maintenance_windows: config_value(c, MAINTENANCE_WINDOWS),
        destination_package_versions: config_value(c, "destinationPackageVersions"),
    })
}

/// ListJobTemplates: in id order (AWS documents no order), keyset pages of
/// `maxResults` (1-250, 100 when not given).
pub(crate) async fn list_job_templates<S: Store>(
    app: &App<S>,
    req: ListJobTemplatesRequest,
) -> Result<ListJobTemplatesResponse, JobsError> {
    let page = app
        .store
        .list_job_templates(page_request(req.next_token.as_deref(), req.max_results)?)
        .await?;
    Ok(ListJobTemplatesResponse {
        job_templates: Some(page.items.iter().map(|t| summary(app, t)).collect()),
        next_token: next_token(page.next),
    })
}

fn summary<S>(app: &App<S>, t: &JobTemplate) -> JobTemplateSummary {
    JobTemplateSummary {
        job_template_arn: Some(job_template_arn(&app.config, &t.job_template_id)),
        job_template_id: Some(t.job_template_id.clone()),
        description: Some(t.description.clone()),
        created_at: Some(control_time(t.created_at)),
    }
}

/// DeleteJobTemplate: jobs made from the template keep what they took from it.
pub(crate) async fn delete_job_template<S: Store>(
    app: &App<S>,
    req: DeleteJobTemplateRequest,
) -> Result<(), JobsError> {
    app.store
        .delete_job_template(&req.job_template_id, app.now())
        .await
}
