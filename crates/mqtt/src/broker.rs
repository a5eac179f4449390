//! iotjobs as a privileged client of an existing MQTT broker (`serve --mqtt-broker
//! mqtt://HOST:PORT`): devices keep their one connection to the fleet's broker, and
//! iotjobs subscribes to every thing's jobs request topics there.
//!
//! - One MQTT 3.1.1 connection (rumqttc), clean session **off**: requests published
//!   while iotjobs restarts are queued by the broker and delivered afterwards. It
//!   reconnects with backoff (100 ms doubling to 5 s) and resubscribes after each CONNACK.
//! - Subscriptions at QoS 1 to the four request filters ([`REQUEST_FILTERS`]); no
//!   `$share` (Mosquitto never delivers `$aws/…` topics to `$share` subscriptions, see
//!   docs/mqtt-broker.md): only one iotjobs node may consume a given broker.
//! - Each request: the thing is the topic's second level. The broker's ACL must
//!   guarantee that a device publishes only to its own thing's topics (iotjobs cannot
//!   see who published). The reply is published at QoS 1 on the reply topic, so every
//!   subscriber of that topic gets it (AWS answers the requester alone).
//! - Requests are acknowledged (PUBACK) only once their reply is queued, and run on a
//!   few workers chosen by thing, so one thing's requests run one at a time and in order.
//! - Redelivered requests: a request with a `clientToken` whose reply is in the
//!   [`DedupCache`] (same thing, topic, token and payload, for 10 minutes) gets that reply
//!   again and runs nothing.
//! - Notifications (`notify`, `notify-next`) leave through [`BrokerPublisher`]: every
//!   changed thing is of interest (the adapter does not know who is connected).

use crate::jobs::{self, JobsService};
use crate::notify::{Notifier, Publisher};
use crate::{Changes, notify_changes};
use iotjobs_core::{Clock, Store};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeFilter};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// The request topics of every thing (the replies, `…/accepted` and `…/rejected`, and the
/// notifications match none of them).
pub const REQUEST_FILTERS: [&str; 4] = [
    "$aws/things/+/jobs/get",
    "$aws/things/+/jobs/start-next",
    "$aws/things/+/jobs/+/get",
    "$aws/things/+/jobs/+/update",
];

/// How long a reply stays in the duplicate cache.
pub const DEDUP_TTL: Duration = Duration::from_secs(10 * 60);
/// Most replies kept in the duplicate cache.
pub const DEDUP_MAX_ENTRIES: usize = 50_000;
/// Most bytes (requests and replies) kept in the duplicate cache.
pub const DEDUP_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Largest packet sent or received: AWS IoT's publish limit is 128 KiB; a reply carries
/// a job document of up to 32 KiB.
const MAX_PACKET_SIZE: usize = 256 * 1024;
/// Requests (and acks, notifications) queued for the connection's event loop.
const REQUEST_CHANNEL: usize = 4096;
/// Workers; a thing's requests always go to the same one.
const WORKERS: usize = 8;
/// Requests queued per worker; beyond that a request is dropped (acknowledged, not
/// answered: the device times out and retries, as after throttling).
const WORKER_QUEUE: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Time the DISCONNECT has to leave at shutdown.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// Where and how to connect.
#[derive(Clone)]
pub struct BrokerOptions {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Publish Jobs events on the broker (`--mqtt-events`); its ACL decides who reads
    /// them (docs/mqtt-broker.md).
    pub events: Option<crate::EventContext>,
    /// Signs the presigned URLs in the job documents devices receive (`--s3-endpoint`).
    pub presigner: Option<Arc<dyn iotjobs_core::presign::Presigner>>,
}

