//! Who may use `personio-lms serve`: the holder of the admin token.
//!
//! - The token is made on first start, printed once, and kept only as its SHA-256 in the data
//!   directory (`admin-token.sha256`, owner-only). A 256-bit random token needs no slow hash: the
//!   hash only keeps the file from being a credential itself.
//! - API clients send it as `Authorization: Bearer …`. A browser has no ambient credential of
//!   that kind, so bearer requests need no CSRF defence.
//! - The console's login form exchanges it for a session (`POST /session`): a random id in an
//!   `HttpOnly`, `SameSite=Strict` cookie (`Secure`, with the `__Host-` prefix, when the console
//!   is served over TLS), kept in memory as a hash, ending after an idle time and a lifetime.
//! - Every state-changing request made with the session cookie must carry the session's CSRF
//!   token in `X-CSRF-Token` (the console has it from the login answer), and an `Origin`, when
//!   the browser sends one, must be the console's own.

use crate::error::CliError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use chrono::{DateTime, Duration, Utc};
use common::admin::Caller;
use common::secret::Secret;
use common::store::write_private;
use http::{HeaderMap, Method, header};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// The tenant every integration of a `serve` host belongs to: one machine, one company.
pub const LOCAL_TENANT: &str = "local";

/// The header that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

const TOKEN_PREFIX: &str = "plms_";

/// How long a session lasts.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// Without a request for this long, the session ends.
    pub idle: Duration,
    /// After this long, it ends whatever happens.
    pub lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::hours(1),
            lifetime: Duration::hours(12),
        }
    }
}

struct Session {
    csrf: String,
    created: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// A new session, for the login answer.
pub struct NewSession {
    /// The cookie value: only in the `Set-Cookie` header.
    pub id: Secret,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No valid credential: 401.
    Unauthenticated(String),
    /// A valid session, but a state-changing request without the CSRF proof: 403.
    Forbidden(String),
}

pub struct Access {
    token_hash: [u8; 32],
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    policy: SessionPolicy,
    secure: bool,
}

/// `Some(token)` when the token was made now (print it once); the hash either way.
pub struct TokenSetup {
    pub hash: [u8; 32],
    pub new_token: Option<Secret>,
}

/// Reads the admin token's hash from `path`, or makes a token (and the file) when there is none
/// or `reset` asks for a new one.
pub fn ensure_admin_token(path: &Path, reset: bool) -> Result<TokenSetup, CliError> {
    let shown = path.display();
    if reset && path.exists() {
        std::fs::remove_file(path).map_err(|error| {
            CliError::failed(&format!("cannot remove the old admin token {shown}"), error)
        })?;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).ok();
            let hash = bytes
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| {
                    CliError::Failed(format!(
                        "{shown} is not a SHA-256 in hex; remove it (or start with \
                         --reset-admin-token) to get a new admin token"
                    ))
                })?;
            Ok(TokenSetup {
                hash,
                new_token: None,
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let token = Secret::new(format!("{TOKEN_PREFIX}{}", random_text()));
            let hash = sha256(token.expose());
            write_private(path, &hex::encode(hash)).map_err(|error| {
                CliError::failed(&format!("cannot write the admin token hash {shown}"), error)
            })?;
            Ok(TokenSetup {
                hash,
                new_token: Some(token),
            })
        }
        Err(error) => Err(CliError::failed(&format!("cannot read {shown}"), error)),
    }
}

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    BASE64URL.encode(bytes)
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Equality that takes as long whatever the bytes.
fn same(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl Access {
    pub fn new(token_hash: [u8; 32], policy: SessionPolicy, secure: bool) -> Self {
        Self {
            token_hash,
            sessions: Mutex::new(HashMap::new()),
            policy,
            secure,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_admin_token(&self, presented: &str) -> bool {
        same(&sha256(presented.trim()), &self.token_hash)
    }

    /// The cookie's name: with the `__Host-` prefix (no Domain, Path=/, Secure) under TLS.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-plms_session"
        } else {
            "plms_session"
        }
    }

    /// A session for the holder of the admin token; `None` for any other token.
    pub fn login(&self, presented: &str, now: DateTime<Utc>) -> Option<NewSession> {
        if !self.is_admin_token(presented) {
            return None;
        }
        let id = random_text();
        let csrf = random_text();
        let mut sessions = self.sessions();
        sessions.retain(|_, session| self.alive(session, now));
        sessions.insert(
            sha256(&id),
            Session {
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
            },
        );
        Some(NewSession {
            id: Secret::new(id),
            csrf_token: csrf,
            expires_at: now + self.policy.lifetime,
        })
    }

    /// The `Set-Cookie` value of a new session.
    pub fn session_cookie(&self, session: &NewSession) -> String {
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.cookie_name(),
            session.id.expose(),
            self.policy.lifetime.num_seconds(),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn cleared_cookie(&self) -> String {
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            self.cookie_name(),
            if self.secure { "; Secure" } else { "" }
        )
    }

    fn alive(&self, session: &Session, now: DateTime<Utc>) -> bool {
        now < session.created + self.policy.lifetime && now < session.last_seen + self.policy.idle
    }

    /// Ends the session the request's cookie names, if any.
    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(id) = self.session_id(headers) {
            self.sessions().remove(&sha256(&id));
        }
    }

    /// The CSRF token and end of the request's session, if it has a live one.
    pub fn session_info(
        &self,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Option<(String, DateTime<Utc>)> {
        let id = self.session_id(headers)?;
        let sessions = self.sessions();
        let session = sessions.get(&sha256(&id))?;
        self.alive(session, now)
            .then(|| (session.csrf.clone(), session.created + self.policy.lifetime))
    }

    fn session_id(&self, headers: &HeaderMap) -> Option<String> {
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    }

    /// The caller a request authenticates as: `Ok(None)` when it presents no credential at all
    /// (the API then answers what it answers anonymous callers).
    pub fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        own_origins: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<Caller>, Refusal> {
        // One admin token per host: the audit trail names how the admin came in.
        let caller = |subject: &str| Caller::new(LOCAL_TENANT, Some(subject.to_owned()));
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let presented = value
                .to_str()
                .ok()
                .and_then(|text| text.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Refusal::Unauthenticated("Authorization must be `Bearer <admin token>`".into())
                })?;
            return if self.is_admin_token(presented) {
                Ok(Some(caller("admin token")))
            } else {
                Err(Refusal::Unauthenticated(
                    "the bearer token is not this host's admin token".into(),
                ))
            };
        }
        let Some(id) = self.session_id(headers) else {
            return Ok(None);
        };
        let mut sessions = self.sessions();
        let key = sha256(&id);
        let Some(session) = sessions.get_mut(&key) else {
            return Err(Refusal::Unauthenticated(
                "the session is unknown or has ended; sign in again".into(),
            ));
        };
        if !self.alive(session, now) {
            sessions.remove(&key);
            return Err(Refusal::Unauthenticated(
                "the session has expired; sign in again".into(),
            ));
        }
        if is_state_changing(method) {
            check_origin(headers, own_origins)?;
            let presented = headers
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            if !same(presented.as_bytes(), session.csrf.as_bytes()) {
                return Err(Refusal::Forbidden(format!(
                    "a change made with the session cookie must carry the session's CSRF token \
                     in {CSRF_HEADER}"
                )));
            }
        }
        session.last_seen = now;
        Ok(Some(caller("console session")))
    }
}

