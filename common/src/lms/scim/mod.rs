//! SCIM 2.0 (RFC 7643/7644) learning platform client: the `LearningPlatform` adapter.
//!
//! The server is asked once per client what it supports (`/ServiceProviderConfig`,
//! `/ResourceTypes`, `/Schemas`; RFC 7643's defaults where it does not say); that decides PATCH or
//! GET-then-PUT for updates, bulk, and where each field of the settings' attribute mapping goes
//! (`docs/scim-extension.md`). What a server turns out not to do despite its documents (a PATCH
//! shape it refuses, a filter on `externalId` it cannot run, a bulk endpoint that is not there) is
//! learnt on the first refusal and not tried again by the same client.

mod bulk;
mod counts;
mod defaults;
mod discovery;
mod document;
mod groups;
mod http;
mod mapping;
#[cfg(test)]
mod redirect_tests;
mod resources;
mod throttle;
mod users;

pub use counts::{RequestCounts, RequestKind};
pub use discovery::{
    BulkLimits, CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA,
    ServerCapabilities,
};

use crate::domain::lms::{LmsGroup, LmsGroupId, LmsUser, LmsUserId};
use crate::domain::run;
use crate::domain::settings::AttributeMapping;
use crate::net::NetworkPolicy;
use crate::ports::{LearningPlatform, ListedUser, LmsError, LmsFeatures, MappingReport, UserWrite};
use crate::retry::{Backoff, Deadline};
use crate::secret::Secret;
use async_trait::async_trait;
use groups::Membership;
use http::ScimHttp;
use reqwest::Method;
use resources::listed_resources;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Resources asked for per lookup page (the server may cap it lower).
    pub page_size: usize,
    /// Which addresses the client may reach (set from the host's policy in `crate::app::connect`).
    /// Redirects are never followed, whatever the policy: the token goes to this base URL only.
    pub network: NetworkPolicy,
    /// Resources asked for per listing page, unless the server's `filter.maxResults` is lower.
    pub listing_page_size: usize,
    /// The most requests in flight at once; 429s lower it for a while.
    pub max_in_flight: usize,
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
            listing_page_size: 1000,
            max_in_flight: 64,
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

/// What the server turned out not to do, learnt from its refusals.
#[derive(Default)]
struct Learnt {
    /// `filter=externalId eq …` is refused: users are found by userName or by listing.
    external_id_filter_refused: AtomicBool,
    /// PATCH is refused (501/405, or the shapes the adapter sends): updates GET and PUT.
    patch_refused: AtomicBool,
    /// `/Bulk` is not there: writes go one by one.
    bulk_refused: AtomicBool,
}

