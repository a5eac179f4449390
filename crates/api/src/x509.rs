//! Reading the few fields of an X.509 certificate (RFC 5280 §4.1) that the edge needs,
//! straight from its DER: the validity dates (RegisterCertificateWithoutCA records them),
//! and for the certificate issuer of CreateKeysAndCertificate the CA's subject name, its
//! public key and its subject key identifier.
//!
//! A reader, not a validator: it checks no signature, no extension's meaning and no
//! date against a clock (rustls' webpki does that at the TLS handshake). It decides
//! nothing and builds no error message; a caller turns `None` into its own error. It is a
//! leaf of the crate's module graph and uses no other module of it; no ASN.1 crate either
//! (the handful of fields below did not justify x509-parser's fourteen crates).

use iotjobs_core::Timestamp;
use iotjobs_core::time::days_from_civil;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;
/// `[3] EXPLICIT Extensions`.
const EXTENSIONS: u8 = 0xa3;
/// id-ce-subjectKeyIdentifier, 2.5.29.14, as DER content bytes.
const SUBJECT_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1d, 0x0e];

/// One DER TLV read from the front of some input.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    /// Tag, length and content.
    whole: &'a [u8],
    /// The input after it.
    rest: &'a [u8],
}

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, rest) = after_tag.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    let header = input.len() - rest.len();
    (rest.len() >= len).then(|| Tlv {
        tag,
        content: &rest[..len],
        whole: &input[..header + len],
        rest: &rest[len..],
    })
}

/// A TLV with the expected tag: (content, whole, rest).
fn expect(tag: u8, input: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let t = tlv(input)?;
    (t.tag == tag).then_some((t.content, t.whole, t.rest))
}

/// The fields of a certificate's `tbsCertificate` that iotjobs reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TbsFields<'a> {
    /// The issuer `Name`, its whole TLV: what a verifier compares with its issuer's
    /// subject, byte for byte.
    pub issuer: &'a [u8],
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// The subject `Name`, its whole TLV.
    pub subject: &'a [u8],
    /// The `subjectPublicKey` bits of the SubjectPublicKeyInfo (the BIT STRING's content
    /// after its unused-bits byte): a PKCS#1 RSAPublicKey, or an EC point.
    pub public_key: &'a [u8],
    /// The subjectKeyIdentifier extension's key identifier, if there is one.
    pub subject_key_id: Option<&'a [u8]>,
}

/// `tbsCertificate`'s content, and where its fields start after the serial number.
fn tbs(der: &[u8]) -> Option<&[u8]> {
    let (cert, _, _) = expect(SEQUENCE, der)?;
    let (tbs, _, _) = expect(SEQUENCE, cert)?;
    let first = tlv(tbs)?;
    let mut rest = first.rest;
    if first.tag == VERSION {
        // [0] version; then the serial number.
        let (_, _, r) = expect(INTEGER, rest)?;
        rest = r;
    } else if first.tag != INTEGER {
        return None;
    }
    Some(rest)
}

/// `tbsCertificate.validity` (RFC 5280 §4.1): (notBefore, notAfter). Reads nothing after
/// the validity, so that what RegisterCertificateWithoutCA accepts depends on the
/// certificate's head only.
pub(crate) fn validity(der: &[u8]) -> Option<(Timestamp, Timestamp)> {
    let rest = tbs(der)?;
    // signature AlgorithmIdentifier, issuer Name, then validity.
    let (_, _, rest) = expect(SEQUENCE, rest)?;
    let (_, _, rest) = expect(SEQUENCE, rest)?;
    let (validity, _, _) = expect(SEQUENCE, rest)?;
    read_validity(validity)
}

fn read_validity(validity: &[u8]) -> Option<(Timestamp, Timestamp)> {
    let not_before = tlv(validity)?;
    let not_after = tlv(not_before.rest)?;
    Some((
        der_time(not_before.tag, not_before.content)?,
        der_time(not_after.tag, not_after.content)?,
    ))
}

