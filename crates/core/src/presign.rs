//! Presigned-URL placeholders in job documents, and the S3 object URLs they (and
//! CreateJob's `documentSource`) name.
//!
//! A job document may hold `${aws:iot:s3-presigned-url:URL}` (version 1, also spelled
//! `-v1`) or `${aws:iot:s3-presigned-url-v2:URL}`. AWS generates the presigned URL "when
//! a device requests a job document" (AWS IoT developer guide, "Managing jobs: Presigned
//! URLs"), so the device operations ([`crate::device`]) replace every placeholder with a
//! fresh GET URL each time they hand a document to a device, valid for the job's
//! `presignedUrlConfig.expiresInSec`. The stored document keeps its placeholders
//! (GetJobDocument returns it as written).
//!
//! What is decided here: where a placeholder starts and ends, which URL forms name an
//! object ([`parse_s3_url`]), and what CreateJob refuses ([`check_placeholders`]). The
//! signing itself is the edge's ([`Presigner`]): it holds the S3 credentials and knows
//! HTTP; this module stays pure, so every form is unit-tested without a network.
//!
//! Version differences (same guide, "placeholder version differences"): version 1 takes
//! the URL unencoded and has no `versionId`; version 2 takes it S3-encoded (the key
//! percent-encoded, as the AWS SDK for Java 2.x writes it) and may end in
//! `%3FversionId%3D<id>`.

use crate::JobsError;
use std::borrow::Cow;

/// What every presigned-URL placeholder starts with. A document without it is handed
/// out as stored, without a copy (the fast path of [`substitute`]).
pub const PLACEHOLDER_PREFIX: &str = "${aws:iot:s3-presigned-url";

/// `presignedUrlConfig.expiresInSec` when the job has none ("The default value is
/// 3600 seconds", CreateJob model doc; the model allows 60 to 3600).
pub const DEFAULT_EXPIRES_IN_SEC: u64 = 3600;

/// The `presignedUrlConfig` member in a job's stored configs.
pub const PRESIGNED_URL_CONFIG: &str = "presignedUrlConfig";

/// How a placeholder writes its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlEncoding {
    /// Version 1: the key as it is, no `versionId`.
    Plain,
    /// Version 2: the key percent-encoded, an optional `%3FversionId%3D<id>`.
    Encoded,
}

/// What a placeholder asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderKind {
    /// A GET URL (`s3-presigned-url`, `-v1`, `-v2`).
    Get(UrlEncoding),
    /// `s3-presigned-url-upload`: a PUT URL whose key may hold `${thingName}` and
    /// friends. Not substituted by iotjobs (CreateJob refuses it).
    Upload,
    /// Another suffix (`${aws:iot:s3-presigned-url-v9:…}`): not a placeholder AWS
    /// documents.
    Unknown,
}

/// One placeholder found in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder<'a> {
    pub kind: PlaceholderKind,
    /// The URL between the kind's colon and the closing brace, as written.
    pub url: &'a str,
    /// The whole placeholder, `${` to `}` (for messages).
    pub text: &'a str,
    /// Where it starts in the document.
    pub start: usize,
}

/// A placeholder that starts but never closes (`${aws:iot:s3-presigned-url…` without
/// `}`): its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unterminated(pub usize);

