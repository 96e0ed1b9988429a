//! Error answers, each in the body format of the API family that produced it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::credentials::TokenRejection;
use crate::endpoint::Endpoint;

/// An error answer in the body format of the API family that produced it.
#[derive(Debug)]
pub(super) enum ApiError {
    /// v1: `{"success":false,"error":{"code":…,"message":…[,"error_data":…]}}`.
    V1 {
        status: StatusCode,
        code: i64,
        message: String,
        error_data: Option<Value>,
    },
    /// v2 resources: `{"personio_trace_id","timestamp","errors":[{title,detail,type}]}`.
    V2 {
        status: StatusCode,
        title: &'static str,
        detail: String,
        reference: &'static str,
    },
    /// v2 auth (OAuth 2.0): `application/problem+json` with `error`, `error_description`, ….
    OAuth {
        error: &'static str,
        description: &'static str,
        reference: &'static str,
        meta: Option<Value>,
    },
}

impl ApiError {
    pub(super) fn v1(status: StatusCode, code: i64, message: &str) -> Self {
        Self::V1 {
            status,
            code,
            message: message.to_owned(),
            error_data: None,
        }
    }

    pub(super) fn v2(
        status: StatusCode,
        title: &'static str,
        detail: String,
        reference: &'static str,
    ) -> Self {
        Self::V2 {
            status,
            title,
            detail,
            reference,
        }
    }

    pub(super) fn too_many_requests(endpoint: Endpoint) -> Self {
        if endpoint.is_v2() && endpoint != Endpoint::AuthV2 {
            Self::v2(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "The rate limit for this endpoint has been exceeded. Please try again later."
                    .to_owned(),
                "common.too_many_requests",
            )
        } else {
            Self::v1(StatusCode::TOO_MANY_REQUESTS, 429, "Too Many Requests")
        }
    }

    pub(super) fn upstream(endpoint: Endpoint, status: StatusCode) -> Self {
        let (title, reference) = if status == StatusCode::BAD_GATEWAY {
            ("Bad Gateway", "common.bad_gateway")
        } else {
            ("Internal Server Error", "common.internal_server_error")
        };
        if endpoint.is_v2() {
            Self::v2(
                status,
                title,
                "There was a problem while processing this request. Please try again later."
                    .to_owned(),
                reference,
            )
        } else {
            Self::v1(status, i64::from(status.as_u16()), title)
        }
    }

    pub(super) fn unauthorized(endpoint: Endpoint, rejection: TokenRejection) -> Self {
        let message = match rejection {
            TokenRejection::Missing => "The authorization header is missing.",
            TokenRejection::Invalid => "The access token is invalid.",
            TokenRejection::Expired => "The access token has expired.",
            TokenRejection::WrongKind if endpoint.is_v2() => {
                "This endpoint requires an access token from /v2/auth/token."
            }
            TokenRejection::WrongKind => "This endpoint requires an access token from /v1/auth.",
        };
        if endpoint.is_v2() {
            Self::v2(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                message.to_owned(),
                "common.unauthorized",
            )
        } else {
            Self::v1(StatusCode::UNAUTHORIZED, 401, message)
        }
    }

    pub(super) fn oauth(
        error: &'static str,
        description: &'static str,
        reference: &'static str,
    ) -> Self {
        Self::OAuth {
            error,
            description,
            reference,
            meta: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let timestamp = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let trace_id = uuid::Uuid::new_v4().to_string();
        match self {
            Self::V1 {
                status,
                code,
                message,
                error_data,
            } => {
                let mut error = json!({"code": code, "message": message});
                if let (Some(data), Some(object)) = (error_data, error.as_object_mut()) {
                    object.insert("error_data".to_owned(), data);
                }
                (status, axum::Json(json!({"success": false, "error": error}))).into_response()
            }
            Self::V2 {
                status,
                title,
                detail,
                reference,
            } => (
                status,
                axum::Json(json!({
                    "personio_trace_id": trace_id,
                    "timestamp": timestamp,
                    "errors": [{
                        "title": title,
                        "detail": detail,
                        "type": format!("https://developer.personio.de/reference/errors#{reference}"),
                    }],
                })),
            )
                .into_response(),
            Self::OAuth {
                error,
                description,
                reference,
                meta,
            } => {
                let mut body = json!({
                    "timestamp": timestamp,
                    "trace_id": trace_id,
                    "error": error,
                    "error_description": description,
                    "error_uri": format!("https://developer.personio.de/reference/errors#{reference}"),
                });
                if let (Some(meta), Some(object)) = (meta, body.as_object_mut()) {
                    object.insert("meta".to_owned(), meta);
                }
                let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
                response
            }
        }
    }
}
