//! The `RunStore` contract: run records replaced whole, read by id, listed newest first.

use super::fixtures::{acme, globex, minutes, run, t0};
use crate::domain::run::{RunId, RunStatus};
use crate::ports::RunStore;

/// Generates one `#[tokio::test]` per `RunStore` contract case, as
/// [`state_store_contract_tests!`](crate::state_store_contract_tests) does for the whole state.
#[macro_export]
macro_rules! run_store_contract_tests {
    ($setup:expr) => {
        $crate::store_contract_cases!($setup; runs;
            runs_are_put_replaced_and_read,
            runs_are_listed_newest_first_with_limit,
            runs_are_kept_per_integration,
        );
    };
}

pub async fn runs_are_put_replaced_and_read<S: RunStore>(store: &S) {
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

pub async fn runs_are_listed_newest_first_with_limit<S: RunStore>(store: &S) {
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

pub async fn runs_are_kept_per_integration<S: RunStore>(store: &S) {
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
