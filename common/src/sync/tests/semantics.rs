//! What an admin expects of a run: leavers are not onboarded, invitations go once to accounts
//! that can sign in, movers leave the groups the sync gave them (when asked to), only the chosen
//! fields leave Personio, changes are told field by field, every row names the person.

use super::*;
use crate::domain::employee::EmploymentStatus;
use crate::domain::settings::ProfileField;

fn leaver(id: i64, left: &str) -> Employee {
    let mut leaver = employee(id, &format!("person{id}@example.com"));
    leaver.status = Some(EmploymentStatus::Inactive);
    leaver.termination_date = Some(day(left));
    leaver
}

#[tokio::test]
async fn a_leaver_without_an_account_is_not_onboarded() {
    let mut employees = staff(2);
    employees.push(leaver(3, "2024-03-31"));
    let harness = Harness::new(employees);

    let record = harness.run().await;

    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.counts.created, 2);
    assert_eq!(record.counts.not_created, 1);
    assert_eq!(record.counts.invitations, 2);
    let not_created = outcome(&record, 3);
    assert_eq!(not_created.action, OutcomeAction::NotCreated);
    assert_eq!(
        reason(not_created),
        "inactive in Personio (left 2024-03-31); an account that would start locked is not \
         created (setting create_locked_accounts)"
    );
    assert_eq!(not_created.name.as_deref(), Some("First3 Last3"));
    assert!(harness.lms.user_by_email("person3@example.com").is_none());
    assert!(harness.link(3).await.is_none());
    assert!(
        harness
            .notifier
            .sent()
            .iter()
            .all(|email| email.to != "person3@example.com")
    );

    // Rehired: the account is created, able to sign in, and invited.
    harness.change(3, |employee| {
        employee.status = Some(EmploymentStatus::Active);
        employee.termination_date = None;
    });
    let rehired = harness.run().await;
    assert_eq!(outcome(&rehired, 3).action, OutcomeAction::Created);
    assert!(outcome(&rehired, 3).invited);
    assert!(harness.user_of("person3@example.com").active);
}

#[tokio::test]
async fn a_setting_creates_leavers_locked_and_never_invites_them() {
    let mut harness = Harness::new(vec![leaver(1, "2024-03-31")]);
    harness.settings.create_locked_accounts = true;

    let record = harness.run().await;

    assert_eq!(record.counts.created, 1);
    assert_eq!(record.counts.invitations, 0);
    assert_eq!(
        reason(outcome(&record, 1)),
        "created locked: inactive in Personio (left 2024-03-31)"
    );
    let user = harness.user_of("person1@example.com");
    assert!(!user.active);
    assert_eq!(user.profile.status, "Inactive");
    assert!(harness.notifier.sent().is_empty());
    // The invitation waits for the account to be able to sign in.
    assert!(harness.link(1).await.unwrap().invitation_pending);
    assert_eq!(harness.run().await.counts.invitations, 0);
}

#[tokio::test]
async fn an_account_created_before_a_crash_is_invited_when_adopted() {
    let harness = Harness::new(staff(2));
    // A run created employee 1's account and stopped before storing its link or inviting.
    let crashed = harness.lms.seed_user(
        LmsProfile {
            external_id: "1".into(),
            email: "person1@example.com".into(),
            status: "Active".into(),
            active: true,
            ..LmsProfile::default()
        },
        crate::domain::lms::DEFAULT_ROLE,
    );
    // Employee 2 has an account made by hand: adopted by email, not invited.
    harness.lms.seed_user(
        LmsProfile {
            email: "person2@example.com".into(),
            status: "Active".into(),
            active: true,
            ..LmsProfile::default()
        },
        "User",
    );

    let record = harness.run().await;

    assert_eq!(record.counts.adopted, 2);
    let recovered = outcome(&record, 1);
    assert!(recovered.invited, "{recovered:?}");
    assert!(reason(recovered).contains("set up by an earlier run that did not finish"));
    assert!(!outcome(&record, 2).invited);
    assert_eq!(harness.link(1).await.unwrap().lms_user_id, crashed);
    assert!(harness.link(1).await.unwrap().invited_at.is_some());
    let sent: Vec<_> = harness
        .notifier
        .sent()
        .into_iter()
        .map(|email| email.to)
        .collect();
    assert_eq!(sent, ["person1@example.com"]);
    assert_eq!(harness.run().await.counts.invitations, 0);
}

