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
//! Notifications are hints: devices re-query after reconnecting, so a duplicate or a
//! change missed while disconnected does no harm.

use crate::endpoint::Sessions;
use crate::jobs::{execution_out, prefix, summary_out};
use iotjobs_core::device::job_document;
use iotjobs_core::execution::{JobExecution, JobExecutionStatus};
use iotjobs_core::{Clock, Store};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The most entries a `notify` lists (AWS IoT Jobs documentation: 15).
const MAX_NOTIFY_ENTRIES: usize = 15;

/// What the notifier last saw of one thing's pending executions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct View {
    /// (job id, execution number) of each pending execution, in list order.
    members: Vec<(String, i64)>,
    /// The execution `$next` names.
    head: Option<(String, i64)>,
}

pub struct Notifier<S> {
    store: S,
    clock: Arc<dyn Clock>,
    sessions: Sessions,
    views: Mutex<HashMap<String, View>>,
}

impl<S: Store> Notifier<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, sessions: Sessions) -> Self {
        Notifier {
            store,
            clock,
            sessions,
            views: Mutex::new(HashMap::new()),
        }
    }

    /// A connection of `thing` was accepted: remember what is pending now.
    pub async fn connected(&self, thing: &str) {
        match self.pending(thing).await {
            Ok(pending) => {
                if let Ok(mut views) = self.views.lock() {
                    views.insert(thing.to_owned(), view_of(&pending));
                }
            }
            Err(e) => tracing::warn!(thing, error = %e, "cannot read pending executions"),
        }
    }

    /// Committed changes touched `things`: notify the connected ones whose pending list
    /// or next execution changed.
    /// An empty list means changes may have been missed: every connected thing is
    /// checked.
    pub async fn changed(&self, things: &[String]) {
        let connected: HashSet<String> = self.sessions.connected_things().into_iter().collect();
        let all: Vec<String>;
        let things = if things.is_empty() {
            all = connected.iter().cloned().collect();
            &all[..]
        } else {
            things
        };
        for thing in things.iter().filter(|t| connected.contains(*t)) {
            if let Err(e) = self.notify(thing).await {
                tracing::warn!(thing, error = %e, "cannot notify");
            }
        }
        if let Ok(mut views) = self.views.lock() {
            views.retain(|t, _| connected.contains(t));
        }
    }

    async fn notify(&self, thing: &str) -> Result<(), iotjobs_core::JobsError> {
        let pending = self.pending(thing).await?;
        let now_view = view_of(&pending);
        let before = {
            let Ok(mut views) = self.views.lock() else {
                return Ok(());
            };
            views.insert(thing.to_owned(), now_view.clone())
        };
        // A thing first seen now (its connection raced with this change): no baseline to
        // compare with; the next change compares with this one.
        let Some(before) = before else {
            return Ok(());
        };
        let now = self.clock.now();
        let topics = prefix(thing);
        if before.members != now_view.members {
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
        if before.head != now_view.head {
            let mut body = serde_json::json!({ "timestamp": now.epoch_seconds() });
            if let Some(head) = pending.first() {
                let doc = job_document(&self.store, &head.job_id).await?;
                body["execution"] = serde_json::to_value(execution_out(head, doc.as_deref(), now))
                    .unwrap_or_default();
            }
            self.publish(thing, &format!("{topics}notify-next"), &body);
        }
        Ok(())
    }

    fn publish(&self, thing: &str, topic: &str, body: &Value) {
        let payload = serde_json::to_vec(body).unwrap_or_default();
        self.sessions.publish_to_thing(thing, topic, &payload);
    }

    /// IN_PROGRESS first, then QUEUED, each oldest first (the order `$next` follows),
    /// at most [`MAX_NOTIFY_ENTRIES`].
    async fn pending(&self, thing: &str) -> Result<Vec<JobExecution>, iotjobs_core::JobsError> {
        let mut list = self
            .store
            .get_pending_job_executions(thing, MAX_NOTIFY_ENTRIES)
            .await?;
        list.truncate(MAX_NOTIFY_ENTRIES);
        Ok(list)
    }
}

fn view_of(pending: &[JobExecution]) -> View {
    View {
        members: {
            let mut m: Vec<_> = pending
                .iter()
                .map(|e| (e.job_id.clone(), e.execution_number))
                .collect();
            m.sort_unstable();
            m
        },
        head: pending
            .first()
            .map(|e| (e.job_id.clone(), e.execution_number)),
    }
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
    }
}
