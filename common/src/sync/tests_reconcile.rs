//! The reconcile run: what an LMS admin changed by hand is repaired and reported as such; a
//! normal run does not look.

use super::tests::{Harness, outcome, reason, staff};
use super::*;
use crate::domain::run::RunKind;
use crate::domain::settings::GroupSource;
use crate::lms::memory::LmsWriteCounts;

/// Groups by department and team, which this LMS has (a missing group makes every run look).
fn harness(count: i64) -> Harness {
    let mut harness = Harness::new(staff(count));
    harness.settings.groups.by = [GroupSource::Department, GroupSource::Team].into();
    harness
}

impl Harness {
    pub(super) async fn reconcile(&self) -> RunRecord {
        let mut request = self.request();
        request.kind = RunKind::Reconcile;
        self.run_request(request).await
    }
}

#[tokio::test]
async fn a_reconcile_repairs_what_was_changed_by_hand_and_says_so() {
    let harness = harness(6);
    harness.run().await;
    let deleted = harness.user_of("person1@example.com");
    harness.lms.remove_user(&deleted.id);
    let deactivated = harness.user_of("person2@example.com").id;
    harness
        .lms
        .edit_user(&deactivated, |user| user.active = false);
    let edited = harness.user_of("person3@example.com").id;
    harness.lms.edit_user(&edited, |user| {
        user.profile.title = Some("Hand-made".into())
    });
    let ungrouped = harness.user_of("person4@example.com").id;
    harness.lms.remove_member("Platform", &ungrouped);

    // A normal run neither looks nor repairs.
    let reads = harness.lms.read_counts();
    let normal = harness.run().await;
    assert_eq!(normal.counts.unchanged, 6);
    assert_eq!(harness.lms.read_counts(), reads);

    let record = harness.reconcile().await;

    assert_eq!(record.kind, RunKind::Reconcile);
    assert_eq!(
        record.status,
        RunStatus::Succeeded,
        "{:#?}",
        record.outcomes
    );
    assert_eq!(record.counts.repaired, 4);
    assert_eq!(record.counts.unchanged, 2);
    for id in 1..=4 {
        assert_eq!(outcome(&record, id).action, OutcomeAction::Repaired);
    }
    assert!(reason(outcome(&record, 1)).contains("deleted"));
    assert!(reason(outcome(&record, 2)).contains("active"));
    assert!(reason(outcome(&record, 3)).contains("title"));
    assert!(reason(outcome(&record, 4)).contains("Platform"));

    let recreated = harness.user_of("person1@example.com");
    assert_ne!(recreated.id, deleted.id);
    let link = harness.link(1).await.expect("linked");
    assert_eq!(link.lms_user_id, recreated.id);
    assert_eq!(
        harness.lms.groups_of(&recreated.id),
        ["Engineering", "Platform"].map(str::to_owned).into()
    );
    assert!(harness.user_of("person2@example.com").active);
    assert_eq!(
        harness
            .user_of("person3@example.com")
            .profile
            .title
            .as_deref(),
        Some("Engineer")
    );
    assert!(harness.lms.members("Platform").contains(&ungrouped));

    // Repaired: the next reconcile finds nothing to do.
    let writes = harness.lms.write_counts();
    let again = harness.reconcile().await;
    assert_eq!(again.counts.repaired, 0);
    assert_eq!(again.counts.unchanged, 6);
    assert_eq!(harness.lms.write_counts(), writes);
}

#[tokio::test]
async fn a_deselected_account_activated_by_hand_is_deactivated_again() {
    let harness = harness(3);
    harness.run().await;
    harness.change(3, |employee| super::testing::select(employee, false));
    harness.run().await;
    let user = harness.user_of("person3@example.com").id;
    harness.lms.edit_user(&user, |user| user.active = true);

    let record = harness.reconcile().await;

    assert_eq!(record.counts.repaired, 1);
    assert!(reason(outcome(&record, 3)).contains("deactivated again"));
    assert!(!harness.user_of("person3@example.com").active);
    assert_eq!(
        harness.lms.write_counts(),
        LmsWriteCounts {
            creates: 3,
            deactivations: 2,
            group_adds: 6,
            group_requests: 2,
            ..LmsWriteCounts::default()
        }
    );
}

#[tokio::test]
async fn a_dry_reconcile_reports_the_repairs_and_writes_nothing() {
    let harness = harness(2);
    harness.run().await;
    let user = harness.user_of("person1@example.com").id;
    harness.lms.edit_user(&user, |user| user.active = false);
    let writes = harness.lms.write_counts();
    let mut request = harness.request();
    request.kind = RunKind::Reconcile;
    request.dry_run = true;
    let record = harness.run_request(request).await;
    assert_eq!(record.counts.repaired, 1);
    assert_eq!(harness.lms.write_counts(), writes);
    assert!(!harness.user_of("person1@example.com").active);
}

#[tokio::test]
async fn a_deleted_user_whose_manager_is_pending_is_set_up_again() {
    let harness = harness(2);
    harness.change(2, |employee| {
        employee.supervisor = Some(crate::domain::employee::Supervisor {
            id: Some(crate::domain::employee::PersonioId(99)),
            name: None,
        })
    });
    harness.run().await;
    let user = harness.user_of("person2@example.com").id;
    harness.lms.remove_user(&user);

    let record = harness.reconcile().await;

    assert_eq!(outcome(&record, 2).action, OutcomeAction::Repaired);
    assert!(reason(outcome(&record, 2)).contains("deleted"));
    assert_ne!(harness.user_of("person2@example.com").id, user);
}
