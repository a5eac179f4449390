//! The `iotjobs` binary: `iotjobs serve` runs the service; `iotjobs iot …` and
//! `iotjobs iot-jobs-data …` are the AWS CLI v1 drop-in (`iotjobs-cli`). Thin wiring only:
//! parse options, set up logging, open the store, bind, serve until a signal.

/// mimalloc instead of glibc's malloc: malloc, free and their bookkeeping were the
/// largest user-space cost of a signed cancel in a profile of the server, and mimalloc
/// serves about a quarter more cancels per second (docs/benchmarks.md, "The
/// allocator"). Its arenas are committed on demand (`.cargo/config.toml`), which keeps
/// an idle MQTT connection within issue 11's memory budget.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use iotjobs_api::app::{AccountConfig, App};
use iotjobs_api::auth::{AccessKey, Auth, Keyring, Role};
use iotjobs_api::issuer::CertificateIssuer;
use iotjobs_api::listener::ConnectionLimits;
use iotjobs_api::s3::{S3, S3Config};
use iotjobs_api::server::{BodyLimits, Service};
use iotjobs_core::{Clock as _, SystemClock};
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
    #[command(about = iotjobs_cli::help_text::SERVE_SUMMARY)]
    Serve(Box<ServeArgs>),
    /// `iotjobs iot …`: listed here so that `iotjobs --help` shows it; `main` hands such an
    /// argv to `iotjobs-cli` before clap parses anything.
    #[command(about = iotjobs_cli::help_text::service_line("iot"), disable_help_flag = true)]
    Iot(CliArgs),
    /// `iotjobs iot-jobs-data …`, as `Iot`.
    #[command(
        about = iotjobs_cli::help_text::service_line("iot-jobs-data"),
        disable_help_flag = true
    )]
    IotJobsData(CliArgs),
    /// Copy the SQLite databases of a (possibly running) server into a directory: a
    /// consistent online copy of each (the main file and every account's file), checked
    /// after copying. To restore, stop the server and serve from the copies. For
    /// PostgreSQL use `pg_dump` (docs/operations.md).
    Backup(BackupArgs),
    /// Read the audit log of a running server (who changed what, from where, when, old
    /// and new status): `GET /iotjobs-api/audit`, signed with your credentials like
    /// `iotjobs iot ...` (admin or operator keys). Oldest first; one line per record.
    Audit(AuditArgs),
    /// Move the test clock of a server started with `serve --test-clock`: `POST
    /// /iotjobs-api/clock`, signed with your credentials (admin keys). Prints the
    /// server's new time once every timeout, rollout step, schedule and maintenance
    /// window due by then has been applied.
    Clock(ClockArgs),
}

/// The words after `iot` / `iot-jobs-data`, for the CLI (which owns their parsing).
#[derive(clap::Args)]
struct CliArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    words: Vec<String>,
}

impl CliArgs {
    fn argv(self, command: &str) -> Vec<String> {
        std::iter::once(command.to_owned())
            .chain(self.words)
            .collect()
    }
}

#[derive(clap::Args)]
struct AuditArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    endpoint_url: String,
    /// Only this job's records.
    #[arg(long)]
    job_id: Option<String>,
    /// Only this thing's records (or a thing group's, or a certificate id's).
    #[arg(long)]
    thing_name: Option<String>,
    /// Only changes made by this access key id (`thing/NAME` for a device over MQTT,
    /// `iotjobs` for the service's own background work).
    #[arg(long)]
    principal: Option<String>,
    /// Only records at or after this time (epoch seconds or ISO 8601).
    #[arg(long)]
    since: Option<String>,
    /// Only records before this time (epoch seconds or ISO 8601).
    #[arg(long)]
    until: Option<String>,
    /// Stop after this many records.
    #[arg(long)]
    max_items: Option<usize>,
    /// `text` (tab-separated columns) or `json` (one JSON object per line).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Credentials profile, as for the AWS CLI.
    #[arg(long)]
    profile: Option<String>,
    /// Signing region, as for the AWS CLI.
    #[arg(long)]
    region: Option<String>,
}

