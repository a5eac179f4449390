//! Job operations: create, describe, update, cancel, delete, list, get the document.

use super::convert::{
    Target, config_json, config_value, control_time, job_arn, next_token, page_request,
    parse_target,
};
use super::policy::{PolicyConfigs, job_policy, scheduled_job_rollouts};
use crate::app::App;
use iotjobs_core::job::{DocumentKind, check_create_job, check_in_progress_timeout};
use iotjobs_core::{
    AssociatedTargets, Job, JobFilter, JobStatus, JobUpdate, JobsError, NewJob, Store,
    TargetSelection,
};
use iotjobs_model::generated::iot::{
    AbortConfig, AssociateTargetsWithJobRequest, AssociateTargetsWithJobResponse, CancelJobRequest,
    CancelJobResponse, CreateJobRequest, CreateJobResponse, DeleteJobRequest, DescribeJobRequest,
    DescribeJobResponse, GetJobDocumentRequest, GetJobDocumentResponse, Job as JobDto,
    JobExecutionsRetryConfig, JobExecutionsRolloutConfig,
    JobProcessDetails as JobProcessDetailsDto, JobSummary, ListJobsRequest, ListJobsResponse,
    PresignedUrlConfig, SchedulingConfig, TimeoutConfig, UpdateJobRequest,
};
use std::collections::BTreeMap;

pub(crate) async fn create_job<S: Store>(
    app: &App<S>,
    req: CreateJobRequest,
) -> Result<CreateJobResponse, JobsError> {
    let job_id = req.job_id;
    let targets = req.targets;
    check_create_job(
        targets.len(),
        req.document.is_some(),
        req.document_source.is_some(),
    )?;
    if let Some(doc) = &req.document {
        check_job_document(doc)?;
    }
    if req.job_template_arn.is_some() {
        return Err(JobsError::not_supported("jobTemplateArn"));
    }
    let target_selection = match req.target_selection.as_deref() {
        None => TargetSelection::Snapshot,
        Some(s) => TargetSelection::parse(s)
            .ok_or_else(|| JobsError::unknown_value("targetSelection", s))?,
    };
    let in_progress_timeout_minutes = req
        .timeout_config
        .as_ref()
        .and_then(|t| t.in_progress_timeout_in_minutes);
    check_in_progress_timeout(in_progress_timeout_minutes)?;
    let policy = job_policy(
        PolicyConfigs {
            rollout: req.job_executions_rollout_config.as_ref(),
            abort: req.abort_config.as_ref(),
            retry: req.job_executions_retry_config.as_ref(),
            scheduling: req.scheduling_config.as_ref(),
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

    let mut configs = updatable_configs(UpdatableConfigs {
        presigned_url: req.presigned_url_config.as_ref(),
        rollout: req.job_executions_rollout_config.as_ref(),
        abort: req.abort_config.as_ref(),
        timeout: req.timeout_config.as_ref(),
        retry: req.job_executions_retry_config.as_ref(),
    });
    config_json(&mut configs, "tags", req.tags.as_ref());
    config_json(
        &mut configs,
        "schedulingConfig",
        req.scheduling_config.as_ref(),
    );
    config_json(&mut configs, "namespaceId", req.namespace_id.as_ref());
    config_json(
        &mut configs,
        "documentParameters",
        req.document_parameters.as_ref(),
    );
    config_json(
        &mut configs,
        "destinationPackageVersions",
        req.destination_package_versions.as_ref(),
    );

    let new = NewJob {
        job_id: job_id.clone(),
        targets,
        target_things,
        target_groups,
        document: req.document,
        document_source: req.document_source,
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

/// An inline job document must be a JSON object; any object the model's 32768
/// characters can hold is accepted and stored as given (GetJobDocument and the devices
/// get the same text back).
///
/// The check never builds the document: serde_json's `IgnoredAny` scans it with an
/// explicit stack instead of recursion (its `ignore_value`), so it has no depth limit
/// (32 KB of `[` nest 16k deep, far past the 128 levels `serde_json::Value` allows), and
/// it reads numbers as digits without converting them, so `1e400` or a 40-digit
/// integer is accepted as written rather than refused or rounded through f64.
fn check_job_document(doc: &str) -> Result<(), JobsError> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(doc) {
        // serde_json's message is "<reason> at line L column C"; the core words the rest.
        let text = e.to_string();
        let reason = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(r, _)| r);
        return Err(JobsError::document_not_json(e.line(), e.column(), reason));
    }
    // It parsed, so its first byte after JSON whitespace says what it is.
    let kind = match doc
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()
    {
        Some(b'{') => return Ok(()),
        Some(b'[') => DocumentKind::Array,
        Some(b'"') => DocumentKind::String,
        Some(b't' | b'f') => DocumentKind::Boolean,
        Some(b'n') => DocumentKind::Null,
        _ => DocumentKind::Number,
    };
    Err(JobsError::document_not_object(kind))
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
        job_template_arn: None,
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

/// The configs that both CreateJob and UpdateJob set (UpdateJob's updatable fields).
struct UpdatableConfigs<'a> {
    presigned_url: Option<&'a PresignedUrlConfig>,
    rollout: Option<&'a JobExecutionsRolloutConfig>,
    abort: Option<&'a AbortConfig>,
    timeout: Option<&'a TimeoutConfig>,
    retry: Option<&'a JobExecutionsRetryConfig>,
}

/// Those configs as stored (member name → JSON text); absent ones are left out.
fn updatable_configs(c: UpdatableConfigs<'_>) -> BTreeMap<String, String> {
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
