//! Integration settings, validated on load.
//!
//! One integration = one Personio account connected to one LMS tenant. These are the choices an
//! admin makes for it: who is synced, how statuses map, which groups, which emails, which custom
//! attributes, and how careful deactivation is. Every loader validates, and a validation error
//! names the field (`settings.selection.attribute: must not be empty`), because these files and
//! API bodies are written by people.
//!
//! Only `selection.attribute` is required; [`EXAMPLE_SETTINGS_TOML`] shows every field with
//! its default. The certificate push's part is in [`certificates`].

pub mod certificates;
pub mod delta_runs;
pub mod fields;
pub mod scim;

pub use certificates::{CertificateSettings, CertificateSettingsError, HostAllowList};
pub use delta_runs::DeltaRunSettings;
pub use fields::{ALWAYS_SENT, ProfileField};
pub use scim::{AttributeMapping, InactiveManagerRule, ScimSettings};

use super::employee::EmploymentStatus;
use crate::secret::without_values;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A settings file with every field (the defaults, plus examples of the optional ones); the
/// CLI can offer it as a starting point.
pub const EXAMPLE_SETTINGS_TOML: &str = r#"
apply_concurrency = 8                      # LMS writes in flight at once (1..=64)
custom_attributes = { dynamic_1234 = "costCenter", "Shirt size" = "shirtSize" }
# Profile fields sent to the LMS besides names, email, Personio id and status (always sent).
# Also possible: "gender", "birthday" (off by default: the LMS rarely needs them).
fields = ["position", "department", "team", "office", "subcompany", "employment_type",
          "hire_date", "contract_end_date", "termination_date", "supervisor"]
create_locked_accounts = false             # true: also create accounts that start locked
                                           # (leavers, contracts not started)

[selection]
attribute = "LMS Sync"                     # label or dynamic_* key of a yes/no attribute
yes_values = ["ja", "yes", "true"]         # trimmed, case-insensitive

[status]                                   # Personio status → LMS status, may sign in
onboarding = { lms_status = "Preboarding", active = true }
active = { lms_status = "Active", active = true }
leave = { lms_status = "Absent", active = true }
inactive = { lms_status = "Inactive", active = false }
lock_outside_contract = false              # lock before the hire date / after the end

[groups]
by = ["department", "team", "position"]    # LMS groups with exactly these names
remove_when_moved = false                  # true: take users out of groups the sync added
                                           # when the department/team/position changes

[notifications]
invite_new_users = false
login_url = "https://lms.example.com"      # optional, shown in the invitation
admin_email = "hr@example.com"             # optional, gets the run summaries
summary = "on_changes"                     # when: always | on_changes | on_failures | never

[deactivation_guard]                       # hold back when both are exceeded
max_count = 10
max_percent = 20

[certificates]                             # LMS certificates → Personio documents
enabled = false
# category = "Learning certificates"       # default: first of "Learning certificates",
                                           # "Bildungszertifikate", else "Other documents"
allowed_pdf_hosts = ["*.lms.example.com"]  # where pdf_url may point (https only)
in_progress_ttl_seconds = 900              # one worker's claim on a certificate
parked_expiry_days = 30                    # a job waiting for its employee fails after this

