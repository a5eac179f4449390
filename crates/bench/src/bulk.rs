//! `iotjobs-bench bulk`: job-wide operations over one huge static thing group (issue 15,
//! "bulk"): CreateJob targeting a group of N things, CancelJob `--force` and DeleteJob
//! `--force` of such a job, each timed end to end over signed HTTP against the real
//! server, while other clients keep sending small signed requests whose latency is
//! reported, and the server's memory is sampled.
//!
//! Seeding: the group and its things are written straight into a fresh SQLite file. The
//! store API creates the schema (the bench's own build's, so the server binary must
//! accept it: see `--server-bin` in docs/benchmarks.md), the groups and one thing of
//! each; SQL then copies that thing's row and membership N times, which takes seconds
//! instead of the minutes of a million store transactions.
//!
//! Per run, on a fresh copy of the seeded file, with the server's durable default
//! (`synchronous=FULL`):
//! - `bulk-create`: CreateJob `bulk-1` targeting the group; timed until DescribeJob
//!   counts N QUEUED executions (CreateJob creates them all before it answers, so that
//!   is the call itself plus one read);
//! - `bulk-cancel`: CancelJob `bulk-1` with force; timed until DescribeJob counts N
//!   CANCELED executions;
//! - `bulk-delete`: CreateJob `bulk-2` (not timed as a phase: printed as a second create),
//!   then DeleteJob `bulk-2` with force; timed until DescribeJob answers 404 (the sweep
//!   purges the executions, then the job).
//!
//! Meanwhile `--side-workers` clients send, each at `--side-rate / side-workers` per
//! second, a signed DescribeJobExecution then a CancelJobExecution of their next
//! execution of a small job (`side-*`, over a second group of `--side-things`), and the
//! bench prints their count, p50, p99 and max.
//!
//! What this module must not do: assert a time (it prints, the reader compares with the
//! targets it prints), or look inside the server beyond /proc.

use crate::{server, stats};
use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Full};
use iotjobs_core::group::NewThingGroup;
use iotjobs_core::{Clock as _, NewThing, Store, SystemClock};
use iotjobs_store::{SqliteOptions, SqliteStore, Synchronous};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

const BULK_GROUP: &str = "bulk";
const SIDE_GROUP: &str = "side";
const ARN_PREFIX: &str = "arn:aws:iot:us-east-1:000000000000";

