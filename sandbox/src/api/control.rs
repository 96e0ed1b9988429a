//! The control surface under `/_sandbox/`, outside Personio's paths and served only when the
//! sandbox is started with it: HR's changes from another process (a demo, a benchmark driving
//! a `personio-sandbox` child), with the same effects as the Rust mutation methods, webhook
//! events included. No token: it listens on 127.0.0.1 only, like the rest of the sandbox.
//!
//! - `POST /_sandbox/employees` `{"first_name","last_name","email","attributes":{key: value}}`
//!   → 201 `{"id": …}`
//! - `PATCH /_sandbox/employees/{id}` `{key: value, …}` → 200 `{"id": …}` (attributes are set
//!   one by one; the first failing one stops the request, the ones before it stay set)
//! - `DELETE /_sandbox/employees/{id}` → 204
//!
//! Errors are `{"error": "…"}` with 400 (bad body), 404 (unknown employee) or 422 (unknown or
//! read-only attribute).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use serde_json::{Map, Value, json};

use crate::error::SandboxError;
use crate::generator::NewEmployee;
use crate::mutation;
use crate::state::AppState;

/// An answer of the control surface that is not a success.
#[derive(Debug)]
pub(super) struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    fn bad_request(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.to_owned(),
        }
    }
}

impl From<SandboxError> for ControlError {
    fn from(error: SandboxError) -> Self {
        let status = match error {
            SandboxError::UnknownEmployee(_) => StatusCode::NOT_FOUND,
            SandboxError::UnknownAttribute(_) | SandboxError::ReadOnlyAttribute(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

/// The routes, to be merged into the API router.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_sandbox/employees", post(add_employee))
        .route(
            "/_sandbox/employees/{id}",
            patch(update_employee).delete(remove_employee),
        )
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>, ControlError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ControlError::bad_request("the body must be a JSON object")),
    }
}

fn employee_id(text: &str) -> Result<u64, ControlError> {
    text.parse()
        .map_err(|_| ControlError::bad_request("the employee id must be a number"))
}

async fn add_employee(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let object = json_object(&body)?;
    let name = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ControlError::bad_request(&format!("`{key}` (a string) is required")))
    };
    let mut hire = NewEmployee::new(&name("first_name")?, &name("last_name")?, &name("email")?);
    match object.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attributes)) => {
            for (key, value) in attributes {
                hire = hire.with(key, value.clone());
            }
        }
        Some(_) => return Err(ControlError::bad_request("`attributes` must be an object")),
    }
    let id = mutation::add_employee(&state, &hire)?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response())
}

async fn update_employee(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let id = employee_id(&id)?;
    let object = json_object(&body)?;
    for (key, value) in object {
        mutation::set_attribute(&state, id, &key, value)?;
    }
    Ok(axum::Json(json!({"id": id})).into_response())
}

async fn remove_employee(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ControlError> {
    mutation::remove_employee(&state, employee_id(&id)?)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
