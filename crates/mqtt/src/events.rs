//! Jobs events over MQTT (`serve --mqtt-events`): the topics and JSON payloads of AWS
//! IoT's `$aws/events/job/{jobId}/{operation}` and
//! `$aws/events/jobExecution/{jobId}/{operation}` (AWS IoT developer guide, "Jobs
//! events"), rendered from the [`JobsEvent`]s the store hands over after COMMIT, and the
//! task that publishes them.
//!
//! Which change makes which event is decided in `iotjobs_core::event`; here only how it
//! looks on the wire. Events go to operator connections of the embedded endpoint
//! ([`crate::Sessions::publish_to_operators`]) or to the external broker, never to
//! devices.

use iotjobs_core::{Job, JobExecution, JobsEvent, Timestamp};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What an event needs beyond the change itself: the ARNs' region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext {
    pub region: String,
    pub account_id: String,
}

/// Where rendered events go.
pub trait EventSink: Send + Sync + 'static {
    /// Deliver `payload` on `topic` to every subscriber allowed to read events. Never
    /// blocks (dropped and logged when a queue is full: events are hints, as on AWS).
    fn publish_event(&self, topic: &str, payload: &[u8]);
}

/// The topic and JSON payload of `event`; `event_id` is the event's unique id (a UUID).
pub fn render(event: &JobsEvent, ctx: &EventContext, event_id: &str) -> (String, Vec<u8>) {
    let (topic, value) = match event {
        JobsEvent::Job { operation, job, at } => (
            format!(
                "$aws/events/job/{}/{}",
                job.progress.job_id,
                operation.as_str()
            ),
            job_payload(operation, job, *at, event_id),
        ),
        JobsEvent::JobExecution {
            operation,
            execution,
            at,
        } => (
            format!(
                "$aws/events/jobExecution/{}/{}",
                execution.job_id,
                operation.as_str()
            ),
            execution_payload(operation.as_str(), execution, ctx, *at, event_id),
        ),
    };
    (topic, value.to_string().into_bytes())
}

/// AWS's job event: `timestamp` in seconds like every jobs message, the job's own times
/// in milliseconds as in every AWS example of this payload; `completedAt` and
/// `jobProcessDetails` on `completed`, the cancel/delete `comment` where AWS shows one.
fn job_payload(
    operation: &iotjobs_core::JobEventOperation,
    job: &Job,
    at: Timestamp,
    event_id: &str,
) -> Value {
    use iotjobs_core::JobEventOperation as Op;
    let p = &job.progress;
    let mut m = Map::new();
    m.insert("eventType".into(), json!("JOB"));
    m.insert("eventId".into(), json!(event_id));
    m.insert("timestamp".into(), json!(at.epoch_seconds()));
    m.insert("operation".into(), json!(operation.as_str()));
    m.insert("jobId".into(), json!(p.job_id));
    m.insert("status".into(), json!(operation.status()));
    m.insert("targetSelection".into(), json!(p.target_selection.as_str()));
    m.insert("targets".into(), json!(job.targets));
    if let Some(d) = &job.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("createdAt".into(), json!(job.created_at.millis()));
    m.insert("lastUpdatedAt".into(), json!(p.last_updated_at.millis()));
    if *operation == Op::Completed {
        if let Some(c) = p.completed_at {
            m.insert("completedAt".into(), json!(c.millis()));
        }
        let d = &p.process_details;
        m.insert(
            "jobProcessDetails".into(),
            json!({
                "numberOfCanceledThings": d.canceled,
                "numberOfRejectedThings": d.rejected,
                "numberOfFailedThings": d.failed,
                "numberOfRemovedThings": d.removed,
                "numberOfSucceededThings": d.succeeded,
                "numberOfTimedOutThings": d.timed_out,
                "numberOfInProgressThings": d.in_progress,
                "numberOfQueuedThings": d.queued,
            }),
        );
    }
    if *operation != Op::Completed
        && let Some(c) = &job.comment
    {
        m.insert("comment".into(), json!(c));
    }
    Value::Object(m)
}

