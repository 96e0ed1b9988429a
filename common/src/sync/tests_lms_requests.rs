//! How many LMS requests a run makes, and what becomes of one write that fails among many:
//! listing instead of lookups, batches (bulk) with a partially failing one, group members in
//! batches, a field the LMS has no place for, an LMS that keys users by email.

use super::tests::{Harness, outcome, reason, staff};
use super::*;
use crate::lms::memory::{LmsFault, LmsWriteCounts};
use std::collections::BTreeSet;

#[tokio::test]
async fn a_first_sync_lists_once_instead_of_looking_each_user_up() {
    let harness = Harness::new(staff(12));
    let record = harness.run().await;
    assert_eq!(record.counts.created, 12);
    let reads = harness.lms.read_counts();
    assert_eq!(reads.user_lookups, 0);
    assert_eq!(reads.listings, 2, "the users and the groups");

    // One new hire: one listing page (13 users) still beats two lookups; when it does not (a
    // large LMS, see `existing::listing_is_cheaper`), the new hire is looked up.
    let mut company = staff(12);
    company.push(super::testing::employee(13, "person13@example.com"));
    harness.set_employees(company);
    let record = harness.run().await;
    assert_eq!(record.counts.created, 1);
    let reads = harness.lms.read_counts();
    assert_eq!((reads.user_lookups, reads.listings), (0, 4));
}

#[tokio::test]
async fn writes_go_in_batches_and_group_members_in_one_request_per_group() {
    let mut harness = Harness::new(staff(10));
    // Without "Engineer", which this LMS lacks (a missing group is looked up by every run).
    harness.settings.groups.by = BTreeSet::from([
        crate::domain::settings::GroupSource::Department,
        crate::domain::settings::GroupSource::Team,
    ]);
    harness.lms.set_batch_size(Some(4));

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.counts.created, 10);
    assert_eq!(record.counts.groups_added, 20);
    let writes = harness.lms.write_counts();
    assert_eq!(
        writes,
        LmsWriteCounts {
            creates: 10,
            group_adds: 20,
            // Engineering and Platform: one request each.
            group_requests: 2,
            batches: 3,
            batched: 10,
            ..LmsWriteCounts::default()
        }
    );
    assert_eq!(writes.requests(), 5);

    // Nothing changed: no LMS request at all.
    let reads = harness.lms.read_counts();
    let second = harness.run().await;
    assert_eq!(second.counts.unchanged, 10);
    assert_eq!(harness.lms.write_counts(), writes);
    assert_eq!(harness.lms.read_counts(), reads);
}

#[tokio::test]
async fn one_refused_write_in_a_batch_fails_that_employee_only() {
    let harness = Harness::new(staff(6));
    harness.lms.set_batch_size(Some(10));
    harness
        .lms
        .inject_fault("person3@example.com", LmsFault::Rejected);
    harness
        .lms
        .inject_fault("person5@example.com", LmsFault::Unavailable { times: 1 });

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.created, 5);
    assert_eq!(record.counts.failed, 1);
    let refused = outcome(&record, 3);
    assert_eq!(refused.action, OutcomeAction::Failed);
    assert!(reason(refused).contains("refused"), "{refused:?}");
    assert!(harness.link(3).await.is_none());
    // The retryable failure was retried on its own and went through.
    assert_eq!(outcome(&record, 5).action, OutcomeAction::Created);
    assert_eq!(harness.lms.write_counts().batches, 1);

    harness.lms.clear_faults();
    let next = harness.run().await;
    assert_eq!(next.counts.created, 1);
    assert_eq!(next.counts.unchanged, 5);
}

#[tokio::test]
async fn group_members_are_added_in_batches_of_the_configured_size() {
    let mut harness = Harness::new(staff(5));
    harness.settings.scim.group_batch_size = 2;
    harness.run().await;
    // Engineering and Platform, 5 members each, 2 per request: 3 requests each.
    assert_eq!(harness.lms.write_counts().group_requests, 6);
    assert_eq!(harness.lms.members("Engineering").len(), 5);
}

#[tokio::test]
async fn a_refused_member_in_a_group_batch_fails_that_employee_only() {
    let harness = Harness::new(staff(4));
    harness.run().await;
    // The position's group now exists: everyone is to join it, without a profile change.
    harness.lms.seed_group("Engineer");
    harness
        .lms
        .inject_fault("person2@example.com", LmsFault::Rejected);

    let record = harness.run().await;

    assert_eq!(record.counts.failed, 1);
    assert_eq!(record.counts.groups_added, 3);
    let failed = outcome(&record, 2);
    assert!(reason(failed).contains("Engineer"), "{failed:?}");
    assert_eq!(harness.lms.members("Engineer").len(), 3);
    for id in [1, 3, 4] {
        assert_eq!(
            outcome(&record, id).groups_added,
            vec!["Engineer".to_owned()]
        );
    }
    harness.lms.clear_faults();
    let next = harness.run().await;
    assert_eq!(next.counts.groups_added, 1);
}

#[tokio::test]
async fn a_field_the_lms_has_no_place_for_is_noted_once_per_run() {
    let mut harness = Harness::new(staff(3));
    harness.settings.groups.by.clear();
    harness.lms.set_unsupported_fields(["status", "team"]);
    let record = harness.run().await;
    assert_eq!(record.status, RunStatus::Succeeded);
    let noted: Vec<&String> = record
        .notices
        .iter()
        .filter(|notice| notice.starts_with("status:") || notice.starts_with("team:"))
        .collect();
    assert_eq!(noted.len(), 2, "{:?}", record.notices);
    // A run with nothing to write asks the LMS nothing, so it notes nothing.
    let quiet = harness.run().await;
    assert!(
        quiet
            .notices
            .iter()
            .all(|notice| !notice.starts_with("status:"))
    );
}

#[tokio::test]
async fn an_email_change_on_an_lms_that_keys_users_by_email_is_reported_as_a_manual_step() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    harness.lms.set_email_changes_by_hand(true);
    harness.change(1, |employee| {
        employee.email = Some("renamed@example.com".into());
        employee.position = Some("Lead".into());
    });

    let record = harness.run().await;

    let changed = outcome(&record, 1);
    assert_eq!(changed.action, OutcomeAction::Failed);
    assert!(reason(changed).contains("by hand"), "{changed:?}");
    assert!(reason(changed).contains("renamed@example.com"));
    let user = harness.user_of("person1@example.com");
    assert_eq!(
        user.profile.title.as_deref(),
        Some("Lead"),
        "the rest is written"
    );
    // Reported again by the next run, until the LMS admin changes it.
    let again = harness.run().await;
    assert_eq!(outcome(&again, 1).action, OutcomeAction::Failed);
    harness.lms.edit_user(&user.id, |user| {
        user.profile.email = "renamed@example.com".into();
    });
    let fixed = harness.run().await;
    assert_eq!(outcome(&fixed, 1).action, OutcomeAction::Updated);
    assert_eq!(
        harness.link(1).await.expect("linked").email,
        "renamed@example.com"
    );
}

#[tokio::test]
async fn an_unreachable_lms_fails_the_run_once() {
    let harness = Harness::new(staff(3));
    harness.lms.set_unreachable(true);
    let record = harness.run().await;
    assert_eq!(record.status, RunStatus::Failed);
    assert!(record.outcomes.is_empty(), "{:?}", record.outcomes);
    assert!(
        record.error.as_deref().is_some_and(|error| error
            .starts_with("the learning platform is unavailable")
            && error.ends_with("; nothing was changed")),
        "{record:?}"
    );
}
