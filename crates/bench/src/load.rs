//! The load generator: C workers on a shared hyper 1 keep-alive pool, each taking the
//! next (thing, job) pair from a shared atomic index and sending one SigV4-signed
//! CancelJobExecution for it.

use crate::seed::{Layout, job_id, thing_name};
use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

const BODY: &[u8] = b"{}";
/// Error descriptions kept per run (the count is always exact).
const KEEP_ERRORS: usize = 5;

/// Signs requests as the AWS SDK would for service `iot` (access key `test`/`test`).
pub struct Signer {
    identity: Identity,
}

impl Signer {
    pub fn new() -> Self {
        Signer {
            identity: Credentials::new("test", "test", None, None, "iotjobs-bench").into(),
        }
    }

    /// A signed `PUT /things/{thing}/jobs/{job}/cancel` with body `{}`.
    pub fn cancel_request(
        &self,
        authority: &str,
        thing: &str,
        job: &str,
        now: SystemTime,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let path = format!("/things/{thing}/jobs/{job}/cancel");
        self.request(
            &Method::PUT,
            authority,
            &path,
            Bytes::from_static(BODY),
            now,
        )
    }

    /// Any signed JSON request (`content-type: application/json`), as the SDK signs it.
    pub fn request(
        &self,
        method: &Method,
        authority: &str,
        path_and_query: &str,
        body: Bytes,
        now: SystemTime,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let uri = format!("http://{authority}{path_and_query}");
        let mut req = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))?;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region("us-east-1")
            .name("iot")
            .time(now)
            .settings(SigningSettings::default())
            .build()?
            .into();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| Ok((k.as_str(), v.to_str()?)))
            .collect::<Result<Vec<_>, http::header::ToStrError>>()?;
        let signable = SignableRequest::new(
            method.as_str(),
            &uri,
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(&mut req);
        Ok(req)
    }
}

/// Microseconds one signature costs on this machine (single thread).
pub fn signing_cost_micros(n: u32) -> anyhow::Result<f64> {
    let signer = Signer::new();
    let now = SystemTime::now();
    let start = Instant::now();
    for i in 0..n {
        let req = signer.cancel_request("127.0.0.1:8080", &format!("t{i}"), "j1", now)?;
        std::hint::black_box(req);
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(n.max(1)))
}

pub struct Client {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    authority: String,
    signer: Signer,
}

impl Client {
    pub fn new(addr: SocketAddr) -> anyhow::Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::MAX)
            .pool_idle_timeout(Duration::from_secs(300))
            .build(connector);
        Ok(Client {
            http,
            authority: addr.to_string(),
            signer: Signer::new(),
        })
    }
}

/// One run: how many requests, how long, and each successful request's latency.
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    pub elapsed: Duration,
    /// Latencies of the 200 responses, microseconds, sorted.
    latencies_us: Vec<u32>,
}

impl LoadResult {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile in milliseconds (0 when nothing succeeded).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us
            .last()
            .map_or(0.0, |&v| f64::from(v) / 1000.0)
    }

    /// Runs made at the same time (against several nodes) as one: their requests and
    /// latencies together, over the longest run's time.
    pub fn merge(results: Vec<LoadResult>) -> LoadResult {
        let mut all = LoadResult {
            requests: 0,
            errors: 0,
            first_errors: Vec::new(),
            elapsed: Duration::ZERO,
            latencies_us: Vec::new(),
        };
        for r in results {
            all.requests += r.requests;
            all.errors += r.errors;
            all.first_errors.extend(r.first_errors);
            all.elapsed = all.elapsed.max(r.elapsed);
            all.latencies_us.extend(r.latencies_us);
        }
        all.latencies_us.sort_unstable();
        all
    }
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_errors: Vec<String>,
}

/// Cancel pairs `first..first + count` of `layout` with `concurrency` workers.
/// Latency is timed from handing the signed request to the client until the response
/// body is read (signing is measured separately by [`signing_cost_micros`]).
pub async fn run(
    client: &Arc<Client>,
    layout: &Layout,
    first: u64,
    count: u64,
    concurrency: usize,
) -> LoadResult {
    run_until(client, layout, first, count, concurrency, None, None).await
}

/// [`run`], stopping early once `deadline` has passed (workers take no new pair after
/// it), and counting answered requests in `answered` as they come. `requests` of the
/// result is then the number actually sent.
pub async fn run_until(
    client: &Arc<Client>,
    layout: &Layout,
    first: u64,
    count: u64,
    concurrency: usize,
    deadline: Option<Instant>,
    answered: Option<Arc<AtomicU64>>,
) -> LoadResult {
    let next = Arc::new(AtomicU64::new(first));
    let end = first + count;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let next = next.clone();
        let layout = *layout;
        let answered = answered.clone();
        tasks.spawn(async move {
            let mut out = WorkerResult {
                latencies_us: Vec::with_capacity((count as usize / concurrency.max(1)) + 16),
                ..WorkerResult::default()
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let (t, j) = layout.pair(i);
                let (thing, job) = (thing_name(t), job_id(j));
                match one_cancel(&client, &thing, &job).await {
                    Ok(us) => out.latencies_us.push(us),
                    Err(e) => {
                        out.errors += 1;
                        if out.first_errors.len() < KEEP_ERRORS {
                            out.first_errors.push(format!("{thing}/{job}: {e:#}"));
                        }
                    }
                }
                if let Some(a) = &answered {
                    a.fetch_add(1, Ordering::Relaxed);
                }
            }
            out
        });
    }
    let mut latencies_us = Vec::with_capacity(count as usize);
    let mut errors = 0;
    let mut first_errors = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(w) => {
                latencies_us.extend(w.latencies_us);
                errors += w.errors;
                first_errors.extend(w.first_errors);
            }
            Err(e) => {
                errors += 1;
                first_errors.push(format!("worker task failed: {e}"));
            }
        }
    }
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    first_errors.truncate(KEEP_ERRORS);
    // Workers overshoot `end` by one fetch each; what was sent is what was answered.
    let sent = latencies_us.len() as u64 + errors;
    LoadResult {
        requests: if deadline.is_some() { sent } else { count },
        errors,
        first_errors,
        elapsed,
        latencies_us,
    }
}

/// Send one cancel; `Ok(latency µs)` only for a 200.
pub async fn one_cancel(client: &Client, thing: &str, job: &str) -> anyhow::Result<u32> {
    let req = client
        .signer
        .cancel_request(&client.authority, thing, job, SystemTime::now())?;
    let t0 = Instant::now();
    let resp = client.http.request(req).await.context("request")?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .context("reading body")?
        .to_bytes();
    let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
    if status != StatusCode::OK {
        anyhow::bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(us)
}
