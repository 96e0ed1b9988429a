//! The admin API and the addresses an integration may be given: https to public addresses only
//! on the hosted API, a secret again for a base URL on another host, secrets stored only after
//! the record's conditional write.

use super::tests::{Answer, Harness, LMS_TOKEN, PERSONIO_SECRET, create_body, harness};
use super::*;
use crate::domain::integration::IntegrationRecord;
use crate::ports::{IntegrationStore, StoreError};
use http::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

fn with_lms_url(url: &str) -> Value {
    let mut body = create_body();
    body["lms"]["scim_base_url"] = json!(url);
    body
}

fn assert_refused(answer: &Answer, field: &str, reason: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    assert_eq!(answer.body["field"], field, "{}", answer.text);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(reason), "{detail:?} should say {reason:?}");
    assert!(!answer.text.contains(PERSONIO_SECRET) && !answer.text.contains(LMS_TOKEN));
}

/// The hosted API (the Lambda's policy) refuses base URLs a tenant could aim at the host's
/// own network: plain http, the metadata service, a private address, and a host name resolving
/// to loopback. Nothing is stored for a refused integration.
#[tokio::test]
async fn the_hosted_api_refuses_urls_that_reach_internal_addresses() {
    let h = harness();
    for (url, reason) in [
        ("http://lms.example.com/scim/v2", "must use https"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "169.254.169.254, a cloud metadata service address",
        ),
        (
            "https://10.20.30.40/scim/v2",
            "10.20.30.40, a private address",
        ),
        (
            "https://[fd00:ec2::254]/",
            "a cloud metadata service address",
        ),
        (
            "https://localhost:8443/scim/v2",
            "resolves to 127.0.0.1, a loopback address",
        ),
    ] {
        let answer = h
            .call(Method::POST, "/integrations", Some(with_lms_url(url)))
            .await;
        assert_refused(&answer, "lms.scim_base_url", reason);
    }
    let mut private_personio = create_body();
    private_personio["personio"]["base_url"] = json!("https://192.168.1.10");
    let answer = h
        .call(Method::POST, "/integrations", Some(private_personio))
        .await;
    assert_refused(&answer, "personio.base_url", "a private address");
    assert_eq!(h.credentials.stored_count(), 0);

    // A change is checked the same way, and refused before anything is written.
    let (id, _) = h.create().await;
    let moved = h
        .call(
            Method::PUT,
            &format!("/integrations/{id}"),
            Some(json!({"version": 1, "lms": {
                "scim_base_url": "https://169.254.169.254/", "token": "new-t0ken"}})),
        )
        .await;
    assert_refused(&moved, "lms.scim_base_url", "cloud metadata service");
    let stored = h
        .credentials
        .stored(&IntegrationId::new(&id))
        .expect("stored");
    assert_eq!(stored.lms_token.expose(), LMS_TOKEN);
}

