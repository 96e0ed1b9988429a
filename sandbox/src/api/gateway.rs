//! The gateway in front of the handlers: it counts every request, adds the configured latency
//! and injects faults ([`gateway`]); handlers pass their request through [`authorize`] (token
//! and rate budget) or, for the token endpoints, [`admit`] (rate budget by client id).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::error::ApiError;
use crate::credentials::{Credential, TokenKind, bearer_token};
use crate::endpoint::Endpoint;
use crate::faults::FaultKind;
use crate::rate_limit::Bucket;
use crate::state::{AppState, lock};

/// A marker payload for the deliberate unwind that drops a connection.
struct DroppedConnection;

/// Counts the request and applies the configured latency and fault before the handler runs.
pub(super) async fn gateway(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(endpoint) = Endpoint::from_route(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    lock(&state.stats).count_request(endpoint);
    let (latency, fault, hang) = {
        let mut faults = lock(&state.faults);
        let (latency, fault) = faults.decide(endpoint);
        (latency, fault, faults.hang())
    };
    if let Some(kind) = fault {
        lock(&state.stats).count_fault(kind);
        tracing::debug!(?endpoint, ?kind, "injecting fault");
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => next.run(request).await,
        Some(FaultKind::InternalServerError) => {
            ApiError::upstream(endpoint, StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
        Some(FaultKind::BadGateway) => {
            ApiError::upstream(endpoint, StatusCode::BAD_GATEWAY).into_response()
        }
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(hang).await;
            next.run(request).await
        }
        Some(FaultKind::TruncatedBody) => truncate(next.run(request).await).await,
        Some(FaultKind::DroppedConnection) => {
            // Unwinding out of the connection task makes hyper drop the socket without writing
            // a response, which is exactly a dropped connection. `resume_unwind` skips the panic
            // hook, so nothing is printed; the runtime contains the unwind to this one task.
            std::panic::resume_unwind(Box::new(DroppedConnection))
        }
    }
}

async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
}

/// Counts a 429 if the credential `key` is over budget for `endpoint`.
pub(super) fn admit(state: &AppState, key: &str, endpoint: Endpoint) -> Result<(), ApiError> {
    if lock(&state.limiter).admit(key, Bucket::of(endpoint), Instant::now()) {
        return Ok(());
    }
    lock(&state.stats).count_throttled(endpoint);
    Err(ApiError::too_many_requests(endpoint))
}

/// The credential behind the request's bearer token, holding the operation's scope (v2) and
/// within its rate budget.
pub(super) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<Arc<Credential>, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let kind = if endpoint.is_v2() {
        TokenKind::V2
    } else {
        TokenKind::V1
    };
    let grant = lock(&state.auth)
        .verify(bearer_token(header), kind, Instant::now())
        .map_err(|rejection| ApiError::unauthorized(endpoint, rejection))?;
    if let Some(scope) = endpoint.required_scope()
        && !grant.allows(scope)
    {
        return Err(ApiError::forbidden(endpoint, scope));
    }
    admit(state, &grant.credential.client_id, endpoint)?;
    Ok(grant.credential)
}
