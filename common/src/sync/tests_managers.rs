//! Supervisor references: written in the same run as the supervisor's create, remembered when
//! they cannot be, resolved from the links before the LMS is asked, and the rule for a
//! deactivated supervisor.

use super::testing::{employee, select};
use super::tests::{Harness, outcome, reason};
use super::*;
use crate::domain::employee::{Employee, PersonioId, Supervisor};
use crate::domain::link::ManagerLink;
use crate::domain::settings::InactiveManagerRule;
use crate::ports::LinkStore;

fn reporting_to(mut employee: Employee, supervisor: i64) -> Employee {
    employee.supervisor = Some(Supervisor {
        id: Some(PersonioId(supervisor)),
        name: Some(format!("First{supervisor} Last{supervisor}")),
    });
    employee
}

fn person(id: i64) -> Employee {
    employee(id, &format!("person{id}@example.com"))
}

/// A company of `count` in a tree: 1 is the top; n reports to n / 3 (so 2..=3 report to 1, …).
fn hierarchy(count: i64) -> Vec<Employee> {
    (1..=count)
        .map(|id| match id / 3 {
            0 => person(id),
            boss => reporting_to(person(id), boss),
        })
        .collect()
}

/// Every selected employee's LMS manager is their supervisor's LMS user.
fn assert_managers(harness: &Harness, employees: &[Employee]) {
    for employee in employees {
        let user = harness.user_of(employee.email.as_deref().unwrap_or_default());
        let expected = employee
            .supervisor
            .as_ref()
            .and_then(|supervisor| supervisor.id)
            .map(|id| harness.user_of(&format!("person{id}@example.com")).id);
        assert_eq!(user.manager, expected, "manager of {}", employee.id);
    }
}

#[tokio::test(start_paused = true)]
async fn supervisors_created_in_the_same_run_are_referenced_with_creates_answered_out_of_order() {
    let company = hierarchy(40);
    let mut harness = Harness::new(company.clone());
    harness.settings.apply_concurrency = 16;
    harness.settings.groups.by.clear();
    // Of the creates in flight, the last one sent is answered first.
    harness.lms.answer_creates_out_of_order();

    let record = harness.run().await;

    assert_eq!(
        record.status,
        RunStatus::Succeeded,
        "{:#?}",
        record.outcomes
    );
    assert_eq!(record.counts.created, 40);
    assert_managers(&harness, &company);
    // Each reference went with its create: no second write.
    assert_eq!(harness.lms.write_counts().updates, 0);
    for id in 4..=40 {
        let link = harness.link(id).await.expect("linked");
        assert!(
            matches!(link.manager, ManagerLink::Set { .. }),
            "{id}: {:?}",
            link.manager
        );
    }
    assert_eq!(
        harness.lms.read_counts().user_lookups,
        0,
        "all from the run's creates"
    );
}

#[tokio::test]
async fn a_bulk_run_references_supervisors_within_and_across_batches() {
    let company = hierarchy(25);
    let mut harness = Harness::new(company.clone());
    harness.settings.groups.by.clear();
    harness.lms.set_batch_size(Some(4));

    let record = harness.run().await;

    assert_eq!(
        record.status,
        RunStatus::Succeeded,
        "{:#?}",
        record.outcomes
    );
    assert_managers(&harness, &company);
    let writes = harness.lms.write_counts();
    assert_eq!((writes.creates, writes.updates, writes.batches), (25, 0, 7));
}

#[tokio::test]
async fn supervisors_who_supervise_each_other_get_their_references_in_a_second_pass() {
    let company = vec![reporting_to(person(1), 2), reporting_to(person(2), 1)];
    let mut harness = Harness::new(company.clone());
    harness.settings.groups.by.clear();

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_managers(&harness, &company);
    assert_eq!(
        harness.lms.write_counts().updates,
        1,
        "one update for the one written first"
    );
    let second = harness.run().await;
    assert_eq!(second.counts.unchanged, 2);
    assert_eq!(harness.lms.write_counts().total(), 3);
}

