//! Targeted runs (just the named employees) and the confirmation of departures (an employee
//! missing from the listing is read by itself before being deactivated).

use super::*;
use crate::domain::run::RunKind;

fn targeted(harness: &Harness, ids: &[i64]) -> SyncRequest {
    let mut request = harness.request();
    request.scope = SyncScope::Employees(ids.iter().copied().map(PersonioId).collect());
    request
}

#[tokio::test]
async fn a_targeted_run_syncs_just_the_named_employees() {
    let harness = Harness::new(staff(4));
    harness.run().await;
    harness.change(1, |employee| employee.position = Some("Lead".into()));
    harness.change(2, |employee| select(employee, false));
    harness.change(3, |employee| select(employee, false));
    harness.hr.update_employees(|employees| {
        employees.push(Ok(employee(5, "person5@example.com")));
    });
    let pages = harness.hr.pages_served();

    let record = harness.run_request(targeted(&harness, &[1, 2, 5])).await;

    assert_eq!(record.kind, RunKind::Targeted);
    assert_eq!(record.targets, [1, 2, 5].map(PersonioId));
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(harness.hr.pages_served(), pages, "no listing");
    assert_eq!(harness.hr.single_reads(), 3);
    assert_eq!(outcome(&record, 1).action, OutcomeAction::Updated);
    assert_eq!(outcome(&record, 2).action, OutcomeAction::Deactivated);
    assert_eq!(reason(outcome(&record, 2)), "deselected in Personio");
    assert_eq!(outcome(&record, 5).action, OutcomeAction::Created);
    assert!(outcome(&record, 5).invited);
    assert_eq!(record.outcomes.len(), 3, "{:?}", record.outcomes);
    // Employee 3 is deselected too, but was not named: still active.
    assert!(harness.user_of("person3@example.com").active);
    assert!(harness.link(3).await.unwrap().active);
    assert!(!harness.user_of("person2@example.com").active);
    // The lease was taken and released.
    let integration = IntegrationId::new(INTEGRATION);
    assert_eq!(harness.store.lease(&integration).await.unwrap(), None);
}

#[tokio::test]
async fn a_targeted_run_says_why_nothing_happens() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    harness.change(2, |employee| select(employee, false));
    harness.run().await;
    harness.hr.update_employees(|employees| {
        let mut unselected = employee(7, "person7@example.com");
        select(&mut unselected, false);
        employees.push(Ok(unselected));
    });

    let record = harness
        .run_request(targeted(&harness, &[1, 2, 7, 99]))
        .await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(outcome(&record, 1).action, OutcomeAction::Unchanged);
    assert_eq!(reason(outcome(&record, 1)), "the LMS account is up to date");
    assert_eq!(outcome(&record, 2).action, OutcomeAction::Unchanged);
    assert_eq!(
        reason(outcome(&record, 2)),
        "deselected in Personio; the LMS account is already deactivated"
    );
    assert_eq!(outcome(&record, 7).action, OutcomeAction::Skipped);
    assert_eq!(
        reason(outcome(&record, 7)),
        "not selected in Personio (LMS Sync is \"nein\")"
    );
    assert_eq!(outcome(&record, 7).name.as_deref(), Some("First7 Last7"));
    assert_eq!(
        reason(outcome(&record, 99)),
        "Personio has no employee with this id"
    );
    assert_eq!(record.counts.unchanged, 2);
    assert_eq!(record.counts.skipped, 2);
}

#[tokio::test]
async fn a_named_employee_deleted_in_personio_is_deactivated_and_nobody_else() {
    let harness = Harness::new(staff(4));
    harness.run().await;
    // 2 and 3 are deleted; only 2 is named (as a webhook for 2 would).
    harness.set_employees(vec![
        employee(1, "person1@example.com"),
        employee(4, "person4@example.com"),
    ]);

    let record = harness.run_request(targeted(&harness, &[2])).await;

    assert_eq!(outcome(&record, 2).action, OutcomeAction::Deactivated);
    assert_eq!(reason(outcome(&record, 2)), "no longer in Personio");
    assert_eq!(outcome(&record, 2).name.as_deref(), Some("First2 Last2"));
    assert!(!harness.user_of("person2@example.com").active);
    assert!(harness.user_of("person3@example.com").active);
    assert_eq!(harness.lms.write_counts().deactivations, 1);
}