/// Every field of [`TbsFields`] (RFC 5280 §4.1: version, serial, signature, issuer,
/// validity, subject, subjectPublicKeyInfo, then the optional unique ids and extensions).
pub(crate) fn tbs_fields(der: &[u8]) -> Option<TbsFields<'_>> {
    let rest = tbs(der)?;
    let (_, _, rest) = expect(SEQUENCE, rest)?;
    let (_, issuer, rest) = expect(SEQUENCE, rest)?;
    let (validity, _, rest) = expect(SEQUENCE, rest)?;
    let (not_before, not_after) = read_validity(validity)?;
    let (_, subject, rest) = expect(SEQUENCE, rest)?;
    let (spki, _, mut rest) = expect(SEQUENCE, rest)?;
    let (_, _, bits) = expect(SEQUENCE, spki)?;
    let (bits, _, _) = expect(BIT_STRING, bits)?;
    let (&unused, public_key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    let mut subject_key_id = None;
    while !rest.is_empty() {
        let field = tlv(rest)?;
        rest = field.rest;
        if field.tag == EXTENSIONS {
            subject_key_id = find_subject_key_id(field.content)?;
        }
    }
    Some(TbsFields {
        issuer,
        not_before,
        not_after,
        subject,
        public_key,
        subject_key_id,
    })
}

/// The subjectKeyIdentifier in `[3]`'s content (`Extensions ::= SEQUENCE OF Extension`,
/// `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET
/// STRING }`; the SKI's extnValue holds `KeyIdentifier ::= OCTET STRING`). `None` if the
/// extensions are malformed, `Some(None)` if there is no SKI.
fn find_subject_key_id(explicit: &[u8]) -> Option<Option<&[u8]>> {
    let (mut extensions, _, _) = expect(SEQUENCE, explicit)?;
    while !extensions.is_empty() {
        let (extension, _, r) = expect(SEQUENCE, extensions)?;
        extensions = r;
        let (oid, _, fields) = expect(OID, extension)?;
        if oid != SUBJECT_KEY_IDENTIFIER {
            continue;
        }
        // `critical` is absent when false (DER omits a DEFAULT value).
        let critical = tlv(fields)?;
        let fields = if critical.tag == BOOLEAN {
            critical.rest
        } else {
            fields
        };
        let (value, _, _) = expect(OCTET_STRING, fields)?;
        let (key_id, _, _) = expect(OCTET_STRING, value)?;
        return Some(Some(key_id));
    }
    Some(None)
}

/// One attribute of a distinguished name: its type's OID arcs, the value's string tag
/// (UTF8String 0x0c, PrintableString 0x13, …) and the value's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameAttribute<'a> {
    pub oid: Vec<u64>,
    pub tag: u8,
    pub value: &'a [u8],
}

/// A `Name` TLV (RFC 5280 §4.1.2.4: `SEQUENCE OF RelativeDistinguishedName`, each a `SET
/// OF AttributeTypeAndValue`) as its RDNs, in order.
pub(crate) fn name_attributes(name: &[u8]) -> Option<Vec<Vec<NameAttribute<'_>>>> {
    let (mut rdns, _, rest) = expect(SEQUENCE, name)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (mut set, _, r) = expect(SET, rdns)?;
        rdns = r;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let (atv, _, r) = expect(SEQUENCE, set)?;
            set = r;
            let (oid, _, value) = expect(OID, atv)?;
            let value = tlv(value)?;
            if !value.rest.is_empty() {
                return None;
            }
            rdn.push(NameAttribute {
                oid: oid_arcs(oid)?,
                tag: value.tag,
                value: value.content,
            });
        }
        out.push(rdn);
    }
    Some(out)
}

