//! The `LeaseStore` contract: one holder at a time per integration; the holder renews and
//! releases, an expired lease is taken over.

use super::fixtures::{acme, globex, minutes, t0};
use crate::ports::{LeaseOutcome, LeaseStore};

/// Generates one `#[tokio::test]` per `LeaseStore` contract case, as
/// [`state_store_contract_tests!`](crate::state_store_contract_tests) does for the whole state.
#[macro_export]
macro_rules! lease_store_contract_tests {
    ($setup:expr) => {
        $crate::store_contract_cases!($setup; lease;
            lease_is_acquired_refused_and_taken_over,
            lease_is_read_back_as_stored,
            lease_is_renewed_only_by_its_holder,
            lease_release_by_holder_only,
            leases_of_two_integrations_are_independent,
        );
    };
}

pub async fn lease_is_acquired_refused_and_taken_over<S: LeaseStore>(store: &S) {
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

pub async fn lease_is_read_back_as_stored<S: LeaseStore>(store: &S) {
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

pub async fn lease_is_renewed_only_by_its_holder<S: LeaseStore>(store: &S) {
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

pub async fn lease_release_by_holder_only<S: LeaseStore>(store: &S) {
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

pub async fn leases_of_two_integrations_are_independent<S: LeaseStore>(store: &S) {
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
