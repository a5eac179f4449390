//! Job templates: a custom template (CreateJobTemplate) keeps a job document and the
//! configs that a job made from it starts with; CreateJob's `jobTemplateArn` names one.
//!
//! What is decided here: what a template is ([`JobTemplate`]), which bases a template may
//! be made from ([`check_template_basis`]), which members a job takes from a template and
//! how the members a request gives itself override them ([`inherit`]: one rule, used for
//! a job made from a template and for a template made from a job), and every message of
//! the template operations.
//!
//! Configs are the JSON texts of the request members, keyed by member name, exactly as a
//! job keeps them ([`crate::job::NewJob::configs`]); the core never reads them. The edge
//! parses what [`inherit`] chose into the rules of [`crate::policy`], so an inherited
//! rollout, abort, retry or maintenance-window config becomes the job's policy and is
//! enforced like one the request gave itself.
//!
//! This module must not parse JSON or ARNs (the edge reads `jobArn` and `jobTemplateArn`)
//! and knows nothing of AWS managed templates: the edge turns one of those into a
//! [`JobBasis`] too, and [`inherit`] treats both alike.

use crate::error::JobsError;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// The config members a job takes from its template, and a template from the job it is
/// made from (CreateJobTemplate's members less `jobArn`, the document, `description` and
/// `tags`). `maintenanceWindows` is a member of its own on a template and the list of
/// that name inside a job's `schedulingConfig`; the edge moves it between the two.
///
/// AWS: a job made from a template "uses" its presigned-URL, rollout, abort, timeout and
/// retry configs unless the request overrides them (AWS IoT developer guide, "Create a
/// job from a custom job template"); a template made from a job "uses all of the
/// configurations specified in the job" ("Create a job template from an existing job").
pub const INHERITED_CONFIGS: [&str; 7] = [
    "presignedUrlConfig",
    "jobExecutionsRolloutConfig",
    "abortConfig",
    "timeoutConfig",
    "jobExecutionsRetryConfig",
    "maintenanceWindows",
    "destinationPackageVersions",
];

/// What a job is made from: its document, inline or by URL, and its configs (member name
/// → JSON text). A template's, a job's, or what a request gives itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobBasis {
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub configs: BTreeMap<String, String>,
}

/// The basis of a new job (or template) made from `basis`, where the request gave `own`:
///
/// - the document is one member whatever its form: a request that gives `document` or
///   `documentSource` replaces the basis's document of either form, so the result never
///   has both unless the request itself gave both (which CreateJob refuses);
/// - each config of [`INHERITED_CONFIGS`] is the request's when it gives it, else the
///   basis's. A config is replaced whole, never merged member by member (*decided*: AWS
///   says only that the request's parameters override the template's, and a rollout or
///   abort config mixed from two sources would be one nobody wrote);
/// - every other config comes from the request only (`tags`, `schedulingConfig`'s times,
///   `documentParameters`, ...).
pub fn inherit(basis: &JobBasis, own: JobBasis) -> JobBasis {
    let (document, document_source) = if own.document.is_some() || own.document_source.is_some() {
        (own.document, own.document_source)
    } else {
        (basis.document.clone(), basis.document_source.clone())
    };
    let mut configs: BTreeMap<String, String> = basis
        .configs
        .iter()
        .filter(|(name, _)| INHERITED_CONFIGS.contains(&name.as_str()))
        .map(|(name, text)| (name.clone(), text.clone()))
        .collect();
    configs.extend(own.configs);
    JobBasis {
        document,
        document_source,
        configs,
    }
}

/// What CreateJobTemplate asks for, once the edge has resolved its basis (the request's
/// own document and configs over those of the job named by `jobArn`, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJobTemplate {
    pub job_template_id: String,
    pub description: String,
    /// The document and configs, `tags` included (kept, and not passed on to jobs).
    pub basis: JobBasis,
}

