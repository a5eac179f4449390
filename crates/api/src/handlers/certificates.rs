//! The certificate registry: certificates registered without a CA or created with their
//! keys (CreateKeysAndCertificate), and things' principals (certificate ARNs).
//!
//! The edge's part is the certificate's encoding: PEM → DER ([`parse_certificate`]), the
//! id (lowercase hex SHA-256 of the DER, as AWS IoT's certificate ids are), the validity
//! dates read from the DER (`crate::x509`), ARNs and markers; and calling the server's
//! certificate issuer (`crate::issuer`, through the account's configuration). Every rule is the core's
//! (`iotjobs_core::certificate`).

use super::convert::{control_time, next_token, page_request};
use crate::app::{AccountConfig, App, arn};
use crate::x509;
use iotjobs_core::error::ResourceKind;
use iotjobs_core::{
    Certificate, CertificateStatus, JobsError, NewCertificate, PageRequest, Store,
    ThingPrincipalType, Timestamp,
};
use iotjobs_model::generated::iot::{
    self, AttachThingPrincipalRequest, AttachThingPrincipalResponse, CertificateDescription,
    CertificateValidity, CreateKeysAndCertificateRequest, CreateKeysAndCertificateResponse,
    DeleteCertificateRequest, DescribeCertificateRequest, DescribeCertificateResponse,
    DetachThingPrincipalRequest, DetachThingPrincipalResponse, KeyPair, ListCertificatesRequest,
    ListCertificatesResponse, ListThingPrincipalsRequest, ListThingPrincipalsResponse,
    RegisterCertificateWithoutCARequest, RegisterCertificateWithoutCAResponse,
    UpdateCertificateRequest,
};

pub(crate) fn certificate_arn(c: &AccountConfig, certificate_id: &str) -> String {
    arn(c, ResourceKind::Certificate, certificate_id)
}

/// What the edge reads from a `certificatePem`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParsedCertificate {
    /// Lowercase hex SHA-256 of the DER.
    pub id: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

/// One PEM `CERTIFICATE` block whose DER is an X.509 certificate (its validity dates are
/// read); anything else is CertificateValidationException.
pub(crate) fn parse_certificate(pem: &str) -> Result<ParsedCertificate, JobsError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use sha2::Digest;
    let mut certs = CertificateDer::pem_slice_iter(pem.as_bytes());
    let der = match certs.next() {
        Some(Ok(der)) => der,
        Some(Err(e)) => return Err(JobsError::invalid_certificate(e)),
        None => return Err(JobsError::invalid_certificate("no PEM CERTIFICATE block")),
    };
    if certs.next().is_some() {
        return Err(JobsError::invalid_certificate(
            "more than one PEM CERTIFICATE block",
        ));
    }
    let (not_before, not_after) = x509::validity(&der)
        .ok_or_else(|| JobsError::invalid_certificate("the DER is not an X.509 certificate"))?;
    let digest = sha2::Sha256::digest(der.as_ref());
    let id = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(ParsedCertificate {
        id,
        not_before,
        not_after,
    })
}

/// A principal: a certificate ARN of this account and region → its certificate id.
fn principal_certificate(c: &AccountConfig, principal: &str) -> Result<String, JobsError> {
    let prefix = format!("arn:aws:iot:{}:{}:cert/", c.region, c.account_id);
    match principal.strip_prefix(&prefix) {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(id.to_owned()),
        _ => Err(JobsError::invalid_principal(principal)),
    }
}

/// A status member, validated against the model's enum already.
fn status(s: &str) -> Result<CertificateStatus, JobsError> {
    CertificateStatus::parse(s).ok_or_else(|| JobsError::unknown_value("status", s))
}

pub(crate) async fn register_certificate_without_ca<S: Store>(
    app: &App<S>,
    req: RegisterCertificateWithoutCARequest,
) -> Result<RegisterCertificateWithoutCAResponse, JobsError> {
    let status =
        CertificateStatus::for_registration(req.status.as_deref().map(status).transpose()?)?;
    let parsed = parse_certificate(&req.certificate_pem)?;
    let new = NewCertificate {
        certificate_id: parsed.id,
        certificate_pem: req.certificate_pem,
        status,
        generation_id: uuid::Uuid::new_v4().to_string(),
        not_before: Some(parsed.not_before),
        not_after: Some(parsed.not_after),
    };
    let cert = app.store.register_certificate(new, app.now()).await?;
    Ok(RegisterCertificateWithoutCAResponse {
        certificate_arn: Some(certificate_arn(&app.config, &cert.certificate_id)),
        certificate_id: Some(cert.certificate_id),
    })
}

