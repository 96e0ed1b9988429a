//! The SCIM side of an [`LmsProfile`]: the synced attributes, and the request bodies made from
//! them (create, PATCH, the document of a GET-then-PUT). All come from one list so that exactly
//! the same attributes are written whichever way the server is updated; `drift` compares a
//! listed user with the same list.

use super::discovery::{CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ServerCapabilities};
use super::mapping::ResolvedMapping;
use super::resources::{equality_filter, filter_literal};
use crate::domain::lms::{LmsProfile, LmsUserId};
use crate::domain::settings::scim::{MappedField, ProfileField, ScimPath};
use crate::ports::ManagerRef;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// A bulk reference to a resource created in the same request (RFC 7644 §3.7.2).
pub const BULK_ID_PREFIX: &str = "bulkId:";
const WORK_EMAIL_TYPE: &str = "work";

/// What the profile says one attribute should be.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncedValue {
    Set(Value),
    /// The profile has no value: the attribute is cleared.
    Cleared,
    /// The element of a multi-valued attribute that matches `selector` (`type eq "work"`); the
    /// attribute's other elements (a private email an LMS admin added) are not the sync's
    /// business. `None` removes the element.
    Element {
        selector: (String, String),
        element: Option<Map<String, Value>>,
    },
}

/// One synced attribute: `path` within `schema` (`name.givenName`, `manager`, `addresses`).
#[derive(Clone, Debug, PartialEq)]
pub struct SyncedAttribute {
    pub schema: String,
    pub path: String,
    pub value: SyncedValue,
    /// The field(s) it carries, for people (`email`, `title`, `custom.costCenter`).
    pub label: String,
}

impl SyncedAttribute {
    fn core(path: &str, value: SyncedValue, label: &str) -> Self {
        Self {
            schema: CORE_USER_SCHEMA.to_owned(),
            path: path.to_owned(),
            value,
            label: label.to_owned(),
        }
    }

    fn is_core(&self) -> bool {
        self.schema == CORE_USER_SCHEMA
    }

    /// The attribute path as PATCH addresses it: extension attributes carry their schema URN.
    fn patch_path(&self) -> String {
        if self.is_core() {
            self.path.clone()
        } else {
            format!("{}:{}", self.schema, self.path)
        }
    }
}

/// Whether the attributes are for a create or an update (an update leaves out what the server
/// takes on create only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Create,
    Update,
}

/// The synced attributes of `profile` as this server can take them: the identity attributes,
/// then each mapped field at its target; only the (sub-)attributes the server lets clients write.
pub fn synced_attributes(
    profile: &LmsProfile,
    manager: &ManagerRef,
    mapping: &ResolvedMapping,
    capabilities: &ServerCapabilities,
    purpose: Purpose,
) -> Vec<SyncedAttribute> {
    let email_fixed = purpose == Purpose::Update && capabilities.email_changes_by_hand();
    let mut attributes = vec![SyncedAttribute::core(
        "externalId",
        text(Some(&profile.external_id)),
        "external_id",
    )];
    if !email_fixed {
        attributes.push(SyncedAttribute::core(
            "userName",
            text(Some(&profile.email)),
            "email",
        ));
        let mut work_email = Map::new();
        work_email.insert("value".into(), Value::String(profile.email.clone()));
        work_email.insert("type".into(), Value::String(WORK_EMAIL_TYPE.into()));
        work_email.insert("primary".into(), Value::Bool(true));
        attributes.push(SyncedAttribute::core(
            "emails",
            SyncedValue::Element {
                selector: ("type".into(), WORK_EMAIL_TYPE.into()),
                element: Some(work_email),
            },
            "email",
        ));
    }
    attributes.push(SyncedAttribute::core(
        "active",
        SyncedValue::Set(Value::Bool(profile.active)),
        "active",
    ));

    for (field, path) in &mapping.targets {
        let value = field_value(profile, field, manager, path);
        let label = field.to_string();
        match &path.filter {
            Some((filter_attribute, filter_value)) => {
                let sub = path.sub_attribute.clone().unwrap_or_else(|| "value".into());
                let existing = attributes.iter_mut().find(|attribute| {
                    attribute.schema == path.schema
                        && attribute.path == path.attribute
                        && matches!(&attribute.value, SyncedValue::Element { selector, .. }
                            if selector.0 == *filter_attribute && selector.1 == *filter_value)
                });
                let attribute = match existing {
                    Some(attribute) => {
                        attribute.label = format!("{}, {label}", attribute.label);
                        attribute
                    }
                    None => {
                        attributes.push(SyncedAttribute {
                            schema: path.schema.clone(),
                            path: path.attribute.clone(),
                            value: SyncedValue::Element {
                                selector: (filter_attribute.clone(), filter_value.clone()),
                                element: None,
                            },
                            label,
                        });
                        attributes.last_mut().expect("just pushed")
                    }
                };
                if let (Some(value), SyncedValue::Element { selector, element }) =
                    (value, &mut attribute.value)
                {
                    let element = element.get_or_insert_with(|| {
                        let mut fields = Map::new();
                        fields.insert(selector.0.clone(), Value::String(selector.1.clone()));
                        fields
                    });
                    element.insert(sub, value);
                }
            }
            None => attributes.push(SyncedAttribute {
                schema: path.schema.clone(),
                path: match &path.sub_attribute {
                    Some(sub) => format!("{}.{sub}", path.attribute),
                    None => path.attribute.clone(),
                },
                value: value.map_or(SyncedValue::Cleared, SyncedValue::Set),
                label,
            }),
        }
    }

    attributes
        .into_iter()
        .filter(|attribute| match purpose {
            Purpose::Create => capabilities.writable(&attribute.schema, &attribute.path),
            Purpose::Update => capabilities.writable_on_update(&attribute.schema, &attribute.path),
        })
        .map(|attribute| writable_part(attribute, capabilities))
        .collect()
}

