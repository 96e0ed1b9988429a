//! The sync engine's rules, each against the in-memory LMS, store and notifier.

use super::testing::{StaticHrSource, employee, select, set_custom};
use super::*;
use crate::domain::employee::{Employee, EmployeeParseError, PersonioId};
use crate::domain::lms::LmsProfile;
use crate::domain::settings::GroupSource;
use crate::lms::memory::{LmsFault, MemoryLms};
use crate::notify::MemoryNotifier;
use crate::ports::{LeaseStore, LinkStore, RunStore};
use crate::progress::NoProgress;
use crate::store::MemoryStore;
use chrono::NaiveDate;
use std::collections::BTreeSet;

mod semantics;
mod targeted;

const INTEGRATION: &str = "acme";

struct Harness {
    hr: Arc<StaticHrSource>,
    lms: Arc<MemoryLms>,
    store: Arc<MemoryStore>,
    notifier: Arc<MemoryNotifier>,
    engine: SyncEngine,
    settings: IntegrationSettings,
}

fn settings() -> IntegrationSettings {
    let mut settings = IntegrationSettings::new(testing::SELECTION_LABEL);
    // "Engineer" (the position) has no LMS group: every run meets a missing group.
    settings.groups.by = BTreeSet::from([
        GroupSource::Department,
        GroupSource::Team,
        GroupSource::Position,
    ]);
    settings.notifications.invite_new_users = true;
    settings
}

fn staff(count: i64) -> Vec<Employee> {
    (1..=count)
        .map(|id| employee(id, &format!("person{id}@example.com")))
        .collect()
}

impl Harness {
    fn new(employees: Vec<Employee>) -> Self {
        Self::with_results(employees.into_iter().map(Ok).collect())
    }

    fn with_results(employees: Vec<Result<Employee, EmployeeParseError>>) -> Self {
        let hr = Arc::new(StaticHrSource::with_page_size(employees, 2));
        let lms = Arc::new(MemoryLms::with_groups(["Engineering", "Platform", "Sales"]));
        let store = Arc::new(MemoryStore::new());
        let notifier = Arc::new(MemoryNotifier::new());
        let engine = SyncEngine::new(hr.clone(), lms.clone(), store.clone(), notifier.clone())
            .with_retry(Backoff {
                base: Duration::from_millis(1),
                cap: Duration::from_millis(2),
                max_attempts: 4,
            });
        Self {
            hr,
            lms,
            store,
            notifier,
            engine,
            settings: settings(),
        }
    }

    fn request(&self) -> SyncRequest {
        SyncRequest::new(
            IntegrationId::new(INTEGRATION),
            self.settings.clone(),
            Trigger::Manual,
        )
    }

    async fn run(&self) -> RunRecord {
        self.run_request(self.request()).await
    }

    async fn dry_run(&self) -> RunRecord {
        let mut request = self.request();
        request.dry_run = true;
        self.run_request(request).await
    }

    async fn run_request(&self, request: SyncRequest) -> RunRecord {
        match self.engine.run(request, &NoProgress).await.unwrap() {
            SyncOutcome::Completed(record) => record,
            other => panic!("expected a completed run, got {other:?}"),
        }
    }

    fn set_employees(&self, employees: Vec<Employee>) {
        self.hr
            .set_employees(employees.into_iter().map(Ok).collect());
    }

    fn change(&self, id: i64, change: impl FnOnce(&mut Employee)) {
        self.hr.update_employees(|employees| {
            if let Some(Ok(employee)) = employees
                .iter_mut()
                .find(|e| e.as_ref().is_ok_and(|e| e.id == PersonioId(id)))
            {
                change(employee);
            }
        });
    }

    async fn link(&self, id: i64) -> Option<crate::domain::link::EmployeeLink> {
        self.store
            .link(&IntegrationId::new(INTEGRATION), PersonioId(id))
            .await
            .unwrap()
    }

    /// Another run takes the lease, as `holder`, for five minutes.
    async fn take_lease(&self, holder: &str) {
        let taken = self
            .store
            .acquire_lease(
                &IntegrationId::new(INTEGRATION),
                holder,
                Utc::now(),
                chrono::Duration::minutes(5),
            )
            .await
            .unwrap();
        assert!(matches!(taken, LeaseOutcome::Acquired(_)));
    }

    fn user_of(&self, email: &str) -> crate::lms::memory::MemoryLmsUser {
        self.lms
            .user_by_email(email)
            .unwrap_or_else(|| panic!("no LMS user {email}"))
    }
}

