//! Errors of the admin API and their RFC 9457 problem details (`application/problem+json`):
//! every 4xx/5xx answer is one of these, with `field` naming the bad input where there is one.

use crate::ports::{CredentialsError, QueueError, StoreError};
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Where the problem types are described (`docs/admin-api.md`, "Problems").
const TYPE_PREFIX: &str = "urn:personio-lms:problem:";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not UTF-8); the message names the position.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// A body field is missing or has a value the API cannot use.
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// A query parameter the API cannot use.
    #[error("query parameter {name}: {message}")]
    InvalidQuery { name: &'static str, message: String },
    #[error("the request carries no tenant claim")]
    Unauthenticated,
    /// No such route, or nothing of the caller's under that name.
    #[error("{0}")]
    NotFound(String),
    #[error("{method} is not allowed here")]
    MethodNotAllowed {
        method: Method,
        allowed: Vec<Method>,
    },
    #[error("the integration is no longer at version {expected}: read it again and retry")]
    VersionMismatch { expected: u64 },
    #[error("send If-Match with the integration's version (its ETag) to change it")]
    VersionRequired,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Conflict(String),
    /// A dependency (state store, queue, secret store) is down or throttling: try again.
    #[error("{0}")]
    Unavailable(String),
    /// Something the caller cannot fix (a corrupt stored item, a refused queue message).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::InvalidQuery { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            Self::VersionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type's short name (the end of its `type` URI).
    fn kind(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed-json",
            Self::InvalidField { .. } => "invalid-field",
            Self::InvalidQuery { .. } => "invalid-query",
            Self::Unauthenticated => "unauthenticated",
            Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::VersionMismatch { .. } => "version-mismatch",
            Self::VersionRequired => "version-required",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            Self::InvalidQuery { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The problem+json response.
    pub fn into_response(self) -> Response<Bytes> {
        let status = self.status();
        let problem = Problem {
            r#type: format!("{TYPE_PREFIX}{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            field: self.field(),
        };
        let mut response = super::json_response(status, &problem);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        match &self {
            Self::MethodNotAllowed { allowed, .. } => {
                let allow = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable(error.to_string()),
            StoreError::Conflict(_) => Self::Conflict(error.to_string()),
            StoreError::Corrupt { .. } => Self::Internal(error.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        if error.is_retryable() {
            Self::Unavailable(error.to_string())
        } else {
            Self::Internal(error.to_string())
        }
    }
}

impl From<CredentialsError> for ApiError {
    fn from(error: CredentialsError) -> Self {
        // The messages name integrations and secret names, never secret values.
        if error.is_retryable() {
            Self::Unavailable(error.to_string())
        } else {
            Self::Internal(error.to_string())
        }
    }
}
