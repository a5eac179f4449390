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
//! MQTT framing, keepalive bookkeeping and packet ids come from `mqtt-endpoint-tokio`
//! (one `Endpoint<role::Server>` per TCP connection, automatic PINGRESP); PUBACK is sent
//! here, because a refused publish gets a reason code (MQTT 5) or a disconnect (3.1.1).

mod tls;
mod topic;

pub use tls::server_config;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mqtt_endpoint_tokio::mqtt_ep;
use mqtt_ep::packet::{Packet, Qos, v3_1_1, v5_0};
use mqtt_ep::result_code::{
    ConnectReasonCode, ConnectReturnCode, DisconnectReasonCode, PubackReasonCode, SubackReasonCode,
    SubackReturnCode, UnsubackReasonCode,
};
use mqtt_ep::{Mode, Version};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
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

type ServerEndpoint = mqtt_ep::Endpoint<mqtt_ep::role::Server>;

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
                    let conn = Connection::new(
                        handler.clone(),
                        sessions.clone(),
                        stop_tx.subscribe(),
                        peer,
                    );
                    let tls = tls.clone();
                    tasks.spawn(conn.run(stream, tls));
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
    let _ = stop_tx.send(true);
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
    outbound: mpsc::Sender<Outbound>,
    /// Signalled when a newer connection with the same client id takes over.
    taken_over: Notify,
    /// Set before `taken_over` is signalled when the connection is cut because its
    /// identity is no longer valid ([`Sessions::close_devices_where`]).
    revoked: std::sync::atomic::AtomicBool,
    /// SHA-256 of the client certificate's DER (mutual TLS), for
    /// [`Sessions::certified_devices`].
    certificate_sha256: Option<[u8; 32]>,
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
        match conn.outbound.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(who, topic, "message dropped: connection queue full");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                debug!(who, topic, "message dropped: connection closing");
            }
        }
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
                c.revoked.store(true, std::sync::atomic::Ordering::SeqCst);
                c.taken_over.notify_one();
                closed += 1;
            }
        }
        closed
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
    ) -> (Arc<LiveConn>, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let mut registry = lock(&self.inner);
        registry.next_id += 1;
        let conn = Arc::new(LiveConn {
            id: registry.next_id,
            client_id: client_id.to_owned(),
            filters: Mutex::new(HashMap::new()),
            outbound: tx,
            taken_over: Notify::new(),
            revoked: std::sync::atomic::AtomicBool::new(false),
            certificate_sha256,
        });
        let conns = match identity {
            Identity::Thing(thing) => registry.things.entry(thing.clone()).or_default(),
            Identity::Operator { .. } => &mut registry.operators,
        };
        conns.retain(|old| {
            let same = old.client_id == client_id;
            if same {
                old.taken_over.notify_one();
            }
            !same
        });
        conns.push(conn.clone());
        (conn, rx)
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
    /// Anything else the protocol does not allow (a second CONNECT, ...).
    ProtocolError,
}

impl Close {
    fn disconnect_reason(self) -> Option<DisconnectReasonCode> {
        match self {
            Close::ByPeer => None,
            Close::KeepAliveTimeout => Some(DisconnectReasonCode::KeepAliveTimeout),
            Close::TakenOver => Some(DisconnectReasonCode::SessionTakenOver),
            Close::ServerShutdown => Some(DisconnectReasonCode::ServerShuttingDown),
            Close::NotAuthorized => Some(DisconnectReasonCode::NotAuthorized),
            Close::QosNotSupported => Some(DisconnectReasonCode::QosNotSupported),
            Close::ProtocolError => Some(DisconnectReasonCode::ProtocolError),
        }
    }
}

/// What the reader task hands the connection loop.
enum Inbound {
    Packet(Box<Packet>),
    KeepAliveTimeout,
}

/// One device connection, before and after CONNECT.
struct Connection<H> {
    handler: Arc<H>,
    sessions: Sessions,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

/// State of an accepted (CONNACKed) connection.
struct Accepted {
    ep: Arc<ServerEndpoint>,
    version: Version,
    identity: Identity,
    /// The thing, or the operator's name (for the logs).
    thing: String,
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

    async fn run(mut self, stream: TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) {
        // Small request/response packets: don't let Nagle delay replies.
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = tls else {
            let transport = mqtt_ep::transport::TcpTransport::from_stream(stream);
            return self.run_on(transport, None).await;
        };
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
        self.run_on(tls::TlsTransport::new(stream), Some(certificate))
            .await;
    }

