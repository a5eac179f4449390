//! The certificate registry: X.509 client certificates (registered without a CA, or
//! created with their keys by CreateKeysAndCertificate), their statuses, and which things
//! they are attached to (as principals).
//!
//! The wire edge parses the PEM (its DER, SHA-256 id and validity dates) and, for
//! CreateKeysAndCertificate, makes the key pair and signs the certificate: no crypto
//! here. What is decided here is every rule about a registered certificate: which status
//! it may be registered or created with, which status changes UpdateCertificate allows,
//! when DeleteCertificate may delete it, and what attaching it to a thing exclusively
//! means.

use crate::error::JobsError;
use crate::time::Timestamp;

/// `CertificateStatus` of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateStatus {
    Active,
    Inactive,
    Revoked,
    PendingTransfer,
    RegisterInactive,
    PendingActivation,
}

impl CertificateStatus {
    pub const ALL: [CertificateStatus; 6] = [
        CertificateStatus::Active,
        CertificateStatus::Inactive,
        CertificateStatus::Revoked,
        CertificateStatus::PendingTransfer,
        CertificateStatus::RegisterInactive,
        CertificateStatus::PendingActivation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Active => "ACTIVE",
            CertificateStatus::Inactive => "INACTIVE",
            CertificateStatus::Revoked => "REVOKED",
            CertificateStatus::PendingTransfer => "PENDING_TRANSFER",
            CertificateStatus::RegisterInactive => "REGISTER_INACTIVE",
            CertificateStatus::PendingActivation => "PENDING_ACTIVATION",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// RegisterCertificateWithoutCA's `status`: ACTIVE when absent; ACTIVE or INACTIVE
    /// only (the other statuses are AWS's internal ones, a transfer's, or deprecated).
    pub fn for_registration(status: Option<Self>) -> Result<Self, JobsError> {
        match status {
            None => Ok(CertificateStatus::Active),
            Some(s @ (CertificateStatus::Active | CertificateStatus::Inactive)) => Ok(s),
            Some(s) => Err(JobsError::certificate_status_not_allowed(s.as_str())),
        }
    }

    /// CreateKeysAndCertificate's status: ACTIVE with `setAsActive=true`, else INACTIVE
    /// (AWS: the certificate is created inactive unless `--set-as-active` is given).
    pub fn for_created_keys(set_as_active: Option<bool>) -> Self {
        if set_as_active == Some(true) {
            CertificateStatus::Active
        } else {
            CertificateStatus::Inactive
        }
    }
}

/// What a thing–principal attachment says about the principal's other things
/// (`ThingPrincipalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThingPrincipalType {
    /// The thing is the only one the principal is attached to.
    Exclusive,
    /// The principal may be attached to other things too (the default).
    NonExclusive,
}

impl ThingPrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            ThingPrincipalType::Exclusive => "EXCLUSIVE_THING",
            ThingPrincipalType::NonExclusive => "NON_EXCLUSIVE_THING",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ThingPrincipalType::Exclusive,
            ThingPrincipalType::NonExclusive,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A certificate to register: what the edge parsed from the PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCertificate {
    /// Lowercase hex SHA-256 of the DER.
    pub certificate_id: String,
    /// The PEM as sent.
    pub certificate_pem: String,
    pub status: CertificateStatus,
    pub generation_id: String,
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
}

/// A registered certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub certificate_id: String,
    pub certificate_pem: String,
    pub status: CertificateStatus,
    pub created_at: Timestamp,
    pub last_modified_at: Timestamp,
    /// Starts at 1; every status change adds 1.
    pub customer_version: i64,
    /// Opaque; a new one with every change.
    pub generation_id: String,
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
}

impl Certificate {
    /// A new registration's record.
    pub fn registered(new: &NewCertificate, now: Timestamp) -> Self {
        Certificate {
            certificate_id: new.certificate_id.clone(),
            certificate_pem: new.certificate_pem.clone(),
            status: new.status,
            created_at: now,
            last_modified_at: now,
            customer_version: 1,
            generation_id: new.generation_id.clone(),
            not_before: new.not_before,
            not_after: new.not_after,
        }
    }

    /// UpdateCertificate: [`status_transition`], then, if the status changes, a new
    /// modification date, customer version and generation id. True if it changed.
    pub fn update_status(
        &mut self,
        new_status: CertificateStatus,
        generation_id: &str,
        now: Timestamp,
    ) -> Result<bool, JobsError> {
        let to = status_transition(self.status, new_status)?;
        if to == self.status {
            return Ok(false);
        }
        self.status = to;
        self.last_modified_at = now;
        self.customer_version += 1;
        self.generation_id = generation_id.to_owned();
        Ok(true)
    }

