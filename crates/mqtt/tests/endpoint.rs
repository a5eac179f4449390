//! The endpoint on 127.0.0.1:0, driven by a real MQTT client (rumqttc, 3.1.1 and 5) and,
//! where the client would refuse to misbehave, by raw bytes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iotjobs_mqtt::endpoint::{ConnectRequest, Handler, Identity, Reply, Sessions, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

/// Answers every request on `<topic>/accepted` with the request payload, and records
/// requests and connections.
#[derive(Default)]
struct Echo {
    requests: Mutex<Vec<(String, String)>>,
    connected: Mutex<Vec<String>>,
}

impl Handler for Echo {
    async fn request(&self, thing: &str, topic: &str, payload: &[u8]) -> Option<Reply> {
        self.requests
            .lock()
            .unwrap()
            .push((thing.to_owned(), topic.to_owned()));
        Some(Reply {
            topic: format!("{topic}/accepted"),
            payload: payload.to_vec(),
        })
    }

    async fn connected(&self, thing: &str) {
        self.connected.lock().unwrap().push(thing.to_owned());
    }

    async fn authenticate(&self, connect: &ConnectRequest<'_>) -> Result<Identity, ()> {
        Ok(Identity::Thing(connect.client_id.to_owned()))
    }
}

struct Server {
    port: u16,
    sessions: Sessions,
    handler: Arc<Echo>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sessions = Sessions::default();
    let handler = Arc::new(Echo::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        None,
        handler.clone(),
        sessions.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    Server {
        port,
        sessions,
        handler,
        stop: Some(stop),
        task,
    }
}

impl Server {
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("serve returns on shutdown")
            .unwrap()
            .unwrap();
    }
}

fn topic(thing: &str, rest: &str) -> String {
    format!("$aws/things/{thing}/jobs/{rest}")
}

/// Wait until `cond` holds (the server registers connections asynchronously).
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

