//! Users: finding one, listing all, creating and writing the synced attributes.

use super::counts::RequestKind;
use super::discovery::{CORE_USER_SCHEMA, ServerCapabilities};
use super::document::{
    Purpose, SyncedAttribute, SyncedValue, create_body, patch_body, replacement_document,
    synced_attributes,
};
use super::mapping;
use super::resources::{ListResponse, equality_filter, lms_user_from};
use super::{ScimLms, name_missing, same_email};
use crate::domain::lms::{LmsUser, LmsUserId};
use crate::ports::{ListedUser, LmsError, UserWrite, WriteKind};
use crate::retry::Deadline;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::Ordering;
use url::Url;

/// What a listing without the synced attributes asks for: enough to identify a user.
const IDENTITY_ATTRIBUTES: &str = "externalId,userName,emails,active";

/// The one attribute a deactivation writes.
pub fn deactivation() -> Vec<SyncedAttribute> {
    vec![SyncedAttribute {
        schema: CORE_USER_SCHEMA.to_owned(),
        path: "active".into(),
        value: SyncedValue::Set(Value::Bool(false)),
        label: "active".into(),
    }]
}

/// A refused filter (RFC 7644 §3.12 `invalidFilter`, or a plain 400/501 to a filtered search).
fn filter_refused(error: &LmsError) -> bool {
    matches!(
        error,
        LmsError::Rejected {
            status: 400 | 403 | 501,
            ..
        }
    )
}

impl ScimLms {
    /// Results per listing page: the configured size, capped by the server's `maxResults`.
    pub(super) fn listing_count(&self, capabilities: &ServerCapabilities) -> usize {
        capabilities
            .max_results
            .map_or(self.listing_page_size, |max| {
                max.min(self.listing_page_size)
            })
    }

