//! A deterministic generator of Personio-like employees, quirks included: non-ASCII names, empty
//! values as `null`/`""`/`[]`, three date formats, numbers as strings, tags as a JSON string.

mod draw;
mod email;
mod profile;
mod words;

use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::employee::{Attribute, Employee};
use draw::Generator;
use profile::Status;

pub use profile::{
    COST_CENTER_KEY, DATE_OF_BIRTH_KEY, LMS_SYNC_KEY, LMS_SYNC_LABEL, NEXT_TRAINING_KEY,
    PERSONNEL_NUMBER_KEY, TAGS_KEY,
};

/// "Today" for generated data, fixed so that a seed always yields the same dataset.
pub(crate) fn reference_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 15, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A new hire for [`crate::RunningSandbox::add_employee`]: names and email, plus any attribute
/// overrides; everything else is generated.
#[derive(Debug, Clone)]
pub struct NewEmployee {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub overrides: Vec<(String, Value)>,
}

impl NewEmployee {
    pub fn new(first_name: &str, last_name: &str, email: &str) -> Self {
        Self {
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            email: email.to_owned(),
            overrides: Vec::new(),
        }
    }

    /// Overrides one attribute (by key) of the generated profile.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.overrides.push((key.to_owned(), value.into()));
        self
    }
}

/// Generates `count` employees; the same seed gives the same employees.
pub fn generate(seed: u64, count: usize) -> Vec<Employee> {
    let mut generator = Generator::new(seed, reference_time());
    let mut employees: Vec<Employee> = Vec::with_capacity(count);
    let mut emails = HashSet::with_capacity(count);
    let mut id = 10_000;
    for index in 0..count {
        id += generator.id_gap();
        let supervisor = generator.pick_supervisor(index, &employees);
        let status = generator.status();
        let (first, last) = generator.name();
        let email = generator.unique_email(&first, &last, id, &mut emails);
        employees.push(generator.employee(id, &first, &last, &email, status, supervisor));
    }
    // The first employee (the managing director) reports to the chair of the holding, who is
    // the second employee: every generated supervisor is an object.
    if let [director, chair, ..] = employees.as_mut_slice() {
        let modified = director.last_modified();
        // `supervisor` exists on every generated employee, so this cannot fail.
        let _ = director.set_value("supervisor", chair.short_json(), modified);
    }
    employees
}

