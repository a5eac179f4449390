//! AWS managed job templates: the eight fixed templates AWS offers in every region
//! (ListManagedJobTemplates, DescribeManagedJobTemplate), and how CreateJob turns one and
//! its `documentParameters` into a job document.
//!
//! Source of the facts below (names, versions, environments, parameter keys, regexes,
//! examples, which parameters are optional, and each job document's structure: steps,
//! action name and type, handler, args, path, runAsUser): the AWS IoT developer guide,
//! "AWS managed templates" ("Managed template remote actions and job documents"), and the
//! DescribeManagedJobTemplate example of "Create a job from AWS managed templates by using
//! the AWS CLI". AWS publishes regexes and examples for AWS-Download-File only; the other
//! templates reuse its patterns. Every description (of a template and of a parameter) is
//! written for iotjobs in our own words; AWS's documentation sentences are not copied.
//!
//! This module holds data and pure rules. It must not know JSON or regular expressions
//! (the core depends on neither): [`job_document`] gets the regex check and the
//! JSON-string quoting of values from its caller, and a document is kept as text with its
//! `${aws:iot:parameter:KEY}` placeholders, never parsed here.

use crate::JobsError;
use crate::page::{Page, PageRequest};
use std::collections::BTreeMap;

/// One managed template, one version of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedTemplate {
    /// `AWS-Download-File` and so on; with the version, the template's identity.
    pub name: &'static str,
    pub version: &'static str,
    /// What the template does (ours; also a created job's default description).
    pub description: &'static str,
    /// Where the device-side handlers run.
    pub environments: &'static [&'static str],
    /// In the order DescribeManagedJobTemplate lists them.
    pub parameters: &'static [TemplateParameter],
    /// The job document as DescribeManagedJobTemplate answers it: compact JSON text with
    /// a `${aws:iot:parameter:KEY}` placeholder inside a JSON string for each parameter.
    pub document: &'static str,
}

/// One entry of a template's `documentParameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateParameter {
    pub key: &'static str,
    /// What the value is for (ours).
    pub description: &'static str,
    /// A Java regular expression the whole value must match.
    pub regex: &'static str,
    pub example: &'static str,
    /// An optional parameter may be left out of CreateJob's `documentParameters`.
    pub optional: bool,
}

/// The version DescribeManagedJobTemplate answers when the request names none (the
/// model's "pre-defined default version"; every managed template has this one only).
pub const DEFAULT_VERSION: &str = "1.0";

/// The placeholder that CreateJob replaces with parameter `key`'s value.
pub const PLACEHOLDER_PREFIX: &str = "${aws:iot:parameter:";

/// The longest job document a job may hold (the model's `JobDocument` max, which the
/// request's own `document` is validated against at the edge).
pub const MAX_DOCUMENT_CHARS: usize = 32_768;

// The two optional parameters every template but AWS-Run-Command has. Regex and example
// as AWS publishes them for AWS-Download-File.
const RUN_AS_USER: TemplateParameter = TemplateParameter {
    key: "runAsUser",
    description: "The user the device runs the action as; left out, the job agent's own user runs it.",
    regex: "(.){0,256}",
    example: "user1",
    optional: true,
};
const PATH_TO_HANDLER: TemplateParameter = TemplateParameter {
    key: "pathToHandler",
    description: "The directory on the device that holds the handler script; left out, the job agent looks in its default place.",
    regex: "(.){0,4096}",
    example: "/path/to/handler/script",
    optional: true,
};

/// A required parameter with AWS-Download-File's published pattern for required values.
const fn required(
    key: &'static str,
    description: &'static str,
    example: &'static str,
) -> TemplateParameter {
    TemplateParameter {
        key,
        description,
        regex: "(.*?)",
        example,
        optional: false,
    }
}

const LINUX: &[&str] = &["LINUX"];