fn outcome(record: &RunRecord, id: i64) -> &EmployeeOutcome {
    record
        .outcomes
        .iter()
        .find(|outcome| outcome.personio_id == Some(PersonioId(id)))
        .unwrap_or_else(|| panic!("no outcome for {id} in {:#?}", record.outcomes))
}

fn reason(outcome: &EmployeeOutcome) -> &str {
    outcome.reason.as_deref().unwrap_or_default()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn first_sync_creates_users_with_groups_and_invitations() {
    let harness = Harness::new(staff(3));
    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(
        record.counts,
        RunCounts {
            created: 3,
            groups_added: 6,
            invitations: 3,
            ..RunCounts::default()
        }
    );
    for id in 1..=3 {
        let email = format!("person{id}@example.com");
        let user = harness.user_of(&email);
        assert_eq!(user.role, crate::domain::lms::DEFAULT_ROLE);
        assert!(user.active);
        assert_eq!(user.profile.external_id, id.to_string());
        assert_eq!(
            harness.lms.groups_of(&user.id),
            BTreeSet::from(["Engineering".to_owned(), "Platform".to_owned()])
        );
        let link = harness.link(id).await.unwrap();
        assert_eq!(link.lms_user_id, user.id);
        // Written with the account, then again with the invitation.
        assert_eq!(link.version, 2);
        assert!(link.active);
        assert_eq!(link.profile_hash, profile_hash(&user.profile));
        assert_eq!(link.profile.as_ref(), Some(&user.profile));
        assert!(link.invited_at.is_some());
        assert!(!link.invitation_pending);
        assert_eq!(outcome(&record, id).action, OutcomeAction::Created);
        assert!(outcome(&record, id).invited);
    }
    let invitations = harness.notifier.sent();
    assert_eq!(invitations.len(), 3);
    assert!(
        invitations
            .iter()
            .any(|email| email.to == "person2@example.com" && email.text.contains("First2 Last2"))
    );
    // The run is stored, with the missing "Engineer" group reported exactly once.
    let stored = harness
        .store
        .run(&record.integration_id, &record.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, record);
    let missing: Vec<_> = record
        .notices
        .iter()
        .filter(|notice| notice.contains("\"Engineer\""))
        .collect();
    assert_eq!(missing.len(), 1, "{:?}", record.notices);
}

#[tokio::test]
async fn a_no_change_resync_writes_nothing_but_its_run_record() {
    let harness = Harness::new(staff(5));
    harness.run().await;
    let lms_before = harness.lms.write_counts();
    let store_before = harness.store.stats();
    let pages_before = harness.hr.pages_served();

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(
        record.counts,
        RunCounts {
            unchanged: 5,
            ..RunCounts::default()
        }
    );
    assert!(record.outcomes.is_empty());
    assert_eq!(harness.lms.write_counts(), lms_before);
    let store_after = harness.store.stats();
    assert_eq!(store_after.link_writes, store_before.link_writes);
    // The record at the start and at the end.
    assert_eq!(store_after.run_writes, store_before.run_writes + 2);
    assert_eq!(harness.hr.pages_served(), pages_before + 3);
    assert_eq!(harness.notifier.sent().len(), 5, "no new invitations");
}

#[tokio::test]
async fn a_changed_employee_is_updated_and_only_that_one() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    let before = harness.lms.write_counts();
    harness.change(2, |employee| employee.last_name = Some("Renamed".into()));

    let record = harness.run().await;

    assert_eq!(record.counts.updated, 1);
    assert_eq!(record.counts.unchanged, 2);
    assert_eq!(outcome(&record, 2).action, OutcomeAction::Updated);
    let user = harness.user_of("person2@example.com");
    assert_eq!(user.profile.last_name.as_deref(), Some("Renamed"));
    assert_eq!(
        outcome(&record, 2).change_lines(),
        [
            "~ last_name: Last2 → Renamed",
            "~ display_name: First2 Last2 → First2 Renamed"
        ]
    );
    assert_eq!(outcome(&record, 2).reason, None, "the changes say it all");
    let link = harness.link(2).await.unwrap();
    assert_eq!(link.version, 3);
    assert_eq!(link.profile.as_ref(), Some(&user.profile));
    assert_eq!(harness.lms.write_counts().updates, before.updates + 1);
    assert_eq!(harness.lms.write_counts().creates, before.creates);
}

