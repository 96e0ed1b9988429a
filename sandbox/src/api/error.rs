//! Error answers, each in the body format of the API family that produced it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::credentials::TokenRejection;
use crate::endpoint::Endpoint;

/// One entry of a v2 error body's `errors` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct V2Problem {
    pub title: &'static str,
    pub detail: String,
    /// The error code, linked as `https://developer.personio.de/reference/errors#{reference}`.
    pub reference: &'static str,
    /// The request field at fault, as `_meta.field` (a sandbox reading: Personio's `_meta` is a
    /// free string map).
    pub field: Option<String>,
}

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
    /// v2 resources: `{"personio_trace_id","timestamp","errors":[{title,detail,type[,_meta]}]}`;
    /// the webhooks API serves it as `application/problem+json`.
    V2 {
        status: StatusCode,
        problems: Vec<V2Problem>,
        problem_json: bool,
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
            problems: vec![V2Problem {
                title,
                detail,
                reference,
                field: None,
            }],
            problem_json: false,
        }
    }

    /// A v2 error in the media type `endpoint` answers with.
    fn v2_for(
        endpoint: Endpoint,
        status: StatusCode,
        title: &'static str,
        detail: String,
        reference: &'static str,
    ) -> Self {
        let error = Self::v2(status, title, detail, reference);
        if endpoint.is_webhooks() {
            error.into_problem_json()
        } else {
            error
        }
    }

    /// Several v2 problems at once (every invalid field of a request), as problem+json.
    pub(super) fn problems(status: StatusCode, problems: Vec<V2Problem>) -> Self {
        Self::V2 {
            status,
            problems,
            problem_json: true,
        }
    }

    /// The same error served as `application/problem+json`.
    pub(super) fn into_problem_json(self) -> Self {
        match self {
            Self::V2 {
                status, problems, ..
            } => Self::V2 {
                status,
                problems,
                problem_json: true,
            },
            other => other,
        }
    }

    pub(super) fn too_many_requests(endpoint: Endpoint) -> Self {
        if endpoint.is_v2() && endpoint != Endpoint::AuthV2 {
            Self::v2_for(
                endpoint,
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
            Self::v2_for(
                endpoint,
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
            Self::v2_for(
                endpoint,
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                message.to_owned(),
                "common.unauthorized",
            )
        } else {
            Self::v1(StatusCode::UNAUTHORIZED, 401, message)
        }
    }

    /// A v2 token without the scope the operation needs.
    pub(super) fn forbidden(endpoint: Endpoint, scope: &str) -> Self {
        Self::v2_for(
            endpoint,
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("The access token does not have the required scope `{scope}`."),
            "common.forbidden",
        )
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

fn error_uri(reference: &str) -> String {
    format!("https://developer.personio.de/reference/errors#{reference}")
}

fn with_problem_json(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn v2_problem_json(problem: V2Problem) -> Value {
    let mut entry = json!({
        "title": problem.title,
        "detail": problem.detail,
        "type": error_uri(problem.reference),
    });
    if let (Some(field), Some(object)) = (problem.field, entry.as_object_mut()) {
        object.insert("_meta".to_owned(), json!({"field": field}));
    }
    entry
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
                (
                    status,
                    axum::Json(json!({"success": false, "error": error})),
                )
                    .into_response()
            }
            Self::V2 {
                status,
                problems,
                problem_json,
            } => {
                let errors: Vec<Value> = problems.into_iter().map(v2_problem_json).collect();
                let body = json!({
                    "personio_trace_id": trace_id,
                    "timestamp": timestamp,
                    "errors": errors,
                });
                let response = (status, axum::Json(body)).into_response();
                if problem_json {
                    with_problem_json(response)
                } else {
                    response
                }
            }
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
                    "error_uri": error_uri(reference),
                });
                if let (Some(meta), Some(object)) = (meta, body.as_object_mut()) {
                    object.insert("meta".to_owned(), meta);
                }
                with_problem_json((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
            }
        }
    }
}
