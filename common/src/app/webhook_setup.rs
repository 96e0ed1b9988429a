//! Setting up an integration's Personio webhook (`personio-lms webhooks install|status|remove`,
//! the admin API's `…/webhook` routes): register the receiver's URL with a new random token,
//! show whether it is active and how its deliveries went, remove it.
//!
//! The receiver's URL is `{public_url}/webhooks/personio/{integration_id}`; the public URL is
//! where the host is reachable from Personio (the host's setting). Installing again replaces the
//! token (a webhook already registered for the URL is updated, not duplicated). The token is
//! stored before Personio learns it, so the first delivery already finds it; it is never shown.

use super::preflight::{Check, CheckStatus};
use crate::domain::IntegrationId;
use crate::ports::{
    CredentialsError, HrError, HrWebhooks, RegisteredWebhook, SUBSCRIBED_EVENTS,
    WebhookRegistration, WebhookTokens,
};
use crate::retry::Deadline;
use crate::secret::Secret;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::Serialize;

/// The description the integration's webhooks carry in Personio.
pub const WEBHOOK_DESCRIPTION: &str = "personio-lms: employee changes to the learning platform";

#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("public URL {0:?}: {1}")]
    PublicUrl(String, String),
    #[error("Personio: {0}")]
    Personio(#[from] HrError),
    #[error("the webhook token store: {0}")]
    Tokens(#[from] CredentialsError),
}

impl WebhookSetupError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::PublicUrl(..) => false,
            Self::Personio(error) => error.is_retryable(),
            Self::Tokens(error) => error.is_retryable(),
        }
    }
}

/// The receiver's URL of `integration` under the host's public URL (https; plain http only for
/// a loopback address, which only a sandbox accepts).
pub fn receiver_url(
    public_url: &str,
    integration: &IntegrationId,
) -> Result<String, WebhookSetupError> {
    let invalid =
        |reason: &str| WebhookSetupError::PublicUrl(public_url.to_owned(), reason.to_owned());
    let parsed = url::Url::parse(public_url.trim()).map_err(|error| invalid(&error.to_string()))?;
    let loopback = matches!(
        parsed.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || parsed.host_str() == Some("localhost");
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid("Personio delivers to https URLs only")),
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("must not have a query or a fragment"));
    }
    let base = parsed.as_str().trim_end_matches('/');
    Ok(format!("{base}/webhooks/personio/{}", integration.as_str()))
}

/// A new random token: 32 bytes, URL-safe base64.
pub fn new_webhook_token() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What an install did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstalledWebhook {
    pub webhook: RegisteredWebhook,
    /// An existing webhook of the same URL was updated (and its token replaced).
    pub replaced: bool,
}

/// Registers (or re-registers) the integration's webhook with a new token.
pub async fn install_webhook(
    hooks: &dyn HrWebhooks,
    tokens: &dyn WebhookTokens,
    integration: &IntegrationId,
    public_url: &str,
    deadline: Deadline,
) -> Result<InstalledWebhook, WebhookSetupError> {
    let url = receiver_url(public_url, integration)?;
    let existing = find(hooks, &url, deadline).await?;
    let token = new_webhook_token();
    tokens.put_webhook_token(integration, &token).await?;
    let registration = WebhookRegistration {
        url,
        description: WEBHOOK_DESCRIPTION.to_owned(),
        enabled_events: SUBSCRIBED_EVENTS
            .iter()
            .map(|event| (*event).to_owned())
            .collect(),
        token,
    };
    let installed = match existing {
        Some(webhook) => InstalledWebhook {
            webhook: hooks
                .update_webhook(&webhook.id, &registration, deadline)
                .await?,
            replaced: true,
        },
        None => InstalledWebhook {
            webhook: hooks.create_webhook(&registration, deadline).await?,
            replaced: false,
        },
    };
    tracing::info!(%integration, webhook = %installed.webhook.id, replaced = installed.replaced, "webhook installed");
    Ok(installed)
}

