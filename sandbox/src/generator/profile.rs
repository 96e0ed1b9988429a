//! One generated employee's profile, section by section, and the attributes it becomes, in the
//! order Personio lists them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::employee::{Attribute, render_timestamp};

/// The custom attribute that selects employees for the LMS sync.
pub const LMS_SYNC_KEY: &str = "dynamic_1001";
pub const LMS_SYNC_LABEL: &str = "LMS Sync";
pub const COST_CENTER_KEY: &str = "dynamic_1002";
pub const NEXT_TRAINING_KEY: &str = "dynamic_1003";
pub const TAGS_KEY: &str = "dynamic_1004";
pub const DATE_OF_BIRTH_KEY: &str = "dynamic_1005";
pub const PERSONNEL_NUMBER_KEY: &str = "dynamic_1006";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Active,
    Onboarding,
    Leave,
    Inactive,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Onboarding => "onboarding",
            Self::Leave => "leave",
            Self::Inactive => "inactive",
        }
    }
}

/// Everything generated for one employee, ready to become its attributes.
pub(super) struct Profile<'a> {
    pub id: u64,
    pub person: Person<'a>,
    pub job: Job,
    pub employment: Employment,
    pub organisation: Organisation,
    /// A decimal as a string (`"12.5"`), as Personio sends it.
    pub vacation_day_balance: String,
    pub custom: CustomValues,
}

pub(super) struct Person<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub gender: &'static str,
}

pub(super) struct Job {
    pub status: Status,
    pub position: &'static str,
    /// The supervisor's short employee object; only the first employee has none.
    pub supervisor: Option<Value>,
    pub employment_type: &'static str,
    /// A number as a string (`"38.5"`), as Personio sends it.
    pub weekly_hours: &'static str,
}

/// The employment's dates, in Personio's mixed formats and empties, and the record's own
/// timestamps, which follow from the hire date.
pub(super) struct Employment {
    pub hire_date: Value,
    pub ending: Ending,
    pub probation_period_end: Value,
    pub created_at: DateTime<Utc>,
    /// Not an attribute of its own: the employee's `last_modified_at`.
    pub last_modified: DateTime<Utc>,
}

/// How the employment ends: a termination for those who left, perhaps a fixed-term contract
/// end for the others.
pub(super) struct Ending {
    pub contract_end_date: Value,
    pub termination_date: Value,
    pub termination_type: Value,
    pub termination_reason: Value,
}

/// Where the employee sits; relations are objects (`{"type", "attributes": {"id", "name"}}`).
pub(super) struct Organisation {
    pub subcompany: Value,
    pub office: Value,
    pub department: Value,
    pub cost_centers: Value,
    pub team: Value,
}

/// The company's own attributes (`dynamic_…`), with Personio's mix of empty values.
pub(super) struct CustomValues {
    pub lms_sync: Value,
    pub cost_center: Value,
    pub next_training: Value,
    pub tags: Value,
    pub date_of_birth: Value,
}

impl Profile<'_> {
    pub fn into_attributes(self) -> Vec<Attribute> {
        let mut attributes = Vec::with_capacity(32);
        attributes.extend(self.person.into_attributes());
        attributes.extend(self.job.into_attributes());
        attributes.extend(self.employment.into_attributes());
        attributes.extend(self.organisation.into_attributes());
        attributes.push(Attribute::standard(
            "vacation_day_balance",
            "Vacation day balance",
            "decimal",
            Value::from(self.vacation_day_balance),
        ));
        attributes.push(Attribute::standard(
            "profile_picture",
            "Profile Picture",
            "standard",
            Value::from(format!(
                "https://api.personio.de/v1/company/employees/{}/profile-picture",
                self.id
            )),
        ));
        attributes.extend(self.custom.into_attributes(self.id));
        attributes
    }
}

/// A built-in attribute of type `standard`.
fn standard(key: &str, label: &str, value: Value) -> Attribute {
    Attribute::standard(key, label, "standard", value)
}

/// A built-in attribute of type `date`.
fn date(key: &str, label: &str, value: Value) -> Attribute {
    Attribute::standard(key, label, "date", value)
}

impl Person<'_> {
    fn into_attributes(self) -> [Attribute; 5] {
        [
            standard("first_name", "First name", Value::from(self.first_name)),
            standard("last_name", "Last name", Value::from(self.last_name)),
            standard(
                "preferred_name",
                "Name (preferred)",
                Value::from(format!("{} {}", self.first_name, self.last_name)),
            ),
            standard("email", "Email", Value::from(self.email)),
            standard("gender", "Gender", Value::from(self.gender)),
        ]
    }
}

impl Job {
    fn into_attributes(self) -> [Attribute; 5] {
        [
            standard("status", "Status", Value::from(self.status.as_str())),
            standard("position", "Position", Value::from(self.position)),
            standard(
                "supervisor",
                "Supervisor",
                self.supervisor.unwrap_or(Value::Null),
            ),
            standard(
                "employment_type",
                "Employment type",
                Value::from(self.employment_type),
            ),
            standard(
                "weekly_working_hours",
                "Weekly hours",
                Value::from(self.weekly_hours),
            ),
        ]
    }
}

impl Employment {
    fn into_attributes(self) -> [Attribute; 7] {
        let ending = self.ending;
        [
            date("hire_date", "Hire date", self.hire_date),
            date(
                "contract_end_date",
                "Contract ends",
                ending.contract_end_date,
            ),
            date(
                "termination_date",
                "Termination date",
                ending.termination_date,
            ),
            standard(
                "termination_type",
                "Termination type",
                ending.termination_type,
            ),
            standard(
                "termination_reason",
                "Termination reason",
                ending.termination_reason,
            ),
            date(
                "probation_period_end",
                "Probation period end",
                self.probation_period_end,
            ),
            date(
                "created_at",
                "created_at",
                Value::from(render_timestamp(self.created_at)),
            ),
        ]
    }
}

impl Organisation {
    fn into_attributes(self) -> [Attribute; 5] {
        [
            standard("subcompany", "Subcompany", self.subcompany),
            standard("office", "Office", self.office),
            standard("department", "Department", self.department),
            standard("cost_centers", "Cost center", self.cost_centers),
            standard("team", "Team", self.team),
        ]
    }
}

impl CustomValues {
    /// The custom attributes; the personnel number is derived from the employee id.
    fn into_attributes(self, id: u64) -> [Attribute; 6] {
        [
            Attribute::new(LMS_SYNC_KEY, LMS_SYNC_LABEL, "list", None, self.lms_sync),
            Attribute::new(
                COST_CENTER_KEY,
                "Kostenstelle",
                "standard",
                None,
                self.cost_center,
            ),
            Attribute::new(
                NEXT_TRAINING_KEY,
                "Nächste Unterweisung",
                "date",
                None,
                self.next_training,
            ),
            Attribute::new(TAGS_KEY, "Tags", "tags", None, self.tags),
            Attribute::new(
                DATE_OF_BIRTH_KEY,
                "Geburtstag",
                "date",
                Some("date_of_birth"),
                self.date_of_birth,
            ),
            Attribute::new(
                PERSONNEL_NUMBER_KEY,
                "Personalnummer",
                "standard",
                None,
                Value::from(format!("{:06}", id % 1_000_000)),
            ),
        ]
    }
}
