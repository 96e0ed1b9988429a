//! The `IntegrationStore` contract: records written on their version, listed per tenant, and
//! the schedule: the due ones earliest first, each due run claimed once.

use super::fixtures::{acme, assert_conflict, globex, integration_record, link, minutes, run, t0};
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::ports::{IntegrationStore, LinkStore, RunStore};
use chrono::Duration;

/// Generates one `#[tokio::test]` per `IntegrationStore` contract case, as
/// [`state_store_contract_tests!`](crate::state_store_contract_tests) does for the whole state.
#[macro_export]
macro_rules! integration_store_contract_tests {
    ($setup:expr) => {
        $crate::store_contract_cases!($setup; integrations;
            integration_is_created_read_and_updated,
            stale_integration_writes_conflict_and_write_nothing,
            integrations_are_listed_per_tenant_in_id_order,
            integration_moved_to_another_tenant_is_listed_there_only,
            deleting_an_integration_needs_its_version_and_keeps_its_history,
            due_integrations_are_listed_earliest_first_with_limit,
            rescheduling_and_deleting_change_what_is_due,
            due_run_is_claimed_once,
            concurrent_due_run_claims_grant_one,
        );
    };
}

fn ids(records: &[IntegrationRecord]) -> Vec<&str> {
    records.iter().map(|record| record.id.as_str()).collect()
}

pub async fn integration_is_created_read_and_updated<S: IntegrationStore>(store: &S) {
    assert_eq!(store.integration(&acme()).await.unwrap(), None);
    let created = integration_record("acme", "tenant-1", Some(t0()), 1);
    store.put_integration(&created, None).await.unwrap();
    assert_eq!(
        store.integration(&acme()).await.unwrap(),
        Some(created.clone())
    );

    let mut updated = integration_record("acme", "tenant-1", None, 2);
    updated.name = "Acme → Academy".into();
    updated.settings.apply_concurrency = 3;
    store.put_integration(&updated, Some(1)).await.unwrap();
    assert_eq!(store.integration(&acme()).await.unwrap(), Some(updated));
    assert_eq!(store.integration(&globex()).await.unwrap(), None);
}

pub async fn stale_integration_writes_conflict_and_write_nothing<S: IntegrationStore>(store: &S) {
    let created = integration_record("acme", "tenant-1", Some(t0()), 1);
    store.put_integration(&created, None).await.unwrap();
    assert_conflict(
        store
            .put_integration(&integration_record("acme", "tenant-2", None, 1), None)
            .await,
        "create over an existing integration",
    );
    assert_conflict(
        store
            .put_integration(&integration_record("acme", "tenant-1", None, 3), Some(2))
            .await,
        "write with a future version",
    );
    assert_conflict(
        store
            .put_integration(&integration_record("globex", "tenant-1", None, 2), Some(1))
            .await,
        "update of an absent integration",
    );
    assert_eq!(store.integration(&acme()).await.unwrap(), Some(created));
    assert_eq!(store.integration(&globex()).await.unwrap(), None);
}

pub async fn integrations_are_listed_per_tenant_in_id_order<S: IntegrationStore>(store: &S) {
    for (id, tenant) in [
        ("globex", "tenant-1"),
        ("acme", "tenant-1"),
        ("initech", "tenant-2"),
        ("acme-2", "tenant-1"),
    ] {
        store
            .put_integration(&integration_record(id, tenant, None, 1), None)
            .await
            .unwrap();
    }
    let first = store.integrations_of_tenant("tenant-1").await.unwrap();
    assert_eq!(ids(&first), ["acme", "acme-2", "globex"]);
    assert_eq!(first[0], integration_record("acme", "tenant-1", None, 1));
    let second = store.integrations_of_tenant("tenant-2").await.unwrap();
    assert_eq!(ids(&second), ["initech"]);
    // Tenant ids are compared whole: no prefix matches.
    assert_eq!(
        store.integrations_of_tenant("tenant").await.unwrap(),
        vec![]
    );
}

pub async fn integration_moved_to_another_tenant_is_listed_there_only<S: IntegrationStore>(
    store: &S,
) {
    store
        .put_integration(&integration_record("acme", "tenant-1", None, 1), None)
        .await
        .unwrap();
    let moved = integration_record("acme", "tenant-2", None, 2);
    store.put_integration(&moved, Some(1)).await.unwrap();
    assert_eq!(
        store.integrations_of_tenant("tenant-1").await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.integrations_of_tenant("tenant-2").await.unwrap(),
        vec![moved]
    );
    store.delete_integration(&acme(), 2).await.unwrap();
    assert_eq!(
        store.integrations_of_tenant("tenant-2").await.unwrap(),
        vec![]
    );
}

pub async fn deleting_an_integration_needs_its_version_and_keeps_its_history<
    S: IntegrationStore + LinkStore + RunStore,
>(
    store: &S,
) {
    store
        .put_integration(&integration_record("acme", "tenant-1", Some(t0()), 1), None)
        .await
        .unwrap();
    store
        .put_integration(
            &integration_record("acme", "tenant-1", Some(t0()), 2),
            Some(1),
        )
        .await
        .unwrap();
    store.put_link(&link(&acme(), 1, 1), None).await.unwrap();
    store.put_run(&run(&acme(), "r1", t0())).await.unwrap();

    assert_conflict(store.delete_integration(&acme(), 1).await, "stale delete");
    assert!(store.integration(&acme()).await.unwrap().is_some());
    assert_conflict(
        store.delete_integration(&globex(), 1).await,
        "delete of an absent integration",
    );

    store.delete_integration(&acme(), 2).await.unwrap();
    assert_eq!(store.integration(&acme()).await.unwrap(), None);
    assert_eq!(
        store.integrations_of_tenant("tenant-1").await.unwrap(),
        vec![]
    );
    assert_eq!(store.due_integrations(t0(), 10).await.unwrap(), vec![]);
    assert_eq!(store.links(&acme()).await.unwrap().len(), 1);
    assert_eq!(store.runs(&acme(), 10).await.unwrap().len(), 1);
    // The id can be used again.
    store
        .put_integration(&integration_record("acme", "tenant-1", None, 1), None)
        .await
        .unwrap();
}

