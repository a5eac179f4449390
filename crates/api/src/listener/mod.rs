//! The accept loop: TCP or TLS (rustls), HTTP/1.1 by hyper, with the connection-level
//! limits that keep a slow, flooding or unauthenticated client from holding the server,
//! and a graceful shutdown that loses no request it has read.
//!
//! - At most `ConnectionLimits::max_connections` connections are served at once. When a
//!   client arrives at the cap, one connection is asked to close, and another every
//!   `SHED_REPEAT` while the newcomer still waits: first those that never proved a
//!   signature (including a request still waiting for its body: the signature needs the
//!   body, so a forged one holds nothing yet), then idle ones that did, each class idle
//!   longest first; never one with a verified request in flight (`registry`). The server
//!   reports each request's proof through the [`Admission`] in its extensions. A chosen
//!   connection with nothing in flight is dropped at once; one with a request in flight
//!   shuts down gracefully (an unverified request stops waiting for its body and is
//!   answered, see [`Admission::evicted`]) and is dropped after `SHED_GRACE` if it has
//!   not finished. Newcomers are chosen last, so they get their turn to send a request.
//! - A connection must finish its TLS handshake, and deliver each request's headers,
//!   within `ConnectionLimits::header_read_timeout`; the header timer also runs while a
//!   kept-alive connection sits idle. Bodies have their own timeout in `server`.
//! - A request's line and headers may take at most [`MAX_HEAD_BYTES`], however the client
//!   splits its writes. A request hyper cannot parse (that limit, a bad `Content-Length`,
//!   an obs-fold line, TLS on the plain port) is answered by the router, asked with a
//!   made-up request carrying [`Unparsable`], instead of hyper's empty 400/431 (`io`).
//! - Closing after a last answer is a lingering close (RFC 9112 §9.6): the write side is
//!   shut (FIN), and what the client still sends is read and dropped until it closes or
//!   is quiet for `LINGER_QUIET` (at most `LINGER_MAX`), so the answer is not destroyed by
//!   a reset for unread data.
//! - Shutdown stops accepting, takes in the connections already waiting in the accept
//!   queue, and then, on every connection: finishes the request in flight (its answer
//!   says `Connection: close`); answers a request whose bytes had arrived, even partly,
//!   when it began; and closes an idle connection with a lingering close, so that a
//!   request the client sends at that moment meets a clean close, never a reset after it
//!   was read. Whatever is not done by `ConnectionLimits::shutdown_drain` is dropped and
//!   [`serve`] returns.
//!
//! This module knows nothing of AWS, accounts or the store, and imports no other module of
//! this crate: it serves whatever router it is given.

mod io;
mod registry;

pub use registry::{Admission, open_connections};

use self::io::{EdgeIo, Responses};
use self::registry::{Activity, InFlight, Registration, Registry};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower_service::Service as _;

/// While a client waits for a slot, how often one more connection is asked to close.
const SHED_REPEAT: Duration = Duration::from_millis(20);

/// How long a connection asked to close may take to finish the request it is serving.
const SHED_GRACE: Duration = Duration::from_secs(1);

/// A lingering close ends when the client has sent nothing for this long...
const LINGER_QUIET: Duration = Duration::from_secs(1);

/// ... and during shutdown, for this long: a request the client sent as the server
/// closed is on its way already (milliseconds), while an idle keep-alive client that
/// sends nothing (an SDK's pooled connection) would otherwise hold every server stop for
/// `LINGER_QUIET`.
const SHUTDOWN_LINGER_QUIET: Duration = Duration::from_millis(100);

/// ...or after this long in any case.
const LINGER_MAX: Duration = Duration::from_secs(5);

/// The most bytes a request's line and headers may take, blank line included. hyper's
/// default is ~400 KiB; AWS's own front ends take less.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The connection-level limits (the request-level ones are `server::BodyLimits`).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Time allowed to read a request's headers (and, on a kept-alive connection, to
    /// start the next request); the connection is closed after it.
    pub header_read_timeout: Duration,
    /// After shutdown begins, the time requests in flight have to finish; then [`serve`]
    /// returns.
    pub shutdown_drain: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            shutdown_drain: Duration::from_secs(5),
        }
    }
}

