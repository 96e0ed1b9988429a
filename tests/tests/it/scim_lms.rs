//! The SCIM adapter against the independent `scim2-server` (PyPI), started per test through
//! `tests/scim/launch.py` in the shapes the adapter must handle: with PATCH and the project's
//! extension advertised, and without either.

use chrono::NaiveDate;
use common::domain::lms::{DEFAULT_ROLE, LmsGroupId, LmsProfile, LmsUser, LmsUserId, Manager};
use common::domain::settings::{AttributeMapping, ScimSettings};
use common::lms::scim::{ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA, ScimLms};
use common::ports::{LearningPlatform, LmsError, ManagerRef, UserWrite, WriteKind};
use integration_tests::scim::{FULL, MINIMAL, ScimServer as Server, Shape, TOKEN};
use serde_json::json;
use std::collections::BTreeMap;

fn profile(external_id: &str, email: &str) -> LmsProfile {
    LmsProfile {
        external_id: external_id.into(),
        email: email.into(),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        display_name: Some("Ann Lee".into()),
        status: "Active".into(),
        active: true,
        title: Some("Engineer".into()),
        department: Some("R&D".into()),
        team: Some("Platform".into()),
        location: Some("Berlin".into()),
        company: Some("ACME GmbH".into()),
        gender: Some("female".into()),
        birthday: NaiveDate::from_ymd_opt(1990, 5, 17),
        hire_date: NaiveDate::from_ymd_opt(2020, 1, 1),
        employment_type: Some("internal".into()),
        employee_number: Some(external_id.into()),
        custom: BTreeMap::from([("shoe_size".into(), "38".into())]),
        ..LmsProfile::default()
    }
}

fn mapping() -> AttributeMapping {
    AttributeMapping::new(&ScimSettings::default(), &["shoe_size".to_owned()])
        .expect("the default mapping")
}

async fn create(
    lms: &ScimLms,
    profile: &LmsProfile,
    manager: ManagerRef,
) -> Result<LmsUser, LmsError> {
    let mapping = mapping();
    lms.create_user(&UserWrite {
        kind: WriteKind::Create {
            role: DEFAULT_ROLE.into(),
        },
        profile,
        mapping: &mapping,
        manager,
    })
    .await
}

async fn update(lms: &ScimLms, id: &LmsUserId, profile: &LmsProfile) -> Result<(), LmsError> {
    let mapping = mapping();
    lms.update_user(
        id,
        &UserWrite {
            kind: WriteKind::Update { id: id.clone() },
            profile,
            mapping: &mapping,
            manager: ManagerRef::None,
        },
    )
    .await
}

