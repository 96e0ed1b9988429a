//! The sandbox over real HTTP: auth, employees, documents, rate limits, faults, mutations, CLI.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use personio_sandbox::{
    Endpoint, FaultKind, Faults, LMS_SYNC_KEY, NewEmployee, RateLimitRule, RateLimits,
    RunningSandbox, SandboxConfig,
};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

mod support;

use support::{client, employee_ids, form_body, get, ids, start, v1_token, v2_token};

#[tokio::test]
async fn auth_accepts_json_and_form_and_rejects_bad_tokens() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(3)
            .without_rate_limits(),
    )
    .await;
    let credential = sandbox.default_credential();
    let token = v1_token(&sandbox, &credential).await;

    let form = client()
        .post(format!("{}/v1/auth", sandbox.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("client_id", &credential.0),
            ("client_secret", &credential.1),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let wrong = client()
        .post(format!("{}/v1/auth", sandbox.base_url()))
        .json(&json!({"client_id": credential.0, "client_secret": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = get(&sandbox, "not-a-token", "/v1/company/employees").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["success"], false);
    assert!(body["error"]["message"].is_string() && body["error"]["code"].is_i64());
    let missing = client()
        .get(format!("{}/v1/company/employees", sandbox.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);

    let (status, _) = get(&sandbox, &token, "/v1/company/employees").await;
    assert_eq!(status, StatusCode::OK);
    // v2 endpoints want a v2 token and vice versa.
    let (status, body) = get(
        &sandbox,
        &token,
        "/v2/document-management/documents?owner_id=1",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["title"], "Unauthorized");
    let v2 = v2_token(&sandbox).await;
    assert_eq!(
        get(&sandbox, &v2, "/v1/company/employees").await.0,
        StatusCode::UNAUTHORIZED
    );

    sandbox.expire_tokens();
    let (status, body) = get(&sandbox, &token, "/v1/company/employees").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("expired"))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn employees_paginate_by_record_offset_and_filter() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(120)
            .without_rate_limits(),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let all = employee_ids(&sandbox);

    let (status, first_page) = get(&sandbox, &token, "/v1/company/employees").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first_page["limit"], 50, "default page size");
    assert_eq!(
        first_page["metadata"],
        json!({"total_elements": 120, "current_page": 0, "total_pages": 3})
    );
    assert_eq!(ids(&first_page), all[..50]);

    let (_, last_page) = get(
        &sandbox,
        &token,
        "/v1/company/employees?limit=50&offset=100",
    )
    .await;
    assert_eq!(last_page["metadata"]["current_page"], 2);
    assert_eq!(last_page["offset"], 100);
    assert_eq!(ids(&last_page), all[100..]);
    let (_, beyond) = get(
        &sandbox,
        &token,
        "/v1/company/employees?limit=100&offset=500",
    )
    .await;
    assert!(ids(&beyond).is_empty());

    let (status, error) = get(&sandbox, &token, "/v1/company/employees?limit=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["success"], false);

    let (_, projected) = get(
        &sandbox,
        &token,
        "/v1/company/employees?limit=2&attributes[]=first_name&attributes[]=bogus",
    )
    .await;
    let attributes = projected["data"][0]["attributes"].as_object().unwrap();
    let mut keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["first_name", "id"]);
    assert_eq!(attributes["first_name"]["universal_id"], "first_name");

    let target = sandbox.employee(all[7]).unwrap();
    let email = target.text("email").unwrap().to_uppercase();
    let (_, found) = get(
        &sandbox,
        &token,
        &format!("/v1/company/employees?email={}", urlencode(&email)),
    )
    .await;
    assert_eq!(ids(&found), [all[7]]);
    sandbox.shutdown().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn whitelists_hide_attributes_per_credential() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits(),
    )
    .await;
    let limited = sandbox.add_credential(Some(&["first_name", "email", LMS_SYNC_KEY]));
    let token = v1_token(&sandbox, &limited).await;
    let (_, body) = get(&sandbox, &token, "/v1/company/employees").await;
    for employee in body["data"].as_array().unwrap() {
        let mut keys: Vec<&str> = employee["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, [LMS_SYNC_KEY, "email", "first_name", "id"]);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn mutations_show_up_and_drive_updated_since() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(20)
            .without_rate_limits(),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let since = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let first = sandbox.employees()[0].id();
    let second = sandbox.employees()[1].id();
    let before = sandbox.employee(first).unwrap().last_modified();
    sandbox.set_status(first, "inactive").unwrap();
    sandbox
        .set_attribute(second, "email", "new.address@acme.example")
        .unwrap();
    let hired = sandbox
        .add_employee(
            NewEmployee::new("Søren", "Łukasiewicz", "soren@acme.example").with(LMS_SYNC_KEY, "ja"),
        )
        .unwrap();
    assert!(sandbox.employee(first).unwrap().last_modified() > before);

    let (_, changed) = get(
        &sandbox,
        &token,
        &format!("/v1/company/employees?updated_since={since}"),
    )
    .await;
    assert_eq!(ids(&changed), [first, second, hired]);
    let (_, email_changes) = get(
        &sandbox,
        &token,
        &format!("/v1/company/employees?updated_since={since}&attributes[]=email"),
    )
    .await;
    assert_eq!(ids(&email_changes), [second, hired]);

    let removed = sandbox.remove_employee(second).unwrap();
    assert_eq!(removed.id(), second);
    let (_, all) = get(&sandbox, &token, "/v1/company/employees?limit=100").await;
    assert_eq!(all["metadata"]["total_elements"], 20);
    let new_hire = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|employee| employee["attributes"]["id"]["value"] == hired)
        .unwrap();
    assert_eq!(new_hire["attributes"]["first_name"]["value"], "Søren");
    assert!(sandbox.remove_employee(second).is_err());
    assert!(
        sandbox
            .set_attribute(first, "no_such_attribute", "x")
            .is_err()
    );
    sandbox.shutdown().await;
}

fn upload_form(employee_id: u64, category_id: u64, title: &str, file_name: &str) -> Form {
    Form::new()
        .text("title", title.to_owned())
        .text("employee_id", employee_id.to_string())
        .text("category_id", category_id.to_string())
        .text("comment", "Kurs: Erste Hilfe")
        .text("date", "2025-01-31")
        .part(
            "file",
            Part::bytes(b"%PDF-1.4 certificate".to_vec())
                .file_name(file_name.to_owned())
                .mime_str("application/pdf")
                .unwrap(),
        )
}

async fn upload(sandbox: &RunningSandbox, token: &str, form: Form) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/v1/company/documents", sandbox.base_url()))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn documents_upload_validate_and_list_with_cursors() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(3)
            .without_rate_limits(),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let owner = sandbox.employees()[1].id();

    let (status, categories) = get(&sandbox, &token, "/v1/company/document-categories").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        categories["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|category| category["attributes"]["name"] == "Bildungszertifikate")
    );

    let (status, created) = upload(
        &sandbox,
        &token,
        upload_form(owner, 3, "Erste Hilfe", "cert.pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["type"], "Document");
    assert_eq!(created["data"]["attributes"]["category"]["id"], 3);
    assert_eq!(
        created["data"]["attributes"]["employee"]["attributes"]["id"]["value"],
        owner
    );
    for title in ["second", "third"] {
        assert_eq!(
            upload(&sandbox, &token, upload_form(owner, 3, title, "c.pdf"))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        upload(&sandbox, &token, upload_form(owner, 2, "other", "c.pdf"))
            .await
            .0,
        StatusCode::CREATED
    );

    let (status, missing) = upload(&sandbox, &token, upload_form(1, 3, "x", "c.pdf")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing["error"]["message"],
        "No query results for model [Employee] 1"
    );
    assert_eq!(
        upload(&sandbox, &token, upload_form(owner, 999, "x", "c.pdf"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, invalid) = upload(
        &sandbox,
        &token,
        upload_form(owner, 3, &"x".repeat(256), "c.exe"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid["error"]["error_data"]["title"].is_array()
            && invalid["error"]["error_data"]["file"].is_array()
    );

    let documents = sandbox.documents();
    assert_eq!(documents.len(), 4);
    assert_eq!(documents[0].bytes.as_ref(), b"%PDF-1.4 certificate");
    assert_eq!(documents[0].comment.as_deref(), Some("Kurs: Erste Hilfe"));

    let v2 = v2_token(&sandbox).await;
    let mut names = Vec::new();
    let mut next = Some(format!(
        "/v2/document-management/documents?owner_id={owner}&category_id=3&limit=2"
    ));
    while let Some(path) = next.take() {
        let (status, page) = get(&sandbox, &v2, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        names.extend(
            page["_data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|document| document["name"].as_str().unwrap().to_owned()),
        );
        next = page["_meta"]["links"]["next"]["href"]
            .as_str()
            .map(|href| href.trim_start_matches(&sandbox.base_url()).to_owned());
    }
    assert_eq!(names, ["Erste Hilfe", "second", "third"]);
    let (status, error) = get(&sandbox, &v2, "/v2/document-management/documents").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("owner_id")
    );
    assert_eq!(
        get(
            &sandbox,
            &v2,
            &format!("/v2/document-management/documents?owner_id={owner}&limit=201")
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rate_limits_answer_429_per_credential_and_can_change_at_runtime() {
    let limits = RateLimits {
        employees: vec![RateLimitRule::new(3, Duration::from_secs(60))],
        documents: vec![RateLimitRule::new(1, Duration::from_secs(60))],
        auth: vec![RateLimitRule::new(10, Duration::from_secs(60))],
        webhooks: Vec::new(),
    };
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(3)
            .with_rate_limits(limits),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let other = v1_token(&sandbox, &sandbox.add_credential(None)).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&sandbox, &token, "/v1/company/employees").await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let (status, body) = get(&sandbox, &token, "/v1/company/employees").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["success"], false);
    assert_eq!(
        get(&sandbox, &other, "/v1/company/employees").await.0,
        StatusCode::OK,
        "own budget"
    );
    // Categories and uploads share the documents budget.
    assert_eq!(
        get(&sandbox, &token, "/v1/company/document-categories")
            .await
            .0,
        StatusCode::OK
    );
    let owner = sandbox.employees()[0].id();
    assert_eq!(
        upload(&sandbox, &token, upload_form(owner, 2, "t", "a.pdf"))
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let stats = sandbox.stats();
    assert_eq!(stats.throttled_on(Endpoint::Employees), 2);
    assert_eq!(stats.throttled_on(Endpoint::DocumentUpload), 1);
    assert_eq!(stats.requests_to(Endpoint::Employees), 6);

    sandbox.set_rate_limits(RateLimits::disabled());
    assert_eq!(
        get(&sandbox, &token, "/v1/company/employees").await.0,
        StatusCode::OK
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn faults_are_injected_counted_and_switchable() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits(),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let url = format!("{}/v1/company/employees", sandbox.base_url());
    let only_employees = |faults: Faults| Faults {
        only: vec![Endpoint::Employees],
        ..faults
    };

    sandbox
        .set_faults(only_employees(Faults {
            server_error_share: 1.0,
            ..Faults::none()
        }))
        .unwrap();
    for _ in 0..6 {
        let status = client()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status == StatusCode::INTERNAL_SERVER_ERROR || status == StatusCode::BAD_GATEWAY,
            "{status}"
        );
    }

    sandbox
        .set_faults(only_employees(Faults {
            truncated_share: 1.0,
            ..Faults::none()
        }))
        .unwrap();
    let response = client().get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("{\"success\":true") && serde_json::from_str::<Value>(&text).is_err());

    sandbox
        .set_faults(only_employees(Faults {
            dropped_share: 1.0,
            ..Faults::none()
        }))
        .unwrap();
    let dropped = client().get(&url).bearer_auth(&token).send().await;
    assert!(dropped.is_err(), "connection must close without a response");

    sandbox
        .set_faults(only_employees(Faults {
            timeout_share: 1.0,
            hang: Duration::from_secs(5),
            ..Faults::none()
        }))
        .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let timed_out = impatient
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout());

    sandbox
        .set_faults(Faults {
            latency: Duration::from_millis(200),
            ..Faults::none()
        })
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(200));

    let stats = sandbox.stats();
    assert_eq!(
        stats.faults_of(FaultKind::InternalServerError) + stats.faults_of(FaultKind::BadGateway),
        6
    );
    assert_eq!(stats.faults_of(FaultKind::TruncatedBody), 1);
    assert_eq!(stats.faults_of(FaultKind::DroppedConnection), 1);
    assert_eq!(stats.faults_of(FaultKind::Timeout), 1);
    assert!(
        sandbox
            .set_faults(Faults {
                dropped_share: 0.7,
                timeout_share: 0.7,
                ..Faults::none()
            })
            .is_err()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn saved_datasets_serve_the_same_employees() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("export.json");
    let original = start(
        SandboxConfig::default()
            .with_employees(40)
            .with_seed(9)
            .without_rate_limits(),
    )
    .await;
    original.save_dataset(&path).unwrap();
    let replay = start(
        SandboxConfig::default()
            .with_dataset(&path)
            .without_rate_limits(),
    )
    .await;
    let query = "/v1/company/employees?limit=100&attributes[]=email&attributes[]=department";
    let (_, from_original) = get(
        &original,
        &v1_token(&original, &original.default_credential()).await,
        query,
    )
    .await;
    let (_, from_replay) = get(
        &replay,
        &v1_token(&replay, &replay.default_credential()).await,
        query,
    )
    .await;
    assert_eq!(from_original, from_replay);
    original.shutdown().await;
    replay.shutdown().await;
}

#[test]
fn command_line_prints_url_and_credential_first() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_personio-sandbox"))
        .args(["--port", "0", "--employees", "5", "--seed", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(3)
        .map(|line| line.unwrap_or_default())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let url = lines[0]
        .strip_prefix("listening on http://127.0.0.1:")
        .expect("first line names the URL");
    assert!(url.parse::<u16>().is_ok_and(|port| port > 0), "{lines:?}");
    assert!(
        lines[1].starts_with("client_id=papi-") && lines[2].starts_with("client_secret=papi-"),
        "{lines:?}"
    );
}
