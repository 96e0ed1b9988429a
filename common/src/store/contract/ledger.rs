//! The `CertificateLedger` contract: a certificate is claimed by one worker at a time, done
//! once and for good, failed and claimed again, parked while its employee is unlinked.

use super::fixtures::{acme, assert_conflict, cert, globex, minutes, t0};
use crate::domain::IntegrationId;
use crate::domain::certificate::{LedgerClaim, LedgerState};
use crate::ports::CertificateLedger;
use chrono::Duration;

/// Generates one `#[tokio::test]` per `CertificateLedger` contract case, as
/// [`state_store_contract_tests!`](crate::state_store_contract_tests) does for the whole state.
#[macro_export]
macro_rules! certificate_ledger_contract_tests {
    ($setup:expr) => {
        $crate::store_contract_cases!($setup; ledger;
            certificate_claim_busy_and_recovery,
            completed_certificate_is_already_done,
            failed_certificate_can_be_claimed_again,
            finishing_a_certificate_not_in_progress_conflicts,
            certificates_are_parked_listed_and_claimed,
            parking_a_done_certificate_changes_nothing,
            certificate_attempts_are_counted,
            certificates_are_listed_in_id_order,
            ledgers_of_two_integrations_are_independent,
            concurrent_claims_grant_one,
        );
    };
}

pub async fn certificate_claim_busy_and_recovery<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    assert_eq!(store.certificate(&acme(), &c).await.unwrap(), None);
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, t0(), minutes(5))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(5),
            recovering: false
        }
    );
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, t0() + minutes(4), minutes(5))
            .await
            .unwrap(),
        LedgerClaim::Busy {
            expires_at: t0() + minutes(5)
        }
    );
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, t0() + minutes(5), minutes(5))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(10),
            recovering: true
        }
    );
    let entry = store.certificate(&acme(), &c).await.unwrap().unwrap();
    assert_eq!(
        entry.state,
        LedgerState::InProgress {
            expires_at: t0() + minutes(10)
        }
    );
    assert_eq!((entry.integration_id, entry.certificate_id), (acme(), c));
    assert_eq!(entry.updated_at, t0() + minutes(5));
}

pub async fn completed_certificate_is_already_done<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, t0(), minutes(5))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, "doc-42", t0() + minutes(1))
        .await
        .unwrap();
    let done = LedgerClaim::AlreadyDone {
        document_id: "doc-42".into(),
    };
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, t0() + minutes(2), minutes(5))
            .await
            .unwrap(),
        done
    );
    // Long after: still done, never claimed again.
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, t0() + Duration::days(30), minutes(5))
            .await
            .unwrap(),
        done
    );
    let entry = store.certificate(&acme(), &c).await.unwrap().unwrap();
    assert_eq!(
        entry.state,
        LedgerState::Done {
            document_id: "doc-42".into()
        }
    );
    assert_eq!((entry.attempts, entry.updated_at), (1, t0() + minutes(1)));
}

pub async fn failed_certificate_can_be_claimed_again<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, t0(), minutes(5))
        .await
        .unwrap();
    store
        .fail_certificate(&acme(), &c, "Kategorie nicht gefunden", t0() + minutes(1))
        .await
        .unwrap();
    assert_eq!(
        store.certificate(&acme(), &c).await.unwrap().unwrap().state,
        LedgerState::Failed {
            reason: "Kategorie nicht gefunden".into()
        }
    );
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, t0() + minutes(2), minutes(5))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(7),
            recovering: false
        }
    );
}

pub async fn finishing_a_certificate_not_in_progress_conflicts<S: CertificateLedger>(store: &S) {
    let absent = cert("absent");
    assert_conflict(
        store
            .complete_certificate(&acme(), &absent, "d", t0())
            .await,
        "complete absent",
    );
    assert_conflict(
        store.fail_certificate(&acme(), &absent, "r", t0()).await,
        "fail absent",
    );
    assert_eq!(store.certificate(&acme(), &absent).await.unwrap(), None);

    let done = cert("done");
    store
        .claim_certificate(&acme(), &done, t0(), minutes(5))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &done, "doc-1", t0())
        .await
        .unwrap();
    assert_conflict(
        store
            .complete_certificate(&acme(), &done, "doc-2", t0())
            .await,
        "complete done",
    );
    assert_conflict(
        store.fail_certificate(&acme(), &done, "r", t0()).await,
        "fail done",
    );
    assert_eq!(
        store
            .certificate(&acme(), &done)
            .await
            .unwrap()
            .unwrap()
            .state,
        LedgerState::Done {
            document_id: "doc-1".into()
        }
    );

    let parked = cert("parked");
    store
        .park_certificate(&acme(), &parked, &serde_json::json!({}), t0())
        .await
        .unwrap();
    assert_conflict(
        store
            .complete_certificate(&acme(), &parked, "d", t0())
            .await,
        "complete parked",
    );

    let failed = cert("failed");
    store
        .claim_certificate(&acme(), &failed, t0(), minutes(5))
        .await
        .unwrap();
    store
        .fail_certificate(&acme(), &failed, "first", t0())
        .await
        .unwrap();
    assert_conflict(
        store
            .fail_certificate(&acme(), &failed, "second", t0())
            .await,
        "fail failed",
    );
}