#[derive(clap::Args)]
pub struct BulkArgs {
    /// Things in the bulk group (executions per bulk job).
    #[arg(long, default_value_t = 1_000_000)]
    things: u64,
    /// Things in the side group (executions of each side job the other clients use).
    #[arg(long, default_value_t = 20_000)]
    side_things: u64,
    /// Concurrent other clients during each bulk operation.
    #[arg(long, default_value_t = 4)]
    side_workers: usize,
    /// Requests per second the other clients send in all (DescribeJobExecution and
    /// CancelJobExecution alternately).
    #[arg(long, default_value_t = 400)]
    side_rate: u64,
    /// Phases to run, in this order.
    #[arg(long, value_delimiter = ',', default_value = "create,cancel,delete")]
    phases: Vec<Phase>,
    /// Runs, each on a fresh copy of the seeded database and a fresh server.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Milliseconds between two DescribeJob polls while waiting for a bulk operation.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Give up waiting for one bulk operation after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// The server binary (default: `iotjobs` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Extra `serve` argument for the server (repeatable), e.g. `--server-arg=--mqtt-listen=127.0.0.1:0`.
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// Where the database goes (default: a new temp dir, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Reuse this seeded database (from an earlier run with `--keep`, same `--things`
    /// and `--side-things`) instead of seeding a new one.
    #[arg(long)]
    seeded: Option<PathBuf>,
    /// Keep the seeded database and the server logs (give `--work-dir` too).
    #[arg(long)]
    keep: bool,
    /// Before each run, wait until the machine's other load is below this (% of one
    /// core); 0 disables.
    #[arg(long, default_value_t = 20.0)]
    quiet_below: f64,
    /// Longest wait for a quiet machine, seconds.
    #[arg(long, default_value_t = 60)]
    quiet_max_wait: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Phase {
    Create,
    Cancel,
    Delete,
}

fn bulk_thing(i: u64) -> String {
    format!("t{i}")
}

fn side_thing(i: u64) -> String {
    format!("s{i}")
}

/// Write `path`: the two groups, `things` members of `bulk`, `side` members of `side`.
pub async fn seed(path: &Path, things: u64, side: u64) -> anyhow::Result<Duration> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let start = Instant::now();
    let now = SystemClock.now();
    {
        let store = SqliteStore::open(
            path,
            SqliteOptions {
                synchronous: Synchronous::Normal,
            },
        )
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
        for (k, (group, first)) in [(BULK_GROUP, bulk_thing(0)), (SIDE_GROUP, side_thing(0))]
            .into_iter()
            .enumerate()
        {
            let new = NewThingGroup {
                group_name: group.into(),
                parent_group_name: None,
                description: None,
                attributes: BTreeMap::new(),
                tags: None,
            };
            store
                .create_thing_group(new, format!("00000000-0000-4000-9000-{k:012}"), now)
                .await
                .map_err(|e| anyhow::anyhow!("create_thing_group {group}: {e}"))?;
            let thing = NewThing {
                thing_name: first.clone(),
                thing_type_name: None,
                attributes: BTreeMap::new(),
                billing_group_name: None,
            };
            store
                .create_thing(thing, format!("00000000-0000-4000-8{k:03}-{:012}", 0), now)
                .await
                .map_err(|e| anyhow::anyhow!("create_thing {first}: {e}"))?;
            store
                .add_thing_to_thing_group(group, &first, now)
                .await
                .map_err(|e| anyhow::anyhow!("add {first} to {group}: {e}"))?;
        }
    }
    // The rest by copying the first thing's row and membership (whatever the schema's
    // other columns are).
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -262_144)?;
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('things')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute_batch("BEGIN")?;
    for (k, (group, prefix, n)) in [(BULK_GROUP, "t", things), (SIDE_GROUP, "s", side)]
        .into_iter()
        .enumerate()
    {
        let select: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "thing_name" => format!("'{prefix}' || n"),
                "thing_id" => format!("printf('00000000-0000-4000-8{k:03}-%012d', n)"),
                other => other.to_owned(),
            })
            .collect();
        let sql = format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1)
             INSERT INTO things ({cols}) SELECT {select} FROM seq, things
             WHERE things.thing_name = '{prefix}0' AND ?1 > 0",
            cols = columns.join(", "),
            select = select.join(", "),
        );
        conn.execute(&sql, [n.saturating_sub(1) as i64])?;
        conn.execute(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1)
             INSERT INTO thing_group_members (group_name, thing_name)
             SELECT ?2, ?3 || n FROM seq WHERE ?1 > 0",
            rusqlite::params![n.saturating_sub(1) as i64, group, prefix],
        )?;
    }
    conn.execute_batch("COMMIT")?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    drop(conn);
    std::fs::File::open(path)?.sync_all()?;
    Ok(start.elapsed())
}

/// Signed requests of any operation (service `iot`, the control plane).
struct Api {
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    authority: String,
    signer: crate::load::Signer,
}

impl Api {
    fn new(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(usize::MAX)
                .build(connector);
        Ok(Api {
            http,
            authority: addr.to_string(),
            signer: crate::load::Signer::new(),
        })
    }

    /// Send one signed request; (status, body, latency).
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: &str,
    ) -> anyhow::Result<(StatusCode, String, Duration)> {
        let req = self.signer.request(
            &method,
            &self.authority,
            path_and_query,
            Bytes::from(body.to_owned()),
            SystemTime::now(),
        )?;
        let t0 = Instant::now();
        let resp = self.http.request(req).await.context("request")?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((
            status,
            String::from_utf8_lossy(&body).into_owned(),
            t0.elapsed(),
        ))
    }

    async fn ok(&self, method: Method, path: &str, body: &str) -> anyhow::Result<String> {
        let (status, text, _) = self.call(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {text}");
        }
        Ok(text)
    }

    async fn create_group_job(&self, job: &str, group: &str) -> anyhow::Result<()> {
        let body = format!(
            r#"{{"targets":["{ARN_PREFIX}:thinggroup/{group}"],"document":"{{\"operation\":\"bulk\"}}","targetSelection":"SNAPSHOT"}}"#
        );
        self.ok(Method::PUT, &format!("/jobs/{job}"), &body).await?;
        Ok(())
    }

    /// DescribeJob's `processDetails` counter `field` (None: 404).
    async fn counter(&self, job: &str, field: &str) -> anyhow::Result<Option<u64>> {
        let (status, text, _) = self.call(Method::GET, &format!("/jobs/{job}"), "").await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            bail!("DescribeJob {job}: HTTP {status}: {text}");
        }
        Ok(Some(json_number(&text, field).unwrap_or(0)))
    }
}

