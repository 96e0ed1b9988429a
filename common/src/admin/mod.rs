//! The admin HTTP API, framework-neutral: a host (the `admin-api` Lambda function, a test) hands
//! in an `http::Request<Bytes>` and the [`Caller`] its authorizer vouched for, and gets an
//! `http::Response<Bytes>` back. Routes are in [`routes`], the contract in `openapi.json`
//! (served at `GET /openapi.json`), the prose in `docs/admin-api.md`.
//!
//! Tenancy: every integration belongs to the tenant named by the caller's JWT claim. An
//! integration of another tenant is answered exactly like one that does not exist (404), so the
//! API never tells anyone which integration ids exist.
//!
//! Audit: every state-changing request on an integration of the caller's tenant is recorded
//! in the audit trail once answered ([`audit`]); every answer carries the request id
//! (`X-Request-Id`) the entry names.

pub mod audit;
mod body;
mod certificates;
pub mod console;
mod employees;
mod integrations;
mod operations;
pub mod problem;
pub mod routes;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod url_tests;
mod webhooks;

pub use audit::{REQUEST_ID_HEADER, RequestId, audit_action};
pub use problem::{ApiError, PROBLEM_CONTENT_TYPE};
pub use webhooks::WebhookHosting;

use crate::app::connect::{ConnectError, Connector};
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::ports::{AuditLog, CredentialsStore, IntegrationStore, JobQueue, Notifier, StateStore};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use operations::WRAP_UP;
use routes::{Endpoint, RouteMatch, match_route};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Who is calling: what the host's authorizer established from the caller's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The tenant claim: whose integrations the caller may see and change.
    pub tenant_id: String,
    /// The subject claim (`sub`): who the caller is, for the audit trail; `None` when the token
    /// carries none.
    pub subject: Option<String>,
}

impl Caller {
    pub fn new(tenant_id: impl Into<String>, subject: Option<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            subject,
        }
    }
}

/// The adapters the API works with.
#[derive(Clone)]
pub struct AdminAdapters {
    pub integrations: Arc<dyn IntegrationStore>,
    pub state: Arc<dyn StateStore>,
    pub credentials: Arc<dyn CredentialsStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Where admin actions are recorded (the state store: DynamoDB, SQLite).
    pub audit: Arc<dyn AuditLog>,
    /// Connects plans and checks to an integration's remote systems (in production a
    /// [`crate::app::CredentialsConnector`] over the same credential store); its policy also
    /// decides which URLs an integration may be given.
    pub connector: Arc<dyn Connector>,
    /// Sends the invitations of an employee sync run through the API.
    pub notifier: Arc<dyn Notifier>,
}

/// Bounds of the API's work per request.
#[derive(Clone, Copy, Debug)]
pub struct AdminLimits {
    /// How long a dry-run plan or a check may talk to Personio and the LMS. API Gateway gives
    /// up after 29 s, and the answer must still be written after the work.
    pub remote_budget: Duration,
    /// The most certificate jobs one batch request may carry.
    pub max_batch_items: usize,
    /// Certificate jobs of one batch enqueued at the same time.
    pub enqueue_concurrency: usize,
    /// The default and the largest `limit` of `GET /integrations/{id}/runs`.
    pub default_runs: usize,
    pub max_runs: usize,
    /// How long audit entries are kept (`None`: for good).
    pub audit_retention: Option<chrono::Duration>,
    /// The default and the largest `limit` of `GET /integrations/{id}/audit`.
    pub default_audit_entries: usize,
    pub max_audit_entries: usize,
}

/// How long audit entries are kept unless configured otherwise.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

impl Default for AdminLimits {
    fn default() -> Self {
        Self {
            remote_budget: Duration::from_secs(24),
            max_batch_items: 500,
            enqueue_concurrency: 16,
            default_runs: 20,
            max_runs: 100,
            audit_retention: Some(chrono::Duration::days(i64::from(
                DEFAULT_AUDIT_RETENTION_DAYS,
            ))),
            default_audit_entries: 50,
            max_audit_entries: 100,
        }
    }
}