pub async fn certificates_are_parked_listed_and_claimed<S: CertificateLedger>(store: &S) {
    let job =
        serde_json::json!({"certificate_id": "c-2", "lms_user_id": "u-9", "course": "Brandschutz"});
    assert!(
        store
            .park_certificate(&acme(), &cert("c-2"), &job, t0())
            .await
            .unwrap()
    );
    // An in-progress entry whose worker finds no link is parked too.
    store
        .claim_certificate(&acme(), &cert("c-1"), t0(), minutes(5))
        .await
        .unwrap();
    assert!(
        store
            .park_certificate(&acme(), &cert("c-1"), &serde_json::json!({"n": 1}), t0())
            .await
            .unwrap()
    );
    store
        .claim_certificate(&acme(), &cert("c-3"), t0(), minutes(5))
        .await
        .unwrap();

    let parked = store.parked_certificates(&acme()).await.unwrap();
    let ids: Vec<&str> = parked.iter().map(|e| e.certificate_id.0.as_str()).collect();
    assert_eq!(ids, ["c-1", "c-2"]);
    assert_eq!(parked[1].state, LedgerState::Parked { job });
    assert_eq!(parked[1].attempts, 0);
    assert_eq!(parked[0].attempts, 1);

    assert_eq!(
        store
            .claim_certificate(&acme(), &cert("c-2"), t0() + minutes(1), minutes(5))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(6),
            recovering: false
        }
    );
    let ids: Vec<String> = store
        .parked_certificates(&acme())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.certificate_id.0)
        .collect();
    assert_eq!(ids, ["c-1"]);
    assert_eq!(store.parked_certificates(&globex()).await.unwrap(), vec![]);
}

pub async fn parking_a_done_certificate_changes_nothing<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, t0(), minutes(5))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, "doc-1", t0())
        .await
        .unwrap();
    let before = store.certificate(&acme(), &c).await.unwrap();
    assert!(
        !store
            .park_certificate(&acme(), &c, &serde_json::json!({}), t0() + minutes(1))
            .await
            .unwrap()
    );
    assert_eq!(store.certificate(&acme(), &c).await.unwrap(), before);
    assert_eq!(store.parked_certificates(&acme()).await.unwrap(), vec![]);
}

pub async fn certificate_attempts_are_counted<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, t0(), minutes(5))
        .await
        .unwrap();
    // Busy claims are not attempts.
    store
        .claim_certificate(&acme(), &c, t0() + minutes(1), minutes(5))
        .await
        .unwrap();
    store
        .claim_certificate(&acme(), &c, t0() + minutes(6), minutes(5))
        .await
        .unwrap();
    store
        .fail_certificate(&acme(), &c, "r", t0() + minutes(7))
        .await
        .unwrap();
    store
        .claim_certificate(&acme(), &c, t0() + minutes(8), minutes(5))
        .await
        .unwrap();
    assert_eq!(
        store
            .certificate(&acme(), &c)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
}

pub async fn certificates_are_listed_in_id_order<S: CertificateLedger>(store: &S) {
    for id in ["b", "a-2", "c", "a-10", "A"] {
        store
            .claim_certificate(&acme(), &cert(id), t0(), minutes(5))
            .await
            .unwrap();
    }
    let ids: Vec<String> = store
        .certificates(&acme())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.certificate_id.0)
        .collect();
    assert_eq!(ids, ["A", "a-10", "a-2", "b", "c"]);
}

pub async fn ledgers_of_two_integrations_are_independent<S: CertificateLedger>(store: &S) {
    let c = cert("shared-id");
    store
        .claim_certificate(&acme(), &c, t0(), minutes(5))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, "doc-acme", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_certificate(&globex(), &c, t0(), minutes(5))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(5),
            recovering: false
        }
    );
    assert_conflict(
        store
            .complete_certificate(&IntegrationId::new("initech"), &c, "d", t0())
            .await,
        "other integration",
    );
    assert_eq!(store.certificates(&acme()).await.unwrap().len(), 1);
    assert_eq!(store.certificates(&globex()).await.unwrap().len(), 1);
    assert_eq!(
        store
            .certificate(&globex(), &c)
            .await
            .unwrap()
            .unwrap()
            .state,
        LedgerState::InProgress {
            expires_at: t0() + minutes(5)
        }
    );
}

pub async fn concurrent_claims_grant_one<S: CertificateLedger>(store: &S) {
    let (integration, c) = (acme(), cert("c-1"));
    let claims = futures::future::join_all(
        (0..8).map(|_| store.claim_certificate(&integration, &c, t0(), minutes(5))),
    )
    .await;
    let granted = claims
        .iter()
        .filter(|claim| matches!(claim, Ok(LedgerClaim::Claimed { .. })))
        .count();
    let busy = claims
        .iter()
        .filter(|claim| matches!(claim, Ok(LedgerClaim::Busy { .. })))
        .count();
    assert_eq!((granted, busy), (1, 7), "{claims:?}");
}