    /// DeleteCertificate: an ACTIVE certificate must be deactivated first (AWS:
    /// CertificateStateException); one attached to a thing must be detached first
    /// (DeleteConflictException). INACTIVE and REVOKED ones can be deleted (model doc of
    /// DeleteCertificate: "cannot be deleted if it has a policy or IoT thing attached to
    /// it or if its status is set to ACTIVE"). `forceDelete` only overrides attached
    /// policies, which iotjobs does not have.
    pub fn check_deletable(
        &self,
        attached_to_things: bool,
        certificate_arn: &str,
    ) -> Result<(), JobsError> {
        if self.status == CertificateStatus::Active {
            return Err(JobsError::certificate_active_on_delete());
        }
        if attached_to_things {
            return Err(JobsError::certificate_attached_on_delete(certificate_arn));
        }
        Ok(())
    }
}

/// UpdateCertificate's rule: which status a certificate in `from` ends in when asked
/// for `to`.
/// - PENDING_TRANSFER and PENDING_ACTIVATION are AWS's internal statuses and
///   REGISTER_INACTIVE is deprecated: asking for them is refused (model doc of
///   `newStatus`: "will result in an exception being thrown"), InvalidRequestException.
/// - REVOKED is final: a revoked certificate cannot be activated or deactivated again
///   (AWS IoT Developer Guide, "Revoke a client certificate"); CertificateStateException.
/// - Anything else is allowed, and asking for the current status changes nothing (the
///   operation is idempotent, model doc).
pub fn status_transition(
    from: CertificateStatus,
    to: CertificateStatus,
) -> Result<CertificateStatus, JobsError> {
    use CertificateStatus::*;
    match (from, to) {
        (_, PendingTransfer | PendingActivation | RegisterInactive) => {
            Err(JobsError::certificate_status_not_allowed(to.as_str()))
        }
        (Revoked, Revoked) => Ok(Revoked),
        (Revoked, _) => Err(JobsError::certificate_revoked(to.as_str())),
        (_, to) => Ok(to),
    }
}

/// AttachThingPrincipal's rule for `thing`, given the things the principal is attached
/// to now (with each attachment's type): attaching again is idempotent; an exclusive
/// attachment elsewhere, or an exclusive one asked while attached elsewhere, is refused.
/// Returns false when the attachment exists already (nothing to write).
pub fn check_attach(
    principal: &str,
    thing: &str,
    kind: ThingPrincipalType,
    attached: &[(String, ThingPrincipalType)],
) -> Result<bool, JobsError> {
    let elsewhere: Vec<&(String, ThingPrincipalType)> =
        attached.iter().filter(|(t, _)| t != thing).collect();
    if let Some((other, _)) = elsewhere
        .iter()
        .find(|(_, k)| *k == ThingPrincipalType::Exclusive)
    {
        return Err(JobsError::principal_attached_exclusively(principal, other));
    }
    if kind == ThingPrincipalType::Exclusive
        && let Some((other, _)) = elsewhere.first()
    {
        return Err(JobsError::principal_attached_exclusively(principal, other));
    }
    Ok(!attached.iter().any(|(t, _)| t == thing))
}

/// Why a device presenting a client certificate may not connect as a thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// The certificate is not registered in the account.
    NotRegistered,
    /// Registered, but its status is not ACTIVE.
    NotActive(CertificateStatus),
    /// Not attached to the thing named by the client id.
    NotAttached,
}