/// The number after `"field":` in a JSON text (enough for DescribeJob's counters).
fn json_number(text: &str, field: &str) -> Option<u64> {
    let key = format!("\"{field}\":");
    let at = text.find(&key)? + key.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// VmRSS and VmHWM of a process, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The other clients' requests during one bulk operation.
#[derive(Default)]
struct SideResult {
    /// Latencies of successful requests, µs.
    latencies_us: Vec<u32>,
    describe_us: Vec<u32>,
    cancel_us: Vec<u32>,
    errors: u64,
    first_errors: Vec<String>,
}

fn pct_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

impl SideResult {
    fn summary(&mut self) -> String {
        for v in [
            &mut self.latencies_us,
            &mut self.describe_us,
            &mut self.cancel_us,
        ] {
            v.sort_unstable();
        }
        let all = &self.latencies_us;
        format!(
            "{} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (DescribeJobExecution p99 {:.2}, CancelJobExecution p99 {:.2} ms), errors {}",
            all.len(),
            pct_ms(all, 0.5),
            pct_ms(all, 0.99),
            all.last().map_or(0.0, |&v| f64::from(v) / 1000.0),
            pct_ms(&self.describe_us, 0.99),
            pct_ms(&self.cancel_us, 0.99),
            self.errors
        )
    }
}

/// Start the other clients: each alternates DescribeJobExecution and CancelJobExecution
/// of the next execution of `job` (over side things), paced to `rate` per second in all.
fn start_side(
    api: &Arc<Api>,
    job: &str,
    things: u64,
    workers: usize,
    rate: u64,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinSet<SideResult> {
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    let per_worker = (rate as f64 / workers.max(1) as f64).max(0.1);
    let interval = Duration::from_secs_f64(1.0 / per_worker);
    for w in 0..workers {
        let (api, stop, next, job) = (api.clone(), stop.clone(), next.clone(), job.to_owned());
        set.spawn(async move {
            let mut out = SideResult::default();
            // Staggered start, so that the workers do not send in lockstep.
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + interval.mul_f64(w as f64 / workers as f64),
                interval,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = None;
            let mut describe = true;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let n = *i.get_or_insert_with(|| next.fetch_add(1, Ordering::Relaxed));
                let thing = side_thing(n % things);
                let (method, path) = if describe {
                    (Method::GET, format!("/things/{thing}/jobs/{job}"))
                } else {
                    (Method::PUT, format!("/things/{thing}/jobs/{job}/cancel"))
                };
                // Once every side execution is canceled, only describe.
                let body = if describe { "" } else { "{}" };
                match api.call(method, &path, body).await {
                    Ok((status, _, took))
                        if status.is_success()
                            || (!describe && status == StatusCode::CONFLICT && n >= things) =>
                    {
                        let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
                        out.latencies_us.push(us);
                        if describe {
                            out.describe_us.push(us);
                        } else {
                            out.cancel_us.push(us);
                        }
                    }
                    Ok((status, text, _)) => {
                        out.errors += 1;
                        if out.first_errors.len() < 3 {
                            out.first_errors
                                .push(format!("{path}: HTTP {status}: {text}"));
                        }
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.first_errors.len() < 3 {
                            out.first_errors.push(format!("{path}: {e:#}"));
                        }
                    }
                }
                if !describe {
                    i = None;
                }
                describe = !describe;
            }
            out
        });
    }
    set
}

async fn stop_side(
    stop: &AtomicBool,
    mut set: tokio::task::JoinSet<SideResult>,
) -> anyhow::Result<SideResult> {
    stop.store(true, Ordering::Relaxed);
    let mut all = SideResult::default();
    while let Some(r) = set.join_next().await {
        let r = r?;
        all.latencies_us.extend(r.latencies_us);
        all.describe_us.extend(r.describe_us);
        all.cancel_us.extend(r.cancel_us);
        all.errors += r.errors;
        all.first_errors.extend(r.first_errors);
    }
    Ok(all)
}

/// Samples the server's VmRSS every 10 ms on a thread of its own; the largest seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(memory_kib(pid).0);
                std::thread::sleep(Duration::from_millis(10));
            }
            peak.max(memory_kib(pid).0)
        });
        RssSampler { stop, handle }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}

