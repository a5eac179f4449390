//! `iotjobs-bench wal`: how big the SQLite write-ahead log gets under sustained
//! maximal write load, next to the cancel throughput the server keeps meanwhile.
//!
//! It seeds N QUEUED executions (as `cancel` does), starts the server on a copy, and
//! sends SigV4-signed cancels from C workers for a fixed time (60 s by default) while a
//! sampler reads the size of the `-wal` file every 100 ms. Then the load stops and the
//! sampler goes on for a few idle seconds, to show what the WAL is left at. It prints the
//! WAL's largest and typical sizes, a time series, and the cancel rate.
//!
//! What this module must not do: assert a size or a rate (it reports, the reader judges
//! against the goal it prints), or look inside the server: the file size on disk is what
//! an operator sees.

use crate::{load, seed, server, stats};
use anyhow::bail;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The goal the report compares against (issue 12): the WAL never above 64 MiB.
const GOAL_BYTES: u64 = 64 << 20;

#[derive(clap::Args)]
pub struct WalArgs {
    /// Stored QUEUED executions to cancel (a multiple of 10000 above 10000); enough for
    /// the whole run, or the run ends early when they are all cancelled.
    #[arg(long, default_value_t = 1_000_000)]
    stored: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Concurrent client workers.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Milliseconds between two samples of the WAL size.
    #[arg(long, default_value_t = 100)]
    sample_ms: u64,
    /// Seconds of sampling after the load stopped.
    #[arg(long, default_value_t = 5)]
    idle: u64,
    /// Order of the cancels over the stored executions.
    #[arg(long, value_enum, default_value = "random")]
    order: seed::Order,
    /// Creates in flight while seeding.
    #[arg(long, default_value_t = 64)]
    seed_concurrency: usize,
    /// The server binary (default: `iotjobs` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the database goes (default: a new temp dir, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Reuse this seeded database (a closed SQLite file of `--stored` executions,
    /// e.g. one kept by an earlier run with `--keep`) instead of seeding a new one.
    #[arg(long)]
    seeded: Option<PathBuf>,
    /// Before the run, wait until the machine's other load is below this (% of one core,
    /// sampled over 1 s); 0 disables.
    #[arg(long, default_value_t = 20.0)]
    quiet_below: f64,
    /// Longest wait for a quiet machine before running anyway, seconds.
    #[arg(long, default_value_t = 120)]
    quiet_max_wait: u64,
    /// Keep the seeded database and the server log (give `--work-dir` too: a temporary
    /// one is removed anyway).
    #[arg(long)]
    keep: bool,
}

/// One sample: time since the load started, WAL and database file sizes, cancels
/// answered so far.
struct Sample {
    at: Duration,
    wal: u64,
    db: u64,
    answered: u64,
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1 << 20))
}

