//! Phase 6: invitations for the new users, and each employee's link with what was written.

use super::bounded;
use super::{ApplyContext, Step, Work};
use crate::domain::link::EmployeeLink;
use crate::domain::run::OutcomeAction;
use crate::ports::StoreError;
use crate::sync::email::invitation_email;
use chrono::Utc;
use futures::FutureExt;
use tracing::warn;

impl ApplyContext<'_> {
    pub(super) async fn finish(&self, works: &mut Vec<Work>) {
        let concurrency = self.request.settings.apply_concurrency;
        let taken = std::mem::take(works);
        let jobs = taken
            .into_iter()
            .map(|mut work| {
                async move {
                    self.invite_if_new(&mut work).await;
                    if let Some((link, expected)) = self.next_link(&work)
                        && let Err(reason) = self.write_link(&link, expected).await
                    {
                        work.fail(reason);
                    }
                    work
                }
                .boxed()
            })
            .collect();
        *works = bounded(jobs, concurrency, true).await;
    }

    async fn invite_if_new(&self, work: &mut Work) {
        let created =
            work.outcome.action == OutcomeAction::Created && (work.written || self.dry_run());
        if !created || !self.request.settings.notifications.invite_new_users {
            return;
        }
        let Some(target) = &work.target else { return };
        if self.dry_run() {
            work.outcome.invited = true;
            return;
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
            Ok(()) => work.outcome.invited = true,
            Err(error) => {
                warn!(%error, "invitation not sent");
                self.notice(format!(
                    "the invitation for Personio employee {} was not sent: {error}",
                    target.personio_id
                ));
            }
        }
    }

    /// The link after this run's writes, and the version the store must still hold; `None`
    /// when nothing about the employee was written.
    fn next_link(&self, work: &Work) -> Option<(EmployeeLink, Option<u64>)> {
        if self.dry_run() || !(work.written || !work.groups_added.is_empty()) {
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
                    },
                    version,
                ))
            }
            (_, Some(link), Some(target)) => {
                let mut next = EmployeeLink {
                    groups: link.groups.union(&work.groups_added).cloned().collect(),
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