/// The value a field has in the profile, as the target takes it.
fn field_value(
    profile: &LmsProfile,
    field: &MappedField,
    manager: &ManagerRef,
    path: &ScimPath,
) -> Option<Value> {
    let field = match field {
        MappedField::Custom(name) => return string(profile.custom.get(name).map(String::as_str)),
        MappedField::Profile(field) => *field,
    };
    match field {
        ProfileField::FirstName => string(profile.first_name.as_deref()),
        ProfileField::LastName => string(profile.last_name.as_deref()),
        ProfileField::DisplayName => string(profile.display_name.as_deref()),
        ProfileField::Title => string(profile.title.as_deref()),
        ProfileField::Department => string(profile.department.as_deref()),
        ProfileField::Team => string(profile.team.as_deref()),
        ProfileField::Location => string(profile.location.as_deref()),
        ProfileField::Company => string(profile.company.as_deref()),
        ProfileField::Gender => string(profile.gender.as_deref()),
        ProfileField::Birthday => date(profile.birthday),
        ProfileField::HireDate => date(profile.hire_date),
        ProfileField::ContractEndDate => date(profile.contract_end_date),
        ProfileField::TerminationDate => date(profile.termination_date),
        ProfileField::EmploymentType => string(profile.employment_type.as_deref()),
        ProfileField::EmployeeNumber => string(profile.employee_number.as_deref()),
        ProfileField::Status => string(Some(&profile.status)),
        ProfileField::Manager => {
            let id = match manager {
                ManagerRef::None => return None,
                ManagerRef::User(id) => id.0.clone(),
                ManagerRef::SameBatch(external_id) => format!("{BULK_ID_PREFIX}{external_id}"),
            };
            let complex = path.schema == ENTERPRISE_USER_SCHEMA
                && path.attribute.eq_ignore_ascii_case("manager")
                && path.sub_attribute.is_none();
            if !complex {
                return Some(Value::String(id));
            }
            let mut reference = Map::new();
            reference.insert("value".into(), Value::String(id));
            if let Some(name) = non_empty(profile.manager.as_ref().and_then(|m| m.name.as_deref()))
            {
                reference.insert("displayName".into(), Value::String(name.to_owned()));
            }
            Some(Value::Object(reference))
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

fn string(value: Option<&str>) -> Option<Value> {
    non_empty(value).map(|value| Value::String(value.to_owned()))
}

fn text(value: Option<&str>) -> SyncedValue {
    string(value).map_or(SyncedValue::Cleared, SyncedValue::Set)
}

fn date(value: Option<NaiveDate>) -> Option<Value> {
    value.map(|date| Value::String(date.format("%Y-%m-%d").to_string()))
}

/// Drops the sub-attributes the server does not let clients write (the enterprise manager's
/// `displayName` is read-only in RFC 7643); a complex value left empty clears the attribute.
fn writable_part(
    mut attribute: SyncedAttribute,
    capabilities: &ServerCapabilities,
) -> SyncedAttribute {
    let keep = |key: &String| {
        capabilities.writable(&attribute.schema, &format!("{}.{key}", attribute.path))
    };
    match &mut attribute.value {
        SyncedValue::Set(Value::Object(fields))
        | SyncedValue::Element {
            element: Some(fields),
            ..
        } => fields.retain(|key, _| keep(key)),
        _ => {}
    }
    if let SyncedValue::Set(value) = &attribute.value
        && is_empty_value(value)
    {
        attribute.value = SyncedValue::Cleared;
    }
    attribute
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(fields) => fields.is_empty(),
        Value::Array(elements) => elements.is_empty(),
        _ => false,
    }
}

/// The body of `POST /Users`: the synced attributes, and the role, which only a create sends.
pub fn create_body(
    attributes: &[SyncedAttribute],
    role: &str,
    capabilities: &ServerCapabilities,
) -> Value {
    let mut document = Map::new();
    document.insert("schemas".into(), json!([CORE_USER_SCHEMA]));
    if capabilities.writable(CORE_USER_SCHEMA, "roles") {
        document.insert("roles".into(), json!([{ "value": role }]));
    }
    apply_to_document(&mut document, attributes);
    Value::Object(document)
}

/// The body of a PATCH that replaces exactly the synced attributes (RFC 7644 §3.5.2).
pub fn patch_body(attributes: &[SyncedAttribute]) -> Value {
    let mut operations = Vec::new();
    for attribute in attributes {
        let path = attribute.patch_path();
        match &attribute.value {
            SyncedValue::Set(value) => {
                operations.push(json!({"op": "replace", "path": path, "value": value}));
            }
            SyncedValue::Cleared => operations.push(json!({"op": "remove", "path": path})),
            SyncedValue::Element { selector, element } => {
                let (filter_attribute, filter_value) = selector;
                let filtered = format!(
                    "{path}[{filter_attribute} eq {}]",
                    filter_literal(filter_value)
                );
                operations.push(json!({"op": "remove", "path": filtered}));
                if let Some(element) = element {
                    operations.push(json!({"op": "add", "path": path, "value": [element]}));
                }
            }
        }
    }
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

/// The document of a PUT: the user as the server holds it with the synced attributes replaced
/// and everything else (roles, other emails, attributes of other extensions) left as it was.
pub fn replacement_document(
    mut current: Map<String, Value>,
    attributes: &[SyncedAttribute],
) -> Value {
    // `meta` is the server's bookkeeping; sending it back invites a mutability error.
    current.remove("meta");
    apply_to_document(&mut current, attributes);
    Value::Object(current)
}

/// The body of the PATCH that adds group members (never replacing the member list).
pub fn add_members_patch_body(users: &[LmsUserId]) -> Value {
    let members: Vec<Value> = users.iter().map(|user| json!({"value": user.0})).collect();
    json!({
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "add", "path": "members", "value": members}]
    })
}

/// RFC 7644 §3.5.2.2: a remove whose path filters the multi-valued `members` by value removes
/// that member only; one operation per member, all in one PATCH.
pub fn remove_members_patch_body(users: &[LmsUserId]) -> Value {
    let operations: Vec<Value> = users
        .iter()
        .map(|user| {
            json!({
                "op": "remove",
                "path": format!("members[{}]", equality_filter("value", &user.0)),
            })
        })
        .collect();
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

/// Takes `users` out of a group document for a PUT; `false` when none of them was a member.
pub fn remove_members_from_document(group: &mut Map<String, Value>, users: &[LmsUserId]) -> bool {
    group.remove("meta");
    let Some(Value::Array(members)) = group.get_mut("members") else {
        return false;
    };
    let leaving: BTreeSet<&str> = users.iter().map(|user| user.0.as_str()).collect();
    let before = members.len();
    members.retain(|member| {
        member
            .get("value")
            .and_then(Value::as_str)
            .is_none_or(|value| !leaving.contains(value))
    });
    members.len() != before
}

/// Adds `users` to a group document for a PUT; `false` when all of them already are members.
pub fn add_members_to_document(group: &mut Map<String, Value>, users: &[LmsUserId]) -> bool {
    group.remove("meta");
    let members = group
        .entry("members")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !members.is_array() {
        *members = Value::Array(Vec::new());
    }
    let Value::Array(members) = members else {
        return false;
    };
    let present: BTreeSet<String> = members
        .iter()
        .filter_map(|member| member.get("value").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    let mut added = false;
    for user in users {
        if !present.contains(&user.0) {
            members.push(json!({"value": user.0}));
            added = true;
        }
    }
    added
}

fn apply_to_document(document: &mut Map<String, Value>, attributes: &[SyncedAttribute]) {
    let mut extensions = BTreeSet::new();
    for attribute in attributes {
        let container = if attribute.is_core() {
            &mut *document
        } else {
            extensions.insert(attribute.schema.clone());
            object_at(document, &attribute.schema)
        };
        let (parents, leaf) = match attribute.path.rsplit_once('.') {
            Some((parent, leaf)) => (Some(parent), leaf),
            None => (None, attribute.path.as_str()),
        };
        let container = match parents {
            Some(parent) => object_at(container, parent),
            None => container,
        };
        match &attribute.value {
            SyncedValue::Set(value) => {
                container.insert(leaf.to_owned(), value.clone());
            }
            SyncedValue::Cleared => {
                container.remove(leaf);
            }
            SyncedValue::Element { selector, element } => {
                let mut elements = match container.remove(leaf) {
                    Some(Value::Array(elements)) => elements,
                    _ => Vec::new(),
                };
                let matches = |existing: &Value| {
                    existing.get(&selector.0).and_then(Value::as_str) == Some(selector.1.as_str())
                };
                // Sub-attributes of the element the sync does not write stay as they were.
                let mut merged = elements
                    .iter()
                    .find(|existing| matches(existing))
                    .and_then(Value::as_object)
                    .cloned();
                elements.retain(|existing| !matches(existing));
                if let Some(element) = element {
                    let fields = merged.get_or_insert_with(Map::new);
                    for (key, value) in element {
                        fields.insert(key.clone(), value.clone());
                    }
                    if element.get("primary") == Some(&Value::Bool(true)) {
                        // RFC 7643 §2.4: at most one element may be primary.
                        for existing in &mut elements {
                            if let Value::Object(fields) = existing {
                                fields.remove("primary");
                            }
                        }
                    }
                    if let Some(fields) = merged {
                        elements.push(Value::Object(fields));
                    }
                }
                if elements.is_empty() {
                    container.remove(leaf);
                } else {
                    container.insert(leaf.to_owned(), Value::Array(elements));
                }
            }
        }
    }
    for extension in extensions {
        let present = match document.get(&extension) {
            Some(Value::Object(fields)) => !fields.is_empty(),
            _ => false,
        };
        if !present {
            document.remove(&extension);
        }
        let schemas = document
            .entry("schemas")
            .or_insert_with(|| json!([CORE_USER_SCHEMA]));
        if let Value::Array(schemas) = schemas {
            let listed = schemas
                .iter()
                .any(|schema| schema.as_str() == Some(extension.as_str()));
            if present && !listed {
                schemas.push(Value::String(extension.clone()));
            } else if !present && listed {
                schemas.retain(|schema| schema.as_str() != Some(extension.as_str()));
            }
        }
    }
}

/// The object under `key`, made (or replacing a non-object) when missing.
fn object_at<'a>(document: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = document
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(fields) => fields,
        _ => unreachable!("the slot was just made an object"),
    }
}

/// The labels of the synced attributes whose value in `document` (a user as the server answered)
/// differs from what the sync writes.
pub fn drifted(document: &Value, attributes: &[SyncedAttribute]) -> Vec<String> {
    let mut drifted = Vec::new();
    for attribute in attributes {
        if attribute.path == "externalId" {
            continue;
        }
        let container = if attribute.is_core() {
            Some(document)
        } else {
            document.get(&attribute.schema)
        };
        let current = attribute
            .path
            .split('.')
            .try_fold(container, |value, key| Some(value?.get(key)))
            .flatten()
            .filter(|value| !is_empty_value(value));
        let same = match (&attribute.value, current) {
            (SyncedValue::Set(wanted), Some(current)) => same_value(wanted, current),
            (SyncedValue::Set(_), None) => false,
            (SyncedValue::Cleared, current) => current.is_none(),
            (SyncedValue::Element { selector, element }, current) => {
                let found = current.and_then(Value::as_array).and_then(|elements| {
                    elements.iter().find(|existing| {
                        existing.get(&selector.0).and_then(Value::as_str)
                            == Some(selector.1.as_str())
                    })
                });
                match (element, found) {
                    (None, found) => found.is_none(),
                    (Some(wanted), Some(found)) => {
                        same_value(&Value::Object(wanted.clone()), found)
                    }
                    (Some(_), None) => false,
                }
            }
        };
        if !same && !drifted.contains(&attribute.label) {
            drifted.push(attribute.label.clone());
        }
    }
    drifted
}

/// `wanted` is in `current`: equal scalars (text case-insensitively where SCIM compares so),
/// objects whose keys the sync writes hold equal values.
fn same_value(wanted: &Value, current: &Value) -> bool {
    match (wanted, current) {
        (Value::Object(wanted), Value::Object(current)) => wanted.iter().all(|(key, value)| {
            key == "primary"
                || current
                    .get(key)
                    .is_some_and(|found| same_value(value, found))
        }),
        (Value::String(wanted), Value::String(current)) => wanted == current,
        (wanted, current) => wanted == current,
    }
}

#[cfg(test)]
mod tests {
    use super::super::discovery::PERSONIO_LMS_USER_SCHEMA;
    use super::super::mapping::resolve;
    use super::*;
    use crate::domain::lms::Manager;
    use crate::domain::settings::{AttributeMapping, ScimSettings};
    use std::collections::BTreeMap;

    const VENDOR: &str = "urn:acme:params:scim:schemas:extension:learning:1.0:User";

    fn capabilities(extensions: &[&str], schemas: &[Value]) -> ServerCapabilities {
        let user_type = json!({
            "name": "User", "endpoint": "/Users", "schema": CORE_USER_SCHEMA,
            "schemaExtensions": extensions.iter().map(|schema| json!({"schema": schema})).collect::<Vec<_>>()
        });
        ServerCapabilities::from_discovery(None, Some(&[user_type]), Some(schemas))
            .expect("valid discovery")
    }

    fn profile() -> LmsProfile {
        LmsProfile {
            external_id: "4711".into(),
            email: "ann.lee@example.com".into(),
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            display_name: Some("Ann Lee".into()),
            status: "Active".into(),
            active: true,
            title: None,
            department: Some("Sales".into()),
            team: Some("EMEA".into()),
            location: Some("Berlin".into()),
            company: Some("ACME GmbH".into()),
            birthday: NaiveDate::from_ymd_opt(1990, 5, 17),
            manager: Some(Manager {
                personio_id: Some("12".into()),
                name: Some("Bo Boss".into()),
            }),
            employee_number: Some("4711".into()),
            custom: BTreeMap::from([("costCenter".into(), "CC-9".into())]),
            ..LmsProfile::default()
        }
    }

    fn attributes(
        settings: &ScimSettings,
        capabilities: &ServerCapabilities,
        manager: ManagerRef,
        purpose: Purpose,
    ) -> Vec<SyncedAttribute> {
        let mapping = AttributeMapping::new(settings, &["costCenter".to_owned()]).unwrap();
        let resolved = resolve(&mapping, capabilities);
        synced_attributes(&profile(), &manager, &resolved, capabilities, purpose)
    }

    fn manager_name_read_only() -> Value {
        json!({"id": ENTERPRISE_USER_SCHEMA, "attributes": [
            {"name": "department"}, {"name": "organization"}, {"name": "employeeNumber"},
            {"name": "costCenter"},
            {"name": "manager", "subAttributes": [
                {"name": "value"}, {"name": "displayName", "mutability": "readOnly"}]}
        ]})
    }

    #[test]
    fn a_standard_server_gets_core_and_enterprise_attributes_with_the_role_on_create() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[manager_name_read_only()]);
        let synced = attributes(
            &ScimSettings::default(),
            &capabilities,
            ManagerRef::User(LmsUserId("scim-12".into())),
            Purpose::Create,
        );
        let body = create_body(&synced, "User", &capabilities);
        assert_eq!(
            body,
            json!({
                "schemas": [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "roles": [{"value": "User"}],
                "externalId": "4711",
                "userName": "ann.lee@example.com",
                "emails": [{"value": "ann.lee@example.com", "type": "work", "primary": true}],
                "name": {"givenName": "Ann", "familyName": "Lee"},
                "displayName": "Ann Lee",
                "active": true,
                "addresses": [{"type": "work", "locality": "Berlin"}],
                ENTERPRISE_USER_SCHEMA: {
                    "department": "Sales",
                    "organization": "ACME GmbH",
                    "employeeNumber": "4711",
                    "manager": {"value": "scim-12"}
                }
            })
        );
    }

    #[test]
    fn a_vendor_extension_takes_the_fields_mapped_to_it() {
        let vendor_schema = json!({"id": VENDOR, "attributes": [
            {"name": "costCenter"}, {"name": "state"}, {"name": "managerId"}]});
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA, VENDOR], &[vendor_schema]);
        let mut settings = ScimSettings::default();
        settings
            .attributes
            .insert("custom.costCenter".into(), format!("{VENDOR}:costCenter"));
        settings
            .attributes
            .insert("status".into(), format!("{VENDOR}:state"));
        settings
            .attributes
            .insert("manager".into(), format!("{VENDOR}:managerId"));
        let synced = attributes(
            &settings,
            &capabilities,
            ManagerRef::SameBatch("12".into()),
            Purpose::Create,
        );
        let body = create_body(&synced, "User", &capabilities);
        assert_eq!(
            body[VENDOR],
            json!({"costCenter": "CC-9", "state": "Active", "managerId": "bulkId:12"})
        );
        assert!(body[ENTERPRISE_USER_SCHEMA].get("manager").is_none());
        // The core schema first, then the extensions written, by URN.
        assert_eq!(
            body["schemas"],
            json!([CORE_USER_SCHEMA, VENDOR, ENTERPRISE_USER_SCHEMA])
        );
    }

    #[test]
    fn the_project_extension_carries_the_lms_only_fields_when_advertised() {
        let capabilities = capabilities(&[PERSONIO_LMS_USER_SCHEMA], &[]);
        let synced = attributes(
            &ScimSettings::default(),
            &capabilities,
            ManagerRef::None,
            Purpose::Create,
        );
        let body = create_body(&synced, "User", &capabilities);
        assert_eq!(
            body[PERSONIO_LMS_USER_SCHEMA],
            json!({
                "status": "Active",
                "team": "EMEA",
                "location": "Berlin",
                "birthday": "1990-05-17",
                "customAttributes": [{"name": "costCenter", "value": "CC-9"}]
            })
        );
        assert!(body.get(ENTERPRISE_USER_SCHEMA).is_none());
    }

    #[test]
    fn patch_replaces_exactly_the_synced_paths_and_owns_the_typed_elements() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[]);
        let body = patch_body(&attributes(
            &ScimSettings::default(),
            &capabilities,
            ManagerRef::None,
            Purpose::Update,
        ));
        let summary: Vec<(String, String)> = body["Operations"]
            .as_array()
            .expect("operations")
            .iter()
            .map(|op| {
                (
                    op["op"].as_str().unwrap_or_default().to_owned(),
                    op["path"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let enterprise = |attribute: &str| format!("{ENTERPRISE_USER_SCHEMA}:{attribute}");
        let expected = [
            ("replace", "externalId".to_owned()),
            ("replace", "userName".into()),
            ("remove", "emails[type eq \"work\"]".into()),
            ("add", "emails".into()),
            ("replace", "active".into()),
            ("replace", "name.givenName".into()),
            ("replace", "name.familyName".into()),
            ("replace", "displayName".into()),
            ("remove", "title".into()),
            ("replace", enterprise("department")),
            ("remove", "addresses[type eq \"work\"]".into()),
            ("add", "addresses".into()),
            ("replace", enterprise("organization")),
            ("remove", "userType".into()),
            ("remove", enterprise("manager")),
            ("replace", enterprise("employeeNumber")),
        ]
        .map(|(op, path)| (op.to_owned(), path));
        assert_eq!(summary, expected);
        assert!(
            !body.to_string().contains("roles"),
            "a patch never sends the role"
        );
    }

    #[test]
    fn an_update_leaves_the_email_to_an_lms_that_keys_users_by_it() {
        let core = json!({"id": CORE_USER_SCHEMA, "attributes": [
            {"name": "userName", "mutability": "immutable"},
            {"name": "emails", "subAttributes": [{"name": "value"}, {"name": "type"}, {"name": "primary"}]},
            {"name": "active"}, {"name": "name", "subAttributes": [{"name": "givenName"}, {"name": "familyName"}]},
            {"name": "displayName"}, {"name": "title"}
        ]});
        let capabilities = capabilities(&[], &[core]);
        let paths = |purpose| -> Vec<String> {
            attributes(
                &ScimSettings::default(),
                &capabilities,
                ManagerRef::None,
                purpose,
            )
            .into_iter()
            .map(|attribute| attribute.path)
            .collect()
        };
        assert!(paths(Purpose::Create).contains(&"userName".to_owned()));
        let update = paths(Purpose::Update);
        assert!(!update.contains(&"userName".to_owned()));
        assert!(!update.contains(&"emails".to_owned()));
        assert!(update.contains(&"title".to_owned()));
    }

    #[test]
    fn replacement_keeps_unsynced_attributes_other_emails_and_element_parts() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[]);
        let Value::Object(current) = json!({
            "schemas": [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "u1",
            "meta": {"resourceType": "User", "version": "W/\"3\""},
            "userName": "old@example.com",
            "nickName": "Annie",
            "title": "Manual title",
            "name": {"givenName": "Old", "middleName": "M"},
            "roles": [{"value": "Admin"}],
            "emails": [
                {"value": "old@example.com", "type": "work", "primary": true},
                {"value": "ann@home.example", "type": "home", "primary": false}
            ],
            "addresses": [{"type": "work", "streetAddress": "Main St 1", "locality": "Bonn"}],
            ENTERPRISE_USER_SCHEMA: {"costCenter": "CC-7", "department": "Old"}
        }) else {
            panic!("an object")
        };
        let synced = attributes(
            &ScimSettings::default(),
            &capabilities,
            ManagerRef::None,
            Purpose::Update,
        );
        let document = replacement_document(current, &synced);
        assert_eq!(document["id"], "u1");
        assert!(document.get("meta").is_none());
        assert_eq!(document["nickName"], "Annie");
        assert!(
            document.get("title").is_none(),
            "a cleared synced field is cleared"
        );
        assert_eq!(
            document["name"],
            json!({"givenName": "Ann", "middleName": "M", "familyName": "Lee"})
        );
        assert_eq!(document["roles"], json!([{"value": "Admin"}]));
        assert_eq!(
            document["emails"],
            json!([
                {"value": "ann@home.example", "type": "home"},
                {"value": "ann.lee@example.com", "type": "work", "primary": true}
            ])
        );
        assert_eq!(
            document["addresses"],
            json!([{"type": "work", "streetAddress": "Main St 1", "locality": "Berlin"}])
        );
        assert_eq!(document[ENTERPRISE_USER_SCHEMA]["costCenter"], "CC-7");
        assert_eq!(document[ENTERPRISE_USER_SCHEMA]["department"], "Sales");
    }

    #[test]
    fn drift_names_the_fields_changed_by_hand() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[manager_name_read_only()]);
        let synced = attributes(
            &ScimSettings::default(),
            &capabilities,
            ManagerRef::User(LmsUserId("m1".into())),
            Purpose::Update,
        );
        let Value::Object(empty) = json!({"id": "u1"}) else {
            panic!("an object")
        };
        let as_synced = replacement_document(empty, &synced);
        assert!(drifted(&as_synced, &synced).is_empty(), "{as_synced}");
        let mut edited = as_synced.clone();
        edited["active"] = json!(false);
        edited["title"] = json!("Hand-made");
        edited[ENTERPRISE_USER_SCHEMA]["manager"] = json!({"value": "m2", "displayName": "X"});
        edited["addresses"] = json!([{"type": "work", "locality": "Hamburg"}]);
        assert_eq!(
            drifted(&edited, &synced),
            ["active", "title", "location", "manager"]
        );
    }

    #[test]
    fn adding_members_to_a_document_is_idempotent() {
        let Value::Object(mut group) = json!({"id": "g1", "displayName": "Sales", "meta": {}})
        else {
            panic!("an object")
        };
        let users = [LmsUserId("u1".into()), LmsUserId("u2".into())];
        assert!(add_members_to_document(&mut group, &users));
        assert!(!add_members_to_document(&mut group, &users[..1]));
        assert_eq!(group["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        assert!(!group.contains_key("meta"));
        assert_eq!(
            add_members_patch_body(&users)["Operations"][0]["value"],
            json!([{"value": "u1"}, {"value": "u2"}])
        );
    }
}