/// `iotjobs clock`: one of the two moves.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["advance_seconds", "epoch_seconds"])))]
struct ClockArgs {
    /// The server, e.g. http://127.0.0.1:8080 (started with `serve --test-clock`).
    #[arg(long)]
    endpoint_url: String,
    /// Move the clock this many seconds forward.
    #[arg(long)]
    advance_seconds: Option<f64>,
    /// Move the clock to this time (epoch seconds; never backwards).
    #[arg(long)]
    epoch_seconds: Option<f64>,
    /// Credentials profile, as for the AWS CLI.
    #[arg(long)]
    profile: Option<String>,
    /// Signing region, as for the AWS CLI.
    #[arg(long)]
    region: Option<String>,
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The database to copy, as for `serve`. Default: `sqlite://<data dir>/iotjobs.sqlite`.
    #[arg(long, env = "IOTJOBS_DATABASE")]
    database: Option<String>,
    /// Directory of the default database, as for `serve`.
    #[arg(long, env = "IOTJOBS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Directory to write the copies to (created if missing); files of the same names
    /// must not exist there: a backup never overwrites.
    #[arg(long)]
    to: PathBuf,
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
    /// `sigv4`: verify every request's AWS Signature Version 4 against the known access
    /// keys. `none`: accept any request as the admin of --account-id (throwaway local
    /// runs only).
    #[arg(long, env = "IOTJOBS_AUTH", value_enum, default_value = "sigv4")]
    auth: AuthMode,
    /// TOML file of access keys (`[[keys]]` with access_key_id, secret_access_key,
    /// account_id, role = admin|operator|device, thing_name for devices, optional
    /// session_token); see docs/security.md. Without it (and without
    /// IOTJOBS_ACCESS_KEY_ID / IOTJOBS_SECRET_ACCESS_KEY, an admin key of --account-id),
    /// the server has one development admin key, `test` / `test`.
    #[arg(long, env = "IOTJOBS_CREDENTIALS")]
    credentials: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "IOTJOBS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "IOTJOBS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also serve devices over MQTT (3.1.1 and 5, the `$aws/things/{thing}/jobs/...`
    /// topics) on this address; port 0 picks a free port, and `mqtt listening on
    /// mqtt://HOST:PORT` (mqtts:// with --mqtt-tls-cert) is printed to stdout once ready.
    /// Plain TCP only on a loopback address (development: a device's MQTT client id is
    /// its thing name, in --account-id); with --mqtt-tls-cert/--mqtt-tls-key/
    /// --mqtt-client-ca, any address, mutual TLS.
    #[arg(long, env = "IOTJOBS_MQTT_LISTEN")]
    mqtt_listen: Option<String>,
    /// PEM certificate chain of the MQTT endpoint: serve devices over mutual TLS (needs
    /// --mqtt-tls-key and --mqtt-client-ca). A device must present a client certificate
    /// signed by --mqtt-client-ca, registered in --account-id (RegisterCertificateWithoutCA,
    /// or made by CreateKeysAndCertificate with --mqtt-client-ca-key), ACTIVE, and attached
    /// (AttachThingPrincipal) to the thing its client id names.
    #[arg(long, env = "IOTJOBS_MQTT_TLS_CERT", requires_all = ["mqtt_tls_key", "mqtt_client_ca", "mqtt_listen"])]
    mqtt_tls_cert: Option<PathBuf>,
    /// PEM private key for --mqtt-tls-cert.
    #[arg(long, env = "IOTJOBS_MQTT_TLS_KEY", requires_all = ["mqtt_tls_cert", "mqtt_client_ca"])]
    mqtt_tls_key: Option<PathBuf>,
    /// PEM CA certificate(s) that sign the devices' client certificates (for
    /// --mqtt-tls-cert).
    #[arg(long, env = "IOTJOBS_MQTT_CLIENT_CA", requires_all = ["mqtt_tls_cert", "mqtt_tls_key"])]
    mqtt_client_ca: Option<PathBuf>,
    /// PEM private key (PKCS#8) of a --mqtt-client-ca certificate: CreateKeysAndCertificate
    /// then makes a key pair and a certificate signed by that CA (ECDSA P-256), so a
    /// device connects with them as with a certificate you registered. The key is read
    /// once at start-up; keep the file readable by the server only. Without it,
    /// CreateKeysAndCertificate is refused (400 InvalidRequestException).
    #[arg(long, env = "IOTJOBS_MQTT_CLIENT_CA_KEY", requires = "mqtt_client_ca")]
    mqtt_client_ca_key: Option<PathBuf>,
    /// Also serve devices through an existing MQTT broker: `mqtt://HOST:PORT` (plain
    /// TCP; mqtts:// is not implemented yet). iotjobs subscribes to every thing's jobs
    /// request topics there and prints `mqtt broker connected to mqtt://HOST:PORT` once
    /// subscribed. The broker's ACL must keep each device to its own thing's topics;
    /// with several nodes on PostgreSQL, one is elected to serve the broker and the others
    /// stand by (docs/mqtt-broker.md).
    #[arg(long, env = "IOTJOBS_MQTT_BROKER")]
    mqtt_broker: Option<String>,
    /// MQTT client id of iotjobs at the broker (its session, kept across restarts).
    /// Default: `iotjobs-<account id>`.
    #[arg(long, env = "IOTJOBS_MQTT_BROKER_CLIENT_ID")]
    mqtt_broker_client_id: Option<String>,
    /// Username of iotjobs at the broker.
    #[arg(long, env = "IOTJOBS_MQTT_BROKER_USERNAME")]
    mqtt_broker_username: Option<String>,
    /// Password of iotjobs at the broker (prefer the environment variable: the command
    /// line is visible to `ps`).
    #[arg(long, env = "IOTJOBS_MQTT_BROKER_PASSWORD", hide_env_values = true)]
    mqtt_broker_password: Option<String>,
    /// Publish Jobs events (`$aws/events/job/{jobId}/...` and
    /// `$aws/events/jobExecution/{jobId}/...`, as AWS IoT does once they are enabled):
    /// on --mqtt-listen to operator connections (MQTT user name = an admin or operator
    /// access key id of --account-id, password = its secret; any password under --auth
    /// none), and on --mqtt-broker, where the broker's ACL decides who reads them.
    #[arg(long, env = "IOTJOBS_MQTT_EVENTS")]
    mqtt_events: bool,
    /// Start the server's clock at the real time and move it only when told:
    /// `POST /iotjobs-api/clock` with `{"advanceSeconds": N}` or `{"epochSeconds": T}`
    /// (admins; unsigned under --auth none) applies every timeout due by then before it
    /// answers `{"epochSeconds": now}`. For tests: hours of timeouts in milliseconds.
    #[arg(long, env = "IOTJOBS_TEST_CLOCK")]
    test_clock: bool,
    /// Log format on stderr: `text` (human-readable lines) or `json` (one JSON object
    /// per line, for log shippers). Every request is logged at the default level
    /// (`info`): operation, status, latency, account, request id.
    #[arg(long, env = "IOTJOBS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// How often (milliseconds) live mutual-TLS device connections have their
    /// certificate checked again: one no longer ACTIVE or no longer attached to its
    /// thing is disconnected, as AWS IoT does within minutes.
    #[arg(long, env = "IOTJOBS_MQTT_CERTIFICATE_RECHECK_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(10..))]
    mqtt_certificate_recheck_ms: u64,
    /// `HOST[:PORT]` where clients reach the HTTP listener, as DescribeEndpoint answers it
    /// for `iot:Jobs` and `iot:CredentialProvider` (and for `iot:Data`/`iot:Data-ATS`
    /// when devices have no MQTT address). Default: the address --listen bound. Give it
    /// when clients come through a name, a load balancer or a port mapping, or when
    /// listening on 0.0.0.0.
    #[arg(long, env = "IOTJOBS_PUBLIC_HTTP_ADDRESS", value_parser = parse_public_address)]
    public_http_address: Option<String>,
    /// `HOST[:PORT]` where devices reach MQTT, as DescribeEndpoint answers it for
    /// `iot:Data` and `iot:Data-ATS` (AWS's device endpoint, which SDK samples look up and
    /// connect to). Default: the address --mqtt-listen bound, else the --mqtt-broker's
    /// host and port, else the HTTP address.
    #[arg(long, env = "IOTJOBS_PUBLIC_MQTT_ADDRESS", value_parser = parse_public_address)]
    public_mqtt_address: Option<String>,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "IOTJOBS_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(1..))]
    max_connections: u16,
    /// Time a connection has to send a request's headers (also the idle keep-alive
    /// limit), in milliseconds.
    #[arg(long, env = "IOTJOBS_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    header_read_timeout_ms: u64,
    /// Time a request has to send its body, in milliseconds.
    #[arg(long, env = "IOTJOBS_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    body_read_timeout_ms: u64,
    /// S3-compatible endpoint (`http://HOST:PORT` or `https://HOST[:PORT]`, buckets
    /// addressed path style) where job documents live: CreateJob's `documentSource` is
    /// read from it, and `${aws:iot:s3-presigned-url…}` placeholders in the documents
    /// devices receive become presigned GET URLs on it. Signed with the server's own AWS
    /// credentials, read at start-up from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
    /// AWS_SESSION_TOKEN, else the shared credentials file (AWS_PROFILE). Without it,
    /// `documentSource` is refused and placeholders reach devices as written.
    #[arg(long, env = "IOTJOBS_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// Region that S3 requests and presigned URLs are signed for. Default: --region.
    #[arg(long, env = "IOTJOBS_S3_REGION", requires = "s3_endpoint")]
    s3_region: Option<String>,
    /// On SIGTERM or SIGINT, the time requests in flight have to finish, in milliseconds;
    /// idle connections are closed at once, and the server exits when all are done or
    /// this has passed (docs/operations.md).
    #[arg(long, env = "IOTJOBS_SHUTDOWN_DRAIN_MS", default_value_t = 5_000)]
    shutdown_drain_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AuthMode {
    Sigv4,
    None,
}

fn main() -> anyhow::Result<()> {
    // The CLI commands, and `iotjobs help …` except `help serve`, own their argv parsing,
    // messages and exit codes (0, 2, 255, as the AWS CLI v1): dispatch before clap and
    // before any logging or runtime set-up, so a call starts in a few milliseconds.
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if iotjobs_cli::is_cli_invocation(&argv) {
        std::process::exit(run_cli(&argv));
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or a pipe gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match &cli.command {
        // One JSON object per line, for log shippers.
        Command::Serve(args) if args.log_format == "json" => logs.json().init(),
        _ => logs.init(),
    }
    match cli.command {
        Command::Serve(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(*args)),
        Command::Backup(args) => backup(&args),
        Command::Audit(args) => {
            // Like `iotjobs iot ...`: the message alone on stderr, exit 255.
            if let Err(e) = audit(&args) {
                eprintln!("{e}");
                std::process::exit(255);
            }
            Ok(())
        }
        Command::Clock(args) => {
            let to = match (args.advance_seconds, args.epoch_seconds) {
                (Some(s), _) => iotjobs_cli::clock::ClockMove::AdvanceSeconds(s),
                (None, Some(t)) => iotjobs_cli::clock::ClockMove::EpochSeconds(t),
                (None, None) => unreachable!("clap requires one"),
            };
            match iotjobs_cli::clock::move_clock(
                &args.endpoint_url,
                args.profile.as_deref(),
                args.region.as_deref(),
                to,
            ) {
                Ok(now) => {
                    println!("{{\"epochSeconds\": {now}}}");
                    Ok(())
                }
                Err(e) => {
                    // Like `iotjobs iot ...`: the message alone on stderr, exit 255.
                    eprintln!("{e}");
                    std::process::exit(255);
                }
            }
        }
        // Not reached in practice (`is_cli_invocation` sends these argvs to the CLI before
        // clap parses); kept correct anyway: the CLI gets the words it would have got.
        Command::Iot(args) => std::process::exit(run_cli(&args.argv("iot"))),
        Command::IotJobsData(args) => std::process::exit(run_cli(&args.argv("iot-jobs-data"))),
    }
}

/// `iotjobs audit`: print the records `iotjobs_cli::audit::read` returns.
fn audit(args: &AuditArgs) -> anyhow::Result<()> {
    let query = iotjobs_cli::audit::AuditQuery {
        endpoint: args.endpoint_url.clone(),
        profile: args.profile.clone(),
        region: args.region.clone(),
        job_id: args.job_id.clone(),
        thing_name: args.thing_name.clone(),
        principal: args.principal.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        max_items: args.max_items,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = None;
    let json = args.output == "json";
    iotjobs_cli::audit::read(&query, |r| {
        let line = if json {
            r.to_string()
        } else {
            let field = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            let at = r["at"].as_f64().unwrap_or_default();
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{} -> {}\t{}",
                iso8601(at),
                field("principal"),
                field("source"),
                field("operation"),
                field("subject"),
                field("jobId"),
                field("name"),
                field("oldStatus"),
                field("newStatus"),
                field("detail"),
            )
        };
        if let Err(e) = writeln!(out, "{line}") {
            failed.get_or_insert(e);
        }
    })
    .map_err(anyhow::Error::msg)?;
    out.flush()?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// `2026-12-05T10:24:40.123Z` for epoch seconds.
fn iso8601(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as i64;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = iotjobs_core::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// `iotjobs backup`: each file of the deployment copied with
/// `iotjobs_store::sqlite::backup`, one line per file on stdout.
fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let url = match &args.database {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            args.data_dir.join("iotjobs.sqlite").display()
        ),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "iotjobs backup copies SQLite databases; for PostgreSQL use pg_dump (each \
             account is a schema: pg_dump --schema=... , see docs/operations.md)"
        );
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split_once('?').map_or(rest, |(p, _)| p))
        .with_context(|| format!("unsupported database URL {url:?}"))?;
    let main = PathBuf::from(path);
    if !main.is_file() {
        anyhow::bail!("no database at {}", main.display());
    }
    let files = iotjobs_store::sqlite::backup::deployment_files(&main)
        .with_context(|| format!("listing the databases beside {}", main.display()))?;
    std::fs::create_dir_all(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    let mut out = std::io::stdout().lock();
    for file in files {
        let name = file.file_name().context("a database file name")?;
        let copy = args.to.join(name);
        let done =
            iotjobs_store::sqlite::backup::backup(&file, &copy).map_err(anyhow::Error::msg)?;
        writeln!(
            out,
            "backed up {} to {} ({} bytes, schema version {})",
            done.source.display(),
            done.copy.display(),
            done.bytes,
            done.schema_version
        )?;
    }
    Ok(())
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
    if !iotjobs_api::auth::keys::is_account_id(&args.account_id) {
        anyhow::bail!("--account-id must be 12 digits, got {:?}", args.account_id);
    }
    let database = match &args.database {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            args.data_dir.join("iotjobs.sqlite").display()
        ),
    };
    let auth = auth_from(&args)?;
    let certificate_issuer = issuer_from(&args)?;
    let s3 = s3_from(&args)?;
    // The server's own account always opens (and claims) the main database, even when
    // no key names it: otherwise a node whose keys name that account would serve it
    // from the main database while a node started with another --account-id served it
    // from a second, empty one.
    let mut accounts = match &auth {
        Auth::SigV4 { keys, .. } => keys.accounts(),
        Auth::None { .. } => Vec::new(),
    };
    if !accounts.contains(&args.account_id) {
        accounts.insert(0, args.account_id.clone());
    }
    // The one place that knows URL schemes: pick the backend, then serve generically.
    // The server's own account (--account-id) keeps the main database; every other
    // account gets its own SQLite file or PostgreSQL schema.
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let mut stores = Vec::new();
        for account in &accounts {
            let store = if *account == args.account_id {
                iotjobs_store::PgStore::connect(&database).await
            } else {
                iotjobs_store::PgStore::connect_for_account(&database, account).await
            }
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "opening database {} for account {account}",
                    redact(&database)
                )
            })?;
            claim(&store, account, &redact(&database)).await?;
            stores.push((account.clone(), store));
        }
        tracing::info!(database = %redact(&database), accounts = stores.len(), "store ready (PostgreSQL)");
        serve_with(stores, auth, certificate_issuer, s3, args).await
    } else {
        let mut stores = Vec::new();
        for account in &accounts {
            let url = if *account == args.account_id {
                database.clone()
            } else {
                iotjobs_store::sqlite_account_url(&database, account)
            };
            let store = iotjobs_store::open_sqlite_url(&url)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("opening database {url} for account {account}"))?;
            claim(&store, account, &url).await?;
            stores.push((account.clone(), store));
        }
        tracing::info!(database = %database, accounts = stores.len(), "store ready (SQLite)");
        serve_with(stores, auth, certificate_issuer, s3, args).await
    }
}

