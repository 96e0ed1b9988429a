//! Integration credentials in AWS Secrets Manager: one secret per integration, a JSON object
//! `{"personio_client_id", "personio_client_secret", "lms_token"}` with the origins the secrets
//! were given for (`"personio_origin"`, `"scim_origin"`), cached briefly in memory so that a
//! sync run (and a warm Lambda) does not call Secrets Manager for every use.

use super::{AwsFailure, classify};
use crate::domain::IntegrationId;
use crate::ports::{Credentials, CredentialsError, CredentialsStore, IntegrationCredentials};
use crate::secret::Secret;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The secret name of an integration, `{integration_id}` replaced by its id.
pub const DEFAULT_SECRET_NAME_PATTERN: &str = "personio-lms/{integration_id}";

/// Short enough that a rotated secret is picked up within minutes, long enough that a run reads
/// it once.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// How long a deleted integration's secret can still be restored (Secrets Manager allows 7–30).
const DELETION_RECOVERY_DAYS: i64 = 7;

const NOT_FOUND: &str = "ResourceNotFoundException";
const ALREADY_EXISTS: &str = "ResourceExistsException";

pub struct SecretsManagerCredentials {
    client: Client,
    name_pattern: String,
    cache_ttl: Duration,
    cache: Mutex<HashMap<IntegrationId, CachedCredentials>>,
}

struct CachedCredentials {
    fetched_at: Instant,
    credentials: IntegrationCredentials,
}

impl SecretsManagerCredentials {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            name_pattern: DEFAULT_SECRET_NAME_PATTERN.to_owned(),
            cache_ttl: DEFAULT_CACHE_TTL,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A pattern containing `{integration_id}`, e.g. `prod/personio-lms/{integration_id}`.
    pub fn with_name_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.name_pattern = pattern.into();
        self
    }

    /// How long fetched credentials are reused; zero disables the cache.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The secret name (also accepted as `SecretId`) of an integration.
    pub fn secret_name(&self, integration: &IntegrationId) -> String {
        self.name_pattern
            .replace("{integration_id}", integration.as_str())
    }

    /// Stores an integration's credentials (creates the secret, or adds a new version to an
    /// existing one) and returns the secret's ARN, the reference the integration keeps.
    pub async fn put_credentials(
        &self,
        integration: &IntegrationId,
        credentials: &IntegrationCredentials,
    ) -> Result<String, CredentialsError> {
        let name = self.secret_name(integration);
        let payload = credentials.payload();
        let payload = payload.expose();

        let updated = self
            .client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(payload)
            .send()
            .await;
        let arn = match updated {
            Ok(output) => output.arn,
            Err(error) => match classify(&error) {
                failure if failure.is_code(NOT_FOUND) => {
                    let created = self
                        .client
                        .create_secret()
                        .name(&name)
                        .description(format!(
                            "Personio and learning-platform credentials of integration {integration}"
                        ))
                        .secret_string(payload)
                        .send()
                        .await;
                    match created {
                        Ok(output) => output.arn,
                        Err(error) => match classify(&error) {
                            // Created concurrently by another request: ours is the newer value.
                            failure if failure.is_code(ALREADY_EXISTS) => {
                                self.client
                                    .put_secret_value()
                                    .secret_id(&name)
                                    .secret_string(payload)
                                    .send()
                                    .await
                                    .map_err(|error| {
                                        store_failure(integration, &name, &classify(&error))
                                    })?
                                    .arn
                            }
                            failure => return Err(store_failure(integration, &name, &failure)),
                        },
                    }
                }
                failure => return Err(store_failure(integration, &name, &failure)),
            },
        };
        self.forget(integration);
        tracing::info!(%integration, secret = %name, "stored integration credentials");
        arn.ok_or_else(|| {
            CredentialsError::Unavailable(format!(
                "Secrets Manager stored {name} but returned no ARN"
            ))
        })
    }

    fn cached(&self, integration: &IntegrationId) -> Option<IntegrationCredentials> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(integration)
            .filter(|entry| entry.fetched_at.elapsed() < self.cache_ttl)
            .map(|entry| entry.credentials.clone())
    }

    fn remember(&self, integration: &IntegrationId, credentials: &IntegrationCredentials) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.insert(
            integration.clone(),
            CachedCredentials {
                fetched_at: Instant::now(),
                credentials: credentials.clone(),
            },
        );
    }

    fn forget(&self, integration: &IntegrationId) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.remove(integration);
    }
}

#[async_trait]
impl Credentials for SecretsManagerCredentials {
    async fn credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<IntegrationCredentials, CredentialsError> {
        if let Some(credentials) = self.cached(integration) {
            return Ok(credentials);
        }
        self.fresh_credentials(integration).await
    }

