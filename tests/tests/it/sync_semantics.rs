//! What an admin expects of the sync, over HTTP: the real Personio client against the sandbox,
//! and the independent SCIM server where the LMS matters. Departures are confirmed by a read of
//! the employee (paging drift), leavers are not onboarded, invitations go once to accounts that
//! can sign in, a mover leaves the groups the sync gave them, a targeted run touches only whom
//! it names.

use crate::sync_harness::{
    acme, department, department_name, department_names, email, engine, onboarded, outcome_of,
    personio_id, request, run, settings, start_sandbox,
};
use common::domain::run::{OutcomeAction, RunKind, RunStatus};
use common::domain::settings::IntegrationSettings;
use common::lms::memory::MemoryLms;
use common::notify::MemoryNotifier;
use common::ports::LinkStore;
use common::store::{MemoryStore, SqliteStore};
use common::sync::SyncScope;
use integration_tests::scim::{FULL, ScimServer, TOKEN};
use personio_sandbox::{Employee, LMS_SYNC_KEY, RunningSandbox};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Makes the employee selected, active and without an end, so that it gets an account.
fn make_plain(sandbox: &RunningSandbox, id: u64) {
    sandbox
        .set_attribute(id, LMS_SYNC_KEY, "ja")
        .expect("selected");
    sandbox.set_status(id, "active").expect("active");
    for key in ["contract_end_date", "termination_date"] {
        sandbox.set_attribute(id, key, "").expect("no end");
    }
}

#[tokio::test]
async fn an_employee_deleted_during_the_listing_is_deactivated_and_the_one_it_shifted_kept() {
    let sandbox = start_sandbox(7301, 250).await;
    let employees = sandbox.employees();
    // Pages of 100 in id order: deleting #10 after page 1 shifts #100 onto page 1, read already.
    let (deleted, shifted) = (employees[10].id(), employees[100].id());
    make_plain(&sandbox, deleted);
    make_plain(&sandbox, shifted);
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).expect("opens"));
    let lms = Arc::new(MemoryLms::new());
    let engine = engine(
        &sandbox,
        lms.clone(),
        store.clone(),
        Arc::new(MemoryNotifier::new()),
    );
    let first = run(&engine, request(settings())).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    let linked = |id: u64| {
        let store = store.clone();
        async move {
            store
                .link(&acme(), common::domain::employee::PersonioId(id as i64))
                .await
                .expect("readable")
                .expect("linked")
        }
    };
    assert!(linked(shifted).await.active);

    let hold = sandbox.hold_employee_listing_after(1);
    let drifting = async {
        hold.wait_until_held().await;
        sandbox.remove_employee(deleted).expect("removed");
        hold.release();
    };
    let (record, ()) = tokio::join!(run(&engine, request(settings())), drifting);

    // The deleted employee was on the page read before; the one after it slid onto that page
    // and was never listed. It is still in Personio: kept, and said so.
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.outcomes);
    assert_eq!(record.counts.deactivated, 0, "{:?}", record.outcomes);
    let kept = outcome_of(&record, shifted).expect("an outcome for the shifted one");
    assert_eq!(kept.action, OutcomeAction::Unchanged);
    assert_eq!(
        kept.reason.as_deref(),
        Some(
            "missing from Personio's listing, but a read of the employee found it (the listing \
             shifted while it was paged); the account was kept"
        )
    );
    assert!(kept.name.is_some());
    let still = linked(shifted).await;
    assert!(still.active);
    assert!(lms.user(&still.lms_user_id).expect("exists").active);

    // The next listing is whole again: the deleted employee is confirmed gone by its own read,
    // the shifted one has nothing to report.
    let next = run(&engine, request(settings())).await;
    assert_eq!(next.counts.deactivated, 1, "{:?}", next.outcomes);
    let gone = outcome_of(&next, deleted).expect("an outcome for the deleted one");
    assert_eq!(gone.action, OutcomeAction::Deactivated);
    assert_eq!(
        gone.reason.as_deref(),
        Some("no longer in Personio (not listed, and a read of the employee found none)")
    );
    assert!(gone.name.is_some(), "named from the link's profile");
    assert!(!linked(deleted).await.active);
    assert!(outcome_of(&next, shifted).is_none(), "{:?}", next.outcomes);
}

