//! The audit log: who changed what, from where, when, and which status it went from and
//! to. One [`AuditRecord`] per changed thing (a job, an execution, a registry entry),
//! written by the store in the same transaction as the change, so a change is never
//! kept without its record nor a record without its change.
//!
//! Who and from where are not arguments of the `Store` methods: the caller (the HTTP
//! edge, the MQTT endpoint) runs the call inside [`with_actor`], and the store reads
//! [`current_actor`] when a write transaction starts. Work nobody asked for (timeouts,
//! the deletion sweep) is recorded with [`Actor::service`].
//!
//! No I/O and no runtime here: the context is a thread-local that [`WithActor`] sets
//! around each poll of the future it wraps, which works on any executor.

use crate::time::Timestamp;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Who made a change, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// An access key id, `thing/<name>` for a device over MQTT, or `iotjobs` for the
    /// service's own background work.
    pub principal: String,
    /// The peer address the request came from (`ip:port`), if any.
    pub source: Option<String>,
    /// The operation (`CancelJobExecution`, `UpdateJobExecution`, `Sweep`, ...).
    pub operation: String,
    /// The request id the caller was given (`x-amzn-RequestId`), if any.
    pub request_id: Option<String>,
}

impl Actor {
    /// The service itself (background sweeps: timeouts, cancellations left over by a
    /// stopped process, job deletions).
    pub fn service(operation: &str) -> Actor {
        Actor {
            principal: "iotjobs".into(),
            source: None,
            operation: operation.into(),
            request_id: None,
        }
    }
}

/// What kind of thing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditSubject {
    #[default]
    Job,
    JobExecution,
    Thing,
    ThingGroup,
    Certificate,
    JobTemplate,
}

impl AuditSubject {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Job => "JOB",
            Self::JobExecution => "JOB_EXECUTION",
            Self::Thing => "THING",
            Self::ThingGroup => "THING_GROUP",
            Self::Certificate => "CERTIFICATE",
            Self::JobTemplate => "JOB_TEMPLATE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Job,
            Self::JobExecution,
            Self::Thing,
            Self::ThingGroup,
            Self::Certificate,
            Self::JobTemplate,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log (increasing with commit order within one database).
    pub seq: i64,
    pub at: Timestamp,
    pub actor: Actor,
    pub change: AuditChange,
}

/// What a store records for one change (the store adds `seq`, the time and the actor).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditChange {
    pub subject: AuditSubject,
    /// The job of a job or execution change.
    pub job_id: Option<String>,
    /// The thing of an execution or thing change; the group, certificate or job template
    /// id of those.
    pub name: Option<String>,
    /// Status before and after (`None`: did not exist / no longer exists / has none).
    pub old_status: Option<String>,
    pub new_status: Option<String>,
    /// What else identifies the change (`group=g1` for a membership, `certificate=ID`
    /// for an attachment, `executions=N` for a created job).
    pub detail: Option<String>,
}

/// `iotjobs audit` / `GET /iotjobs-api/audit` filters; all given ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub job_id: Option<String>,
    /// The thing (or group, certificate) name.
    pub name: Option<String>,
    pub principal: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

thread_local! {
    static ACTOR: RefCell<Option<Actor>> = const { RefCell::new(None) };
}

/// The actor of the future being polled on this thread, if any ([`with_actor`]).
pub fn current_actor() -> Option<Actor> {
    ACTOR.with(|a| a.borrow().clone())
}

/// Run `fut` with `actor` as the [`current_actor`] while it is polled.
pub fn with_actor<F: Future>(actor: Actor, fut: F) -> WithActor<F> {
    WithActor {
        actor: Some(actor),
        fut: Box::pin(fut),
    }
}

/// See [`with_actor`].
pub struct WithActor<F> {
    actor: Option<Actor>,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for WithActor<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let outer = ACTOR.with(|a| a.replace(this.actor.take()));
        // Put the outer context back and keep ours for the next poll, also when the
        // inner future panics (the guard runs on unwind).
        let _restore = Restore {
            outer: Some(outer),
            ours: &mut this.actor,
        };
        this.fut.as_mut().poll(cx)
    }
}

struct Restore<'a> {
    outer: Option<Option<Actor>>,
    ours: &'a mut Option<Actor>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let outer = self.outer.take().flatten();
        *self.ours = ACTOR.with(|a| a.replace(outer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// A future that is pending once before it answers.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn the_actor_is_seen_across_suspensions_and_nests() {
        assert_eq!(current_actor(), None);
        let alice = Actor {
            principal: "AKALICE".into(),
            operation: "CancelJob".into(),
            ..Actor::default()
        };
        let seen = block_on(with_actor(alice.clone(), async {
            let before = current_actor();
            YieldOnce(false).await;
            let after = current_actor();
            let inner = with_actor(Actor::service("Sweep"), async { current_actor() }).await;
            (before, after, inner, current_actor())
        }));
        assert_eq!(seen.0.as_ref(), Some(&alice));
        assert_eq!(seen.1.as_ref(), Some(&alice), "kept across a Pending poll");
        assert_eq!(seen.2, Some(Actor::service("Sweep")));
        assert_eq!(
            seen.3.as_ref(),
            Some(&alice),
            "restored after the inner one"
        );
        assert_eq!(current_actor(), None, "nothing left on the thread");
    }
}
