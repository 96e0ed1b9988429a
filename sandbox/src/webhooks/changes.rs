//! Which events a change to the sandbox's data fires.
//!
//! Personio documents `person.updated` for first name, last name, gender, language code, email,
//! preferred name and every custom attribute, and `employment.updated` for "employment"
//! attributes without listing them; the sandbox's list of employment attributes is below.
//! `employment.started`/`terminated` fire on the effective date in Personio; the sandbox has no
//! clock of effective dates and fires them when the status becomes `active` (from `onboarding`)
//! or `inactive`. Other attributes (vacation balance, profile picture, …) fire nothing.

use serde_json::Value;

use super::model::EventName;

/// A change made through the sandbox's mutation methods (Rust or HTTP control surface).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// A new employee; `status` is its status at creation.
    Hired { person: u64, status: String },
    /// One attribute changed value.
    Updated {
        person: u64,
        key: String,
        from: Value,
        to: Value,
    },
    /// The employee was deleted.
    Removed { person: u64 },
}

const PERSON_ATTRIBUTES: [&str; 7] = [
    "first_name",
    "last_name",
    "preferred_name",
    "email",
    "gender",
    "language_code",
    "language",
];

const EMPLOYMENT_ATTRIBUTES: [&str; 16] = [
    "status",
    "position",
    "supervisor",
    "employment_type",
    "weekly_working_hours",
    "hire_date",
    "contract_end_date",
    "termination_date",
    "termination_type",
    "termination_reason",
    "probation_period_end",
    "subcompany",
    "office",
    "department",
    "cost_centers",
    "team",
];

impl Change {
    pub fn person(&self) -> u64 {
        match self {
            Self::Hired { person, .. }
            | Self::Updated { person, .. }
            | Self::Removed { person } => *person,
        }
    }

    /// The changed attribute, for an update.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            Self::Updated { key, .. } => Some(key),
            Self::Hired { .. } | Self::Removed { .. } => None,
        }
    }

    /// The events Personio fires for this change, in the order they are created.
    pub fn events(&self) -> Vec<EventName> {
        match self {
            Self::Hired { status, .. } => {
                let mut events = vec![EventName::PersonCreated, EventName::EmploymentCreated];
                if status == "active" {
                    events.push(EventName::EmploymentStarted);
                }
                events
            }
            Self::Removed { .. } => vec![EventName::EmploymentDeleted, EventName::PersonDeleted],
            Self::Updated { key, from, to, .. } => updated_events(key, from, to),
        }
    }
}

fn updated_events(key: &str, from: &Value, to: &Value) -> Vec<EventName> {
    if key.starts_with("dynamic_") || PERSON_ATTRIBUTES.contains(&key) {
        return vec![EventName::PersonUpdated];
    }
    if !EMPLOYMENT_ATTRIBUTES.contains(&key) {
        return Vec::new();
    }
    let mut events = vec![EventName::EmploymentUpdated];
    if key == "status" {
        match (from.as_str(), to.as_str()) {
            (Some("onboarding"), Some("active")) => events.push(EventName::EmploymentStarted),
            (Some(before), Some("inactive")) if before != "inactive" => {
                events.push(EventName::EmploymentTerminated);
            }
            _ => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(key: &str, from: &str, to: &str) -> Vec<EventName> {
        Change::Updated {
            person: 1,
            key: key.to_owned(),
            from: Value::from(from),
            to: Value::from(to),
        }
        .events()
    }

    #[test]
    fn person_and_custom_attributes_fire_person_updated() {
        for key in ["email", "first_name", "dynamic_1001", "preferred_name"] {
            assert_eq!(update(key, "a", "b"), [EventName::PersonUpdated], "{key}");
        }
        assert!(update("vacation_day_balance", "1", "2").is_empty());
        assert!(update("profile_picture", "a", "b").is_empty());
    }

    #[test]
    fn status_changes_start_and_terminate_employments() {
        use EventName::{EmploymentStarted, EmploymentTerminated, EmploymentUpdated};
        assert_eq!(
            update("status", "onboarding", "active"),
            [EmploymentUpdated, EmploymentStarted]
        );
        assert_eq!(
            update("status", "active", "inactive"),
            [EmploymentUpdated, EmploymentTerminated]
        );
        assert_eq!(update("status", "active", "leave"), [EmploymentUpdated]);
        assert_eq!(update("status", "leave", "active"), [EmploymentUpdated]);
        assert_eq!(update("department", "a", "b"), [EmploymentUpdated]);
    }

    #[test]
    fn hires_and_removals_fire_person_and_employment_events() {
        let hired = Change::Hired {
            person: 7,
            status: "active".to_owned(),
        };
        assert_eq!(
            hired.events(),
            [
                EventName::PersonCreated,
                EventName::EmploymentCreated,
                EventName::EmploymentStarted
            ]
        );
        let onboarding = Change::Hired {
            person: 7,
            status: "onboarding".to_owned(),
        };
        assert_eq!(onboarding.events().len(), 2);
        assert_eq!(
            Change::Removed { person: 7 }.events(),
            [EventName::EmploymentDeleted, EventName::PersonDeleted]
        );
    }
}