/// Builds a full profile for a new hire (status active, hired today) with `hire`'s overrides.
pub(crate) fn new_hire(seed: u64, id: u64, hire: &NewEmployee, now: DateTime<Utc>) -> Employee {
    let mut generator = Generator::new(seed ^ id.rotate_left(17), now);
    let employee = generator.employee(
        id,
        &hire.first_name,
        &hire.last_name,
        &hire.email,
        Status::Active,
        None,
    );
    let mut attributes: Vec<Attribute> = employee.attributes().cloned().collect();
    for (key, value) in &hire.overrides {
        if let Some(attribute) = attributes
            .iter_mut()
            .find(|attribute| &attribute.key == key)
        {
            attribute.value = value.clone();
        }
    }
    Employee::new(id, attributes, now)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;
    use crate::employee::{Visibility, render_list};

    fn render(employees: &[Employee]) -> String {
        let all: Vec<&Employee> = employees.iter().collect();
        render_list(&all, all.len(), 0, all.len().max(1), Visibility::default())
    }

    fn values<'a>(employees: &'a [Employee], key: &str) -> Vec<&'a Value> {
        employees
            .iter()
            .filter_map(|employee| employee.attribute(key))
            .map(|attribute| &attribute.value)
            .collect()
    }

    fn date_of(value: &Value) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(value.as_str()?.get(..10)?, "%Y-%m-%d").ok()
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        assert_eq!(render(&generate(7, 50)), render(&generate(7, 50)));
        assert_ne!(render(&generate(7, 50)), render(&generate(8, 50)));
        assert_eq!(generate(7, 0).len(), 0);
    }

    /// FNV-1a: a digest that, unlike std's hasher, is the same on every Rust version.
    fn fingerprint(text: &str) -> u64 {
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Tests and benchmarks elsewhere rely on what a seed generates; this catches a change to
    /// the generator (or to `rand`) that would silently change every dataset. If the change is
    /// meant, update the pins and say so in the change.
    #[test]
    fn a_seed_generates_the_same_dataset_as_before() {
        let hire = NewEmployee::new("Zoë", "Ångström", "zoe@acme.example").with(LMS_SYNC_KEY, "ja");
        let hires: Vec<Employee> = (0..20)
            .map(|index| new_hire(index * 31, 20_000 + index, &hire, reference_time()))
            .collect();
        assert_eq!(
            (
                fingerprint(&render(&generate(7, 300))),
                fingerprint(&render(&hires))
            ),
            (8_796_401_876_396_859_820, 9_056_593_255_874_394_114)
        );
    }

    #[test]
    fn statuses_and_selection_values_come_in_realistic_shares() {
        let employees = generate(3, 2000);
        let mut statuses: HashMap<&str, usize> = HashMap::new();
        for status in values(&employees, "status") {
            *statuses.entry(status.as_str().unwrap_or("?")).or_default() += 1;
        }
        assert!(statuses["active"] > 1400, "{statuses:?}");
        for rare in ["onboarding", "leave", "inactive"] {
            assert!((40..250).contains(&statuses[rare]), "{statuses:?}");
        }
        let sync = values(&employees, LMS_SYNC_KEY);
        for expected in [
            json!("ja"),
            json!("yes"),
            json!("nein"),
            json!("no"),
            json!(""),
            Value::Null,
        ] {
            assert!(
                sync.contains(&&expected),
                "no {expected} among LMS Sync values"
            );
        }
        let label = employees[0]
            .attribute(LMS_SYNC_KEY)
            .map(|attribute| attribute.label.as_str());
        assert_eq!(label, Some(LMS_SYNC_LABEL));
    }

    #[test]
    fn personio_quirks_are_present() {
        let employees = generate(11, 500);
        let hires = values(&employees, "hire_date");
        let has_format = |suffix: &str| {
            hires
                .iter()
                .any(|value| value.as_str().is_some_and(|text| text.ends_with(suffix)))
        };
        assert!(has_format("T00:00:00+01:00") && has_format("T00:00:00+0100"));
        assert!(
            hires
                .iter()
                .any(|value| value.as_str().is_some_and(|text| text.len() == 10))
        );
        let terminations = values(&employees, "termination_date");
        assert!(terminations.contains(&&Value::Null) && terminations.contains(&&json!("")));
        let tags = values(&employees, TAGS_KEY);
        assert!(tags.contains(&&json!([])));
        assert!(
            tags.iter()
                .any(|value| value.as_str().is_some_and(|text| text.starts_with("[\"")))
        );
        assert!(
            values(&employees, "weekly_working_hours")
                .iter()
                .all(|value| value.is_string())
        );
        let supervisors = values(&employees, "supervisor");
        assert!(
            supervisors
                .iter()
                .all(|value| value["attributes"]["id"]["value"].is_u64())
        );
        let birthday = employees[0]
            .attribute(DATE_OF_BIRTH_KEY)
            .and_then(|attribute| attribute.universal_id.as_deref());
        assert_eq!(birthday, Some("date_of_birth"));
        let department = &values(&employees, "department")[0];
        assert_eq!(department["type"], "Department");
        assert!(
            department["attributes"]["id"].is_u64() && department["attributes"]["name"].is_string()
        );
        let names: String = values(&employees, "last_name")
            .iter()
            .filter_map(|value| value.as_str())
            .collect();
        assert!(names.contains("Müller") && names.contains('Ł') && names.contains('ø'));
    }

    #[test]
    fn emails_are_unique_ignoring_case_and_some_are_mixed_case() {
        let employees = generate(5, 1500);
        let emails: Vec<&str> = values(&employees, "email")
            .iter()
            .filter_map(|value| value.as_str())
            .collect();
        let lowered: HashSet<String> = emails.iter().map(|email| email.to_lowercase()).collect();
        assert_eq!(lowered.len(), emails.len());
        assert!(
            emails
                .iter()
                .any(|email| email.chars().any(char::is_uppercase))
        );
        assert!(
            emails
                .iter()
                .all(|email| email.is_ascii() && email.contains('@'))
        );
    }

    #[test]
    fn dates_agree_with_status() {
        let today = reference_time().date_naive();
        for employee in generate(9, 1000) {
            let value = |key: &str| {
                employee
                    .attribute(key)
                    .map(|attribute| attribute.value.clone())
                    .unwrap_or_default()
            };
            let hire = date_of(&value("hire_date")).unwrap_or(today);
            match value("status").as_str() {
                Some("onboarding") => assert!(hire > today),
                Some("inactive") => {
                    let left = date_of(&value("termination_date"));
                    assert!(
                        left.is_some_and(|left| left > hire && left < today),
                        "{employee:?}"
                    );
                }
                _ => {
                    assert!(hire < today);
                    assert!(date_of(&value("termination_date")).is_none());
                }
            }
        }
    }

    #[test]
    fn new_hires_take_overrides() {
        let hire = NewEmployee::new("Zoë", "Ångström", "zoe@acme.example").with(LMS_SYNC_KEY, "ja");
        let employee = new_hire(1, 99, &hire, reference_time());
        assert_eq!(employee.text("first_name"), Some("Zoë"));
        assert_eq!(employee.text(LMS_SYNC_KEY), Some("ja"));
        assert_eq!(employee.text("status"), Some("active"));
    }
}
