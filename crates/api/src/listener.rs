//! The accept loop: TCP or TLS (rustls), HTTP/1.1 by hyper, with the connection-level
//! limits that keep a slow or flooding client from holding the server.
//!
//! - At most `ConnectionLimits::max_connections` connections are served at once. When a client
//!   arrives at the cap, the connection idle longest (no request in flight: an idle
//!   kept-alive one, one still in its TLS handshake or sending headers, one whose
//!   client stopped reading) is asked to close, and another every `SHED_REPEAT` while
//!   the newcomer still waits, as nginx reuses its oldest idle connections. A chosen
//!   connection shuts down gracefully (hyper finishes a response it is writing, and a
//!   request that arrived meanwhile) and is dropped after `SHED_GRACE` if it has not.
//!   Newcomers are chosen last, so they get their turn to send a request.
//! - A connection must finish its TLS handshake, and deliver each request's headers,
//!   within `ConnectionLimits::header_read_timeout`; the header timer also runs while a
//!   kept-alive connection sits idle. Bodies have their own timeout in `server`.
//! - Shutdown stops accepting, lets in-flight requests finish (at most
//!   `SHUTDOWN_GRACE`), then returns.
//!
//! This module knows nothing of AWS, accounts or the store, and imports no other module of
//! this crate: it serves whatever router it is given.

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tower_service::Service as _;

/// While a client waits for a slot, how often one more idle connection is asked to close.
const SHED_REPEAT: Duration = Duration::from_millis(20);

/// How long a connection asked to close may take to finish what it is doing.
const SHED_GRACE: Duration = Duration::from_secs(1);

/// How long shutdown waits for in-flight connections before returning anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The connection-level limits (the request-level ones are `server::BodyLimits`).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Time allowed to read a request's headers (and, on a kept-alive connection, to
    /// start the next request); the connection is closed after it.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

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
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
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
                // At the cap with a client waiting: make room, one idle connection at a
                // time, until a slot frees.
                let mut acquired = None;
                while acquired.is_none() {
                    registry.shed_one();
                    tokio::select! {
                        s = slots.clone().acquire_owned() => match s {
                            Ok(s) => acquired = Some(s),
                            Err(_) => break,
                        },
                        () = tokio::time::sleep(SHED_REPEAT) => {}
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
            registration: registry.register(),
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

/// The live connections, so that the one idle longest can be asked to close.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
    epoch: OnceInstant,
}

/// `Instant::now()` at first use, as a base for millisecond timestamps in atomics.
struct OnceInstant(Instant);

impl Default for OnceInstant {
    fn default() -> Self {
        OnceInstant(Instant::now())
    }
}

/// What the registry knows of one connection.
struct Activity {
    /// Requests in flight (polled by hyper, response not yet produced).
    in_flight: AtomicUsize,
    /// When a request last started or ended, or the connection opened (ms since epoch).
    last_active_ms: AtomicU64,
    /// Set when the connection has been asked to close.
    shedding: AtomicBool,
    shed: Notify,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
            shedding: AtomicBool::new(false),
            shed: Notify::new(),
        });
        if let Ok(mut map) = self.connections.lock() {
            map.insert(id, activity.clone());
        }
        Registration {
            registry: self.clone(),
            id,
            activity,
        }
    }

    /// Ask the connection idle longest (none in flight, not already asked) to close.
    /// O(connections), and only when a client waits at the cap.
    fn shed_one(&self) {
        let Ok(map) = self.connections.lock() else {
            return;
        };
        let victim = map
            .values()
            .filter(|a| {
                a.in_flight.load(Ordering::Acquire) == 0 && !a.shedding.load(Ordering::Acquire)
            })
            .min_by_key(|a| a.last_active_ms.load(Ordering::Acquire));
        if let Some(victim) = victim {
            victim.shedding.store(true, Ordering::Release);
            victim.shed.notify_one();
        }
    }
}

/// A connection's entry in the registry, removed when dropped.
struct Registration {
    registry: Arc<Registry>,
    id: u64,
    activity: Arc<Activity>,
}

impl Registration {
    fn touch(&self) {
        self.activity
            .last_active_ms
            .store(self.registry.now_ms(), Ordering::Release);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.connections.lock() {
            map.remove(&self.id);
        }
    }
}

/// What one connection task needs.
struct Connection {
    router: axum::Router,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
    registration: Registration,
}

impl Connection {
    /// The TLS handshake, within the header timeout and abandoned when the connection
    /// is asked to make room, then HTTP.
    async fn serve_tls(self, stream: TcpStream, acceptor: tokio_rustls::TlsAcceptor) {
        let activity = self.registration.activity.clone();
        let handshake = tokio::time::timeout(self.header_timeout, acceptor.accept(stream));
        tokio::select! {
            r = handshake => match r {
                Ok(Ok(stream)) => self.serve(stream).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            },
            () = activity.shed.notified() => {
                tracing::debug!("closing a connection still in its TLS handshake to make room");
            }
        }
    }

    async fn serve<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let registration = Arc::new(self.registration);
        let router = self.router;
        let tracked = registration.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let tracked = tracked.clone();
            let mut router = router.clone();
            // Counted from the first poll, not from the call: hyper calls the service
            // for a pipelined request as soon as it has parsed it, but polls that
            // future only once the previous answer could be written. A client that
            // never reads leaves such a future unpolled, and its connection sheddable.
            async move {
                let guard = InFlight::enter(&tracked);
                let response = router.call(req).await;
                drop(guard);
                response
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            // Request line and headers together may not exceed 64 KiB (hyper's default
            // is ~400 KiB); AWS's own limit is lower still. The buffer size alone is not
            // an exact limit: one read may fill more than it, so a head that arrives in
            // one write could be larger. `max_header_size` measures the parsed head.
            .max_header_size(64 * 1024)
            .max_buf_size(64 * 1024)
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let grace = tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = registration.activity.shed.notified() => {
                tracing::debug!("closing an idle connection to make room");
                SHED_GRACE
            }
            _ = self.stop.wait_for(|s| *s) => SHUTDOWN_GRACE,
        };
        // Finish the response being written and a request that arrived meanwhile (hyper
        // closes an idle connection at once), within the grace.
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(grace, conn).await;
    }
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<Registration>);

impl InFlight {
    fn enter(registration: &Arc<Registration>) -> Self {
        registration
            .activity
            .in_flight
            .fetch_add(1, Ordering::AcqRel);
        registration.touch();
        InFlight(registration.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