/// A browser's `Origin` (and `Sec-Fetch-Site`), when sent, must say the request comes from the
/// console itself.
pub fn check_origin(headers: &HeaderMap, own_origins: &[String]) -> Result<(), Refusal> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !own_origins.iter().any(|own| own == origin) {
            return Err(Refusal::Forbidden(format!(
                "requests from {origin} may not change anything here"
            )));
        }
    }
    let site = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return Err(Refusal::Forbidden(
            "cross-site requests may not change anything here".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const ORIGIN: &str = "http://127.0.0.1:8080";

    fn access() -> (Access, Secret) {
        let directory = tempfile::tempdir().unwrap();
        let setup =
            ensure_admin_token(&directory.path().join("admin-token.sha256"), false).unwrap();
        let token = setup.new_token.expect("made on first start");
        (
            Access::new(setup.hash, SessionPolicy::default(), false),
            token,
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn authenticate(
        access: &Access,
        method: Method,
        pairs: &[(&'static str, &str)],
        now: DateTime<Utc>,
    ) -> Result<Option<Caller>, Refusal> {
        access.authenticate(&method, &headers(pairs), &[ORIGIN.to_owned()], now)
    }

    #[test]
    fn the_token_is_made_once_and_kept_only_as_a_hash() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("admin-token.sha256");
        let first = ensure_admin_token(&path, false).unwrap();
        let token = first.new_token.expect("first start");
        assert!(token.expose().starts_with(TOKEN_PREFIX));
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(!stored.contains(token.expose()));
        assert_eq!(stored, hex::encode(sha256(token.expose())));
        let again = ensure_admin_token(&path, false).unwrap();
        assert!(again.new_token.is_none());
        assert_eq!(again.hash, first.hash);
        let reset = ensure_admin_token(&path, true).unwrap();
        assert!(reset.new_token.is_some());
        assert_ne!(reset.hash, first.hash);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn bearer_tokens_and_sessions() {
        let (access, token) = access();
        let now = Utc::now();
        let bearer = format!("Bearer {}", token.expose());
        assert!(
            authenticate(&access, Method::POST, &[("authorization", &bearer)], now)
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            authenticate(
                &access,
                Method::GET,
                &[("authorization", "Bearer plms_forged")],
                now
            ),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            authenticate(
                &access,
                Method::GET,
                &[("authorization", token.expose())],
                now
            ),
            Err(Refusal::Unauthenticated(_))
        ));
        assert_eq!(authenticate(&access, Method::GET, &[], now), Ok(None));

        assert!(access.login("plms_wrong", now).is_none());
        let session = access
            .login(token.expose(), now)
            .expect("the admin token signs in");
        let cookie = format!("other=1; plms_session={}", session.id.expose());
        assert!(
            access
                .session_cookie(&session)
                .contains("HttpOnly; SameSite=Strict")
        );
        assert!(!access.session_cookie(&session).contains("Secure"));
        assert!(
            authenticate(&access, Method::GET, &[("cookie", &cookie)], now)
                .unwrap()
                .is_some()
        );
        let (csrf, _) = access
            .session_info(&headers(&[("cookie", &cookie)]), now)
            .unwrap();
        assert_eq!(csrf, session.csrf_token);
        assert!(matches!(
            authenticate(
                &access,
                Method::GET,
                &[("cookie", "plms_session=forged")],
                now
            ),
            Err(Refusal::Unauthenticated(_))
        ));
    }

    #[test]
    fn changes_with_the_cookie_need_the_csrf_token_and_the_own_origin() {
        let (access, token) = access();
        let now = Utc::now();
        let session = access.login(token.expose(), now).unwrap();
        let cookie = format!("plms_session={}", session.id.expose());
        let csrf = session.csrf_token.as_str();
        let refused = |pairs: &[(&'static str, &str)]| {
            matches!(
                authenticate(&access, Method::POST, pairs, now),
                Err(Refusal::Forbidden(_))
            )
        };
        assert!(refused(&[("cookie", &cookie)]));
        assert!(refused(&[("cookie", &cookie), (CSRF_HEADER, "guess")]));
        assert!(refused(&[
            ("cookie", &cookie),
            (CSRF_HEADER, csrf),
            ("origin", "https://evil.example")
        ]));
        assert!(refused(&[
            ("cookie", &cookie),
            (CSRF_HEADER, csrf),
            ("sec-fetch-site", "cross-site")
        ]));
        let allowed = authenticate(
            &access,
            Method::DELETE,
            &[
                ("cookie", &cookie),
                (CSRF_HEADER, csrf),
                ("origin", ORIGIN),
                ("sec-fetch-site", "same-origin"),
            ],
            now,
        );
        assert!(allowed.unwrap().is_some());
    }

    #[test]
    fn sessions_end_when_idle_or_old_and_at_logout() {
        let (access, token) = access();
        let start = Utc::now();
        let session = access.login(token.expose(), start).unwrap();
        let cookie = format!("plms_session={}", session.id.expose());
        let get = |at| authenticate(&access, Method::GET, &[("cookie", &cookie)], at);
        // Kept alive by use…
        for hour in 0..11 {
            assert!(
                get(start + Duration::minutes(50 * hour)).unwrap().is_some(),
                "{hour}"
            );
        }
        // …but not past its lifetime.
        assert!(matches!(
            get(start + Duration::hours(12)),
            Err(Refusal::Unauthenticated(_))
        ));

        let idle = access.login(token.expose(), start).unwrap();
        let idle_cookie = format!("plms_session={}", idle.id.expose());
        let late = start + Duration::minutes(61);
        assert!(matches!(
            authenticate(&access, Method::GET, &[("cookie", &idle_cookie)], late),
            Err(Refusal::Unauthenticated(_))
        ));

        let fresh = access.login(token.expose(), start).unwrap();
        let fresh_cookie = format!("plms_session={}", fresh.id.expose());
        access.logout(&headers(&[("cookie", &fresh_cookie)]));
        assert!(authenticate(&access, Method::GET, &[("cookie", &fresh_cookie)], start).is_err());
    }

    #[test]
    fn under_tls_the_cookie_is_secure_and_host_bound() {
        let (plain, token) = access();
        let secure = Access::new(plain.token_hash, SessionPolicy::default(), true);
        let session = secure.login(token.expose(), Utc::now()).unwrap();
        let cookie = secure.session_cookie(&session);
        assert!(cookie.starts_with("__Host-plms_session="), "{cookie}");
        assert!(cookie.ends_with("; Secure"), "{cookie}");
    }
}