/// Bind a store to its account, refusing one that holds another account's resources
/// (say, the main database after `--account-id` changed).
async fn claim<S: iotjobs_core::Store>(store: &S, account: &str, what: &str) -> anyhow::Result<()> {
    store
        .claim_account(account)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("database {what} for account {account}"))
}

/// Who may connect to the MQTT endpoint as an operator (to read Jobs events): an admin
/// or operator key of the served account, its id as MQTT user name and its secret as
/// password, compared in constant time; anyone who sends a password under `--auth none`,
/// which makes every HTTP caller an admin too.
fn operator_check(auth: &Auth, account_id: &str) -> iotjobs_mqtt::OperatorCheck {
    match auth {
        Auth::None { .. } => Arc::new(|_: &str, _: &[u8]| true),
        Auth::SigV4 { keys, .. } => {
            let operators: std::collections::HashMap<String, String> = keys
                .iter()
                .filter(|k| k.account_id == account_id)
                .filter(|k| matches!(k.role, Role::Admin | Role::Operator))
                .map(|k| (k.access_key_id.clone(), k.secret_access_key.clone()))
                .collect();
            Arc::new(move |user: &str, password: &[u8]| {
                use subtle::ConstantTimeEq as _;
                operators
                    .get(user)
                    .is_some_and(|secret| bool::from(secret.as_bytes().ct_eq(password)))
            })
        }
    }
}

