//! The device side of AWS IoT Jobs over MQTT: devices publish requests on
//! `$aws/things/{thing}/jobs/...` and receive answers and notifications there.
//!
//! - [`endpoint`]: the jobs-only MQTT 3.1.1 and 5 endpoint (sessions, subscriptions,
//!   authorization of topics to the connected thing). It knows MQTT, not Jobs: requests
//!   go to a [`Handler`], notifications come in through [`Sessions::publish_to_thing`].
//! - [`jobs`]: the Jobs topics and payloads, and the one mapping from typed errors to
//!   MQTT error codes; requests run `iotjobs_core::device`, as the HTTP data plane does.
//! - [`notify`]: `notify` / `notify-next` after committed changes.
//! - [`events`]: Jobs events (`$aws/events/...`) after committed changes, for operators
//!   (`serve --mqtt-events`).
//! - [`broker`]: the other way to reach devices: iotjobs as a client of an existing MQTT
//!   broker (`serve --mqtt-broker`), subscribed to every thing's request topics.
//!
//! **Architecture invariant:** no store implementation, no SQL and no Jobs rule here;
//! the data-plane operations are the same functions the HTTP plane calls, and
//! `endpoint` imports nothing of Jobs.

pub mod broker;
pub mod endpoint;
pub mod events;
pub mod jobs;
pub mod notify;

pub use endpoint::{ConnectRequest, Handler, Identity, Reply, Sessions};
pub use events::EventContext;

use iotjobs_core::presign::{NoPresigner, Presigner};
use iotjobs_core::{ChangeNotice, Clock, JobsEvent, Store, ThingChanged};
use jobs::JobsService;
use notify::Notifier;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A store's committed changes for several consumers (the embedded endpoint and the
/// broker adapter): the store takes one [`iotjobs_core::ChangeListener`], installed here
/// once, and every [`Changes::subscribe`]r gets each batch of changed things, every
/// [`Changes::subscribe_events`]r each commit's Jobs events.
#[derive(Clone, Default)]
pub struct Changes {
    subscribers: Subscribers<Vec<ThingChanged>>,
    event_subscribers: Subscribers<Arc<[JobsEvent]>>,
}

type Subscribers<T> = Arc<Mutex<Vec<mpsc::UnboundedSender<T>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Changes {
    /// Install the store's change listener (replacing any other).
    pub fn install<S: Store>(store: &S) -> Self {
        let changes = Changes::default();
        let (subscribers, event_subscribers) = (
            changes.subscribers.clone(),
            changes.event_subscribers.clone(),
        );
        store.set_change_listener(Arc::new(move |notice: ChangeNotice<'_>| {
            let (things, events) = match notice {
                ChangeNotice::Committed { things, events } => (things, events),
                ChangeNotice::Resync => (&[][..], &[][..]),
            };
            if !things.is_empty() || matches!(notice, ChangeNotice::Resync) {
                lock(&subscribers).retain(|s| s.send(things.to_vec()).is_ok());
            }
            if !events.is_empty() {
                let mut subscribers = lock(&event_subscribers);
                if !subscribers.is_empty() {
                    let events: Arc<[JobsEvent]> = events.into();
                    subscribers.retain(|s| s.send(events.clone()).is_ok());
                }
            }
        }));
        changes
    }

    /// Every batch of changed things from now on (an empty batch: changes may have been
    /// missed).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Vec<ThingChanged>> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.subscribers).push(tx);
        rx
    }

    /// The Jobs events of every commit of this node from now on (nobody subscribes
    /// unless `--mqtt-events` is on, and then events cost nothing more than a channel
    /// send per commit that makes one).
    pub fn subscribe_events(&self) -> mpsc::UnboundedReceiver<Arc<[JobsEvent]>> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.event_subscribers).push(tx);
        rx
    }
}

/// Feed `changes` to `notifier` until the returned task is aborted.
fn notify_changes<S: Store, P: notify::Publisher>(
    notifier: Arc<Notifier<S, P>>,
    changes: &Changes,
) -> tokio::task::JoinHandle<()> {
    // The listener runs on the writer's task: hand the things to the notifier's task.
    let mut changed = changes.subscribe();
    tokio::spawn(async move {
        while let Some(mut things) = changed.recv().await {
            // Take every batch already queued, so that a burst of commits costs one pass
            // per thing (an empty batch, "changes may be missed", stays one on its own).
            if !things.is_empty() {
                while let Ok(more) = changed.try_recv() {
                    if more.is_empty() {
                        notifier.changed(&things).await;
                        things = more;
                        break;
                    }
                    things.extend(more);
                }
                things = coalesce(things);
            }
            notifier.changed(&things).await;
        }
    })
}

