//! The `webhook-receiver` function end to end on DynamoDB Local and moto: the sample delivery →
//! the integration read from DynamoDB, the token from Secrets Manager (cached, read again once
//! after a new install) → a sync job on the SQS webhook queue.

use crate::lambda_support::{lambda_env, sample};
use common::domain::IntegrationId;
use common::domain::job::SyncJob;
use common::domain::run::Trigger;
use common::ports::WebhookTokens;
use common::secret::Secret;
use lambda_http::Body;
use lambda_http::http::{HeaderValue, header};
use webhook_receiver::{Host, HostConfig};

const INTEGRATION: &str = "3f1c2a9e-5b7d-4c1e-9a0b-8d6e2f4a1c37";

fn delivery(token: &str) -> lambda_http::Request {
    let text = sample("webhook-person-updated.json").to_string();
    let mut request = lambda_http::request::from_str(&text).expect("an HTTP API event");
    request.headers_mut().insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(token).expect("a header value"),
    );
    request
}

async fn status_of(host: &Host, request: lambda_http::Request) -> u16 {
    let response = host
        .handle(request)
        .await
        .unwrap_or_else(|never| match never {});
    if let Body::Text(text) = response.body() {
        assert!(!text.contains("token-"), "{text}");
    }
    response.status().as_u16()
}

#[tokio::test]
async fn a_delivery_is_checked_against_secrets_manager_and_queued_on_sqs() {
    let Some(env) = lambda_env().await else {
        return;
    };
    let (queue_url, _) = env.queue_with_dlq("webhook-jobs", false, 5).await;
    env.put_integration(
        INTEGRATION,
        "https://personio.example",
        "https://lms.example/scim",
        None,
    )
    .await;
    let config = HostConfig {
        integrations: common::aws::host::IntegrationsConfig {
            table_name: env.table_name.clone(),
            secret_prefix: env.secret_prefix.clone(),
            run_retention_days: None,
        },
        webhook_queue_url: queue_url.clone(),
    };
    // Fresh reads of a mismatching token are spaced by 5 s in production; here by 100 ms, with
    // pauses of 150 ms where the test needs one.
    let host = Host::new(
        config
            .receiver(&env.services)
            .with_fresh_read_interval(std::time::Duration::from_millis(100)),
    );
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(150));
    // The set-up (the admin API) writes through its own client.
    let setup = env.services.webhook_tokens(&env.secret_prefix);
    let integration = IntegrationId::new(INTEGRATION);

    assert_eq!(
        status_of(&host, delivery("token-1")).await,
        401,
        "no webhook installed yet"
    );
    setup
        .put_webhook_token(&integration, &Secret::new("token-1"))
        .await
        .expect("stored");
    pause().await;
    assert_eq!(status_of(&host, delivery("token-1")).await, 202);
    assert_eq!(status_of(&host, delivery("token-2")).await, 401);

    // Installed again: the receiver's cached token is old; the new one works at once.
    setup
        .put_webhook_token(&integration, &Secret::new("token-2"))
        .await
        .expect("replaced");
    pause().await;
    let status = status_of(&host, delivery("token-2")).await;
    assert_eq!(status, 202);

    let messages = env.receive(&queue_url, 30).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    for message in &messages {
        let job: SyncJob =
            serde_json::from_str(message.body().expect("a body")).expect("a sync job");
        assert_eq!(job.integration_id, integration);
        assert_eq!(job.trigger, Trigger::Webhook);
        assert_eq!(job.employees.len(), 1);
        assert_eq!(job.employees[0].0, 10042);
    }

    // Removed: no token, nothing accepted (after the receiver's one fresh read).
    setup
        .delete_webhook_token(&integration)
        .await
        .expect("deleted");
    assert_eq!(setup.webhook_token(&integration).await.expect("read"), None);
    setup
        .put_webhook_token(&integration, &Secret::new("token-3"))
        .await
        .expect("stored again after a removal");
    assert_eq!(
        setup
            .fresh_webhook_token(&integration)
            .await
            .expect("read")
            .map(|token| token.expose().to_owned()),
        Some("token-3".to_owned())
    );
}
