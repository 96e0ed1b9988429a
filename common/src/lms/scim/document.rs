//! The SCIM side of an [`LmsProfile`]: the synced attributes, and the three request bodies made
//! from them (create, PATCH, the document of a GET-then-PUT). All three come from one list so that
//! exactly the same attributes are written whichever way the server is updated.

use super::discovery::{
    CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA, ServerCapabilities,
};
use crate::domain::lms::{LmsGroup, LmsGroupId, LmsProfile, LmsUser, LmsUserId};
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const WORK_EMAIL_TYPE: &str = "work";
/// The extensions whose attributes the adapter manages (and whose `schemas` entries it keeps).
const MANAGED_EXTENSIONS: [&str; 2] = [ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA];

/// What the profile says one attribute should be.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncedValue {
    Set(Value),
    /// The profile has no value: the attribute is cleared.
    Cleared,
    /// One element of a multi-valued attribute, the one whose `type` is `kind`; the attribute's
    /// other elements (a private email an LMS admin added) are not the sync's business.
    TypedElement {
        kind: &'static str,
        element: Value,
    },
}

/// One synced attribute: `path` within `schema` (`name.givenName`, `manager`).
#[derive(Clone, Debug, PartialEq)]
pub struct SyncedAttribute {
    pub schema: &'static str,
    pub path: &'static str,
    pub value: SyncedValue,
}

impl SyncedAttribute {
    /// The attribute path as PATCH addresses it: extension attributes carry their schema URN.
    fn patch_path(&self) -> String {
        if self.schema == CORE_USER_SCHEMA {
            self.path.to_owned()
        } else {
            format!("{}:{}", self.schema, self.path)
        }
    }
}

/// The synced attributes of `profile` as this server can take them: extensions only when the
/// User resource type advertises them, and only the (sub-)attributes the server lets clients
/// write. `manager_id` is the manager's SCIM id when it could be resolved.
pub fn synced_attributes(
    profile: &LmsProfile,
    manager_id: Option<&str>,
    capabilities: &ServerCapabilities,
) -> Vec<SyncedAttribute> {
    let core = |path, value| SyncedAttribute {
        schema: CORE_USER_SCHEMA,
        path,
        value,
    };
    let mut attributes = vec![
        core("externalId", text(Some(&profile.external_id))),
        core("userName", text(Some(&profile.email))),
        core(
            "emails",
            SyncedValue::TypedElement {
                kind: WORK_EMAIL_TYPE,
                element: json!({"value": profile.email, "type": WORK_EMAIL_TYPE, "primary": true}),
            },
        ),
        core("name.givenName", text(profile.first_name.as_deref())),
        core("name.familyName", text(profile.last_name.as_deref())),
        core("displayName", text(profile.display_name.as_deref())),
        core("active", SyncedValue::Set(Value::Bool(profile.active))),
        core("title", text(profile.title.as_deref())),
    ];

    if capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA) {
        let enterprise = |path, value| SyncedAttribute {
            schema: ENTERPRISE_USER_SCHEMA,
            path,
            value,
        };
        let mut manager = Map::new();
        if let Some(id) = manager_id {
            manager.insert("value".into(), Value::String(id.to_owned()));
        }
        if let Some(name) = non_empty(profile.manager.as_ref().and_then(|m| m.name.as_deref())) {
            manager.insert("displayName".into(), Value::String(name.to_owned()));
        }
        attributes.extend([
            enterprise("department", text(profile.department.as_deref())),
            enterprise("organization", text(profile.company.as_deref())),
            enterprise("employeeNumber", text(profile.employee_number.as_deref())),
            enterprise("manager", SyncedValue::Set(Value::Object(manager))),
        ]);
    }

    if capabilities.user_extension_advertised(PERSONIO_LMS_USER_SCHEMA) {
        let personio = |path, value| SyncedAttribute {
            schema: PERSONIO_LMS_USER_SCHEMA,
            path,
            value,
        };
        let custom: Vec<Value> = profile
            .custom
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        attributes.extend([
            personio("status", text(Some(&profile.status))),
            personio("team", text(profile.team.as_deref())),
            personio("location", text(profile.location.as_deref())),
            personio("gender", text(profile.gender.as_deref())),
            personio("birthday", date(profile.birthday)),
            personio("hireDate", date(profile.hire_date)),
            personio("contractEndDate", date(profile.contract_end_date)),
            personio("terminationDate", date(profile.termination_date)),
            personio("employmentType", text(profile.employment_type.as_deref())),
            personio("customAttributes", SyncedValue::Set(Value::Array(custom))),
        ]);
    }

    attributes
        .into_iter()
        .filter(|attribute| capabilities.writable(attribute.schema, attribute.path))
        .map(|attribute| writable_part(attribute, capabilities))
        .collect()
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

