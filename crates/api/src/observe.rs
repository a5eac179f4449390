//! Operability at the edge: `GET /health` and `GET /health/live`, Prometheus
//! `GET /metrics`, and what the request log line needs. These paths are iotjobs' own
//! (no AWS operation lives there) and are served without authentication, as load
//! balancers and Prometheus scrape them; they reveal counts, never resources.
//!
//! - liveness (`/health/live`): the process answers HTTP.
//! - readiness (`/health`): every account's store answers a read within
//!   [`READY_TIMEOUT`]; otherwise 503, so a load balancer stops sending traffic.
//! - metrics: requests by operation and status, latency histograms by operation, open
//!   HTTP connections, executions by status (summed job counters), store commits and
//!   the writes they carried, the SQLite WAL size, and gauges the binary adds (MQTT
//!   sessions).
//!
//! Nothing here decides a Jobs rule or touches SQL: counts come through the `Store`.

use crate::app::App;
use iotjobs_core::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Liveness and readiness.
pub const HEALTH_PATH: &str = "/health";
pub const LIVE_PATH: &str = "/health/live";
pub const METRICS_PATH: &str = "/metrics";

/// How long a store may take to answer the readiness read.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// A gauge the binary adds to `/metrics` (name, help, current value), e.g. MQTT sessions.
pub type ExtraGauge = (
    &'static str,
    &'static str,
    Arc<dyn Fn() -> i64 + Send + Sync>,
);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabel {
    account: String,
}

/// The request metrics, recorded as requests end.
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabel, Histogram>,
    extra: Vec<ExtraGauge>,
}

impl Metrics {
    pub fn new(extra: Vec<ExtraGauge>) -> Self {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                // 0.5 ms to ~8 s, doubling: a cancel is about a millisecond here, a
                // CancelJob of a large job seconds.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.0005, 2.0, 15,
                ))
            }),
            extra,
        }
    }

    /// One answered request. `operation`: the AWS operation, or what the path was
    /// (`health`, `metrics`, `audit`, `unknown`) when it named none.
    pub fn record(&self, operation: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabel {
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// Open HTTP connections (the listener counts them; see `listener::open_connections`).
pub fn connections_gauge(open: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(open).unwrap_or(i64::MAX));
    g
}

/// `/metrics`: the Prometheus text exposition, with the gauges read now.
pub async fn metrics<S: Store>(
    metrics: &Metrics,
    apps: &[&Arc<App<S>>],
    open_connections: u64,
) -> String {
    let mut registry = Registry::with_prefix("iotjobs");
    registry.register(
        "requests",
        "HTTP requests answered, by operation and status",
        metrics.requests.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Time from the request's headers to its answer, by operation",
        metrics.latency.clone(),
    );
    registry.register(
        "http_connections",
        "Open HTTP connections",
        connections_gauge(open_connections),
    );
    let executions = Family::<StatusLabel, Gauge>::default();
    let batches = Family::<AccountLabel, Counter<u64, AtomicU64>>::default();
    let writes = Family::<AccountLabel, Counter<u64, AtomicU64>>::default();
    let wal = Family::<AccountLabel, Gauge>::default();
    for app in apps {
        let account = AccountLabel {
            account: app.config.account_id.clone(),
        };
        if let Ok(Ok(c)) = tokio::time::timeout(READY_TIMEOUT, app.store.count_executions()).await {
            for (status, n) in [
                ("QUEUED", c.queued),
                ("IN_PROGRESS", c.in_progress),
                ("SUCCEEDED", c.succeeded),
                ("FAILED", c.failed),
                ("TIMED_OUT", c.timed_out),
                ("REJECTED", c.rejected),
                ("REMOVED", c.removed),
                ("CANCELED", c.canceled),
            ] {
                executions.get_or_create(&StatusLabel { status }).inc_by(n);
            }
        }
        let stats = app.store.stats();
        batches.get_or_create(&account).inc_by(stats.commit_batches);
        writes
            .get_or_create(&account)
            .inc_by(stats.committed_writes);
        if let Some(bytes) = stats.wal_bytes {
            wal.get_or_create(&account)
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }
    registry.register(
        "executions",
        "Job executions by status, over every job of every account",
        executions,
    );
    registry.register(
        "store_commits",
        "Write transactions committed (SQLite: group commits), by account",
        batches,
    );
    registry.register(
        "store_committed_writes",
        "Writes those transactions carried; writes/commits is the mean group-commit batch size",
        writes,
    );
    registry.register(
        "sqlite_wal_bytes",
        "Size of the SQLite write-ahead log, by account",
        wal,
    );
    for (name, help, value) in &metrics.extra {
        let g = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        g.set(value());
        registry.register(*name, *help, g);
    }
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// `/health`: `(200, {"status":"ok"})` when every store answers a read in time, else
/// `(503, {"status":"unavailable","accounts":{account: reason}})`.
pub async fn readiness<S: Store>(apps: &[&Arc<App<S>>]) -> (u16, Value) {
    let mut failing = serde_json::Map::new();
    for app in apps {
        // Any indexed read will do: it proves the store's connection (pool) answers.
        let read = app.store.describe_job("iotjobs-health-check");
        match tokio::time::timeout(READY_TIMEOUT, read).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                failing.insert(app.config.account_id.clone(), json!(e.to_string()));
            }
            Err(_) => {
                failing.insert(
                    app.config.account_id.clone(),
                    json!(format!("no answer within {READY_TIMEOUT:?}")),
                );
            }
        }
    }
    if failing.is_empty() {
        (200, json!({"status": "ok"}))
    } else {
        (503, json!({"status": "unavailable", "accounts": failing}))
    }
}

/// What the request log line names, filled in as the request is understood (an
/// extension of the request, read back when it is answered).
#[derive(Debug, Default)]
pub struct RequestInfo {
    pub operation: OnceLock<&'static str>,
    pub account: OnceLock<String>,
}
