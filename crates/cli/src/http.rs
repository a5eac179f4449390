//! Sending one HTTP request (blocking, HTTP/1.1, plain TCP or rustls with ring) and the
//! botocore texts of transport errors (`Could not connect to the endpoint URL: "…"`).
//!
//! ureq keeps this process small and quick to start: no async runtime, no connection
//! pool threads. This module sends what it is given (headers in the order botocore sends
//! them); it does not sign, retry or interpret responses.

use std::sync::Arc;
use std::time::Duration;

use ureq::http;
use ureq::tls::{RootCerts, TlsConfig};

/// Transport options from the global flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--no-verify-ssl` clears this.
    pub verify_ssl: bool,
    /// `--ca-bundle` / `AWS_CA_BUNDLE` / profile `ca_bundle`: a PEM file.
    pub ca_bundle: Option<String>,
    /// `--cli-connect-timeout` (default 60 s; 0 = none).
    pub connect_timeout: Option<Duration>,
    /// `--cli-read-timeout` (default 60 s; 0 = none).
    pub read_timeout: Option<Duration>,
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A transport failure (botocore's `ConnectionError` family: all are retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    Connect,
    ConnectTimeout,
    ReadTimeout,
    Closed,
    Ssl(String),
    /// Not retried (a malformed URL and the like).
    Fatal(String),
}

impl TransportError {
    /// botocore's message for `url`.
    pub fn message(&self, url: &str) -> String {
        match self {
            TransportError::Connect => format!("Could not connect to the endpoint URL: \"{url}\""),
            TransportError::ConnectTimeout => format!("Connect timeout on endpoint URL: \"{url}\""),
            TransportError::ReadTimeout => format!("Read timeout on endpoint URL: \"{url}\""),
            TransportError::Closed => format!(
                "Connection was closed before we received a valid response from endpoint URL: \"{url}\"."
            ),
            TransportError::Ssl(e) => format!("SSL validation failed for {url} {e}"),
            TransportError::Fatal(e) => e.clone(),
        }
    }

    pub fn retryable(&self) -> bool {
        !matches!(self, TransportError::Fatal(_))
    }
}

/// A configured client.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(opts: &Options) -> Result<Client, String> {
        let mut tls = TlsConfig::builder().disable_verification(!opts.verify_ssl);
        if let Some(path) = &opts.ca_bundle {
            let pem = std::fs::read(crate::paramfile::expand_user(path))
                .map_err(|e| format!("Unable to load the CA bundle {path}: {e}"))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(ureq::config::AutoHeaderValue::None)
            .accept(ureq::config::AutoHeaderValue::None)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .timeout_connect(opts.connect_timeout)
            .timeout_per_read(opts.read_timeout)
            .tls_config(tls.build())
            .build();
        Ok(Client {
            agent: config.new_agent(),
        })
    }

    /// Sends one request; `headers` in sending order (Host is added by the transport).
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, TransportError> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(body.to_vec())
            .map_err(|e| TransportError::Fatal(format!("Invalid request: {e}")))?;
        let mut response = self.agent.run(request).map_err(map_error)?;
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(map_error)?;
        Ok(Response {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            headers,
            body,
        })
    }
}

fn map_error(e: ureq::Error) -> TransportError {
    match e {
        ureq::Error::Timeout(t) => match t {
            ureq::Timeout::Connect | ureq::Timeout::Resolve => TransportError::ConnectTimeout,
            _ => TransportError::ReadTimeout,
        },
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                TransportError::ReadTimeout
            }
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => TransportError::Closed,
            std::io::ErrorKind::InvalidData => TransportError::Ssl(io.to_string()),
            _ => TransportError::Connect,
        },
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportError::Connect,
        ureq::Error::Tls(m) => TransportError::Ssl(m.to_string()),
        ureq::Error::Rustls(e) => TransportError::Ssl(e.to_string()),
        ureq::Error::Protocol(_) => TransportError::Closed,
        ureq::Error::BadUri(u) => TransportError::Fatal(format!("Invalid endpoint: {u}")),
        other => TransportError::Fatal(other.to_string()),
    }
}

/// `get_uri` of `paramfile.py`: GET the URL, the body on 200.
pub fn fetch_paramfile_url(url: &str) -> Result<String, String> {
    let client = Client::new(&Options {
        verify_ssl: true,
        ..Options::default()
    })?;
    let r = client
        .send("GET", url, &[], &[])
        .map_err(|e| e.message(url))?;
    if r.status == 200 {
        Ok(String::from_utf8_lossy(&r.body).into_owned())
    } else {
        Err(format!("received non 200 status code of {}", r.status))
    }
}
