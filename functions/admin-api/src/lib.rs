//! The Lambda glue of the admin API: reads the environment the SAM template sets, builds the
//! AWS adapters, turns an API Gateway HTTP API event into the framework-neutral request of
//! [`common::admin`] (with the caller taken from the JWT authorizer's claims) and the answer
//! back into a Lambda response. Everything the API does lives in `common::admin`. The web console's
//! files (`common::admin::console`) are served here too, without a token: the console signs in
//! with OpenID Connect against the stack's issuer and calls the API with the ID token.

use bytes::Bytes;
use common::admin::console::{ConsoleAuth, OidcSettings, console_response, is_console_path};
use common::admin::{AdminAdapters, AdminApi, AdminLimits, Caller, RequestId, WebhookHosting};
use common::app::{ConnectPolicy, CredentialsConnector};
use common::aws::host::{
    AwsServices, HostError, IntegrationsConfig, optional_env, optional_env_parsed, required_env,
};
use lambda_http::http::{self, Response};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use std::convert::Infallible;
use std::sync::Arc;

/// What the function needs from its environment (names as in `infra/template.yaml`).
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Where the integrations are (`TABLE_NAME`, `SECRET_PREFIX`, and `RUN_RETENTION_DAYS`: how
    /// long the run records of dry-run plans are kept, as for syncs).
    pub integrations: IntegrationsConfig,
    /// `SYNC_QUEUE_URL`.
    pub sync_queue_url: String,
    /// `CERTIFICATE_QUEUE_URL` (FIFO).
    pub certificate_queue_url: String,
    /// `TENANT_CLAIM`: the JWT claim that names the caller's tenant.
    pub tenant_claim: String,
    /// How the console signs in: `OIDC_ISSUER`, `OIDC_CLIENT_ID`, and optionally
    /// `OIDC_AUTHORIZATION_ENDPOINT`, `OIDC_TOKEN_ENDPOINT` (else the issuer's discovery
    /// document), `OIDC_LOGOUT_ENDPOINT`, `OIDC_SCOPES` (default `openid email profile`).
    pub console: ConsoleAuth,
    /// `AUDIT_RETENTION_DAYS`: how long audit entries are kept (DynamoDB TTL); unset: the
    /// API's default (`common::admin::DEFAULT_AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: Option<u32>,
    /// `SES_FROM_ADDRESS`: the sender of the invitations an employee sync sends.
    pub ses_from_address: String,
    /// `WEBHOOK_PUBLIC_URL`: where Personio reaches the webhook receiver (the HTTP API's URL);
    /// without it the webhook routes answer 503.
    pub webhook_public_url: Option<String>,
}

impl HostConfig {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            integrations: IntegrationsConfig::from_env()?,
            sync_queue_url: required_env("SYNC_QUEUE_URL")?,
            certificate_queue_url: required_env("CERTIFICATE_QUEUE_URL")?,
            tenant_claim: required_env("TENANT_CLAIM")?,
            console: ConsoleAuth::Oidc(OidcSettings {
                issuer: required_env("OIDC_ISSUER")?,
                client_id: required_env("OIDC_CLIENT_ID")?,
                authorization_endpoint: optional_env("OIDC_AUTHORIZATION_ENDPOINT")?,
                token_endpoint: optional_env("OIDC_TOKEN_ENDPOINT")?,
                logout_endpoint: optional_env("OIDC_LOGOUT_ENDPOINT")?,
                scopes: optional_env("OIDC_SCOPES")?
                    .unwrap_or_else(|| "openid email profile".into()),
            }),
            audit_retention_days: optional_env_parsed("AUDIT_RETENTION_DAYS")?,
            ses_from_address: required_env("SES_FROM_ADDRESS")?,
            webhook_public_url: optional_env("WEBHOOK_PUBLIC_URL")?,
        })
    }

    /// The API's limits, with the configured audit retention.
    pub fn limits(&self) -> AdminLimits {
        let mut limits = AdminLimits::default();
        if let Some(days) = self.audit_retention_days {
            limits.audit_retention = Some(chrono::Duration::days(i64::from(days)));
        }
        limits
    }

    /// The API's adapters on these AWS services (the function's own, or local endpoints in
    /// tests); integrations connect under `policy`.
    pub fn adapters(&self, services: &AwsServices, policy: ConnectPolicy) -> AdminAdapters {
        let store = self.integrations.state_store(services);
        let credentials = self.integrations.credentials(services);
        AdminAdapters {
            integrations: store.clone(),
            audit: store.clone(),
            state: store,
            credentials: credentials.clone(),
            queue: Arc::new(services.job_queues(&self.sync_queue_url, &self.certificate_queue_url)),
            connector: Arc::new(CredentialsConnector::new(credentials, policy)),
            notifier: Arc::new(services.notifier(&self.ses_from_address)),
        }
    }
}

