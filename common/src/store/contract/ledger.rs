//! The `CertificateLedger` contract: a certificate is claimed by one worker at a time, finished
//! only by the holder of its claim, done once and for good, failed and claimed again (as a
//! recovery), parked while its employee is unlinked.

use super::fixtures::{
    acme, assert_conflict, cert, claim, globex, minutes, parking, subject, t0, token_of,
};
use crate::domain::IntegrationId;
use crate::domain::certificate::{LedgerClaim, LedgerState, ParkAnswer, Parking};
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
            failed_certificate_is_claimed_again_as_a_recovery,
            finishing_a_certificate_not_in_progress_conflicts,
            only_the_holder_finishes_a_claim,
            a_stale_worker_cannot_overwrite_the_claim_that_took_over,
            an_expired_claim_nobody_took_over_is_still_its_holders,
            certificates_are_parked_listed_and_claimed,
            parking_keeps_the_first_parking_and_leaves_a_live_claim_alone,
            parking_a_done_certificate_changes_nothing,
            the_subject_is_kept_through_every_state,
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
            .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(5),
            recovering: false
        }
    );
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, &claim("w-2", t0() + minutes(4), minutes(5)))
            .await
            .unwrap(),
        LedgerClaim::Busy {
            expires_at: t0() + minutes(5)
        }
    );
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, &claim("w-3", t0() + minutes(5), minutes(5)))
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
            expires_at: t0() + minutes(10),
            holder: Some(token_of("w-3")),
        }
    );
    assert_eq!((entry.integration_id, entry.certificate_id), (acme(), c));
    assert_eq!(entry.updated_at, t0() + minutes(5));
}

pub async fn completed_certificate_is_already_done<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, &token_of("w-1"), "doc-42", t0() + minutes(1))
        .await
        .unwrap();
    let done = LedgerClaim::AlreadyDone {
        document_id: "doc-42".into(),
    };
    assert_eq!(
        store
            .claim_certificate(&acme(), &c, &claim("w-2", t0() + minutes(2), minutes(5)))
            .await
            .unwrap(),
        done
    );
    // Long after: still done, never claimed again.
    assert_eq!(
        store
            .claim_certificate(
                &acme(),
                &c,
                &claim("w-3", t0() + Duration::days(30), minutes(5))
            )
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

/// A failure may have been ambiguous (Personio took the upload and the answer was lost), so the
/// next claim of a failed certificate is a recovery: its worker looks in Personio first.
pub async fn failed_certificate_is_claimed_again_as_a_recovery<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .fail_certificate(
            &acme(),
            &c,
            &token_of("w-1"),
            "Kategorie nicht gefunden",
            t0() + minutes(1),
        )
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
            .claim_certificate(&acme(), &c, &claim("w-2", t0() + minutes(2), minutes(5)))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(7),
            recovering: true
        }
    );
}