/// The placeholders of `document`, in order. Each ends at the first `}` after its
/// start: an S3 URL has no literal brace (version 2 encodes it, and version 1 keys
/// with braces cannot be written in a placeholder at all). One whose JSON string ends
/// (a `"`) before any `}` is [`Unterminated`], and the search goes on after it.
pub fn placeholders(document: &str) -> impl Iterator<Item = Result<Placeholder<'_>, Unterminated>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + document.get(at..)?.find(PLACEHOLDER_PREFIX)?;
        let after = start + PLACEHOLDER_PREFIX.len();
        // The JSON string that holds it must not end first (a `"`, escaped or not).
        let Some(len) = document[after..]
            .find(['}', '"'])
            .filter(|&len| document[after + len..].starts_with('}'))
        else {
            at = after;
            return Some(Err(Unterminated(start)));
        };
        let end = after + len + 1;
        at = end;
        let inner = &document[after..end - 1];
        let (kind, url) = if let Some(url) = inner.strip_prefix(':') {
            (PlaceholderKind::Get(UrlEncoding::Plain), url)
        } else if let Some(url) = inner.strip_prefix("-v1:") {
            (PlaceholderKind::Get(UrlEncoding::Plain), url)
        } else if let Some(url) = inner.strip_prefix("-v2:") {
            (PlaceholderKind::Get(UrlEncoding::Encoded), url)
        } else if let Some(url) = inner.strip_prefix("-upload:") {
            (PlaceholderKind::Upload, url)
        } else {
            (PlaceholderKind::Unknown, inner)
        };
        Some(Ok(Placeholder {
            kind,
            url,
            text: &document[start..end],
            start,
        }))
    })
}

/// `document` with each GET placeholder replaced by `url_for(encoding, url)`; one for
/// which it answers `None` (or that is malformed, or an upload placeholder) stays as
/// written. Without [`PLACEHOLDER_PREFIX`] in the document, no copy is made.
///
/// The replacement is put into the document's JSON text as is: a presigned URL holds
/// no `"` or `\` (its query is percent-encoded), so the string stays valid JSON.
pub fn substitute<'a>(
    document: &'a str,
    mut url_for: impl FnMut(UrlEncoding, &str) -> Option<String>,
) -> Cow<'a, str> {
    if !document.contains(PLACEHOLDER_PREFIX) {
        return Cow::Borrowed(document);
    }
    let mut out = String::with_capacity(document.len() + 512);
    let mut copied = 0;
    for found in placeholders(document) {
        let Ok(p) = found else { continue };
        let PlaceholderKind::Get(encoding) = p.kind else {
            continue;
        };
        if let Some(url) = url_for(encoding, p.url) {
            out.push_str(&document[copied..p.start]);
            out.push_str(&url);
            copied = p.start + p.text.len();
        }
    }
    out.push_str(&document[copied..]);
    Cow::Owned(out)
}

/// An S3 object: what a placeholder's URL or a `documentSource` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    /// The key, decoded (what S3 stores, not how a URL writes it).
    pub key: String,
    pub version_id: Option<String>,
}

/// Why a URL names no S3 object (the text completes "… is not an S3 object URL: ").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnObject(pub String);