/// The API, the console and how to find the caller, built once per Lambda container.
pub struct Host {
    api: AdminApi,
    tenant_claim: String,
    console: ConsoleAuth,
}

impl Host {
    pub fn new(api: AdminApi, tenant_claim: impl Into<String>, console: ConsoleAuth) -> Self {
        Self {
            api,
            tenant_claim: tenant_claim.into(),
            console,
        }
    }

    /// The host as deployed: configuration from the environment, AWS clients from the
    /// function's role and region, integrations connected under `policy`.
    pub async fn from_env(policy: ConnectPolicy) -> Result<Self, HostError> {
        let config = HostConfig::from_env()?;
        let services = AwsServices::from_environment().await;
        let adapters = config.adapters(&services, policy);
        let mut api = AdminApi::new(adapters).with_limits(config.limits());
        if let Some(public_url) = &config.webhook_public_url {
            api = api.with_webhooks(WebhookHosting {
                tokens: Arc::new(services.webhook_tokens(&config.integrations.secret_prefix)),
                public_url: public_url.clone(),
            });
        }
        Ok(Self::new(api, config.tenant_claim, config.console))
    }

    /// Answers one event. Never fails: errors are problem+json responses.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Infallible> {
        // The console's files: the template routes these paths without the authorizer.
        let path = request.raw_http_path();
        if request.method() == http::Method::GET {
            let console_path = if path == "/" { "/console" } else { path };
            if is_console_path(console_path)
                && let Some(response) = console_response(console_path, &self.console)
            {
                return Ok(into_lambda_response(response));
            }
        }
        let caller = caller(&request, &self.tenant_claim);
        let response = self.api.handle(into_core_request(request), caller).await;
        Ok(into_lambda_response(response))
    }
}

/// The tenant named by the JWT authorizer's claim, if the event carries one, and the token's
/// subject (`sub`, for the audit trail). API Gateway has already validated the token; an empty
/// or missing tenant claim is no tenant.
pub fn caller(request: &Request, tenant_claim: &str) -> Option<Caller> {
    let claims = match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => &context.authorizer.as_ref()?.jwt.as_ref()?.claims,
        _ => return None,
    };
    let claim = |name: &str| {
        claims
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    Some(Caller::new(claim(tenant_claim)?, claim("sub")))
}

/// API Gateway's id of the request (also in its access log), for the answer and the audit trail.
fn request_id(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.request_id.clone(),
        _ => None,
    }
    .filter(|id| !id.is_empty())
}

