//! `notify` and `notify-next`: what a connected device is told when its pending
//! executions change.
//!
//! The store announces, after each commit, which things' executions changed
//! ([`iotjobs_core::ChangeListener`]). For each such thing with a live connection, the
//! notifier reads the thing's pending list and compares it with the one it last saw:
//! - `notify` (JobExecutionsChanged) when the *membership* of the pending list changed
//!   (an execution queued, or one left it: finished, canceled, removed, deleted). Moving
//!   from QUEUED to IN_PROGRESS is not a change of membership (the AWS walkthrough sends
//!   nothing for it; the MQTT research note §2.6 records the choice).
//! - `notify-next` (NextJobExecutionChanged) when the execution that `$next` names
//!   changed identity (job id and execution number), with `{"timestamp"}` alone when
//!   nothing is pending any more.
//!
//! When the commit says that all it did to a thing was take executions out of its
//! pending list, and the view held every pending execution, the new list is known
//! without a read whenever none is left (a device's only job finished, canceled, timed
//! out): the notifications go out from memory. Otherwise the list is read.
//!
//! Notifications are hints: devices re-query after reconnecting, so a duplicate or a
//! change missed while disconnected does no harm.
//!
//! Notifications leave through a [`Publisher`]: the embedded endpoint's [`Sessions`]
//! (which knows the connected things) or the external-broker adapter
//! ([`crate::broker`], which does not). Without a list of connected things every
//! changed thing is of interest, and a thing the notifier has no view of yet is compared
//! with an *empty* pending list: a change right after a restart may then repeat a
//! `notify` / `notify-next` the device already had (harmless, hints), but a first job
//! of a thing is never missed. Those views are kept for at most [`MAX_VIEWS`] things,
//! least recently changed evicted first (an evicted thing falls back to the empty view).

use crate::endpoint::Sessions;
use crate::jobs::{execution_out, prefix, summary_out};
use futures_util::StreamExt;
use iotjobs_core::device::job_document;
use iotjobs_core::execution::{JobExecution, JobExecutionStatus};
use iotjobs_core::presign::{NoPresigner, Presigner};
use iotjobs_core::{Clock, Store, ThingChanged};
use serde_json::Map;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most entries a `notify` lists (AWS IoT Jobs documentation: 15).
const MAX_NOTIFY_ENTRIES: usize = 15;

/// A `notify-next` payload: the new head, or no `execution` when nothing is pending.
/// A struct rather than a `Value`, so that the job document goes out as stored
/// (`jobs::execution_out`).
#[derive(serde::Serialize)]
struct NotifyNext {
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<crate::jobs::ExecutionOut>,
}

/// What the notifier last saw of one thing's pending executions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct View {
    /// The attempt of each pending execution, sorted.
    members: Vec<Attempt>,
    /// The attempt `$next` names.
    head: Option<Attempt>,
    /// `members` is every pending execution of the thing (the read returned fewer than
    /// [`MAX_NOTIFY_ENTRIES`], and no later read failed), so a change can be applied to
    /// it without a read ([`Notifier::derive`]).
    complete: bool,
}

/// One attempt of one execution: (job id, execution number, retry attempt). A retry
/// re-queues the same execution in the transaction that failed it, so only the retry
/// attempt tells the device's new attempt from the one it just finished: with it, a
/// retry is a change (notify and notify-next are sent), as a new execution would be.
type Attempt = (String, i64, i64);

/// Things whose last view a [`Publisher`] without a list of connected things keeps.
pub const MAX_VIEWS: usize = 100_000;

/// Where notifications go.
pub trait Publisher: Send + Sync + 'static {
    /// Deliver `payload` on `topic` to whoever subscribed to it for `thing`. Never
    /// blocks (notifications are dropped, and logged, when a queue is full).
    fn publish_to_thing(&self, thing: &str, topic: &str, payload: &[u8]);

    /// The things that can receive notifications now, or `None` when that is unknown
    /// (an external broker): then every changed thing is notified.
    fn connected_things(&self) -> Option<Vec<String>>;

    /// Whether `thing` can receive notifications now (`None`: unknown). Asked per changed
    /// thing, so that a commit costs the same however many devices are connected.
    fn is_connected(&self, thing: &str) -> Option<bool>;
}

