//! How the synced profile reaches a SCIM server: which SCIM attribute each profile field (and each
//! custom attribute) is written to, and how the sync talks to the server (bulk, group batches,
//! the manager of a supervisor who left).
//!
//! A field's target is a SCIM attribute path as RFC 7644 §3.10 writes it: a core attribute
//! (`title`, `name.givenName`, `addresses[type eq "work"].locality`) or an extension attribute
//! prefixed with its schema URN (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter`,
//! or a vendor's own). Whether the server offers the target is the adapter's business (`check`
//! lists it); here the paths are only parsed, so that a typo names its field on load.

use crate::domain::run::RunKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub const CORE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The project's own extension for the fields SCIM has no place for (`docs/scim-extension.md`).
pub const PERSONIO_LMS_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:personio-lms:2.0:User";

macro_rules! concat_enterprise {
    ($attribute:literal) => {
        concat!(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
            $attribute
        )
    };
}
macro_rules! concat_personio {
    ($attribute:literal) => {
        concat!(
            "urn:ietf:params:scim:schemas:extension:personio-lms:2.0:User:",
            $attribute
        )
    };
}

/// The longest reconcile period: 30 days.
pub const MAX_RECONCILE_HOURS: u32 = 720;

/// The most members one group PATCH may carry.
pub const MAX_GROUP_BATCH_SIZE: usize = 1000;

/// A profile field the mapping places (the identity fields `externalId`, `userName`, the work
/// email and `active` are not mappable: the sync needs them where SCIM puts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileField {
    FirstName,
    LastName,
    DisplayName,
    /// The position.
    Title,
    Department,
    Team,
    /// The office.
    Location,
    /// The subcompany.
    Company,
    Gender,
    Birthday,
    HireDate,
    ContractEndDate,
    TerminationDate,
    EmploymentType,
    /// The supervisor's LMS user.
    Manager,
    EmployeeNumber,
    /// The mapped status name (`active` is always sent besides it).
    Status,
}

impl ProfileField {
    pub const ALL: [Self; 17] = [
        Self::FirstName,
        Self::LastName,
        Self::DisplayName,
        Self::Title,
        Self::Department,
        Self::Team,
        Self::Location,
        Self::Company,
        Self::Gender,
        Self::Birthday,
        Self::HireDate,
        Self::ContractEndDate,
        Self::TerminationDate,
        Self::EmploymentType,
        Self::Manager,
        Self::EmployeeNumber,
        Self::Status,
    ];

    /// The name used in settings and reports (`first_name`).
    pub fn name(self) -> &'static str {
        match self {
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::DisplayName => "display_name",
            Self::Title => "title",
            Self::Department => "department",
            Self::Team => "team",
            Self::Location => "location",
            Self::Company => "company",
            Self::Gender => "gender",
            Self::Birthday => "birthday",
            Self::HireDate => "hire_date",
            Self::ContractEndDate => "contract_end_date",
            Self::TerminationDate => "termination_date",
            Self::EmploymentType => "employment_type",
            Self::Manager => "manager",
            Self::EmployeeNumber => "employee_number",
            Self::Status => "status",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }

    /// The `fields` setting's entry that decides whether this field is sent; `None` for what
    /// is always sent (the names, the Personio id as employee number, the status).
    pub fn chosen_by(self) -> Option<super::fields::ProfileField> {
        use super::fields::ProfileField as Sent;
        match self {
            Self::FirstName
            | Self::LastName
            | Self::DisplayName
            | Self::EmployeeNumber
            | Self::Status => None,
            Self::Title => Some(Sent::Position),
            Self::Department => Some(Sent::Department),
            Self::Team => Some(Sent::Team),
            Self::Location => Some(Sent::Office),
            Self::Company => Some(Sent::Subcompany),
            Self::Gender => Some(Sent::Gender),
            Self::Birthday => Some(Sent::Birthday),
            Self::HireDate => Some(Sent::HireDate),
            Self::ContractEndDate => Some(Sent::ContractEndDate),
            Self::TerminationDate => Some(Sent::TerminationDate),
            Self::EmploymentType => Some(Sent::EmploymentType),
            Self::Manager => Some(Sent::Supervisor),
        }
    }

