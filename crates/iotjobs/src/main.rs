//! The `iotjobs` binary: `iotjobs serve` runs the service; `iotjobs iot …` and
//! `iotjobs iot-jobs-data …` are the AWS CLI v1 drop-in (`iotjobs-cli`). Thin wiring only:
//! parse options, set up logging, open the store, bind, serve until a signal.

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
    /// durability for speed), or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` for several
    /// nodes sharing one database. Default: `sqlite://<data dir>/iotjobs.sqlite`.
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
    // The CLI commands own their argv parsing, messages and exit codes (0, 2, 255, as the
    // AWS CLI v1): dispatch before clap and before any logging or runtime set-up, so a call
    // starts in a few milliseconds.
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if iotjobs_cli::is_cli_invocation(&argv) {
        std::process::exit(run_cli(&argv));
    }
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

/// Runs one CLI command with buffered stdout/stderr, flushed before the process exits.
fn run_cli(argv: &[String]) -> i32 {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut err = std::io::BufWriter::new(std::io::stderr().lock());
    let code = iotjobs_cli::run(
        argv,
        &mut iotjobs_cli::Io {
            out: &mut out,
            err: &mut err,
        },
    );
    let _ = out.flush();
    let _ = err.flush();
    code
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("--account-id must be 12 digits, got {:?}", args.account_id);
    }
    let database = match &args.database {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            args.data_dir.join("iotjobs.sqlite").display()
        ),
    };
    // The one place that knows URL schemes: pick the backend, then serve generically.
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let store = iotjobs_store::PgStore::connect(&database)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("opening database {}", redact(&database)))?;
        tracing::info!(database = %redact(&database), "store ready (PostgreSQL)");
        serve_with(store, args).await
    } else {
        let store = iotjobs_store::open_sqlite_url(&database)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("opening database {database}"))?;
        tracing::info!(database = %database, "store ready (SQLite)");
        serve_with(store, args).await
    }
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn serve_with<S: iotjobs_core::Store>(store: S, args: ServeArgs) -> anyhow::Result<()> {
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
