//! The employee sync over HTTP: the engine with the real Personio client against the sandbox (a
//! seed-driven company of 250), the in-memory LMS and the memory or SQLite state store. Every
//! rule of the sync, driven by the sandbox's mutation API.

use crate::sync_harness::{
    ADMIN_EMAIL, acme, department, department_name, department_names, email, engine, onboarded,
    outcome_of, personio_client, personio_id, request, run, selected, settings, start_sandbox,
};
use chrono::Utc;
use common::domain::link::EmployeeLink;
use common::domain::lms::DEFAULT_ROLE;
use common::domain::run::{OutcomeAction, RunRecord, RunStatus};
use common::domain::settings::IntegrationSettings;
use common::lms::memory::{LmsFault, MemoryLms, MemoryLmsUser};
use common::notify::MemoryNotifier;
use common::ports::StateStore;
use common::progress::NoProgress;
use common::store::{MemoryStore, SqliteStore};
use common::sync::{SyncEngine, SyncOutcome};
use personio_sandbox::{
    Employee, Endpoint, Faults, LMS_SYNC_KEY, NewEmployee, RateLimitRule, RateLimits,
    RunningSandbox,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const COMPANY: usize = 250;
/// ceil(250 / 100).
const PAGES: u64 = 3;

/// A sandbox company, an LMS with a group for every department but one, and the stores.
struct World {
    sandbox: RunningSandbox,
    lms: Arc<MemoryLms>,
    store: Arc<dyn StateStore>,
    notifier: Arc<MemoryNotifier>,
    engine: SyncEngine,
    /// The department without an LMS group.
    missing_group: String,
}

impl World {
    async fn start(seed: u64, store: Arc<dyn StateStore>) -> Self {
        let sandbox = start_sandbox(seed, COMPANY).await;
        let mut departments = department_names(&sandbox.employees());
        let missing_group = departments.pop_last().expect("the company has departments");
        let lms = Arc::new(MemoryLms::with_groups(departments));
        let notifier = Arc::new(MemoryNotifier::new());
        let engine = engine(&sandbox, lms.clone(), store.clone(), notifier.clone());
        Self {
            sandbox,
            lms,
            store,
            notifier,
            engine,
            missing_group,
        }
    }

    async fn with_memory_store(seed: u64) -> (Self, MemoryStore) {
        let store = MemoryStore::new();
        (Self::start(seed, Arc::new(store.clone())).await, store)
    }

    async fn sync(&self, settings: IntegrationSettings) -> RunRecord {
        run(&self.engine, request(settings)).await
    }

    fn selected(&self) -> Vec<Employee> {
        selected(&self.sandbox, &settings())
    }

    /// The selected employees who get an account (all but the leavers).
    fn onboarded(&self) -> Vec<Employee> {
        onboarded(&self.sandbox, &settings())
    }

    /// Selected, active employees in a department with an LMS group.
    fn plain_selected(&self) -> Vec<Employee> {
        self.onboarded()
            .into_iter()
            .filter(|employee| {
                employee.text("status") == Some("active")
                    && department_name(employee).is_some_and(|name| name != self.missing_group)
            })
            .collect()
    }

    async fn lms_user(&self, employee: &Employee) -> MemoryLmsUser {
        let link = self.link(employee).await;
        self.lms
            .user(&link.lms_user_id)
            .expect("the linked LMS user exists")
    }

    async fn link(&self, employee: &Employee) -> EmployeeLink {
        self.store
            .link(&acme(), personio_id(employee))
            .await
            .expect("links are readable")
            .expect("the employee is linked")
    }

    fn employee_requests(&self) -> u64 {
        self.sandbox.stats().requests_to(Endpoint::Employees)
    }
}

#[tokio::test]
async fn the_first_sync_creates_users_with_role_groups_invitations_and_a_summary() {
    let (world, _) = World::with_memory_store(7101).await;
    let mut settings = settings();
    settings.notifications.invite_new_users = true;
    let selected = world.onboarded();
    assert!(selected.len() > 100, "the generator selects most employees");
    let leavers = world.selected().len() - selected.len();
    assert!(leavers > 0, "the generator selects some leavers");

    let record = world.sync(settings).await;

    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.notices);
    assert_eq!(record.counts.created as usize, selected.len());
    assert_eq!(record.counts.not_created as usize, leavers);
    assert_eq!(record.counts.invitations as usize, selected.len());
    let users = world.lms.users();
    assert_eq!(users.len(), selected.len());
    assert!(users.iter().all(|user| user.role == DEFAULT_ROLE));
    let mut in_missing_department = 0;
    for employee in &selected {
        let user = world.lms_user(employee).await;
        assert!(user.profile.email.eq_ignore_ascii_case(&email(employee)));
        assert_eq!(user.profile.external_id, employee.id().to_string());
        let department = department_name(employee).expect("a department");
        let groups = world.lms.groups_of(&user.id);
        if department == world.missing_group {
            in_missing_department += 1;
            assert!(groups.is_empty(), "no group {department} exists");
        } else {
            assert_eq!(groups, BTreeSet::from([department]));
        }
    }
    assert!(in_missing_department > 0);
    let missing_notices: Vec<&String> = record
        .notices
        .iter()
        .filter(|notice| {
            notice.contains("no groups named")
                && notice.contains(&format!("{:?}", world.missing_group))
        })
        .collect();
    assert_eq!(missing_notices.len(), 1, "{:?}", record.notices);

    let sent = world.notifier.sent();
    let invitations = sent.iter().filter(|mail| mail.to != ADMIN_EMAIL).count();
    assert_eq!(invitations, selected.len());
    let summaries: Vec<_> = sent.iter().filter(|mail| mail.to == ADMIN_EMAIL).collect();
    assert_eq!(summaries.len(), 1);
    assert!(
        summaries[0].text.contains(&selected.len().to_string()),
        "{}",
        summaries[0].text
    );
}

