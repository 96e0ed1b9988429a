//! Phase 5: group memberships, each group's new members in as few requests as the batch size
//! allows, and (with `groups.remove_when_moved`) each group's movers taken out the same way:
//! only memberships the sync added itself, recorded on the link; memberships made by hand are
//! never touched. Groups are found by name once per run (one listing when several are needed)
//! and are never created. The groups' requests go out `apply_concurrency` at a time.

use super::{ApplyContext, Work, bounded};
use crate::domain::lms::{LmsGroupId, LmsUserId};
use crate::ports::LmsError;
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap};

impl ApplyContext<'_> {
    /// Adds each employee to the groups they are still to join, each group's new members in as
    /// few requests as the batch size allows.
    pub(super) async fn join_groups(&self, works: &mut [Work]) {
        let mut joining: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, work) in works.iter().enumerate() {
            if work.failed() || (work.user.is_none() && !self.dry_run()) {
                continue;
            }
            for name in work.groups_to_add() {
                joining.entry(name).or_default().push(index);
            }
        }
        self.change_memberships(works, joining, Membership::Join)
            .await;
    }

    /// Takes movers out of the groups the sync added them to and they no longer belong in, each
    /// group's movers in as few requests as the batch size allows. In a dry run only looks the
    /// groups up and reports the memberships that would be removed.
    pub(super) async fn leave_groups(&self, works: &mut [Work]) {
        let mut leaving: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, work) in works.iter().enumerate() {
            if work.failed() || work.user.is_none() {
                continue;
            }
            for name in work.groups_to_leave() {
                leaving.entry(name).or_default().push(index);
            }
        }
        self.change_memberships(works, leaving, Membership::Leave)
            .await;
    }

    /// The membership changes of `groups` (group name → the works it concerns): each group's
    /// batches go out `apply_concurrency` at a time across groups (a slow LMS does not pay one
    /// round trip per group in a row); a batch the LMS refuses for one member falls back to one
    /// request per member, so that one refused member fails one employee.
    async fn change_memberships(
        &self,
        works: &mut [Work],
        groups: BTreeMap<String, Vec<usize>>,
        membership: Membership,
    ) {
        if groups.is_empty() {
            return;
        }
        let ids = self
            .group_ids(groups.keys(), membership == Membership::Join)
            .await;
        let batch = self.request.settings.scim.group_batch_size.max(1);
        let mut requests: Vec<(String, LmsGroupId, Vec<usize>)> = Vec::new();
        for (name, members) in groups {
            let group = match ids.get(&name) {
                Some(Ok(Some(group))) => group,
                // Joining: noted once for the run. Leaving: no membership left to remove.
                Some(Ok(None)) | None => {
                    if membership == Membership::Leave {
                        for index in members {
                            works[index].groups_gone.insert(name.clone());
                        }
                    }
                    continue;
                }
                Some(Err(error)) => {
                    for index in members {
                        works[index]
                            .group_failures
                            .push(format!("looking up group {name:?} failed: {error}"));
                    }
                    continue;
                }
            };
            if self.dry_run() {
                for index in members {
                    membership.record(&mut works[index], &name);
                }
                continue;
            }
            for chunk in members.chunks(batch) {
                requests.push((name.clone(), group.clone(), chunk.to_vec()));
            }
        }
        let jobs = requests
            .into_iter()
            .map(|(name, group, chunk)| {
                let users: Vec<LmsUserId> = chunk
                    .iter()
                    .filter_map(|index| works[*index].user.clone())
                    .collect();
                async move {
                    // A stopping run starts no new write; the links record what was done, and
                    // the next run catches up on these memberships.
                    if self.stopped().is_some() {
                        return (name, group, chunk, None);
                    }
                    let result = self
                        .retry(membership.batch_action(), || {
                            membership.send(self.lms(), &group, &users)
                        })
                        .await;
                    (name, group, chunk, Some(result))
                }
                .boxed()
            })
            .collect();
        let concurrency = self.request.settings.apply_concurrency;
        for (name, group, chunk, result) in bounded(jobs, concurrency, true).await {
            match result {
                None => {}
                Some(Err(error)) if chunk.len() > 1 && !error.is_systemic() && !is_gone(&error) => {
                    tracing::warn!(%error, group = %name, "a group batch failed; one request per member");
                    for index in chunk {
                        self.change_one(&mut works[index], &name, &group, membership)
                            .await;
                    }
                }
                Some(result) => {
                    for index in chunk {
                        membership.settle(&mut works[index], &name, &result);
                    }
                }
            }
        }
    }

    async fn change_one(
        &self,
        work: &mut Work,
        name: &str,
        group: &LmsGroupId,
        membership: Membership,
    ) {
        let Some(user) = work.user.clone() else {
            return;
        };
        let users = [user];
        let result = self
            .retry(membership.single_action(), || {
                membership.send(self.lms(), group, &users)
            })
            .await;
        membership.settle(work, name, &result);
    }

    /// Each group's id (`None` when the LMS has no such group; noted once when
    /// `notice_missing`), by one listing when several are needed and the LMS lists groups, else
    /// by a lookup each. A group found once is not looked up again in the run.
    async fn group_ids<'n>(
        &self,
        names: impl Iterator<Item = &'n String>,
        notice_missing: bool,
    ) -> HashMap<String, Result<Option<LmsGroupId>, String>> {
        let mut ids = HashMap::new();
        let names: Vec<&String> = {
            let known = self.known_groups.lock().unwrap_or_else(|p| p.into_inner());
            names
                .filter(|name| match known.get(*name) {
                    Some(id) => {
                        ids.insert((*name).clone(), Ok(id.clone()));
                        false
                    }
                    None => true,
                })
                .collect()
        };
        if names.is_empty() {
            return ids;
        }
        let mut found = HashMap::new();
        let ids_before = std::mem::take(&mut ids);
        let listed = if names.len() > 1 {
            match self
                .retry("listing the LMS groups", || self.lms().list_groups())
                .await
            {
                Ok(listed) => listed,
                Err(error) => {
                    tracing::warn!(%error, "listing groups failed; looking them up one by one");
                    None
                }
            }
        } else {
            None
        };
        match listed {
            Some(groups) => {
                let by_name: HashMap<&str, &LmsGroupId> = groups
                    .iter()
                    .map(|group| (group.name.as_str(), &group.id))
                    .collect();
                for name in names {
                    ids.insert(
                        name.clone(),
                        Ok(by_name.get(name.as_str()).map(|id| (*id).clone())),
                    );
                }
            }
            None => {
                for name in names {
                    let found = self
                        .retry("looking up a group", || self.lms().find_group(name))
                        .await
                        .map(|group| group.map(|group| group.id))
                        .map_err(|error| error.to_string());
                    ids.insert(name.clone(), found);
                }
            }
        }
        for (name, id) in &ids {
            if notice_missing && matches!(id, Ok(None)) {
                self.missing_groups
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.clone());
            }
            if let Ok(id) = id {
                found.insert(name.clone(), id.clone());
            }
        }
        self.known_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(found);
        ids.extend(ids_before);
        ids
    }
}

