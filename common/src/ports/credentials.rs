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

    /// The credentials as stored now, past any cache: asked when cached credentials were given
    /// for another address than the integration's (they may have been rotated since).
    async fn fresh_credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<IntegrationCredentials, CredentialsError> {
        self.credentials(integration).await
    }
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

/// The secrets of one integration, with the addresses they were given for. `Debug` shows only
/// the client id and those addresses.
#[derive(Clone, Debug, Deserialize)]
pub struct IntegrationCredentials {
    pub personio_client_id: String,
    pub personio_client_secret: Secret,
    pub lms_token: Secret,
    /// The origin (`https://host:port`) of the Personio base URL the client secret was given
    /// for: it is sent nowhere else. `None`: not recorded (stored before this was kept, or a
    /// host whose operator names both, like the CLI).
    #[serde(default)]
    pub personio_origin: Option<String>,
    /// The origin of the SCIM base URL the token was given for, as `personio_origin`.
    #[serde(default)]
    pub scim_origin: Option<String>,
}

impl IntegrationCredentials {
    /// Credentials without the addresses they were given for.
    pub fn new(client_id: impl Into<String>, client_secret: Secret, lms_token: Secret) -> Self {
        Self {
            personio_client_id: client_id.into(),
            personio_client_secret: client_secret,
            lms_token,
            personio_origin: None,
            scim_origin: None,
        }
    }
}

impl IntegrationCredentials {
    /// The JSON document a credential store keeps (a Secrets Manager secret, a sealed row): the
    /// one place the secret values are written out. Reading it back is `Deserialize`.
    pub fn payload(&self) -> Secret {
        let mut payload = serde_json::json!({
            "personio_client_id": self.personio_client_id,
            "personio_client_secret": self.personio_client_secret.expose(),
            "lms_token": self.lms_token.expose(),
        });
        // The addresses the secrets were given for travel with them (secrets bound to origin).
        for (field, origin) in [
            ("personio_origin", &self.personio_origin),
            ("scim_origin", &self.scim_origin),
        ] {
            if let Some(origin) = origin {
                payload[field] = serde_json::json!(origin);
            }
        }
        Secret::new(payload.to_string())
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
