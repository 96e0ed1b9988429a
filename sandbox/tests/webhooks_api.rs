//! The webhooks management API over HTTP: defaults, validation, conflicts, paging, scopes.

use personio_sandbox::{SandboxConfig, scopes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod support;

use support::{
    Answer, call, create_webhook, start, v1_token, v2_token, v2_token_for, v2_token_response,
};

fn minimal(url: &str) -> Value {
    json!({
        "url": url,
        "description": "LMS sync",
        "enabled_events": ["person.updated"],
        "token": "Bearer not-shown",
    })
}

fn assert_problem(answer: &Answer, status: StatusCode, fields: &[&str]) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert!(
        answer.body["personio_trace_id"].is_string(),
        "{}",
        answer.body
    );
    assert_eq!(answer.fields(), fields, "{}", answer.body);
    for error in answer.body["errors"].as_array().expect("errors") {
        assert!(error["title"].is_string() && error["detail"].is_string());
        assert!(
            error["type"].as_str().is_some_and(
                |uri| uri.starts_with("https://developer.personio.de/reference/errors#")
            ),
            "{error}"
        );
    }
}

#[tokio::test]
async fn webhooks_start_disabled_with_token_auth_and_are_managed() {
    let sandbox = start(SandboxConfig::default().with_employees(2)).await;
    let token = v2_token(&sandbox).await;

    let created = create_webhook(&sandbox, &token, minimal("https://hooks.example.com/a")).await;
    assert_eq!(created["status"], "DISABLED", "Personio's default");
    assert_eq!(created["auth_type"], "TOKEN", "Personio's default");
    assert_eq!(created["enabled_events"], json!(["person.updated"]));
    assert!(
        !created.to_string().contains("not-shown"),
        "the token is never echoed: {created}"
    );
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let read = call(
        &sandbox,
        Method::GET,
        &token,
        &format!("/v2/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!((read.status, &read.body), (StatusCode::OK, &created));

    let enabled = call(
        &sandbox,
        Method::PATCH,
        &token,
        &format!("/v2/webhooks/{id}"),
        Some(json!({"status": "ENABLED", "enabled_events": ["person.created", "employment.terminated"]})),
    )
    .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    assert_eq!(enabled.body["status"], "ENABLED");
    assert_eq!(enabled.body["auth_type"], "TOKEN", "the stored token stays");
    assert_eq!(enabled.body["description"], "LMS sync");

    let other = create_webhook(&sandbox, &token, minimal("https://hooks.example.com/b")).await;
    let duplicate = call(
        &sandbox,
        Method::POST,
        &token,
        "/v2/webhooks",
        Some(minimal("https://hooks.example.com/a")),
    )
    .await;
    assert_problem(&duplicate, StatusCode::CONFLICT, &["url"]);
    let moved_onto = call(
        &sandbox,
        Method::PATCH,
        &token,
        &format!("/v2/webhooks/{}", other["id"].as_str().unwrap()),
        Some(json!({"url": "https://hooks.example.com/a"})),
    )
    .await;
    assert_problem(&moved_onto, StatusCode::CONFLICT, &["url"]);

    let listed = |query: &'static str| {
        let token = token.clone();
        let sandbox = &sandbox;
        async move {
            call(
                sandbox,
                Method::GET,
                &token,
                &format!("/v2/webhooks{query}"),
                None,
            )
            .await
        }
    };
    let all = listed("").await;
    assert_eq!(all.body["_data"].as_array().map(Vec::len), Some(2));
    assert!(all.body["_meta"]["links"]["self"]["href"].is_string());
    let enabled_only = listed("?status=ENABLED").await;
    assert_eq!(enabled_only.body["_data"][0]["id"], id.as_str());
    assert_eq!(enabled_only.body["_data"].as_array().map(Vec::len), Some(1));
    let terminated = listed("?enabled_events=employment.terminated").await;
    assert_eq!(terminated.body["_data"].as_array().map(Vec::len), Some(1));
    let first_page = listed("?limit=1").await;
    assert_eq!(first_page.body["_data"][0]["id"], id.as_str());
    let next = first_page.body["_meta"]["links"]["next"]["href"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let path = next.strip_prefix(&sandbox.base_url()).expect("same server");
    let second_page = call(&sandbox, Method::GET, &token, path, None).await;
    assert_eq!(second_page.body["_data"][0]["id"], other["id"]);
    assert!(second_page.body["_meta"]["links"]["next"].is_null());
    assert_problem(&listed("?status=ON").await, StatusCode::BAD_REQUEST, &[]);
    assert_problem(&listed("?limit=201").await, StatusCode::BAD_REQUEST, &[]);

    let deleted = call(
        &sandbox,
        Method::DELETE,
        &token,
        &format!("/v2/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let gone = call(
            &sandbox,
            method,
            &token,
            &format!("/v2/webhooks/{id}"),
            None,
        )
        .await;
        assert_problem(&gone, StatusCode::NOT_FOUND, &[]);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn invalid_webhooks_are_refused_field_by_field() {
    let sandbox = start(SandboxConfig::default().with_employees(2)).await;
    let token = v2_token(&sandbox).await;
    let post = |body: Value| {
        let token = token.clone();
        let sandbox = &sandbox;
        async move { call(sandbox, Method::POST, &token, "/v2/webhooks", Some(body)).await }
    };

    assert_problem(
        &post(json!({"token": "t"})).await,
        StatusCode::BAD_REQUEST,
        &["url", "description", "enabled_events"],
    );
    assert_problem(
        &post(
            json!({"url": 5, "description": "d", "enabled_events": "person.updated", "token": "t"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        &["url", "enabled_events"],
    );
    assert_problem(
        &post(json!([1, 2])).await,
        StatusCode::BAD_REQUEST,
        &["body"],
    );
    let not_json = support::client()
        .post(format!("{}/v2/webhooks", sandbox.base_url()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{url:")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);

    let mut plain_http = minimal("http://127.0.0.1:9/hook");
    assert_problem(
        &post(plain_http.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["url"],
    );
    plain_http["url"] = json!("https://hooks.example.com/x");
    plain_http["enabled_events"] = json!(["person.updated", "person.moved"]);
    assert_problem(
        &post(plain_http).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["enabled_events"],
    );
    assert_problem(
        &post(json!({
            "url": "https://hooks.example.com/y",
            "description": "d",
            "enabled_events": ["person.created"],
            "auth_type": "CUSTOM",
            "token": "t",
            "custom_headers": {"X-A": "1", "X-B": "2", "X-C": "3", "Host": "evil"},
        }))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["custom_headers", "custom_headers", "token"],
    );
    assert_problem(
        &post(json!({
            "url": "https://hooks.example.com/z",
            "description": "d",
            "enabled_events": ["person.created"],
        }))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["token"],
    );
    let none = post(json!({
        "url": "https://hooks.example.com/z",
        "description": "d",
        "enabled_events": ["person.created"],
        "auth_type": "NONE",
    }))
    .await;
    assert_eq!(none.status, StatusCode::CREATED, "{}", none.body);
    let id = none.body["id"].as_str().unwrap();
    let patched = call(
        &sandbox,
        Method::PATCH,
        &token,
        &format!("/v2/webhooks/{id}"),
        Some(json!({"url": "ftp://hooks.example.com", "status": "PAUSED"})),
    )
    .await;
    assert_problem(&patched, StatusCode::BAD_REQUEST, &["url", "status"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn loopback_http_urls_are_a_configured_deviation() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(2)
            .with_http_webhooks(),
    )
    .await;
    let token = v2_token(&sandbox).await;
    for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook"] {
        create_webhook(&sandbox, &token, minimal(url)).await;
    }
    let elsewhere = call(
        &sandbox,
        Method::POST,
        &token,
        "/v2/webhooks",
        Some(minimal("http://hooks.example.com/hook")),
    )
    .await;
    assert_problem(&elsewhere, StatusCode::UNPROCESSABLE_ENTITY, &["url"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn webhook_operations_need_v2_tokens_with_their_scopes() {
    let sandbox = start(SandboxConfig::default().with_employees(2)).await;
    let reader = sandbox.add_credential_with_scopes(None, &[scopes::WEBHOOKS_READ]);
    let documents_only = sandbox.add_credential_with_scopes(None, &[scopes::DOCUMENTS_READ]);

    let read_token = v2_token_for(&sandbox, &reader).await;
    let list = call(&sandbox, Method::GET, &read_token, "/v2/webhooks", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let create = call(
        &sandbox,
        Method::POST,
        &read_token,
        "/v2/webhooks",
        Some(minimal("https://hooks.example.com/a")),
    )
    .await;
    assert_problem(&create, StatusCode::FORBIDDEN, &[]);
    assert!(
        create.body["errors"][0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains(scopes::WEBHOOKS_WRITE))
    );

    let documents_token = v2_token_for(&sandbox, &documents_only).await;
    let list = call(
        &sandbox,
        Method::GET,
        &documents_token,
        "/v2/webhooks",
        None,
    )
    .await;
    assert_problem(&list, StatusCode::FORBIDDEN, &[]);
    let documents = call(
        &sandbox,
        Method::GET,
        &read_token,
        "/v2/document-management/documents?owner_id=1",
        None,
    )
    .await;
    assert_eq!(
        documents.status,
        StatusCode::FORBIDDEN,
        "documents need their own scope"
    );

    // A token can ask for fewer scopes than its credential holds, never for others.
    let full = sandbox.default_credential();
    let (status, body) = v2_token_response(&sandbox, &full, Some(scopes::WEBHOOKS_READ)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], scopes::WEBHOOKS_READ);
    let narrowed = body["access_token"].as_str().unwrap();
    let create = call(
        &sandbox,
        Method::POST,
        narrowed,
        "/v2/webhooks",
        Some(minimal("https://hooks.example.com/a")),
    )
    .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    let (status, body) = v2_token_response(&sandbox, &reader, Some(scopes::WEBHOOKS_WRITE)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");
    let (_, body) = v2_token_response(&sandbox, &full, None).await;
    let granted: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    assert_eq!(granted.len(), scopes::ALL.len(), "{granted:?}");

    let v1 = v1_token(&sandbox, &full).await;
    let list = call(&sandbox, Method::GET, &v1, "/v2/webhooks", None).await;
    assert_problem(&list, StatusCode::UNAUTHORIZED, &[]);
    let none = call(&sandbox, Method::GET, "", "/v2/webhooks", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    sandbox.shutdown().await;
}