/// `mqtt://HOST[:PORT]` (default port 1883) → (host, port). `mqtts://` is refused: TLS
/// to the broker is not implemented yet.
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    if url.starts_with("mqtts://") || url.starts_with("ssl://") {
        return Err(format!(
            "{url}: TLS to the broker (mqtts://) is not implemented yet; use mqtt://HOST:PORT \
             (plain TCP, e.g. to a broker on the same host or network segment)"
        ));
    }
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| format!("{url}: expected mqtt://HOST:PORT"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
        return Err(format!(
            "{url}: expected mqtt://HOST:PORT (credentials go in --mqtt-broker-username / \
             --mqtt-broker-password)"
        ));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed [ in the host"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{url}: expected :PORT after ]"))?,
                ),
            ),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let port = match port {
        None => 1883,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{url}: {p:?} is not a port"))?,
    };
    Ok((host.to_owned(), port))
}

/// The thing of a jobs topic: the second level of `$aws/things/{thing}/jobs/…`, if it
/// is a valid thing name (1 to 128 of `[a-zA-Z0-9:_-]`).
pub fn thing_of(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once('/')?;
    rest.strip_prefix("jobs/")?;
    let valid = (1..=128).contains(&thing.len())
        && thing
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
    valid.then_some(thing)
}

/// Whether `topic` is a request topic (what [`REQUEST_FILTERS`] match), not a reply or
/// a notification: anything else is ignored.
pub fn is_request_topic(topic: &str) -> bool {
    let Some(thing) = thing_of(topic) else {
        return false;
    };
    let rest = &topic[format!("$aws/things/{thing}/jobs/").len()..];
    matches!(
        rest.split('/').collect::<Vec<_>>()[..],
        ["get"] | ["start-next"] | [_, "get"] | [_, "update"]
    )
}

// ---- the duplicate cache -------------------------------------------------------------

/// Replies to requests that carried a `clientToken`, so that a redelivered request gets
/// the same reply and runs nothing twice (a StartNext never starts a second execution).
///
/// Key: the request topic (it names the thing and the operation) and the token; a hit
/// also needs the same payload, so a device that reuses one token for different
/// requests is not answered from the cache. Entries live [`DEDUP_TTL`]; the cache holds
/// at most `max_entries` replies and `max_bytes`, the oldest dropped first. It lives in
/// memory: after a restart of iotjobs a redelivered request runs again (StartNext then
/// returns the execution it started, an update of a finished one is refused).
pub struct DedupCache {
    ttl: Duration,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    map: HashMap<(String, String), Cached>,
    /// Insertion order (= expiry order); an entry replaced later is skipped when popped.
    order: VecDeque<((String, String), Instant)>,
}

struct Cached {
    request: Vec<u8>,
    reply_topic: String,
    reply: Vec<u8>,
    at: Instant,
}

impl Cached {
    fn size(&self) -> usize {
        self.request.len() + self.reply_topic.len() + self.reply.len()
    }
}

impl Default for DedupCache {
    fn default() -> Self {
        DedupCache::new(DEDUP_TTL, DEDUP_MAX_ENTRIES, DEDUP_MAX_BYTES)
    }
}

