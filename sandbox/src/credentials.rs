//! API credentials (each with its own attribute whitelist) and the tokens issued for them.

use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// The v2 OAuth scopes the credential was granted (Personio: chosen when it is created).
    pub scopes: BTreeSet<String>,
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
    /// What a v2 token may do; empty for v1 tokens, which know no scopes.
    scopes: Arc<BTreeSet<String>>,
    expires_at: Instant,
}

/// A token that passed [`AuthRegistry::verify`]: whose it is and what it may do.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub credential: Arc<Credential>,
    pub scopes: Arc<BTreeSet<String>>,
}

impl Grant {
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Why a token request's `scope` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidScope;

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
    pub fn add_credential(
        &mut self,
        whitelist: Option<HashSet<String>>,
        scopes: BTreeSet<String>,
    ) -> Arc<Credential> {
        let client_id = format!("papi-{}", Uuid::from_bytes(self.rng.random()));
        let secret_bytes: [u8; 16] = self.rng.random();
        let client_secret = format!("papi-{}", Uuid::from_bytes(secret_bytes).simple());
        let credential = Arc::new(Credential {
            client_id: client_id.clone(),
            client_secret,
            whitelist,
            scopes,
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

    /// The scopes a v2 token gets: the requested ones (space-delimited), all of the credential's
    /// when none are requested; a scope the credential does not hold is refused, as Personio
    /// refuses an unknown one (`invalid_scope`).
    pub fn grant_scopes(
        credential: &Credential,
        requested: Option<&str>,
    ) -> Result<BTreeSet<String>, InvalidScope> {
        let requested: BTreeSet<String> = requested
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if requested.is_empty() {
            return Ok(credential.scopes.clone());
        }
        if requested.is_subset(&credential.scopes) {
            Ok(requested)
        } else {
            Err(InvalidScope)
        }
    }

    pub fn issue(
        &mut self,
        credential: Arc<Credential>,
        kind: TokenKind,
        scopes: BTreeSet<String>,
        now: Instant,
    ) -> String {
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
                scopes: Arc::new(scopes),
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
    ) -> Result<Grant, TokenRejection> {
        let token = bearer.ok_or(TokenRejection::Missing)?;
        let issued = self.tokens.get(token).ok_or(TokenRejection::Invalid)?;
        if issued.kind != kind {
            return Err(TokenRejection::WrongKind);
        }
        if now >= issued.expires_at {
            return Err(TokenRejection::Expired);
        }
        Ok(Grant {
            credential: Arc::clone(&issued.credential),
            scopes: Arc::clone(&issued.scopes),
        })
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
        let credential = registry.add_credential(None, BTreeSet::new());
        assert!(registry.check(&credential.client_id, "wrong").is_none());
        let found = registry.check(&credential.client_id, &credential.client_secret);
        assert!(found.is_some());
        let token = registry.issue(
            Arc::clone(&credential),
            TokenKind::V1,
            BTreeSet::new(),
            Instant::now(),
        );
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
    fn tokens_get_the_requested_scopes_or_all_of_the_credential() {
        let mut registry = AuthRegistry::new(1, Duration::from_secs(10));
        let held: BTreeSet<String> = ["a:read", "a:write"].map(str::to_owned).into();
        let credential = registry.add_credential(None, held.clone());
        assert_eq!(
            AuthRegistry::grant_scopes(&credential, None),
            Ok(held.clone())
        );
        assert_eq!(AuthRegistry::grant_scopes(&credential, Some(" ")), Ok(held));
        assert_eq!(
            AuthRegistry::grant_scopes(&credential, Some("a:read")),
            Ok(["a:read".to_owned()].into())
        );
        assert_eq!(
            AuthRegistry::grant_scopes(&credential, Some("a:read b:read")),
            Err(InvalidScope)
        );
        let scopes = AuthRegistry::grant_scopes(&credential, Some("a:write")).unwrap();
        let token = registry.issue(credential, TokenKind::V2, scopes, Instant::now());
        let grant = registry
            .verify(Some(&token), TokenKind::V2, Instant::now())
            .unwrap();
        assert!(grant.allows("a:write") && !grant.allows("a:read"));
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