/// The event as the core's request. The path is API Gateway's raw path (without a stage
/// prefix), so routes are the same whatever stage the API is deployed to.
fn into_core_request(request: Request) -> http::Request<Bytes> {
    let path = request.raw_http_path().to_owned();
    let request_id = request_id(&request);
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
    if let Some(id) = request_id {
        core.extensions_mut().insert(RequestId(id));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use common::admin::testing::{MemoryCredentials, RecordingJobQueue};
    use common::store::MemoryStore;
    use serde_json::Value;
    use std::path::PathBuf;

    fn event_path(name: &str) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events")).join(name)
    }

    fn event(name: &str) -> Request {
        let text = std::fs::read_to_string(event_path(name)).expect("the sample event exists");
        lambda_http::request::from_str(&text).expect("an API Gateway HTTP API event")
    }

    fn memory_host() -> Host {
        let store = Arc::new(MemoryStore::new());
        let credentials = Arc::new(MemoryCredentials::default());
        let api = AdminApi::new(AdminAdapters {
            integrations: store.clone(),
            state: store.clone(),
            credentials: credentials.clone(),
            queue: Arc::new(RecordingJobQueue::default()),
            audit: store.clone(),
            connector: Arc::new(CredentialsConnector::new(
                credentials.clone(),
                ConnectPolicy::LOCAL,
            )),
            notifier: Arc::new(common::notify::MemoryNotifier::new()),
        });
        Host::new(api, "tenant_id", oidc())
    }

    fn oidc() -> ConsoleAuth {
        ConsoleAuth::Oidc(OidcSettings {
            issuer: "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_example".into(),
            client_id: "console-client".into(),
            authorization_endpoint: None,
            token_endpoint: None,
            logout_endpoint: None,
            scopes: "openid email profile".into(),
        })
    }

    async fn answer(host: &Host, request: Request) -> (u16, Value) {
        let response = host
            .handle(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status().as_u16();
        let body = match response.into_body() {
            Body::Text(text) => serde_json::from_str(&text).expect("JSON"),
            Body::Empty => Value::Null,
            other => panic!("unexpected body {other:?}"),
        };
        (status, body)
    }

    #[test]
    fn every_sample_event_parses_and_names_its_tenant() {
        let names: Vec<String> = std::fs::read_dir(event_path(""))
            .expect("events/")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("admin-") && name.ends_with(".json"))
            .collect();
        assert!(names.len() >= 10, "{names:?}");
        for name in names {
            let request = event(&name);
            let expected = (name != "admin-openapi.json")
                .then(|| Caller::new("tenant-acme", Some("user-7f3a".into())));
            assert_eq!(caller(&request, "tenant_id"), expected, "{name}");
            assert_eq!(caller(&request, "org"), None, "{name}");
            let core = into_core_request(request);
            assert!(core.uri().path().starts_with('/'), "{name}");
        }
        let runs = into_core_request(event("admin-list-runs.json"));
        assert_eq!(runs.uri().query(), Some("limit=5"));
        assert_eq!(runs.method(), http::Method::GET);
        let create = into_core_request(event("admin-create-integration.json"));
        assert!(create.body().starts_with(b"{"));
    }

    #[tokio::test]
    async fn events_reach_the_api_with_their_caller() {
        let host = memory_host();
        let (status, contract) = answer(&host, event("admin-openapi.json")).await;
        assert_eq!(status, 200);
        assert_eq!(contract["openapi"], "3.1.0");
        let (status, created) = answer(&host, event("admin-create-integration.json")).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["tenant_id"], "tenant-acme");
        let (status, list) = answer(&host, event("admin-list-integrations.json")).await;
        assert_eq!(status, 200);
        assert_eq!(list["integrations"][0]["id"], created["id"]);
        // The sample ids name no integration of this store.
        let (status, problem) = answer(&host, event("admin-sync-now.json")).await;
        assert_eq!(status, 404, "{problem}");

        let mut anonymous = event("admin-list-integrations.json");
        let Some(RequestContext::ApiGatewayV2(context)) = anonymous.request_context_ref().cloned()
        else {
            panic!("an HTTP API event");
        };
        let mut context = context;
        context.authorizer = None;
        anonymous = anonymous.with_request_context(RequestContext::ApiGatewayV2(context));
        let (status, problem) = answer(&host, anonymous).await;
        assert_eq!(status, 401);
        assert_eq!(problem["type"], "urn:personio-lms:problem:unauthenticated");
    }

    /// The console's files and its sign-in settings need no token; the API behind them does.
    #[tokio::test]
    async fn the_console_is_served_without_a_token() {
        let host = memory_host();
        let request = |path: &str| {
            let mut request = event("admin-openapi.json");
            *request.uri_mut() = format!("https://api.example.com{path}")
                .parse()
                .expect("a URI");
            request.with_raw_http_path(path)
        };
        let response = host
            .handle(request("/console/config.json"))
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status(), 200);
        let Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        let config: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(config["auth"], "oidc");
        assert_eq!(config["client_id"], "console-client");
        let index = host
            .handle(request("/console/"))
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(index.status(), 200);
        assert!(
            index.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("connect-src 'self' https://cognito-idp.eu-central-1.amazonaws.com")
        );
        let root = host
            .handle(request("/"))
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(root.status(), 302);
        assert_eq!(root.headers()["location"], "/console/");
        let (status, _) = answer(&host, request("/integrations")).await;
        assert_eq!(status, 401, "the API still needs the authorizer's claims");
    }
}
