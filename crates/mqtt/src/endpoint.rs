//! The jobs-only MQTT endpoint: accepts device connections (MQTT 3.1.1 and 5), lets a
//! device use only its own thing's `$aws/things/{thing}/jobs/...` topics, hands every
//! request it publishes to the [`Handler`] and sends the reply to that connection only
//! (as AWS IoT answers a jobs request "to the publishing client"), and delivers
//! notifications ([`Sessions::publish_to_thing`]) to the thing's connections whose
//! subscriptions match.
//!
//! This module knows MQTT, not Jobs: topics below `$aws/things/{thing}/jobs/` are opaque
//! to it except for the reserved reply and notification suffixes, which a device may not
//! publish to.
//!
//! What it must not do:
//! - be a general broker: there is no routing between devices, no retained messages, no
//!   wills, and nothing a device publishes ever reaches another connection;
//! - keep session state: every CONNACK says `session_present = false`, subscriptions
//!   live as long as the connection (the SDK resubscribes on reconnect);
//! - block the caller of [`Sessions::publish_to_thing`] on a slow device: notifications
//!   go through a bounded per-connection queue and are dropped when it is full (they are
//!   hints; devices re-query).
//!
//! MQTT framing, packet ids and the automatic PINGRESP come from `mqtt-protocol-core`
//! (sans I/O: one `Connection<role::Server>` per TCP connection, fed the bytes read and
//! asked to encode what is sent); PUBACK is sent here, because a refused publish gets a
//! reason code (MQTT 5) or a disconnect (3.1.1).
//!
//! Memory per idle device is the point of the shape (issue 11: at most 5 KiB each with
//! 10,000 connected, see docs/benchmarks.md): **one task per connection** that owns the
//! socket and the protocol state and waits on the socket, its mailbox and its keepalive
//! timer at once; no receive buffer while idle (bytes are read into the stack and fed
//! to the codec in the same poll); notifications in a mailbox that allocates only while
//! it holds some; and the large, short-lived futures (CONNECT and authentication, a
//! request to the handler) boxed, so that an idle connection's task does not carry
//! their space.

mod tls;
mod topic;

pub use tls::server_config;

use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use mqtt::Version;
use mqtt::packet::{GenericPacketTrait as _, Packet, Qos, v3_1_1, v5_0};
use mqtt::result_code::{
    ConnectReasonCode, ConnectReturnCode, DisconnectReasonCode, PubackReasonCode, SubackReasonCode,
    SubackReturnCode, UnsubackReasonCode,
};
use mqtt_protocol_core::mqtt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// An answer to one request: published to the requesting connection on `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// What the endpoint does with a device's request (a PUBLISH under its own
/// `$aws/things/{thing}/jobs/` that is not a reserved reply or notification topic).
pub trait Handler: Send + Sync + 'static {
    /// `thing` is the connection's identity; `topic` the full topic published to (it
    /// starts with `$aws/things/{thing}/jobs/`). `None`: nothing to answer.
    fn request(
        &self,
        thing: &str,
        topic: &str,
        payload: &[u8],
    ) -> impl Future<Output = Option<Reply>> + Send;

    /// A connection of `thing` was accepted (after CONNACK); the notifier records what
    /// the thing's pending executions are now, to compare later changes with.
    fn connected(&self, thing: &str) -> impl Future<Output = ()> + Send;

    /// Who connected, on CONNECT: the thing a device acts as, or an operator, or `Err`
    /// to refuse the connection (CONNACK "not authorized"). See [`ConnectRequest`].
    fn authenticate(
        &self,
        connect: &ConnectRequest<'_>,
    ) -> impl Future<Output = Result<Identity, ()>> + Send;
}

/// What a CONNECT says about who is connecting.
#[derive(Debug)]
pub struct ConnectRequest<'a> {
    /// Without a password, already known to be a valid thing name.
    pub client_id: &'a str,
    /// The MQTT user name with the Device SDK's `?SDK=...` metrics query stripped.
    pub username: Option<&'a str>,
    /// Present only when the client sent one: a device never does (the AWS IoT Device
    /// SDKs authenticate with the certificate), an operator always does.
    pub password: Option<&'a [u8]>,
    /// The DER of the client certificate over mutual TLS (already verified against the
    /// client CA); `None` on plain loopback TCP.
    pub peer_certificate: Option<&'a [u8]>,
}

/// Who a connection is, which decides the topics it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A device acting as this thing: requests and subscriptions under its own
    /// `$aws/things/{thing}/jobs/` only.
    Thing(String),
    /// An operator or admin principal (`name` for the logs): may subscribe to Jobs
    /// events (`$aws/events/job/...`, `$aws/events/jobExecution/...`) and publish nothing.
    Operator { name: String },
}

/// Largest MQTT packet a device may send (fixed header included). AWS IoT's own limit
/// for a publish payload is 128 KiB; jobs requests are far smaller. MQTT 5 clients learn
/// it from CONNACK's Maximum Packet Size; a larger packet closes the connection (MQTT 5:
/// DISCONNECT 0x95 first).
pub const MAX_PACKET_SIZE: u32 = 128 * 1024;

/// Keepalive used when a client asks for 0 (none) or more than AWS IoT allows: AWS IoT
/// caps keepalive at 1200 s, which is also what the Device SDK builders ask for.
pub const MAX_KEEP_ALIVE_SECS: u16 = 1200;

/// A device that opened TCP but sent no CONNECT within this time is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Refused SUBSCRIBE filters tolerated on one connection. The SDK's V2 request-response
/// client retries a refused subscription in a tight loop (thousands per second, see
/// mqtt-research §2.8), so the connection is cut instead of answering forever.
const MAX_REFUSED_FILTERS: u32 = 100;

/// Notifications queued per connection before new ones are dropped.
const OUTBOUND_QUEUE: usize = 64;

