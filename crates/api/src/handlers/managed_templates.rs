//! AWS managed job templates at the edge: ListManagedJobTemplates,
//! DescribeManagedJobTemplate, and what CreateJob needs from a managed template's ARN
//! ([`managed_template_for_job`]).
//!
//! The templates and the rules (which parameters, which checks, how a document is
//! filled in) live in `iotjobs_core::managed_templates`; this module only converts them
//! to the generated DTOs, reads and writes the ARNs
//! (`arn:aws:iot:{region}::jobtemplate/{name}:{version}`, with no account: the templates
//! are AWS's, the same for every account), and lends the core the two things it cannot do
//! itself: matching a Java regex and quoting a value for a JSON string. It must not word
//! an error message or decide a rule. An account's own job templates are not here.

use super::convert::{next_token, page_request};
use crate::app::{AccountConfig, App};
use iotjobs_core::managed_templates::{
    MANAGED_TEMPLATES, ManagedTemplate, TemplateParameter, job_document, list_managed_templates,
    managed_template,
};
use iotjobs_core::{JobsError, Store};
use iotjobs_model::generated::iot::{
    CreateJobRequest, DescribeManagedJobTemplateRequest, DescribeManagedJobTemplateResponse,
    DocumentParameter, ListManagedJobTemplatesRequest, ListManagedJobTemplatesResponse,
    ManagedJobTemplateSummary,
};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What CreateJob takes from a managed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManagedJob {
    /// The template's document with the request's `documentParameters` filled in.
    pub document: String,
    /// The template's description, for a request that gives none (AWS's CLI example
    /// answers CreateJob from a managed template with the template's description).
    pub description: String,
    /// The template's ARN with its version, as DescribeJob reports `jobTemplateArn`.
    pub template_arn: String,
}

/// `Some(arn)` when CreateJob's `jobTemplateArn` is a managed template's: an ARN with an
/// empty account field. An account's own templates carry the account.
pub(crate) fn managed_template_arn(job_template_arn: Option<&str>) -> Option<&str> {
    let arn = job_template_arn?;
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts[..], ["arn", _, _, _, "", _]).then_some(arn)
}

/// CreateJob with the managed template `arn` ([`managed_template_arn`]): the template it
/// names (the default version when the ARN has none), checked against the request, and
/// the job document made from it and `documentParameters`. The request may not bring a
/// document of its own (`document` or `documentSource`).
pub(crate) fn managed_template_for_job(
    config: &AccountConfig,
    arn: &str,
    req: &CreateJobRequest,
) -> Result<ManagedJob, JobsError> {
    let (name, version) = parse_managed_template_arn(config, arn)?;
    let template = managed_template(name, version)?;
    if req.document.is_some() || req.document_source.is_some() {
        return Err(JobsError::managed_template_with_document());
    }
    let no_parameters = BTreeMap::new();
    let parameters = req.document_parameters.as_ref().unwrap_or(&no_parameters);
    let document = job_document(template, parameters, matches, quote)?;
    Ok(ManagedJob {
        document,
        description: template.description.to_owned(),
        template_arn: template_arn(config, template),
    })
}

/// ListManagedJobTemplates: every template (or the versions of `templateName`), in name
/// and version order.
pub(crate) async fn list_managed_job_templates<S: Store>(
    app: &App<S>,
    req: ListManagedJobTemplatesRequest,
) -> Result<ListManagedJobTemplatesResponse, JobsError> {
    let page = list_managed_templates(
        req.template_name.as_deref(),
        &page_request(req.next_token.as_deref(), req.max_results)?,
    )?;
    Ok(ListManagedJobTemplatesResponse {
        managed_job_templates: Some(
            page.items
                .iter()
                .map(|t| ManagedJobTemplateSummary {
                    template_arn: Some(template_arn(&app.config, t)),
                    template_name: Some(t.name.to_owned()),
                    description: Some(t.description.to_owned()),
                    environments: Some(environments(t)),
                    template_version: Some(t.version.to_owned()),
                })
                .collect(),
        ),
        next_token: next_token(page.next),
    })
}

/// DescribeManagedJobTemplate: one template, at `templateVersion` or the default version.
pub(crate) async fn describe_managed_job_template<S: Store>(
    app: &App<S>,
    req: DescribeManagedJobTemplateRequest,
) -> Result<DescribeManagedJobTemplateResponse, JobsError> {
    let t = managed_template(&req.template_name, req.template_version.as_deref())?;
    Ok(DescribeManagedJobTemplateResponse {
        template_name: Some(t.name.to_owned()),
        template_arn: Some(template_arn(&app.config, t)),
        description: Some(t.description.to_owned()),
        template_version: Some(t.version.to_owned()),
        environments: Some(environments(t)),
        document_parameters: Some(t.parameters.iter().map(document_parameter).collect()),
        document: Some(t.document.to_owned()),
    })
}

