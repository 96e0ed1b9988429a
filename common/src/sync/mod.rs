//! The sync run: plan, then apply.
//!
//! One run of one integration (`docs/ARCHITECTURE.md`, "The sync run"): take the lease, page
//! through Personio, keep the selected employees and map them ([`profile`]), compare with the
//! links ([`plan`]), apply with bounded concurrency (`apply`), store the run record, notify
//! ([`email`] words the invitation and the run summary), release the lease. A dry run makes the
//! same reads and the same plan, writes only its run record.

mod applied;
mod apply;
mod breaker;
pub mod diff;
pub mod email;
pub mod managers;
pub mod plan;
pub mod profile;
mod reconcile;
pub mod roster;
mod stop;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_lms_requests;
#[cfg(test)]
mod tests_managers;
#[cfg(test)]
mod tests_reconcile;

pub use plan::{DeactivationReason, PlannedChange, Repair, SyncPlan, SyncScope};
pub use profile::{
    MappingError, desired_groups, fields_sent, is_selected, lock_reason, map_profile, profile_hash,
};
pub use roster::{Roster, SyncTarget};
pub use stop::{CancelToken, IN_FLIGHT_GRACE, StopRequest};

use crate::domain::IntegrationId;
use crate::domain::employee::PersonioId;
use crate::domain::run::{
    EmployeeOutcome, OutcomeAction, RunCounts, RunId, RunKind, RunRecord, RunStats, RunStatus,
    Trigger,
};
use crate::domain::settings::{IntegrationSettings, SettingsError};
use crate::ports::{
    EmployeeQuery, HrSource, LearningPlatform, LeaseOutcome, Notifier, StoreError, SyncStore,
};
use crate::retry::{Backoff, Deadline, human_duration};
use applied::Applied;
use apply::{ApplyContext, with_retry};
use breaker::BreakerLms;
use chrono::{DateTime, Utc};
use email::{run_summary_email, summary_due};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use stop::{RunStop, StopReason, wall_clock};
use tracing::{Instrument, error, info, info_span, warn};

/// How many single employee reads a targeted run has in flight (the Personio client keeps to
/// the rate limit itself).
const SINGLE_READS_IN_FLIGHT: usize = 4;

/// A named employee's account that needs nothing.
const UP_TO_DATE: &str = "the LMS account is up to date";

/// What one run is asked to do.
#[derive(Clone, Debug)]
pub struct SyncRequest {
    pub integration_id: IntegrationId,
    pub settings: IntegrationSettings,
    pub trigger: Trigger,
    /// Plan and record, but write nothing to the LMS or the links and send no email.
    pub dry_run: bool,
    /// Everyone, or only some employees (a targeted run).
    pub scope: SyncScope,
    /// `Full`, or `Reconcile` to also repair what was changed in the LMS by hand. A run whose
    /// scope names employees is `Targeted` whatever this says ([`SyncRequest::run_kind`]).
    pub kind: RunKind,
    /// Every retry and every HTTP call of the run ends by then.
    pub deadline: Deadline,
    /// Who holds the lease (a Lambda request id, a host name): shown to a run that finds it held.
    pub lease_holder: String,
    /// How long the lease lasts without renewal; the run renews it every third of this.
    pub lease_ttl: chrono::Duration,
    /// The host's handle to stop the run cleanly (a signal, a closed output).
    pub cancel: CancelToken,
    /// Give the changes only the time their number needs ([`time_for_changes`]), within
    /// `deadline`: a host without a deadline of its own (the CLI without `--timeout`) sets it.
    pub sized_to_work: bool,
    /// Notices the host adds to the run record (an abandoned run found before this one).
    pub notices: Vec<String>,
}

impl SyncRequest {
    pub fn new(
        integration_id: IntegrationId,
        settings: IntegrationSettings,
        trigger: Trigger,
    ) -> Self {
        Self {
            integration_id,
            settings,
            trigger,
            dry_run: false,
            scope: SyncScope::Everyone,
            kind: RunKind::Full,
            deadline: Deadline::none(),
            lease_holder: format!("sync-{}", uuid::Uuid::new_v4()),
            lease_ttl: chrono::Duration::minutes(5),
            cancel: CancelToken::new(),
            sized_to_work: false,
            notices: Vec::new(),
        }
    }