/// A custom job template as stored. Templates have no status and are never updated
/// (the model has no UpdateJobTemplate); jobs made from one copy what they take, so
/// deleting it changes no job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTemplate {
    pub job_template_id: String,
    pub description: String,
    pub basis: JobBasis,
    pub created_at: Timestamp,
}

impl JobTemplate {
    pub fn create(new: NewJobTemplate, now: Timestamp) -> JobTemplate {
        JobTemplate {
            job_template_id: new.job_template_id,
            description: new.description,
            basis: new.basis,
            created_at: now,
        }
    }
}

/// CreateJobTemplate's basis: exactly one of an inline `document`, a `documentSource`
/// and a `jobArn` (the job whose document and configs the template copies). The model
/// makes none of them required; the model documentation calls `document` "required if
/// you don't specify a value for documentSource" and AWS's guide makes a template from a
/// job without either. None, or more than one, is InvalidRequestException (*decided*:
/// two bases would leave it unclear which document the template keeps).
pub fn check_template_basis(
    document: bool,
    document_source: bool,
    job_arn: bool,
) -> Result<(), JobsError> {
    match [document, document_source, job_arn]
        .into_iter()
        .filter(|given| *given)
        .count()
    {
        1 => Ok(()),
        0 => Err(JobsError::InvalidRequest(
            "Specify one of document, documentSource and jobArn as the template's basis".into(),
        )),
        _ => Err(JobsError::InvalidRequest(
            "Specify only one of document, documentSource and jobArn as the template's basis"
                .into(),
        )),
    }
}

impl JobsError {
    /// A custom template named by the request (DescribeJobTemplate, DeleteJobTemplate, a
    /// `jobTemplateArn`) does not exist.
    pub fn job_template_not_found(job_template_id: &str) -> Self {
        Self::NotFound(format!("Job template {job_template_id} does not exist"))
    }

    /// CreateJobTemplate with an id in use: ConflictException with `resourceId`, as the
    /// operation's model declares (not ResourceAlreadyExistsException).
    pub fn job_template_already_exists(job_template_id: &str) -> Self {
        Self::Conflict {
            message: format!("Job template {job_template_id} already exists"),
            resource_id: job_template_id.to_owned(),
        }
    }

    /// CreateJob's `documentParameters` with a custom template: the model documentation
    /// keeps them for AWS managed templates.
    pub fn document_parameters_with_custom_template() -> Self {
        Self::InvalidRequest(
            "documentParameters can be used only with an AWS managed job template, \
             not with a custom job template"
                .into(),
        )
    }

    /// An AWS managed template (`arn:aws:iot:{region}::jobtemplate/{name}:{version}`)
    /// that is not known.
    pub fn managed_job_template_not_found(name: &str, version: Option<&str>) -> Self {
        match version {
            Some(v) => Self::NotFound(format!("Managed job template {name}:{v} not found")),
            None => Self::NotFound(format!("Managed job template {name} not found")),
        }
    }

