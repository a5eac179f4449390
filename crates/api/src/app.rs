//! One account's state, which every request and every background sweep of that account
//! runs against: its store, the clock, its configuration (region, account id: what its
//! ARNs say; the certificate issuer, if the server has one; the S3 client; where
//! clients reach the server), and the ARNs themselves.
//!
//! This is shared vocabulary for the rest of the crate (handlers, errors, background work,
//! the server), so it sits low: it knows the domain's types and the `issuer` below it,
//! and nothing of HTTP, the wire format, authentication or routing, and must not import
//! any of them.

use crate::issuer::CertificateIssuer;
use crate::s3::S3;
use iotjobs_core::endpoint::PublicEndpoints;
use iotjobs_core::error::ResourceKind;
use iotjobs_core::{Clock, Timestamp};
use std::sync::Arc;

/// What one account says about itself and which optional endpoints it serves.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// Region in ARNs.
    pub region: String,
    /// Account id in ARNs.
    pub account_id: String,
    /// Serve `POST /moto-api/reset` (wipe the caller's account; an admin key, or any
    /// caller with `--auth none`), for test suites written for moto's server mode.
    /// Off by default: it deletes everything.
    pub enable_reset: bool,
    /// The CA that CreateKeysAndCertificate signs with (`--mqtt-client-ca-key`); without
    /// one the operation is refused. One issuer for the server, shared by its accounts.
    pub certificate_issuer: Option<Arc<CertificateIssuer>>,
    /// The S3 endpoint (`--s3-endpoint`) that `documentSource` is read from and
    /// presigned URLs point to; disabled without one. One for the server.
    pub s3: Arc<S3>,
    /// Where clients reach the server, as DescribeEndpoint answers it (the same for
    /// every account: one server).
    pub endpoints: PublicEndpoints,
}

impl Default for AccountConfig {
    fn default() -> Self {
        AccountConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            enable_reset: false,
            certificate_issuer: None,
            s3: Arc::new(S3::disabled()),
            endpoints: PublicEndpoints {
                http: "127.0.0.1:8080".into(),
                mqtt: None,
            },
        }
    }
}

/// Shared state of one account: the store, the clock and the configuration.
pub struct App<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub config: AccountConfig,
    /// Wakes the background sweeper early (see `background`).
    pub sweeper: tokio::sync::Notify,
}

impl<S> App<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, config: AccountConfig) -> Self {
        App {
            store,
            clock,
            config,
            sweeper: tokio::sync::Notify::new(),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// The ARN of a resource of this service in the account `config` describes.
pub fn arn(config: &AccountConfig, kind: ResourceKind, name: &str) -> String {
    let kind = match kind {
        ResourceKind::Thing => "thing",
        ResourceKind::ThingGroup => "thinggroup",
        ResourceKind::Job | ResourceKind::JobExecution => "job",
        ResourceKind::Certificate => "cert",
        ResourceKind::JobTemplate => "jobtemplate",
    };
    format!(
        "arn:aws:iot:{}:{}:{kind}/{name}",
        config.region, config.account_id
    )
}
