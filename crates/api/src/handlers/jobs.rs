//! Job operations: create, describe, update, cancel, delete, list, get the document.

use super::convert::{
    Target, TemplateArn, check_document, config_json, config_value, control_time, job_arn,
    next_token, page_request, parse_job_template_arn, parse_target,
};
use super::job_templates::MAINTENANCE_WINDOWS;
use super::managed_templates::{managed_template_arn, managed_template_for_job};
use super::policy::{PolicyConfigs, job_policy, scheduled_job_rollouts};
use crate::app::App;
use iotjobs_core::job::{check_create_job, check_in_progress_timeout};
use iotjobs_core::presign::{self, Presigner as _};
use iotjobs_core::template::inherit;
use iotjobs_core::{
    AssociatedTargets, Job, JobBasis, JobFilter, JobStatus, JobUpdate, JobsError, NewJob, Store,
    TargetSelection,
};
use iotjobs_model::generated::iot::{
    AbortConfig, AssociateTargetsWithJobRequest, AssociateTargetsWithJobResponse, CancelJobRequest,
    CancelJobResponse, CreateJobRequest, CreateJobResponse, DeleteJobRequest, DescribeJobRequest,
    DescribeJobResponse, GetJobDocumentRequest, GetJobDocumentResponse, Job as JobDto,
    JobExecutionsRetryConfig, JobExecutionsRolloutConfig,
    JobProcessDetails as JobProcessDetailsDto, JobSummary, ListJobsRequest, ListJobsResponse,
    MaintenanceWindow, PresignedUrlConfig, SchedulingConfig, TimeoutConfig, UpdateJobRequest,
};
use std::collections::BTreeMap;

