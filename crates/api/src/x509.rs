//! Reading the few fields of an X.509 certificate (RFC 5280 §4.1) that the edge needs,
//! straight from its DER: the validity dates (RegisterCertificateWithoutCA records them).
//!
//! A reader, not a validator: it checks no signature, no extension's meaning and no
//! date against a clock (rustls' webpki does that at the TLS handshake). It decides
//! nothing and builds no error message; a caller turns `None` into its own error. It is a
//! leaf of the crate's module graph and uses no other module of it; no ASN.1 crate either
//! (the handful of fields below did not justify x509-parser's fourteen crates).

use iotjobs_core::Timestamp;
use iotjobs_core::time::days_from_civil;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;

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

/// `tbsCertificate`'s fields after the serial number.
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
    fn truncated_or_foreign_ders_are_none() {
        let der = ca_der();
        assert!(validity(&der).is_some());
        for cut in [0, 1, 10, 100] {
            assert_eq!(validity(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(validity(b"hello"), None);
    }
}
