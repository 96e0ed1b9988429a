//! The employee sync end to end: the engine with the real Personio client against the sandbox
//! and the SCIM adapter against the independent `scim2-server` (started through
//! `tests/scim/launch.py`, PATCH and the project's extension advertised).

use crate::sync_harness::{
    acme, department_name, department_names, email, engine, onboarded, outcome_of, request, run,
    settings, start_sandbox,
};
use common::domain::run::{OutcomeAction, RunStatus};
use common::lms::scim::{ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA};
use common::notify::MemoryNotifier;
use common::ports::LearningPlatform;
use common::ports::LinkStore;
use common::store::MemoryStore;
use integration_tests::scim::{FULL, ScimServer, TOKEN, VENDOR, VENDOR_USER_SCHEMA};
use personio_sandbox::{COST_CENTER_KEY, Employee, LMS_SYNC_KEY};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const COMPANY: usize = 30;

/// The server's users by `externalId` (the Personio id).
async fn users_by_personio_id(server: &ScimServer) -> BTreeMap<String, Value> {
    server
        .user_documents()
        .await
        .into_iter()
        .filter_map(|user| Some((user["externalId"].as_str()?.to_owned(), user)))
        .collect()
}

fn user_of<'a>(users: &'a BTreeMap<String, Value>, employee: &Employee) -> &'a Value {
    users
        .get(&employee.id().to_string())
        .unwrap_or_else(|| panic!("no SCIM user for employee {}", employee.id()))
}

#[tokio::test]
async fn the_sync_creates_updates_and_deactivates_scim_users_and_a_re_sync_writes_nothing() {
    let Some(server) = ScimServer::start(FULL) else {
        return;
    };
    let sandbox = start_sandbox(7201, COMPANY).await;
    let selected_before = onboarded(&sandbox, &settings());
    let mut departments = department_names(&sandbox.employees());
    let missing_group = departments.pop_last().expect("the company has departments");
    let mut group_ids = BTreeMap::new();
    for name in &departments {
        group_ids.insert(name.clone(), server.create_group(name).await);
    }
    let store = MemoryStore::new();
    let engine = engine(
        &sandbox,
        Arc::new(server.lms(TOKEN, 100)),
        Arc::new(store.clone()),
        Arc::new(MemoryNotifier::new()),
    );

    let first = run(&engine, request(settings())).await;

    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.outcomes);
    assert_eq!(first.counts.created as usize, selected_before.len());
    let users = users_by_personio_id(&server).await;
    assert_eq!(users.len(), selected_before.len());
    for employee in &selected_before {
        let user = user_of(&users, employee);
        assert!(
            user["userName"]
                .as_str()
                .is_some_and(|name| name.eq_ignore_ascii_case(&email(employee)))
        );
        let scim_id = user["id"].as_str().expect("an id").to_owned();
        let department = department_name(employee).expect("a department");
        assert_eq!(
            user[ENTERPRISE_USER_SCHEMA]["department"].as_str(),
            Some(department.as_str())
        );
        match group_ids.get(&department) {
            Some(group) => assert!(
                server.group_members(group).await.contains(&scim_id),
                "{scim_id} in {department}"
            ),
            None => assert_eq!(department, missing_group),
        }
    }
    assert!(
        first
            .notices
            .iter()
            .any(|notice| notice.contains("no groups named")
                && notice.contains(&format!("{missing_group:?}")))
            || selected_before
                .iter()
                .all(|employee| department_name(employee).as_ref() != Some(&missing_group)),
        "{:?}",
        first.notices
    );

    // Nothing changed in Personio: nothing is written (the server's documents stay as they are).
    let link_writes = store.stats().link_writes;
    let second = run(&engine, request(settings())).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    assert_eq!(second.counts.unchanged as usize, selected_before.len());
    assert_eq!(
        second.counts.created + second.counts.updated + second.counts.groups_added,
        0
    );
    assert_eq!(store.stats().link_writes, link_writes);
    assert_eq!(users_by_personio_id(&server).await, users);

    let [renamed, on_leave, deselected, ..] = &selected_before[..] else {
        panic!("too few selected employees");
    };
    let new_email = "renamed.in.personio@acme.example";
    sandbox
        .set_attribute(renamed.id(), "email", new_email)
        .expect("renamed");
    let new_status = if on_leave.text("status") == Some("leave") {
        ("active", "Active")
    } else {
        ("leave", "Absent")
    };
    sandbox
        .set_status(on_leave.id(), new_status.0)
        .expect("status changed");
    sandbox
        .set_attribute(deselected.id(), LMS_SYNC_KEY, "nein")
        .expect("deselected");

    let third = run(&engine, request(settings())).await;

    assert_eq!(third.status, RunStatus::Succeeded, "{:?}", third.outcomes);
    assert_eq!(third.counts.updated, 2);
    assert_eq!(third.counts.deactivated, 1);
    let after = users_by_personio_id(&server).await;
    assert_eq!(after.len(), users.len(), "nobody deleted, nobody added");
    let user = user_of(&after, renamed);
    assert_eq!(
        user["id"],
        user_of(&users, renamed)["id"],
        "the same account"
    );
    assert_eq!(user["userName"].as_str(), Some(new_email));
    assert_eq!(
        user_of(&after, on_leave)[PERSONIO_LMS_USER_SCHEMA]["status"].as_str(),
        Some(new_status.1)
    );
    let gone = user_of(&after, deselected);
    assert_eq!(
        gone["active"],
        Value::Bool(false),
        "deactivated, not deleted"
    );
    assert_eq!(
        outcome_of(&third, deselected.id()).map(|outcome| outcome.action),
        Some(OutcomeAction::Deactivated)
    );
    let link = store
        .link(&acme(), crate::sync_harness::personio_id(deselected))
        .await
        .expect("readable")
        .expect("linked");
    assert!(!link.active);
}

