//! `iotjobs-bench cancel-pg`: the same CancelJobExecution measurement against the
//! PostgreSQL backend. Each size is seeded into a fresh schema through `PgStore`; the
//! rows of one size then cancel disjoint ranges of its executions (a PostgreSQL schema
//! is not copied per row as the SQLite file is), so every request is still a real
//! QUEUED→CANCELED transition. The schema is dropped at the end.

use crate::{load, seed, server};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct PgArgs {
    /// The PostgreSQL database to use (a schema is created and dropped in it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Stored executions per schema, comma-separated (as for `cancel`).
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    stored: Vec<u64>,
    /// Concurrent client workers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Measured cancels per row.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Measured cancels for concurrency-1 rows.
    #[arg(long, default_value_t = 2_000)]
    requests_c1: u64,
    /// Unmeasured cancels per row before measuring.
    #[arg(long, default_value_t = 256)]
    warmup: u64,
    /// Creates in flight while seeding.
    #[arg(long, default_value_t = 64)]
    seed_concurrency: usize,
    /// The server binary (default: `iotjobs` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// `iotjobs serve` nodes on the one database: each gets an equal share of the
    /// workers and of the executions to cancel, all at the same time.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

pub async fn cancel_pg(args: PgArgs) -> anyhow::Result<()> {
    let server_bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("iotjobs"),
    };
    let (admin, conn) = tokio_postgres::connect(&args.postgres, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {}", args.postgres))?;
    tokio::spawn(conn);
    let version: String = admin.query_one("SHOW server_version", &[]).await?.get(0);
    let sync: String = admin
        .query_one("SHOW synchronous_commit", &[])
        .await?
        .get(0);
    println!("# CancelJobExecution benchmark, PostgreSQL backend\n");
    println!("- PostgreSQL {version} on this machine, synchronous_commit={sync}");
    println!(
        "- server: `{} serve --database postgres://…` ({} node{})\n",
        server_bin.display(),
        args.nodes,
        if args.nodes == 1 {
            ""
        } else {
            "s, one database"
        }
    );
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    println!("| stored | conc. | cancels | requests/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let log_dir = tempfile::tempdir()?;
    let mut failed = false;
    for &stored in &args.stored {
        let layout = seed::Layout::new(stored, seed::Order::Random)?;
        let schema = format!("iotjobs_bench_{stored}_{}", std::process::id());
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await?;
        let sep = if args.postgres.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}options=-c%20search_path%3D{schema}", args.postgres);
        let start = Instant::now();
        let store = iotjobs_store::PgStore::connect(&url)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        seed::seed_store(&store, &layout, args.seed_concurrency).await?;
        drop(store);
        admin
            .batch_execute(&format!(
                "ANALYZE {schema}.job_executions; ANALYZE {schema}.jobs"
            ))
            .await?;
        eprintln!(
            "seeded {stored} executions in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        let mut next = 0u64;
        for &concurrency in &args.concurrency {
            let wanted = if concurrency == 1 {
                args.requests_c1
            } else {
                args.requests
            };
            let warmup = args.warmup.min(stored / 10);
            let requests = wanted.min(stored.saturating_sub(next + warmup));
            let log = log_dir
                .path()
                .join(format!("server-{stored}-{concurrency}.log"));
            let mut servers = Vec::new();
            for node in 0..args.nodes {
                let log = log.with_extension(format!("{node}.log"));
                servers.push(server::Server::start_url(&server_bin, &url, &log).await?);
            }
            let clients = servers
                .iter()
                .map(|s| load::Client::new(s.addr).map(Arc::new))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let warm = on_nodes(&clients, &layout, next, warmup, concurrency).await?;
            let result = on_nodes(&clients, &layout, next + warmup, requests, concurrency).await?;
            next += warmup + requests;
            drop(clients);
            for srv in servers {
                srv.stop().await?;
            }
            failed |= warm.errors > 0 || result.errors > 0;
            println!(
                "| {} | {concurrency} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
                stored,
                result.requests,
                result.rate(),
                result.percentile_ms(0.50),
                result.percentile_ms(0.99),
                result.max_ms(),
                result.errors + warm.errors
            );
        }
        // Every cancel counted once, whichever node made it: the jobs' counters agree
        // with the executions' statuses.
        let row = admin
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM {schema}.job_executions WHERE status = 'CANCELED'),
                            (SELECT coalesce(sum(n_canceled), 0)::bigint FROM {schema}.jobs),
                            (SELECT count(*) FROM {schema}.job_executions WHERE status = 'QUEUED'),
                            (SELECT coalesce(sum(n_queued), 0)::bigint FROM {schema}.jobs)"
                ),
                &[],
            )
            .await?;
        let (canceled, counted, queued, counted_queued): (i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        anyhow::ensure!(
            canceled == counted && queued == counted_queued,
            "counters disagree with the executions: {canceled} CANCELED rows, n_canceled {counted}; \
             {queued} QUEUED rows, n_queued {counted_queued}"
        );
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await?;
    }
    anyhow::ensure!(!failed, "some cancels were not answered 200");
    Ok(())
}

/// Cancel pairs `first..first + count` through every node at once: node `i` gets the
/// `i`-th share of the pairs and of the workers (as in [`load::run`]).
async fn on_nodes(
    clients: &[Arc<load::Client>],
    layout: &seed::Layout,
    first: u64,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<load::LoadResult> {
    let n = clients.len() as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, client) in clients.iter().enumerate() {
        let i = i as u64;
        let (start, end) = (first + count * i / n, first + count * (i + 1) / n);
        let workers = (concurrency / clients.len()).max(1);
        let (client, layout) = (client.clone(), *layout);
        tasks.spawn(async move { load::run(&client, &layout, start, end - start, workers).await });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        results.push(r?);
    }
    Ok(load::LoadResult::merge(results))
}
