//! The seeded draws. Their order is part of every seed's dataset: tests and benchmarks rely on a
//! seed always giving the same employees, so a draw added, dropped or moved changes them all.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::email::{ascii_fold, capitalise_parts};
use super::profile::{
    CustomValues, Employment, Ending, Job, Organisation, Person, Profile, Status,
};
use super::words::{
    DEPARTMENTS, FIRST_NAMES, GENDERS, LAST_NAMES, LMS_SYNC_VALUES, OFFICES, POSITIONS,
    SUBCOMPANIES, TAGS, TEAMS, TERMINATION_REASONS, TERMINATION_TYPES, WEEKLY_HOURS,
};
use crate::employee::Employee;

pub(super) struct Generator {
    rng: StdRng,
    /// "Today" for the generated dates.
    today: DateTime<Utc>,
}

impl Generator {
    pub fn new(seed: u64, today: DateTime<Utc>) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            today,
        }
    }

    // --- The employees of a company, one after the other.

    /// How far the next employee id lies above the last: 1 to 3, as deleted records leave gaps.
    pub fn id_gap(&mut self) -> u64 {
        1 + self.rng.random_range(0..3u64)
    }

    pub fn status(&mut self) -> Status {
        match self.rng.random::<f64>() {
            share if share < 0.80 => Status::Active,
            share if share < 0.86 => Status::Onboarding,
            share if share < 0.92 => Status::Leave,
            _ => Status::Inactive,
        }
    }

    pub fn name(&mut self) -> (String, String) {
        (
            self.pick(FIRST_NAMES).to_owned(),
            self.pick(LAST_NAMES).to_owned(),
        )
    }

    pub fn unique_email(
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
    pub fn pick_supervisor(&mut self, index: usize, earlier: &[Employee]) -> Option<Value> {
        let leads = (earlier.len() / 10).max(5).min(earlier.len());
        match index {
            0 => None,
            1..5 => Some(earlier[0].short_json()),
            _ => Some(earlier[self.rng.random_range(0..leads)].short_json()),
        }
    }

    // --- One employee's profile.

    pub fn employee(
        &mut self,
        id: u64,
        first: &str,
        last: &str,
        email: &str,
        status: Status,
        supervisor: Option<Value>,
    ) -> Employee {
        let employment = self.employment(status);
        let team = self.relation("Team", TEAMS, 59_000);
        let cost_centers = self.cost_centers();
        let weekly_hours = self.pick(WEEKLY_HOURS);
        let vacation_day_balance = self.vacation_day_balance();
        let custom = self.custom_values();
        let gender = self.pick(GENDERS);
        let employment_type = self.employment_type();
        let position = self.pick(POSITIONS);
        let subcompany = self.relation("Subcompany", SUBCOMPANIES, 7_030);
        let office = self.relation("Office", OFFICES, 131_010);
        let department = self.relation("Department", DEPARTMENTS, 281_520);
        let last_modified = employment.last_modified;
        let profile = Profile {
            id,
            person: Person {
                first_name: first,
                last_name: last,
                email,
                gender,
            },
            job: Job {
                status,
                position,
                supervisor,
                employment_type,
                weekly_hours,
            },
            employment,
            organisation: Organisation {
                subcompany,
                office,
                department,
                cost_centers,
                team,
            },
            vacation_day_balance,
            custom,
        };
        Employee::new(id, profile.into_attributes(), last_modified)
    }

    /// Hired in the future (onboarding) or the past; those who left, long enough ago.
    fn employment(&mut self, status: Status) -> Employment {
        let today = self.today.date_naive();
        let hire = match status {
            Status::Onboarding => self.days_after(today, 5..90),
            Status::Inactive => self.days_before(today, 800..5000),
            Status::Active | Status::Leave => self.days_before(today, 30..5000),
        };
        let ending = match status {
            Status::Inactive => self.termination(hire),
            _ => self.ongoing(),
        };
        let (created_at, last_modified) = self.record_times(hire);
        let probation_end = hire.checked_add_days(Days::new(180)).unwrap_or(hire);
        let hire_date = self.date(hire);
        let probation_period_end = self.date(probation_end);
        Employment {
            hire_date,
            ending,
            probation_period_end,
            created_at,
            last_modified,
        }
    }

    /// Left on a day between the hire day and today.
    fn termination(&mut self, hire: NaiveDate) -> Ending {
        let worked = (self.today.date_naive() - hire).num_days().max(2) as u64;
        let left = self.days_after(hire, 1..worked);
        let kind = self.pick(TERMINATION_TYPES);
        let contract_end_date = self.date(left);
        let termination_date = self.date(left);
        let reason = self.pick(TERMINATION_REASONS);
        Ending {
            contract_end_date,
            termination_date,
            termination_type: Value::from(kind),
            termination_reason: Value::from(reason),
        }
    }

    /// Still employed: sometimes on a fixed-term contract, never terminated.
    fn ongoing(&mut self) -> Ending {
        let contract_end_date = if self.chance(0.15) {
            let end = self.days_after(self.today.date_naive(), 30..700);
            self.date(end)
        } else {
            self.empty()
        };
        Ending {
            contract_end_date,
            termination_date: self.empty(),
            termination_type: Value::Null,
            termination_reason: Value::Null,
        }
    }

    /// The record was created 30 days before the hire day and last changed within the last
    /// 400 days, never before its creation nor after today.
    fn record_times(&mut self, hire: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
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
        (created, modified)
    }

    fn cost_centers(&mut self) -> Value {
        if self.chance(0.3) {
            json!([])
        } else {
            json!([{"type": "CostCenter", "attributes": {"id": 82_957, "name": "Cost center 1", "percentage": 100}}])
        }
    }

    fn vacation_day_balance(&mut self) -> String {
        format!(
            "{}.{}",
            self.rng.random_range(0..30),
            self.pick(&["0", "5"])
        )
    }

    fn employment_type(&mut self) -> &'static str {
        if self.chance(0.9) {
            "internal"
        } else {
            "external"
        }
    }

    fn custom_values(&mut self) -> CustomValues {
        let date_of_birth = self.date_of_birth();
        let next_training = if self.chance(0.4) {
            let day = self.days_after(self.today.date_naive(), 1..365);
            self.date(day)
        } else {
            self.empty()
        };
        let tags = self.tags();
        let lms_sync = self.lms_sync();
        let cost_center = if self.chance(0.2) {
            Value::from("")
        } else {
            Value::from(format!("KST-{}", self.rng.random_range(1000..10_000)))
        };
        CustomValues {
            lms_sync,
            cost_center,
            next_training,
            tags,
            date_of_birth,
        }
    }

    /// Born 1960 to 2002; a few records lack the date.
    fn date_of_birth(&mut self) -> Value {
        let birth = NaiveDate::from_ymd_opt(1960, 1, 1)
            .and_then(|start| start.checked_add_days(Days::new(self.rng.random_range(0..15_700))))
            .unwrap_or(self.today.date_naive());
        if self.chance(0.05) {
            Value::Null
        } else {
            self.date(birth)
        }
    }

    /// Tags as Personio sends them: a JSON array inside a string, or empty in three ways.
    fn tags(&mut self) -> Value {
        match self.rng.random_range(0..5) {
            0 | 1 => {
                let count = self.rng.random_range(1..=3);
                let chosen: Vec<&str> = (0..count).map(|_| self.pick(TAGS)).collect();
                Value::from(serde_json::to_string(&chosen).unwrap_or_default())
            }
            2 => Value::from(""),
            3 => json!([]),
            _ => Value::Null,
        }
    }

    fn lms_sync(&mut self) -> Value {
        let draw = self.rng.random::<f64>();
        LMS_SYNC_VALUES
            .iter()
            .find(|(cumulative, _)| draw < *cumulative)
            .and_then(|(_, value)| *value)
            .map_or(Value::Null, Value::from)
    }

    // --- The primitives everything above is drawn with.

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.rng.random_bool(probability)
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
}