#[tokio::test]
async fn an_email_change_updates_the_same_lms_user() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    let user_id = harness.user_of("person1@example.com").id;
    harness.change(1, |employee| {
        employee.email = Some("new.name@example.com".into())
    });

    let record = harness.run().await;

    assert_eq!(record.counts.updated, 1);
    assert!(
        outcome(&record, 1)
            .change_lines()
            .contains(&"~ email: person1@example.com → new.name@example.com".to_owned()),
        "{:?}",
        outcome(&record, 1)
    );
    assert_eq!(harness.user_of("new.name@example.com").id, user_id);
    assert!(harness.lms.user_by_email("person1@example.com").is_none());
    assert_eq!(harness.lms.users().len(), 2);
    assert_eq!(harness.link(1).await.unwrap().email, "new.name@example.com");
}

#[tokio::test]
async fn an_existing_lms_user_is_adopted_by_email_case_insensitively() {
    let harness = Harness::new(staff(1));
    let existing = harness.lms.seed_user(
        LmsProfile {
            email: "PERSON1@Example.COM".into(),
            status: "Active".into(),
            active: true,
            ..LmsProfile::default()
        },
        "Admin",
    );

    let record = harness.run().await;

    assert_eq!(record.counts.adopted, 1);
    assert_eq!(record.counts.created, 0);
    assert_eq!(
        record.counts.invitations, 0,
        "adopted users are not invited"
    );
    let user = harness.lms.user(&existing).unwrap();
    assert_eq!(user.profile.external_id, "1");
    assert_eq!(user.profile.email, "person1@example.com");
    assert_eq!(user.role, "Admin", "the role is only set on create");
    assert_eq!(harness.link(1).await.unwrap().lms_user_id, existing);
    assert_eq!(harness.lms.write_counts().creates, 0);
    assert_eq!(harness.lms.users().len(), 1);
}

#[tokio::test]
async fn updates_never_touch_the_role() {
    let harness = Harness::new(staff(1));
    harness.run().await;
    let user = harness.user_of("person1@example.com");
    harness.lms.set_role(&user.id, "Trainer").unwrap();
    harness.change(1, |employee| employee.position = Some("Lead".into()));

    let record = harness.run().await;

    assert_eq!(record.counts.updated, 1);
    let user = harness.lms.user(&user.id).unwrap();
    assert_eq!(user.role, "Trainer");
    assert_eq!(user.profile.title.as_deref(), Some("Lead"));
}

#[tokio::test]
async fn a_deselected_employee_is_deactivated_once_and_never_deleted() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    harness.change(2, |employee| select(employee, false));

    let record = harness.run().await;

    assert_eq!(record.counts.deactivated, 1);
    assert_eq!(outcome(&record, 2).action, OutcomeAction::Deactivated);
    assert!(reason(outcome(&record, 2)).contains("deselected"));
    let user = harness.user_of("person2@example.com");
    assert!(!user.active);
    assert!(!harness.link(2).await.unwrap().active);

    let deactivations = harness.lms.write_counts().deactivations;
    let again = harness.run().await;
    assert_eq!(again.counts.deactivated, 0);
    assert_eq!(harness.lms.write_counts().deactivations, deactivations);
    assert_eq!(harness.lms.users().len(), 3);
}

#[tokio::test]
async fn an_employee_gone_from_personio_is_deactivated() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    harness.set_employees(staff(2));

    let record = harness.run().await;

    assert_eq!(record.counts.deactivated, 1);
    assert_eq!(
        reason(outcome(&record, 3)),
        "no longer in Personio (not listed, and a read of the employee found none)"
    );
    assert_eq!(outcome(&record, 3).name.as_deref(), Some("First3 Last3"));
    assert!(!harness.user_of("person3@example.com").active);
}

#[tokio::test]
async fn a_reselected_employee_is_reactivated_through_update() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    harness.change(1, |employee| select(employee, false));
    harness.run().await;
    assert!(!harness.user_of("person1@example.com").active);
    harness.change(1, |employee| select(employee, true));

    let record = harness.run().await;

    assert_eq!(record.counts.updated, 1);
    assert!(reason(outcome(&record, 1)).contains("reactivated"));
    assert!(harness.user_of("person1@example.com").active);
    let link = harness.link(1).await.unwrap();
    assert!(link.active);
    assert_eq!(link.version, 4);
    assert_eq!(harness.lms.users().len(), 2);
}

#[tokio::test]
async fn the_guard_holds_back_a_mass_deactivation_and_the_rest_proceeds() {
    let harness = Harness::new(staff(20));
    harness.run().await;
    // 11 of 20 gone (more than 10 and more than 20 %), one new employee.
    let mut remaining: Vec<Employee> = staff(9);
    remaining.push(employee(99, "new@example.com"));
    harness.set_employees(remaining);
    let deactivations = harness.lms.write_counts().deactivations;

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.held_back, 11);
    assert_eq!(record.counts.deactivated, 0);
    assert_eq!(record.counts.created, 1);
    assert_eq!(harness.lms.write_counts().deactivations, deactivations);
    assert!(harness.user_of("person15@example.com").active);
    assert!(harness.link(15).await.unwrap().active);
    assert_eq!(outcome(&record, 15).action, OutcomeAction::HeldBack);
    assert!(
        record
            .notices
            .iter()
            .any(|notice| notice.contains("deactivation guard") && notice.contains("11 of 20"))
    );
}