/// The object an S3 URL names. Accepted forms (AWS's, in CreateJob's model doc and the
/// developer guide), with `http` or `https`:
///
/// - path style: `https://s3.amazonaws.com/BUCKET/KEY`, `https://s3.REGION.amazonaws.com/BUCKET/KEY`
///   (and the older `s3-REGION` host);
/// - virtual-hosted style: `https://BUCKET.s3.REGION.amazonaws.com/KEY`,
///   `https://BUCKET.s3.amazonaws.com/KEY`;
/// - the configured S3 endpoint's own URL, path style: `http://HOST:PORT/BUCKET/KEY`
///   (`endpoint` is its authority, `HOST:PORT`, compared without case);
/// - the oldest placeholder form, `BUCKET/KEY` without a scheme.
///
/// Whatever the host says, the object is then read or signed on the configured endpoint:
/// the host only tells where the bucket name is. A region in the host is ignored (the
/// server signs for `--s3-region`).
///
/// With [`UrlEncoding::Encoded`] the key (and bucket) are percent-decoded and a
/// `%3FversionId%3D<id>` (or a literal `?versionId=<id>`) suffix names the version; with
/// [`UrlEncoding::Plain`] everything after the bucket is the key as written.
pub fn parse_s3_url(
    url: &str,
    encoding: UrlEncoding,
    endpoint: Option<&str>,
) -> Result<S3Object, NotAnObject> {
    let bad = |why: &str| Err(NotAnObject(why.to_owned()));
    // A placeholder sits in a JSON string: a serializer may have written `/` as `\/`
    // or `ü` as `\u00fc`.
    let unescaped = unescape_json_string(url)
        .ok_or_else(|| NotAnObject("it holds an invalid JSON escape".into()))?;
    let url = unescaped.as_ref();
    let (bucket, rest) = match url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        None if url.contains("://") => return bad("only http and https URLs name S3 objects"),
        None => match url.split_once('/') {
            Some((bucket, key)) => (Cow::Borrowed(bucket), key),
            None => return bad("it names no key"),
        },
        Some(after_scheme) => {
            let (authority, path) = match after_scheme.find('/') {
                Some(i) => (&after_scheme[..i], &after_scheme[i + 1..]),
                None => (after_scheme, ""),
            };
            let host = authority.to_ascii_lowercase();
            let is_endpoint = endpoint.is_some_and(|e| e.eq_ignore_ascii_case(authority));
            match aws_host(&host) {
                _ if is_endpoint => match path.split_once('/') {
                    Some((bucket, key)) => (Cow::Borrowed(bucket), key),
                    None => return bad("it names no bucket and key"),
                },
                Some(AwsHost::PathStyle) => match path.split_once('/') {
                    Some((bucket, key)) => (Cow::Borrowed(bucket), key),
                    None => return bad("it names no bucket and key"),
                },
                Some(AwsHost::Bucket(len)) => {
                    // The bucket as written in the host (host names have no case).
                    (Cow::Owned(host[..len].to_owned()), path)
                }
                None => {
                    return bad(
                        "its host is neither an Amazon S3 host nor the server's --s3-endpoint",
                    );
                }
            }
        }
    };
    let (key, version_id) = match encoding {
        UrlEncoding::Plain => (Cow::Borrowed(rest), None),
        UrlEncoding::Encoded => {
            let (key, version) = split_version(rest);
            let decode = |s: &str| {
                percent_decode(s)
                    .ok_or_else(|| NotAnObject("its percent-encoding is not valid UTF-8".into()))
            };
            (Cow::Owned(decode(key)?), version.map(decode).transpose()?)
        }
    };
    let bucket = match encoding {
        UrlEncoding::Plain => bucket.into_owned(),
        UrlEncoding::Encoded => percent_decode(&bucket)
            .ok_or_else(|| NotAnObject("its percent-encoding is not valid UTF-8".into()))?,
    };
    if bucket.is_empty() || bucket.contains('/') {
        return bad("it names no bucket");
    }
    if key.is_empty() {
        return bad("it names no key");
    }
    if version_id.as_deref() == Some("") {
        return bad("its versionId is empty");
    }
    Ok(S3Object {
        bucket,
        key: key.into_owned(),
        version_id,
    })
}

/// The text a JSON string's contents stand for (`\"`, `\\`, `\/`, `\n` and friends,
/// `\uXXXX` with surrogate pairs); `None` for an invalid escape. This one lexical rule
/// of JSON is needed here because placeholders are found in the document's text, which
/// the device operations hand on without parsing.
fn unescape_json_string(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('\\') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let hex4 = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
        let digits: String = chars.by_ref().take(4).collect();
        (digits.len() == 4)
            .then(|| u32::from_str_radix(&digits, 16).ok())
            .flatten()
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            c @ ('"' | '\\' | '/') => c,
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let unit = hex4(&mut chars)?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate: its low half must follow as `\uXXXX`.
                    if chars.next()? != '\\' || chars.next()? != 'u' {
                        return None;
                    }
                    let low = hex4(&mut chars)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(unit)?
                }
            }
            _ => return None,
        });
    }
    Some(Cow::Owned(out))
}

enum AwsHost {
    /// `s3[.-REGION].amazonaws.com`: the bucket is the path's first segment.
    PathStyle,
    /// `BUCKET.s3[.-REGION].amazonaws.com`: the bucket is the host's first `len` bytes.
    Bucket(usize),
}