/// CreateKeysAndCertificate: a new key pair and a certificate for it, signed by the
/// server's certificate issuer (`--mqtt-client-ca-key`; refused without one), then
/// registered exactly as RegisterCertificateWithoutCA registers a PEM (same id, same
/// validity dates, same store call). The private key is in the response only: AWS
/// returns it once and never again, and iotjobs never stores it.
pub(crate) async fn create_keys_and_certificate<S: Store>(
    app: &App<S>,
    req: CreateKeysAndCertificateRequest,
) -> Result<CreateKeysAndCertificateResponse, JobsError> {
    let issuer = app
        .config
        .certificate_issuer
        .as_deref()
        .ok_or_else(JobsError::certificate_issuer_not_configured)?;
    let status = CertificateStatus::for_created_keys(req.set_as_active);
    let now = app.now();
    let issued = issuer.issue(now)?;
    let parsed = parse_certificate(&issued.certificate_pem)?;
    let new = NewCertificate {
        certificate_id: parsed.id,
        certificate_pem: issued.certificate_pem,
        status,
        generation_id: uuid::Uuid::new_v4().to_string(),
        not_before: Some(parsed.not_before),
        not_after: Some(parsed.not_after),
    };
    let cert = app.store.register_certificate(new, now).await?;
    Ok(CreateKeysAndCertificateResponse {
        certificate_arn: Some(certificate_arn(&app.config, &cert.certificate_id)),
        certificate_id: Some(cert.certificate_id),
        certificate_pem: Some(cert.certificate_pem),
        key_pair: Some(KeyPair {
            public_key: Some(issued.public_key_pem),
            private_key: Some(issued.private_key_pem),
        }),
    })
}

pub(crate) async fn describe_certificate<S: Store>(
    app: &App<S>,
    req: DescribeCertificateRequest,
) -> Result<DescribeCertificateResponse, JobsError> {
    let id = req.certificate_id;
    let c = app
        .store
        .describe_certificate(&id)
        .await?
        .ok_or_else(|| JobsError::certificate_not_found(&id))?;
    Ok(DescribeCertificateResponse {
        certificate_description: Some(CertificateDescription {
            certificate_arn: Some(certificate_arn(&app.config, &c.certificate_id)),
            certificate_id: Some(c.certificate_id),
            ca_certificate_id: None,
            status: Some(c.status.as_str().into()),
            certificate_pem: Some(c.certificate_pem),
            owned_by: Some(app.config.account_id.clone()),
            previous_owned_by: None,
            creation_date: Some(control_time(c.created_at)),
            last_modified_date: Some(control_time(c.last_modified_at)),
            customer_version: Some(c.customer_version.clamp(1, i32::MAX as i64) as i32),
            transfer_data: None,
            generation_id: Some(c.generation_id),
            validity: (c.not_before.is_some() || c.not_after.is_some()).then(|| {
                CertificateValidity {
                    not_before: c.not_before.map(control_time),
                    not_after: c.not_after.map(control_time),
                }
            }),
            certificate_mode: Some("DEFAULT".into()),
        }),
    })
}

/// UpdateCertificate: the core's transition rule; idempotent.
pub(crate) async fn update_certificate<S: Store>(
    app: &App<S>,
    req: UpdateCertificateRequest,
) -> Result<(), JobsError> {
    let new_status = status(&req.new_status)?;
    app.store
        .update_certificate(
            &req.certificate_id,
            new_status,
            uuid::Uuid::new_v4().to_string(),
            app.now(),
        )
        .await
}

/// DeleteCertificate: `forceDelete` overrides only attached policies (model doc), which
/// iotjobs does not have, so it changes nothing.
pub(crate) async fn delete_certificate<S: Store>(
    app: &App<S>,
    req: DeleteCertificateRequest,
) -> Result<(), JobsError> {
    let arn = certificate_arn(&app.config, &req.certificate_id);
    app.store
        .delete_certificate(&req.certificate_id, &arn, app.now())
        .await
}

/// ListCertificates' default page size (model doc).
const CERTIFICATES_PAGE_SIZE: usize = 25;