#[tokio::test]
async fn a_re_sync_without_changes_writes_nothing_and_reads_each_page_once() {
    let (world, store) = World::with_memory_store(7102).await;
    let first = world.sync(settings()).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    let writes = world.lms.write_counts();
    let stats = store.stats();
    let requests = world.employee_requests();

    let second = world.sync(settings()).await;

    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.notices);
    assert_eq!(second.counts.unchanged, first.counts.created);
    assert_eq!(second.counts.created + second.counts.updated, 0);
    assert_eq!(world.lms.write_counts(), writes, "zero LMS writes");
    let after = store.stats();
    assert_eq!(after.link_writes, stats.link_writes, "zero link writes");
    assert_eq!(
        after.run_writes - stats.run_writes,
        2,
        "the run's start and result"
    );
    assert_eq!(world.employee_requests() - requests, PAGES);
}

#[tokio::test]
async fn personio_changes_are_followed_with_the_sqlite_store() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(directory.path().join("state.db")).expect("sqlite opens");
    let world = World::start(7103, Arc::new(store)).await;
    let first = world.sync(settings()).await;
    assert_eq!(first.status, RunStatus::Succeeded);

    let plain = world.plain_selected();
    let [on_leave, leaver, renamed, mover, deselected, removed, ..] = &plain[..] else {
        panic!("too few plain employees");
    };
    let sandbox = &world.sandbox;
    let hire = sandbox
        .add_employee(
            NewEmployee::new("Nina", "Neumann", "nina.neumann@acme.example")
                .with(LMS_SYNC_KEY, "ja"),
        )
        .expect("hired");
    sandbox
        .set_status(on_leave.id(), "leave")
        .expect("on leave");
    sandbox.set_status(leaver.id(), "inactive").expect("left");
    sandbox
        .set_attribute(leaver.id(), "termination_date", "2026-01-31")
        .expect("terminated");
    sandbox
        .set_attribute(renamed.id(), "email", "renamed@acme.example")
        .expect("renamed");
    let old_department = department_name(mover).expect("a department");
    let new_department = plain
        .iter()
        .find(|other| department_name(other).is_some_and(|name| name != old_department))
        .expect("another department");
    sandbox
        .set_attribute(
            mover.id(),
            "department",
            department(new_department).expect("a relation").clone(),
        )
        .expect("moved");
    sandbox
        .set_attribute(deselected.id(), LMS_SYNC_KEY, "nein")
        .expect("deselected");
    sandbox.remove_employee(removed.id()).expect("removed");
    let renamed_user = world.lms_user(renamed).await.id;

    let record = world.sync(settings()).await;

    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.outcomes);
    assert_eq!(record.counts.created, 1);
    assert_eq!(record.counts.updated, 4);
    assert_eq!(record.counts.deactivated, 2);
    let hired = sandbox.employee(hire).expect("the hire exists");
    assert_eq!(
        outcome_of(&record, hire).map(|o| o.action),
        Some(OutcomeAction::Created)
    );
    assert_eq!(world.lms_user(&hired).await.role, DEFAULT_ROLE);

    let absent = world.lms_user(on_leave).await;
    assert_eq!(
        (absent.profile.status.as_str(), absent.active),
        ("Absent", true)
    );
    let gone = world.lms_user(leaver).await;
    assert_eq!(
        (gone.profile.status.as_str(), gone.active),
        ("Inactive", false)
    );
    assert_eq!(
        gone.profile.termination_date.map(|date| date.to_string()),
        Some("2026-01-31".to_owned())
    );

    let user = world.lms_user(renamed).await;
    assert_eq!(user.id, renamed_user, "an email change keeps the account");
    assert_eq!(user.profile.email, "renamed@acme.example");
    assert_eq!(world.lms.users().len(), first.counts.created as usize + 1);

    let moved = world.lms_user(mover).await;
    let new_name = department_name(new_department).expect("a department");
    assert_eq!(moved.profile.department.as_deref(), Some(new_name.as_str()));
    assert_eq!(
        world.lms.groups_of(&moved.id),
        BTreeSet::from([old_department, new_name]),
        "the new group is added, the old membership kept"
    );

    for (employee, reason) in [
        (deselected, "deselected in Personio"),
        (
            removed,
            "no longer in Personio (not listed, and a read of the employee found none)",
        ),
    ] {
        let outcome = outcome_of(&record, employee.id()).expect("an outcome");
        assert_eq!(outcome.action, OutcomeAction::Deactivated);
        assert_eq!(outcome.reason.as_deref(), Some(reason));
        let user = world.lms_user(employee).await;
        assert!(!user.active, "deactivated, not deleted");
        assert!(!world.link(employee).await.active);
    }

    sandbox
        .set_attribute(deselected.id(), LMS_SYNC_KEY, "Yes")
        .expect("selected again");
    let again = world.sync(settings()).await;
    assert_eq!(again.counts.updated, 1, "{:?}", again.outcomes);
    let outcome = outcome_of(&again, deselected.id()).expect("an outcome");
    assert_eq!(
        outcome.reason.as_deref(),
        Some("reactivated: selected in Personio again")
    );
    assert!(world.lms_user(deselected).await.active);
    assert!(world.link(deselected).await.active);
}