pub struct AdminApi {
    adapters: AdminAdapters,
    limits: AdminLimits,
    /// The webhook routes' set-up, on a host that receives Personio's webhooks.
    webhooks: Option<WebhookHosting>,
}

type ApiResult = Result<Response<Bytes>, ApiError>;

impl AdminApi {
    pub fn new(adapters: AdminAdapters) -> Self {
        Self {
            adapters,
            limits: AdminLimits::default(),
            webhooks: None,
        }
    }

    pub fn with_limits(mut self, limits: AdminLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers one request. Never fails: every error is a problem+json response. A host hands
    /// in its request id as a [`RequestId`] extension (else the API makes one up).
    pub async fn handle(&self, request: Request<Bytes>, caller: Option<Caller>) -> Response<Bytes> {
        let started = Instant::now();
        let method = request.method().clone();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut audited = None;
        let (endpoint, result) = match match_route(&method, request.uri().path()) {
            RouteMatch::NotFound => (
                None,
                Err(ApiError::NotFound(format!(
                    "no route {}",
                    request.uri().path()
                ))),
            ),
            RouteMatch::MethodNotAllowed { allowed } => (
                None,
                Err(ApiError::MethodNotAllowed {
                    method: method.clone(),
                    allowed,
                }),
            ),
            RouteMatch::Found { endpoint, params } => {
                audited = self.audit_intent(endpoint, &params, caller.as_ref()).await;
                (
                    Some(endpoint),
                    self.dispatch(endpoint, &params, &request, caller.as_ref())
                        .await,
                )
            }
        };
        let response = result.unwrap_or_else(|error| {
            if error.status().is_server_error() {
                error!(?endpoint, %error, "admin request failed");
            } else {
                warn!(?endpoint, status = error.status().as_u16(), %error, "admin request refused");
            }
            error.into_response()
        });
        if let (Some(audited), Some(caller)) = (audited, caller.as_ref()) {
            self.record_audit(audited, caller, &request_id, request.body(), &response)
                .await;
        }
        // Bodies are never logged: they can carry credentials and certificates.
        info!(
            %method,
            ?endpoint,
            tenant = caller.as_ref().map(|caller| caller.tenant_id.as_str()),
            subject = caller.as_ref().and_then(|caller| caller.subject.as_deref()),
            request_id,
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "admin request"
        );
        audit::with_request_id(response, &request_id)
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        params: &[String],
        request: &Request<Bytes>,
        caller: Option<&Caller>,
    ) -> ApiResult {
        // The contract is public (API Gateway lets it through without a token); the rest needs
        // a tenant.
        let Some(caller) = caller else {
            return match endpoint {
                Endpoint::OpenApi => Ok(openapi_response()),
                _ => Err(ApiError::Unauthenticated),
            };
        };
        let body = request.body();
        // The router only matches templates whose parameters it fills: `params` has the
        // template's parameters, in order.
        let id = || IntegrationId::new(params.first().cloned().unwrap_or_default());
        let second = || params.get(1).cloned().unwrap_or_default();
        match endpoint {
            Endpoint::OpenApi => Ok(openapi_response()),
            Endpoint::CreateIntegration => self.create_integration(caller, body).await,
            Endpoint::ListIntegrations => self.list_integrations(caller).await,
            Endpoint::GetIntegration => self.get_integration(caller, &id()).await,
            Endpoint::UpdateIntegration => {
                self.update_integration(caller, &id(), if_match(request)?, body)
                    .await
            }
            Endpoint::DeleteIntegration => {
                self.delete_integration(caller, &id(), if_match(request)?)
                    .await
            }
            Endpoint::SyncNow => self.sync_now(caller, &id()).await,
            Endpoint::Reconcile => self.reconcile_now(caller, &id()).await,
            Endpoint::Plan => self.plan(caller, &id()).await,
            Endpoint::Check => self.check(caller, &id()).await,
            Endpoint::SyncEmployee => self.sync_employee(caller, &id(), &second()).await,
            Endpoint::ListRuns => {
                let limit = self.runs_limit(request.uri().query())?;
                self.list_runs(caller, &id(), limit).await
            }
            Endpoint::GetRun => self.get_run(caller, &id(), second()).await,
            Endpoint::SubmitCertificate => self.submit_certificate(caller, &id(), body).await,
            Endpoint::SubmitCertificateBatch => {
                let content_type = request
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok());
                self.submit_certificate_batch(caller, &id(), content_type, body)
                    .await
            }
            Endpoint::GetCertificate => self.get_certificate(caller, &id(), second()).await,
            Endpoint::InstallWebhook => self.install_webhook(caller, &id()).await,
            Endpoint::WebhookStatus => self.webhook_status(caller, &id()).await,
            Endpoint::RemoveWebhook => self.remove_webhook(caller, &id()).await,
            Endpoint::ExplainEmployee => self.explain_employee(caller, &id(), second()).await,
            Endpoint::ListCertificates => {
                let page = self.certificate_page(request.uri().query())?;
                self.list_certificates(caller, &id(), page).await
            }
            Endpoint::SettingsDefaults => Ok(json_response(
                StatusCode::OK,
                &crate::domain::settings::IntegrationSettings::new(""),
            )),
            Endpoint::ListAudit => self.list_audit(caller, &id(), request.uri().query()).await,
        }
    }