/// Several batches as one: one entry per thing, which left the pending list only if it
/// did in every batch (then all the executions that left).
fn coalesce(mut things: Vec<ThingChanged>) -> Vec<ThingChanged> {
    things.sort_by(|a, b| a.thing.cmp(&b.thing));
    let mut out: Vec<ThingChanged> = Vec::with_capacity(things.len());
    for change in things {
        match out.last_mut() {
            Some(last) if last.thing == change.thing => {
                last.left_pending = match (last.left_pending.take(), change.left_pending) {
                    (Some(mut all), Some(more)) => {
                        all.extend(more);
                        Some(all)
                    }
                    _ => None,
                };
            }
            _ => out.push(change),
        }
    }
    out
}

/// The presigner the options name, or one that signs nothing.
fn presigner_or_none(presigner: Option<&Arc<dyn Presigner>>) -> Arc<dyn Presigner> {
    presigner.cloned().unwrap_or_else(|| Arc::new(NoPresigner))
}

/// Checks an operator's MQTT credentials (user name without the `?...` query, password):
/// true if they are an access key id and its secret of an admin or operator key of the
/// served account. The transport stays ignorant of how keys are kept.
pub type OperatorCheck = Arc<dyn Fn(&str, &[u8]) -> bool + Send + Sync>;

/// What the embedded endpoint serves beyond the device topics.
#[derive(Clone, Default)]
pub struct EndpointOptions {
    /// Publish Jobs events to operator connections (`--mqtt-events`).
    pub events: Option<EventContext>,
    /// Who may connect as an operator (with a password); `None`: nobody.
    pub operators: Option<OperatorCheck>,
    /// How often live mutual-TLS device connections have their certificate checked
    /// again; `None`: [`CERTIFICATE_RECHECK`].
    pub certificate_recheck: Option<std::time::Duration>,
    /// The endpoint's live sessions (given, so that the caller can count them).
    pub sessions: Sessions,
    /// Signs the presigned URLs in the job documents devices receive (`--s3-endpoint`);
    /// `None`: placeholders reach devices as written.
    pub presigner: Option<Arc<dyn Presigner>>,
}

/// Serve devices over MQTT on `listener` for `store`'s account, until `shutdown`
/// resolves: requests run the device data-plane operations, and committed changes
/// notify connected devices. With `tls` ([`endpoint::server_config`]), mutual TLS: a
/// device's certificate must be registered, ACTIVE and attached to the thing its client
/// id names; without it, plain TCP (the caller has checked it is loopback) and the
/// client id is the thing.
pub async fn run<S: Store + Clone>(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    store: S,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let changes = Changes::install(&store);
    let options = EndpointOptions::default();
    run_with_changes(listener, tls, store, clock, &changes, &options, shutdown).await
}

/// [`run`] with the store's changes already [`Changes::install`]ed (when the broker
/// adapter runs too), and `options` for events and operators.
pub async fn run_with_changes<S: Store + Clone>(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    store: S,
    clock: Arc<dyn Clock>,
    changes: &Changes,
    options: &EndpointOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let sessions = options.sessions.clone();
    let presigner = presigner_or_none(options.presigner.as_ref());
    let notifier = Arc::new(
        Notifier::new(store.clone(), clock.clone(), sessions.clone())
            .with_presigner(presigner.clone()),
    );
    let notifying = notify_changes(notifier.clone(), changes);
    let publishing = options
        .events
        .clone()
        .map(|ctx| events::publish_events(changes.subscribe_events(), ctx, sessions.clone()));
    let rechecking = tls.is_some().then(|| {
        tokio::spawn(recheck_certificates(
            store.clone(),
            sessions.clone(),
            options.certificate_recheck.unwrap_or(CERTIFICATE_RECHECK),
        ))
    });
    let device = Arc::new(Device {
        service: JobsService {
            store,
            clock,
            presigner,
        },
        notifier,
        operators: options.operators.clone(),
    });
    let result = endpoint::serve(listener, tls, device, sessions, shutdown).await;
    notifying.abort();
    for task in [publishing, rechecking].into_iter().flatten() {
        task.abort();
    }
    result
}

impl events::EventSink for Sessions {
    fn publish_event(&self, topic: &str, payload: &[u8]) {
        self.publish_to_operators(topic, payload);
    }
}

/// The endpoint's [`Handler`]: requests to the service, connections to the notifier.
struct Device<S> {
    service: JobsService<S>,
    notifier: Arc<Notifier<S>>,
    operators: Option<OperatorCheck>,
}

impl<S: Store> Handler for Device<S> {
    async fn request(&self, thing: &str, topic: &str, payload: &[u8]) -> Option<Reply> {
        let (topic, payload) = self.service.handle(thing, topic, payload).await;
        Some(Reply { topic, payload })
    }

    async fn connected(&self, thing: &str) {
        self.notifier.connected(thing).await;
    }

