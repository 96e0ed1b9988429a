//! Personio's webhooks through `personio-lms serve`, the built binary: `personio-lms webhooks
//! install` registers the webhook through serve's admin API in the Personio sandbox, a change in
//! the sandbox is delivered to serve's receiver route, and the queued targeted run changes the
//! independent SCIM server, within seconds; `status` shows the deliveries, `remove` removes the
//! webhook and its token. The receiver's refusals (token, integration, body) over HTTP.

mod support;

use integration_tests::scim::{FULL, ScimServer, TOKEN as SCIM_TOKEN};
use personio_sandbox::{
    DeliveryPolicy, LMS_SYNC_KEY, LMS_SYNC_LABEL, RunningSandbox, Sandbox, SandboxConfig,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::serve::{Serve, client, send, wait_for};
use support::{Output, run};

const ADMIN_TOKEN_VAR: &str = "PERSONIO_LMS_ADMIN_TOKEN";

async fn sandbox() -> RunningSandbox {
    Sandbox::start(
        SandboxConfig::default()
            .with_employees(25)
            .with_seed(21)
            .without_rate_limits()
            .with_http_webhooks()
            .with_webhook_delivery(DeliveryPolicy::compressed(Duration::from_millis(50))),
    )
    .await
    .expect("the sandbox starts")
}

/// An active employee with an email whom the integration does not sync yet.
fn unselected_active(sandbox: &RunningSandbox) -> u64 {
    sandbox
        .employees()
        .into_iter()
        .filter(|employee| employee.text("status") == Some("active"))
        .filter(|employee| {
            employee
                .text("email")
                .is_some_and(|email| email.contains('@'))
        })
        .find(|employee| {
            !employee
                .text(LMS_SYNC_KEY)
                .is_some_and(|value| value.eq_ignore_ascii_case("yes"))
        })
        .map(|employee| employee.id())
        .expect("an unselected active employee")
}

fn webhooks(serve: &Serve, action: &str, id: &str, token: &str) -> Output {
    run(
        &[
            "webhooks",
            action,
            "--integration",
            id,
            "--api",
            &serve.base,
        ],
        &[(ADMIN_TOKEN_VAR, token)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_installed_from_the_cli_brings_a_sandbox_change_to_the_lms_through_serve() {
    let Some(scim) = ScimServer::start(FULL) else {
        return;
    };
    let sandbox = sandbox().await;
    let (client_id, client_secret) = sandbox.default_credential();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let http = client();
    let token = serve.token().to_owned();
    let created = send(http.post(serve.url("/integrations")).bearer_auth(&token).json(&json!({
        "name": "ACME",
        "personio": {"base_url": sandbox.base_url(), "client_id": client_id, "client_secret": client_secret},
        "lms": {"scim_base_url": scim.base_url(), "token": SCIM_TOKEN},
        "settings": {"selection": {"attribute": LMS_SYNC_LABEL}},
        "schedule": "manual"
    })))
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json()["id"].as_str().expect("an id").to_owned();

    // Without the admin token the command says where it comes from; a wrong one is refused.
    let unset = run(
        &[
            "webhooks",
            "status",
            "--integration",
            &id,
            "--api",
            &serve.base,
        ],
        &[],
    );
    assert_eq!(unset.code, 2, "{unset}");
    assert!(unset.stderr.contains(ADMIN_TOKEN_VAR), "{unset}");
    let wrong = webhooks(&serve, "status", &id, "plms_wrong");
    assert_eq!(wrong.code, 2, "{wrong}");
    assert!(wrong.stderr.contains("answered 401"), "{wrong}");
    let none = webhooks(&serve, "status", &id, &token);
    assert_eq!(none.code, 5, "not active yet\n{none}");
    assert!(none.stdout.contains("no webhook is registered"), "{none}");

    let webhook_line = |report: &Value| -> Value {
        report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|check| check["name"] == "webhooks")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let check = send(
        http.post(serve.url(&format!("/integrations/{id}/check")))
            .bearer_auth(&token),
    )
    .await;
    let line = webhook_line(&check.json());
    assert_eq!(line["status"], "ok", "{}", check.text);
    assert!(
        line["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("none installed"),
        "{line}"
    );

    let installed = webhooks(&serve, "install", &id, &token);
    assert_eq!(installed.code, 0, "{installed}\n{}", serve.output());
    let receiver = serve.url(&format!("/webhooks/personio/{id}"));
    assert!(
        installed
            .stdout
            .contains(&format!("Personio delivers to {receiver}")),
        "{installed}"
    );

    // A change in Personio reaches the LMS through the webhook, without any scheduled run.
    let employee = unselected_active(&sandbox);
    let changed = Instant::now();
    sandbox
        .set_attribute(employee, LMS_SYNC_KEY, "yes")
        .expect("selected");
    let user = loop {
        let users = scim.user_documents().await;
        if let Some(user) = users
            .into_iter()
            .find(|user| user["externalId"] == Value::String(employee.to_string()))
        {
            break user;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(30),
            "the change did not reach the LMS\n{}",
            serve.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delay = changed.elapsed();
    assert_eq!(user["active"], true);
    assert!(delay < Duration::from_secs(10), "took {delay:?}");
    let runs = wait_for(
        &http,
        &serve,
        &format!("/integrations/{id}/runs"),
        30,
        |runs| {
            runs["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|run| run["status"] == "succeeded")
        },
    )
    .await;
    let run = &runs["runs"][0];
    assert_eq!(
        (&run["trigger"], &run["kind"]),
        (&json!("webhook"), &json!("targeted")),
        "{run}"
    );

    let check = send(
        http.post(serve.url(&format!("/integrations/{id}/check")))
            .bearer_auth(&token),
    )
    .await;
    let line = webhook_line(&check.json());
    assert_eq!(line["status"], "ok", "{}", check.text);
    assert!(
        line["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("active (webhook"),
        "{line}"
    );
    let status = webhooks(&serve, "status", &id, &token);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("active (webhook"), "{status}");
    assert!(!status.stdout.contains(" 0 deliveries"), "{status}");

    // The receiver's refusals, each a problem+json naming the reason.
    for (path, authorization, body, expected) in [
        (
            receiver.clone(),
            Some("not-the-token"),
            json!({"event_name": "person.updated"}),
            401,
        ),
        (receiver.clone(), None, json!({}), 401),
        (
            serve.url("/webhooks/personio/nobody"),
            Some("x"),
            json!({}),
            404,
        ),
    ] {
        let mut request = http.post(&path).json(&body);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let refused = send(request).await;
        assert_eq!(
            refused.status.as_u16(),
            expected,
            "{path}: {}",
            refused.text
        );
        assert!(
            refused.json()["detail"].as_str().is_some(),
            "{}",
            refused.text
        );
    }
    let get = send(http.get(&receiver)).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);

    let removed = webhooks(&serve, "remove", &id, &token);
    assert_eq!(removed.code, 0, "{removed}");
    let gone = webhooks(&serve, "status", &id, &token);
    assert_eq!(gone.code, 5, "{gone}");
    assert!(gone.stdout.contains("no webhook is registered"), "{gone}");
    // Its deliveries are refused from now on: the token is gone.
    let after = send(
        http.post(&receiver)
            .header("Authorization", "anything")
            .json(&json!({"event_name": "person.updated"})),
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.text);
    let audit = send(
        http.get(serve.url(&format!("/integrations/{id}/audit")))
            .bearer_auth(&token),
    )
    .await;
    let trail = audit.json();
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"install_webhook") && actions.contains(&"remove_webhook"),
        "{actions:?}"
    );
    sandbox.shutdown().await;
}