/// `marker` → page request. Markers are standard base64 (the model's `Marker` pattern
/// allows no URL-safe alphabet) of the versioned store key, like `nextToken`s.
fn marker_request(marker: Option<&str>, page_size: Option<i32>) -> Result<PageRequest, JobsError> {
    use base64::Engine as _;
    let after = match marker.filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => {
            let text = base64::engine::general_purpose::STANDARD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            match text.as_deref().and_then(|s| s.strip_prefix("1:")) {
                Some(key) => Some(key.to_owned()),
                None => return Err(JobsError::invalid_marker()),
            }
        }
    };
    let limit = page_size.map_or(CERTIFICATES_PAGE_SIZE, |n| n.clamp(1, 250) as usize);
    Ok(PageRequest { after, limit })
}

fn next_marker(key: Option<String>) -> Option<String> {
    use base64::Engine as _;
    key.map(|k| base64::engine::general_purpose::STANDARD.encode(format!("1:{k}")))
}

/// ListCertificates: by creation date, newest first unless `isAscendingOrder`.
pub(crate) async fn list_certificates<S: Store>(
    app: &App<S>,
    req: ListCertificatesRequest,
) -> Result<ListCertificatesResponse, JobsError> {
    let page = marker_request(req.marker.as_deref(), req.page_size)?;
    let ascending = req.ascending_order.unwrap_or(false);
    let page = app.store.list_certificates(ascending, page).await?;
    Ok(ListCertificatesResponse {
        certificates: Some(
            page.items
                .into_iter()
                .map(|c: Certificate| iot::Certificate {
                    certificate_arn: Some(certificate_arn(&app.config, &c.certificate_id)),
                    certificate_id: Some(c.certificate_id),
                    status: Some(c.status.as_str().into()),
                    certificate_mode: Some("DEFAULT".into()),
                    creation_date: Some(control_time(c.created_at)),
                })
                .collect(),
        ),
        next_marker: next_marker(page.next),
    })
}

pub(crate) async fn attach_thing_principal<S: Store>(
    app: &App<S>,
    req: AttachThingPrincipalRequest,
) -> Result<AttachThingPrincipalResponse, JobsError> {
    let id = principal_certificate(&app.config, &req.principal)?;
    let kind = match req.thing_principal_type.as_deref() {
        None => ThingPrincipalType::NonExclusive,
        Some(k) => ThingPrincipalType::parse(k)
            .ok_or_else(|| JobsError::unknown_value("thingPrincipalType", k))?,
    };
    app.store
        .attach_thing_principal(&req.thing_name, &id, &req.principal, kind, app.now())
        .await?;
    Ok(AttachThingPrincipalResponse {})
}

pub(crate) async fn detach_thing_principal<S: Store>(
    app: &App<S>,
    req: DetachThingPrincipalRequest,
) -> Result<DetachThingPrincipalResponse, JobsError> {
    let id = principal_certificate(&app.config, &req.principal)?;
    app.store
        .detach_thing_principal(&req.thing_name, &id, app.now())
        .await?;
    Ok(DetachThingPrincipalResponse {})
}

pub(crate) async fn list_thing_principals<S: Store>(
    app: &App<S>,
    req: ListThingPrincipalsRequest,
) -> Result<ListThingPrincipalsResponse, JobsError> {
    let page = app
        .store
        .list_thing_principals(
            &req.thing_name,
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    Ok(ListThingPrincipalsResponse {
        principals: Some(
            page.items
                .iter()
                .map(|id| certificate_arn(&app.config, id))
                .collect(),
        ),
        next_token: next_token(page.next),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_pems_are_certificate_validation_errors() {
        for pem in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n",
        ] {
            assert!(
                matches!(
                    parse_certificate(pem),
                    Err(JobsError::CertificateValidation(_))
                ),
                "{pem:?}"
            );
        }
    }

    #[test]
    fn principals_and_markers() {
        let c = AccountConfig::default();
        let arn = certificate_arn(&c, "ab12");
        assert_eq!(arn, "arn:aws:iot:us-east-1:000000000000:cert/ab12");
        assert_eq!(principal_certificate(&c, &arn), Ok("ab12".into()));
        for bad in [
            "ab12",
            "arn:aws:iot:us-east-1:000000000000:thing/t",
            "arn:aws:iot:eu-west-1:000000000000:cert/ab12",
            "arn:aws:iot:us-east-1:000000000000:cert/",
        ] {
            assert!(
                matches!(
                    principal_certificate(&c, bad),
                    Err(JobsError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
        let m = next_marker(Some("ab/17".into())).unwrap();
        assert!(
            m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        assert_eq!(
            marker_request(Some(&m), None),
            Ok(PageRequest {
                after: Some("ab/17".into()),
                limit: 25
            })
        );
        assert!(marker_request(Some("AAAA"), None).is_err());
    }
}
