//! The `iotjobs` binary: `iotjobs serve` runs the service. Thin wiring only: parse
//! options, set up logging, open the store, bind, serve until a signal.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use iotjobs_api::{App, ServiceConfig};
use iotjobs_core::SystemClock;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "iotjobs",
    version,
    about = "A self-hostable AWS IoT Jobs service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the AWS IoT Jobs control plane (`iot`) and device data plane
    /// (`iot-jobs-data`) on one HTTP listener.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. Once ready, one line
    /// `listening on http://HOST:PORT` is printed to stdout.
    #[arg(long, env = "IOTJOBS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Database URL: `sqlite://PATH` (add `?synchronous=normal` to trade power-loss
    /// durability for speed). Default: `sqlite://<data dir>/iotjobs.sqlite`.
    #[arg(long, env = "IOTJOBS_DATABASE")]
    database: Option<String>,
    /// Directory for the default database.
    #[arg(long, env = "IOTJOBS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// AWS region used in ARNs.
    #[arg(long, env = "IOTJOBS_REGION", default_value = "us-east-1")]
    region: String,
    /// AWS account id used in ARNs.
    #[arg(long, env = "IOTJOBS_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,
    /// Serve `POST /moto-api/reset`, which wipes ALL state, so that test suites
    /// written for moto's server mode run unchanged. Never enable it in production.
    #[arg(long, env = "IOTJOBS_ENABLE_RESET")]
    enable_reset: bool,
    /// How often the background sweep runs (timeouts, job deletions), in milliseconds.
    #[arg(long, env = "IOTJOBS_SWEEP_INTERVAL_MS", default_value_t = 1000)]
    sweep_interval_ms: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(args)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("--account-id must be 12 digits, got {:?}", args.account_id);
    }
    let database = match args.database {
        Some(url) => url,
        None => format!(
            "sqlite://{}",
            args.data_dir.join("iotjobs.sqlite").display()
        ),
    };
    let store = iotjobs_store::open_sqlite_url(&database)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("opening database {database}"))?;
    tracing::info!(database = %database, "store ready");
    if args.enable_reset {
        tracing::warn!("--enable-reset: POST /moto-api/reset deletes all state");
    }
    let app = Arc::new(App::new(
        store,
        Arc::new(SystemClock),
        ServiceConfig {
            region: args.region,
            account_id: args.account_id,
            enable_reset: args.enable_reset,
        },
    ));
    let sweeper = tokio::spawn(iotjobs_api::background::run_sweeper(
        app.clone(),
        std::time::Duration::from_millis(args.sweep_interval_ms.max(10)),
    ));
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, "serving");
    iotjobs_api::serve(listener, app, shutdown_signal()).await?;
    sweeper.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting and lets in-flight
/// requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