#[tokio::test]
async fn a_failed_invitation_is_sent_by_the_next_run_once() {
    let harness = Harness::new(staff(1));
    harness.notifier.fail_with(Some("mailbox full"));
    let first = harness.run().await;
    assert_eq!(first.counts.invitations, 0);
    assert!(harness.link(1).await.unwrap().invitation_pending);

    harness.notifier.fail_with(None);
    let dry = harness.dry_run().await;
    assert_eq!(
        reason(outcome(&dry, 1)),
        "would send the invitation this account is owed"
    );
    assert!(harness.notifier.sent().is_empty());

    let second = harness.run().await;
    assert_eq!(second.counts.invitations, 1);
    assert_eq!(second.counts.unchanged, 1);
    assert_eq!(
        reason(outcome(&second, 1)),
        "sent the invitation this account was owed"
    );
    assert_eq!(harness.notifier.sent().len(), 1);
    let link = harness.link(1).await.unwrap();
    assert!(!link.invitation_pending && link.invited_at.is_some());
    assert_eq!(harness.run().await.counts.invitations, 0);
}

#[tokio::test]
async fn a_mover_keeps_old_groups_unless_the_setting_says_otherwise() {
    let harness = Harness::new(staff(2));
    harness.run().await;
    harness.change(1, |employee| {
        employee.department = Some(crate::domain::employee::OrgUnit {
            id: Some(9),
            name: "Sales".into(),
        })
    });

    let record = harness.run().await;

    let moved = outcome(&record, 1);
    assert_eq!(
        moved.change_lines(),
        ["~ department: Engineering → Sales", "+ group Sales"]
    );
    let user = harness.user_of("person1@example.com");
    assert_eq!(
        harness.lms.groups_of(&user.id),
        BTreeSet::from(["Engineering", "Platform", "Sales"].map(str::to_owned))
    );
    assert_eq!(harness.lms.write_counts().group_removes, 0);
}

#[tokio::test]
async fn a_mover_leaves_the_groups_the_sync_added_and_only_those() {
    let mut harness = Harness::new(staff(2));
    harness.settings.groups.remove_when_moved = true;
    harness.run().await;
    let user = harness.user_of("person1@example.com");
    // An LMS admin put the user into a group by hand.
    harness.lms.seed_group("Mentors");
    harness.lms.seed_membership("Mentors", &user.id).unwrap();
    harness.change(1, |employee| {
        employee.department = Some(crate::domain::employee::OrgUnit {
            id: Some(9),
            name: "Sales".into(),
        })
    });

    let plan = harness.dry_run().await;
    assert_eq!(
        outcome(&plan, 1).change_lines(),
        [
            "~ department: Engineering → Sales",
            "+ group Sales",
            "- group Engineering"
        ]
    );
    assert_eq!(harness.lms.write_counts().group_removes, 0);

    let record = harness.run().await;

    assert_eq!(record.counts.groups_removed, 1);
    assert_eq!(record.counts.groups_added, 1);
    assert_eq!(
        outcome(&record, 1).change_lines(),
        outcome(&plan, 1).change_lines()
    );
    assert_eq!(
        harness.lms.groups_of(&user.id),
        BTreeSet::from(["Mentors", "Platform", "Sales"].map(str::to_owned))
    );
    assert_eq!(
        harness.link(1).await.unwrap().groups,
        BTreeSet::from(["Platform", "Sales"].map(str::to_owned))
    );
    // Nothing left to do.
    let again = harness.run().await;
    assert_eq!(again.counts.unchanged, 2);
    assert!(again.outcomes.is_empty(), "{:?}", again.outcomes);
}

