//! Applying a plan: one planned change becomes LMS writes, then a link write, then maybe an
//! invitation. Every change ends in an outcome; no change can fail the run.

use super::email::invitation_email;
use super::plan::{PlannedChange, invitation_owed};
use super::roster::SyncTarget;
use super::stop::RunStop;
use super::{SyncEngine, SyncRequest};
use crate::domain::employee::PersonioId;
use crate::domain::link::EmployeeLink;
use crate::domain::lms::{DEFAULT_ROLE, LmsGroupId, LmsUser, LmsUserId};
use crate::domain::run::{EmployeeOutcome, FieldChange, OutcomeAction};
use crate::ports::{HrError, LearningPlatform, LmsError, NotifyError, StoreError};
use crate::retry::{Backoff, Deadline};
use chrono::Utc;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use tracing::{Instrument, info_span, warn};

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

/// How an existing LMS user was found for an employee without a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FoundBy {
    /// By the Personio id the sync writes as `externalId`: an account the sync set up.
    PersonioId,
    /// By the email only: an account made some other way.
    Email,
}

/// Everything one run's changes share.
pub(crate) struct ApplyContext<'a> {
    pub(super) engine: &'a SyncEngine,
    /// The run's LMS (behind its breaker).
    lms: &'a dyn LearningPlatform,
    pub(super) request: &'a SyncRequest,
    linked_users: &'a HashMap<LmsUserId, PersonioId>,
    stop: &'a RunStop,
    /// One lookup per group name per run, shared by concurrent changes.
    groups: Mutex<HashMap<String, Arc<OnceCell<Option<LmsGroupId>>>>>,
    notices: Mutex<Vec<String>>,
    /// Groups the LMS does not have, reported in one notice at the end of the run.
    missing_groups: Mutex<BTreeSet<String>>,
}

/// Groups added and group failures of one user.
#[derive(Default)]
struct GroupResult {
    added: BTreeSet<String>,
    failures: Vec<String>,
}

/// Groups left and group failures of one user.
#[derive(Default)]
struct LeftGroups {
    removed: BTreeSet<String>,
    /// Groups that no longer exist in the LMS: no membership left to remove.
    gone: BTreeSet<String>,
    failures: Vec<String>,
}

impl<'a> ApplyContext<'a> {
    pub fn new(
        engine: &'a SyncEngine,
        lms: &'a dyn LearningPlatform,
        request: &'a SyncRequest,
        linked_users: &'a HashMap<LmsUserId, PersonioId>,
        stop: &'a RunStop,
    ) -> Self {
        Self {
            engine,
            lms,
            request,
            linked_users,
            stop,
            groups: Mutex::default(),
            notices: Mutex::default(),
            missing_groups: Mutex::default(),
        }
    }

    fn lms(&self) -> &dyn LearningPlatform {
        self.lms
    }

    pub(super) fn dry_run(&self) -> bool {
        self.request.dry_run
    }

