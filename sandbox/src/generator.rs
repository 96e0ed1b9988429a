//! A deterministic generator of Personio-like employees, quirks included: non-ASCII names, empty
//! values as `null`/`""`/`[]`, three date formats, numbers as strings, tags as a JSON string.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::employee::{Attribute, Employee, render_timestamp};

/// The custom attribute that selects employees for the LMS sync.
pub const LMS_SYNC_KEY: &str = "dynamic_1001";
pub const LMS_SYNC_LABEL: &str = "LMS Sync";
pub const COST_CENTER_KEY: &str = "dynamic_1002";
pub const NEXT_TRAINING_KEY: &str = "dynamic_1003";
pub const TAGS_KEY: &str = "dynamic_1004";
pub const DATE_OF_BIRTH_KEY: &str = "dynamic_1005";
pub const PERSONNEL_NUMBER_KEY: &str = "dynamic_1006";

const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Lukas",
    "Jürgen",
    "Łukasz",
    "José",
    "Søren",
    "Zoë",
    "Mia",
    "Élodie",
    "Björn",
    "Ömer",
    "Chloé",
    "Jan",
    "Ana-María",
    "Małgorzata",
    "François",
    "Leon",
    "Sofia",
    "Inês",
    "Nikolai",
];
const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Nowak",
    "García",
    "Sørensen",
    "Łukasiewicz",
    "Weiß",
    "Öztürk",
    "Dubois",
    "Kowalski",
    "Becker",
    "Fischer",
    "Hoffmann",
    "van der Berg",
    "O'Brien",
    "Schäfer",
    "Jensen",
    "Rossi",
    "Novák",
    "Lindqvist",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Customer Support",
    "Finance",
    "Human Resources",
    "Operations",
    "Produktion",
    "Logistik",
];
const TEAMS: &[&str] = &[
    "Platform",
    "Mobile",
    "Data",
    "Inside Sales",
    "Field Sales",
    "Brand",
    "Payroll",
    "Recruiting",
    "Lager Nord",
    "Schicht A",
];
const OFFICES: &[&str] = &["Munich", "Berlin", "Hamburg", "Wien", "Zürich", "Remote"];
const SUBCOMPANIES: &[&str] = &["Acme GmbH", "Acme Austria GmbH", "Acme Schweiz AG"];
const POSITIONS: &[&str] = &[
    "Software Engineer",
    "Senior Software Engineer",
    "Sales Manager",
    "Account Executive",
    "Marketing Specialist",
    "Support Agent",
    "Controller",
    "HR Business Partner",
    "Lagerist",
    "Teamleiter Produktion",
    "Werkstudent",
];
const TAGS: &[&str] = &[
    "remote",
    "first-aider",
    "Betriebsrat",
    "mentor",
    "fire-warden",
];
/// Yes/no values as HR types them, with their cumulative shares.
const LMS_SYNC_VALUES: &[(f64, Option<&str>)] = &[
    (0.30, Some("ja")),
    (0.50, Some("yes")),
    (0.55, Some("Ja")),
    (0.60, Some("Yes")),
    (0.72, Some("nein")),
    (0.82, Some("no")),
    (0.91, Some("")),
    (1.00, None),
];

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
    let mut generator = Generator::new(seed);
    let mut employees: Vec<Employee> = Vec::with_capacity(count);
    let mut emails = HashSet::with_capacity(count);
    let mut id = 10_000;
    for index in 0..count {
        id += 1 + generator.rng.random_range(0..3u64);
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
    let mut generator = Generator::new(seed ^ id.rotate_left(17));
    generator.today = now;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
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

struct Generator {
    rng: StdRng,
    today: DateTime<Utc>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            today: reference_time(),
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.rng.random_bool(probability)
    }

    fn status(&mut self) -> Status {
        match self.rng.random::<f64>() {
            share if share < 0.80 => Status::Active,
            share if share < 0.86 => Status::Onboarding,
            share if share < 0.92 => Status::Leave,
            _ => Status::Inactive,
        }
    }

    fn name(&mut self) -> (String, String) {
        (
            self.pick(FIRST_NAMES).to_owned(),
            self.pick(LAST_NAMES).to_owned(),
        )
    }

    fn unique_email(
        &mut self,
        first: &str,
        last: &str,
        id: u64,
        taken: &mut HashSet<String>,
    ) -> String {
        let local = format!("{}.{}", ascii_fold(first), ascii_fold(last));
        let mut email = format!("{local}@acme.example");
        if taken.contains(&email) {
            email = format!("{local}.{id}@acme.example");
        }
        taken.insert(email.clone());
        // Some addresses are stored with capitals, as HR typed them.
        if self.chance(0.15) {
            email = capitalise_parts(&email);
        }
        email
    }

    /// Everyone reports to one of the first tenth ("leads"); leads report to the first employee.
    /// The v1 spec types `supervisor` (and team, office, …) as objects, so the generated data
    /// never leaves them empty; tests that need an empty one set it with a mutation.
    fn pick_supervisor(&mut self, index: usize, earlier: &[Employee]) -> Option<Value> {
        let leads = (earlier.len() / 10).max(5).min(earlier.len());
        match index {
            0 => None,
            1..5 => Some(earlier[0].short_json()),
            _ => Some(earlier[self.rng.random_range(0..leads)].short_json()),
        }
    }

    /// A date in one of the formats Personio mixes: `YYYY-MM-DD`, `…T00:00:00+01:00`, `…+0100`.
    fn date(&mut self, date: NaiveDate) -> Value {
        let day = format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
        let text = match self.rng.random_range(0..3) {
            0 => day,
            1 => format!("{day}T00:00:00+01:00"),
            _ => format!("{day}T00:00:00+0100"),
        };
        Value::from(text)
    }

    /// An empty value as Personio sends it: sometimes `null`, sometimes `""`.
    fn empty(&mut self) -> Value {
        if self.chance(0.5) {
            Value::Null
        } else {
            Value::from("")
        }
    }

    fn days_before(&mut self, date: NaiveDate, range: std::ops::Range<u64>) -> NaiveDate {
        let days = self.rng.random_range(range);
        date.checked_sub_days(Days::new(days)).unwrap_or(date)
    }

    fn days_after(&mut self, date: NaiveDate, range: std::ops::Range<u64>) -> NaiveDate {
        let days = self.rng.random_range(range);
        date.checked_add_days(Days::new(days)).unwrap_or(date)
    }

    fn relation(&mut self, kind: &str, names: &[&str], id_base: u64) -> Value {
        let index = self.rng.random_range(0..names.len());
        json!({"type": kind, "attributes": {"id": id_base + index as u64, "name": names[index]}})
    }

    fn employee(
        &mut self,
        id: u64,
        first: &str,
        last: &str,
        email: &str,
        status: Status,
        supervisor: Option<Value>,
    ) -> Employee {
        let today = self.today.date_naive();
        let hire = match status {
            Status::Onboarding => self.days_after(today, 5..90),
            Status::Inactive => self.days_before(today, 800..5000),
            Status::Active | Status::Leave => self.days_before(today, 30..5000),
        };
        let (contract_end, termination, termination_type, termination_reason) = match status {
            Status::Inactive => {
                let worked = (today - hire).num_days().max(2) as u64;
                let left = self.days_after(hire, 1..worked);
                let kind = self.pick(&["employee", "employer", "mutual"]);
                (
                    self.date(left),
                    self.date(left),
                    Value::from(kind),
                    Value::from(self.pick(&["Neue Stelle", "Umzug", "Ende der Befristung"])),
                )
            }
            _ => {
                let contract_end = if self.chance(0.15) {
                    let end = self.days_after(today, 30..700);
                    self.date(end)
                } else {
                    self.empty()
                };
                (contract_end, self.empty(), Value::Null, Value::Null)
            }
        };
        let created = hire
            .checked_sub_days(Days::new(30))
            .and_then(|day| {
                day.and_hms_opt(
                    9,
                    self.rng.random_range(0..60),
                    self.rng.random_range(0..60),
                )
            })
            .map_or(self.today, |naive| naive.and_utc());
        let modified_days = self.rng.random_range(0..400);
        let modified = (self.today - chrono::Duration::days(modified_days)
            + chrono::Duration::seconds(self.rng.random_range(0..86_400)))
        .max(created)
        .min(self.today);
        let probation = hire.checked_add_days(Days::new(180)).unwrap_or(hire);
        let hire_value = self.date(hire);
        let probation_value = self.date(probation);
        let team = self.relation("Team", TEAMS, 59_000);
        let cost_centers = if self.chance(0.3) {
            json!([])
        } else {
            json!([{"type": "CostCenter", "attributes": {"id": 82_957, "name": "Cost center 1", "percentage": 100}}])
        };
        let hours = self.pick(&["40", "38.5", "32", "20"]);
        let balance = format!(
            "{}.{}",
            self.rng.random_range(0..30),
            self.pick(&["0", "5"])
        );
        let birth = NaiveDate::from_ymd_opt(1960, 1, 1)
            .and_then(|start| start.checked_add_days(Days::new(self.rng.random_range(0..15_700))))
            .unwrap_or(today);
        let birth_value = if self.chance(0.05) {
            Value::Null
        } else {
            self.date(birth)
        };
        let next_training = if self.chance(0.4) {
            let day = self.days_after(today, 1..365);
            self.date(day)
        } else {
            self.empty()
        };
        let tags = match self.rng.random_range(0..5) {
            0 | 1 => {
                let count = self.rng.random_range(1..=3);
                let chosen: Vec<&str> = (0..count).map(|_| self.pick(TAGS)).collect();
                Value::from(serde_json::to_string(&chosen).unwrap_or_default())
            }
            2 => Value::from(""),
            3 => json!([]),
            _ => Value::Null,
        };
        let lms_sync = {
            let draw = self.rng.random::<f64>();
            LMS_SYNC_VALUES
                .iter()
                .find(|(cumulative, _)| draw < *cumulative)
                .and_then(|(_, value)| *value)
                .map_or(Value::Null, Value::from)
        };
        let cost_center = if self.chance(0.2) {
            Value::from("")
        } else {
            Value::from(format!("KST-{}", self.rng.random_range(1000..10_000)))
        };
        let gender = self.pick(&["male", "female", "diverse"]);
        let employment_type = if self.chance(0.9) {
            "internal"
        } else {
            "external"
        };
        let position = self.pick(POSITIONS);
        let subcompany = self.relation("Subcompany", SUBCOMPANIES, 7_030);
        let office = self.relation("Office", OFFICES, 131_010);
        let department = self.relation("Department", DEPARTMENTS, 281_520);

        let std = Attribute::standard;
        let attributes = vec![
            std("first_name", "First name", "standard", Value::from(first)),
            std("last_name", "Last name", "standard", Value::from(last)),
            std(
                "preferred_name",
                "Name (preferred)",
                "standard",
                Value::from(format!("{first} {last}")),
            ),
            std("email", "Email", "standard", Value::from(email)),
            std("gender", "Gender", "standard", Value::from(gender)),
            std("status", "Status", "standard", Value::from(status.as_str())),
            std("position", "Position", "standard", Value::from(position)),
            std(
                "supervisor",
                "Supervisor",
                "standard",
                supervisor.unwrap_or(Value::Null),
            ),
            std(
                "employment_type",
                "Employment type",
                "standard",
                Value::from(employment_type),
            ),
            std(
                "weekly_working_hours",
                "Weekly hours",
                "standard",
                Value::from(hours),
            ),
            std("hire_date", "Hire date", "date", hire_value),
            std("contract_end_date", "Contract ends", "date", contract_end),
            std("termination_date", "Termination date", "date", termination),
            std(
                "termination_type",
                "Termination type",
                "standard",
                termination_type,
            ),
            std(
                "termination_reason",
                "Termination reason",
                "standard",
                termination_reason,
            ),
            std(
                "probation_period_end",
                "Probation period end",
                "date",
                probation_value,
            ),
            std(
                "created_at",
                "created_at",
                "date",
                Value::from(render_timestamp(created)),
            ),
            std("subcompany", "Subcompany", "standard", subcompany),
            std("office", "Office", "standard", office),
            std("department", "Department", "standard", department),
            std("cost_centers", "Cost center", "standard", cost_centers),
            std("team", "Team", "standard", team),
            std(
                "vacation_day_balance",
                "Vacation day balance",
                "decimal",
                Value::from(balance),
            ),
            std(
                "profile_picture",
                "Profile Picture",
                "standard",
                Value::from(format!(
                    "https://api.personio.de/v1/company/employees/{id}/profile-picture"
                )),
            ),
            Attribute::new(LMS_SYNC_KEY, LMS_SYNC_LABEL, "list", None, lms_sync),
            Attribute::new(
                COST_CENTER_KEY,
                "Kostenstelle",
                "standard",
                None,
                cost_center,
            ),
            Attribute::new(
                NEXT_TRAINING_KEY,
                "Nächste Unterweisung",
                "date",
                None,
                next_training,
            ),
            Attribute::new(TAGS_KEY, "Tags", "tags", None, tags),
            Attribute::new(
                DATE_OF_BIRTH_KEY,
                "Geburtstag",
                "date",
                Some("date_of_birth"),
                birth_value,
            ),
            Attribute::new(
                PERSONNEL_NUMBER_KEY,
                "Personalnummer",
                "standard",
                None,
                Value::from(format!("{:06}", id % 1_000_000)),
            ),
        ];
        Employee::new(id, attributes, modified)
    }
}

/// Makes a name usable in an email address: `Łukasz Müller` → `lukasz.mueller`.
fn ascii_fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for character in name.to_lowercase().chars() {
        match character {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'ł' => out.push('l'),
            'ø' => out.push('o'),
            'é' | 'ë' | 'è' | 'ę' => out.push('e'),
            'á' | 'à' | 'å' | 'ą' => out.push('a'),
            'í' => out.push('i'),
            'ó' => out.push('o'),
            'ç' | 'ć' => out.push('c'),
            'ń' => out.push('n'),
            'ś' => out.push('s'),
            'ż' | 'ź' => out.push('z'),
            'ê' => out.push('e'),
            '-' => out.push('-'),
            other if other.is_ascii_alphanumeric() => out.push(other),
            _ => {}
        }
    }
    out
}

fn capitalise_parts(email: &str) -> String {
    let mut out = String::with_capacity(email.len());
    let mut start_of_part = true;
    for character in email.chars() {
        if start_of_part {
            out.extend(character.to_uppercase());
        } else {
            out.push(character);
        }
        start_of_part = matches!(character, '.' | '@');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
