//! `iotjobs-bench`: the benchmark of the headline operation, CancelJobExecution
//! (`PUT /things/{thingName}/jobs/{jobId}/cancel`), measured end to end over HTTP
//! against the real `iotjobs` server binary.
//!
//! `iotjobs-bench cancel` seeds a fresh SQLite file with N QUEUED executions through
//! the store's public API, starts `iotjobs serve` on a copy of it, and sends SigV4-signed
//! cancels at each requested concurrency. It prints requests/s, p50/p99/max latency,
//! errors, and where the CPU went (server, its SQLite writer thread, this client, other
//! processes) as a markdown table, next to the disk's measured fsync cost.
//! The numbers and the command belong in `docs/benchmarks.md`.
//!
//! `iotjobs-bench lockout` times signed calls while N connections hold requests with a
//! forged signature and a body that never comes (`lockout.rs`); `mqtt` and `cancel-pg`
//! are described in their modules.
//!
//! What this crate must not do:
//! - be a timed test: it asserts no timing and never runs under `cargo test`; it only
//!   fails when a cancel is not answered 200 (every request must be a real
//!   QUEUED→CANCELED transition, never a 409 from re-cancelling);
//! - reach into the server: the measured path is the released binary over HTTP; the
//!   store API is used only to seed the database before the server starts;
//! - touch any database but the ones it seeds in its own work directory (deleted at
//!   the end unless `--keep`).