pub async fn finishing_a_certificate_not_in_progress_conflicts<S: CertificateLedger>(store: &S) {
    let w1 = token_of("w-1");
    let absent = cert("absent");
    assert_conflict(
        store
            .complete_certificate(&acme(), &absent, &w1, "d", t0())
            .await,
        "complete absent",
    );
    assert_conflict(
        store
            .fail_certificate(&acme(), &absent, &w1, "r", t0())
            .await,
        "fail absent",
    );
    assert_eq!(store.certificate(&acme(), &absent).await.unwrap(), None);

    let done = cert("done");
    store
        .claim_certificate(&acme(), &done, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &done, &w1, "doc-1", t0())
        .await
        .unwrap();
    assert_conflict(
        store
            .complete_certificate(&acme(), &done, &w1, "doc-2", t0())
            .await,
        "complete done",
    );
    assert_conflict(
        store.fail_certificate(&acme(), &done, &w1, "r", t0()).await,
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
        .park_certificate(&acme(), &parked, &parking(serde_json::json!({}), t0()))
        .await
        .unwrap();
    assert_conflict(
        store
            .complete_certificate(&acme(), &parked, &w1, "d", t0())
            .await,
        "complete parked",
    );

    let failed = cert("failed");
    store
        .claim_certificate(&acme(), &failed, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .fail_certificate(&acme(), &failed, &w1, "first", t0())
        .await
        .unwrap();
    assert_conflict(
        store
            .fail_certificate(&acme(), &failed, &w1, "second", t0())
            .await,
        "fail failed",
    );
}

pub async fn only_the_holder_finishes_a_claim<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    let stranger = token_of("w-2");
    assert_conflict(
        store
            .complete_certificate(&acme(), &c, &stranger, "doc-x", t0() + minutes(1))
            .await,
        "complete by a stranger",
    );
    assert_conflict(
        store
            .fail_certificate(&acme(), &c, &stranger, "r", t0() + minutes(1))
            .await,
        "fail by a stranger",
    );
    assert_eq!(
        store.certificate(&acme(), &c).await.unwrap().unwrap().state,
        LedgerState::InProgress {
            expires_at: t0() + minutes(5),
            holder: Some(token_of("w-1")),
        }
    );
    store
        .complete_certificate(&acme(), &c, &token_of("w-1"), "doc-1", t0() + minutes(1))
        .await
        .unwrap();
}

/// Worker 1's claim expires, worker 2 takes over and finishes; worker 1's late answer (done or
/// failed) is refused and changes nothing.
pub async fn a_stale_worker_cannot_overwrite_the_claim_that_took_over<S: CertificateLedger>(
    store: &S,
) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .claim_certificate(&acme(), &c, &claim("w-2", t0() + minutes(6), minutes(5)))
        .await
        .unwrap();
    // While worker 2 works, worker 1 wakes up.
    assert_conflict(
        store
            .fail_certificate(&acme(), &c, &token_of("w-1"), "late", t0() + minutes(7))
            .await,
        "stale fail while the new claim is held",
    );
    store
        .complete_certificate(&acme(), &c, &token_of("w-2"), "doc-2", t0() + minutes(8))
        .await
        .unwrap();
    assert_conflict(
        store
            .complete_certificate(&acme(), &c, &token_of("w-1"), "doc-1", t0() + minutes(9))
            .await,
        "stale complete after the new claim finished",
    );
    assert_eq!(
        store.certificate(&acme(), &c).await.unwrap().unwrap().state,
        LedgerState::Done {
            document_id: "doc-2".into()
        }
    );
}

pub async fn an_expired_claim_nobody_took_over_is_still_its_holders<S: CertificateLedger>(
    store: &S,
) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, &token_of("w-1"), "doc-1", t0() + minutes(30))
        .await
        .unwrap();
    assert_eq!(
        store.certificate(&acme(), &c).await.unwrap().unwrap().state,
        LedgerState::Done {
            document_id: "doc-1".into()
        }
    );
}

