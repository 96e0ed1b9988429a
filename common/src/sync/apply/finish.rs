//! Phase 6: each employee's link with what was written, and the invitations.
//!
//! Invitations go only to accounts the sync set up (created, or created by an earlier run that
//! stopped before its link: found by the Personio id, with no link) and only once the account
//! can sign in. An account created locked is invited by the first run that finds it active,
//! exactly once: the link records the invitation as owed (`invitation_pending`) and then as
//! sent (`invited_at`). A new account's link is written before its invitation, so a run that
//! stops in between leaves the invitation owed for the next run, never lost.

use super::bounded;
use super::{ApplyContext, FoundBy, Step, Work};
use crate::domain::link::EmployeeLink;
use crate::domain::run::OutcomeAction;
use crate::ports::StoreError;
use crate::sync::email::invitation_email;
use crate::sync::plan::invitation_owed;
use chrono::Utc;
use futures::FutureExt;
use tracing::warn;

/// What a work's link says about the invitation after this run's writes.
struct Invitation {
    /// The new link records the invitation as owed.
    owed: bool,
    /// It can go now (the account can sign in).
    now: bool,
}

impl ApplyContext<'_> {
    pub(super) async fn finish(&self, works: &mut Vec<Work>) {
        let concurrency = self.request.settings.apply_concurrency;
        let taken = std::mem::take(works);
        let jobs = taken
            .into_iter()
            .map(|mut work| {
                async move {
                    self.finish_one(&mut work).await;
                    work
                }
                .boxed()
            })
            .collect();
        *works = bounded(jobs, concurrency, true).await;
    }

    async fn finish_one(&self, work: &mut Work) {
        let invitation = self.invitation(work);
        let next = self.next_link(work, &invitation);
        if !invitation.now {
            if let Some((link, expected)) = next
                && let Err(reason) = self.write_link(&link, expected).await
            {
                work.fail(reason);
            }
            return;
        }
        let Some((mut link, mut expected)) = next else {
            // A dry run: nothing to link, and the invitation it would send.
            work.outcome.invited = self.invite(work).await;
            self.say_owed_invitation(work);
            return;
        };
        // A new account's link does not record the invitation as owed yet: it is written
        // first. An existing link records it already.
        let stored_owed = !matches!(work.step, Step::Create | Step::Adopt(_));
        if !stored_owed {
            if let Err(reason) = self.write_link(&link, expected).await {
                return work.fail(reason);
            }
            expected = Some(link.version);
            link.version += 1;
        }
        work.outcome.invited = self.invite(work).await;
        self.say_owed_invitation(work);
        if work.outcome.invited {
            link.invited_at = Some(Utc::now());
            link.invitation_pending = false;
        } else if !stored_owed {
            // Written already with the invitation owed: the next run sends it.
            return;
        }
        link.updated_at = Utc::now();
        if let Err(reason) = self.write_link(&link, expected).await {
            work.fail(reason);
        }
    }

    /// An employee otherwise unchanged whose owed invitation went out says so.
    fn say_owed_invitation(&self, work: &mut Work) {
        if work.outcome.invited && work.outcome.action == OutcomeAction::Unchanged {
            work.outcome.reason = Some(self.tense(
                "sent the invitation this account was owed",
                "would send the invitation this account is owed",
            ));
        }
    }

    /// Whether the account is owed an invitation, and whether it goes now.
    fn invitation(&self, work: &Work) -> Invitation {
        let none = Invitation {
            owed: false,
            now: false,
        };
        let settings = &self.request.settings;
        let Some(target) = &work.target else {
            return none;
        };
        if work.failed() || !settings.notifications.invite_new_users {
            return none;
        }
        match &work.step {
            Step::Create | Step::Adopt(_) => {
                if !work.wrote_or_would(self.dry_run()) {
                    return none;
                }
                // A created account is invited (no user was found to adopt); an account made
                // by hand and adopted by email is not; one the sync created in a run that
                // stopped before its link (found by the Personio id, no link) is.
                let owed = match work.found_by {
                    None => true,
                    Some(FoundBy::PersonioId) => work.link.is_none() && work.replaced.is_none(),
                    Some(FoundBy::Email) => false,
                };
                Invitation {
                    owed,
                    now: owed && target.profile.active,
                }
            }
            Step::Deactivate | Step::Kept => none,
            Step::Update | Step::CatchUp | Step::Manager => {
                let Some(link) = &work.link else { return none };
                let after = if work.wrote_or_would(self.dry_run()) && !work.keep_old_email {
                    EmployeeLink {
                        active: true,
                        profile: Some(target.profile.clone()),
                        ..link.clone()
                    }
                } else {
                    link.clone()
                };
                Invitation {
                    owed: link.invitation_pending,
                    now: invitation_owed(&after, settings),
                }
            }
        }
    }

    /// Sends the invitation; a failure is logged and noted, never fatal.
    async fn invite(&self, work: &Work) -> bool {
        if self.dry_run() {
            return true;
        }
        let Some(target) = &work.target else {
            return false;
        };
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

    /// The link after this run's writes, and the version the store must still hold; `None`
    /// when nothing about the employee was written (and always in a dry run).
    fn next_link(
        &self,
        work: &Work,
        invitation: &Invitation,
    ) -> Option<(EmployeeLink, Option<u64>)> {
        let memberships_changed = !work.groups_added.is_empty()
            || !work.groups_removed.is_empty()
            || !work.groups_gone.is_empty();
        if self.dry_run() || !(work.written || memberships_changed || invitation.now) {
            return None;
        }
        let user = work.user.clone()?;
        let now = Utc::now();
        match (&work.step, &work.link, &work.target) {
            (Step::Deactivate, Some(link), _) => Some((
                EmployeeLink {
                    active: false,
                    updated_at: now,
                    version: link.version + 1,
                    ..link.clone()
                },
                Some(link.version),
            )),
            (Step::Create | Step::Adopt(_), _, Some(target)) => {
                let previous = work.replaced.as_ref().or(work.link.as_ref());
                let version = previous.map(|link| link.version);
                Some((
                    EmployeeLink {
                        integration_id: self.request.integration_id.clone(),
                        personio_id: target.personio_id,
                        lms_user_id: user,
                        email: target.profile.email.clone(),
                        profile_hash: target.hash.clone(),
                        groups: work.groups_added.clone(),
                        active: true,
                        updated_at: now,
                        version: version.map_or(1, |v| v + 1),
                        manager: work.manager.clone(),
                        profile: Some(target.profile.clone()),
                        invited_at: None,
                        invitation_pending: invitation.owed,
                    },
                    version,
                ))
            }
            (_, Some(link), Some(target)) => {
                let mut groups: std::collections::BTreeSet<String> =
                    link.groups.union(&work.groups_added).cloned().collect();
                for group in work.groups_removed.iter().chain(&work.groups_gone) {
                    groups.remove(group);
                }
                let mut next = EmployeeLink {
                    groups,
                    updated_at: now,
                    version: link.version + 1,
                    ..link.clone()
                };
                if work.written {
                    next.active = true;
                    next.manager = work.manager.clone();
                    if !work.keep_old_email {
                        next.email = target.profile.email.clone();
                        next.profile_hash = target.hash.clone();
                        next.profile = Some(target.profile.clone());
                    }
                }
                Some((next, Some(link.version)))
            }
            _ => None,
        }
    }

    async fn write_link(&self, link: &EmployeeLink, expected: Option<u64>) -> Result<(), String> {
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
}