fn template_arn(config: &AccountConfig, t: &ManagedTemplate) -> String {
    format!(
        "arn:aws:iot:{}::jobtemplate/{}:{}",
        config.region, t.name, t.version
    )
}

/// `arn:aws:iot:{region}::jobtemplate/{name}[:{version}]` → name and version. A
/// template of another region is not this service's.
fn parse_managed_template_arn<'a>(
    config: &AccountConfig,
    arn: &'a str,
) -> Result<(&'a str, Option<&'a str>), JobsError> {
    let bad = || JobsError::invalid_job_template_arn(arn);
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iot", region, "", resource] = parts[..] else {
        return Err(bad());
    };
    if !partition.starts_with("aws") {
        return Err(bad());
    }
    if region != config.region {
        return Err(JobsError::job_template_outside_region(arn, &config.region));
    }
    let template = resource.strip_prefix("jobtemplate/").ok_or_else(bad)?;
    let (name, version) = match template.split_once(':') {
        Some((name, version)) => (name, Some(version)),
        None => (template, None),
    };
    if name.is_empty() || version.is_some_and(str::is_empty) {
        return Err(bad());
    }
    Ok((name, version))
}

fn environments(t: &ManagedTemplate) -> Vec<String> {
    t.environments.iter().map(|e| (*e).to_owned()).collect()
}

fn document_parameter(p: &TemplateParameter) -> DocumentParameter {
    DocumentParameter {
        key: Some(p.key.to_owned()),
        description: Some(p.description.to_owned()),
        regex: Some(p.regex.to_owned()),
        example: Some(p.example.to_owned()),
        optional: Some(p.optional),
    }
}

/// Whether `value` matches the template parameter regex `regex` as a whole, as Java's
/// `String.matches` reads it (the model crate's translation). The templates' few
/// regexes are compiled once; one that does not compile matches nothing (a unit test
/// keeps that from happening).
fn matches(regex: &str, value: &str) -> bool {
    static COMPILED: OnceLock<Vec<(&'static str, Option<Regex>)>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| {
        let mut regexes: Vec<&'static str> = MANAGED_TEMPLATES
            .iter()
            .flat_map(|t| t.parameters.iter().map(|p| p.regex))
            .collect();
        regexes.sort_unstable();
        regexes.dedup();
        regexes
            .into_iter()
            .map(|r| (r, iotjobs_model::pattern::compile_pattern(r).ok()))
            .collect()
    });
    compiled
        .iter()
        .find(|(r, _)| *r == regex)
        .and_then(|(_, re)| re.as_ref())
        .is_some_and(|re| re.is_match(value))
}

