//! Phase 2: which creates find their user already in the LMS (adopted, never duplicated): from
//! one listing when that is cheaper than looking each one up, else by lookups.

use super::bounded;
use super::{ApplyContext, FoundBy, Step, Work};
use crate::domain::lms::LmsUser;
use crate::ports::LmsFeatures;
use futures::FutureExt;
use std::collections::HashMap;
use tracing::info;

/// The users of a listing by external id and by lower-cased email.
struct UserIndex {
    by_external_id: HashMap<String, LmsUser>,
    by_email: HashMap<String, LmsUser>,
}

impl UserIndex {
    fn new(users: impl IntoIterator<Item = LmsUser>) -> Self {
        let mut index = Self {
            by_external_id: HashMap::new(),
            by_email: HashMap::new(),
        };
        for user in users {
            if let Some(external_id) = user.external_id.clone().filter(|id| !id.is_empty()) {
                index.by_external_id.insert(external_id, user.clone());
            }
            index.by_email.insert(user.email.to_lowercase(), user);
        }
        index
    }

    fn find(&self, external_id: &str, email: &str) -> Option<LmsUser> {
        self.by_external_id
            .get(external_id)
            .or_else(|| self.by_email.get(&email.to_lowercase()))
            .cloned()
    }
}

/// Whether one listing costs fewer requests than two lookups per create.
pub(super) fn listing_is_cheaper(
    features: &LmsFeatures,
    known_users: usize,
    creates: usize,
) -> bool {
    features.listing && known_users.div_ceil(features.page_size.max(1)).max(1) < 2 * creates
}

impl ApplyContext<'_> {
    pub(super) async fn find_existing_users(&self, works: &mut [Work], features: &LmsFeatures) {
        let creates = works
            .iter()
            .filter(|work| work.step == Step::Create)
            .count();
        if creates == 0 {
            return;
        }
        let known_users = self.plan.linked_users.len() + creates;
        let index = if listing_is_cheaper(features, known_users, creates) {
            match self
                .retry("listing the LMS users", || self.lms().list_users(None))
                .await
            {
                Ok(users) => {
                    info!(
                        users = users.len(),
                        creates, "LMS users listed instead of looked up"
                    );
                    let index = UserIndex::new(users.into_iter().map(|listed| listed.user));
                    self.run_users.set_listing(
                        index
                            .by_external_id
                            .iter()
                            .map(|(external_id, user)| (external_id.clone(), user.id.clone()))
                            .collect(),
                    );
                    Some(index)
                }
                Err(error) => {
                    self.notice(format!(
                        "listing the LMS users failed ({error}); each new employee was looked up instead"
                    ));
                    None
                }
            }
        } else {
            None
        };
        match index {
            Some(index) => {
                for work in works.iter_mut().filter(|work| work.step == Step::Create) {
                    let Some(target) = &work.target else { continue };
                    let found = index.find(&target.profile.external_id, &target.profile.email);
                    self.adopt_if_found(work, found);
                }
            }
            None => {
                let concurrency = self.request.settings.apply_concurrency;
                let jobs = works
                    .iter()
                    .enumerate()
                    .filter(|(_, work)| work.step == Step::Create)
                    .filter_map(|(position, work)| {
                        Some((position, work.target.as_ref()?.profile.clone()))
                    })
                    .map(|(position, profile)| {
                        async move {
                            if let Some(reason) = self.stopped() {
                                return (position, Err(reason.to_owned()));
                            }
                            (
                                position,
                                self.look_up(&profile.external_id, &profile.email).await,
                            )
                        }
                        .boxed()
                    })
                    .collect();
                let found: Vec<(usize, Result<Option<LmsUser>, String>)> =
                    bounded(jobs, concurrency, false).await;
                for (position, found) in found {
                    match found {
                        Ok(found) => self.adopt_if_found(&mut works[position], found),
                        Err(reason) => works[position].fail(reason),
                    }
                }
            }
        }
    }

    /// The user with this external id, else with this email.
    pub(super) async fn look_up(
        &self,
        external_id: &str,
        email: &str,
    ) -> Result<Option<LmsUser>, String> {
        let by_id = self
            .retry("looking up a user by Personio id", || {
                self.lms().find_user_by_external_id(external_id)
            })
            .await
            .map_err(|error| format!("looking up the LMS user failed: {error}"))?;
        if by_id.is_some() {
            return Ok(by_id);
        }
        self.retry("looking up a user by email", || {
            self.lms().find_user_by_email(email)
        })
        .await
        .map_err(|error| format!("looking up the LMS user by email failed: {error}"))
    }

    /// A found user is adopted unless another employee's link holds it.
    pub(super) fn adopt_if_found(&self, work: &mut Work, found: Option<LmsUser>) {
        let Some(user) = found else { return };
        let personio_id = work.target.as_ref().map(|target| target.personio_id);
        if let Some(other) = self.plan.linked_users.get(&user.id)
            && Some(*other) != personio_id
        {
            work.fail(format!(
                "the LMS user {} with this email is already linked to Personio employee {other}",
                user.id
            ));
            return;
        }
        if let (Some(theirs), Some(id)) = (user.external_id.as_deref(), personio_id)
            && !theirs.is_empty()
            && theirs != id.to_string()
        {
            work.fail(format!(
                "the LMS user {} has this email but belongs to external id {theirs}; correct \
                 the email in Personio or in the LMS",
                user.id
            ));
            return;
        }
        let found_by = match (user.external_id.as_deref(), personio_id) {
            (Some(theirs), Some(id)) if theirs == id.to_string() => FoundBy::PersonioId,
            _ => FoundBy::Email,
        };
        work.outcome.action = crate::domain::run::OutcomeAction::Adopted;
        work.outcome.reason = Some(match found_by {
            FoundBy::PersonioId => self.tense(
                &format!(
                    "an LMS user with this Personio id existed ({}), set up by an earlier run \
                     that did not finish; it was linked and updated",
                    user.id
                ),
                &format!(
                    "an LMS user with this Personio id exists ({}); it would be linked and \
                     updated",
                    user.id
                ),
            ),
            FoundBy::Email => self.tense(
                &format!(
                    "an LMS user with this email existed ({}); it was linked and updated",
                    user.id
                ),
                &format!(
                    "an LMS user with this email exists ({}); it would be linked and updated",
                    user.id
                ),
            ),
        });
        work.found_by = Some(found_by);
        work.user = Some(user.id.clone());
        work.step = Step::Adopt(user.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_replaces_lookups_only_when_it_is_cheaper() {
        let features = LmsFeatures {
            batch_size: None,
            listing: true,
            page_size: 1000,
            email_changes_by_hand: false,
        };
        assert!(listing_is_cheaper(&features, 6000, 6000), "a first sync");
        assert!(
            !listing_is_cheaper(&features, 5001, 1),
            "one new hire among 5,000"
        );
        assert!(listing_is_cheaper(&features, 5010, 10));
        let no_listing = LmsFeatures {
            listing: false,
            ..features
        };
        assert!(!listing_is_cheaper(&no_listing, 6000, 6000));
    }
}