#[tokio::test]
async fn a_targeted_run_waits_for_no_one_and_takes_the_lease() {
    let harness = Harness::new(staff(2));
    harness.take_lease("full run").await;
    let outcome = harness
        .engine
        .run(targeted(&harness, &[1]), &NoProgress)
        .await
        .unwrap();
    assert!(
        matches!(&outcome, SyncOutcome::LeaseHeld { holder, .. } if holder == "full run"),
        "{outcome:?}"
    );
    assert!(harness.lms.users().is_empty());
}

#[tokio::test]
async fn a_failed_read_fails_a_targeted_run_as_a_whole() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    harness.hr.fail_single_reads(Some("HTTP 503"));
    harness.change(1, |employee| select(employee, false));

    let record = harness.run_request(targeted(&harness, &[1, 2])).await;

    assert_eq!(record.status, RunStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|error| error.contains("reading employee 1")
                && error.contains("nothing was changed")),
        "{:?}",
        record.error
    );
    assert!(harness.user_of("person1@example.com").active);
}

#[tokio::test]
async fn an_employee_missed_by_a_shifted_listing_keeps_the_account() {
    let harness = Harness::new(staff(6));
    harness.run().await;
    // Employee 4 is still in Personio, but the listing skipped it (its page shifted).
    harness.hr.hide_from_listing([4]);

    let record = harness.run().await;

    assert_eq!(record.counts.deactivated, 0);
    assert_eq!(record.status, RunStatus::Succeeded);
    let kept = outcome(&record, 4);
    assert_eq!(kept.action, OutcomeAction::Unchanged);
    assert_eq!(
        reason(kept),
        "missing from Personio's listing, but a read of the employee found it (the listing \
         shifted while it was paged); the account was kept"
    );
    assert_eq!(kept.name.as_deref(), Some("First4 Last4"));
    assert!(harness.user_of("person4@example.com").active);
    assert!(harness.link(4).await.unwrap().active);
    assert_eq!(harness.hr.single_reads(), 1, "only the missing one is read");
}

#[tokio::test]
async fn a_missed_employee_who_is_deselected_is_deactivated_as_such() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    harness.change(2, |employee| select(employee, false));
    harness.hr.hide_from_listing([2]);

    let record = harness.run().await;

    assert_eq!(outcome(&record, 2).action, OutcomeAction::Deactivated);
    assert_eq!(reason(outcome(&record, 2)), "deselected in Personio");
}

#[tokio::test]
async fn a_departure_that_cannot_be_confirmed_is_held_back() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    harness.set_employees(staff(2));
    harness.hr.fail_single_reads(Some("HTTP 503"));

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    let held = outcome(&record, 3);
    assert_eq!(held.action, OutcomeAction::HeldBack);
    assert!(
        reason(held).starts_with(
            "not deactivated: missing from Personio's listing, but reading the employee to \
             confirm it failed"
        ) && reason(held).contains("HTTP 503"),
        "{held:?}"
    );
    assert!(harness.user_of("person3@example.com").active);

    harness.hr.fail_single_reads(None);
    let record = harness.run().await;
    assert_eq!(outcome(&record, 3).action, OutcomeAction::Deactivated);
}

#[tokio::test]
async fn a_dry_run_confirms_departures_the_same_way() {
    let harness = Harness::new(staff(4));
    harness.run().await;
    harness.hr.hide_from_listing([2]);
    harness.set_employees(staff(3));

    let plan = harness.dry_run().await;

    assert_eq!(outcome(&plan, 2).action, OutcomeAction::Unchanged);
    assert_eq!(
        reason(outcome(&plan, 2)),
        "missing from Personio's listing, but a read of the employee found it (the listing \
         shifted while it was paged); the account would be kept"
    );
    assert_eq!(outcome(&plan, 4).action, OutcomeAction::Deactivated);
    assert_eq!(harness.lms.write_counts().deactivations, 0);
}
