//! Applying a plan with the fewest LMS requests the LMS allows, in phases:
//!
//! 1. **Prepare**: what the LMS supports (bulk, listing) and where the mapped fields go; a field
//!    with nowhere to go becomes one notice for the run. Employees missing from Personio's
//!    listing are confirmed gone by a read of each (`gone`) before anything is written.
//! 2. **Existing users** for the creates: one paged listing when that is cheaper than two lookups
//!    per create (a first sync), else lookups per create.
//! 3. **User writes**: in bulk requests where the LMS offers bulk, else one request each with
//!    bounded concurrency; creates go supervisors first, so that a manager reference can name a
//!    user created in the same run (by id, or by `bulkId` within one bulk request).
//! 4. **Second pass**: the few references whose supervisor was created only after the
//!    employee (a cycle, a failed first attempt) are written once their supervisor exists.
//! 5. **Groups**: each group's new members in as few requests as the batch size allows; with
//!    `groups.remove_when_moved`, each group's movers (memberships the sync added that the
//!    employee no longer needs) taken out the same way.
//! 6. **Links and invitations**: each employee's link records what was written (the profile and
//!    its hash, groups, manager reference, an invitation owed or sent). A new account's link is
//!    written before its invitation, so a run that stops in between leaves the invitation owed
//!    on the link for the next run. A crash before the link write is recovered by the next run,
//!    which finds the user by external id or email.
//!
//! Every change ends in an outcome; one employee's failure never fails another's. A problem of
//! the whole LMS (unreachable, token refused) before anything was written fails the run once.

mod existing;
mod finish;
mod gone;
mod groups;
mod writes;

use super::applied::NOT_APPLIED;
use super::managers::supervisor_of;
use super::plan::{DeactivationReason, PlannedChange, Repair, SyncPlan};
use super::roster::SyncTarget;
use super::stop::RunStop;
use super::{SyncEngine, SyncProgress, SyncRequest};
use crate::domain::link::{EmployeeLink, ManagerLink};
use crate::domain::lms::{LmsGroupId, LmsUserId};
use crate::domain::run::{EmployeeOutcome, OutcomeAction};
use crate::domain::settings::AttributeMapping;
use crate::ports::{HrError, LearningPlatform, LmsError, LmsFeatures, NotifyError, StoreError};
use crate::retry::{Backoff, Deadline};
use futures::StreamExt;
use futures::future::BoxFuture;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tracing::warn;

/// Errors that know whether another attempt can help.
pub(crate) trait Retryable: std::fmt::Display {
    fn retryable(&self) -> bool;
}

impl Retryable for LmsError {
    fn retryable(&self) -> bool {
        self.is_retryable()
    }
}
impl Retryable for StoreError {
    fn retryable(&self) -> bool {
        self.is_retryable()
    }
}
impl Retryable for NotifyError {
    fn retryable(&self) -> bool {
        self.is_retryable()
    }
}
impl Retryable for HrError {
    fn retryable(&self) -> bool {
        self.is_retryable()
    }
}

/// Runs `operation` until it succeeds, fails for good, or the backoff or deadline says stop.
/// The adapters retry their own HTTP calls; this covers what outlasted those retries, such as
/// a burst of 503s, within the run's remaining time.
pub(crate) async fn with_retry<T, E, F, Fut>(
    backoff: Backoff,
    deadline: Deadline,
    what: &str,
    operation: F,
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    with_retry_until(backoff, deadline, what, || false, operation).await
}

/// [`with_retry`] that also stops retrying once `stopping` says the run stops.
pub(crate) async fn with_retry_until<T, E, F, Fut>(
    backoff: Backoff,
    deadline: Deadline,
    what: &str,
    stopping: impl Fn() -> bool,
    mut operation: F,
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(error) if stopping() => return Err(error),
            Err(error) if error.retryable() => match backoff.next_delay(attempt, None, deadline) {
                Some(wait) => {
                    warn!(%error, attempt, "{what} failed, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(error),
            },
            Err(error) => return Err(error),
        }
    }
}