    /// The connection on its transport; `certificate`: the client certificate's DER
    /// (mutual TLS), `None` on plain TCP.
    async fn run_on<T>(mut self, transport: T, certificate: Option<Vec<u8>>)
    where
        T: mqtt_ep::transport::TransportOps + Send + 'static,
    {
        let ep = Arc::new(ServerEndpoint::with_options(
            Version::Undetermined,
            mqtt_ep::connection::ConnectionOptions::new().maximum_packet_size_recv(MAX_PACKET_SIZE),
        ));
        let options = match mqtt_ep::ConnectionOption::builder()
            // PUBACK is ours: a refused publish needs reason 0x87 (MQTT 5).
            .auto_pub_response(false)
            .auto_ping_response(true)
            .shutdown_timeout_ms(1000u64)
            .build()
        {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "MQTT connection options");
                return;
            }
        };
        if let Err(e) = ep
            .attach_with_options(transport, Mode::Server, options)
            .await
        {
            warn!(peer = %self.peer, error = ?e, "MQTT attach failed");
            return;
        }

        let first = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, ep.recv()) => r,
            _ = self.stop.changed() => {
                let _ = ep.close().await;
                return;
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
                let _ = ep.close().await;
                return;
            }
            Ok(Err(e)) => {
                // Includes a CONNECT the codec refused (it answers CONNACK itself).
                debug!(peer = %self.peer, error = ?e, "MQTT: no CONNECT");
                let _ = ep.close().await;
                return;
            }
            Err(_) => {
                debug!(peer = %self.peer, "MQTT: CONNECT timeout");
                let _ = ep.close().await;
                return;
            }
        };

        // A device's client id must be a thing name (AWS's
        // `iot:Connection.Thing.ThingName` policy); an operator (who sends a password)
        // may use any client id. The Device SDK fills the username with `?SDK=...`
        // metrics: only what comes before `?` is a name.
        if password.is_none() && !topic::is_thing_name(&client_id) {
            info!(peer = %self.peer, client_id, "MQTT connect refused: client id is not a thing name");
            refuse(
                &ep,
                version,
                ConnectReasonCode::ClientIdentifierNotValid,
                ConnectReturnCode::IdentifierRejected,
            )
            .await;
            return;
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
                    &ep,
                    version,
                    ConnectReasonCode::NotAuthorized,
                    ConnectReturnCode::NotAuthorized,
                )
                .await;
                return;
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
                let mut props = vec![mqtt_ep::packet::Property::MaximumQos(
                    mqtt_ep::packet::MaximumQos::new(1).expect("1 is a valid Maximum QoS"),
                )];
                if keep_alive != requested {
                    props.push(mqtt_ep::packet::Property::ServerKeepAlive(
                        mqtt_ep::packet::ServerKeepAlive::new(keep_alive)
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
                        return;
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
                    return;
                }
            },
        };

        // Register (and take over an older connection) before CONNACK, so that the
        // device never sees two of its connections accepted at once.
        let fingerprint = certificate.as_deref().map(|der| {
            use sha2::Digest as _;
            <[u8; 32]>::from(sha2::Sha256::digest(der))
        });
        let (conn, outbound) = self.sessions.register(&identity, &client_id, fingerprint);
        let thing = match &identity {
            Identity::Thing(thing) => thing.clone(),
            Identity::Operator { name } => name.clone(),
        };
        if let Err(e) = ep.send(connack).await {
            debug!(thing, error = ?e, "MQTT CONNACK send failed");
            self.sessions.unregister(&identity, conn.id);
            let _ = ep.close().await;
            return;
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

        let mut accepted = Accepted {
            ep: ep.clone(),
            version,
            identity,
            thing,
            conn,
            refused_filters: 0,
        };
        let (in_tx, in_rx) = mpsc::channel(16);
        // 1.5 × keepalive (MQTT 3.1.1 §3.1.2.10, 5 §3.1.2.10).
        let idle = Duration::from_millis(u64::from(keep_alive) * 1500);
        let reader = tokio::spawn(read_loop(ep.clone(), in_tx, idle));
        let close = self.serve_connected(&mut accepted, in_rx, outbound).await;
        reader.abort();

        self.sessions
            .unregister(&accepted.identity, accepted.conn.id);
        if version == Version::V5_0
            && let Some(reason) = close.disconnect_reason()
            && let Ok(p) = v5_0::Disconnect::builder().reason_code(reason).build()
        {
            let _ = ep.send(Packet::from(p)).await;
        }
        let _ = ep.close().await;
        info!(thing = accepted.thing, peer = %self.peer, reason = ?close, "MQTT device disconnected");
    }

    /// The connected state: packets from the device, notifications for it, takeover and
    /// shutdown. Requests are handled one at a time, so replies keep request order.
    async fn serve_connected(
        &mut self,
        c: &mut Accepted,
        mut inbound: mpsc::Receiver<Inbound>,
        mut outbound: mpsc::Receiver<Outbound>,
    ) -> Close {
        let conn = c.conn.clone();
        loop {
            if *self.stop.borrow() {
                return Close::ServerShutdown;
            }
            tokio::select! {
                biased;
                () = conn.taken_over.notified() => {
                    return if conn.revoked.load(std::sync::atomic::Ordering::SeqCst) {
                        Close::NotAuthorized
                    } else {
                        Close::TakenOver
                    };
                }
                _ = self.stop.changed() => return Close::ServerShutdown,
                msg = inbound.recv() => match msg {
                    None => return Close::ByPeer,
                    Some(Inbound::KeepAliveTimeout) => return Close::KeepAliveTimeout,
                    Some(Inbound::Packet(p)) => {
                        if let Err(close) = self.on_packet(c, *p).await {
                            return close;
                        }
                    }
                },
                Some(out) = outbound.recv() => {
                    c.publish(&out.topic, out.payload, out.qos).await;
                }
            }
        }
    }

    async fn on_packet(&self, c: &mut Accepted, packet: Packet) -> Result<(), Close> {
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
            Packet::V3_1_1Disconnect(_) | Packet::V5_0Disconnect(_) => Err(Close::ByPeer),
            Packet::V3_1_1Connect(_) | Packet::V5_0Connect(_) => Err(Close::ProtocolError),
            // PINGREQ is answered by the codec; PUBACK for our QoS 1 sends releases the
            // packet id there too. Nothing else is expected from a device.
            other => {
                debug!(thing = c.thing, packet = ?other.packet_type(), "MQTT packet ignored");
                Ok(())
            }
        }
    }

    async fn on_publish(
        &self,
        c: &mut Accepted,
        topic: &str,
        qos: Qos,
        packet_id: Option<u16>,
        payload: &[u8],
    ) -> Result<(), Close> {
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
            c.publish(&reply.topic, Arc::from(reply.payload), Qos::AtLeastOnce)
                .await;
        }
        Ok(())
    }
}

