use crate::domain::IntegrationId;
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;

/// Where an integration's secrets live (Secrets Manager, a local file or the environment).
#[async_trait]
pub trait Credentials: Send + Sync {
    async fn credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<IntegrationCredentials, CredentialsError>;
}

/// Where an integration's secrets are written (the admin API's create and rotate). Kept apart from
/// [`Credentials`] because only the host that manages integrations writes them.
#[async_trait]
pub trait CredentialsStore: Credentials {
    /// Stores (or replaces) the credentials of an integration and returns the reference the
    /// integration record keeps in place of the secrets (a Secrets Manager ARN, a key).
    async fn put_credentials(
        &self,
        integration: &IntegrationId,
        credentials: &IntegrationCredentials,
    ) -> Result<String, CredentialsError>;

    /// Removes the credentials of a deleted integration (nothing to remove is success).
    async fn delete_credentials(&self, integration: &IntegrationId)
    -> Result<(), CredentialsError>;
}

/// The secrets of one integration. `Debug` shows only the client id.
#[derive(Clone, Debug, Deserialize)]
pub struct IntegrationCredentials {
    pub personio_client_id: String,
    pub personio_client_secret: Secret,
    pub lms_token: Secret,
}

impl IntegrationCredentials {
    /// The JSON document a credential store keeps (a Secrets Manager secret, a sealed row): the
    /// one place the secret values are written out. Reading it back is `Deserialize`.
    pub fn payload(&self) -> Secret {
        Secret::new(
            serde_json::json!({
                "personio_client_id": self.personio_client_id,
                "personio_client_secret": self.personio_client_secret.expose(),
                "lms_token": self.lms_token.expose(),
            })
            .to_string(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("no credentials stored for integration {0}")]
    Missing(IntegrationId),
    #[error("the credentials of integration {integration} are malformed: {reason}")]
    Malformed {
        integration: IntegrationId,
        reason: String,
    },
    #[error("the credential store is unavailable: {0}")]
    Unavailable(String),
}

impl CredentialsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
