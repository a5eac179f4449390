//! Conformance checks of custom job templates: create (once: an id in use is a
//! conflict), describe, list in keyset pages, delete (an unknown id is not found), each
//! change in the audit log, and a reset that wipes them.

use super::*;
use iotjobs_core::audit::{AuditFilter, AuditSubject};
use iotjobs_core::{JobBasis, NewJobTemplate};

fn template(id: &str) -> NewJobTemplate {
    NewJobTemplate {
        job_template_id: id.into(),
        description: format!("template {id}"),
        basis: JobBasis {
            document: Some(r#"{"op":"install"}"#.into()),
            document_source: None,
            configs: BTreeMap::from([
                (
                    "jobExecutionsRolloutConfig".to_string(),
                    r#"{"maximumPerMinute":1}"#.to_string(),
                ),
                (
                    "tags".to_string(),
                    r#"[{"Key":"k","Value":"v"}]"#.to_string(),
                ),
            ]),
        },
    }
}

/// Create, describe, refuse the same id again (ConflictException with the id), delete,
/// then refuse to delete or describe what is gone; the id is free again afterwards.
pub async fn job_templates_create_describe_and_delete<S: Store>(s: S) {
    let created = s.create_job_template(template("t1"), T0).await.unwrap();
    assert_eq!(created.created_at, T0);
    assert_eq!(created.description, "template t1");
    let read = s.describe_job_template("t1").await.unwrap().unwrap();
    assert_eq!(read, created, "stored as given, configs verbatim");
    assert_eq!(s.describe_job_template("nope").await.unwrap(), None);

    let mut other = template("t1");
    other.description = "another".into();
    let again = s
        .create_job_template(other, Timestamp(T0.0 + 1))
        .await
        .unwrap_err();
    assert_eq!(again, JobsError::job_template_already_exists("t1"));
    assert_eq!(
        s.describe_job_template("t1").await.unwrap().unwrap(),
        created,
        "the first template is kept"
    );

    // A template from a document source, with no configs.
    let by_source = NewJobTemplate {
        job_template_id: "t2".into(),
        description: "d".into(),
        basis: JobBasis {
            document: None,
            document_source: Some("https://example.com/doc.json".into()),
            configs: BTreeMap::new(),
        },
    };
    s.create_job_template(by_source.clone(), T0).await.unwrap();
    let t2 = s.describe_job_template("t2").await.unwrap().unwrap();
    assert_eq!(t2.basis, by_source.basis);

    s.delete_job_template("t1", T0).await.unwrap();
    assert_eq!(s.describe_job_template("t1").await.unwrap(), None);
    let gone = s.delete_job_template("t1", T0).await.unwrap_err();
    assert_eq!(gone, JobsError::job_template_not_found("t1"));
    let unknown = s.delete_job_template("never", T0).await.unwrap_err();
    assert!(matches!(unknown, JobsError::NotFound(_)), "{unknown:?}");
    s.create_job_template(template("t1"), T0).await.unwrap();
    assert!(s.describe_job_template("t2").await.unwrap().is_some());
}

/// ListJobTemplates pages by id, whatever the creation order; a template created while
/// listing, with an id before the cursor, is not in the rest of the listing.
pub async fn job_templates_list_in_id_pages<S: Store>(s: S) {
    for id in ["c", "a", "e", "b", "d"] {
        s.create_job_template(template(id), T0).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let p = s.list_job_templates(page(after, 2)).await.unwrap();
        pages += 1;
        assert!(p.items.len() <= 2);
        seen.extend(p.items.into_iter().map(|t| t.job_template_id));
        if pages == 1 {
            s.create_job_template(template("0"), T0).await.unwrap();
        }
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);
    let all = s.list_job_templates(page(None, 250)).await.unwrap();
    assert_eq!(all.items.len(), 6);
    assert_eq!(all.next, None);
    assert_eq!(all.items[0].basis, template("0").basis);
}

/// Creating and deleting a template are audited, with the template's id as the name;
/// a refused create or delete leaves no record; a reset wipes templates.
pub async fn job_templates_are_audited_and_reset<S: Store>(s: S) {
    use iotjobs_core::audit::{Actor, with_actor};
    let actor = |op: &str| Actor {
        principal: "AKADMIN".into(),
        operation: op.into(),
        ..Actor::default()
    };
    with_actor(
        actor("CreateJobTemplate"),
        s.create_job_template(template("t1"), T0),
    )
    .await
    .unwrap();
    with_actor(
        actor("CreateJobTemplate"),
        s.create_job_template(template("t1"), T0),
    )
    .await
    .unwrap_err();
    with_actor(actor("DeleteJobTemplate"), s.delete_job_template("t1", T0))
        .await
        .unwrap();
    with_actor(actor("DeleteJobTemplate"), s.delete_job_template("t1", T0))
        .await
        .unwrap_err();
    let filter = AuditFilter {
        name: Some("t1".into()),
        ..AuditFilter::default()
    };
    let log = s.list_audit(&filter, page(None, 10)).await.unwrap().items;
    let seen: Vec<(AuditSubject, &str, &str)> = log
        .iter()
        .map(|r| {
            (
                r.change.subject,
                r.actor.operation.as_str(),
                r.actor.principal.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (AuditSubject::JobTemplate, "CreateJobTemplate", "AKADMIN"),
            (AuditSubject::JobTemplate, "DeleteJobTemplate", "AKADMIN"),
        ]
    );

    s.create_job_template(template("t2"), T0).await.unwrap();
    s.reset().await.unwrap();
    assert_eq!(s.describe_job_template("t2").await.unwrap(), None);
    assert!(
        s.list_job_templates(page(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