#[tokio::test]
async fn movers_leave_a_group_in_batches() {
    let mut harness = Harness::new(staff(5));
    harness.settings.groups.remove_when_moved = true;
    harness.settings.scim.group_batch_size = 2;
    harness.run().await;
    for id in 1..=5 {
        harness.change(id, |employee| {
            employee.department = Some(crate::domain::employee::OrgUnit {
                id: Some(9),
                name: "Sales".into(),
            })
        });
    }
    let before = harness.lms.write_counts();

    let record = harness.run().await;

    assert_eq!(record.counts.groups_removed, 5);
    let after = harness.lms.write_counts();
    assert_eq!(after.group_removes - before.group_removes, 5);
    // Five members joining Sales and five leaving Engineering: three requests each way.
    assert_eq!(after.group_requests - before.group_requests, 6);
    for id in 1..=5 {
        let user = harness.user_of(&format!("person{id}@example.com"));
        assert!(!harness.lms.groups_of(&user.id).contains("Engineering"));
        assert!(harness.lms.groups_of(&user.id).contains("Sales"));
    }
}

#[tokio::test]
async fn turning_removal_on_later_catches_up_without_an_update() {
    let mut harness = Harness::new(staff(1));
    harness.run().await;
    harness.change(1, |employee| employee.team = None);
    harness.run().await;
    let user = harness.user_of("person1@example.com");
    assert!(harness.lms.groups_of(&user.id).contains("Platform"));
    let updates = harness.lms.write_counts().updates;

    harness.settings.groups.remove_when_moved = true;
    let record = harness.run().await;

    assert_eq!(record.counts.updated, 0);
    assert_eq!(outcome(&record, 1).change_lines(), ["- group Platform"]);
    assert_eq!(harness.lms.write_counts().updates, updates);
    assert!(!harness.lms.groups_of(&user.id).contains("Platform"));
}

#[tokio::test]
async fn only_the_chosen_fields_leave_personio() {
    let mut employees = staff(1);
    employees[0].birthday = Some(day("1990-05-06"));
    employees[0].gender = Some("female".into());
    let mut harness = Harness::new(employees);

    let record = harness.run().await;

    let user = harness.user_of("person1@example.com");
    assert_eq!(user.profile.birthday, None);
    assert_eq!(user.profile.gender, None);
    assert_eq!(user.profile.department.as_deref(), Some("Engineering"));
    assert!(record.fields_sent.contains(&"department".to_owned()));
    assert!(!record.fields_sent.contains(&"birthday".to_owned()));
    assert!(!record.fields_sent.contains(&"gender".to_owned()));

    // Turned on explicitly: sent from the next run, and the change says so.
    harness.settings.fields.insert(ProfileField::Birthday);
    let record = harness.run().await;
    assert_eq!(
        outcome(&record, 1).change_lines(),
        ["+ birthday: 1990-05-06"]
    );
    assert!(record.fields_sent.contains(&"birthday".to_owned()));
    assert_eq!(
        harness.user_of("person1@example.com").profile.birthday,
        Some(day("1990-05-06"))
    );
    // Turned off again: the value is removed from the LMS at the next write.
    harness.settings.fields.remove(&ProfileField::Department);
    harness.settings.fields.remove(&ProfileField::Birthday);
    let record = harness.run().await;
    assert_eq!(
        outcome(&record, 1).change_lines(),
        ["- department: Engineering", "- birthday: 1990-05-06"]
    );
    let user = harness.user_of("person1@example.com");
    assert_eq!(user.profile.department, None);
    // The group still follows the department.
    assert!(harness.lms.groups_of(&user.id).contains("Engineering"));
}

#[tokio::test]
async fn a_dry_run_speaks_of_what_would_happen() {
    let harness = Harness::new(staff(3));
    harness.run().await;
    harness.change(1, |employee| {
        employee.status = Some(EmploymentStatus::Inactive);
    });
    harness.change(2, |employee| select(employee, false));
    harness.run().await;
    harness.change(2, |employee| select(employee, true));
    harness.change(3, |employee| employee.position = Some("Lead".into()));

    let plan = harness.dry_run().await;

    assert!(plan.dry_run);
    assert_eq!(
        reason(outcome(&plan, 2)),
        "would be reactivated: selected in Personio again"
    );
    assert_eq!(
        outcome(&plan, 3).change_lines(),
        ["~ position: Engineer → Lead"]
    );
    let real = harness.run().await;
    assert_eq!(
        reason(outcome(&real, 2)),
        "reactivated: selected in Personio again"
    );
    assert_eq!(
        outcome(&real, 3).change_lines(),
        outcome(&plan, 3).change_lines()
    );
}

