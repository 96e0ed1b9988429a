//! An employee as read from Personio, after tolerant parsing. Every attribute is optional because
//! attributes the API credential may not read are silently absent from Personio's answers.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Personio's numeric employee id.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct PersonioId(pub i64);

impl fmt::Display for PersonioId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Personio's employment status. Any other value is a per-employee parse error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmploymentStatus {
    Onboarding,
    Active,
    Leave,
    Inactive,
}

impl EmploymentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Onboarding => "onboarding",
            Self::Active => "active",
            Self::Leave => "leave",
            Self::Inactive => "inactive",
        }
    }
}

/// Department, team, office or subcompany: Personio's `{type, attributes: {id, name}}` shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUnit {
    pub id: Option<i64>,
    pub name: String,
}

/// The supervisor attribute is a nested Employee; only its id and name matter here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervisor {
    pub id: Option<PersonioId>,
    pub name: Option<String>,
}

/// The value of a custom (`dynamic_*`) attribute, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AttributeValue {
    Text(String),
    Date(NaiveDate),
    /// Tags and multi-selects (which Personio may send as a JSON-encoded string).
    List(Vec<String>),
}

impl AttributeValue {
    /// The value as the text an LMS field or a yes/no comparison uses
    /// (dates as `YYYY-MM-DD`, lists joined with ", ").
    pub fn as_text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Date(date) => date.format("%Y-%m-%d").to_string(),
            Self::List(items) => items.join(", "),
        }
    }
}

/// A custom attribute, kept by its key (`dynamic_1234`) and its label ("LMS Sync").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAttribute {
    pub key: String,
    pub label: String,
    pub value: AttributeValue,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    pub id: PersonioId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub preferred_name: Option<String>,
    pub email: Option<String>,
    pub gender: Option<String>,
    pub status: Option<EmploymentStatus>,
    pub position: Option<String>,
    pub department: Option<OrgUnit>,
    pub team: Option<OrgUnit>,
    pub office: Option<OrgUnit>,
    pub subcompany: Option<OrgUnit>,
    pub supervisor: Option<Supervisor>,
    pub employment_type: Option<String>,
    pub hire_date: Option<NaiveDate>,
    pub contract_end_date: Option<NaiveDate>,
    pub termination_date: Option<NaiveDate>,
    pub last_modified_at: Option<DateTime<FixedOffset>>,
    /// The custom attribute whose `universal_id` is `date_of_birth`.
    pub birthday: Option<NaiveDate>,
    /// Every `dynamic_*` attribute, by key.
    pub custom: BTreeMap<String, CustomAttribute>,
}

impl Employee {
    /// A custom attribute by key (`dynamic_1234`) or, failing that, by label (case-insensitive).
    pub fn custom_attribute(&self, key_or_label: &str) -> Option<&CustomAttribute> {
        self.custom.get(key_or_label).or_else(|| {
            self.custom
                .values()
                .find(|attribute| attribute.label.eq_ignore_ascii_case(key_or_label))
        })
    }

    /// The name the person goes by. Personio's `preferred_name` is a whole name ("Alexander
    /// Bergmann" in the spec's examples), so it wins as it is; otherwise "First Last".
    pub fn display_name(&self) -> Option<String> {
        let non_empty = |name: &Option<String>| {
            name.as_deref()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
        };
        if let Some(preferred) = non_empty(&self.preferred_name) {
            return Some(preferred);
        }
        match (non_empty(&self.first_name), non_empty(&self.last_name)) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (Some(only), None) | (None, Some(only)) => Some(only),
            (None, None) => None,
        }
    }
}

/// One employee that could not be parsed: the rest of the page still parses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("employee {}: field `{field}`: {reason}", employee_id.map(|id| id.to_string()).unwrap_or_else(|| "without id".to_owned()))]
pub struct EmployeeParseError {
    pub employee_id: Option<PersonioId>,
    /// The name as far as the record shows it, so that an admin can find the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub field: String,
    pub reason: String,
}

/// One page of `GET /v1/company/employees`, parsed.
#[derive(Clone, Debug, Default)]
pub struct EmployeePage {
    /// 0-based, as Personio counts.
    pub current_page: u32,
    pub total_pages: u32,
    pub employees: Vec<Result<Employee, EmployeeParseError>>,
    /// Every attribute key and custom-attribute label present on at least one employee of the
    /// page. Attributes the credential may not read are absent, while readable empty ones are
    /// present: this is how the pre-flight check spots whitelisting gaps.
    pub attributes_present: BTreeSet<String>,
}

/// One employee read by itself (`GET /v1/company/employees/{id}`), parsed as a listing's
/// employee is, with the attributes the answer contained (to tell "not readable" from "empty").
#[derive(Clone, Debug)]
pub struct EmployeeRecord {
    pub employee: Result<Employee, EmployeeParseError>,
    pub attributes_present: BTreeSet<String>,
}

impl EmployeeRecord {
    /// The record as a page of one, for code that reads pages.
    pub fn into_page(self) -> EmployeePage {
        EmployeePage {
            current_page: 0,
            total_pages: 1,
            employees: vec![self.employee],
            attributes_present: self.attributes_present,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_prefers_the_whole_preferred_name() {
        let mut employee = Employee {
            first_name: Some("Alexander".into()),
            last_name: Some("Bergmann".into()),
            ..Employee::default()
        };
        assert_eq!(
            employee.display_name().as_deref(),
            Some("Alexander Bergmann")
        );
        employee.preferred_name = Some("Alex Bergmann".into());
        assert_eq!(employee.display_name().as_deref(), Some("Alex Bergmann"));
        employee.preferred_name = Some("  ".into());
        employee.first_name = None;
        assert_eq!(employee.display_name().as_deref(), Some("Bergmann"));
    }
}
