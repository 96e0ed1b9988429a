//! Groups: found by name (never created), listed, members added many at a time.

use super::ScimLms;
use super::counts::RequestKind;
use super::document::{add_members_patch_body, add_members_to_document};
use super::name_missing;
use super::resources::{equality_filter, group_member_ids, lms_group_from};
use crate::domain::lms::{LmsGroup, LmsGroupId, LmsUserId};
use crate::ports::LmsError;
use crate::retry::Deadline;
use reqwest::Method;
use serde_json::Value;
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

    /// Adds `users` in one PATCH (or GET and PUT of the group without PATCH).
    pub(super) async fn add_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
        deadline: Deadline,
    ) -> Result<(), LmsError> {
        if users.is_empty() {
            return Ok(());
        }
        let capabilities = self.discovered(deadline).await?;
        let url = self.http.url(&capabilities.groups_endpoint, &[&group.0]);
        let added = if self.patch_usable(capabilities) {
            let body = add_members_patch_body(users);
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
                // Some servers refuse a member they already have; that is the wanted state.
                Err(LmsError::Conflict { detail }) if users.len() == 1 => {
                    tracing::debug!(group_id = %group, %detail, "already a member");
                    Ok(())
                }
                // A batch with one member already in: add the rest one by one.
                Err(LmsError::Conflict { .. }) => {
                    for user in users {
                        Box::pin(self.add_members(group, std::slice::from_ref(user), deadline))
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
            if add_members_to_document(&mut document, users) {
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
        added.map_err(|error| name_missing(error, || format!("group {group}")))
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
