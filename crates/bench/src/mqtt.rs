//! `iotjobs-bench mqtt`: devices over MQTT (issue 11's goals), against the release
//! server started with `--mqtt-listen 127.0.0.1:0`, SQLite durable default.
//!
//! - **Seed:** D things `t0..t{D-1}` (D = `--devices`), each with exactly one QUEUED
//!   execution: jobs `j{k}` of 100 things each (`j{k}` targets `t{100k}..t{100k+99}`),
//!   written through the store API as `cancel` seeds. Cancelling a thing's only execution
//!   empties its pending list, so the server sends `notify-next` (`{"timestamp"}` alone)
//!   for every cancel.
//! - **Devices:** D raw MQTT 3.1.1 clients on plain tokio `TcpStream`s (client id = thing
//!   name, clean session, keepalive 1200 s): CONNECT, SUBSCRIBE
//!   `$aws/things/{thing}/jobs/notify-next` at QoS 1, then a read loop that timestamps
//!   every PUBLISH, PUBACKs QoS 1, and sends PINGREQ every 600 s. A full MQTT client per
//!   device (rumqttc) is not needed for an idle device and would weigh on this process.
//! - **Runs:** per concurrency, alternately without any device and with all D connected,
//!   each on a fresh copy of the seeded database and a fresh server: 256 unmeasured
//!   cancels, then `--notified` measured cancels (random order, signed HTTP as
//!   `cancel`). With devices, each measured cancel's latency runs from its HTTP 200
//!   arriving to the `notify-next` PUBLISH arriving on that thing's connection (matched
//!   by topic).
//! - **Memory:** the server's VmRSS (`/proc/PID/status`) just after start and after all D
//!   devices are connected and subscribed; the difference divided by D.
//!
//! It prints numbers and asserts nothing about them; it exits non-zero only when a
//! cancel was not answered 200 (the measurement would be void).

use crate::{load, seed, server, stats};
use anyhow::{Context as _, bail};
use bytes::{Buf as _, BytesMut};
use iotjobs_core::{Clock as _, NewThing, Store as _, SystemClock};
use iotjobs_store::{SqliteOptions, SqliteStore, Synchronous};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Things per job (the most a job may target).
const PER_JOB: u64 = 100;
/// Keepalive the devices ask for (what the Device SDK builders use; AWS IoT's maximum).
const KEEP_ALIVE_SECS: u16 = 1200;
/// The longest a device may take to connect and subscribe.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct MqttArgs {
    /// Devices connected (and subscribed to notify-next) in the runs with devices; also
    /// the number of seeded things, each with one QUEUED execution. A multiple of 100.
    #[arg(long, default_value_t = 10_000)]
    devices: u64,
    /// Measured cancels per run (each notifies one connected device in the runs with
    /// devices). Capped at devices minus the warm-up.
    #[arg(long, default_value_t = 2_000)]
    notified: u64,
    /// Concurrent HTTP cancel workers, comma-separated; runs per value.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Unmeasured cancels before the measured ones, per run.
    #[arg(long, default_value_t = 256)]
    warmup: u64,
    /// Pairs of runs (without devices, with devices) per concurrency.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// After the last cancel, how long to wait for notifications still on their way
    /// before counting them missing, seconds.
    #[arg(long, default_value_t = 30)]
    notify_wait: u64,
    /// Devices connecting at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// The server binary (default: `iotjobs` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the databases and server logs go (default: a new temp dir, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Before each run, wait until other processes use less than this % of one core; 0
    /// disables.
    #[arg(long, default_value_t = 20.0)]
    quiet_below: f64,
    /// Longest wait for a quiet machine, seconds.
    #[arg(long, default_value_t = 120)]
    quiet_max_wait: u64,
    /// Keep the seeded database and the server logs.
    #[arg(long)]
    keep: bool,
}