/// How long closing connections may take at shutdown before their tasks are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long closing one socket (TLS close_notify, FIN) may take before it is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes read from a socket at once, into the stack of the poll that feeds them to the
/// codec (which buffers a partial packet itself, at its announced size).
const READ_CHUNK: usize = 4096;

/// The server side of the MQTT protocol, sans I/O.
type Codec = mqtt::Connection<mqtt::role::Server>;
type Event = mqtt::connection::Event;

/// Serve MQTT on `listener` until `shutdown` resolves: one task per connection.
/// With `tls`, every connection is mutual TLS (the configuration requires a client
/// certificate) and [`Handler::authenticate`] gets the device's certificate; without it,
/// plain TCP, and the caller has checked that the address is loopback (development mode:
/// the client id is the thing name).
///
/// On shutdown it stops accepting, tells every connection to close (MQTT 5: DISCONNECT
/// 0x8B "server shutting down") and waits for them, at most a few seconds.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<H>,
    sessions: Sessions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop_tx, _) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "MQTT endpoint listening");
    }
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Small request/response packets: don't let Nagle delay replies.
                    let _ = stream.set_nodelay(true);
                    let conn = Connection::new(
                        handler.clone(),
                        sessions.clone(),
                        stop_tx.subscribe(),
                        peer,
                    );
                    // One task type per transport: a plain TCP connection's task is not
                    // sized for the TLS state.
                    match &tls {
                        None => tasks.spawn(conn.run(stream, None)),
                        Some(acceptor) => tasks.spawn(conn.run_tls(stream, acceptor.clone())),
                    };
                }
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    warn!(error = %e, "MQTT accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    info!(connections = tasks.len(), "MQTT endpoint shutting down");
    // Connections not yet registered watch `stop`; registered ones hear it in their
    // mailbox (and check `stop` once registered, so none is missed).
    let _ = stop_tx.send(true);
    sessions.close_all(Close::ServerShutdown);
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tasks.shutdown().await;
    }
    Ok(())
}

/// The live sessions, shared by the accept loop and whoever publishes notifications.
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// thing → its live connections.
    things: HashMap<String, Vec<Arc<LiveConn>>>,
    /// Operator connections (events only).
    operators: Vec<Arc<LiveConn>>,
}

/// What the registry knows of one live connection.
struct LiveConn {
    id: u64,
    client_id: String,
    /// Subscription filter → granted QoS (0 or 1).
    filters: Mutex<HashMap<String, Qos>>,
    /// What the connection's task has to do besides reading the socket.
    mailbox: Mutex<Mailbox>,
    /// Wakes the connection's task when its mailbox changed.
    wake: Notify,
    /// SHA-256 of the client certificate's DER (mutual TLS), for
    /// [`Sessions::certified_devices`].
    certificate_sha256: Option<[u8; 32]>,
}

/// Work for a connection's task from the outside. Empty, it holds no allocation.
#[derive(Default)]
struct Mailbox {
    /// Notifications to send, at most [`OUTBOUND_QUEUE`].
    outbound: VecDeque<Outbound>,
    /// The connection is to end: a newer connection with the same client id took over,
    /// or the server shuts down.
    close: Option<Close>,
}

impl LiveConn {
    /// Tell the connection's task to end (the first reason given wins).
    fn close(&self, why: Close) {
        lock(&self.mailbox).close.get_or_insert(why);
        self.wake.notify_one();
    }
}

/// A notification queued for one connection.
struct Outbound {
    topic: String,
    payload: Arc<[u8]>,
    qos: Qos,
}

/// Queue `payload` on `topic` for each of `conns` with a matching subscription.
fn deliver(conns: &[Arc<LiveConn>], who: &str, topic: &str, payload: &[u8]) {
    let payload: Arc<[u8]> = Arc::from(payload);
    for conn in conns {
        // Overlapping subscriptions: one copy, at the highest granted QoS (MQTT 5
        // §3.3.4 allows either; one copy is what a device expects from AWS).
        let qos = lock(&conn.filters)
            .iter()
            .filter(|(filter, _)| topic::filter_matches(filter, topic))
            .map(|(_, qos)| *qos)
            .max_by_key(|qos| *qos as u8);
        let Some(qos) = qos else { continue };
        let msg = Outbound {
            topic: topic.to_owned(),
            payload: payload.clone(),
            qos,
        };
        let mut mailbox = lock(&conn.mailbox);
        if mailbox.outbound.len() >= OUTBOUND_QUEUE {
            warn!(who, topic, "message dropped: connection queue full");
            continue;
        }
        mailbox.outbound.push_back(msg);
        drop(mailbox);
        conn.wake.notify_one();
    }
}

