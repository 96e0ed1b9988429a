//! Where an integration's webhook token is kept: the random token Personio sends back in the
//! `Authorization` header of every delivery. A secret like the API credentials, kept next to
//! them (Secrets Manager on AWS), but written only by the webhook set-up and read only by the
//! receiver.

use super::CredentialsError;
use crate::domain::IntegrationId;
use crate::secret::Secret;
use async_trait::async_trait;

#[async_trait]
pub trait WebhookTokens: Send + Sync {
    /// The integration's current token; `Ok(None)` when no webhook is installed.
    async fn webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Secret>, CredentialsError>;

    /// The token again, read from the store itself, not from a cache: the receiver asks once
    /// when a delivery's token does not match the cached one (the webhook was installed again
    /// with a new token). The default has no cache to bypass.
    async fn fresh_webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Secret>, CredentialsError> {
        self.webhook_token(integration).await
    }

    /// Stores (or replaces) the token.
    async fn put_webhook_token(
        &self,
        integration: &IntegrationId,
        token: &Secret,
    ) -> Result<(), CredentialsError>;

    /// Removes the token (nothing to remove is success).
    async fn delete_webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError>;
}

/// Tokens in memory: tests, and hosts that keep them elsewhere and load them at start.
#[derive(Clone, Default)]
pub struct MemoryWebhookTokens {
    tokens: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<IntegrationId, Secret>>>,
}

impl MemoryWebhookTokens {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<IntegrationId, Secret>> {
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl WebhookTokens for MemoryWebhookTokens {
    async fn webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Secret>, CredentialsError> {
        Ok(self.lock().get(integration).cloned())
    }

    async fn put_webhook_token(
        &self,
        integration: &IntegrationId,
        token: &Secret,
    ) -> Result<(), CredentialsError> {
        self.lock().insert(integration.clone(), token.clone());
        Ok(())
    }

    async fn delete_webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        self.lock().remove(integration);
        Ok(())
    }
}