    /// Where the field goes when the settings do not say: the first candidate the server offers.
    /// The project's extension comes first where a field has a place there, so a server that
    /// advertises it gets every field; core and enterprise attributes follow.
    pub fn default_targets(self) -> &'static [&'static str] {
        match self {
            Self::FirstName => &["name.givenName"],
            Self::LastName => &["name.familyName"],
            Self::DisplayName => &["displayName"],
            Self::Title => &["title"],
            Self::Department => &[concat_enterprise!("department")],
            Self::Team => &[concat_personio!("team")],
            Self::Location => &[
                concat_personio!("location"),
                "addresses[type eq \"work\"].locality",
            ],
            Self::Company => &[concat_enterprise!("organization")],
            Self::Gender => &[concat_personio!("gender")],
            Self::Birthday => &[concat_personio!("birthday")],
            Self::HireDate => &[concat_personio!("hireDate")],
            Self::ContractEndDate => &[concat_personio!("contractEndDate")],
            Self::TerminationDate => &[concat_personio!("terminationDate")],
            Self::EmploymentType => &[concat_personio!("employmentType"), "userType"],
            Self::Manager => &[concat_enterprise!("manager")],
            Self::EmployeeNumber => &[concat_enterprise!("employeeNumber")],
            Self::Status => &[concat_personio!("status")],
        }
    }
}

/// A field of the mapping: a profile field, or a custom attribute by its LMS field name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MappedField {
    Profile(ProfileField),
    /// `custom.<LMS field name>` (the right-hand side of `custom_attributes`).
    Custom(String),
}

impl fmt::Display for MappedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Profile(field) => f.write_str(field.name()),
            Self::Custom(name) => write!(f, "custom.{name}"),
        }
    }
}

impl MappedField {
    /// Reads a settings key: a profile field name or `custom.<name>`.
    pub fn parse(key: &str) -> Option<Self> {
        match key.strip_prefix("custom.") {
            Some(name) if !name.trim().is_empty() => Some(Self::Custom(name.to_owned())),
            Some(_) => None,
            None => ProfileField::from_name(key).map(Self::Profile),
        }
    }
}

/// A parsed SCIM attribute path: `[schema URN:]attribute[[filter attr eq "value"]][.sub]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScimPath {
    /// The schema URN (the core User schema when the path has none).
    pub schema: String,
    pub attribute: String,
    /// A value filter on a multi-valued attribute: `(attribute, value)` of `[attribute eq "value"]`.
    pub filter: Option<(String, String)>,
    pub sub_attribute: Option<String>,
}

impl ScimPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty SCIM attribute path".into());
        }
        // The URN ends at the last ':' before any filter (filter values may hold ':').
        let head_end = text.find('[').unwrap_or(text.len());
        let (schema, rest) = match text[..head_end].rfind(':') {
            Some(colon) => {
                let schema = &text[..colon];
                if !schema.to_ascii_lowercase().starts_with("urn:") {
                    return Err(format!(
                        "{text:?}: an extension attribute starts with its schema URN (urn:…)"
                    ));
                }
                (schema.to_owned(), &text[colon + 1..])
            }
            None => (CORE_USER_SCHEMA.to_owned(), text),
        };
        let (attribute, filter, sub) = match rest.find('[') {
            Some(open) => {
                let close = rest[open..]
                    .find(']')
                    .map(|at| open + at)
                    .ok_or_else(|| format!("{text:?}: the filter has no closing `]`"))?;
                let filter = parse_eq_filter(&rest[open + 1..close])
                    .map_err(|problem| format!("{text:?}: {problem}"))?;
                let after = &rest[close + 1..];
                let sub = match after.strip_prefix('.') {
                    Some(sub) => Some(sub),
                    None if after.is_empty() => None,
                    None => return Err(format!("{text:?}: unexpected {after:?} after the filter")),
                };
                (&rest[..open], Some(filter), sub)
            }
            None => match rest.split_once('.') {
                Some((attribute, sub)) => (attribute, None, Some(sub)),
                None => (rest, None, None),
            },
        };
        let valid_name = |name: &str| {
            !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        };
        if !valid_name(attribute) {
            return Err(format!("{text:?}: {attribute:?} is not an attribute name"));
        }
        if let Some(sub) = sub
            && !valid_name(sub)
        {
            return Err(format!("{text:?}: {sub:?} is not a sub-attribute name"));
        }
        Ok(Self {
            schema,
            attribute: attribute.to_owned(),
            filter,
            sub_attribute: sub.map(str::to_owned),
        })
    }

    pub fn is_core(&self) -> bool {
        self.schema.eq_ignore_ascii_case(CORE_USER_SCHEMA)
    }

    /// The path within its schema, lower-cased (`name.givenname`), as schemas are compared.
    pub fn schema_path(&self) -> String {
        match &self.sub_attribute {
            Some(sub) => format!("{}.{sub}", self.attribute).to_ascii_lowercase(),
            None => self.attribute.to_ascii_lowercase(),
        }
    }
}