/// A poisoned lock only means another task panicked while holding it; the maps stay
/// consistent (every update is a single insert or remove), so keep going.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sessions {
    /// Deliver `payload` on `topic` to every connection of `thing` that has a matching
    /// subscription (MQTT `+`/`#` filter matching), at QoS min(1, granted).
    ///
    /// Never blocks: each connection has a bounded queue; when it is full the message is
    /// dropped for that connection and logged.
    pub fn publish_to_thing(&self, thing: &str, topic: &str, payload: &[u8]) {
        let registry = lock(&self.inner);
        let Some(conns) = registry.things.get(thing) else {
            debug!(thing, topic, "notification: thing not connected");
            return;
        };
        deliver(conns, thing, topic, payload);
    }

    /// Deliver a Jobs event to every operator connection subscribed to `topic` (see
    /// [`Sessions::publish_to_thing`] for QoS and queueing).
    pub fn publish_to_operators(&self, topic: &str, payload: &[u8]) {
        let registry = lock(&self.inner);
        deliver(&registry.operators, "(operators)", topic, payload);
    }

    /// The (thing, client certificate SHA-256) of every live device connection over
    /// mutual TLS, each pair once: what [`Sessions::close_devices_where`] may cut.
    pub fn certified_devices(&self) -> Vec<(String, [u8; 32])> {
        let registry = lock(&self.inner);
        let mut out: Vec<(String, [u8; 32])> = registry
            .things
            .iter()
            .flat_map(|(thing, conns)| {
                conns
                    .iter()
                    .filter_map(|c| c.certificate_sha256.map(|fp| (thing.clone(), fp)))
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Close every device connection of `thing` whose client certificate has this
    /// SHA-256 (MQTT 5: DISCONNECT 0x87 "not authorized"). Returns how many.
    pub fn close_devices_where(&self, thing: &str, certificate_sha256: &[u8; 32]) -> usize {
        let registry = lock(&self.inner);
        let Some(conns) = registry.things.get(thing) else {
            return 0;
        };
        let mut closed = 0;
        for c in conns {
            if c.certificate_sha256.as_ref() == Some(certificate_sha256) {
                c.close(Close::NotAuthorized);
                closed += 1;
            }
        }
        closed
    }

    /// Live connections now: (devices, operators), for `/metrics`.
    pub fn connection_counts(&self) -> (usize, usize) {
        let registry = lock(&self.inner);
        let devices = registry.things.values().map(Vec::len).sum();
        (devices, registry.operators.len())
    }

    /// Whether `thing` has a live connection now.
    pub fn is_connected(&self, thing: &str) -> bool {
        lock(&self.inner)
            .things
            .get(thing)
            .is_some_and(|conns| !conns.is_empty())
    }

    /// The things with at least one connection now, sorted.
    pub fn connected_things(&self) -> Vec<String> {
        let registry = lock(&self.inner);
        let mut things: Vec<String> = registry
            .things
            .iter()
            .filter(|(_, conns)| !conns.is_empty())
            .map(|(thing, _)| thing.clone())
            .collect();
        things.sort();
        things
    }

    /// Add a connection of `thing`. A live connection with the same client id is taken
    /// over (MQTT 3.1.1 §3.1.4, 5 §3.1.4: the server closes the existing connection):
    /// it leaves the registry now and is told to close.
    fn register(
        &self,
        identity: &Identity,
        client_id: &str,
        certificate_sha256: Option<[u8; 32]>,
    ) -> Arc<LiveConn> {
        let mut registry = lock(&self.inner);
        registry.next_id += 1;
        let conn = Arc::new(LiveConn {
            id: registry.next_id,
            client_id: client_id.to_owned(),
            filters: Mutex::new(HashMap::new()),
            mailbox: Mutex::new(Mailbox::default()),
            wake: Notify::new(),
            certificate_sha256,
        });
        let conns = match identity {
            Identity::Thing(thing) => registry.things.entry(thing.clone()).or_default(),
            Identity::Operator { .. } => &mut registry.operators,
        };
        conns.retain(|old| {
            let same = old.client_id == client_id;
            if same {
                old.close(Close::TakenOver);
            }
            !same
        });
        conns.push(conn.clone());
        conn
    }

    /// Tell every connection to end (they leave the registry as they close).
    fn close_all(&self, why: Close) {
        let registry = lock(&self.inner);
        for conn in registry
            .things
            .values()
            .flatten()
            .chain(&registry.operators)
        {
            conn.close(why);
        }
    }

    /// Remove connection `id` (no-op if it was taken over already).
    fn unregister(&self, identity: &Identity, id: u64) {
        let mut registry = lock(&self.inner);
        let thing = match identity {
            Identity::Thing(thing) => thing,
            Identity::Operator { .. } => {
                registry.operators.retain(|c| c.id != id);
                return;
            }
        };
        if let Some(conns) = registry.things.get_mut(thing) {
            conns.retain(|c| c.id != id);
            if conns.is_empty() {
                registry.things.remove(thing);
            }
        }
    }
}

/// Why a connection ends; decides the MQTT 5 DISCONNECT reason sent first, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The device sent DISCONNECT or closed the socket.
    ByPeer,
    /// The codec ended it, having sent whatever the protocol asks for (MQTT 5: a
    /// DISCONNECT with the reason): a malformed or too large packet, a second CONNECT.
    ByCodec,
    /// Nothing received for 1.5 × keepalive.
    KeepAliveTimeout,
    /// A newer connection with the same client id.
    TakenOver,
    ServerShutdown,
    /// Publish to a topic it may not use (3.1.1 has no PUBACK reason: AWS disconnects),
    /// or too many refused subscriptions.
    NotAuthorized,
    /// QoS 2 PUBLISH: AWS IoT does not support QoS 2; we advertise Maximum QoS 1.
    QosNotSupported,
    /// Anything else the protocol does not allow.
    ProtocolError,
}

impl Close {
    fn disconnect_reason(self) -> Option<DisconnectReasonCode> {
        match self {
            Close::ByPeer | Close::ByCodec => None,
            Close::KeepAliveTimeout => Some(DisconnectReasonCode::KeepAliveTimeout),
            Close::TakenOver => Some(DisconnectReasonCode::SessionTakenOver),
            Close::ServerShutdown => Some(DisconnectReasonCode::ServerShuttingDown),
            Close::NotAuthorized => Some(DisconnectReasonCode::NotAuthorized),
            Close::QosNotSupported => Some(DisconnectReasonCode::QosNotSupported),
            Close::ProtocolError => Some(DisconnectReasonCode::ProtocolError),
        }
    }
}

/// One device's socket and its protocol state: bytes read go to the codec, which answers
/// with packets received and packets to send (PINGRESP, CONNACK refusals, DISCONNECT),
/// and packets sent go through the codec, which encodes them and tracks packet ids.
///
/// Only reading and [`Wire::flush`] wait; everything else is synchronous, so that the
/// futures a connection's task keeps between packets stay small.
struct Wire<S> {
    stream: S,
    codec: Codec,
    /// Bytes read past the end of a packet (a client that sends several at once) and not
    /// given to the codec yet: it gets one packet at a time, so that each is handled
    /// (e.g. CONNECT answered) before the next is parsed. Empty, it holds no allocation.
    unparsed: Vec<u8>,
    /// Encoded packets not written yet ([`Wire::flush`]). Empty, no allocation.
    unsent: Vec<u8>,
}

/// What the codec made of one packet received.
struct Step {
    packet: Option<Packet>,
    /// The codec asked to close the connection (what it had to send is in `unsent`).
    close: bool,
}

/// A packet the codec refused to send (not allowed in this state, larger than the
/// device accepts, ...).
#[derive(Debug)]
struct Refused(mqtt::result_code::MqttError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused by the codec: {:?}", self.0)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Wire<S> {
    fn new(stream: S) -> Self {
        let mut codec = Codec::with_options(
            Version::Undetermined,
            mqtt::connection::ConnectionOptions::new().maximum_packet_size_recv(MAX_PACKET_SIZE),
        );
        // PUBACK is ours: a refused publish needs reason 0x87 (MQTT 5).
        codec.set_auto_pub_response(false);
        codec.set_auto_ping_response(true);
        Wire {
            stream,
            codec,
            unparsed: Vec::new(),
            unsent: Vec::new(),
        }
    }

    /// The codec's events for the next complete packet (or for a refused one); `None`
    /// at end of stream. Cancel-safe: bytes leave the socket only inside the poll that
    /// gives them to the codec, so dropping this future loses nothing.
    fn read(&mut self) -> impl Future<Output = std::io::Result<Option<Vec<Event>>>> + '_ {
        poll_fn(move |cx| self.poll_read_events(cx))
    }

    fn poll_read_events(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<Option<Vec<Event>>>> {
        loop {
            if !self.unparsed.is_empty() {
                let mut cursor = mqtt::common::Cursor::new(&self.unparsed[..]);
                let events = self.codec.recv(&mut cursor);
                let used = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
                if used >= self.unparsed.len() {
                    self.unparsed = Vec::new();
                } else {
                    self.unparsed.drain(..used);
                }
                if !events.is_empty() {
                    return Poll::Ready(Ok(Some(events)));
                }
                // The rest was the start of a packet, now buffered in the codec.
            }
            // The chunk lives on the stack of this poll only: an idle connection keeps
            // no receive buffer.
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
            let data = buf.filled();
            if data.is_empty() {
                return Poll::Ready(Ok(None));
            }
            let mut cursor = mqtt::common::Cursor::new(data);
            let events = self.codec.recv(&mut cursor);
            let used = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
            if let Some(rest) = data.get(used..)
                && !rest.is_empty()
            {
                self.unparsed.extend_from_slice(rest);
            }
            if !events.is_empty() {
                return Poll::Ready(Ok(Some(events)));
            }
        }
    }

    /// Take what the codec asks in `events`: packets to send go to `unsent`; returns the
    /// packet received and whether to close.
    fn take(&mut self, events: Vec<Event>) -> Step {
        let mut step = Step {
            packet: None,
            close: false,
        };
        for event in events {
            match event {
                Event::RequestSendPacket { packet, .. } => self.encode(&packet),
                Event::RequestClose => step.close = true,
                Event::NotifyPacketReceived(packet) => step.packet = Some(packet),
                Event::NotifyError(e) => debug!(error = ?e, "MQTT protocol error"),
                // Keepalive is timed by the connection loop; nothing waits for packet ids.
                Event::RequestTimerReset { .. }
                | Event::RequestTimerCancel(_)
                | Event::NotifyPacketIdReleased(_) => {}
            }
        }
        step
    }

    /// The next packet from the device, the codec's answers written. `Err(())`: the
    /// stream ended or the codec closed it.
    async fn recv(&mut self) -> Result<Packet, ()> {
        loop {
            let events = match self.read().await {
                Ok(Some(events)) => events,
                Ok(None) => return Err(()),
                Err(e) => {
                    debug!(error = %e, "MQTT read failed");
                    return Err(());
                }
            };
            let Step { packet, close } = self.take(events);
            if self.flush().await.is_err() || close {
                return Err(());
            }
            if let Some(packet) = packet {
                return Ok(packet);
            }
        }
    }

    /// Hand `packet` to the codec; what it encodes waits in `unsent` for
    /// [`Wire::flush`].
    fn send(&mut self, packet: Packet) -> Result<(), Refused> {
        let mut refused = None;
        for event in self.codec.send(packet) {
            match event {
                Event::RequestSendPacket { packet, .. } => self.encode(&packet),
                Event::NotifyError(e) => refused = Some(Refused(e)),
                _ => {}
            }
        }
        refused.map_or(Ok(()), Err)
    }

    fn encode(&mut self, packet: &Packet) {
        self.unsent.reserve(packet.size());
        for slice in packet.to_buffers() {
            self.unsent.extend_from_slice(&slice);
        }
    }

    /// Write what was sent (one write, one TLS record). An error means the socket is
    /// gone. Then no buffer is kept.
    async fn flush(&mut self) -> std::io::Result<()> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.unsent).await;
        self.unsent = Vec::new();
        result?;
        self.stream.flush().await
    }

    /// Write what is left, then close the socket (TLS close_notify, then FIN); a peer
    /// that does not take it is dropped anyway.
    async fn close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = self.flush().await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }
}

