//! Integration credentials sealed in the state file (table `credentials`): what Secrets Manager
//! is to the Lambda hosts, for `personio-lms serve`.
//!
//! Each integration's credentials are one JSON document encrypted with XChaCha20-Poly1305 under
//! the host's [`CredentialKey`], with a fresh random 24-byte nonce per write and the integration
//! id as associated data (a row copied onto another integration does not decrypt). The key never
//! enters the file: it comes from an environment variable or a key file of its own
//! ([`CredentialKey::load_or_create`], created `0600`). A row remembers which key sealed it
//! (the key's id, a hash prefix), so a host started with another key says so instead of
//! reporting corrupt data.

use super::SqliteStore;
use super::connection::query_optional;
use crate::domain::IntegrationId;
use crate::ports::{Credentials, CredentialsError, CredentialsStore, IntegrationCredentials};
use crate::secret::Secret;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::Utc;
use rand::RngCore;
use rusqlite::params;
use sha2::{Digest, Sha256};
use std::path::Path;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// The key that seals credentials. `Debug` shows only its id.
#[derive(Clone)]
pub struct CredentialKey {
    bytes: [u8; KEY_BYTES],
    id: String,
}

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a key cannot be used. Messages never quote key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the credential key must be {KEY_BYTES} bytes in standard base64 (44 characters)")]
    Malformed,
    #[error("cannot read the credential key file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot create the credential key file {path}: {reason}")]
    Create { path: String, reason: String },
    #[error(
        "the credential key file {path} can be read by other users (mode {mode:o}); \
         make it private with `chmod 600 {path}`"
    )]
    TooOpen { path: String, mode: u32 },
}

impl CredentialKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        let digest = Sha256::digest(bytes);
        Self {
            bytes,
            id: hex::encode(&digest[..6]),
        }
    }

    /// A key given as base64 (an environment variable, the key file's content).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let decoded = BASE64
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed)?;
        let bytes: [u8; KEY_BYTES] = decoded.try_into().map_err(|_| KeyError::Malformed)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as the key file holds it.
    pub fn to_base64(&self) -> Secret {
        Secret::new(BASE64.encode(self.bytes))
    }

    /// A short, non-secret name of the key (a prefix of its SHA-256), kept with every sealed row.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads the key file, or creates it with a new key (owner read/write only) when there is
    /// none. `true` when it was created. A key file others can read is refused.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                refuse_open_permissions(path, &shown)?;
                Ok((Self::from_base64(&text)?, false))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(path, key.to_base64().expose()).map_err(|error| {
                    KeyError::Create {
                        path: shown,
                        reason: error.to_string(),
                    }
                })?;
                Ok((key, true))
            }
            Err(error) => Err(KeyError::Read {
                path: shown,
                reason: error.to_string(),
            }),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

#[cfg(unix)]
fn refuse_open_permissions(path: &Path, shown: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|error| KeyError::Read {
            path: shown.to_owned(),
            reason: error.to_string(),
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: shown.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_open_permissions(_path: &Path, _shown: &str) -> Result<(), KeyError> {
    Ok(())
}

/// Creates `path` (never overwriting) readable and writable by its owner only, with `text`.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The credential store of `personio-lms serve`: sealed rows in the state file.
#[derive(Clone, Debug)]
pub struct SealedCredentials {
    store: SqliteStore,
    key: CredentialKey,
}

impl SealedCredentials {
    pub fn new(store: &SqliteStore, key: CredentialKey) -> Self {
        Self {
            store: store.clone(),
            key,
        }
    }

    /// `plaintext` sealed under the key with a fresh nonce, bound to `aad` (what the row is
    /// about): the nonce and the ciphertext.
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CredentialsError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .key
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CredentialsError::Unavailable("the secret could not be sealed".into()))?;
        Ok((nonce.to_vec(), ciphertext))
    }

    /// The plaintext of a sealed row, or why it cannot be read (for the admin to act on).
    fn unseal(
        &self,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, String> {
        if key_id != self.key.id {
            return Err(format!(
                "they were sealed with credential key {key_id}, and this host has key {}: \
                 start it with the key it had, or enter the credentials again",
                self.key.id
            ));
        }
        if nonce.len() != NONCE_BYTES {
            return Err("the stored nonce has the wrong length".into());
        }
        self.key
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| "they do not decrypt (altered, or copied from another integration)".into())
    }
}

