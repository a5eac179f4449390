//! Time as the domain sees it: milliseconds since the Unix epoch, passed in by the
//! caller. Only [`SystemClock`] reads the real clock; the rules never do.

use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch.
///
/// Milliseconds, because the control plane reports timestamps as epoch seconds with a
/// millisecond fraction (e.g. `1486687079.743`, as in the AWS CLI docs) while the data
/// plane reports whole seconds; both are derived from this one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// Epoch seconds with a millisecond fraction: the control plane's `timestamp` shape.
    pub fn epoch_seconds_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    /// Whole epoch seconds: the data plane's `long` time members.
    pub const fn epoch_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub const fn plus_minutes(self, minutes: i64) -> Self {
        Timestamp(self.0.saturating_add(minutes.saturating_mul(60_000)))
    }
}

/// Where "now" comes from. Injected so that timeouts can be tested without waiting.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(AtomicI64::new(start.0))
    }
    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}