/// Which way a membership changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Membership {
    Join,
    Leave,
}

impl Membership {
    fn batch_action(self) -> &'static str {
        match self {
            Self::Join => "adding group members",
            Self::Leave => "removing group members",
        }
    }

    fn single_action(self) -> &'static str {
        match self {
            Self::Join => "adding a group member",
            Self::Leave => "removing a group member",
        }
    }

    async fn send(
        self,
        lms: &dyn crate::ports::LearningPlatform,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        match self {
            Self::Join => lms.add_group_members(group, users).await,
            Self::Leave => lms.remove_group_members(group, users).await,
        }
    }

    /// What the membership change came to for one employee.
    fn record(self, work: &mut Work, name: &str) {
        match self {
            Self::Join => work.groups_added.insert(name.to_owned()),
            Self::Leave => work.groups_removed.insert(name.to_owned()),
        };
    }

    fn settle(self, work: &mut Work, name: &str, result: &Result<(), LmsError>) {
        match result {
            Ok(()) => self.record(work, name),
            // Leaving a group that was deleted meanwhile: no membership left.
            Err(error) if self == Self::Leave && is_gone(error) => {
                work.groups_gone.insert(name.to_owned());
            }
            Err(error) => work.group_failures.push(format!(
                "{} group {name:?} failed: {error}",
                match self {
                    Self::Join => "adding to",
                    Self::Leave => "removing from",
                }
            )),
        }
    }
}

fn is_gone(error: &LmsError) -> bool {
    matches!(error, LmsError::NotFound { .. })
}
