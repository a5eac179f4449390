//! AWS Signature Version 4 verification: the request says who signed it (the
//! credential scope) and the signature; we recompute the signature from the request
//! as received, with the secret we hold for that access key, and compare.
//!
//! The signing math is `aws-sigv4`'s (the crate the AWS SDK for Rust signs with):
//! given exactly the headers the client listed in `SignedHeaders`, the raw (still
//! percent-encoded) request target and the body, `sign()` yields the signature the
//! client must have sent. Both forms AWS accepts are verified: the `Authorization`
//! header and the presigned query string (`X-Amz-Signature=…`).
//!
//! This module decides nothing about accounts or roles (that is `auth::keys` and
//! `auth::authorize`), and never logs or returns a secret.

use super::AuthError;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::http::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq as _;

/// How far a request's `X-Amz-Date` may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The most headers a signature may cover. Real clients sign fewer than ten; the cap
/// keeps a hostile list from costing the signer unbounded work (aws-sigv4 panics on a
/// header map of more than 24,576 entries).
pub const MAX_SIGNED_HEADERS: usize = 64;

/// The longest presigned URL lifetime AWS accepts (`X-Amz-Expires`, 7 days).
pub const MAX_PRESIGNED_EXPIRES: u64 = 604_800;

/// The query parameters of a presigned request that the signer itself produces; they
/// are removed from the query before the signature is recomputed.
const PRESIGN_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// A request as received, for verification.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target exactly as received (still percent-encoded).
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Where the signature travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Header,
    Query,
}

/// What a signed request claims about itself, before anything is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub location: Location,
    pub access_key: String,
    /// `YYYYMMDD` from the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lower-case header names, as listed.
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// Presigned lifetime in seconds (`X-Amz-Expires`); `None` for the header form.
    pub expires: Option<u64>,
    pub security_token: Option<String>,
}

fn incomplete(why: impl Into<String>) -> AuthError {
    AuthError::IncompleteSignature(why.into())
}

/// Refuse a request that repeats `name` (a header the signature depends on): which
/// value is meant would be a guess, and a guess that differs from another component's
/// (one that takes the last, or joins them with commas as HTTP allows) lets a request
/// verified as one thing be read as another. AWS's front end joins repeated headers, so
/// a repeated `Authorization` no longer parses there: IncompleteSignatureException.
fn at_most_one_header(headers: &HeaderMap, name: &str) -> Result<(), AuthError> {
    let count = headers.get_all(name).iter().count();
    if count > 1 {
        return Err(incomplete(format!(
            "The request has {count} {name} headers; a signed request may have only one"
        )));
    }
    Ok(())
}

/// Read the claim from the `Authorization` header or the presigned query string.
/// `Ok(None)`: the request carries no signature at all.
pub fn parse_claim(req: &Request<'_>) -> Result<Option<Claim>, AuthError> {
    let query = req.path_and_query.split_once('?').map(|(_, q)| q);
    at_most_one_header(req.headers, "authorization")?;
    if let Some(auth) = req.headers.get(axum::http::header::AUTHORIZATION) {
        if query.is_some_and(|q| query_param(q, "X-Amz-Signature").is_some()) {
            // AWS refuses a request signed both ways rather than pick one.
            return Err(incomplete(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter \
                 or the Authorization header should be specified",
            ));
        }
        let auth = auth
            .to_str()
            .map_err(|_| incomplete("Authorization header is not ASCII"))?;
        return parse_header_claim(auth, req.headers).map(Some);
    }
    match query {
        Some(q) if query_param(q, "X-Amz-Signature").is_some() => {
            parse_query_claim(q, req.headers).map(Some)
        }
        _ => Ok(None),
    }
}

/// The service named by the credential scope, read leniently (nothing verified): for
/// `--auth none`, where the scope still picks the plane.
pub fn claimed_service<'r>(req: &Request<'r>) -> Option<&'r str> {
    let credential = match req.headers.get(axum::http::header::AUTHORIZATION) {
        Some(auth) => auth
            .to_str()
            .ok()?
            .split([',', ' '])
            .find_map(|p| p.trim().strip_prefix("Credential="))?,
        None => req
            .path_and_query
            .split_once('?')?
            .1
            .split('&')
            .find_map(|p| p.strip_prefix("X-Amz-Credential="))?,
    };
    // Raw in the header; percent-encoded (`%2F` or `%2f`) in a query.
    let parts: Vec<&str> = if credential.contains('/') {
        credential.split('/').collect()
    } else {
        credential
            .split("%2F")
            .flat_map(|p| p.split("%2f"))
            .collect()
    };
    parts.get(3).copied()
}

