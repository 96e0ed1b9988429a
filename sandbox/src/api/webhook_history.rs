//! A webhook's history and manual deliveries: `GET …/events`, `GET …/activity`,
//! `POST …/redelivery`, `POST …/ping` and `POST …/test-event` under `/v2/webhooks/{id}`.
//!
//! Personio publishes the paths, scopes and filters; the item shapes and the redelivery and
//! test-event bodies are the sandbox's readings (see the crate docs and README).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::gateway::authorize;
use super::params::{first, form_pairs};
use super::v2_list::{ListPosition, list_body, page_limit};
use super::webhooks::{bad_parameter, json_body, validation_error, webhook_not_found};
use crate::endpoint::Endpoint;
use crate::state::AppState;
use crate::webhooks::model::EventName;
use crate::webhooks::registry::HistoryFilter;
use crate::webhooks::validation::{FieldProblem, Severity, body_object};

fn timestamp_parameter(
    pairs: &[(String, String)],
    key: &str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    first(pairs, key)
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| bad_parameter(format!("{key} must be an RFC 3339 date-time.")))
        })
        .transpose()
}

/// `{time}.gte`, `{time}.lte`, `event_name` (a catalog event or `ping`) and, for the
/// activity, `is_delivered`.
fn history_filter(
    pairs: &[(String, String)],
    time: &str,
    with_delivery: bool,
) -> Result<HistoryFilter, ApiError> {
    let event_name = first(pairs, "event_name")
        .map(|name| {
            EventName::from_catalog(name)
                .or((name == EventName::Ping.as_str()).then_some(EventName::Ping))
                .ok_or_else(|| bad_parameter(format!("event_name: unknown event `{name}`.")))
        })
        .transpose()?;
    let is_delivered = match first(pairs, "is_delivered") {
        Some(_) if !with_delivery => None,
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(bad_parameter(
                "is_delivered must be true or false.".to_owned(),
            ));
        }
    };
    Ok(HistoryFilter {
        from: timestamp_parameter(pairs, &format!("{time}.gte"))?,
        to: timestamp_parameter(pairs, &format!("{time}.lte"))?,
        event_name,
        is_delivered,
    })
}

/// The two history listings of a webhook.
#[derive(Debug, Clone, Copy)]
enum History {
    Events,
    Activity,
}

impl History {
    fn endpoint(self) -> Endpoint {
        match self {
            Self::Events => Endpoint::WebhookEvents,
            Self::Activity => Endpoint::WebhookActivity,
        }
    }

    /// The listing's filters: events by occurrence, activity by completion and delivery.
    fn filter(self, pairs: &[(String, String)]) -> Result<HistoryFilter, ApiError> {
        match self {
            Self::Events => history_filter(pairs, "occurred_at", false),
            Self::Activity => history_filter(pairs, "completed_at", true),
        }
    }

    /// The webhook's listed items, or `None` when there is no such webhook.
    fn items(self, state: &AppState, id: &str, filter: &HistoryFilter) -> Option<Vec<Value>> {
        let registry = state.webhooks.registry();
        registry.get(id)?;
        let company_id = &registry.settings().company_id;
        Some(match self {
            Self::Events => registry
                .events(id, filter)
                .into_iter()
                .map(|event| event.to_json(company_id))
                .collect(),
            Self::Activity => registry
                .attempts(id, filter)
                .into_iter()
                .map(|attempt| attempt.to_json())
                .collect(),
        })
    }
}

/// A page of one webhook's history in the v2 list shape.
fn history_page(
    state: &AppState,
    headers: &HeaderMap,
    history: History,
    id: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let endpoint = history.endpoint();
    authorize(state, headers, endpoint)?;
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let limit = page_limit(&pairs).map_err(ApiError::into_problem_json)?;
    let position = ListPosition::of_request(&pairs).map_err(ApiError::into_problem_json)?;
    let filter = history.filter(&position.filter_pairs())?;
    let listed = history
        .items(state, id, &filter)
        .ok_or_else(|| webhook_not_found(id))?;
    let (data, next) = position.page(&listed, limit);
    let endpoint_url = format!("{}{}", state.base_url, endpoint.path().replace("{id}", id));
    Ok(axum::Json(list_body(data, &endpoint_url, query, next)).into_response())
}

