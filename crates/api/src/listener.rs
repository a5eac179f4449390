//! The accept loop: TCP or TLS (rustls), HTTP/1.1 by hyper, with the connection-level
//! limits that keep a slow or flooding client from holding the server.
//!
//! - At most `Limits::max_connections` connections are served at once. When a new
//!   client arrives at the cap, every connection with no request in flight (idle
//!   kept-alive ones, and ones still sending headers: a flood, a slow loris) is closed
//!   to make room, as nginx and Apache's event MPM shed idle connections under
//!   pressure; connections with a request in flight are never cut. The newcomer waits
//!   for the first free slot.
//! - A connection must deliver a request's headers (and finish its TLS handshake)
//!   within `Limits::header_read_timeout`; the same timer runs while a kept-alive
//!   connection sits idle, so idle and slow-loris connections are closed and free
//!   their slot. Bodies have their own timeout in `server`.
//! - Shutdown stops accepting, lets in-flight requests finish (bounded), then returns.
//!
//! This module knows nothing of AWS, accounts or the store.

use crate::server::Limits;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower_service::Service as _;

/// While a client waits for a slot, how often idle connections are asked again to close.
const PRESSURE_REPEAT: Duration = Duration::from_millis(50);

/// How long shutdown waits for in-flight connections before returning anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A TLS server configuration from PEM files (certificate chain, private key), with
/// rustls on the ring provider.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("reading certificates from {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("reading the private key from {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Bumped when a client waits for a slot: connections without a request in flight
    // close on it.
    let (pressure_tx, pressure_rx) = watch::channel(0u64);
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let header_timeout = limits.header_read_timeout;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // At the cap with a client waiting: ask connections without a request in
                // flight to close, and ask again every PRESSURE_REPEAT until a slot frees.
                // A connection ignores requests made before it started, so a new one
                // gets at least that long to send its first request.
                let mut acquired = None;
                while acquired.is_none() {
                    pressure_tx.send_modify(|generation| *generation += 1);
                    tokio::select! {
                        s = slots.clone().acquire_owned() => match s {
                            Ok(s) => acquired = Some(s),
                            Err(_) => break,
                        },
                        () = tokio::time::sleep(PRESSURE_REPEAT) => {}
                        () = &mut shutdown => break,
                    }
                }
                match acquired {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            router: router.clone(),
            header_timeout,
            stop: stop_rx.clone(),
            pressure: pressure_rx.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => conn.serve(stream).await,
                Some(acceptor) => conn.serve_tls(stream, acceptor).await,
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot: having them all back means every one finished.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}

/// What one connection task needs.
struct Connection {
    router: axum::Router,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
    pressure: watch::Receiver<u64>,
}

impl Connection {
    /// The TLS handshake, within the header timeout and abandoned under pressure (a
    /// handshake is a request not yet in flight), then HTTP.
    async fn serve_tls(mut self, stream: TcpStream, acceptor: tokio_rustls::TlsAcceptor) {
        self.pressure.borrow_and_update();
        let handshake = tokio::time::timeout(self.header_timeout, acceptor.accept(stream));
        tokio::select! {
            r = handshake => match r {
                Ok(Ok(stream)) => self.serve(stream).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            },
            Ok(()) = self.pressure.changed() => {
                tracing::debug!("closing a connection still in its TLS handshake to make room");
            }
        }
    }

    async fn serve<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Requests of this connection in flight (accepted by hyper, response not yet
        // produced): a connection with none may be shed under pressure.
        let in_flight = Arc::new(AtomicUsize::new(0));
        let router = self.router;
        let counter = in_flight.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let counter = counter.clone();
            let mut router = router.clone();
            // Counted from the first poll, not from the call: hyper calls the service
            // for a pipelined request as soon as it has parsed it, but polls that
            // future only once the previous answer could be written. A client that
            // never reads leaves such a future unpolled, and its connection sheddable.
            async move {
                let guard = InFlight::enter(&counter);
                let response = router.call(req).await;
                drop(guard);
                response
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            // Request line and headers together may not exceed 64 KiB (hyper's default
            // is ~400 KiB); AWS's own limit is lower still.
            .max_buf_size(64 * 1024)
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        // Pressure from before this connection started is not about it.
        self.pressure.borrow_and_update();
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stop.wait_for(|s| *s) => break,
                Ok(()) = self.pressure.changed() => {
                    if in_flight.load(Ordering::Acquire) == 0 {
                        tracing::debug!("closing a connection with no request in flight to make room");
                        return;
                    }
                }
            }
        }
        // Shutting down: finish the request in flight, then close.
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
