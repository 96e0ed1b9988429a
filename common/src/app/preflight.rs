//! The pre-flight check of an integration: can a sync (and the certificate push) work with these
//! credentials and settings? Used by the CLI's `check` and the admin API, so both say the same.
//!
//! The most common set-up mistake is an API credential whose attribute whitelist lacks what the
//! mapping needs: Personio then silently omits those attributes, and a sync would quietly write
//! empty fields or, worse, see nobody as selected. So the check reads the employees the way a sync
//! does (no projection) and compares the attributes present with those the settings need.

use super::roster::read_roster;
use crate::certificates::{CategoryError, choose_category};
use crate::domain::run::{EmployeeOutcome, OutcomeAction};
use crate::domain::settings::{GroupSource, IntegrationSettings, ProfileField};
use crate::ports::{HrError, HrSource, LearningPlatform, LmsError};
use crate::retry::Deadline;
use crate::sync::profile::{desired_groups, fields_sent, is_selected};
use crate::sync::{Roster, SyncPlan, SyncScope};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    /// The sync works, but something will be missing or surprising.
    Warning,
    /// The sync (or the certificate push) cannot work until this is fixed.
    Failed,
}

/// One finding, named for machines (`personio.attributes`) and explained for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: CheckStatus,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    pub checks: Vec<Check>,
    /// Department/team/position group names of the selected employees that exist in the LMS.
    pub groups_found: Vec<String>,
    /// …and those that do not (the sync never creates groups).
    pub groups_missing: Vec<String>,
    pub employees_listed: usize,
    pub employees_selected: usize,
    /// Selected employees a sync skips for their data (no email, an email another selected
    /// employee has, a record that cannot be read), as a first sync sees them.
    pub skipped: Vec<EmployeeOutcome>,
}

impl PreflightReport {
    /// Whether nothing failed (warnings allowed).
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|check| check.status != CheckStatus::Failed)
    }

    fn push(&mut self, name: &'static str, status: CheckStatus, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            status,
            detail: detail.into(),
        });
    }
}

/// A Personio attribute the settings rely on, and how bad its absence is.
struct NeededAttribute {
    /// The attribute key as Personio sends it (or a custom attribute's label/key).
    key: String,
    /// Without it nothing can sync (email, status, the selection attribute).
    essential: bool,
}

fn needed_attributes(settings: &IntegrationSettings) -> Vec<NeededAttribute> {
    let essential = |key: &str| NeededAttribute {
        key: key.to_owned(),
        essential: true,
    };
    let mapped = |key: &str| NeededAttribute {
        key: key.to_owned(),
        essential: false,
    };
    let mut needed = vec![essential("email"), essential("status")];
    needed.push(essential(&settings.selection.attribute));
    needed.extend(["first_name", "last_name"].map(mapped));
    // Only the fields the settings send (what is not sent need not be readable).
    needed.extend(
        settings
            .fields
            .iter()
            .filter_map(|field| field.personio_attribute())
            .map(mapped),
    );
    let mut essential_keys: Vec<&str> = settings
        .groups
        .by
        .iter()
        .map(|source| group_attribute(*source))
        .collect();
    if settings.status.lock_outside_contract {
        // The lock decides sign-in from these dates: without them nobody is ever locked.
        essential_keys.extend(["hire_date", "contract_end_date", "termination_date"]);
    }
    for key in essential_keys {
        match needed.iter_mut().find(|a| a.key == key) {
            Some(attribute) => attribute.essential = true,
            None => needed.push(essential(key)),
        }
    }
    needed.extend(settings.custom_attributes.keys().map(|key| mapped(key)));
    needed
}

fn group_attribute(source: GroupSource) -> &'static str {
    match source {
        GroupSource::Department => "department",
        GroupSource::Team => "team",
        GroupSource::Position => "position",
    }
}

