//! The reconcile run's extra step: read the LMS's users (one paged listing) and the members of
//! the groups the sync added people to, compare them with the links and the desired profiles,
//! and plan a repair for each difference an LMS admin made by hand: a deleted user (set up
//! again), edited synced fields or a hand deactivation (written again), removed memberships
//! (added again), a deactivated account activated again (deactivated again).
//!
//! A normal run does none of this: its cost stays what the changes in Personio need.

use super::apply::with_retry;
use super::managers::Desired;
use super::plan::{PlannedChange, Repair, SyncPlan};
use super::{SyncEngine, SyncRequest};
use crate::domain::link::{EmployeeLink, ManagerLink};
use crate::domain::lms::{LmsGroupId, LmsUserId};
use crate::ports::{ListedUser, ManagerRef, UserWrite, WriteKind};
use std::collections::{BTreeSet, HashMap};
use tracing::{info, warn};

/// The manager reference the employee should have, for the comparison.
fn expected_manager(desired: Desired, link: &EmployeeLink) -> ManagerRef {
    match desired {
        Desired::User(id) => ManagerRef::User(id),
        Desired::Clear => ManagerRef::None,
        Desired::CreatedInRun(_) | Desired::Unknown(_) => match &link.manager {
            ManagerLink::Set { user } => ManagerRef::User(user.clone()),
            _ => ManagerRef::None,
        },
    }
}

impl SyncEngine {
    /// Adds the repairs of a reconcile run to `plan`. `Err` when the LMS cannot be read: a
    /// reconcile that cannot compare must not guess.
    pub(super) async fn plan_repairs(
        &self,
        request: &SyncRequest,
        plan: &mut SyncPlan,
        notices: &mut Vec<String>,
    ) -> Result<(), String> {
        if plan.in_sync.is_empty() && plan.deactivated.is_empty() {
            return Ok(());
        }
        let mapping = request
            .settings
            .attribute_mapping()
            .map_err(|error| error.to_string())?;
        let listed = with_retry(
            self.retry,
            request.deadline,
            "listing the LMS users",
            || self.lms.list_users(Some(&mapping)),
        )
        .await
        .map_err(|error| {
            format!("reading the LMS users for the reconcile failed: {error}; nothing was changed")
        })?;
        let by_id: HashMap<LmsUserId, ListedUser> = listed
            .into_iter()
            .map(|listed| (listed.user.id.clone(), listed))
            .collect();
        let members = self.members_of_synced_groups(request, plan, notices).await;

        // Employees planned for their groups or manager only: a repair takes the place of that
        // change (it writes every synced field and adds the groups).
        let planned: HashMap<_, usize> = plan
            .changes
            .iter()
            .enumerate()
            .map(|(index, change)| (change.personio_id(), index))
            .collect();
        let mut repairs = Vec::new();
        let mut replaced = Vec::new();
        for (target, link) in std::mem::take(&mut plan.in_sync) {
            let slot = planned.get(&link.personio_id).copied();
            let mut repair_of = |change: PlannedChange| match slot {
                Some(index) => replaced.push((index, change)),
                None => repairs.push(change),
            };
            let Some(listed) = by_id.get(&link.lms_user_id) else {
                repair_of(PlannedChange::Repair {
                    target: Some(target),
                    link,
                    repair: Repair::Deleted,
                });
                continue;
            };
            let write = UserWrite {
                kind: WriteKind::Update {
                    id: link.lms_user_id.clone(),
                },
                profile: &target.profile,
                mapping: &mapping,
                manager: expected_manager(plan.managers.desired(&target.profile), &link),
            };
            let edited = match with_retry(self.retry, request.deadline, "comparing a user", || {
                self.lms.drift(listed, &write)
            })
            .await
            {
                Ok(edited) => edited,
                Err(error) => {
                    notices.push(format!(
                        "Personio employee {} could not be compared with the LMS: {error}",
                        link.personio_id
                    ));
                    continue;
                }
            };
            let removed: BTreeSet<String> = link
                .groups
                .iter()
                .filter(|name| {
                    // A group the employee no longer belongs in (a mover) is not added again.
                    target.groups.contains(*name)
                        && members
                            .get(*name)
                            .is_some_and(|members| !members.contains(&link.lms_user_id))
                })
                .cloned()
                .collect();
            let repair = if !edited.is_empty() {
                Repair::Edited(edited)
            } else if !removed.is_empty() {
                Repair::Groups(removed)
            } else {
                continue;
            };
            repair_of(PlannedChange::Repair {
                target: Some(target),
                link,
                repair,
            });
        }
        for (index, change) in replaced {
            plan.changes[index] = change;
        }
        for link in std::mem::take(&mut plan.deactivated) {
            if by_id
                .get(&link.lms_user_id)
                .is_some_and(|listed| listed.user.active)
            {
                repairs.push(PlannedChange::Repair {
                    target: None,
                    link,
                    repair: Repair::Reactivated,
                });
            }
        }
        let in_sync_repairs = repairs
            .iter()
            .filter(|change| {
                matches!(
                    change,
                    PlannedChange::Repair {
                        target: Some(_),
                        ..
                    }
                )
            })
            .count() as u32;
        plan.unchanged = plan.unchanged.saturating_sub(in_sync_repairs);
        info!(repairs = repairs.len(), "reconcile compared the LMS");
        plan.changes.extend(repairs);
        Ok(())
    }

    /// The members of each group the links say the sync added someone to (one request each);
    /// a group that cannot be read is left out of the comparison with a notice.
    async fn members_of_synced_groups(
        &self,
        request: &SyncRequest,
        plan: &SyncPlan,
        notices: &mut Vec<String>,
    ) -> HashMap<String, BTreeSet<LmsUserId>> {
        let names: BTreeSet<&String> = plan
            .in_sync
            .iter()
            .flat_map(|(_, link)| link.groups.iter())
            .collect();
        let mut members = HashMap::new();
        if names.is_empty() {
            return members;
        }
        let retry = |what: &'static str| (self.retry, request.deadline, what);
        let (backoff, deadline, what) = retry("listing the LMS groups");
        let ids: HashMap<String, LmsGroupId> =
            match with_retry(backoff, deadline, what, || self.lms.list_groups()).await {
                Ok(Some(groups)) => groups
                    .into_iter()
                    .map(|group| (group.name, group.id))
                    .collect(),
                other => {
                    if let Err(error) = other {
                        warn!(%error, "listing groups failed; looking them up one by one");
                    }
                    let mut ids = HashMap::new();
                    for name in &names {
                        if let Ok(Some(group)) =
                            with_retry(backoff, deadline, "looking up a group", || {
                                self.lms.find_group(name)
                            })
                            .await
                        {
                            ids.insert(group.name, group.id);
                        }
                    }
                    ids
                }
            };
        for name in names {
            let Some(id) = ids.get(name) else {
                notices.push(format!(
                    "the LMS has no group named {name:?} any more; its memberships were not checked"
                ));
                continue;
            };
            match with_retry(backoff, deadline, "reading a group's members", || {
                self.lms.group_members(id)
            })
            .await
            {
                Ok(found) => {
                    members.insert(name.clone(), found);
                }
                Err(error) => notices.push(format!(
                    "the members of group {name:?} could not be read ({error}); they were not checked"
                )),
            }
        }
        members
    }
}