fn text(value: Option<&str>) -> SyncedValue {
    match non_empty(value) {
        Some(value) => SyncedValue::Set(Value::String(value.to_owned())),
        None => SyncedValue::Cleared,
    }
}

fn date(value: Option<NaiveDate>) -> SyncedValue {
    match value {
        Some(date) => SyncedValue::Set(Value::String(date.format("%Y-%m-%d").to_string())),
        None => SyncedValue::Cleared,
    }
}

/// Drops the sub-attributes the server does not let clients write (the enterprise manager's
/// `displayName` is read-only in RFC 7643); a complex value left empty clears the attribute.
fn writable_part(
    mut attribute: SyncedAttribute,
    capabilities: &ServerCapabilities,
) -> SyncedAttribute {
    let keep = |key: &String| {
        capabilities.writable(attribute.schema, &format!("{}.{key}", attribute.path))
    };
    match &mut attribute.value {
        SyncedValue::Set(Value::Object(fields))
        | SyncedValue::TypedElement {
            element: Value::Object(fields),
            ..
        } => fields.retain(|key, _| keep(key)),
        SyncedValue::Set(Value::Array(elements)) => {
            for element in elements.iter_mut() {
                if let Value::Object(fields) = element {
                    fields.retain(|key, _| keep(key));
                }
            }
            elements.retain(|element| !is_empty_value(element));
        }
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
            SyncedValue::TypedElement { kind, element } => {
                let selector = format!("{path}[type eq {}]", filter_literal(kind));
                operations.push(json!({"op": "remove", "path": selector}));
                operations.push(json!({"op": "add", "path": path, "value": [element]}));
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

/// The body of the PATCH that adds one group member (never replacing the member list).
pub fn add_member_patch_body(user: &LmsUserId) -> Value {
    json!({
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user.0}]}]
    })
}

/// RFC 7644 §3.5.2.2: a remove whose path filters the multi-valued `members` by value removes
/// that member only.
pub fn remove_member_patch_body(user: &LmsUserId) -> Value {
    json!({
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "remove", "path": format!("members[{}]", equality_filter("value", &user.0))}]
    })
}

/// Takes `user` out of a group document for a PUT; `false` when it was no member.
pub fn remove_member_from_document(group: &mut Map<String, Value>, user: &LmsUserId) -> bool {
    group.remove("meta");
    let Some(Value::Array(members)) = group.get_mut("members") else {
        return false;
    };
    let before = members.len();
    members.retain(|member| member.get("value").and_then(Value::as_str) != Some(user.0.as_str()));
    members.len() != before
}

/// Adds `user` to a group document for a PUT; `false` when it already is a member.
pub fn add_member_to_document(group: &mut Map<String, Value>, user: &LmsUserId) -> bool {
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
    let already_member = members
        .iter()
        .any(|member| member.get("value").and_then(Value::as_str) == Some(user.0.as_str()));
    if !already_member {
        members.push(json!({"value": user.0}));
    }
    !already_member
}