/// Runs `jobs`, at most `limit` at once; results in completion order (`ordered`: in job order).
/// The futures are boxed so that the run's future stays provably `Send` (closures returning
/// borrowing async blocks inside stream combinators defeat the compiler's proof).
async fn bounded<'f, T: Send + 'f>(
    jobs: Vec<BoxFuture<'f, T>>,
    limit: usize,
    ordered: bool,
) -> Vec<T> {
    let mut results = Vec::with_capacity(jobs.len());
    if ordered {
        let mut stream = futures::stream::iter(jobs).buffered(limit.max(1));
        while let Some(result) = stream.next().await {
            results.push(result);
        }
    } else {
        let mut stream = futures::stream::iter(jobs).buffer_unordered(limit.max(1));
        while let Some(result) = stream.next().await {
            results.push(result);
        }
    }
    results
}

/// What one employee's change needs from the LMS, and what came of it so far.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// No link: find an existing user (adopt) or create one.
    Create,
    /// An existing user found for a create: linked and brought up to date.
    Adopt(LmsUserId),
    Update,
    /// Profile unchanged: only memberships and an owed invitation (and the manager reference,
    /// `Manager`).
    CatchUp,
    Manager,
    Deactivate,
    /// A departure a read of the employee did not confirm: nothing to write, the account kept.
    Kept,
}

/// How an existing LMS user was found for an employee without a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FoundBy {
    /// By the Personio id the sync writes as `externalId`: an account the sync set up.
    PersonioId,
    /// By the email only: an account made some other way.
    Email,
}

/// One employee's way through the phases.
#[derive(Debug)]
struct Work {
    step: Step,
    target: Option<Box<SyncTarget>>,
    link: Option<EmployeeLink>,
    outcome: EmployeeOutcome,
    /// The LMS user once known (the link's, a found one, a created one).
    user: Option<LmsUserId>,
    /// The manager reference written, for the link.
    manager: ManagerLink,
    /// The supervisor whose account this run creates but did not exist yet at the write.
    awaiting_supervisor: bool,
    /// The link being replaced (a user deleted in the LMS and set up again).
    replaced: Option<EmployeeLink>,
    /// How the user of an adoption was found.
    found_by: Option<FoundBy>,
    /// A deactivation of an employee missing from the listing, still to be confirmed by a read.
    unconfirmed_departure: bool,
    groups_added: BTreeSet<String>,
    /// Memberships the sync had added and took away (a mover).
    groups_removed: BTreeSet<String>,
    /// Groups the sync had added the user to that no longer exist in the LMS.
    groups_gone: BTreeSet<String>,
    group_failures: Vec<String>,
    /// Whether the user was written (a link must record it).
    written: bool,
    /// The LMS took every field but the email (it keys users by email): the link keeps the
    /// old email and hash, so the next run reports the change again.
    keep_old_email: bool,
    /// What a reconcile run restores (the outcome says it, whatever the steps were).
    repair: Option<String>,
}