fn parse_header_claim(auth: &str, headers: &HeaderMap) -> Result<Claim, AuthError> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm")
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |what: &str| {
        incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={auth}"
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    at_most_one_header(headers, "x-amz-date")?;
    at_most_one_header(headers, "x-amz-security-token")?;
    let amz_date = header(headers, "x-amz-date").ok_or_else(|| {
        incomplete("Authorization header requires existence of an 'X-Amz-Date' header")
    })?;
    let token = header(headers, "x-amz-security-token");
    claim(
        Location::Header,
        credential,
        signed,
        signature,
        amz_date,
        None,
        token,
    )
}

fn parse_query_claim(query: &str, headers: &HeaderMap) -> Result<Claim, AuthError> {
    // As for headers (`at_most_one_header`): the first of two values must not decide.
    for name in PRESIGN_PARAMS {
        let count = query
            .split('&')
            .filter(|pair| pair.split_once('=').map_or(*pair, |(k, _)| k) == name)
            .count();
        if count > 1 {
            return Err(incomplete(format!(
                "The request has {count} {name} query parameters; a presigned request may have only one"
            )));
        }
    }
    at_most_one_header(headers, "x-amz-security-token")?;
    let get = |name: &str| query_param(query, name);
    let missing = |what: &str| incomplete(format!("presigned request requires '{what}'"));
    let algorithm = get("X-Amz-Algorithm").ok_or_else(|| missing("X-Amz-Algorithm"))?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(incomplete(
            "presigned request requires X-Amz-Algorithm=AWS4-HMAC-SHA256",
        ));
    }
    let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
    let signed = get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?;
    let signature = get("X-Amz-Signature").ok_or_else(|| missing("X-Amz-Signature"))?;
    let amz_date = get("X-Amz-Date").ok_or_else(|| missing("X-Amz-Date"))?;
    let expires = get("X-Amz-Expires").ok_or_else(|| missing("X-Amz-Expires"))?;
    let expires: u64 = expires
        .parse()
        .map_err(|_| incomplete("X-Amz-Expires must be a number of seconds"))?;
    if expires > MAX_PRESIGNED_EXPIRES {
        return Err(incomplete(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}"
        )));
    }
    // The token may travel in the query (botocore's presigner) or as a header.
    let token = get("X-Amz-Security-Token")
        .or_else(|| header(headers, "x-amz-security-token").map(str::to_owned));
    claim(
        Location::Query,
        &credential,
        &signed,
        &signature,
        &amz_date,
        Some(expires),
        token.as_deref(),
    )
}

fn claim(
    location: Location,
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: &str,
    expires: Option<u64>,
    token: Option<&str>,
) -> Result<Claim, AuthError> {
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete(format!(
            "Credential must have the form ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request, got {credential:?}"
        )));
    };
    if access_key.is_empty() {
        return Err(incomplete("Credential has an empty access key"));
    }
    let mut signed_headers: Vec<String> = signed
        .split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let listed = signed_headers.len();
    signed_headers.sort_unstable();
    signed_headers.dedup();
    if listed == 0 || listed > MAX_SIGNED_HEADERS || signed_headers.len() != listed {
        return Err(incomplete(format!(
            "SignedHeaders must list 1 to {MAX_SIGNED_HEADERS} distinct header names"
        )));
    }
    Ok(Claim {
        location,
        access_key: access_key.to_owned(),
        scope_date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: signature.to_owned(),
        amz_date: amz_date.to_owned(),
        expires,
        security_token: token.map(str::to_owned),
    })
}