pub async fn wal(args: WalArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.duration == 0 || args.sample_ms == 0 {
        bail!("--concurrency, --duration and --sample-ms must be at least 1");
    }
    let layout = seed::Layout::new(args.stored, args.order)?;
    let server_bin = crate::server_binary(args.server_bin.as_ref())?;
    let (work_dir, _temp) = crate::work_directory(args.work_dir.as_ref(), "iotjobs-bench-wal-")?;
    let template = match &args.seeded {
        Some(p) => p.clone(),
        None => {
            let t = work_dir.join(format!("seed-{}.sqlite", args.stored));
            eprintln!(
                "seeding {} QUEUED executions into {}",
                args.stored,
                t.display()
            );
            let s = seed::seed(&t, &layout, args.seed_concurrency).await?;
            eprintln!("  seeded in {:.1} s", s.elapsed.as_secs_f64());
            t
        }
    };
    let db = work_dir.join("run.sqlite");
    crate::copy_db(&template, &db)?;
    let wal_path = PathBuf::from(format!("{}-wal", db.display()));
    let log = work_dir.join("server.log");
    if args.quiet_below > 0.0
        && let Some(busy) =
            stats::wait_for_quiet(args.quiet_below, Duration::from_secs(args.quiet_max_wait))
                .await?
    {
        eprintln!(
            "machine still busy ({busy:.0} % of a core from other processes) after {} s; running anyway",
            args.quiet_max_wait
        );
    }
    let fsync_ms = crate::probe::fsync_probe(&work_dir, 30)?.median_64k_ms();

    let srv = server::Server::start(&server_bin, &db, false, &log).await?;
    let client = Arc::new(load::Client::new(srv.addr)?);
    let warmup = 256.min(args.stored / 10);
    let warm = load::run(&client, &layout, 0, warmup, args.concurrency).await;

    // The sampler runs on its own thread, so that a busy client runtime cannot delay
    // it: a late sample could miss a peak.
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let sampler = {
        let (answered, stop) = (answered.clone(), stop.clone());
        let (wal_path, db) = (wal_path.clone(), db.clone());
        let every = Duration::from_millis(args.sample_ms);
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push(Sample {
                    at: start.elapsed(),
                    wal: file_len(&wal_path),
                    db: file_len(&db),
                    answered: answered.load(Ordering::Relaxed),
                });
                std::thread::sleep(every);
            }
            samples
        })
    };
    let before = stats::Snapshot::take(srv.pid)?;
    let deadline = start + Duration::from_secs(args.duration);
    let result = load::run_until(
        &client,
        &layout,
        warmup,
        args.stored - warmup,
        args.concurrency,
        Some(deadline),
        Some(answered.clone()),
    )
    .await;
    let after = stats::Snapshot::take(srv.pid)?;
    let load_end = start.elapsed();
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the sampler thread panicked"))?;
    drop(client);
    let stopped = srv.stop().await;
    let usage = stats::Usage::between(&before, &after);
    let wal_after_stop = file_len(&wal_path);

    let under_load: Vec<&Sample> = samples.iter().filter(|s| s.at <= load_end).collect();
    let mut sizes: Vec<u64> = under_load.iter().map(|s| s.wal).collect();
    sizes.sort_unstable();
    let pct = |p: f64| -> u64 {
        if sizes.is_empty() {
            return 0;
        }
        sizes[((p * sizes.len() as f64).ceil() as usize).clamp(1, sizes.len()) - 1]
    };
    let max = sizes.last().copied().unwrap_or(0);
    let idle_end = samples.last().map_or(0, |s| s.wal);

    println!("# SQLite WAL size under sustained write load\n");
    println!(
        "- server: `{} serve`, synchronous=FULL (durable default)",
        server_bin.display()
    );
    println!(
        "- load: SigV4-signed CancelJobExecution, {} workers, {} s (or until the {} stored executions are cancelled), {} order",
        args.concurrency,
        args.duration,
        stats::thousands(args.stored),
        match args.order {
            seed::Order::Random => "random",
            seed::Order::Sequential => "primary-key",
        }
    );
    println!(
        "- WAL sampled every {} ms from the file's size on disk; disk: 64 KiB write + fsync p50 {fsync_ms:.2} ms before the run",
        args.sample_ms
    );
    println!(
        "- CPU columns are % of one core during the load; \"KiB written/cancel\" counts the server's write syscalls (WAL frames, checkpoint copies into the database file, HTTP responses)"
    );
    println!();
    println!(
        "| load time | cancels | cancels/s | p50 ms | p99 ms | errors | WAL max MiB | WAL p50 MiB | WAL p99 MiB | samples | samples above 64 MiB | WAL after {} s idle MiB | server CPU | writer on CPU | KiB written/cancel | other load |",
        args.idle
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.1} s | {} | {:.0} | {:.2} | {:.2} | {} | **{}** | {} | {} | {} | {} | {} | {:.0} % | {:.0} % | {:.1} | {:.0} % |",
        result.elapsed.as_secs_f64(),
        stats::thousands(result.requests),
        result.rate(),
        result.percentile_ms(0.50),
        result.percentile_ms(0.99),
        result.errors,
        mib(max),
        mib(pct(0.50)),
        mib(pct(0.99)),
        sizes.len(),
        sizes.iter().filter(|&&s| s > GOAL_BYTES).count(),
        mib(idle_end),
        usage.server_pct,
        usage.writer_pct,
        usage.server_written_bytes as f64 / 1024.0 / result.requests.max(1) as f64,
        usage.other_pct,
    );
    println!();
    println!(
        "Goal: WAL never above {} MiB: **{}** (largest sample {} MiB). After the server stopped: {} MiB.",
        GOAL_BYTES >> 20,
        if max <= GOAL_BYTES { "met" } else { "not met" },
        mib(max),
        mib(wal_after_stop)
    );
    println!();
    println!("Every 5 s (the largest WAL sample of each interval):\n");
    println!("| t | WAL max MiB | DB MiB | cancels answered | cancels/s in the interval |");
    println!("|---:|---:|---:|---:|---:|");
    let mut prev_answered = 0;
    let mut t = 0;
    loop {
        let (from, to) = (Duration::from_secs(t), Duration::from_secs(t + 5));
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.at >= from && s.at < to)
            .collect();
        let Some(last) = window.last() else { break };
        let wal_max = window.iter().map(|s| s.wal).max().unwrap_or(0);
        println!(
            "| {}-{} s{} | {} | {} | {} | {:.0} |",
            t,
            t + 5,
            if from >= load_end { " (idle)" } else { "" },
            mib(wal_max),
            mib(last.db),
            stats::thousands(last.answered),
            (last.answered - prev_answered) as f64 / 5.0
        );
        prev_answered = last.answered;
        t += 5;
    }

    if !args.keep {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            if args.seeded.is_none() {
                let _ = std::fs::remove_file(format!("{}{suffix}", template.display()));
            }
        }
        let _ = std::fs::remove_file(&log);
    } else {
        eprintln!("kept {} and {}", template.display(), log.display());
    }
    for (phase, r) in [("warm-up", &warm), ("measured", &result)] {
        if r.errors > 0 {
            bail!(
                "{phase}: {} of {} requests failed; first: {}",
                r.errors,
                r.requests,
                r.first_errors.join(" | ")
            );
        }
    }
    stopped
}
