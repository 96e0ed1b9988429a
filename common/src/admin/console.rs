//! The web console: static files committed next to this module (`console/`), embedded in every
//! binary that serves the admin API, and served under `/console/` without a token. The console
//! talks only to the JSON admin API, so it is the same on both hosts; what differs is how it
//! signs in, which the host says in `/console/config.json`:
//! - `personio-lms serve`: the admin token, exchanged for a session cookie (`/session`);
//! - AWS: OpenID Connect (authorization code + PKCE) against the stack's issuer; the API is then
//!   called with the ID token the JWT authorizer validates.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

/// Where the console lives.
pub const CONSOLE_PREFIX: &str = "/console";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("console/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("auth.js", "text/javascript; charset=utf-8"),
    asset!("ui.js", "text/javascript; charset=utf-8"),
    asset!("settings-form.js", "text/javascript; charset=utf-8"),
    asset!("pages.js", "text/javascript; charset=utf-8"),
    asset!("runs.js", "text/javascript; charset=utf-8"),
    asset!("explain.js", "text/javascript; charset=utf-8"),
    asset!("audit.js", "text/javascript; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// How the console signs in on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "auth", rename_all = "snake_case")]
pub enum ConsoleAuth {
    /// The admin token, exchanged for a session cookie at `/session`.
    Session,
    /// OpenID Connect, authorization code with PKCE.
    Oidc(OidcSettings),
}

/// The identity provider the console signs in with (all public values).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    /// Read from the issuer's discovery document when not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Where signing out ends the provider's session too (Cognito's `/logout`), if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logout_endpoint: Option<String>,
    pub scopes: String,
}

/// The answer to a console request (`GET /console…`), or `None` when `path` is not the
/// console's. `GET /console` redirects to `/console/`, which is `index.html`.
pub fn console_response(path: &str, auth: &ConsoleAuth) -> Option<Response<Bytes>> {
    let rest = path.strip_prefix(CONSOLE_PREFIX)?;
    let name = match rest {
        "" => return Some(redirect(&format!("{CONSOLE_PREFIX}/"))),
        "/" => "index.html",
        rest => rest.strip_prefix('/')?,
    };
    if name == "config.json" {
        let body = serde_json::to_vec(auth).unwrap_or_default();
        return Some(respond(
            StatusCode::OK,
            "application/json",
            Bytes::from(body),
            auth,
        ));
    }
    let response = match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => respond(
            StatusCode::OK,
            asset.content_type,
            Bytes::from_static(asset.body),
            auth,
        ),
        None => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"no such console file"),
            auth,
        ),
    };
    Some(response)
}

/// Whether `path` belongs to the console (hosts let these through without a token).
pub fn is_console_path(path: &str) -> bool {
    path == CONSOLE_PREFIX || path.starts_with("/console/")
}

fn redirect(location: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The origins the console may call besides its own: the identity provider's.
fn provider_origins(auth: &ConsoleAuth) -> Vec<String> {
    let ConsoleAuth::Oidc(oidc) = auth else {
        return Vec::new();
    };
    [
        Some(&oidc.issuer),
        oidc.token_endpoint.as_ref(),
        oidc.authorization_endpoint.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|url| url::Url::parse(url).ok())
    .map(|url| url.origin().ascii_serialization())
    .filter(|origin| origin.starts_with("https://"))
    .fold(Vec::new(), |mut origins, origin| {
        if !origins.contains(&origin) {
            origins.push(origin);
        }
        origins
    })
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    auth: &ConsoleAuth,
) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let connect = std::iter::once("'self'".to_owned())
        .chain(provider_origins(auth))
        .collect::<Vec<_>>()
        .join(" ");
    // Nothing is loaded from anywhere but the console itself; the console cannot be framed.
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The OIDC callback carries the authorization code in the URL: it must not leak onwards.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type_and_a_strict_policy() {
        for asset in ASSETS {
            let response =
                console_response(&format!("/console/{}", asset.name), &ConsoleAuth::Session)
                    .expect("a console path");
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.name);
            assert_eq!(response.headers()[header::CONTENT_TYPE], asset.content_type);
            let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(
                policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'")
            );
            assert!(!asset.body.is_empty());
        }
        let index = console_response("/console/", &ConsoleAuth::Session).unwrap();
        assert!(std::str::from_utf8(index.body()).unwrap().contains("<html"));
        let redirect = console_response("/console", &ConsoleAuth::Session).unwrap();
        assert_eq!(redirect.status(), StatusCode::FOUND);
        assert_eq!(redirect.headers()[header::LOCATION], "/console/");
        let missing = console_response("/console/nothing.js", &ConsoleAuth::Session).unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(console_response("/integrations", &ConsoleAuth::Session).is_none());
        assert!(console_response("/consoles", &ConsoleAuth::Session).is_none());
    }

    #[test]
    fn nothing_is_loaded_from_the_internet() {
        // Every reference that makes a browser fetch something names a file of the console.
        let loads = [
            "src=\"",
            "href=\"",
            "url(",
            "from \"",
            "import(\"",
            "@import",
        ];
        for asset in ASSETS {
            let text = String::from_utf8_lossy(asset.body);
            for load in loads {
                for (at, _) in text.match_indices(load) {
                    let target: String = text[at + load.len()..].chars().take(12).collect();
                    assert!(
                        !target.starts_with("http") && !target.starts_with("//"),
                        "{} loads {target}…",
                        asset.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_config_says_how_to_sign_in_and_lets_the_provider_in() {
        let auth = ConsoleAuth::Oidc(OidcSettings {
            issuer: "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_abc".into(),
            client_id: "client".into(),
            authorization_endpoint: Some(
                "https://acme.auth.eu-central-1.amazoncognito.com/oauth2/authorize".into(),
            ),
            token_endpoint: Some(
                "https://acme.auth.eu-central-1.amazoncognito.com/oauth2/token".into(),
            ),
            logout_endpoint: None,
            scopes: "openid email".into(),
        });
        let response = console_response("/console/config.json", &auth).unwrap();
        let config: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(config["auth"], "oidc");
        assert_eq!(config["client_id"], "client");
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(policy.contains("connect-src 'self' https://cognito-idp.eu-central-1.amazonaws.com https://acme.auth.eu-central-1.amazoncognito.com"), "{policy}");
        let session = console_response("/console/config.json", &ConsoleAuth::Session).unwrap();
        assert_eq!(session.body().as_ref(), br#"{"auth":"session"}"#);
    }
}