    async fn authenticate(&self, connect: &ConnectRequest<'_>) -> Result<Identity, ()> {
        let client_id = connect.client_id;
        if let Some(password) = connect.password {
            // An operator: its access key as user name and password. (Over mutual TLS
            // its certificate has passed the CA check; it needs no registration.)
            let name = connect.username.unwrap_or(client_id);
            return match &self.operators {
                Some(check) if check(name, password) => Ok(Identity::Operator {
                    name: name.to_owned(),
                }),
                _ => {
                    tracing::info!(client_id, user = name, "MQTT operator connect refused");
                    Err(())
                }
            };
        }
        let Some(der) = connect.peer_certificate else {
            // Plain loopback TCP: the client id is the thing.
            return Ok(Identity::Thing(client_id.to_owned()));
        };
        let id = certificate_id(der);
        if may_connect(&self.service.store, client_id, &id).await? {
            Ok(Identity::Thing(client_id.to_owned()))
        } else {
            Err(())
        }
    }
}

/// Whether certificate `id` may connect as `thing` now (registered, ACTIVE, attached to
/// it: `iotjobs_core::certificate::may_connect`); `Err` when the store cannot tell.
async fn may_connect<S: Store>(store: &S, thing: &str, id: &str) -> Result<bool, ()> {
    let certificate = store.describe_certificate(id).await.map_err(|e| {
        tracing::warn!(certificate_id = id, error = ?e, "MQTT: certificate lookup failed");
    })?;
    let attached = match &certificate {
        Some(_) => is_attached(store, thing, id).await?,
        None => false,
    };
    match iotjobs_core::certificate::may_connect(certificate.as_ref(), attached) {
        Ok(()) => Ok(true),
        Err(why) => {
            tracing::info!(thing, certificate_id = id, reason = ?why, "MQTT: certificate refused");
            Ok(false)
        }
    }
}

/// How often live mutual-TLS connections have their certificate checked again
/// ([`EndpointOptions::certificate_recheck`]'s default). AWS IoT disconnects the devices
/// of a certificate "within a few minutes" of it leaving ACTIVE.
pub const CERTIFICATE_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// Every `every`, check each live device connection's certificate again and close the
/// connections of certificates that are no longer ACTIVE or attached to their thing
/// (UpdateCertificate to INACTIVE or REVOKED, DetachThingPrincipal, DeleteThing...), as
/// AWS IoT does. A periodic check rather than a reaction to the change, so that a change
/// made through any node (PostgreSQL) is seen; it costs two indexed reads per live
/// (thing, certificate) pair per period.
async fn recheck_certificates<S: Store>(store: S, sessions: Sessions, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        for (thing, fingerprint) in sessions.certified_devices() {
            let id: String = fingerprint.iter().map(|b| format!("{b:02x}")).collect();
            if may_connect(&store, &thing, &id).await == Ok(false) {
                let closed = sessions.close_devices_where(&thing, &fingerprint);
                tracing::info!(
                    thing,
                    certificate_id = id,
                    closed,
                    "MQTT: certificate no longer valid; connections closed"
                );
            }
        }
    }
}

/// A certificate's id in the registry: the lowercase hex SHA-256 of its DER.
fn certificate_id(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether certificate `id` is attached to `thing` (an unknown thing: no).
async fn is_attached<S: Store>(store: &S, thing: &str, id: &str) -> Result<bool, ()> {
    let mut page = iotjobs_core::PageRequest {
        after: None,
        limit: 250,
    };
    loop {
        let principals = match store.list_thing_principals(thing, page.clone()).await {
            Ok(p) => p,
            Err(iotjobs_core::JobsError::NotFound(_)) => return Ok(false),
            Err(e) => {
                tracing::warn!(thing, error = ?e, "MQTT connect: principal lookup failed");
                return Err(());
            }
        };
        if principals.items.iter().any(|p| p == id) {
            return Ok(true);
        }
        match principals.next {
            Some(next) => page.after = Some(next),
            None => return Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use iotjobs_core::ThingChanged;

    #[test]
    fn batches_coalesce_per_thing() {
        let left = |thing: &str, job: &str| ThingChanged {
            thing: thing.into(),
            left_pending: Some(vec![(job.into(), 1)]),
        };
        let merged = super::coalesce(vec![
            left("t2", "j1"),
            left("t1", "j1"),
            ThingChanged::unknown("t3"),
            left("t2", "j2"),
            left("t3", "j1"),
        ]);
        assert_eq!(
            merged,
            vec![
                left("t1", "j1"),
                ThingChanged {
                    thing: "t2".into(),
                    left_pending: Some(vec![("j1".into(), 1), ("j2".into(), 1)]),
                },
                ThingChanged::unknown("t3"),
            ]
        );
    }

    #[test]
    fn certificate_id_is_hex_sha256_of_the_der() {
        assert_eq!(
            super::certificate_id(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