#[tokio::test]
async fn the_guard_lets_a_small_deactivation_through() {
    let harness = Harness::new(staff(20));
    harness.run().await;
    harness.set_employees(staff(10));
    let record = harness.run().await;
    assert_eq!(record.counts.deactivated, 10);
    assert_eq!(record.counts.held_back, 0);
}

#[tokio::test]
async fn employees_sharing_an_email_are_both_skipped() {
    let mut employees = staff(3);
    employees[1].email = Some("Shared@example.com".into());
    employees[2].email = Some("shared@EXAMPLE.com".into());
    let harness = Harness::new(employees);

    let record = harness.run().await;

    assert_eq!(record.counts.created, 1);
    assert_eq!(record.counts.skipped, 2);
    assert_eq!(outcome(&record, 2).action, OutcomeAction::Skipped);
    assert!(reason(outcome(&record, 2)).contains("also used by Personio employee(s) 3"));
    assert!(reason(outcome(&record, 3)).contains("also used by Personio employee(s) 2"));
    assert_eq!(harness.lms.users().len(), 1);
    assert!(harness.link(2).await.is_none());
}

#[tokio::test]
async fn an_employee_without_email_is_skipped_and_reported() {
    let mut employees = staff(2);
    employees[0].email = None;
    let harness = Harness::new(employees);

    let record = harness.run().await;

    assert_eq!(record.counts.skipped, 1);
    assert_eq!(record.counts.created, 1);
    assert_eq!(reason(outcome(&record, 1)), "no email address in Personio");
    assert_eq!(record.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn an_unparseable_employee_is_reported_and_not_deactivated() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    let mut employees: Vec<Result<Employee, EmployeeParseError>> =
        staff(3).into_iter().map(Ok).collect();
    employees[1] = Err(EmployeeParseError {
        employee_id: Some(PersonioId(2)),
        name: None,
        field: "status".into(),
        reason: "unknown status \"retired\"".into(),
    });
    harness.hr.set_employees(employees);

    let record = harness.run().await;

    assert_eq!(record.counts.deactivated, 0);
    assert_eq!(record.counts.skipped, 1);
    assert_eq!(record.counts.unchanged, 2);
    let skipped = outcome(&record, 2);
    assert_eq!(skipped.action, OutcomeAction::Skipped);
    assert!(reason(skipped).contains("`status`"));
    assert!(harness.user_of("person2@example.com").active);
    assert!(harness.link(2).await.unwrap().active);
}

#[tokio::test]
async fn an_employee_without_readable_id_blocks_gone_deactivations() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    let mut employees: Vec<Result<Employee, EmployeeParseError>> =
        staff(2).into_iter().map(Ok).collect();
    employees[0] = Ok({
        let mut deselected = employee(1, "person1@example.com");
        select(&mut deselected, false);
        deselected
    });
    employees.push(Err(EmployeeParseError {
        employee_id: None,
        name: None,
        field: "id".into(),
        reason: "missing".into(),
    }));
    harness.hr.set_employees(employees);

    let record = harness.run().await;

    // Employee 1 is known to be deselected; employee 3 might be the unreadable one.
    assert_eq!(outcome(&record, 1).action, OutcomeAction::Deactivated);
    assert_eq!(outcome(&record, 3).action, OutcomeAction::HeldBack);
    assert!(harness.user_of("person3@example.com").active);
}

#[tokio::test]
async fn a_rejected_employee_does_not_stop_the_others() {
    let harness = Harness::new(staff(3));
    harness
        .lms
        .inject_fault("person2@example.com", LmsFault::Rejected);

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.created, 2);
    assert_eq!(record.counts.failed, 1);
    let failed = outcome(&record, 2);
    assert_eq!(failed.action, OutcomeAction::Failed);
    assert!(reason(failed).contains("HTTP 400"), "{failed:?}");
    assert!(harness.link(2).await.is_none());

    harness.lms.clear_faults();
    let retried = harness.run().await;
    assert_eq!(retried.counts.created, 1);
    assert_eq!(retried.counts.unchanged, 2);
}

#[tokio::test]
async fn a_retryable_failure_is_retried_within_the_run() {
    let harness = Harness::new(staff(2));
    harness
        .lms
        .inject_fault("person1@example.com", LmsFault::Unavailable { times: 2 });

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.counts.created, 2);
    assert_eq!(record.counts.failed, 0);
    assert!(harness.link(1).await.is_some());
}

