//! The device side of AWS IoT Jobs over MQTT: devices publish requests on
//! `$aws/things/{thing}/jobs/...` and receive answers and notifications there.
//!
//! - [`endpoint`]: the jobs-only MQTT 3.1.1 and 5 endpoint (sessions, subscriptions,
//!   authorization of topics to the connected thing). It knows MQTT, not Jobs: requests
//!   go to a [`Handler`], notifications come in through [`Sessions::publish_to_thing`].
//!
//! **Architecture invariant:** no store and no Jobs rule here; the data-plane operations
//! are the same functions the HTTP plane calls.

pub mod endpoint;

pub use endpoint::{Handler, Reply, Sessions};