/// Runs every check. Never fails as a whole: each problem is a `Failed` check in the report.
pub async fn run_preflight(
    hr: &dyn HrSource,
    lms: &dyn LearningPlatform,
    settings: &IntegrationSettings,
    deadline: Deadline,
) -> PreflightReport {
    let mut report = PreflightReport::default();
    if let Err(error) = settings.validate() {
        report.push("settings", CheckStatus::Failed, error.to_string());
        return report;
    }
    report.push("settings", CheckStatus::Ok, "settings are valid");
    report_fields_sent(&mut report, settings);
    let wanted_groups = check_personio(&mut report, hr, settings, deadline).await;
    check_lms(&mut report, lms, settings, wanted_groups).await;
    if settings.certificates.enabled {
        check_certificate_category(&mut report, hr, settings, deadline).await;
    }
    report
}

/// Exactly which personal fields go to the LMS, and which chosen to stay in Personio.
fn report_fields_sent(report: &mut PreflightReport, settings: &IntegrationSettings) {
    let not_sent: Vec<&str> = ProfileField::ALL
        .into_iter()
        .filter(|field| !settings.fields.contains(field))
        .map(ProfileField::name)
        .collect();
    let mut detail = format!(
        "personal data sent to the LMS: {}",
        fields_sent(settings).join(", ")
    );
    if !not_sent.is_empty() {
        detail.push_str(&format!(
            "; not sent: {} (the `fields` setting)",
            not_sent.join(", ")
        ));
    }
    report.push("lms.fields", CheckStatus::Ok, detail);
}

/// Lists the employees as a sync does: the credential, the readable attributes, the selection.
/// Returns the group names the selected employees would join (`None` when nothing was listed).
async fn check_personio(
    report: &mut PreflightReport,
    hr: &dyn HrSource,
    settings: &IntegrationSettings,
    deadline: Deadline,
) -> Option<BTreeMap<String, usize>> {
    let listing = match list_employees(hr, settings, deadline).await {
        Ok(listing) => listing,
        Err(error) => {
            report.push(
                "personio.credentials",
                CheckStatus::Failed,
                describe_hr(&error),
            );
            return None;
        }
    };
    report.employees_listed = listing.listed;
    report.employees_selected = listing.selected;
    report.push(
        "personio.credentials",
        CheckStatus::Ok,
        format!(
            "authenticated; {} employees readable ({} unparsable)",
            listing.listed, listing.unparsable
        ),
    );
    check_attributes(
        report,
        settings,
        &listing.attributes_present,
        listing.listed,
    );
    let (status, detail) = if listing.selected == 0 {
        (
            CheckStatus::Warning,
            format!(
                "nobody is selected: no employee has {:?} set to one of {:?}",
                settings.selection.attribute, settings.selection.yes_values
            ),
        )
    } else {
        (
            CheckStatus::Ok,
            format!(
                "{} of {} employees are selected by {:?}",
                listing.selected, listing.listed, settings.selection.attribute
            ),
        )
    };
    report.push("personio.selection", status, detail);
    check_skipped(report, listing.roster, settings);
    Some(listing.group_names)
}

/// The employees the sync's own planning skips, named so the admin can fix them in Personio.
fn check_skipped(report: &mut PreflightReport, roster: Roster, settings: &IntegrationSettings) {
    // Planned as a first sync: no links, so whatever is skipped is skipped for its data.
    report.skipped = SyncPlan::new(roster, Vec::new(), settings, &SyncScope::Everyone)
        .settled
        .into_iter()
        .filter(|outcome| outcome.action == OutcomeAction::Skipped)
        .collect();
    if report.skipped.is_empty() {
        report.push(
            "personio.employees",
            CheckStatus::Ok,
            "every selected employee has a usable email of their own",
        );
        return;
    }
    const SHOWN: usize = 5;
    let mut named: Vec<String> = report
        .skipped
        .iter()
        .take(SHOWN)
        .map(|outcome| {
            let id = outcome
                .personio_id
                .map_or_else(|| "unknown id".to_owned(), |id| format!("Personio id {id}"));
            let name = outcome.name.as_deref().unwrap_or("(no name)");
            let reason = outcome.reason.as_deref().unwrap_or("no reason recorded");
            format!("{name} ({id}): {reason}")
        })
        .collect();
    if report.skipped.len() > SHOWN {
        named.push(format!("… and {} more", report.skipped.len() - SHOWN));
    }
    report.push(
        "personio.employees",
        CheckStatus::Warning,
        format!(
            "{} selected employees will be skipped until their data is fixed in Personio: {}",
            report.skipped.len(),
            named.join("; ")
        ),
    );
}