mod bulk;
mod floor;
mod load;
mod lockout;
mod mqtt;
mod pg;
mod probe;
mod seed;
mod server;
mod stats;
mod wal;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "iotjobs-bench",
    version,
    about = "Benchmarks of the iotjobs server over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CancelJobExecution throughput and latency over N stored QUEUED executions.
    Cancel(CancelArgs),
    /// The same CancelJobExecution measurement against the PostgreSQL backend.
    CancelPg(pg::PgArgs),
    /// Devices over MQTT: HTTP 200 of a cancel → notify-next latency, server memory per
    /// idle connection, cancel throughput with and without connected devices.
    Mqtt(mqtt::MqttArgs),
    /// SQLite WAL size sampled during a fixed-time, maximal-rate cancel load, next to
    /// the cancel throughput.
    Wal(wal::WalArgs),
    /// Signed calls while N connections hold forged-signature requests waiting for a
    /// body (the lockout of issue 12), then SIGTERM during the attack.
    Lockout(lockout::LockoutArgs),
    /// SQLite's own cost per durable single-row update with group commit: the storage
    /// floor beside `cancel`'s results.
    SqliteFloor(floor::SqliteFloorArgs),
    /// A minimal hyper server answering every request `200 {}` (the HTTP floor); started
    /// by `cancel --null-server` in place of `iotjobs serve`, whose arguments it accepts.
    #[command(hide = true)]
    Serve {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Job-wide operations over one huge thing group: CreateJob, CancelJob --force and
    /// DeleteJob --force over N executions, with other clients' latency and server RSS.
    Bulk(bulk::BulkArgs),
    /// Only measure the disk's fsync cost (writes of 4-256 KiB, each + fsync) in a directory.
    Fsync {
        /// Directory to measure in (default: the system temp dir).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Rounds of write + fsync per size.
        #[arg(long, default_value_t = 200)]
        count: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SyncMode {
    /// The server's durable default: fsync on every commit.
    Full,
    /// `?synchronous=normal`: no fsync per commit (not power-loss durable).
    Normal,
}

#[derive(clap::Args)]
struct CancelArgs {
    /// Stored executions per database, comma-separated: multiples of 100 (jobs of 100
    /// things) up to 10000, multiples of 10000 above.
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    stored: Vec<u64>,
    /// Concurrent client workers, comma-separated; one row per value and size.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Measured cancels per row (capped by the executions a database holds).
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Measured cancels for concurrency-1 rows (fsync-bound, so fewer).
    #[arg(long, default_value_t = 2_000)]
    requests_c1: u64,
    /// Unmeasured cancels per row before measuring (opens connections, warms caches).
    #[arg(long, default_value_t = 256)]
    warmup: u64,
    /// The server binary (default: `iotjobs` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the databases go (default: a new temp dir). Files are removed at the end.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The server's SQLite synchronous mode.
    #[arg(long, value_enum, default_value = "full")]
    synchronous: SyncMode,
    /// Client runtime threads: 1 = tokio current-thread runtime (leaves the other core to
    /// the server), more = multi-thread runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Creates in flight while seeding (so that group commit batches them).
    #[arg(long, default_value_t = 64)]
    seed_concurrency: usize,
    /// Count the server's fsync/fdatasync calls per row with `perf stat` (needs perf and
    /// tracepoint access) to report cancels per durable commit.
    #[arg(long)]
    count_fsyncs: bool,
    /// Order of the cancels over the stored executions.
    #[arg(long, value_enum, default_value = "random")]
    order: seed::Order,
    /// Runs per (stored, concurrency), each on a fresh copy of the seeded database.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Before each run, wait until the machine's other load is below this (% of one
    /// core, sampled over 1 s) so that other processes do not skew it; 0 disables.
    #[arg(long, default_value_t = 20.0)]
    quiet_below: f64,
    /// Longest wait for a quiet machine before running anyway, seconds.
    #[arg(long, default_value_t = 120)]
    quiet_max_wait: u64,
    /// Keep the seeded databases and server logs.
    #[arg(long)]
    keep: bool,
    /// Measure the HTTP floor instead: start this binary's minimal hyper server (it
    /// answers every request `200 {}` without verifying, routing or storing anything).
    #[arg(long)]
    null_server: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Fsync { work_dir, count } => {
            let dir = work_dir.unwrap_or_else(std::env::temp_dir);
            let r = probe::fsync_probe(&dir, count)?;
            println!("{}", r.describe(&dir));
            Ok(())
        }
        Command::SqliteFloor(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(floor::sqlite_floor(args)),
        Command::Serve { args } => floor::null_serve(&args),
        Command::CancelPg(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(pg::cancel_pg(args)),
        Command::Wal(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(wal::wal(args)),
        Command::Bulk(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(bulk::bulk(args)),
        Command::Mqtt(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(mqtt::mqtt(args)),
        Command::Lockout(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(lockout::lockout(args)),
        Command::Cancel(args) => {
            let rt = if args.client_threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(args.client_threads)
                    .enable_all()
                    .build()?
            };
            rt.block_on(cancel(args))
        }
    }
}

/// One measured row of the results table.
struct Row {
    stored: u64,
    concurrency: usize,
    run: usize,
    load: load::LoadResult,
    usage: stats::Usage,
    fsyncs: Option<u64>,
    /// Median write-64-KiB + fsync just before the row, ms.
    fsync_ms: f64,
}

async fn cancel(args: CancelArgs) -> anyhow::Result<()> {
    if args.stored.is_empty() || args.concurrency.is_empty() {
        bail!("--stored and --concurrency need at least one value");
    }
    if args.concurrency.contains(&0) {
        bail!("--concurrency values must be at least 1");
    }
    for &s in &args.stored {
        seed::Layout::new(s, args.order)?;
    }
    let server_bin = if args.null_server {
        std::env::current_exe()?
    } else {
        server_binary(args.server_bin.as_ref())?
    };
    let (work_dir, _temp_guard) = work_directory(args.work_dir.as_ref(), "iotjobs-bench-")?;
    let mut cleanup = Cleanup {
        paths: Vec::new(),
        keep: args.keep,
    };

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let fsync = probe::fsync_probe(&work_dir, 100)?;
    let sign_us = load::signing_cost_micros(20_000)?;
    println!("# CancelJobExecution benchmark\n");
    println!("- machine: {cores} cores (available_parallelism)");
    println!("- {}", fsync.describe(&work_dir));
    println!("- SigV4 signing in the client: {sign_us:.1} µs per request (one core)");
    println!(
        "- cancel order: {}",
        match args.order {
            seed::Order::Random =>
                "random (fixed pseudo-random permutation of all stored executions)",
            seed::Order::Sequential => "sequential (primary-key order: thing by thing)",
        }
    );
    println!(
        "- server: `{} serve`, synchronous={}; client: {} runtime thread(s), hyper 1 keep-alive pool",
        server_bin.display(),
        match args.synchronous {
            SyncMode::Full => "FULL (durable default)",
            SyncMode::Normal => "NORMAL",
        },
        args.client_threads.max(1)
    );
    println!();

    let mut rows = Vec::new();
    let mut seeds = Vec::new();
    let mut failures = Vec::new();
    for &stored in &args.stored {
        let layout = seed::Layout::new(stored, args.order)?;
        let template = work_dir.join(format!("seed-{stored}.sqlite"));
        cleanup.add_db(&template);
        eprintln!(
            "seeding {stored} QUEUED executions into {}",
            template.display()
        );
        let s = seed::seed(&template, &layout, args.seed_concurrency).await?;
        eprintln!(
            "  seeded in {:.1} s ({} things, {} jobs, {:.1} MiB)",
            s.elapsed.as_secs_f64(),
            layout.things(),
            layout.jobs(),
            s.bytes as f64 / (1 << 20) as f64
        );
        seeds.push((stored, layout, s));
        for (concurrency, run) in args
            .concurrency
            .iter()
            .flat_map(|&c| (1..=args.repeat.max(1)).map(move |r| (c, r)))
        {
            let wanted = if concurrency == 1 {
                args.requests_c1
            } else {
                args.requests
            };
            let warmup = args.warmup.min(stored / 10);
            let requests = wanted.min(stored - warmup);
            let db = work_dir.join(format!("run-{stored}-c{concurrency}.sqlite"));
            cleanup.add_db(&db);
            copy_db(&template, &db)?;
            let log = work_dir.join(format!("server-{stored}-c{concurrency}.log"));
            cleanup.paths.push(log.clone());
            eprintln!(
                "row: stored={stored} concurrency={concurrency} run {run}: {warmup} warm-up + {requests} measured cancels"
            );
            if args.quiet_below > 0.0 {
                let waited = stats::wait_for_quiet(
                    args.quiet_below,
                    std::time::Duration::from_secs(args.quiet_max_wait),
                )
                .await?;
                if let Some(busy) = waited {
                    eprintln!(
                        "  machine still busy ({busy:.0} % of a core from other processes) after {} s; running anyway",
                        args.quiet_max_wait
                    );
                }
            }
            let fsync_ms = probe::fsync_probe(&work_dir, 30)?.median_64k_ms();
            let srv =
                server::Server::start(&server_bin, &db, args.synchronous == SyncMode::Normal, &log)
                    .await?;
            let client = Arc::new(load::Client::new(srv.addr)?);
            let warm = load::run(&client, &layout, 0, warmup, concurrency).await;
            let perf = if args.count_fsyncs {
                Some(stats::SyscallCounter::start(srv.pid, &work_dir).await?)
            } else {
                None
            };
            let before = stats::Snapshot::take(srv.pid)?;
            let result = load::run(&client, &layout, warmup, requests, concurrency).await;
            let after = stats::Snapshot::take(srv.pid)?;
            let fsyncs = match perf {
                Some(p) => Some(p.stop().await?),
                None => None,
            };
            drop(client);
            let stopped = srv.stop().await;
            let usage = stats::Usage::between(&before, &after);
            for (phase, r) in [("warm-up", &warm), ("measured", &result)] {
                if r.errors > 0 {
                    failures.push(format!(
                        "stored={stored} c={concurrency} {phase}: {} of {} requests failed; first: {}",
                        r.errors,
                        r.requests,
                        r.first_errors.join(" | ")
                    ));
                }
            }
            if let Err(e) = stopped {
                failures.push(format!(
                    "stored={stored} c={concurrency}: server did not stop cleanly: {e:#}"
                ));
            }
            eprintln!(
                "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
                result.rate(),
                result.percentile_ms(0.50),
                result.percentile_ms(0.99),
                result.errors
            );
            rows.push(Row {
                stored,
                concurrency,
                run,
                load: result,
                usage,
                fsyncs,
                fsync_ms,
            });
            cleanup.remove_db(&db);
        }
        cleanup.remove_db(&template);
    }

    println!(
        "## Seeding (store API, synchronous=NORMAL, {} creates in flight)\n",
        args.seed_concurrency
    );
    println!("| stored executions | things | jobs | seed time | executions/s | DB size |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for (stored, layout, s) in &seeds {
        println!(
            "| {} | {} | {} | {:.1} s | {:.0} | {:.1} MiB |",
            stats::thousands(*stored),
            stats::thousands(layout.things()),
            stats::thousands(layout.jobs()),
            s.elapsed.as_secs_f64(),
            *stored as f64 / s.elapsed.as_secs_f64(),
            s.bytes as f64 / (1 << 20) as f64
        );
    }
    println!();
    println!("## Results\n");
    let key = |r: &Row| {
        vec![
            stats::thousands(r.stored),
            r.concurrency.to_string(),
            r.run.to_string(),
        ]
    };
    print_table(
        &[
            "stored",
            "conc.",
            "run",
            "cancels",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
        ],
        rows.iter().map(|r| {
            let mut c = key(r);
            c.extend([
                stats::thousands(r.load.requests),
                format!("{:.0}", r.load.rate()),
                format!("{:.2}", r.load.percentile_ms(0.50)),
                format!("{:.2}", r.load.percentile_ms(0.99)),
                format!("{:.2}", r.load.max_ms()),
                r.load.errors.to_string(),
            ]);
            c
        }),
    );
    println!();
    println!("## Where the time went\n");
    println!(
        "CPU columns are % of one core over the measured phase: the whole server process; its \
         SQLite writer thread on a CPU, runnable but waiting for a core, and sleeping (blocked in \
         fsync or I/O, or idle with no request queued); this client; everything else on the \
         machine (other load). \"writer µs/cancel\" is the writer's CPU time per cancel. \
         \"KiB written/cancel\" counts the server's write syscalls (WAL frames, checkpoints, \
         HTTP responses). \"disk fsync p50\" is a 64 KiB write + fsync measured in the work dir \
         just before the run (the disk is shared, so its cost varies)."
    );
    println!();
    let mut headers = vec![
        "stored",
        "conc.",
        "run",
        "server CPU",
        "writer on CPU",
        "writer waiting for a core",
        "writer sleeping",
        "writer µs/cancel",
        "client CPU",
        "other load",
        "KiB written/cancel",
        "disk fsync p50 ms",
    ];
    if args.count_fsyncs {
        headers.extend(["server fsyncs", "cancels/fsync"]);
    }
    print_table(
        &headers,
        rows.iter().map(|r| {
            let u = &r.usage;
            let per = |x: f64| x / r.load.requests.max(1) as f64;
            let mut c = key(r);
            c.extend([
                format!("{:.0} %", u.server_pct),
                format!("{:.0} %", u.writer_pct),
                format!("{:.0} %", u.writer_wait_pct),
                format!(
                    "{:.0} %",
                    (100.0 - u.writer_pct - u.writer_wait_pct).max(0.0)
                ),
                format!("{:.0}", per(u.writer_cpu_secs * 1e6)),
                format!("{:.0} %", u.client_pct),
                format!("{:.0} %", u.other_pct),
                format!("{:.1}", per(u.server_written_bytes as f64 / 1024.0)),
                format!("{:.2}", r.fsync_ms),
            ]);
            if args.count_fsyncs {
                match r.fsyncs {
                    Some(n) if n > 0 => c.extend([
                        stats::thousands(n),
                        format!("{:.1}", r.load.requests as f64 / n as f64),
                    ]),
                    Some(n) => c.extend([n.to_string(), "–".into()]),
                    None => c.extend(["–".into(), "–".into()]),
                }
            }
            c
        }),
    );
    drop(cleanup);
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        bail!("{} row(s) had failed requests", failures.len());
    }
    Ok(())
}

/// Print a right-aligned markdown table.
fn print_table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    println!("| {} |", headers.join(" | "));
    println!("|{}", "---:|".repeat(headers.len()));
    for r in rows {
        println!("| {} |", r.join(" | "));
    }
}

/// Copy a closed SQLite database (and its WAL, if one was left behind).
fn copy_db(from: &Path, to: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal"] {
        let src = PathBuf::from(format!("{}{suffix}", from.display()));
        let dst = PathBuf::from(format!("{}{suffix}", to.display()));
        if src.exists() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
            // Flush the copy now, so that its writeback does not land in the measurement.
            std::fs::File::open(&dst)?.sync_all()?;
        }
    }
    Ok(())
}

/// Removes the files the benchmark created, even on an early error.
struct Cleanup {
    paths: Vec<PathBuf>,
    keep: bool,
}

impl Cleanup {
    fn add_db(&mut self, db: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            self.paths
                .push(PathBuf::from(format!("{}{suffix}", db.display())));
        }
    }

    fn remove_db(&mut self, db: &Path) {
        if self.keep {
            return;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept files under {:?}", self.paths.first());
            return;
        }
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `--server-bin`, or the `iotjobs` next to this executable; it must exist.
pub(crate) fn server_binary(
    given: Option<&std::path::PathBuf>,
) -> anyhow::Result<std::path::PathBuf> {
    let server_bin = match given {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("iotjobs"),
    };
    if !server_bin.is_file() {
        bail!(
            "server binary {} not found: build it with `cargo build --release -p iotjobs` or pass --server-bin",
            server_bin.display()
        );
    }
    Ok(server_bin)
}

/// `--work-dir` (created), or a new temporary directory removed when the guard drops.
pub(crate) fn work_directory(
    given: Option<&std::path::PathBuf>,
    prefix: &str,
) -> anyhow::Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    let (dir, guard) = match given {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new().prefix(prefix).tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    Ok((std::fs::canonicalize(&dir)?, guard))
}
