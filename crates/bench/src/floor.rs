//! The machine's limits, measured beside the cancel benchmark (issue 15 asks for them next
//! to every result):
//!
//! - `null-serve`: a minimal hyper HTTP/1 server that reads each request and answers
//!   `200 {}` as CancelJobExecution does, with no signature check, routing or storage.
//!   `iotjobs-bench cancel --null-server` starts it in place of `iotjobs serve`, so the
//!   same client, signing and load shape measure the HTTP floor of this machine.
//! - `sqlite-floor`: what SQLite itself costs per durable single-row update with group
//!   commit: on a database seeded like the cancel benchmark's, one thread runs batches of
//!   B "cancels" (read the execution and job rows, update both) per `BEGIN IMMEDIATE` …
//!   `COMMIT` with `synchronous=FULL`, in the benchmark's random order.
//!
//! What this module must not do: stand for the server. Both are floors, without any of
//! the server's rules; they say what the hardware and the libraries allow.

use crate::seed;
use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The minimal server: `--listen ADDR` (other `serve` arguments are accepted and ignored,
/// so that the benchmark's `Server::start` can run it unchanged). Prints
/// `listening on http://HOST:PORT` as `iotjobs serve` does.
pub fn null_serve(args: &[String]) -> anyhow::Result<()> {
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
        .map_or("127.0.0.1:0", String::as_str)
        .to_owned();
    // The same runtime shape as `iotjobs serve`: tokio's multi-thread default.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        println!("listening on http://{}", listener.local_addr()?);
        // Stop cleanly on SIGTERM, as the benchmark stops `iotjobs serve`.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => accepted?.0,
                _ = term.recv() => return Ok::<(), anyhow::Error>(()),
            };
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        // Read the body, as a real handler must.
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(b"{}")))
                                .expect("static response"),
                        )
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

#[derive(clap::Args)]
pub struct SqliteFloorArgs {
    /// Stored executions (seeded as `cancel` seeds them).
    #[arg(long, default_value_t = 10_000)]
    stored: u64,
    /// Cancels per commit, comma-separated; one row per value.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    batch: Vec<u64>,
    /// Cancels per row.
    #[arg(long, default_value_t = 8_000)]
    updates: u64,
    /// Order of the updated rows.
    #[arg(long, value_enum, default_value = "random")]
    order: seed::Order,
    /// Where the database goes (default: a new temp dir, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

pub async fn sqlite_floor(args: SqliteFloorArgs) -> anyhow::Result<()> {
    let layout = seed::Layout::new(args.stored, args.order)?;
    let (dir, _guard) = crate::work_directory(args.work_dir.as_ref(), "iotjobs-floor-")?;
    let template = dir.join("seed.sqlite");
    eprintln!("seeding {} executions", args.stored);
    seed::seed(&template, &layout, 64).await?;
    println!("# SQLite floor: durable single-row updates with group commit\n");
    println!(
        "Per cancel: SELECT the execution row and the job row, UPDATE both (all columns read; \
         the execution's status and version, the job's counters); B cancels per BEGIN IMMEDIATE … \
         COMMIT, journal_mode=WAL, synchronous=FULL, {} order over {} stored.\n",
        match args.order {
            seed::Order::Random => "random",
            seed::Order::Sequential => "primary-key",
        },
        stats_fmt(args.stored)
    );
    println!("| batch | cancels | commits/s | cancels/s | wall µs/cancel | CPU µs/cancel |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &batch in &args.batch {
        let db = dir.join(format!("floor-{batch}.sqlite"));
        std::fs::copy(&template, &db)?;
        let n = args.updates.min(args.stored);
        let (wall, cpu_ns) = run_floor(&db, &layout, batch.max(1), n)?;
        let per = wall.as_secs_f64() * 1e6 / n as f64;
        println!(
            "| {batch} | {n} | {:.0} | {:.0} | {per:.1} | {:.1} |",
            n as f64 / batch.max(1) as f64 / wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            cpu_ns as f64 / 1e3 / n as f64
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    Ok(())
}

fn stats_fmt(n: u64) -> String {
    crate::stats::thousands(n)
}

/// This thread's CPU time in ns (`/proc/thread-self/schedstat`: time on a CPU).
fn thread_cpu_ns() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    text.split_whitespace()
        .next()
        .context("schedstat")?
        .parse()
        .context("schedstat")
}

fn run_floor(
    db: &Path,
    layout: &seed::Layout,
    batch: u64,
    n: u64,
) -> anyhow::Result<(std::time::Duration, u64)> {
    let conn = rusqlite::Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    // The server checkpoints on another thread; keep that cost out of the floor too.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let names: Vec<(String, String)> = (0..n)
        .map(|i| {
            let (t, j) = layout.pair(i);
            (seed::thing_name(t), seed::job_id(j))
        })
        .collect();
    let start = Instant::now();
    let cpu0 = thread_cpu_ns()?;
    for (k, chunk) in names.chunks(batch as usize).enumerate() {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for (thing, job) in chunk {
            let now = k as i64;
            read_all(
                &conn,
                "SELECT * FROM job_executions WHERE thing_name = ?1 AND job_id = ?2 AND execution_number = 1",
                &[thing, job],
            )?;
            read_all(&conn, "SELECT * FROM jobs WHERE job_id = ?1", &[job])?;
            let changed = conn
                .prepare_cached(
                    "UPDATE job_executions SET status = 'CANCELED', last_updated_at = ?3,
                     version_number = version_number + 1
                     WHERE thing_name = ?1 AND job_id = ?2 AND execution_number = 1",
                )?
                .execute(rusqlite::params![thing, job, now])?;
            anyhow::ensure!(changed == 1, "no execution {thing}/{job}");
            conn.prepare_cached(
                "UPDATE jobs SET n_queued = n_queued - 1, n_canceled = n_canceled + 1,
                 last_updated_at = ?2 WHERE job_id = ?1",
            )?
            .execute(rusqlite::params![job, now])?;
        }
        conn.execute_batch("COMMIT")?;
    }
    let cpu = thread_cpu_ns()? - cpu0;
    Ok((start.elapsed(), cpu))
}

/// Runs a one-row SELECT and reads every column, as decoding a row does.
fn read_all(conn: &rusqlite::Connection, sql: &str, params: &[&String]) -> anyhow::Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    let cols = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let row = rows.next()?.context("row missing")?;
    for i in 0..cols {
        std::hint::black_box(row.get_ref(i)?);
    }
    Ok(())
}