impl fmt::Display for ScimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_core() {
            write!(f, "{}:", self.schema)?;
        }
        f.write_str(&self.attribute)?;
        if let Some((attribute, value)) = &self.filter {
            write!(
                f,
                "[{attribute} eq {}]",
                serde_json::Value::String(value.clone())
            )?;
        }
        if let Some(sub) = &self.sub_attribute {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// `attribute eq "value"`, the one filter a mapping may use.
fn parse_eq_filter(text: &str) -> Result<(String, String), String> {
    let mut parts = text.trim().splitn(3, ' ');
    let (Some(attribute), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("a filter must read `attribute eq \"value\"`".into());
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(format!("only `eq` filters are supported, not {op:?}"));
    }
    let value: String = serde_json::from_str(value.trim())
        .map_err(|_| format!("the filter value {value} must be a quoted string"))?;
    Ok((attribute.to_owned(), value))
}

/// What becomes of a subordinate's manager reference when the supervisor's account is
/// deactivated (deselected or gone from Personio).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveManagerRule {
    /// The reference stays on the supervisor's deactivated account (reporting lines keep their
    /// history; the LMS shows who the manager was).
    #[default]
    Keep,
    /// The reference is removed: nobody reports to a deactivated account.
    Clear,
}

/// The SCIM section of the settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimSettings {
    /// Field → SCIM attribute path; a field left out keeps its default target, `""` sends it
    /// nowhere. Keys: the profile fields (`title`, `location`, …) and `custom.<LMS field name>`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Send creates and updates in SCIM Bulk requests when the server offers Bulk.
    #[serde(default = "default_true")]
    pub bulk: bool,
    /// The most members added to a group in one request.
    #[serde(default = "default_group_batch_size")]
    pub group_batch_size: usize,
    #[serde(default)]
    pub inactive_manager: InactiveManagerRule,
    /// How often a scheduled run is a reconcile run (hours, 1 to 720); `None`: on demand only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_every_hours: Option<u32>,
}