/// Whether a device may connect as the thing its client id names, given its client
/// certificate as registered (`None`: not registered) and whether the certificate is
/// attached to that thing: as AWS IoT with the usual policy
/// (`iot:Connection.Thing.ThingName`), the certificate must be ACTIVE and attached.
pub fn may_connect(
    certificate: Option<&Certificate>,
    attached_to_thing: bool,
) -> Result<(), ConnectRefusal> {
    let certificate = certificate.ok_or(ConnectRefusal::NotRegistered)?;
    if certificate.status != CertificateStatus::Active {
        return Err(ConnectRefusal::NotActive(certificate.status));
    }
    if !attached_to_thing {
        return Err(ConnectRefusal::NotAttached);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use CertificateStatus::*;

    #[test]
    fn statuses_round_trip() {
        for s in CertificateStatus::ALL {
            assert_eq!(CertificateStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CertificateStatus::parse("active"), None);
    }

    #[test]
    fn registration_status() {
        assert_eq!(CertificateStatus::for_registration(None), Ok(Active));
        for s in CertificateStatus::ALL {
            let r = CertificateStatus::for_registration(Some(s));
            if matches!(s, Active | Inactive) {
                assert_eq!(r, Ok(s));
            } else {
                assert!(matches!(r, Err(JobsError::InvalidRequest(_))), "{s:?}");
            }
        }
    }

    #[test]
    fn created_keys_status() {
        assert_eq!(CertificateStatus::for_created_keys(Some(true)), Active);
        assert_eq!(CertificateStatus::for_created_keys(Some(false)), Inactive);
        assert_eq!(CertificateStatus::for_created_keys(None), Inactive);
    }

    /// Every status × every new status.
    #[test]
    fn status_transition_table() {
        for from in CertificateStatus::ALL {
            for to in CertificateStatus::ALL {
                let got = status_transition(from, to);
                match (from, to) {
                    (_, PendingTransfer | PendingActivation | RegisterInactive) => {
                        assert!(
                            matches!(got, Err(JobsError::InvalidRequest(_))),
                            "{from:?}->{to:?}"
                        )
                    }
                    (Revoked, Revoked) => assert_eq!(got, Ok(Revoked)),
                    (Revoked, _) => assert!(
                        matches!(got, Err(JobsError::CertificateState(_))),
                        "{from:?}->{to:?}"
                    ),
                    _ => assert_eq!(got, Ok(to), "{from:?}->{to:?}"),
                }
            }
        }
    }

    fn cert(status: CertificateStatus) -> Certificate {
        Certificate::registered(
            &NewCertificate {
                certificate_id: "ab".into(),
                certificate_pem: "pem".into(),
                status,
                generation_id: "g1".into(),
                not_before: None,
                not_after: None,
            },
            Timestamp(5),
        )
    }

    #[test]
    fn updates_count_only_changes() {
        let mut c = cert(Active);
        assert_eq!(c.update_status(Active, "g2", Timestamp(9)), Ok(false));
        assert_eq!((c.customer_version, c.last_modified_at), (1, Timestamp(5)));
        assert_eq!(c.update_status(Inactive, "g2", Timestamp(9)), Ok(true));
        assert_eq!(
            (
                c.customer_version,
                c.last_modified_at,
                c.generation_id.as_str()
            ),
            (2, Timestamp(9), "g2")
        );
        assert_eq!(c.update_status(Revoked, "g3", Timestamp(10)), Ok(true));
        assert!(c.update_status(Active, "g4", Timestamp(11)).is_err());
        assert_eq!(c.customer_version, 3, "a refused update changes nothing");
    }

    #[test]
    fn delete_rules() {
        let arn = "arn:aws:iot:r:a:cert/ab";
        assert!(matches!(
            cert(Active).check_deletable(false, arn),
            Err(JobsError::CertificateState(_))
        ));
        assert!(matches!(
            cert(Inactive).check_deletable(true, arn),
            Err(JobsError::DeleteConflict(m)) if m.contains(arn)
        ));
        assert_eq!(cert(Inactive).check_deletable(false, arn), Ok(()));
        assert_eq!(cert(Revoked).check_deletable(false, arn), Ok(()));
    }

    #[test]
    fn attach_rules() {
        use ThingPrincipalType::*;
        let on = |pairs: &[(&str, ThingPrincipalType)]| -> Vec<(String, ThingPrincipalType)> {
            pairs.iter().map(|(t, k)| (t.to_string(), *k)).collect()
        };
        assert_eq!(check_attach("p", "a", NonExclusive, &[]), Ok(true));
        assert_eq!(
            check_attach("p", "a", NonExclusive, &on(&[("a", NonExclusive)])),
            Ok(false)
        );
        assert_eq!(
            check_attach("p", "b", NonExclusive, &on(&[("a", NonExclusive)])),
            Ok(true)
        );
        assert_eq!(
            check_attach("p", "a", Exclusive, &on(&[("a", Exclusive)])),
            Ok(false)
        );
        for (kind, existing) in [
            (NonExclusive, Exclusive),
            (Exclusive, NonExclusive),
            (Exclusive, Exclusive),
        ] {
            assert!(
                matches!(
                    check_attach("p", "b", kind, &on(&[("a", existing)])),
                    Err(JobsError::InvalidRequest(_))
                ),
                "{kind:?} after {existing:?}"
            );
        }
    }

    #[test]
    fn connecting_needs_an_active_attached_certificate() {
        let new = NewCertificate {
            certificate_id: "ab".repeat(32),
            certificate_pem: String::new(),
            status: Active,
            generation_id: "g".into(),
            not_before: None,
            not_after: None,
        };
        let mut cert = Certificate::registered(&new, Timestamp::from_millis(0));
        assert_eq!(may_connect(Some(&cert), true), Ok(()));
        assert_eq!(
            may_connect(Some(&cert), false),
            Err(ConnectRefusal::NotAttached)
        );
        assert_eq!(may_connect(None, true), Err(ConnectRefusal::NotRegistered));
        for s in CertificateStatus::ALL.into_iter().filter(|s| *s != Active) {
            cert.status = s;
            assert_eq!(
                may_connect(Some(&cert), true),
                Err(ConnectRefusal::NotActive(s))
            );
        }
    }
}