#[tokio::test]
async fn the_deactivation_guard_holds_back_a_mass_deselection() {
    let (world, _) = World::with_memory_store(7104).await;
    world.sync(settings()).await;
    let deactivations = world.lms.write_counts().deactivations;
    let selected = world.onboarded();
    let half: Vec<&Employee> = selected.iter().step_by(2).collect();
    let mut active_before = Vec::new();
    for employee in &half {
        active_before.push(world.lms_user(employee).await.active);
    }
    for employee in &half {
        world
            .sandbox
            .set_attribute(employee.id(), LMS_SYNC_KEY, "nein")
            .expect("deselected");
    }

    let record = world.sync(settings()).await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.held_back as usize, half.len());
    assert_eq!(record.counts.deactivated, 0);
    assert_eq!(world.lms.write_counts().deactivations, deactivations);
    assert!(
        record
            .notices
            .iter()
            .any(|notice| notice.starts_with("deactivation guard")),
        "{:?}",
        record.notices
    );
    let mut active_after = Vec::new();
    for employee in &half {
        active_after.push(world.lms_user(employee).await.active);
    }
    assert_eq!(active_after, active_before, "nobody was deactivated");
}

#[tokio::test]
async fn duplicate_and_missing_emails_are_reported_and_the_rest_synced() {
    let (world, _) = World::with_memory_store(7105).await;
    let plain = world.plain_selected();
    let [first, second, without_email, ..] = &plain[..] else {
        panic!("too few plain employees");
    };
    world
        .sandbox
        .set_attribute(second.id(), "email", email(first).to_uppercase())
        .expect("email shared");
    world
        .sandbox
        .set_attribute(without_email.id(), "email", "")
        .expect("email removed");

    let record = world.sync(settings()).await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.counts.skipped, 3);
    assert_eq!(record.counts.created as usize, world.onboarded().len() - 3);
    for employee in [first, second] {
        let outcome = outcome_of(&record, employee.id()).expect("an outcome");
        assert_eq!(outcome.action, OutcomeAction::Skipped);
        let reason = outcome.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("is also used by"), "{reason}");
    }
    let outcome = outcome_of(&record, without_email.id()).expect("an outcome");
    assert_eq!(outcome.action, OutcomeAction::Skipped);
    assert_eq!(
        outcome.reason.as_deref(),
        Some("no email address in Personio")
    );
    assert!(world.lms.user_by_email(&email(first)).is_none());
}

