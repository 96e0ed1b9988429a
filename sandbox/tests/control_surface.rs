//! The `/_sandbox/` control surface (changes from another process) and the command line flags
//! for webhooks.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use personio_sandbox::{LMS_SYNC_KEY, RunningSandbox, SandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod support;

use support::receiver::Receiver;
use support::{client, start, v2_token};

async fn control(
    base_url: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, format!("{base_url}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("control request");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn enable_all_events(sandbox_url: &str, token: &str, receiver_url: &str) {
    let response = client()
        .post(format!("{sandbox_url}/v2/webhooks"))
        .bearer_auth(token)
        .json(&json!({
            "url": receiver_url,
            "description": "control",
            "enabled_events": ["person.created", "person.updated", "person.deleted",
                               "employment.created", "employment.updated", "employment.deleted",
                               "employment.started", "employment.terminated"],
            "status": "ENABLED",
            "token": "t",
        }))
        .send()
        .await
        .expect("create webhook");
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_control_surface_changes_data_and_fires_events() {
    let sandbox: RunningSandbox = start(
        SandboxConfig::default()
            .with_employees(4)
            .without_rate_limits()
            .with_http_webhooks()
            .with_control_api(),
    )
    .await;
    let base = sandbox.base_url();
    let receiver = Receiver::start().await;
    enable_all_events(&base, &v2_token(&sandbox).await, &receiver.url("/c")).await;

    let (status, body) = control(
        &base,
        Method::POST,
        "/_sandbox/employees",
        Some(
            json!({"first_name": "Ola", "last_name": "Nordmann", "email": "ola@acme.example",
                    "attributes": {LMS_SYNC_KEY: "ja"}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_u64().expect("new id");
    let hired = sandbox.employee(id).expect("stored");
    assert_eq!(hired.text(LMS_SYNC_KEY), Some("ja"));
    assert_eq!(
        receiver.wait_for(3).await.len(),
        3,
        "created, created, started"
    );

    let (status, _) = control(
        &base,
        Method::PATCH,
        &format!("/_sandbox/employees/{id}"),
        Some(json!({"email": "ola.n@acme.example", "status": "inactive"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sandbox.employee(id).unwrap().text("status"),
        Some("inactive")
    );
    let received = receiver.wait_for(6).await;
    let mut names: Vec<&str> = received[3..]
        .iter()
        .map(|request| request.event_name())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "employment.terminated",
            "employment.updated",
            "person.updated"
        ]
    );

    for (method, path, body, expected) in [
        (
            Method::PATCH,
            "/_sandbox/employees/1".to_owned(),
            json!({"email": "x"}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            format!("/_sandbox/employees/{id}"),
            json!({"nope": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            format!("/_sandbox/employees/{id}"),
            json!({"id": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/_sandbox/employees/abc".to_owned(),
            json!({}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/_sandbox/employees".to_owned(),
            json!({"first_name": "A"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/_sandbox/employees".to_owned(),
            json!([]),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = control(&base, method, &path, Some(body)).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }

    let (status, _) = control(
        &base,
        Method::DELETE,
        &format!("/_sandbox/employees/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(sandbox.employee(id).is_none());
    receiver.wait_for(8).await;
    let (status, _) = control(
        &base,
        Method::DELETE,
        &format!("/_sandbox/employees/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_control_surface_is_off_unless_asked_for() {
    let sandbox = start(SandboxConfig::default().with_employees(2)).await;
    let id = sandbox.employees()[0].id();
    let (status, body) = control(
        &sandbox.base_url(),
        Method::PATCH,
        &format!("/_sandbox/employees/{id}"),
        Some(json!({"email": "x@acme.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false, "Personio's own 404: {body}");
    assert_ne!(
        sandbox.employee(id).unwrap().text("email"),
        Some("x@acme.example")
    );
    sandbox.shutdown().await;
}

/// A `personio-sandbox` child process, killed on drop.
struct SandboxProcess(Child);

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_command_line_serves_webhooks_over_http_and_the_control_surface() {
    let mut child = SandboxProcess(
        Command::new(env!("CARGO_BIN_EXE_personio-sandbox"))
            .args([
                "--port",
                "0",
                "--employees",
                "3",
                "--seed",
                "8",
                "--no-rate-limits",
                "--allow-http-webhooks",
                "--control-api",
                "--fast-webhook-retries",
                "10",
                "--company-id",
                "777",
                "--webhook-silent-attribute",
                "position",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sandbox binary starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(3)
            .map(|line| line.unwrap_or_default())
            .collect()
    })
    .await
    .expect("read the first lines");
    let base = lines[0]
        .strip_prefix("listening on ")
        .expect("url line")
        .to_owned();
    let id = lines[1].strip_prefix("client_id=").expect("id line");
    let secret = lines[2]
        .strip_prefix("client_secret=")
        .expect("secret line");
    let token: Value = client()
        .post(format!("{base}/v2/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(support::form_body(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ]))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"].as_str().expect("access token");
    let receiver = Receiver::start().await;
    enable_all_events(&base, token, &receiver.url("/cli")).await;
    receiver.script([support::receiver::Reply::Status(500)]);

    let (status, body) = control(
        &base,
        Method::POST,
        "/_sandbox/employees",
        Some(json!({"first_name": "Cli", "last_name": "User", "email": "cli@acme.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let employee = body["id"].as_u64().unwrap();
    control(
        &base,
        Method::PATCH,
        &format!("/_sandbox/employees/{employee}"),
        Some(json!({"position": "Silent move"})),
    )
    .await;
    // Three events, one of them retried after the scripted 500; the position change is silent.
    let received = receiver.wait_for(4).await;
    assert!(
        received
            .iter()
            .all(|request| request.body["company_id"] == "777")
    );
    receiver
        .assert_stays_at(4, Duration::from_millis(300))
        .await;
    drop(child);
}
