//! `SecretsManagerCredentials` against moto's Secrets Manager through the real SDK client.

use aws_sdk_secretsmanager::Client;
use common::aws::{SecretsManagerCredentials, endpoint_sdk_config};
use common::domain::IntegrationId;
use common::ports::{Credentials, CredentialsError, IntegrationCredentials};
use common::secret::Secret;
use integration_tests::aws::{REGION, moto_endpoint, unique_name};
use std::time::Duration;

async fn secrets_client() -> Option<Client> {
    let endpoint = moto_endpoint()?;
    Some(Client::new(&endpoint_sdk_config(&endpoint, REGION).await))
}

fn credentials(client_id: &str, secret: &str, token: &str) -> IntegrationCredentials {
    IntegrationCredentials::new(client_id, Secret::new(secret), Secret::new(token))
}

/// The values as a comparable tuple (the credentials type has no `PartialEq`, by design of
/// `Secret`).
fn values(credentials: &IntegrationCredentials) -> (String, String, String) {
    (
        credentials.personio_client_id.clone(),
        credentials.personio_client_secret.expose().to_owned(),
        credentials.lms_token.expose().to_owned(),
    )
}

/// Writes the secret's text directly, as an operator (or a rotation) would.
async fn overwrite_secret(client: &Client, name: &str, text: &str) {
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(text)
        .send()
        .await
        .unwrap_or_else(|error| panic!("put {name}: {error:?}"));
}

#[tokio::test]
async fn credentials_are_created_updated_and_read_back() {
    let Some(client) = secrets_client().await else {
        return;
    };
    let store = SecretsManagerCredentials::new(client.clone());
    let integration = IntegrationId::new(unique_name("acme"));

    let first = credentials("client-1", "personio-secret-1", "lms-token-1");
    let arn = store.put_credentials(&integration, &first).await.unwrap();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:eu-central-1:"),
        "{arn}"
    );
    assert_eq!(
        values(&store.credentials(&integration).await.unwrap()),
        values(&first)
    );

    // Updating the same integration keeps the secret (same ARN) and is seen at once: a put
    // drops the cached value.
    let second = credentials("client-2", "personio-secret-2", "lms-token-2");
    assert_eq!(
        store.put_credentials(&integration, &second).await.unwrap(),
        arn
    );
    assert_eq!(
        values(&store.credentials(&integration).await.unwrap()),
        values(&second)
    );

    // Stored under the documented name.
    let described = client
        .describe_secret()
        .secret_id(format!("personio-lms/{integration}"))
        .send()
        .await
        .unwrap();
    assert_eq!(described.arn(), Some(arn.as_str()));
}

#[tokio::test]
async fn a_cached_value_is_served_until_its_ttl_passes() {
    let Some(client) = secrets_client().await else {
        return;
    };
    let integration = IntegrationId::new(unique_name("cached"));
    let reader = |ttl: Duration| {
        SecretsManagerCredentials::new(client.clone())
            .with_name_pattern("tests/{integration_id}/credentials")
            .with_cache_ttl(ttl)
    };
    // Three readers of the same secret: one whose cache outlives the test, one with a short
    // TTL, one without a cache.
    let long_lived = reader(Duration::from_secs(3600));
    let short_lived = reader(Duration::from_millis(300));
    let uncached = reader(Duration::ZERO);
    let name = long_lived.secret_name(&integration);
    assert!(name.starts_with("tests/cached-") && name.ends_with("/credentials"));

    let original = credentials("client", "secret-v1", "token-v1");
    long_lived
        .put_credentials(&integration, &original)
        .await
        .unwrap();
    for cache in [&long_lived, &short_lived] {
        assert_eq!(
            values(&cache.credentials(&integration).await.unwrap()),
            values(&original)
        );
    }

    // Rotated behind the readers' backs.
    overwrite_secret(
        &client,
        &name,
        r#"{"personio_client_id":"client","personio_client_secret":"secret-v2","lms_token":"token-v2"}"#,
    )
    .await;
    let rotated = (
        "client".to_owned(),
        "secret-v2".to_owned(),
        "token-v2".to_owned(),
    );
    assert_eq!(
        values(&uncached.credentials(&integration).await.unwrap()),
        rotated
    );
    assert_eq!(
        values(&long_lived.credentials(&integration).await.unwrap()),
        values(&original),
        "within the TTL the cached value is served, without a call"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        values(&short_lived.credentials(&integration).await.unwrap()),
        rotated,
        "after the TTL the secret is read again"
    );
}

#[tokio::test]
async fn a_missing_secret_is_missing() {
    let Some(client) = secrets_client().await else {
        return;
    };
    let store = SecretsManagerCredentials::new(client);
    let integration = IntegrationId::new(unique_name("nobody"));
    let error = store.credentials(&integration).await.unwrap_err();
    assert!(
        matches!(&error, CredentialsError::Missing(missing) if *missing == integration),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_secrets_are_reported_without_their_text() {
    let Some(client) = secrets_client().await else {
        return;
    };
    let store = SecretsManagerCredentials::new(client.clone());
    let cases = [
        (
            r#"{"personio_client_id": "id", "personio_client_secret": "hunter2-abc", "lms_token": 98765432"#,
            "not valid JSON",
        ),
        (
            r#"{"personio_client_id": "id", "personio_client_secret": 98765432, "lms_token": "hunter2-abc"}"#,
            "`personio_client_secret` is not a string",
        ),
        (
            r#"{"personio_client_id": "id", "personio_client_secret": "hunter2-abc"}"#,
            "`lms_token` is missing",
        ),
        (r#""hunter2-abc""#, "not a JSON object"),
    ];
    for (text, expected) in cases {
        let integration = IntegrationId::new(unique_name("malformed"));
        client
            .create_secret()
            .name(store.secret_name(&integration))
            .secret_string(text)
            .send()
            .await
            .unwrap();
        let error = store.credentials(&integration).await.unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(
            matches!(error, CredentialsError::Malformed { .. }) && shown.contains(expected),
            "{text}: {shown}"
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("98765432"),
            "the secret text leaked: {shown}"
        );
        assert!(!error.is_retryable());
    }
}
