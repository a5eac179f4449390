//! Where the CPU went during a row (from /proc), and how many fsyncs the server issued
//! (from `perf stat` tracepoints, optional).

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Thread name prefix of the SQLite store's writer thread (`iotjobs-sqlite-writer`,
/// truncated to 15 bytes by the kernel).
const WRITER_COMM_PREFIX: &str = "iotjobs-sqlite";

/// CPU counters at one instant, in clock ticks.
pub struct Snapshot {
    at: Instant,
    server: u64,
    /// Bytes the server passed to write-family syscalls (`wchar` in /proc/PID/io).
    server_wchar: u64,
    writer_cpu_ns: u64,
    writer_wait_ns: u64,
    client: u64,
    machine_busy: u64,
    tick_hz: f64,
}

impl Snapshot {
    pub fn take(server_pid: u32) -> anyhow::Result<Self> {
        let server = proc_ticks(Path::new(&format!("/proc/{server_pid}/stat")))?.1;
        let (mut writer_cpu_ns, mut writer_wait_ns) = (0, 0);
        let tasks = PathBuf::from(format!("/proc/{server_pid}/task"));
        for entry in std::fs::read_dir(&tasks).with_context(|| format!("{}", tasks.display()))? {
            let dir = entry?.path();
            if let Ok((comm, _)) = proc_ticks(&dir.join("stat"))
                && comm.starts_with(WRITER_COMM_PREFIX)
            {
                // schedstat: nanoseconds on a CPU, nanoseconds runnable but waiting for one.
                let text = std::fs::read_to_string(dir.join("schedstat"))?;
                let mut f = text.split_whitespace().map(str::parse::<u64>);
                writer_cpu_ns += f.next().context("schedstat")??;
                writer_wait_ns += f.next().context("schedstat")??;
            }
        }
        let client = proc_ticks(Path::new("/proc/self/stat"))?.1;
        let io = std::fs::read_to_string(format!("/proc/{server_pid}/io"))?;
        let server_wchar = io
            .lines()
            .find_map(|l| l.strip_prefix("wchar:"))
            .and_then(|v| v.trim().parse().ok())
            .context("no wchar in /proc/PID/io")?;
        Ok(Snapshot {
            at: Instant::now(),
            server,
            server_wchar,
            writer_cpu_ns,
            writer_wait_ns,
            client,
            machine_busy: machine_busy_ticks()?,
            tick_hz: clock_ticks_per_second(),
        })
    }
}

/// CPU use between two snapshots, each in % of one core.
pub struct Usage {
    pub server_pct: f64,
    pub writer_pct: f64,
    /// Time the writer thread was runnable but waiting for a core.
    pub writer_wait_pct: f64,
    /// Bytes the server passed to write-family syscalls: WAL frames and checkpoint
    /// writes, plus the HTTP responses (about 0.2 KiB per request).
    pub server_written_bytes: u64,
    /// CPU seconds the SQLite writer thread used.
    pub writer_cpu_secs: f64,
    pub client_pct: f64,
    /// Busy time of the whole machine minus server and client.
    pub other_pct: f64,
}

impl Usage {
    pub fn between(a: &Snapshot, b: &Snapshot) -> Self {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let pct = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / a.tick_hz / secs * 100.0;
        let ns_pct = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / 1e9 / secs * 100.0;
        let server_pct = pct(a.server, b.server);
        let client_pct = pct(a.client, b.client);
        let machine = pct(a.machine_busy, b.machine_busy);
        Usage {
            server_pct,
            server_written_bytes: b.server_wchar.saturating_sub(a.server_wchar),
            writer_pct: ns_pct(a.writer_cpu_ns, b.writer_cpu_ns),
            writer_wait_pct: ns_pct(a.writer_wait_ns, b.writer_wait_ns),
            writer_cpu_secs: b.writer_cpu_ns.saturating_sub(a.writer_cpu_ns) as f64 / 1e9,
            client_pct,
            other_pct: (machine - server_pct - client_pct).max(0.0),
        }
    }
}

/// Wait until the busy time of the machine, minus this process and its children
/// (none run between rows), stays below `pct` of one core over a 1 s sample. Returns
/// `Some(last sample)` if that did not happen within `max_wait`.
pub async fn wait_for_quiet(pct: f64, max_wait: Duration) -> anyhow::Result<Option<f64>> {
    let start = Instant::now();
    loop {
        let (m0, c0, t0) = (
            machine_busy_ticks()?,
            proc_ticks(Path::new("/proc/self/stat"))?.1,
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (m1, c1) = (
            machine_busy_ticks()?,
            proc_ticks(Path::new("/proc/self/stat"))?.1,
        );
        let secs = t0.elapsed().as_secs_f64();
        let busy = (m1.saturating_sub(m0)).saturating_sub(c1.saturating_sub(c0)) as f64
            / clock_ticks_per_second()
            / secs
            * 100.0;
        if busy < pct {
            return Ok(None);
        }
        if start.elapsed() >= max_wait {
            return Ok(Some(busy));
        }
    }
}

/// (comm, utime + stime) from a `/proc/.../stat` file.
fn proc_ticks(path: &Path) -> anyhow::Result<(String, u64)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let open = text.find('(').context("no comm")?;
    let close = text.rfind(')').context("no comm")?;
    let comm = text[open + 1..close].to_owned();
    // Fields after the comm start at field 3 (state); utime and stime are fields 14, 15.
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        Ok(rest.get(n - 3).context("short stat line")?.parse::<u64>()?)
    };
    Ok((comm, field(14)? + field(15)?))
}

/// Busy ticks of all CPUs: everything but idle and iowait.
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/stat")?;
    let line = text.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if v.len() < 8 {
        bail!("short /proc/stat cpu line");
    }
    // user nice system idle iowait irq softirq steal
    Ok(v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
}

fn clock_ticks_per_second() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// `perf stat` counting the server's fsync-family syscalls while it runs.
pub struct SyscallCounter {
    child: tokio::process::Child,
    output: PathBuf,
}

const SYNC_EVENTS: &str = "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync";

impl SyscallCounter {
    pub async fn start(pid: u32, dir: &Path) -> anyhow::Result<Self> {
        let output = dir.join(format!("perf-{pid}.csv"));
        let child = tokio::process::Command::new("perf")
            .args(["stat", "-x", ",", "-e", SYNC_EVENTS, "-o"])
            .arg(&output)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting perf (needed by --count-fsyncs)")?;
        // perf needs a moment to attach to every thread.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(SyscallCounter { child, output })
    }

    /// Stop perf and return the number of fsync + fdatasync calls it counted.
    pub async fn stop(mut self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("perf already exited")?;
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()?;
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .context("perf did not stop")??;
        let text = std::fs::read_to_string(&self.output)
            .with_context(|| format!("{}", self.output.display()))?;
        let _ = std::fs::remove_file(&self.output);
        let mut total = 0;
        let mut found = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() > 2 && fields[2].starts_with("syscalls:") {
                found += 1;
                total += fields[0].parse::<u64>().with_context(|| {
                    format!("perf could not count {} (tracepoints allowed?)", fields[2])
                })?;
            }
        }
        if found == 0 {
            bail!("perf output had no syscall counts:\n{text}");
        }
        Ok(total)
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