impl Default for ScimSettings {
    fn default() -> Self {
        Self {
            attributes: BTreeMap::new(),
            bulk: true,
            group_batch_size: default_group_batch_size(),
            inactive_manager: InactiveManagerRule::default(),
            reconcile_every_hours: None,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_group_batch_size() -> usize {
    100
}

/// A field's place in the mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldTargets {
    /// The admin named this path.
    Configured(ScimPath),
    /// The admin said "nowhere" (`""`).
    Off,
    /// Not configured: the first default candidate the server offers.
    Default(Vec<ScimPath>),
}

/// Every mapped field with where it may go, in a stable order: profile fields, then custom
/// attributes. Built from validated settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeMapping {
    pub fields: Vec<(MappedField, FieldTargets)>,
}

impl AttributeMapping {
    /// The mapping of `scim.attributes` for the custom attributes' LMS field names.
    pub fn new<'a>(
        settings: &ScimSettings,
        custom_fields: impl IntoIterator<Item = &'a String>,
    ) -> Result<Self, (String, String)> {
        let mut configured: BTreeMap<MappedField, Option<ScimPath>> = BTreeMap::new();
        for (key, path) in &settings.attributes {
            let field = MappedField::parse(key).ok_or_else(|| {
                (
                    format!("scim.attributes.{key:?}"),
                    format!(
                        "not a profile field ({}) nor custom.<LMS field name>",
                        ProfileField::ALL.map(ProfileField::name).join(", ")
                    ),
                )
            })?;
            let target = if path.trim().is_empty() {
                None
            } else {
                Some(
                    ScimPath::parse(path)
                        .map_err(|problem| (format!("scim.attributes.{key:?}"), problem))?,
                )
            };
            configured.insert(field, target);
        }
        let custom: Vec<MappedField> = custom_fields
            .into_iter()
            .map(|name| MappedField::Custom(name.clone()))
            .collect();
        if let Some(unknown) = configured
            .keys()
            .find(|field| matches!(field, MappedField::Custom(_)) && !custom.contains(field))
        {
            return Err((
                format!("scim.attributes.{:?}", unknown.to_string()),
                "no custom attribute is mapped to this LMS field name in custom_attributes".into(),
            ));
        }
        let fields = ProfileField::ALL
            .into_iter()
            .map(MappedField::Profile)
            .chain(custom)
            .map(|field| {
                let targets = match configured.get(&field) {
                    Some(Some(path)) => FieldTargets::Configured(path.clone()),
                    Some(None) => FieldTargets::Off,
                    None => FieldTargets::Default(default_targets(&field)),
                };
                (field, targets)
            })
            .collect();
        Ok(Self { fields })
    }
}

fn default_targets(field: &MappedField) -> Vec<ScimPath> {
    match field {
        MappedField::Profile(field) => field
            .default_targets()
            .iter()
            .filter_map(|path| ScimPath::parse(path).ok())
            .collect(),
        // The project's extension carries custom attributes as name/value pairs.
        MappedField::Custom(name) => ScimPath::parse(&format!(
            "{PERSONIO_LMS_USER_SCHEMA}:customAttributes[name eq {}].value",
            serde_json::Value::String(name.clone())
        ))
        .into_iter()
        .collect(),
    }
}

