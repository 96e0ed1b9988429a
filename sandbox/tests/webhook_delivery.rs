//! Webhook deliveries over real HTTP to a receiver in the test: authentication, the events each
//! change fires, retries, redirects, the 3 s answer budget, faults, history and manual sends.

use std::collections::BTreeMap;
use std::time::Duration;

use personio_sandbox::{
    DeliveryPolicy, NewEmployee, RunningSandbox, SandboxConfig, WebhookFaults, WebhookSettings,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod support;

use support::receiver::{Received, Receiver, Reply};
use support::{call, create_webhook, start, v2_token};

const ALL_EVENTS: [&str; 8] = [
    "person.created",
    "person.updated",
    "person.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
    "employment.started",
    "employment.terminated",
];

/// A sandbox that may deliver to the receiver over plain HTTP, retrying every `retry_ms`.
async fn sandbox_for_webhooks(retry_ms: u64) -> RunningSandbox {
    start(
        SandboxConfig::default()
            .with_employees(10)
            .without_rate_limits()
            .with_http_webhooks()
            .with_webhook_delivery(DeliveryPolicy::compressed(Duration::from_millis(retry_ms))),
    )
    .await
}

/// An enabled webhook for every event, authenticated by `auth` (merged into the body).
async fn enabled_webhook(sandbox: &RunningSandbox, token: &str, url: &str, auth: Value) -> String {
    let mut body = json!({
        "url": url,
        "description": "test receiver",
        "enabled_events": ALL_EVENTS,
        "status": "ENABLED",
    });
    if let (Some(body), Some(auth)) = (body.as_object_mut(), auth.as_object()) {
        body.extend(auth.clone());
    }
    let created = create_webhook(sandbox, token, body).await;
    created["id"].as_str().expect("webhook id").to_owned()
}

/// A sandbox with one enabled webhook (every event, `auth`) delivering to a fresh receiver.
struct Hooked {
    sandbox: RunningSandbox,
    token: String,
    receiver: Receiver,
    webhook: String,
}

async fn hooked(retry_ms: u64, path: &str, auth: Value) -> Hooked {
    let sandbox = sandbox_for_webhooks(retry_ms).await;
    let token = v2_token(&sandbox).await;
    let receiver = Receiver::start().await;
    let webhook = enabled_webhook(&sandbox, &token, &receiver.url(path), auth).await;
    Hooked {
        sandbox,
        token,
        receiver,
        webhook,
    }
}

impl Hooked {
    /// Changes an attribute of the first employee (which fires an event if `key` reports).
    fn change(&self, key: &str, value: impl Into<Value>) {
        let id = self.sandbox.employees()[0].id();
        self.sandbox.set_attribute(id, key, value).unwrap();
    }

    async fn history(&self, listing: &str) -> Vec<Value> {
        history(&self.sandbox, &self.token, &self.webhook, listing).await
    }
}

async fn history(sandbox: &RunningSandbox, token: &str, id: &str, listing: &str) -> Vec<Value> {
    let answer = call(
        sandbox,
        Method::GET,
        token,
        &format!("/v2/webhooks/{id}/{listing}"),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["_data"].as_array().cloned().unwrap_or_default()
}

fn names(received: &[Received]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for request in received {
        *counts.entry(request.event_name().to_owned()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn each_change_fires_its_data_less_events_with_the_exact_token() {
    let sandbox = sandbox_for_webhooks(10).await;
    let employees = sandbox.employees();
    let (renamed, leaver) = (employees[0].id(), employees[1].id());
    // Before any webhook exists: the leaver must be able to become inactive.
    sandbox.set_status(leaver, "active").unwrap();
    let token = v2_token(&sandbox).await;
    let receiver = Receiver::start().await;
    let quiet = Receiver::start().await;
    enabled_webhook(
        &sandbox,
        &token,
        &receiver.url("/personio"),
        json!({"auth_type": "TOKEN", "token": "Bearer hook-s3cret"}),
    )
    .await;
    // Disabled (the default), and enabled for another event only: neither hears anything.
    create_webhook(
        &sandbox,
        &token,
        json!({"url": quiet.url("/off"), "description": "off", "enabled_events": ALL_EVENTS, "token": "t"}),
    )
    .await;
    enabled_webhook(
        &sandbox,
        &token,
        &quiet.url("/deleted-only"),
        json!({"token": "t", "enabled_events": ["person.deleted"]}),
    )
    .await;

    let before = sandbox.webhook_stats().events;
    sandbox
        .set_attribute(renamed, "email", "renamed@acme.example")
        .unwrap();
    sandbox.set_status(leaver, "inactive").unwrap();
    let hired = sandbox
        .add_employee(NewEmployee::new("Mia", "Neumann", "mia@acme.example"))
        .unwrap();
    sandbox.remove_employee(hired).unwrap();
    let published = sandbox.webhook_stats().events - before;
    // Unchanged values and attributes Personio does not report fire nothing.
    sandbox
        .set_attribute(renamed, "email", "renamed@acme.example")
        .unwrap();
    sandbox
        .set_attribute(renamed, "vacation_day_balance", 99.5)
        .unwrap();
    assert_eq!(sandbox.webhook_stats().events - before, published);

    let received = receiver.wait_for(8).await;
    let expected: BTreeMap<String, usize> = [
        ("person.updated", 1),
        ("employment.updated", 1),
        ("employment.terminated", 1),
        ("person.created", 1),
        ("employment.created", 1),
        ("employment.started", 1),
        ("employment.deleted", 1),
        ("person.deleted", 1),
    ]
    .into_iter()
    .map(|(name, count)| (name.to_owned(), count))
    .collect();
    assert_eq!(names(&received), expected);
    for request in &received {
        assert_eq!(request.path, "/personio");
        assert_eq!(request.header("authorization"), Some("Bearer hook-s3cret"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body = &request.body;
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["company_id", "event_name", "id", "occurred_at", "payload"]
        );
        assert_eq!(body["company_id"], "4242");
        assert!(
            chrono::DateTime::parse_from_rfc3339(body["occurred_at"].as_str().unwrap()).is_ok()
        );
        let person = match request.event_name() {
            name if name.starts_with("employment.") => {
                assert_ne!(body["payload"]["id"], body["payload"]["person"]["id"]);
                body["payload"]["person"]["id"].clone()
            }
            _ => body["payload"]["id"].clone(),
        };
        let expected_person = match request.event_name() {
            "person.updated" => renamed,
            "employment.updated" | "employment.terminated" => leaver,
            _ => hired,
        };
        assert_eq!(person, expected_person.to_string(), "{body}");
    }
    // The disabled webhook and the one for person.deleted only: just that one event.
    let quiet_received = quiet.wait_for(1).await;
    assert_eq!(quiet_received[0].path, "/deleted-only");
    assert_eq!(quiet_received[0].event_name(), "person.deleted");
    quiet.assert_stays_at(1, Duration::from_millis(200)).await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn custom_auth_sends_its_headers_and_none_sends_nothing() {
    let sandbox = sandbox_for_webhooks(10).await;
    let token = v2_token(&sandbox).await;
    let receiver = Receiver::start().await;
    enabled_webhook(
        &sandbox,
        &token,
        &receiver.url("/custom"),
        json!({"auth_type": "CUSTOM", "custom_headers": {"X-Api-Key": "k-123", "X-Tenant": "acme"}}),
    )
    .await;
    enabled_webhook(
        &sandbox,
        &token,
        &receiver.url("/none"),
        json!({"auth_type": "NONE"}),
    )
    .await;
    let id = sandbox.employees()[0].id();
    sandbox.set_attribute(id, "first_name", "Renée").unwrap();
    let received = receiver.wait_for(2).await;
    let custom = received
        .iter()
        .find(|request| request.path == "/custom")
        .unwrap();
    assert_eq!(custom.header("x-api-key"), Some("k-123"));
    assert_eq!(custom.header("x-tenant"), Some("acme"));
    assert_eq!(custom.header("authorization"), None);
    let none = received
        .iter()
        .find(|request| request.path == "/none")
        .unwrap();
    assert_eq!(none.header("authorization"), None);
    assert_eq!(none.header("x-api-key"), None);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_and_every_request_is_recorded() {
    let hook = hooked(20, "/h", json!({"token": "t"})).await;
    hook.receiver
        .script([Reply::Status(500), Reply::Status(500), Reply::Status(503)]);
    hook.change("last_name", "Retried");

    let received = hook.receiver.wait_for(4).await;
    let event_ids: Vec<&Value> = received.iter().map(|request| &request.body["id"]).collect();
    assert!(
        event_ids.iter().all(|event_id| *event_id == event_ids[0]),
        "one event, resent"
    );
    // Requests 1-2 are the first attempt (fast retry), 3-4 the first extended retry, which
    // waits its delay (20 ms with this compressed schedule) first.
    assert!(received[2].at - received[1].at >= Duration::from_millis(20));

    let rows: Vec<(u64, u64, Value, bool)> = hook
        .history("activity")
        .await
        .iter()
        .map(|row| {
            (
                row["attempt"].as_u64().unwrap(),
                row["request"].as_u64().unwrap(),
                row["status_code"].clone(),
                row["is_delivered"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, 1, json!(500), false),
            (1, 2, json!(500), false),
            (2, 3, json!(503), false),
            (2, 4, json!(200), true),
        ]
    );
    let events = hook.history("events").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["delivery_status"], "DELIVERED");
    assert_eq!(hook.history("activity?is_delivered=true").await.len(), 1);

    // 4xx and 501 are final: one request, the event failed.
    hook.receiver
        .script([Reply::Status(404), Reply::Status(501)]);
    hook.change("last_name", "Refused");
    hook.change("last_name", "Refused again");
    hook.receiver.wait_for(6).await;
    hook.receiver
        .assert_stays_at(6, Duration::from_millis(300))
        .await;
    let events = hook.history("events").await;
    let statuses: Vec<&Value> = events
        .iter()
        .map(|event| &event["delivery_status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("DELIVERED"), &json!("FAILED"), &json!("FAILED")]
    );
    let stats = hook.sandbox.webhook_stats();
    assert_eq!((stats.requests, stats.delivered, stats.failed), (6, 1, 2));
    hook.sandbox.shutdown().await;
}

#[tokio::test]
async fn an_event_is_given_up_after_fourteen_requests() {
    let hook = hooked(2, "/down", json!({"token": "t"})).await;
    hook.receiver
        .script(std::iter::repeat_n(Reply::Status(502), 20));
    hook.change("last_name", "Unreachable");
    hook.receiver.wait_for(14).await;
    hook.receiver
        .assert_stays_at(14, Duration::from_millis(300))
        .await;
    assert_eq!(hook.history("events").await[0]["delivery_status"], "FAILED");
    let activity = hook.history("activity").await;
    assert_eq!(activity.last().unwrap()["attempt"], 7);
    hook.sandbox.shutdown().await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let hook = hooked(10, "/moved", json!({"token": "secret"})).await;
    hook.receiver
        .script([Reply::Redirect(hook.receiver.url("/elsewhere"))]);
    hook.change("first_name", "Redirected");
    hook.receiver.wait_for(1).await;
    hook.receiver
        .assert_stays_at(1, Duration::from_millis(300))
        .await;
    let activity = hook.history("activity").await;
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0]["status_code"], 307);
    assert!(
        activity[0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("not followed")),
        "{}",
        activity[0]
    );
    assert_eq!(hook.history("events").await[0]["delivery_status"], "FAILED");
    hook.sandbox.shutdown().await;
}

#[tokio::test]
async fn receivers_get_three_seconds_to_answer() {
    let hook = hooked(10, "/slow", json!({"token": "t"})).await;
    hook.receiver.script([Reply::Slow(Duration::from_secs(5))]);
    hook.change("first_name", "Slow");
    hook.receiver.wait_for(2).await;
    let activity = loop {
        let activity = hook.history("activity").await;
        if activity.len() == 2 {
            break activity;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let waited = activity[0]["duration_ms"].as_i64().unwrap();
    assert!((3000..5000).contains(&waited), "gave up after {waited} ms");
    assert_eq!(activity[0]["status_code"], Value::Null);
    assert_eq!(activity[0]["error"], "no answer within 3000 ms");
    assert_eq!(activity[1]["is_delivered"], true, "the fast retry delivers");
    hook.sandbox.shutdown().await;
}

#[tokio::test]
async fn deliveries_never_hold_up_the_api_or_the_mutations() {
    let hook = hooked(10, "/stuck", json!({"token": "t"})).await;
    hook.receiver.script([Reply::Hold, Reply::Hold]);
    hook.change("first_name", "One");
    hook.receiver.wait_for(1).await;
    // The receiver holds its answer; data changes and API calls go on meanwhile.
    hook.change("first_name", "Two");
    let listed = call(
        &hook.sandbox,
        Method::GET,
        &hook.token,
        "/v2/webhooks",
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    hook.receiver.wait_for(2).await;
    assert_eq!(
        hook.sandbox.webhook_stats().delivered,
        0,
        "both still unanswered"
    );
    hook.receiver.release();
    hook.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_seeded_share_is_dropped_and_silent_attributes_fire_nothing() {
    let faults = WebhookFaults {
        drop_share: 0.5,
        seed: 11,
        silent_attributes: vec!["position".to_owned()],
    };
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits()
            .with_webhooks(WebhookSettings {
                allow_http_loopback: true,
                faults: faults.clone(),
                ..WebhookSettings::default()
            }),
    )
    .await;
    let token = v2_token(&sandbox).await;
    let receiver = Receiver::start().await;
    let webhook = enabled_webhook(
        &sandbox,
        &token,
        &receiver.url("/lossy"),
        json!({"token": "t"}),
    )
    .await;
    let id = sandbox.employees()[0].id();
    for index in 0..40 {
        sandbox
            .set_attribute(id, "email", format!("n{index}@acme.example"))
            .unwrap();
    }
    let stats = sandbox.webhook_stats();
    assert_eq!(stats.events + stats.dropped, 40);
    assert!((10..30).contains(&stats.dropped), "{stats:?}");
    let received = receiver.wait_for(stats.events as usize).await;
    receiver
        .assert_stays_at(received.len(), Duration::from_millis(200))
        .await;
    let listed = history(&sandbox, &token, &webhook, "events?limit=200").await;
    assert_eq!(
        listed.len() as u64,
        stats.events,
        "dropped events are not listed either"
    );

    sandbox
        .set_attribute(id, "position", "Head of Jobs")
        .unwrap();
    let after = sandbox.webhook_stats();
    assert_eq!((after.events, after.silenced), (stats.events, 1));

    sandbox.set_webhook_faults(WebhookFaults::none()).unwrap();
    sandbox
        .set_attribute(id, "position", "Head of Tests")
        .unwrap();
    assert_eq!(sandbox.webhook_stats().events, stats.events + 1);
    assert!(
        sandbox
            .set_webhook_faults(WebhookFaults {
                drop_share: 2.0,
                ..faults
            })
            .is_err()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn history_redelivery_ping_and_test_events() {
    let sandbox = sandbox_for_webhooks(10).await;
    let token = v2_token(&sandbox).await;
    let receiver = Receiver::start().await;
    // Disabled: ping and test events are sent anyway, change events are not.
    let created = create_webhook(
        &sandbox,
        &token,
        json!({"url": receiver.url("/h"), "description": "d", "enabled_events": ["person.updated"], "token": "t"}),
    )
    .await;
    let webhook = created["id"].as_str().unwrap().to_owned();
    let post = |path: String, body: Option<Value>| {
        let token = token.clone();
        let sandbox = &sandbox;
        async move { call(sandbox, Method::POST, &token, &path, body).await }
    };

    let ping = post(format!("/v2/webhooks/{webhook}/ping"), None).await;
    assert_eq!(ping.status, StatusCode::OK, "{}", ping.body);
    assert_eq!(ping.body["event_name"], "ping");
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].body["id"], ping.body["id"]);
    assert_eq!(received[0].body["payload"]["webhook_id"], webhook.as_str());

    let test = post(
        format!("/v2/webhooks/{webhook}/test-event"),
        Some(json!({"event_name": "employment.terminated", "payload": {"id": "7", "person": {"id": "6"}}})),
    )
    .await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.body);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].event_name(), "employment.terminated");
    assert_eq!(
        received[1].body["payload"],
        json!({"id": "7", "person": {"id": "6"}})
    );
    for (body, status, field) in [
        (
            json!({"payload": {}}),
            StatusCode::BAD_REQUEST,
            "event_name",
        ),
        (
            json!({"event_name": "ping"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_name",
        ),
        (
            json!({"event_name": "person.created", "payload": [1]}),
            StatusCode::BAD_REQUEST,
            "payload",
        ),
    ] {
        let refused = post(format!("/v2/webhooks/{webhook}/test-event"), Some(body)).await;
        assert_eq!(
            (refused.status, refused.fields()),
            (status, vec![field.to_owned()])
        );
    }

    sandbox
        .set_attribute(sandbox.employees()[0].id(), "first_name", "Unheard")
        .unwrap();
    let events = history(&sandbox, &token, &webhook, "events").await;
    assert_eq!(events.len(), 2, "the disabled webhook got no change events");
    let pings = history(&sandbox, &token, &webhook, "events?event_name=ping").await;
    assert_eq!(pings.len(), 1);
    let first_page = call(
        &sandbox,
        Method::GET,
        &token,
        &format!("/v2/webhooks/{webhook}/events?limit=1"),
        None,
    )
    .await;
    assert_eq!(first_page.body["_data"][0]["event_name"], "ping");
    assert!(first_page.body["_meta"]["links"]["next"]["href"].is_string());
    let future = history(
        &sandbox,
        &token,
        &webhook,
        "events?occurred_at.gte=2999-01-01T00:00:00Z",
    )
    .await;
    assert!(future.is_empty());

    // Redelivery sends the selected events again, under their ids.
    let redelivered = post(
        format!("/v2/webhooks/{webhook}/redelivery?event_name=employment.terminated"),
        None,
    )
    .await;
    assert_eq!(
        redelivered.status,
        StatusCode::ACCEPTED,
        "{}",
        redelivered.body
    );
    assert_eq!(redelivered.body["event_ids"], json!([test.body["id"]]));
    let received = receiver.wait_for(3).await;
    assert_eq!(received[2].body["id"], test.body["id"]);
    let activity = history(&sandbox, &token, &webhook, "activity").await;
    assert_eq!(
        activity.len(),
        3,
        "one request each, the redelivery recorded too"
    );

    let unknown = "00000000-0000-4000-8000-000000000000";
    for path in ["ping", "test-event", "redelivery"] {
        let answer = post(
            format!("/v2/webhooks/{unknown}/{path}"),
            Some(json!({"event_name": "person.created"})),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    for listing in ["events", "activity"] {
        let answer = call(
            &sandbox,
            Method::GET,
            &token,
            &format!("/v2/webhooks/{unknown}/{listing}"),
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{listing}");
    }
    let bad_filter = call(
        &sandbox,
        Method::GET,
        &token,
        &format!("/v2/webhooks/{webhook}/activity?is_delivered=maybe"),
        None,
    )
    .await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    sandbox.shutdown().await;
}
