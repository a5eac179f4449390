//! Seeding: a fresh SQLite file with N QUEUED executions, written through the store's
//! public API (`SqliteStore::create_thing` / `create_job`), many creates in flight so
//! that the store's group commit batches them.
//!
//! Layout (deterministic): `N / 100` jobs `j{k}` of 100 target things each. Things come
//! in blocks of 100 (`t{b*100}`..`t{b*100+99}`); there are `max(1, jobs / 100)` blocks,
//! and job `k` targets block `k % blocks`. So every thing has the same number of
//! executions (100 from N = 10,000 up) whatever N is: only the table size changes.

use anyhow::{Context as _, bail};
use iotjobs_core::{Clock as _, NewJob, NewThing, Store, SystemClock, TargetSelection};
use iotjobs_store::{SqliteOptions, SqliteStore, Synchronous};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Things per job (the most a job may target).
const PER_JOB: u64 = 100;

/// Which (thing, job) pairs exist, and the order the benchmark cancels them in.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    stored: u64,
    jobs: u64,
    blocks: u64,
    /// Executions per thing (`jobs / blocks`, exact).
    per_thing: u64,
    order: Order,
    /// Multiplier of the permutation used by [`Order::Random`], coprime with `stored`.
    mult: u64,
}

/// The order in which executions are cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// A fixed pseudo-random permutation of all executions: consecutive cancels hit
    /// unrelated things and jobs, so no size gets page locality for free.
    Random,
    /// Primary-key order (thing by thing): consecutive cancels touch the same B-tree
    /// pages. The best case, for comparison.
    Sequential,
}

impl Layout {
    pub fn new(stored: u64, order: Order) -> anyhow::Result<Self> {
        if stored == 0 || !stored.is_multiple_of(PER_JOB) {
            bail!("--stored values must be positive multiples of {PER_JOB}, got {stored}");
        }
        let jobs = stored / PER_JOB;
        if jobs > PER_JOB && !jobs.is_multiple_of(PER_JOB) {
            bail!("--stored values above 10000 must be multiples of 10000, got {stored}");
        }
        let blocks = (jobs / PER_JOB).max(1);
        let mut mult: u64 = 2_654_435_761;
        while gcd(mult, stored) != 1 {
            mult += 2;
        }
        Ok(Layout {
            stored,
            jobs,
            blocks,
            per_thing: jobs / blocks,
            order,
            mult,
        })
    }

    pub fn jobs(&self) -> u64 {
        self.jobs
    }

    pub fn things(&self) -> u64 {
        self.blocks * PER_JOB
    }

    /// The `i`-th execution to cancel, as (thing index, job index); distinct for every
    /// `i < stored`.
    pub fn pair(&self, i: u64) -> (u64, u64) {
        let n = match self.order {
            Order::Sequential => i % self.stored,
            Order::Random => {
                ((u128::from(self.mult) * u128::from(i) + 12_345) % u128::from(self.stored)) as u64
            }
        };
        // The n-th execution in primary-key order (thing, then its jobs).
        let thing = n / self.per_thing;
        let job = thing / PER_JOB + self.blocks * (n % self.per_thing);
        (thing, job)
    }

    fn targets(&self, job: u64) -> impl Iterator<Item = u64> {
        let first = (job % self.blocks) * PER_JOB;
        first..first + PER_JOB
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

pub fn thing_name(i: u64) -> String {
    format!("t{i}")
}

pub fn job_id(k: u64) -> String {
    format!("j{k}")
}

pub struct Seeded {
    pub elapsed: Duration,
    /// Size of the database file once closed.
    pub bytes: u64,
}

/// Create `path` (must not exist) holding the layout's things, jobs and QUEUED executions.
pub async fn seed(path: &Path, layout: &Layout, in_flight: usize) -> anyhow::Result<Seeded> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let start = Instant::now();
    let store = SqliteStore::open(
        path,
        SqliteOptions {
            synchronous: Synchronous::Normal,
        },
    )
    .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    seed_store(&store, layout, in_flight).await?;

    // Dropping the last handle stops the writer thread and closes the connection, which
    // checkpoints the WAL into the main file.
    drop(store);
    std::fs::File::open(path)?.sync_all()?;
    let elapsed = start.elapsed();
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .len();
    Ok(Seeded { elapsed, bytes })
}

/// Create the layout's things, jobs and QUEUED executions through any backend's store
/// API, `in_flight` creates at a time.
pub async fn seed_store<S: Store + Clone>(
    store: &S,
    layout: &Layout,
    in_flight: usize,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let s = store.clone();
    bounded(layout.things(), in_flight, move |i| {
        let s = s.clone();
        async move {
            let thing = NewThing {
                thing_name: thing_name(i),
                thing_type_name: None,
                attributes: BTreeMap::new(),
                billing_group_name: None,
            };
            let (_, created) = s
                .create_thing(thing, format!("00000000-0000-4000-8000-{i:012}"), now)
                .await
                .map_err(|e| anyhow::anyhow!("create_thing t{i}: {e}"))?;
            if !created {
                bail!("thing t{i} already existed in a fresh database");
            }
            Ok(())
        }
    })
    .await?;

    let s = store.clone();
    let l = *layout;
    bounded(layout.jobs(), in_flight, move |k| {
        let s = s.clone();
        async move {
            let target_things: Vec<String> = l.targets(k).map(thing_name).collect();
            let job = bench_job(k, target_things);
            s.create_job(job, now)
                .await
                .map_err(|e| anyhow::anyhow!("create_job j{k}: {e}"))?;
            Ok(())
        }
    })
    .await?;

    Ok(())
}

/// Run `f(0..n)` with at most `limit` futures in flight; stop at the first error.
pub async fn bounded<F, Fut>(n: u64, limit: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut set = JoinSet::new();
    for i in 0..n {
        if set.len() >= limit.max(1)
            && let Some(r) = set.join_next().await
        {
            r??;
        }
        set.spawn(f(i));
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// Job `k` of the benchmarks: a SNAPSHOT job targeting `target_things` directly.
pub(crate) fn bench_job(k: u64, target_things: Vec<String>) -> NewJob {
    NewJob {
        job_id: job_id(k),
        targets: target_things
            .iter()
            .map(|t| format!("arn:aws:iot:us-east-1:000000000000:thing/{t}"))
            .collect(),
        target_things,
        target_groups: Vec::new(),
        document: Some(r#"{"operation":"bench"}"#.into()),
        document_source: None,
        description: None,
        target_selection: TargetSelection::Snapshot,
        in_progress_timeout_minutes: None,
        policy: Default::default(),
        configs: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn pairs_are_distinct_and_exist() {
        for order in [Order::Random, Order::Sequential] {
            for stored in [100, 5_000, 10_000, 30_000, 1_000_000] {
                let l = Layout::new(stored, order).unwrap();
                let mut seen = HashSet::new();
                for i in 0..stored {
                    let (t, j) = l.pair(i);
                    assert!(t < l.things() && j < l.jobs(), "stored={stored} i={i}");
                    assert!(l.targets(j).any(|x| x == t), "stored={stored} i={i}");
                    assert!(seen.insert((t, j)), "duplicate pair at i={i}");
                }
            }
        }
    }

    #[test]
    fn rejects_sizes_that_do_not_fit_the_layout() {
        assert!(Layout::new(150, Order::Random).is_err());
        assert!(Layout::new(15_000, Order::Random).is_err());
    }
}
