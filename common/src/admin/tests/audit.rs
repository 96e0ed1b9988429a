//! The audit trail through the API: each state-changing request recorded with who, what, when,
//! the request id and the answer; reads recorded nowhere; the trail paged, tenant-checked, and
//! free of secrets.

use super::*;
use crate::admin::audit::audit_action;
use crate::admin::routes::Endpoint;
use crate::domain::audit::AuditEntry;
use crate::ports::{AuditLog, AuditQuery, StoreError};

/// The whole trail of `id` as the API lists it, newest first, following every cursor.
async fn trail(h: &Harness, tenant: &str, id: &str, limit: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/integrations/{id}/audit?limit={limit}&cursor={cursor}"),
            None => format!("/integrations/{id}/audit?limit={limit}"),
        };
        let page = h.call_as(Some(tenant), Method::GET, &path, &[], None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.body["entries"].as_array().expect("entries").clone();
        assert!(items.len() <= limit);
        entries.extend(items);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}

fn summary(entry: &Value) -> (String, String, u64) {
    (
        entry["action"].as_str().unwrap_or_default().to_owned(),
        entry["outcome"]["result"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        entry["outcome"]["status"].as_u64().unwrap_or_default(),
    )
}

fn fields(entry: &Value) -> Vec<&str> {
    entry["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[tokio::test]
async fn every_state_changing_request_is_recorded_with_who_what_and_the_answer() {
    let h = harness();
    let (id, created) = h.create().await;
    let path = format!("/integrations/{id}");
    let create_request_id = created.headers[REQUEST_ID_HEADER]
        .to_str()
        .expect("an ASCII request id")
        .to_owned();

    // Reads, a plan and a check change nothing an admin configured: not recorded.
    h.call(Method::GET, &path, None).await;
    h.call(Method::GET, "/integrations", None).await;
    h.call(Method::POST, &format!("{path}/plan"), None).await;
    h.call(Method::POST, &format!("{path}/check"), None).await;
    h.call(Method::GET, &format!("{path}/runs"), None).await;

    let settings =
        json!({"selection": {"attribute": "Other attribute"}, "groups": {"by": ["department"]}});
    let changed = h
        .call(
            Method::PUT,
            &path,
            Some(json!({"version": 1, "settings": settings, "schedule": {"every_minutes": 30}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let rotated = h
        .call(
            Method::PUT,
            &path,
            // The connection as it was (a given object replaces it whole), a new secret.
            Some(json!({"version": 2, "personio": {"client_secret": "rotated-s3cret", "partner_id": "acme"}})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let stale = h
        .call(
            Method::PUT,
            &path,
            Some(json!({"version": 1, "name": "Stale"})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        h.call(Method::POST, &format!("{path}/sync"), None)
            .await
            .status,
        StatusCode::ACCEPTED
    );
    h.queue.set_unavailable(Some("throttled"));
    assert_eq!(
        h.call(Method::POST, &format!("{path}/sync"), None)
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    h.queue.set_unavailable(None);
    enable_certificates_at(&h, &id, 3).await;
    let submitted = h
        .call(
            Method::POST,
            &format!("{path}/certificates"),
            Some(certificate_job("c-1")),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED, "{}", submitted.text);
    let batch = h
        .call(
            Method::POST,
            &format!("{path}/certificates/batch"),
            Some(json!([certificate_job("c-2"), {"certificate_id": "c-3"}])),
        )
        .await;
    assert_eq!(batch.status, StatusCode::MULTI_STATUS);
    let deleted = h.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    // The trail outlives the integration, for its tenant; two entries per page.
    let entries = trail(&h, TENANT, &id, 2).await;
    let actions: Vec<(String, String, u64)> = entries.iter().map(summary).collect();
    let expected = [
        ("delete", "succeeded", 204),
        ("submit_certificate_batch", "succeeded", 207),
        ("submit_certificate", "succeeded", 202),
        ("update", "succeeded", 200),
        ("sync_now", "failed", 503),
        ("sync_now", "succeeded", 202),
        ("update", "refused", 412),
        ("rotate_credentials", "succeeded", 200),
        ("update", "succeeded", 200),
        ("create", "succeeded", 201),
    ];
    let expected: Vec<(String, String, u64)> = expected
        .iter()
        .map(|(a, r, s)| ((*a).to_owned(), (*r).to_owned(), *s))
        .collect();
    assert_eq!(actions, expected);
    for entry in &entries {
        assert_eq!(entry["integration_id"], id.as_str());
        assert_eq!(entry["tenant_id"], TENANT);
        assert_eq!(entry["subject"], format!("admin-of-{TENANT}"));
        assert!(
            entry["expires_at"].is_string(),
            "kept for the retention: {entry}"
        );
    }
    let create = &entries[9];
    assert_eq!(create["request_id"], create_request_id.as_str());
    assert_eq!(create["detail"], "named \"ACME → Academy\"");
    assert_eq!(
        fields(&entries[8]),
        ["schedule.every_minutes", "settings.selection.attribute"]
    );
    assert_eq!(fields(&entries[7]), ["personio.client_secret"]);
    assert_eq!(fields(&entries[6]), ["name"]);
    assert!(
        entries[6]["outcome"]["problem"]
            .as_str()
            .is_some_and(|problem| problem.contains("version 1")),
        "{}",
        entries[6]
    );
    assert!(
        entries[4]["outcome"]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("throttled"))
    );
    assert_eq!(entries[2]["detail"], "certificate c-1");
    assert_eq!(entries[1]["detail"], "1 accepted, 1 rejected, 0 failed");
    // Times never go backwards, newest first.
    let times: Vec<&str> = entries.iter().filter_map(|e| e["at"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
}

#[tokio::test]
async fn no_entry_holds_a_secret() {
    let h = harness();
    let (id, _) = h.create().await;
    let path = format!("/integrations/{id}");
    let rotated = h
        .call(
            Method::PUT,
            &path,
            Some(json!({"version": 1,
                "personio": {"client_id": "papi-id-2", "client_secret": "second-s3cret", "partner_id": "acme"},
                "lms": {"scim_base_url": "https://lms.example.com/scim/v2", "token": "second-t0ken"}})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    // A refused rotation names its fields too, never their values.
    let refused = h
        .call(
            Method::PUT,
            &path,
            Some(json!({"version": 1, "lms": {"scim_base_url": "https://lms.example.com/scim/v2", "token": "third-t0ken"}})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    let entries = trail(&h, TENANT, &id, 100).await;
    assert_eq!(entries.len(), 3);
    assert_eq!(
        fields(&entries[1]),
        ["personio.client_id", "personio.client_secret", "lms.token"]
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(entries[1]["action"], "rotate_credentials");
    assert_eq!(fields(&entries[0]), ["lms.scim_base_url", "lms.token"]);
    let stored = h
        .store
        .audit_entries(
            &IntegrationId::new(&id),
            &AuditQuery {
                limit: 100,
                after: None,
                now: chrono::Utc::now(),
            },
        )
        .await
        .expect("the trail");
    let text = format!(
        "{stored:?} {}",
        serde_json::to_string(&stored.entries).unwrap_or_default()
    );
    for secret in [
        PERSONIO_SECRET,
        LMS_TOKEN,
        "second-s3cret",
        "second-t0ken",
        "third-t0ken",
    ] {
        assert!(!text.contains(secret), "{secret} in the trail");
    }
}

#[tokio::test]
async fn the_trail_is_its_tenants_alone() {
    let h = harness();
    let (id, _) = h.create().await;
    let path = format!("/integrations/{id}");
    // Another tenant's attempts change nothing and are recorded nowhere.
    let foreign = h
        .call_as(
            Some("tenant-b"),
            Method::POST,
            &format!("{path}/sync"),
            &[],
            None,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let foreign_delete = h
        .call_as(Some("tenant-b"), Method::DELETE, &path, &[], None)
        .await;
    assert_eq!(foreign_delete.status, StatusCode::NOT_FOUND);
    let foreign_read = h
        .call_as(
            Some("tenant-b"),
            Method::GET,
            &format!("{path}/audit"),
            &[],
            None,
        )
        .await;
    let unknown = h
        .call_as(
            Some("tenant-b"),
            Method::GET,
            "/integrations/no-such-id/audit",
            &[],
            None,
        )
        .await;
    assert_eq!(foreign_read.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        foreign_read.body["detail"]
            .as_str()
            .map(|d| d.replace(&id, "ID")),
        unknown.body["detail"]
            .as_str()
            .map(|d| d.replace("no-such-id", "ID")),
        "another tenant's trail reads like one that does not exist"
    );
    let anonymous = h
        .call_as(None, Method::GET, &format!("{path}/audit"), &[], None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let entries = trail(&h, TENANT, &id, 10).await;
    assert_eq!(entries.len(), 1, "only the create: {entries:?}");
    // Deleted, the trail stays the owner's alone.
    assert_eq!(
        h.call(Method::DELETE, &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(trail(&h, TENANT, &id, 10).await.len(), 2);
    let after_delete = h
        .call_as(
            Some("tenant-b"),
            Method::GET,
            &format!("{path}/audit"),
            &[],
            None,
        )
        .await;
    assert_eq!(after_delete.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_hosts_request_id_is_answered_and_recorded() {
    let h = harness();
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/integrations")
        .body(Bytes::from(create_body().to_string()))
        .expect("a request");
    request
        .extensions_mut()
        .insert(RequestId("apigw-Jd7QeiXEFiAEJ0g=".into()));
    let response = h.api.handle(request, Some(Caller::new(TENANT, None))).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()[REQUEST_ID_HEADER],
        "apigw-Jd7QeiXEFiAEJ0g="
    );
    let created: Value = serde_json::from_slice(response.body()).expect("JSON");
    let id = created["id"].as_str().expect("an id");
    let entries = trail(&h, TENANT, id, 10).await;
    assert_eq!(entries[0]["request_id"], "apigw-Jd7QeiXEFiAEJ0g=");
    assert!(
        entries[0].get("subject").is_none(),
        "no sub claim, no subject"
    );
    // Every answer names its request id, errors too.
    let missing = h.call(Method::GET, "/nowhere", None).await;
    assert!(missing.headers.contains_key(REQUEST_ID_HEADER));
}

#[tokio::test]
async fn bad_paging_parameters_name_the_parameter() {
    let h = harness();
    let (id, _) = h.create().await;
    for (query, name) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=yesterday", "cursor"),
        ("cursor=12-a%2Fb", "cursor"),
    ] {
        let answer = h
            .call(
                Method::GET,
                &format!("/integrations/{id}/audit?{query}"),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body["field"], name, "{query}");
    }
}

#[test]
fn every_route_that_changes_state_is_audited() {
    for route in crate::admin::routes::routes() {
        let audited = audit_action(route.endpoint).is_some();
        let reads = route.method == Method::GET
            || matches!(route.endpoint, Endpoint::Plan | Endpoint::Check);
        assert_eq!(audited, !reads, "{} {}", route.method, route.template);
    }
}

/// An audit store that is down.
struct DownAudit;

#[async_trait::async_trait]
impl AuditLog for DownAudit {
    async fn record_audit(&self, _entry: &AuditEntry) -> Result<(), StoreError> {
        Err(StoreError::Unavailable(
            "the audit table is throttling".into(),
        ))
    }

    async fn audit_entries(
        &self,
        _integration: &IntegrationId,
        _query: &AuditQuery,
    ) -> Result<crate::domain::audit::AuditPage, StoreError> {
        Err(StoreError::Unavailable(
            "the audit table is throttling".into(),
        ))
    }
}

#[tokio::test]
async fn an_unavailable_trail_fails_no_change_and_its_reading_is_a_503() {
    let h = harness();
    let store = h.store.clone();
    let credentials = h.credentials.clone();
    let api = AdminApi::new(AdminAdapters {
        integrations: store.clone(),
        state: store,
        credentials: credentials.clone(),
        queue: h.queue.clone(),
        audit: Arc::new(DownAudit),
        notifier: Arc::new(crate::notify::MemoryNotifier::new()),
        connector: Arc::new(DoubleConnector {
            credentials,
            hr: Arc::new(StaticHrSource::of(Vec::new())),
            lms: h.lms.clone(),
        }),
    });
    let down = Harness { api, ..h };
    let (id, _) = down.create().await;
    let answer = down
        .call(Method::GET, &format!("/integrations/{id}/audit"), None)
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
}