/// In the extensions of the request the listener makes up to ask the router how to answer
/// a request hyper could not parse (no request from the wire carries it). The answer
/// goes to the client, and the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unparsable {
    /// What hyper would have answered: 400, or 431 for a head over [`MAX_HEAD_BYTES`].
    pub status: u16,
    /// hyper's reason, e.g. `invalid content-length parsed`.
    pub reason: String,
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

/// What every connection task shares: the router, the limits, and the shutdown signal
/// (`Some(deadline)` once shutdown has begun).
#[derive(Clone)]
struct Shared {
    router: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    stop: watch::Receiver<Option<Instant>>,
}

impl Shared {
    fn spawn(&self, stream: TcpStream, registration: Registration, slot: impl Send + 'static) {
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            router: self.router.clone(),
            peer: stream.peer_addr().ok().map(PeerAddr),
            header_timeout: self.header_timeout,
            stop: self.stop.clone(),
            registration: Arc::new(registration),
        };
        let tls = self.tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => conn.serve(stream).await,
                Some(acceptor) => conn.serve_tls(stream, acceptor).await,
            }
        });
    }
}

/// Serve `router` on `listener` until `shutdown` resolves, then drain (see the module
/// documentation) for at most `limits.shutdown_drain`.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(None);
    let shared = Shared {
        router,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        header_timeout: limits.header_read_timeout,
        stop: stop_rx,
    };
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
                // At the cap with a client waiting: make room, one connection at a time,
                // until a slot frees.
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
        shared.spawn(stream, registry.register(), slot);
    }
    let deadline = Instant::now() + limits.shutdown_drain;
    let _ = stop_tx.send(Some(deadline));
    // Closing a listener resets the connections still in its accept queue, requests and
    // all: take them in, so that they are answered or closed cleanly like the others.
    match listener.into_std() {
        Ok(listener) => {
            while let Ok((stream, _)) = listener.accept() {
                let stream = stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream));
                match (stream, slots.clone().try_acquire_owned()) {
                    (Ok(stream), Ok(slot)) => shared.spawn(stream, registry.register(), slot),
                    _ => break,
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not take in the accept queue"),
    }
    // Every connection holds a slot: having them all back means every one finished. They
    // stop themselves at the deadline; the margin lets them get there.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let until = deadline + Duration::from_millis(200);
    if tokio::time::timeout_at(until.into(), slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {:?} after shutdown began; stopping anyway",
            limits.shutdown_drain
        );
    }
    Ok(())
}

/// The client's address, set on every request as an extension (the audit log's "from
/// where").
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// One connection task.
struct Connection {
    router: axum::Router,
    peer: Option<PeerAddr>,
    header_timeout: Duration,
    stop: watch::Receiver<Option<Instant>>,
    registration: Arc<Registration>,
}

/// How a run of hyper on a connection ended.
enum Run {
    /// hyper returned (with the reason); the stream can be taken back.
    Done(Result<(), hyper::Error>, Why),
    /// Drop the connection now (asked to make room, or past the shutdown deadline).
    Drop,
}

/// Why hyper was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// It ended by itself: the client closed, or an answer said `Connection: close`.
    Natural,
    /// The connection was asked to make room.
    Shed,
    /// Shutdown began, with this deadline.
    Stop(Instant),
}

type Answer =
    Pin<Box<dyn Future<Output = Result<hyper::Response<axum::body::Body>, Infallible>> + Send>>;

impl Connection {
    /// The TLS handshake, within the header timeout and abandoned when the connection
    /// is asked to make room or shutdown begins, then HTTP.
    async fn serve_tls(self, stream: TcpStream, acceptor: tokio_rustls::TlsAcceptor) {
        let activity = self.registration.activity.clone();
        let mut stop = self.stop.clone();
        let handshake = tokio::time::timeout(self.header_timeout, acceptor.accept(stream));
        tokio::select! {
            r = handshake => match r {
                Ok(Ok(stream)) => self.serve(stream).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            },
            () = activity.shed_requested() => {
                tracing::debug!("closing a connection still in its TLS handshake to make room");
            }
            _ = stop_requested(&mut stop) => {
                tracing::debug!("closing a connection still in its TLS handshake: shutting down");
            }
        }
    }