/// One timed bulk operation's report line parts.
struct Measured {
    secs: f64,
    call_secs: f64,
    side: SideResult,
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
    usage: stats::Usage,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Measured {
    fn cpu(&self) -> String {
        let u = &self.usage;
        format!(
            "server CPU {:.2} s ({:.0} % of a core), its SQLite writer {:.2} s on a CPU + {:.0} % of the time waiting for one; other processes {:.0} % of a core",
            u.server_pct / 100.0 * self.secs,
            u.server_pct,
            u.writer_cpu_secs,
            u.writer_wait_pct,
            u.other_pct
        )
    }

    fn memory(&self) -> String {
        format!(
            "server RSS before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB, growth {:+.1} MiB (peak - before)",
            mib(self.rss_before),
            mib(self.rss_peak),
            mib(self.rss_after),
            mib(self.rss_peak) - mib(self.rss_before),
        )
    }
}

/// Run `op` (a signed call) with the side clients going, then poll until `done`.
#[allow(clippy::too_many_arguments)]
async fn measure<F, Fut>(
    api: &Arc<Api>,
    args: &BulkArgs,
    pid: u32,
    side_job: &str,
    op: F,
    poll_job: &str,
    done: impl Fn(Option<u64>) -> bool,
    field: &str,
) -> anyhow::Result<Measured>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let side = start_side(
        api,
        side_job,
        args.side_things,
        args.side_workers,
        args.side_rate,
        &stop,
    );
    // Let the side clients reach their pace first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = memory_kib(pid).0;
    let sampler = RssSampler::start(pid);
    let cpu_before = stats::Snapshot::take(pid)?;
    let start = Instant::now();
    op().await?;
    let call_secs = start.elapsed().as_secs_f64();
    let deadline = start + Duration::from_secs(args.timeout);
    loop {
        let value = api.counter(poll_job, field).await?;
        if done(value) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{poll_job}: not done after {} s ({field} = {value:?})",
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let usage = stats::Usage::between(&cpu_before, &stats::Snapshot::take(pid)?);
    let rss_peak = sampler.stop();
    let side = stop_side(&stop, side).await?;
    let rss_after = memory_kib(pid).0;
    Ok(Measured {
        secs,
        call_secs,
        side,
        rss_before,
        rss_peak,
        rss_after,
        usage,
    })
}

pub async fn bulk(args: BulkArgs) -> anyhow::Result<()> {
    if args.things == 0 || args.side_things == 0 {
        bail!("--things and --side-things must be at least 1");
    }
    let server_bin = crate::server_binary(args.server_bin.as_ref())?;
    let (work_dir, _temp) = crate::work_directory(args.work_dir.as_ref(), "iotjobs-bench-bulk-")?;
    let template = match &args.seeded {
        Some(p) => p.clone(),
        None => {
            let t = work_dir.join(format!("seed-bulk-{}.sqlite", args.things));
            eprintln!(
                "seeding {} things in group {BULK_GROUP} and {} in {SIDE_GROUP} into {}",
                args.things,
                args.side_things,
                t.display()
            );
            let took = seed(&t, args.things, args.side_things).await?;
            eprintln!("  seeded in {:.1} s", took.as_secs_f64());
            t
        }
    };
    let n = args.things;
    println!("# Bulk job operations (issue 15)\n");
    println!(
        "- server: `{} serve` (synchronous=FULL, the durable default){}",
        server_bin.display(),
        if args.server_arg.is_empty() {
            String::new()
        } else {
            format!(" {}", args.server_arg.join(" "))
        }
    );
    println!(
        "- {} things in the bulk group; other clients: {} workers, {} req/s in all (signed DescribeJobExecution / CancelJobExecution alternately)",
        stats::thousands(n),
        args.side_workers,
        args.side_rate
    );
    println!(
        "- targets: each bulk operation ≤ 3 s; server RSS growth ≤ 100 MiB; other clients' p99 ≤ 50 ms\n"
    );
    let mut failures = Vec::new();
    for run in 1..=args.repeat.max(1) {
        let db = work_dir.join("run.sqlite");
        crate::copy_db(&template, &db)?;
        let log = work_dir.join(format!("server-{run}.log"));
        if args.quiet_below > 0.0
            && let Some(busy) =
                stats::wait_for_quiet(args.quiet_below, Duration::from_secs(args.quiet_max_wait))
                    .await?
        {
            eprintln!(
                "machine still busy ({busy:.0} % of a core from other processes); running anyway"
            );
        }
        let extra: Vec<&str> = args.server_arg.iter().map(String::as_str).collect();
        let url = format!("sqlite://{}", db.display());
        let srv = server::Server::start_args(&server_bin, &url, &extra, &log).await?;
        let api = Arc::new(Api::new(srv.addr)?);
        let pid = srv.pid;
        println!("## Run {run}\n");
        let (rss0, _) = memory_kib(pid);
        // Warm the client's connections and the server's code paths.
        for _ in 0..4 {
            let _ = api.counter("none", "numberOfQueuedThings").await;
        }
        let mut side_no = 0;
        let mut side_job = |api: Arc<Api>| {
            side_no += 1;
            let job = format!("side-{side_no}");
            async move {
                api.create_group_job(&job, SIDE_GROUP).await?;
                anyhow::Ok(job)
            }
        };
        for phase in &args.phases {
            let side = side_job(api.clone()).await?;
            let m = match phase {
                Phase::Create => {
                    let m = measure(
                        &api,
                        &args,
                        pid,
                        &side,
                        || api.create_group_job("bulk-1", BULK_GROUP),
                        "bulk-1",
                        |v| v == Some(n),
                        "numberOfQueuedThings",
                    )
                    .await?;
                    println!(
                        "bulk-create: {n} executions created in {:.2} s (the call {:.2} s)",
                        m.secs, m.call_secs
                    );
                    m
                }
                Phase::Cancel => {
                    if api
                        .counter("bulk-1", "numberOfQueuedThings")
                        .await?
                        .is_none()
                    {
                        api.create_group_job("bulk-1", BULK_GROUP).await?;
                    }
                    let m = measure(
                        &api,
                        &args,
                        pid,
                        &side,
                        || async {
                            api.ok(Method::PUT, "/jobs/bulk-1/cancel?force=true", "{}")
                                .await
                                .map(drop)
                        },
                        "bulk-1",
                        |v| v == Some(n),
                        "numberOfCanceledThings",
                    )
                    .await?;
                    println!(
                        "bulk-cancel: {n} executions canceled in {:.2} s (the call {:.2} s)",
                        m.secs, m.call_secs
                    );
                    m
                }
                Phase::Delete => {
                    let t0 = Instant::now();
                    api.create_group_job("bulk-2", BULK_GROUP).await?;
                    println!(
                        "bulk-create (bulk-2, no other clients): {n} executions created in {:.2} s",
                        t0.elapsed().as_secs_f64()
                    );
                    let m = measure(
                        &api,
                        &args,
                        pid,
                        &side,
                        || async {
                            api.ok(Method::DELETE, "/jobs/bulk-2?force=true", "")
                                .await
                                .map(drop)
                        },
                        "bulk-2",
                        |v| v.is_none(),
                        "numberOfQueuedThings",
                    )
                    .await?;
                    println!(
                        "bulk-delete: {n} executions deleted in {:.2} s (the call {:.2} s)",
                        m.secs, m.call_secs
                    );
                    m
                }
            };
            let mut m = m;
            println!("  other clients: {}", m.side.summary());
            println!("  {}", m.memory());
            println!("  {}", m.cpu());
            if m.side.errors > 0 {
                failures.push(format!(
                    "run {run} {phase:?}: {} other-client errors; first: {}",
                    m.side.errors,
                    m.side.first_errors.join(" | ")
                ));
            }
        }
        let (rss, hwm) = memory_kib(pid);
        println!(
            "\nserver RSS at start {:.1} MiB, at the end {:.1} MiB, VmHWM {:.1} MiB (growth over the run {:+.1} MiB)\n",
            mib(rss0),
            mib(rss),
            mib(hwm),
            mib(hwm) - mib(rss0)
        );
        drop(api);
        if let Err(e) = srv.stop().await {
            failures.push(format!("run {run}: server did not stop cleanly: {e:#}"));
        }
        if !args.keep {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
        }
    }
    if args.seeded.is_none() && !args.keep {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", template.display()));
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        bail!("{} phase(s) had failed requests", failures.len());
    }
    Ok(())
}