#[tokio::test]
async fn a_leaver_is_not_onboarded_and_a_starter_is_invited_once_able_to_sign_in() {
    let sandbox = start_sandbox(7302, 40).await;
    let people = onboarded(&sandbox, &settings());
    let [leaver, starter, ..] = &people[..] else {
        panic!("too few employees");
    };
    sandbox.set_status(leaver.id(), "inactive").expect("left");
    sandbox
        .set_attribute(leaver.id(), "termination_date", "2024-03-31")
        .expect("terminated");
    make_plain(&sandbox, starter.id());
    sandbox
        .set_attribute(starter.id(), "hire_date", "2099-01-01")
        .expect("starts later");
    let lms = Arc::new(MemoryLms::new());
    let store = Arc::new(MemoryStore::new());
    let notifier = Arc::new(MemoryNotifier::new());
    let engine = engine(&sandbox, lms.clone(), store.clone(), notifier.clone());
    let mut settings = settings();
    settings.notifications.invite_new_users = true;
    settings.notifications.admin_email = None;
    settings.status.lock_outside_contract = true;
    settings.create_locked_accounts = true;
    let invitations_to = |address: &str| {
        notifier
            .sent()
            .iter()
            .filter(|mail| mail.to.eq_ignore_ascii_case(address))
            .count()
    };

    // With the default, neither the leaver nor the starter gets an account yet.
    let mut default = settings.clone();
    default.create_locked_accounts = false;
    let plan = {
        let mut dry = request(default);
        dry.dry_run = true;
        run(&engine, dry).await
    };
    for (employee, reason) in [
        (leaver, "inactive in Personio (left 2024-03-31)"),
        (starter, "contract starts on 2099-01-01"),
    ] {
        let outcome = outcome_of(&plan, employee.id()).expect("an outcome");
        assert_eq!(outcome.action, OutcomeAction::NotCreated);
        assert!(
            outcome
                .reason
                .as_deref()
                .is_some_and(|text| text.starts_with(reason)),
            "{outcome:?}"
        );
    }

    // Created locked when the setting asks for it; nobody locked is invited.
    let first = run(&engine, request(settings.clone())).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.outcomes);
    let starter_link = store
        .link(&acme(), personio_id(starter))
        .await
        .expect("readable")
        .expect("created locked");
    assert!(!lms.user(&starter_link.lms_user_id).expect("exists").active);
    assert!(starter_link.invitation_pending);
    assert_eq!(invitations_to(&email(starter)), 0);
    assert_eq!(invitations_to(&email(leaver)), 0);

    // The start date arrives (moved into the past): unlocked, and invited, once.
    sandbox
        .set_attribute(starter.id(), "hire_date", "2020-01-01")
        .expect("started");
    let second = run(&engine, request(settings.clone())).await;
    let started = outcome_of(&second, starter.id()).expect("an outcome");
    assert_eq!(started.action, OutcomeAction::Updated);
    assert!(started.invited);
    assert!(
        started
            .change_lines()
            .contains(&"~ status: Active (locked) → Active".to_owned()),
        "{started:?}"
    );
    assert_eq!(invitations_to(&email(starter)), 1);
    let third = run(&engine, request(settings)).await;
    assert_eq!(third.counts.invitations, 0);
    assert_eq!(invitations_to(&email(starter)), 1);
    assert_eq!(invitations_to(&email(leaver)), 0);
}

#[tokio::test]
async fn a_mover_changes_groups_in_the_scim_server_through_a_targeted_run() {
    let Some(server) = ScimServer::start(FULL) else {
        return;
    };
    let sandbox = start_sandbox(7303, 30).await;
    let mut groups = BTreeMap::new();
    for name in department_names(&sandbox.employees()) {
        groups.insert(name.clone(), server.create_group(&name).await);
    }
    let mentors = server.create_group("Mentors").await;
    let store = MemoryStore::new();
    let engine = engine(
        &sandbox,
        Arc::new(server.lms(TOKEN, 100)),
        Arc::new(store.clone()),
        Arc::new(MemoryNotifier::new()),
    );
    let mut settings: IntegrationSettings = settings();
    settings.groups.remove_when_moved = true;
    let first = run(&engine, request(settings.clone())).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.outcomes);

    let people: Vec<Employee> = onboarded(&sandbox, &settings)
        .into_iter()
        .filter(|employee| employee.text("status") == Some("active"))
        .collect();
    let mover = &people[0];
    let from = department_name(mover).expect("a department");
    let to_employee = people
        .iter()
        .find(|other| department_name(other).is_some_and(|name| name != from))
        .expect("another department");
    let to = department_name(to_employee).expect("a department");
    let bystander = people
        .iter()
        .find(|other| other.id() != mover.id() && other.id() != to_employee.id())
        .expect("a third employee");
    let mover_link = store
        .link(&acme(), personio_id(mover))
        .await
        .expect("readable")
        .expect("linked");
    let user = mover_link.lms_user_id.clone();
    // An LMS admin puts the mover into a group by hand.
    server
        .admin_patch(
            &format!("/Groups/{mentors}"),
            json!([{"op": "add", "path": "members", "value": [{"value": user.0}]}]),
        )
        .await;
    sandbox
        .set_attribute(
            mover.id(),
            "department",
            department(to_employee).expect("a relation").clone(),
        )
        .expect("moved");
    sandbox
        .set_attribute(bystander.id(), "position", "Changed but not named")
        .expect("changed");

    let mut targeted = request(settings.clone());
    targeted.scope = SyncScope::Employees(BTreeSet::from([personio_id(mover)]));
    let record = run(&engine, targeted).await;

    assert_eq!(record.kind, RunKind::Targeted);
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.outcomes);
    assert_eq!(record.outcomes.len(), 1, "{:?}", record.outcomes);
    let moved = outcome_of(&record, mover.id()).expect("the mover's outcome");
    assert_eq!(moved.action, OutcomeAction::Updated);
    assert_eq!(
        moved.change_lines(),
        [
            format!("~ department: {from} → {to}"),
            format!("+ group {to}"),
            format!("- group {from}"),
        ]
    );
    assert!(server.group_members(&groups[&to]).await.contains(&user.0));
    assert!(!server.group_members(&groups[&from]).await.contains(&user.0));
    assert!(
        server.group_members(&mentors).await.contains(&user.0),
        "a membership made by hand is never touched"
    );
    let bystander_user = store
        .link(&acme(), personio_id(bystander))
        .await
        .expect("readable")
        .expect("linked")
        .lms_user_id;
    let document = server.user_document(&bystander_user).await;
    assert_ne!(
        document["title"], "Changed but not named",
        "a targeted run touches only whom it names"
    );
}