    /// hyper on the stream, again after a stop for each request that had arrived, then
    /// the close.
    async fn serve<I>(mut self, stream: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = self.registration.activity.clone();
        let responses = Arc::new(Responses::default());
        let mut io = EdgeIo::new(stream, responses.clone(), Some(activity.clone()));
        // Set once shutdown began: from then on each run answers one request and closes.
        let mut stopping: Option<Instant> = None;
        loop {
            let service = self.service(responses.clone());
            let mut conn = http1_builder(self.header_timeout, stopping.is_none())
                .serve_connection(TokioIo::new(io), service);
            let run = match stopping {
                None => self.run(&mut conn, &activity, &responses).await,
                Some(deadline) => finish(&mut conn, &activity, deadline).await,
            };
            let Run::Done(result, why) = run else {
                return;
            };
            if let Why::Stop(deadline) = why {
                stopping = Some(deadline);
            }
            let parts = conn.into_parts();
            io = parts.io.into_inner();
            let linger_until = stopping.map_or_else(
                || Instant::now() + LINGER_MAX,
                |d| d.min(Instant::now() + LINGER_MAX),
            );
            match result {
                Err(e) => {
                    if let Some(status) = io.refused() {
                        let answer = unparsable_answer(&self.router, status, &e).await;
                        let write = io.inner_mut().write_all(&answer);
                        if tokio::time::timeout(SHED_GRACE, write).await.is_ok() {
                            let quiet = linger_quiet(stopping);
                            linger_close(&mut io, linger_until, quiet, &activity, &mut self.stop)
                                .await;
                        }
                    } else {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                Ok(()) if why == Why::Shed => return,
                Ok(()) => {
                    io.restart(parts.read_buf);
                    // Answer what had arrived when shutdown began, one request per run.
                    if stopping.is_some() && io.has_unread() {
                        continue;
                    }
                    let quiet = linger_quiet(stopping);
                    linger_close(&mut io, linger_until, quiet, &activity, &mut self.stop).await;
                    return;
                }
            }
        }
    }

    /// hyper's service: the router, with the request's [`Admission`] in its extensions,
    /// counted in flight, and each response announced to the stream's follower.
    fn service(
        &self,
        responses: Arc<Responses>,
    ) -> impl hyper::service::Service<
        hyper::Request<Incoming>,
        Response = hyper::Response<axum::body::Body>,
        Error = Infallible,
        Future = Answer,
    > + Unpin
    + use<> {
        let registration = self.registration.clone();
        let router = self.router.clone();
        let peer = self.peer;
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| -> Answer {
            let admission = registration.admission();
            req.extensions_mut().insert(admission.clone());
            if let Some(peer) = peer {
                req.extensions_mut().insert(peer);
            }
            let head = req.method() == hyper::Method::HEAD;
            let registration = registration.clone();
            let responses = responses.clone();
            let mut router = router.clone();
            // Counted from the first poll, not from the call: hyper calls the service
            // for a pipelined request as soon as it has parsed it, but polls that
            // future only once the previous answer could be written. A client that
            // never reads leaves such a future unpolled, and its connection sheddable.
            Box::pin(async move {
                let guard = InFlight::enter(&registration, admission);
                let response = router.call(req).await;
                if let Ok(r) = &response {
                    responses.produced(body_len(r, head));
                }
                drop(guard);
                response
            })
        })
    }

    /// Run hyper until it ends, the connection is asked to make room, or shutdown begins.
    async fn run<I, S>(
        &mut self,
        conn: &mut http1::Connection<TokioIo<EdgeIo<I>>, S>,
        activity: &Activity,
        responses: &Responses,
    ) -> Run
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: hyper::service::HttpService<Incoming, ResBody = axum::body::Body> + Unpin,
        S::Future: Unpin,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Nothing in flight and every answer written: hyper holds at most the start of
        // the next request, which it hands back.
        let quiescent = || activity.in_flight() == 0 && responses.all_written();
        let stop = &mut self.stop;
        tokio::select! {
            biased;
            r = poll_fn(|cx| conn.poll_without_shutdown(cx)) => Run::Done(r, Why::Natural),
            () = activity.shed_requested() => {
                if quiescent() {
                    tracing::debug!("closing an idle connection to make room");
                    return Run::Drop;
                }
                // The request in flight is unverified (else the connection would not have
                // been chosen): it stops waiting for its body and is answered.
                Pin::new(&mut *conn).graceful_shutdown();
                let rest = poll_fn(|cx| conn.poll_without_shutdown(cx));
                match tokio::time::timeout(SHED_GRACE, rest).await {
                    Ok(r) => Run::Done(r, Why::Shed),
                    Err(_) => Run::Drop,
                }
            }
            deadline = stop_requested(stop) => {
                if quiescent() {
                    return Run::Done(Ok(()), Why::Stop(deadline));
                }
                // Finish what is in flight; hyper answers it with `Connection: close`.
                Pin::new(&mut *conn).graceful_shutdown();
                finish(conn, activity, deadline).await
            }
        }
    }
}

