//! The domain of iotjobs: what a thing, a job and a job execution are, how a job
//! execution moves between statuses, and what a storage backend must offer.
//!
//! **Architecture invariant:** this crate knows no HTTP, no SQL, no JSON and no async
//! runtime. Time comes in as a [`Timestamp`] argument, never from a clock read here,
//! so every rule is a pure function that tests can drive over every case. The wire
//! edge (`iotjobs-api`) and the storage backends (`iotjobs-store`) depend on this
//! crate; it depends on nothing of ours.

pub mod error;
pub mod execution;
pub mod job;
pub mod state_machine;
pub mod store;
pub mod thing;
pub mod time;

pub use error::JobsError;
pub use execution::{ExecutionState, JobExecution, JobExecutionStatus, StatusDetails};
pub use job::{Job, JobProcessDetails, JobProgress, JobStatus, NewJob, TargetSelection};
pub use state_machine::{Change, ExecutionCommand, apply, apply_to_job};
pub use store::{AppliedChange, ExecutionSelector, Store, StoreResult};
pub use thing::{NewThing, Thing};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
