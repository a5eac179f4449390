//! The live connections and whom to shed when a newcomer finds every slot taken.
//!
//! Each connection records what the listener can see of it (requests in flight, when it
//! was last active) and what only the server knows, reported through the
//! [`Admission`] each request carries: whether the request has proved its signature.
//! That splits connections into those whose client has shown it holds a secret and
//! those that have not, which a client knowing nothing but an access key id (or
//! nothing at all) can open by the thousand. A newcomer therefore takes the slot of,
//! in this order:
//!
//! 1. a connection that has never proved a signature, including one whose request is
//!    still waiting for its body (the signature needs the body, so such a request holds
//!    nothing yet): the one idle longest first;
//! 2. an idle connection that has proved one (an SDK's kept-alive connection), idle
//!    longest first;
//!
//! where "idle" counts from the last byte received or the last request begun or ended, so
//! a stalled upload ages like an idle connection while a steady one stays fresh.
//! and never a connection with a verified request in flight, nor one that has proved a
//! signature and has a request in flight. Newcomers are the most recently active, so they
//! are chosen last and get their turn to send a request. nginx reuses its oldest idle
//! connections the same way; the split by proof is what keeps an unauthenticated flood
//! from holding the slots while it keeps requests "in flight".
//!
//! This module decides whom to ask; the connection task (`super::Connection`) and the
//! request (through [`Admission::evicted`]) decide how to leave. It knows nothing of
//! HTTP or AWS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// The live connections, so that one can be asked to close.
#[derive(Default)]
pub(super) struct Registry {
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
    epoch: OnceInstant,
}

/// `Instant::now()` at first use, as a base for millisecond timestamps in atomics.
struct OnceInstant(Instant);

impl Default for OnceInstant {
    fn default() -> Self {
        OnceInstant(Instant::now())
    }
}

/// What the registry knows of one connection.
pub(super) struct Activity {
    /// Requests in flight (polled by hyper, response not yet produced).
    in_flight: AtomicUsize,
    /// Of those, the ones that proved their signature ([`Admission::verified`]).
    verified_in_flight: AtomicUsize,
    /// Some request on this connection proved its signature.
    proven: AtomicBool,
    /// When bytes last arrived, a request last started or ended, or the connection
    /// opened (ms since `epoch`).
    last_active_ms: AtomicU64,
    epoch: Instant,
    /// Set when the connection has been asked to close.
    shedding: AtomicBool,
    shed: Notify,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let activity = Activity {
            in_flight: AtomicUsize::new(0),
            verified_in_flight: AtomicUsize::new(0),
            proven: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(0),
            epoch,
            shedding: AtomicBool::new(false),
            shed: Notify::new(),
        };
        activity.touch();
        activity
    }

    /// Something happened on the connection (bytes arrived, a request began or ended).
    pub(super) fn touch(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.store(now, Ordering::Release);
    }

    /// Requests in flight on this connection.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Resolves once the connection has been asked to close (at once if it already has).
    pub(super) async fn shed_requested(&self) {
        loop {
            let notified = self.shed.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a request made in between is seen.
            notified.as_mut().enable();
            if self.shedding.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// The order in which connections are asked to close (lowest first), or `None` when
    /// this one must not be: see the module documentation.
    fn shed_rank(&self) -> Option<(u8, u64)> {
        if self.shedding.load(Ordering::Acquire)
            || self.verified_in_flight.load(Ordering::Acquire) > 0
        {
            return None;
        }
        let idle_since = self.last_active_ms.load(Ordering::Acquire);
        if !self.proven.load(Ordering::Acquire) {
            Some((0, idle_since))
        } else if self.in_flight() == 0 {
            Some((1, idle_since))
        } else {
            None
        }
    }
}

impl Registry {
    pub(super) fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(self.epoch.0));
        if let Ok(mut map) = self.connections.lock() {
            map.insert(id, activity.clone());
        }
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        Registration {
            registry: self.clone(),
            id,
            activity,
        }
    }

    /// Ask the first connection in shedding order to close. O(connections), and only
    /// when a client waits at the cap.
    pub(super) fn shed_one(&self) {
        let Ok(map) = self.connections.lock() else {
            return;
        };
        let victim = map
            .values()
            .filter_map(|a| Some((a.shed_rank()?, a)))
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, a)| a);
        if let Some(victim) = victim {
            victim.shedding.store(true, Ordering::Release);
            victim.shed.notify_waiters();
        }
    }
}

/// A connection's entry in the registry, removed when dropped.
pub(super) struct Registration {
    registry: Arc<Registry>,
    id: u64,
    pub(super) activity: Arc<Activity>,
}

