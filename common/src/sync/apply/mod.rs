//! Applying a plan with the fewest LMS requests the LMS allows, in phases:
//!
//! 1. **Prepare**: what the LMS supports (bulk, listing) and where the mapped fields go; a field
//!    with nowhere to go becomes one notice for the run.
//! 2. **Existing users** for the creates: one paged listing when that is cheaper than two lookups
//!    per create (a first sync), else lookups per create.
//! 3. **User writes**: in bulk requests where the LMS offers bulk, else one request each with
//!    bounded concurrency; creates go supervisors first, so that a manager reference can name a
//!    user created in the same run (by id, or by `bulkId` within one bulk request).
//! 4. **Second pass**: the few references whose supervisor was created only after the
//!    employee (a cycle, a failed first attempt) are written once their supervisor exists.
//! 5. **Groups**: each group's new members in as few requests as the batch size allows.
//! 6. **Invitations and links**: each employee's link records what was written (profile hash,
//!    groups, manager reference). A crash before the link write is recovered by the next run,
//!    which finds the user by external id or email.
//!
//! Every change ends in an outcome; one employee's failure never fails another's. A problem of
//! the whole LMS (unreachable, token refused) before anything was written fails the run once.

mod existing;
mod finish;
mod groups;
mod writes;

use super::managers::supervisor_of;
use super::plan::{PlannedChange, SyncPlan, SyncTarget};
use super::{SyncEngine, SyncProgress, SyncRequest};
use crate::domain::link::{EmployeeLink, ManagerLink};
use crate::domain::lms::LmsUserId;
use crate::domain::run::{EmployeeOutcome, OutcomeAction};
use crate::domain::settings::AttributeMapping;
use crate::ports::{LearningPlatform, LmsError, LmsFeatures, NotifyError, StoreError};
use crate::retry::{Backoff, Deadline};
use futures::StreamExt;
use futures::future::BoxFuture;
use std::collections::BTreeSet;
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

