//! API credentials (each with its own attribute whitelist) and the tokens issued for them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use uuid::Uuid;

/// An API credential as created in Personio's settings.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub client_id: String,
    pub client_secret: String,
    /// Attributes this credential may read; `None` means all. `id` is always readable.
    pub whitelist: Option<HashSet<String>>,
}

/// Which authentication flow issued a token: v1 endpoints take v1 tokens, v2 endpoints v2 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    V1,
    V2,
}

#[derive(Debug)]
struct IssuedToken {
    credential: Arc<Credential>,
    kind: TokenKind,
    expires_at: Instant,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRejection {
    Missing,
    Invalid,
    Expired,
    WrongKind,
}

#[derive(Debug)]
pub(crate) struct AuthRegistry {
    credentials: HashMap<String, Arc<Credential>>,
    tokens: HashMap<String, IssuedToken>,
    lifetime: Duration,
    rng: StdRng,
}

impl AuthRegistry {
    pub fn new(seed: u64, lifetime: Duration) -> Self {
        Self {
            credentials: HashMap::new(),
            tokens: HashMap::new(),
            lifetime,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Creates a credential with random (seeded) id and secret in Personio's `papi-…` style.
    pub fn add_credential(&mut self, whitelist: Option<HashSet<String>>) -> Arc<Credential> {
        let client_id = format!("papi-{}", Uuid::from_bytes(self.rng.random()));
        let secret_bytes: [u8; 16] = self.rng.random();
        let client_secret = format!("papi-{}", Uuid::from_bytes(secret_bytes).simple());
        let credential = Arc::new(Credential {
            client_id: client_id.clone(),
            client_secret,
            whitelist,
        });
        self.credentials.insert(client_id, Arc::clone(&credential));
        credential
    }

    /// The credential for this id and secret, compared in full.
    pub fn check(&self, client_id: &str, client_secret: &str) -> Option<Arc<Credential>> {
        self.credentials
            .get(client_id)
            .filter(|credential| credential.client_secret == client_secret)
            .cloned()
    }

    pub fn issue(&mut self, credential: Arc<Credential>, kind: TokenKind, now: Instant) -> String {
        let token = match kind {
            TokenKind::V1 => format!(
                "{}.{}",
                Uuid::from_bytes(self.rng.random()).simple(),
                Uuid::from_bytes(self.rng.random()).simple()
            ),
            TokenKind::V2 => format!("papi-{}", Uuid::from_bytes(self.rng.random())),
        };
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                credential,
                kind,
                expires_at: now + self.lifetime,
            },
        );
        token
    }

    pub fn verify(
        &self,
        bearer: Option<&str>,
        kind: TokenKind,
        now: Instant,
    ) -> Result<Arc<Credential>, TokenRejection> {
        let token = bearer.ok_or(TokenRejection::Missing)?;
        let issued = self.tokens.get(token).ok_or(TokenRejection::Invalid)?;
        if issued.kind != kind {
            return Err(TokenRejection::WrongKind);
        }
        if now >= issued.expires_at {
            return Err(TokenRejection::Expired);
        }
        Ok(Arc::clone(&issued.credential))
    }

    /// Makes every issued token expired, so tests can exercise re-authentication.
    pub fn expire_all(&mut self, now: Instant) {
        for token in self.tokens.values_mut() {
            token.expires_at = now;
        }
    }
}

/// The bearer token of an `Authorization: Bearer …` header value.
pub(crate) fn bearer_token(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokens_expire_and_are_bound_to_their_flow() {
        let mut registry = AuthRegistry::new(1, Duration::from_secs(10));
        let credential = registry.add_credential(None);
        assert!(registry.check(&credential.client_id, "wrong").is_none());
        let found = registry.check(&credential.client_id, &credential.client_secret);
        assert!(found.is_some());
        let token = registry.issue(Arc::clone(&credential), TokenKind::V1, Instant::now());
        assert!(
            registry
                .verify(Some(&token), TokenKind::V1, Instant::now())
                .is_ok()
        );
        assert_eq!(
            registry
                .verify(Some(&token), TokenKind::V2, Instant::now())
                .err(),
            Some(TokenRejection::WrongKind)
        );
        assert_eq!(
            registry
                .verify(Some("nope"), TokenKind::V1, Instant::now())
                .err(),
            Some(TokenRejection::Invalid)
        );
        assert_eq!(
            registry.verify(None, TokenKind::V1, Instant::now()).err(),
            Some(TokenRejection::Missing)
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            registry
                .verify(Some(&token), TokenKind::V1, Instant::now())
                .err(),
            Some(TokenRejection::Expired)
        );
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }
}
