//! The Personio client's v2 webhooks management and `updated_since` delta listing, against the
//! sandbox over HTTP.

use chrono::Utc;
use common::domain::employee::PersonioId;
use common::personio::{PersonioClient, PersonioConfig, RateLimits};
use common::ports::{
    EmployeeQuery, HrError, HrSource, HrWebhooks, SUBSCRIBED_EVENTS, WebhookRegistration,
};
use common::retry::{Backoff, Deadline};
use common::secret::Secret;
use futures::TryStreamExt;
use personio_sandbox::{
    DeliveryPolicy, Endpoint, LMS_SYNC_KEY, RunningSandbox, Sandbox, SandboxConfig,
};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn client_of(sandbox: &RunningSandbox) -> PersonioClient {
    let (client_id, client_secret) = sandbox.default_credential();
    let mut config = PersonioConfig::new(client_id, Secret::new(client_secret))
        .with_base_url(sandbox.base_url().parse().expect("sandbox URL"));
    config.request_timeout = Duration::from_secs(3);
    config.limits = RateLimits::unlimited();
    config.backoff = Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 10,
    };
    PersonioClient::new(config).expect("client builds")
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(20))
}

/// A receiver that answers every request `200 OK` and counts them (the client's tests need a
/// delivery to read back, not a real receiver).
async fn answering_receiver() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (url, task)
}

fn registration(url: &str, token: &str) -> WebhookRegistration {
    WebhookRegistration {
        url: url.to_owned(),
        description: "personio-lms".to_owned(),
        enabled_events: SUBSCRIBED_EVENTS
            .iter()
            .map(|event| (*event).to_owned())
            .collect(),
        token: Secret::new(token),
    }
}

#[tokio::test]
async fn webhooks_are_created_enabled_read_updated_listed_and_deleted() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits()
            .with_http_webhooks()
            .with_webhook_delivery(DeliveryPolicy::compressed(Duration::from_millis(20))),
    )
    .await
    .expect("sandbox");
    let client = client_of(&sandbox);
    let (url, _receiver) = answering_receiver().await;

    let created = client
        .create_webhook(&registration(&url, "first-token"), deadline())
        .await
        .expect("created");
    assert!(
        created.is_enabled(),
        "created enabled, not Personio's default: {created:?}"
    );
    assert_eq!(
        (created.url.as_str(), created.auth_type.as_str()),
        (url.as_str(), "TOKEN")
    );
    assert_eq!(created.enabled_events.len(), SUBSCRIBED_EVENTS.len());

    let read = client
        .webhook(&created.id, deadline())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);
    assert_eq!(
        client.webhooks(deadline()).await.expect("listed"),
        vec![created.clone()]
    );

    // A second registration of the same URL is Personio's 409: a refusal, not retried.
    let again = client
        .create_webhook(&registration(&url, "other"), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(again, HrError::Rejected { status: 409, .. }),
        "{again}"
    );

    let mut narrower = registration(&url, "second-token");
    narrower.enabled_events = vec!["person.updated".to_owned()];
    let updated = client
        .update_webhook(&created.id, &narrower, deadline())
        .await
        .expect("updated");
    assert_eq!(updated.enabled_events, vec!["person.updated"]);
    assert!(updated.is_enabled());

    // A change fires person.updated; its delivery shows in the activity.
    let since = Utc::now() - chrono::Duration::seconds(1);
    let id = sandbox.employees()[0].id();
    sandbox
        .set_attribute(id, "first_name", "Renamed")
        .expect("changed");
    let mut activity = Vec::new();
    for _ in 0..100 {
        activity = client
            .webhook_activity(&created.id, since, deadline())
            .await
            .expect("activity");
        if !activity.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(activity.len(), 1, "{activity:?}");
    assert_eq!(activity[0].event_name, "person.updated");
    assert!(activity[0].is_delivered && activity[0].status_code == Some(200));

    assert!(
        client
            .delete_webhook(&created.id, deadline())
            .await
            .expect("deleted")
    );
    assert!(
        !client
            .delete_webhook(&created.id, deadline())
            .await
            .expect("already gone")
    );
    assert_eq!(
        client.webhook(&created.id, deadline()).await.expect("read"),
        None
    );
    assert!(
        client
            .webhooks(deadline())
            .await
            .expect("listed")
            .is_empty()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_credential_without_the_webhook_scopes_is_refused_with_personios_message() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_employees(1)
            .without_rate_limits(),
    )
    .await
    .expect("sandbox");
    let (client_id, client_secret) =
        sandbox.add_credential_with_scopes(None, &["personio:documents:read"]);
    let mut config = PersonioConfig::new(client_id, Secret::new(client_secret))
        .with_base_url(sandbox.base_url().parse().expect("sandbox URL"));
    config.limits = RateLimits::unlimited();
    let client = PersonioClient::new(config).expect("client");
    let error = client.webhooks(deadline()).await.unwrap_err();
    assert!(
        matches!(error, HrError::Rejected { status: 403, .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_updated_since_listing_is_one_request_with_just_the_changed_employees() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_employees(250)
            .without_rate_limits(),
    )
    .await
    .expect("sandbox");
    let client = client_of(&sandbox);
    let ids: Vec<u64> = sandbox
        .employees()
        .iter()
        .map(|employee| employee.id())
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for id in [ids[3], ids[120], ids[249]] {
        sandbox
            .set_attribute(id, LMS_SYNC_KEY, "yes")
            .expect("changed");
        sandbox
            .set_attribute(id, "last_name", format!("Changed {id}"))
            .expect("changed");
    }
    let before = sandbox.stats().requests_to(Endpoint::Employees);
    let query = EmployeeQuery {
        updated_since: Some(since.into()),
        ..EmployeeQuery::default()
    };
    let pages: Vec<_> = client
        .employee_pages(&query, deadline())
        .try_collect()
        .await
        .expect("delta listing");
    assert_eq!(
        sandbox.stats().requests_to(Endpoint::Employees) - before,
        1,
        "an updated_since answer is complete: no second page is asked for"
    );
    let listed: BTreeSet<PersonioId> = pages
        .iter()
        .flat_map(|page| &page.employees)
        .map(|employee| employee.as_ref().expect("parses").id)
        .collect();
    assert_eq!(
        listed,
        [ids[3], ids[120], ids[249]]
            .map(|id| PersonioId(id as i64))
            .into_iter()
            .collect()
    );

    // Nothing changed since: an empty answer, one request.
    let query = EmployeeQuery {
        updated_since: Some(Utc::now().into()),
        ..EmployeeQuery::default()
    };
    let pages: Vec<_> = client
        .employee_pages(&query, deadline())
        .try_collect()
        .await
        .expect("delta listing");
    assert!(pages.iter().all(|page| page.employees.is_empty()));
    sandbox.shutdown().await;
}
