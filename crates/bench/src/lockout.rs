//! `iotjobs-bench lockout`: how long a signed call waits while the server is held by
//! clients that know only an access key id (issue 12).
//!
//! - **Server:** the release `iotjobs serve` on a fresh SQLite database in the work
//!   directory, with its default limits (1024 connections, 30 s body timeout) unless
//!   `--server-arg` says otherwise.
//! - **Attackers:** N raw TCP connections (`--attackers`), each sending `PUT /jobs/j1`
//!   with SigV4 headers for the right access key id (`test`), a signature made with a
//!   wrong secret, `Content-Length: 100`, and then no body. The signature can only be
//!   checked once the body is in, so each such request is "in flight" for as long as the
//!   server waits for the body. With `--reconnect` (the default), an attacker whose
//!   connection ends opens another at once, as a determined attacker would.
//! - **Calls:** a signed `ListJobs` (`GET /jobs`) on a fresh connection, as a client's
//!   first call makes it, timed from `connect` to the last byte of the answer; `--calls`
//!   of them one after the other, `--interval-ms` apart, first without the attack
//!   (baseline), then while it runs. A call that takes longer than `--call-timeout-s`
//!   counts as failed.
//! - **Shutdown:** with the attack still running, SIGTERM, and the time until the process
//!   has exited.
//!
//! It prints a markdown table and asserts nothing about the numbers; it exits non-zero
//! only if the server cannot be started.

use crate::server;
use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct LockoutArgs {
    /// Attacking connections held open at once.
    #[arg(long, default_value_t = 1100)]
    attackers: usize,
    /// Signed calls timed in each phase (baseline, under attack).
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Pause between two timed calls, milliseconds.
    #[arg(long, default_value_t = 250)]
    interval_ms: u64,
    /// A call slower than this (seconds) is given up and counted as failed.
    #[arg(long, default_value_t = 40)]
    call_timeout_s: u64,
    /// Whether an attacker whose connection ends opens a new one at once.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    reconnect: bool,
    /// How long the attack runs before the first timed call, milliseconds.
    #[arg(long, default_value_t = 2000)]
    settle_ms: u64,
    /// Extra `iotjobs serve` arguments, e.g. `--server-arg=--max-connections=256`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// The server binary (default: `iotjobs` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the database and the server log go (default: a new temp dir, removed).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// SigV4 for raw requests, as the SDK signs them (region us-east-1, service `iot`).
struct RawSigner {
    authority: String,
}

impl RawSigner {
    /// `METHOD path HTTP/1.1` and its headers (Host, X-Amz-Date, Authorization,
    /// Content-Length when `content_length` is given), signed with `secret` over `body`.
    fn head(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        secret: &str,
        content_length: Option<usize>,
    ) -> anyhow::Result<String> {
        let identity: Identity = Credentials::new("test", secret, None, None, "bench").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("iot")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let uri = format!("http://{}{path}", self.authority);
        let signable = SignableRequest::new(
            method,
            &uri,
            [("host", self.authority.as_str())].into_iter(),
            SignableBody::Bytes(body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.authority);
        for (k, v) in instructions.headers() {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(n) = content_length {
            head.push_str(&format!("Content-Length: {n}\r\n"));
        }
        head.push_str("\r\n");
        Ok(head)
    }
}

/// What the attackers saw, counted across all of them.
#[derive(Default)]
struct AttackCounts {
    /// Connections open and their forged request sent.
    holding: AtomicU64,
    /// Connections opened in all.
    opened: AtomicU64,
    /// Forged requests answered (by status class).
    answered_503: AtomicU64,
    answered_other: AtomicU64,
    /// Connections that ended without an answer (closed or reset).
    ended_silently: AtomicU64,
}

async fn attacker(
    addr: SocketAddr,
    signer: Arc<RawSigner>,
    counts: Arc<AttackCounts>,
    reconnect: bool,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let Ok(head) = signer.head("PUT", "/jobs/j1", &[b'x'; 100], "forged", Some(100)) else {
            return;
        };
        let session = async {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                // Refused (the server is gone, or its accept queue is full): try again
                // shortly, without counting it as a connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
                return None;
            };
            counts.opened.fetch_add(1, Ordering::Relaxed);
            s.write_all(head.as_bytes()).await.ok()?;
            counts.holding.fetch_add(1, Ordering::Relaxed);
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            counts.holding.fetch_sub(1, Ordering::Relaxed);
            Some(got)
        };
        let got = tokio::select! {
            got = session => got,
            _ = stop.wait_for(|s| *s) => return,
        };
        let Some(got) = got else {
            continue;
        };
        if *stop.borrow() {
            return;
        }
        match got {
            g if g.starts_with(b"HTTP/1.1 503") => &counts.answered_503,
            g if !g.is_empty() => &counts.answered_other,
            _ => &counts.ended_silently,
        }
        .fetch_add(1, Ordering::Relaxed);
        if !reconnect {
            return;
        }
    }
}

/// One signed ListJobs on a fresh connection: the time from connect to the whole
/// answer, if it is a 200.
async fn timed_call(addr: SocketAddr, signer: &RawSigner) -> anyhow::Result<Duration> {
    let head = signer.head("GET", "/jobs", b"", "test", None)?;
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).await.context("connect")?;
    s.set_nodelay(true)?;
    s.write_all(head.as_bytes()).await.context("write")?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.context("read")?;
        anyhow::ensure!(n > 0, "connection closed before a whole answer: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= len {
                anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "answered {head}");
                return Ok(t0.elapsed());
            }
        }
    }
}