/// A real LMS's dialect: no project extension, but a vendor's own User extension advertised in
/// `/Schemas`. The settings map `location`, the status name and a custom attribute into the
/// vendor's URN; the sync writes them there, the mapping names each target, and a field with
/// nowhere to go on this server (team: its default is the project's extension) is one notice of
/// the run, by name, not silence.
#[tokio::test]
async fn fields_mapped_into_a_vendor_extension_reach_it_and_a_field_without_a_place_is_named() {
    let Some(server) = ScimServer::start(VENDOR) else {
        return;
    };
    let sandbox = start_sandbox(7202, COMPANY).await;
    let mut chosen = settings();
    chosen
        .custom_attributes
        .insert(COST_CENTER_KEY.into(), "costCenter".into());
    for (field, attribute) in [
        ("location", "region"),
        ("status", "learnerStatus"),
        ("custom.costCenter", "costCentre"),
    ] {
        chosen
            .scim
            .attributes
            .insert(field.into(), format!("{VENDOR_USER_SCHEMA}:{attribute}"));
    }
    let lms = server.lms(TOKEN, 100);
    let mapping = chosen.attribute_mapping().expect("a valid mapping");
    let report = lms.describe_mapping(&mapping).await.expect("the mapping");
    let target = |name: &str| {
        report
            .fields
            .iter()
            .find(|field| field.field == name)
            .and_then(|field| field.target.clone())
    };
    assert_eq!(
        target("custom.costCenter").as_deref(),
        Some(format!("{VENDOR_USER_SCHEMA}:costCentre").as_str())
    );
    assert_eq!(target("team"), None, "no place for the team here");
    let engine = engine(
        &sandbox,
        Arc::new(lms),
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryNotifier::new()),
    );

    let first = run(&engine, request(chosen.clone())).await;

    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.outcomes);
    let users = users_by_personio_id(&server).await;
    let onboarded = onboarded(&sandbox, &chosen);
    assert_eq!(users.len(), onboarded.len());
    let mut regions = 0;
    for employee in &onboarded {
        let vendor = &user_of(&users, employee)[VENDOR_USER_SCHEMA];
        assert!(
            ["Preboarding", "Active", "Absent", "Inactive"]
                .contains(&vendor["learnerStatus"].as_str().unwrap_or_default()),
            "{vendor}"
        );
        if let Some(cost_center) = employee.text(COST_CENTER_KEY).filter(|c| !c.is_empty()) {
            assert_eq!(vendor["costCentre"].as_str(), Some(cost_center), "{vendor}");
        }
        regions += usize::from(vendor["region"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(
            user_of(&users, employee)
                .get(PERSONIO_LMS_USER_SCHEMA)
                .is_none(),
            "nothing is sent to a schema the server does not offer"
        );
    }
    assert!(regions > 0, "the offices reached the vendor's region");
    let team_notices: Vec<&String> = first
        .notices
        .iter()
        .filter(|notice| notice.starts_with("team:"))
        .collect();
    assert_eq!(team_notices.len(), 1, "{:?}", first.notices);
}