/// The authenticator the flags and environment ask for. Secrets come from a file or
/// the environment, never from the command line (where `ps` would show them).
fn auth_from(args: &ServeArgs) -> anyhow::Result<Auth> {
    if args.auth == AuthMode::None {
        tracing::warn!(
            "--auth none: requests are NOT authenticated; anyone who can reach this port \
             can read, create and cancel jobs. Use it only for throwaway local runs."
        );
        return Ok(Auth::None {
            account_id: args.account_id.clone(),
        });
    }
    let mut keys = match &args.credentials {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --credentials {}", path.display()))?;
            Keyring::from_toml(&text)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("in --credentials {}", path.display()))?
        }
        None => Keyring::default(),
    };
    let env_key = std::env::var("IOTJOBS_ACCESS_KEY_ID").ok();
    let env_secret = std::env::var("IOTJOBS_SECRET_ACCESS_KEY").ok();
    match (env_key, env_secret) {
        (Some(id), Some(secret)) => keys
            .insert(AccessKey {
                access_key_id: id,
                secret_access_key: secret,
                session_token: None,
                account_id: args.account_id.clone(),
                role: Role::Admin,
            })
            .map_err(anyhow::Error::msg)
            .context("in IOTJOBS_ACCESS_KEY_ID / IOTJOBS_SECRET_ACCESS_KEY")?,
        (None, None) => {}
        _ => anyhow::bail!(
            "set both IOTJOBS_ACCESS_KEY_ID and IOTJOBS_SECRET_ACCESS_KEY, or neither"
        ),
    }
    if keys.is_empty() {
        keys.insert(AccessKey::development(&args.account_id))
            .map_err(anyhow::Error::msg)?;
        tracing::warn!(
            "development credentials: access key id `test`, secret `test`, admin of account \
             {}. For development only: pass --credentials FILE for anything else.",
            args.account_id
        );
    }
    for key in keys.iter() {
        tracing::info!(access_key_id = %key.access_key_id, account = %key.account_id, role = ?key.role, "access key");
    }
    Ok(Auth::SigV4 {
        keys,
        region: args.region.clone(),
    })
}