#[tokio::test]
async fn a_failed_listing_fails_the_run_and_deactivates_nobody() {
    let harness = Harness::new(staff(6));
    harness.run().await;
    let before = harness.lms.write_counts();
    let links_before = harness.store.stats().link_writes;
    // Only the first page (two employees) arrives; the other four must not look gone.
    harness.hr.fail_after_pages(Some(1));

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("Personio") && error.contains("after 1 page"),
        "{error}"
    );
    assert_eq!(record.counts, RunCounts::default());
    assert_eq!(harness.lms.write_counts(), before);
    assert_eq!(harness.store.stats().link_writes, links_before);
    assert!(harness.user_of("person6@example.com").active);
    let stored = harness
        .store
        .run(&record.integration_id, &record.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, RunStatus::Failed);
    // The lease was released: the next run goes ahead.
    harness.hr.fail_after_pages(None);
    assert_eq!(harness.run().await.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_run_finding_the_lease_held_exits_cleanly() {
    let harness = Harness::new(staff(2));
    let integration = IntegrationId::new(INTEGRATION);
    harness.take_lease("scheduled-run-7").await;

    let outcome = harness
        .engine
        .run(harness.request(), &NoProgress)
        .await
        .unwrap();

    match outcome {
        SyncOutcome::LeaseHeld { holder, expires_at } => {
            assert_eq!(holder, "scheduled-run-7");
            assert!(expires_at > Utc::now());
        }
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    assert_eq!(harness.lms.write_counts().total(), 0);
    assert!(
        harness
            .store
            .runs(&integration, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_dry_run_plans_the_same_and_writes_only_its_record() {
    let mut employees = staff(4);
    employees[3].email = None;
    let harness = Harness::new(employees);

    let plan = harness.dry_run().await;

    assert!(plan.dry_run);
    assert_eq!(harness.lms.write_counts().total(), 0);
    assert_eq!(harness.store.stats().link_writes, 0);
    assert!(harness.notifier.sent().is_empty());
    assert!(harness.lms.users().is_empty());
    let stored = harness
        .store
        .run(&plan.integration_id, &plan.run_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.dry_run);

    let real = harness.run().await;
    assert_eq!(plan.counts, real.counts);
    assert_eq!(plan.notices, real.notices);
    assert_eq!(plan.outcomes, real.outcomes);

    // A dry run over existing links plans updates and deactivations without making them.
    harness.change(1, |employee| employee.last_name = Some("Changed".into()));
    harness.change(2, |employee| select(employee, false));
    let before = harness.lms.write_counts();
    let plan = harness.dry_run().await;
    assert_eq!(plan.counts.updated, 1);
    assert_eq!(plan.counts.deactivated, 1);
    assert_eq!(harness.lms.write_counts(), before);
    assert_eq!(harness.link(1).await.unwrap().version, 2);
    assert!(harness.link(2).await.unwrap().active);
}

#[tokio::test]
async fn accounts_are_locked_outside_the_contract_when_enabled() {
    let mut employees = staff(3);
    employees[0].termination_date = Some(day("2001-12-31"));
    employees[1].hire_date = Some(day("2999-01-01"));
    let mut harness = Harness::new(employees);
    harness.settings.status.lock_outside_contract = true;
    harness.settings.create_locked_accounts = true;

    let record = harness.run().await;

    assert!(!harness.user_of("person1@example.com").active);
    assert!(!harness.user_of("person2@example.com").active);
    assert!(harness.user_of("person3@example.com").active);
    assert_eq!(
        reason(outcome(&record, 2)),
        "created locked: contract starts on 2999-01-01"
    );
    // Only the account that can sign in is invited; the locked ones are owed theirs.
    assert_eq!(record.counts.invitations, 1);
    assert!(harness.link(1).await.unwrap().invitation_pending);

    // Turning the option off unlocks them on the next run (the profile hash changes), and the
    // invitations they are owed go out now, once.
    harness.settings.status.lock_outside_contract = false;
    let record = harness.run().await;
    assert_eq!(record.counts.updated, 2);
    assert_eq!(record.counts.invitations, 2);
    assert!(harness.user_of("person1@example.com").active);
    assert_eq!(
        outcome(&record, 1).change_lines(),
        ["~ status: Active (locked) → Active"]
    );
    let link = harness.link(1).await.unwrap();
    assert!(link.invited_at.is_some() && !link.invitation_pending);
    assert_eq!(harness.run().await.counts.invitations, 0, "exactly once");
    let mut invited: Vec<_> = harness
        .notifier
        .sent()
        .into_iter()
        .map(|email| email.to)
        .collect();
    invited.sort();
    assert_eq!(
        invited,
        [
            "person1@example.com",
            "person2@example.com",
            "person3@example.com"
        ]
    );
}

#[tokio::test]
async fn custom_attributes_are_mapped_to_lms_fields() {
    let mut employees = staff(2);
    set_custom(&mut employees[0], "dynamic_200", "Cost center", "CC-42");
    let mut harness = Harness::new(employees);
    harness.settings.custom_attributes =
        [("Cost center".to_owned(), "costCenter".to_owned())].into();

    harness.run().await;

    let user = harness.user_of("person1@example.com");
    assert_eq!(
        user.profile.custom.get("costCenter").map(String::as_str),
        Some("CC-42")
    );
    assert!(
        harness
            .user_of("person2@example.com")
            .profile
            .custom
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_before_anything_happens() {
    let mut harness = Harness::new(staff(1));
    harness.settings.selection.attribute = " ".into();
    let error = harness
        .engine
        .run(harness.request(), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "settings.selection.attribute: must not be empty"
    );
    assert_eq!(harness.store.stats().run_writes, 0);
}

#[tokio::test]
async fn the_admin_gets_a_summary_and_a_mail_failure_never_fails_the_run() {
    let mut harness = Harness::new(staff(2));
    harness.settings.notifications.invite_new_users = false;
    harness.settings.notifications.admin_email = Some("hr@example.com".into());
    harness
        .lms
        .inject_fault("person2@example.com", LmsFault::Rejected);

    let record = harness.run().await;

    let sent = harness.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "hr@example.com");
    assert!(sent[0].subject.contains("completed with failures"));
    assert!(sent[0].text.contains("Created: 1"));
    assert!(sent[0].text.contains("person2@example.com"));
    assert_eq!(record.counts.invitations, 0);

    harness.notifier.fail_with(Some("SES throttled"));
    let record = harness.run().await;
    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert!(
        record
            .notices
            .iter()
            .any(|notice| notice.contains("summary") && notice.contains("SES throttled"))
    );
}

#[tokio::test]
async fn a_failed_invitation_is_noted_and_the_user_still_created() {
    let harness = Harness::new(staff(1));
    harness.notifier.fail_with(Some("mailbox full"));
    let record = harness.run().await;
    assert_eq!(record.counts.created, 1);
    assert_eq!(record.counts.invitations, 0);
    assert!(!outcome(&record, 1).invited);
    assert!(
        record
            .notices
            .iter()
            .any(|notice| notice.contains("invitation") && notice.contains("mailbox full"))
    );
}

#[tokio::test]
async fn a_user_deleted_in_the_lms_is_set_up_again() {
    let harness = Harness::new(staff(1));
    harness.run().await;
    let old = harness.user_of("person1@example.com").id;
    harness.lms.remove_user(&old);
    harness.change(1, |employee| employee.position = Some("Lead".into()));

    let record = harness.run().await;

    assert_eq!(outcome(&record, 1).action, OutcomeAction::Created);
    let user = harness.user_of("person1@example.com");
    assert_ne!(user.id, old);
    let link = harness.link(1).await.unwrap();
    assert_eq!(link.lms_user_id, user.id);
    // The first account's link (created, invited), then the new account's (set up, invited).
    assert_eq!(link.version, 4);
    assert!(outcome(&record, 1).invited);
}

#[tokio::test]
async fn adoption_never_takes_another_employees_account() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    // Employee 1 leaves; a new employee 3 arrives with employee 2's address.
    harness.set_employees(vec![
        employee(2, "person2@example.com"),
        employee(3, "person2@example.com"),
    ]);
    let record = harness.run().await;
    // Both share the email now: skipped, and employee 2 keeps its account.
    assert_eq!(outcome(&record, 3).action, OutcomeAction::Skipped);
    assert!(harness.link(3).await.is_none());

    // Employee 2 leaves Personio (a single deactivation is under the guard) and 3 keeps the
    // address: the LMS user is still linked to 2, so 3 must not adopt it.
    harness.set_employees(vec![employee(3, "person2@example.com")]);
    let record = harness.run().await;
    assert_eq!(outcome(&record, 2).action, OutcomeAction::Deactivated);
    let adopted = outcome(&record, 3);
    assert_eq!(adopted.action, OutcomeAction::Failed);
    assert!(reason(adopted).contains("already linked to Personio employee 2"));
}

#[tokio::test]
async fn groups_added_later_are_joined_without_an_update() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    harness.lms.seed_group("Engineer");
    let before = harness.lms.write_counts();

    let record = harness.run().await;

    assert_eq!(record.counts.unchanged, 2);
    assert_eq!(record.counts.groups_added, 2);
    assert_eq!(record.outcomes.len(), 2, "listed because groups were added");
    let after = harness.lms.write_counts();
    assert_eq!(after.updates, before.updates);
    assert_eq!(after.group_adds, before.group_adds + 2);
    assert!(harness.link(1).await.unwrap().groups.contains("Engineer"));
    assert!(record.notices.is_empty(), "{:?}", record.notices);
}

#[tokio::test]
async fn progress_reports_pages_and_applies() {
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);
    impl SyncProgress for Recorder {
        fn pages_read(&self, read: u32, total: u32) {
            self.0.lock().unwrap().push(format!("page {read}/{total}"));
        }
        fn applied(&self, done: usize, total: usize) {
            self.0
                .lock()
                .unwrap()
                .push(format!("applied {done}/{total}"));
        }
    }
    let harness = Harness::new(staff(3));
    let recorder = Recorder::default();
    harness
        .engine
        .run(harness.request(), &recorder)
        .await
        .unwrap();
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            "page 1/2",
            "page 2/2",
            "applied 0/3",
            "applied 1/3",
            "applied 2/3",
            "applied 3/3"
        ]
    );
}

#[tokio::test]
async fn an_unreadable_selection_attribute_fails_the_run_instead_of_deactivating() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    // The credential lost read access to the attribute: Personio leaves it out.
    harness.set_employees(
        staff(3)
            .into_iter()
            .map(|mut employee| {
                employee.custom.clear();
                employee
            })
            .collect(),
    );
    let before = harness.lms.write_counts();

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|error| error.contains("\"LMS Sync\"") && error.contains("not readable")),
        "{:?}",
        record.error
    );
    assert_eq!(harness.lms.write_counts(), before);
    assert!(harness.link(1).await.unwrap().active);
}