impl Publisher for Sessions {
    fn publish_to_thing(&self, thing: &str, topic: &str, payload: &[u8]) {
        Sessions::publish_to_thing(self, thing, topic, payload);
    }

    fn connected_things(&self) -> Option<Vec<String>> {
        Some(Sessions::connected_things(self))
    }

    fn is_connected(&self, thing: &str) -> Option<bool> {
        Some(Sessions::is_connected(self, thing))
    }
}

pub struct Notifier<S, P = Sessions> {
    store: S,
    clock: Arc<dyn Clock>,
    sessions: P,
    /// Signs the presigned URLs of the documents in `notify-next` (a device may start
    /// on that document without asking again).
    presigner: Arc<dyn Presigner>,
    /// thing → (its last view, when it was last updated: a tick for LRU eviction).
    views: Mutex<HashMap<String, (View, u64)>>,
    tick: std::sync::atomic::AtomicU64,
    /// Prune the views when there are more than this many ([`Notifier::prune`]).
    pruned_at: std::sync::atomic::AtomicUsize,
    /// Bounds the notifier's store reads in flight ([`MAX_READS`]).
    reads: tokio::sync::Semaphore,
}

/// Things whose pending lists are read at once while notifying.
const NOTIFY_CONCURRENCY: usize = 32;

/// The fewest views before the first pruning.
const MIN_PRUNE: usize = 1024;

/// Store reads of the notifier in flight at once (a connecting device's baseline, a
/// changed thing's pending list). The SQLite store runs each read on a blocking thread
/// with a reader connection from a pool of 8; a reconnect storm of thousands of devices
/// would otherwise start a thread and open a connection per read beyond that (measured:
/// with 200 devices connecting at a time, about 1 KiB of server memory per device for
/// threads, their malloc arenas and connections; docs/benchmarks.md).
const MAX_READS: usize = 8;

impl<S: Store, P: Publisher> Notifier<S, P> {
    pub fn new(store: S, clock: Arc<dyn Clock>, sessions: P) -> Self {
        Notifier {
            store,
            clock,
            sessions,
            presigner: Arc::new(NoPresigner),
            views: Mutex::new(HashMap::new()),
            tick: std::sync::atomic::AtomicU64::new(0),
            pruned_at: std::sync::atomic::AtomicUsize::new(MIN_PRUNE),
            reads: tokio::sync::Semaphore::new(MAX_READS),
        }
    }

    /// Sign the documents' presigned URLs with `presigner` (default: none signed).
    pub fn with_presigner(mut self, presigner: Arc<dyn Presigner>) -> Self {
        self.presigner = presigner;
        self
    }

    fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// A connection of `thing` was accepted: remember what is pending now.
    pub async fn connected(&self, thing: &str) {
        match self.pending(thing).await {
            Ok(pending) => {
                let tick = self.next_tick();
                if let Ok(mut views) = self.views.lock() {
                    views.insert(thing.to_owned(), (view_of(&pending), tick));
                }
            }
            Err(e) => tracing::warn!(thing, error = %e, "cannot read pending executions"),
        }
    }