/// CreateJob. With `jobTemplateArn`, the job is made from the template's document and
/// configs, and each member the request gives replaces the template's
/// (`iotjobs_core::template::inherit`); what it inherits becomes its policy exactly as
/// if the request had given it, so the rollout, abort, retry and window rules of a
/// template are enforced on its jobs. An AWS managed template gives the document,
/// filled in with `documentParameters`, and the description when the request has none.
pub(crate) async fn create_job<S: Store>(
    app: &App<S>,
    mut req: CreateJobRequest,
) -> Result<CreateJobResponse, JobsError> {
    let managed = match managed_template_arn(req.job_template_arn.as_deref()) {
        Some(arn) => {
            let managed = managed_template_for_job(&app.config, arn, &req)?;
            req.description = req.description.or(Some(managed.description));
            req.job_template_arn = Some(managed.template_arn);
            Some(JobBasis {
                document: Some(managed.document),
                document_source: None,
                configs: BTreeMap::new(),
            })
        }
        None if req.job_template_arn.is_none() && req.document_parameters.is_some() => {
            return Err(JobsError::document_parameters_without_managed_template());
        }
        None => None,
    };
    let job_id = req.job_id;
    let targets = req.targets;
    // What the request gives itself, as a template keeps it (its maintenance windows
    // as a member of their own), so that one rule can put it over a template's.
    let own = own_basis(
        (req.document, req.document_source),
        UpdatableConfigs {
            presigned_url: req.presigned_url_config.as_ref(),
            rollout: req.job_executions_rollout_config.as_ref(),
            abort: req.abort_config.as_ref(),
            timeout: req.timeout_config.as_ref(),
            retry: req.job_executions_retry_config.as_ref(),
        },
        req.scheduling_config
            .as_ref()
            .and_then(|s| s.maintenance_windows.as_ref()),
        req.destination_package_versions.as_ref(),
    );
    let basis = match (managed, req.job_template_arn.as_deref()) {
        (Some(managed), _) => inherit(&managed, own),
        (None, None) => own,
        (None, Some(arn)) => inherit(
            &template_basis(app, arn, req.document_parameters.as_ref()).await?,
            own,
        ),
    };
    check_create_job(
        targets.len(),
        basis.document.is_some(),
        basis.document_source.is_some(),
    )?;
    check_document(basis.document.as_deref())?;
    let target_selection = match req.target_selection.as_deref() {
        None => TargetSelection::Snapshot,
        Some(s) => TargetSelection::parse(s)
            .ok_or_else(|| JobsError::unknown_value("targetSelection", s))?,
    };
    let c = &basis.configs;
    let in_progress_timeout_minutes = config_value::<TimeoutConfig>(c, "timeoutConfig")
        .and_then(|t| t.in_progress_timeout_in_minutes);
    check_in_progress_timeout(in_progress_timeout_minutes)?;
    let scheduling = scheduling_config(req.scheduling_config, config_value(c, MAINTENANCE_WINDOWS));
    let policy = job_policy(
        PolicyConfigs {
            rollout: config_value(c, "jobExecutionsRolloutConfig").as_ref(),
            abort: config_value(c, "abortConfig").as_ref(),
            retry: config_value(c, "jobExecutionsRetryConfig").as_ref(),
            scheduling: scheduling.as_ref(),
        },
        app.now(),
    )?;

    let mut target_things = Vec::with_capacity(targets.len());
    let mut target_groups = Vec::new();
    for arn in &targets {
        match parse_target(&app.config, arn)? {
            Target::Thing(name) if !target_things.contains(&name) => target_things.push(name),
            Target::ThingGroup(name) if !target_groups.contains(&name) => target_groups.push(name),
            _ => {}
        }
    }

    // The job keeps its windows where DescribeJob shows them, in `schedulingConfig`.
    let mut configs = basis.configs;
    configs.remove(MAINTENANCE_WINDOWS);
    config_json(&mut configs, "schedulingConfig", scheduling.as_ref());
    config_json(&mut configs, "tags", req.tags.as_ref());
    config_json(&mut configs, "namespaceId", req.namespace_id.as_ref());
    config_json(
        &mut configs,
        "documentParameters",
        req.document_parameters.as_ref(),
    );
    config_json(
        &mut configs,
        "jobTemplateArn",
        req.job_template_arn.as_ref(),
    );

    // documentSource: "The job document is retrieved at the time you create the job"
    // (AWS). Read after the request's own checks, so that a malformed request costs no
    // S3 read.
    let document = match (basis.document, &basis.document_source) {
        (None, Some(source)) => {
            let text = app
                .config
                .s3
                .read_document(source, max_document_chars())
                .await?;
            if !is_json_object(&text) {
                return Err(JobsError::document_source_not_object(source));
            }
            Some(text)
        }
        (document, _) => document,
    };
    if let Some(doc) = &document {
        presign::check_placeholders(doc, app.config.s3.endpoint())?;
    }

    let new = NewJob {
        job_id: job_id.clone(),
        targets,
        target_things,
        target_groups,
        document,
        document_source: basis.document_source,
        description: req.description.clone(),
        target_selection,
        in_progress_timeout_minutes,
        policy,
        configs,
    };
    app.store.create_job(new, app.now()).await?;
    Ok(CreateJobResponse {
        job_arn: Some(job_arn(&app.config, &job_id)),
        job_id: Some(job_id),
        description: req.description,
    })
}

/// Whether `text` is a JSON object (a job document must be one).
fn is_json_object(text: &str) -> bool {
    check_document(Some(text)).is_ok()
}

/// The longest job document, in characters: the model's `JobDocument` max (32768),
/// which a document read from `documentSource` must fit as an inline one does.
fn max_document_chars() -> usize {
    use iotjobs_model::generated::iot::MODEL;
    MODEL
        .shape_id("JobDocument")
        .and_then(|id| MODEL.shape(id).max)
        .map_or(32_768, |max| max as usize)
}

/// The basis a custom template of this account gives CreateJob (unknown: 404;
/// `documentParameters` are for managed templates only: 400).
async fn template_basis<S: Store>(
    app: &App<S>,
    arn: &str,
    document_parameters: Option<&BTreeMap<String, String>>,
) -> Result<JobBasis, JobsError> {
    match parse_job_template_arn(&app.config, arn)? {
        TemplateArn::Custom(id) => {
            if document_parameters.is_some() {
                return Err(JobsError::document_parameters_with_custom_template());
            }
            let template = app
                .store
                .describe_job_template(&id)
                .await?
                .ok_or_else(|| JobsError::job_template_not_found(&id))?;
            Ok(template.basis)
        }
        // Managed templates were resolved before (`managed_template_for_job`).
        TemplateArn::Managed { .. } => Err(JobsError::bug("a managed template ARN here")),
    }
}

