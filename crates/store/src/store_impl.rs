//! The one implementation of [`iotjobs_core::Store`], stamped out for each backend.
//!
//! A macro rather than a generic `impl<B: Backend> Store for B`: SQLite runs a
//! transaction as a `'static` closure on its writer thread (its futures are not
//! `Send`), PostgreSQL as an async block on the caller's task (whose future must be
//! `Send`), and no stable trait bound expresses "the future of this async closure is
//! `Send` for this backend". Each backend therefore names two macros of the same form,
//! `read!(store, |tx| future)` and `write!(store, |tx| future)`, that run `future` (a
//! call into [`crate::ops`] over `tx: &impl Tx`) in a read or a write transaction;
//! everything else (which `ops` function, how many transactions, what is returned) is
//! written once, below.
//!
//! Arguments are made owned before a transaction because SQLite's closure is
//! `'static`; transaction bodies only borrow them because PostgreSQL may run a body
//! again after a deadlock.

macro_rules! impl_store {
    ($store:ty, $read:ident, $write:ident) => {
        impl iotjobs_core::Store for $store {
            async fn create_thing(
                &self,
                new: iotjobs_core::NewThing,
                thing_id: String,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<(iotjobs_core::Thing, bool)> {
                $write!(self, |tx| $crate::ops::create_thing(
                    tx, &new, &thing_id, now
                ))
            }

            async fn describe_thing(
                &self,
                thing_name: &str,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::Thing>> {
                let name = thing_name.to_owned();
                $read!(self, |tx| $crate::tx::Tx::select_thing(
                    tx,
                    &name,
                    $crate::tx::Lock::No
                ))
            }

            async fn list_things(
                &self,
                filter: &iotjobs_core::ThingFilter,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<iotjobs_core::Thing>> {
                let filter = filter.clone();
                $read!(self, |tx| $crate::ops::list_things(tx, &filter, &page))
            }

            async fn delete_thing(
                &self,
                thing_name: &str,
                expected_version: Option<i64>,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let name = thing_name.to_owned();
                $write!(self, |tx| $crate::ops::delete_thing(
                    tx,
                    &name,
                    expected_version,
                    now
                ))
            }

            async fn update_thing(
                &self,
                thing_name: &str,
                update: iotjobs_core::ThingUpdate,
                expected_version: Option<i64>,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let name = thing_name.to_owned();
                $write!(self, |tx| $crate::ops::update_thing(
                    tx,
                    &name,
                    &update,
                    expected_version,
                    now
                ))
            }

            async fn update_thing_group(
                &self,
                group_name: &str,
                update: iotjobs_core::ThingGroupUpdate,
                expected_version: Option<i64>,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<i64> {
                let name = group_name.to_owned();
                $write!(self, |tx| $crate::ops::update_thing_group(
                    tx,
                    &name,
                    &update,
                    expected_version,
                    now
                ))
            }

            async fn delete_thing_group(
                &self,
                group_name: &str,
                expected_version: Option<i64>,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let name = group_name.to_owned();
                $write!(self, |tx| $crate::ops::delete_thing_group(
                    tx,
                    &name,
                    expected_version,
                    now
                ))
            }

            async fn list_thing_groups(
                &self,
                filter: &iotjobs_core::ThingGroupFilter,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<String>> {
                let filter = filter.clone();
                $read!(self, |tx| $crate::ops::list_thing_groups(
                    tx, &filter, &page
                ))
            }

            async fn list_thing_groups_for_thing(
                &self,
                thing_name: &str,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<String>> {
                let name = thing_name.to_owned();
                $read!(self, |tx| $crate::ops::list_thing_groups_for_thing(
                    tx, &name, &page
                ))
            }

            async fn create_thing_group(
                &self,
                new: iotjobs_core::NewThingGroup,
                group_id: String,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<(iotjobs_core::ThingGroup, bool)> {
                $write!(self, |tx| $crate::ops::create_thing_group(
                    tx, &new, &group_id, now
                ))
            }

            async fn describe_thing_group(
                &self,
                group_name: &str,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::ThingGroup>> {
                let name = group_name.to_owned();
                $read!(self, |tx| $crate::tx::Tx::select_group(
                    tx,
                    &name,
                    $crate::tx::Lock::No
                ))
            }

            async fn add_thing_to_thing_group(
                &self,
                group_name: &str,
                thing_name: &str,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let (group, thing) = (group_name.to_owned(), thing_name.to_owned());
                $write!(self, |tx| $crate::ops::add_thing_to_thing_group(
                    tx, &group, &thing, now
                ))
            }

            async fn remove_thing_from_thing_group(
                &self,
                group_name: &str,
                thing_name: &str,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let (group, thing) = (group_name.to_owned(), thing_name.to_owned());
                $write!(self, |tx| $crate::ops::remove_thing_from_thing_group(
                    tx, &group, &thing, now
                ))
            }

            async fn list_things_in_thing_group(
                &self,
                group_name: &str,
                recursive: bool,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<String>> {
                let group = group_name.to_owned();
                $read!(self, |tx| $crate::ops::list_things_in_thing_group(
                    tx, &group, recursive, &page
                ))
            }

            async fn create_job(
                &self,
                new: iotjobs_core::NewJob,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Job> {
                $write!(self, |tx| $crate::ops::create_job(tx, &new, now))
            }

            async fn associate_targets_with_job(
                &self,
                job_id: &str,
                targets: iotjobs_core::AssociatedTargets,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Job> {
                let id = job_id.to_owned();
                $write!(self, |tx| $crate::ops::associate_targets_with_job(
                    tx, &id, &targets, now
                ))
            }

            async fn describe_job(
                &self,
                job_id: &str,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::Job>> {
                let id = job_id.to_owned();
                $read!(self, |tx| $crate::tx::Tx::select_job(
                    tx,
                    &id,
                    $crate::tx::Lock::No
                ))
            }

            async fn list_jobs(
                &self,
                filter: &iotjobs_core::JobFilter,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<iotjobs_core::Job>> {
                let filter = filter.clone();
                $read!(self, |tx| $crate::ops::list_jobs(tx, &filter, &page))
            }

            async fn update_job(
                &self,
                job_id: &str,
                update: iotjobs_core::JobUpdate,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let id = job_id.to_owned();
                $write!(self, |tx| $crate::ops::update_job(tx, &id, &update, now))
            }

            async fn cancel_job(
                &self,
                job_id: &str,
                force: bool,
                reason_code: Option<String>,
                comment: Option<String>,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Job> {
                let id = job_id.to_owned();
                {
                    let id = id.clone();
                    $write!(self, |tx| $crate::ops::cancel_job(
                        tx,
                        &id,
                        force,
                        (&reason_code, &comment),
                        now
                    ))?;
                }
                // Then the executions, one bounded transaction at a time, each going on
                // where the last one stopped (the sweep keeps off this job meanwhile).
                let _canceling = self.canceling.start(&id);
                let mut after = None;
                loop {
                    let id = id.clone();
                    let from = after.take();
                    let (_, next) = $write!(self, |tx| $crate::ops::cancel_job_executions_from(
                        tx,
                        &id,
                        $crate::ops::CANCEL_CHUNK,
                        from.as_ref(),
                        now
                    ))?;
                    match next {
                        Some(key) => after = Some(key),
                        None => break,
                    }
                }
                $read!(self, |tx| $crate::ops::read_job(tx, &id))
            }

            async fn delete_job(
                &self,
                job_id: &str,
                force: bool,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let id = job_id.to_owned();
                $write!(self, |tx| $crate::ops::delete_job(tx, &id, force, now))
            }

            async fn list_job_executions_for_job(
                &self,
                job_id: &str,
                status: Option<iotjobs_core::JobExecutionStatus>,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<iotjobs_core::JobExecution>> {
                let id = job_id.to_owned();
                $read!(self, |tx| $crate::ops::list_job_executions_for_job(
                    tx, &id, status, &page
                ))
            }

            async fn list_job_executions_for_thing(
                &self,
                thing_name: &str,
                status: Option<iotjobs_core::JobExecutionStatus>,
                job_id: Option<&str>,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<iotjobs_core::JobExecution>> {
                let (thing, job) = (thing_name.to_owned(), job_id.map(str::to_owned));
                $read!(self, |tx| $crate::ops::list_job_executions_for_thing(
                    tx,
                    &$crate::tx::ThingExecutions {
                        thing: &thing,
                        status,
                        job_id: job.as_deref(),
                    },
                    &page
                ))
            }

            async fn describe_job_execution(
                &self,
                selector: &iotjobs_core::ExecutionSelector,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::JobExecution>> {
                let selector = selector.clone();
                $read!(self, |tx| $crate::tx::Tx::select_execution(
                    tx,
                    &selector,
                    $crate::tx::Lock::No
                ))
            }

            async fn get_pending_job_executions(
                &self,
                thing_name: &str,
                limit: usize,
            ) -> iotjobs_core::StoreResult<Vec<iotjobs_core::JobExecution>> {
                let name = thing_name.to_owned();
                $read!(self, |tx| $crate::tx::Tx::select_pending(tx, &name, limit))
            }

            async fn update_job_execution(
                &self,
                selector: iotjobs_core::ExecutionSelector,
                cmd: iotjobs_core::ExecutionCommand,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::AppliedChange>> {
                $write!(self, |tx| $crate::ops::update_job_execution(
                    tx, &selector, &cmd, now
                ))
            }

            async fn sweep(
                &self,
                now: iotjobs_core::Timestamp,
                budget: usize,
            ) -> iotjobs_core::StoreResult<iotjobs_core::SweepReport> {
                // Three transactions, so that each kind of work commits on its own: a
                // failure in one neither undoes nor skips the others (the first error is
                // reported after all three ran).
                // Each recorded in the audit log as the service's own work.
                use iotjobs_core::audit::{Actor, with_actor};
                let timed_out = with_actor(Actor::service("Timeout"), async {
                    $write!(self, |tx| $crate::ops::sweep_timeouts(tx, now, budget))
                })
                .await;
                let rollouts = with_actor(Actor::service("Rollout"), async {
                    $write!(self, |tx| $crate::ops::sweep_rollouts(
                        tx,
                        now,
                        $crate::ops::SWEEP_JOBS,
                        budget
                    ))
                })
                .await;
                let canceled = with_actor(Actor::service("CancelJob"), async {
                    let busy = self.canceling.jobs();
                    $write!(self, |tx| $crate::ops::sweep_cancellations(
                        tx, now, budget, &busy
                    ))
                })
                .await;
                let deletions = with_actor(Actor::service("DeleteJob"), async {
                    // Purging is plain deletes: at least a bulk chunk per transaction,
                    // so that a deleted job of a million executions takes few commits.
                    let purge = budget.max($crate::ops::BULK_CHUNK);
                    $write!(self, |tx| $crate::ops::sweep_deletions(tx, purge, now))
                })
                .await;
                let (timed_out, rollouts, canceled, (purged_executions, deleted_jobs)) =
                    (timed_out?, rollouts?, canceled?, deletions?);
                Ok(iotjobs_core::SweepReport {
                    timed_out,
                    canceled,
                    purged_executions,
                    deleted_jobs,
                    rollouts,
                })
            }

            async fn count_executions(
                &self,
            ) -> iotjobs_core::StoreResult<iotjobs_core::JobProcessDetails> {
                $read!(self, |tx| $crate::tx::Tx::count_executions(tx))
            }

            async fn next_job_wake(
                &self,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::Timestamp>> {
                $read!(self, |tx| $crate::tx::Tx::next_job_wake(tx))
            }

            fn stats(&self) -> iotjobs_core::StoreStats {
                self.backend_stats()
            }

            async fn list_audit(
                &self,
                filter: &iotjobs_core::audit::AuditFilter,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<iotjobs_core::audit::AuditRecord>>
            {
                let filter = filter.clone();
                $read!(self, |tx| $crate::tx::Tx::list_audit(tx, &filter, &page))
            }

            async fn try_lead(
                &self,
                role: &str,
            ) -> iotjobs_core::StoreResult<Option<Box<dyn iotjobs_core::Lease>>> {
                self.lead(role).await
            }

            fn set_change_listener(&self, listener: iotjobs_core::ChangeListener) {
                self.changes.set(listener);
                self.on_change_listener();
            }

            async fn register_certificate(
                &self,
                new: iotjobs_core::NewCertificate,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Certificate> {
                $write!(self, |tx| $crate::ops::register_certificate(tx, &new, now))
            }

            async fn describe_certificate(
                &self,
                certificate_id: &str,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::Certificate>> {
                let id = certificate_id.to_owned();
                $read!(self, |tx| $crate::tx::Tx::select_certificate(
                    tx,
                    &id,
                    $crate::tx::Lock::No
                ))
            }

            async fn update_certificate(
                &self,
                certificate_id: &str,
                new_status: iotjobs_core::CertificateStatus,
                generation_id: String,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let id = certificate_id.to_owned();
                $write!(self, |tx| $crate::ops::update_certificate(
                    tx,
                    &id,
                    new_status,
                    &generation_id,
                    now
                ))
            }

            async fn delete_certificate(
                &self,
                certificate_id: &str,
                certificate_arn: &str,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let id = certificate_id.to_owned();
                let arn = certificate_arn.to_owned();
                $write!(self, |tx| $crate::ops::delete_certificate(
                    tx, &id, &arn, now
                ))
            }

            async fn list_certificates(
                &self,
                ascending: bool,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<iotjobs_core::Certificate>> {
                $read!(self, |tx| $crate::tx::Tx::list_certificates(
                    tx, ascending, &page
                ))
            }

            async fn attach_thing_principal(
                &self,
                thing_name: &str,
                certificate_id: &str,
                principal: &str,
                kind: iotjobs_core::ThingPrincipalType,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let thing = thing_name.to_owned();
                let id = certificate_id.to_owned();
                let principal = principal.to_owned();
                $write!(self, |tx| $crate::ops::attach_thing_principal(
                    tx, &thing, &id, &principal, kind, now
                ))
            }

            async fn detach_thing_principal(
                &self,
                thing_name: &str,
                certificate_id: &str,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let thing = thing_name.to_owned();
                let id = certificate_id.to_owned();
                $write!(self, |tx| $crate::ops::detach_thing_principal(
                    tx, &thing, &id, now
                ))
            }

            async fn list_thing_principals(
                &self,
                thing_name: &str,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<String>> {
                let thing = thing_name.to_owned();
                $read!(self, |tx| $crate::ops::list_thing_principals(
                    tx, &thing, &page
                ))
            }

            async fn create_job_template(
                &self,
                new: iotjobs_core::NewJobTemplate,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<iotjobs_core::JobTemplate> {
                $write!(self, |tx| $crate::ops::create_job_template(tx, &new, now))
            }

            async fn describe_job_template(
                &self,
                job_template_id: &str,
            ) -> iotjobs_core::StoreResult<Option<iotjobs_core::JobTemplate>> {
                let id = job_template_id.to_owned();
                $read!(self, |tx| $crate::tx::Tx::select_job_template(tx, &id))
            }

            async fn list_job_templates(
                &self,
                page: iotjobs_core::PageRequest,
            ) -> iotjobs_core::StoreResult<iotjobs_core::Page<iotjobs_core::JobTemplate>> {
                $read!(self, |tx| $crate::tx::Tx::list_job_templates(tx, &page))
            }

            async fn delete_job_template(
                &self,
                job_template_id: &str,
                now: iotjobs_core::Timestamp,
            ) -> iotjobs_core::StoreResult<()> {
                let id = job_template_id.to_owned();
                $write!(self, |tx| $crate::ops::delete_job_template(tx, &id, now))
            }

            async fn reset(&self) -> iotjobs_core::StoreResult<()> {
                $write!(self, |tx| $crate::tx::Tx::delete_everything(tx))
            }

            async fn claim_account(&self, account_id: &str) -> iotjobs_core::StoreResult<()> {
                let account = account_id.to_owned();
                $write!(self, |tx| $crate::tx::Tx::claim_account(tx, &account))
            }
        }
    };
}

pub(crate) use impl_store;
