//! Test harness: the real `iotjobs` binary on 127.0.0.1:0 with a fresh database,
//! driven by the official AWS SDK for Rust.

use aws_sdk_iot::config::{BehaviorVersion, Credentials, Region};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `iotjobs serve` process with its own database directory.
pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// A server on a fresh SQLite database with extra `serve` arguments.
    pub fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = format!("sqlite://{}", dir.path().join("iotjobs.sqlite").display());
        let (child, endpoint) = spawn_with(&db, args);
        Server {
            child: Some(child),
            endpoint,
            dir,
        }
    }

    /// A server on the database at `url` (e.g. a PostgreSQL schema shared with another
    /// node).
    pub fn start_on(url: &str) -> Server {
        Self::start_on_with(url, &[])
    }

    /// A server on the database at `url` with extra `serve` arguments.
    pub fn start_on_with(url: &str, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let (child, endpoint) = spawn_with(url, args);
        Server {
            child: Some(child),
            endpoint,
            dir,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("iotjobs.sqlite")
    }

    /// Stop the process with SIGTERM (graceful) and start a new one on the same
    /// database. The port changes.
    pub fn restart(&mut self) {
        self.stop();
        let (child, endpoint) = spawn(&format!("sqlite://{}", self.db_path().display()));
        self.child = Some(child);
        self.endpoint = endpoint;
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(status.success(), "server exited with {status}");
                    break;
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("server did not stop within 10 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn iot(&self) -> aws_sdk_iot::Client {
        ServerRef(&self.endpoint).iot()
    }

    pub fn data(&self) -> aws_sdk_iotjobsdataplane::Client {
        ServerRef(&self.endpoint).data()
    }
}

/// SDK clients for an endpoint, with test credentials and no retries.
struct ServerRef<'a>(&'a str);

impl Server {
    /// Clients signing with another access key.
    pub fn iot_as(&self, key: &str, secret: &str) -> aws_sdk_iot::Client {
        ServerRef(&self.endpoint).iot_with(Credentials::new(key, secret, None, None, "test"))
    }

    pub fn data_as(&self, key: &str, secret: &str) -> aws_sdk_iotjobsdataplane::Client {
        ServerRef(&self.endpoint).data_with(Credentials::new(key, secret, None, None, "test"))
    }
}