/// AWS's job-execution event. `thingArn` in the standard thing ARN form.
fn execution_payload(
    operation: &str,
    e: &JobExecution,
    ctx: &EventContext,
    at: Timestamp,
    event_id: &str,
) -> Value {
    let mut m = Map::new();
    m.insert("eventType".into(), json!("JOB_EXECUTION"));
    m.insert("eventId".into(), json!(event_id));
    m.insert("timestamp".into(), json!(at.epoch_seconds()));
    m.insert("operation".into(), json!(operation));
    m.insert("jobId".into(), json!(e.job_id));
    m.insert(
        "thingArn".into(),
        json!(format!(
            "arn:aws:iot:{}:{}:thing/{}",
            ctx.region, ctx.account_id, e.thing_name
        )),
    );
    m.insert("status".into(), json!(e.status.as_str()));
    if !e.status_details.is_empty() {
        m.insert("statusDetails".into(), json!(e.status_details));
    }
    Value::Object(m)
}

/// Publish every event from `events` to `sink` until the channel closes (or the task is
/// aborted).
pub(crate) fn publish_events(
    mut events: mpsc::UnboundedReceiver<Arc<[JobsEvent]>>,
    ctx: EventContext,
    sink: impl EventSink,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(batch) = events.recv().await {
            for event in batch.iter() {
                let id = uuid::Uuid::new_v4().to_string();
                let (topic, payload) = render(event, &ctx, &id);
                sink.publish_event(&topic, &payload);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotjobs_core::{JobEventOperation, JobExecutionEventOperation, JobExecutionStatus};

    fn ctx() -> EventContext {
        EventContext {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn execution_events_name_the_thing_by_arn_and_carry_seconds() {
        let mut e = JobExecution::queued("j1", "t1", 1, Timestamp(1_700_000_000_999));
        e.status = JobExecutionStatus::Canceled;
        e.status_details.insert("why".into(), "operator".into());
        let event = JobsEvent::JobExecution {
            operation: JobExecutionEventOperation::Canceled,
            execution: Box::new(e),
            at: Timestamp(1_700_000_001_500),
        };
        let (topic, payload) = render(&event, &ctx(), "id-1");
        assert_eq!(topic, "$aws/events/jobExecution/j1/canceled");
        let v: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            v,
            json!({
                "eventType": "JOB_EXECUTION", "eventId": "id-1", "timestamp": 1_700_000_001,
                "operation": "canceled", "jobId": "j1",
                "thingArn": "arn:aws:iot:us-east-1:123456789012:thing/t1",
                "status": "CANCELED", "statusDetails": {"why": "operator"},
            })
        );
    }

    #[test]
    fn job_events_carry_details_on_completion_and_comments_on_cancel() {
        let new = iotjobs_core::NewJob {
            job_id: "j1".into(),
            targets: vec!["arn:aws:iot:us-east-1:123456789012:thing/t1".into()],
            target_things: vec!["t1".into()],
            target_groups: vec![],
            document: None,
            document_source: None,
            description: Some("update".into()),
            target_selection: iotjobs_core::TargetSelection::Snapshot,
            in_progress_timeout_minutes: None,
            policy: Default::default(),
            configs: Default::default(),
        };
        let mut job = Job::from_new(new, 0, Timestamp(1_000_000));
        assert_eq!(job.progress.status, iotjobs_core::JobStatus::Completed);
        let completed = JobsEvent::Job {
            operation: JobEventOperation::Completed,
            job: Box::new(job.clone()),
            at: Timestamp(2_000_000),
        };
        let (topic, payload) = render(&completed, &ctx(), "id-2");
        assert_eq!(topic, "$aws/events/job/j1/completed");
        let v: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["timestamp"], 2_000);
        assert_eq!(v["createdAt"], 1_000_000);
        assert_eq!(v["completedAt"], 1_000_000);
        assert_eq!(v["jobProcessDetails"]["numberOfQueuedThings"], 0);
        assert_eq!(
            v["targets"][0],
            "arn:aws:iot:us-east-1:123456789012:thing/t1"
        );
        assert!(v.get("comment").is_none());

        job.comment = Some("bad firmware".into());
        let deleting = JobsEvent::Job {
            operation: JobEventOperation::DeletionInProgress,
            job: Box::new(job),
            at: Timestamp(2_000_000),
        };
        let (topic, payload) = render(&deleting, &ctx(), "id-3");
        assert_eq!(topic, "$aws/events/job/j1/deletion_in_progress");
        let v: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["status"], "DELETION_IN_PROGRESS");
        assert_eq!(v["comment"], "bad firmware");
        assert!(v.get("jobProcessDetails").is_none());
    }
}