fn unavailable(error: crate::ports::StoreError) -> CredentialsError {
    CredentialsError::Unavailable(error.to_string())
}

/// A table of sealed rows, one per integration (`integration_id`, `key_id`, `nonce`,
/// `ciphertext`, `updated_at_us`).
#[derive(Clone, Copy, Debug)]
pub(super) struct SealedTable(&'static str);

pub(super) const CREDENTIALS: SealedTable = SealedTable("credentials");
pub(super) const WEBHOOK_TOKENS: SealedTable = SealedTable("webhook_tokens");

impl SealedCredentials {
    /// The plaintext of `integration`'s row in `table`, unsealed against `aad`; `None` when
    /// there is no row; `malformed` turns why it cannot be read into the error.
    pub(super) async fn read_row(
        &self,
        table: SealedTable,
        integration: &IntegrationId,
        aad: &[u8],
        malformed: impl Fn(String) -> CredentialsError,
    ) -> Result<Option<Vec<u8>>, CredentialsError> {
        let id = integration.as_str().to_owned();
        let row = self
            .store
            .call(move |connection| {
                query_optional(
                    connection,
                    &format!(
                        "SELECT key_id, nonce, ciphertext FROM {} WHERE integration_id = ?1",
                        table.0
                    ),
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
        self.unseal(&key_id, &nonce, &ciphertext, aad)
            .map(Some)
            .map_err(malformed)
    }

    /// Seals `plaintext` against `aad` into `integration`'s row of `table` (replacing it).
    pub(super) async fn write_row(
        &self,
        table: SealedTable,
        integration: &IntegrationId,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<(), CredentialsError> {
        let (nonce, ciphertext) = self.seal(plaintext, aad)?;
        let id = integration.as_str().to_owned();
        let key_id = self.key.id.clone();
        let now = Utc::now().timestamp_micros();
        self.store
            .call(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "INSERT INTO {} (integration_id, key_id, nonce, ciphertext,
                             updated_at_us)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (integration_id) DO UPDATE
                         SET key_id = excluded.key_id, nonce = excluded.nonce,
                             ciphertext = excluded.ciphertext,
                             updated_at_us = excluded.updated_at_us",
                        table.0
                    ))?
                    .execute(params![id, key_id, nonce, ciphertext, now])?;
                Ok(())
            })
            .await
            .map_err(unavailable)
    }

    /// Removes `integration`'s row of `table` (none is success).
    pub(super) async fn delete_row(
        &self,
        table: SealedTable,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        let id = integration.as_str().to_owned();
        self.store
            .call(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "DELETE FROM {} WHERE integration_id = ?1",
                        table.0
                    ))?
                    .execute(params![id])?;
                Ok(())
            })
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Credentials for SealedCredentials {
    async fn credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<IntegrationCredentials, CredentialsError> {
        let malformed = |reason: String| CredentialsError::Malformed {
            integration: integration.clone(),
            reason,
        };
        let plaintext = self
            .read_row(
                CREDENTIALS,
                integration,
                integration.as_str().as_bytes(),
                &malformed,
            )
            .await?
            .ok_or_else(|| CredentialsError::Missing(integration.clone()))?;
        // serde_json's errors name a position, never the input.
        serde_json::from_slice(&plaintext)
            .map_err(|error| malformed(format!("the decrypted document is not valid: {error}")))
    }
}

#[async_trait]
impl CredentialsStore for SealedCredentials {
    async fn put_credentials(
        &self,
        integration: &IntegrationId,
        credentials: &IntegrationCredentials,
    ) -> Result<String, CredentialsError> {
        let payload = credentials.payload();
        self.write_row(
            CREDENTIALS,
            integration,
            payload.expose().as_bytes(),
            integration.as_str().as_bytes(),
        )
        .await?;
        tracing::info!(%integration, key = %self.key.id, "stored sealed integration credentials");
        Ok(format!("sealed:{integration}"))
    }

