//! The webhooks management API: `POST/GET /v2/webhooks`, `GET/PATCH/DELETE /v2/webhooks/{id}`.
//! v2 tokens with `personio:webhooks:read` (reads) or `personio:webhooks:write` (changes);
//! errors are v2 error bodies served as `application/problem+json`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, V2Problem};
use super::gateway::authorize;
use super::params::{first, form_pairs};
use super::v2_list::{ListPosition, invalid_v2, list_body, page_limit};
use crate::endpoint::Endpoint;
use crate::state::AppState;
use crate::webhooks::model::{EventName, WebhookStatus};
use crate::webhooks::registry::StoreError;
use crate::webhooks::validation::{
    FieldProblem, Severity, body_object, validate_create, validate_update,
};

/// 404 for a webhook id the company does not have.
pub(super) fn webhook_not_found(id: &str) -> ApiError {
    ApiError::v2(
        StatusCode::NOT_FOUND,
        "Not Found",
        format!("No webhook with id {id} exists."),
        "common.requested_resource_not_found",
    )
    .into_problem_json()
}

/// 400 for a malformed query parameter, as problem+json.
pub(super) fn bad_parameter(detail: String) -> ApiError {
    invalid_v2(detail).into_problem_json()
}

/// Field problems as one answer: 400 if any is malformed, 422 otherwise.
pub(super) fn validation_error(problems: Vec<FieldProblem>) -> ApiError {
    let malformed = problems
        .iter()
        .any(|problem| problem.severity == Severity::Malformed);
    let (status, title, reference) = if malformed {
        (
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "common.invalid_request",
        )
    } else {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Entity",
            "common.unprocessable_entity",
        )
    };
    let problems = problems
        .into_iter()
        .map(|problem| V2Problem {
            title,
            detail: problem.message,
            reference,
            field: Some(problem.field),
        })
        .collect();
    ApiError::problems(status, problems)
}

/// The request body as JSON; an empty or broken body is a 400.
pub(super) fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| {
        validation_error(vec![FieldProblem {
            field: "body".to_owned(),
            message: "The request body must be a JSON object.".to_owned(),
            severity: Severity::Malformed,
        }])
    })
}

fn store_error(error: StoreError, id: &str) -> ApiError {
    match error {
        StoreError::NotFound => webhook_not_found(id),
        StoreError::DuplicateUrl => ApiError::problems(
            StatusCode::CONFLICT,
            vec![V2Problem {
                title: "Conflict",
                detail: "A webhook with this url already exists.".to_owned(),
                reference: "common.conflict",
                field: Some("url".to_owned()),
            }],
        ),
    }
}

pub(super) async fn create_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookCreate)?;
    let body = json_body(&body)?;
    let object = body_object(&body).map_err(validation_error)?;
    let mut registry = state.webhooks.registry();
    let allow_http = registry.settings().allow_http_loopback;
    let spec = validate_create(object, allow_http).map_err(validation_error)?;
    let webhook = registry
        .create(spec)
        .map_err(|error| store_error(error, ""))?;
    tracing::debug!(id = %webhook.id, "webhook created");
    Ok((StatusCode::CREATED, axum::Json(webhook.to_json())).into_response())
}

pub(super) async fn list_webhooks(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookList)?;
    let pairs = form_pairs(query.as_deref().unwrap_or_default().as_bytes());
    let limit = page_limit(&pairs).map_err(ApiError::into_problem_json)?;
    let position = ListPosition::of_request(&pairs).map_err(ApiError::into_problem_json)?;
    let filters = position.filter_pairs();
    let event = first(&filters, "enabled_events")
        .map(|name| {
            EventName::from_catalog(name)
                .ok_or_else(|| bad_parameter(format!("enabled_events: unknown event `{name}`.")))
        })
        .transpose()?;
    let status = first(&filters, "status")
        .map(|text| {
            WebhookStatus::parse(text)
                .ok_or_else(|| bad_parameter("status must be one of ENABLED, DISABLED.".to_owned()))
        })
        .transpose()?;
    let listed: Vec<Value> = state
        .webhooks
        .registry()
        .list(event, status)
        .into_iter()
        .map(|webhook| webhook.to_json())
        .collect();
    let (data, next) = position.page(&listed, limit);
    let endpoint = format!("{}{}", state.base_url, Endpoint::WebhookList.path());
    Ok(axum::Json(list_body(data, &endpoint, query.as_deref(), next)).into_response())
}

pub(super) async fn get_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookGet)?;
    let registry = state.webhooks.registry();
    let webhook = registry.get(&id).ok_or_else(|| webhook_not_found(&id))?;
    Ok(axum::Json(webhook.to_json()).into_response())
}

pub(super) async fn update_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookUpdate)?;
    let body = json_body(&body)?;
    let object = body_object(&body).map_err(validation_error)?;
    let mut registry = state.webhooks.registry();
    let allow_http = registry.settings().allow_http_loopback;
    let current = registry.get(&id).ok_or_else(|| webhook_not_found(&id))?;
    let spec = validate_update(current, object, allow_http).map_err(validation_error)?;
    let webhook = registry
        .update(&id, spec)
        .map_err(|error| store_error(error, &id))?;
    Ok(axum::Json(webhook.to_json()).into_response())
}

pub(super) async fn delete_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookDelete)?;
    if state.webhooks.registry().delete(&id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(webhook_not_found(&id))
    }
}
