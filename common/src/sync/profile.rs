//! From a Personio employee to the LMS profile the sync maintains: selection, mapping, groups and
//! the stable hash that tells whether anything changed since the last run.

use crate::domain::employee::{Employee, EmploymentStatus, OrgUnit};
use crate::domain::lms::{LmsProfile, Manager};
use crate::domain::settings::{
    ALWAYS_SENT, GroupSource, IntegrationSettings, ProfileField, SelectionSettings,
};
use crate::text;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Whether the employee's selection attribute says yes. A missing attribute means no.
pub fn is_selected(employee: &Employee, selection: &SelectionSettings) -> bool {
    employee
        .custom_attribute(&selection.attribute)
        .is_some_and(|attribute| selection.is_yes(&attribute.value.as_text()))
}

/// Why a selected employee cannot be mapped to an LMS profile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("no email address in Personio")]
    MissingEmail,
    #[error("the email {0:?} is not an address")]
    InvalidEmail(String),
    #[error(
        "no employment status in Personio (is the `status` attribute readable by the API credential?)"
    )]
    MissingStatus,
}

/// Maps an employee to the profile written to the LMS: the fields the settings send, the rest
/// left empty. `today` decides the contract lock.
pub fn map_profile(
    employee: &Employee,
    settings: &IntegrationSettings,
    today: NaiveDate,
) -> Result<LmsProfile, MappingError> {
    let email = non_empty(employee.email.as_deref()).ok_or(MappingError::MissingEmail)?;
    if !crate::domain::settings::is_plausible_email(&email) {
        return Err(MappingError::InvalidEmail(email));
    }
    let status = employee.status.ok_or(MappingError::MissingStatus)?;
    let rule = settings.status.rule(status);
    let locked = settings.status.lock_outside_contract && contract_lock(employee, today).is_some();
    let custom: BTreeMap<String, String> = settings
        .custom_attributes
        .iter()
        .filter_map(|(personio, lms_field)| {
            let value = employee.custom_attribute(personio)?.value.as_text();
            text_field(Some(&value)).map(|value| (lms_field.clone(), value))
        })
        .collect();
    let sent = |field: ProfileField| settings.fields.contains(&field);
    let text = |field: ProfileField, value: Option<&str>| text_field(value).filter(|_| sent(field));
    let unit = |field: ProfileField, unit: &Option<OrgUnit>| {
        text(field, unit.as_ref().map(|unit| unit.name.as_str()))
    };
    let date = |field: ProfileField, date: Option<NaiveDate>| date.filter(|_| sent(field));
    Ok(LmsProfile {
        external_id: employee.id.to_string(),
        email,
        first_name: name_field(employee.first_name.as_deref()),
        last_name: name_field(employee.last_name.as_deref()),
        display_name: name_field(employee.display_name().as_deref()),
        status: rule.lms_status.clone(),
        active: rule.active && !locked,
        title: text(ProfileField::Position, employee.position.as_deref()),
        department: unit(ProfileField::Department, &employee.department),
        team: unit(ProfileField::Team, &employee.team),
        location: unit(ProfileField::Office, &employee.office),
        company: unit(ProfileField::Subcompany, &employee.subcompany),
        gender: text(ProfileField::Gender, employee.gender.as_deref()),
        birthday: date(ProfileField::Birthday, employee.birthday),
        hire_date: date(ProfileField::HireDate, employee.hire_date),
        contract_end_date: date(ProfileField::ContractEndDate, employee.contract_end_date),
        termination_date: date(ProfileField::TerminationDate, employee.termination_date),
        employment_type: text(
            ProfileField::EmploymentType,
            employee.employment_type.as_deref(),
        ),
        manager: employee
            .supervisor
            .as_ref()
            .filter(|_| sent(ProfileField::Supervisor))
            .and_then(|supervisor| {
                let manager = Manager {
                    personio_id: supervisor.id.map(|id| id.to_string()),
                    name: name_field(supervisor.name.as_deref()),
                };
                (manager.personio_id.is_some() || manager.name.is_some()).then_some(manager)
            }),
        employee_number: Some(employee.id.to_string()),
        custom,
    })
}