pub async fn mqtt(args: MqttArgs) -> anyhow::Result<()> {
    let d = args.devices;
    if d == 0 || !d.is_multiple_of(PER_JOB) {
        bail!("--devices must be a positive multiple of {PER_JOB}, got {d}");
    }
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency needs values of at least 1");
    }
    let warmup = args.warmup.min(d / 10);
    let measured = args.notified.min(d - warmup);
    if measured == 0 {
        bail!("--notified must be at least 1");
    }
    // Both this process and the server hold one socket per device.
    let (soft, hard) = open_files_limit()?;
    let need = d + 1024;
    if soft < need {
        bail!(
            "the open-files limit is {soft} (hard {hard}); {d} devices need about {need} in \
             this process and in the server: run `ulimit -n 65536` (or at least {need}) first"
        );
    }
    let server_bin = crate::server_binary(args.server_bin.as_ref())?;
    let (work_dir, _temp_guard) =
        crate::work_directory(args.work_dir.as_ref(), "iotjobs-bench-mqtt-")?;
    let mut cleanup = crate::Cleanup {
        paths: Vec::new(),
        keep: args.keep,
    };

    let template = work_dir.join(format!("seed-{d}.sqlite"));
    cleanup.add_db(&template);
    eprintln!("seeding {d} things with one QUEUED execution each");
    let seed_start = Instant::now();
    seed_one_each(&template, d).await?;
    let seed_secs = seed_start.elapsed().as_secs_f64();
    eprintln!("  seeded in {seed_secs:.1} s");

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# Devices over MQTT benchmark\n");
    println!("- machine: {cores} cores (available_parallelism); open-files limit {soft}");
    println!(
        "- seed: {} things, {} jobs of {PER_JOB}, one QUEUED execution per thing ({seed_secs:.1} s)",
        stats::thousands(d),
        stats::thousands(d / PER_JOB)
    );
    println!(
        "- server: `{} serve --mqtt-listen 127.0.0.1:0`, SQLite synchronous=FULL (durable default)",
        server_bin.display()
    );
    println!(
        "- per run: {warmup} unmeasured + {measured} measured cancels, random order; devices: raw \
         MQTT 3.1.1, QoS 1 subscription to notify-next, keepalive {KEEP_ALIVE_SECS} s; client: \
         one tokio current-thread runtime (HTTP load and all devices)"
    );
    println!();

    let order = Order::new(d);
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for &concurrency in &args.concurrency {
        for run in 1..=args.repeat.max(1) {
            for with_devices in [false, true] {
                let tag = format!(
                    "c{concurrency}-r{run}-{}",
                    if with_devices { "devices" } else { "none" }
                );
                let db = work_dir.join(format!("run-{tag}.sqlite"));
                cleanup.add_db(&db);
                crate::copy_db(&template, &db)?;
                let log = work_dir.join(format!("server-{tag}.log"));
                cleanup.paths.push(log.clone());
                eprintln!(
                    "run: concurrency {concurrency}, run {run}, {} devices",
                    if with_devices { d } else { 0 }
                );
                if args.quiet_below > 0.0
                    && let Some(busy) = stats::wait_for_quiet(
                        args.quiet_below,
                        Duration::from_secs(args.quiet_max_wait),
                    )
                    .await?
                {
                    eprintln!(
                        "  machine still busy ({busy:.0} % of a core from other processes); running anyway"
                    );
                }
                let row = one_run(
                    &server_bin,
                    &db,
                    &log,
                    RunSpec {
                        devices: if with_devices { d } else { 0 },
                        concurrency,
                        run,
                        warmup,
                        measured,
                        connect_concurrency: args.connect_concurrency,
                        notify_wait: Duration::from_secs(args.notify_wait),
                    },
                    &order,
                )
                .await;
                cleanup.remove_db(&db);
                let row = row?;
                if row.http.errors > 0 {
                    failures.push(format!(
                        "{tag}: {} cancels failed; first: {}",
                        row.http.errors,
                        row.http.first_errors.join(" | ")
                    ));
                }
                if let Some(e) = &row.stop_error {
                    failures.push(format!("{tag}: server did not stop cleanly: {e}"));
                }
                eprintln!("  {}", row.summary());
                rows.push(row);
            }
        }
    }
    cleanup.remove_db(&template);
    print_report(&rows, d);
    drop(cleanup);
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        bail!("{} run(s) had failed requests", failures.len());
    }
    Ok(())
}

/// The order cancels take over the D things: a fixed pseudo-random permutation.
struct Order {
    n: u64,
    mult: u64,
}

impl Order {
    fn new(n: u64) -> Self {
        let mut mult: u64 = 2_654_435_761;
        while gcd(mult, n) != 1 {
            mult += 2;
        }
        Order { n, mult }
    }