/// Whether the LMS answers, and then which of the wanted groups exist.
async fn check_lms(
    report: &mut PreflightReport,
    lms: &dyn LearningPlatform,
    settings: &IntegrationSettings,
    wanted_groups: Option<BTreeMap<String, usize>>,
) {
    match lms.find_user_by_external_id("preflight-probe").await {
        Ok(_) => {
            report.push(
                "lms.reachable",
                CheckStatus::Ok,
                "the learning platform answers",
            );
            if let Some(names) = wanted_groups {
                check_groups(report, lms, settings, names).await;
            }
        }
        Err(error) => report.push("lms.reachable", CheckStatus::Failed, describe_lms(&error)),
    }
}

/// Whether the certificates' document category exists in Personio.
async fn check_certificate_category(
    report: &mut PreflightReport,
    hr: &dyn HrSource,
    settings: &IntegrationSettings,
    deadline: Deadline,
) {
    let (status, detail) = match hr.document_categories(deadline).await {
        Ok(categories) => {
            match choose_category(&categories, settings.certificates.category.as_deref()) {
                Ok(category) => (
                    CheckStatus::Ok,
                    format!("certificates go to the category {:?}", category.name),
                ),
                Err(error) => (CheckStatus::Failed, describe_category(&error)),
            }
        }
        Err(error) => (
            CheckStatus::Failed,
            format!(
                "cannot read the document categories: {}",
                describe_hr(&error)
            ),
        ),
    };
    report.push("certificates.category", status, detail);
}

struct Listing {
    listed: usize,
    unparsable: usize,
    selected: usize,
    /// The listing as the sync collects it, for the sync's own skip rules.
    roster: Roster,
    attributes_present: BTreeSet<String>,
    /// Group name → how many selected employees would join it.
    group_names: BTreeMap<String, usize>,
}

/// One full listing, the way a sync reads it (no projection), keeping only what the checks need.
async fn list_employees(
    hr: &dyn HrSource,
    settings: &IntegrationSettings,
    deadline: Deadline,
) -> Result<Listing, HrError> {
    let mut listed = 0;
    let mut unparsable = 0;
    let mut selected = 0;
    let mut attributes_present = BTreeSet::new();
    let mut group_counts: BTreeMap<String, usize> = BTreeMap::new();
    let roster = read_roster(hr, settings, deadline, |page| {
        attributes_present.extend(page.attributes_present.iter().cloned());
        for employee in &page.employees {
            listed += 1;
            let Ok(employee) = employee else {
                unparsable += 1;
                continue;
            };
            if is_selected(employee, &settings.selection) {
                selected += 1;
                for name in desired_groups(employee, settings) {
                    *group_counts.entry(name).or_default() += 1;
                }
            }
        }
    })
    .await?;
    Ok(Listing {
        listed,
        unparsable,
        selected,
        roster,
        attributes_present,
        group_names: group_counts,
    })
}