/// Which Amazon S3 host `host` (lower case, maybe with a port) is.
fn aws_host(host: &str) -> Option<AwsHost> {
    let host = host.split(':').next().unwrap_or(host);
    let rest = host.strip_suffix(".amazonaws.com")?;
    // `s3`, `s3.REGION`, `s3-REGION`: the service part, with a region of one label.
    let service = |s: &str| {
        s == "s3"
            || s.strip_prefix("s3.")
                .or_else(|| s.strip_prefix("s3-"))
                .is_some_and(|region| !region.is_empty() && !region.contains('.'))
    };
    if service(rest) {
        return Some(AwsHost::PathStyle);
    }
    // The bucket may hold dots itself: the service part is the last `.s3…` label pair.
    let at = rest.rfind(".s3")?;
    (at > 0 && service(&rest[at + 1..])).then_some(AwsHost::Bucket(at))
}

/// `KEY%3FversionId%3DID` (any case of the hex digits) or `KEY?versionId=ID`.
fn split_version(rest: &str) -> (&str, Option<&str>) {
    const ENCODED: &str = "%3fversionid%3d";
    let lower = rest.to_ascii_lowercase();
    if let Some(i) = lower.find(ENCODED)
        && rest[i + 3..].starts_with("versionId")
    {
        return (&rest[..i], Some(&rest[i + ENCODED.len()..]));
    }
    match rest.split_once("?versionId=") {
        Some((key, version)) => (key, Some(version)),
        None => (rest, None),
    }
}

/// `%XX` sequences decoded; `None` if the result is not UTF-8. A `%` not followed by
/// two hex digits is kept as it is (as the Java SDK's parser does).
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// CreateJob's check of a document's placeholders (inline or read from
/// `documentSource`): each must be closed, a GET placeholder's URL must name an object
/// (`endpoint`: the configured S3 endpoint's authority), and upload placeholders are
/// refused, as iotjobs does not generate upload URLs. Refusing at creation tells the
/// author now, rather than every device later.
pub fn check_placeholders(document: &str, endpoint: Option<&str>) -> Result<(), JobsError> {
    if !document.contains(PLACEHOLDER_PREFIX) {
        return Ok(());
    }
    for found in placeholders(document) {
        let p = found.map_err(|Unterminated(at)| {
            let shown: String = document[at..].chars().take(80).collect();
            JobsError::unterminated_placeholder(&shown)
        })?;
        match p.kind {
            PlaceholderKind::Get(encoding) => {
                parse_s3_url(p.url, encoding, endpoint)
                    .map_err(|NotAnObject(why)| JobsError::invalid_placeholder(p.text, &why))?;
            }
            PlaceholderKind::Upload => return Err(JobsError::upload_placeholder(p.text)),
            PlaceholderKind::Unknown => {
                return Err(JobsError::invalid_placeholder(
                    p.text,
                    "it is not a placeholder AWS IoT Jobs defines (s3-presigned-url, -v1, -v2)",
                ));
            }
        }
    }
    Ok(())
}

/// Signs GET URLs for the device operations. The edge implements it: it holds the
/// server's S3 endpoint and credentials (AWS assumes the job's `roleArn` instead; there
/// is no STS here) and reads the job's stored `presignedUrlConfig` (JSON, which the core
/// does not read).
pub trait Presigner: Send + Sync {
    /// The configured S3 endpoint's authority (`HOST:PORT`), whose own URLs name objects
    /// path style; `None` without one.
    fn endpoint(&self) -> Option<&str>;

    /// `expiresInSec` of a job's stored `presignedUrlConfig` text; `None`: not given
    /// (then [`DEFAULT_EXPIRES_IN_SEC`]).
    fn expires_in_sec(&self, presigned_url_config: &str) -> Option<u64>;

    /// A GET URL of `object` valid for `expires_in_sec` seconds from now (the real time:
    /// S3 checks it against its own clock). `None`: the placeholder stays as written
    /// (no endpoint configured, or the URL cannot be signed).
    fn presign_get(&self, object: &S3Object, expires_in_sec: u64) -> Option<String>;
}

/// A [`Presigner`] that signs nothing: documents reach devices as stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPresigner;

impl Presigner for NoPresigner {
    fn endpoint(&self) -> Option<&str> {
        None
    }