    /// Committed changes touched `things`: notify the connected ones whose pending list
    /// or next execution changed.
    /// An empty list means changes may have been missed: every connected thing is
    /// checked.
    pub async fn changed(&self, things: &[ThingChanged]) {
        if things.is_empty() {
            // Changes may have been missed: every connected thing (rare: after a lost
            // PostgreSQL LISTEN connection).
            let Some(connected) = self.sessions.connected_things() else {
                return self.changed_any(things).await;
            };
            for thing in connected {
                self.notify_logged(&ThingChanged::unknown(thing)).await;
            }
            return self.prune();
        }
        // Per changed thing, a lookup: the cost of a commit does not grow with the number
        // of connected devices (benchmarked: a scan of all of them per commit capped the
        // notifier at about 130 commits/s with 10,000 devices).
        let mut unknown = Vec::new();
        let mut connected = Vec::new();
        for change in things {
            match self.sessions.is_connected(&change.thing) {
                Some(true) => connected.push(change),
                Some(false) => {}
                None => unknown.push(change.clone()),
            }
        }
        // Things of one batch are distinct, so reading their pending lists concurrently
        // keeps each thing's notifications in order (the next batch waits for this one).
        futures_util::stream::iter(connected)
            .for_each_concurrent(NOTIFY_CONCURRENCY, |change| self.notify_logged(change))
            .await;
        if !unknown.is_empty() {
            self.changed_any(&unknown).await;
        }
        self.prune();
    }

    async fn notify_logged(&self, change: &ThingChanged) {
        if let Err(e) = self.notify(change).await {
            tracing::warn!(thing = change.thing, error = %e, "cannot notify");
            self.distrust(&change.thing);
        }
    }

    /// After a failed read, the thing's view may miss a change: the next change of it
    /// reads the list instead of deriving it.
    fn distrust(&self, thing: &str) {
        if let Ok(mut views) = self.views.lock()
            && let Some((view, _)) = views.get_mut(thing)
        {
            view.complete = false;
        }
    }

    /// Drop the views of things no longer connected, amortized: only when the map has
    /// doubled since the last pruning, so most commits pay nothing for it.
    fn prune(&self) {
        let Ok(mut views) = self.views.lock() else {
            return;
        };
        let limit = self.pruned_at.load(std::sync::atomic::Ordering::Relaxed);
        if views.len() <= limit {
            return;
        }
        views.retain(|t, _| self.sessions.is_connected(t) != Some(false));
        let next = (views.len() * 2).max(MIN_PRUNE);
        self.pruned_at
            .store(next, std::sync::atomic::Ordering::Relaxed);
    }

    /// [`Self::changed`] when the connected things are unknown: every changed thing
    /// (all known ones after a possible loss of changes), an unknown one compared with
    /// an empty pending list; at most [`MAX_VIEWS`] views are kept.
    async fn changed_any(&self, things: &[ThingChanged]) {
        let all: Vec<ThingChanged>;
        let things = if things.is_empty() {
            all = match self.views.lock() {
                Ok(views) => views.keys().cloned().map(ThingChanged::unknown).collect(),
                Err(_) => Vec::new(),
            };
            &all[..]
        } else {
            things
        };
        for change in things {
            self.notify_logged(change).await;
        }
        if let Ok(mut views) = self.views.lock() {
            evict_oldest(&mut views, MAX_VIEWS);
        }
    }

