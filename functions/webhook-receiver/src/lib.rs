//! The Lambda glue of the webhook receiver (`POST /webhooks/personio/{integration_id}`, no JWT
//! authorizer: Personio authenticates with the integration's webhook token). Reads the
//! environment the SAM template sets, builds the adapters once, and hands each delivery's
//! integration id, `Authorization` header and body to [`common::app::WebhookReceiver`], which
//! checks it and enqueues a sync job on the webhook queue within Personio's 3 s. The answer:
//! 202 (queued), 200 (a ping or an event with nothing to sync), or a problem+json 400, 401, 404
//! or 503 (Personio delivers again).

use common::app::{DeliveryAnswer, ReceiveError, Received, WebhookReceiver};
use common::aws::host::{AwsServices, HostError, IntegrationsConfig, required_env};
use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use lambda_http::{Body, Request, RequestExt};
use std::convert::Infallible;
use std::sync::Arc;

/// The route's prefix before the integration id.
const ROUTE_PREFIX: &str = "/webhooks/personio/";

/// What the function needs from its environment (names as in `infra/template.yaml`).
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// `TABLE_NAME`, `SECRET_PREFIX` (the tokens are kept next to the credentials).
    pub integrations: IntegrationsConfig,
    /// `WEBHOOK_QUEUE_URL`: where the sync jobs of webhook events go.
    pub webhook_queue_url: String,
}

impl HostConfig {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            integrations: IntegrationsConfig::from_env()?,
            webhook_queue_url: required_env("WEBHOOK_QUEUE_URL")?,
        })
    }

    /// The receiver on these AWS services (the function's own, or local endpoints in tests).
    pub fn receiver(&self, services: &AwsServices) -> WebhookReceiver {
        WebhookReceiver::new(
            self.integrations.state_store(services),
            Arc::new(services.webhook_tokens(&self.integrations.secret_prefix)),
            Arc::new(services.sync_queue(&self.webhook_queue_url)),
        )
    }
}

pub struct Host {
    receiver: WebhookReceiver,
}

impl Host {
    pub fn new(receiver: WebhookReceiver) -> Self {
        Self { receiver }
    }

    pub async fn from_env() -> Result<Self, HostError> {
        let config = HostConfig::from_env()?;
        Ok(Self::new(
            config.receiver(&AwsServices::from_environment().await),
        ))
    }

    /// Answers one delivery. Never fails: refusals are problem+json answers.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Infallible> {
        let integration = integration_id(&request);
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body: &[u8] = match request.body() {
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
            _ => &[],
        };
        let answer = self
            .receiver
            .receive(&integration, authorization.as_deref(), body)
            .await;
        Ok(response(answer))
    }
}

/// The `{integration_id}` path parameter, or the path's last segment under the route.
fn integration_id(request: &Request) -> String {
    if let Some(id) = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("integration_id"))
    {
        return id.to_owned();
    }
    request
        .raw_http_path()
        .strip_prefix(ROUTE_PREFIX)
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

fn response(answer: Result<Received, ReceiveError>) -> Response<Body> {
    let answer = DeliveryAnswer::of(&answer);
    let mut response = Response::new(Body::Text(answer.body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::admin::testing::RecordingJobQueue;
    use common::domain::IntegrationId;
    use common::ports::{IntegrationStore, MemoryWebhookTokens, WebhookTokens};
    use common::secret::Secret;
    use common::store::MemoryStore;
    use common::store::contract::integration_record;
    use serde_json::{Value, json};
    use std::path::PathBuf;

    fn event(name: &str) -> Request {
        let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events")).join(name);
        let text = std::fs::read_to_string(path).expect("the sample event exists");
        lambda_http::request::from_str(&text).expect("an API Gateway HTTP API event")
    }

    async fn host(queue: Arc<RecordingJobQueue>) -> Host {
        let store = MemoryStore::new();
        store
            .put_integration(
                &integration_record("3f1c2a9e-5b7d-4c1e-9a0b-8d6e2f4a1c37", "tenant", None, 1),
                None,
            )
            .await
            .expect("stored");
        let tokens = MemoryWebhookTokens::new();
        tokens
            .put_webhook_token(
                &IntegrationId::new("3f1c2a9e-5b7d-4c1e-9a0b-8d6e2f4a1c37"),
                &Secret::new("sample-webhook-token-7Qd9"),
            )
            .await
            .expect("stored");
        Host::new(WebhookReceiver::new(
            Arc::new(store),
            Arc::new(tokens),
            queue,
        ))
    }

    async fn answer(host: &Host, request: Request) -> (u16, Value) {
        let response = host
            .handle(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status().as_u16();
        let body = match response.into_body() {
            Body::Text(text) => serde_json::from_str(&text).expect("JSON"),
            other => panic!("unexpected body {other:?}"),
        };
        (status, body)
    }

    #[tokio::test]
    async fn the_sample_delivery_is_queued_and_bad_ones_are_refused() {
        let queue = Arc::new(RecordingJobQueue::default());
        let host = host(queue.clone()).await;
        let (status, body) = answer(&host, event("webhook-person-updated.json")).await;
        assert_eq!((status, &body["status"]), (202, &json!("queued")), "{body}");
        assert_eq!(body["employee"], 10042);
        let jobs = queue.sync_jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].employees[0].0, 10042);

        let mut wrong_token = event("webhook-person-updated.json");
        wrong_token
            .headers_mut()
            .insert(header::AUTHORIZATION, HeaderValue::from_static("guess"));
        let (status, problem) = answer(&host, wrong_token).await;
        assert_eq!(status, 401, "{problem}");
        assert!(!problem.to_string().contains("sample-webhook-token"));

        let mut no_token = event("webhook-person-updated.json");
        no_token.headers_mut().remove(header::AUTHORIZATION);
        assert_eq!(answer(&host, no_token).await.0, 401);

        let (status, problem) = answer(&host, event("webhook-unknown-integration.json")).await;
        assert_eq!(status, 404, "{problem}");

        let (status, problem) = answer(&host, event("webhook-malformed.json")).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["status"], 400);
        assert_eq!(queue.sync_jobs().len(), 1);
    }
}
