//! The certificate authority behind CreateKeysAndCertificate: it makes a device's key
//! pair and a certificate for it, signed with the CA of `--mqtt-client-ca` (whose private
//! key is `--mqtt-client-ca-key`).
//!
//! AWS IoT's CreateKeysAndCertificate makes a key pair and a certificate that Amazon's CA
//! signs, which AWS IoT's MQTT endpoint then accepts. iotjobs' MQTT endpoint trusts the
//! `--mqtt-client-ca` certificates, so signing with that CA makes a created certificate
//! pass the TLS handshake exactly like one the operator made and registered with
//! RegisterCertificateWithoutCA. [`CertificateIssuer::from_pem`] proves it at start-up: it
//! signs a probe certificate and verifies it with rustls' `WebPkiClientVerifier` over the
//! same CA certificates, the verifier of the MQTT endpoint.
//!
//! Deviation: AWS makes 2048-bit RSA keys; ring, the server's one crypto library (no C
//! build besides its own), cannot generate RSA keys, so the keys are ECDSA P-256, which
//! the AWS IoT Device SDKs and AWS IoT itself accept.
//!
//! What this module must not do: keep, store or log a private key (a device's key exists
//! only in the [`IssuedCertificate`] that the handler returns once; the CA's key only in
//! the issuer, whose `Debug` shows neither); register the certificate or decide its status
//! (the handler and the core do). It uses `x509` only (a leaf of the crate's graph).

use crate::x509;
use iotjobs_core::{JobsError, Timestamp};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The subject of every created certificate: one common name, in our words (AWS's
/// certificates say "AWS IoT Certificate"). Which thing a certificate is, is its
/// attachment (AttachThingPrincipal), never its subject.
pub const SUBJECT_COMMON_NAME: &str = "iotjobs device certificate";

/// The last moment of AWS IoT's created certificates: they are valid until
/// 2049-12-31T23:59:59Z (the last date a UTCTime can hold).
const AWS_NOT_AFTER: Timestamp = Timestamp::from_millis(2_524_607_999_000);

/// How long before its creation a certificate becomes valid: nodes sharing one database
/// may have clocks a little apart, and a device that connects to another node at once
/// must not be refused as "not yet valid".
const BACKDATE_MINUTES: i64 = 5;

/// Signs device certificates with the CA certificate of `--mqtt-client-ca` whose private
/// key it holds.
pub struct CertificateIssuer {
    issuer: rcgen::Issuer<'static, KeyPair>,
    /// Whether created certificates carry an authorityKeyIdentifier: only when the CA has
    /// a subjectKeyIdentifier to name (OpenSSL matches the two when both are there).
    authority_key_id: bool,
    /// No certificate outlives its CA: it could not verify afterwards.
    ca_not_after: Timestamp,
    /// The CA certificate's id as the registry would compute it (SHA-256 of its DER), for
    /// the logs.
    ca_certificate_id: String,
}

impl fmt::Debug for CertificateIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateIssuer")
            .field("ca_certificate_id", &self.ca_certificate_id)
            .field("ca_not_after", &self.ca_not_after)
            .field("signing_key", &"[redacted]")
            .finish()
    }
}

/// A created key pair and certificate, PEM-encoded as CreateKeysAndCertificate answers
/// them. It exists only on its way into the response.
pub struct IssuedCertificate {
    pub certificate_pem: String,
    /// SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    /// PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .field("public_key_pem", &self.public_key_pem)
            .field("private_key_pem", &"[redacted]")
            .finish()
    }
}