pub(super) async fn list_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    history_page(&state, &headers, History::Events, &id, query.as_deref())
}

pub(super) async fn list_activity(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    history_page(&state, &headers, History::Activity, &id, query.as_deref())
}

/// Sends the webhook's events selected by the query (the events listing's filters; none:
/// every event) again, keeping their ids; 202 with the ids put back into delivery.
pub(super) async fn redeliver(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookRedelivery)?;
    let pairs = form_pairs(query.as_deref().unwrap_or_default().as_bytes());
    let filter = history_filter(&pairs, "occurred_at", false)?;
    let jobs = {
        let mut registry = state.webhooks.registry();
        if registry.get(&id).is_none() {
            return Err(webhook_not_found(&id));
        }
        registry.redeliver(&id, &filter)
    };
    let event_ids: Vec<&str> = jobs.iter().map(|job| job.event_id.as_str()).collect();
    let body = json!({"event_ids": event_ids});
    state.webhooks.enqueue(jobs);
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Queues one event for the webhook, whatever its status; answers with the event.
fn send_test_event(
    state: &AppState,
    id: &str,
    name: EventName,
    payload: Value,
) -> Result<Response, ApiError> {
    let (body, job) = {
        let mut registry = state.webhooks.registry();
        let company_id = registry.settings().company_id.clone();
        let (event, job) = registry
            .test_event(id, name, payload, Utc::now())
            .ok_or_else(|| webhook_not_found(id))?;
        (event.to_json(&company_id), job)
    };
    state.webhooks.enqueue(vec![job]);
    Ok(axum::Json(body).into_response())
}

/// A `ping` event (payload: the webhook's id).
pub(super) async fn ping(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookPing)?;
    send_test_event(&state, &id, EventName::Ping, json!({"webhook_id": id}))
}

/// A catalog event with a payload of the caller's choosing:
/// `{"event_name": "person.updated", "payload": {"id": "10001"}}`.
pub(super) async fn test_event(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::WebhookTestEvent)?;
    let body = json_body(&body)?;
    let object = body_object(&body).map_err(validation_error)?;
    let (name, payload) = test_event_fields(object).map_err(validation_error)?;
    send_test_event(&state, &id, name, payload)
}

fn test_event_fields(object: &Map<String, Value>) -> Result<(EventName, Value), Vec<FieldProblem>> {
    let problem = |field: &str, message: &str, severity| FieldProblem {
        field: field.to_owned(),
        message: message.to_owned(),
        severity,
    };
    let mut problems = Vec::new();
    let name = match object.get("event_name") {
        Some(Value::String(name)) => {
            let known = EventName::from_catalog(name);
            if known.is_none() {
                problems.push(problem(
                    "event_name",
                    "event_name is not an event of the catalog.",
                    Severity::Unprocessable,
                ));
            }
            known
        }
        Some(_) => {
            problems.push(problem(
                "event_name",
                "event_name must be a string.",
                Severity::Malformed,
            ));
            None
        }
        None => {
            problems.push(problem(
                "event_name",
                "event_name is required.",
                Severity::Malformed,
            ));
            None
        }
    };
    let payload = match object.get("payload") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(payload)) => Value::Object(payload.clone()),
        Some(_) => {
            problems.push(problem(
                "payload",
                "payload must be an object.",
                Severity::Malformed,
            ));
            Value::Null
        }
    };
    match name {
        Some(name) if problems.is_empty() => Ok((name, payload)),
        _ => Err(problems),
    }
}