#[tokio::test]
async fn a_supervisor_who_gets_an_account_later_is_referenced_then() {
    let mut boss = person(1);
    select(&mut boss, false);
    let company = vec![boss, reporting_to(person(2), 1), reporting_to(person(3), 1)];
    let mut harness = Harness::new(company);
    harness.settings.groups.by.clear();

    let first = harness.run().await;

    assert_eq!(first.counts.created, 2);
    assert_eq!(harness.user_of("person2@example.com").manager, None);
    let link = harness.link(2).await.expect("linked");
    assert_eq!(
        link.manager,
        ManagerLink::Pending {
            supervisor: PersonioId(1)
        }
    );
    // The first sync listed the LMS's users: the unselected supervisor is known to have no
    // account without a lookup.
    assert_eq!(harness.lms.read_counts().user_lookups, 0);

    // Still without an account: a normal run sends the LMS nothing at all…
    let writes = harness.lms.write_counts();
    let reads = harness.lms.read_counts();
    let again = harness.run().await;
    assert_eq!(again.counts.unchanged, 2);
    assert_eq!(harness.lms.read_counts(), reads);
    assert_eq!(harness.lms.write_counts(), writes);
    // …and a reconcile run asks once for both employees, and writes nothing.
    let reconciled = harness.reconcile().await;
    assert_eq!(reconciled.status, RunStatus::Succeeded);
    let lookups = harness.lms.read_counts().user_lookups;
    assert_eq!(lookups, reads.user_lookups + 1);
    assert_eq!(harness.lms.write_counts(), writes);

    harness.change(1, |boss| select(boss, true));
    let later = harness.run().await;

    assert_eq!(later.status, RunStatus::Succeeded, "{:#?}", later.outcomes);
    assert_eq!(later.counts.created, 1);
    assert_eq!(later.counts.updated, 2);
    let boss = harness.user_of("person1@example.com").id;
    for id in [2, 3] {
        let employee = outcome(&later, id);
        assert_eq!(employee.action, OutcomeAction::Updated);
        assert!(reason(employee).contains("supervisor"), "{employee:?}");
        assert_eq!(
            harness.user_of(&format!("person{id}@example.com")).manager,
            Some(boss.clone())
        );
        assert_eq!(
            harness.link(id).await.expect("linked").manager,
            ManagerLink::Set { user: boss.clone() }
        );
    }
    assert_eq!(
        harness.lms.read_counts().user_lookups,
        lookups,
        "no lookup: the run created it"
    );
    let settled = harness.run().await;
    assert_eq!(settled.counts.unchanged, 3);
}

#[tokio::test]
async fn a_supervisor_in_the_lms_but_not_synced_is_found_once_per_run() {
    let mut boss = person(1);
    select(&mut boss, false);
    let harness = Harness::new(vec![
        boss,
        reporting_to(person(2), 1),
        reporting_to(person(3), 1),
        reporting_to(person(4), 1),
    ]);
    let boss_in_lms = harness.lms.seed_user(
        crate::domain::lms::LmsProfile {
            external_id: "1".into(),
            email: "person1@example.com".into(),
            active: true,
            ..Default::default()
        },
        "Admin",
    );

    harness.run().await;

    // The first sync lists the LMS's users (cheaper than a lookup per create): the supervisor
    // is found in that listing, with no lookup at all.
    let reads = harness.lms.read_counts();
    assert_eq!(reads.user_lookups, 0, "{reads:?}");
    assert!(reads.listings > 0, "{reads:?}");
    for id in 2..=4 {
        assert_eq!(
            harness.user_of(&format!("person{id}@example.com")).manager,
            Some(boss_in_lms.clone())
        );
    }
}

async fn deselect_the_supervisor(rule: InactiveManagerRule) -> (Harness, RunRecord) {
    let mut harness = Harness::new(vec![person(1), reporting_to(person(2), 1)]);
    harness.settings.groups.by.clear();
    harness.settings.scim.inactive_manager = rule;
    harness.run().await;
    harness.change(1, |boss| select(boss, false));
    let record = harness.run().await;
    (harness, record)
}

#[tokio::test]
async fn a_deactivated_supervisor_stays_the_manager_under_keep() {
    let (harness, record) = deselect_the_supervisor(InactiveManagerRule::Keep).await;
    assert_eq!(record.counts.deactivated, 1);
    assert_eq!(record.counts.updated, 0);
    let boss = harness.user_of("person1@example.com");
    assert!(!boss.active);
    assert_eq!(
        harness.user_of("person2@example.com").manager,
        Some(boss.id)
    );
}

#[tokio::test]
async fn a_deactivated_supervisor_is_cleared_under_clear_and_restored_when_back() {
    let (harness, record) = deselect_the_supervisor(InactiveManagerRule::Clear).await;
    assert_eq!(record.counts.deactivated, 1);
    assert_eq!(record.counts.updated, 1);
    assert!(reason(outcome(&record, 2)).contains("cleared"));
    assert_eq!(harness.user_of("person2@example.com").manager, None);
    assert_eq!(
        harness.link(2).await.expect("linked").manager,
        ManagerLink::None
    );
    let steady = harness.run().await;
    assert_eq!(steady.counts.updated, 0);

    harness.change(1, |boss| select(boss, true));
    let back = harness.run().await;
    assert_eq!(
        back.counts.updated, 2,
        "reactivated, and the reference restored"
    );
    let boss = harness.user_of("person1@example.com");
    assert_eq!(
        harness.user_of("person2@example.com").manager,
        Some(boss.id)
    );
}

#[tokio::test]
async fn links_from_before_references_were_recorded_write_nothing_new() {
    let harness = Harness::new(vec![person(1), reporting_to(person(2), 1)]);
    harness.run().await;
    // As a link written by an older version reads.
    let mut link = harness.link(2).await.expect("linked");
    let version = link.version;
    link.manager = ManagerLink::Unknown;
    link.version += 1;
    harness
        .store
        .put_link(&link, Some(version))
        .await
        .expect("stored");
    let writes = harness.lms.write_counts();
    let record = harness.run().await;
    assert_eq!(record.counts.unchanged, 2);
    assert_eq!(harness.lms.write_counts(), writes);
}