pub async fn certificates_are_parked_listed_and_claimed<S: CertificateLedger>(store: &S) {
    let job =
        serde_json::json!({"certificate_id": "c-2", "lms_user_id": "u-9", "course": "Brandschutz"});
    assert_eq!(
        store
            .park_certificate(&acme(), &cert("c-2"), &parking(job.clone(), t0()))
            .await
            .unwrap(),
        ParkAnswer::Parked { since: t0() }
    );
    // An in-progress entry whose own worker finds no link is parked too.
    store
        .claim_certificate(&acme(), &cert("c-1"), &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    let by_holder = Parking {
        holder: Some(token_of("w-1")),
        ..parking(serde_json::json!({"n": 1}), t0())
    };
    assert_eq!(
        store
            .park_certificate(&acme(), &cert("c-1"), &by_holder)
            .await
            .unwrap(),
        ParkAnswer::Parked { since: t0() }
    );
    store
        .claim_certificate(&acme(), &cert("c-3"), &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();

    let parked = store.parked_certificates(&acme()).await.unwrap();
    let ids: Vec<&str> = parked.iter().map(|e| e.certificate_id.0.as_str()).collect();
    assert_eq!(ids, ["c-1", "c-2"]);
    assert_eq!(
        parked[1].state,
        LedgerState::Parked {
            job,
            since: Some(t0()),
            reason: Some("LMS user u-9 is not linked".into()),
        }
    );
    assert_eq!(parked[1].parked_since(), Some(t0()));
    assert_eq!(parked[1].attempts, 0);
    assert_eq!(parked[0].attempts, 1);

    assert_eq!(
        store
            .claim_certificate(
                &acme(),
                &cert("c-2"),
                &claim("w-2", t0() + minutes(1), minutes(5))
            )
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(6),
            recovering: false
        }
    );
    // Parked again after a claim: the next claim looks first.
    assert_eq!(
        store
            .claim_certificate(
                &acme(),
                &cert("c-1"),
                &claim("w-2", t0() + minutes(1), minutes(5))
            )
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(6),
            recovering: true
        }
    );
    assert_eq!(store.parked_certificates(&acme()).await.unwrap(), vec![]);
    assert_eq!(store.parked_certificates(&globex()).await.unwrap(), vec![]);
}

pub async fn parking_keeps_the_first_parking_and_leaves_a_live_claim_alone<S: CertificateLedger>(
    store: &S,
) {
    let c = cert("c-1");
    store
        .park_certificate(&acme(), &c, &parking(serde_json::json!({"v": 1}), t0()))
        .await
        .unwrap();
    // A redelivery days later: the job is replaced, the first parking stands.
    let later = t0() + Duration::days(3);
    assert_eq!(
        store
            .park_certificate(&acme(), &c, &parking(serde_json::json!({"v": 2}), later))
            .await
            .unwrap(),
        ParkAnswer::Parked { since: t0() }
    );
    let entry = store.certificate(&acme(), &c).await.unwrap().unwrap();
    assert_eq!(entry.parked_since(), Some(t0()));
    assert!(matches!(entry.state, LedgerState::Parked { job, .. } if job["v"] == 2));
    assert_eq!(entry.updated_at, later);

    // Released and claimed by worker 1; a parking by anyone else leaves the claim alone...
    store
        .claim_certificate(&acme(), &c, &claim("w-1", later, minutes(5)))
        .await
        .unwrap();
    assert_eq!(
        store
            .park_certificate(&acme(), &c, &parking(serde_json::json!({"v": 3}), later))
            .await
            .unwrap(),
        ParkAnswer::Busy {
            expires_at: later + minutes(5)
        }
    );
    // ...while worker 1 parks it again keeping the first parking it was given.
    let again = Parking {
        holder: Some(token_of("w-1")),
        since: Some(t0()),
        ..parking(serde_json::json!({"v": 2}), later + minutes(1))
    };
    assert_eq!(
        store.park_certificate(&acme(), &c, &again).await.unwrap(),
        ParkAnswer::Parked { since: t0() }
    );
    // An expired claim of a dead worker may be parked over.
    store
        .claim_certificate(&acme(), &c, &claim("w-2", later + minutes(2), minutes(5)))
        .await
        .unwrap();
    assert_eq!(
        store
            .park_certificate(
                &acme(),
                &c,
                &parking(serde_json::json!({"v": 4}), later + minutes(10))
            )
            .await
            .unwrap(),
        ParkAnswer::Parked {
            since: later + minutes(10)
        }
    );
}

pub async fn parking_a_done_certificate_changes_nothing<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, &token_of("w-1"), "doc-1", t0())
        .await
        .unwrap();
    let before = store.certificate(&acme(), &c).await.unwrap();
    assert_eq!(
        store
            .park_certificate(
                &acme(),
                &c,
                &parking(serde_json::json!({}), t0() + minutes(1))
            )
            .await
            .unwrap(),
        ParkAnswer::AlreadyDone {
            document_id: "doc-1".into()
        }
    );
    assert_eq!(store.certificate(&acme(), &c).await.unwrap(), before);
    assert_eq!(store.parked_certificates(&acme()).await.unwrap(), vec![]);
}

