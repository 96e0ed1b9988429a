//! The HTTP side of `personio-lms serve` (axum): the console's files, the session endpoints, and
//! every other request handed to the admin API core (`common::admin`) with the caller the
//! [`Access`] rules establish. The host adds no routes of its own to the API; besides it, only
//! `GET /metrics` (the host's figures in the Prometheus text format, for the same callers as
//! the API: the admin token as bearer, or a console session) and Personio's webhook deliveries
//! (`POST /webhooks/personio/{integration_id}`, authenticated by the integration's webhook
//! token, handed to `common::app::WebhookReceiver`).

use super::access::{Access, Refusal, check_origin};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use chrono::Utc;
use common::admin::console::{ConsoleAuth, console_response, is_console_path};
use common::admin::{AdminApi, ApiError};
use common::app::DeliveryAnswer;
use common::app::WebhookReceiver;
use common::app::webhook_receiver::MAX_BODY_BYTES as WEBHOOK_MAX_BODY_BYTES;
use common::metrics::MetricsRegistry;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;
use tracing::{info, warn};

/// The host's figures in the Prometheus text format.
pub const METRICS_PATH: &str = "/metrics";

/// Where Personio delivers an integration's webhook events (the id follows).
pub const WEBHOOK_PREFIX: &str = "/webhooks/personio/";

/// The largest request body: a backfill batch of certificate jobs with inline PDFs.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub struct Web {
    pub api: AdminApi,
    /// Personio's webhook deliveries (`POST /webhooks/personio/{integration_id}`): checked by
    /// the integration's webhook token, not by the admin's access rules.
    pub webhooks: WebhookReceiver,
    pub access: Access,
    /// The figures `GET /metrics` shows.
    pub metrics: Arc<MetricsRegistry>,
    /// The `Host` values this server answers (its listen address, `localhost` aliases, the
    /// public URL's host): a request naming another is a DNS-rebinding attempt or a mistake.
    pub hosts: Vec<String>,
    /// The origins its own pages have (`http://127.0.0.1:8080`, the public URL's).
    pub origins: Vec<String>,
}

pub fn router(web: Arc<Web>) -> Router {
    Router::new().fallback(answer).with_state(web)
}

async fn answer(State(web): State<Arc<Web>>, request: Request) -> Response {
    let response = match web.host_refusal(request.headers()) {
        Some(refusal) => refusal,
        None => web.route(request).await,
    };
    into_axum(with_common_headers(response))
}

impl Web {
    fn host_refusal(&self, headers: &HeaderMap) -> Option<http::Response<Bytes>> {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if self.hosts.contains(&host) {
            return None;
        }
        warn!(%host, "request for an unknown host refused");
        Some(problem(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            &format!(
                "this server answers for {}, not {host:?} (start it with --public-url to add a name)",
                self.hosts.join(", ")
            ),
            None,
        ))
    }

