//! The server's S3 client (`serve --s3-endpoint`): it reads CreateJob's `documentSource`
//! and signs the presigned GET URLs that replace placeholders in the job documents
//! devices receive (the core's `presign::Presigner` port, which both device transports
//! use).
//!
//! No AWS SDK (rust-deps.md: it would double the server's build): signatures come from
//! aws-sigv4, the SigV4 code the server already verifies requests with, and the one GET
//! per CreateJob with a `documentSource` goes over a hyper HTTP/1.1 connection of its
//! own (https endpoints: rustls on ring with the system's root certificates). The
//! endpoint is addressed path style (`ENDPOINT/BUCKET/KEY`), which every S3-compatible
//! server understands; the host of a URL written in a job only says where its bucket
//! name is (`iotjobs_core::presign::parse_s3_url`).
//!
//! Credentials are the server's own (resolved at start-up like the AWS CLI's: the
//! environment, then the shared files), not the job's `presignedUrlConfig.roleArn`:
//! there is no STS to assume it with.
//!
//! Presigned URLs carry the real time, never the domain clock's (`--test-clock`): the
//! S3 server checks them against its own clock, as it checks our reads.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use iotjobs_core::JobsError;
use iotjobs_core::presign::{self, Presigner, S3Object, UrlEncoding};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// How long CreateJob waits for the S3 endpoint (connect and answer) before it answers
/// ServiceUnavailable.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What `--s3-endpoint` and friends say.
pub struct S3Config {
    /// `http://HOST:PORT` or `https://HOST[:PORT]`, no path.
    pub endpoint: String,
    /// The region URLs and reads are signed for (`--s3-region`).
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// The S3 client of the server, or its absence (no `--s3-endpoint`). One per server,
/// shared by every account and both device transports.
pub struct S3 {
    client: Option<Client>,
    /// Placeholders met without an endpoint are logged once, not per device request.
    warned: AtomicBool,
}

struct Client {
    https: bool,
    /// `HOST:PORT` as configured (what the endpoint's own URLs in documents say).
    authority: String,
    /// The Host header and what the signature covers: the authority without a default
    /// port (as aws-sigv4 and HTTP clients write it).
    host_header: String,
    /// Where to connect (IPv6 without brackets).
    host: String,
    port: u16,
    region: String,
    identity: Identity,
    access_key_id: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for S3 {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.client {
            None => f.write_str("S3(disabled)"),
            Some(c) => write!(
                f,
                "S3({}://{}, region {}, access key {})",
                if c.https { "https" } else { "http" },
                c.authority,
                c.region,
                c.access_key_id
            ),
        }
    }
}

impl Default for S3 {
    fn default() -> Self {
        S3::disabled()
    }
}

/// Characters a SigV4 canonical URI for S3 keeps: the unreserved ones (RFC 3986), and
/// `/` in a key's path.
const S3_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const S3_PATH: &AsciiSet = &S3_QUERY.remove(b'/');

impl S3 {
    /// No S3 endpoint: `documentSource` is refused, placeholders stay as written.
    pub fn disabled() -> Self {
        S3 {
            client: None,
            warned: AtomicBool::new(false),
        }
    }

    /// A client of `config.endpoint`. Refuses an endpoint with a path, query or
    /// user-info, or another scheme than http and https.
    pub fn new(config: S3Config) -> Result<Self, String> {
        let uri: hyper::Uri = config
            .endpoint
            .parse()
            .map_err(|e| format!("--s3-endpoint {}: {e}", config.endpoint))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "--s3-endpoint {}: must be an http:// or https:// URL",
                    config.endpoint
                ));
            }
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "--s3-endpoint {}: give the endpoint without a path (buckets are addressed path style: ENDPOINT/BUCKET/KEY)",
                config.endpoint
            ));
        }
        let authority = uri
            .authority()
            .filter(|a| !a.as_str().contains('@'))
            .ok_or_else(|| {
                format!(
                    "--s3-endpoint {}: needs a host (and no user name)",
                    config.endpoint
                )
            })?;
        let default_port = if https { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let host_header = if port == default_port {
            authority.host().to_owned()
        } else {
            format!("{}:{port}", authority.host())
        };
        let tls = https.then(tls_connector).transpose()?;
        let identity: Identity = Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key,
            config.session_token,
            None,
            "iotjobs --s3-endpoint",
        )
        .into();
        Ok(S3 {
            client: Some(Client {
                https,
                authority: authority.as_str().to_owned(),
                host_header,
                host,
                port,
                region: config.region,
                identity,
                access_key_id: config.access_key_id,
                tls,
            }),
            warned: AtomicBool::new(false),
        })
    }

    /// Whether `--s3-endpoint` was given.
    pub fn is_enabled(&self) -> bool {
        self.client.is_some()
    }

    /// CreateJob's `documentSource`: the object's text, read now ("retrieved at the time
    /// you create the job"), at most `max_chars` characters. Refusals name the source;
    /// an endpoint that cannot be reached is ServiceUnavailable (details in the log).
    pub async fn read_document(&self, source: &str, max_chars: usize) -> Result<String, JobsError> {
        let Some(client) = &self.client else {
            return Err(JobsError::document_source_needs_s3_endpoint(source));
        };
        let object = presign::parse_s3_url(source, UrlEncoding::Encoded, Some(&client.authority))
            .map_err(|presign::NotAnObject(why)| {
            JobsError::document_source_not_s3(source, &why)
        })?;
        // A character is at most 4 bytes: read no more than the longest document.
        let limit = max_chars * 4;
        let answer = tokio::time::timeout(READ_TIMEOUT, client.get(&object, limit + 1))
            .await
            .map_err(|_| {
                JobsError::s3_unavailable(format!(
                    "reading {source}: no answer from {} within {READ_TIMEOUT:?}",
                    client.authority
                ))
            })?
            .map_err(|e| JobsError::s3_unavailable(format!("reading {source}: {e}")))?;
        match answer {
            Got::Body(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| JobsError::document_source_not_object(source))?;
                if text.chars().count() > max_chars {
                    return Err(JobsError::document_source_too_large(source, max_chars));
                }
                Ok(text)
            }
            Got::TooLarge => Err(JobsError::document_source_too_large(source, max_chars)),
            Got::Status(404, _) => Err(JobsError::document_source_not_found(source)),
            Got::Status(status, code) if status < 500 => Err(JobsError::document_source_refused(
                source,
                &format!("{status} {code}"),
            )),
            Got::Status(status, code) => Err(JobsError::s3_unavailable(format!(
                "reading {source}: {} answered {status} {code}",
                client.authority
            ))),
        }
    }
}

