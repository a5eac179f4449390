//! The device side of AWS IoT Jobs over MQTT: devices publish requests on
//! `$aws/things/{thing}/jobs/...` and receive answers and notifications there.
//!
//! - [`endpoint`]: the jobs-only MQTT 3.1.1 and 5 endpoint (sessions, subscriptions,
//!   authorization of topics to the connected thing). It knows MQTT, not Jobs: requests
//!   go to a [`Handler`], notifications come in through [`Sessions::publish_to_thing`].
//! - [`jobs`]: the Jobs topics and payloads, and the one mapping from typed errors to
//!   MQTT error codes; requests run `iotjobs_core::device`, as the HTTP data plane does.
//! - [`notify`]: `notify` / `notify-next` after committed changes.
//! - [`broker`]: the other way to reach devices: iotjobs as a client of an existing MQTT
//!   broker (`serve --mqtt-broker`), subscribed to every thing's request topics.
//!
//! **Architecture invariant:** no store implementation, no SQL and no Jobs rule here;
//! the data-plane operations are the same functions the HTTP plane calls, and
//! `endpoint` imports nothing of Jobs.

pub mod broker;
pub mod endpoint;
pub mod jobs;
pub mod notify;

pub use endpoint::{Handler, Reply, Sessions};

use iotjobs_core::{Clock, Store, ThingChanged};
use jobs::JobsService;
use notify::Notifier;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A store's committed changes for several consumers (the embedded endpoint and the
/// broker adapter): the store takes one [`iotjobs_core::ChangeListener`], installed here
/// once, and every [`Changes::subscribe`]r gets each batch of changed things.
#[derive(Clone, Default)]
pub struct Changes {
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Vec<ThingChanged>>>>>,
}

impl Changes {
    /// Install the store's change listener (replacing any other).
    pub fn install<S: Store>(store: &S) -> Self {
        let changes = Changes::default();
        let subscribers = changes.subscribers.clone();
        store.set_change_listener(Arc::new(move |things: &[ThingChanged]| {
            let mut subscribers = subscribers.lock().unwrap_or_else(|e| e.into_inner());
            subscribers.retain(|s| s.send(things.to_vec()).is_ok());
        }));
        changes
    }

    /// Every batch of changed things from now on (an empty batch: changes may have been
    /// missed).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Vec<ThingChanged>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
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
    run_with_changes(listener, tls, store, clock, &changes, shutdown).await
}

/// [`run`] with the store's changes already [`Changes::install`]ed (when the broker
/// adapter runs too).
pub async fn run_with_changes<S: Store + Clone>(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    store: S,
    clock: Arc<dyn Clock>,
    changes: &Changes,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let sessions = Sessions::default();
    let notifier = Arc::new(Notifier::new(
        store.clone(),
        clock.clone(),
        sessions.clone(),
    ));
    let notifying = notify_changes(notifier.clone(), changes);
    let device = Arc::new(Device {
        service: JobsService { store, clock },
        notifier,
    });
    let result = endpoint::serve(listener, tls, device, sessions, shutdown).await;
    notifying.abort();
    result
}

/// The endpoint's [`Handler`]: requests to the service, connections to the notifier.
struct Device<S> {
    service: JobsService<S>,
    notifier: Arc<Notifier<S>>,
}

impl<S: Store> Handler for Device<S> {
    async fn request(&self, thing: &str, topic: &str, payload: &[u8]) -> Option<Reply> {
        let (topic, payload) = self.service.handle(thing, topic, payload).await;
        Some(Reply { topic, payload })
    }

    async fn connected(&self, thing: &str) {
        self.notifier.connected(thing).await;
    }

    async fn authenticate(
        &self,
        client_id: &str,
        peer_certificate: Option<&[u8]>,
    ) -> Result<String, ()> {
        let Some(der) = peer_certificate else {
            // Plain loopback TCP: the client id is the thing.
            return Ok(client_id.to_owned());
        };
        let id = certificate_id(der);
        let store = &self.service.store;
        let certificate = store.describe_certificate(&id).await.map_err(|e| {
            tracing::warn!(certificate_id = id, error = ?e, "MQTT connect: certificate lookup failed");
        })?;
        let attached = match &certificate {
            Some(_) => is_attached(store, client_id, &id).await?,
            None => false,
        };
        match iotjobs_core::certificate::may_connect(certificate.as_ref(), attached) {
            Ok(()) => Ok(client_id.to_owned()),
            Err(why) => {
                tracing::info!(client_id, certificate_id = id, reason = ?why, "MQTT connect refused");
                Err(())
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