    /// The notices of every change, sorted: changes finish in any order, records should not.
    /// All missing groups make one notice (a run with 40 unknown departments is one problem,
    /// not 40).
    pub fn take_notices(&self) -> Vec<String> {
        let mut notices =
            std::mem::take(&mut *self.notices.lock().unwrap_or_else(|p| p.into_inner()));
        notices.sort();
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

    pub(super) async fn retry<T, E, F, Fut>(&self, what: &str, operation: F) -> Result<T, E>
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

    /// Words for what happened, or (in a dry run) what would happen.
    pub(super) fn tense(&self, done: &str, planned: &str) -> String {
        if self.dry_run() {
            planned.to_owned()
        } else {
            done.to_owned()
        }
    }

    /// Applies one change; the outcome says what happened and, when something went wrong, why.
    /// `None`: not started, because the run is stopping (the next run plans it again).
    pub async fn apply(&self, change: PlannedChange) -> Option<EmployeeOutcome> {
        if self.stop.is_stopping() {
            return None;
        }
        let span = info_span!("apply", personio_id = %change.personio_id());
        let outcome = async {
            match change {
                PlannedChange::Create { target } => self.create_or_adopt(&target, None).await,
                PlannedChange::Update {
                    target,
                    link,
                    changes,
                } => self.update(&target, link, changes).await,
                PlannedChange::CatchUp { target, link } => self.catch_up(&target, link).await,
                PlannedChange::Deactivate { link, reason, name } => {
                    self.deactivate_confirmed(link, reason, name).await
                }
            }
        }
        .instrument(span)
        .await;
        Some(outcome)
    }

    /// `previous` is the link of a user that was deleted in the LMS and is being replaced.
    async fn create_or_adopt(
        &self,
        target: &SyncTarget,
        previous: Option<EmployeeLink>,
    ) -> EmployeeOutcome {
        let mut outcome = outcome_for(target, OutcomeAction::Failed);
        let existing = match self.find_existing(target).await {
            Ok(existing) => existing,
            Err(reason) => return outcome.fail(reason),
        };
        if let Some((user, _)) = &existing
            && let Some(other) = self.linked_users.get(&user.id)
            && *other != target.personio_id
        {
            return outcome.fail(format!(
                "the LMS user {} with this email is already linked to Personio employee {other}",
                user.id
            ));
        }
        // Invitations go to accounts the sync sets up: one it creates, or one it created in a
        // run that ended before storing the link (found by the Personio id it wrote, with no
        // link, so never invited). An account made by hand and adopted by email is not invited.
        let mut owes_invitation = self.request.settings.notifications.invite_new_users;
        let user_id = match existing {
            Some((user, found_by)) => {
                if !self.dry_run()
                    && let Err(error) = self
                        .retry("adopting a user", || {
                            self.lms().update_user(&user.id, &target.profile)
                        })
                        .await
                {
                    return outcome.fail(format!("adopting LMS user {} failed: {error}", user.id));
                }
                owes_invitation &= found_by == FoundBy::PersonioId && previous.is_none();
                outcome.action = OutcomeAction::Adopted;
                outcome.reason = Some(match found_by {
                    FoundBy::PersonioId => self.tense(
                        &format!(
                            "an LMS user with this Personio id existed ({}), set up by an \
                             earlier run that did not finish; it was linked and updated",
                            user.id
                        ),
                        &format!(
                            "an LMS user with this Personio id exists ({}); it would be linked \
                             and updated",
                            user.id
                        ),
                    ),
                    FoundBy::Email => self.tense(
                        &format!(
                            "an LMS user with this email existed ({}); it was linked and updated",
                            user.id
                        ),
                        &format!(
                            "an LMS user with this email exists ({}); it would be linked and \
                             updated",
                            user.id
                        ),
                    ),
                });
                Some(user.id)
            }
            None if self.dry_run() => {
                outcome.action = OutcomeAction::Created;
                None
            }
            None => match self
                .retry("creating a user", || {
                    self.lms().create_user(&target.profile, DEFAULT_ROLE)
                })
                .await
            {
                Ok(user) => {
                    outcome.action = OutcomeAction::Created;
                    Some(user.id)
                }
                Err(error) => {
                    return outcome.fail(format!("creating the LMS user failed: {error}"));
                }
            },
        };
        if target.locked.is_some() {
            outcome.reason.get_or_insert_with(|| {
                let locked = target.locked.as_deref().unwrap_or_default();
                self.tense(
                    &format!("created locked: {locked}"),
                    &format!("would be created locked: {locked}"),
                )
            });
        }
        let groups = self
            .join_groups(user_id.as_ref(), target.groups.iter())
            .await;
        outcome.groups_added = groups.added.iter().cloned().collect();
        let invite_now = owes_invitation && target.profile.active;
        let Some(user_id) = user_id else {
            // A dry run's create: nothing to link, and the invitation it would send.
            outcome.invited = invite_now;
            return outcome.with_group_failures(groups.failures);
        };
        let version = previous.as_ref().map(|link| link.version);
        let mut link = EmployeeLink {
            integration_id: self.request.integration_id.clone(),
            personio_id: target.personio_id,
            lms_user_id: user_id,
            email: target.profile.email.clone(),
            profile_hash: target.hash.clone(),
            groups: groups.added.clone(),
            active: true,
            updated_at: Utc::now(),
            version: version.map_or(1, |v| v + 1),
            profile: Some(target.profile.clone()),
            invited_at: None,
            invitation_pending: owes_invitation,
        };
        if let Err(reason) = self.write_link(&link, version).await {
            return outcome.fail(reason);
        }
        // The link first, then the email: a run that stops in between leaves the invitation
        // pending on the link, and the next run sends it.
        if invite_now {
            outcome.invited = self.invite(target).await;
            if outcome.invited && !self.dry_run() {
                let written = link.version;
                link.invited_at = Some(Utc::now());
                link.invitation_pending = false;
                link.updated_at = Utc::now();
                link.version += 1;
                if let Err(reason) = self.write_link(&link, Some(written)).await {
                    return outcome.fail(reason);
                }
            }
        }
        outcome.with_group_failures(groups.failures)
    }

    async fn find_existing(
        &self,
        target: &SyncTarget,
    ) -> Result<Option<(LmsUser, FoundBy)>, String> {
        let by_id = self
            .retry("looking up a user by Personio id", || {
                self.lms()
                    .find_user_by_external_id(&target.profile.external_id)
            })
            .await
            .map_err(|error| format!("looking up the LMS user failed: {error}"))?;
        if let Some(user) = by_id {
            return Ok(Some((user, FoundBy::PersonioId)));
        }
        self.retry("looking up a user by email", || {
            self.lms().find_user_by_email(&target.profile.email)
        })
        .await
        .map(|user| user.map(|user| (user, FoundBy::Email)))
        .map_err(|error| format!("looking up the LMS user by email failed: {error}"))
    }

    async fn update(
        &self,
        target: &SyncTarget,
        link: EmployeeLink,
        changes: Vec<FieldChange>,
    ) -> EmployeeOutcome {
        let mut outcome = outcome_for(target, OutcomeAction::Updated);
        outcome.reason = if !link.active {
            Some(self.tense(
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
        if !self.dry_run() {
            let written = self
                .retry("updating a user", || {
                    self.lms().update_user(&link.lms_user_id, &target.profile)
                })
                .await;
            match written {
                Ok(()) => {}
                Err(LmsError::NotFound { .. }) => {
                    // Deleted in the LMS by hand: the employee is still selected, so the account
                    // comes back (adopted if one with the email exists, created otherwise).
                    let mut replaced = Box::pin(self.create_or_adopt(target, Some(link))).await;
                    if replaced.action != OutcomeAction::Failed {
                        replaced.reason = Some(
                            "the linked LMS user no longer existed; the account was set up again"
                                .to_owned(),
                        );
                    }
                    return replaced;
                }
                Err(error) => {
                    return outcome.fail(format!("updating the LMS user failed: {error}"));
                }
            }
        }
        let mut next = EmployeeLink {
            email: target.profile.email.clone(),
            profile_hash: target.hash.clone(),
            active: true,
            profile: Some(target.profile.clone()),
            ..link.clone()
        };
        let failures = self.catch_up_link(target, &mut next, &mut outcome).await;
        next.updated_at = Utc::now();
        next.version = link.version + 1;
        if let Err(reason) = self.write_link(&next, Some(link.version)).await {
            return outcome.fail(reason);
        }
        outcome.with_group_failures(failures)
    }

    /// The profile is as last written: memberships and an owed invitation only.
    async fn catch_up(&self, target: &SyncTarget, link: EmployeeLink) -> EmployeeOutcome {
        let mut outcome = outcome_for(target, OutcomeAction::Unchanged);
        let mut next = link.clone();
        let failures = self.catch_up_link(target, &mut next, &mut outcome).await;
        if next != link {
            next.updated_at = Utc::now();
            next.version = link.version + 1;
            if let Err(reason) = self.write_link(&next, Some(link.version)).await {
                return outcome.fail(reason);
            }
        }
        outcome.with_group_failures(failures)
    }

    /// Brings the memberships of `link`'s user in line with the target (adding what is missing,
    /// removing what the sync added and a mover no longer needs, when the settings say so) and
    /// sends an owed invitation; records all of it on `link` and `outcome`. Returns the
    /// membership failures.
    async fn catch_up_link(
        &self,
        target: &SyncTarget,
        link: &mut EmployeeLink,
        outcome: &mut EmployeeOutcome,
    ) -> Vec<String> {
        let user = link.lms_user_id.clone();
        let mut joined = self
            .join_groups(Some(&user), target.groups.difference(&link.groups))
            .await;
        outcome.groups_added = joined.added.iter().cloned().collect();
        link.groups.extend(joined.added);
        if self.request.settings.groups.remove_when_moved {
            let stale: Vec<String> = link.groups.difference(&target.groups).cloned().collect();
            let left = self.leave_groups(&user, &stale).await;
            outcome.groups_removed = left.removed.iter().cloned().collect();
            for group in left.removed.iter().chain(&left.gone) {
                link.groups.remove(group);
            }
            joined.failures.extend(left.failures);
        }
        if invitation_owed(link, &self.request.settings) {
            outcome.invited = self.invite(target).await;
            if outcome.invited && !self.dry_run() {
                link.invited_at = Some(Utc::now());
                link.invitation_pending = false;
            }
            if outcome.invited && outcome.action == OutcomeAction::Unchanged {
                outcome.reason = Some(self.tense(
                    "sent the invitation this account was owed",
                    "would send the invitation this account is owed",
                ));
            }
        }
        joined.failures
    }

    pub(super) async fn deactivate(
        &self,
        link: EmployeeLink,
        name: Option<String>,
        why: &str,
    ) -> EmployeeOutcome {
        let mut outcome = EmployeeOutcome::new(Some(link.personio_id), OutcomeAction::Deactivated);
        outcome.email = Some(link.email.clone());
        outcome.name = name;
        outcome.reason = Some(why.to_owned());
        if self.dry_run() {
            return outcome;
        }
        match self
            .retry("deactivating a user", || {
                self.lms().deactivate_user(&link.lms_user_id)
            })
            .await
        {
            Ok(()) => {}
            Err(LmsError::NotFound { .. }) => {
                outcome.reason = Some(format!("{why}; the LMS user had already been deleted"));
            }
            Err(error) => {
                return outcome.fail(format!("deactivating the LMS user failed: {error}"));
            }
        }
        let next = EmployeeLink {
            active: false,
            updated_at: Utc::now(),
            version: link.version + 1,
            ..link.clone()
        };
        if let Err(reason) = self.write_link(&next, Some(link.version)).await {
            return outcome.fail(reason);
        }
        outcome
    }

    /// Adds `user` to each named group that exists. In a dry run (or without a user yet) only
    /// looks the groups up and reports the memberships that would be added.
    async fn join_groups<'n>(
        &self,
        user: Option<&LmsUserId>,
        names: impl Iterator<Item = &'n String>,
    ) -> GroupResult {
        let mut result = GroupResult::default();
        for name in names {
            let group = match self.group(name).await {
                Ok(Some(group)) => group,
                Ok(None) => continue,
                Err(error) => {
                    result
                        .failures
                        .push(format!("looking up group {name:?} failed: {error}"));
                    continue;
                }
            };
            let added = match user {
                Some(user) if !self.dry_run() => self
                    .retry("adding a group member", || {
                        self.lms().add_group_member(&group, user)
                    })
                    .await
                    .map_err(|error| format!("adding to group {name:?} failed: {error}")),
                _ => Ok(()),
            };
            match added {
                Ok(()) => {
                    result.added.insert(name.clone());
                }
                Err(failure) => result.failures.push(failure),
            }
        }
        result
    }

    /// Takes `user` out of each named group (memberships the sync added). In a dry run only
    /// looks the groups up and reports the memberships that would be removed.
    async fn leave_groups(&self, user: &LmsUserId, names: &[String]) -> LeftGroups {
        let mut result = LeftGroups::default();
        for name in names {
            let group = match self.group(name).await {
                Ok(Some(group)) => group,
                Ok(None) => {
                    result.gone.insert(name.clone());
                    continue;
                }
                Err(error) => {
                    result
                        .failures
                        .push(format!("looking up group {name:?} failed: {error}"));
                    continue;
                }
            };
            if self.dry_run() {
                result.removed.insert(name.clone());
                continue;
            }
            match self
                .retry("removing a group member", || {
                    self.lms().remove_group_member(&group, user)
                })
                .await
            {
                Ok(()) => {
                    result.removed.insert(name.clone());
                }
                // The group was deleted meanwhile: no membership left.
                Err(LmsError::NotFound { .. }) => {
                    result.gone.insert(name.clone());
                }
                Err(error) => result
                    .failures
                    .push(format!("removing from group {name:?} failed: {error}")),
            }
        }
        result
    }

    /// The group's id, looked up once per run; missing groups are collected for one notice.
    async fn group(&self, name: &str) -> Result<Option<LmsGroupId>, LmsError> {
        let cell = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let group = self
                .retry("looking up a group", || self.lms().find_group(name))
                .await?;
            if group.is_none() {
                self.missing_groups
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_owned());
            }
            Ok(group.map(|group| group.id))
        })
        .await
        .cloned()
    }