    /// What the run is: `Targeted` when its scope names employees (a targeted run repairs
    /// nothing else), `Delta` when it covers those changed since a time, else the `kind` asked
    /// for (`Full` or `Reconcile`).
    pub fn run_kind(&self) -> RunKind {
        match (&self.scope, self.kind) {
            (SyncScope::Everyone, RunKind::Reconcile) => RunKind::Reconcile,
            (scope, _) => scope.kind(),
        }
    }
}

/// The time a run sized to its work gives `changes` applied `concurrency` at a time: two minutes,
/// plus ten seconds per round of concurrent changes. A change is a few LMS calls of well under a
/// second each, so this is many times what a healthy LMS needs; it ends a run that crawls, while
/// a system that is down ends the run much sooner (the breaker).
pub fn time_for_changes(changes: usize, concurrency: usize) -> Duration {
    let rounds = changes.div_ceil(concurrency.max(1)) as u32;
    Duration::from_secs(120) + Duration::from_secs(10) * rounds
}

/// How a run ended.
// One per run, moved a few times: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum SyncOutcome {
    /// The run ran and its record is stored; `status` says how it went (a run that could not
    /// list Personio is `Failed` with its `error`).
    Completed(RunRecord),
    /// Another run of the integration holds the lease; this one did nothing.
    LeaseHeld {
        holder: String,
        expires_at: DateTime<Utc>,
    },
}

/// Why a run could not even be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("the state store failed while {action}: {source}")]
    Store {
        action: &'static str,
        #[source]
        source: StoreError,
    },
}

/// Observes a run's progress (the CLI draws a progress bar from it). Calls come from the run's
/// task, possibly from concurrent applies.
pub trait SyncProgress: Send + Sync {
    /// `read` pages of `total` (Personio's `total_pages`) have been read.
    fn pages_read(&self, _read: u32, _total: u32) {}
    /// `done` of `total` planned changes have been applied.
    fn applied(&self, _done: usize, _total: usize) {}
}

impl SyncProgress for crate::progress::NoProgress {}

pub struct SyncEngine {
    hr: Arc<dyn HrSource>,
    lms: Arc<dyn LearningPlatform>,
    /// Links, run records and the lease: all a sync keeps.
    store: Arc<dyn SyncStore>,
    notifier: Arc<dyn Notifier>,
    retry: Backoff,
}

impl SyncEngine {
    pub fn new(
        hr: Arc<dyn HrSource>,
        lms: Arc<dyn LearningPlatform>,
        store: Arc<dyn SyncStore>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        Self {
            hr,
            lms,
            store,
            notifier,
            // On top of the adapters' own retries, so few and short.
            retry: Backoff {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(5),
                max_attempts: 3,
            },
        }
    }

    /// The links, run records and lease the engine keeps.
    pub fn store(&self) -> &dyn SyncStore {
        self.store.as_ref()
    }

    /// The engine-level retry of LMS, store and email calls that failed retryably.
    pub fn with_retry(mut self, retry: Backoff) -> Self {
        self.retry = retry;
        self
    }

    /// Runs one sync of one integration.
    pub async fn run(
        &self,
        request: SyncRequest,
        progress: &dyn SyncProgress,
    ) -> Result<SyncOutcome, SyncError> {
        request.settings.validate()?;
        let run_id = RunId::generate();
        let span = info_span!(
            "sync_run",
            integration = %request.integration_id,
            run = %run_id,
            dry_run = request.dry_run,
            kind = ?request.run_kind(),
        );
        async {
            // A dry run writes nothing but its record, so it needs no lease and must not keep a
            // real run from starting.
            if !request.dry_run {
                let acquired = self
                    .store
                    .acquire_lease(
                        &request.integration_id,
                        &request.lease_holder,
                        Utc::now(),
                        request.lease_ttl,
                    )
                    .await
                    .map_err(|source| SyncError::Store {
                        action: "taking the lease",
                        source,
                    })?;
                if let LeaseOutcome::HeldBy(lease) = acquired {
                    info!(holder = %lease.holder, expires_at = %lease.expires_at, "another run holds the lease");
                    return Ok(SyncOutcome::LeaseHeld {
                        holder: lease.holder,
                        expires_at: lease.expires_at,
                    });
                }
            }
            let result = self.run_under_lease(&request, run_id.clone(), progress).await;
            if !request.dry_run
                && let Err(error) = self
                    .store
                    .release_lease(&request.integration_id, &request.lease_holder)
                    .await
            {
                // It expires by itself; the next run only waits longer.
                warn!(%error, "could not release the lease");
            }
            result.map(SyncOutcome::Completed)
        }
        .instrument(span)
        .await
    }