impl DedupCache {
    pub fn new(ttl: Duration, max_entries: usize, max_bytes: usize) -> Self {
        DedupCache {
            ttl,
            max_entries: max_entries.max(1),
            max_bytes,
            bytes: 0,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The reply to an earlier identical request (`topic`, `token`, `request`) within
    /// the TTL.
    pub fn get(
        &mut self,
        topic: &str,
        token: &str,
        request: &[u8],
        now: Instant,
    ) -> Option<(String, Vec<u8>)> {
        self.purge(now);
        let hit = self.map.get(&(topic.to_owned(), token.to_owned()))?;
        (hit.request == request).then(|| (hit.reply_topic.clone(), hit.reply.clone()))
    }

    /// Remember the reply to a request.
    pub fn insert(
        &mut self,
        topic: &str,
        token: &str,
        request: &[u8],
        reply_topic: &str,
        reply: &[u8],
        now: Instant,
    ) {
        let key = (topic.to_owned(), token.to_owned());
        let entry = Cached {
            request: request.to_vec(),
            reply_topic: reply_topic.to_owned(),
            reply: reply.to_vec(),
            at: now,
        };
        if entry.size() > self.max_bytes {
            return;
        }
        self.bytes += entry.size();
        if let Some(old) = self.map.insert(key.clone(), entry) {
            self.bytes -= old.size();
        }
        self.order.push_back((key, now));
        self.purge(now);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drop expired entries, then the oldest while over a bound.
    fn purge(&mut self, now: Instant) {
        while let Some((key, at)) = self.order.front() {
            let expired = now.saturating_duration_since(*at) >= self.ttl;
            let over = self.map.len() > self.max_entries
                || self.bytes > self.max_bytes
                || self.order.len() > 2 * self.max_entries;
            if !expired && !over {
                break;
            }
            let (key, at) = (key.clone(), *at);
            self.order.pop_front();
            if self.map.get(&key).is_some_and(|c| c.at == at)
                && let Some(old) = self.map.remove(&key)
            {
                self.bytes -= old.size();
            }
        }
    }
}

// ---- notifications -------------------------------------------------------------------

/// Notifications through the broker, at QoS 1 (not retained). The adapter does not know
/// which things are connected: [`Publisher::connected_things`] is `None`.
#[derive(Clone)]
pub struct BrokerPublisher {
    client: AsyncClient,
}

impl Publisher for BrokerPublisher {
    fn publish_to_thing(&self, thing: &str, topic: &str, payload: &[u8]) {
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        {
            warn!(thing, topic, error = %e, "notification dropped: broker queue full");
        }
    }

    fn connected_things(&self) -> Option<Vec<String>> {
        None
    }

    fn is_connected(&self, _thing: &str) -> Option<bool> {
        None
    }
}

impl crate::events::EventSink for BrokerPublisher {
    fn publish_event(&self, topic: &str, payload: &[u8]) {
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        {
            warn!(topic, error = %e, "event dropped: broker queue full");
        }
    }
}

// ---- the adapter ---------------------------------------------------------------------

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn mqtt_options(options: &BrokerOptions) -> MqttOptions {
    let mut o = MqttOptions::new(&options.client_id, &options.host, options.port);
    o.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(KEEP_ALIVE)
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_request_channel_capacity(REQUEST_CHANNEL);
    if let Some(user) = &options.username {
        o.set_credentials(user, options.password.clone().unwrap_or_default());
    }
    o
}

/// Serve devices through the broker for `store`'s account until `shutdown` resolves.
/// `subscribed` is called once, when the first subscription to the request topics is
/// granted. An unreachable broker is retried forever (with backoff); only a broken
/// configuration returns an error.
///
/// Only one node serves a broker at a time ([`LEAD_ROLE`], `Store::try_lead`): the
/// requests must be consumed once, and Mosquitto delivers no `$aws/…` topic to `$share`
/// subscriptions (research note §5.1), so the others stand by, ask again every
/// [`LEAD_RETRY`], and take over when the leader's database connection ends (it died)
/// or it lost the role. Changes committed through any node reach the leader's notifier
/// (PostgreSQL `LISTEN`).
pub async fn run<S: Store + Clone>(
    options: BrokerOptions,
    store: S,
    clock: Arc<dyn Clock>,
    changes: &Changes,
    subscribed: impl FnOnce() + Send,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut subscribed = Some(subscribed);
    let mut standing_by = false;
    loop {
        let lease = tokio::select! {
            () = &mut shutdown => return Ok(()),
            lease = store.try_lead(LEAD_ROLE) => lease,
        };
        match lease {
            Ok(Some(lease)) => {
                info!("leading: this node serves the MQTT broker");
                standing_by = false;
                let ended = serve(
                    &options,
                    store.clone(),
                    clock.clone(),
                    changes,
                    &mut subscribed,
                    shutdown.as_mut(),
                    &*lease,
                )
                .await?;
                if ended == Ended::Shutdown {
                    return Ok(());
                }
                warn!("lost the lead role for the MQTT broker; standing by");
            }
            Ok(None) => {
                if !standing_by {
                    info!("another node serves the MQTT broker; standing by");
                    standing_by = true;
                }
            }
            Err(e) => warn!(error = %e, "cannot ask for the lead role; retrying"),
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(LEAD_RETRY) => {}
        }
    }
}

/// The role a broker-serving node holds (`Store::try_lead`).
pub const LEAD_ROLE: &str = "mqtt-broker";
/// How often a standby node asks for [`LEAD_ROLE`].
pub const LEAD_RETRY: Duration = Duration::from_secs(2);

/// Why [`serve`] returned.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Shutdown,
    LostLead,
}

/// Serve as the leader until `shutdown` resolves or `lease` is no longer held.
async fn serve<S: Store + Clone>(
    options: &BrokerOptions,
    store: S,
    clock: Arc<dyn Clock>,
    changes: &Changes,
    subscribed: &mut Option<impl FnOnce() + Send>,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    lease: &dyn iotjobs_core::Lease,
) -> std::io::Result<Ended> {
    let (client, mut eventloop) = AsyncClient::new(mqtt_options(options), REQUEST_CHANNEL);
    let presigner = crate::presigner_or_none(options.presigner.as_ref());
    let notifier = Arc::new(
        Notifier::new(
            store.clone(),
            clock.clone(),
            BrokerPublisher {
                client: client.clone(),
            },
        )
        .with_presigner(presigner.clone()),
    );
    let notifying = notify_changes(notifier, changes);
    let publishing = options.events.clone().map(|ctx| {
        crate::events::publish_events(
            changes.subscribe_events(),
            ctx,
            BrokerPublisher {
                client: client.clone(),
            },
        )
    });
    let service = Arc::new(JobsService {
        store,
        clock,
        presigner,
    });
    let dedup = Arc::new(Mutex::new(DedupCache::default()));
    let mut workers = Vec::with_capacity(WORKERS);
    let mut worker_tasks = Vec::with_capacity(WORKERS);
    for _ in 0..WORKERS {
        let (tx, mut rx) = mpsc::channel::<Publish>(WORKER_QUEUE);
        let (service, dedup, client) = (service.clone(), dedup.clone(), client.clone());
        worker_tasks.push(tokio::spawn(async move {
            while let Some(publish) = rx.recv().await {
                handle(&service, &dedup, &client, &publish).await;
            }
        }));
        workers.push(tx);
    }

    let addr = format!("{}:{}", options.host, options.port);
    let mut lease_check = tokio::time::interval(Duration::from_secs(1));
    let mut ended = Ended::Shutdown;
    let mut backoff = BACKOFF_MIN;
    loop {
        let event = tokio::select! {
            () = &mut shutdown => break,
            _ = lease_check.tick() => {
                if lease.is_held() {
                    continue;
                }
                ended = Ended::LostLead;
                break;
            }
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = BACKOFF_MIN;
                info!(broker = %addr, client_id = %options.client_id,
                      session_present = ack.session_present, "connected to the MQTT broker");
                let filters = REQUEST_FILTERS
                    .iter()
                    .map(|f| SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce));
                if let Err(e) = client.try_subscribe_many(filters) {
                    warn!(error = %e, "cannot queue the SUBSCRIBE");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let refused = ack
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    .count();
                if refused > 0 {
                    // A broker ACL without iotjobs' rights: nothing would ever arrive.
                    warn!(broker = %addr, refused, "the broker refused subscriptions to the \
                          jobs request topics: check its ACL for iotjobs' user");
                } else {
                    info!(broker = %addr, "subscribed to the jobs request topics");
                    if let Some(f) = subscribed.take() {
                        f();
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                dispatch(&workers, &client, publish);
            }
            Ok(_) => {}
            Err(e) => {
                warn!(broker = %addr, error = %e, retry_in_ms = backoff.as_millis() as u64,
                      "MQTT broker connection lost or refused");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    // Leave the session (kept by the broker: clean session off) with a DISCONNECT.
    if client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(DISCONNECT_GRACE, async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
    notifying.abort();
    if let Some(task) = publishing {
        task.abort();
    }
    for t in worker_tasks {
        t.abort();
    }
    Ok(ended)
}

/// Hand a publish to its thing's worker; acknowledge and drop what is not a request or
/// finds the worker's queue full.
fn dispatch(workers: &[mpsc::Sender<Publish>], client: &AsyncClient, publish: Publish) {
    let Some(thing) = thing_of(&publish.topic).filter(|_| is_request_topic(&publish.topic)) else {
        debug!(topic = %publish.topic, "ignored: not a jobs request topic");
        let _ = client.try_ack(&publish);
        return;
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    thing.hash(&mut h);
    let worker = &workers[(h.finish() % workers.len() as u64) as usize];
    match worker.try_send(publish) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(publish)) => {
            warn!(topic = %publish.topic, "request dropped: too many requests queued");
            let _ = client.try_ack(&publish);
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Run one request (or find its reply in the duplicate cache), publish the reply, then
/// acknowledge the request.
async fn handle<S: Store>(
    service: &JobsService<S>,
    dedup: &Mutex<DedupCache>,
    client: &AsyncClient,
    publish: &Publish,
) {
    let Some(thing) = thing_of(&publish.topic) else {
        return;
    };
    let (topic, payload) = (publish.topic.as_str(), &publish.payload[..]);
    let token = jobs::token_of(payload);
    let cached = token
        .as_deref()
        .and_then(|t| lock(dedup).get(topic, t, payload, Instant::now()));
    let (reply_topic, reply) = match cached {
        Some(reply) => {
            info!(
                thing,
                topic,
                token = token.as_deref().unwrap_or_default(),
                dup = publish.dup,
                "duplicate request: the earlier reply again"
            );
            reply
        }
        None => {
            let (reply_topic, reply) = service.handle(thing, topic, payload).await;
            if let Some(t) = token.as_deref() {
                lock(dedup).insert(topic, t, payload, &reply_topic, &reply, Instant::now());
            }
            (reply_topic, reply)
        }
    };
    if let Err(e) = client
        .publish(reply_topic, QoS::AtLeastOnce, false, reply)
        .await
    {
        warn!(thing, topic, error = %e, "reply dropped: the broker connection is gone");
    }
    let _ = client.ack(publish).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thing_is_the_second_level_of_a_jobs_topic() {
        assert_eq!(thing_of("$aws/things/t1/jobs/get"), Some("t1"));
        assert_eq!(
            thing_of("$aws/things/my:thing_A-1/jobs/job-1/update"),
            Some("my:thing_A-1")
        );
        assert_eq!(thing_of("$aws/things//jobs/get"), None);
        assert_eq!(thing_of("$aws/things/t1/shadow/get"), None);
        assert_eq!(thing_of("$aws/things/t1/jobs"), None);
        assert_eq!(thing_of("$aws/things/t+/jobs/get"), None);
        assert_eq!(thing_of("$aws/things/t#/jobs/get"), None);
        assert_eq!(thing_of("aws/things/t1/jobs/get"), None);
        let long = "x".repeat(129);
        assert_eq!(thing_of(&format!("$aws/things/{long}/jobs/get")), None);
        let max = "x".repeat(128);
        assert_eq!(
            thing_of(&format!("$aws/things/{max}/jobs/get")),
            Some(&max[..])
        );
    }

    #[test]
    fn only_request_topics_are_requests() {
        for t in [
            "$aws/things/t1/jobs/get",
            "$aws/things/t1/jobs/start-next",
            "$aws/things/t1/jobs/$next/get",
            "$aws/things/t1/jobs/job-1/get",
            "$aws/things/t1/jobs/job-1/update",
        ] {
            assert!(is_request_topic(t), "{t}");
        }
        for t in [
            "$aws/things/t1/jobs/get/accepted",
            "$aws/things/t1/jobs/start-next/rejected",
            "$aws/things/t1/jobs/job-1/update/accepted",
            "$aws/things/t1/jobs/$next/get/rejected",
            "$aws/things/t1/jobs/notify",
            "$aws/things/t1/jobs/notify-next",
            "$aws/things/t1/jobs/job-1",
            "$aws/things/t1/shadow/update",
            "$aws/things/t+/jobs/get",
        ] {
            assert!(!is_request_topic(t), "{t}");
        }
        // what the adapter subscribes to matches exactly those shapes
        for f in REQUEST_FILTERS {
            assert!(is_request_topic(&f.replace('+', "x")), "{f}");
        }
    }

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1884"),
            Ok(("127.0.0.1".into(), 1884))
        );
        assert_eq!(
            parse_url("mqtt://broker.local"),
            Ok(("broker.local".into(), 1883))
        );
        assert_eq!(parse_url("mqtt://[::1]:1885/"), Ok(("::1".into(), 1885)));
        assert!(
            parse_url("mqtts://b:8883")
                .unwrap_err()
                .contains("not implemented")
        );
        for bad in [
            "http://b:1883",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://b:0",
            "mqtt://b:x",
            "mqtt://u:p@b:1883",
            "mqtt://b:1883/path",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    const T: &str = "$aws/things/t1/jobs/start-next";

    #[test]
    fn dedup_same_request_same_reply_within_the_window() {
        let mut c = DedupCache::default();
        let t0 = Instant::now();
        let req = br#"{"clientToken":"a"}"#;
        assert_eq!(c.get(T, "a", req, t0), None);
        c.insert(T, "a", req, "r/accepted", b"reply-1", t0);
        assert_eq!(
            c.get(T, "a", req, t0 + Duration::from_secs(60)),
            Some(("r/accepted".into(), b"reply-1".to_vec()))
        );
        // another token, another topic, another payload with the same token: misses
        assert_eq!(c.get(T, "b", req, t0), None);
        assert_eq!(c.get("$aws/things/t2/jobs/start-next", "a", req, t0), None);
        assert_eq!(
            c.get(T, "a", br#"{"clientToken":"a","statusDetails":{}}"#, t0),
            None
        );
        // expired after the TTL
        assert_eq!(c.get(T, "a", req, t0 + DEDUP_TTL), None);
        assert!(c.is_empty());
    }

    #[test]
    fn dedup_replacing_an_entry_keeps_the_newest() {
        let mut c = DedupCache::new(Duration::from_secs(10), 10, 1 << 20);
        let t0 = Instant::now();
        c.insert(T, "a", b"1", "r", b"one", t0);
        c.insert(T, "a", b"2", "r", b"two", t0 + Duration::from_secs(5));
        assert_eq!(c.get(T, "a", b"1", t0), None);
        // the first insertion expires; the replacement does not go with it
        let later = t0 + Duration::from_secs(12);
        assert_eq!(
            c.get(T, "a", b"2", later),
            Some(("r".into(), b"two".to_vec()))
        );
        assert_eq!(c.get(T, "a", b"2", t0 + Duration::from_secs(15)), None);
        assert_eq!((c.len(), c.bytes), (0, 0));
    }

    #[test]
    fn dedup_is_bounded_in_entries_and_bytes() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(DEDUP_TTL, 3, 1 << 20);
        for i in 0..5 {
            c.insert(T, &format!("k{i}"), b"q", "r", b"x", t0);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(T, "k0", b"q", t0), None); // the oldest went first
        assert!(c.get(T, "k4", b"q", t0).is_some());

        let mut c = DedupCache::new(DEDUP_TTL, 100, 100);
        c.insert(T, "big", b"q", "r", &[0; 200], t0); // larger than the cache: not kept
        assert!(c.is_empty());
        for i in 0..10 {
            c.insert(T, &format!("k{i}"), b"q", "r", &[0; 30], t0);
        }
        assert!(c.bytes <= 100 && c.len() == 3, "{} {}", c.bytes, c.len());
        assert!(c.get(T, "k9", b"q", t0).is_some());
    }
}
