//! Webhook tokens sealed in the state file (table `webhook_tokens`): `personio-lms serve`'s
//! [`WebhookTokens`], beside the credentials and sealed the same way ([`SealedCredentials`]),
//! but bound to `webhook-token:<integration>` so that neither kind of row reads as the other.

use super::SealedCredentials;
use super::connection::query_optional;
use crate::domain::IntegrationId;
use crate::ports::{CredentialsError, WebhookTokens};
use crate::secret::Secret;
use async_trait::async_trait;
use chrono::Utc;
use rusqlite::params;

fn bound_to(integration: &IntegrationId) -> Vec<u8> {
    format!("webhook-token:{integration}").into_bytes()
}

fn unavailable(error: crate::ports::StoreError) -> CredentialsError {
    CredentialsError::Unavailable(error.to_string())
}

#[async_trait]
impl WebhookTokens for SealedCredentials {
    async fn webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Secret>, CredentialsError> {
        let id = integration.as_str().to_owned();
        let row = self
            .store()
            .call(move |connection| {
                query_optional(
                    connection,
                    "SELECT key_id, nonce, ciphertext FROM webhook_tokens WHERE integration_id = ?1",
                    params![id],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, Vec<u8>>(1)?,
                            row.get::<_, Vec<u8>>(2)?,
                        ))
                    },
                )
            })
            .await
            .map_err(unavailable)?;
        let Some((key_id, nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let malformed = |reason: String| CredentialsError::Malformed {
            integration: integration.clone(),
            reason: format!("the webhook token: {reason}; install the webhook again"),
        };
        let plaintext = self
            .unseal(&key_id, &nonce, &ciphertext, &bound_to(integration))
            .map_err(malformed)?;
        String::from_utf8(plaintext)
            .map(|token| Some(Secret::new(token)))
            .map_err(|_| malformed("it is not text".into()))
    }

    async fn put_webhook_token(
        &self,
        integration: &IntegrationId,
        token: &Secret,
    ) -> Result<(), CredentialsError> {
        let (nonce, ciphertext) = self.seal(token.expose().as_bytes(), &bound_to(integration))?;
        let id = integration.as_str().to_owned();
        let key_id = self.key_id().to_owned();
        let now = Utc::now().timestamp_micros();
        self.store()
            .call(move |connection| {
                connection
                    .prepare_cached(
                        "INSERT INTO webhook_tokens (integration_id, key_id, nonce, ciphertext,
                             updated_at_us)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (integration_id) DO UPDATE
                         SET key_id = excluded.key_id, nonce = excluded.nonce,
                             ciphertext = excluded.ciphertext,
                             updated_at_us = excluded.updated_at_us",
                    )?
                    .execute(params![id, key_id, nonce, ciphertext, now])?;
                Ok(())
            })
            .await
            .map_err(unavailable)
    }

    async fn delete_webhook_token(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        let id = integration.as_str().to_owned();
        self.store()
            .call(move |connection| {
                connection
                    .prepare_cached("DELETE FROM webhook_tokens WHERE integration_id = ?1")?
                    .execute(params![id])?;
                Ok(())
            })
            .await
            .map_err(unavailable)
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