/// Create, find, update (synced fields only), email change and deactivation, in one server shape.
async fn user_lifecycle(shape: Shape) {
    let Some(server) = Server::start(shape) else {
        return;
    };
    let lms = server.lms(TOKEN, 1);

    let manager = create(&lms, &profile("100", "boss@example.com"), ManagerRef::None)
        .await
        .expect("manager created");
    let mut ann = profile("4711", "Ann.Lee@Example.com");
    ann.manager = Some(Manager {
        personio_id: Some("100".into()),
        name: Some("Bo Boss".into()),
    });
    let created = create(&lms, &ann, ManagerRef::User(manager.id.clone()))
        .await
        .expect("user created");
    assert_eq!(created.external_id.as_deref(), Some("4711"));
    assert!(created.active);

    let document = server.user_document(&created.id).await;
    assert_eq!(document["roles"], json!([{"value": "User"}]));
    assert_eq!(document["userName"], "Ann.Lee@Example.com");
    assert_eq!(
        document["emails"],
        json!([{"value": "Ann.Lee@Example.com", "type": "work", "primary": true}])
    );
    assert_eq!(
        document["name"],
        json!({"givenName": "Ann", "familyName": "Lee"})
    );
    assert_eq!(document["title"], "Engineer");
    let enterprise = &document[ENTERPRISE_USER_SCHEMA];
    assert_eq!(enterprise["department"], "R&D");
    assert_eq!(enterprise["organization"], "ACME GmbH");
    assert_eq!(enterprise["employeeNumber"], "4711");
    // manager.displayName is read-only in the server's schema, so only the id is sent.
    assert_eq!(enterprise["manager"], json!({"value": manager.id.0}));
    let personio = &document[PERSONIO_LMS_USER_SCHEMA];
    if shape.personio_extension {
        assert_eq!(personio["status"], "Active");
        assert_eq!(personio["team"], "Platform");
        assert_eq!(personio["birthday"], "1990-05-17");
        assert_eq!(
            personio["customAttributes"],
            json!([{"name": "shoe_size", "value": "38"}])
        );
    } else {
        assert!(
            personio.is_null(),
            "not advertised, so not sent: {document}"
        );
    }

    let by_external_id = lms
        .find_user_by_external_id("4711")
        .await
        .expect("lookup works")
        .expect("found by externalId");
    assert_eq!(by_external_id.id, created.id);
    let by_email = lms
        .find_user_by_email("ann.lee@EXAMPLE.com")
        .await
        .expect("lookup works")
        .expect("found by email, whatever the case");
    assert_eq!(by_email.id, created.id);
    assert!(
        lms.find_user_by_external_id("9999")
            .await
            .expect("lookup works")
            .is_none()
    );

    // An LMS admin promotes the user and adds things the sync does not own.
    let admin_edit = json!([
        {"op": "replace", "path": "roles", "value": [{"value": "Admin"}]},
        {"op": "replace", "path": "nickName", "value": "Annie"},
        {"op": "add", "path": "emails", "value": [{"value": "ann@home.example", "type": "home"}]},
        {"op": "replace", "path": "title", "value": "Hand-edited title"}
    ]);
    if shape.patch {
        server
            .admin_patch(&format!("/Users/{}", created.id), admin_edit)
            .await;
    } else {
        let mut edited = server.user_document(&created.id).await;
        edited["roles"] = json!([{"value": "Admin"}]);
        edited["nickName"] = json!("Annie");
        edited["emails"]
            .as_array_mut()
            .expect("emails")
            .push(json!({"value": "ann@home.example", "type": "home"}));
        edited["title"] = json!("Hand-edited title");
        server
            .raw(
                reqwest::Method::PUT,
                &format!("/Users/{}", created.id),
                Some(edited),
            )
            .await;
    }

    let mut moved = ann.clone();
    moved.email = "ann.lee@new.example".into();
    moved.title = Some("Lead Engineer".into());
    moved.department = None;
    moved.team = Some("Data".into());
    update(&lms, &created.id, &moved)
        .await
        .expect("user updated");

    let document = server.user_document(&created.id).await;
    assert_eq!(document["userName"], "ann.lee@new.example");
    assert_eq!(
        document["title"], "Lead Engineer",
        "a synced field is overwritten"
    );
    assert_eq!(document["nickName"], "Annie", "an unsynced field survives");
    assert_eq!(
        document["roles"],
        json!([{"value": "Admin"}]),
        "the role is never resent"
    );
    let emails = document["emails"].as_array().expect("emails");
    assert_eq!(emails.len(), 2, "{document}");
    assert!(emails.contains(&json!({"value": "ann@home.example", "type": "home"})));
    assert!(
        emails.contains(&json!({"value": "ann.lee@new.example", "type": "work", "primary": true}))
    );
    assert!(
        document[ENTERPRISE_USER_SCHEMA].get("department").is_none(),
        "a cleared synced field is cleared: {document}"
    );
    assert_eq!(
        document[ENTERPRISE_USER_SCHEMA]["organization"],
        "ACME GmbH"
    );
    if shape.personio_extension {
        assert_eq!(document[PERSONIO_LMS_USER_SCHEMA]["team"], "Data");
    }

    let after_move = lms
        .find_user_by_email("ANN.LEE@new.example")
        .await
        .expect("lookup works")
        .expect("found by the new email");
    assert_eq!(
        after_move.id, created.id,
        "an email change keeps the account"
    );
    assert!(
        lms.find_user_by_email("ann.lee@example.com")
            .await
            .expect("lookup works")
            .is_none()
    );

    let clash = create(
        &lms,
        &profile("4712", "ANN.LEE@new.example"),
        ManagerRef::None,
    )
    .await
    .expect_err("the userName is taken");
    assert!(matches!(clash, LmsError::Conflict { .. }), "{clash:?}");

    lms.deactivate_user(&created.id)
        .await
        .expect("user deactivated");
    let document = server.user_document(&created.id).await;
    assert_eq!(document["active"], false);
    assert_eq!(document["nickName"], "Annie");
    let deactivated = lms
        .find_user_by_external_id("4711")
        .await
        .expect("lookup works")
        .expect("still there: deactivated, not deleted");
    assert!(!deactivated.active);

    let missing = update(&lms, &LmsUserId("no-such-user".into()), &moved)
        .await
        .expect_err("no such user");
    assert!(matches!(missing, LmsError::NotFound { .. }), "{missing:?}");
}