/// Run hyper to its end, within `deadline` and unless the connection is asked to make
/// room.
async fn finish<I, S>(
    conn: &mut http1::Connection<TokioIo<EdgeIo<I>>, S>,
    activity: &Activity,
    deadline: Instant,
) -> Run
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = axum::body::Body> + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::select! {
        biased;
        r = poll_fn(|cx| conn.poll_without_shutdown(cx)) => Run::Done(r, Why::Stop(deadline)),
        () = activity.shed_requested() => Run::Drop,
        () = tokio::time::sleep_until(deadline.into()) => {
            tracing::debug!("dropping a connection still busy at the shutdown deadline");
            Run::Drop
        }
    }
}

/// Resolves with the shutdown deadline once shutdown has begun.
async fn stop_requested(stop: &mut watch::Receiver<Option<Instant>>) -> Instant {
    match stop.wait_for(Option::is_some).await {
        Ok(deadline) => deadline.unwrap_or_else(Instant::now),
        // `serve` has returned: its deadline has passed.
        Err(_) => Instant::now(),
    }
}

/// hyper's HTTP/1.1 connection settings.
fn http1_builder(header_timeout: Duration, keep_alive: bool) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // The head limit, exactly (a head that arrives in one read is measured too);
        // buffers are kept to the same size.
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(keep_alive);
    builder
}

/// The number of body bytes hyper writes for `response` (`None` when not known in
/// advance): none for HEAD requests and bodiless statuses.
fn body_len(response: &hyper::Response<axum::body::Body>, head: bool) -> Option<u64> {
    use hyper::body::Body as _;
    let status = response.status();
    if head
        || status.is_informational()
        || status == hyper::StatusCode::NO_CONTENT
        || status == hyper::StatusCode::NOT_MODIFIED
    {
        return Some(0);
    }
    response.body().size_hint().exact()
}

/// The router's answer to a request hyper could not parse, as bytes on the wire, with
/// `Connection: close`.
async fn unparsable_answer(router: &axum::Router, status: u16, error: &hyper::Error) -> Vec<u8> {
    use http_body_util::BodyExt as _;
    let mut req = hyper::Request::new(axum::body::Body::empty());
    req.extensions_mut().insert(Unparsable {
        status,
        reason: error.to_string(),
    });
    let Ok(response) = router.clone().call(req).await;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        if name == hyper::header::CONTENT_LENGTH
            || name == hyper::header::CONNECTION
            || name == hyper::header::DATE
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\ndate: {date}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    out
}

/// How long a lingering close waits for a quiet client: [`SHUTDOWN_LINGER_QUIET`] once
/// shutdown began, else [`LINGER_QUIET`].
fn linger_quiet(stopping: Option<Instant>) -> Duration {
    if stopping.is_some() {
        SHUTDOWN_LINGER_QUIET
    } else {
        LINGER_QUIET
    }
}

/// Close after a last answer (RFC 9112 §9.6): shut the write side, then read and drop
/// what the client still sends until it closes, is quiet for `quiet`, `until`
/// passes, the shutdown deadline passes, or the connection is asked to make room.
/// Closing with unread data would make the kernel send a reset, which can destroy the
/// answer before the client reads it, and turns a request sent just as the server closed
/// into a reset instead of a clean end of stream.
async fn linger_close<I>(
    io: &mut EdgeIo<I>,
    until: Instant,
    quiet: Duration,
    activity: &Activity,
    stop: &mut watch::Receiver<Option<Instant>>,
) where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let linger = async {
        let _ = io.inner_mut().shutdown().await;
        let mut scratch = vec![0u8; 16 * 1024];
        loop {
            let read = tokio::time::timeout(quiet, io.inner_mut().read(&mut scratch));
            match read.await {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            }
        }
    };
    let deadline = async {
        let deadline = stop_requested(stop).await;
        tokio::time::sleep_until(deadline.into()).await;
    };
    tokio::select! {
        () = linger => {}
        () = tokio::time::sleep_until(until.into()) => {}
        () = deadline => {}
        () = activity.shed_requested() => {}
    }
}
