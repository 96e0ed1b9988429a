//! The behaviour every `StateStore` backend must show, written once. Each case takes a fresh,
//! empty store; [`state_store_contract_tests!`](crate::state_store_contract_tests) turns every
//! case into a `#[tokio::test]` for one backend, also from other crates (feature
//! `contract-tests`). Time is passed in, so nothing sleeps.

use crate::domain::IntegrationId;
use crate::domain::certificate::{CertificateId, LedgerClaim, LedgerState};
use crate::domain::employee::PersonioId;
use crate::domain::integration::{
    IntegrationRecord, LmsConnection, PersonioConnection, SyncSchedule,
};
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::domain::run::{RunCounts, RunId, RunRecord, RunStatus, Trigger};
use crate::domain::settings::IntegrationSettings;
use crate::ports::{IntegrationStore, LeaseOutcome, StateStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;

/// Generates one `#[tokio::test]` per contract case. `$setup` yields `(guard, store)`: the guard
/// (a temp dir, or `()`) lives as long as the test.
///
/// ```ignore
/// mod memory_contract {
///     common::state_store_contract_tests!(((), common::store::MemoryStore::new()));
/// }
/// ```
#[macro_export]
macro_rules! state_store_contract_tests {
    ($setup:expr) => {
        $crate::state_store_contract_tests!(@cases $setup;
            links_are_put_read_and_listed,
            link_is_found_by_lms_user,
            create_only_link_write_conflicts_when_present,
            stale_link_version_conflicts_and_writes_nothing,
            link_write_with_the_read_version_succeeds,
            many_links_of_two_integrations_stay_separate,
            runs_are_put_replaced_and_read,
            runs_are_listed_newest_first_with_limit,
            runs_are_kept_per_integration,
            lease_is_acquired_refused_and_taken_over,
            lease_is_read_back_as_stored,
            lease_is_renewed_only_by_its_holder,
            lease_release_by_holder_only,
            leases_of_two_integrations_are_independent,
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
            concurrent_link_creations_let_one_win,
        );
    };
    (@cases $setup:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let (_guard, store) = $setup;
                $crate::store::contract::$case(&store).await;
            }
        )+
    };
}