/// One device connection, before and after CONNECT.
struct Connection<H> {
    handler: Arc<H>,
    sessions: Sessions,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

/// State of an accepted (CONNACKed) connection.
struct Accepted<S> {
    wire: Wire<S>,
    version: Version,
    identity: Identity,
    /// The thing, or the operator's name (for the logs).
    thing: String,
    /// The keepalive in force (seconds, after the cap).
    keep_alive: u16,
    conn: Arc<LiveConn>,
    refused_filters: u32,
}

impl<H: Handler> Connection<H> {
    fn new(
        handler: Arc<H>,
        sessions: Sessions,
        stop: watch::Receiver<bool>,
        peer: SocketAddr,
    ) -> Self {
        Self {
            handler,
            sessions,
            stop,
            peer,
        }
    }

    /// A mutual-TLS connection: the handshake, then MQTT over it.
    async fn run_tls(mut self, stream: TcpStream, acceptor: tokio_rustls::TlsAcceptor) {
        // The handshake counts against the CONNECT timeout.
        let handshake = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(stream)) => r,
            _ = self.stop.changed() => return,
        };
        let stream = match handshake {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                info!(peer = %self.peer, error = %e, "MQTT TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(peer = %self.peer, "MQTT TLS handshake timeout");
                return;
            }
        };
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| der.as_ref().to_vec());
        let Some(certificate) = certificate else {
            // The verifier requires one; never accept a TLS device without it.
            warn!(peer = %self.peer, "MQTT TLS connection without a client certificate");
            return;
        };
        self.run(stream, Some(certificate)).await;
    }

    /// The connection on its transport; `certificate`: the client certificate's DER
    /// (mutual TLS), `None` on plain TCP.
    async fn run<S>(mut self, stream: S, certificate: Option<Vec<u8>>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        // Boxed: CONNECT and authentication are large futures, needed once.
        let Some(mut accepted) = Box::pin(self.accept(Wire::new(stream), certificate)).await else {
            return;
        };
        let close = self.serve_connected(&mut accepted).await;

        self.sessions
            .unregister(&accepted.identity, accepted.conn.id);
        if accepted.version == Version::V5_0
            && let Some(reason) = close.disconnect_reason()
            && let Ok(p) = v5_0::Disconnect::builder().reason_code(reason).build()
        {
            let _ = accepted.wire.send(p.into());
        }
        accepted.wire.close().await;
        info!(thing = accepted.thing, peer = %self.peer, reason = ?close, "MQTT device disconnected");
    }

    /// CONNECT → CONNACK: the client id, authentication, keepalive, registration. `None`:
    /// refused or gone (the socket is closed).
    async fn accept<S>(
        &mut self,
        mut wire: Wire<S>,
        certificate: Option<Vec<u8>>,
    ) -> Option<Accepted<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let first = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, wire.recv()) => r,
            _ = self.stop.changed() => {
                wire.close().await;
                return None;
            }
        };
        let (version, client_id, keep_alive, username, password) = match first {
            Ok(Ok(Packet::V3_1_1Connect(c))) => (
                Version::V3_1_1,
                c.client_id().to_owned(),
                c.keep_alive(),
                c.user_name().map(str::to_owned),
                c.password().map(<[u8]>::to_vec),
            ),
            Ok(Ok(Packet::V5_0Connect(c))) => (
                Version::V5_0,
                c.client_id().to_owned(),
                c.keep_alive(),
                c.user_name().map(str::to_owned),
                c.password().map(<[u8]>::to_vec),
            ),
            Ok(Ok(other)) => {
                debug!(peer = %self.peer, packet = ?other.packet_type(), "MQTT: first packet not CONNECT");
                wire.close().await;
                return None;
            }
            Ok(Err(())) => {
                // Includes a CONNECT the codec refused (it answers CONNACK itself).
                debug!(peer = %self.peer, "MQTT: no CONNECT");
                wire.close().await;
                return None;
            }
            Err(_) => {
                debug!(peer = %self.peer, "MQTT: CONNECT timeout");
                wire.close().await;
                return None;
            }
        };

        // A device's client id must be a thing name (AWS's
        // `iot:Connection.Thing.ThingName` policy); an operator (who sends a password)
        // may use any client id. The Device SDK fills the username with `?SDK=...`
        // metrics: only what comes before `?` is a name.
        if password.is_none() && !topic::is_thing_name(&client_id) {
            info!(peer = %self.peer, client_id, "MQTT connect refused: client id is not a thing name");
            refuse(
                &mut wire,
                version,
                ConnectReasonCode::ClientIdentifierNotValid,
                ConnectReturnCode::IdentifierRejected,
            )
            .await;
            return None;
        }
        let connect = ConnectRequest {
            client_id: &client_id,
            username: username
                .as_deref()
                .map(|u| u.split_once('?').map_or(u, |(name, _)| name))
                .filter(|u| !u.is_empty()),
            password: password.as_deref(),
            peer_certificate: certificate.as_deref(),
        };
        let identity = match self.handler.authenticate(&connect).await {
            Ok(identity) => identity,
            Err(()) => {
                info!(peer = %self.peer, client_id, "MQTT connect refused: not authorized");
                refuse(
                    &mut wire,
                    version,
                    ConnectReasonCode::NotAuthorized,
                    ConnectReturnCode::NotAuthorized,
                )
                .await;
                return None;
            }
        };

        // Keepalive: honour the client's value up to AWS IoT's 1200 s; 0 or more than
        // that becomes 1200 (MQTT 5 clients are told through Server Keep Alive).
        let requested = keep_alive;
        let keep_alive = if requested == 0 || requested > MAX_KEEP_ALIVE_SECS {
            MAX_KEEP_ALIVE_SECS
        } else {
            requested
        };
        let connack: Packet = match version {
            Version::V5_0 => {
                let mut props = vec![mqtt::packet::Property::MaximumQos(
                    mqtt::packet::MaximumQos::new(1).expect("1 is a valid Maximum QoS"),
                )];
                if keep_alive != requested {
                    props.push(mqtt::packet::Property::ServerKeepAlive(
                        mqtt::packet::ServerKeepAlive::new(keep_alive)
                            .expect("a u16 is a valid Server Keep Alive"),
                    ));
                }
                match v5_0::Connack::builder()
                    .session_present(false)
                    .reason_code(ConnectReasonCode::Success)
                    .props(props)
                    .build()
                {
                    Ok(p) => p.into(),
                    Err(e) => {
                        warn!(error = ?e, "MQTT CONNACK build");
                        wire.close().await;
                        return None;
                    }
                }
            }
            _ => match v3_1_1::Connack::builder()
                .session_present(false)
                .return_code(ConnectReturnCode::Accepted)
                .build()
            {
                Ok(p) => p.into(),
                Err(e) => {
                    warn!(error = ?e, "MQTT CONNACK build");
                    wire.close().await;
                    return None;
                }
            },
        };

        // Register (and take over an older connection) before CONNACK, so that the
        // device never sees two of its connections accepted at once.
        let fingerprint = certificate.as_deref().map(|der| {
            use sha2::Digest as _;
            <[u8; 32]>::from(sha2::Sha256::digest(der))
        });
        let conn = self.sessions.register(&identity, &client_id, fingerprint);
        let thing = match &identity {
            Identity::Thing(thing) => thing.clone(),
            Identity::Operator { name } => name.clone(),
        };
        let sent = match wire.send(connack) {
            Ok(()) => wire.flush().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            debug!(thing, error = %e, "MQTT CONNACK send failed");
            self.sessions.unregister(&identity, conn.id);
            wire.close().await;
            return None;
        }
        match &identity {
            Identity::Thing(thing) => {
                info!(thing, peer = %self.peer, version = ?version, keep_alive, "MQTT device connected");
                self.handler.connected(thing).await;
            }
            Identity::Operator { name } => {
                info!(operator = name, client_id, peer = %self.peer, version = ?version, keep_alive, "MQTT operator connected");
            }
        }

        Some(Accepted {
            wire,
            version,
            identity,
            thing,
            keep_alive,
            conn,
            refused_filters: 0,
        })
    }

    /// The connected state: packets from the device, notifications for it, takeover,
    /// shutdown and keepalive, all on this one task. Requests are handled one at a time,
    /// so replies keep request order.
    async fn serve_connected<S>(&mut self, c: &mut Accepted<S>) -> Close
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let conn = c.conn.clone();
        // Shutdown from here on comes through the mailbox ([`Sessions::close_all`]).
        if *self.stop.borrow() {
            return Close::ServerShutdown;
        }
        // 1.5 × keepalive (MQTT 3.1.1 §3.1.2.10, 5 §3.1.2.10). Timed only while waiting
        // for the device: the silence counts from when the last packet was handled, so a
        // slow handler does not count against the device. The timer is moved only when
        // it fires early, not for every packet.
        let idle = Duration::from_millis(u64::from(c.keep_alive) * 1500);
        let mut heard = tokio::time::Instant::now();
        let silence = tokio::time::sleep(idle);
        tokio::pin!(silence);
        loop {
            let events = tokio::select! {
                biased;
                () = conn.wake.notified() => {
                    let (outbound, close) = {
                        let mut mailbox = lock(&conn.mailbox);
                        (std::mem::take(&mut mailbox.outbound), mailbox.close)
                    };
                    if let Some(close) = close {
                        return close;
                    }
                    for out in outbound {
                        c.publish(&out.topic, out.payload, out.qos);
                    }
                    c.flush().await;
                    continue;
                }
                // Before the timer: what the device sent is never late.
                read = c.wire.read() => match read {
                    Ok(Some(events)) => events,
                    Ok(None) => return Close::ByPeer,
                    Err(e) => {
                        debug!(thing = c.thing, error = %e, "MQTT read ended");
                        return Close::ByPeer;
                    }
                },
                () = &mut silence => {
                    let deadline = heard + idle;
                    if tokio::time::Instant::now() >= deadline {
                        return Close::KeepAliveTimeout;
                    }
                    silence.as_mut().reset(deadline);
                    continue;
                }
            };
            let Step { packet, close } = c.wire.take(events);
            if let Some(packet) = packet {
                // Boxed: a request's future (the handler's store work) is large and
                // short-lived; the idle connection does not keep its space.
                let handled = if needs_answer(&packet) {
                    Box::pin(self.on_packet(c, packet)).await
                } else {
                    on_quiet(&c.thing, packet)
                };
                if let Err(close) = handled {
                    return close;
                }
            }
            // What the codec answered (PINGRESP), after what the packet's handling sent.
            c.flush().await;
            if close {
                return Close::ByCodec;
            }
            heard = tokio::time::Instant::now();
        }
    }

    async fn on_packet<S>(&self, c: &mut Accepted<S>, packet: Packet) -> Result<(), Close>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match packet {
            Packet::V3_1_1Subscribe(s) => {
                let granted = c.subscribe(s.entries());
                let codes = granted
                    .iter()
                    .map(|g| match g {
                        Some(Qos::AtMostOnce) => SubackReturnCode::SuccessMaximumQos0,
                        Some(_) => SubackReturnCode::SuccessMaximumQos1,
                        None => SubackReturnCode::Failure,
                    })
                    .collect();
                let suback = v3_1_1::GenericSuback::builder()
                    .packet_id(s.packet_id())
                    .return_codes(codes)
                    .build();
                c.send_built(suback).await;
                c.check_refused()
            }
            Packet::V5_0Subscribe(s) => {
                let granted = c.subscribe(s.entries());
                let codes = granted
                    .iter()
                    .map(|g| match g {
                        Some(Qos::AtMostOnce) => SubackReasonCode::GrantedQos0,
                        Some(_) => SubackReasonCode::GrantedQos1,
                        None => SubackReasonCode::NotAuthorized,
                    })
                    .collect();
                let suback = v5_0::GenericSuback::builder()
                    .packet_id(s.packet_id())
                    .reason_codes(codes)
                    .build();
                c.send_built(suback).await;
                c.check_refused()
            }
            Packet::V3_1_1Unsubscribe(u) => {
                c.unsubscribe(u.entries().iter().map(|e| e.as_str()));
                let unsuback = v3_1_1::GenericUnsuback::builder()
                    .packet_id(u.packet_id())
                    .build();
                c.send_built(unsuback).await;
                Ok(())
            }
            Packet::V5_0Unsubscribe(u) => {
                let existed = c.unsubscribe(u.entries().iter().map(|e| e.as_str()));
                let codes = existed
                    .into_iter()
                    .map(|e| {
                        if e {
                            UnsubackReasonCode::Success
                        } else {
                            UnsubackReasonCode::NoSubscriptionExisted
                        }
                    })
                    .collect();
                let unsuback = v5_0::GenericUnsuback::builder()
                    .packet_id(u.packet_id())
                    .reason_codes(codes)
                    .build();
                c.send_built(unsuback).await;
                Ok(())
            }
            Packet::V3_1_1Publish(p) => {
                self.on_publish(
                    c,
                    p.topic_name(),
                    p.qos(),
                    p.packet_id(),
                    p.payload().as_slice(),
                )
                .await
            }
            Packet::V5_0Publish(p) => {
                self.on_publish(
                    c,
                    p.topic_name(),
                    p.qos(),
                    p.packet_id(),
                    p.payload().as_slice(),
                )
                .await
            }
            other => on_quiet(&c.thing, other),
        }
    }

    async fn on_publish<S>(
        &self,
        c: &mut Accepted<S>,
        topic: &str,
        qos: Qos,
        packet_id: Option<u16>,
        payload: &[u8],
    ) -> Result<(), Close>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        debug!(
            thing = c.thing,
            topic,
            ?qos,
            len = payload.len(),
            "MQTT publish"
        );
        if qos == Qos::ExactlyOnce {
            // AWS IoT does not support QoS 2; CONNACK advertised Maximum QoS 1, so MQTT 5
            // §3.3.1.2 says DISCONNECT 0x9B. MQTT 3.1.1 can only close.
            info!(thing = c.thing, topic, "MQTT QoS 2 publish refused");
            return Err(Close::QosNotSupported);
        }
        let allowed = match &c.identity {
            Identity::Thing(thing) => topic::may_publish(thing, topic),
            // Operators only listen (AWS reserves `$aws/events/...` for the service).
            Identity::Operator { .. } => false,
        };
        if !allowed {
            info!(thing = c.thing, topic, "MQTT publish not authorized");
            return match c.version {
                // MQTT 5: PUBACK 0x87, the SDK fails the request at once. QoS 0 has no
                // acknowledgement: the message is dropped.
                Version::V5_0 => {
                    if let Some(pid) = packet_id {
                        let puback = v5_0::GenericPuback::builder()
                            .packet_id(pid)
                            .reason_code(PubackReasonCode::NotAuthorized)
                            .build();
                        c.send_built(puback).await;
                    }
                    Ok(())
                }
                // MQTT 3.1.1: AWS IoT disconnects a client on an unauthorized action.
                _ => Err(Close::NotAuthorized),
            };
        }
        // Acknowledge first, then answer: AWS IoT acks the request publish and delivers
        // the response as a separate message.
        if let Some(pid) = packet_id {
            match c.version {
                Version::V5_0 => {
                    let puback = v5_0::GenericPuback::builder().packet_id(pid).build();
                    c.send_built(puback).await;
                }
                _ => {
                    let puback = v3_1_1::GenericPuback::builder().packet_id(pid).build();
                    c.send_built(puback).await;
                }
            }
        }
        if let Some(reply) = self.handler.request(&c.thing, topic, payload).await {
            // To the requester only, whether or not it subscribed: AWS delivers jobs
            // responses to the publishing client.
            c.publish(&reply.topic, Arc::from(reply.payload), Qos::AtLeastOnce);
            c.flush().await;
        }
        Ok(())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Accepted<S> {
    /// Record the filters this connection may use; the granted QoS per entry, `None`
    /// for a refused one.
    fn subscribe(&mut self, entries: &[mqtt::packet::SubEntry]) -> Vec<Option<Qos>> {
        let mut filters = lock(&self.conn.filters);
        entries
            .iter()
            .map(|e| {
                let filter = e.topic_filter();
                let allowed = match &self.identity {
                    Identity::Thing(thing) => topic::may_subscribe(thing, filter),
                    Identity::Operator { .. } => topic::may_subscribe_events(filter),
                };
                if allowed {
                    let qos = match e.sub_opts().qos() {
                        Qos::AtMostOnce => Qos::AtMostOnce,
                        _ => Qos::AtLeastOnce,
                    };
                    debug!(thing = self.thing, filter, ?qos, "MQTT subscribe granted");
                    filters.insert(filter.to_owned(), qos);
                    Some(qos)
                } else {
                    debug!(thing = self.thing, filter, "MQTT subscribe refused");
                    self.refused_filters += 1;
                    None
                }
            })
            .collect()
    }

    /// Cut a refused-subscribe storm (see [`MAX_REFUSED_FILTERS`]).
    fn check_refused(&self) -> Result<(), Close> {
        if self.refused_filters >= MAX_REFUSED_FILTERS {
            warn!(
                thing = self.thing,
                refused = self.refused_filters,
                "MQTT too many refused subscriptions: disconnecting"
            );
            Err(Close::NotAuthorized)
        } else {
            Ok(())
        }
    }

    /// Remove filters; per filter, whether it was subscribed.
    fn unsubscribe<'a>(&mut self, filters: impl Iterator<Item = &'a str>) -> Vec<bool> {
        let mut subscribed = lock(&self.conn.filters);
        filters
            .map(|f| {
                debug!(thing = self.thing, filter = f, "MQTT unsubscribe");
                subscribed.remove(f).is_some()
            })
            .collect()
    }

    /// Send a packet built by a builder; a build or send failure is logged (a send
    /// failure means the socket is gone, which the next read reports).
    async fn send_built<P, E>(&mut self, built: Result<P, E>)
    where
        P: Into<Packet>,
        E: std::fmt::Debug,
    {
        match built {
            Ok(p) => match self.wire.send(p.into()) {
                Ok(()) => self.flush().await,
                Err(e) => debug!(thing = self.thing, error = %e, "MQTT send failed"),
            },
            Err(e) => warn!(thing = self.thing, error = ?e, "MQTT packet build failed"),
        }
    }

    /// Write what was sent; a failure is logged (the socket is gone, which the next
    /// read reports).
    async fn flush(&mut self) {
        if let Err(e) = self.wire.flush().await {
            debug!(thing = self.thing, error = %e, "MQTT write failed");
        }
    }

    /// Publish to this connection at `qos` (0 or 1), at the next [`Accepted::flush`].
    /// QoS 1 takes a packet id from the codec, which frees it when the device's PUBACK
    /// arrives. Never waits for a free id: when the device has 65535 unacknowledged
    /// messages, the message is dropped.
    fn publish(&mut self, topic: &str, payload: Arc<[u8]>, qos: Qos) {
        let packet_id = if qos == Qos::AtMostOnce {
            None
        } else {
            match self.wire.codec.acquire_packet_id() {
                Ok(pid) => Some(pid),
                Err(e) => {
                    warn!(thing = self.thing, topic, error = ?e, "MQTT publish dropped: no packet id");
                    return;
                }
            }
        };
        let built: Result<Packet, String> = match self.version {
            Version::V5_0 => {
                let b = v5_0::GenericPublish::builder();
                let b = match b.topic_name(topic) {
                    Ok(b) => b,
                    Err(e) => return self.publish_failed(topic, packet_id, e),
                };
                let b = b.qos(qos).payload(payload);
                let b = match packet_id {
                    Some(pid) => b.packet_id(pid),
                    None => b,
                };
                b.build().map(Into::into).map_err(|e| format!("{e:?}"))
            }
            _ => {
                let b = v3_1_1::GenericPublish::builder();
                let b = match b.topic_name(topic) {
                    Ok(b) => b,
                    Err(e) => return self.publish_failed(topic, packet_id, e),
                };
                let b = b.qos(qos).payload(payload);
                let b = match packet_id {
                    Some(pid) => b.packet_id(pid),
                    None => b,
                };
                b.build().map(Into::into).map_err(|e| format!("{e:?}"))
            }
        };
        match built {
            Ok(p) => {
                debug!(thing = self.thing, topic, ?qos, "MQTT publish to device");
                if let Err(e) = self.wire.send(p) {
                    debug!(thing = self.thing, topic, error = %e, "MQTT publish send failed");
                    if let Some(pid) = packet_id {
                        self.wire.codec.release_packet_id(pid);
                    }
                }
            }
            Err(e) => self.publish_failed(topic, packet_id, e),
        }
    }

    fn publish_failed(&mut self, topic: &str, packet_id: Option<u16>, e: impl std::fmt::Debug) {
        warn!(thing = self.thing, topic, error = ?e, "MQTT publish dropped: cannot build");
        if let Some(pid) = packet_id {
            self.wire.codec.release_packet_id(pid);
        }
    }
}