    /// The integration `id` if the caller's tenant owns it; otherwise "not found", whether it
    /// exists or not.
    async fn owned_integration(
        &self,
        caller: &Caller,
        id: &IntegrationId,
    ) -> Result<IntegrationRecord, ApiError> {
        match self.adapters.integrations.integration(id).await? {
            Some(record) if record.tenant_id == caller.tenant_id => Ok(record),
            _ => Err(ApiError::NotFound(format!("no integration {id}"))),
        }
    }

    fn runs_limit(&self, query: Option<&str>) -> Result<usize, ApiError> {
        let Some(value) = query_parameter(query, "limit") else {
            return Ok(self.limits.default_runs);
        };
        value
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=self.limits.max_runs).contains(limit))
            .ok_or_else(|| ApiError::InvalidQuery {
                name: "limit",
                message: format!("must be an integer from 1 to {}", self.limits.max_runs),
            })
    }
}

fn openapi_response() -> Response<Bytes> {
    text_response(StatusCode::OK, "application/json", OPENAPI_JSON)
}

/// The version an `If-Match` header names (`"3"`, `W/"3"` or `3`); `*` and absence are `None`.
fn if_match(request: &Request<Bytes>) -> Result<Option<u64>, ApiError> {
    let Some(value) = request.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    tag.parse().map(Some).map_err(|_| {
        ApiError::invalid(
            "If-Match",
            "must be the integration's ETag (its version, e.g. \"3\")",
        )
    })
}

/// The first value of a query parameter, as sent (see [`routes::percent_decode`]).
fn query_parameter<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A JSON response. Serializing the API's own types cannot fail; should it, the client gets a
/// 500 rather than a half-written body.
pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Bytes> {
    match serde_json::to_vec(value) {
        Ok(body) => bytes_response(status, "application/json", Bytes::from(body)),
        Err(error) => {
            error!(%error, "response not serializable");
            text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                PROBLEM_CONTENT_TYPE,
                r#"{"type":"urn:personio-lms:problem:internal","title":"Internal Server Error","status":500,"detail":"the response could not be written"}"#,
            )
        }
    }
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    text: &'static str,
) -> Response<Bytes> {
    bytes_response(status, content_type, Bytes::from_static(text.as_bytes()))
}

fn bytes_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Adds the record's version as its ETag (the value `If-Match` takes).
fn with_etag(mut response: Response<Bytes>, version: u64) -> Response<Bytes> {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// An integration that cannot be connected (for a plan or a check), or a connection an integration
/// may not be given: a bad URL names its field.
impl From<ConnectError> for ApiError {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::Credentials(error) => error.into(),
            ConnectError::Url { field, reason } => ApiError::invalid(field, reason),
            client @ ConnectError::Client { .. } => ApiError::Internal(client.to_string()),
            elsewhere @ ConnectError::SecretGivenElsewhere { .. } => {
                ApiError::Conflict(elsewhere.to_string())
            }
        }
    }
}
