//! Phase 5: group memberships, each group's new members in as few requests as the batch size
//! allows. Groups are found by name once per run (one listing when several are needed) and are
//! never created.

use super::{ApplyContext, Work};
use crate::domain::lms::{LmsGroupId, LmsUserId};
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
        let ids = self.group_ids(wanted.keys()).await;
        let batch = self.request.settings.scim.group_batch_size.max(1);
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
                if let Some(reason) = self.stopped() {
                    for index in chunk {
                        works[*index]
                            .group_failures
                            .push(format!("adding to group {name:?}: {reason}"));
                    }
                    continue;
                }
                let users: Vec<LmsUserId> = chunk
                    .iter()
                    .filter_map(|index| works[*index].user.clone())
                    .collect();
                match self
                    .retry("adding group members", || {
                        self.lms().add_group_members(group, &users)
                    })
                    .await
                {
                    Ok(()) => {
                        for index in chunk {
                            works[*index].groups_added.insert(name.clone());
                        }
                    }
                    // One refused member fails one employee: the others go on their own.
                    Err(error) if chunk.len() > 1 && !error.is_systemic() => {
                        tracing::warn!(%error, group = %name, "a group batch failed; adding its members one by one");
                        for index in chunk {
                            self.join_one(&mut works[*index], &name, group).await;
                        }
                    }
                    Err(error) => {
                        for index in chunk {
                            works[*index]
                                .group_failures
                                .push(format!("adding to group {name:?} failed: {error}"));
                        }
                    }
                }
            }
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

    /// Each group's id (`None` when the LMS has no such group, noted once), by one listing
    /// when several are needed and the LMS lists groups, else by a lookup each.
    async fn group_ids<'n>(
        &self,
        names: impl Iterator<Item = &'n String>,
    ) -> HashMap<String, Result<Option<LmsGroupId>, String>> {
        let names: Vec<&String> = names.collect();
        let mut ids = HashMap::new();
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
            if matches!(id, Ok(None)) {
                self.notice(format!(
                    "the LMS has no group named {name:?}; nobody was added to it (the sync never \
                     creates groups)"
                ));
            }
        }
        ids
    }
}