impl Work {
    /// The work of one planned change; `dry_run` words its reasons in the future tense.
    fn from_change(change: PlannedChange, dry_run: bool) -> Self {
        let mut unconfirmed_departure = false;
        let (step, target, link, mut outcome) = match change {
            PlannedChange::Create { target } => {
                let mut outcome = outcome_for(&target, OutcomeAction::Created);
                if let Some(locked) = &target.locked {
                    outcome.reason = Some(tense(
                        dry_run,
                        &format!("created locked: {locked}"),
                        &format!("would be created locked: {locked}"),
                    ));
                }
                (Step::Create, Some(target), None, outcome)
            }
            PlannedChange::Update {
                target,
                link,
                changes,
            } => {
                let mut outcome = outcome_for(&target, OutcomeAction::Updated);
                outcome.reason = if !link.active {
                    Some(tense(
                        dry_run,
                        "reactivated: selected in Personio again",
                        "would be reactivated: selected in Personio again",
                    ))
                } else if changes.is_empty() {
                    // A link written before profiles were kept, or a change no field shows.
                    Some("profile changed in Personio".to_owned())
                } else {
                    None
                };
                outcome.changes = changes;
                (Step::Update, Some(target), Some(link), outcome)
            }
            PlannedChange::CatchUp { target, link } => {
                let outcome = outcome_for(&target, OutcomeAction::Unchanged);
                (Step::CatchUp, Some(target), Some(link), outcome)
            }
            PlannedChange::Manager {
                target,
                link,
                reason,
            } => {
                let mut outcome = outcome_for(&target, OutcomeAction::Updated);
                outcome.reason = Some(reason);
                (Step::Manager, Some(target), Some(link), outcome)
            }
            PlannedChange::Repair {
                target,
                link,
                repair,
            } => return Self::repair(target, link, repair, dry_run),
            PlannedChange::Deactivate { link, reason, name } => {
                let mut outcome =
                    EmployeeOutcome::new(Some(link.personio_id), OutcomeAction::Deactivated);
                outcome.email = Some(link.email.clone());
                outcome.name = name;
                outcome.reason = Some(reason.describe().to_owned());
                unconfirmed_departure = reason == DeactivationReason::Gone;
                (Step::Deactivate, None, Some(link), outcome)
            }
        };
        let user = link.as_ref().map(|link| link.lms_user_id.clone());
        let manager = link
            .as_ref()
            .map(|link| link.manager.clone())
            .unwrap_or_default();
        if step == Step::CatchUp {
            outcome.reason = None;
        }
        Self {
            step,
            target,
            link,
            outcome,
            user,
            manager,
            awaiting_supervisor: false,
            replaced: None,
            found_by: None,
            unconfirmed_departure,
            groups_added: BTreeSet::new(),
            groups_removed: BTreeSet::new(),
            groups_gone: BTreeSet::new(),
            group_failures: Vec::new(),
            written: false,
            keep_old_email: false,
            repair: None,
        }
    }

    /// A reconcile run's repair: the step that restores what was changed in the LMS.
    fn repair(
        target: Option<Box<SyncTarget>>,
        link: EmployeeLink,
        repair: Repair,
        dry_run: bool,
    ) -> Self {
        let change = match (&repair, target) {
            (Repair::Reactivated, _) | (_, None) => PlannedChange::Deactivate {
                link: link.clone(),
                reason: DeactivationReason::Deselected,
                name: link.name().map(str::to_owned),
            },
            (Repair::Groups(missing), Some(target)) => PlannedChange::CatchUp {
                target,
                link: EmployeeLink {
                    groups: link.groups.difference(missing).cloned().collect(),
                    ..link.clone()
                },
            },
            (Repair::Edited(_) | Repair::Deleted, Some(target)) => PlannedChange::Update {
                target,
                link: link.clone(),
                changes: Vec::new(),
            },
        };
        let mut work = Self::from_change(change, dry_run);
        if repair == Repair::Deleted {
            work.replaced = Some(link);
            work.step = Step::Create;
            work.user = None;
        }
        work.outcome.action = OutcomeAction::Repaired;
        work.outcome.reason = Some(repair.describe());
        work.repair = Some(repair.describe());
        work
    }

    fn failed(&self) -> bool {
        self.outcome.action == OutcomeAction::Failed
    }

    fn fail(&mut self, reason: String) {
        warn!(personio_id = ?self.outcome.personio_id, reason = %reason, "employee not synced");
        self.outcome.action = OutcomeAction::Failed;
        self.outcome.reason = Some(reason);
    }

    /// The groups this employee is still to join.
    fn groups_to_add(&self) -> BTreeSet<String> {
        match (&self.target, &self.step) {
            (None, _) | (_, Step::Deactivate | Step::Kept) => BTreeSet::new(),
            (Some(target), _) => match &self.link {
                Some(link) if self.replaced.is_none() => {
                    target.groups.difference(&link.groups).cloned().collect()
                }
                _ => target.groups.clone(),
            },
        }
    }

    /// The memberships the sync added that this employee no longer needs (a mover); empty
    /// unless `groups.remove_when_moved` is on (the caller asks only then).
    fn groups_to_leave(&self) -> BTreeSet<String> {
        match (&self.target, &self.step, &self.link) {
            (Some(target), Step::Update | Step::CatchUp | Step::Manager, Some(link))
                if self.replaced.is_none() =>
            {
                link.groups.difference(&target.groups).cloned().collect()
            }
            _ => BTreeSet::new(),
        }
    }