    async fn fresh_credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<IntegrationCredentials, CredentialsError> {
        let name = self.secret_name(integration);
        let output = self
            .client
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .map_err(|error| match classify(&error) {
                failure if failure.is_code(NOT_FOUND) => {
                    CredentialsError::Missing(integration.clone())
                }
                failure => store_failure(integration, &name, &failure),
            })?;
        let Some(text) = output.secret_string() else {
            return Err(CredentialsError::Malformed {
                integration: integration.clone(),
                reason: format!("secret {name} holds binary data, not a JSON object"),
            });
        };
        let credentials =
            parse_credentials(text).map_err(|reason| CredentialsError::Malformed {
                integration: integration.clone(),
                reason: format!("secret {name}: {reason}"),
            })?;
        self.remember(integration, &credentials);
        Ok(credentials)
    }
}

#[async_trait]
impl CredentialsStore for SecretsManagerCredentials {
    async fn put_credentials(
        &self,
        integration: &IntegrationId,
        credentials: &IntegrationCredentials,
    ) -> Result<String, CredentialsError> {
        // The inherent method: this impl only makes it reachable through the port.
        SecretsManagerCredentials::put_credentials(self, integration, credentials).await
    }

    async fn delete_credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        let name = self.secret_name(integration);
        // Scheduled with Secrets Manager's recovery window rather than deleted at once: an
        // integration deleted by mistake can get its secret back for a week.
        let deleted = self
            .client
            .delete_secret()
            .secret_id(&name)
            .recovery_window_in_days(DELETION_RECOVERY_DAYS)
            .send()
            .await;
        if let Err(error) = deleted {
            match classify(&error) {
                failure if failure.is_code(NOT_FOUND) => {}
                failure => return Err(store_failure(integration, &name, &failure)),
            }
        }
        self.forget(integration);
        tracing::info!(%integration, secret = %name, "integration credentials scheduled for deletion");
        Ok(())
    }
}

/// Parses the secret's JSON. The reason of a failure names fields and positions only, never the
/// text: serde's own messages can quote the offending value, which here would be a secret.
fn parse_credentials(text: &str) -> Result<IntegrationCredentials, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        format!(
            "not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        )
    })?;
    let object = value
        .as_object()
        .ok_or_else(|| "not a JSON object".to_owned())?;
    let field = |name: &str| -> Result<String, String> {
        match object.get(name) {
            Some(serde_json::Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(serde_json::Value::String(_)) => Err(format!("field `{name}` is empty")),
            Some(_) => Err(format!("field `{name}` is not a string")),
            None => Err(format!("field `{name}` is missing")),
        }
    };
    let origin = |name: &str| -> Result<Option<String>, String> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(_) => field(name).map(Some),
        }
    };
    Ok(IntegrationCredentials {
        personio_client_id: field("personio_client_id")?,
        personio_client_secret: Secret::new(field("personio_client_secret")?),
        lms_token: Secret::new(field("lms_token")?),
        personio_origin: origin("personio_origin")?,
        scim_origin: origin("scim_origin")?,
    })
}

fn store_failure(
    integration: &IntegrationId,
    name: &str,
    failure: &AwsFailure,
) -> CredentialsError {
    tracing::warn!(%integration, secret = %name, error = %failure, "Secrets Manager call failed");
    CredentialsError::Unavailable(format!("Secrets Manager, secret {name}: {failure}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_secrets_are_explained_without_their_text() {
        let cases = [
            (
                r#"{"personio_client_id": "id", "personio_client_secret": "s3cr3t-value""#,
                "not valid JSON",
            ),
            (r#"["s3cr3t-value"]"#, "not a JSON object"),
            (
                r#"{"personio_client_id": "id", "personio_client_secret": 4711, "lms_token": "s3cr3t-value"}"#,
                "field `personio_client_secret` is not a string",
            ),
            (
                r#"{"personio_client_id": "id", "personio_client_secret": "s3cr3t-value"}"#,
                "field `lms_token` is missing",
            ),
        ];
        for (text, expected) in cases {
            let reason = parse_credentials(text).err().unwrap_or_default();
            assert!(reason.contains(expected), "{text}: {reason}");
            assert!(
                !reason.contains("s3cr3t") && !reason.contains("4711"),
                "{reason}"
            );
        }
    }

    #[test]
    fn secret_names_follow_the_pattern() {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .build();
        let store = SecretsManagerCredentials::new(Client::from_conf(config))
            .with_name_pattern("prod/{integration_id}/credentials");
        assert_eq!(
            store.secret_name(&IntegrationId::new("acme")),
            "prod/acme/credentials"
        );
    }
}