/// Whether [`Connection::on_packet`] answers `packet` (through the handler or with an
/// acknowledgement). The others are [`on_quiet`]'s, which needs no future: a device's
/// PUBACK for each notification costs no allocation.
fn needs_answer(packet: &Packet) -> bool {
    matches!(
        packet,
        Packet::V3_1_1Subscribe(_)
            | Packet::V5_0Subscribe(_)
            | Packet::V3_1_1Unsubscribe(_)
            | Packet::V5_0Unsubscribe(_)
            | Packet::V3_1_1Publish(_)
            | Packet::V5_0Publish(_)
    )
}

/// A packet from `thing` that needs no answer.
fn on_quiet(thing: &str, packet: Packet) -> Result<(), Close> {
    match packet {
        Packet::V3_1_1Disconnect(_) | Packet::V5_0Disconnect(_) => Err(Close::ByPeer),
        // The codec refuses a second CONNECT itself (and closes); never here.
        Packet::V3_1_1Connect(_) | Packet::V5_0Connect(_) => Err(Close::ProtocolError),
        // PINGREQ is answered by the codec; PUBACK for our QoS 1 sends releases the
        // packet id there too. Nothing else is expected from a device.
        other => {
            debug!(thing, packet = ?other.packet_type(), "MQTT packet ignored");
            Ok(())
        }
    }
}