/// `value` as it goes between the quotes of a JSON string.
fn quote(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn create(parameters: &[(&str, &str)]) -> CreateJobRequest {
        CreateJobRequest {
            job_id: "j".into(),
            targets: vec![],
            document_parameters: Some(
                parameters
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    const DOWNLOAD: &str = "arn:aws:iot:us-east-1::jobtemplate/AWS-Download-File:1.0";

    #[test]
    fn managed_arns_are_those_without_an_account() {
        assert_eq!(managed_template_arn(Some(DOWNLOAD)), Some(DOWNLOAD));
        assert_eq!(
            managed_template_arn(Some("arn:aws:iot:us-east-1:000000000000:jobtemplate/mine")),
            None
        );
        assert_eq!(managed_template_arn(Some("nonsense")), None);
        assert_eq!(managed_template_arn(None), None);
    }

    #[test]
    fn arns_name_a_template_of_this_region() {
        let c = AccountConfig::default();
        assert_eq!(
            parse_managed_template_arn(&c, DOWNLOAD),
            Ok(("AWS-Download-File", Some("1.0")))
        );
        assert_eq!(
            parse_managed_template_arn(&c, "arn:aws:iot:us-east-1::jobtemplate/AWS-Reboot"),
            Ok(("AWS-Reboot", None))
        );
        for bad in [
            "arn:aws:iot:us-east-1::job/AWS-Reboot:1.0",
            "arn:aws:iot:us-east-1::jobtemplate/",
            "arn:aws:iot:us-east-1::jobtemplate/AWS-Reboot:",
            "arn:aws:s3:us-east-1::jobtemplate/AWS-Reboot:1.0",
            "arn:other:iot:us-east-1::jobtemplate/AWS-Reboot:1.0",
            "arn:aws:iot:eu-west-1::jobtemplate/AWS-Reboot:1.0",
        ] {
            assert!(
                matches!(
                    parse_managed_template_arn(&c, bad),
                    Err(JobsError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
        // Every template's ARN reads back as itself.
        for t in MANAGED_TEMPLATES {
            let arn = template_arn(&c, t);
            assert_eq!(
                parse_managed_template_arn(&c, &arn),
                Ok((t.name, Some(t.version)))
            );
        }
    }

    #[test]
    fn every_template_regex_compiles_and_reads_as_java_does() {
        // A regex that does not compile would match nothing, its example included.
        for t in MANAGED_TEMPLATES {
            for p in t.parameters {
                assert!(matches(p.regex, p.example), "{} {}", t.name, p.key);
            }
        }
        assert!(matches("(.){0,256}", &"é".repeat(256)));
        assert!(!matches("(.){0,256}", &"é".repeat(257)));
        assert!(matches("(.){0,4096}", &"a".repeat(4096)));
        assert!(!matches("(.){0,4096}", &"a".repeat(4097)));
        assert!(matches("(.*?)", "anything at all"));
        // Full match: a line break is outside `.`, as in Java.
        assert!(!matches("(.*?)", "a\nb"));
        // A regex of no template matches nothing.
        assert!(!matches("x", "x"));
    }

    #[test]
    fn values_are_quoted_for_a_json_string() {
        assert_eq!(quote(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(quote("tab\there"), r"tab\there");
        assert_eq!(quote("é ✓"), "é ✓");
    }

    #[test]
    fn a_job_from_a_template_gets_a_valid_filled_in_document() {
        let c = AccountConfig::default();
        let job = managed_template_for_job(
            &c,
            DOWNLOAD,
            &create(&[
                ("downloadUrl", r#"https://example.com/"x".bin"#),
                ("filePath", r"C:\tmp\x.bin"),
            ]),
        )
        .unwrap();
        let doc: Value = serde_json::from_str(&job.document).unwrap();
        assert_eq!(
            doc,
            json!({"version": "1.0", "steps": [{"action": {
                "name": "Download-File",
                "type": "runHandler",
                "input": {
                    "handler": "download-file.sh",
                    "args": [r#"https://example.com/"x".bin"#, r"C:\tmp\x.bin"],
                    "path": "",
                },
                "runAsUser": "",
            }}]})
        );
        assert_eq!(job.template_arn, DOWNLOAD);
        assert_eq!(
            job.description,
            managed_template("AWS-Download-File", None)
                .unwrap()
                .description
        );
        // Without a version the ARN means the default one, and DescribeJob shows it.
        let job = managed_template_for_job(
            &c,
            "arn:aws:iot:us-east-1::jobtemplate/AWS-Reboot",
            &CreateJobRequest::default(),
        )
        .unwrap();
        assert_eq!(
            job.template_arn,
            "arn:aws:iot:us-east-1::jobtemplate/AWS-Reboot:1.0"
        );
    }

    #[test]
    fn every_template_document_is_json_of_the_published_shape() {
        for t in MANAGED_TEMPLATES {
            let doc: Value = serde_json::from_str(t.document).unwrap();
            assert_eq!(
                serde_json::to_string(&doc).unwrap().len(),
                t.document.len(),
                "{}: not compact",
                t.name
            );
            assert_eq!(doc["version"], "1.0");
            let steps = doc["steps"].as_array().unwrap();
            assert_eq!(steps.len(), 1, "{}", t.name);
            let action = &steps[0]["action"];
            assert_eq!(action["runAsUser"], "${aws:iot:parameter:runAsUser}");
            let input = &action["input"];
            match action["type"].as_str() {
                Some("runHandler") => {
                    assert!(input["handler"].as_str().unwrap().ends_with(".sh"));
                    assert_eq!(input["path"], "${aws:iot:parameter:pathToHandler}");
                }
                Some("runCommand") => {
                    assert_eq!(input["command"], "${aws:iot:parameter:command}");
                }
                other => panic!("{}: type {other:?}", t.name),
            }
        }
    }

    #[test]
    fn refusals_of_create_job() {
        let c = AccountConfig::default();
        let with_document = CreateJobRequest {
            document: Some("{}".into()),
            ..create(&[("downloadUrl", "u"), ("filePath", "f")])
        };
        assert_eq!(
            managed_template_for_job(&c, DOWNLOAD, &with_document),
            Err(JobsError::managed_template_with_document())
        );
        let with_source = CreateJobRequest {
            document_source: Some("https://example.com/doc.json".into()),
            ..create(&[("downloadUrl", "u"), ("filePath", "f")])
        };
        assert_eq!(
            managed_template_for_job(&c, DOWNLOAD, &with_source),
            Err(JobsError::managed_template_with_document())
        );
        assert!(matches!(
            managed_template_for_job(
                &c,
                "arn:aws:iot:us-east-1::jobtemplate/AWS-Nope:1.0",
                &CreateJobRequest::default()
            ),
            Err(JobsError::NotFound(_))
        ));
        assert!(matches!(
            managed_template_for_job(&c, DOWNLOAD, &create(&[("downloadUrl", "u")])),
            Err(JobsError::InvalidRequest(m)) if m.contains("filePath")
        ));
        let long_user = "u".repeat(257);
        assert!(matches!(
            managed_template_for_job(
                &c,
                DOWNLOAD,
                &create(&[("downloadUrl", "u"), ("filePath", "f"), ("runAsUser", &long_user)])
            ),
            Err(JobsError::InvalidRequest(m)) if m.contains("runAsUser")
        ));
    }
}
