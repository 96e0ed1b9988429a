//! What the sandbox's HTTP tests share: starting a sandbox, tokens, JSON requests, and a
//! scripted webhook receiver.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod receiver;

use std::time::Duration;

use personio_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub async fn start(config: SandboxConfig) -> RunningSandbox {
    Sandbox::start(config).await.expect("sandbox starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub async fn v1_token(sandbox: &RunningSandbox, credential: &(String, String)) -> String {
    let response = client()
        .post(format!("{}/v1/auth", sandbox.base_url()))
        .json(&json!({"client_id": credential.0, "client_secret": credential.1}))
        .send()
        .await
        .expect("auth request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("auth json");
    assert_eq!(body["data"]["expires_in"], 86_400);
    body["data"]["token"].as_str().expect("token").to_owned()
}

/// The v2 token endpoint's answer for `credential`, asking for `scope` if given.
pub async fn v2_token_response(
    sandbox: &RunningSandbox,
    credential: &(String, String),
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", credential.0.as_str()),
        ("client_secret", credential.1.as_str()),
    ];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    let response = client()
        .post(format!("{}/v2/auth/token", sandbox.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&pairs))
        .send()
        .await
        .expect("v2 auth");
    let status = response.status();
    (status, response.json().await.expect("v2 auth json"))
}

/// A v2 token of the default credential (every scope).
pub async fn v2_token(sandbox: &RunningSandbox) -> String {
    v2_token_for(sandbox, &sandbox.default_credential()).await
}

pub async fn v2_token_for(sandbox: &RunningSandbox, credential: &(String, String)) -> String {
    let (status, body) = v2_token_response(sandbox, credential, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// An answer: status, `content-type`, JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Answer {
    /// The `_meta.field`s of a v2 error body, in order.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|error| error["_meta"]["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Any request with a bearer token and an optional JSON body.
pub async fn call(
    sandbox: &RunningSandbox,
    method: Method,
    token: &str,
    path_and_query: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = client()
        .request(method, format!("{}{path_and_query}", sandbox.base_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    Answer {
        status,
        content_type,
        body,
    }
}

pub async fn get(
    sandbox: &RunningSandbox,
    token: &str,
    path_and_query: &str,
) -> (StatusCode, Value) {
    let answer = call(sandbox, Method::GET, token, path_and_query, None).await;
    (answer.status, answer.body)
}

/// The sandbox's employee ids, in id (= listing) order.
pub fn employee_ids(sandbox: &RunningSandbox) -> Vec<u64> {
    sandbox
        .employees()
        .iter()
        .map(|employee| employee.id())
        .collect()
}

/// The employee ids of a `GET /v1/company/employees` page.
pub fn ids(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .map(|data| {
            data.iter()
                .filter_map(|employee| employee["attributes"]["id"]["value"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// Creates a webhook with the default credential's v2 `token`; panics unless it is created.
pub async fn create_webhook(sandbox: &RunningSandbox, token: &str, body: Value) -> Value {
    let answer = call(sandbox, Method::POST, token, "/v2/webhooks", Some(body)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body
}