/// How the integration's webhook stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookStatus {
    /// The URL Personio should deliver to.
    pub url: String,
    /// The webhook registered for that URL, if any.
    pub webhook: Option<RegisteredWebhook>,
    /// Whether the receiver has a token to check deliveries against.
    pub token_stored: bool,
    /// Delivery requests since `since`: answered 2xx / not.
    pub delivered: usize,
    pub failed: usize,
    pub since: DateTime<Utc>,
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// The newest failed request: when, the status (none: no answer), the error.
    pub last_failure: Option<DeliveryFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryFailure {
    pub at: Option<DateTime<Utc>>,
    pub event_name: String,
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

impl WebhookStatus {
    /// Registered, enabled, and the receiver can check its token.
    pub fn is_active(&self) -> bool {
        self.token_stored
            && self
                .webhook
                .as_ref()
                .is_some_and(RegisteredWebhook::is_enabled)
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        match &self.webhook {
            None => format!("no webhook is registered in Personio for {}", self.url),
            Some(webhook) if !webhook.is_enabled() => {
                format!(
                    "the webhook {} is registered but {}",
                    webhook.id, webhook.status
                )
            }
            Some(_) if !self.token_stored => {
                "the webhook is registered but its token is not stored here: install it again"
                    .to_owned()
            }
            Some(webhook) => format!(
                "active (webhook {}): {} deliveries, {} failed since {}",
                webhook.id,
                self.delivered,
                self.failed,
                self.since.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }
}

/// The receiver's route of `integration`, whatever the host: what a webhook URL ends with.
fn route_of(integration: &IntegrationId) -> String {
    format!("/webhooks/personio/{}", integration.as_str())
}

/// Where this host receives Personio's deliveries: its token store and public URL.
#[derive(Clone, Copy)]
pub struct ReceivingHost<'a> {
    pub tokens: &'a dyn WebhookTokens,
    pub public_url: &'a str,
}

/// The `webhooks` line of a check (CLI `check`, the admin API's check). On a host that receives
/// deliveries, its own webhook and token; elsewhere (the CLI's config) the webhook registered in
/// Personio for the integration's route on any host. Never fails the check: without a webhook
/// the scheduled runs still sync, only later.
pub async fn webhook_check(
    hooks: &dyn HrWebhooks,
    integration: &IntegrationId,
    host: Option<ReceivingHost<'_>>,
    deadline: Deadline,
) -> Check {
    let since = Utc::now() - chrono::Duration::hours(24);
    let status = match host {
        Some(host) => {
            webhook_status(
                hooks,
                host.tokens,
                integration,
                host.public_url,
                since,
                deadline,
            )
            .await
        }
        None => status_of(hooks, &route_of(integration), true, since, deadline)
            .await
            .map_err(WebhookSetupError::from),
    };
    let (status, detail) = match status {
        Err(error) => (
            CheckStatus::Warning,
            format!(
                "cannot read the webhooks in Personio ({error}); the API credential needs the \
                 scope personio:webhooks:read"
            ),
        ),
        Ok(status) if status.webhook.is_none() => (
            CheckStatus::Ok,
            "none installed: changes reach the LMS with the scheduled runs (`personio-lms \
             webhooks install` on serve or the AWS stack brings them within seconds)"
                .to_owned(),
        ),
        Ok(status) if !status.is_active() || status.failed > 0 => {
            let mut detail = status.summary();
            if let Some(failure) = &status.last_failure {
                detail.push_str(&format!(
                    "; the last failed delivery ({}) got {}",
                    failure.event_name,
                    failure
                        .status_code
                        .map(|code| format!("HTTP {code}"))
                        .unwrap_or_else(|| "no answer".to_owned())
                ));
            }
            (CheckStatus::Warning, detail)
        }
        Ok(status) => (CheckStatus::Ok, status.summary()),
    };
    Check {
        name: "webhooks",
        status,
        detail,
    }
}

/// The integration's webhook and its deliveries since `since`.
pub async fn webhook_status(
    hooks: &dyn HrWebhooks,
    tokens: &dyn WebhookTokens,
    integration: &IntegrationId,
    public_url: &str,
    since: DateTime<Utc>,
    deadline: Deadline,
) -> Result<WebhookStatus, WebhookSetupError> {
    let url = receiver_url(public_url, integration)?;
    let token_stored = tokens.webhook_token(integration).await?.is_some();
    Ok(status_of(hooks, &url, token_stored, since, deadline).await?)
}

/// The webhook whose URL is `url` (or, for a route starting with `/`, ends with it) and its
/// deliveries since `since`.
async fn status_of(
    hooks: &dyn HrWebhooks,
    url: &str,
    token_stored: bool,
    since: DateTime<Utc>,
    deadline: Deadline,
) -> Result<WebhookStatus, HrError> {
    let webhook =
        hooks.webhooks(deadline).await?.into_iter().find(|webhook| {
            webhook.url == url || (url.starts_with('/') && webhook.url.ends_with(url))
        });
    let mut status = WebhookStatus {
        url: webhook
            .as_ref()
            .map_or_else(|| url.to_owned(), |webhook| webhook.url.clone()),
        webhook: webhook.clone(),
        token_stored,
        delivered: 0,
        failed: 0,
        since,
        last_delivered_at: None,
        last_failure: None,
    };
    let Some(webhook) = webhook else {
        return Ok(status);
    };
    for delivery in hooks.webhook_activity(&webhook.id, since, deadline).await? {
        if delivery.is_delivered {
            status.delivered += 1;
            status.last_delivered_at = status.last_delivered_at.max(delivery.completed_at);
        } else {
            status.failed += 1;
            status.last_failure = Some(DeliveryFailure {
                at: delivery.completed_at,
                event_name: delivery.event_name,
                status_code: delivery.status_code,
                error: delivery.error,
            });
        }
    }
    Ok(status)
}

/// Deletes the integration's webhook in Personio and its token; `false` when none was
/// registered.
pub async fn remove_webhook(
    hooks: &dyn HrWebhooks,
    tokens: &dyn WebhookTokens,
    integration: &IntegrationId,
    public_url: &str,
    deadline: Deadline,
) -> Result<bool, WebhookSetupError> {
    let url = receiver_url(public_url, integration)?;
    let removed = match find(hooks, &url, deadline).await? {
        Some(webhook) => hooks.delete_webhook(&webhook.id, deadline).await?,
        None => false,
    };
    tokens.delete_webhook_token(integration).await?;
    tracing::info!(%integration, removed, "webhook removed");
    Ok(removed)
}

async fn find(
    hooks: &dyn HrWebhooks,
    url: &str,
    deadline: Deadline,
) -> Result<Option<RegisteredWebhook>, HrError> {
    Ok(hooks
        .webhooks(deadline)
        .await?
        .into_iter()
        .find(|webhook| webhook.url == url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_urls_are_https_or_loopback_http() {
        let acme = IntegrationId::new("acme");
        assert_eq!(
            receiver_url("https://sync.example.com/", &acme).unwrap(),
            "https://sync.example.com/webhooks/personio/acme"
        );
        assert_eq!(
            receiver_url("https://api.example.com/prod", &acme).unwrap(),
            "https://api.example.com/prod/webhooks/personio/acme"
        );
        assert!(receiver_url("http://127.0.0.1:8080", &acme).is_ok());
        for bad in [
            "http://sync.example.com",
            "sync.example.com",
            "https://x.example/?a=1",
            "",
        ] {
            assert!(
                matches!(
                    receiver_url(bad, &acme),
                    Err(WebhookSetupError::PublicUrl(..))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let (a, b) = (new_webhook_token(), new_webhook_token());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        );
    }
}