fn apply_to_document(document: &mut Map<String, Value>, attributes: &[SyncedAttribute]) {
    for attribute in attributes {
        let container = if attribute.schema == CORE_USER_SCHEMA {
            &mut *document
        } else {
            object_at(document, attribute.schema)
        };
        let (parents, leaf) = match attribute.path.rsplit_once('.') {
            Some((parent, leaf)) => (Some(parent), leaf),
            None => (None, attribute.path),
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
            SyncedValue::TypedElement { kind, element } => {
                let mut elements = match container.remove(leaf) {
                    Some(Value::Array(elements)) => elements,
                    _ => Vec::new(),
                };
                elements
                    .retain(|existing| existing.get("type").and_then(Value::as_str) != Some(*kind));
                if element.get("primary") == Some(&Value::Bool(true)) {
                    // RFC 7643 §2.4: at most one element may be primary.
                    for existing in &mut elements {
                        if let Value::Object(fields) = existing {
                            fields.remove("primary");
                        }
                    }
                }
                elements.push(element.clone());
                container.insert(leaf.to_owned(), Value::Array(elements));
            }
        }
    }
    for extension in MANAGED_EXTENSIONS {
        let present = match document.get(extension) {
            Some(Value::Object(fields)) => !fields.is_empty(),
            _ => false,
        };
        if !present {
            document.remove(extension);
        }
        let schemas = document
            .entry("schemas")
            .or_insert_with(|| json!([CORE_USER_SCHEMA]));
        if let Value::Array(schemas) = schemas {
            let listed = schemas
                .iter()
                .any(|schema| schema.as_str() == Some(extension));
            if present && !listed {
                schemas.push(Value::String(extension.to_owned()));
            } else if !present && listed {
                schemas.retain(|schema| schema.as_str() != Some(extension));
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

/// A string as a filter comparison value (RFC 7644 §3.4.2.2): a JSON string literal, so quotes,
/// backslashes and control characters are escaped as JSON escapes them.
pub fn filter_literal(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

/// `attribute eq "value"`, the only filter the adapter needs.
pub fn equality_filter(attribute: &str, value: &str) -> String {
    format!("{attribute} eq {}", filter_literal(value))
}

/// A user as the port returns it. The email is the `userName` (which the sync sets to the work
/// email), else the primary email.
pub fn lms_user_from(resource: &Value) -> Result<LmsUser, String> {
    let id = resource_id(resource)?;
    let email = resource
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| primary_email(resource))
        .ok_or_else(|| format!("user {id} has neither userName nor an email"))?;
    Ok(LmsUser {
        id: LmsUserId(id),
        external_id: resource
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        email,
        // RFC 7643 leaves `active` optional; an account that does not say otherwise can sign in.
        active: resource
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    })
}

pub fn lms_group_from(resource: &Value) -> Result<LmsGroup, String> {
    let id = resource_id(resource)?;
    let name = resource
        .get("displayName")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("group {id} has no displayName"))?;
    Ok(LmsGroup {
        id: LmsGroupId(id),
        name: name.to_owned(),
    })
}

fn resource_id(resource: &Value) -> Result<String, String> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "a resource without an id".to_owned())
}

fn primary_email(resource: &Value) -> Option<String> {
    let emails = resource.get("emails")?.as_array()?;
    emails
        .iter()
        .find(|email| email.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| emails.first())
        .and_then(|email| email.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lms::Manager;
    use std::collections::BTreeMap;

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
            company: Some("ACME GmbH".into()),
            birthday: NaiveDate::from_ymd_opt(1990, 5, 17),
            manager: Some(Manager {
                personio_id: Some("12".into()),
                name: Some("Bo Boss".into()),
            }),
            employee_number: Some("4711".into()),
            custom: BTreeMap::from([("shoe_size".into(), "42".into())]),
            ..LmsProfile::default()
        }
    }

    fn read_only_manager_name_schema() -> Value {
        json!({"id": ENTERPRISE_USER_SCHEMA, "attributes": [
            {"name": "department"}, {"name": "organization"}, {"name": "employeeNumber"},
            {"name": "manager", "subAttributes": [
                {"name": "value"}, {"name": "displayName", "mutability": "readOnly"}]}
        ]})
    }

    #[test]
    fn create_body_has_core_fields_role_and_advertised_extensions_only() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[]);
        let attributes = synced_attributes(&profile(), Some("scim-12"), &capabilities);
        let body = create_body(&attributes, "User", &capabilities);
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
                ENTERPRISE_USER_SCHEMA: {
                    "department": "Sales",
                    "organization": "ACME GmbH",
                    "employeeNumber": "4711",
                    "manager": {"value": "scim-12", "displayName": "Bo Boss"}
                }
            })
        );
    }

    #[test]
    fn project_extension_carries_the_lms_only_fields_when_advertised() {
        let capabilities = capabilities(&[PERSONIO_LMS_USER_SCHEMA], &[]);
        let body = create_body(
            &synced_attributes(&profile(), None, &capabilities),
            "User",
            &capabilities,
        );
        assert_eq!(
            body[PERSONIO_LMS_USER_SCHEMA],
            json!({
                "status": "Active",
                "team": "EMEA",
                "birthday": "1990-05-17",
                "customAttributes": [{"name": "shoe_size", "value": "42"}]
            })
        );
        assert_eq!(
            body["schemas"],
            json!([CORE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA])
        );
        assert!(body.get(ENTERPRISE_USER_SCHEMA).is_none());
    }

    #[test]
    fn read_only_sub_attributes_are_not_sent_and_an_emptied_value_clears() {
        let capabilities = capabilities(
            &[ENTERPRISE_USER_SCHEMA],
            &[read_only_manager_name_schema()],
        );
        let resolved = synced_attributes(&profile(), Some("scim-12"), &capabilities);
        let manager = resolved
            .iter()
            .find(|attribute| attribute.path == "manager")
            .expect("manager is synced");
        assert_eq!(manager.value, SyncedValue::Set(json!({"value": "scim-12"})));

        let unresolved = synced_attributes(&profile(), None, &capabilities);
        let manager = unresolved
            .iter()
            .find(|attribute| attribute.path == "manager")
            .expect("manager is synced");
        assert_eq!(manager.value, SyncedValue::Cleared);
    }

    #[test]
    fn patch_replaces_exactly_the_synced_paths() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[]);
        let mut changed = profile();
        changed.manager = None;
        let body = patch_body(&synced_attributes(&changed, None, &capabilities));
        let operations = body["Operations"].as_array().expect("operations");
        let summary: Vec<(String, String)> = operations
            .iter()
            .map(|op| {
                (
                    op["op"].as_str().unwrap_or_default().to_owned(),
                    op["path"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("replace", "externalId"),
            ("replace", "userName"),
            ("remove", "emails[type eq \"work\"]"),
            ("add", "emails"),
            ("replace", "name.givenName"),
            ("replace", "name.familyName"),
            ("replace", "displayName"),
            ("replace", "active"),
            ("remove", "title"),
            (
                "replace",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ),
            (
                "replace",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
            ),
            (
                "replace",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            ),
            (
                "remove",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            ),
        ]
        .map(|(op, path)| (op.to_owned(), path.to_owned()));
        assert_eq!(summary, expected);
        assert_eq!(body["schemas"], json!([PATCH_OP_SCHEMA]));
        assert!(
            !body.to_string().contains("roles"),
            "a patch never sends the role"
        );
    }

    #[test]
    fn replacement_keeps_unsynced_attributes_and_other_emails() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[]);
        let current = json!({
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
            ENTERPRISE_USER_SCHEMA: {"costCenter": "CC-7", "department": "Old"}
        });
        let Value::Object(current) = current else {
            panic!("an object")
        };
        let document =
            replacement_document(current, &synced_attributes(&profile(), None, &capabilities));
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
        assert_eq!(document[ENTERPRISE_USER_SCHEMA]["costCenter"], "CC-7");
        assert_eq!(document[ENTERPRISE_USER_SCHEMA]["department"], "Sales");
    }

    #[test]
    fn an_extension_left_empty_is_dropped_with_its_schema_entry() {
        let capabilities = capabilities(&[ENTERPRISE_USER_SCHEMA], &[]);
        let mut bare = profile();
        bare.department = None;
        bare.company = None;
        bare.employee_number = None;
        bare.manager = None;
        let Value::Object(current) = json!({
            "schemas": [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            ENTERPRISE_USER_SCHEMA: {"department": "Old"}
        }) else {
            panic!("an object")
        };
        let document =
            replacement_document(current, &synced_attributes(&bare, None, &capabilities));
        assert!(document.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(document["schemas"], json!([CORE_USER_SCHEMA]));
    }

    #[test]
    fn filter_values_are_quoted_and_escaped_as_json_strings() {
        assert_eq!(equality_filter("externalId", "42"), r#"externalId eq "42""#);
        assert_eq!(
            equality_filter("displayName", r#"R&D "North" \ 2"#),
            r#"displayName eq "R&D \"North\" \\ 2""#
        );
        assert_eq!(equality_filter("userName", "a\nb"), r#"userName eq "a\nb""#);
    }

    #[test]
    fn adding_a_member_to_a_document_is_idempotent() {
        let Value::Object(mut group) = json!({"id": "g1", "displayName": "Sales", "meta": {}})
        else {
            panic!("an object")
        };
        let user = LmsUserId("u1".into());
        assert!(add_member_to_document(&mut group, &user));
        assert!(!add_member_to_document(&mut group, &user));
        assert_eq!(group["members"], json!([{"value": "u1"}]));
        assert!(!group.contains_key("meta"));
    }

    #[test]
    fn users_and_groups_are_read_from_resources() {
        let user = lms_user_from(&json!({"id": "u1", "externalId": "7", "emails": [
            {"value": "b@x.org"}, {"value": "a@x.org", "primary": true}]}))
        .expect("a user");
        assert_eq!(user.email, "a@x.org");
        assert!(user.active);
        assert_eq!(user.external_id.as_deref(), Some("7"));
        let user = lms_user_from(&json!({"id": "u2", "userName": "c@x.org", "active": false}))
            .expect("a user");
        assert_eq!((user.email.as_str(), user.active), ("c@x.org", false));
        assert!(lms_user_from(&json!({"userName": "c@x.org"})).is_err());
        assert!(lms_user_from(&json!({"id": "u3"})).is_err());
        let group = lms_group_from(&json!({"id": "g1", "displayName": "Sales"})).expect("a group");
        assert_eq!((group.id.0.as_str(), group.name.as_str()), ("g1", "Sales"));
        assert!(lms_group_from(&json!({"id": "g1"})).is_err());
    }
}