impl ServerRef<'_> {
    pub fn iot(&self) -> aws_sdk_iot::Client {
        self.iot_with(Credentials::new("test", "test", None, None, "test"))
    }

    pub fn data(&self) -> aws_sdk_iotjobsdataplane::Client {
        self.data_with(Credentials::new("test", "test", None, None, "test"))
    }

    fn iot_with(&self, credentials: Credentials) -> aws_sdk_iot::Client {
        let conf = aws_sdk_iot::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(self.0)
            .http_client(http_client())
            // One attempt: a retried request would hide what the server answered.
            .retry_config(aws_sdk_iot::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_iot::Client::from_conf(conf)
    }

    fn data_with(&self, credentials: Credentials) -> aws_sdk_iotjobsdataplane::Client {
        use aws_sdk_iotjobsdataplane::config as c;
        let conf = c::Config::builder()
            .behavior_version(c::BehaviorVersion::latest())
            .region(c::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(self.0)
            .http_client(http_client())
            .retry_config(c::retry::RetryConfig::disabled())
            .build();
        aws_sdk_iotjobsdataplane::Client::from_conf(conf)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn http_client() -> aws_sdk_iot::config::SharedHttpClient {
    use aws_smithy_http_client::{Builder, tls};
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

fn spawn(database_url: &str) -> (Child, String) {
    spawn_with(database_url, &[])
}

fn spawn_with(database_url: &str, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iotjobs"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database_url,
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn iotjobs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read listening line");
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, endpoint)
}

/// The AWS error code and HTTP status of a failed SDK call.
pub fn code_status<E, R>(err: &aws_sdk_iot::error::SdkError<E, R>) -> (String, u16)
where
    E: aws_sdk_iot::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    let code = match err {
        aws_sdk_iot::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("").to_owned(),
        other => panic!("not a service error: {other:?}"),
    };
    let status = err.raw_response().map(|r| r.status_u16()).unwrap_or(0);
    (code, status)
}

pub trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_iot::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

pub fn thing_arn(name: &str) -> String {
    format!("arn:aws:iot:us-east-1:000000000000:thing/{name}")
}

/// Create `things` and one SNAPSHOT job `job_id` targeting all of them.
pub async fn setup(iot: &aws_sdk_iot::Client, job_id: &str, things: &[&str]) {
    for t in things {
        iot.create_thing()
            .thing_name(*t)
            .send()
            .await
            .expect("create thing");
    }
    let mut req = iot
        .create_job()
        .job_id(job_id)
        .document(r#"{"operation":"firmware-update","version":"2.1"}"#);
    for t in things {
        req = req.targets(thing_arn(t));
    }
    req.send().await.expect("create job");
}

/// An in-process server with an injected clock and no background sweeper: tests move
/// time and run sweeps themselves, so timeouts and deletions are tested in
/// milliseconds and deterministically.
pub struct InProcess {
    pub endpoint: String,
    pub app: std::sync::Arc<iotjobs_api::app::App<iotjobs_store::SqliteStore>>,
    pub clock: std::sync::Arc<iotjobs_core::ManualClock>,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl InProcess {
    pub async fn start() -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let store = iotjobs_store::SqliteStore::open(
            &dir.path().join("db.sqlite"),
            iotjobs_store::SqliteOptions::default(),
        )
        .unwrap();
        let clock = std::sync::Arc::new(iotjobs_core::ManualClock::new(
            iotjobs_core::Timestamp::from_millis(1_800_000_000_000),
        ));
        let app = std::sync::Arc::new(iotjobs_api::app::App::new(
            store,
            clock.clone(),
            iotjobs_api::app::AccountConfig::default(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        // Signatures are verified here too, against the development key the SDK
        // clients sign with.
        let mut keys = iotjobs_api::auth::Keyring::default();
        keys.insert(iotjobs_api::auth::AccessKey::development(
            &app.config.account_id,
        ))
        .unwrap();
        let auth = iotjobs_api::auth::Auth::SigV4 {
            keys,
            region: app.config.region.clone(),
        };
        let service = std::sync::Arc::new(iotjobs_api::server::Service::new(
            vec![app.clone()],
            auth,
            iotjobs_api::server::BodyLimits::default(),
        ));
        let server = tokio::spawn(async move {
            iotjobs_api::listener::serve(
                listener,
                iotjobs_api::server::router(service),
                None,
                &iotjobs_api::listener::ConnectionLimits::default(),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
        InProcess {
            endpoint,
            app,
            clock,
            _dir: dir,
            server,
        }
    }

    pub fn advance_minutes(&self, minutes: i64) {
        self.clock.advance_millis(minutes * 60_000);
    }

    pub async fn sweep(&self) -> iotjobs_core::SweepReport {
        iotjobs_api::background::sweep_until_idle(&self.app)
            .await
            .unwrap()
    }

    fn as_server(&self) -> ServerRef<'_> {
        ServerRef(&self.endpoint)
    }

    pub fn iot(&self) -> aws_sdk_iot::Client {
        self.as_server().iot()
    }

    pub fn data(&self) -> aws_sdk_iotjobsdataplane::Client {
        self.as_server().data()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The SigV4 header lines (`authorization: …\r\n`, `x-amz-date: …\r\n`) of a raw
/// request signed with the development key as an SDK would sign it, for tests that
/// speak raw HTTP.
pub fn sigv4_lines(
    method: &str,
    host: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
) -> String {
    sigv4_lines_as(
        ("test", "test"),
        method,
        host,
        path_and_query,
        headers,
        body,
        service,
    )
}

/// [`sigv4_lines`] signed with another access key and secret.
pub fn sigv4_lines_as(
    (key, secret): (&str, &str),
    method: &str,
    host: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut all: Vec<(&str, &str)> = vec![("host", host)];
    all.extend_from_slice(headers);
    let uri = format!("http://{host}{path_and_query}");
    let req = SignableRequest::new(
        method,
        uri.as_str(),
        all.into_iter(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect()
}
