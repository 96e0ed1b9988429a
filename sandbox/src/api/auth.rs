//! The token endpoints: `POST /v1/auth` (JSON or form body) and the OAuth 2.0 client
//! credentials flow `POST /v2/auth/token`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::error::ApiError;
use super::gateway::admit;
use super::params::{first, form_pairs, is_form};
use crate::credentials::{AuthRegistry, TokenKind};
use crate::endpoint::Endpoint;
use crate::state::{AppState, lock};

pub(super) async fn auth_v1(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The spec allows JSON and form bodies; anything that is not a form is read as JSON.
    let (client_id, client_secret) = if is_form(&headers) {
        let pairs = form_pairs(&body);
        (
            first(&pairs, "client_id").map(str::to_owned),
            first(&pairs, "client_secret").map(str::to_owned),
        )
    } else {
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        (text("client_id"), text("client_secret"))
    };
    admit(
        &state,
        client_id.as_deref().unwrap_or_default(),
        Endpoint::AuthV1,
    )?;
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        return Err(ApiError::v1(
            StatusCode::BAD_REQUEST,
            0,
            "The client_id and client_secret fields are required.",
        ));
    };
    let mut auth = lock(&state.auth);
    let credential = auth
        .check(&client_id, &client_secret)
        .ok_or_else(|| ApiError::v1(StatusCode::UNAUTHORIZED, 0, "Wrong credentials"))?;
    let token = auth.issue(credential, TokenKind::V1, BTreeSet::new(), Instant::now());
    let body = json!({
        "success": true,
        "data": {
            "token": token,
            "expires_in": auth.lifetime().as_secs(),
            "scope": "employees:read documents:read documents:write",
        },
    });
    Ok(axum::Json(body).into_response())
}

pub(super) async fn auth_v2(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !is_form(&headers) {
        return Err(ApiError::oauth(
            "invalid_request",
            "The request must be formatted using the application/x-www-form-urlencoded media type.",
            "credentials.oauth2.invalid_request.invalid_content_type",
        ));
    }
    let pairs = form_pairs(&body);
    admit(
        &state,
        first(&pairs, "client_id").unwrap_or_default(),
        Endpoint::AuthV2,
    )?;
    let missing: Vec<&str> = ["grant_type", "client_id", "client_secret"]
        .into_iter()
        .filter(|key| first(&pairs, key).is_none_or(str::is_empty))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::OAuth {
            error: "invalid_request",
            description: "The request has missing or invalid required parameters.",
            reference: "credentials.oauth2.invalid_request.required_parameters_missing",
            meta: Some(json!({"missing_parameters": missing})),
        });
    }
    if first(&pairs, "grant_type") != Some("client_credentials") {
        return Err(ApiError::oauth(
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
            "credentials.oauth2.unsupported_grant_type",
        ));
    }
    let mut auth = lock(&state.auth);
    let credential = auth
        .check(first(&pairs, "client_id").unwrap_or_default(), first(&pairs, "client_secret").unwrap_or_default())
        .ok_or_else(|| {
            ApiError::oauth(
                "invalid_client",
                "Client authentication failed (e.g., unknown client, wrong secret, no client authentication included, or unsupported authentication method).",
                "credentials.oauth2.invalid_client",
            )
        })?;
    let scopes = AuthRegistry::grant_scopes(&credential, first(&pairs, "scope")).map_err(|_| {
        ApiError::oauth(
            "invalid_scope",
            "One of the requested scopes is invalid.",
            "credentials.oauth2.invalid_scope",
        )
    })?;
    let scope = scopes
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let token = auth.issue(credential, TokenKind::V2, scopes, Instant::now());
    Ok(axum::Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": auth.lifetime().as_secs(),
        "scope": scope,
    }))
    .into_response())
}