impl Presigner for S3 {
    fn endpoint(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.authority.as_str())
    }

    fn expires_in_sec(&self, presigned_url_config: &str) -> Option<u64> {
        serde_json::from_str::<serde_json::Value>(presigned_url_config)
            .ok()?
            .get("expiresInSec")?
            .as_u64()
    }

    fn presign_get(&self, object: &S3Object, expires_in_sec: u64) -> Option<String> {
        let Some(client) = &self.client else {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "a job document has presigned URL placeholders, but the server has no \
                     --s3-endpoint: devices get them as written (logged once)"
                );
            }
            return None;
        };
        match client.presign(
            object,
            Duration::from_secs(expires_in_sec),
            SystemTime::now(),
        ) {
            Ok(url) => Some(url),
            Err(e) => {
                tracing::warn!(bucket = %object.bucket, key = %object.key, error = %e, "cannot presign a URL; the placeholder stays");
                None
            }
        }
    }
}

/// What a GET got.
enum Got {
    Body(Vec<u8>),
    /// The body is longer than asked for.
    TooLarge,
    /// An error status with S3's error code (`<Code>` of the XML body), if any.
    Status(u16, String),
}

impl Client {
    /// `/BUCKET/KEY[?versionId=ID]`, each part encoded as a SigV4 canonical URI for S3
    /// has it (so the request's path is its own canonical form).
    fn path_and_query(&self, object: &S3Object) -> String {
        let mut target = format!(
            "/{}/{}",
            utf8_percent_encode(&object.bucket, S3_QUERY),
            utf8_percent_encode(&object.key, S3_PATH)
        );
        if let Some(version) = &object.version_id {
            target.push_str("?versionId=");
            target.extend(utf8_percent_encode(version, S3_QUERY));
        }
        target
    }

    fn url(&self, object: &S3Object) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!(
            "{scheme}://{}{}",
            self.host_header,
            self.path_and_query(object)
        )
    }

    /// S3's signing settings: single percent-encoding and no path normalization (an S3
    /// key is a name, not a path).
    fn settings(location: SignatureLocation) -> SigningSettings {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = location;
        settings
    }

    /// A presigned GET URL of `object`, valid `expires_in` from `now`.
    fn presign(
        &self,
        object: &S3Object,
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<String, String> {
        self.presign_url(&self.url(object), expires_in, now)
    }

    /// `url` (already in its canonical encoding) presigned for GET.
    fn presign_url(
        &self,
        url: &str,
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<String, String> {
        let mut settings = Self::settings(SignatureLocation::QueryParams);
        settings.expires_in = Some(expires_in);
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(
            "GET",
            url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut request = hyper::Request::builder()
            .uri(url)
            .body(())
            .map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }

    /// GET the object, signed in the headers; at most `limit` body bytes are read.
    async fn get(&self, object: &S3Object, limit: usize) -> Result<Got, String> {
        let url = self.url(object);
        let mut settings = Self::settings(SignatureLocation::Headers);
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers = [("host", self.host_header.as_str())];
        let signable = SignableRequest::new(
            "GET",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut request = hyper::Request::builder()
            .method("GET")
            .uri(self.path_and_query(object))
            .header(hyper::header::HOST, &self.host_header)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut request);

        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.authority))?;
        let response = match &self.tls {
            None => send(tcp, request).await?,
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("{}: {e}", self.host))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.authority))?;
                send(stream, request).await?
            }
        };
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), limit);
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return Ok(Got::TooLarge);
            }
            Err(e) => return Err(format!("reading the answer of {}: {e}", self.authority)),
        };
        if status == 200 {
            return Ok(Got::Body(bytes));
        }
        Ok(Got::Status(status, error_code(&bytes)))
    }
}

/// One request on a new HTTP/1.1 connection over `io`.
async fn send<T>(
    io: T,
    request: hyper::Request<Empty<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection runs until the answer is read and the sender dropped.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "S3 connection closed with an error");
        }
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("sending the request: {e}"))
}

/// `<Code>NoSuchKey</Code>` of an S3 error body, or the empty string.
fn error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_default()
}

/// TLS to an https endpoint: the system's root certificates, rustls on ring (the
/// server builds no aws-lc).
fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A certificate the store cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!(
            "--s3-endpoint https://…: no usable root certificate found on this system ({} errors)",
            found.errors.len()
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests;