#[tokio::test]
async fn a_credential_that_cannot_read_the_selection_fails_the_run_and_deactivates_nobody() {
    let (world, _) = World::with_memory_store(7106).await;
    let first = world.sync(settings()).await;
    assert!(first.counts.created > 0);
    let narrow = world.sandbox.add_credential(Some(&[
        "first_name",
        "last_name",
        "email",
        "status",
        "department",
    ]));
    let engine = SyncEngine::new(
        personio_client(&world.sandbox, narrow),
        world.lms.clone(),
        world.store.clone(),
        world.notifier.clone(),
    );

    let record = run(&engine, request(settings())).await;

    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.unwrap_or_default();
    assert!(
        error.contains("selection attribute \"LMS Sync\""),
        "{error}"
    );
    assert_eq!(record.counts.deactivated, 0);
    assert_eq!(world.lms.write_counts().deactivations, 0);
    assert!(
        world
            .lms
            .users()
            .iter()
            .all(|user| user.active == user.profile.active)
    );
}

#[tokio::test]
async fn server_errors_from_personio_are_ridden_out() {
    let (world, _) = World::with_memory_store(7107).await;
    world
        .sandbox
        .set_faults(Faults {
            server_error_share: 0.3,
            seed: 5,
            only: vec![Endpoint::Employees],
            ..Faults::none()
        })
        .expect("valid faults");

    let record = world.sync(settings()).await;

    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(record.counts.created as usize, world.onboarded().len());
    let stats = world.sandbox.stats();
    let faulted: u64 = stats.faults.values().sum();
    assert!(faulted > 0, "the faults happened");
    assert_eq!(stats.requests_to(Endpoint::Employees), PAGES + faulted);
}

#[tokio::test]
async fn a_429_storm_is_ridden_out() {
    let (world, _) = World::with_memory_store(7108).await;
    world.sandbox.set_rate_limits(RateLimits {
        employees: vec![RateLimitRule::new(1, Duration::from_millis(300))],
        ..RateLimits::disabled()
    });

    let record = world.sync(settings()).await;

    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(record.counts.created as usize, world.onboarded().len());
    let stats = world.sandbox.stats();
    assert!(
        stats.throttled_on(Endpoint::Employees) > 0,
        "the storm happened"
    );
    assert_eq!(
        stats.requests_to(Endpoint::Employees) - stats.throttled_on(Endpoint::Employees),
        PAGES
    );
}