/// An OBJECT IDENTIFIER's content bytes as arcs (X.690 §8.19).
fn oid_arcs(content: &[u8]) -> Option<Vec<u64>> {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for (i, &b) in content.iter().enumerate() {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 != 0 {
            if i + 1 == content.len() {
                return None;
            }
            continue;
        }
        if arcs.is_empty() {
            let first = (value / 40).min(2);
            arcs.push(first);
            arcs.push(value - first * 40);
        } else {
            arcs.push(value);
        }
        value = 0;
    }
    (!arcs.is_empty()).then_some(arcs)
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as RFC 5280 §4.1.2.5
/// restricts them.
pub(crate) fn der_time(tag: u8, bytes: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().ok();
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy = num(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (0x18, 14) => (num(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let [mo, d, h, mi, s] = [0, 2, 4, 6, 8].map(|i| num(&rest[i..i + 2]));
    let (mo, d, h, mi, s) = (mo?, d?, h?, mi?, s?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    Some(Timestamp::from_millis(secs * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj
    /// "/C=DE/O=Example Org/CN=Test CA" -days 3650 -addext
    /// basicConstraints=critical,CA:TRUE`: a v3 certificate with a subject key id.
    const CA_PEM_BODY: &str = "\
MIIBvjCCAWWgAwIBAgIULWfr2MUMTYoNERHsWzBIc7kpV78wCgYIKoZIzj0EAwIw
NTELMAkGA1UEBhMCREUxFDASBgNVBAoMC0V4YW1wbGUgT3JnMRAwDgYDVQQDDAdU
ZXN0IENBMB4XDTI2MTIwNTEwMjkyNloXDTM2MTIwMjEwMjkyNlowNTELMAkGA1UE
BhMCREUxFDASBgNVBAoMC0V4YW1wbGUgT3JnMRAwDgYDVQQDDAdUZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7ZZMzeiC2CHQL3TjgDSOQ27c5KGhp6hT
RSqGxDhe1WORL7rvqkG+EJRyQqI2Vf6mzxuXYoP4BKL9Sh89GjffnqNTMFEwHQYD
VR0OBBYEFOm6oThUXUBf17up8qA7F7kTzAZzMB8GA1UdIwQYMBaAFOm6oThUXUBf
17up8qA7F7kTzAZzMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIg
Id7kbZBPTTuY9uQUk435P1smW0JW2/HUScTVa2ICW5UCIE5xabVgvyi8fDo6X15q
hKMjnTeHuOdCWOCNZoQ5HZvA";

    fn ca_der() -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(CA_PEM_BODY.replace('\n', ""))
            .unwrap()
    }

    #[test]
    fn der_times() {
        assert_eq!(
            der_time(0x17, b"700101000000Z"),
            Some(Timestamp::from_millis(0))
        );
        assert_eq!(
            der_time(0x18, b"20231114221320Z"),
            Some(Timestamp::from_millis(1_700_000_000_000))
        );
        assert_eq!(
            der_time(0x17, b"491231235959Z"),
            Some(Timestamp::from_millis(2_524_607_999_000))
        );
        for bad in [&b"7001010000Z"[..], b"700101000000", b"701301000000Z"] {
            assert_eq!(der_time(0x17, bad), None);
        }
    }

    #[test]
    fn oids() {
        assert_eq!(oid_arcs(&[0x55, 0x04, 0x03]), Some(vec![2, 5, 4, 3]));
        assert_eq!(
            oid_arcs(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            Some(vec![1, 2, 840, 113549, 1, 9, 1])
        );
        assert_eq!(oid_arcs(&[0x2a, 0x86]), None, "truncated arc");
        assert_eq!(oid_arcs(&[]), None);
    }

    #[test]
    fn reads_a_ca_certificate() {
        let der = ca_der();
        let f = tbs_fields(&der).expect("fields");
        assert_eq!(f.issuer, f.subject, "self-signed");
        assert_eq!(validity(&der), Some((f.not_before, f.not_after)));
        // 2026-12-05T10:29:26Z .. 2036-12-02T10:29:26Z
        assert_eq!(f.not_before, Timestamp::from_millis(1_796_466_566_000));
        assert_eq!(f.not_after, Timestamp::from_millis(2_111_826_566_000));
        assert_eq!(f.public_key.len(), 65, "an uncompressed P-256 point");
        assert_eq!(f.public_key[0], 0x04);
        assert_eq!(
            f.subject_key_id,
            Some(
                &[
                    0xe9, 0xba, 0xa1, 0x38, 0x54, 0x5d, 0x40, 0x5f, 0xd7, 0xbb, 0xa9, 0xf2, 0xa0,
                    0x3b, 0x17, 0xb9, 0x13, 0xcc, 0x06, 0x73
                ][..]
            )
        );
        let rdns = name_attributes(f.subject).expect("name");
        let flat: Vec<(Vec<u64>, u8, &[u8])> = rdns
            .iter()
            .map(|rdn| {
                assert_eq!(rdn.len(), 1);
                (rdn[0].oid.clone(), rdn[0].tag, rdn[0].value)
            })
            .collect();
        assert_eq!(
            flat,
            vec![
                (vec![2, 5, 4, 6], 0x13, &b"DE"[..]),
                (vec![2, 5, 4, 10], 0x0c, &b"Example Org"[..]),
                (vec![2, 5, 4, 3], 0x0c, &b"Test CA"[..]),
            ]
        );
    }

    #[test]
    fn truncated_or_foreign_ders_are_none() {
        let der = ca_der();
        for cut in [0, 1, 10, 100, der.len() - 1] {
            assert_eq!(tbs_fields(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(validity(b"hello"), None);
        assert_eq!(name_attributes(&[0x31, 0x00]), None, "a SET is no Name");
    }
}