impl Registration {
    /// A request's [`Admission`], to put in its extensions.
    pub(super) fn admission(&self) -> Admission {
        Admission {
            activity: self.activity.clone(),
            verified: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.connections.lock() {
            map.remove(&self.id);
        }
        OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Connections open now, in every listener of the process (a process-wide gauge for
/// `/metrics`).
static OPEN_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// HTTP connections open now.
pub fn open_connections() -> u64 {
    OPEN_CONNECTIONS.load(Ordering::Relaxed)
}

/// In every request's extensions (put there by the listener): the server reports through
/// it that the request proved its signature, and learns through it that the connection
/// is asked to make room while the request has not.
#[derive(Clone)]
pub struct Admission {
    activity: Arc<Activity>,
    verified: Arc<AtomicBool>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("verified", &self.verified.load(Ordering::Acquire))
            .finish()
    }
}

impl Admission {
    /// The request proved its signature (or, with verification off, needs none): while
    /// it runs its connection is not shed, and once idle it is shed only after every
    /// connection that never proved one.
    pub fn verified(&self) {
        if !self.verified.swap(true, Ordering::AcqRel) {
            self.activity
                .verified_in_flight
                .fetch_add(1, Ordering::AcqRel);
            self.activity.proven.store(true, Ordering::Release);
        }
    }

    /// Resolves when the connection is asked to make room while this request has not
    /// proved its signature; never once it has. The server then stops waiting for the
    /// body and answers, so that the slot frees at once.
    pub async fn evicted(&self) {
        if self.verified.load(Ordering::Acquire) {
            return std::future::pending().await;
        }
        self.activity.shed_requested().await;
    }
}

/// Counts a request in flight until dropped.
pub(super) struct InFlight {
    registration: Arc<Registration>,
    admission: Admission,
}

impl InFlight {
    pub(super) fn enter(registration: &Arc<Registration>, admission: Admission) -> Self {
        registration
            .activity
            .in_flight
            .fetch_add(1, Ordering::AcqRel);
        registration.activity.touch();
        InFlight {
            registration: registration.clone(),
            admission,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.registration.activity;
        if self.admission.verified.load(Ordering::Acquire) {
            activity.verified_in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        activity.touch();
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which of `connections` `shed_one` asks to close, by index.
    fn shed_order(registry: &Arc<Registry>, connections: &[Registration]) -> Vec<usize> {
        let mut order = Vec::new();
        for _ in 0..connections.len() {
            registry.shed_one();
            let chosen: Vec<usize> = connections
                .iter()
                .enumerate()
                .filter(|(i, c)| c.activity.shedding.load(Ordering::Acquire) && !order.contains(i))
                .map(|(i, _)| i)
                .collect();
            match chosen[..] {
                [] => break,
                [i] => order.push(i),
                _ => panic!("more than one connection asked at once: {chosen:?}"),
            }
        }
        order
    }

    #[test]
    fn unproven_connections_go_first_and_verified_requests_never() {
        let registry = Arc::new(Registry::default());
        let conns: Vec<Registration> = (0..5).map(|_| registry.register()).collect();
        // Ages set by hand: connection 0 was active longest ago, 4 most recently.
        for (i, c) in conns.iter().enumerate() {
            c.activity
                .last_active_ms
                .store(10 + i as u64 * 10, Ordering::Release);
        }
        // 0: proved a signature once, now idle (oldest of all).
        conns[0].activity.proven.store(true, Ordering::Release);
        // 1: an unverified request waiting for its body.
        conns[1].activity.in_flight.store(1, Ordering::Release);
        // 2: a verified request in flight: never shed.
        conns[2].activity.proven.store(true, Ordering::Release);
        conns[2].activity.in_flight.store(1, Ordering::Release);
        conns[2]
            .activity
            .verified_in_flight
            .store(1, Ordering::Release);
        // 3: proved, with a new request still unverified: not shed either.
        conns[3].activity.proven.store(true, Ordering::Release);
        conns[3].activity.in_flight.store(1, Ordering::Release);
        // 4: a newcomer that has sent nothing yet (the most recent).
        assert_eq!(shed_order(&registry, &conns), vec![1, 4, 0]);
    }

    #[tokio::test]
    async fn an_unverified_request_learns_of_its_eviction_and_a_verified_one_does_not() {
        let registry = Arc::new(Registry::default());
        let conn = Arc::new(registry.register());
        let waiting = conn.admission();
        let _guard = InFlight::enter(&conn, waiting.clone());
        registry.shed_one();
        // Resolves at once: the flag is set.
        waiting.evicted().await;
        let verified = conn.admission();
        verified.verified();
        let evicted = futures_util::FutureExt::now_or_never(verified.evicted());
        assert!(evicted.is_none());
    }
}