/// One phase's timed calls.
struct Phase {
    name: &'static str,
    latencies: Vec<Duration>,
    failures: Vec<String>,
}

impl Phase {
    fn percentile_ms(&self, p: f64) -> String {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return "–".into();
        }
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        format!("{:.1}", v[rank - 1].as_secs_f64() * 1000.0)
    }
}

async fn phase(
    name: &'static str,
    addr: SocketAddr,
    signer: &RawSigner,
    args: &LockoutArgs,
) -> Phase {
    let mut out = Phase {
        name,
        latencies: Vec::new(),
        failures: Vec::new(),
    };
    for i in 0..args.calls {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
        let call = timed_call(addr, signer);
        let shown = match tokio::time::timeout(Duration::from_secs(args.call_timeout_s), call).await
        {
            Ok(Ok(d)) => {
                out.latencies.push(d);
                format!("{:.1} ms", d.as_secs_f64() * 1000.0)
            }
            Ok(Err(e)) => {
                out.failures.push(format!("{e:#}"));
                format!("failed: {e:#}")
            }
            Err(_) => {
                let f = format!("no answer within {} s", args.call_timeout_s);
                out.failures.push(f.clone());
                f
            }
        };
        eprintln!("  {name} call {}: {shown}", i + 1);
    }
    out
}

pub async fn lockout(args: LockoutArgs) -> anyhow::Result<()> {
    let server_bin = crate::server_binary(args.server_bin.as_ref())?;
    let (work_dir, _guard) = crate::work_directory(args.work_dir.as_ref(), "iotjobs-lockout-")?;
    let db = work_dir.join("lockout.sqlite");
    let log = work_dir.join("server.log");
    let extra: Vec<&str> = args.server_args.iter().map(String::as_str).collect();
    let url = format!("sqlite://{}", db.display());
    let srv = server::Server::start_args(&server_bin, &url, &extra, &log).await?;
    let addr = srv.addr;
    let signer = Arc::new(RawSigner {
        authority: addr.to_string(),
    });
    println!("# Lockout benchmark\n");
    println!(
        "- server: `{} serve {}`",
        server_bin.display(),
        args.server_args.join(" ")
    );
    println!(
        "- attack: {} connections, each `PUT /jobs/j1` signed for key `test` with a wrong secret, \
         `Content-Length: 100`, no body; reconnect when closed: {}",
        args.attackers, args.reconnect
    );
    println!(
        "- timed: {} signed ListJobs per phase, each on a new connection, {} ms apart\n",
        args.calls, args.interval_ms
    );

    eprintln!("baseline");
    let baseline = phase("baseline", addr, &signer, &args).await;

    eprintln!("starting {} attackers", args.attackers);
    let counts = Arc::new(AttackCounts::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let attack_began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.attackers {
        tasks.spawn(attacker(
            addr,
            signer.clone(),
            counts.clone(),
            args.reconnect,
            stop_rx.clone(),
        ));
    }
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    let holding_before = counts.holding.load(Ordering::Relaxed);
    eprintln!("under attack ({holding_before} forged requests sent and waiting)");
    let attacked = phase("under attack", addr, &signer, &args).await;
    let holding_after = counts.holding.load(Ordering::Relaxed);

    let attack_secs = attack_began.elapsed().as_secs_f64();
    let opened = counts.opened.load(Ordering::Relaxed);
    let answered_503 = counts.answered_503.load(Ordering::Relaxed);
    let answered_other = counts.answered_other.load(Ordering::Relaxed);
    let ended_silently = counts.ended_silently.load(Ordering::Relaxed);
    eprintln!("SIGTERM with the attack running");
    let t0 = Instant::now();
    let stopped = srv.stop().await;
    let exit = t0.elapsed();
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}

    println!("| phase | calls | answered 200 | p50 ms | p90 ms | max ms | failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for p in [&baseline, &attacked] {
        let max = p
            .latencies
            .iter()
            .max()
            .map_or("–".into(), |d| format!("{:.1}", d.as_secs_f64() * 1000.0));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            args.calls,
            p.latencies.len(),
            p.percentile_ms(0.5),
            p.percentile_ms(0.9),
            max,
            p.failures.len()
        );
    }
    println!();
    println!(
        "- attack, until SIGTERM ({attack_secs:.1} s): {opened} connections opened; forged requests sent and \
         waiting when the timed calls began: {holding_before}, when they ended: \
         {holding_after}; answered 503: {answered_503}, answered otherwise: \
         {answered_other}, closed without an answer: {ended_silently}"
    );
    println!(
        "- SIGTERM during the attack: exited after {:.2} s ({})",
        exit.as_secs_f64(),
        match &stopped {
            Ok(()) => "exit code 0".to_owned(),
            Err(e) => format!("{e:#}"),
        }
    );
    for p in [&baseline, &attacked] {
        for f in p.failures.iter().take(3) {
            eprintln!("{} failure: {f}", p.name);
        }
    }
    Ok(())
}