#[tokio::test]
async fn a_status_change_reads_as_one_field() {
    let harness = Harness::new(staff(1));
    harness.run().await;
    harness.change(1, |employee| {
        employee.status = Some(EmploymentStatus::Inactive)
    });

    let record = harness.run().await;

    assert_eq!(
        outcome(&record, 1).change_lines(),
        ["~ status: Active → Inactive (locked)"]
    );
    assert!(!harness.user_of("person1@example.com").active);
}

#[tokio::test]
async fn a_link_without_a_stored_profile_is_updated_as_before_and_keeps_one_after() {
    let harness = Harness::new(staff(1));
    harness.run().await;
    // A link as stored before profiles were kept.
    let mut old = harness.link(1).await.unwrap();
    let read = old.version;
    old.profile = None;
    old.version += 1;
    harness.store.put_link(&old, Some(read)).await.unwrap();
    let quiet = harness.run().await;
    assert_eq!(quiet.counts.unchanged, 1, "the hash still decides");
    assert!(harness.link(1).await.unwrap().profile.is_none());

    harness.change(1, |employee| employee.position = Some("Lead".into()));
    let record = harness.run().await;
    assert_eq!(record.counts.updated, 1);
    assert!(outcome(&record, 1).changes.is_empty());
    assert_eq!(reason(outcome(&record, 1)), "profile changed in Personio");
    let stored = harness.link(1).await.unwrap();
    assert_eq!(
        stored.profile.and_then(|profile| profile.title).as_deref(),
        Some("Lead")
    );

    harness.change(1, |employee| employee.position = Some("Head".into()));
    let record = harness.run().await;
    assert_eq!(
        outcome(&record, 1).change_lines(),
        ["~ position: Lead → Head"]
    );
}

#[tokio::test]
async fn every_row_names_the_person() {
    let mut harness = Harness::new(staff(30));
    harness.run().await;
    // 2 deselected (still listed), 3 gone, 4 unparseable, and 11 more gone (held back).
    harness.settings.deactivation_guard.max_count = 12;
    let mut employees: Vec<Result<Employee, EmployeeParseError>> = staff(30)
        .into_iter()
        .filter(|employee| employee.id.0 != 3 && employee.id.0 < 17)
        .map(Ok)
        .collect();
    if let Ok(deselected) = &mut employees[1] {
        select(deselected, false);
    }
    employees[2] = Err(EmployeeParseError {
        employee_id: Some(PersonioId(4)),
        name: None,
        field: "status".into(),
        reason: "unknown status".into(),
    });
    harness.hr.set_employees(employees);

    let record = harness.run().await;

    assert_eq!(record.counts.held_back, 16, "{:?}", record.notices);
    for (id, action) in [
        (2, OutcomeAction::HeldBack),
        (3, OutcomeAction::HeldBack),
        (4, OutcomeAction::Skipped),
        (20, OutcomeAction::HeldBack),
    ] {
        let row = outcome(&record, id);
        assert_eq!(row.action, action, "{row:?}");
        assert_eq!(
            row.name.as_deref(),
            Some(format!("First{id} Last{id}").as_str()),
            "{row:?}"
        );
        assert_eq!(
            row.email.as_deref(),
            Some(format!("person{id}@example.com").as_str())
        );
    }

    // Under the guard, the deselected and the gone are deactivated, named.
    harness.settings.deactivation_guard.max_count = 100;
    harness.settings.deactivation_guard.max_percent = 100;
    let record = harness.run().await;
    for id in [2, 3, 20] {
        let row = outcome(&record, id);
        assert_eq!(row.action, OutcomeAction::Deactivated, "{row:?}");
        assert_eq!(
            row.name.as_deref(),
            Some(format!("First{id} Last{id}").as_str())
        );
    }
}