/// Why the employee's account would be locked (not able to sign in), in words for an admin:
/// "inactive in Personio (left 2024-03-31)", "contract starts on 2026-07-01". `None` when the
/// account may sign in. Agrees with [`map_profile`]'s `active`.
pub fn lock_reason(
    employee: &Employee,
    settings: &IntegrationSettings,
    today: NaiveDate,
) -> Option<String> {
    let status = employee.status?;
    let rule = settings.status.rule(status);
    if !rule.active {
        let left = [employee.termination_date, employee.contract_end_date]
            .into_iter()
            .flatten()
            .next();
        return Some(match (status, left) {
            (EmploymentStatus::Inactive, Some(left)) => {
                format!("inactive in Personio (left {left})")
            }
            (EmploymentStatus::Inactive, None) => "inactive in Personio".to_owned(),
            (status, _) => format!(
                "{} in Personio, and the settings lock accounts with status {:?}",
                status.as_str(),
                rule.lms_status
            ),
        });
    }
    if settings.status.lock_outside_contract {
        return contract_lock(employee, today);
    }
    None
}

/// Not yet started (hire date ahead) or already over (contract end or termination date passed),
/// said in words. The last day of the contract still counts as inside it.
fn contract_lock(employee: &Employee, today: NaiveDate) -> Option<String> {
    if let Some(hired) = employee.hire_date.filter(|hired| *hired > today) {
        return Some(format!("contract starts on {hired}"));
    }
    [employee.termination_date, employee.contract_end_date]
        .into_iter()
        .flatten()
        .find(|end| *end < today)
        .map(|end| format!("contract ended on {end}"))
}

/// The LMS group names the employee belongs in, per the settings. Taken from the employee, not
/// from the profile: a group can be wanted while its field is not sent.
pub fn desired_groups(employee: &Employee, settings: &IntegrationSettings) -> BTreeSet<String> {
    settings
        .groups
        .by
        .iter()
        .filter_map(|source| match source {
            GroupSource::Department => employee.department.as_ref().map(|unit| unit.name.as_str()),
            GroupSource::Team => employee.team.as_ref().map(|unit| unit.name.as_str()),
            GroupSource::Position => employee.position.as_deref(),
        })
        .filter_map(|name| non_empty(Some(name)))
        .collect()
}

/// The profile fields a run sends, as the run record and the pre-flight check list them:
/// what is always sent, the chosen fields, then each custom attribute's LMS field.
pub fn fields_sent(settings: &IntegrationSettings) -> Vec<String> {
    let always = ALWAYS_SENT.iter().map(|field| (*field).to_owned());
    let chosen = settings.fields.iter().map(|field| field.name().to_owned());
    let custom = settings
        .custom_attributes
        .iter()
        .map(|(personio, lms_field)| format!("{lms_field} (from {personio})"));
    always.chain(chosen).chain(custom).collect()
}