    pub(super) async fn write_link(
        &self,
        link: &EmployeeLink,
        expected: Option<u64>,
    ) -> Result<(), String> {
        if self.dry_run() {
            return Ok(());
        }
        self.retry("writing the link", || {
            self.engine.store.put_link(link, expected)
        })
        .await
        .map_err(|error| match error {
            StoreError::Conflict(detail) => format!(
                "the LMS was written, but the employee's link was changed by someone else \
                     meanwhile ({detail}); the next run reconciles it"
            ),
            other => format!(
                "the LMS was written, but storing the employee's link failed ({other}); the \
                     next run reconciles it"
            ),
        })
    }

    /// Sends the invitation; a failure is logged and noted, never fatal.
    async fn invite(&self, target: &SyncTarget) -> bool {
        if self.dry_run() {
            return true;
        }
        let email = invitation_email(
            &target.profile.email,
            target.name.as_deref(),
            self.request.settings.notifications.login_url.as_deref(),
        );
        match self
            .retry("sending an invitation", || {
                self.engine.notifier.send(&email)
            })
            .await
        {
            Ok(()) => true,
            Err(error) => {
                warn!(%error, "invitation not sent");
                self.notice(format!(
                    "the invitation for Personio employee {} was not sent: {error}",
                    target.personio_id
                ));
                false
            }
        }
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

trait OutcomeExt {
    fn fail(self, reason: String) -> Self;
    fn with_group_failures(self, failures: Vec<String>) -> Self;
}

impl OutcomeExt for EmployeeOutcome {
    fn fail(mut self, reason: String) -> Self {
        warn!(reason = %reason, "employee not synced");
        self.action = OutcomeAction::Failed;
        self.reason = Some(reason);
        self
    }

    /// A failed membership fails the outcome (it needs a look) but keeps what was done in the
    /// reason; the link already records the memberships that worked, so the next run retries
    /// only the rest.
    fn with_group_failures(self, failures: Vec<String>) -> Self {
        if failures.is_empty() {
            return self;
        }
        let done = match self.action {
            OutcomeAction::Created => "created",
            OutcomeAction::Adopted => "adopted",
            OutcomeAction::Updated => "updated",
            _ => "unchanged",
        };
        let reason = format!("{done}, but {}", failures.join("; "));
        self.fail(reason)
    }
}