    fn thing(&self, i: u64) -> u64 {
        ((u128::from(self.mult) * u128::from(i) + 12_345) % u128::from(self.n)) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Seed `path`: things `t0..t{n-1}`, jobs `j{k}` targeting `t{100k}..t{100k+99}`.
async fn seed_one_each(path: &Path, n: u64) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = SqliteStore::open(
        path,
        SqliteOptions {
            synchronous: Synchronous::Normal,
        },
    )
    .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    let now = SystemClock.now();
    let s = store.clone();
    seed::bounded(n, 64, move |i| {
        let s = s.clone();
        async move {
            let thing = NewThing {
                thing_name: seed::thing_name(i),
                thing_type_name: None,
                attributes: BTreeMap::new(),
                billing_group_name: None,
            };
            s.create_thing(thing, format!("00000000-0000-4000-8000-{i:012}"), now)
                .await
                .map_err(|e| anyhow::anyhow!("create_thing t{i}: {e}"))?;
            Ok(())
        }
    })
    .await?;
    let s = store.clone();
    seed::bounded(n / PER_JOB, 64, move |k| {
        let s = s.clone();
        async move {
            let target_things: Vec<String> = (k * PER_JOB..(k + 1) * PER_JOB)
                .map(seed::thing_name)
                .collect();
            let job = seed::bench_job(k, target_things);
            s.create_job(job, now)
                .await
                .map_err(|e| anyhow::anyhow!("create_job j{k}: {e}"))?;
            Ok(())
        }
    })
    .await?;
    drop(store);
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

struct RunSpec {
    devices: u64,
    concurrency: usize,
    run: usize,
    warmup: u64,
    measured: u64,
    connect_concurrency: usize,
    notify_wait: Duration,
}

/// One run's numbers.
struct Row {
    devices: u64,
    concurrency: usize,
    run: usize,
    http: HttpResult,
    notify: Option<NotifyResult>,
    usage: stats::Usage,
    /// Server VmRSS, KiB: after start, after the devices connected, after the run.
    rss_start: u64,
    rss_connected: u64,
    rss_end: u64,
    /// This process's VmRSS growth while connecting the devices, KiB.
    client_rss_growth: u64,
    connect_secs: f64,
    stop_error: Option<String>,
}

impl Row {
    fn summary(&self) -> String {
        let mut s = format!(
            "{:.0} req/s, HTTP p50 {:.2} ms p99 {:.2} ms, errors {}",
            self.http.rate(),
            pct_ms(&self.http.latencies_us, 0.50),
            pct_ms(&self.http.latencies_us, 0.99),
            self.http.errors
        );
        if let Some(n) = &self.notify {
            s += &format!(
                "; notify-next p50 {:.2} ms p99 {:.2} ms max {:.2} ms, missing {}; server RSS {} → {} KiB ({:.2} KiB/device), connect {:.1} s",
                pct_ms(&n.latencies_us, 0.50),
                pct_ms(&n.latencies_us, 0.99),
                max_ms(&n.latencies_us),
                n.missing,
                self.rss_start,
                self.rss_connected,
                self.per_device_kib(),
                self.connect_secs
            );
        }
        s
    }

    fn per_device_kib(&self) -> f64 {
        self.rss_connected.saturating_sub(self.rss_start) as f64 / self.devices.max(1) as f64
    }
}

struct HttpResult {
    requests: u64,
    errors: u64,
    first_errors: Vec<String>,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl HttpResult {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct NotifyResult {
    /// From the 200 to the notification, µs, sorted; 0 when it came first.
    latencies_us: Vec<u32>,
    /// Notifications that arrived before the cancel's 200 was read.
    before_200: u64,
    /// Measured cancels whose thing got no notify-next within `--notify-wait`.
    missing: u64,
    /// PUBLISHes that were duplicates or on another topic (over the whole run).
    unexpected: u64,
}

async fn one_run(
    bin: &Path,
    db: &Path,
    log: &Path,
    spec: RunSpec,
    order: &Order,
) -> anyhow::Result<Row> {
    let url = format!("sqlite://{}", db.display());
    let srv = server::Server::start_args(bin, &url, &["--mqtt-listen", "127.0.0.1:0"], log).await?;
    let mqtt_addr = srv
        .mqtt_addr
        .context("the server did not print `mqtt listening on mqtt://…`")?;
    let base = Instant::now();
    let things = order.n;
    let oks: Arc<Vec<AtomicU64>> = Arc::new((0..things).map(|_| AtomicU64::new(0)).collect());
    // Let the server finish starting before the baseline RSS.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start = vm_rss_kib(srv.pid)?;
    let client_rss_before = vm_rss_kib(std::process::id())?;
    let connect_start = Instant::now();
    let devices = if spec.devices > 0 {
        eprintln!("  connecting {} devices", spec.devices);
        Some(Devices::connect(mqtt_addr, spec.devices, spec.connect_concurrency, base).await?)
    } else {
        None
    };
    let connect_secs = connect_start.elapsed().as_secs_f64();
    // Let the server's connection tasks settle (CONNACK/SUBACK sent, buffers idle).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = vm_rss_kib(srv.pid)?;
    let client_rss_growth = vm_rss_kib(std::process::id())?.saturating_sub(client_rss_before);

    let client = Arc::new(load::Client::new(srv.addr)?);
    let warm = cancel_run(&client, order, 0, spec.warmup, spec.concurrency, &oks, base).await;
    let before = stats::Snapshot::take(srv.pid)?;
    let mut http = cancel_run(
        &client,
        order,
        spec.warmup,
        spec.measured,
        spec.concurrency,
        &oks,
        base,
    )
    .await;
    let after = stats::Snapshot::take(srv.pid)?;
    http.errors += warm.errors;
    http.first_errors.extend(warm.first_errors);
    let measured_things: Vec<u64> = (spec.warmup..spec.warmup + spec.measured)
        .map(|i| order.thing(i))
        .collect();
    let notify = match &devices {
        Some(devs) => Some(devs.collect(&measured_things, &oks, spec.notify_wait).await),
        None => None,
    };
    let rss_end = vm_rss_kib(srv.pid)?;
    drop(client);
    // Stop the server first: it closes the device connections (so the TIME_WAITs are on
    // its side), then the device tasks see EOF.
    let stop_error = srv.stop().await.err().map(|e| format!("{e:#}"));
    if let Some(devs) = devices {
        devs.stop().await;
    }
    Ok(Row {
        devices: spec.devices,
        concurrency: spec.concurrency,
        run: spec.run,
        http,
        notify,
        usage: stats::Usage::between(&before, &after),
        rss_start,
        rss_connected,
        rss_end,
        client_rss_growth,
        connect_secs,
        stop_error,
    })
}

/// Cancel the executions of things `order.thing(first..first + count)` with
/// `concurrency` workers; `oks[thing]` gets the instant (ns since `base`, + 1) each 200
/// was read.
async fn cancel_run(
    client: &Arc<load::Client>,
    order: &Order,
    first: u64,
    count: u64,
    concurrency: usize,
    oks: &Arc<Vec<AtomicU64>>,
    base: Instant,
) -> HttpResult {
    let next = Arc::new(AtomicU64::new(first));
    let end = first + count;
    let perm = Arc::new(Order {
        n: order.n,
        mult: order.mult,
    });
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, perm, oks) = (client.clone(), next.clone(), perm.clone(), oks.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = Vec::new();
            let mut error_count = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let t = perm.thing(i);
                let (thing, job) = (seed::thing_name(t), seed::job_id(t / PER_JOB));
                match load::one_cancel(&client, &thing, &job).await {
                    Ok(us) => {
                        oks[t as usize].store(since(base), Ordering::Relaxed);
                        lat.push(us);
                    }
                    Err(e) => {
                        error_count += 1;
                        if errors.len() < 5 {
                            errors.push(format!("{thing}/{job}: {e:#}"));
                        }
                    }
                }
            }
            (lat, error_count, errors)
        });
    }
    let mut latencies_us = Vec::with_capacity(count as usize);
    let (mut errors, mut first_errors) = (0, Vec::new());
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((lat, n, e)) => {
                latencies_us.extend(lat);
                errors += n;
                first_errors.extend(e);
            }
            Err(e) => {
                errors += 1;
                first_errors.push(format!("worker failed: {e}"));
            }
        }
    }
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    first_errors.truncate(5);
    HttpResult {
        requests: count,
        errors,
        first_errors,
        elapsed,
        latencies_us,
    }
}

