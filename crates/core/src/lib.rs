//! The domain of iotjobs: what a thing, a job and a job execution are, how a job
//! execution moves between statuses, and what a storage backend must offer.
//!
//! **Architecture invariant:** this crate knows no HTTP, no SQL, no JSON and no async
//! runtime. Time comes in as a [`Timestamp`] argument, never from a clock read here,
//! so every rule is a pure function that tests can drive over every case. The wire
//! edge (`iotjobs-api`) and the storage backends (`iotjobs-store`) depend on this
//! crate; it depends on nothing of ours.

pub mod audit;
pub mod certificate;
pub mod device;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod execution;
pub mod group;
pub mod job;
pub mod managed_templates;
pub mod page;
pub mod policy;
pub mod presign;
pub mod schedule;
pub mod state_machine;
pub mod store;
pub mod template;
pub mod thing;
pub mod time;

pub use certificate::{Certificate, CertificateStatus, NewCertificate, ThingPrincipalType};
pub use error::JobsError;
pub use event::{JobEventOperation, JobExecutionEventOperation, JobsEvent};
pub use execution::{ExecutionState, JobExecution, JobExecutionStatus, StatusDetails};
pub use group::{NewThingGroup, ThingGroup, ThingGroupFilter, ThingGroupUpdate};
pub use job::{Job, JobProcessDetails, JobProgress, JobStatus, JobUpdate, NewJob, TargetSelection};
pub use page::{Page, PageRequest};
pub use state_machine::{
    Change, ExecutionCommand, UniformChange, apply, apply_to_job, uniform_change,
};
pub use store::{
    AppliedChange, AssociatedTargets, ChangeListener, ChangeNotice, ExecutionSelector, JobFilter,
    Lease, Store, StoreResult, StoreStats, SweepReport, ThingChanged, ThingFilter,
};
pub use template::{JobBasis, JobTemplate, NewJobTemplate};
pub use thing::{AttributeUpdate, NewThing, Thing, ThingUpdate};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