/// Answer a CONNECT with a refusing CONNACK and close.
async fn refuse<S>(
    wire: &mut Wire<S>,
    version: Version,
    v5: ConnectReasonCode,
    v3: ConnectReturnCode,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let built: Option<Packet> = match version {
        Version::V5_0 => v5_0::Connack::builder()
            .session_present(false)
            .reason_code(v5)
            .build()
            .ok()
            .map(Into::into),
        _ => v3_1_1::Connack::builder()
            .session_present(false)
            .return_code(v3)
            .build()
            .ok()
            .map(Into::into),
    };
    if let Some(p) = built {
        let _ = wire.send(p);
    }
    wire.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl Handler for Nothing {
        async fn request(&self, _: &str, _: &str, _: &[u8]) -> Option<Reply> {
            None
        }
        async fn connected(&self, _: &str) {}
        async fn authenticate(&self, connect: &ConnectRequest<'_>) -> Result<Identity, ()> {
            Ok(Identity::Thing(connect.client_id.to_owned()))
        }
    }

    /// What 10,000 idle devices multiply (issue 11: at most 5 KiB of server memory per
    /// idle connection, docs/benchmarks.md): a plain TCP connection's task, which holds
    /// the socket, the codec (about 750 bytes) and the connected loop's state. A large
    /// future awaited inline instead of boxed (a handler call, a packet held across a
    /// write) grows it at once; this catches that before the benchmark does.
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (_stop, stopped) = watch::channel(false);
        let conn = Connection::new(Arc::new(Nothing), Sessions::default(), stopped, addr);
        let task = conn.run(stream, None);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 2048, "a connection's task future is {size} bytes");
    }
}