/// A base URL moved to another host without that system's secret is refused, so a stored
/// secret never follows a URL its owner did not give it for; a new path on the same host
/// needs nothing, and a move with the secret binds the secret to the new host.
#[tokio::test]
async fn a_base_url_on_another_host_needs_its_secret_again() {
    let h = harness();
    let (id, created) = h.create().await;
    let path = format!("/integrations/{id}");
    let integration = IntegrationId::new(&id);
    let stored = h.credentials.stored(&integration).expect("stored");
    assert_eq!(
        stored.scim_origin.as_deref(),
        Some("https://lms.example.com")
    );
    assert_eq!(
        stored.personio_origin.as_deref(),
        Some("https://api.personio.de")
    );

    let moved_personio = h
        .call(
            Method::PUT,
            &path,
            Some(json!({"version": 1, "personio": {"base_url": "https://personio.attacker.example"}})),
        )
        .await;
    assert_refused(
        &moved_personio,
        "personio.client_secret",
        "is required when",
    );
    let moved_lms = h
        .call(
            Method::PUT,
            &path,
            Some(json!({"version": 1, "lms": {"scim_base_url": "https://lms.attacker.example/scim"}})),
        )
        .await;
    assert_refused(
        &moved_lms,
        "lms.token",
        "is required when lms.scim_base_url",
    );
    let unchanged = h.call(Method::GET, &path, None).await;
    assert_eq!(unchanged.body, created.body);

    let same_host = h
        .call(
            Method::PUT,
            &path,
            Some(
                json!({"version": 1, "lms": {"scim_base_url": "https://lms.example.com/scim/v3"}}),
            ),
        )
        .await;
    assert_eq!(same_host.status, StatusCode::OK, "{}", same_host.text);
    let with_token = h
        .call(
            Method::PUT,
            &path,
            Some(json!({"version": 2, "lms": {
                "scim_base_url": "https://academy.example.org/scim/v2", "token": "academy-t0ken"}})),
        )
        .await;
    assert_eq!(with_token.status, StatusCode::OK, "{}", with_token.text);
    let stored = h.credentials.stored(&integration).expect("stored");
    assert_eq!(stored.lms_token.expose(), "academy-t0ken");
    assert_eq!(
        stored.scim_origin.as_deref(),
        Some("https://academy.example.org")
    );
    assert_eq!(stored.personio_client_secret.expose(), PERSONIO_SECRET);
    assert_eq!(
        stored.personio_origin.as_deref(),
        Some("https://api.personio.de")
    );
}

/// An integration store where another admin's write lands between this request's read and its
/// conditional write: the write loses with a conflict.
struct LosingRace {
    inner: Arc<crate::store::MemoryStore>,
    lose_next_write: AtomicBool,
}

#[async_trait::async_trait]
impl IntegrationStore for LosingRace {
    async fn integration(
        &self,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        self.inner.integration(id).await
    }

    async fn integrations_of_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.inner.integrations_of_tenant(tenant_id).await
    }

    async fn put_integration(
        &self,
        record: &IntegrationRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        if self.lose_next_write.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Conflict("another admin wrote first".into()));
        }
        self.inner.put_integration(record, expected_version).await
    }

    async fn delete_integration(
        &self,
        id: &IntegrationId,
        expected: u64,
    ) -> Result<(), StoreError> {
        self.inner.delete_integration(id, expected).await
    }

    async fn due_integrations(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.inner.due_integrations(now, limit).await
    }

    async fn claim_due_run(
        &self,
        id: &IntegrationId,
        seen: chrono::DateTime<chrono::Utc>,
        next: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<bool, StoreError> {
        self.inner.claim_due_run(id, seen, next).await
    }
}

/// A rotation whose record write loses its race (412) leaves the stored secrets as they were:
/// they are stored only after the record's conditional write succeeded.
#[tokio::test]
async fn a_rotation_that_loses_its_race_leaves_the_old_secret() {
    let h = harness();
    let (id, _) = h.create().await;
    let racing = Arc::new(LosingRace {
        inner: h.store.clone(),
        lose_next_write: AtomicBool::new(true),
    });
    let mut adapters = h.api.adapters.clone();
    adapters.integrations = racing;
    let h = Harness {
        api: AdminApi::new(adapters),
        ..h
    };
    let path = format!("/integrations/{id}");
    let rotation = json!({"version": 1, "personio": {"client_id": "papi-id", "client_secret": "rotated-s3cret"}});
    let lost = h.call(Method::PUT, &path, Some(rotation.clone())).await;
    assert_eq!(
        lost.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        lost.text
    );
    let stored = h
        .credentials
        .stored(&IntegrationId::new(&id))
        .expect("stored");
    assert_eq!(stored.personio_client_secret.expose(), PERSONIO_SECRET);

    let won = h.call(Method::PUT, &path, Some(rotation)).await;
    assert_eq!(won.status, StatusCode::OK, "{}", won.text);
    let stored = h
        .credentials
        .stored(&IntegrationId::new(&id))
        .expect("stored");
    assert_eq!(stored.personio_client_secret.expose(), "rotated-s3cret");
    assert!(!won.text.contains("rotated-s3cret"));
    assert_eq!(h.queue.sync_jobs().len(), 0);
}
