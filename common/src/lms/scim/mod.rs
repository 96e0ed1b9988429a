//! SCIM 2.0 (RFC 7643/7644) learning platform client: the `LearningPlatform` adapter.
//!
//! The server is asked once per client what it supports (`/ServiceProviderConfig`,
//! `/ResourceTypes`, `/Schemas`); that decides PATCH or GET-then-PUT for updates, whether the
//! enterprise extension and the project's own extension (`docs/scim-extension.md`) are sent, and
//! which attributes the server lets clients write.

mod discovery;
mod document;
mod http;
#[cfg(test)]
mod redirect_tests;

pub use discovery::{
    CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA, ServerCapabilities,
};

use crate::domain::lms::{LmsGroup, LmsGroupId, LmsProfile, LmsUser, LmsUserId};
use crate::domain::run::RequestCounts;
use crate::net::NetworkPolicy;
use crate::ports::{LearningPlatform, LmsError};
use crate::retry::{Backoff, Deadline};
use crate::secret::Secret;
use async_trait::async_trait;
use document::{
    SyncedAttribute, SyncedValue, add_member_patch_body, add_member_to_document, create_body,
    equality_filter, lms_group_from, lms_user_from, patch_body, remove_member_from_document,
    remove_member_patch_body, replacement_document, synced_attributes,
};
use http::ScimHttp;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::OnceCell;
use url::Url;

/// How to reach one SCIM server.
#[derive(Clone, Debug)]
pub struct ScimConfig {
    /// The URL the resource endpoints hang off (`https://lms.example/scim/v2`). Which URLs an
    /// integration may use (https; plain http to loopback where the host allows it) is decided
    /// where integrations are connected, `crate::app::connect`.
    pub base_url: String,
    pub token: Secret,
    /// Timeout of one HTTP request (connecting included).
    pub timeout: Duration,
    /// Retries of 429, 5xx, timeouts and transport errors.
    pub backoff: Backoff,
    /// How long one port call (with its retries and the lookups it needs) may take in all.
    pub call_budget: Duration,
    /// Resources asked for per list page (the server may cap it lower).
    pub page_size: usize,
    /// Which addresses the client may reach (set from the host's policy in `crate::app::connect`).
    /// Redirects are never followed, whatever the policy: the token goes to this base URL only.
    pub network: NetworkPolicy,
}