    fn expires_in_sec(&self, _: &str) -> Option<u64> {
        None
    }

    fn presign_get(&self, _: &S3Object, _: u64) -> Option<String> {
        None
    }
}

/// A job's document as a device receives it now: the stored text, with every GET
/// placeholder replaced by a URL from `presigner` that lives `expiresInSec` of the
/// job's `presigned_url_config` (stored JSON text). A document without placeholders is
/// returned as it is, unread and uncopied.
pub fn document_for_device(
    document: String,
    presigned_url_config: Option<&str>,
    presigner: &dyn Presigner,
) -> String {
    if !document.contains(PLACEHOLDER_PREFIX) {
        return document;
    }
    let expires = presigned_url_config
        .and_then(|c| presigner.expires_in_sec(c))
        .unwrap_or(DEFAULT_EXPIRES_IN_SEC);
    let endpoint = presigner.endpoint();
    match substitute(&document, |encoding, url| {
        let object = parse_s3_url(url, encoding, endpoint).ok()?;
        presigner.presign_get(&object, expires)
    }) {
        Cow::Borrowed(_) => document,
        Cow::Owned(changed) => changed,
    }
}

impl JobsError {
    /// A GET placeholder whose URL names no S3 object.
    pub fn invalid_placeholder(placeholder: &str, why: &str) -> Self {
        Self::InvalidRequest(format!(
            "The job document's presigned URL placeholder {placeholder} is not valid: {why}"
        ))
    }

    /// A placeholder without its closing brace (`start`: its first characters).
    pub fn unterminated_placeholder(start: &str) -> Self {
        Self::InvalidRequest(format!(
            "The job document's presigned URL placeholder is not closed with '}}': {start}"
        ))
    }

    /// `${aws:iot:s3-presigned-url-upload:…}`.
    pub fn upload_placeholder(placeholder: &str) -> Self {
        Self::InvalidRequest(format!(
            "{placeholder}: upload URL placeholders (s3-presigned-url-upload) are not supported by iotjobs yet"
        ))
    }

    /// `documentSource` on a server started without `--s3-endpoint`: reading it would
    /// need the internet (or an S3 the server was not told about).
    pub fn document_source_needs_s3_endpoint(source: &str) -> Self {
        Self::InvalidRequest(format!(
            "documentSource {source} cannot be read: this server has no S3 endpoint; start it with --s3-endpoint URL (an S3-compatible server) to use documentSource, or pass the document inline"
        ))
    }

    /// `documentSource` that is not an S3 object URL.
    pub fn document_source_not_s3(source: &str, why: &str) -> Self {
        Self::InvalidRequest(format!(
            "documentSource {source} is not an S3 object URL: {why}"
        ))
    }

    /// The object (or its bucket) does not exist.
    pub fn document_source_not_found(source: &str) -> Self {
        Self::InvalidRequest(format!(
            "documentSource {source}: the S3 object does not exist"
        ))
    }

    /// S3 refused the read (access denied, a bad signature, …): `answer` is its status
    /// and error code.
    pub fn document_source_refused(source: &str, answer: &str) -> Self {
        Self::InvalidRequest(format!(
            "documentSource {source} could not be read: S3 answered {answer}"
        ))
    }

    /// The object is not a JSON object (or not UTF-8).
    pub fn document_source_not_object(source: &str) -> Self {
        Self::InvalidRequest(format!(
            "The job document read from documentSource {source} must be a JSON object"
        ))
    }

    /// The object is longer than a job document may be.
    pub fn document_source_too_large(source: &str, max_chars: usize) -> Self {
        Self::InvalidRequest(format!(
            "The job document read from documentSource {source} is longer than {max_chars} characters"
        ))
    }

    /// The S3 endpoint could not be reached or failed (`detail` goes to the log).
    pub fn s3_unavailable(detail: impl std::fmt::Display) -> Self {
        Self::Unavailable(format!("S3 endpoint: {detail}"))
    }
}

#[cfg(test)]
mod tests;