/// Generates one `#[tokio::test]` per `IntegrationStore` contract case, as
/// [`state_store_contract_tests!`](crate::state_store_contract_tests) does for the state.
#[macro_export]
macro_rules! integration_store_contract_tests {
    ($setup:expr) => {
        $crate::state_store_contract_tests!(@cases $setup;
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

fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

fn globex() -> IntegrationId {
    IntegrationId::new("globex")
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a representable constant")
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

fn link(integration: &IntegrationId, personio_id: i64, version: u64) -> EmployeeLink {
    EmployeeLink {
        integration_id: integration.clone(),
        personio_id: PersonioId(personio_id),
        lms_user_id: LmsUserId(format!("{integration}-lms-{personio_id}")),
        email: format!("employee{personio_id}@{integration}.example"),
        profile_hash: format!("hash-{personio_id}-{version}"),
        groups: BTreeSet::from(["Sales".to_owned(), "Berlin".to_owned()]),
        active: true,
        updated_at: t0() + Duration::seconds(version as i64),
        version,
    }
}

fn run(integration: &IntegrationId, run_id: &str, started_at: DateTime<Utc>) -> RunRecord {
    RunRecord {
        integration_id: integration.clone(),
        run_id: RunId(run_id.to_owned()),
        trigger: Trigger::Schedule,
        dry_run: false,
        started_at,
        finished_at: None,
        status: RunStatus::Running,
        counts: RunCounts::default(),
        outcomes: Vec::new(),
        notices: vec![format!("notice of {run_id}")],
        error: None,
    }
}

fn cert(id: &str) -> CertificateId {
    CertificateId(id.to_owned())
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected a conflict, got {result:?}"
    );
}

pub async fn links_are_put_read_and_listed<S: StateStore>(store: &S) {
    assert_eq!(store.links(&acme()).await.unwrap(), vec![]);
    assert_eq!(store.link(&acme(), PersonioId(1)).await.unwrap(), None);
    for id in [3, 1, 2] {
        store.put_link(&link(&acme(), id, 1), None).await.unwrap();
    }
    assert_eq!(
        store.link(&acme(), PersonioId(2)).await.unwrap(),
        Some(link(&acme(), 2, 1))
    );
    let mut listed = store.links(&acme()).await.unwrap();
    listed.sort_by_key(|link| link.personio_id);
    assert_eq!(
        listed,
        vec![
            link(&acme(), 1, 1),
            link(&acme(), 2, 1),
            link(&acme(), 3, 1)
        ]
    );
}

pub async fn link_is_found_by_lms_user<S: StateStore>(store: &S) {
    store.put_link(&link(&acme(), 7, 1), None).await.unwrap();
    store.put_link(&link(&acme(), 8, 1), None).await.unwrap();
    let lms_user = link(&acme(), 8, 1).lms_user_id;
    assert_eq!(
        store.link_by_lms_user(&acme(), &lms_user).await.unwrap(),
        Some(link(&acme(), 8, 1))
    );
    assert_eq!(
        store
            .link_by_lms_user(&acme(), &LmsUserId("unknown".into()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.link_by_lms_user(&globex(), &lms_user).await.unwrap(),
        None
    );

    // The index follows a link whose LMS user changes.
    let mut moved = link(&acme(), 8, 2);
    moved.lms_user_id = LmsUserId("replacement".into());
    store.put_link(&moved, Some(1)).await.unwrap();
    assert_eq!(
        store.link_by_lms_user(&acme(), &lms_user).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .link_by_lms_user(&acme(), &LmsUserId("replacement".into()))
            .await
            .unwrap(),
        Some(moved)
    );
}

pub async fn create_only_link_write_conflicts_when_present<S: StateStore>(store: &S) {
    store.put_link(&link(&acme(), 1, 1), None).await.unwrap();
    let mut other = link(&acme(), 1, 1);
    other.email = "someone.else@acme.example".into();
    assert_conflict(
        store.put_link(&other, None).await,
        "create over an existing link",
    );
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap(),
        Some(link(&acme(), 1, 1))
    );
}

pub async fn stale_link_version_conflicts_and_writes_nothing<S: StateStore>(store: &S) {
    store.put_link(&link(&acme(), 1, 1), None).await.unwrap();
    store.put_link(&link(&acme(), 1, 2), Some(1)).await.unwrap();
    assert_conflict(
        store.put_link(&link(&acme(), 1, 2), Some(1)).await,
        "write with a stale version",
    );
    assert_conflict(
        store.put_link(&link(&acme(), 1, 4), Some(3)).await,
        "write with a future version",
    );
    assert_conflict(
        store.put_link(&link(&acme(), 2, 2), Some(1)).await,
        "update of an absent link",
    );
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap(),
        Some(link(&acme(), 1, 2))
    );
    assert_eq!(store.link(&acme(), PersonioId(2)).await.unwrap(), None);
}

pub async fn link_write_with_the_read_version_succeeds<S: StateStore>(store: &S) {
    store.put_link(&link(&acme(), 1, 1), None).await.unwrap();
    let read = store.link(&acme(), PersonioId(1)).await.unwrap().unwrap();
    let mut changed = link(&acme(), 1, read.version + 1);
    changed.active = false;
    changed.groups.insert("Marketing".into());
    store.put_link(&changed, Some(read.version)).await.unwrap();
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap(),
        Some(changed)
    );
}

pub async fn many_links_of_two_integrations_stay_separate<S: StateStore>(store: &S) {
    // The same Personio ids in both integrations: only the integration tells them apart.
    for id in 0..300 {
        store.put_link(&link(&acme(), id, 1), None).await.unwrap();
        if id % 2 == 0 {
            store.put_link(&link(&globex(), id, 1), None).await.unwrap();
        }
    }
    let acme_links = store.links(&acme()).await.unwrap();
    let globex_links = store.links(&globex()).await.unwrap();
    assert_eq!(acme_links.len(), 300);
    assert_eq!(globex_links.len(), 150);
    assert!(acme_links.iter().all(|l| l.integration_id == acme()));
    assert!(globex_links.iter().all(|l| l.integration_id == globex()));
    assert_eq!(
        store.link(&globex(), PersonioId(10)).await.unwrap(),
        Some(link(&globex(), 10, 1))
    );
    assert_eq!(store.link(&globex(), PersonioId(11)).await.unwrap(), None);
    assert_eq!(
        store.links(&IntegrationId::new("initech")).await.unwrap(),
        vec![]
    );
}

pub async fn runs_are_put_replaced_and_read<S: StateStore>(store: &S) {
    let started = run(&acme(), "r1", t0());
    store.put_run(&started).await.unwrap();
    assert_eq!(
        store.run(&acme(), &RunId("r1".into())).await.unwrap(),
        Some(started.clone())
    );

    let mut finished = started;
    finished.status = RunStatus::CompletedWithFailures;
    finished.finished_at = Some(t0() + minutes(3));
    finished.counts.failed = 2;
    finished.error = Some("Personio antwortete mit 500".into());
    store.put_run(&finished).await.unwrap();
    assert_eq!(
        store.run(&acme(), &RunId("r1".into())).await.unwrap(),
        Some(finished.clone())
    );
    assert_eq!(store.runs(&acme(), 10).await.unwrap(), vec![finished]);
    assert_eq!(store.run(&acme(), &RunId("r2".into())).await.unwrap(), None);
}

pub async fn runs_are_listed_newest_first_with_limit<S: StateStore>(store: &S) {
    // Written out of order; ids deliberately not in time order.
    let runs = [
        run(&acme(), "c", t0() + minutes(10)),
        run(&acme(), "a", t0() + minutes(30)),
        run(&acme(), "d", t0()),
        run(&acme(), "b", t0() + minutes(20)),
    ];
    for record in &runs {
        store.put_run(record).await.unwrap();
    }
    let newest: Vec<String> = store
        .runs(&acme(), 3)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id.0)
        .collect();
    assert_eq!(newest, ["a", "b", "c"]);
    assert_eq!(store.runs(&acme(), 100).await.unwrap().len(), 4);
    assert_eq!(store.runs(&acme(), 0).await.unwrap(), vec![]);
}

pub async fn runs_are_kept_per_integration<S: StateStore>(store: &S) {
    store.put_run(&run(&acme(), "same-id", t0())).await.unwrap();
    store
        .put_run(&run(&globex(), "same-id", t0() + minutes(1)))
        .await
        .unwrap();
    store
        .put_run(&run(&globex(), "other", t0() + minutes(2)))
        .await
        .unwrap();
    assert_eq!(
        store.runs(&acme(), 10).await.unwrap(),
        vec![run(&acme(), "same-id", t0())]
    );
    assert_eq!(store.runs(&globex(), 10).await.unwrap().len(), 2);
    assert_eq!(
        store
            .run(&globex(), &RunId("same-id".into()))
            .await
            .unwrap(),
        Some(run(&globex(), "same-id", t0() + minutes(1)))
    );
}

pub async fn lease_is_acquired_refused_and_taken_over<S: StateStore>(store: &S) {
    let first = store
        .acquire_lease(&acme(), "run-1", t0(), minutes(15))
        .await
        .unwrap();
    let LeaseOutcome::Acquired(lease) = first else {
        panic!("a free lease must be acquired, got {first:?}");
    };
    assert_eq!(
        (lease.holder.as_str(), lease.expires_at),
        ("run-1", t0() + minutes(15))
    );
    assert_eq!(lease.integration_id, acme());

    let second = store
        .acquire_lease(&acme(), "run-2", t0() + minutes(5), minutes(15))
        .await
        .unwrap();
    assert_eq!(second, LeaseOutcome::HeldBy(lease));

    // The holder may take it again; that extends it.
    let again = store
        .acquire_lease(&acme(), "run-1", t0() + minutes(10), minutes(15))
        .await
        .unwrap();
    assert!(
        matches!(&again, LeaseOutcome::Acquired(l) if l.expires_at == t0() + minutes(25)),
        "the holder re-acquires: {again:?}"
    );
    let still_held = store
        .acquire_lease(&acme(), "run-2", t0() + minutes(20), minutes(15))
        .await
        .unwrap();
    assert!(
        matches!(still_held, LeaseOutcome::HeldBy(_)),
        "{still_held:?}"
    );

    // A dead run's lease expires and is taken over.
    let taken = store
        .acquire_lease(&acme(), "run-2", t0() + minutes(25), minutes(15))
        .await
        .unwrap();
    assert!(
        matches!(&taken, LeaseOutcome::Acquired(l) if l.holder == "run-2"),
        "an expired lease is taken over: {taken:?}"
    );
}

pub async fn lease_is_read_back_as_stored<S: StateStore>(store: &S) {
    assert_eq!(store.lease(&acme()).await.unwrap(), None);
    let LeaseOutcome::Acquired(acquired) = store
        .acquire_lease(&acme(), "run-1", t0(), minutes(15))
        .await
        .unwrap()
    else {
        panic!("a free lease must be acquired");
    };
    assert_eq!(store.lease(&acme()).await.unwrap(), Some(acquired.clone()));
    assert_eq!(store.lease(&globex()).await.unwrap(), None);
    store.release_lease(&acme(), "run-1").await.unwrap();
    assert_eq!(store.lease(&acme()).await.unwrap(), None);
}

pub async fn lease_is_renewed_only_by_its_holder<S: StateStore>(store: &S) {
    assert!(
        !store
            .renew_lease(&acme(), "run-1", t0(), minutes(15))
            .await
            .unwrap()
    );
    store
        .acquire_lease(&acme(), "run-1", t0(), minutes(15))
        .await
        .unwrap();
    assert!(
        store
            .renew_lease(&acme(), "run-1", t0() + minutes(10), minutes(15))
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_lease(&acme(), "run-2", t0() + minutes(10), minutes(15))
            .await
            .unwrap()
    );
    // Renewed until minute 25: another run is still refused at minute 20.
    let refused = store
        .acquire_lease(&acme(), "run-2", t0() + minutes(20), minutes(15))
        .await
        .unwrap();
    assert!(matches!(refused, LeaseOutcome::HeldBy(_)), "{refused:?}");

    // Lost: expired and taken by another run.
    let taken = store
        .acquire_lease(&acme(), "run-2", t0() + minutes(30), minutes(15))
        .await
        .unwrap();
    assert!(matches!(taken, LeaseOutcome::Acquired(_)), "{taken:?}");
    assert!(
        !store
            .renew_lease(&acme(), "run-1", t0() + minutes(31), minutes(15))
            .await
            .unwrap()
    );
    let holder = store
        .acquire_lease(&acme(), "run-3", t0() + minutes(31), minutes(15))
        .await
        .unwrap();
    assert!(
        matches!(&holder, LeaseOutcome::HeldBy(l) if l.holder == "run-2"),
        "{holder:?}"
    );
}

pub async fn lease_release_by_holder_only<S: StateStore>(store: &S) {
    store.release_lease(&acme(), "run-1").await.unwrap();
    store
        .acquire_lease(&acme(), "run-1", t0(), minutes(15))
        .await
        .unwrap();
    store.release_lease(&acme(), "run-2").await.unwrap();
    let refused = store
        .acquire_lease(&acme(), "run-2", t0(), minutes(15))
        .await
        .unwrap();
    assert!(matches!(refused, LeaseOutcome::HeldBy(_)), "{refused:?}");

    store.release_lease(&acme(), "run-1").await.unwrap();
    let free = store
        .acquire_lease(&acme(), "run-2", t0() + minutes(1), minutes(15))
        .await
        .unwrap();
    assert!(matches!(free, LeaseOutcome::Acquired(_)), "{free:?}");
    // The released holder has lost it.
    assert!(
        !store
            .renew_lease(&acme(), "run-1", t0() + minutes(2), minutes(15))
            .await
            .unwrap()
    );
}

pub async fn leases_of_two_integrations_are_independent<S: StateStore>(store: &S) {
    let a = store
        .acquire_lease(&acme(), "run-1", t0(), minutes(15))
        .await
        .unwrap();
    let b = store
        .acquire_lease(&globex(), "run-2", t0(), minutes(15))
        .await
        .unwrap();
    assert!(matches!(a, LeaseOutcome::Acquired(_)) && matches!(b, LeaseOutcome::Acquired(_)));
    store.release_lease(&globex(), "run-1").await.unwrap();
    store.release_lease(&acme(), "run-2").await.unwrap();
    let refused = store
        .acquire_lease(&acme(), "run-3", t0(), minutes(15))
        .await
        .unwrap();
    assert!(
        matches!(&refused, LeaseOutcome::HeldBy(l) if l.holder == "run-1"),
        "{refused:?}"
    );
}

pub async fn certificate_claim_busy_and_recovery<S: StateStore>(store: &S) {
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

pub async fn completed_certificate_is_already_done<S: StateStore>(store: &S) {
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

pub async fn failed_certificate_can_be_claimed_again<S: StateStore>(store: &S) {
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

pub async fn finishing_a_certificate_not_in_progress_conflicts<S: StateStore>(store: &S) {
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

pub async fn certificates_are_parked_listed_and_claimed<S: StateStore>(store: &S) {
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

pub async fn parking_a_done_certificate_changes_nothing<S: StateStore>(store: &S) {
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

pub async fn certificate_attempts_are_counted<S: StateStore>(store: &S) {
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

pub async fn certificates_are_listed_in_id_order<S: StateStore>(store: &S) {
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

pub async fn ledgers_of_two_integrations_are_independent<S: StateStore>(store: &S) {
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

pub async fn concurrent_claims_grant_one<S: StateStore>(store: &S) {
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

pub async fn concurrent_link_creations_let_one_win<S: StateStore>(store: &S) {
    let candidates: Vec<EmployeeLink> = (0..8)
        .map(|n| {
            let mut candidate = link(&acme(), 1, 1);
            candidate.profile_hash = format!("writer-{n}");
            candidate
        })
        .collect();
    let writes =
        futures::future::join_all(candidates.iter().map(|c| store.put_link(c, None))).await;
    let winners: Vec<&EmployeeLink> = writes
        .iter()
        .zip(&candidates)
        .filter(|(write, _)| write.is_ok())
        .map(|(_, candidate)| candidate)
        .collect();
    assert_eq!(winners.len(), 1, "{writes:?}");
    assert!(
        writes
            .iter()
            .all(|write| matches!(write, Ok(()) | Err(StoreError::Conflict(_)))),
        "{writes:?}"
    );
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap().as_ref(),
        Some(winners[0])
    );
}

/// An integration record as the admin API writes it: every field set, none of them defaults.
pub fn integration_record(
    id: &str,
    tenant_id: &str,
    next_run_at: Option<DateTime<Utc>>,
    version: u64,
) -> IntegrationRecord {
    let mut settings = IntegrationSettings::new("LMS Sync");
    settings.certificates.enabled = true;
    IntegrationRecord {
        id: IntegrationId::new(id),
        tenant_id: tenant_id.to_owned(),
        name: format!("{id} GmbH → Akademie"),
        personio: PersonioConnection {
            base_url: Some("http://127.0.0.1:1/personio".into()),
            partner_id: Some("partner".into()),
            app_id: None,
        },
        lms: LmsConnection {
            scim_base_url: format!("http://127.0.0.1:1/scim/{id}"),
        },
        settings,
        schedule: if next_run_at.is_some() {
            SyncSchedule::EveryMinutes(15)
        } else {
            SyncSchedule::Manual
        },
        next_run_at,
        secret_ref: format!("lms-integration/{id}"),
        created_at: t0(),
        updated_at: t0() + Duration::seconds(version as i64),
        version,
        certificate_problem: None,
    }
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
    S: IntegrationStore + StateStore,
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