impl CertificateIssuer {
    /// [`CertificateIssuer::from_pem`] over the files of `--mqtt-client-ca` and
    /// `--mqtt-client-ca-key`, at the current time.
    pub fn load(client_ca: &Path, ca_key: &Path) -> Result<Self, String> {
        let ca_pem = std::fs::read_to_string(client_ca)
            .map_err(|e| format!("reading {}: {e}", client_ca.display()))?;
        let key_pem = std::fs::read_to_string(ca_key)
            .map_err(|e| format!("reading {}: {e}", ca_key.display()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        Self::from_pem(
            &ca_pem,
            &key_pem,
            Timestamp::from_millis(i64::try_from(now.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// An issuer for the CA certificate among `ca_pem` (the PEM certificates the MQTT
    /// endpoint trusts) whose public key is `key_pem`'s (a PKCS#8 private key), checked
    /// at `now` by signing a probe certificate and verifying it as the MQTT endpoint
    /// would. Every refusal says what to change.
    pub fn from_pem(ca_pem: &str, key_pem: &str, now: Timestamp) -> Result<Self, String> {
        let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("reading the CA certificates: {e}"))?;
        if cas.is_empty() {
            return Err("no PEM certificate in the CA file".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| format!("reading the CA's private key: {e}"))?;
        if !matches!(key, PrivateKeyDer::Pkcs8(_)) {
            return Err(
                "the CA's private key must be PKCS#8 (`-----BEGIN PRIVATE KEY-----`); \
                 convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pkcs8`"
                    .into(),
            );
        }
        let key = KeyPair::try_from(&key).map_err(|e| {
            format!(
                "the CA's private key is not an ECDSA P-256/P-384, Ed25519 or RSA key that \
                 ring can sign with: {e}"
            )
        })?;
        let (ca_der, ca) = cas
            .iter()
            .find_map(|der| {
                let fields = x509::tbs_fields(der)?;
                (fields.public_key == key.public_key_raw()).then_some((der, fields))
            })
            .ok_or_else(|| {
                format!(
                    "the private key belongs to none of the {} certificate(s) in the CA file",
                    cas.len()
                )
            })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(ca.subject)?;
        if let Some(id) = ca.subject_key_id {
            params.key_identifier_method = KeyIdMethod::PreSpecified(id.to_vec());
        }
        let issuer = CertificateIssuer {
            issuer: rcgen::Issuer::new(params, key),
            authority_key_id: ca.subject_key_id.is_some(),
            ca_not_after: ca.not_after,
            ca_certificate_id: sha256_hex(ca_der),
        };
        issuer.check(&cas, ca.subject, now)?;
        Ok(issuer)
    }

    /// The CA certificate's id (lowercase hex SHA-256 of its DER).
    pub fn ca_certificate_id(&self) -> &str {
        &self.ca_certificate_id
    }

    /// The start-up proof: a certificate signed now names the CA's subject byte for byte
    /// and verifies against `cas` as a client certificate.
    fn check(
        &self,
        cas: &[CertificateDer<'static>],
        ca_subject: &[u8],
        now: Timestamp,
    ) -> Result<(), String> {
        let probe = self.sign(now).map_err(|e| e.to_string())?;
        let probe = CertificateDer::from_pem_slice(probe.certificate_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        let issuer_name = x509::tbs_fields(&probe).map(|f| f.issuer);
        if issuer_name != Some(ca_subject) {
            return Err(
                "the CA certificate's subject name cannot be written again as it is \
                 (one attribute per name part, each attribute type once, string types \
                 only), so certificates signed with it would not verify"
                    .into(),
            );
        }
        let mut roots = rustls::RootCertStore::empty();
        for ca in cas {
            roots
                .add(ca.clone())
                .map_err(|e| format!("a CA certificate: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("the CA certificates: {e}"))?;
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_millis(
            u64::try_from(now.millis()).unwrap_or(0),
        ));
        verifier.verify_client_cert(&probe, &[], at).map_err(|e| {
            format!(
                "a certificate signed with this CA would not pass the MQTT endpoint's TLS \
                     handshake: {e}"
            )
        })?;
        Ok(())
    }

    /// CreateKeysAndCertificate's key pair and certificate, made at `now`.
    pub fn issue(&self, now: Timestamp) -> Result<IssuedCertificate, JobsError> {
        if now >= self.ca_not_after {
            return Err(JobsError::certificate_issuer_expired());
        }
        self.sign(now)
    }

    fn sign(&self, now: Timestamp) -> Result<IssuedCertificate, JobsError> {
        let failed = JobsError::certificate_issuing_failed;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(failed)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, SUBJECT_COMMON_NAME);
        params.not_before = date_time(now.plus_minutes(-BACKDATE_MINUTES))?;
        params.not_after = date_time(AWS_NOT_AFTER.min(self.ca_not_after))?;
        params.serial_number = Some(random_serial()?);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = self.authority_key_id;
        let certificate = params.signed_by(&key, &self.issuer).map_err(failed)?;
        Ok(IssuedCertificate {
            certificate_pem: certificate.pem(),
            public_key_pem: key.public_key_pem(),
            private_key_pem: key.serialize_pem(),
        })
    }
}

/// The CA's subject as rcgen writes it: each attribute with its type and string type, in
/// order. rcgen keeps one value per attribute type and one attribute per RDN; a name it
/// cannot hold is refused here (and the probe in `check` catches any other difference).
fn distinguished_name(subject: &[u8]) -> Result<DistinguishedName, String> {
    let unsupported = |why: &str| format!("the CA certificate's subject name: {why}");
    let rdns = x509::name_attributes(subject).ok_or_else(|| unsupported("malformed"))?;
    let mut dn = DistinguishedName::new();
    for rdn in rdns {
        let [attribute] = rdn.as_slice() else {
            return Err(unsupported("a name part with several attributes"));
        };
        let kind = DnType::from_oid(&attribute.oid);
        if dn.get(&kind).is_some() {
            return Err(unsupported("an attribute type given twice"));
        }
        let text = || {
            std::str::from_utf8(attribute.value)
                .map_err(|_| unsupported("a string that is not text"))
        };
        let bad = |_| unsupported("a string outside its type's characters");
        let value = match attribute.tag {
            0x0c => DnValue::Utf8String(text()?.to_owned()),
            0x13 => DnValue::PrintableString(text()?.try_into().map_err(bad)?),
            0x16 => DnValue::Ia5String(text()?.try_into().map_err(bad)?),
            0x14 => DnValue::TeletexString(text()?.try_into().map_err(bad)?),
            0x1e => DnValue::BmpString(
                rcgen::string::BmpString::from_utf16be(attribute.value.to_vec()).map_err(bad)?,
            ),
            0x1c => DnValue::UniversalString(
                rcgen::string::UniversalString::from_utf32be(attribute.value.to_vec())
                    .map_err(bad)?,
            ),
            _ => return Err(unsupported("an attribute value that is not a string")),
        };
        dn.push(kind, value);
    }
    Ok(dn)
}

fn date_time(t: Timestamp) -> Result<time::OffsetDateTime, JobsError> {
    time::OffsetDateTime::from_unix_timestamp(t.epoch_seconds())
        .map_err(JobsError::certificate_issuing_failed)
}

/// A positive 16-byte serial number from the system's CSPRNG (RFC 5280 §4.1.2.2: unique
/// per CA, at most 20 bytes; CA/Browser Forum practice: at least 64 random bits).
fn random_serial() -> Result<SerialNumber, JobsError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| JobsError::certificate_issuing_failed("the system's random generator"))?;
    // Positive, and no leading zero byte to strip: always 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::BasicConstraints;

    /// 2026-12-01T00:00:00Z
    const NOW: Timestamp = Timestamp::from_millis(1_796_083_200_000);

    struct Ca {
        cert_pem: String,
        key_pem: String,
    }

    /// A CA made with rcgen: `name` fills its subject; valid 2026-01-01 .. `until_year`.
    fn make_ca(name: &[(DnType, DnValue)], until_year: i32) -> Ca {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        for (kind, value) in name {
            params.distinguished_name.push(kind.clone(), value.clone());
        }
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(until_year, 1, 1);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            cert_pem: params.self_signed(&key).unwrap().pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn named_ca(until_year: i32) -> Ca {
        make_ca(
            &[
                (
                    DnType::CountryName,
                    DnValue::PrintableString("DE".try_into().unwrap()),
                ),
                (DnType::OrganizationName, "Example Org".into()),
                (DnType::CommonName, "Device CA".into()),
            ],
            until_year,
        )
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn verify(cas: &[&Ca], cert_pem: &str, at: Timestamp) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in cas {
            roots.add(der(&ca.cert_pem)).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_millis(at.millis() as u64));
        verifier
            .verify_client_cert(&der(cert_pem), &[], at)
            .map(|_| ())
    }

    #[test]
    fn issued_certificates_verify_as_client_certificates_of_the_ca() {
        let ca = named_ca(2036);
        let issuer = CertificateIssuer::from_pem(&ca.cert_pem, &ca.key_pem, NOW).unwrap();
        assert_eq!(issuer.ca_certificate_id(), sha256_hex(&der(&ca.cert_pem)));
        let issued = issuer.issue(NOW).unwrap();
        verify(&[&ca], &issued.certificate_pem, NOW).expect("verifies against the CA");
        verify(&[&named_ca(2036)], &issued.certificate_pem, NOW)
            .expect_err("another CA of the same name does not verify it");

        let cert = der(&issued.certificate_pem);
        let f = x509::tbs_fields(&cert).unwrap();
        let ca_der = der(&ca.cert_pem);
        assert_eq!(f.issuer, x509::tbs_fields(&ca_der).unwrap().subject);
        let subject = x509::name_attributes(f.subject).unwrap();
        assert_eq!(subject.len(), 1);
        assert_eq!(subject[0][0].oid, vec![2, 5, 4, 3]);
        assert_eq!(subject[0][0].value, SUBJECT_COMMON_NAME.as_bytes());
        assert_eq!(f.not_before, NOW.plus_minutes(-BACKDATE_MINUTES));
        // no certificate outlives its CA
        assert_eq!(Some(f.not_after), x509::validity(&ca_der).map(|v| v.1));

        // the key pair is the certificate's, PKCS#8 and SPKI
        assert!(
            issued
                .private_key_pem
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        assert!(
            issued
                .public_key_pem
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
        let key = KeyPair::from_pem(&issued.private_key_pem).unwrap();
        assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
        assert_eq!(f.public_key, key.public_key_raw());
        assert_eq!(issued.public_key_pem, key.public_key_pem());

        // every call: a new key and a new serial number
        let again = issuer.issue(NOW).unwrap();
        assert_ne!(again.private_key_pem, issued.private_key_pem);
        assert_ne!(again.certificate_pem, issued.certificate_pem);
    }

    #[test]
    fn validity_ends_with_awss_date_or_the_cas() {
        let ca = named_ca(2060);
        let issuer = CertificateIssuer::from_pem(&ca.cert_pem, &ca.key_pem, NOW).unwrap();
        let issued = issuer.issue(NOW).unwrap();
        let (_, not_after) = x509::validity(&der(&issued.certificate_pem)).unwrap();
        assert_eq!(not_after, AWS_NOT_AFTER);
    }

    #[test]
    fn the_ca_is_the_one_whose_key_is_given() {
        let other = named_ca(2036);
        let ca = named_ca(2036);
        let both = format!("{}{}", other.cert_pem, ca.cert_pem);
        let issuer = CertificateIssuer::from_pem(&both, &ca.key_pem, NOW).unwrap();
        assert_eq!(issuer.ca_certificate_id(), sha256_hex(&der(&ca.cert_pem)));
        let issued = issuer.issue(NOW).unwrap();
        verify(&[&ca], &issued.certificate_pem, NOW).unwrap();

        let stranger = named_ca(2036);
        let err = CertificateIssuer::from_pem(&both, &stranger.key_pem, NOW).unwrap_err();
        assert!(err.contains("none of the 2 certificate(s)"), "{err}");
    }

    #[test]
    fn unusable_cas_and_keys_are_refused_at_start_up() {
        let ca = named_ca(2036);
        let refused =
            |cert: &str, key: &str| CertificateIssuer::from_pem(cert, key, NOW).unwrap_err();
        assert!(refused("", &ca.key_pem).contains("no PEM certificate"));
        assert!(refused(&ca.cert_pem, "").contains("private key"));
        // SEC1 and PKCS#1 keys: ring signs with PKCS#8 only
        let body: String = ca
            .key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let sec1 =
            format!("-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n");
        assert!(refused(&ca.cert_pem, &sec1).contains("PKCS#8"));
        // expired: what it signs would be (no certificate outlives its CA)
        let old = named_ca(2026);
        let err = refused(&old.cert_pem, &old.key_pem);
        assert!(err.contains("would not pass"), "{err}");
        // a subject rcgen cannot write again
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = repeated_attribute_ca(&key);
        assert!(refused(&cert, &key.serialize_pem()).contains("given twice"));
    }

    /// A CA certificate whose subject names OU twice (`OU=AAAA, OU=BBBB`), which rcgen's
    /// `DistinguishedName` (one value per type) cannot hold: rcgen writes `OU=AAAA,
    /// CN=BBBB` and the CN's OID is patched into OU's. Its signature no longer matches;
    /// the name is refused before anything would verify it.
    fn repeated_attribute_ca(key: &KeyPair) -> String {
        use base64::Engine as _;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "AAAA");
        params.distinguished_name.push(DnType::CommonName, "BBBB");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut der = params.self_signed(key).unwrap().der().to_vec();
        // id-at-commonName 2.5.4.3 -> id-at-organizationalUnitName 2.5.4.11
        let cn = [
            0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, b'B', b'B', b'B', b'B',
        ];
        let at: Vec<usize> = (0..der.len() - cn.len())
            .filter(|&i| der[i..i + cn.len()] == cn)
            .collect();
        assert_eq!(at.len(), 2, "issuer and subject");
        for i in at {
            der[i + 4] = 0x0b;
        }
        let body = base64::engine::general_purpose::STANDARD.encode(&der);
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
    }

    #[test]
    fn an_expired_ca_issues_nothing() {
        let ca = named_ca(2027);
        let issuer = CertificateIssuer::from_pem(&ca.cert_pem, &ca.key_pem, NOW).unwrap();
        let (_, ca_not_after) = x509::validity(&der(&ca.cert_pem)).unwrap();
        assert!(issuer.issue(ca_not_after.plus_minutes(-1)).is_ok());
        assert!(matches!(
            issuer.issue(ca_not_after),
            Err(JobsError::InvalidRequest(_))
        ));
    }

    #[test]
    fn debug_shows_no_private_key() {
        let ca = named_ca(2036);
        let issuer = CertificateIssuer::from_pem(&ca.cert_pem, &ca.key_pem, NOW).unwrap();
        let issued = issuer.issue(NOW).unwrap();
        let ca_key_body = ca.key_pem.lines().nth(1).unwrap();
        let key_body = issued.private_key_pem.lines().nth(1).unwrap();
        let shown = format!("{issuer:?} {issued:?}");
        assert!(
            !shown.contains(ca_key_body) && !shown.contains(key_body),
            "{shown}"
        );
        assert!(shown.contains("[redacted]") && shown.contains(issuer.ca_certificate_id()));
    }
}
