//! Runs that stop early: interrupted, out of time, the learning platform down or refusing the
//! token. Each ends with one record that says why and how far it got, its links written for what
//! was done, and the lease released; the next run does the rest.

use super::*;
use crate::lms::memory::LmsOutage;
use crate::sync::stop::TRIP_AFTER;

fn acme() -> IntegrationId {
    IntegrationId::new(INTEGRATION)
}

async fn links(harness: &Harness) -> Vec<crate::domain::link::EmployeeLink> {
    harness.store.links(&acme()).await.unwrap()
}

async fn lease_is_free(harness: &Harness) -> bool {
    matches!(
        harness
            .store
            .acquire_lease(&acme(), "next", Utc::now(), chrono::Duration::minutes(1))
            .await
            .unwrap(),
        LeaseOutcome::Acquired(_)
    ) && harness.store.release_lease(&acme(), "next").await.is_ok()
}

#[tokio::test]
async fn an_interrupted_run_finishes_what_is_in_flight_and_records_an_abort() {
    let (harness, request) = slow_harness();
    let token = request.cancel.clone();
    let interrupt = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        token.cancel(StopRequest::Interrupted);
    };

    let (outcome, ()) = tokio::join!(harness.engine.run(request, &NoProgress), interrupt);

    let SyncOutcome::Completed(record) = outcome.unwrap() else {
        panic!("expected a recorded run");
    };
    assert_eq!(record.status, RunStatus::Aborted);
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("the run was interrupted (Ctrl-C): ")
            && error.contains("left for the next run"),
        "{error}"
    );
    let created = record.counts.created;
    assert!((1..6).contains(&created), "{:?}", record.counts);
    assert_eq!(record.counts.failed, 0);
    assert_eq!(created + record.counts.not_applied, 6);
    // What was done is linked: the change in flight finished and wrote its link.
    assert_eq!(links(&harness).await.len(), created as usize);
    assert_eq!(harness.lms.users().len(), created as usize);
    let stored = harness
        .store
        .run(&record.integration_id, &record.run_id)
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), Some(&record));
    assert!(lease_is_free(&harness).await, "the lease was released");

    let next = harness.run().await;
    assert_eq!(next.status, RunStatus::Succeeded);
    assert_eq!(next.counts.created, 6 - created);
    assert_eq!(harness.lms.users().len(), 6, "nobody created twice");
}

/// Asks the run to stop once `after` changes are applied: between two changes.
struct StopAfter {
    token: CancelToken,
    after: usize,
}

impl SyncProgress for StopAfter {
    fn applied(&self, done: usize, _total: usize) {
        if done == self.after {
            self.token.cancel(StopRequest::Terminated);
        }
    }
}

#[tokio::test]
async fn a_stop_between_two_changes_is_an_abort_too() {
    let mut harness = Harness::new(staff(6));
    harness.settings.apply_concurrency = 1;
    let request = harness.request();
    let progress = StopAfter {
        token: request.cancel.clone(),
        after: 2,
    };

    let SyncOutcome::Completed(record) = harness.engine.run(request, &progress).await.unwrap()
    else {
        panic!("expected a recorded run");
    };

    assert_eq!(record.status, RunStatus::Aborted);
    assert_eq!(record.counts.created, 2);
    assert_eq!(record.counts.not_applied, 4);
    assert_eq!(
        record.error.as_deref(),
        Some(
            "the run was stopped by SIGTERM: 2 of 6 planned changes applied, 4 left for the next \
             run"
        )
    );
}

#[tokio::test]
async fn a_run_stopped_while_reading_personio_changes_nothing() {
    let harness = Harness::new(staff(4));
    let request = harness.request();
    request.cancel.cancel(StopRequest::Terminated);

    let record = harness.run_request(request).await;

    assert_eq!(record.status, RunStatus::Aborted);
    assert_eq!(
        record.error.as_deref(),
        Some("the run was stopped by SIGTERM while reading Personio; nothing was changed")
    );
    assert_eq!(harness.lms.write_counts(), Default::default());
    assert!(links(&harness).await.is_empty());
    assert!(lease_is_free(&harness).await);
}

#[tokio::test]
async fn a_rejected_token_fails_the_run_once_and_stops_trying() {
    let harness = Harness::new(staff(30));
    harness.lms.set_outage(Some(LmsOutage::TokenRejected));

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.starts_with(
            "the learning platform rejected the token (HTTP 401): invalid token (injected outage); \
             the run stopped trying after 3 failed calls in a row: 0 of 30 planned changes applied"
        ),
        "{error}"
    );
    assert!(record.outcomes.is_empty(), "no row per employee");
    assert_eq!(record.counts.failed, 0);
    assert_eq!(record.counts.not_applied, 30);
    assert!(links(&harness).await.is_empty());
    // The changes in flight when the breaker opened (at most the concurrency), not thirty.
    let concurrency = harness.settings.apply_concurrency;
    assert!(
        harness.lms.refused_calls() <= concurrency + TRIP_AFTER as usize,
        "{} calls",
        harness.lms.refused_calls()
    );

    harness.lms.set_outage(None);
    let fixed = harness.run().await;
    assert_eq!(fixed.status, RunStatus::Succeeded);
    assert_eq!(fixed.counts.created, 30);
}

