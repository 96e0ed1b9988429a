//! Reading employees beyond the plain listing, over HTTP: the single read, `updated_since` as
//! Personio documents it, and the listing hold that lets a test change data between two pages.

use std::time::Duration;

use personio_sandbox::{Endpoint, RateLimitRule, RateLimits, SandboxConfig};
use reqwest::StatusCode;
use serde_json::json;

mod support;

use support::{employee_ids, get, ids, start, v1_token};

#[tokio::test]
async fn a_single_employee_is_read_with_the_credential_whitelist() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits(),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let id = sandbox.employees()[2].id();

    let (status, body) = get(&sandbox, &token, &format!("/v1/company/employees/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["type"], "Employee");
    assert_eq!(body["data"]["attributes"]["id"]["value"], id);
    let expected_email = sandbox
        .employee(id)
        .unwrap()
        .text("email")
        .unwrap()
        .to_owned();
    assert_eq!(body["data"]["attributes"]["email"]["value"], expected_email);
    assert!(body["data"]["attributes"].as_object().unwrap().len() > 25);

    let limited = sandbox.add_credential(Some(&["first_name"]));
    let limited_token = v1_token(&sandbox, &limited).await;
    let (_, body) = get(
        &sandbox,
        &limited_token,
        &format!("/v1/company/employees/{id}"),
    )
    .await;
    let mut keys: Vec<&String> = body["data"]["attributes"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["first_name", "id"]);

    let documented_404 = json!({
        "success": false,
        "error": {"code": 404, "message": "Es ist ein Problem aufgetreten "},
    });
    for missing in ["999999", "abc"] {
        let (status, body) = get(
            &sandbox,
            &token,
            &format!("/v1/company/employees/{missing}"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(body, documented_404, "{missing}");
    }
    sandbox.remove_employee(id).unwrap();
    let (status, _) = get(&sandbox, &token, &format!("/v1/company/employees/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a removed employee is gone");
    let (status, _) = get(&sandbox, "nope", &format!("/v1/company/employees/{id}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn single_reads_share_the_listing_rate_budget() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(3)
            .with_rate_limits(RateLimits {
                employees: vec![RateLimitRule::new(3, Duration::from_secs(60))],
                ..RateLimits::disabled()
            }),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let id = sandbox.employees()[0].id();
    let single = format!("/v1/company/employees/{id}");
    assert_eq!(
        get(&sandbox, &token, "/v1/company/employees").await.0,
        StatusCode::OK
    );
    assert_eq!(get(&sandbox, &token, &single).await.0, StatusCode::OK);
    assert_eq!(get(&sandbox, &token, &single).await.0, StatusCode::OK);
    let (status, body) = get(&sandbox, &token, "/v1/company/employees").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(
        get(&sandbox, &token, &single).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let stats = sandbox.stats();
    assert_eq!(stats.requests_to(Endpoint::Employee), 3);
    assert_eq!(stats.throttled_on(Endpoint::Employee), 1);
    assert_eq!(stats.throttled_on(Endpoint::Employees), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn updated_since_selects_by_readable_attributes_and_answers_at_once() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(12)
            .without_rate_limits(),
    )
    .await;
    let full = v1_token(&sandbox, &sandbox.default_credential()).await;
    let email_only = v1_token(&sandbox, &sandbox.add_credential(Some(&["email"]))).await;
    // Whole seconds, as Personio's examples give it; the changes come a second later.
    let since = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let employees = employee_ids(&sandbox);
    let (moved, renamed, promoted) = (employees[1], employees[4], employees[7]);
    let department = json!({"type": "Department", "attributes": {"id": 99, "name": "Moved"}});
    sandbox
        .set_attribute(moved, "department", department)
        .unwrap();
    sandbox
        .set_attribute(renamed, "email", "renamed@acme.example")
        .unwrap();
    sandbox
        .set_attribute(promoted, "position", "Chief Test Officer")
        .unwrap();

    let changed = |token: &str, extra: &str| {
        let path = format!("/v1/company/employees?updated_since={since}{extra}");
        let token = token.to_owned();
        let sandbox = &sandbox;
        async move { get(sandbox, &token, &path).await.1 }
    };
    assert_eq!(ids(&changed(&full, "").await), [moved, renamed, promoted]);
    assert_eq!(
        ids(&changed(&email_only, "").await),
        [renamed],
        "changes to attributes the credential may not read do not select"
    );
    assert_eq!(
        ids(&changed(&full, "&attributes[]=position").await),
        [promoted]
    );
    assert!(
        ids(&changed(&email_only, "&attributes[]=position").await).is_empty(),
        "a projection outside the whitelist selects nothing"
    );

    // limit, offset and email are ignored: every selected employee in one answer, with the
    // request's limit echoed as in Personio's examples.
    let body = changed(&full, "&limit=2&offset=2&email=nobody@acme.example").await;
    assert_eq!(ids(&body), [moved, renamed, promoted]);
    assert_eq!(body["limit"], 2);
    assert_eq!(body["offset"], 0);
    assert_eq!(
        body["metadata"],
        json!({"total_elements": 3, "current_page": 0, "total_pages": 2})
    );
    let (status, _) = get(
        &sandbox,
        &full,
        "/v1/company/employees?updated_since=yesterday",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_listing_held_between_pages_sees_a_removal_shift_the_offsets() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(30)
            .without_rate_limits(),
    )
    .await;
    let token = v1_token(&sandbox, &sandbox.default_credential()).await;
    let before = employee_ids(&sandbox);
    let hold = sandbox.hold_employee_listing_after(1);

    // A client reading pages of 10 by record offset, as Personio pages.
    let base_url = sandbox.base_url();
    let client_token = token.clone();
    let listing = tokio::spawn(async move {
        let client = support::client();
        let mut seen = Vec::new();
        for offset in [0, 10, 20] {
            let body: serde_json::Value = client
                .get(format!(
                    "{base_url}/v1/company/employees?limit=10&offset={offset}"
                ))
                .bearer_auth(&client_token)
                .send()
                .await
                .expect("page")
                .json()
                .await
                .expect("page json");
            seen.extend(ids(&body));
        }
        seen
    });
    tokio::time::timeout(Duration::from_secs(10), hold.wait_until_held())
        .await
        .expect("the second page is held");
    assert!(!listing.is_finished());
    sandbox.remove_employee(before[3]).unwrap();
    hold.release();
    let seen = tokio::time::timeout(Duration::from_secs(10), listing)
        .await
        .expect("the listing finishes")
        .expect("listing task");

    assert_eq!(seen.len(), 29, "{seen:?}");
    assert!(
        seen.contains(&before[3]),
        "read on page 1, before it was removed"
    );
    assert!(
        !seen.contains(&before[10]),
        "the record that moved onto page 1 is never read"
    );
    assert_eq!(&seen[10..], &before[11..], "later pages are shifted by one");
    sandbox.shutdown().await;
}