impl ScimSettings {
    /// Checks the paths and sizes; the error names the field relative to the settings.
    pub fn validate<'a>(
        &self,
        custom_fields: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), (String, String)> {
        if !(1..=MAX_GROUP_BATCH_SIZE).contains(&self.group_batch_size) {
            return Err((
                "scim.group_batch_size".into(),
                format!(
                    "must be between 1 and {MAX_GROUP_BATCH_SIZE}, got {}",
                    self.group_batch_size
                ),
            ));
        }
        if let Some(hours) = self.reconcile_every_hours
            && !(1..=MAX_RECONCILE_HOURS).contains(&hours)
        {
            return Err((
                "scim.reconcile_every_hours".into(),
                format!("must be between 1 and {MAX_RECONCILE_HOURS}, got {hours}"),
            ));
        }
        AttributeMapping::new(self, custom_fields).map(drop)
    }

    /// The kind of the scheduled run due at `due` on a schedule of a run every
    /// `every_minutes` (`None`: manual): a reconcile when it is the first run due in its
    /// reconcile period (counted from the Unix epoch, so the same runs are picked whatever
    /// scheduler invocation sees them), a full run otherwise.
    pub fn run_kind_due(&self, due: DateTime<Utc>, every_minutes: Option<u32>) -> RunKind {
        let (Some(hours), Some(minutes)) = (self.reconcile_every_hours, every_minutes) else {
            return RunKind::Full;
        };
        let period = i64::from(hours) * 3600;
        let now = due.timestamp();
        let previous = now - i64::from(minutes) * 60;
        if now.div_euclid(period) != previous.div_euclid(period) {
            RunKind::Reconcile
        } else {
            RunKind::Full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_core_filtered_and_extension_attributes() {
        let title = ScimPath::parse("title").unwrap();
        assert!(title.is_core());
        assert_eq!(title.schema_path(), "title");
        let given = ScimPath::parse("name.givenName").unwrap();
        assert_eq!(given.sub_attribute.as_deref(), Some("givenName"));
        let work = ScimPath::parse(r#"addresses[type eq "work"].locality"#).unwrap();
        assert_eq!(work.attribute, "addresses");
        assert_eq!(work.filter, Some(("type".into(), "work".into())));
        assert_eq!(work.sub_attribute.as_deref(), Some("locality"));
        assert_eq!(work.to_string(), r#"addresses[type eq "work"].locality"#);
        let cost = ScimPath::parse(&format!("{ENTERPRISE_USER_SCHEMA}:costCenter")).unwrap();
        assert_eq!(cost.schema, ENTERPRISE_USER_SCHEMA);
        assert_eq!(cost.attribute, "costCenter");
        let vendor =
            ScimPath::parse("urn:acme:scim:schemas:1.0:Learner:badges[kind eq \"a:b\"].level")
                .unwrap();
        assert_eq!(vendor.schema, "urn:acme:scim:schemas:1.0:Learner");
        assert_eq!(vendor.filter, Some(("kind".into(), "a:b".into())));
        assert_eq!(
            vendor.to_string(),
            "urn:acme:scim:schemas:1.0:Learner:badges[kind eq \"a:b\"].level"
        );
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        for (path, expected) in [
            ("", "empty"),
            ("foo:bar", "schema URN"),
            ("addresses[type eq \"work\".locality", "closing"),
            ("addresses[type co \"w\"]", "only `eq`"),
            ("addresses[type eq work]", "quoted string"),
            ("name.", "sub-attribute"),
            ("9lives", "attribute name"),
        ] {
            let problem = ScimPath::parse(path).unwrap_err();
            assert!(problem.contains(expected), "{path}: {problem}");
        }
    }

    #[test]
    fn the_mapping_fills_defaults_and_takes_overrides() {
        let mut settings = ScimSettings::default();
        settings.attributes.insert("title".into(), "".into());
        settings.attributes.insert(
            "custom.costCenter".into(),
            format!("{ENTERPRISE_USER_SCHEMA}:costCenter"),
        );
        let custom = ["costCenter".to_owned(), "shirtSize".to_owned()];
        let mapping = AttributeMapping::new(&settings, &custom).unwrap();
        let targets = |name: &str| {
            mapping
                .fields
                .iter()
                .find(|(field, _)| field.to_string() == name)
                .map(|(_, targets)| targets.clone())
                .unwrap()
        };
        assert_eq!(targets("title"), FieldTargets::Off);
        assert!(
            matches!(targets("custom.costCenter"), FieldTargets::Configured(path) if path.attribute == "costCenter")
        );
        let FieldTargets::Default(location) = targets("location") else {
            panic!("a default")
        };
        assert_eq!(location.len(), 2);
        assert_eq!(location[1].attribute, "addresses");
        let FieldTargets::Default(shirt) = targets("custom.shirtSize") else {
            panic!("a default")
        };
        assert_eq!(shirt[0].schema, PERSONIO_LMS_USER_SCHEMA);
        assert_eq!(mapping.fields.len(), ProfileField::ALL.len() + 2);
    }

    #[test]
    fn unknown_fields_and_bad_sizes_are_named() {
        let mut settings = ScimSettings::default();
        settings.attributes.insert("shoe".into(), "title".into());
        let (field, problem) = settings.validate(&[]).unwrap_err();
        assert_eq!(field, "scim.attributes.\"shoe\"");
        assert!(problem.contains("first_name"), "{problem}");
        let mut settings = ScimSettings::default();
        settings
            .attributes
            .insert("custom.nope".into(), "title".into());
        assert!(
            settings
                .validate(&[])
                .unwrap_err()
                .1
                .contains("custom_attributes")
        );
        let mut settings = ScimSettings::default();
        settings.attributes.insert("team".into(), "foo:bar".into());
        assert_eq!(
            settings.validate(&[]).unwrap_err().0,
            "scim.attributes.\"team\""
        );
        let settings = ScimSettings {
            group_batch_size: 0,
            ..ScimSettings::default()
        };
        assert_eq!(
            settings.validate(&[]).unwrap_err().0,
            "scim.group_batch_size"
        );
    }
}
