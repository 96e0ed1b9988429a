//! Webhook tokens in AWS Secrets Manager: one secret per integration next to its credentials
//! (`{credentials secret}/webhook-token`, a JSON object `{"webhook_token"}`), written by the
//! webhook set-up and read by the receiver, which caches it for a few minutes (and reads it
//! again once when a delivery's token does not match, see `app::webhook_receiver`).

use super::{AwsFailure, classify};
use crate::domain::IntegrationId;
use crate::ports::{CredentialsError, WebhookTokens};
use crate::secret::Secret;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a token read is reused by a warm receiver.
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(5 * 60);

const NOT_FOUND: &str = "ResourceNotFoundException";
const ALREADY_EXISTS: &str = "ResourceExistsException";
/// A secret scheduled for deletion cannot be written until it is restored.
const INVALID_REQUEST: &str = "InvalidRequestException";

pub struct SecretsManagerWebhookTokens {
    client: Client,
    /// The integration credentials' name pattern (`{integration_id}` in it).
    name_pattern: String,
    cache_ttl: Duration,
    cache: Mutex<HashMap<IntegrationId, (Instant, Option<Secret>)>>,
}

impl SecretsManagerWebhookTokens {
    /// `credentials_name_pattern` names the credentials' secrets (e.g.
    /// `personio-lms/{integration_id}`); the token's secret is that name + `/webhook-token`.
    pub fn new(client: Client, credentials_name_pattern: impl Into<String>) -> Self {
        Self {
            client,
            name_pattern: credentials_name_pattern.into(),
            cache_ttl: DEFAULT_TOKEN_CACHE_TTL,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    pub fn secret_name(&self, integration: &IntegrationId) -> String {
        format!(
            "{}/webhook-token",
            self.name_pattern
                .replace("{integration_id}", integration.as_str())
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IntegrationId, (Instant, Option<Secret>)>> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn read(&self, integration: &IntegrationId) -> Result<Option<Secret>, CredentialsError> {
        let name = self.secret_name(integration);
        let token = match self.client.get_secret_value().secret_id(&name).send().await {
            Ok(output) => {
                let text = output.secret_string().unwrap_or_default();
                Some(
                    parse_token(text).map_err(|reason| CredentialsError::Malformed {
                        integration: integration.clone(),
                        reason: format!("secret {name}: {reason}"),
                    })?,
                )
            }
            Err(error) => match classify(&error) {
                failure if failure.is_code(NOT_FOUND) => None,
                failure => return Err(failure_of(integration, &name, &failure)),
            },
        };
        self.lock()
            .insert(integration.clone(), (Instant::now(), token.clone()));
        Ok(token)
    }

    async fn write(&self, name: &str, payload: &str) -> Result<(), AwsFailure> {
        let updated = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(payload)
            .send()
            .await;
        let Err(error) = updated else {
            return Ok(());
        };
        match classify(&error) {
            failure if failure.is_code(NOT_FOUND) => {}
            failure if failure.is_code(INVALID_REQUEST) => {
                // Scheduled for deletion by an earlier `webhooks remove`: restore, then write.
                self.client
                    .restore_secret()
                    .secret_id(name)
                    .send()
                    .await
                    .map_err(|error| classify(&error))?;
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(payload)
                    .send()
                    .await
                    .map_err(|error| classify(&error))?;
                return Ok(());
            }
            failure => return Err(failure),
        }
        match self
            .client
            .create_secret()
            .name(name)
            .description("Personio webhook token of a personio-lms integration")
            .secret_string(payload)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match classify(&error) {
                failure if failure.is_code(ALREADY_EXISTS) => self
                    .client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(payload)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|error| classify(&error)),
                failure => Err(failure),
            },
        }
    }
}

#[async_trait]
impl WebhookTokens for SecretsManagerWebhookTokens {
    async fn webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Secret>, CredentialsError> {
        let cached = self
            .lock()
            .get(integration)
            .filter(|(fetched, _)| fetched.elapsed() < self.cache_ttl)
            .map(|(_, token)| token.clone());
        match cached {
            Some(token) => Ok(token),
            None => self.read(integration).await,
        }
    }

    async fn fresh_webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Secret>, CredentialsError> {
        self.read(integration).await
    }

    async fn put_webhook_token(
        &self,
        integration: &IntegrationId,
        token: &Secret,
    ) -> Result<(), CredentialsError> {
        let name = self.secret_name(integration);
        // The one place the token is written out: the payload of the secret itself.
        let payload = serde_json::json!({ "webhook_token": token.expose() }).to_string();
        self.write(&name, &payload)
            .await
            .map_err(|failure| failure_of(integration, &name, &failure))?;
        self.lock()
            .insert(integration.clone(), (Instant::now(), Some(token.clone())));
        tracing::info!(%integration, secret = %name, "stored the webhook token");
        Ok(())
    }

    async fn delete_webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        let name = self.secret_name(integration);
        // No recovery window: a removed webhook's token has no use, and a new install makes a
        // new one.
        let deleted = self
            .client
            .delete_secret()
            .secret_id(&name)
            .force_delete_without_recovery(true)
            .send()
            .await;
        if let Err(error) = deleted {
            match classify(&error) {
                failure if failure.is_code(NOT_FOUND) => {}
                failure => return Err(failure_of(integration, &name, &failure)),
            }
        }
        self.lock()
            .insert(integration.clone(), (Instant::now(), None));
        Ok(())
    }
}

/// The token from the secret's JSON; a failure names the field, never the text.
fn parse_token(text: &str) -> Result<Secret, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "not a JSON object".to_owned())?;
    match value.get("webhook_token") {
        Some(serde_json::Value::String(token)) if !token.is_empty() => {
            Ok(Secret::new(token.clone()))
        }
        Some(_) => Err("field `webhook_token` is empty or not a string".to_owned()),
        None => Err("field `webhook_token` is missing".to_owned()),
    }
}

fn failure_of(integration: &IntegrationId, name: &str, failure: &AwsFailure) -> CredentialsError {
    tracing::warn!(%integration, secret = %name, error = %failure, "Secrets Manager call failed");
    CredentialsError::Unavailable(format!("Secrets Manager, secret {name}: {failure}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_without_quoting_the_secret() {
        assert_eq!(
            parse_token(r#"{"webhook_token":"t0k"}"#).unwrap().expose(),
            "t0k"
        );
        for bad in [r#"{"webhook_token":""}"#, r#"{"other":"t0k"}"#, "t0k"] {
            let reason = parse_token(bad).err().unwrap_or_default();
            assert!(!reason.is_empty() && !reason.contains("t0k"), "{reason}");
        }
    }
}