/// Nanoseconds since `base`, plus one (0 means "not yet").
fn since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

/// D connected devices, each a task with its own TCP connection.
struct Devices {
    /// Per thing: when its first notify-next arrived (ns since `base`, + 1; 0 = none).
    arrivals: Arc<Vec<AtomicU64>>,
    unexpected: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Devices {
    /// Connect and subscribe things `t0..t{n-1}`, `in_flight` at a time; returns once all
    /// have their SUBACK.
    async fn connect(
        addr: SocketAddr,
        n: u64,
        in_flight: usize,
        base: Instant,
    ) -> anyhow::Result<Self> {
        let arrivals: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
        let unexpected = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(in_flight.max(1)));
        let (ready_tx, mut ready) = mpsc::unbounded_channel::<anyhow::Result<()>>();
        let mut tasks = JoinSet::new();
        for i in 0..n {
            let (gate, ready_tx, mut stopped) = (gate.clone(), ready_tx.clone(), stopped.clone());
            let (arrivals, unexpected) = (arrivals.clone(), unexpected.clone());
            tasks.spawn(async move {
                let thing = seed::thing_name(i);
                let topic = format!("$aws/things/{thing}/jobs/notify-next");
                let permit = gate.acquire_owned().await;
                let hello = tokio::time::timeout(CONNECT_TIMEOUT, handshake(addr, &thing, &topic))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("{thing}: connect timed out")));
                drop(permit);
                let (mut stream, mut buf) = match hello {
                    Ok(x) => {
                        let _ = ready_tx.send(Ok(()));
                        x
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                drop(ready_tx);
                let on_publish = |topic_got: &[u8], at: u64| {
                    let slot = &arrivals[i as usize];
                    if topic_got != topic.as_bytes()
                        || slot
                            .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed)
                            .is_err()
                    {
                        unexpected.fetch_add(1, Ordering::Relaxed);
                    }
                };
                let period = Duration::from_secs(u64::from(KEEP_ALIVE_SECS) / 2);
                let mut ping =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    tokio::select! {
                        _ = stopped.changed() => break,
                        _ = ping.tick() => {
                            if stream.write_all(&[0xC0, 0x00]).await.is_err() {
                                break;
                            }
                        }
                        r = stream.read_buf(&mut buf) => {
                            let at = since(base);
                            match r {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {}
                            }
                            let mut acks = Vec::new();
                            while let Some((first, body)) = take_packet(&mut buf) {
                                if first >> 4 == 3 {
                                    let Some((topic_got, pid)) = parse_publish(first, &body) else {
                                        unexpected.fetch_add(1, Ordering::Relaxed);
                                        continue;
                                    };
                                    on_publish(topic_got, at);
                                    if let Some(pid) = pid {
                                        acks.extend_from_slice(&[0x40, 0x02]);
                                        acks.extend_from_slice(&pid.to_be_bytes());
                                    }
                                }
                            }
                            if !acks.is_empty() && stream.write_all(&acks).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
        drop(ready_tx);
        let mut connected = 0u64;
        let deadline = Instant::now() + CONNECT_TIMEOUT * 4;
        while connected < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, ready.recv()).await {
                Ok(Some(Ok(()))) => connected += 1,
                Ok(Some(Err(e))) => {
                    let _ = stop.send(true);
                    tasks.shutdown().await;
                    return Err(e.context(format!("after {connected} devices connected")));
                }
                Ok(None) | Err(_) => {
                    let _ = stop.send(true);
                    tasks.shutdown().await;
                    bail!("only {connected} of {n} devices connected");
                }
            }
        }
        Ok(Devices {
            arrivals,
            unexpected,
            stop,
            tasks,
        })
    }

    /// Wait (at most `wait`) for the notifications of `things`, then compare each with
    /// its cancel's 200.
    async fn collect(&self, things: &[u64], oks: &[AtomicU64], wait: Duration) -> NotifyResult {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline
            && things
                .iter()
                .any(|&t| self.arrivals[t as usize].load(Ordering::Relaxed) == 0)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut latencies_us = Vec::with_capacity(things.len());
        let (mut before_200, mut missing) = (0, 0);
        for &t in things {
            let ok = oks[t as usize].load(Ordering::Relaxed);
            let arrived = self.arrivals[t as usize].load(Ordering::Relaxed);
            if arrived == 0 || ok == 0 {
                missing += u64::from(arrived == 0);
                continue;
            }
            if arrived < ok {
                before_200 += 1;
            }
            latencies_us.push(u32::try_from(arrived.saturating_sub(ok) / 1000).unwrap_or(u32::MAX));
        }
        latencies_us.sort_unstable();
        NotifyResult {
            latencies_us,
            before_200,
            missing,
            unexpected: self.unexpected.load(Ordering::Relaxed),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            self.tasks.shutdown().await;
        }
    }
}

/// CONNECT (3.1.1, clean session, client id = thing) and SUBSCRIBE `topic` at QoS 1;
/// returns the connection once SUBACK granted it, with any bytes read past SUBACK.
async fn handshake(
    addr: SocketAddr,
    thing: &str,
    topic: &str,
) -> anyhow::Result<(TcpStream, BytesMut)> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("{thing}: TCP connect"))?;
    stream.set_nodelay(true)?;
    let mut connect = Vec::with_capacity(32 + thing.len());
    put_str(&mut connect, "MQTT");
    connect.push(4); // protocol level 3.1.1
    connect.push(0x02); // clean session
    connect.extend_from_slice(&KEEP_ALIVE_SECS.to_be_bytes());
    put_str(&mut connect, thing);
    stream.write_all(&packet(0x10, &connect)).await?;
    let mut buf = BytesMut::with_capacity(256);
    let (first, body) = read_packet(&mut stream, &mut buf).await?;
    if first != 0x20 || body.get(1) != Some(&0) {
        bail!("{thing}: CONNACK refused: {first:#x} {body:?}");
    }
    let mut subscribe = Vec::with_capacity(8 + topic.len());
    subscribe.extend_from_slice(&1u16.to_be_bytes());
    put_str(&mut subscribe, topic);
    subscribe.push(1); // QoS 1, as the Device SDK subscribes
    stream.write_all(&packet(0x82, &subscribe)).await?;
    loop {
        let (first, body) = read_packet(&mut stream, &mut buf).await?;
        if first == 0x90 {
            if body.get(2).is_none_or(|&rc| rc == 0x80) {
                bail!("{thing}: SUBACK refused: {body:?}");
            }
            return Ok((stream, buf));
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A packet: first byte, remaining length (variable-length encoding), body.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(body.len() + 5);
    p.push(first);
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        p.push(b);
        if len == 0 {
            break;
        }
    }
    p.extend_from_slice(body);
    p
}

/// Take one complete packet off the front of `buf`: (first byte, body).
fn take_packet(buf: &mut BytesMut) -> Option<(u8, BytesMut)> {
    let mut len = 0usize;
    let mut header = 1;
    loop {
        let b = *buf.get(header)?;
        len |= usize::from(b & 0x7F) << (7 * (header - 1));
        header += 1;
        if b & 0x80 == 0 {
            break;
        }
        if header > 4 {
            // Malformed: drop everything; the server never sends this.
            buf.clear();
            return None;
        }
    }
    if buf.len() < header + len {
        return None;
    }
    let first = buf[0];
    buf.advance(header);
    Some((first, buf.split_to(len)))
}

async fn read_packet(stream: &mut TcpStream, buf: &mut BytesMut) -> anyhow::Result<(u8, BytesMut)> {
    loop {
        if let Some(p) = take_packet(buf) {
            return Ok(p);
        }
        if stream.read_buf(buf).await? == 0 {
            bail!("connection closed by the server");
        }
    }
}

/// A PUBLISH body: (topic, packet id if QoS > 0).
fn parse_publish(first: u8, body: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let tlen = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let topic = body.get(2..2 + tlen)?;
    let pid = if (first >> 1) & 3 > 0 {
        let p = body.get(2 + tlen..4 + tlen)?;
        Some(u16::from_be_bytes([p[0], p[1]]))
    } else {
        None
    };
    Some((topic, pid))
}

/// VmRSS of a process, KiB.
fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// (soft, hard) "Max open files" of this process (its children inherit it).
fn open_files_limit() -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/limits")?;
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no open-files line in /proc/self/limits")?;
    let mut f = line["Max open files".len()..].split_whitespace();
    let parse = |s: Option<&str>| match s {
        Some("unlimited") => Ok(u64::MAX),
        Some(v) => v.parse::<u64>().context("open-files limit"),
        None => bail!("short open-files line"),
    };
    Ok((parse(f.next())?, parse(f.next())?))
}