/// SHA-256 (hex) of the profile's canonical JSON: keys sorted at every level (through
/// `serde_json::Value`, whose maps are ordered), so that reordering struct fields in the code
/// does not make every employee look changed.
pub fn profile_hash(profile: &LmsProfile) -> String {
    // Serialising plain data (strings, dates, maps with string keys) to a Value cannot fail;
    // should it ever, the empty fallback only costs one extra update.
    let canonical = serde_json::to_value(profile)
        .map(|value| value.to_string())
        .unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// A name as the LMS gets it: one line, no control characters, at most
/// [`text::MAX_NAME_CHARS`] (`crate::text` documents the bounds).
fn name_field(value: Option<&str>) -> Option<String> {
    text::bounded_non_empty(value, text::MAX_NAME_CHARS)
}

/// Other text the LMS gets (position, department, team, office, custom attributes): one line,
/// no control characters, at most [`text::MAX_TEXT_CHARS`].
fn text_field(value: Option<&str>) -> Option<String> {
    text::bounded_non_empty(value, text::MAX_TEXT_CHARS)
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::employee::{
        AttributeValue, CustomAttribute, EmploymentStatus, OrgUnit, PersonioId, Supervisor,
    };

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn unit(name: &str) -> Option<OrgUnit> {
        Some(OrgUnit {
            id: Some(1),
            name: name.to_owned(),
        })
    }

    fn custom(key: &str, label: &str, value: AttributeValue) -> (String, CustomAttribute) {
        (
            key.to_owned(),
            CustomAttribute {
                key: key.to_owned(),
                label: label.to_owned(),
                value,
            },
        )
    }

    fn employee() -> Employee {
        Employee {
            id: PersonioId(42),
            first_name: Some("Johanna".into()),
            last_name: Some("Müller".into()),
            preferred_name: Some("Jo Müller".into()),
            email: Some(" jo@example.com ".into()),
            gender: Some("female".into()),
            status: Some(EmploymentStatus::Active),
            position: Some("Engineer".into()),
            department: unit("Engineering"),
            team: unit("Platform"),
            office: unit("Berlin"),
            subcompany: unit("Example GmbH"),
            supervisor: Some(Supervisor {
                id: Some(PersonioId(7)),
                name: Some("Max Boss".into()),
            }),
            employment_type: Some("internal".into()),
            hire_date: Some(day("2020-01-01")),
            birthday: Some(day("1990-05-06")),
            custom: BTreeMap::from([
                custom("dynamic_1", "LMS Sync", AttributeValue::Text(" Ja ".into())),
                custom(
                    "dynamic_2",
                    "Cost center",
                    AttributeValue::Text("CC-9".into()),
                ),
                custom(
                    "dynamic_3",
                    "Skills",
                    AttributeValue::List(vec!["Rust".into(), "SQL".into()]),
                ),
                custom("dynamic_4", "Empty", AttributeValue::Text("  ".into())),
            ]),
            ..Employee::default()
        }
    }

    fn settings() -> IntegrationSettings {
        IntegrationSettings::new("LMS Sync")
    }

    const TODAY: &str = "2025-06-15";

    #[test]
    fn selection_reads_the_attribute_by_label_or_key() {
        let mut settings = settings();
        assert!(is_selected(&employee(), &settings.selection));
        settings.selection.attribute = "dynamic_1".into();
        assert!(is_selected(&employee(), &settings.selection));
        settings.selection.attribute = "dynamic_2".into();
        assert!(!is_selected(&employee(), &settings.selection));
        settings.selection.attribute = "Not there".into();
        assert!(!is_selected(&employee(), &settings.selection));
    }

    #[test]
    fn maps_every_synced_field() {
        let mut settings = settings();
        settings
            .fields
            .extend([ProfileField::Gender, ProfileField::Birthday]);
        let profile = map_profile(&employee(), &settings, day(TODAY)).unwrap();
        assert_eq!(profile.external_id, "42");
        assert_eq!(profile.employee_number.as_deref(), Some("42"));
        assert_eq!(profile.email, "jo@example.com");
        assert_eq!(profile.first_name.as_deref(), Some("Johanna"));
        assert_eq!(profile.display_name.as_deref(), Some("Jo Müller"));
        assert_eq!(profile.status, "Active");
        assert!(profile.active);
        assert_eq!(profile.title.as_deref(), Some("Engineer"));
        assert_eq!(profile.department.as_deref(), Some("Engineering"));
        assert_eq!(profile.team.as_deref(), Some("Platform"));
        assert_eq!(profile.location.as_deref(), Some("Berlin"));
        assert_eq!(profile.company.as_deref(), Some("Example GmbH"));
        assert_eq!(profile.gender.as_deref(), Some("female"));
        assert_eq!(profile.birthday, Some(day("1990-05-06")));
        assert_eq!(profile.hire_date, Some(day("2020-01-01")));
        assert_eq!(profile.employment_type.as_deref(), Some("internal"));
        assert_eq!(
            profile.manager,
            Some(Manager {
                personio_id: Some("7".into()),
                name: Some("Max Boss".into())
            })
        );
        assert!(profile.custom.is_empty());
    }

    #[test]
    fn fields_not_chosen_are_not_sent_and_groups_do_not_depend_on_them() {
        let mut settings = settings();
        let default = map_profile(&employee(), &settings, day(TODAY)).unwrap();
        assert_eq!(default.gender, None, "gender is off by default");
        assert_eq!(default.birthday, None, "birthday is off by default");
        assert_eq!(default.department.as_deref(), Some("Engineering"));

        settings.fields = BTreeSet::from([ProfileField::Team]);
        settings.groups.by = BTreeSet::from([GroupSource::Department]);
        let minimal = map_profile(&employee(), &settings, day(TODAY)).unwrap();
        assert_eq!(minimal.team.as_deref(), Some("Platform"));
        for empty in [
            minimal.title.clone(),
            minimal.department.clone(),
            minimal.location.clone(),
            minimal.company.clone(),
            minimal.employment_type.clone(),
        ] {
            assert_eq!(empty, None);
        }
        assert_eq!(minimal.hire_date, None);
        assert_eq!(minimal.manager, None);
        // Always sent: names, email, Personio id, status.
        assert_eq!(minimal.first_name.as_deref(), Some("Johanna"));
        assert_eq!(minimal.email, "jo@example.com");
        assert_eq!(minimal.external_id, "42");
        assert_eq!(minimal.status, "Active");
        // The department group is still wanted, though the department is not sent.
        assert_eq!(
            desired_groups(&employee(), &settings),
            BTreeSet::from(["Engineering".to_owned()])
        );
        assert_eq!(
            fields_sent(&settings),
            [ALWAYS_SENT.as_slice(), &["team"]].concat()
        );
    }

    #[test]
    fn lock_reasons_agree_with_the_mapped_status() {
        let mut settings = settings();
        settings.status.lock_outside_contract = true;
        let today = day(TODAY);
        let reason = |employee: &Employee, settings: &IntegrationSettings| {
            let active = map_profile(employee, settings, today).unwrap().active;
            let reason = lock_reason(employee, settings, today);
            assert_eq!(active, reason.is_none(), "{reason:?}");
            reason
        };
        assert_eq!(reason(&employee(), &settings), None);
        let mut leaver = employee();
        leaver.status = Some(EmploymentStatus::Inactive);
        leaver.termination_date = Some(day("2024-03-31"));
        assert_eq!(
            reason(&leaver, &settings).as_deref(),
            Some("inactive in Personio (left 2024-03-31)")
        );
        leaver.termination_date = None;
        assert_eq!(
            reason(&leaver, &settings).as_deref(),
            Some("inactive in Personio")
        );
        let mut starter = employee();
        starter.hire_date = Some(day("2025-07-01"));
        assert_eq!(
            reason(&starter, &settings).as_deref(),
            Some("contract starts on 2025-07-01")
        );
        let mut ended = employee();
        ended.contract_end_date = Some(day("2025-06-14"));
        assert_eq!(
            reason(&ended, &settings).as_deref(),
            Some("contract ended on 2025-06-14")
        );
        let mut on_leave = employee();
        on_leave.status = Some(EmploymentStatus::Leave);
        settings.status.leave.active = false;
        assert_eq!(
            reason(&on_leave, &settings).as_deref(),
            Some("leave in Personio, and the settings lock accounts with status \"Absent\"")
        );
    }

    #[test]
    fn status_mapping_and_inactive_means_locked() {
        let expectations = [
            (EmploymentStatus::Onboarding, "Preboarding", true),
            (EmploymentStatus::Active, "Active", true),
            (EmploymentStatus::Leave, "Absent", true),
            (EmploymentStatus::Inactive, "Inactive", false),
        ];
        for (status, lms_status, active) in expectations {
            let mut employee = employee();
            employee.status = Some(status);
            let profile = map_profile(&employee, &settings(), day(TODAY)).unwrap();
            assert_eq!(
                (profile.status.as_str(), profile.active),
                (lms_status, active)
            );
        }
    }

    #[test]
    fn lock_outside_contract_only_when_enabled() {
        let mut settings = settings();
        let mut ended = employee();
        ended.termination_date = Some(day("2025-06-14"));
        let mut last_day = employee();
        last_day.contract_end_date = Some(day(TODAY));
        let mut future_hire = employee();
        future_hire.hire_date = Some(day("2025-07-01"));
        let active = |employee: &Employee, settings: &IntegrationSettings| {
            map_profile(employee, settings, day(TODAY)).unwrap().active
        };

        assert!(active(&ended, &settings));
        assert!(active(&future_hire, &settings));
        settings.status.lock_outside_contract = true;
        assert!(!active(&ended, &settings));
        assert!(!active(&future_hire, &settings));
        assert!(active(&last_day, &settings));
        assert!(active(&employee(), &settings));
    }

    #[test]
    fn custom_attributes_by_key_or_label_skipping_empty_values() {
        let mut settings = settings();
        settings.custom_attributes = BTreeMap::from([
            ("dynamic_2".into(), "costCenter".into()),
            ("skills".into(), "skills".into()),
            ("Empty".into(), "empty".into()),
            ("dynamic_404".into(), "absent".into()),
        ]);
        let profile = map_profile(&employee(), &settings, day(TODAY)).unwrap();
        assert_eq!(
            profile.custom,
            BTreeMap::from([
                ("costCenter".into(), "CC-9".into()),
                ("skills".into(), "Rust, SQL".into()),
            ])
        );
    }

    #[test]
    fn unmappable_employees_say_why() {
        let mut no_email = employee();
        no_email.email = Some("   ".into());
        let mut bad_email = employee();
        bad_email.email = Some("jo at example".into());
        let mut no_status = employee();
        no_status.status = None;
        let today = day(TODAY);
        assert_eq!(
            map_profile(&no_email, &settings(), today),
            Err(MappingError::MissingEmail)
        );
        assert_eq!(
            map_profile(&bad_email, &settings(), today),
            Err(MappingError::InvalidEmail("jo at example".into()))
        );
        assert_eq!(
            map_profile(&no_status, &settings(), today),
            Err(MappingError::MissingStatus)
        );
    }

    #[test]
    fn groups_follow_the_settings() {
        let mut settings = settings();
        assert!(desired_groups(&employee(), &settings).is_empty());
        settings.groups.by = BTreeSet::from([GroupSource::Department, GroupSource::Position]);
        assert_eq!(
            desired_groups(&employee(), &settings),
            BTreeSet::from(["Engineering".to_owned(), "Engineer".to_owned()])
        );
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let profile = map_profile(&employee(), &settings(), day(TODAY)).unwrap();
        let hash = profile_hash(&profile);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, profile_hash(&profile.clone()));
        let mut changed = profile.clone();
        changed.title = Some("Senior Engineer".into());
        assert_ne!(hash, profile_hash(&changed));
        let mut changed = profile;
        changed.custom.insert("x".into(), "y".into());
        assert_ne!(hash, profile_hash(&changed));
    }

    /// A NUL byte, line breaks and a 5,000-character name do not reach the LMS: every text field
    /// is one line without control characters, names at most 100 characters, other text 255.
    #[test]
    fn text_fields_are_one_line_without_control_characters_and_bounded() {
        let mut employee = employee();
        employee.first_name = Some("Jo\u{0}hanna".into());
        employee.last_name = Some("M".repeat(5000));
        employee.preferred_name = None;
        employee.position = Some("Senior\nEngineer\t(Platform)".into());
        employee.department = unit(&"Abteilung ".repeat(60));
        let profile = map_profile(&employee, &settings(), day(TODAY)).unwrap();
        assert_eq!(profile.first_name.as_deref(), Some("Johanna"));
        let last = profile.last_name.clone().unwrap_or_default();
        assert_eq!(last.chars().count(), text::MAX_NAME_CHARS);
        assert!(last.ends_with('…'));
        let display = profile.display_name.clone().unwrap_or_default();
        assert!(display.chars().count() <= text::MAX_NAME_CHARS, "{display}");
        assert!(!display.contains('\u{0}'));
        assert_eq!(profile.title.as_deref(), Some("Senior Engineer (Platform)"));
        let department = profile.department.clone().unwrap_or_default();
        assert!(department.chars().count() <= text::MAX_TEXT_CHARS);
        let every_text = serde_json::to_string(&profile).unwrap();
        assert!(
            !every_text.contains("\\u0000") && !every_text.contains("\\n"),
            "{every_text}"
        );
    }
}