[delta_runs]                               # between full runs, list only who changed
enabled = true                             # false: every scheduled run is a full run
full_every_hours = 24                      # a full run (catches deletions) this often
overlap_minutes = 5                        # how far a delta reaches back before the last run
[scim]                                     # how the profile reaches the SCIM server
bulk = true                                # SCIM Bulk when the server offers it
group_batch_size = 100                     # members added per group request (1..=1000)
inactive_manager = "keep"                  # a deactivated supervisor: "keep" or "clear" the reference
# reconcile_every_hours = 24               # a scheduled run a day also repairs hand changes in the LMS
[scim.attributes]                          # field → SCIM attribute path; "" = not sent
location = 'addresses[type eq "work"].locality'
"custom.costCenter" = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"
"#;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSettings {
    pub selection: SelectionSettings,
    #[serde(default)]
    pub status: StatusSettings,
    #[serde(default)]
    pub groups: GroupSettings,
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// Personio attribute (`dynamic_…` key or label) → LMS field name.
    #[serde(default)]
    pub custom_attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub deactivation_guard: DeactivationGuard,
    /// How many employees are written to the LMS at the same time.
    #[serde(default = "default_apply_concurrency")]
    pub apply_concurrency: usize,
    /// The certificate push (LMS certificates → Personio documents).
    #[serde(default)]
    pub certificates: CertificateSettings,
    /// The optional profile fields sent to the LMS ([`fields`]).
    #[serde(default = "fields::default_fields")]
    pub fields: BTreeSet<ProfileField>,
    /// Create accounts for selected employees whose account would be locked (leavers, contracts
    /// not started). Off: such an employee gets no account until it could sign in.
    #[serde(default)]
    pub create_locked_accounts: bool,
    /// Where the profile goes on the SCIM server, bulk, group batches, the manager rule.
    #[serde(default)]
    pub scim: ScimSettings,
    /// Scheduled delta runs between full runs ([`delta_runs`]).
    #[serde(default)]
    pub delta_runs: DeltaRunSettings,
}

/// The Personio yes/no attribute that selects who gets an LMS account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionSettings {
    /// The custom attribute's label ("LMS Sync") or key (`dynamic_1234`).
    pub attribute: String,
    /// Values meaning "selected", compared trimmed and case-insensitively.
    #[serde(default = "default_yes_values")]
    pub yes_values: Vec<String>,
}

impl SelectionSettings {
    pub fn is_yes(&self, value: &str) -> bool {
        let value = value.trim();
        self.yes_values
            .iter()
            .any(|yes| yes.trim().eq_ignore_ascii_case(value))
    }
}

/// How Personio's employment status becomes the LMS status and whether the account may sign in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSettings {
    #[serde(default = "StatusRule::preboarding")]
    pub onboarding: StatusRule,
    #[serde(default = "StatusRule::active")]
    pub active: StatusRule,
    #[serde(default = "StatusRule::absent")]
    pub leave: StatusRule,
    #[serde(default = "StatusRule::inactive")]
    pub inactive: StatusRule,
    /// Lock accounts (active = false) whose contract has ended or not started yet.
    #[serde(default)]
    pub lock_outside_contract: bool,
}

impl Default for StatusSettings {
    fn default() -> Self {
        Self {
            onboarding: StatusRule::preboarding(),
            active: StatusRule::active(),
            leave: StatusRule::absent(),
            inactive: StatusRule::inactive(),
            lock_outside_contract: false,
        }
    }
}

impl StatusSettings {
    pub fn rule(&self, status: EmploymentStatus) -> &StatusRule {
        match status {
            EmploymentStatus::Onboarding => &self.onboarding,
            EmploymentStatus::Active => &self.active,
            EmploymentStatus::Leave => &self.leave,
            EmploymentStatus::Inactive => &self.inactive,
        }
    }
}

/// One Personio status's LMS counterpart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRule {
    /// The LMS status name.
    pub lms_status: String,
    /// Whether an account with this status may sign in.
    pub active: bool,
}

impl StatusRule {
    fn new(lms_status: &str, active: bool) -> Self {
        Self {
            lms_status: lms_status.to_owned(),
            active,
        }
    }
    fn preboarding() -> Self {
        Self::new("Preboarding", true)
    }
    fn active() -> Self {
        Self::new("Active", true)
    }
    fn absent() -> Self {
        Self::new("Absent", true)
    }
    fn inactive() -> Self {
        Self::new("Inactive", false)
    }
}

