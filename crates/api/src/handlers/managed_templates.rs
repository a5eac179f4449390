//! AWS managed job templates at the edge: ListManagedJobTemplates and
//! DescribeManagedJobTemplate.
//!
//! The templates and the rules (which parameters, which checks, how a document is
//! filled in) live in `iotjobs_core::managed_templates`; this module only converts them
//! to the generated DTOs, reads and writes the ARNs
//! (`arn:aws:iot:{region}::jobtemplate/{name}:{version}`, with no account: the templates
//! are AWS's, the same for every account). It must not word an error message or decide a
//! rule. An account's own job templates are not here.

use super::convert::{next_token, page_request};
use crate::app::{AccountConfig, App};
use iotjobs_core::managed_templates::{
    ManagedTemplate, TemplateParameter, list_managed_templates, managed_template,
};
use iotjobs_core::{JobsError, Store};
use iotjobs_model::generated::iot::{
    DescribeManagedJobTemplateRequest, DescribeManagedJobTemplateResponse, DocumentParameter,
    ListManagedJobTemplatesRequest, ListManagedJobTemplatesResponse, ManagedJobTemplateSummary,
};

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
