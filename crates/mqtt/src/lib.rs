//! The device side of AWS IoT Jobs over MQTT: devices publish requests on
//! `$aws/things/{thing}/jobs/...` and receive answers and notifications there.
//!
//! - [`endpoint`]: the jobs-only MQTT 3.1.1 and 5 endpoint (sessions, subscriptions,
//!   authorization of topics to the connected thing). It knows MQTT, not Jobs: requests
//!   go to a [`Handler`], notifications come in through [`Sessions::publish_to_thing`].
//! - [`jobs`]: the Jobs topics and payloads, and the one mapping from typed errors to
//!   MQTT error codes; requests run `iotjobs_core::device`, as the HTTP data plane does.
//! - [`notify`]: `notify` / `notify-next` after committed changes.
//!
//! **Architecture invariant:** no store implementation, no SQL and no Jobs rule here;
//! the data-plane operations are the same functions the HTTP plane calls, and
//! `endpoint` imports nothing of Jobs.

pub mod endpoint;
pub mod jobs;
pub mod notify;

pub use endpoint::{Handler, Reply, Sessions};

use iotjobs_core::{Clock, Store};
use jobs::JobsService;
use notify::Notifier;
use std::future::Future;
use std::sync::Arc;

/// Serve devices over MQTT on `listener` (plain TCP; the caller has checked it is
/// loopback) for `store`'s account, until `shutdown` resolves: requests run the device
/// data-plane operations, and committed changes notify connected devices.
pub async fn run<S: Store + Clone>(
    listener: tokio::net::TcpListener,
    store: S,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let sessions = Sessions::default();
    let notifier = Arc::new(Notifier::new(
        store.clone(),
        clock.clone(),
        sessions.clone(),
    ));
    // The listener runs on the writer's task: hand the things to the notifier's task.
    let (changes, mut changed) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
    store.set_change_listener(Arc::new(move |things: &[String]| {
        let _ = changes.send(things.to_vec());
    }));
    let notifying = {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            while let Some(things) = changed.recv().await {
                notifier.changed(&things).await;
            }
        })
    };
    let device = Arc::new(Device {
        service: JobsService { store, clock },
        notifier,
    });
    let result = endpoint::serve(listener, device, sessions, shutdown).await;
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
}