fn pct_ms(sorted: &[u32], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    f64::from(sorted[rank - 1]) / 1000.0
}

fn max_ms(sorted: &[u32]) -> f64 {
    sorted.last().map_or(0.0, |&v| f64::from(v) / 1000.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn print_report(rows: &[Row], d: u64) {
    println!("## Server memory per idle connection\n");
    println!(
        "Server VmRSS just after start (HTTP and MQTT listening, nothing connected), once all \
         devices are connected and subscribed (+1 s), and after the run. Socket buffers are \
         kernel memory and not in VmRSS. \"client KiB/device\" is this process's own growth.\n"
    );
    crate::print_table(
        &[
            "conc.",
            "run",
            "devices",
            "connect time",
            "RSS at start",
            "RSS connected",
            "RSS after run",
            "KiB/connection",
            "client KiB/device",
        ],
        rows.iter().filter(|r| r.devices > 0).map(|r| {
            vec![
                r.concurrency.to_string(),
                r.run.to_string(),
                stats::thousands(r.devices),
                format!("{:.1} s", r.connect_secs),
                format!("{:.1} MiB", r.rss_start as f64 / 1024.0),
                format!("{:.1} MiB", r.rss_connected as f64 / 1024.0),
                format!("{:.1} MiB", r.rss_end as f64 / 1024.0),
                format!("{:.2}", r.per_device_kib()),
                format!(
                    "{:.2}",
                    r.client_rss_growth as f64 / r.devices.max(1) as f64
                ),
            ]
        }),
    );
    println!();
    println!("## Notification latency (HTTP 200 of the cancel → notify-next on the device)\n");
    crate::print_table(
        &[
            "conc.",
            "run",
            "cancels",
            "p50 ms",
            "p99 ms",
            "max ms",
            "arrived before the 200",
            "missing",
            "unexpected PUBLISHes",
        ],
        rows.iter().filter_map(|r| {
            let n = r.notify.as_ref()?;
            Some(vec![
                r.concurrency.to_string(),
                r.run.to_string(),
                stats::thousands(r.http.requests),
                format!("{:.2}", pct_ms(&n.latencies_us, 0.50)),
                format!("{:.2}", pct_ms(&n.latencies_us, 0.99)),
                format!("{:.2}", max_ms(&n.latencies_us)),
                n.before_200.to_string(),
                n.missing.to_string(),
                n.unexpected.to_string(),
            ])
        }),
    );
    println!();
    println!("## CancelJobExecution with and without connected devices\n");
    println!(
        "With devices, every measured cancel also notifies its (connected) device. CPU columns \
         are % of one core over the measured phase.\n"
    );
    crate::print_table(
        &[
            "conc.",
            "run",
            "devices",
            "cancels",
            "requests/s",
            "HTTP p50 ms",
            "HTTP p99 ms",
            "HTTP max ms",
            "errors",
            "server CPU",
            "client CPU",
            "other load",
        ],
        rows.iter().map(|r| {
            vec![
                r.concurrency.to_string(),
                r.run.to_string(),
                stats::thousands(r.devices),
                stats::thousands(r.http.requests),
                format!("{:.0}", r.http.rate()),
                format!("{:.2}", pct_ms(&r.http.latencies_us, 0.50)),
                format!("{:.2}", pct_ms(&r.http.latencies_us, 0.99)),
                format!("{:.2}", max_ms(&r.http.latencies_us)),
                r.http.errors.to_string(),
                format!("{:.0} %", r.usage.server_pct),
                format!("{:.0} %", r.usage.client_pct),
                format!("{:.0} %", r.usage.other_pct),
            ]
        }),
    );
    println!();
    println!("## Summary (medians over runs)\n");
    let mut concs: Vec<usize> = rows.iter().map(|r| r.concurrency).collect();
    concs.dedup();
    crate::print_table(
        &[
            "conc.",
            "req/s, no device",
            &format!("req/s, {} devices", stats::thousands(d)),
            "change",
            "notify-next p99 ms",
            "KiB/connection",
        ],
        concs.into_iter().map(|c| {
            let rate = |with: bool| {
                median(
                    rows.iter()
                        .filter(|r| r.concurrency == c && (r.devices > 0) == with)
                        .map(|r| r.http.rate())
                        .collect(),
                )
            };
            let (none, with) = (rate(false), rate(true));
            let dev = || rows.iter().filter(|r| r.concurrency == c && r.devices > 0);
            vec![
                c.to_string(),
                format!("{none:.0}"),
                format!("{with:.0}"),
                format!("{:+.1} %", (with / none.max(1e-9) - 1.0) * 100.0),
                format!(
                    "{:.2}",
                    median(
                        dev()
                            .filter_map(|r| r.notify.as_ref())
                            .map(|n| pct_ms(&n.latencies_us, 0.99))
                            .collect()
                    )
                ),
                format!("{:.2}", median(dev().map(Row::per_device_kib).collect())),
            ]
        }),
    );
}