    async fn route(&self, request: Request) -> http::Response<Bytes> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        if path == "/" && method == Method::GET {
            return redirect("/console/");
        }
        if is_console_path(&path) {
            if method != Method::GET && method != Method::HEAD {
                return ApiError::MethodNotAllowed {
                    method,
                    allowed: vec![Method::GET],
                }
                .into_response();
            }
            return console_response(&path, &ConsoleAuth::Session)
                .unwrap_or_else(|| ApiError::NotFound(format!("no route {path}")).into_response());
        }
        if path == "/session" {
            return self.session(request).await;
        }
        if let Some(integration) = path.strip_prefix(WEBHOOK_PREFIX) {
            return self.webhook_delivery(integration.to_owned(), request).await;
        }
        let (parts, body) = request.into_parts();
        let caller =
            match self
                .access
                .authenticate(&parts.method, &parts.headers, &self.origins, Utc::now())
            {
                Ok(caller) => caller,
                Err(refusal) => return refused(refusal),
            };
        // Only the API's contract is public.
        if caller.is_none() && path != "/openapi.json" {
            return refused(Refusal::Unauthenticated(
                "sign in to the console, or send `Authorization: Bearer <admin token>`".into(),
            ));
        }
        if path == METRICS_PATH {
            return self.metrics_page(&parts.method);
        }
        let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                return ApiError::PayloadTooLarge(format!(
                    "the request body is larger than {} MB",
                    MAX_BODY_BYTES / 1024 / 1024
                ))
                .into_response();
            }
        };
        let request = http::Request::from_parts(parts, body);
        self.api.handle(request, caller).await
    }

    /// One Personio delivery, answered as the `webhook-receiver` function answers it (the
    /// receiver answers within Personio's 3 s and never syncs inline; the sync worker takes the
    /// job from the queue).
    async fn webhook_delivery(
        &self,
        integration: String,
        request: Request,
    ) -> http::Response<Bytes> {
        if request.method() != Method::POST {
            return ApiError::MethodNotAllowed {
                method: request.method().clone(),
                allowed: vec![Method::POST],
            }
            .into_response();
        }
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = match axum::body::to_bytes(request.into_body(), WEBHOOK_MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                return ApiError::PayloadTooLarge(format!(
                    "a webhook delivery is at most {} KiB",
                    WEBHOOK_MAX_BODY_BYTES / 1024
                ))
                .into_response();
            }
        };
        let integration = integration.trim_end_matches('/');
        let answer = DeliveryAnswer::of(
            &self
                .webhooks
                .receive(integration, authorization.as_deref(), &body)
                .await,
        );
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json(status, &answer.body);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(answer.content_type),
        );
        response
    }

    /// `GET /metrics`: what this host has observed since it started, for an authenticated caller
    /// (a Prometheus scrape sends the admin token as its bearer token).
    fn metrics_page(&self, method: &Method) -> http::Response<Bytes> {
        if method != Method::GET && method != Method::HEAD {
            return ApiError::MethodNotAllowed {
                method: method.clone(),
                allowed: vec![Method::GET],
            }
            .into_response();
        }
        let mut response = http::Response::new(Bytes::from(self.metrics.render()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(common::metrics::prometheus::CONTENT_TYPE),
        );
        response
    }

    /// `POST /session` signs in with the admin token, `GET` tells the console its CSRF token,
    /// `DELETE` signs out.
    async fn session(&self, request: Request) -> http::Response<Bytes> {
        let now = Utc::now();
        let (parts, body) = request.into_parts();
        match parts.method {
            Method::POST => {
                if let Err(refusal) = check_origin(&parts.headers, &self.origins) {
                    return refused(refusal);
                }
                let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
                    return ApiError::PayloadTooLarge("the sign-in body is too large".into())
                        .into_response();
                };
                #[derive(Deserialize)]
                struct SignIn {
                    token: String,
                }
                let Ok(sign_in) = serde_json::from_slice::<SignIn>(&body) else {
                    return ApiError::invalid("token", "send {\"token\": \"<admin token>\"}")
                        .into_response();
                };
                let Some(session) = self.access.login(&sign_in.token, now) else {
                    warn!("sign-in with a wrong admin token refused");
                    return problem(
                        StatusCode::UNAUTHORIZED,
                        "unauthenticated",
                        "this is not the admin token of this server",
                        Some("token"),
                    );
                };
                info!("console session started");
                let mut response = json(
                    StatusCode::CREATED,
                    &serde_json::json!({
                        "csrf_token": session.csrf_token,
                        "expires_at": session.expires_at,
                    }),
                );
                set_cookie(&mut response, &self.access.session_cookie(&session));
                response
            }
            Method::GET => match self.access.session_info(&parts.headers, now) {
                Some((csrf_token, expires_at)) => json(
                    StatusCode::OK,
                    &serde_json::json!({"csrf_token": csrf_token, "expires_at": expires_at}),
                ),
                None => problem(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "no session; sign in with the admin token",
                    None,
                ),
            },
            Method::DELETE => {
                if let Err(refusal) =
                    self.access
                        .authenticate(&Method::DELETE, &parts.headers, &self.origins, now)
                {
                    return refused(refusal);
                }
                self.access.logout(&parts.headers);
                let mut response = http::Response::new(Bytes::new());
                *response.status_mut() = StatusCode::NO_CONTENT;
                set_cookie(&mut response, &self.access.cleared_cookie());
                response
            }
            method => ApiError::MethodNotAllowed {
                method,
                allowed: vec![Method::GET, Method::POST, Method::DELETE],
            }
            .into_response(),
        }
    }
}

fn set_cookie(response: &mut http::Response<Bytes>, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

fn refused(refusal: Refusal) -> http::Response<Bytes> {
    match refusal {
        Refusal::Unauthenticated(detail) => {
            problem(StatusCode::UNAUTHORIZED, "unauthenticated", &detail, None)
        }
        Refusal::Forbidden(detail) => {
            warn!(%detail, "request refused (CSRF)");
            problem(StatusCode::FORBIDDEN, "forbidden", &detail, None)
        }
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A problem+json answer of the host, in the API's shape (`urn:personio-lms:problem:…`).
fn problem(
    status: StatusCode,
    kind: &str,
    detail: &str,
    field: Option<&str>,
) -> http::Response<Bytes> {
    let mut body = serde_json::json!({
        "type": format!("urn:personio-lms:problem:{kind}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let Some(field) = field {
        body["field"] = serde_json::Value::from(field);
    }
    let mut response = json(status, &body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(common::admin::PROBLEM_CONTENT_TYPE),
    );
    response
}

fn redirect(location: &'static str) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = StatusCode::FOUND;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}

/// API answers are never cached (they hold state and the console reads them afresh) and never
/// sniffed.
fn with_common_headers(mut response: http::Response<Bytes>) -> http::Response<Bytes> {
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    response
}

fn into_axum(response: http::Response<Bytes>) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body))
}
