//! Phase 5: group memberships, each group's new members in as few requests as the batch size
//! allows, and (with `groups.remove_when_moved`) each group's movers taken out the same way:
//! only memberships the sync added itself, recorded on the link; memberships made by hand are
//! never touched. Groups are found by name once per run (one listing when several are needed)
//! and are never created. The groups' join requests go out `apply_concurrency` at a time.

use super::{ApplyContext, Work, bounded};
use crate::domain::lms::{LmsGroupId, LmsUserId};
use crate::ports::LmsError;
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap};

impl ApplyContext<'_> {
    pub(super) async fn join_groups(&self, works: &mut [Work]) {
        let mut wanted: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, work) in works.iter().enumerate() {
            if work.failed() || (work.user.is_none() && !self.dry_run()) {
                continue;
            }
            for name in work.groups_to_add() {
                wanted.entry(name).or_default().push(index);
            }
        }
        if wanted.is_empty() {
            return;
        }
        let ids = self.group_ids(wanted.keys(), true).await;
        let batch = self.request.settings.scim.group_batch_size.max(1);
        // Each group's batches, as requests to send: different groups are independent, so they
        // go out `apply_concurrency` at a time (62 groups one after another cost 62 round trips
        // of a slow LMS).
        let mut requests: Vec<(String, LmsGroupId, Vec<usize>)> = Vec::new();
        for (name, members) in wanted {
            let group = match ids.get(&name) {
                Some(Ok(Some(group))) => group,
                Some(Ok(None)) | None => continue,
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
                    works[index].groups_added.insert(name.clone());
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
                        .retry("adding group members", || {
                            self.lms().add_group_members(&group, &users)
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
                Some(Ok(())) => {
                    for index in chunk {
                        works[index].groups_added.insert(name.clone());
                    }
                }
                // One refused member fails one employee: the others go on their own.
                Some(Err(error)) if chunk.len() > 1 && !error.is_systemic() => {
                    tracing::warn!(%error, group = %name, "a group batch failed; adding its members one by one");
                    for index in chunk {
                        self.join_one(&mut works[index], &name, &group).await;
                    }
                }
                Some(Err(error)) => {
                    for index in chunk {
                        works[index]
                            .group_failures
                            .push(format!("adding to group {name:?} failed: {error}"));
                    }
                }
            }
        }
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
        if leaving.is_empty() {
            return;
        }
        let ids = self.group_ids(leaving.keys(), false).await;
        let batch = self.request.settings.scim.group_batch_size.max(1);
        for (name, members) in leaving {
            let group = match ids.get(&name) {
                Some(Ok(Some(group))) => group,
                // The group no longer exists: no membership left to remove.
                Some(Ok(None)) | None => {
                    for index in members {
                        works[index].groups_gone.insert(name.clone());
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
                    works[index].groups_removed.insert(name.clone());
                }
                continue;
            }
            for chunk in members.chunks(batch) {
                // A stopping run starts no new write; the links record what was done, and the
                // next run catches up on these memberships.
                if self.stopped().is_some() {
                    continue;
                }
                let users: Vec<LmsUserId> = chunk
                    .iter()
                    .filter_map(|index| works[*index].user.clone())
                    .collect();
                match self
                    .retry("removing group members", || {
                        self.lms().remove_group_members(group, &users)
                    })
                    .await
                {
                    Ok(()) => {
                        for index in chunk {
                            works[*index].groups_removed.insert(name.clone());
                        }
                    }
                    // The group was deleted meanwhile: no membership left.
                    Err(LmsError::NotFound { .. }) => {
                        for index in chunk {
                            works[*index].groups_gone.insert(name.clone());
                        }
                    }
                    // One refused member fails one employee: the others go on their own.
                    Err(error) if chunk.len() > 1 && !error.is_systemic() => {
                        tracing::warn!(%error, group = %name, "a group batch failed; removing its members one by one");
                        for index in chunk {
                            self.leave_one(&mut works[*index], &name, group).await;
                        }
                    }
                    Err(error) => {
                        for index in chunk {
                            works[*index]
                                .group_failures
                                .push(format!("removing from group {name:?} failed: {error}"));
                        }
                    }
                }
            }
        }
    }

    async fn leave_one(&self, work: &mut Work, name: &str, group: &LmsGroupId) {
        let Some(user) = work.user.clone() else {
            return;
        };
        match self
            .retry("removing a group member", || {
                self.lms().remove_group_member(group, &user)
            })
            .await
        {
            Ok(()) => {
                work.groups_removed.insert(name.to_owned());
            }
            Err(LmsError::NotFound { .. }) => {
                work.groups_gone.insert(name.to_owned());
            }
            Err(error) => work
                .group_failures
                .push(format!("removing from group {name:?} failed: {error}")),
        }
    }

    async fn join_one(&self, work: &mut Work, name: &str, group: &LmsGroupId) {
        let Some(user) = work.user.clone() else {
            return;
        };
        match self
            .retry("adding a group member", || {
                self.lms().add_group_member(group, &user)
            })
            .await
        {
            Ok(()) => {
                work.groups_added.insert(name.to_owned());
            }
            Err(error) => work
                .group_failures
                .push(format!("adding to group {name:?} failed: {error}")),
        }
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