#[tokio::test]
async fn an_empty_listing_with_linked_users_fails_the_run() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    harness.set_employees(Vec::new());

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("no employees")
    );
    assert_eq!(harness.lms.write_counts().deactivations, 0);

    // An empty company with nobody linked is simply nothing to do.
    let fresh = Harness::new(Vec::new());
    assert_eq!(fresh.run().await.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn group_lookups_are_cached_per_run() {
    let harness = Harness::new(staff(4));
    harness.run().await;
    // Engineering, Platform and the missing Engineer: once each for four employees.
    assert_eq!(harness.lms.read_counts().group_lookups, 3);
    harness.lms.seed_group("Engineer");
    harness.run().await;
    assert_eq!(harness.lms.read_counts().group_lookups, 4);
}

#[tokio::test]
async fn a_failed_listing_is_reported_to_the_admin() {
    let mut harness = Harness::new(staff(4));
    harness.settings.notifications.admin_email = Some("hr@example.com".into());
    harness.hr.fail_after_pages(Some(1));

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Failed);
    let sent = harness.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].subject.ends_with("FAILED"));
    assert!(sent[0].text.contains("Nobody was deactivated"));
}

/// A run slow enough (LMS latency, one change at a time) to outlive its lease several times.
fn slow_harness() -> (Harness, SyncRequest) {
    let mut harness = Harness::new(staff(6));
    harness.settings.apply_concurrency = 1;
    harness.lms.set_latency(Duration::from_millis(15));
    let mut request = harness.request();
    request.lease_holder = "slow-run".into();
    request.lease_ttl = chrono::Duration::milliseconds(150);
    (harness, request)
}