pub async fn due_integrations_are_listed_earliest_first_with_limit<S: IntegrationStore>(store: &S) {
    for (id, next_run_at) in [
        ("late", Some(t0() + minutes(5))),
        ("manual", None),
        ("b-early", Some(t0() - minutes(10))),
        ("a-early", Some(t0() - minutes(10))),
        ("now", Some(t0())),
        ("future", Some(t0() + minutes(6))),
    ] {
        store
            .put_integration(&integration_record(id, "tenant-1", next_run_at, 1), None)
            .await
            .unwrap();
    }
    let due = store.due_integrations(t0(), 10).await.unwrap();
    assert_eq!(ids(&due), ["a-early", "b-early", "now"]);
    assert_eq!(due[2], integration_record("now", "tenant-1", Some(t0()), 1));
    assert_eq!(
        ids(&store.due_integrations(t0(), 2).await.unwrap()),
        ["a-early", "b-early"]
    );
    assert_eq!(
        ids(&store.due_integrations(t0() + minutes(5), 10).await.unwrap()),
        ["a-early", "b-early", "now", "late"]
    );
    assert_eq!(store.due_integrations(t0(), 0).await.unwrap(), vec![]);
    assert_eq!(
        store
            .due_integrations(t0() - minutes(11), 10)
            .await
            .unwrap(),
        vec![]
    );
}

pub async fn rescheduling_and_deleting_change_what_is_due<S: IntegrationStore>(store: &S) {
    for id in ["acme", "globex", "initech"] {
        store
            .put_integration(&integration_record(id, "tenant-1", Some(t0()), 1), None)
            .await
            .unwrap();
    }
    // Made manual, moved later, deleted: none of them is due any more.
    store
        .put_integration(&integration_record("acme", "tenant-1", None, 2), Some(1))
        .await
        .unwrap();
    store
        .put_integration(
            &integration_record("globex", "tenant-1", Some(t0() + minutes(30)), 2),
            Some(1),
        )
        .await
        .unwrap();
    store
        .delete_integration(&IntegrationId::new("initech"), 1)
        .await
        .unwrap();
    assert_eq!(store.due_integrations(t0(), 10).await.unwrap(), vec![]);
    assert_eq!(
        ids(&store
            .due_integrations(t0() + minutes(30), 10)
            .await
            .unwrap()),
        ["globex"]
    );
}

pub async fn due_run_is_claimed_once<S: IntegrationStore>(store: &S) {
    let due = integration_record("acme", "tenant-1", Some(t0()), 1);
    store.put_integration(&due, None).await.unwrap();
    let next = t0() + minutes(15);

    assert!(
        !store
            .claim_due_run(&acme(), t0() - minutes(1), Some(next))
            .await
            .unwrap(),
        "a claim with another seen time"
    );
    assert!(
        store
            .claim_due_run(&acme(), t0(), Some(next))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_due_run(&acme(), t0(), Some(next))
            .await
            .unwrap(),
        "the same run claimed a second time"
    );
    assert!(
        !store
            .claim_due_run(&globex(), t0(), Some(next))
            .await
            .unwrap()
    );

    // The claim moved the run and counts as a write; the rest of the record is unchanged.
    let claimed = store.integration(&acme()).await.unwrap().unwrap();
    assert_eq!(
        claimed,
        IntegrationRecord {
            next_run_at: Some(next),
            version: 2,
            ..due
        }
    );
    assert_eq!(
        store
            .due_integrations(t0() + minutes(14), 10)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        ids(&store.due_integrations(next, 10).await.unwrap()),
        ["acme"]
    );
    assert_conflict(
        store
            .put_integration(
                &integration_record("acme", "tenant-1", Some(t0()), 2),
                Some(1),
            )
            .await,
        "an edit based on the record before the claim",
    );

    // Claiming with no next run leaves it manual until someone schedules it again.
    assert!(store.claim_due_run(&acme(), next, None).await.unwrap());
    let manual = store.integration(&acme()).await.unwrap().unwrap();
    assert_eq!((manual.next_run_at, manual.version), (None, 3));
    assert_eq!(
        store
            .due_integrations(t0() + Duration::days(365), 10)
            .await
            .unwrap(),
        vec![]
    );
}

pub async fn concurrent_due_run_claims_grant_one<S: IntegrationStore>(store: &S) {
    store
        .put_integration(&integration_record("acme", "tenant-1", Some(t0()), 1), None)
        .await
        .unwrap();
    let integration = acme();
    let claims = futures::future::join_all(
        (0..8).map(|_| store.claim_due_run(&integration, t0(), Some(t0() + minutes(15)))),
    )
    .await;
    let granted = claims
        .iter()
        .filter(|claim| matches!(claim, Ok(true)))
        .count();
    let refused = claims
        .iter()
        .filter(|claim| matches!(claim, Ok(false)))
        .count();
    assert_eq!((granted, refused), (1, 7), "{claims:?}");
    assert_eq!(
        store
            .integration(&integration)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}