/// Which Personio attributes name the LMS groups a user is added to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSource {
    Department,
    Team,
    Position,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// Empty = no group assignment.
    #[serde(default)]
    pub by: BTreeSet<GroupSource>,
    /// Take a user out of a group the sync added when the attribute it came from changes (a
    /// mover). Off by default: the sync only adds. Memberships made by hand are never touched.
    #[serde(default)]
    pub remove_when_moved: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Send an invitation email to each newly created user.
    #[serde(default)]
    pub invite_new_users: bool,
    /// Where the invitation points people to sign in (optional).
    #[serde(default)]
    pub login_url: Option<String>,
    /// Who receives the run summaries (optional).
    #[serde(default)]
    pub admin_email: Option<String>,
    /// Which runs send `admin_email` a summary.
    #[serde(default)]
    pub summary: SummaryPolicy,
}

/// Which runs the admin hears about. A summary of every no-change run trains people to ignore
/// them, so the default is runs that changed something in the LMS or had a problem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryPolicy {
    /// Every run.
    Always,
    /// Runs that changed the LMS (created, adopted, updated, deactivated, added to a group) or
    /// had a problem (failed, failures, held-back deactivations).
    #[default]
    OnChanges,
    /// Only runs with a problem.
    OnFailures,
    /// No summaries.
    Never,
}

/// A run that would deactivate more than `max_count` linked users AND more than
/// `max_percent` % of the active linked users deactivates nobody: a mass deactivation is far more
/// often a broken selection attribute or a permission change than a real event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeactivationGuard {
    #[serde(default = "default_guard_count")]
    pub max_count: u32,
    #[serde(default = "default_guard_percent")]
    pub max_percent: u32,
}

impl Default for DeactivationGuard {
    fn default() -> Self {
        Self {
            max_count: default_guard_count(),
            max_percent: default_guard_percent(),
        }
    }
}

impl DeactivationGuard {
    /// Whether deactivating `count` of `active_links` linked users must be held back.
    pub fn holds_back(&self, count: usize, active_links: usize) -> bool {
        let count = count as u64;
        count > u64::from(self.max_count)
            && count * 100 > u64::from(self.max_percent) * active_links as u64
    }
}

fn default_yes_values() -> Vec<String> {
    ["ja", "yes", "true"].map(str::to_owned).to_vec()
}
fn default_apply_concurrency() -> usize {
    8
}
fn default_guard_count() -> u32 {
    10
}
fn default_guard_percent() -> u32 {
    20
}