    async fn run_under_lease(
        &self,
        request: &SyncRequest,
        run_id: RunId,
        progress: &dyn SyncProgress,
    ) -> Result<RunRecord, SyncError> {
        // The adapters' counters only grow; the run keeps what it added to them.
        let requests_before = (self.hr.request_counts(), self.lms.request_counts());
        let started_at = Utc::now();
        let mut record = RunRecord {
            kind: request.run_kind(),
            targets: request.scope.named(),
            dry_run: request.dry_run,
            notices: request.notices.clone(),
            fields_sent: fields_sent(&request.settings),
            holder: Some(request.lease_holder.clone()),
            ends_by: wall_clock(started_at, request.deadline),
            ..RunRecord::started(
                request.integration_id.clone(),
                run_id,
                request.trigger,
                started_at,
            )
        };
        // Recorded at the start so that a run that dies midway is visible in the history.
        self.put_run(&record, request.deadline, "recording the run's start")
            .await?;

        let stop = Arc::new(RunStop::new(request.cancel.clone(), request.deadline));
        let work = self.sync(request, &mut record, &stop, progress);
        let keeper = self.keep_lease(request, &stop);
        tokio::select! {
            biased;
            () = work => {}
            never = keeper => match never {},
        }
        record.finished_at = Some(Utc::now());
        record.stats = RunStats {
            personio: self.hr.request_counts().since(&requests_before.0),
            lms: self.lms.request_counts().since(&requests_before.1),
        };

        let notifications = &request.settings.notifications;
        if !request.dry_run
            && let Some(admin) = &notifications.admin_email
            && summary_due(notifications.summary, &record)
        {
            let email = run_summary_email(admin, &record);
            if let Err(error) =
                with_retry(self.retry, request.deadline, "sending the summary", || {
                    self.notifier.send(&email)
                })
                .await
            {
                warn!(%error, "run summary not sent");
                record
                    .notices
                    .push(format!("the run summary to {admin} was not sent: {error}"));
            }
        }
        self.put_run(&record, request.deadline, "recording the run's result")
            .await?;
        info!(status = ?record.status, counts = ?record.counts, "sync run finished");
        Ok(record)
    }