#[tokio::test]
async fn a_long_run_keeps_renewing_its_lease() {
    let (harness, request) = slow_harness();
    let integration = request.integration_id.clone();
    let contender = async {
        let mut taken = 0;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let outcome = harness
                .store
                .acquire_lease(
                    &integration,
                    "contender",
                    Utc::now(),
                    chrono::Duration::seconds(1),
                )
                .await
                .unwrap();
            if matches!(outcome, LeaseOutcome::Acquired(_)) {
                taken += 1;
            }
        }
        taken
    };

    let (outcome, taken) = tokio::join!(harness.engine.run(request, &NoProgress), contender);

    assert_eq!(taken, 0, "the lease expired during the run");
    match outcome.unwrap() {
        SyncOutcome::Completed(record) => assert_eq!(record.status, RunStatus::Succeeded),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_run_that_loses_its_lease_stops_applying() {
    let (harness, request) = slow_harness();
    let integration = request.integration_id.clone();
    let thief = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        harness
            .store
            .release_lease(&integration, "slow-run")
            .await
            .unwrap();
        harness
            .store
            .acquire_lease(
                &integration,
                "thief",
                Utc::now(),
                chrono::Duration::minutes(1),
            )
            .await
            .unwrap();
    };

    let (outcome, ()) = tokio::join!(harness.engine.run(request, &NoProgress), thief);

    let SyncOutcome::Completed(record) = outcome.unwrap() else {
        panic!("expected a completed run");
    };
    assert_eq!(record.status, RunStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("lost its lease")
    );
    assert!(record.counts.created < 6);
    // What was not applied is counted, not listed as six failed employees.
    assert_eq!(record.counts.failed, 0);
    assert_eq!(record.counts.created + record.counts.not_applied, 6);
    assert!(
        record
            .outcomes
            .iter()
            .all(|outcome| outcome.action == OutcomeAction::Created)
    );
    // The run did not release the thief's lease.
    let third = harness
        .store
        .acquire_lease(
            &integration,
            "third",
            Utc::now(),
            chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert!(matches!(third, LeaseOutcome::HeldBy(lease) if lease.holder == "thief"));
}

#[tokio::test]
async fn a_link_changed_meanwhile_is_reported_for_that_employee() {
    let harness = Harness::new(staff(1));
    harness.run().await;
    harness.change(1, |employee| employee.position = Some("Lead".into()));
    harness.lms.set_latency(Duration::from_millis(40));
    let other_writer = async {
        // While the run waits for the LMS, someone else writes the link.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut link = harness.link(1).await.unwrap();
        let read = link.version;
        link.version += 1;
        harness.store.put_link(&link, Some(read)).await.unwrap();
    };

    let (record, ()) = tokio::join!(harness.run(), other_writer);

    let conflicted = outcome(&record, 1);
    assert_eq!(conflicted.action, OutcomeAction::Failed);
    assert!(
        reason(conflicted).contains("changed by someone else"),
        "{conflicted:?}"
    );
    assert_eq!(record.status, RunStatus::CompletedWithFailures);
}

#[tokio::test]
async fn changes_are_applied_concurrently_within_the_bound() {
    let mut harness = Harness::new(staff(8));
    harness.settings.apply_concurrency = 3;
    harness.lms.set_latency(Duration::from_millis(5));

    let record = harness.run().await;

    assert_eq!(record.counts.created, 8);
    let most = harness.lms.max_concurrent_calls();
    assert!((2..=3).contains(&most), "{most} LMS calls at once");
}

#[tokio::test]
async fn the_summary_goes_out_by_the_policy_and_a_quiet_run_sends_none() {
    use crate::domain::settings::SummaryPolicy;
    let mut harness = Harness::new(staff(3));
    harness.settings.notifications.invite_new_users = false;
    harness.settings.notifications.admin_email = Some("hr@example.com".into());
    let summaries = |harness: &Harness| {
        harness
            .notifier
            .sent()
            .iter()
            .filter(|email| email.to == "hr@example.com")
            .count()
    };

    // The first run creates three users: a change.
    harness.run().await;
    assert_eq!(summaries(&harness), 1);
    // Nothing changed (the missing "Engineer" group is still missing): no summary by default.
    let quiet = harness.run().await;
    assert_eq!(quiet.counts.unchanged, 3);
    assert_eq!(summaries(&harness), 1);

    harness.settings.notifications.summary = SummaryPolicy::Always;
    harness.run().await;
    assert_eq!(summaries(&harness), 2);

    harness.settings.notifications.summary = SummaryPolicy::OnFailures;
    harness.hr.fail_after_pages(Some(0));
    let failed = harness.run().await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(summaries(&harness), 3);

    harness.settings.notifications.summary = SummaryPolicy::Never;
    harness.run().await;
    assert_eq!(summaries(&harness), 3);
}

#[tokio::test]
async fn missing_groups_make_one_notice_naming_them_all() {
    let mut harness = Harness::new(staff(2));
    harness.lms = Arc::new(MemoryLms::with_groups(["Engineering"]));
    harness.engine = SyncEngine::new(
        harness.hr.clone(),
        harness.lms.clone(),
        harness.store.clone(),
        harness.notifier.clone(),
    );
    let record = harness.run().await;
    let missing: Vec<&String> = record
        .notices
        .iter()
        .filter(|notice| notice.contains("no groups named"))
        .collect();
    assert_eq!(
        missing,
        vec![
            "the LMS has no groups named \"Engineer\", \"Platform\" (2); nobody was added to \
             them (the sync never creates groups)"
        ],
        "{:?}",
        record.notices
    );
}

mod stopping;