/// Whose certificate of which course is kept from parking through claim to done.
pub async fn the_subject_is_kept_through_every_state<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    let waiting = subject("u-9", "Brandschutz");
    let parked = Parking {
        subject: Some(waiting.clone()),
        ..parking(serde_json::json!({}), t0())
    };
    store.park_certificate(&acme(), &c, &parked).await.unwrap();
    assert_eq!(
        store
            .certificate(&acme(), &c)
            .await
            .unwrap()
            .unwrap()
            .subject,
        Some(waiting.clone())
    );
    // A claim without a subject keeps the one stored; a claim with one replaces it.
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    assert_eq!(
        store
            .certificate(&acme(), &c)
            .await
            .unwrap()
            .unwrap()
            .subject,
        Some(waiting.clone())
    );
    let mut linked = waiting;
    linked.personio_id = Some(crate::domain::employee::PersonioId(7));
    let mut with_subject = claim("w-2", t0() + minutes(6), minutes(5));
    with_subject.subject = Some(linked.clone());
    store
        .claim_certificate(&acme(), &c, &with_subject)
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, &token_of("w-2"), "doc-1", t0() + minutes(7))
        .await
        .unwrap();
    let entry = store.certificate(&acme(), &c).await.unwrap().unwrap();
    assert_eq!(entry.subject, Some(linked));
    assert_eq!(
        store.certificates(&acme()).await.unwrap()[0].subject,
        entry.subject
    );
}

pub async fn certificate_attempts_are_counted<S: CertificateLedger>(store: &S) {
    let c = cert("c-1");
    store
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    // Busy claims are not attempts.
    store
        .claim_certificate(&acme(), &c, &claim("w-2", t0() + minutes(1), minutes(5)))
        .await
        .unwrap();
    store
        .claim_certificate(&acme(), &c, &claim("w-3", t0() + minutes(6), minutes(5)))
        .await
        .unwrap();
    store
        .fail_certificate(&acme(), &c, &token_of("w-3"), "r", t0() + minutes(7))
        .await
        .unwrap();
    store
        .claim_certificate(&acme(), &c, &claim("w-4", t0() + minutes(8), minutes(5)))
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
            .claim_certificate(&acme(), &cert(id), &claim("w-1", t0(), minutes(5)))
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
        .claim_certificate(&acme(), &c, &claim("w-1", t0(), minutes(5)))
        .await
        .unwrap();
    store
        .complete_certificate(&acme(), &c, &token_of("w-1"), "doc-acme", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_certificate(&globex(), &c, &claim("w-1", t0(), minutes(5)))
            .await
            .unwrap(),
        LedgerClaim::Claimed {
            expires_at: t0() + minutes(5),
            recovering: false
        }
    );
    assert_conflict(
        store
            .complete_certificate(
                &IntegrationId::new("initech"),
                &c,
                &token_of("w-1"),
                "d",
                t0(),
            )
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
            expires_at: t0() + minutes(5),
            holder: Some(token_of("w-1")),
        }
    );
}

pub async fn concurrent_claims_grant_one<S: CertificateLedger>(store: &S) {
    let (integration, c) = (acme(), cert("c-1"));
    let claims: Vec<_> = (0..8)
        .map(|worker| claim(&format!("w-{worker}"), t0(), minutes(5)))
        .collect();
    let answers = futures::future::join_all(
        claims
            .iter()
            .map(|claim| store.claim_certificate(&integration, &c, claim)),
    )
    .await;
    let granted = answers
        .iter()
        .filter(|claim| matches!(claim, Ok(LedgerClaim::Claimed { .. })))
        .count();
    let busy = answers
        .iter()
        .filter(|claim| matches!(claim, Ok(LedgerClaim::Busy { .. })))
        .count();
    assert_eq!((granted, busy), (1, 7), "{answers:?}");
}