/// A redirect the network policy refuses (or an address it does not connect to) is the LMS's
/// problem, not any employee's: the breaker opens on it as on a rejected token.
#[tokio::test]
async fn an_lms_that_redirects_every_call_fails_the_run_once() {
    let harness = Harness::new(staff(20));
    harness.lms.set_outage(Some(LmsOutage::Redirected));

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("not connecting to the learning platform: it answered HTTP 308")
            && error.contains("the run stopped trying after 3 failed calls in a row"),
        "{error}"
    );
    assert!(record.outcomes.is_empty(), "no row per employee");
    assert_eq!(record.counts.failed, 0);
    assert!(links(&harness).await.is_empty());

    harness.lms.set_outage(None);
    let fixed = harness.run().await;
    assert_eq!(fixed.status, RunStatus::Succeeded);
    assert_eq!(fixed.counts.created, 20);
}

#[tokio::test]
async fn an_unreachable_lms_leaves_links_and_accounts_untouched() {
    let harness = Harness::new(staff(12));
    harness.run().await;
    let before = links(&harness).await;
    for id in 1..=12 {
        harness.change(id, |employee| employee.position = Some("Lead".into()));
    }
    // Deselected: would be deactivated, if the LMS answered.
    harness.change(12, |employee| select(employee, false));
    harness.lms.set_outage(Some(LmsOutage::Unreachable));

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("the learning platform is unavailable: cannot connect"),
        "{error}"
    );
    assert!(record.outcomes.is_empty(), "{:?}", record.outcomes);
    assert_eq!(record.counts.not_applied, 12);
    assert_eq!(links(&harness).await, before, "links untouched");
    assert!(harness.lms.users().iter().all(|user| user.active));
}

#[tokio::test]
async fn a_single_failed_call_among_answers_stays_that_employees_failure() {
    let harness = Harness::new(staff(6));
    harness
        .lms
        .inject_fault("person3@example.com", LmsFault::Unavailable { times: 50 });

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.created, 5);
    assert_eq!(record.counts.failed, 1);
    assert_eq!(record.counts.not_applied, 0);
    assert_eq!(outcome(&record, 3).action, OutcomeAction::Failed);
}

#[tokio::test]
async fn a_run_that_reaches_its_deadline_is_aborted_with_what_it_did() {
    let (harness, mut request) = slow_harness();
    request.deadline = Deadline::after(Duration::from_millis(300));

    let record = harness.run_request(request).await;

    assert_eq!(record.status, RunStatus::Aborted);
    let error = record.error.clone().unwrap_or_default();
    assert!(error.starts_with("the run reached its deadline"), "{error}");
    assert_eq!(record.counts.failed, 0);
    assert_eq!(record.counts.created + record.counts.not_applied, 6);
    assert_eq!(links(&harness).await.len(), record.counts.created as usize);
    assert!(record.ends_by.is_some());
    assert!(lease_is_free(&harness).await);
}

#[tokio::test(start_paused = true)]
async fn a_run_sized_to_its_work_stops_when_that_time_is_used_up() {
    let mut harness = Harness::new(staff(40));
    harness.settings.apply_concurrency = 1;
    // A create and a group request per new employee (the phased apply's fewest), 60 s each:
    // far over the 10 s a change gets.
    harness.lms.set_latency(Duration::from_secs(30));
    let mut request = harness.request();
    request.sized_to_work = true;

    let record = harness.run_request(request).await;

    assert_eq!(record.status, RunStatus::Aborted);
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("the run used the time sized to its work (8 min 40 s for 40 changes)"),
        "{error}"
    );
    assert!(record.counts.created > 0 && record.counts.not_applied > 0);
    assert_eq!(record.ends_by, None, "no deadline of its own");
}

#[test]
fn the_time_for_changes_grows_with_their_rounds() {
    assert_eq!(time_for_changes(0, 8), Duration::from_secs(120));
    assert_eq!(time_for_changes(80, 8), Duration::from_secs(220));
    assert_eq!(time_for_changes(81, 8), Duration::from_secs(230));
    assert_eq!(time_for_changes(3, 0), Duration::from_secs(150));
}
