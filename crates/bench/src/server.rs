//! The server under test: the real `iotjobs serve` binary as a child process.

use anyhow::{Context as _, bail};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};

pub struct Server {
    child: Child,
    /// Kept open so that the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
    /// The MQTT endpoint, when started with `--mqtt-listen`.
    pub mqtt_addr: Option<SocketAddr>,
    pub pid: u32,
}

impl Server {
    /// Start `bin serve` on `db` (port chosen by the OS), stderr to `log`, and wait for
    /// its `listening on http://HOST:PORT` line.
    pub async fn start(bin: &Path, db: &Path, normal: bool, log: &Path) -> anyhow::Result<Self> {
        let url = format!(
            "sqlite://{}{}",
            db.display(),
            if normal { "?synchronous=normal" } else { "" }
        );
        Self::start_url(bin, &url, log).await
    }

    /// Start `bin serve --database url`.
    pub async fn start_url(bin: &Path, url: &str, log: &Path) -> anyhow::Result<Self> {
        Self::start_args(bin, url, &[], log).await
    }

    /// Start `bin serve --database url EXTRA...`. With `--mqtt-listen`, the server
    /// prints `mqtt listening on mqtt://HOST:PORT` before its HTTP line; both are read.
    pub async fn start_args(
        bin: &Path,
        url: &str,
        extra: &[&str],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", url])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("server exited at once")?;
        let stdout = child.stdout.take().context("no server stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let mut mqtt_addr = None;
        let addr = loop {
            line.clear();
            let read =
                tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut line)).await;
            let Ok(Ok(n)) = read else { break None };
            if n == 0 {
                break None;
            }
            let text = line.trim();
            if let Some(a) = text.strip_prefix("mqtt listening on mqtt://") {
                mqtt_addr = a.parse::<SocketAddr>().ok();
                continue;
            }
            break text
                .strip_prefix("listening on http://")
                .and_then(|a| a.parse::<SocketAddr>().ok());
        };
        let Some(addr) = addr else {
            let _ = child.kill().await;
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            bail!(
                "server did not report `listening on http://…` (got {line:?}); its log:\n{log_text}"
            );
        };
        Ok(Server {
            child,
            _stdout: stdout,
            addr,
            mqtt_addr,
            pid,
        })
    }

    /// SIGTERM, then wait up to 30 s for a clean exit (SIGKILL after that).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // No `unsafe` here (workspace lint), so signal through kill(1).
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed: {status}", self.pid);
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(s)) if s.success() => Ok(()),
            Ok(Ok(s)) => bail!("server exited with {s}"),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("server did not stop within 30 s of SIGTERM; killed")
            }
        }
    }
}