    /// A `jobArn` or `jobTemplateArn` of another region or account: a resource this
    /// service does not hold.
    pub fn arn_outside_account(arn: &str, region: &str, account_id: &str) -> Self {
        Self::InvalidRequest(format!(
            "{arn} is not a resource of this service's region {region} and account {account_id}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn template() -> JobBasis {
        JobBasis {
            document: Some("{\"t\":1}".into()),
            document_source: None,
            configs: configs(&[
                ("presignedUrlConfig", "P"),
                ("jobExecutionsRolloutConfig", "R"),
                ("abortConfig", "A"),
                ("timeoutConfig", "T"),
                ("jobExecutionsRetryConfig", "Y"),
                ("maintenanceWindows", "W"),
                ("destinationPackageVersions", "D"),
                ("tags", "tags of the template"),
            ]),
        }
    }

    #[test]
    fn a_request_without_members_takes_everything_inheritable() {
        let job = inherit(&template(), JobBasis::default());
        assert_eq!(job.document.as_deref(), Some("{\"t\":1}"));
        assert_eq!(job.document_source, None);
        let names: Vec<&str> = job.configs.keys().map(String::as_str).collect();
        let mut want = INHERITED_CONFIGS.to_vec();
        want.sort_unstable();
        assert_eq!(names, want, "tags are not inherited");
    }

    #[test]
    fn each_member_the_request_gives_wins_and_only_that_one() {
        for name in INHERITED_CONFIGS {
            let own = JobBasis {
                configs: configs(&[(name, "mine")]),
                ..JobBasis::default()
            };
            let job = inherit(&template(), own);
            for other in INHERITED_CONFIGS {
                let want = if other == name {
                    "mine".to_string()
                } else {
                    template().configs[other].clone()
                };
                assert_eq!(job.configs[other], want, "{name} given, {other} read");
            }
        }
    }

    #[test]
    fn the_document_is_one_member_in_either_form() {
        let own = JobBasis {
            document_source: Some("https://example.com/doc.json".into()),
            ..JobBasis::default()
        };
        let job = inherit(&template(), own);
        assert_eq!(
            (job.document, job.document_source.as_deref()),
            (None, Some("https://example.com/doc.json"))
        );
        let by_source = JobBasis {
            document: None,
            document_source: Some("https://example.com/t.json".into()),
            configs: BTreeMap::new(),
        };
        let own = JobBasis {
            document: Some("{}".into()),
            ..JobBasis::default()
        };
        let job = inherit(&by_source, own);
        assert_eq!(
            (job.document.as_deref(), job.document_source),
            (Some("{}"), None)
        );
    }

    #[test]
    fn members_that_are_not_inherited_come_from_the_request_only() {
        let own = JobBasis {
            configs: configs(&[("tags", "mine"), ("schedulingConfig", "S")]),
            ..JobBasis::default()
        };
        let job = inherit(&template(), own);
        assert_eq!(job.configs["tags"], "mine");
        assert_eq!(job.configs["schedulingConfig"], "S");
        let basis = JobBasis {
            configs: configs(&[("namespaceId", "n"), ("documentParameters", "p")]),
            ..template()
        };
        let job = inherit(&basis, JobBasis::default());
        assert!(!job.configs.contains_key("namespaceId"));
        assert!(!job.configs.contains_key("documentParameters"));
    }

    #[test]
    fn a_template_has_exactly_one_basis() {
        let mut table = String::new();
        for mask in 0..8u8 {
            let (d, s, j) = (mask & 1 != 0, mask & 2 != 0, mask & 4 != 0);
            let out = match check_template_basis(d, s, j) {
                Ok(()) => "ok",
                Err(JobsError::InvalidRequest(m)) if m.starts_with("Specify one") => "none",
                Err(JobsError::InvalidRequest(_)) => "several",
                Err(e) => panic!("{e:?}"),
            };
            table.push_str(&format!("document={d} source={s} job={j}: {out}\n"));
        }
        assert_eq!(
            table,
            "\
document=false source=false job=false: none
document=true source=false job=false: ok
document=false source=true job=false: ok
document=true source=true job=false: several
document=false source=false job=true: ok
document=true source=false job=true: several
document=false source=true job=true: several
document=true source=true job=true: several
"
        );
    }

    #[test]
    fn errors_carry_the_template_id() {
        assert_eq!(
            JobsError::job_template_already_exists("t1"),
            JobsError::Conflict {
                message: "Job template t1 already exists".into(),
                resource_id: "t1".into(),
            }
        );
        assert!(matches!(
            JobsError::job_template_not_found("t1"),
            JobsError::NotFound(m) if m.contains("t1")
        ));
        assert!(matches!(
            JobsError::managed_job_template_not_found("AWS-Reboot", Some("1.0")),
            JobsError::NotFound(m) if m.contains("AWS-Reboot:1.0") && m.contains("not found")
        ));
    }
}
