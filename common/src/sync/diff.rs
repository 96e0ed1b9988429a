//! What changed between the profile last written and the one to write, field by field, in the
//! words an admin reads in a plan or a run (`~ department: Customer Support → Marketing`,
//! `~ status: Active → Inactive (locked)`). Field names are those of the `fields` setting.

use crate::domain::lms::{LmsProfile, Manager};
use crate::domain::run::FieldChange;
use chrono::NaiveDate;
use std::collections::BTreeSet;

/// Every field whose value differs, in a fixed order: names, email, status, the optional fields,
/// then the custom attributes by LMS field name.
pub fn profile_changes(old: &LmsProfile, new: &LmsProfile) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut compare = |field: &str, from: Option<String>, to: Option<String>| {
        if from != to {
            changes.push(FieldChange {
                field: field.to_owned(),
                from,
                to,
            });
        }
    };
    compare("first_name", old.first_name.clone(), new.first_name.clone());
    compare("last_name", old.last_name.clone(), new.last_name.clone());
    compare(
        "display_name",
        old.display_name.clone(),
        new.display_name.clone(),
    );
    compare("email", Some(old.email.clone()), Some(new.email.clone()));
    compare("status", Some(status(old)), Some(status(new)));
    compare("position", old.title.clone(), new.title.clone());
    compare("department", old.department.clone(), new.department.clone());
    compare("team", old.team.clone(), new.team.clone());
    compare("office", old.location.clone(), new.location.clone());
    compare("subcompany", old.company.clone(), new.company.clone());
    compare(
        "employment_type",
        old.employment_type.clone(),
        new.employment_type.clone(),
    );
    compare("hire_date", date(old.hire_date), date(new.hire_date));
    compare(
        "contract_end_date",
        date(old.contract_end_date),
        date(new.contract_end_date),
    );
    compare(
        "termination_date",
        date(old.termination_date),
        date(new.termination_date),
    );
    compare(
        "supervisor",
        old.manager.as_ref().map(manager),
        new.manager.as_ref().map(manager),
    );
    compare("gender", old.gender.clone(), new.gender.clone());
    compare("birthday", date(old.birthday), date(new.birthday));
    let custom: BTreeSet<&String> = old.custom.keys().chain(new.custom.keys()).collect();
    for field in custom {
        compare(
            field,
            old.custom.get(field).cloned(),
            new.custom.get(field).cloned(),
        );
    }
    changes
}

/// The status as an admin reads it: the LMS status, and whether the account is locked.
pub fn status(profile: &LmsProfile) -> String {
    if profile.active {
        profile.status.clone()
    } else {
        format!("{} (locked)", profile.status)
    }
}

fn date(date: Option<NaiveDate>) -> Option<String> {
    date.map(|date| date.format("%Y-%m-%d").to_string())
}

/// The supervisor by name, else by Personio id.
fn manager(manager: &Manager) -> String {
    match (&manager.name, &manager.personio_id) {
        (Some(name), _) => name.clone(),
        (None, Some(id)) => format!("employee {id}"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn profile() -> LmsProfile {
        LmsProfile {
            external_id: "7".into(),
            email: "ann@example.com".into(),
            first_name: Some("Ann".into()),
            display_name: Some("Ann Lee".into()),
            status: "Active".into(),
            active: true,
            department: Some("Customer Support".into()),
            custom: BTreeMap::from([("costCenter".into(), "CC-1".into())]),
            ..LmsProfile::default()
        }
    }

    fn lines(changes: &[FieldChange]) -> Vec<String> {
        changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_equal_profile_has_no_changes() {
        assert!(profile_changes(&profile(), &profile()).is_empty());
    }

    #[test]
    fn changes_read_field_by_field() {
        let mut moved = profile();
        moved.department = Some("Marketing".into());
        moved.status = "Inactive".into();
        moved.active = false;
        moved.team = Some("Growth".into());
        moved.first_name = None;
        moved.hire_date = NaiveDate::from_ymd_opt(2024, 4, 1);
        moved.manager = Some(Manager {
            personio_id: Some("3".into()),
            name: None,
        });
        moved.custom.insert("costCenter".into(), "CC-2".into());
        moved.custom.insert("shirtSize".into(), "M".into());
        assert_eq!(
            lines(&profile_changes(&profile(), &moved)),
            [
                "- first_name: Ann",
                "~ status: Active → Inactive (locked)",
                "~ department: Customer Support → Marketing",
                "+ team: Growth",
                "+ hire_date: 2024-04-01",
                "+ supervisor: employee 3",
                "~ costCenter: CC-1 → CC-2",
                "+ shirtSize: M",
            ]
        );
    }
}