/// The job's `schedulingConfig`: the request's times and end behaviour, with the
/// maintenance windows the basis settled on (the request's own, else its template's).
fn scheduling_config(
    requested: Option<SchedulingConfig>,
    windows: Option<Vec<MaintenanceWindow>>,
) -> Option<SchedulingConfig> {
    match (requested, windows) {
        (None, None) => None,
        (requested, windows) => Some(SchedulingConfig {
            maintenance_windows: windows,
            ..requested.unwrap_or_default()
        }),
    }
}

/// AssociateTargetsWithJob. `comment` and `namespaceId` are accepted and not kept
/// (docs/compatibility.md).
pub(crate) async fn associate_targets_with_job<S: Store>(
    app: &App<S>,
    req: AssociateTargetsWithJobRequest,
) -> Result<AssociateTargetsWithJobResponse, JobsError> {
    let mut add = AssociatedTargets::default();
    for arn in &req.targets {
        match parse_target(&app.config, arn)? {
            Target::Thing(name) if !add.things.contains(&name) => add.things.push(name),
            Target::ThingGroup(name) if !add.groups.contains(&name) => add.groups.push(name),
            _ => continue,
        }
        add.arns.push(arn.clone());
    }
    let job = app
        .store
        .associate_targets_with_job(&req.job_id, add, app.now())
        .await?;
    Ok(AssociateTargetsWithJobResponse {
        job_arn: Some(job_arn(&app.config, &req.job_id)),
        job_id: Some(req.job_id),
        description: job.description,
    })
}

pub(crate) async fn describe_job<S: Store>(
    app: &App<S>,
    req: DescribeJobRequest,
) -> Result<DescribeJobResponse, JobsError> {
    let job_id = req.job_id;
    let job = app
        .store
        .describe_job(&job_id)
        .await?
        .ok_or_else(|| JobsError::job_not_found(&job_id))?;
    Ok(DescribeJobResponse {
        document_source: job.document_source.clone(),
        job: Some(job_dto(app, &job)),
    })
}

fn job_dto<S>(app: &App<S>, job: &Job) -> JobDto {
    let p = &job.progress;
    let d = &p.process_details;
    let count = |n: i64| Some(i32::try_from(n).unwrap_or(i32::MAX));
    JobDto {
        job_arn: Some(job_arn(&app.config, &p.job_id)),
        job_id: Some(p.job_id.clone()),
        target_selection: Some(p.target_selection.as_str().into()),
        status: Some(p.status.as_str().into()),
        force_canceled: job.force_canceled.then_some(true),
        reason_code: job.reason_code.clone(),
        comment: job.comment.clone(),
        targets: Some(job.targets.clone()),
        description: job.description.clone(),
        presigned_url_config: config_value(&job.configs, "presignedUrlConfig"),
        job_executions_rollout_config: config_value(&job.configs, "jobExecutionsRolloutConfig"),
        abort_config: config_value(&job.configs, "abortConfig"),
        created_at: Some(control_time(job.created_at)),
        last_updated_at: Some(control_time(p.last_updated_at)),
        completed_at: p.completed_at.map(control_time),
        job_process_details: Some(JobProcessDetailsDto {
            processing_targets: None,
            number_of_canceled_things: count(d.canceled),
            number_of_succeeded_things: count(d.succeeded),
            number_of_failed_things: count(d.failed),
            number_of_rejected_things: count(d.rejected),
            number_of_queued_things: count(d.queued),
            number_of_in_progress_things: count(d.in_progress),
            number_of_removed_things: count(d.removed),
            number_of_timed_out_things: count(d.timed_out),
        }),
        // Live AWS returns `timeoutConfig: {}` and `schedulingConfig: {}` for a job
        // created without them (wire spec §8).
        timeout_config: Some(config_value(&job.configs, "timeoutConfig").unwrap_or(
            TimeoutConfig {
                in_progress_timeout_in_minutes: None,
            },
        )),
        namespace_id: config_value(&job.configs, "namespaceId"),
        job_template_arn: config_value(&job.configs, "jobTemplateArn"),
        job_executions_retry_config: config_value(&job.configs, "jobExecutionsRetryConfig"),
        document_parameters: config_value(&job.configs, "documentParameters"),
        is_concurrent: Some(false),
        scheduling_config: Some(
            config_value(&job.configs, "schedulingConfig").unwrap_or(SchedulingConfig::default()),
        ),
        scheduled_job_rollouts: scheduled_job_rollouts(&job.progress.policy, app.now()),
        destination_package_versions: config_value(&job.configs, "destinationPackageVersions"),
    }
}