fn check_attributes(
    report: &mut PreflightReport,
    settings: &IntegrationSettings,
    present: &BTreeSet<String>,
    listed: usize,
) {
    if listed == 0 {
        report.push(
            "personio.attributes",
            CheckStatus::Warning,
            "no employees are readable, so the readable attributes cannot be checked",
        );
        return;
    }
    let is_present = |key: &str| {
        present.contains(key) || present.iter().any(|seen| seen.eq_ignore_ascii_case(key))
    };
    let (mut essential_missing, mut mapped_missing) = (Vec::new(), Vec::new());
    for attribute in needed_attributes(settings) {
        if is_present(&attribute.key) {
            continue;
        }
        if attribute.essential {
            essential_missing.push(attribute.key);
        } else {
            mapped_missing.push(attribute.key);
        }
    }
    let whitelist_hint = "add them to the API credential's readable attributes in Personio \
                          (Settings → API credentials)";
    if !essential_missing.is_empty() {
        let selection = &settings.selection.attribute;
        let suggestion = essential_missing
            .iter()
            .any(|key| key == selection)
            .then(|| closest_attribute(selection, present))
            .flatten()
            .map(|label| {
                format!(
                    " (did you mean `{label}`? Personio has an attribute of that name; \
                     settings.selection.attribute must match it)"
                )
            })
            .unwrap_or_default();
        report.push(
            "personio.attributes",
            CheckStatus::Failed,
            format!(
                "not readable with this credential, and needed: {}{suggestion}; {whitelist_hint}",
                essential_missing.join(", ")
            ),
        );
    }
    if !mapped_missing.is_empty() {
        report.push(
            "personio.attributes",
            CheckStatus::Warning,
            format!(
                "not readable with this credential, so these LMS fields stay empty: {}; \
                 {whitelist_hint}",
                mapped_missing.join(", ")
            ),
        );
    }
    if essential_missing.is_empty() && mapped_missing.is_empty() {
        report.push(
            "personio.attributes",
            CheckStatus::Ok,
            "every attribute the mapping needs is readable",
        );
    }
}