#[tokio::test]
async fn an_lms_refusal_of_one_employee_leaves_the_others_synced() {
    let (world, _) = World::with_memory_store(7109).await;
    let refused = world.plain_selected().remove(0);
    world.lms.inject_fault(&email(&refused), LmsFault::Rejected);

    let record = world.sync(settings()).await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.failed, 1);
    assert_eq!(record.counts.created as usize, world.onboarded().len() - 1);
    let outcome = outcome_of(&record, refused.id()).expect("an outcome");
    assert_eq!(outcome.action, OutcomeAction::Failed);
    let reason = outcome.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("HTTP 400"), "{reason}");
    assert!(world.lms.user_by_email(&email(&refused)).is_none());
}

#[tokio::test]
async fn a_lease_held_by_another_run_stops_the_run_before_anything_is_read() {
    let (world, _) = World::with_memory_store(7110).await;
    world
        .store
        .acquire_lease(
            &acme(),
            "other-host",
            Utc::now(),
            chrono::Duration::minutes(5),
        )
        .await
        .expect("lease taken");

    let outcome = world
        .engine
        .run(request(settings()), &NoProgress)
        .await
        .expect("no store failure");

    match outcome {
        SyncOutcome::LeaseHeld { holder, .. } => assert_eq!(holder, "other-host"),
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    assert_eq!(world.employee_requests(), 0);
    assert_eq!(world.lms.write_counts().total(), 0);
}

#[tokio::test]
async fn a_dry_run_plans_everything_and_writes_nothing() {
    let (world, store) = World::with_memory_store(7111).await;
    let mut settings = settings();
    settings.notifications.invite_new_users = true;
    let mut dry = request(settings);
    dry.dry_run = true;

    let record = run(&world.engine, dry).await;

    assert!(record.dry_run);
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.counts.created as usize, world.onboarded().len());
    assert_eq!(world.lms.write_counts().total(), 0);
    assert!(world.lms.users().is_empty());
    let stats = store.stats();
    assert_eq!(stats.link_writes, 0);
    assert_eq!(stats.lease_writes, 0);
    assert!(stats.run_writes > 0, "the run record is kept");
    assert!(
        world.notifier.sent().is_empty(),
        "no invitation, no summary"
    );
}

#[tokio::test]
async fn lock_outside_contract_locks_accounts_before_the_start_and_after_the_end() {
    let (world, _) = World::with_memory_store(7112).await;
    let plain = world.plain_selected();
    let [not_started, ended, current, ..] = &plain[..] else {
        panic!("too few plain employees");
    };
    let sandbox = &world.sandbox;
    sandbox
        .set_attribute(not_started.id(), "hire_date", "2099-01-01")
        .expect("hired in the future");
    sandbox
        .set_attribute(ended.id(), "contract_end_date", "2020-12-31")
        .expect("contract ended");
    for key in ["contract_end_date", "termination_date"] {
        sandbox
            .set_attribute(current.id(), key, "")
            .expect("no end");
    }
    sandbox
        .set_attribute(current.id(), "hire_date", "2020-01-01")
        .expect("hired long ago");

    world.sync(settings()).await;
    for employee in [not_started, ended, current] {
        assert!(
            world.lms_user(employee).await.active,
            "no lock without the option"
        );
    }

    let mut locking = settings();
    locking.status.lock_outside_contract = true;
    let record = world.sync(locking).await;

    assert_eq!(record.status, RunStatus::Succeeded);
    for employee in [not_started, ended] {
        let user = world.lms_user(employee).await;
        assert_eq!(
            (user.profile.status.as_str(), user.active),
            ("Active", false)
        );
    }
    assert!(world.lms_user(current).await.active);
}