/// The SCIM learning platform. Cheap to share (`Arc`); one HTTP client and one discovery per
/// instance.
pub struct ScimLms {
    http: ScimHttp,
    capabilities: OnceCell<ServerCapabilities>,
    learnt: Learnt,
    call_budget: Duration,
    invocation_deadline: Option<Deadline>,
    page_size: usize,
    listing_page_size: usize,
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
                config.max_in_flight,
            ),
            capabilities: OnceCell::new(),
            learnt: Learnt::default(),
            call_budget: config.call_budget,
            invocation_deadline: None,
            page_size: config.page_size.max(1),
            listing_page_size: config.listing_page_size.max(1),
        })
    }

    /// Bounds every call by `deadline` too (a Lambda invocation's end), besides the call budget.
    pub fn bounded_by(mut self, deadline: Deadline) -> Self {
        self.invocation_deadline = Some(deadline);
        self
    }

    /// The requests sent so far, by what each was for (the protocol accounting; a run's
    /// record counts them by HTTP kind, [`LearningPlatform::request_counts`]).
    pub fn scim_request_counts(&self) -> RequestCounts {
        self.http.counter().snapshot()
    }

    /// How many 429s the server answered so far.
    pub fn throttled_count(&self) -> u64 {
        self.http.throttle().throttled_count()
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
                let listed = |document: Option<Value>| {
                    document
                        .map(listed_resources)
                        .transpose()
                        .map_err(LmsError::Malformed)
                };
                let resource_types = listed(resource_types)?;
                let schemas = listed(schemas)?;
                let capabilities = ServerCapabilities::from_discovery(
                    config.as_ref(),
                    resource_types.as_deref(),
                    schemas.as_deref(),
                )
                .map_err(LmsError::Malformed)?;
                tracing::info!(
                    patch = capabilities.patch_supported,
                    filter = capabilities.filter_supported,
                    bulk = ?capabilities.bulk,
                    enterprise = capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA),
                    personio_lms = capabilities.user_extension_advertised(PERSONIO_LMS_USER_SCHEMA),
                    "SCIM server discovered"
                );
                for warning in &capabilities.warnings {
                    tracing::warn!("{warning}");
                }
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
        match self
            .http
            .send(
                RequestKind::Discovery,
                Method::GET,
                url,
                &[],
                None,
                deadline,
            )
            .await
        {
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

    fn patch_usable(&self, capabilities: &ServerCapabilities) -> bool {
        capabilities.patch_supported && !self.learnt.patch_refused.load(Ordering::Relaxed)
    }

    /// The bulk limits when bulk can carry this server's writes (PATCH is needed for updates).
    fn bulk_usable(&self, capabilities: &ServerCapabilities) -> Option<BulkLimits> {
        capabilities
            .bulk
            .filter(|_| self.patch_usable(capabilities))
            .filter(|_| !self.learnt.bulk_refused.load(Ordering::Relaxed))
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

#[async_trait]
impl LearningPlatform for ScimLms {
    fn request_counts(&self) -> run::RequestCounts {
        self.http.counters().snapshot()
    }

    async fn features(&self) -> Result<LmsFeatures, LmsError> {
        let capabilities = self.capabilities().await?;
        Ok(LmsFeatures {
            batch_size: self
                .bulk_usable(capabilities)
                .map(|bulk| bulk.max_operations),
            listing: true,
            page_size: self.listing_count(capabilities),
            email_changes_by_hand: capabilities.email_changes_by_hand(),
        })
    }

    async fn describe_mapping(
        &self,
        mapping: &AttributeMapping,
    ) -> Result<MappingReport, LmsError> {
        let capabilities = self.capabilities().await?;
        let mut report = mapping::resolve(mapping, capabilities).report;
        if !capabilities.patch_supported {
            report.warnings.push(
                "the LMS takes no PATCH: each update reads the user and writes it back (PUT)"
                    .to_owned(),
            );
        }
        if capabilities.email_changes_by_hand() {
            report.warnings.push(
                "the LMS keys users by email (userName cannot change): an email change in \
                 Personio has to be made in the LMS by hand; the run reports each one"
                    .to_owned(),
            );
        }
        Ok(report)
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
        match self
            .http
            .send(RequestKind::UserRead, Method::GET, url, &[], None, deadline)
            .await
        {
            Ok(response) => {
                let document = response.body.ok_or_else(|| {
                    LmsError::Malformed("an empty response to a user read".into())
                })?;
                resources::lms_user_from(&document)
                    .map(Some)
                    .map_err(LmsError::Malformed)
            }
            Err(LmsError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<LmsUser>, LmsError> {
        self.user_by_email(email, self.call_deadline()).await
    }

    async fn list_users(
        &self,
        synced: Option<&AttributeMapping>,
    ) -> Result<Vec<ListedUser>, LmsError> {
        self.listed_users(synced.is_some(), self.call_deadline())
            .await
    }

    async fn drift(
        &self,
        listed: &ListedUser,
        write: &UserWrite<'_>,
    ) -> Result<Vec<String>, LmsError> {
        let deadline = self.call_deadline();
        let attributes = self
            .attributes_for(write, document::Purpose::Update, deadline)
            .await?;
        Ok(document::drifted(&listed.document, &attributes))
    }

    async fn create_user(&self, write: &UserWrite<'_>) -> Result<LmsUser, LmsError> {
        self.create(write, self.call_deadline()).await
    }

    async fn update_user(&self, id: &LmsUserId, write: &UserWrite<'_>) -> Result<(), LmsError> {
        let deadline = self.call_deadline();
        let attributes = self
            .attributes_for(write, document::Purpose::Update, deadline)
            .await?;
        self.write_user(id, &attributes, deadline).await?;
        tracing::info!(user_id = %id, "SCIM user updated");
        Ok(())
    }

    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError> {
        self.write_user(id, &users::deactivation(), self.call_deadline())
            .await?;
        tracing::info!(user_id = %id, "SCIM user deactivated");
        Ok(())
    }

    async fn write_batch(
        &self,
        writes: &[UserWrite<'_>],
    ) -> Result<Vec<Result<LmsUser, LmsError>>, LmsError> {
        self.bulk_write(writes, self.call_deadline()).await
    }

    async fn find_group(&self, name: &str) -> Result<Option<LmsGroup>, LmsError> {
        self.group_named(name, self.call_deadline()).await
    }

    async fn list_groups(&self) -> Result<Option<Vec<LmsGroup>>, LmsError> {
        self.listed_groups(self.call_deadline()).await.map(Some)
    }

    async fn add_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.change_members(group, users, Membership::Add, self.call_deadline())
            .await
    }

    async fn remove_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.change_members(group, users, Membership::Remove, self.call_deadline())
            .await
    }

    async fn group_members(&self, group: &LmsGroupId) -> Result<BTreeSet<LmsUserId>, LmsError> {
        self.members_of(group, self.call_deadline()).await
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
}
