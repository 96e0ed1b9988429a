//! The HTTP surface: routes, the "gateway" middleware (counting, latency, faults), auth, rate
//! limits, and the handlers with Personio's validation rules and error bodies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Multipart, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::auth::{AuthRegistry, Credential, TokenKind, TokenRejection, bearer_token};
use crate::config::DocumentCategory;
use crate::faults::{FaultInjector, FaultKind};
use crate::rate_limit::{Bucket, RateLimiter};
use crate::store::{EmployeeQuery, Store, UploadedDocument, documents_of};

/// Personio's documented upload limit.
pub const MAX_FILE_BYTES: usize = 30 * 1024 * 1024;
const MAX_EMPLOYEE_LIMIT: usize = 100;
/// The task's reading of Personio's default page size (the v1 spec's example says 10).
const DEFAULT_EMPLOYEE_LIMIT: usize = 50;
const MAX_V2_LIMIT: usize = 200;
const DEFAULT_V2_LIMIT: usize = 100;
/// File extensions Personio accepts, from the 422 message in its spec.
const ALLOWED_EXTENSIONS: &str = "pdf, docx, doc, jpg, zip, png, txt, jpeg, odt, xlsx, rtf, htm, xls, p7s, pptx, pages, rar, ppt, gif, tif, html, msg, asc, tiff, wps, bmp, 7z, csv, ics, vcf, dotx, numbers, eps, gz, ods, otf, odp, odg, rtfd, txz, webarchive, xml, xps, md, fax";

/// An API operation, for inspection counters and fault targeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /v1/auth`
    AuthV1,
    /// `POST /v2/auth/token`
    AuthV2,
    /// `GET /v1/company/employees`
    Employees,
    /// `GET /v1/company/document-categories`
    DocumentCategories,
    /// `POST /v1/company/documents`
    DocumentUpload,
    /// `GET /v2/document-management/documents`
    DocumentListV2,
}

impl Endpoint {
    fn from_route(method: &Method, path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        match (method.as_str(), path) {
            ("POST", "/v1/auth") => Some(Self::AuthV1),
            ("POST", "/v2/auth/token") => Some(Self::AuthV2),
            ("GET", "/v1/company/employees") => Some(Self::Employees),
            ("GET", "/v1/company/document-categories") => Some(Self::DocumentCategories),
            ("POST", "/v1/company/documents") => Some(Self::DocumentUpload),
            ("GET", "/v2/document-management/documents") => Some(Self::DocumentListV2),
            _ => None,
        }
    }

    fn bucket(self) -> Bucket {
        match self {
            Self::AuthV1 | Self::AuthV2 => Bucket::Auth,
            Self::Employees => Bucket::Employees,
            Self::DocumentCategories | Self::DocumentUpload | Self::DocumentListV2 => {
                Bucket::Documents
            }
        }
    }

    fn is_v2(self) -> bool {
        matches!(self, Self::AuthV2 | Self::DocumentListV2)
    }
}

/// What the sandbox has served so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received per endpoint (including throttled and faulted ones).
    pub requests: HashMap<Endpoint, u64>,
    /// 429 answers per endpoint.
    pub throttled: HashMap<Endpoint, u64>,
    pub faults: HashMap<FaultKind, u64>,
}

impl Stats {
    pub fn requests_to(&self, endpoint: Endpoint) -> u64 {
        self.requests.get(&endpoint).copied().unwrap_or(0)
    }
    pub fn throttled_on(&self, endpoint: Endpoint) -> u64 {
        self.throttled.get(&endpoint).copied().unwrap_or(0)
    }
    pub fn faults_of(&self, kind: FaultKind) -> u64 {
        self.faults.get(&kind).copied().unwrap_or(0)
    }
}

/// Shared state of a running sandbox.
#[derive(Debug)]
pub(crate) struct AppState {
    pub seed: u64,
    pub base_url: String,
    pub store: RwLock<Store>,
    pub auth: Mutex<AuthRegistry>,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<FaultInjector>,
    pub stats: Mutex<Stats>,
    pub categories: Vec<DocumentCategory>,
}