    /// Whether the user was written, or in a dry run would be.
    fn wrote_or_would(&self, dry_run: bool) -> bool {
        self.written
            || (dry_run && !self.failed() && !matches!(self.step, Step::CatchUp | Step::Kept))
    }

    fn supervisor(&self) -> Option<crate::domain::employee::PersonioId> {
        self.target
            .as_ref()
            .and_then(|target| supervisor_of(&target.profile))
    }
}

/// Everything one run's changes share.
pub(crate) struct ApplyContext<'a> {
    engine: &'a SyncEngine,
    /// The run's LMS (behind its breaker).
    lms: &'a dyn LearningPlatform,
    request: &'a SyncRequest,
    plan: &'a SyncPlan,
    mapping: AttributeMapping,
    stop: &'a RunStop,
    progress: &'a dyn SyncProgress,
    notices: Mutex<Vec<String>>,
    done: AtomicUsize,
    total: usize,
    run_users: writes::RunUsers,
    email_changes_by_hand: AtomicBool,
    /// The groups looked up in this run by name (`None`: no such group).
    known_groups: Mutex<HashMap<String, Option<LmsGroupId>>>,
    /// Groups the LMS does not have, reported in one notice at the end of the run.
    missing_groups: Mutex<BTreeSet<String>>,
}

impl<'a> ApplyContext<'a> {
    pub fn new(
        engine: &'a SyncEngine,
        lms: &'a dyn LearningPlatform,
        request: &'a SyncRequest,
        plan: &'a SyncPlan,
        total: usize,
        stop: &'a RunStop,
        progress: &'a dyn SyncProgress,
    ) -> Result<Self, String> {
        let mapping = request
            .settings
            .attribute_mapping()
            .map_err(|error| error.to_string())?;
        Ok(Self {
            engine,
            lms,
            request,
            plan,
            mapping,
            stop,
            progress,
            notices: Mutex::default(),
            done: AtomicUsize::new(0),
            total,
            run_users: writes::RunUsers::default(),
            email_changes_by_hand: AtomicBool::new(false),
            known_groups: Mutex::default(),
            missing_groups: Mutex::default(),
        })
    }

    fn lms(&self) -> &dyn LearningPlatform {
        self.lms
    }

    fn dry_run(&self) -> bool {
        self.request.dry_run
    }

    /// Words for what happened, or (in a dry run) what would happen.
    fn tense(&self, done: &str, planned: &str) -> String {
        tense(self.dry_run(), done, planned)
    }