/// CreateKeysAndCertificate's certificate issuer, when --mqtt-client-ca-key is given: the
/// key must belong to a --mqtt-client-ca certificate, and a certificate it signs must
/// verify as the MQTT endpoint verifies devices (checked here, so a wrong file stops the
/// server at start-up rather than failing every device later).
fn issuer_from(args: &ServeArgs) -> anyhow::Result<Option<Arc<CertificateIssuer>>> {
    let (Some(ca), Some(key)) = (&args.mqtt_client_ca, &args.mqtt_client_ca_key) else {
        return Ok(None);
    };
    let issuer = CertificateIssuer::load(ca, key)
        .map_err(anyhow::Error::msg)
        .with_context(|| {
            format!(
                "--mqtt-client-ca-key {} with --mqtt-client-ca {}",
                key.display(),
                ca.display()
            )
        })?;
    tracing::info!(
        ca_certificate_id = issuer.ca_certificate_id(),
        "CreateKeysAndCertificate signs device certificates with the --mqtt-client-ca-key CA"
    );
    Ok(Some(Arc::new(issuer)))
}

/// The S3 client `--s3-endpoint` asks for (disabled without it). Its credentials are
/// resolved once, now, as the AWS CLI resolves them (environment, then the shared
/// credentials and config files of AWS_PROFILE, `credential_process`): a server that
/// cannot sign fails at start-up rather than at its first CreateJob.
fn s3_from(args: &ServeArgs) -> anyhow::Result<Arc<S3>> {
    let Some(endpoint) = &args.s3_endpoint else {
        return Ok(Arc::new(S3::disabled()));
    };
    let credentials = iotjobs_cli::credentials::Config::load(None)
        .credentials()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("--s3-endpoint needs AWS credentials to sign S3 requests")?;
    let region = args
        .s3_region
        .clone()
        .unwrap_or_else(|| args.region.clone());
    let s3 = S3::new(S3Config {
        endpoint: endpoint.clone(),
        region: region.clone(),
        access_key_id: credentials.access_key,
        secret_access_key: credentials.secret_key,
        session_token: credentials.session_token,
    })
    .map_err(anyhow::Error::msg)?;
    tracing::info!(s3 = ?s3, "job documents in S3: documentSource and presigned URLs");
    Ok(Arc::new(s3))
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

async fn serve_with<S: iotjobs_core::Store + Clone>(
    stores: Vec<(String, S)>,
    auth: Auth,
    certificate_issuer: Option<Arc<CertificateIssuer>>,
    s3: Arc<S3>,
    args: ServeArgs,
) -> anyhow::Result<()> {
    if args.enable_reset {
        tracing::warn!(
            "--enable-reset: POST /moto-api/reset deletes all state of the caller's account"
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(iotjobs_api::listener::load_tls(cert, key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let interval = std::time::Duration::from_millis(args.sweep_interval_ms.max(10));
    // The domain's clock: the real one, or with --test-clock one that moves only when
    // POST /iotjobs-api/clock says so (SigV4 always uses the real clock).
    let test_clock = args.test_clock.then(|| {
        tracing::warn!(
            "--test-clock: the server's clock moves only through POST /iotjobs-api/clock; \
             for tests, never for a fleet"
        );
        Arc::new(iotjobs_core::ManualClock::new(SystemClock.now()))
    });
    let clock: Arc<dyn iotjobs_core::Clock> = match &test_clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    // Devices over MQTT talk to the server's own account (development mode).
    let (stop_mqtt, mqtt_stopped) = tokio::sync::watch::channel(false);
    // The embedded endpoint's sessions, counted for /metrics.
    let mqtt_sessions = iotjobs_mqtt::Sessions::default();
    let mut mqtt = Vec::new();
    // Where devices reach MQTT by default (DescribeEndpoint's iot:Data and iot:Data-ATS).
    let mut mqtt_address: Option<String> = None;
    if args.mqtt_listen.is_some() || args.mqtt_broker.is_some() {
        let store = stores
            .iter()
            .find(|(account, _)| *account == args.account_id)
            .map(|(_, s)| s.clone())
            .context("the main account's store")?;
        // One change listener per store, shared by both ways of reaching devices.
        let changes = iotjobs_mqtt::Changes::install(&store);
        let events = args.mqtt_events.then(|| iotjobs_mqtt::EventContext {
            region: args.region.clone(),
            account_id: args.account_id.clone(),
        });
        let endpoint_options = iotjobs_mqtt::EndpointOptions {
            sessions: mqtt_sessions.clone(),
            events: events.clone(),
            operators: Some(operator_check(&auth, &args.account_id)),
            certificate_recheck: Some(std::time::Duration::from_millis(
                args.mqtt_certificate_recheck_ms,
            )),
            presigner: Some(s3.clone()),
        };
        if let Some(addr) = &args.mqtt_listen {
            let mqtt_tls = match (
                &args.mqtt_tls_cert,
                &args.mqtt_tls_key,
                &args.mqtt_client_ca,
            ) {
                (Some(cert), Some(key), Some(ca)) => Some(
                    iotjobs_mqtt::endpoint::server_config(cert, key, ca)
                        .map_err(anyhow::Error::msg)
                        .context("--mqtt-tls-cert")?,
                ),
                _ => None,
            };
            let listener = bind_mqtt(addr, mqtt_tls.is_some()).await?;
            let addr = listener.local_addr()?;
            mqtt_address = Some(bound_address(
                "--mqtt-listen",
                addr,
                "--public-mqtt-address",
            ));
            let scheme = if mqtt_tls.is_some() { "mqtts" } else { "mqtt" };
            print_line(&format!("mqtt listening on {scheme}://{addr}"))?;
            tracing::info!(%addr, "serving devices over MQTT");
            let mut stopped = mqtt_stopped.clone();
            let (store, changes, clock) = (store.clone(), changes.clone(), clock.clone());
            mqtt.push(tokio::spawn(async move {
                iotjobs_mqtt::run_with_changes(
                    listener,
                    mqtt_tls,
                    store,
                    clock.clone(),
                    &changes,
                    &endpoint_options,
                    async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    },
                )
                .await
            }));
        }
        if let Some(url) = &args.mqtt_broker {
            let (host, port) = iotjobs_mqtt::broker::parse_url(url)
                .map_err(anyhow::Error::msg)
                .context("--mqtt-broker")?;
            let options = iotjobs_mqtt::broker::BrokerOptions {
                host,
                port,
                client_id: args
                    .mqtt_broker_client_id
                    .clone()
                    .unwrap_or_else(|| format!("iotjobs-{}", args.account_id)),
                username: args.mqtt_broker_username.clone(),
                password: args.mqtt_broker_password.clone(),
                events,
                presigner: Some(s3.clone()),
            };
            if options.password.is_some() && options.username.is_none() {
                anyhow::bail!("--mqtt-broker-password needs --mqtt-broker-username");
            }
            let broker_address = display_host_port(&options.host, options.port);
            let shown = format!("mqtt://{broker_address}");
            mqtt_address.get_or_insert(broker_address);
            tracing::info!(broker = %shown, client_id = %options.client_id, "serving devices through an MQTT broker");
            let mut stopped = mqtt_stopped.clone();
            let clock = clock.clone();
            mqtt.push(tokio::spawn(async move {
                iotjobs_mqtt::broker::run(
                    options,
                    store,
                    clock.clone(),
                    &changes,
                    move || {
                        if let Err(e) = print_line(&format!("mqtt broker connected to {shown}")) {
                            tracing::warn!(error = %e, "cannot write to stdout");
                        }
                    },
                    async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    },
                )
                .await
            }));
        }
    }
    // Bound before the accounts are set up, so that DescribeEndpoint can answer the
    // address it got (port 0 picks one); it serves once `listener::serve` runs below.
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let endpoints = iotjobs_core::endpoint::PublicEndpoints {
        http: args
            .public_http_address
            .clone()
            .unwrap_or_else(|| bound_address("--listen", addr, "--public-http-address")),
        mqtt: args.public_mqtt_address.clone().or(mqtt_address),
    };
    let mut apps = Vec::new();
    let mut sweepers = Vec::new();
    for (account, store) in stores {
        let app = Arc::new(App::new(
            store,
            clock.clone(),
            AccountConfig {
                region: args.region.clone(),
                account_id: account,
                enable_reset: args.enable_reset,
                certificate_issuer: certificate_issuer.clone(),
                s3: s3.clone(),
                endpoints: endpoints.clone(),
            },
        ));
        sweepers.push(tokio::spawn(iotjobs_api::background::run_sweeper(
            app.clone(),
            interval,
        )));
        apps.push(app);
    }
    let connection_limits = ConnectionLimits {
        max_connections: usize::from(args.max_connections),
        header_read_timeout: std::time::Duration::from_millis(args.header_read_timeout_ms.max(1)),
        shutdown_drain: std::time::Duration::from_millis(args.shutdown_drain_ms),
    };
    let body_limits = BodyLimits {
        body_read_timeout: std::time::Duration::from_millis(args.body_read_timeout_ms.max(1)),
        ..BodyLimits::default()
    };
    let mut service = Service::new(apps, auth, body_limits);
    if args.mqtt_listen.is_some() {
        let (devices, operators) = (mqtt_sessions.clone(), mqtt_sessions);
        service = service.with_gauges(vec![
            (
                "mqtt_device_connections",
                "Live MQTT device connections (--mqtt-listen)",
                Arc::new(move || i64::try_from(devices.connection_counts().0).unwrap_or(i64::MAX)),
            ),
            (
                "mqtt_operator_connections",
                "Live MQTT operator connections (--mqtt-listen)",
                Arc::new(move || {
                    i64::try_from(operators.connection_counts().1).unwrap_or(i64::MAX)
                }),
            ),
        ]);
    }
    if let Some(clock) = test_clock {
        service = service.with_test_clock(clock);
    }
    let service = Arc::new(service);
    let scheme = if tls.is_some() { "https" } else { "http" };
    if certificate_issuer.is_some() && tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "CreateKeysAndCertificate answers private keys, and this listener is plain HTTP \
             on a network address: give --tls-cert/--tls-key so that they travel encrypted"
        );
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {scheme}://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, scheme, "serving");
    iotjobs_api::listener::serve(
        listener,
        iotjobs_api::server::router(service),
        tls,
        &connection_limits,
        async move {
            shutdown_signal().await;
            let _ = stop_mqtt.send(true);
        },
    )
    .await?;
    for task in mqtt {
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "MQTT endpoint stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "MQTT endpoint task failed"),
            Ok(Ok(())) => {}
        }
    }
    for s in sweepers {
        s.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// One line on stdout, flushed (the start-up lines that tests and scripts wait for).
fn print_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// A bound address as DescribeEndpoint answers it by default. A wildcard address (0.0.0.0,
/// `[::]`) is where the server listens, not where anyone can reach it: it is still the
/// default (right for clients on the same machine), with a warning naming the option.
fn bound_address(flag: &str, addr: std::net::SocketAddr, public_flag: &str) -> String {
    if addr.ip().is_unspecified() {
        tracing::warn!(
            "{flag} {addr}: DescribeEndpoint answers this wildcard address, which clients on \
             other machines cannot connect to; give {public_flag} HOST[:PORT]"
        );
    }
    addr.to_string()
}

/// `--public-http-address` / `--public-mqtt-address`: `HOST` or `HOST:PORT` (an IPv6
/// address in brackets), as DescribeEndpoint answers it: no scheme and no path, since
/// AWS's answer is a bare host name that SDKs pair with their own scheme and port.
fn parse_public_address(value: &str) -> Result<String, String> {
    let invalid = |why: &str| Err(format!("{value:?} is not HOST[:PORT]: {why}"));
    if value.contains("://") {
        return invalid("give no scheme (DescribeEndpoint answers a bare host, as AWS)");
    }
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("empty, or has spaces");
    }
    if value.contains(['/', '?', '#', '@']) {
        return invalid("give no path, query or user");
    }
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return invalid("an unclosed [");
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return invalid("not an IPv6 address in brackets");
        }
        match after {
            "" => (ip, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None => return invalid("text after ]"),
            },
        }
    } else {
        match value.split_once(':') {
            Some((_, rest)) if rest.contains(':') => {
                return invalid("an IPv6 address goes in brackets, [::1]:8883");
            }
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    if host.is_empty() {
        return invalid("no host");
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return invalid("the port must be 1 to 65535");
    }
    Ok(value.to_owned())
}

/// `host:port`, with brackets around an IPv6 address.
fn display_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Bind the MQTT listener. Plain TCP carries the thing's identity in the client id
/// only, so it is refused on anything but a loopback address; with mutual TLS (`tls`)
/// the client certificate identifies the device, and any address is allowed.
async fn bind_mqtt(addr: &str, tls: bool) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding --mqtt-listen {addr}"))?;
    if !tls && !listener.local_addr()?.ip().is_loopback() {
        anyhow::bail!(
            "--mqtt-listen {addr}: plain MQTT identifies a device by its client id alone, so it \
             is only served on a loopback address (127.0.0.1, ::1); give --mqtt-tls-cert, \
             --mqtt-tls-key and --mqtt-client-ca to serve devices on a network"
        );
    }
    Ok(listener)
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting, answers what it has
/// read and closes idle connections (`listener::serve`), within `--shutdown-drain-ms`.
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

#[cfg(test)]
mod tests {
    use super::parse_public_address;

    #[test]
    fn public_addresses_are_host_and_optional_port() {
        for ok in [
            "iot.example.com",
            "iot.example.com:8883",
            "10.0.0.5:443",
            "[::1]",
            "[2001:db8::1]:8883",
        ] {
            assert_eq!(parse_public_address(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "",
            "mqtts://iot.example.com:8883",
            "iot.example.com/jobs",
            "iot.example.com:0",
            "iot.example.com:65536",
            "iot.example.com:x",
            ":8883",
            "::1",
            "[::1",
            "[nope]:1",
            "a b:1",
        ] {
            assert!(parse_public_address(bad).is_err(), "{bad:?}");
        }
    }
}