/// Every managed template, sorted by name, then version (the listing order, on which
/// [`list_managed_templates`]'s page keys rely; a test keeps it sorted).
pub const MANAGED_TEMPLATES: &[ManagedTemplate] = &[
    ManagedTemplate {
        name: "AWS-Download-File",
        version: "1.0",
        description: "Have the device fetch a file from a URL and save it at a path of its file system.",
        environments: LINUX,
        parameters: &[
            required(
                "downloadUrl",
                "The address the device fetches the file from, e.g. a public web address or a presigned S3 URL.",
                "http://www.example.com/index.html",
            ),
            required(
                "filePath",
                "Where on the device the fetched file is saved.",
                "/path/to/file",
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Download-File","type":"runHandler","input":{"handler":"download-file.sh","args":["${aws:iot:parameter:downloadUrl}","${aws:iot:parameter:filePath}"],"path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
    ManagedTemplate {
        name: "AWS-Install-Application",
        version: "1.0",
        description: "Have the device install software packages with its package manager.",
        environments: LINUX,
        parameters: &[
            required(
                "packages",
                "The packages to install, their names separated by spaces.",
                "nano curl",
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Install-Application","type":"runHandler","input":{"handler":"install-packages.sh","args":["${aws:iot:parameter:packages}"],"path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
    ManagedTemplate {
        name: "AWS-Reboot",
        version: "1.0",
        description: "Have the device restart its operating system.",
        environments: LINUX,
        parameters: &[RUN_AS_USER, PATH_TO_HANDLER],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Reboot","type":"runHandler","input":{"handler":"reboot.sh","path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
    ManagedTemplate {
        name: "AWS-Remove-Application",
        version: "1.0",
        description: "Have the device uninstall software packages with its package manager.",
        environments: LINUX,
        parameters: &[
            required(
                "packages",
                "The packages to uninstall, their names separated by spaces.",
                "nano curl",
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Remove-Application","type":"runHandler","input":{"handler":"remove-packages.sh","args":["${aws:iot:parameter:packages}"],"path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
    ManagedTemplate {
        name: "AWS-Restart-Application",
        version: "1.0",
        description: "Have the device stop system services and start them again.",
        environments: LINUX,
        parameters: &[
            required(
                "services",
                "The services to restart, their names separated by spaces.",
                "nginx cron",
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Restart-Application","type":"runHandler","input":{"handler":"restart-services.sh","args":["${aws:iot:parameter:services}"],"path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
    ManagedTemplate {
        name: "AWS-Run-Command",
        version: "1.0",
        description: "Have the device run one command line.",
        environments: LINUX,
        parameters: &[
            required(
                "command",
                "The command and its arguments, separated by commas; a comma that is part of an argument must be escaped.",
                "ls,-l,/tmp",
            ),
            RUN_AS_USER,
        ],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Run-Command","type":"runCommand","input":{"command":"${aws:iot:parameter:command}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
    ManagedTemplate {
        name: "AWS-Start-Application",
        version: "1.0",
        description: "Have the device start system services.",
        environments: LINUX,
        parameters: &[
            required(
                "services",
                "The services to start, their names separated by spaces.",
                "nginx cron",
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Start-Application","type":"runHandler","input":{"handler":"start-services.sh","args":["${aws:iot:parameter:services}"],"path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
    ManagedTemplate {
        name: "AWS-Stop-Application",
        version: "1.0",
        description: "Have the device stop system services.",
        environments: LINUX,
        parameters: &[
            required(
                "services",
                "The services to stop, their names separated by spaces.",
                "nginx cron",
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        document: r#"{"version":"1.0","steps":[{"action":{"name":"Stop-Application","type":"runHandler","input":{"handler":"stop-services.sh","args":["${aws:iot:parameter:services}"],"path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#,
    },
];

/// The template `name` at `version`, or at [`DEFAULT_VERSION`] when none is asked for.
pub fn managed_template(
    name: &str,
    version: Option<&str>,
) -> Result<&'static ManagedTemplate, JobsError> {
    let mut versions = MANAGED_TEMPLATES
        .iter()
        .filter(|t| t.name == name)
        .peekable();
    if versions.peek().is_none() {
        return Err(JobsError::managed_template_not_found(name));
    }
    let version = version.unwrap_or(DEFAULT_VERSION);
    versions
        .find(|t| t.version == version)
        .ok_or_else(|| JobsError::managed_template_version_not_found(name, version))
}

/// One page of ListManagedJobTemplates: every template, or with `name` the versions of
/// that one (a name no template has is 404, the one not-found case the model gives this
/// listing). Page keys are `name/version`; the table's order is the listing's.
pub fn list_managed_templates(
    name: Option<&str>,
    page: &PageRequest,
) -> Result<Page<&'static ManagedTemplate>, JobsError> {
    if let Some(name) = name
        && !MANAGED_TEMPLATES.iter().any(|t| t.name == name)
    {
        return Err(JobsError::managed_template_not_found(name));
    }
    let after = match page.after.as_deref() {
        None => None,
        Some(key) => Some(
            key.split_once('/')
                .ok_or_else(JobsError::invalid_next_token)?,
        ),
    };
    let rows = MANAGED_TEMPLATES
        .iter()
        .filter(|t| name.is_none_or(|n| t.name == n))
        .filter(|t| after.is_none_or(|a| (t.name, t.version) > a))
        .take(page.limit.saturating_add(1))
        .collect();
    Ok(Page::from_rows(rows, page.limit, |t| {
        format!("{}/{}", t.name, t.version)
    }))
}

/// CreateJob from a managed template: checks `parameters` (CreateJob's
/// `documentParameters`) against the template and returns the job document, the
/// template's document with every placeholder replaced by its parameter's value.
///
/// Checked in this order, and the first violation is the answer: a key that is not one of
/// the template's parameters; a required parameter missing; a value that does not match
/// its parameter's regex as a whole (`matches(regex, value)`, supplied by the caller, as
/// the core knows no regular expressions). AWS documents none of these refusals; each is
/// an InvalidRequest naming the parameter.
///
/// Each placeholder sits inside a JSON string, so a value goes in through `quote`, which
/// must return it escaped for the inside of a JSON string (without the quotes); an
/// optional parameter left out becomes the empty string, as device code written for AWS
/// expects. A document longer than [`MAX_DOCUMENT_CHARS`] is refused.
pub fn job_document(
    template: &ManagedTemplate,
    parameters: &BTreeMap<String, String>,
    matches: impl Fn(&str, &str) -> bool,
    quote: impl Fn(&str) -> String,
) -> Result<String, JobsError> {
    if let Some(key) = parameters
        .keys()
        .find(|k| !template.parameters.iter().any(|p| p.key == k.as_str()))
    {
        return Err(JobsError::unknown_document_parameter(template, key));
    }
    if let Some(p) = template
        .parameters
        .iter()
        .find(|p| !p.optional && !parameters.contains_key(p.key))
    {
        return Err(JobsError::missing_document_parameter(template, p.key));
    }
    for p in template.parameters {
        if let Some(value) = parameters.get(p.key)
            && !matches(p.regex, value)
        {
            return Err(JobsError::document_parameter_mismatch(p.key, p.regex));
        }
    }

    let mut document = String::with_capacity(template.document.len());
    let mut rest = template.document;
    while let Some(at) = rest.find(PLACEHOLDER_PREFIX) {
        document.push_str(&rest[..at]);
        let after = &rest[at + PLACEHOLDER_PREFIX.len()..];
        let Some(end) = after.find('}') else {
            return Err(JobsError::bug(
                "unterminated placeholder in a managed template",
            ));
        };
        let key = &after[..end];
        if let Some(value) = parameters.get(key) {
            document.push_str(&quote(value));
        }
        rest = &after[end + 1..];
    }
    document.push_str(rest);
    let chars = document.chars().count();
    if chars > MAX_DOCUMENT_CHARS {
        return Err(JobsError::resolved_document_too_long(chars));
    }
    Ok(document)
}

/// The keys of the placeholders in `document`, in order of appearance.
pub fn placeholders(document: &str) -> Vec<&str> {
    document
        .split(PLACEHOLDER_PREFIX)
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(key, _)| key))
        .collect()
}

impl JobsError {
    /// No managed template has this name (DescribeManagedJobTemplate, a name filter of
    /// ListManagedJobTemplates, CreateJob's `jobTemplateArn`).
    pub fn managed_template_not_found(name: &str) -> Self {
        Self::NotFound(format!("Managed job template {name} does not exist"))
    }

    /// The managed template exists, but not in this version.
    pub fn managed_template_version_not_found(name: &str, version: &str) -> Self {
        Self::NotFound(format!(
            "Managed job template {name} has no version {version}"
        ))
    }

    /// A `jobTemplateArn` that names no template: neither
    /// `arn:aws:iot:REGION::jobtemplate/NAME:VERSION` (managed) nor an account's template.
    pub fn invalid_job_template_arn(arn: &str) -> Self {
        Self::InvalidRequest(format!(
            "Invalid jobTemplateArn {arn}: expected arn:aws:iot:REGION::jobtemplate/NAME:VERSION \
             for a managed template"
        ))
    }

    /// A managed template ARN of another region than the service's.
    pub fn job_template_outside_region(arn: &str, region: &str) -> Self {
        Self::InvalidRequest(format!(
            "Job template {arn} is not in this service's region {region}"
        ))
    }

    /// CreateJob with a managed template and its own document: the template is the
    /// document.
    pub fn managed_template_with_document() -> Self {
        Self::InvalidRequest(
            "A job created from a managed template takes its document from the template: \
             give documentParameters, not document or documentSource"
                .into(),
        )
    }

    /// CreateJob with `documentParameters` but no managed template to fill in.
    pub fn document_parameters_without_managed_template() -> Self {
        Self::InvalidRequest(
            "documentParameters can only be given with the jobTemplateArn of a managed \
             template (arn:aws:iot:REGION::jobtemplate/NAME:VERSION)"
                .into(),
        )
    }

    /// A `documentParameters` key that the template does not have.
    pub fn unknown_document_parameter(template: &ManagedTemplate, key: &str) -> Self {
        let keys: Vec<&str> = template.parameters.iter().map(|p| p.key).collect();
        Self::InvalidRequest(format!(
            "Document parameter {key} is not a parameter of managed template {}:{} \
             (its parameters: {})",
            template.name,
            template.version,
            keys.join(", ")
        ))
    }

    /// A required parameter left out of `documentParameters`.
    pub fn missing_document_parameter(template: &ManagedTemplate, key: &str) -> Self {
        Self::InvalidRequest(format!(
            "Managed template {}:{} requires document parameter {key}",
            template.name, template.version
        ))
    }

    /// A parameter value that does not match the parameter's regex. The value itself is
    /// not repeated: it may be 30 KB long.
    pub fn document_parameter_mismatch(key: &str, regex: &str) -> Self {
        Self::InvalidRequest(format!(
            "Document parameter {key} does not match its pattern {regex}"
        ))
    }

    /// The template's document with the values filled in is longer than a job document
    /// may be.
    pub fn resolved_document_too_long(chars: usize) -> Self {
        Self::InvalidRequest(format!(
            "The job document made from the managed template and documentParameters has \
             {chars} characters; a job document has at most {MAX_DOCUMENT_CHARS}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A stand-in for the edge's regex check: `(.){0,N}` as a length limit, anything
    /// else matches.
    fn matches(regex: &str, value: &str) -> bool {
        match regex
            .strip_prefix("(.){0,")
            .and_then(|r| r.strip_suffix('}'))
        {
            Some(n) => value.chars().count() <= n.parse().unwrap(),
            None => true,
        }
    }

    /// A stand-in for JSON quoting that is visible in the output.
    fn quote(value: &str) -> String {
        value.replace('"', "\\\"")
    }

    fn download() -> &'static ManagedTemplate {
        managed_template("AWS-Download-File", None).unwrap()
    }

    #[test]
    fn the_table_is_sorted_and_each_template_is_consistent() {
        let names = [
            "AWS-Download-File",
            "AWS-Install-Application",
            "AWS-Reboot",
            "AWS-Remove-Application",
            "AWS-Restart-Application",
            "AWS-Run-Command",
            "AWS-Start-Application",
            "AWS-Stop-Application",
        ];
        let ours: Vec<&str> = MANAGED_TEMPLATES.iter().map(|t| t.name).collect();
        assert_eq!(ours, names);
        for pair in MANAGED_TEMPLATES.windows(2) {
            assert!((pair[0].name, pair[0].version) < (pair[1].name, pair[1].version));
        }
        for t in MANAGED_TEMPLATES {
            assert_eq!(t.version, DEFAULT_VERSION, "{}", t.name);
            assert_eq!(t.environments, ["LINUX"]);
            // Every placeholder is a parameter and every parameter has a placeholder.
            let mut used = placeholders(t.document);
            used.sort_unstable();
            used.dedup();
            let mut keys: Vec<&str> = t.parameters.iter().map(|p| p.key).collect();
            keys.sort_unstable();
            assert_eq!(used, keys, "{}", t.name);
            // Placeholders only ever fill a whole JSON string.
            for key in placeholders(t.document) {
                assert!(
                    t.document
                        .contains(&format!("\"{PLACEHOLDER_PREFIX}{key}}}\"")),
                    "{} {key}",
                    t.name
                );
            }
            // The action is named after the template.
            let action = t.name.strip_prefix("AWS-").unwrap();
            assert!(
                t.document.contains(&format!("\"name\":\"{action}\"")),
                "{}",
                t.name
            );
            assert!(t.document.chars().all(|c| !c.is_whitespace()));
            for p in t.parameters {
                assert!(!p.description.is_empty() && p.description.ends_with('.'));
                assert!(!p.example.is_empty() && !p.regex.is_empty());
            }
        }
        // runAsUser everywhere; pathToHandler everywhere but AWS-Run-Command.
        for t in MANAGED_TEMPLATES {
            assert!(t.parameters.contains(&RUN_AS_USER));
            assert_eq!(
                t.parameters.contains(&PATH_TO_HANDLER),
                t.name != "AWS-Run-Command"
            );
        }
    }

    #[test]
    fn lookups_by_name_and_version() {
        assert_eq!(download().version, "1.0");
        assert_eq!(
            managed_template("AWS-Reboot", Some("1.0")).unwrap().name,
            "AWS-Reboot"
        );
        assert_eq!(
            managed_template("AWS-Nope", None),
            Err(JobsError::managed_template_not_found("AWS-Nope"))
        );
        assert_eq!(
            managed_template("AWS-Reboot", Some("2.0")),
            Err(JobsError::managed_template_version_not_found(
                "AWS-Reboot",
                "2.0"
            ))
        );
        assert!(matches!(
            managed_template("aws-reboot", None),
            Err(JobsError::NotFound(_))
        ));
    }

    #[test]
    fn listing_pages_through_the_table_and_filters_by_name() {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = list_managed_templates(None, &PageRequest { after, limit: 3 }).unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|t| t.name));
            match page.next {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        let all: Vec<&str> = MANAGED_TEMPLATES.iter().map(|t| t.name).collect();
        assert_eq!(seen, all);

        let one = list_managed_templates(
            Some("AWS-Run-Command"),
            &PageRequest {
                after: None,
                limit: 100,
            },
        )
        .unwrap();
        assert_eq!(one.items.len(), 1);
        assert_eq!(one.next, None);
        assert_eq!(
            list_managed_templates(Some("nope"), &PageRequest::default()).unwrap_err(),
            JobsError::managed_template_not_found("nope")
        );
        assert_eq!(
            list_managed_templates(
                None,
                &PageRequest {
                    after: Some("no-slash".into()),
                    limit: 1
                }
            )
            .unwrap_err(),
            JobsError::invalid_next_token()
        );
        // A full last page has no next key.
        let last = list_managed_templates(
            None,
            &PageRequest {
                after: None,
                limit: MANAGED_TEMPLATES.len(),
            },
        )
        .unwrap();
        assert_eq!(last.next, None);
    }

    #[test]
    fn parameters_are_substituted_and_optional_ones_become_empty() {
        let doc = job_document(
            download(),
            &params(&[
                ("downloadUrl", "https://example.com/a \"b\".bin"),
                ("filePath", "/tmp/a.bin"),
            ]),
            matches,
            quote,
        )
        .unwrap();
        assert_eq!(
            doc,
            r#"{"version":"1.0","steps":[{"action":{"name":"Download-File","type":"runHandler","input":{"handler":"download-file.sh","args":["https://example.com/a \"b\".bin","/tmp/a.bin"],"path":""},"runAsUser":""}}]}"#
        );
        let doc = job_document(
            download(),
            &params(&[
                ("downloadUrl", "u"),
                ("filePath", "f"),
                ("runAsUser", "root"),
                ("pathToHandler", "/opt/handlers"),
            ]),
            matches,
            quote,
        )
        .unwrap();
        assert!(doc.contains(r#""path":"/opt/handlers"},"runAsUser":"root""#));
        // A template without required parameters needs none.
        let reboot = managed_template("AWS-Reboot", None).unwrap();
        let doc = job_document(reboot, &BTreeMap::new(), matches, quote).unwrap();
        assert!(!doc.contains(PLACEHOLDER_PREFIX));
        assert!(doc.contains(r#""runAsUser":"""#));
        // A value that looks like a placeholder is not substituted again.
        let doc = job_document(
            download(),
            &params(&[
                ("downloadUrl", "${aws:iot:parameter:filePath}"),
                ("filePath", "f"),
            ]),
            matches,
            quote,
        )
        .unwrap();
        assert!(doc.contains(r#""args":["${aws:iot:parameter:filePath}","f"]"#));
    }

    #[test]
    fn each_violation_names_the_parameter() {
        let t = download();
        let unknown = job_document(
            t,
            &params(&[("downloadUrl", "u"), ("filePath", "f"), ("extra", "x")]),
            matches,
            quote,
        );
        assert_eq!(
            unknown,
            Err(JobsError::unknown_document_parameter(t, "extra"))
        );
        let JobsError::InvalidRequest(m) = unknown.unwrap_err() else {
            unreachable!()
        };
        assert!(
            m.contains("extra") && m.contains("downloadUrl, filePath"),
            "{m}"
        );

        assert_eq!(
            job_document(t, &params(&[("downloadUrl", "u")]), matches, quote),
            Err(JobsError::missing_document_parameter(t, "filePath"))
        );
        assert_eq!(
            job_document(t, &BTreeMap::new(), matches, quote),
            Err(JobsError::missing_document_parameter(t, "downloadUrl"))
        );
        let long = "u".repeat(257);
        assert_eq!(
            job_document(
                t,
                &params(&[
                    ("downloadUrl", "u"),
                    ("filePath", "f"),
                    ("runAsUser", &long)
                ]),
                matches,
                quote
            ),
            Err(JobsError::document_parameter_mismatch(
                "runAsUser",
                "(.){0,256}"
            ))
        );
        // An unknown key is reported before a missing one; AWS-Run-Command has no
        // pathToHandler.
        let run = managed_template("AWS-Run-Command", None).unwrap();
        assert_eq!(
            job_document(run, &params(&[("pathToHandler", "/x")]), matches, quote),
            Err(JobsError::unknown_document_parameter(run, "pathToHandler"))
        );
        // The matcher sees the template's regex and the value.
        let seen = std::cell::RefCell::new(Vec::new());
        job_document(
            run,
            &params(&[("command", "ls,-l")]),
            |r: &str, v: &str| {
                seen.borrow_mut().push((r.to_owned(), v.to_owned()));
                true
            },
            quote,
        )
        .unwrap();
        assert_eq!(
            seen.into_inner(),
            [("(.*?)".to_owned(), "ls,-l".to_owned())]
        );
    }

    #[test]
    fn a_document_too_long_once_filled_in_is_refused() {
        let fits = "x".repeat(16_000);
        let empty = job_document(
            download(),
            &params(&[("downloadUrl", "u"), ("filePath", "f")]),
            matches,
            quote,
        )
        .unwrap();
        // Exactly at the limit, then one character over it.
        let rest = "y".repeat(MAX_DOCUMENT_CHARS - empty.len() + 2 - fits.len());
        let at_limit = job_document(
            download(),
            &params(&[("downloadUrl", &fits), ("filePath", &rest)]),
            matches,
            quote,
        )
        .unwrap();
        assert_eq!(at_limit.len(), MAX_DOCUMENT_CHARS);
        let over = format!("{rest}y");
        assert_eq!(
            job_document(
                download(),
                &params(&[("downloadUrl", &fits), ("filePath", &over)]),
                matches,
                quote
            ),
            Err(JobsError::resolved_document_too_long(
                MAX_DOCUMENT_CHARS + 1
            ))
        );
    }
}