impl ScimConfig {
    pub fn new(base_url: impl Into<String>, token: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            timeout: Duration::from_secs(20),
            backoff: Backoff::default(),
            call_budget: Duration::from_secs(120),
            page_size: 100,
            network: NetworkPolicy::LOCAL,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScimSetupError {
    #[error("the SCIM base URL is not a valid URL: {0}")]
    InvalidBaseUrl(#[from] url::ParseError),
    #[error("the SCIM base URL cannot take resource paths")]
    NotABaseUrl,
    #[error("the HTTP client cannot be built: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// The SCIM learning platform. Cheap to share (`Arc`); one HTTP client and one discovery per
/// instance.
pub struct ScimLms {
    http: ScimHttp,
    capabilities: OnceCell<ServerCapabilities>,
    call_budget: Duration,
    invocation_deadline: Option<Deadline>,
    page_size: usize,
}

impl ScimLms {
    pub fn new(config: ScimConfig) -> Result<Self, ScimSetupError> {
        let base_url = Url::parse(config.base_url.trim())?;
        if base_url.cannot_be_a_base() {
            return Err(ScimSetupError::NotABaseUrl);
        }
        let client = crate::net::client_builder(config.network)
            .connect_timeout(config.timeout)
            .user_agent(concat!("personio-lms-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http: ScimHttp::new(
                client,
                base_url,
                config.token,
                config.timeout,
                config.backoff,
            ),
            capabilities: OnceCell::new(),
            call_budget: config.call_budget,
            invocation_deadline: None,
            page_size: config.page_size.max(1),
        })
    }

    /// Bounds every call by `deadline` too (a Lambda invocation's end), besides the call budget.
    pub fn bounded_by(mut self, deadline: Deadline) -> Self {
        self.invocation_deadline = Some(deadline);
        self
    }

    fn call_deadline(&self) -> Deadline {
        let budget = Deadline::after(self.call_budget);
        self.invocation_deadline
            .map_or(budget, |invocation| invocation.min(budget))
    }

    /// What the server supports, asked on first use. A failed discovery is not cached: the next
    /// call asks again.
    pub async fn capabilities(&self) -> Result<&ServerCapabilities, LmsError> {
        self.discovered(self.call_deadline()).await
    }

    async fn discovered(&self, deadline: Deadline) -> Result<&ServerCapabilities, LmsError> {
        self.capabilities
            .get_or_try_init(|| async {
                let config = self
                    .discovery_document("ServiceProviderConfig", deadline)
                    .await?;
                let resource_types = self.discovery_document("ResourceTypes", deadline).await?;
                let schemas = self.discovery_document("Schemas", deadline).await?;
                let resource_types = resource_types.map(listed_resources).transpose()?;
                let schemas = schemas.map(listed_resources).transpose()?;
                let capabilities = ServerCapabilities::from_discovery(
                    config.as_ref(),
                    resource_types.as_deref(),
                    schemas.as_deref(),
                )
                .map_err(LmsError::Malformed)?;
                tracing::info!(
                    patch = capabilities.patch_supported,
                    filter = capabilities.filter_supported,
                    enterprise = capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA),
                    personio_lms = capabilities.user_extension_advertised(PERSONIO_LMS_USER_SCHEMA),
                    "SCIM server discovered"
                );
                Ok(capabilities)
            })
            .await
    }

    /// A discovery document, or `None` when the server does not serve it.
    async fn discovery_document(
        &self,
        endpoint: &str,
        deadline: Deadline,
    ) -> Result<Option<Value>, LmsError> {
        let url = self.http.url(endpoint, &[]);
        match self.http.send(Method::GET, url, &[], None, deadline).await {
            Ok(response) => Ok(response.body),
            Err(LmsError::NotFound { .. } | LmsError::Rejected { status: 501, .. }) => {
                tracing::warn!(
                    endpoint,
                    "the SCIM server does not serve a discovery document"
                );
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Pages through the resources at `endpoint` matching `filter` (all of them when the server
    /// cannot filter) until `pick` accepts one. Resources the adapter cannot read are skipped:
    /// they cannot be the one asked for.
    async fn find_resource<T>(
        &self,
        endpoint: &str,
        filter: String,
        attributes: Option<&str>,
        deadline: Deadline,
        pick: impl Fn(&Value) -> Result<Option<T>, String>,
    ) -> Result<Option<T>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let count = capabilities
            .max_results
            .map_or(self.page_size, |max| max.min(self.page_size));
        let mut start_index = 1usize;
        loop {
            let mut query = vec![
                ("startIndex", start_index.to_string()),
                ("count", count.to_string()),
            ];
            if capabilities.filter_supported {
                query.push(("filter", filter.clone()));
            }
            if let Some(attributes) = attributes {
                query.push(("attributes", attributes.to_owned()));
            }
            let url = self.http.url(endpoint, &[]);
            let response = self
                .http
                .send(Method::GET, url, &query, None, deadline)
                .await?;
            let page = ListResponse::deserialize(response.body.unwrap_or(Value::Null))
                .map_err(|error| LmsError::Malformed(format!("a list response: {error}")))?;
            for resource in &page.resources {
                match pick(resource) {
                    Ok(Some(found)) => return Ok(Some(found)),
                    Ok(None) => {}
                    Err(problem) => {
                        tracing::warn!(endpoint, %problem, "skipping an unreadable resource")
                    }
                }
            }
            let received = page.resources.len();
            start_index += received;
            let exhausted = match page.total_results {
                Some(total) => start_index > total,
                None => received < count,
            };
            if received == 0 || exhausted {
                return Ok(None);
            }
        }
    }

    async fn find_user(
        &self,
        attribute: &str,
        value: &str,
        deadline: Deadline,
        matches: impl Fn(&LmsUser) -> bool,
    ) -> Result<Option<LmsUser>, LmsError> {
        let endpoint = self.discovered(deadline).await?.users_endpoint.clone();
        self.find_resource(
            &endpoint,
            equality_filter(attribute, value),
            None,
            deadline,
            |resource| lms_user_from(resource).map(|user| matches(&user).then_some(user)),
        )
        .await
    }

    async fn user_by_external_id(
        &self,
        external_id: &str,
        deadline: Deadline,
    ) -> Result<Option<LmsUser>, LmsError> {
        self.find_user("externalId", external_id, deadline, |user| {
            user.external_id.as_deref() == Some(external_id)
        })
        .await
    }

    /// The manager's SCIM id, when the server takes managers and the manager has an account.
    async fn manager_id(
        &self,
        profile: &LmsProfile,
        deadline: Deadline,
    ) -> Result<Option<String>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        if !capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA)
            || !capabilities.writable(ENTERPRISE_USER_SCHEMA, "manager.value")
        {
            return Ok(None);
        }
        let Some(manager_external_id) = profile
            .manager
            .as_ref()
            .and_then(|manager| manager.personio_id.as_deref())
            .filter(|id| !id.is_empty() && *id != profile.external_id)
        else {
            return Ok(None);
        };
        let manager = self
            .user_by_external_id(manager_external_id, deadline)
            .await?;
        if manager.is_none() {
            tracing::debug!(manager_external_id, "the manager has no account (yet)");
        }
        Ok(manager.map(|manager| manager.id.0))
    }

    async fn synced_attributes_of(
        &self,
        profile: &LmsProfile,
        deadline: Deadline,
    ) -> Result<Vec<SyncedAttribute>, LmsError> {
        let manager_id = self.manager_id(profile, deadline).await?;
        let capabilities = self.discovered(deadline).await?;
        Ok(synced_attributes(
            profile,
            manager_id.as_deref(),
            capabilities,
        ))
    }

    /// Writes `attributes` to user `id` and nothing else: one PATCH, or GET and PUT back.
    async fn write_user(
        &self,
        id: &LmsUserId,
        attributes: &[SyncedAttribute],
        deadline: Deadline,
    ) -> Result<(), LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let url = self.http.url(&capabilities.users_endpoint, &[&id.0]);
        let written = if capabilities.patch_supported {
            let body = patch_body(attributes);
            self.http
                .send(Method::PATCH, url, &[], Some(&body), deadline)
                .await
        } else {
            let current = self.resource_document(url.clone(), deadline).await?;
            let body = replacement_document(current, attributes);
            self.http
                .send(Method::PUT, url, &[], Some(&body), deadline)
                .await
        };
        written
            .map(drop)
            .map_err(|error| name_missing(error, || format!("user {id}")))
    }

    /// Changes the members without PATCH: GET the group, `edit` its document (false: nothing to
    /// change), PUT it back.
    async fn edit_members_by_replacement(
        &self,
        group_url: Url,
        user: &LmsUserId,
        deadline: Deadline,
        edit: fn(&mut serde_json::Map<String, Value>, &LmsUserId) -> bool,
    ) -> Result<(), LmsError> {
        let mut group = self.resource_document(group_url.clone(), deadline).await?;
        if !edit(&mut group, user) {
            return Ok(());
        }
        let body = Value::Object(group);
        self.http
            .send(Method::PUT, group_url, &[], Some(&body), deadline)
            .await
            .map(drop)
    }

    async fn resource_document(
        &self,
        url: Url,
        deadline: Deadline,
    ) -> Result<serde_json::Map<String, Value>, LmsError> {
        match self
            .http
            .send(Method::GET, url, &[], None, deadline)
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

/// Emails (userNames) compare case-insensitively (RFC 7643 `caseExact: false`).
fn same_email(left: &str, right: &str) -> bool {
    left.to_lowercase() == right.to_lowercase()
}

/// A 404's detail is the server's wording; the adapter knows what was missing.
fn name_missing(error: LmsError, what: impl FnOnce() -> String) -> LmsError {
    match error {
        LmsError::NotFound { .. } => LmsError::NotFound { what: what() },
        other => other,
    }
}

/// RFC 7644 §3.4.2 list response. `Resources` may be missing when there are none.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    total_results: Option<usize>,
    #[serde(rename = "Resources", alias = "resources", default)]
    resources: Vec<Value>,
}

/// The resources of a discovery listing: a list response, or (some servers) a bare array.
fn listed_resources(document: Value) -> Result<Vec<Value>, LmsError> {
    match document {
        Value::Array(resources) => Ok(resources),
        other => ListResponse::deserialize(other)
            .map(|list| list.resources)
            .map_err(|error| LmsError::Malformed(format!("a discovery listing: {error}"))),
    }
}

#[async_trait]
impl LearningPlatform for ScimLms {
    fn request_counts(&self) -> RequestCounts {
        self.http.counters().snapshot()
    }

    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<LmsUser>, LmsError> {
        self.user_by_external_id(external_id, self.call_deadline())
            .await
    }

    async fn find_user_by_id(&self, id: &LmsUserId) -> Result<Option<LmsUser>, LmsError> {
        let deadline = self.call_deadline();
        let capabilities = self.discovered(deadline).await?;
        let url = self.http.url(&capabilities.users_endpoint, &[&id.0]);
        match self.http.send(Method::GET, url, &[], None, deadline).await {
            Ok(response) => {
                let document = response.body.ok_or_else(|| {
                    LmsError::Malformed("an empty response to a user read".into())
                })?;
                lms_user_from(&document)
                    .map(Some)
                    .map_err(LmsError::Malformed)
            }
            Err(LmsError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<LmsUser>, LmsError> {
        // RFC 7643 makes userName case-insensitive; the client checks too, as servers differ.
        self.find_user("userName", email, self.call_deadline(), |user| {
            same_email(&user.email, email)
        })
        .await
    }

    async fn create_user(&self, profile: &LmsProfile, role: &str) -> Result<LmsUser, LmsError> {
        let deadline = self.call_deadline();
        let attributes = self.synced_attributes_of(profile, deadline).await?;
        let capabilities = self.discovered(deadline).await?;
        let body = create_body(&attributes, role, capabilities);
        let url = self.http.url(&capabilities.users_endpoint, &[]);
        match self
            .http
            .send(Method::POST, url, &[], Some(&body), deadline)
            .await
        {
            Ok(response) => {
                let created = response.body.ok_or_else(|| {
                    LmsError::Malformed("an empty response to a user create".into())
                })?;
                let user = lms_user_from(&created).map_err(LmsError::Malformed)?;
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
                        self.write_user(&existing.id, &attributes, deadline).await?;
                        Ok(existing)
                    }
                    _ => Err(LmsError::Conflict { detail }),
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn update_user(&self, id: &LmsUserId, profile: &LmsProfile) -> Result<(), LmsError> {
        let deadline = self.call_deadline();
        let attributes = self.synced_attributes_of(profile, deadline).await?;
        self.write_user(id, &attributes, deadline).await?;
        tracing::info!(user_id = %id, "SCIM user updated");
        Ok(())
    }

    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError> {
        let deactivation = [SyncedAttribute {
            schema: CORE_USER_SCHEMA,
            path: "active",
            value: SyncedValue::Set(Value::Bool(false)),
        }];
        self.write_user(id, &deactivation, self.call_deadline())
            .await?;
        tracing::info!(user_id = %id, "SCIM user deactivated");
        Ok(())
    }

    async fn find_group(&self, name: &str) -> Result<Option<LmsGroup>, LmsError> {
        let deadline = self.call_deadline();
        let endpoint = self.discovered(deadline).await?.groups_endpoint.clone();
        // Only the name: a group's member list can be long and is not needed here.
        self.find_resource(
            &endpoint,
            equality_filter("displayName", name),
            Some("displayName"),
            deadline,
            |resource| lms_group_from(resource).map(|group| (group.name == name).then_some(group)),
        )
        .await
    }

    async fn add_group_member(&self, group: &LmsGroupId, user: &LmsUserId) -> Result<(), LmsError> {
        self.change_membership(group, user, Membership::Add).await
    }

    async fn remove_group_member(
        &self,
        group: &LmsGroupId,
        user: &LmsUserId,
    ) -> Result<(), LmsError> {
        self.change_membership(group, user, Membership::Remove)
            .await?;
        tracing::info!(group_id = %group, user_id = %user, "SCIM group member removed");
        Ok(())
    }
}

/// A change to one membership, made the same way either way round: one PATCH, or GET and PUT
/// back where the server has no PATCH.
#[derive(Clone, Copy, Debug)]
enum Membership {
    Add,
    Remove,
}

impl Membership {
    fn patch_body(self, user: &LmsUserId) -> Value {
        match self {
            Self::Add => add_member_patch_body(user),
            Self::Remove => remove_member_patch_body(user),
        }
    }

    /// The change on a group document for a PUT; false when there is nothing to change.
    fn edit(self) -> fn(&mut serde_json::Map<String, Value>, &LmsUserId) -> bool {
        match self {
            Self::Add => add_member_to_document,
            Self::Remove => remove_member_from_document,
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

impl ScimLms {
    async fn change_membership(
        &self,
        group: &LmsGroupId,
        user: &LmsUserId,
        change: Membership,
    ) -> Result<(), LmsError> {
        let deadline = self.call_deadline();
        let capabilities = self.discovered(deadline).await?;
        let url = self.http.url(&capabilities.groups_endpoint, &[&group.0]);
        let changed = if capabilities.patch_supported {
            let body = change.patch_body(user);
            match self
                .http
                .send(Method::PATCH, url, &[], Some(&body), deadline)
                .await
            {
                Err(error) if change.already_done(&error) => {
                    tracing::debug!(group_id = %group, user_id = %user, %error, ?change, "already so");
                    Ok(())
                }
                other => other.map(drop),
            }
        } else {
            self.edit_members_by_replacement(url, user, deadline, change.edit())
                .await
        };
        changed.map_err(|error| name_missing(error, || format!("group {group}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(base_url: &str) -> Result<ScimLms, ScimSetupError> {
        ScimLms::new(ScimConfig::new(base_url, Secret::new("token")))
    }

    #[test]
    fn the_base_url_must_parse_and_take_resource_paths() {
        assert!(setup("https://lms.example/scim/v2").is_ok());
        assert!(setup("http://127.0.0.1:8080/scim/v2").is_ok());
        assert!(matches!(
            setup("lms.example/scim"),
            Err(ScimSetupError::InvalidBaseUrl(_))
        ));
        assert!(matches!(
            setup("mailto:lms@example.com"),
            Err(ScimSetupError::NotABaseUrl)
        ));
    }

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
        let body = Membership::Remove.patch_body(&LmsUserId("u\"1".into()));
        assert_eq!(
            body["Operations"][0],
            serde_json::json!({"op": "remove", "path": "members[value eq \"u\\\"1\"]"})
        );
    }

    #[test]
    fn discovery_listings_may_be_list_responses_or_arrays() {
        let listed =
            listed_resources(serde_json::json!({"totalResults": 1, "Resources": [{"id": "User"}]}))
                .expect("a list response");
        assert_eq!(listed.len(), 1);
        let bare =
            listed_resources(serde_json::json!([{"id": "a"}, {"id": "b"}])).expect("an array");
        assert_eq!(bare.len(), 2);
        assert!(listed_resources(serde_json::json!("nonsense")).is_err());
    }
}