    async fn notify(&self, change: &ThingChanged) -> Result<(), iotjobs_core::JobsError> {
        let thing = change.thing.as_str();
        let pending = match self.derive(change) {
            Some(pending) => pending,
            None => self.pending(thing).await?,
        };
        let now_view = view_of(&pending);
        let tick = self.next_tick();
        let before = {
            let Ok(mut views) = self.views.lock() else {
                return Ok(());
            };
            // The thing's own name is allocated once, for its first view.
            match views.get_mut(thing) {
                Some(slot) => Some(std::mem::replace(slot, (now_view.clone(), tick)).0),
                None => {
                    views.insert(thing.to_owned(), (now_view.clone(), tick));
                    None
                }
            }
        };
        let (before, unseen) = match before {
            Some(before) => (before, false),
            // A thing first seen now, while connections are known (its connection raced
            // with this change): no baseline to compare with; the next change compares
            // with this one.
            None if self.sessions.is_connected(thing).is_some() => return Ok(()),
            // Connections unknown (a broker), and no baseline: this node has not seen the
            // thing since it started (or took over from another node), so it cannot know
            // what the device last heard. Send both: a repeated hint is harmless, a
            // missed cancel is not (a device whose only job was canceled would wait on).
            None => (View::default(), true),
        };
        let now = self.clock.now();
        let topics = prefix(thing);
        if unseen || before.members != now_view.members {
            let mut jobs = Map::new();
            let (in_progress, queued): (Vec<_>, Vec<_>) = pending
                .iter()
                .partition(|e| e.status == JobExecutionStatus::InProgress);
            for (key, list) in [("IN_PROGRESS", in_progress), ("QUEUED", queued)] {
                if !list.is_empty() {
                    let entries: Vec<_> = list.into_iter().map(summary_out).collect();
                    jobs.insert(
                        key.into(),
                        serde_json::to_value(entries).unwrap_or_default(),
                    );
                }
            }
            let body = serde_json::json!({ "timestamp": now.epoch_seconds(), "jobs": jobs });
            self.publish(thing, &format!("{topics}notify"), &body);
        }
        if unseen || before.head != now_view.head {
            let execution = match pending.first() {
                Some(head) => {
                    let doc = {
                        let _read = self.reads.acquire().await;
                        job_document(&self.store, self.presigner.as_ref(), &head.job_id).await?
                    };
                    Some(execution_out(head, doc.as_deref(), now))
                }
                None => None,
            };
            let body = NotifyNext {
                timestamp: now.epoch_seconds(),
                execution,
            };
            self.publish(thing, &format!("{topics}notify-next"), &body);
        }
        Ok(())
    }

    /// The thing's pending list after `change` without reading it, when that is known:
    /// the change only took executions out of the list, the view held all of them, and
    /// none is left. (A list with some left needs their summaries for `notify`: read.)
    fn derive(&self, change: &ThingChanged) -> Option<Vec<JobExecution>> {
        let left = change.left_pending.as_deref()?;
        let views = self.views.lock().ok()?;
        let (view, _) = views.get(&change.thing)?;
        let gone = |(job, number, _): &Attempt| left.iter().any(|(j, n)| j == job && n == number);
        (view.complete && view.members.iter().all(gone)).then(Vec::new)
    }

    fn publish(&self, thing: &str, topic: &str, body: &impl serde::Serialize) {
        let payload = serde_json::to_vec(body).unwrap_or_default();
        self.sessions.publish_to_thing(thing, topic, &payload);
    }

    /// IN_PROGRESS first, then QUEUED, each oldest first (the order `$next` follows),
    /// at most [`MAX_NOTIFY_ENTRIES`].
    async fn pending(&self, thing: &str) -> Result<Vec<JobExecution>, iotjobs_core::JobsError> {
        let _read = self.reads.acquire().await;
        let mut list = self
            .store
            .get_pending_job_executions(thing, MAX_NOTIFY_ENTRIES)
            .await?;
        list.truncate(MAX_NOTIFY_ENTRIES);
        Ok(list)
    }
}

/// Keep at most `max` views: drop the least recently updated ones (a tenth of `max`
/// below it, so that eviction is not paid on every change).
fn evict_oldest(views: &mut HashMap<String, (View, u64)>, max: usize) {
    if views.len() <= max {
        return;
    }
    let keep = max - max / 10;
    let mut ticks: Vec<u64> = views.values().map(|(_, t)| *t).collect();
    let cut = views.len() - keep;
    ticks.select_nth_unstable(cut - 1);
    let threshold = ticks[cut - 1];
    views.retain(|_, (_, t)| *t > threshold);
}

fn view_of(pending: &[JobExecution]) -> View {
    View {
        members: {
            let mut m: Vec<_> = pending.iter().map(attempt).collect();
            m.sort_unstable();
            m
        },
        head: pending.first().map(attempt),
        complete: pending.len() < MAX_NOTIFY_ENTRIES,
    }
}