/// Groups are found by exact name only and members are added idempotently.
async fn group_membership(shape: Shape) {
    let Some(server) = Server::start(shape) else {
        return;
    };
    let lms = server.lms(TOKEN, 1);
    // displayName is case-insensitive in RFC 7643, so the server's filter returns both; with one
    // result per page, one of the two exact lookups must page past the other group.
    let lowercase = server.create_group("sales \"emea\"").await;
    let sales = server.create_group("Sales \"EMEA\"").await;
    let user = create(&lms, &profile("1", "one@example.com"), ManagerRef::None)
        .await
        .expect("user created");
    let other = create(&lms, &profile("2", "two@example.com"), ManagerRef::None)
        .await
        .expect("user created");

    let found = lms
        .find_group("Sales \"EMEA\"")
        .await
        .expect("lookup works")
        .expect("the group exists");
    assert_eq!(found.id, sales);
    assert_eq!(found.name, "Sales \"EMEA\"");
    let found = lms
        .find_group("sales \"emea\"")
        .await
        .expect("lookup works")
        .expect("the group exists");
    assert_eq!(found.id, lowercase);
    assert!(
        lms.find_group("SALES \"EMEA\"")
            .await
            .expect("lookup works")
            .is_none(),
        "names must be identical"
    );
    assert!(
        lms.find_group("Marketing")
            .await
            .expect("lookup works")
            .is_none()
    );

    lms.add_group_member(&sales, &user.id)
        .await
        .expect("member added");
    lms.add_group_member(&sales, &user.id)
        .await
        .expect("adding again is fine");
    lms.add_group_member(&sales, &other.id)
        .await
        .expect("second member added");
    let members = server.group_members(&sales).await;
    let mut expected = vec![user.id.0.clone(), other.id.0.clone()];
    expected.sort_unstable();
    assert_eq!(members, expected);

    let missing = lms
        .add_group_member(&LmsGroupId("no-such-group".into()), &user.id)
        .await
        .expect_err("no such group");
    assert!(matches!(missing, LmsError::NotFound { .. }), "{missing:?}");

    // A mover leaves the group: only that member goes, the other stays.
    lms.remove_group_member(&sales, &user.id)
        .await
        .expect("member removed");
    assert_eq!(server.group_members(&sales).await, vec![other.id.0.clone()]);
    lms.remove_group_member(&sales, &user.id)
        .await
        .expect("removing a non-member again is fine");
    assert_eq!(server.group_members(&sales).await, vec![other.id.0.clone()]);
    lms.remove_group_member(&lowercase, &user.id)
        .await
        .expect("a group the user never was in");
    let missing = lms
        .remove_group_member(&LmsGroupId("no-such-group".into()), &other.id)
        .await
        .expect_err("no such group");
    assert!(matches!(missing, LmsError::NotFound { .. }), "{missing:?}");
    lms.remove_group_member(&sales, &other.id)
        .await
        .expect("the last member removed");
    assert!(server.group_members(&sales).await.is_empty());

    // Movers leave in one request, as they join.
    let both = [user.id.clone(), other.id.clone()];
    lms.add_group_members(&sales, &both)
        .await
        .expect("members added in one request");
    assert_eq!(server.group_members(&sales).await, expected);
    lms.remove_group_members(&sales, &both)
        .await
        .expect("members removed in one request");
    assert!(server.group_members(&sales).await.is_empty());
    // One of them no longer a member: the other still goes.
    lms.add_group_member(&sales, &other.id)
        .await
        .expect("member added");
    lms.remove_group_members(&sales, &both)
        .await
        .expect("a batch with a non-member");
    assert!(server.group_members(&sales).await.is_empty());
}

#[tokio::test]
async fn user_lifecycle_with_patch_and_the_project_extension() {
    user_lifecycle(FULL).await;
}

#[tokio::test]
async fn user_lifecycle_with_put_and_without_the_project_extension() {
    user_lifecycle(MINIMAL).await;
}

#[tokio::test]
async fn group_membership_with_patch() {
    group_membership(FULL).await;
}

#[tokio::test]
async fn group_membership_with_put() {
    group_membership(MINIMAL).await;
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let Some(server) = Server::start(FULL) else {
        return;
    };
    let error = server
        .lms("not-the-token", 1)
        .find_user_by_external_id("1")
        .await
        .expect_err("the server refuses the token");
    assert!(matches!(error, LmsError::Unauthorized { .. }), "{error:?}");
    assert!(!error.to_string().contains("not-the-token"));
}