    /// List, plan, apply; fills `record`. Nothing here fails the call: a run that cannot go on
    /// ends with a `Failed` record, one that is stopped from outside with an `Aborted` one.
    async fn sync(
        &self,
        request: &SyncRequest,
        record: &mut RunRecord,
        stop: &Arc<RunStop>,
        progress: &dyn SyncProgress,
    ) {
        let settings = &request.settings;
        let roster = match self.list_roster(request, stop, progress).await {
            Ok(roster) => roster,
            Err(ListingEnd::Failed(problem)) => {
                record.status = RunStatus::Failed;
                record.error = Some(problem);
                return;
            }
            Err(ListingEnd::Stopped(reason)) => {
                record.status = reason.status();
                record.error = Some(format!(
                    "{} while reading Personio; nothing was changed",
                    reason.describe()
                ));
                return;
            }
        };

        let links = match with_retry(self.retry, request.deadline, "reading the links", || {
            self.store.links(&request.integration_id)
        })
        .await
        {
            Ok(links) => links,
            Err(error) => {
                record.status = RunStatus::Failed;
                record.error = Some(format!(
                    "reading the employee links failed: {error}; nothing was changed"
                ));
                return;
            }
        };

        let targeted = request.run_kind() == RunKind::Targeted;
        // A targeted or delta roster holds a few employees: "nobody" is no warning sign there.
        let partial = targeted || request.run_kind() == RunKind::Delta;
        if let Some(problem) = roster.untrustworthy(&links, settings, partial) {
            error!(%problem, "the listing cannot be trusted; nothing was changed");
            record.status = RunStatus::Failed;
            record.error = Some(problem);
            return;
        }
        let kind = request.run_kind();
        let mut plan = SyncPlan::new(roster, links, settings, &request.scope, kind);
        if kind == RunKind::Reconcile
            && let Err(problem) = self
                .plan_repairs(request, &mut plan, &mut record.notices)
                .await
        {
            error!(%problem, "the reconcile cannot compare; nothing was changed");
            record.status = RunStatus::Failed;
            record.error = Some(problem);
            return;
        }
        info!(
            changes = plan.changes.len(),
            unchanged = plan.unchanged,
            "sync planned"
        );
        let total = plan.changes.len();
        if request.sized_to_work {
            let time = time_for_changes(total, settings.apply_concurrency);
            stop.limit_to(
                tokio::time::Instant::now() + time,
                format!(
                    "the run used the time sized to its work ({} for {total} changes)",
                    human_duration(time)
                ),
            );
        }
        let lms = BreakerLms::new(self.lms.clone(), stop.clone());
        let changes = std::mem::take(&mut plan.changes);
        let context =
            match ApplyContext::new(self, &lms, request, &plan, changes.len(), stop, progress) {
                Ok(context) => context,
                Err(problem) => {
                    record.status = RunStatus::Failed;
                    record.error = Some(problem);
                    return;
                }
            };
        let applied = match context.apply(changes).await {
            Ok(outcomes) => Applied::settle(outcomes, stop),
            Err(problem) => {
                error!(%problem, "the LMS cannot be used; nothing was changed");
                record.status = RunStatus::Failed;
                record.error = Some(problem);
                record.notices.extend(std::mem::take(&mut plan.notices));
                return;
            }
        };
        let notices = context.take_notices();
        drop(context);

        let mut outcomes = plan.settled;
        outcomes.extend(applied.outcomes.iter().cloned());
        record.counts = tally(&outcomes, plan.unchanged);
        record.counts.not_applied = applied.not_applied;
        // Unchanged employees are counted, not listed, unless something happened to them or
        // they were named (a targeted run answers for each employee it was asked about).
        if targeted {
            for outcome in &mut outcomes {
                if outcome.action == OutcomeAction::Unchanged && outcome.change_lines().is_empty() {
                    outcome.reason.get_or_insert_with(|| UP_TO_DATE.to_owned());
                }
            }
        }
        outcomes.retain(|outcome| {
            outcome.action != OutcomeAction::Unchanged
                || !outcome.groups_added.is_empty()
                || !outcome.groups_removed.is_empty()
                || outcome.invited
                || outcome.reason.is_some()
        });
        outcomes.sort_by_key(|outcome| outcome.personio_id);
        record.outcomes = outcomes;
        record.notices.extend(plan.notices);
        record.notices.extend(notices);
        record.status = match &applied.stopped {
            Some(reason) => {
                record.error = Some(reason.error_after(total, applied.not_applied));
                reason.status()
            }
            None if record.counts.failed > 0 || record.counts.held_back > 0 => {
                RunStatus::CompletedWithFailures
            }
            None => RunStatus::Succeeded,
        };
    }

    /// Reads what the run covers into the roster: every employee page, or each named employee.
    /// A read that fails is the run's error: a partial listing must never read as "everyone
    /// else is gone", so nothing is planned from it.
    async fn list_roster(
        &self,
        request: &SyncRequest,
        stop: &RunStop,
        progress: &dyn SyncProgress,
    ) -> Result<Roster, ListingEnd> {
        match &request.scope {
            SyncScope::Everyone => {
                self.list_everyone(request, &EmployeeQuery::default(), stop, progress)
                    .await
            }
            SyncScope::Employees(ids) => self.read_named(request, ids, stop, progress).await,
            SyncScope::ChangedSince(since) => {
                let query = EmployeeQuery {
                    updated_since: Some((*since).into()),
                    ..EmployeeQuery::default()
                };
                self.list_everyone(request, &query, stop, progress).await
            }
        }
    }

    /// Every employee page of `query` (everyone, or those changed since a time).
    async fn list_everyone(
        &self,
        request: &SyncRequest,
        query: &EmployeeQuery,
        stop: &RunStop,
        progress: &dyn SyncProgress,
    ) -> Result<Roster, ListingEnd> {
        let today = Utc::now().date_naive();
        let mut roster = Roster::default();
        let mut pages = self.hr.employee_pages(query, request.deadline);
        let mut pages_read = 0;
        loop {
            let next = tokio::select! {
                biased;
                reason = stop.stopping() => return Err(ListingEnd::Stopped(reason)),
                next = pages.try_next() => next,
            };
            match next {
                Ok(Some(page)) => {
                    pages_read += 1;
                    let total = page.total_pages.max(pages_read);
                    roster.add_page(page, &request.settings, today);
                    progress.pages_read(pages_read, total);
                }
                Ok(None) => break,
                Err(error) => {
                    error!(%error, "listing employees failed; nothing was changed");
                    return Err(ListingEnd::Failed(format!(
                        "listing employees from Personio failed after {pages_read} page(s): \
                         {error}; nothing was changed"
                    )));
                }
            }
        }
        info!(
            pages = pages_read,
            employees = roster.listed_count(),
            "employees listed"
        );
        Ok(roster)
    }