/// Check the claim's time against `now`: the header form must be within
/// [`MAX_CLOCK_SKEW`] of it; a presigned request must not be from the future (beyond
/// the skew) nor past `X-Amz-Date + X-Amz-Expires`. Messages follow AWS's wording.
pub fn check_time(claim: &Claim, now: SystemTime) -> Result<SystemTime, AuthError> {
    let signed_at = parse_amz_date(&claim.amz_date).ok_or_else(|| {
        AuthError::IncompleteSignature(format!(
            "X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z', got {:?}",
            claim.amz_date
        ))
    })?;
    let day = claim.amz_date.get(..8).unwrap_or_default();
    if claim.scope_date != day {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{}'.",
            claim.scope_date, claim.amz_date
        )));
    }
    let now_s = format_amz_date(now);
    if signed_at > now + MAX_CLOCK_SKEW {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({now_s} + 15 min.)",
            claim.amz_date,
            format_amz_date(now + MAX_CLOCK_SKEW)
        )));
    }
    let oldest = match claim.expires {
        None => signed_at + MAX_CLOCK_SKEW,
        Some(secs) => signed_at + Duration::from_secs(secs),
    };
    if now > oldest {
        return Err(AuthError::InvalidSignature(match claim.expires {
            None => format!(
                "Signature expired: {} is now earlier than {} ({now_s} - 15 min.)",
                claim.amz_date,
                format_amz_date(now.checked_sub(MAX_CLOCK_SKEW).unwrap_or(UNIX_EPOCH))
            ),
            Some(_) => format!(
                "Signature expired: the presigned request expired at {} (now {now_s})",
                format_amz_date(oldest)
            ),
        }));
    }
    Ok(signed_at)
}

/// Recompute the signature of `req` with `secret` (and the claimed session token) and
/// compare it with the claimed one in constant time. `signed_at` is the parsed
/// `X-Amz-Date` (see [`check_time`]).
pub fn verify_signature(
    req: &Request<'_>,
    claim: &Claim,
    secret: &str,
    signed_at: SystemTime,
) -> Result<(), AuthError> {
    let mismatch = || {
        AuthError::InvalidSignature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method."
                .into(),
        )
    };
    if !claim.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::InvalidSignature(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let identity: Identity = Credentials::new(
        &claim.access_key,
        secret,
        claim.security_token.clone(),
        None,
        "iotjobs-verifier",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Sign exactly the headers the client listed: the default excludes some
    // (user-agent, …) that clients may well have signed.
    settings.excluded_headers = Some(Vec::new());
    // A session token is usually signed (botocore, the Rust SDK) but may be added
    // after signing (the "post-sts-header-after" vector of AWS's suite); AWS accepts
    // both, so sign it only if the client did.
    if claim.location == Location::Header
        && !claim
            .signed_headers
            .iter()
            .any(|h| h == "x-amz-security-token")
    {
        settings.session_token_mode = SessionTokenMode::Exclude;
    }
    if let (Location::Query, Some(secs)) = (claim.location, claim.expires) {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(secs));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&claim.region)
        .name(&claim.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();

    // The signer adds `x-amz-date` and `x-amz-security-token` itself (from `time` and
    // the identity); every other signed header is passed as received, each occurrence.
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(claim.signed_headers.len());
    for name in &claim.signed_headers {
        if claim.location == Location::Header
            && (name == "x-amz-date" || name == "x-amz-security-token")
        {
            continue;
        }
        let mut found = false;
        for value in req.headers.get_all(name.as_str()) {
            headers.push((name.as_str(), value.to_str().map_err(|_| mismatch())?));
            found = true;
        }
        if !found {
            return Err(AuthError::InvalidSignature(format!(
                "Header {name} is listed in SignedHeaders but not present in the request."
            )));
        }
    }
    let host = header(req.headers, "host").ok_or_else(mismatch)?;
    let target = match claim.location {
        Location::Header => req.path_and_query.to_owned(),
        Location::Query => strip_presign_params(req.path_and_query),
    };
    let uri = format!("http://{host}{target}");
    let signable = SignableRequest::new(
        req.method,
        uri.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(req.body),
    )
    .map_err(|_| mismatch())?;
    let (_, expected) = sign(signable, &params)
        .map_err(|_| mismatch())?
        .into_parts();
    if expected.as_bytes().ct_eq(claim.signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(mismatch())
    }
}

/// The request target without the presigned-auth parameters, other parameters in their
/// original order and encoding.
fn strip_presign_params(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !PRESIGN_PARAMS.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// One header's value (the first), if it is visible ASCII.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The decoded value of the first query parameter named `name`.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `YYYYMMDDTHHMMSSZ` → time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |a: usize, z: usize| -> Option<i64> {
        let part = s.get(a..z)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (n(0, 4)?, n(4, 6)?, n(6, 8)?);
    let (hh, mm, ss) = (n(9, 11)?, n(11, 13)?, n(13, 15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = iotjobs_core::time::days_from_civil(y, m, d);
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Time → `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = iotjobs_core::time::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
