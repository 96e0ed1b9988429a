//! The HR system's webhooks (Personio v2 `/v2/webhooks`): registering the integration's receiver,
//! reading it back, its delivery activity, removing it. Kept apart from [`super::HrSource`]
//! because only the set-up (`personio-lms webhooks`, the admin API) manages webhooks; the sync
//! never does.

use super::HrError;
use crate::retry::Deadline;
use crate::secret::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The events the integration subscribes to: every person and employment event Personio
/// documents. Payloads carry only ids; the receiver reads the employee again.
pub const SUBSCRIBED_EVENTS: &[&str] = &[
    "person.created",
    "person.updated",
    "person.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
    "employment.started",
    "employment.terminated",
];

/// What the integration registers: its receiver's URL and the token Personio sends back in the
/// `Authorization` header (auth type `TOKEN`), enabled (Personio's default is disabled).
#[derive(Clone, Debug)]
pub struct WebhookRegistration {
    pub url: String,
    pub description: String,
    pub enabled_events: Vec<String>,
    pub token: Secret,
}

/// A webhook as Personio shows it (never with its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredWebhook {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// `ENABLED` or `DISABLED`.
    pub status: String,
    /// `NONE`, `TOKEN` or `CUSTOM`.
    pub auth_type: String,
    #[serde(default)]
    pub enabled_events: Vec<String>,
}

impl RegisteredWebhook {
    pub fn is_enabled(&self) -> bool {
        self.status.eq_ignore_ascii_case("ENABLED")
    }
}

/// One delivery request of a webhook (a row of its activity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub event_name: String,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// `None` when the receiver did not answer (timeout, refused connection).
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub is_delivered: bool,
    #[serde(default)]
    pub error: Option<String>,
}

#[async_trait]
pub trait HrWebhooks: Send + Sync {
    /// Every webhook of the account (all pages).
    async fn webhooks(&self, deadline: Deadline) -> Result<Vec<RegisteredWebhook>, HrError>;

    /// One webhook; `Ok(None)` when Personio does not know the id.
    async fn webhook(
        &self,
        id: &str,
        deadline: Deadline,
    ) -> Result<Option<RegisteredWebhook>, HrError>;

    /// Registers a new webhook, enabled, with token authentication.
    async fn create_webhook(
        &self,
        registration: &WebhookRegistration,
        deadline: Deadline,
    ) -> Result<RegisteredWebhook, HrError>;

    /// Sets an existing webhook to `registration` (URL, events, a new token), enabled.
    async fn update_webhook(
        &self,
        id: &str,
        registration: &WebhookRegistration,
        deadline: Deadline,
    ) -> Result<RegisteredWebhook, HrError>;

    /// Deletes a webhook; `Ok(false)` when it was not there (already deleted).
    async fn delete_webhook(&self, id: &str, deadline: Deadline) -> Result<bool, HrError>;

    /// The webhook's delivery requests completed since `since`, oldest first (all pages).
    async fn webhook_activity(
        &self,
        id: &str,
        since: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Vec<WebhookDelivery>, HrError>;
}
