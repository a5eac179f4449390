//! Background work: the periodic sweep that times out expired executions, advances
//! jobs' schedules, maintenance windows and rollout steps, finishes interrupted job
//! cancellations and purges deleted jobs (`Store::sweep`).
//!
//! Every server process runs one sweeper; several processes on one database are safe
//! because the store applies each change through the state machine in a transaction
//! (a change already made by another sweeper is refused and skipped, never repeated).
//! Nothing here decides a rule, and nothing here knows HTTP: it uses `app` only.

use crate::app::App;
use iotjobs_core::{Store, SweepReport};
use std::sync::Arc;
use std::time::Duration;

/// Records per kind handled by one sweep transaction.
pub const SWEEP_BUDGET: usize = 1_000;

/// Run sweeps until there is nothing left to do right now. Returns the total.
pub async fn sweep_until_idle<S: Store>(app: &App<S>) -> iotjobs_core::StoreResult<SweepReport> {
    let mut total = SweepReport::default();
    loop {
        let r = app.store.sweep(app.now(), SWEEP_BUDGET).await?;
        total.timed_out += r.timed_out;
        total.canceled += r.canceled;
        total.purged_executions += r.purged_executions;
        total.deleted_jobs += r.deleted_jobs;
        total.rollouts += r.rollouts;
        if r.is_idle() {
            return Ok(total);
        }
    }
}

/// Sweep every `interval`, and at once when a handler asks (`App::sweeper`, e.g. after
/// DeleteJob). Runs until the process stops.
pub async fn run_sweeper<S: Store>(app: Arc<App<S>>, interval: Duration) {
    loop {
        match sweep_until_idle(&app).await {
            Ok(r) if !r.is_idle() => tracing::debug!(?r, "sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying later"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = app.sweeper.notified() => {}
        }
    }
}
