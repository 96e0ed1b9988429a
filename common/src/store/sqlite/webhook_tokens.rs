//! Webhook tokens sealed in the state file (table `webhook_tokens`): `personio-lms serve`'s
//! [`WebhookTokens`], beside the credentials and sealed the same way ([`SealedCredentials`]),
//! but bound to `webhook-token:<integration>` so that neither kind of row reads as the other.

use super::SealedCredentials;
use super::credentials::WEBHOOK_TOKENS;
use crate::domain::IntegrationId;
use crate::ports::{CredentialsError, WebhookTokens};
use crate::secret::Secret;
use async_trait::async_trait;

fn bound_to(integration: &IntegrationId) -> Vec<u8> {
    format!("webhook-token:{integration}").into_bytes()
}

#[async_trait]
impl WebhookTokens for SealedCredentials {
    async fn webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Secret>, CredentialsError> {
        let malformed = |reason: String| CredentialsError::Malformed {
            integration: integration.clone(),
            reason: format!("the webhook token: {reason}; install the webhook again"),
        };
        let Some(plaintext) = self
            .read_row(
                WEBHOOK_TOKENS,
                integration,
                &bound_to(integration),
                &malformed,
            )
            .await?
        else {
            return Ok(None);
        };
        String::from_utf8(plaintext)
            .map(|token| Some(Secret::new(token)))
            .map_err(|_| malformed("it is not text".into()))
    }

    async fn put_webhook_token(
        &self,
        integration: &IntegrationId,
        token: &Secret,
    ) -> Result<(), CredentialsError> {
        self.write_row(
            WEBHOOK_TOKENS,
            integration,
            token.expose().as_bytes(),
            &bound_to(integration),
        )
        .await
    }

    async fn delete_webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        self.delete_row(WEBHOOK_TOKENS, integration).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CredentialKey, SqliteStore};

    const TOKEN: &str = "whk-SEALED-t0ken-value";

    #[tokio::test]
    async fn a_token_round_trips_sealed_and_is_gone_after_delete() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        let sealed = SealedCredentials::new(&store, CredentialKey::generate());
        let acme = IntegrationId::new("acme");
        assert!(sealed.webhook_token(&acme).await.unwrap().is_none());
        sealed
            .put_webhook_token(&acme, &Secret::new(TOKEN))
            .await
            .unwrap();
        let read = sealed.webhook_token(&acme).await.unwrap().unwrap();
        assert_eq!(read.expose(), TOKEN);
        let mut bytes = std::fs::read(&path).unwrap_or_default();
        bytes.extend(std::fs::read(directory.path().join("state.sqlite-wal")).unwrap_or_default());
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in the state file in clear"
        );
        sealed.delete_webhook_token(&acme).await.unwrap();
        assert!(sealed.webhook_token(&acme).await.unwrap().is_none());
        sealed.delete_webhook_token(&acme).await.unwrap();
    }

    #[tokio::test]
    async fn a_token_row_moved_to_another_integration_or_another_key_is_refused() {
        let store = SqliteStore::in_memory().unwrap();
        let sealed = SealedCredentials::new(&store, CredentialKey::generate());
        let acme = IntegrationId::new("acme");
        sealed
            .put_webhook_token(&acme, &Secret::new(TOKEN))
            .await
            .unwrap();
        store
            .call(|connection| {
                connection.execute(
                    "INSERT INTO webhook_tokens SELECT 'globex', key_id, nonce, ciphertext,
                         updated_at_us FROM webhook_tokens WHERE integration_id = 'acme'",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let moved = sealed.webhook_token(&IntegrationId::new("globex")).await;
        assert!(
            matches!(&moved, Err(CredentialsError::Malformed { reason, .. }) if reason.contains("do not decrypt")),
            "{moved:?}"
        );
        let other_key = SealedCredentials::new(&store, CredentialKey::generate());
        let refused = other_key.webhook_token(&acme).await;
        assert!(
            matches!(&refused, Err(CredentialsError::Malformed { reason, .. }) if reason.contains("credential key")),
            "{refused:?}"
        );
    }
}