fn attempt(e: &JobExecution) -> Attempt {
    (e.job_id.clone(), e.execution_number, e.retry_attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotjobs_core::Timestamp;

    fn exec(job: &str, status: JobExecutionStatus) -> JobExecution {
        let mut e = JobExecution::queued(job, "t", 1, Timestamp(0));
        e.status = status;
        e
    }

    #[test]
    fn membership_ignores_order_and_status_but_the_head_does_not() {
        use JobExecutionStatus::{InProgress, Queued};
        let a = view_of(&[exec("j1", Queued), exec("j2", Queued)]);
        // j2 started: it is now first, membership unchanged.
        let b = view_of(&[exec("j2", InProgress), exec("j1", Queued)]);
        assert_eq!(a.members, b.members);
        assert_ne!(a.head, b.head);
        // j1 started while first: nothing changed for either notification.
        let c = view_of(&[exec("j1", InProgress), exec("j2", Queued)]);
        assert_eq!((a.members.clone(), a.head.clone()), (c.members, c.head));
        assert_eq!(view_of(&[]).head, None);
        // A retry of j1 (same execution, next attempt) is a change of both.
        let mut retried = exec("j1", Queued);
        retried.retry_attempt = 1;
        let d = view_of(&[retried, exec("j2", Queued)]);
        assert_ne!(a.members, d.members);
        assert_ne!(a.head, d.head);
    }

    #[test]
    fn a_change_is_derived_only_when_the_view_held_everything_and_nothing_is_left() {
        use JobExecutionStatus::Queued;
        let dir = tempfile::tempdir().unwrap();
        let store = iotjobs_store::SqliteStore::open(
            &dir.path().join("db.sqlite"),
            iotjobs_store::SqliteOptions::default(),
        )
        .unwrap();
        let clock = Arc::new(iotjobs_core::ManualClock::new(Timestamp(0)));
        let notifier = Notifier::new(store, clock, Sessions::default());
        let set = |thing: &str, view: View| {
            notifier
                .views
                .lock()
                .unwrap()
                .insert(thing.to_owned(), (view, 0));
        };
        let left = |thing: &str, jobs: &[&str]| ThingChanged {
            thing: thing.into(),
            left_pending: Some(jobs.iter().map(|j| (j.to_string(), 1)).collect()),
        };
        set("one", view_of(&[exec("j1", Queued)]));
        set("two", view_of(&[exec("j1", Queued), exec("j2", Queued)]));
        let full: Vec<_> = (0..MAX_NOTIFY_ENTRIES)
            .map(|i| exec(&format!("j{i}"), Queued))
            .collect();
        set("full", view_of(&full));
        assert_eq!(notifier.derive(&left("one", &["j1"])), Some(vec![]));
        // A job not in the view (it was not pending) changes nothing.
        assert_eq!(notifier.derive(&left("one", &["j1", "j9"])), Some(vec![]));
        // One is left: its summary is needed.
        assert_eq!(notifier.derive(&left("two", &["j1"])), None);
        // Maybe more pending behind what the view holds.
        let all: Vec<&str> = (0..MAX_NOTIFY_ENTRIES)
            .map(|i| full[i].job_id.as_str())
            .collect();
        assert_eq!(notifier.derive(&left("full", &all)), None);
        // Nothing known of the change, or of the thing.
        assert_eq!(notifier.derive(&ThingChanged::unknown("one")), None);
        assert_eq!(notifier.derive(&left("new", &["j1"])), None);
        // After a failed read, the view may be stale.
        notifier.distrust("one");
        assert_eq!(notifier.derive(&left("one", &["j1"])), None);
    }

    #[test]
    fn eviction_keeps_the_most_recently_updated_views() {
        let mut views: HashMap<String, (View, u64)> = (0..25u64)
            .map(|i| (format!("t{i}"), (View::default(), i)))
            .collect();
        evict_oldest(&mut views, 30);
        assert_eq!(views.len(), 25);
        evict_oldest(&mut views, 20);
        // 20 - 20/10 = 18 kept: the newest ones
        assert_eq!(views.len(), 18);
        assert!(views.contains_key("t24") && views.contains_key("t7"));
        assert!(!views.contains_key("t6") && !views.contains_key("t0"));
    }
}