    /// The notices of every change, sorted: changes finish in any order, records should not.
    /// All missing groups make one notice (a run with 40 unknown departments is one problem,
    /// not 40).
    pub fn take_notices(&self) -> Vec<String> {
        let mut notices =
            std::mem::take(&mut *self.notices.lock().unwrap_or_else(|p| p.into_inner()));
        notices.sort();
        notices.dedup();
        let missing = std::mem::take(
            &mut *self
                .missing_groups
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if let Some(notice) = missing_groups_notice(&missing) {
            notices.insert(0, notice);
        }
        notices
    }

    fn notice(&self, notice: String) {
        self.notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(notice);
    }

    async fn retry<T, E, F, Fut>(&self, what: &str, operation: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        with_retry_until(
            self.engine.retry,
            self.request.deadline,
            what,
            || self.stop.is_stopping(),
            operation,
        )
        .await
    }

    /// Why no further LMS write may start, if one may not (the run is stopping: asked to, out of
    /// time, its lease lost, or the LMS down).
    fn stopped(&self) -> Option<String> {
        self.stop
            .reason()
            .map(|reason| format!("{NOT_APPLIED}: {}", reason.describe()))
    }

    fn email_changes_by_hand(&self) -> bool {
        self.email_changes_by_hand.load(Ordering::Relaxed)
    }

    fn applied_one(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.progress.applied(done.min(self.total), self.total);
    }

    /// Applies every planned change. `Err` is a problem of the whole LMS met before anything
    /// was written: the run fails with it once, instead of once per employee.
    pub async fn apply(&self, changes: Vec<PlannedChange>) -> Result<Vec<EmployeeOutcome>, String> {
        self.progress.applied(0, self.total);
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let features = self.prepare().await?;
        let mut works: Vec<Work> = changes
            .into_iter()
            .map(|change| Work::from_change(change, self.dry_run()))
            .collect();
        self.confirm_departures(&mut works).await;
        self.find_existing_users(&mut works, &features).await;
        self.write_users(&mut works, &features).await;
        self.second_pass(&mut works, &features).await;
        self.join_groups(&mut works).await;
        if self.request.settings.groups.remove_when_moved {
            self.leave_groups(&mut works).await;
        }
        self.finish(&mut works).await;
        Ok(works
            .into_iter()
            .map(|work| {
                let mut outcome = work.outcome;
                if let Some(repair) = work.repair
                    && outcome.action != OutcomeAction::Failed
                {
                    outcome.action = OutcomeAction::Repaired;
                    outcome.reason = Some(repair);
                }
                outcome.groups_added = work.groups_added.into_iter().collect();
                outcome.groups_removed = work.groups_removed.into_iter().collect();
                with_group_failures(outcome, work.group_failures)
            })
            .collect())
    }

    /// What the LMS supports, and a notice per mapped field with nowhere to go.
    async fn prepare(&self) -> Result<LmsFeatures, String> {
        let features = self
            .retry("asking the LMS what it supports", || self.lms().features())
            .await
            // Every LMS error names the learning platform and says what went wrong (refused
            // token, unavailable, …): said once, not wrapped in a guess.
            .map_err(|error| format!("{error}; nothing was changed"))?;
        self.email_changes_by_hand
            .store(features.email_changes_by_hand, Ordering::Relaxed);
        match self
            .retry("reading the attribute mapping", || {
                self.lms().describe_mapping(&self.mapping)
            })
            .await
        {
            Ok(report) => {
                for field in report
                    .dropped()
                    .filter(|field| self.request.settings.sends_mapped_field(&field.field))
                {
                    self.notice(format!(
                        "{}: {}",
                        field.field,
                        field.note.as_deref().unwrap_or("not sent to this LMS")
                    ));
                }
                for warning in report.warnings {
                    self.notice(warning);
                }
            }
            Err(error) => warn!(%error, "the attribute mapping could not be described"),
        }
        Ok(features)
    }
}

/// Words for what happened, or (in a dry run) what would happen.
fn tense(dry_run: bool, done: &str, planned: &str) -> String {
    if dry_run {
        planned.to_owned()
    } else {
        done.to_owned()
    }
}

/// `the LMS has no groups named "Legal", "Sales" (2); nobody was added to them (…)`.
fn missing_groups_notice(missing: &BTreeSet<String>) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let names: Vec<String> = missing.iter().map(|name| format!("{name:?}")).collect();
    Some(format!(
        "the LMS has no groups named {} ({}); nobody was added to them (the sync never creates groups)",
        names.join(", "),
        missing.len()
    ))
}

fn outcome_for(target: &SyncTarget, action: OutcomeAction) -> EmployeeOutcome {
    let mut outcome = EmployeeOutcome::new(Some(target.personio_id), action);
    outcome.email = Some(target.profile.email.clone());
    outcome.name = target.name.clone();
    outcome
}

/// A failed membership fails the outcome (it needs a look) but keeps what was done in the
/// reason; the link already records the memberships that worked, so the next run retries only
/// the rest.
fn with_group_failures(mut outcome: EmployeeOutcome, failures: Vec<String>) -> EmployeeOutcome {
    if failures.is_empty() || outcome.action == OutcomeAction::Failed {
        return outcome;
    }
    let done = match outcome.action {
        OutcomeAction::Created => "created",
        OutcomeAction::Adopted => "adopted",
        OutcomeAction::Updated => "updated",
        OutcomeAction::Repaired => "repaired",
        _ => "unchanged",
    };
    let reason = format!("{done}, but {}", failures.join("; "));
    warn!(reason = %reason, "employee not fully synced");
    outcome.action = OutcomeAction::Failed;
    outcome.reason = Some(reason);
    outcome
}
