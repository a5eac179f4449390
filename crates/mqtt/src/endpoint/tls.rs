//! Mutual TLS for the endpoint: the server configuration (rustls, ring provider, client
//! certificates required and verified against a CA) and the transport that hands a
//! `tokio-rustls` stream to the MQTT codec.
//!
//! mqtt-endpoint-tokio's own `tls` feature is not used: it pulls tokio-rustls with
//! aws-lc (a C build). The transport below is all that the codec needs.

use std::future::Future;
use std::io::IoSlice;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mqtt_endpoint_tokio::mqtt_ep::transport::{TransportError, TransportOps};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// ALPN protocol ids the endpoint accepts. AWS IoT's Device SDKs connect to port 443 by
/// default and then offer `x-amzn-mqtt-ca` (AWS IoT's id for MQTT with client
/// certificates on 443); `mqtt` is the IANA id other clients may offer. A client that
/// offers none is served too (rustls only refuses an offer with no common id).
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"x-amzn-mqtt-ca", b"mqtt"];

/// The TLS configuration of the device endpoint from PEM files: the server's certificate
/// chain and key, and the CA certificates that sign the devices' client certificates.
/// Every device must present a certificate that verifies against `client_ca`
/// (rustls `WebPkiClientVerifier`, ring provider); which thing it is, is the
/// certificate registry's business (the `Handler`'s `authenticate`).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("reading the private key from {}: {e}", key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs(client_ca)? {
        roots
            .add(ca)
            .map_err(|e| format!("client CA in {}: {e}", client_ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| format!("client CA in {}: {e}", client_ca.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not make a TLS identity: {e}"))?;
    let mut config = config;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("reading certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certs)
}

/// A server-side TLS stream as the codec's transport.
pub(super) struct TlsTransport {
    stream: TlsStream<TcpStream>,
}

impl TlsTransport {
    pub(super) fn new(stream: TlsStream<TcpStream>) -> Self {
        Self { stream }
    }
}

impl TransportOps for TlsTransport {
    fn send<'a>(
        &'a mut self,
        buffers: &'a [IoSlice<'a>],
    ) -> Pin<Box<dyn Future<Output = Result<(), TransportError>> + Send + 'a>> {
        Box::pin(async move {
            // One packet's pieces into one TLS record.
            let bytes = buffers
                .iter()
                .flat_map(|b| b.iter().copied())
                .collect::<Vec<u8>>();
            self.stream
                .write_all(&bytes)
                .await
                .map_err(TransportError::Io)?;
            self.stream.flush().await.map_err(TransportError::Io)
        })
    }

    fn recv<'a>(
        &'a mut self,
        buffer: &'a mut [u8],
    ) -> Pin<Box<dyn Future<Output = Result<usize, TransportError>> + Send + 'a>> {
        Box::pin(async move { self.stream.read(buffer).await.map_err(TransportError::Io) })
    }

    fn shutdown<'a>(
        &'a mut self,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            // close_notify, then FIN; a peer that does not answer is dropped anyway.
            let _ = tokio::time::timeout(timeout, self.stream.shutdown()).await;
        })
    }
}