/// Runs `operation` until it succeeds, fails for good, or the backoff or deadline says stop.
/// The adapters retry their own HTTP calls; this covers what outlasted those retries, such as
/// a burst of 503s, within the run's remaining time.
pub(crate) async fn with_retry<T, E, F, Fut>(
    backoff: Backoff,
    deadline: Deadline,
    what: &str,
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
    /// Profile unchanged: only groups (and the manager reference, `Manager`).
    Groups,
    Manager,
    Deactivate,
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
    groups_added: BTreeSet<String>,
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
    fn from_change(change: PlannedChange) -> Self {
        let (step, target, link, mut outcome) = match change {
            PlannedChange::Create { target } => {
                let outcome = outcome_for(&target, OutcomeAction::Created);
                (Step::Create, Some(target), None, outcome)
            }
            PlannedChange::Update { target, link } => {
                let mut outcome = outcome_for(&target, OutcomeAction::Updated);
                outcome.reason = Some(if !link.active {
                    "reactivated: selected in Personio again".to_owned()
                } else if !link.email.eq_ignore_ascii_case(&target.profile.email) {
                    format!("profile changed, including the email (was {})", link.email)
                } else {
                    "profile changed in Personio".to_owned()
                });
                (Step::Update, Some(target), Some(link), outcome)
            }
            PlannedChange::AddGroups { target, link } => {
                let outcome = outcome_for(&target, OutcomeAction::Unchanged);
                (Step::Groups, Some(target), Some(link), outcome)
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
            } => return Self::repair(target, link, repair),
            PlannedChange::Deactivate { link, reason } => {
                let outcome = EmployeeOutcome {
                    personio_id: Some(link.personio_id),
                    email: Some(link.email.clone()),
                    name: None,
                    action: OutcomeAction::Deactivated,
                    groups_added: Vec::new(),
                    invited: false,
                    reason: Some(reason.describe().to_owned()),
                };
                (Step::Deactivate, None, Some(link), outcome)
            }
        };
        let user = link.as_ref().map(|link| link.lms_user_id.clone());
        let manager = link
            .as_ref()
            .map(|link| link.manager.clone())
            .unwrap_or_default();
        if step == Step::Groups {
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
            groups_added: BTreeSet::new(),
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
        repair: super::plan::Repair,
    ) -> Self {
        use super::plan::Repair;
        let change = match (&repair, target) {
            (Repair::Reactivated, _) | (_, None) => PlannedChange::Deactivate {
                link: link.clone(),
                reason: super::plan::DeactivationReason::Deselected,
            },
            (Repair::Groups(missing), Some(target)) => PlannedChange::AddGroups {
                target,
                link: EmployeeLink {
                    groups: link.groups.difference(missing).cloned().collect(),
                    ..link.clone()
                },
            },
            (Repair::Edited(_) | Repair::Deleted, Some(target)) => PlannedChange::Update {
                target,
                link: link.clone(),
            },
        };
        let mut work = Self::from_change(change);
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
            (None, _) | (_, Step::Deactivate) => BTreeSet::new(),
            (Some(target), _) => match &self.link {
                Some(link) if self.replaced.is_none() => {
                    target.groups.difference(&link.groups).cloned().collect()
                }
                _ => target.groups.clone(),
            },
        }
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
    request: &'a SyncRequest,
    plan: &'a SyncPlan,
    mapping: AttributeMapping,
    lease_lost: &'a AtomicBool,
    progress: &'a dyn SyncProgress,
    notices: Mutex<Vec<String>>,
    done: AtomicUsize,
    total: usize,
    run_users: writes::RunUsers,
    email_changes_by_hand: AtomicBool,
}

impl<'a> ApplyContext<'a> {
    pub fn new(
        engine: &'a SyncEngine,
        request: &'a SyncRequest,
        plan: &'a SyncPlan,
        total: usize,
        lease_lost: &'a AtomicBool,
        progress: &'a dyn SyncProgress,
    ) -> Result<Self, String> {
        let mapping = request
            .settings
            .attribute_mapping()
            .map_err(|error| error.to_string())?;
        Ok(Self {
            engine,
            request,
            plan,
            mapping,
            lease_lost,
            progress,
            notices: Mutex::default(),
            done: AtomicUsize::new(0),
            total,
            run_users: writes::RunUsers::default(),
            email_changes_by_hand: AtomicBool::new(false),
        })
    }

    fn lms(&self) -> &dyn LearningPlatform {
        self.engine.lms.as_ref()
    }

    fn dry_run(&self) -> bool {
        self.request.dry_run
    }

    /// The notices of every change, sorted: changes finish in any order, records should not.
    pub fn take_notices(&self) -> Vec<String> {
        let mut notices =
            std::mem::take(&mut *self.notices.lock().unwrap_or_else(|p| p.into_inner()));
        notices.sort();
        notices.dedup();
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
        with_retry(self.engine.retry, self.request.deadline, what, operation).await
    }

    /// Why no further LMS write may start, if one may not.
    fn stopped(&self) -> Option<&'static str> {
        if self.lease_lost.load(Ordering::SeqCst) {
            Some("not applied: the run lost its lease")
        } else if self.request.deadline.is_past() {
            Some("not applied: the run ran out of time")
        } else {
            None
        }
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
        let mut works: Vec<Work> = changes.into_iter().map(Work::from_change).collect();
        self.find_existing_users(&mut works, &features).await;
        self.write_users(&mut works, &features).await;
        self.second_pass(&mut works, &features).await;
        self.join_groups(&mut works).await;
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
                with_group_failures(outcome, work.group_failures)
            })
            .collect())
    }

    /// What the LMS supports, and a notice per mapped field with nowhere to go.
    async fn prepare(&self) -> Result<LmsFeatures, String> {
        let features = self
            .retry("asking the LMS what it supports", || self.lms().features())
            .await
            .map_err(|error| {
                format!("the learning platform could not be reached: {error}; nothing was changed")
            })?;
        self.email_changes_by_hand
            .store(features.email_changes_by_hand, Ordering::Relaxed);
        match self
            .retry("reading the attribute mapping", || {
                self.lms().describe_mapping(&self.mapping)
            })
            .await
        {
            Ok(report) => {
                for field in report.dropped() {
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

fn outcome_for(target: &SyncTarget, action: OutcomeAction) -> EmployeeOutcome {
    EmployeeOutcome {
        personio_id: Some(target.personio_id),
        email: Some(target.profile.email.clone()),
        name: target.name.clone(),
        action,
        groups_added: Vec::new(),
        invited: false,
        reason: None,
    }
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