/// CancelJob: QUEUED executions become CANCELED; IN_PROGRESS ones only with `force`;
/// finished ones stay as they are (AWS CLI guide "Cancel a job").
pub(crate) async fn cancel_job<S: Store>(
    app: &App<S>,
    req: CancelJobRequest,
) -> Result<CancelJobResponse, JobsError> {
    let job_id = req.job_id;
    let job = app
        .store
        .cancel_job(
            &job_id,
            req.force.unwrap_or(false),
            req.reason_code,
            req.comment,
            app.now(),
        )
        .await?;
    Ok(CancelJobResponse {
        job_arn: Some(job_arn(&app.config, &job_id)),
        job_id: Some(job_id),
        description: job.description,
    })
}

/// DeleteJob: the job goes to DELETION_IN_PROGRESS now; its records are removed by the
/// background sweep, which this call wakes.
pub(crate) async fn delete_job<S: Store>(
    app: &App<S>,
    req: DeleteJobRequest,
) -> Result<(), JobsError> {
    let job_id = req.job_id;
    app.store
        .delete_job(&job_id, req.force.unwrap_or(false), app.now())
        .await?;
    app.sweeper.notify_one();
    Ok(())
}

pub(crate) async fn update_job<S: Store>(
    app: &App<S>,
    req: UpdateJobRequest,
) -> Result<(), JobsError> {
    let job_id = req.job_id;
    let in_progress_timeout_minutes = match &req.timeout_config {
        None => None,
        Some(t) => {
            check_in_progress_timeout(t.in_progress_timeout_in_minutes)?;
            Some(t.in_progress_timeout_in_minutes)
        }
    };
    let configs = updatable_configs(UpdatableConfigs {
        presigned_url: req.presigned_url_config.as_ref(),
        rollout: req.job_executions_rollout_config.as_ref(),
        abort: req.abort_config.as_ref(),
        timeout: req.timeout_config.as_ref(),
        retry: req.job_executions_retry_config.as_ref(),
    });
    let update = JobUpdate {
        description: req.description,
        in_progress_timeout_minutes,
        configs,
        rollout: req
            .job_executions_rollout_config
            .as_ref()
            .map(super::policy::rollout)
            .transpose()?,
        abort: req
            .abort_config
            .as_ref()
            .map(super::policy::abort)
            .transpose()?,
        retry: req
            .job_executions_retry_config
            .as_ref()
            .map(super::policy::retry)
            .transpose()?,
    };
    // The request's own checks before the job is looked up (the store's transaction
    // runs `Job::update`, which checks again against the job).
    update.check()?;
    app.store.update_job(&job_id, update, app.now()).await
}

/// GetJobDocument: the document as stored (no presigned-URL substitution, as the AWS
/// CLI guide describes `beforeSubstitution`).
pub(crate) async fn get_job_document<S: Store>(
    app: &App<S>,
    req: GetJobDocumentRequest,
) -> Result<GetJobDocumentResponse, JobsError> {
    let job_id = req.job_id;
    let job = app
        .store
        .describe_job(&job_id)
        .await?
        .ok_or_else(|| JobsError::job_not_found(&job_id))?;
    Ok(GetJobDocumentResponse {
        document: job.document,
    })
}