/// Locks a mutex; a handler that panicked mid-update leaves only counters behind, so the data
/// is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts per key, for inspection.
fn bump<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u64>, key: K) {
    *counts.entry(key).or_default() += 1;
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/auth", post(auth_v1))
        .route("/v2/auth/token", post(auth_v2))
        .route("/v1/company/employees", get(list_employees))
        .route(
            "/v1/company/document-categories",
            get(list_document_categories),
        )
        .route(
            "/v1/company/documents",
            // Room for a 30 MB file plus the multipart framing; larger bodies get a 413.
            post(upload_document).layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 1024 * 1024)),
        )
        .route("/v2/document-management/documents", get(list_documents_v2))
        .fallback(|| async { ApiError::v1(StatusCode::NOT_FOUND, 0, "Not Found") })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), gateway))
        .with_state(state)
}

/// A marker payload for the deliberate unwind that drops a connection.
struct DroppedConnection;

/// Counts the request and applies the configured latency and fault before the handler runs.
async fn gateway(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(endpoint) = Endpoint::from_route(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    bump(&mut lock(&state.stats).requests, endpoint);
    let (latency, fault, hang) = {
        let mut faults = lock(&state.faults);
        let (latency, fault) = faults.decide(endpoint);
        (latency, fault, faults.hang())
    };
    if let Some(kind) = fault {
        bump(&mut lock(&state.stats).faults, kind);
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

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer in the body format of the API family that produced it.
#[derive(Debug)]
pub(crate) enum ApiError {
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
    fn v1(status: StatusCode, code: i64, message: &str) -> Self {
        Self::V1 {
            status,
            code,
            message: message.to_owned(),
            error_data: None,
        }
    }

    fn v2(
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

    fn too_many_requests(endpoint: Endpoint) -> Self {
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

    fn upstream(endpoint: Endpoint, status: StatusCode) -> Self {
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

    fn unauthorized(endpoint: Endpoint, rejection: TokenRejection) -> Self {
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

    fn oauth(error: &'static str, description: &'static str, reference: &'static str) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Auth and rate limits

impl AppState {
    /// Counts a 429 if the credential is over budget for `endpoint`.
    fn admit(&self, key: &str, endpoint: Endpoint) -> Result<(), ApiError> {
        if lock(&self.limiter).admit(key, endpoint.bucket(), Instant::now()) {
            return Ok(());
        }
        bump(&mut lock(&self.stats).throttled, endpoint);
        Err(ApiError::too_many_requests(endpoint))
    }

    /// The credential behind the request's bearer token, within its rate budget.
    fn authorize(
        &self,
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
        let credential = lock(&self.auth)
            .verify(bearer_token(header), kind, Instant::now())
            .map_err(|rejection| ApiError::unauthorized(endpoint, rejection))?;
        self.admit(&credential.client_id, endpoint)?;
        Ok(credential)
    }
}

/// Request parameters from a query string or form body (`key=value&…`), repeated keys kept.
fn form_pairs(text: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

async fn auth_v1(
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
    state.admit(client_id.as_deref().unwrap_or_default(), Endpoint::AuthV1)?;
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
    let token = auth.issue(credential, TokenKind::V1, Instant::now());
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

async fn auth_v2(
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
    state.admit(
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
    let token = auth.issue(credential, TokenKind::V2, Instant::now());
    Ok(axum::Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": auth.lifetime().as_secs(),
        "scope": "personio:documents:read personio:documents:write",
    }))
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// Employees

fn json_response(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn list_employees(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let credential = state.authorize(&headers, Endpoint::Employees)?;
    let query = parse_employee_query(query.as_deref().unwrap_or_default())?;
    let store = state.store.read().unwrap_or_else(PoisonError::into_inner);
    Ok(json_response(
        store.list(&query, credential.whitelist.as_ref()),
    ))
}

fn bad_request(message: &str) -> ApiError {
    ApiError::v1(StatusCode::BAD_REQUEST, 0, message)
}

pub(crate) fn parse_employee_query(raw: &str) -> Result<EmployeeQuery, ApiError> {
    let pairs = form_pairs(raw.as_bytes());
    let limit = match first(&pairs, "limit") {
        None => DEFAULT_EMPLOYEE_LIMIT,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(limit) if (1..=MAX_EMPLOYEE_LIMIT).contains(&limit) => limit,
            Ok(limit) if limit > MAX_EMPLOYEE_LIMIT => {
                return Err(bad_request("The limit must not be greater than 100."));
            }
            _ => return Err(bad_request("The limit must be an integer of at least 1.")),
        },
    };
    let offset = match first(&pairs, "offset") {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|_| bad_request("The offset must be an integer of at least 0."))?,
    };
    let projection: HashSet<String> = pairs
        .iter()
        .filter(|(key, _)| key == "attributes[]")
        .map(|(_, value)| value.clone())
        .collect();
    let updated_since = first(&pairs, "updated_since")
        .map(|text| {
            parse_updated_since(text).ok_or_else(|| {
                bad_request("The updated_since must be an ISO 8601 date time (2022-12-24T08:15:30) or a date (YYYY-MM-DD).")
            })
        })
        .transpose()?;
    Ok(EmployeeQuery {
        limit,
        offset,
        email: first(&pairs, "email").map(str::to_owned),
        projection: (!projection.is_empty()).then_some(projection),
        updated_since,
    })
}

/// `2022-12-24T08:15:30` (read as UTC), a full RFC 3339 time, or `2022-12-24`.
fn parse_updated_since(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|at| at.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|at| at.and_utc())
        })
}

// ---------------------------------------------------------------------------------------------
// Documents

fn category_json(category: &DocumentCategory) -> Value {
    json!({"id": category.id, "type": "DocumentCategory", "attributes": {"name": category.name}})
}

async fn list_document_categories(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Endpoint::DocumentCategories)?;
    let data: Vec<Value> = state.categories.iter().map(category_json).collect();
    Ok(axum::Json(json!({"success": true, "data": data})).into_response())
}

/// The multipart fields of an upload, before validation.
#[derive(Debug, Default)]
pub(crate) struct UploadForm {
    pub title: Option<String>,
    pub comment: Option<String>,
    pub employee_id: Option<String>,
    pub category_id: Option<String>,
    pub date: Option<String>,
    pub file: Option<(String, Option<String>, Bytes)>,
}

/// A validated upload.
#[derive(Debug)]
pub(crate) struct ValidUpload {
    pub title: String,
    pub comment: Option<String>,
    pub employee_id: u64,
    pub category_id: u64,
    pub date: Option<NaiveDate>,
    pub file_name: String,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// Laravel-style validation as Personio answers it: every field's problems at once, as
/// `error_data: {field: [messages]}` in a 422.
pub(crate) fn validate_upload(form: UploadForm) -> Result<ValidUpload, ApiError> {
    let mut problems: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut complain =
        |field: &'static str, message: String| problems.entry(field).or_default().push(message);
    let title = form.title.filter(|title| !title.trim().is_empty());
    match &title {
        None => complain("title", "The title field is required.".to_owned()),
        Some(title) if title.chars().count() > 255 => {
            complain(
                "title",
                "The title may not be greater than 255 characters.".to_owned(),
            );
        }
        Some(_) => {}
    }
    let mut integer = |field: &'static str, label: &str, value: Option<String>| match value
        .filter(|value| !value.trim().is_empty())
    {
        None => {
            complain(field, format!("The {label} field is required."));
            None
        }
        Some(text) => {
            let parsed = text.trim().parse::<u64>().ok();
            if parsed.is_none() {
                complain(field, format!("The {label} must be an integer."));
            }
            parsed
        }
    };
    let employee_id = integer("employee_id", "employee id", form.employee_id);
    let category_id = integer("category_id", "category id", form.category_id);
    let date = match form.date.filter(|date| !date.is_empty()) {
        None => None,
        Some(text) => {
            let parsed = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .ok()
                .filter(|_| text.len() == 10);
            if parsed.is_none() {
                complain(
                    "date",
                    "The date does not match the format Y-m-d.".to_owned(),
                );
            }
            parsed
        }
    };
    match &form.file {
        None => complain("file", "The file field is required.".to_owned()),
        Some((name, _, bytes)) => {
            if bytes.len() > MAX_FILE_BYTES {
                complain(
                    "file",
                    format!(
                        "The file may not be greater than {} kilobytes.",
                        MAX_FILE_BYTES / 1024
                    ),
                );
            }
            let extension = name
                .rsplit_once('.')
                .map(|(_, extension)| extension.to_ascii_lowercase());
            let allowed = extension.is_some_and(|extension| {
                ALLOWED_EXTENSIONS
                    .split(", ")
                    .any(|allowed| allowed == extension)
            });
            if !allowed {
                complain(
                    "file",
                    format!("The file must be a file of type: {ALLOWED_EXTENSIONS}."),
                );
            }
        }
    }
    match (title, employee_id, category_id, form.file) {
        (
            Some(title),
            Some(employee_id),
            Some(category_id),
            Some((file_name, content_type, bytes)),
        ) if problems.is_empty() => Ok(ValidUpload {
            title,
            comment: form.comment,
            employee_id,
            category_id,
            date,
            file_name,
            content_type,
            bytes,
        }),
        _ => Err(ApiError::V1 {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: 0,
            message: "The given data was invalid.".to_owned(),
            error_data: Some(json!(problems)),
        }),
    }
}

async fn read_upload_form(mut multipart: Multipart) -> Result<UploadForm, ApiError> {
    let malformed = |error: axum::extract::multipart::MultipartError| {
        ApiError::v1(
            StatusCode::BAD_REQUEST,
            0,
            &format!("Malformed multipart body: {}", error.body_text()),
        )
    };
    let mut form = UploadForm::default();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(malformed)?;
            form.file = Some((file_name, content_type, bytes));
            continue;
        }
        let text = field.text().await.map_err(malformed)?;
        match name.as_str() {
            "title" => form.title = Some(text),
            "comment" => form.comment = Some(text),
            "employee_id" => form.employee_id = Some(text),
            "category_id" => form.category_id = Some(text),
            "date" => form.date = Some(text),
            _ => {}
        }
    }
    Ok(form)
}

async fn upload_document(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let credential = state.authorize(&headers, Endpoint::DocumentUpload)?;
    let multipart = multipart
        .map_err(|rejection| ApiError::v1(StatusCode::BAD_REQUEST, 0, &rejection.body_text()))?;
    let upload = validate_upload(read_upload_form(multipart).await?)?;
    let not_found = |model: &str, id: u64| {
        ApiError::v1(
            StatusCode::NOT_FOUND,
            0,
            &format!("No query results for model [{model}] {id}"),
        )
    };
    let category = state
        .categories
        .iter()
        .find(|category| category.id == upload.category_id)
        .ok_or_else(|| not_found("DocumentCategory", upload.category_id))?;
    let mut store = state.store.write().unwrap_or_else(PoisonError::into_inner);
    let owner = store
        .employee(upload.employee_id)
        .map(|employee| employee.short_json())
        .ok_or_else(|| not_found("Employee", upload.employee_id))?;
    let now = Utc::now();
    let document = store.add_document(UploadedDocument {
        id: 0,
        employee_id: upload.employee_id,
        category_id: upload.category_id,
        title: upload.title,
        comment: upload.comment,
        // Personio dates a document with the upload day when no date is given.
        date: upload.date.unwrap_or_else(|| now.date_naive()),
        file_name: upload.file_name,
        content_type: upload.content_type,
        bytes: upload.bytes,
        created_at: now,
        uploaded_by: credential.client_id.clone(),
    });
    tracing::debug!(
        id = document.id,
        employee = document.employee_id,
        "document uploaded"
    );
    let body = json!({
        "success": true,
        "data": {
            "id": document.id,
            "type": "Document",
            "attributes": {
                "title": document.title,
                "date": document.date.format("%Y-%m-%d").to_string(),
                "comment": document.comment.clone().unwrap_or_default(),
                "employee": owner,
                "category": category_json(category),
            },
        },
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The position a v2 cursor stands for: the listing's filters and the last id already served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DocumentCursor {
    pub owner_id: u64,
    pub category_id: Option<u64>,
    pub after_id: u64,
}

impl DocumentCursor {
    /// Opaque on the wire, like Personio's (`cur_…`), but stateless.
    pub fn encode(&self) -> String {
        let plain = format!(
            "{}:{}:{}",
            self.owner_id,
            self.category_id.map_or(String::new(), |id| id.to_string()),
            self.after_id
        );
        let hex: String = plain.bytes().map(|byte| format!("{byte:02x}")).collect();
        format!("cur_{hex}")
    }

    pub fn decode(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("cur_")?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(hex.get(index..index + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let mut parts = plain.split(':');
        let owner_id = parts.next()?.parse().ok()?;
        let category_id = match parts.next()? {
            "" => None,
            id => Some(id.parse().ok()?),
        };
        let after_id = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self {
            owner_id,
            category_id,
            after_id,
        })
    }
}

fn invalid_v2(detail: String) -> ApiError {
    ApiError::v2(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        detail,
        "common.invalid_request",
    )
}

async fn list_documents_v2(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Endpoint::DocumentListV2)?;
    let pairs = form_pairs(query.as_deref().unwrap_or_default().as_bytes());
    let limit = match first(&pairs, "limit") {
        None => DEFAULT_V2_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_V2_LIMIT).contains(limit))
            .ok_or_else(|| {
                invalid_v2(format!(
                    "limit must be an integer between 1 and {MAX_V2_LIMIT}."
                ))
            })?,
    };
    let position = match first(&pairs, "cursor") {
        Some(cursor) => DocumentCursor::decode(cursor)
            .ok_or_else(|| invalid_v2("The cursor is invalid.".to_owned()))?,
        None => {
            let owner_id = first(&pairs, "owner_id")
                .ok_or_else(|| invalid_v2("owner_id is required.".to_owned()))?
                .parse()
                .map_err(|_| invalid_v2("owner_id must be a numeric id.".to_owned()))?;
            let category_id = first(&pairs, "category_id")
                .map(|id| {
                    id.parse()
                        .map_err(|_| invalid_v2("category_id must be a numeric id.".to_owned()))
                })
                .transpose()?;
            DocumentCursor {
                owner_id,
                category_id,
                after_id: 0,
            }
        }
    };
    let store = state.store.read().unwrap_or_else(PoisonError::into_inner);
    let mut matching = documents_of(store.documents(), position.owner_id, position.category_id)
        .filter(|document| document.id > position.after_id)
        .peekable();
    let mut page = Vec::with_capacity(limit.min(64));
    while page.len() < limit {
        match matching.next() {
            Some(document) => page.push(document),
            None => break,
        }
    }
    let has_more = matching.peek().is_some();
    let data: Vec<Value> = page
        .iter()
        .map(|document| document_v2_json(document))
        .collect();
    let endpoint = format!("{}/v2/document-management/documents", state.base_url);
    let self_href = match query.as_deref() {
        Some(query) if !query.is_empty() => format!("{endpoint}?{query}"),
        _ => endpoint.clone(),
    };
    let mut links = json!({"self": {"href": self_href}});
    if let (true, Some(last), Some(object)) = (has_more, page.last(), links.as_object_mut()) {
        let next = DocumentCursor {
            after_id: last.id,
            ..position
        };
        object.insert(
            "next".to_owned(),
            json!({"href": format!("{endpoint}?cursor={}&limit={limit}", next.encode())}),
        );
    }
    Ok(axum::Json(json!({"_data": data, "_meta": {"links": links}})).into_response())
}

/// A document's metadata in the v2 shape (ids as strings, as everywhere in v2).
fn document_v2_json(document: &UploadedDocument) -> Value {
    json!({
        "id": document.id.to_string(),
        "name": document.title,
        "comment": document.comment.clone().unwrap_or_default(),
        "date": document.date.format("%Y-%m-%d").to_string(),
        "category": {"id": document.category_id.to_string()},
        "owner": {"id": document.employee_id.to_string()},
        "created_at": document.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employee_query_limits_and_defaults() {
        let query = parse_employee_query("").unwrap();
        assert_eq!((query.limit, query.offset), (DEFAULT_EMPLOYEE_LIMIT, 0));
        let query = parse_employee_query(
            "limit=100&offset=200&attributes[]=email&attributes%5B%5D=status&email=A%40b.c",
        )
        .unwrap();
        assert_eq!((query.limit, query.offset), (100, 200));
        assert_eq!(query.email.as_deref(), Some("A@b.c"));
        let projection = query.projection.unwrap();
        assert!(projection.contains("email") && projection.contains("status"));
        for bad in [
            "limit=101",
            "limit=0",
            "limit=x",
            "offset=-1",
            "updated_since=yesterday",
        ] {
            assert!(parse_employee_query(bad).is_err(), "{bad} must be rejected");
        }
        let since = parse_employee_query("updated_since=2022-12-24T08:15:30")
            .unwrap()
            .updated_since;
        assert_eq!(
            since.map(|at| at.to_rfc3339()),
            Some("2022-12-24T08:15:30+00:00".to_owned())
        );
        assert!(
            parse_employee_query("updated_since=2022-12-24")
                .unwrap()
                .updated_since
                .is_some()
        );
    }

    fn form() -> UploadForm {
        UploadForm {
            title: Some("Zertifikat".to_owned()),
            comment: None,
            employee_id: Some("10001".to_owned()),
            category_id: Some("3".to_owned()),
            date: Some("2025-01-31".to_owned()),
            file: Some(("cert.PDF".to_owned(), None, Bytes::from_static(b"%PDF-1.4"))),
        }
    }

    fn problems(error: ApiError) -> Value {
        match error {
            ApiError::V1 {
                status, error_data, ..
            } => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                error_data.unwrap_or_default()
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn upload_validation_accepts_a_good_form() {
        let upload = validate_upload(form()).unwrap();
        assert_eq!((upload.employee_id, upload.category_id), (10001, 3));
        assert_eq!(upload.date, NaiveDate::from_ymd_opt(2025, 1, 31));
    }

    #[test]
    fn upload_validation_reports_every_field() {
        let bad = UploadForm {
            title: Some("x".repeat(256)),
            employee_id: Some("abc".to_owned()),
            category_id: None,
            date: Some("31.01.2025".to_owned()),
            file: Some(("virus.exe".to_owned(), None, Bytes::from_static(b"MZ"))),
            ..form()
        };
        let data = problems(validate_upload(bad).unwrap_err());
        for field in ["title", "employee_id", "category_id", "date", "file"] {
            assert!(data.get(field).is_some(), "{field} missing in {data}");
        }
        let too_big = UploadForm {
            file: Some((
                "big.pdf".to_owned(),
                None,
                Bytes::from(vec![0; MAX_FILE_BYTES + 1]),
            )),
            title: Some("ł".repeat(255)),
            ..form()
        };
        let data = problems(validate_upload(too_big).unwrap_err());
        assert_eq!(
            data.as_object().map(|object| object.len()),
            Some(1),
            "255 non-ASCII chars are fine: {data}"
        );
        assert_eq!(
            data["file"][0],
            "The file may not be greater than 30720 kilobytes."
        );
        let no_file = UploadForm {
            file: None,
            ..form()
        };
        assert_eq!(
            problems(validate_upload(no_file).unwrap_err())["file"][0],
            "The file field is required."
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = DocumentCursor {
            owner_id: 10001,
            category_id: Some(3),
            after_id: 17,
        };
        assert_eq!(DocumentCursor::decode(&cursor.encode()), Some(cursor));
        let without_category = DocumentCursor {
            category_id: None,
            ..cursor
        };
        assert_eq!(
            DocumentCursor::decode(&without_category.encode()),
            Some(without_category)
        );
        for garbage in ["", "cur_", "cur_zz", "abc", "cur_3a3a3a3a"] {
            assert_eq!(DocumentCursor::decode(garbage), None, "{garbage}");
        }
    }
}