/// The attribute Personio sent whose name is closest to `wanted` (a typo, other spacing or
/// case, `LMS-Sync` for `LMS Sync`), if one is close enough to be what was meant. Labels are
/// preferred to `dynamic_…` keys, which nobody types from memory.
fn closest_attribute(wanted: &str, present: &BTreeSet<String>) -> Option<String> {
    let normal = |text: &str| -> Vec<char> {
        text.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted_normal = normal(wanted);
    if wanted_normal.is_empty() {
        return None;
    }
    let allowed = (wanted_normal.len() / 3).max(2);
    present
        .iter()
        .filter(|candidate| !candidate.starts_with("dynamic_") || wanted.starts_with("dynamic_"))
        .map(|candidate| (edit_distance(&wanted_normal, &normal(candidate)), candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, candidate)| (*distance, candidate.len()))
        .map(|(_, candidate)| candidate.clone())
}

/// Levenshtein distance of two character sequences.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, left) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, right) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(left != right);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

async fn check_groups(
    report: &mut PreflightReport,
    lms: &dyn LearningPlatform,
    settings: &IntegrationSettings,
    names: BTreeMap<String, usize>,
) {
    if settings.groups.by.is_empty() {
        return;
    }
    for (name, members) in names {
        match lms.find_group(&name).await {
            Ok(Some(_)) => report.groups_found.push(name),
            Ok(None) => report
                .groups_missing
                .push(format!("{name} ({members} employees)")),
            Err(error) => {
                report.push(
                    "lms.groups",
                    CheckStatus::Failed,
                    format!("cannot look up group {name:?}: {}", describe_lms(&error)),
                );
                return;
            }
        }
    }
    let (status, detail) = if report.groups_missing.is_empty() {
        (
            CheckStatus::Ok,
            format!("all {} groups exist in the LMS", report.groups_found.len()),
        )
    } else {
        (
            CheckStatus::Warning,
            format!(
                "{} of {} groups do not exist in the LMS (the sync never creates groups): {}",
                report.groups_missing.len(),
                report.groups_missing.len() + report.groups_found.len(),
                report.groups_missing.join(", ")
            ),
        )
    };
    report.push("lms.groups", status, detail);
}

fn describe_hr(error: &HrError) -> String {
    match error {
        HrError::Unauthorized { .. } => format!(
            "{error}; check the client id and secret (Personio → Settings → API credentials)"
        ),
        other => other.to_string(),
    }
}

fn describe_lms(error: &LmsError) -> String {
    match error {
        LmsError::Unauthorized { .. } => format!("{error}; check the SCIM token"),
        other => other.to_string(),
    }
}

fn describe_category(error: &CategoryError) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::employee::{Employee, OrgUnit};
    use crate::lms::memory::MemoryLms;
    use crate::ports::DocumentCategory;
    use crate::sync::testing::{StaticHrSource, employee, select};

    fn settings() -> IntegrationSettings {
        let mut settings = IntegrationSettings::new("LMS Sync");
        settings.groups.by = BTreeSet::from([GroupSource::Department]);
        settings
    }

    fn staff() -> Vec<Employee> {
        let mut anna = employee(1, "anna@example.com");
        select(&mut anna, true);
        anna.department = Some(OrgUnit {
            id: Some(1),
            name: "Sales".into(),
        });
        let mut ben = employee(2, "ben@example.com");
        select(&mut ben, true);
        ben.department = Some(OrgUnit {
            id: Some(2),
            name: "Support".into(),
        });
        let mut cleo = employee(3, "cleo@example.com");
        select(&mut cleo, false);
        cleo.department = Some(OrgUnit {
            id: Some(3),
            name: "Legal".into(),
        });
        vec![anna, ben, cleo]
    }

    fn status_of(report: &PreflightReport, name: &str) -> Vec<CheckStatus> {
        report
            .checks
            .iter()
            .filter(|check| check.name == name)
            .map(|check| check.status)
            .collect()
    }

    #[tokio::test]
    async fn reports_selection_and_which_groups_exist() {
        let hr = StaticHrSource::of(staff());
        let lms = MemoryLms::with_groups(["Sales"]);
        let report = run_preflight(&hr, &lms, &settings(), Deadline::none()).await;
        assert!(report.passed(), "{report:#?}");
        assert_eq!(report.employees_listed, 3);
        assert_eq!(report.employees_selected, 2);
        assert_eq!(report.groups_found, vec!["Sales".to_owned()]);
        // Only selected employees' groups count: Legal belongs to a deselected employee.
        assert_eq!(
            report.groups_missing,
            vec!["Support (1 employees)".to_owned()]
        );
        assert_eq!(status_of(&report, "lms.groups"), vec![CheckStatus::Warning]);
    }

    fn first_failure(report: &PreflightReport) -> String {
        report
            .checks
            .iter()
            .find(|check| check.status == CheckStatus::Failed)
            .map(|check| check.detail.clone())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn lists_the_personal_fields_sent_and_checks_only_those() {
        let hr = StaticHrSource::of(staff());
        let lms = MemoryLms::with_groups(["Sales", "Support"]);
        let mut settings = settings();
        let report = run_preflight(&hr, &lms, &settings, Deadline::none()).await;
        let fields = report
            .checks
            .iter()
            .find(|check| check.name == "lms.fields")
            .expect("a fields check");
        assert_eq!(fields.status, CheckStatus::Ok);
        assert!(
            fields.detail.starts_with(
                "personal data sent to the LMS: first_name, last_name, display_name, email, \
                 personio_id, status, position, department"
            ) && fields
                .detail
                .ends_with("; not sent: gender, birthday (the `fields` setting)"),
            "{}",
            fields.detail
        );
        // The test employees have no office: a warning while the office is sent, none when not.
        let warned = |report: &PreflightReport| {
            report.checks.iter().any(|check| {
                check.name == "personio.attributes"
                    && check.status == CheckStatus::Warning
                    && check.detail.contains("office")
            })
        };
        assert!(warned(&report), "{report:#?}");
        settings.fields = BTreeSet::from([ProfileField::Department]);
        let report = run_preflight(&hr, &lms, &settings, Deadline::none()).await;
        assert!(!warned(&report), "{report:#?}");
    }

    #[tokio::test]
    async fn a_missing_selection_attribute_fails_the_check() {
        let mut people = staff();
        for person in &mut people {
            person.custom.clear();
        }
        let hr = StaticHrSource::of(people);
        let lms = MemoryLms::with_groups(["Sales"]);
        let report = run_preflight(&hr, &lms, &settings(), Deadline::none()).await;
        assert!(!report.passed());
        let failed = first_failure(&report);
        assert!(failed.contains("LMS Sync"), "{failed}");
        assert_eq!(
            status_of(&report, "personio.selection"),
            vec![CheckStatus::Warning]
        );
    }

    #[tokio::test]
    async fn a_misspelt_selection_attribute_gets_the_closest_label_suggested() {
        let hr = StaticHrSource::of(staff());
        let lms = MemoryLms::with_groups(["Sales"]);
        let mut settings = settings();
        settings.selection.attribute = "LMS-sync".into();
        let report = run_preflight(&hr, &lms, &settings, Deadline::none()).await;
        let failed = first_failure(&report);
        assert!(failed.contains("did you mean `LMS Sync`?"), "{failed}");

        let present = BTreeSet::from([
            "LMS Sync".to_owned(),
            "dynamic_99".to_owned(),
            "email".to_owned(),
        ]);
        assert_eq!(
            closest_attribute("LMS Snyc", &present).as_deref(),
            Some("LMS Sync")
        );
        assert_eq!(
            closest_attribute("lms_sync", &present).as_deref(),
            Some("LMS Sync")
        );
        assert_eq!(closest_attribute("Cost center", &present), None);
    }

    #[tokio::test]
    async fn selected_employees_without_a_usable_email_are_named() {
        let mut people = staff();
        people[0].email = None;
        let mut twin = employee(4, "ben@example.com");
        select(&mut twin, true);
        people.push(twin);
        let hr = StaticHrSource::of(people);
        let lms = MemoryLms::with_groups(["Sales", "Support"]);
        let report = run_preflight(&hr, &lms, &settings(), Deadline::none()).await;
        assert!(report.passed(), "skips warn, they do not fail");
        let ids: Vec<i64> = report
            .skipped
            .iter()
            .filter_map(|outcome| outcome.personio_id.map(|id| id.0))
            .collect();
        assert_eq!(ids, vec![1, 2, 4], "{report:#?}");
        assert_eq!(
            status_of(&report, "personio.employees"),
            vec![CheckStatus::Warning]
        );
        let detail = &report
            .checks
            .iter()
            .find(|check| check.name == "personio.employees")
            .expect("the check")
            .detail;
        assert!(
            detail.starts_with("3 selected employees will be skipped"),
            "{detail}"
        );
        assert!(
            detail.contains("First1 Last1 (Personio id 1): no email address"),
            "{detail}"
        );

        let clean = run_preflight(
            &StaticHrSource::of(staff()),
            &lms,
            &settings(),
            Deadline::none(),
        )
        .await;
        assert!(clean.skipped.is_empty());
        assert_eq!(
            status_of(&clean, "personio.employees"),
            vec![CheckStatus::Ok]
        );
    }

    #[tokio::test]
    async fn certificate_category_is_checked_when_enabled() {
        let hr = StaticHrSource::of(staff());
        hr.set_categories(vec![DocumentCategory {
            id: 7,
            name: "Other documents".into(),
        }]);
        let lms = MemoryLms::with_groups(["Sales", "Support"]);
        let mut settings = settings();
        settings.certificates.enabled = true;
        let report = run_preflight(&hr, &lms, &settings, Deadline::none()).await;
        assert_eq!(
            status_of(&report, "certificates.category"),
            vec![CheckStatus::Ok]
        );

        settings.certificates.category = Some("Zertifikate".into());
        let report = run_preflight(&hr, &lms, &settings, Deadline::none()).await;
        assert_eq!(
            status_of(&report, "certificates.category"),
            vec![CheckStatus::Failed]
        );
        assert!(!report.passed());
    }

    #[tokio::test]
    async fn a_failing_listing_is_reported_not_raised() {
        let hr = StaticHrSource::of(staff());
        hr.fail_after_pages(Some(0));
        let lms = MemoryLms::with_groups(["Sales"]);
        let report = run_preflight(&hr, &lms, &settings(), Deadline::none()).await;
        assert_eq!(
            status_of(&report, "personio.credentials"),
            vec![CheckStatus::Failed]
        );
        assert_eq!(status_of(&report, "lms.reachable"), vec![CheckStatus::Ok]);
    }
}