pub(crate) async fn list_jobs<S: Store>(
    app: &App<S>,
    req: ListJobsRequest,
) -> Result<ListJobsResponse, JobsError> {
    if req.thing_group_id.is_some() {
        return Err(JobFilter::thing_group_id_not_supported());
    }
    let filter = JobFilter {
        status: req
            .status
            .as_deref()
            .map(|s| JobStatus::parse(s).ok_or_else(|| JobsError::unknown_value("status", s)))
            .transpose()?,
        target_selection: req
            .target_selection
            .as_deref()
            .map(|s| {
                TargetSelection::parse(s)
                    .ok_or_else(|| JobsError::unknown_value("targetSelection", s))
            })
            .transpose()?,
        thing_group_name: req.thing_group_name,
    };
    let page = app
        .store
        .list_jobs(
            &filter,
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    Ok(ListJobsResponse {
        jobs: Some(
            page.items
                .iter()
                .map(|j| JobSummary {
                    job_arn: Some(job_arn(&app.config, j.job_id())),
                    job_id: Some(j.job_id().to_owned()),
                    thing_group_id: None,
                    target_selection: Some(j.progress.target_selection.as_str().into()),
                    status: Some(j.progress.status.as_str().into()),
                    created_at: Some(control_time(j.created_at)),
                    last_updated_at: Some(control_time(j.progress.last_updated_at)),
                    completed_at: j.progress.completed_at.map(control_time),
                    is_concurrent: Some(false),
                })
                .collect(),
        ),
        next_token: next_token(page.next),
    })
}

/// The configs that CreateJob, UpdateJob and CreateJobTemplate set (UpdateJob's
/// updatable fields).
pub(super) struct UpdatableConfigs<'a> {
    pub(super) presigned_url: Option<&'a PresignedUrlConfig>,
    pub(super) rollout: Option<&'a JobExecutionsRolloutConfig>,
    pub(super) abort: Option<&'a AbortConfig>,
    pub(super) timeout: Option<&'a TimeoutConfig>,
    pub(super) retry: Option<&'a JobExecutionsRetryConfig>,
}

/// What a CreateJob or CreateJobTemplate request gives itself, as a template keeps it:
/// its document, its configs, its maintenance windows as a member of their own and its
/// package versions (so that one rule, `template::inherit`, can put it over another).
pub(super) fn own_basis(
    (document, document_source): (Option<String>, Option<String>),
    configs: UpdatableConfigs<'_>,
    maintenance_windows: Option<&Vec<MaintenanceWindow>>,
    destination_package_versions: Option<&Vec<String>>,
) -> JobBasis {
    let mut configs = updatable_configs(configs);
    config_json(&mut configs, MAINTENANCE_WINDOWS, maintenance_windows);
    config_json(
        &mut configs,
        "destinationPackageVersions",
        destination_package_versions,
    );
    JobBasis {
        document,
        document_source,
        configs,
    }
}

/// Those configs as stored (member name → JSON text); absent ones are left out.
pub(super) fn updatable_configs(c: UpdatableConfigs<'_>) -> BTreeMap<String, String> {
    let mut configs = BTreeMap::new();
    config_json(&mut configs, "presignedUrlConfig", c.presigned_url);
    config_json(&mut configs, "jobExecutionsRolloutConfig", c.rollout);
    config_json(&mut configs, "abortConfig", c.abort);
    config_json(&mut configs, "timeoutConfig", c.timeout);
    config_json(&mut configs, "jobExecutionsRetryConfig", c.retry);
    configs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_job_document(doc: &str) -> Result<(), JobsError> {
        check_document(Some(doc))
    }

    fn message(doc: &str) -> String {
        match check_job_document(doc) {
            Err(JobsError::InvalidRequest(m)) => m,
            other => panic!("{doc:?}: {other:?}"),
        }
    }

    #[test]
    fn any_object_is_a_job_document() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(16_000), "]".repeat(16_000));
        let huge =
            r#"{"big": 123456789012345678901234567890123456789, "tiny": 1e-400, "far": -1.5E+400}"#;
        for ok in ["{}", " {\"a\": [1, {\"b\": null}]}\n", &deep, huge] {
            assert_eq!(check_job_document(ok), Ok(()), "{ok:.40}");
        }
    }

    #[test]
    fn other_values_and_broken_json_say_what_they_are() {
        for (doc, got) in [
            ("[1]", "an array"),
            (" \"s\"", "a string"),
            ("-1", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            assert_eq!(
                message(doc),
                format!("The job document must be a JSON object; got {got}")
            );
        }
        assert_eq!(
            message("{\"a\":\n  tru}"),
            "The job document is not valid JSON at line 2 column 6: expected ident"
        );
        assert!(message("").starts_with("The job document is not valid JSON at line 1 column 0"));
        assert!(message("{} {}").contains("trailing characters"));
        // a deep document that is cut short is still found broken, without a stack overflow
        let cut = format!("{{\"a\":{}", "[".repeat(16_000));
        assert!(message(&cut).contains("not valid JSON"));
    }
}