impl Accepted {
    /// Record the filters this connection may use; the granted QoS per entry, `None`
    /// for a refused one.
    fn subscribe(&mut self, entries: &[mqtt_ep::packet::SubEntry]) -> Vec<Option<Qos>> {
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
    /// failure means the socket is gone, which the reader reports).
    async fn send_built<P, E>(&self, built: Result<P, E>)
    where
        P: Into<Packet>,
        E: std::fmt::Debug,
    {
        match built {
            Ok(p) => {
                if let Err(e) = self.ep.send(p.into()).await {
                    debug!(thing = self.thing, error = ?e, "MQTT send failed");
                }
            }
            Err(e) => warn!(thing = self.thing, error = ?e, "MQTT packet build failed"),
        }
    }

    /// Publish to this connection at `qos` (0 or 1). QoS 1 takes a packet id from the
    /// codec, which frees it when the device's PUBACK arrives. Never waits for a free id:
    /// when the device has 65535 unacknowledged messages, the message is dropped.
    async fn publish(&self, topic: &str, payload: Arc<[u8]>, qos: Qos) {
        let packet_id = if qos == Qos::AtMostOnce {
            None
        } else {
            match self.ep.acquire_packet_id().await {
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
                    Err(e) => return self.publish_failed(topic, packet_id, e).await,
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
                    Err(e) => return self.publish_failed(topic, packet_id, e).await,
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
                if let Err(e) = self.ep.send(p).await {
                    debug!(thing = self.thing, topic, error = ?e, "MQTT publish send failed");
                    if let Some(pid) = packet_id {
                        let _ = self.ep.release_packet_id(pid).await;
                    }
                }
            }
            Err(e) => self.publish_failed(topic, packet_id, e).await,
        }
    }

    async fn publish_failed(&self, topic: &str, packet_id: Option<u16>, e: impl std::fmt::Debug) {
        warn!(thing = self.thing, topic, error = ?e, "MQTT publish dropped: cannot build");
        if let Some(pid) = packet_id {
            let _ = self.ep.release_packet_id(pid).await;
        }
    }
}

/// Answer a CONNECT with a refusing CONNACK and close.
async fn refuse(
    ep: &ServerEndpoint,
    version: Version,
    v5: ConnectReasonCode,
    v3: ConnectReturnCode,
) {
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
        let _ = ep.send(p).await;
    }
    let _ = ep.close().await;
}

/// Read packets for the connection loop, and enforce keepalive: nothing received for
/// `idle` (1.5 × keepalive) ends the connection. The codec has its own keepalive timer,
/// but it only half-closes the socket, which a dead peer never answers; this one makes
/// sure the connection goes away. Time spent waiting for the loop (a slow handler) does
/// not count.
async fn read_loop(ep: Arc<ServerEndpoint>, tx: mpsc::Sender<Inbound>, idle: Duration) {
    loop {
        let msg = match tokio::time::timeout(idle, ep.recv()).await {
            Ok(Ok(p)) => Inbound::Packet(Box::new(p)),
            Ok(Err(e)) => {
                debug!(error = ?e, "MQTT read ended");
                return;
            }
            Err(_) => Inbound::KeepAliveTimeout,
        };
        let last = matches!(msg, Inbound::KeepAliveTimeout);
        if tx.send(msg).await.is_err() || last {
            return;
        }
    }
}
