//! Groups: found by name (never created), listed, members added and removed many at a time.

use super::ScimLms;
use super::counts::RequestKind;
use super::document::{
    add_members_patch_body, add_members_to_document, remove_members_from_document,
    remove_members_patch_body,
};
use super::name_missing;
use super::resources::{equality_filter, group_member_ids, lms_group_from};
use crate::domain::lms::{LmsGroup, LmsGroupId, LmsUserId};
use crate::ports::LmsError;
use crate::retry::Deadline;
use reqwest::Method;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

impl ScimLms {
    pub(super) async fn group_named(
        &self,
        name: &str,
        deadline: Deadline,
    ) -> Result<Option<LmsGroup>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let endpoint = capabilities.groups_endpoint.clone();
        let filter = equality_filter("displayName", name);
        let mut found = None;
        // Only the name: a group's member list can be long and is not needed here.
        self.page_through(
            RequestKind::GroupLookup,
            &endpoint,
            Some(&filter),
            Some("displayName"),
            self.page_size,
            deadline,
            |resource| match lms_group_from(&resource) {
                Ok(group) if group.name == name => {
                    found = Some(group);
                    true
                }
                Ok(_) => false,
                Err(problem) => {
                    tracing::warn!(%problem, "skipping an unreadable group");
                    false
                }
            },
        )
        .await?;
        Ok(found)
    }

    /// Every group's id and name, in as few pages as the server allows.
    pub(super) async fn listed_groups(
        &self,
        deadline: Deadline,
    ) -> Result<Vec<LmsGroup>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let endpoint = capabilities.groups_endpoint.clone();
        let count = self.listing_count(capabilities);
        let mut groups = Vec::new();
        self.page_through(
            RequestKind::GroupListing,
            &endpoint,
            None,
            Some("displayName"),
            count,
            deadline,
            |resource| {
                match lms_group_from(&resource) {
                    Ok(group) => groups.push(group),
                    Err(problem) => tracing::warn!(%problem, "skipping an unreadable group"),
                }
                false
            },
        )
        .await?;
        Ok(groups)
    }

    /// Adds or removes `users` in one PATCH (or GET and PUT of the group without PATCH).
    pub(super) async fn change_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
        change: Membership,
        deadline: Deadline,
    ) -> Result<(), LmsError> {
        if users.is_empty() {
            return Ok(());
        }
        let capabilities = self.discovered(deadline).await?;
        let url = self.http.url(&capabilities.groups_endpoint, &[&group.0]);
        let changed = if self.patch_usable(capabilities) {
            let body = change.patch_body(users);
            match self
                .http
                .send(
                    RequestKind::GroupUpdate,
                    Method::PATCH,
                    url,
                    &[],
                    Some(&body),
                    deadline,
                )
                .await
            {
                // The membership already is as wanted.
                Err(error) if users.len() == 1 && change.already_done(&error) => {
                    tracing::debug!(group_id = %group, %error, ?change, "already so");
                    Ok(())
                }
                // A batch with one member already as wanted: the rest one by one.
                Err(error) if change.already_done(&error) => {
                    for user in users {
                        Box::pin(self.change_members(
                            group,
                            std::slice::from_ref(user),
                            change,
                            deadline,
                        ))
                        .await?;
                    }
                    Ok(())
                }
                other => other.map(drop),
            }
        } else {
            let mut document = self
                .resource_document(RequestKind::GroupRead, url.clone(), deadline)
                .await?;
            if change.edit(&mut document, users) {
                let body = Value::Object(document);
                self.http
                    .send(
                        RequestKind::GroupUpdate,
                        Method::PUT,
                        url,
                        &[],
                        Some(&body),
                        deadline,
                    )
                    .await
                    .map(drop)
            } else {
                Ok(())
            }
        };
        changed.map_err(|error| name_missing(error, || format!("group {group}")))?;
        if change == Membership::Remove {
            tracing::info!(group_id = %group, members = users.len(), "SCIM group members removed");
        }
        Ok(())
    }

    pub(super) async fn members_of(
        &self,
        group: &LmsGroupId,
        deadline: Deadline,
    ) -> Result<BTreeSet<LmsUserId>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let url = self.http.url(&capabilities.groups_endpoint, &[&group.0]);
        let document = self
            .resource_document(RequestKind::GroupRead, url, deadline)
            .await
            .map_err(|error| name_missing(error, || format!("group {group}")))?;
        Ok(group_member_ids(&Value::Object(document))
            .into_iter()
            .collect())
    }
}

/// A change to memberships, made the same way either way round: one PATCH carrying many
/// members, or GET and PUT back where the server has no PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Membership {
    Add,
    Remove,
}

impl Membership {
    fn patch_body(self, users: &[LmsUserId]) -> Value {
        match self {
            Self::Add => add_members_patch_body(users),
            Self::Remove => remove_members_patch_body(users),
        }
    }

    /// The change on a group document for a PUT; false when there is nothing to change.
    fn edit(self, group: &mut Map<String, Value>, users: &[LmsUserId]) -> bool {
        match self {
            Self::Add => add_members_to_document(group, users),
            Self::Remove => remove_members_from_document(group, users),
        }
    }

    /// A refusal that says the membership already is as wanted: some servers refuse a member
    /// they already have (409), and RFC 7644 §3.12 answers a remove whose filter matches no
    /// member with `noTarget`.
    fn already_done(self, error: &LmsError) -> bool {
        match (self, error) {
            (Self::Add, LmsError::Conflict { .. }) => true,
            (
                Self::Remove,
                LmsError::Rejected {
                    status: 400,
                    detail,
                },
            ) => detail.starts_with("noTarget"),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_already_as_wanted_is_no_error() {
        let conflict = LmsError::Conflict {
            detail: "uniqueness: already a member".into(),
        };
        let no_target = LmsError::Rejected {
            status: 400,
            detail: "noTarget: no member matched".into(),
        };
        let invalid = LmsError::Rejected {
            status: 400,
            detail: "invalidValue: bad path".into(),
        };
        assert!(Membership::Add.already_done(&conflict));
        assert!(!Membership::Add.already_done(&no_target));
        assert!(Membership::Remove.already_done(&no_target));
        assert!(!Membership::Remove.already_done(&conflict));
        assert!(!Membership::Remove.already_done(&invalid));
        let body =
            Membership::Remove.patch_body(&[LmsUserId("u\"1".into()), LmsUserId("u2".into())]);
        assert_eq!(
            body["Operations"],
            serde_json::json!([
                {"op": "remove", "path": "members[value eq \"u\\\"1\"]"},
                {"op": "remove", "path": "members[value eq \"u2\"]"}
            ])
        );
    }

    #[test]
    fn removing_from_a_group_document_keeps_the_others() {
        let mut group = serde_json::json!({
            "id": "g1",
            "members": [{"value": "a"}, {"value": "b"}, {"value": "c"}],
            "meta": {"version": "W/1"}
        });
        let group = group.as_object_mut().unwrap();
        let users = [LmsUserId("a".into()), LmsUserId("c".into())];
        assert!(Membership::Remove.edit(group, &users));
        assert_eq!(group["members"], serde_json::json!([{"value": "b"}]));
        assert!(!group.contains_key("meta"));
        assert!(!Membership::Remove.edit(group, &users));
    }
}