    /// Pages through the resources at `endpoint` matching `filter` (all of them when there is no
    /// filter or the server cannot filter), handing each to `visit` until it returns `true`.
    /// Resources the adapter cannot read are skipped by `visit`.
    // The listing's parts, each a plain value: a struct for them would only be unpacked again.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn page_through(
        &self,
        kind: RequestKind,
        endpoint: &str,
        filter: Option<&str>,
        attributes: Option<&str>,
        count: usize,
        deadline: Deadline,
        mut visit: impl FnMut(Value) -> bool,
    ) -> Result<(), LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let mut start_index = 1usize;
        loop {
            let mut query = vec![
                ("startIndex", start_index.to_string()),
                ("count", count.to_string()),
            ];
            if let Some(filter) = filter.filter(|_| capabilities.filter_supported) {
                query.push(("filter", filter.to_owned()));
            }
            if let Some(attributes) = attributes {
                query.push(("attributes", attributes.to_owned()));
            }
            let url = self.http.url(endpoint, &[]);
            let response = self
                .http
                .send(kind, Method::GET, url, &query, None, deadline)
                .await?;
            let page = ListResponse::deserialize(response.body.unwrap_or(Value::Null))
                .map_err(|error| LmsError::Malformed(format!("a list response: {error}")))?;
            let received = page.resources.len();
            for resource in page.resources {
                if visit(resource) {
                    return Ok(());
                }
            }
            start_index += received;
            let exhausted = match page.total_results {
                Some(total) => start_index > total,
                None => received < count,
            };
            if received == 0 || exhausted {
                return Ok(());
            }
        }
    }

    async fn find_user(
        &self,
        filter: Option<String>,
        deadline: Deadline,
        matches: impl Fn(&LmsUser) -> bool,
    ) -> Result<Option<LmsUser>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let endpoint = capabilities.users_endpoint.clone();
        let (kind, count) = match &filter {
            Some(_) => (RequestKind::UserLookup, self.page_size),
            None => (RequestKind::UserListing, self.listing_count(capabilities)),
        };
        let count = capabilities.max_results.map_or(count, |max| max.min(count));
        let mut found = None;
        self.page_through(
            kind,
            &endpoint,
            filter.as_deref(),
            None,
            count,
            deadline,
            |resource| match lms_user_from(&resource) {
                Ok(user) if matches(&user) => {
                    found = Some(user);
                    true
                }
                Ok(_) => false,
                Err(problem) => {
                    tracing::warn!(%problem, "skipping an unreadable user");
                    false
                }
            },
        )
        .await?;
        Ok(found)
    }

    pub(super) async fn user_by_external_id(
        &self,
        external_id: &str,
        deadline: Deadline,
    ) -> Result<Option<LmsUser>, LmsError> {
        let matches = |user: &LmsUser| user.external_id.as_deref() == Some(external_id);
        if !self
            .learnt
            .external_id_filter_refused
            .load(Ordering::Relaxed)
        {
            match self
                .find_user(
                    Some(equality_filter("externalId", external_id)),
                    deadline,
                    matches,
                )
                .await
            {
                Err(error) if filter_refused(&error) => {
                    tracing::warn!(%error, "the LMS cannot filter on externalId; listing users instead");
                    self.learnt
                        .external_id_filter_refused
                        .store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.find_user(None, deadline, matches).await
    }

    pub(super) async fn user_by_email(
        &self,
        email: &str,
        deadline: Deadline,
    ) -> Result<Option<LmsUser>, LmsError> {
        // RFC 7643 makes userName case-insensitive; the client checks too, as servers differ.
        self.find_user(Some(equality_filter("userName", email)), deadline, |user| {
            same_email(&user.email, email)
        })
        .await
    }

    /// Every user; `full` reads whole resources (for a comparison), else what identifies them.
    pub(super) async fn listed_users(
        &self,
        full: bool,
        deadline: Deadline,
    ) -> Result<Vec<ListedUser>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let endpoint = capabilities.users_endpoint.clone();
        let count = self.listing_count(capabilities);
        let mut users = Vec::new();
        self.page_through(
            RequestKind::UserListing,
            &endpoint,
            None,
            (!full).then_some(IDENTITY_ATTRIBUTES),
            count,
            deadline,
            |resource| {
                match lms_user_from(&resource) {
                    Ok(user) => users.push(ListedUser {
                        user,
                        document: resource,
                    }),
                    Err(problem) => tracing::warn!(%problem, "skipping an unreadable user"),
                }
                false
            },
        )
        .await?;
        tracing::info!(users = users.len(), "SCIM users listed");
        Ok(users)
    }

    /// The synced attributes of a write on this server.
    pub(super) async fn attributes_for(
        &self,
        write: &UserWrite<'_>,
        purpose: Purpose,
        deadline: Deadline,
    ) -> Result<Vec<SyncedAttribute>, LmsError> {
        if matches!(write.kind, WriteKind::Deactivate { .. }) {
            return Ok(deactivation());
        }
        let capabilities = self.discovered(deadline).await?;
        let resolved = mapping::resolve(write.mapping, capabilities);
        Ok(synced_attributes(
            write.profile,
            &write.manager,
            &resolved,
            capabilities,
            purpose,
        ))
    }

    pub(super) async fn create(
        &self,
        write: &UserWrite<'_>,
        deadline: Deadline,
    ) -> Result<LmsUser, LmsError> {
        let role = match &write.kind {
            WriteKind::Create { role } => role.as_str(),
            WriteKind::Update { id } => {
                self.write_user(
                    id,
                    &self
                        .attributes_for(write, Purpose::Update, deadline)
                        .await?,
                    deadline,
                )
                .await?;
                return Ok(user_written(id.clone(), write));
            }
            WriteKind::Deactivate { id } => {
                self.write_user(id, &deactivation(), deadline).await?;
                return Ok(user_written(id.clone(), write));
            }
        };
        let attributes = self
            .attributes_for(write, Purpose::Create, deadline)
            .await?;
        let capabilities = self.discovered(deadline).await?;
        let body = create_body(&attributes, role, capabilities);
        let url = self.http.url(&capabilities.users_endpoint, &[]);
        let profile = write.profile;
        match self
            .http
            .send(
                RequestKind::UserCreate,
                Method::POST,
                url,
                &[],
                Some(&body),
                deadline,
            )
            .await
        {
            Ok(response) => {
                let user = match response.body {
                    Some(created) => lms_user_from(&created).map_err(LmsError::Malformed)?,
                    None => {
                        return Err(LmsError::Malformed(
                            "an empty response to a user create".into(),
                        ));
                    }
                };
                tracing::info!(user_id = %user.id, external_id = %profile.external_id, "SCIM user created");
                Ok(user)
            }
            Err(LmsError::Conflict { detail }) => {
                // A create retried after a lost response, or a run that crashed before storing
                // its link, finds its own user: that user is the result, brought up to date.
                match self
                    .user_by_external_id(&profile.external_id, deadline)
                    .await?
                {
                    Some(existing) if same_email(&existing.email, &profile.email) => {
                        tracing::info!(user_id = %existing.id, "the user to create already exists; updating it instead");
                        let update = self
                            .attributes_for(write, Purpose::Update, deadline)
                            .await?;
                        self.write_user(&existing.id, &update, deadline).await?;
                        Ok(existing)
                    }
                    _ => Err(LmsError::Conflict { detail }),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Writes `attributes` to user `id` and nothing else: one PATCH, or GET and PUT back.
    pub(super) async fn write_user(
        &self,
        id: &LmsUserId,
        attributes: &[SyncedAttribute],
        deadline: Deadline,
    ) -> Result<(), LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let url = self.http.url(&capabilities.users_endpoint, &[&id.0]);
        let mut written = None;
        if self.patch_usable(capabilities) {
            let body = patch_body(attributes);
            match self
                .http
                .send(
                    RequestKind::UserUpdate,
                    Method::PATCH,
                    url.clone(),
                    &[],
                    Some(&body),
                    deadline,
                )
                .await
            {
                Err(error) if error.refuses_patch() => {
                    tracing::warn!(%error, "the LMS refuses the PATCH; updating with PUT from now on");
                    self.learnt.patch_refused.store(true, Ordering::Relaxed);
                }
                other => written = Some(other.map(drop)),
            }
        }
        let written = match written {
            Some(written) => written,
            None => self.put_user(url, attributes, deadline).await,
        };
        written.map_err(|error| name_missing(error, || format!("user {id}")))
    }

    async fn put_user(
        &self,
        url: Url,
        attributes: &[SyncedAttribute],
        deadline: Deadline,
    ) -> Result<(), LmsError> {
        let current = self
            .resource_document(RequestKind::UserRead, url.clone(), deadline)
            .await?;
        let body = replacement_document(current, attributes);
        self.http
            .send(
                RequestKind::UserUpdate,
                Method::PUT,
                url,
                &[],
                Some(&body),
                deadline,
            )
            .await
            .map(drop)
    }

    pub(super) async fn resource_document(
        &self,
        kind: RequestKind,
        url: Url,
        deadline: Deadline,
    ) -> Result<serde_json::Map<String, Value>, LmsError> {
        match self
            .http
            .send(kind, Method::GET, url, &[], None, deadline)
            .await?
            .body
        {
            Some(Value::Object(document)) => Ok(document),
            _ => Err(LmsError::Malformed(
                "a resource that is not a JSON object".into(),
            )),
        }
    }
}

/// The user a write leaves behind, as far as the port tells it.
pub fn user_written(id: LmsUserId, write: &UserWrite<'_>) -> LmsUser {
    LmsUser {
        id,
        external_id: Some(write.profile.external_id.clone()),
        email: write.profile.email.clone(),
        active: !matches!(write.kind, WriteKind::Deactivate { .. }) && write.profile.active,
    }
}
