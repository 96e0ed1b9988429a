//! The Lambda glue of the admin API: reads the environment the SAM template sets, builds the
//! AWS adapters, turns an API Gateway HTTP API event into the framework-neutral request of
//! [`common::admin`] (with the caller taken from the JWT authorizer's claims) and the answer
//! back into a Lambda response. Everything the API does lives in `common::admin`.

use bytes::Bytes;
use common::admin::{AdminAdapters, AdminApi, Caller, RemoteConnector};
use common::aws::{DynamoStore, SecretsManagerCredentials, SqsJobQueue, load_sdk_config};
use lambda_http::http::{self, Response};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use std::convert::Infallible;
use std::sync::Arc;

/// What the function needs from its environment (names as in `infra/template.yaml`).
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// `TABLE_NAME`: the state table.
    pub table_name: String,
    /// `SECRET_PREFIX`: integration secrets are named `{SECRET_PREFIX}{integration_id}`.
    pub secret_prefix: String,
    /// `SYNC_QUEUE_URL`.
    pub sync_queue_url: String,
    /// `CERTIFICATE_QUEUE_URL` (FIFO).
    pub certificate_queue_url: String,
    /// `TENANT_CLAIM`: the JWT claim that names the caller's tenant.
    pub tenant_claim: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
}

fn required_env(name: &'static str) -> Result<String, HostError> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or(HostError::MissingEnv(name))
}

impl HostConfig {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            table_name: required_env("TABLE_NAME")?,
            secret_prefix: required_env("SECRET_PREFIX")?,
            sync_queue_url: required_env("SYNC_QUEUE_URL")?,
            certificate_queue_url: required_env("CERTIFICATE_QUEUE_URL")?,
            tenant_claim: required_env("TENANT_CLAIM")?,
        })
    }

    /// The API's adapters on these AWS clients (the function's own, or local endpoints in tests).
    pub fn adapters(
        &self,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> AdminAdapters {
        let store = Arc::new(DynamoStore::new(dynamodb, &self.table_name));
        let credentials = SecretsManagerCredentials::new(secrets)
            .with_name_pattern(format!("{}{{integration_id}}", self.secret_prefix));
        AdminAdapters {
            integrations: store.clone(),
            state: store,
            credentials: Arc::new(credentials),
            queue: Arc::new(SqsJobQueue::new(
                sqs,
                &self.sync_queue_url,
                &self.certificate_queue_url,
            )),
            connector: Arc::new(RemoteConnector),
        }
    }
}

/// The API and how to find the caller, built once per Lambda container.
pub struct Host {
    api: AdminApi,
    tenant_claim: String,
}

impl Host {
    pub fn new(api: AdminApi, tenant_claim: impl Into<String>) -> Self {
        Self {
            api,
            tenant_claim: tenant_claim.into(),
        }
    }

    /// The host as deployed: configuration from the environment, AWS clients from the
    /// function's role and region.
    pub async fn from_env() -> Result<Self, HostError> {
        let config = HostConfig::from_env()?;
        let sdk = load_sdk_config().await;
        let adapters = config.adapters(
            aws_sdk_dynamodb::Client::new(&sdk),
            aws_sdk_secretsmanager::Client::new(&sdk),
            aws_sdk_sqs::Client::new(&sdk),
        );
        Ok(Self::new(AdminApi::new(adapters), config.tenant_claim))
    }

    /// Answers one event. Never fails: errors are problem+json responses.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Infallible> {
        let caller = caller(&request, &self.tenant_claim);
        let response = self.api.handle(into_core_request(request), caller).await;
        Ok(into_lambda_response(response))
    }
}

/// The tenant named by the JWT authorizer's claim, if the event carries one. API Gateway has
/// already validated the token; an empty or missing claim is no tenant.
pub fn caller(request: &Request, tenant_claim: &str) -> Option<Caller> {
    let claims = match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => &context.authorizer.as_ref()?.jwt.as_ref()?.claims,
        _ => return None,
    };
    claims
        .get(tenant_claim)
        .map(|tenant| tenant.trim())
        .filter(|tenant| !tenant.is_empty())
        .map(|tenant| Caller {
            tenant_id: tenant.to_owned(),
        })
}

/// The event as the core's request. The path is API Gateway's raw path (without a stage
/// prefix), so routes are the same whatever stage the API is deployed to.
fn into_core_request(request: Request) -> http::Request<Bytes> {
    let path = request.raw_http_path().to_owned();
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let (parts, body) = request.into_parts();
    let mut core = http::Request::new(match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        // `Body` may grow variants; none of them carries a request body the API reads.
        _ => Bytes::new(),
    });
    *core.method_mut() = parts.method;
    *core.headers_mut() = parts.headers;
    // A path API Gateway accepted is a valid URI path; should it not be, the router answers 404.
    *core.uri_mut() = path_and_query.parse().unwrap_or_default();
    core
}

fn into_lambda_response(response: Response<Bytes>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(error) => Body::Binary(error.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// JSON logs (the function's log format), level from `RUST_LOG`.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        // Lambda stamps every line itself.
        .without_time()
        .with_current_span(false)
        .init();
}
