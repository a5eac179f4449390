//! The disk's fsync regime, measured where the databases live: writes each followed by
//! `fsync` (the call the bundled SQLite makes on commit and checkpoint). Once 4 KiB
//! appended per round (what `dd bs=4k oflag=dsync` measures: the file grows, as a fresh
//! WAL does), then 4 KiB, 64 KiB and 256 KiB overwritten in place (a WAL reused after a
//! checkpoint; one group commit writes tens to hundreds of KiB of frames).

use std::fs::OpenOptions;
use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::time::Instant;

/// Region the overwrite rounds cycle through (a WAL of 1000 pages is about 4 MiB).
const REGION: u64 = 4 << 20;

pub struct FsyncProbe {
    rounds: usize,
    /// (label, sorted latencies in µs)
    results: Vec<(String, Vec<u64>)>,
}

impl FsyncProbe {
    pub fn describe(&self, dir: &Path) -> String {
        let parts: Vec<String> = self
            .results
            .iter()
            .map(|(label, v)| {
                format!(
                    "{label}: p50 {:.2} ms, p99 {:.2} ms",
                    pct(v, 0.50) as f64 / 1000.0,
                    pct(v, 0.99) as f64 / 1000.0
                )
            })
            .collect();
        format!(
            "fsync cost in {} ({} rounds of write + fsync each): {}",
            dir.display(),
            self.rounds,
            parts.join("; ")
        )
    }
}

impl FsyncProbe {
    /// Median of the 64 KiB overwrite rounds, milliseconds.
    pub fn median_64k_ms(&self) -> f64 {
        self.results
            .iter()
            .find(|(label, _)| label.starts_with("64 KiB"))
            .map_or(0.0, |(_, v)| pct(v, 0.50) as f64 / 1000.0)
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn fsync_probe(dir: &Path, rounds: usize) -> anyhow::Result<FsyncProbe> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("fsync-probe-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        let buf = vec![0x5au8; 256 << 10];
        let mut results = Vec::new();

        let mut append = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            f.write_all(&buf[..4096])?;
            f.sync_all()?;
            append.push(t.elapsed().as_micros() as u64);
        }
        append.sort_unstable();
        results.push(("4 KiB appended".to_owned(), append));

        // Preallocate the overwrite region and make it durable first.
        f.seek(SeekFrom::Start(0))?;
        for _ in 0..REGION / buf.len() as u64 {
            f.write_all(&buf)?;
        }
        f.sync_all()?;
        for size in [4usize << 10, 64 << 10, 256 << 10] {
            let mut v = Vec::with_capacity(rounds);
            let mut offset = 0u64;
            for _ in 0..rounds {
                if offset + size as u64 > REGION {
                    offset = 0;
                }
                f.seek(SeekFrom::Start(offset))?;
                let t = Instant::now();
                f.write_all(&buf[..size])?;
                f.sync_all()?;
                v.push(t.elapsed().as_micros() as u64);
                offset += size as u64;
            }
            v.sort_unstable();
            results.push((format!("{} KiB overwritten", size >> 10), v));
        }
        Ok(FsyncProbe { rounds, results })
    })();
    let _ = std::fs::remove_file(&path);
    result
}