mod v311 {
    use super::*;
    use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS};

    pub struct Client {
        pub client: AsyncClient,
        events: mpsc::UnboundedReceiver<Result<Packet, String>>,
    }

    pub async fn connect(port: u16, id: &str) -> Client {
        let mut c = connect_raw(port, id);
        match c.next().await {
            Ok(Packet::ConnAck(ack)) => {
                assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
                assert!(!ack.session_present);
            }
            other => panic!("{id}: expected CONNACK, got {other:?}"),
        }
        c
    }

    pub fn connect_raw(port: u16, id: &str) -> Client {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        // What the Device SDK builders send: persistent session, keepalive 1200 s.
        opts.set_clean_session(false);
        opts.set_keep_alive(Duration::from_secs(1200));
        opts.set_credentials("?SDK=IoTDeviceSDK/Python&Platform=Unix", "");
        let (client, mut eventloop) = AsyncClient::new(opts, 100);
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(Ok(p)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Err(describe(&e)));
                        return;
                    }
                }
            }
        });
        Client { client, events }
    }

    fn describe(e: &ConnectionError) -> String {
        format!("{e:?}")
    }

    impl Client {
        pub async fn next(&mut self) -> Result<Packet, String> {
            tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("timed out waiting for a packet")
                .unwrap_or(Err("event loop gone".into()))
        }

        /// The next packet that is not a PINGRESP.
        pub async fn next_packet(&mut self) -> Packet {
            loop {
                match self.next().await {
                    Ok(Packet::PingResp) => {}
                    Ok(p) => return p,
                    Err(e) => panic!("connection failed: {e}"),
                }
            }
        }

        /// The connection ends (the server closed it) within WAIT.
        pub async fn expect_closed(&mut self) {
            loop {
                match self.next().await {
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }

        pub async fn expect_quiet(&mut self) {
            if let Ok(Some(p)) = tokio::time::timeout(QUIET, self.events.recv()).await {
                panic!("expected nothing, got {p:?}");
            }
        }

        pub async fn subscribe(&mut self, filter: &str) -> rumqttc::SubscribeReasonCode {
            self.client
                .subscribe(filter, QoS::AtLeastOnce)
                .await
                .unwrap();
            match self.next_packet().await {
                Packet::SubAck(ack) => ack.return_codes[0],
                other => panic!("expected SUBACK, got {other:?}"),
            }
        }
    }
}

mod v5 {
    use super::*;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};

    pub struct Client {
        pub client: AsyncClient,
        events: mpsc::UnboundedReceiver<Result<Packet, String>>,
    }

    pub async fn connect(port: u16, id: &str) -> Client {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_start(false);
        opts.set_keep_alive(Duration::from_secs(1200));
        let (client, mut eventloop) = AsyncClient::new(opts, 100);
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(Ok(p)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Err(format!("{e:?}")));
                        return;
                    }
                }
            }
        });
        let mut c = Client { client, events };
        match c.next_packet().await {
            Packet::ConnAck(ack) => {
                assert_eq!(
                    ack.code,
                    rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success
                );
                assert!(!ack.session_present);
                let props = ack.properties.expect("CONNACK properties");
                assert_eq!(props.max_qos, Some(1));
                assert_eq!(props.max_packet_size, Some(128 * 1024));
            }
            other => panic!("{id}: expected CONNACK, got {other:?}"),
        }
        c
    }

    impl Client {
        pub async fn next(&mut self) -> Result<Packet, String> {
            tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("timed out waiting for a packet")
                .unwrap_or(Err("event loop gone".into()))
        }

        pub async fn next_packet(&mut self) -> Packet {
            loop {
                match self.next().await {
                    Ok(Packet::PingResp(_)) => {}
                    Ok(p) => return p,
                    Err(e) => panic!("connection failed: {e}"),
                }
            }
        }

        pub async fn expect_quiet(&mut self) {
            if let Ok(Some(p)) = tokio::time::timeout(QUIET, self.events.recv()).await {
                panic!("expected nothing, got {p:?}");
            }
        }

        pub async fn subscribe(&mut self, filter: &str) -> SubscribeReasonCode {
            self.client
                .subscribe(filter, QoS::AtLeastOnce)
                .await
                .unwrap();
            match self.next_packet().await {
                Packet::SubAck(ack) => ack.return_codes[0],
                other => panic!("expected SUBACK, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn v311_subscribe_request_reply() {
    let server = start().await;
    let mut c = v311::connect(server.port, "t1").await;
    eventually("t1 registered", || {
        server.sessions.connected_things() == ["t1"]
    })
    .await;
    assert_eq!(*server.handler.connected.lock().unwrap(), ["t1"]);

    use rumqttc::{Packet, QoS, SubscribeReasonCode};
    let granted = SubscribeReasonCode::Success(QoS::AtLeastOnce);
    assert_eq!(c.subscribe(&topic("t1", "get/+")).await, granted);
    // `$next` is an ordinary topic level (what the SDK's V2 client subscribes to).
    assert_eq!(c.subscribe(&topic("t1", "$next/get/+")).await, granted);
    assert_eq!(c.subscribe(&topic("t1", "notify-next")).await, granted);
    // QoS 0 stays 0.
    c.client
        .subscribe(topic("t1", "notify"), QoS::AtMostOnce)
        .await
        .unwrap();
    match c.next_packet().await {
        Packet::SubAck(ack) => assert_eq!(
            ack.return_codes,
            [SubscribeReasonCode::Success(QoS::AtMostOnce)]
        ),
        other => panic!("{other:?}"),
    }
    // Another thing's topics and anything outside jobs: refused (0x80).
    assert_eq!(
        c.subscribe(&topic("t2", "get/+")).await,
        SubscribeReasonCode::Failure
    );
    assert_eq!(
        c.subscribe("$aws/things/t1/shadow/get/+").await,
        SubscribeReasonCode::Failure
    );

    c.client
        .publish(
            topic("t1", "$next/get"),
            QoS::AtLeastOnce,
            false,
            "{\"a\":1}",
        )
        .await
        .unwrap();
    let mut acked = false;
    let mut replied = false;
    while !(acked && replied) {
        match c.next_packet().await {
            Packet::PubAck(_) => acked = true,
            Packet::Publish(p) => {
                assert_eq!(p.topic, topic("t1", "$next/get/accepted"));
                assert_eq!(&p.payload[..], b"{\"a\":1}");
                assert_eq!(p.qos, QoS::AtLeastOnce);
                replied = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        *server.handler.requests.lock().unwrap(),
        [("t1".to_owned(), topic("t1", "$next/get"))]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn v5_reply_goes_to_the_requester_only_even_unsubscribed() {
    let server = start().await;
    let mut t1 = v5::connect(server.port, "t1").await;
    let mut t2 = v5::connect(server.port, "t2").await;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};

    assert_eq!(
        t2.subscribe(&topic("t2", "#")).await,
        SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );
    // Refused with 0x87 Not authorized.
    assert_eq!(
        t2.subscribe(&topic("t1", "get/+")).await,
        SubscribeReasonCode::NotAuthorized
    );

    // t1 did not subscribe: AWS delivers jobs replies to the requester anyway.
    t1.client
        .publish(topic("t1", "get"), QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let mut replied = false;
    let mut acked = false;
    while !(acked && replied) {
        match t1.next_packet().await {
            Packet::PubAck(a) => {
                assert_eq!(a.reason, rumqttc::v5::mqttbytes::v5::PubAckReason::Success);
                acked = true;
            }
            Packet::Publish(p) => {
                assert_eq!(&p.topic[..], topic("t1", "get/accepted").as_bytes());
                assert_eq!(&p.payload[..], b"{}");
                replied = true;
            }
            other => panic!("{other:?}"),
        }
    }
    t2.expect_quiet().await;
    server.shutdown().await;
}

#[tokio::test]
async fn v5_publish_to_reserved_or_foreign_topic_is_refused() {
    let server = start().await;
    let mut c = v5::connect(server.port, "t1").await;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
    for t in [
        topic("t1", "get/accepted"),
        topic("t1", "j1/update/rejected"),
        topic("t1", "notify"),
        topic("t1", "notify-next"),
        topic("t2", "get"),
    ] {
        c.client
            .publish(t.clone(), QoS::AtLeastOnce, false, "{}")
            .await
            .unwrap();
        match c.next_packet().await {
            Packet::PubAck(a) => assert_eq!(a.reason, PubAckReason::NotAuthorized, "{t}"),
            other => panic!("{t}: {other:?}"),
        }
    }
    c.expect_quiet().await;
    assert!(server.handler.requests.lock().unwrap().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn v311_publish_to_reserved_topic_disconnects() {
    let server = start().await;
    let mut c = v311::connect(server.port, "t1").await;
    c.client
        .publish(
            topic("t1", "notify-next"),
            rumqttc::QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    c.expect_closed().await;
    assert!(server.handler.requests.lock().unwrap().is_empty());
    eventually("t1 gone", || server.sessions.connected_things().is_empty()).await;
    server.shutdown().await;
}

#[tokio::test]
async fn notifications_reach_matching_subscribers_only() {
    let server = start().await;
    let mut t1 = v311::connect(server.port, "t1").await;
    let mut t2 = v5::connect(server.port, "t2").await;
    t1.subscribe(&topic("t1", "notify-next")).await;
    t2.subscribe(&topic("t2", "notify-next")).await;
    eventually("both registered", || {
        server.sessions.connected_things() == ["t1", "t2"]
    })
    .await;

    // t1 has no subscription on notify: nothing.
    server
        .sessions
        .publish_to_thing("t1", &topic("t1", "notify"), b"{\"jobs\":{}}");
    server
        .sessions
        .publish_to_thing("t1", &topic("t1", "notify-next"), b"{\"execution\":1}");
    match t1.next_packet().await {
        rumqttc::Packet::Publish(p) => {
            assert_eq!(p.topic, topic("t1", "notify-next"));
            assert_eq!(&p.payload[..], b"{\"execution\":1}");
            assert_eq!(p.qos, rumqttc::QoS::AtLeastOnce);
        }
        other => panic!("{other:?}"),
    }
    t1.expect_quiet().await;
    t2.expect_quiet().await;

    // A thing that is not connected: dropped silently.
    server
        .sessions
        .publish_to_thing("t3", &topic("t3", "notify-next"), b"{}");

    // After UNSUBSCRIBE, nothing.
    t1.client
        .unsubscribe(topic("t1", "notify-next"))
        .await
        .unwrap();
    match t1.next_packet().await {
        rumqttc::Packet::UnsubAck(_) => {}
        other => panic!("{other:?}"),
    }
    server
        .sessions
        .publish_to_thing("t1", &topic("t1", "notify-next"), b"{}");
    t1.expect_quiet().await;
    server.shutdown().await;
}

#[tokio::test]
async fn same_client_id_takes_over() {
    let server = start().await;
    let mut old = v5::connect(server.port, "t1").await;
    old.subscribe(&topic("t1", "notify-next")).await;
    let mut new = v311::connect(server.port, "t1").await;
    // MQTT 5: DISCONNECT 0x8E Session taken over, then the socket closes.
    loop {
        match old.next().await {
            Ok(rumqttc::v5::mqttbytes::v5::Packet::Disconnect(d)) => {
                assert_eq!(
                    d.reason_code,
                    rumqttc::v5::mqttbytes::v5::DisconnectReasonCode::SessionTakenOver
                );
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(server.sessions.connected_things(), ["t1"]);
    new.subscribe(&topic("t1", "notify-next")).await;
    server
        .sessions
        .publish_to_thing("t1", &topic("t1", "notify-next"), b"{}");
    match new.next_packet().await {
        rumqttc::Packet::Publish(p) => assert_eq!(p.topic, topic("t1", "notify-next")),
        other => panic!("{other:?}"),
    }
    drop(new);
    server.shutdown().await;
}

#[tokio::test]
async fn refused_subscribe_storm_is_cut() {
    // Raw bytes: rumqttc drops the packets of a read batch when the socket closes in it.
    let server = start().await;
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    s.write_all(&raw_connect(5, "t1", 60)).await.unwrap();
    let mut subscribes = Vec::new();
    let filter = topic("t2", "notify");
    for pid in 1..=100u16 {
        let mut body = pid.to_be_bytes().to_vec();
        body.push(0); // no properties
        body.extend_from_slice(&(filter.len() as u16).to_be_bytes());
        body.extend_from_slice(filter.as_bytes());
        body.push(0x01); // QoS 1
        subscribes.push(0x82);
        subscribes.push(body.len() as u8);
        subscribes.extend(body);
    }
    // Exactly 100: the server reads them all before closing, so the close is a FIN (data
    // left unread would make it a RST, which can discard what the client has not read).
    s.write_all(&subscribes).await.unwrap();
    let got = read_to_close(&mut s).await;
    let packets = split_packets(&got);
    assert_eq!(packets[0][0], 0x20, "CONNACK first");
    let subacks: Vec<_> = packets.iter().filter(|p| p[0] == 0x90).collect();
    assert_eq!(subacks.len(), 100);
    // Each SUBACK: packet id, property length 0, reason 0x87 Not authorized.
    assert!(subacks.iter().all(|p| p[p.len() - 1] == 0x87));
    let last = packets.last().unwrap();
    assert_eq!(last[0], 0xE0, "DISCONNECT last");
    assert_eq!(last[2], 0x87, "reason Not authorized");
    server.shutdown().await;
}

/// Split a byte stream into MQTT packets (fixed header included).
fn split_packets(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    while !bytes.is_empty() {
        let (mut len, mut shift, mut i) = (0usize, 0, 1);
        loop {
            let b = bytes[i];
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        packets.push(bytes[..i + len].to_vec());
        bytes = &bytes[i + len..];
    }
    packets
}

#[tokio::test]
async fn shutdown_closes_connections() {
    let server = start().await;
    let mut c = v311::connect(server.port, "t1").await;
    eventually("t1 registered", || {
        !server.sessions.connected_things().is_empty()
    })
    .await;
    let sessions = server.sessions.clone();
    server.shutdown().await;
    c.expect_closed().await;
    assert!(sessions.connected_things().is_empty());
}

/// A raw MQTT CONNECT: 3.1.1 (level 4) or 5 (level 5), clean session, no username.
fn raw_connect(level: u8, client_id: &str, keep_alive: u16) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', level, 0x02];
    body.extend_from_slice(&keep_alive.to_be_bytes());
    if level == 5 {
        body.push(0); // no properties
    }
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

/// Read until EOF (or WAIT); everything received.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("server did not close the connection")
        .unwrap();
    out
}

#[tokio::test]
async fn empty_or_non_thing_client_id_is_refused() {
    let server = start().await;
    // 3.1.1: CONNACK return code 2 (identifier rejected), then close.
    for id in ["", "a/b", "+"] {
        let mut s = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        s.write_all(&raw_connect(4, id, 60)).await.unwrap();
        assert_eq!(
            read_to_close(&mut s).await,
            [0x20, 0x02, 0x00, 0x02],
            "{id:?}"
        );
    }
    // 5: CONNACK reason 0x85 (client identifier not valid).
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    s.write_all(&raw_connect(5, "", 60)).await.unwrap();
    let got = read_to_close(&mut s).await;
    assert_eq!(got[0], 0x20);
    assert_eq!(got[3], 0x85);
    assert!(server.sessions.connected_things().is_empty());
    assert!(server.handler.connected.lock().unwrap().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn silent_device_is_dropped_after_one_and_a_half_keepalive() {
    let server = start().await;
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    s.write_all(&raw_connect(4, "t1", 1)).await.unwrap();
    let started = tokio::time::Instant::now();
    let got = read_to_close(&mut s).await;
    assert_eq!(got, [0x20, 0x02, 0x00, 0x00]);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    eventually("t1 gone", || server.sessions.connected_things().is_empty()).await;
    server.shutdown().await;
}

#[tokio::test]
async fn pingreq_is_answered_and_keeps_the_connection() {
    let server = start().await;
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    s.write_all(&raw_connect(4, "t1", 1)).await.unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        s.write_all(&[0xC0, 0x00]).await.unwrap();
        let mut pingresp = [0u8; 2];
        tokio::time::timeout(WAIT, s.read_exact(&mut pingresp))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pingresp, [0xD0, 0x00]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_packet_closes_the_connection() {
    let server = start().await;
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    s.write_all(&raw_connect(4, "t1", 60)).await.unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).await.unwrap();
    // PUBLISH QoS 0 with a remaining length of 200 KiB: refused from the header.
    let len: u32 = 200 * 1024;
    let mut header = vec![0x30];
    let mut x = len;
    loop {
        let mut b = (x % 128) as u8;
        x /= 128;
        if x > 0 {
            b |= 0x80;
        }
        header.push(b);
        if x == 0 {
            break;
        }
    }
    s.write_all(&header).await.unwrap();
    let _ = s.write_all(&vec![0u8; 1024]).await;
    // Closed, by FIN or (data left unread) by RST.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "server did not close the connection");
    assert!(server.handler.requests.lock().unwrap().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn qos2_publish_is_refused() {
    let server = start().await;
    let t = topic("t1", "get");
    let mut publish = vec![0x34, 0]; // PUBLISH, QoS 2
    publish.extend_from_slice(&(t.len() as u16).to_be_bytes());
    publish.extend_from_slice(t.as_bytes());
    publish.extend_from_slice(&[0, 1, 0]); // packet id 1, no properties
    publish.extend_from_slice(b"{}");
    publish[1] = (publish.len() - 2) as u8;

    // MQTT 5: CONNACK advertised Maximum QoS 1, so DISCONNECT 0x9B (QoS not supported).
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    s.write_all(&raw_connect(5, "t1", 60)).await.unwrap();
    s.write_all(&publish).await.unwrap();
    let packets = split_packets(&read_to_close(&mut s).await);
    assert_eq!(packets.len(), 2, "{packets:?}");
    assert_eq!(packets[1][0], 0xE0);
    assert_eq!(packets[1][2], 0x9B);

    // MQTT 3.1.1: no property-less way to say it; the connection is closed.
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    s.write_all(&raw_connect(4, "t1", 60)).await.unwrap();
    let mut v311 = publish.clone();
    v311.remove(v311.len() - 3); // no property length in 3.1.1
    v311[1] -= 1;
    s.write_all(&v311).await.unwrap();
    let packets = split_packets(&read_to_close(&mut s).await);
    assert_eq!(packets, [vec![0x20, 0x02, 0x00, 0x00]]);
    assert!(server.handler.requests.lock().unwrap().is_empty());
    server.shutdown().await;
}