    /// A targeted run's roster: each named employee read by itself (a few at a time).
    async fn read_named(
        &self,
        request: &SyncRequest,
        ids: &BTreeSet<PersonioId>,
        stop: &RunStop,
        progress: &dyn SyncProgress,
    ) -> Result<Roster, ListingEnd> {
        let today = Utc::now().date_naive();
        let mut roster = Roster::default();
        let total = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let mut reads = futures::stream::iter(ids.iter().copied())
            .map(|id| async move {
                let read = with_retry(self.retry, request.deadline, "reading an employee", || {
                    self.hr.employee(id, request.deadline)
                })
                .await;
                (id, read)
            })
            .buffered(SINGLE_READS_IN_FLIGHT);
        let mut done = 0;
        loop {
            let next = tokio::select! {
                biased;
                reason = stop.stopping() => return Err(ListingEnd::Stopped(reason)),
                next = reads.next() => next,
            };
            let Some((id, read)) = next else {
                break;
            };
            match read {
                Ok(record) => roster.add_single(id, record, &request.settings, today),
                Err(error) => {
                    error!(%error, personio_id = %id, "reading an employee failed; nothing was changed");
                    return Err(ListingEnd::Failed(format!(
                        "reading employee {id} from Personio failed: {error}; nothing was changed"
                    )));
                }
            }
            done += 1;
            progress.pages_read(done, total);
        }
        Ok(roster)
    }

    /// Renews the lease every third of its lifetime; stops the run when another holder took it.
    /// Never returns: the run's work finishing ends it.
    async fn keep_lease(&self, request: &SyncRequest, stop: &RunStop) -> Infallible {
        if request.dry_run {
            return std::future::pending().await;
        }
        let every = (request.lease_ttl / 3)
            .to_std()
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(10));
        let mut lost = false;
        loop {
            tokio::time::sleep(every).await;
            if lost {
                continue;
            }
            match self
                .store
                .renew_lease(
                    &request.integration_id,
                    &request.lease_holder,
                    Utc::now(),
                    request.lease_ttl,
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    error!("the lease was lost; no further changes are applied");
                    lost = true;
                    stop.stop(StopReason::LeaseLost);
                }
                // The lease is still ours until it expires; the next tick tries again.
                Err(error) => warn!(%error, "could not renew the lease"),
            }
        }
    }

    async fn put_run(
        &self,
        record: &RunRecord,
        deadline: Deadline,
        action: &'static str,
    ) -> Result<(), SyncError> {
        with_retry(self.retry, deadline, action, || self.store.put_run(record))
            .await
            .map_err(|source| SyncError::Store { action, source })
    }
}

/// How the listing ended when it did not end with the last page.
enum ListingEnd {
    Failed(String),
    Stopped(StopReason),
}

/// The run's counts from its outcomes (unlisted unchanged employees added).
fn tally(outcomes: &[EmployeeOutcome], unchanged: u32) -> RunCounts {
    let mut counts = RunCounts {
        unchanged,
        ..RunCounts::default()
    };
    for outcome in outcomes {
        let counter = match outcome.action {
            OutcomeAction::Created => &mut counts.created,
            OutcomeAction::Adopted => &mut counts.adopted,
            OutcomeAction::Updated => &mut counts.updated,
            OutcomeAction::Deactivated => &mut counts.deactivated,
            OutcomeAction::Unchanged => &mut counts.unchanged,
            OutcomeAction::NotCreated => &mut counts.not_created,
            OutcomeAction::Skipped => &mut counts.skipped,
            OutcomeAction::HeldBack => &mut counts.held_back,
            OutcomeAction::Failed => &mut counts.failed,
            OutcomeAction::Repaired => &mut counts.repaired,
        };
        *counter += 1;
        counts.groups_added += outcome.groups_added.len() as u32;
        counts.groups_removed += outcome.groups_removed.len() as u32;
        counts.invitations += u32::from(outcome.invited);
    }
    counts
}
