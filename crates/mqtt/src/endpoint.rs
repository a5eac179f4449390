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

use std::future::Future;
use std::sync::Arc;

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
}

/// Serve MQTT on `listener` until `shutdown` resolves: one task per connection.
/// Plain TCP; the caller has checked that the address is loopback (development mode:
/// the client id is the thing name).
pub async fn serve<H: Handler>(
    _listener: tokio::net::TcpListener,
    _handler: Arc<H>,
    _sessions: Sessions,
    _shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    todo!("implemented with the endpoint")
}

/// The live sessions, shared by the accept loop and whoever publishes notifications.
#[derive(Clone, Default)]
pub struct Sessions {
    #[allow(dead_code)] // filled in by the endpoint implementation
    inner: Arc<()>,
}

impl Sessions {
    /// Deliver `payload` on `topic` to every connection of `thing` that has a matching
    /// subscription (MQTT `+`/`#` filter matching), at QoS min(1, granted).
    pub fn publish_to_thing(&self, _thing: &str, _topic: &str, _payload: &[u8]) {
        todo!("implemented with the endpoint")
    }

    /// The things with at least one connection now.
    pub fn connected_things(&self) -> Vec<String> {
        todo!("implemented with the endpoint")
    }
}