/// The most LMS writes in flight at once; more only invites 429s.
pub const MAX_APPLY_CONCURRENCY: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings are not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    #[error("settings.{field}: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl IntegrationSettings {
    /// Defaults for everything but the selection attribute, which has no sensible default.
    pub fn new(selection_attribute: impl Into<String>) -> Self {
        Self {
            selection: SelectionSettings {
                attribute: selection_attribute.into(),
                yes_values: default_yes_values(),
            },
            status: StatusSettings::default(),
            groups: GroupSettings::default(),
            notifications: NotificationSettings::default(),
            custom_attributes: BTreeMap::new(),
            deactivation_guard: DeactivationGuard::default(),
            apply_concurrency: default_apply_concurrency(),
            certificates: CertificateSettings::default(),
            fields: fields::default_fields(),
            create_locked_accounts: false,
            scim: ScimSettings::default(),
            delta_runs: DeltaRunSettings::default(),
        }
    }

    /// Whether a field of the SCIM mapping (`title`, `custom.costCenter`) carries data under
    /// these settings: a field the `fields` setting leaves out is written empty, so it needs
    /// no place on the LMS (and gets no warning for having none).
    pub fn sends_mapped_field(&self, field: &str) -> bool {
        match scim::MappedField::parse(field) {
            Some(scim::MappedField::Profile(field)) => field
                .chosen_by()
                .is_none_or(|chosen| self.fields.contains(&chosen)),
            Some(scim::MappedField::Custom(_)) | None => true,
        }
    }

    /// The SCIM attribute mapping of these (validated) settings.
    pub fn attribute_mapping(&self) -> Result<AttributeMapping, SettingsError> {
        AttributeMapping::new(&self.scim, self.custom_attributes.values())
            .map_err(|(field, message)| invalid(field, message))
    }

    pub fn from_toml_str(text: &str) -> Result<Self, SettingsError> {
        let settings: Self = toml::from_str(text).map_err(|error| SettingsError::Syntax {
            format: "TOML",
            message: without_values(error.message()) + &toml_location(text, error.span()),
        })?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn from_json_str(text: &str) -> Result<Self, SettingsError> {
        let settings: Self = serde_json::from_str(text).map_err(|error| SettingsError::Syntax {
            format: "JSON",
            message: without_values(&error.to_string()),
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: values that parse but make no sense. Settings built in code
    /// (API bodies, tests) go through this too before a run uses them.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.selection.attribute.trim().is_empty() {
            return Err(invalid("selection.attribute", "must not be empty"));
        }
        if self.selection.yes_values.is_empty() {
            return Err(invalid(
                "selection.yes_values",
                "must list at least one value (nobody could be selected)",
            ));
        }
        if let Some(index) = self
            .selection
            .yes_values
            .iter()
            .position(|value| value.trim().is_empty())
        {
            return Err(invalid(
                format!("selection.yes_values[{index}]"),
                "must not be empty",
            ));
        }
        for (name, rule) in [
            ("onboarding", &self.status.onboarding),
            ("active", &self.status.active),
            ("leave", &self.status.leave),
            ("inactive", &self.status.inactive),
        ] {
            if rule.lms_status.trim().is_empty() {
                return Err(invalid(
                    format!("status.{name}.lms_status"),
                    "must not be empty",
                ));
            }
        }
        if let Some(url) = &self.notifications.login_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(
                "notifications.login_url",
                format!("must be an http(s) URL, got {url:?}"),
            ));
        }
        if let Some(address) = &self.notifications.admin_email
            && !is_plausible_email(address)
        {
            return Err(invalid(
                "notifications.admin_email",
                format!("{address:?} is not an email address"),
            ));
        }
        self.validate_custom_attributes()?;
        if self.deactivation_guard.max_percent > 100 {
            return Err(invalid(
                "deactivation_guard.max_percent",
                format!(
                    "must be between 0 and 100, got {}",
                    self.deactivation_guard.max_percent
                ),
            ));
        }
        self.certificates
            .validate()
            .map_err(|error| invalid(format!("certificates.{}", error.field), error.reason))?;
        self.scim
            .validate(self.custom_attributes.values())
            .map_err(|(field, message)| invalid(field, message))?;
        if let Some((field, message)) = self.delta_runs.problem() {
            return Err(invalid(format!("delta_runs.{field}"), message));
        }
        if !(1..=MAX_APPLY_CONCURRENCY).contains(&self.apply_concurrency) {
            return Err(invalid(
                "apply_concurrency",
                format!(
                    "must be between 1 and {MAX_APPLY_CONCURRENCY}, got {}",
                    self.apply_concurrency
                ),
            ));
        }
        Ok(())
    }

    /// Each Personio attribute names a non-empty LMS field without whitespace, and no LMS field
    /// is filled from two attributes.
    fn validate_custom_attributes(&self) -> Result<(), SettingsError> {
        let mut lms_fields = BTreeMap::new();
        for (personio, lms_field) in &self.custom_attributes {
            if personio.trim().is_empty() {
                return Err(invalid(
                    "custom_attributes",
                    "a Personio attribute name must not be empty",
                ));
            }
            let field = format!("custom_attributes.{personio:?}");
            if lms_field.trim().is_empty() {
                return Err(invalid(field, "the LMS field name must not be empty"));
            }
            if lms_field.chars().any(char::is_whitespace) {
                return Err(invalid(
                    field,
                    format!("the LMS field name {lms_field:?} must not contain whitespace"),
                ));
            }
            if let Some(other) = lms_fields.insert(lms_field.as_str(), personio.as_str()) {
                return Err(invalid(
                    field,
                    format!("the LMS field {lms_field:?} is already filled from {other:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// One `@` with something on both sides and no whitespace: enough to catch typos and header
/// injection; the mail service is the real judge.
pub fn is_plausible_email(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

fn toml_location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |before| before.matches('\n').count());
            format!(" (line {})", line + 1)
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
        apply_concurrency = 4

        [selection]
        attribute = "LMS Sync"
        yes_values = ["ja", "Yes"]

        [status]
        lock_outside_contract = true
        leave = { lms_status = "On leave", active = false }

        [groups]
        by = ["department", "team"]
        remove_when_moved = true

        [notifications]
        invite_new_users = true
        admin_email = "hr@example.com"

        [custom_attributes]
        dynamic_1234 = "costCenter"
        "Shirt size" = "shirtSize"

        [deactivation_guard]
        max_count = 5
    "#;

    fn error_text(result: Result<IntegrationSettings, SettingsError>) -> String {
        match result {
            Ok(settings) => panic!("expected an error, got {settings:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn toml_loads_with_defaults_for_what_is_left_out() {
        let settings = IntegrationSettings::from_toml_str(FULL).unwrap();
        assert_eq!(settings.selection.attribute, "LMS Sync");
        assert!(settings.selection.is_yes("  YES "));
        assert!(!settings.selection.is_yes("true"));
        assert_eq!(settings.status.leave, StatusRule::new("On leave", false));
        assert_eq!(settings.status.onboarding, StatusRule::preboarding());
        assert!(!settings.status.inactive.active);
        assert!(settings.status.lock_outside_contract);
        assert_eq!(
            settings.groups.by,
            BTreeSet::from([GroupSource::Department, GroupSource::Team])
        );
        assert_eq!(settings.custom_attributes["Shirt size"], "shirtSize");
        assert_eq!(settings.deactivation_guard.max_count, 5);
        assert_eq!(settings.deactivation_guard.max_percent, 20);
        assert_eq!(settings.apply_concurrency, 4);
        assert!(settings.groups.remove_when_moved);
        assert_eq!(settings.fields, fields::default_fields());
        assert!(!settings.create_locked_accounts);
    }

    #[test]
    fn fields_are_named_and_checked() {
        let settings = IntegrationSettings::from_toml_str(
            "fields = [\"department\", \"birthday\"]\ncreate_locked_accounts = true\n\
             [selection]\nattribute = \"LMS Sync\"\n",
        )
        .unwrap();
        assert_eq!(
            settings.fields,
            BTreeSet::from([ProfileField::Department, ProfileField::Birthday])
        );
        assert!(settings.create_locked_accounts);
        let typo = error_text(IntegrationSettings::from_toml_str(
            "fields = [\"birthdate\"]\n[selection]\nattribute = \"x\"\n",
        ));
        // The choices are named; the value given is not echoed (config errors never repeat a
        // value: it could be a secret pasted into the wrong field).
        assert!(
            typo.contains("birthday") && typo.contains("line 1") && !typo.contains("birthdate"),
            "{typo}"
        );
    }

    #[test]
    fn json_and_new_agree_on_defaults() {
        let settings =
            IntegrationSettings::from_json_str(r#"{"selection": {"attribute": "LMS Sync"}}"#)
                .unwrap();
        assert_eq!(settings, IntegrationSettings::new("LMS Sync"));
        assert!(settings.selection.is_yes("JA"));
        assert!(settings.selection.is_yes("true"));
        assert!(!settings.selection.is_yes("nein"));
    }

    #[test]
    fn json_round_trips() {
        let settings = IntegrationSettings::from_toml_str(FULL).unwrap();
        let json = serde_json::to_string(&settings).unwrap();
        assert_eq!(IntegrationSettings::from_json_str(&json).unwrap(), settings);
    }

    #[test]
    fn validation_names_the_bad_field() {
        let cases = [
            (
                r#"[selection]
                attribute = "  ""#,
                "settings.selection.attribute: must not be empty",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                yes_values = []"#,
                "settings.selection.yes_values: must list at least one value",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                yes_values = ["ja", " "]"#,
                "settings.selection.yes_values[1]: must not be empty",
            ),
            (
                r#"apply_concurrency = 0
                [selection]
                attribute = "LMS Sync""#,
                "settings.apply_concurrency: must be between 1 and 64, got 0",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                [notifications]
                admin_email = "hr at example.com""#,
                "settings.notifications.admin_email: \"hr at example.com\" is not an email address",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                [status]
                inactive = { lms_status = "", active = false }"#,
                "settings.status.inactive.lms_status: must not be empty",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                [custom_attributes]
                dynamic_1 = "cost center""#,
                "settings.custom_attributes.\"dynamic_1\": the LMS field name \"cost center\" must not contain whitespace",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                [custom_attributes]
                dynamic_1 = "costCenter"
                dynamic_2 = "costCenter""#,
                "settings.custom_attributes.\"dynamic_2\": the LMS field \"costCenter\" is already filled from \"dynamic_1\"",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                [deactivation_guard]
                max_percent = 150"#,
                "settings.deactivation_guard.max_percent: must be between 0 and 100, got 150",
            ),
            (
                r#"[selection]
                attribute = "LMS Sync"
                [notifications]
                login_url = "lms.example.com""#,
                "settings.notifications.login_url: must be an http(s) URL",
            ),
        ];
        for (toml, expected) in cases {
            let message = error_text(IntegrationSettings::from_toml_str(toml));
            assert!(
                message.starts_with(expected),
                "for {toml}\nexpected {expected}\ngot      {message}"
            );
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let missing = error_text(IntegrationSettings::from_toml_str("[groups]\nby = []\n"));
        assert!(missing.contains("selection"), "{missing}");
        let typo = error_text(IntegrationSettings::from_toml_str(
            "[selection]\nattribute = \"x\"\n[groups]\nby = [\"departmnet\"]\n",
        ));
        // The choices and the place, never the value (it could be a secret typed in the wrong
        // place).
        assert!(
            typo.contains("unknown variant, expected one of `department`")
                && typo.contains("line 4")
                && !typo.contains("departmnet"),
            "{typo}"
        );
        let unknown = error_text(IntegrationSettings::from_json_str(
            r#"{"selection": {"attribute": "x", "yes": ["ja"]}}"#,
        ));
        assert!(unknown.contains("unknown field `yes`"), "{unknown}");
    }

    #[test]
    fn the_example_is_valid_and_shows_the_defaults() {
        let example = IntegrationSettings::from_toml_str(EXAMPLE_SETTINGS_TOML).unwrap();
        let mut expected = IntegrationSettings::new("LMS Sync");
        expected.custom_attributes = BTreeMap::from([
            ("dynamic_1234".into(), "costCenter".into()),
            ("Shirt size".into(), "shirtSize".into()),
        ]);
        expected.groups.by = BTreeSet::from([
            GroupSource::Department,
            GroupSource::Team,
            GroupSource::Position,
        ]);
        expected.notifications.login_url = Some("https://lms.example.com".into());
        expected.notifications.admin_email = Some("hr@example.com".into());
        expected.certificates.allowed_pdf_hosts = vec!["*.lms.example.com".into()];
        expected.scim.attributes = BTreeMap::from([
            (
                "location".into(),
                r#"addresses[type eq "work"].locality"#.into(),
            ),
            (
                "custom.costCenter".into(),
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter".into(),
            ),
        ]);
        assert_eq!(example, expected);
    }

    #[test]
    fn certificate_settings_are_validated_with_their_full_path() {
        let error = error_text(IntegrationSettings::from_toml_str(
            "[selection]\nattribute = \"LMS Sync\"\n[certificates]\ncategory = \"  \"\n",
        ));
        assert!(
            error.starts_with("settings.certificates.category:"),
            "{error}"
        );
    }

    #[test]
    fn guard_needs_both_count_and_share() {
        let guard = DeactivationGuard::default();
        // 11 of 100 is over the count but only 11 %.
        assert!(!guard.holds_back(11, 100));
        // 10 of 20 is 50 % but not more than 10.
        assert!(!guard.holds_back(10, 20));
        assert!(guard.holds_back(11, 50));
        assert!(!guard.holds_back(0, 0));
    }
}
