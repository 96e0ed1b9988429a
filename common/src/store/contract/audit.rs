//! The `AuditLog` contract: entries appended and read back whole, newest first, page by page,
//! per integration, and never once past their retention.

use super::fixtures::{acme, globex, minutes, t0};
use crate::domain::IntegrationId;
use crate::domain::audit::{AuditAction, AuditEntry, AuditOutcome, AuditPage};
use crate::ports::{AuditLog, AuditQuery};
use chrono::{DateTime, Utc};

/// Generates one `#[tokio::test]` per `AuditLog` contract case, as
/// [`state_store_contract_tests!`](crate::state_store_contract_tests) does for the whole state.
#[macro_export]
macro_rules! audit_log_contract_tests {
    ($setup:expr) => {
        $crate::store_contract_cases!($setup; audit;
            audit_entries_are_read_back_whole,
            audit_entries_are_listed_newest_first_page_by_page,
            audit_pages_are_stable_while_entries_are_added,
            audit_entries_are_kept_per_integration,
            expired_audit_entries_are_never_listed,
        );
    };
}

/// Entry `n` of `integration`, at `at`: a refused update of two settings fields.
pub(super) fn audit_entry(integration: &IntegrationId, n: u32, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        integration_id: integration.clone(),
        tenant_id: format!("tenant-of-{integration}"),
        entry_id: format!("00000000-0000-4000-8000-{n:012}"),
        at,
        subject: Some(format!("user-{n}")),
        request_id: format!("req-{n}"),
        action: AuditAction::Update,
        fields: vec!["settings.selection.attribute".into(), "schedule".into()],
        detail: None,
        outcome: AuditOutcome::of_status(
            412,
            Some("the integration is no longer at version 3".into()),
        ),
        expires_at: Some(at + minutes(60 * 24 * 365)),
    }
}

fn query(limit: usize, page: Option<&AuditPage>) -> AuditQuery {
    AuditQuery {
        limit,
        after: page.and_then(|page| page.next.clone()),
        now: t0() + minutes(60),
    }
}

fn request_ids(page: &AuditPage) -> Vec<&str> {
    page.entries
        .iter()
        .map(|entry| entry.request_id.as_str())
        .collect()
}

pub async fn audit_entries_are_read_back_whole<S: AuditLog>(store: &S) {
    let full = audit_entry(&acme(), 1, t0());
    let mut sparse = audit_entry(&acme(), 2, t0() + minutes(1));
    sparse.subject = None;
    sparse.fields.clear();
    sparse.detail = Some("certificate cert-7 → queued".into());
    sparse.action = AuditAction::SubmitCertificate;
    sparse.outcome = AuditOutcome::of_status(202, None);
    sparse.expires_at = None;
    store.record_audit(&full).await.unwrap();
    store.record_audit(&sparse).await.unwrap();
    let page = store
        .audit_entries(&acme(), &query(10, None))
        .await
        .unwrap();
    assert_eq!(page.entries, vec![sparse, full]);
    assert_eq!(page.next, None);
}

pub async fn audit_entries_are_listed_newest_first_page_by_page<S: AuditLog>(store: &S) {
    // Written out of order; 3 and 4 at the same instant (then ordered by entry id).
    for (n, at) in [(2, 2), (5, 40), (1, 0), (3, 20), (4, 20)] {
        store
            .record_audit(&audit_entry(&acme(), n, t0() + minutes(at)))
            .await
            .unwrap();
    }
    let first = store.audit_entries(&acme(), &query(2, None)).await.unwrap();
    assert_eq!(request_ids(&first), ["req-5", "req-4"]);
    assert!(first.next.is_some());
    let second = store
        .audit_entries(&acme(), &query(2, Some(&first)))
        .await
        .unwrap();
    assert_eq!(request_ids(&second), ["req-3", "req-2"]);
    let third = store
        .audit_entries(&acme(), &query(2, Some(&second)))
        .await
        .unwrap();
    assert_eq!(request_ids(&third), ["req-1"]);
    assert_eq!(third.next, None, "the last page says so");
    let all = store.audit_entries(&acme(), &query(5, None)).await.unwrap();
    assert_eq!(all.entries.len(), 5);
    assert_eq!(
        all.next, None,
        "a page that holds the rest exactly has no next"
    );
}

pub async fn audit_pages_are_stable_while_entries_are_added<S: AuditLog>(store: &S) {
    for n in 1..=3 {
        store
            .record_audit(&audit_entry(&acme(), n, t0() + minutes(i64::from(n))))
            .await
            .unwrap();
    }
    let first = store.audit_entries(&acme(), &query(1, None)).await.unwrap();
    assert_eq!(request_ids(&first), ["req-3"]);
    // A newer entry arrives between the pages: the next page goes on from where the first ended.
    store
        .record_audit(&audit_entry(&acme(), 9, t0() + minutes(30)))
        .await
        .unwrap();
    let rest = store
        .audit_entries(&acme(), &query(10, Some(&first)))
        .await
        .unwrap();
    assert_eq!(request_ids(&rest), ["req-2", "req-1"]);
}

pub async fn audit_entries_are_kept_per_integration<S: AuditLog>(store: &S) {
    store
        .record_audit(&audit_entry(&acme(), 1, t0()))
        .await
        .unwrap();
    store
        .record_audit(&audit_entry(&globex(), 2, t0() + minutes(1)))
        .await
        .unwrap();
    let acme_page = store
        .audit_entries(&acme(), &query(10, None))
        .await
        .unwrap();
    assert_eq!(request_ids(&acme_page), ["req-1"]);
    assert_eq!(acme_page.entries[0].tenant_id, "tenant-of-acme");
    let globex_page = store
        .audit_entries(&globex(), &query(10, None))
        .await
        .unwrap();
    assert_eq!(request_ids(&globex_page), ["req-2"]);
    let nobody = store
        .audit_entries(&IntegrationId::new("initech"), &query(10, None))
        .await
        .unwrap();
    assert_eq!(nobody, AuditPage::default());
}

pub async fn expired_audit_entries_are_never_listed<S: AuditLog>(store: &S) {
    let now = t0() + minutes(60);
    let mut expired = audit_entry(&acme(), 1, t0());
    expired.expires_at = Some(now);
    let mut kept = audit_entry(&acme(), 2, t0() + minutes(1));
    kept.expires_at = Some(now + minutes(1));
    let mut forever = audit_entry(&acme(), 3, t0() + minutes(2));
    forever.expires_at = None;
    for entry in [&expired, &kept, &forever] {
        store.record_audit(entry).await.unwrap();
    }
    let page = store
        .audit_entries(&acme(), &query(10, None))
        .await
        .unwrap();
    assert_eq!(request_ids(&page), ["req-3", "req-2"]);
    // A page that ends before the expired entry does not promise more than the live ones.
    let first = store.audit_entries(&acme(), &query(2, None)).await.unwrap();
    assert_eq!(request_ids(&first), ["req-3", "req-2"]);
    assert_eq!(first.next, None);
    // Later, the kept one has expired too.
    let later = AuditQuery {
        limit: 10,
        after: None,
        now: now + minutes(5),
    };
    let page = store.audit_entries(&acme(), &later).await.unwrap();
    assert_eq!(request_ids(&page), ["req-3"]);
    // A backend that prunes on write still lists what is live.
    store
        .record_audit(&audit_entry(&acme(), 4, now + minutes(10)))
        .await
        .unwrap();
    let page = store.audit_entries(&acme(), &later).await.unwrap();
    assert_eq!(request_ids(&page), ["req-4", "req-3"]);
}