    async fn delete_credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        self.delete_row(CREDENTIALS, integration).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSONIO_SECRET: &str = "papi-SEALED-s3cret-value";
    const LMS_TOKEN: &str = "scim-SEALED-t0ken-value";

    fn credentials() -> IntegrationCredentials {
        IntegrationCredentials::new(
            "papi-client",
            Secret::new(PERSONIO_SECRET),
            Secret::new(LMS_TOKEN),
        )
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    }

    /// Every byte of the state file and its write-ahead log.
    fn file_bytes(path: &Path) -> Vec<u8> {
        let mut bytes = std::fs::read(path).unwrap_or_default();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        bytes.extend(std::fs::read(std::path::PathBuf::from(wal)).unwrap_or_default());
        bytes
    }

    #[tokio::test]
    async fn credentials_round_trip_and_never_reach_the_file_in_clear() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        let key = CredentialKey::generate();
        let sealed = SealedCredentials::new(&store, key.clone());
        let acme = IntegrationId::new("acme");
        let reference = sealed.put_credentials(&acme, &credentials()).await.unwrap();
        assert_eq!(reference, "sealed:acme");
        let read = sealed.credentials(&acme).await.unwrap();
        assert_eq!(read.personio_client_id, "papi-client");
        assert_eq!(read.personio_client_secret.expose(), PERSONIO_SECRET);
        assert_eq!(read.lms_token.expose(), LMS_TOKEN);

        let bytes = file_bytes(&path);
        assert!(!bytes.is_empty());
        for secret in [PERSONIO_SECRET, LMS_TOKEN, key.to_base64().expose()] {
            assert!(!contains(&bytes, secret), "{secret} is in the state file");
        }
        assert!(!format!("{key:?} {sealed:?}").contains(key.to_base64().expose()));

        sealed.delete_credentials(&acme).await.unwrap();
        assert!(matches!(
            sealed.credentials(&acme).await,
            Err(CredentialsError::Missing(_))
        ));
    }

    #[tokio::test]
    async fn another_key_or_a_moved_row_is_refused_by_name() {
        let store = SqliteStore::in_memory().unwrap();
        let sealed = SealedCredentials::new(&store, CredentialKey::generate());
        let acme = IntegrationId::new("acme");
        sealed.put_credentials(&acme, &credentials()).await.unwrap();

        let other = SealedCredentials::new(&store, CredentialKey::generate());
        let error = other.credentials(&acme).await.unwrap_err().to_string();
        assert!(error.contains("sealed with credential key"), "{error}");

        // The row of one integration copied onto another does not decrypt.
        store
            .call(|connection| {
                connection.execute(
                    "INSERT INTO credentials SELECT 'globex', key_id, nonce, ciphertext,
                         updated_at_us FROM credentials WHERE integration_id = 'acme'",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let error = sealed
            .credentials(&IntegrationId::new("globex"))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("do not decrypt"), "{error}");
        assert!(!error.contains(PERSONIO_SECRET) && !error.contains(LMS_TOKEN));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("keys/credential.key");
        let (created, fresh) = CredentialKey::load_or_create(&path).unwrap();
        assert!(fresh);
        let (read, fresh) = CredentialKey::load_or_create(&path).unwrap();
        assert!(!fresh);
        assert_eq!(read.id(), created.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = CredentialKey::load_or_create(&path).unwrap_err();
            assert!(
                matches!(error, KeyError::TooOpen { mode: 0o644, .. }),
                "{error}"
            );
        }
        assert!(matches!(
            CredentialKey::from_base64("c2hvcnQ="),
            Err(KeyError::Malformed)
        ));
        let key = CredentialKey::generate();
        let again = CredentialKey::from_base64(key.to_base64().expose()).unwrap();
        assert_eq!(again.id(), key.id());
    }
}
