//! Employees as Personio serves them: a list of `{label, value, type, universal_id}` attributes,
//! each pre-rendered to its JSON fragment so that a page of 100 employees is string joins only.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, FixedOffset, Offset, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::error::SandboxError;

/// One employee attribute, exactly as it appears under `attributes` in Personio's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: String,
    pub label: String,
    pub value: Value,
    /// Personio's `type`: standard, date, integer, decimal, list, link, tags, multiline.
    pub kind: String,
    pub universal_id: Option<String>,
}

impl Attribute {
    pub fn new(
        key: &str,
        label: &str,
        kind: &str,
        universal_id: Option<&str>,
        value: Value,
    ) -> Self {
        Self {
            key: key.to_owned(),
            label: label.to_owned(),
            value,
            kind: kind.to_owned(),
            universal_id: universal_id.map(str::to_owned),
        }
    }

    /// A standard attribute whose universal id is its key, as for all built-in attributes.
    pub fn standard(key: &str, label: &str, kind: &str, value: Value) -> Self {
        Self::new(key, label, kind, Some(key), value)
    }

    fn render(&self) -> String {
        #[derive(Serialize)]
        struct Wire<'a> {
            label: &'a str,
            value: &'a Value,
            #[serde(rename = "type")]
            kind: &'a str,
            universal_id: Option<&'a str>,
        }
        let body = Wire {
            label: &self.label,
            value: &self.value,
            kind: &self.kind,
            universal_id: self.universal_id.as_deref(),
        };
        // Serialising strings and `Value`s cannot fail.
        let key = serde_json::to_string(&self.key).unwrap_or_default();
        let body = serde_json::to_string(&body).unwrap_or_default();
        format!("{key}:{body}")
    }
}

#[derive(Debug, Clone)]
struct StoredAttribute {
    attribute: Attribute,
    modified_at: DateTime<Utc>,
    fragment: String,
}

/// Which attributes a response may show: the credential's whitelist and the `attributes[]`
/// projection. `id` is always shown, as Personio does.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Visibility<'a> {
    pub whitelist: Option<&'a HashSet<String>>,
    pub projection: Option<&'a HashSet<String>>,
}

impl Visibility<'_> {
    fn shows(&self, key: &str) -> bool {
        key == "id"
            || (self.whitelist.is_none_or(|allowed| allowed.contains(key))
                && self.projection.is_none_or(|wanted| wanted.contains(key)))
    }
}

/// An employee record.
#[derive(Debug, Clone)]
pub struct Employee {
    id: u64,
    attributes: Vec<StoredAttribute>,
    last_modified: DateTime<Utc>,
}

/// The offset Personio uses when it renders timestamps for a German company (winter time).
pub(crate) fn personio_offset() -> FixedOffset {
    // 3600 s is a valid offset; `east_opt` only fails beyond ±24 h.
    FixedOffset::east_opt(3600).unwrap_or_else(|| Utc.fix())
}

pub(crate) fn render_timestamp(at: DateTime<Utc>) -> String {
    personio_offset()
        .from_utc_datetime(&at.naive_utc())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

impl Employee {
    /// Builds an employee; `id` and `last_modified_at` attributes are set from the arguments.
    pub fn new(id: u64, attributes: Vec<Attribute>, last_modified: DateTime<Utc>) -> Self {
        let mut employee = Self {
            id,
            attributes: Vec::with_capacity(attributes.len() + 2),
            last_modified,
        };
        employee.put(
            Attribute::standard("id", "ID", "integer", Value::from(id)),
            last_modified,
        );
        for attribute in attributes {
            if attribute.key != "id" {
                employee.put(attribute, last_modified);
            }
        }
        employee.touch(last_modified);
        employee
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn last_modified(&self) -> DateTime<Utc> {
        self.last_modified
    }

    pub fn attribute(&self, key: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|stored| stored.attribute.key == key)
            .map(|stored| &stored.attribute)
    }

    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes.iter().map(|stored| &stored.attribute)
    }

    /// The value as a string if it is one (`first_name`, `email`, …).
    pub fn text(&self, key: &str) -> Option<&str> {
        self.attribute(key)
            .and_then(|attribute| attribute.value.as_str())
    }

    /// Whether any of `keys` (or any attribute when `keys` is `None`) changed after `since`.
    /// `last_modified_at` itself never counts: it moves with every attribute, counted or not.
    pub(crate) fn modified_since(
        &self,
        since: DateTime<Utc>,
        keys: Option<&HashSet<String>>,
    ) -> bool {
        match keys {
            None => self.last_modified > since,
            Some(keys) => self.attributes.iter().any(|stored| {
                let key = &stored.attribute.key;
                key != "last_modified_at" && keys.contains(key) && stored.modified_at > since
            }),
        }
    }

    /// Sets an attribute value and bumps `last_modified_at`; returns the value before.
    pub(crate) fn set_value(
        &mut self,
        key: &str,
        value: Value,
        at: DateTime<Utc>,
    ) -> Result<Value, SandboxError> {
        if key == "id" || key == "last_modified_at" {
            return Err(SandboxError::ReadOnlyAttribute(key.to_owned()));
        }
        let stored = self
            .attributes
            .iter_mut()
            .find(|stored| stored.attribute.key == key)
            .ok_or_else(|| SandboxError::UnknownAttribute(key.to_owned()))?;
        let before = std::mem::replace(&mut stored.attribute.value, value);
        stored.modified_at = at;
        stored.fragment = stored.attribute.render();
        self.touch(at);
        Ok(before)
    }

    fn put(&mut self, attribute: Attribute, at: DateTime<Utc>) {
        let fragment = attribute.render();
        let stored = StoredAttribute {
            attribute,
            modified_at: at,
            fragment,
        };
        match self
            .attributes
            .iter_mut()
            .find(|existing| existing.attribute.key == stored.attribute.key)
        {
            Some(existing) => *existing = stored,
            None => self.attributes.push(stored),
        }
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.last_modified = at;
        let label = self.attribute("last_modified_at").map_or_else(
            || "Last modified".to_owned(),
            |existing| existing.label.clone(),
        );
        self.put(
            Attribute {
                key: "last_modified_at".to_owned(),
                label,
                value: Value::from(render_timestamp(at)),
                kind: "date".to_owned(),
                universal_id: Some("last_modified_at".to_owned()),
            },
            at,
        );
    }

    /// Appends `{"type":"Employee","attributes":{…}}` to `out`.
    pub(crate) fn render_into(&self, out: &mut String, visibility: Visibility<'_>) {
        out.push_str(r#"{"type":"Employee","attributes":{"#);
        let mut first = true;
        for stored in &self.attributes {
            if !visibility.shows(&stored.attribute.key) {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&stored.fragment);
        }
        out.push_str("}}");
    }

    /// The short nested form used for supervisors and document owners.
    pub fn short_json(&self) -> Value {
        let mut attributes = serde_json::Map::new();
        for key in ["id", "first_name", "last_name", "email"] {
            if let Some(attribute) = self.attribute(key) {
                attributes.insert(
                    key.to_owned(),
                    serde_json::json!({
                        "label": attribute.label,
                        "value": attribute.value,
                        "type": attribute.kind,
                        "universal_id": attribute.universal_id,
                    }),
                );
            }
        }
        serde_json::json!({"type": "Employee", "attributes": attributes})
    }
}

/// Renders a full `GET /v1/company/employees` body for `employees` (all on one page).
pub(crate) fn render_list(
    employees: &[&Employee],
    total_elements: usize,
    offset: usize,
    limit: usize,
    visibility: Visibility<'_>,
) -> String {
    let current_page = offset / limit.max(1);
    let total_pages = total_elements.div_ceil(limit.max(1));
    let mut out = String::with_capacity(64 + employees.len() * 2048);
    out.push_str(&format!(
        r#"{{"success":true,"metadata":{{"total_elements":{total_elements},"current_page":{current_page},"total_pages":{total_pages}}},"offset":{offset},"limit":{limit},"data":["#
    ));
    for (index, employee) in employees.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        employee.render_into(&mut out, visibility);
    }
    out.push_str("]}");
    out
}

/// Renders a `GET /v1/company/employees/{employee_id}` body: one employee under `data`.
pub(crate) fn render_one(employee: &Employee, visibility: Visibility<'_>) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str(r#"{"success":true,"data":"#);
    employee.render_into(&mut out, visibility);
    out.push('}');
    out
}

/// Reads a dataset in the shape of Personio's `GET /v1/company/employees` response.
pub(crate) fn load_dataset(
    path: &Path,
    fallback_modified: DateTime<Utc>,
) -> Result<Vec<Employee>, SandboxError> {
    let dataset_error = |reason: String| SandboxError::Dataset {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| dataset_error(error.to_string()))?;
    let body: Value =
        serde_json::from_str(&text).map_err(|error| dataset_error(error.to_string()))?;
    let records = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| dataset_error("no `data` array".to_owned()))?;
    let mut employees = Vec::with_capacity(records.len());
    let mut seen = HashSet::new();
    for (index, record) in records.iter().enumerate() {
        let employee = parse_employee(record, fallback_modified)
            .map_err(|reason| dataset_error(format!("employee #{index}: {reason}")))?;
        if !seen.insert(employee.id) {
            return Err(dataset_error(format!(
                "duplicate employee id {}",
                employee.id
            )));
        }
        employees.push(employee);
    }
    Ok(employees)
}

fn parse_employee(record: &Value, fallback_modified: DateTime<Utc>) -> Result<Employee, String> {
    let attributes = record
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or("no `attributes` object")?;
    let id = attributes
        .get("id")
        .and_then(|id| id.get("value"))
        .and_then(|value| value.as_u64().or_else(|| value.as_str()?.parse().ok()))
        .ok_or("no numeric `id`")?;
    let mut parsed = Vec::with_capacity(attributes.len());
    for (key, body) in attributes {
        let text = |field: &str| body.get(field).and_then(Value::as_str);
        parsed.push(Attribute {
            key: key.clone(),
            label: text("label").unwrap_or(key).to_owned(),
            value: body.get("value").cloned().unwrap_or(Value::Null),
            kind: text("type").unwrap_or("standard").to_owned(),
            universal_id: text("universal_id").map(str::to_owned),
        });
    }
    let last_modified = attributes
        .get("last_modified_at")
        .and_then(|attribute| attribute.get("value"))
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map_or(fallback_modified, |at| at.with_timezone(&Utc));
    Ok(Employee::new(id, parsed, last_modified))
}

/// Writes `employees` as a `GET /v1/company/employees` response, loadable by [`load_dataset`].
pub(crate) fn save_dataset(path: &Path, employees: &[Employee]) -> Result<(), SandboxError> {
    let all: Vec<&Employee> = employees.iter().collect();
    let body = render_list(&all, all.len(), 0, all.len().max(1), Visibility::default());
    std::fs::write(path, body).map_err(|error| SandboxError::Dataset {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::generator::{generate, reference_time};

    fn keys(rendered: &str) -> Vec<String> {
        let body: Value = serde_json::from_str(rendered).unwrap_or_default();
        let mut keys: Vec<String> = body["attributes"]
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    #[test]
    fn whitelist_and_projection_both_restrict_but_id_stays() {
        let employee = &generate(1, 1)[0];
        let whitelist: HashSet<String> = ["email", "first_name"].map(str::to_owned).into();
        let projection: HashSet<String> = ["email", "status", "no_such_attribute"]
            .map(str::to_owned)
            .into();
        let mut out = String::new();
        employee.render_into(
            &mut out,
            Visibility {
                whitelist: Some(&whitelist),
                projection: None,
            },
        );
        assert_eq!(keys(&out), ["email", "first_name", "id"]);
        out.clear();
        employee.render_into(
            &mut out,
            Visibility {
                whitelist: Some(&whitelist),
                projection: Some(&projection),
            },
        );
        assert_eq!(keys(&out), ["email", "id"]);
        out.clear();
        employee.render_into(&mut out, Visibility::default());
        assert!(keys(&out).len() > 25);
    }

    #[test]
    fn changes_bump_last_modified_and_the_attribute_time() {
        let mut employee = generate(1, 1).remove(0);
        let later = reference_time() + Duration::days(1);
        employee
            .set_value("position", Value::from("CTO"), later)
            .unwrap();
        assert_eq!(employee.text("position"), Some("CTO"));
        assert_eq!(employee.last_modified(), later);
        assert_eq!(
            employee.text("last_modified_at"),
            Some(render_timestamp(later).as_str())
        );
        let position: HashSet<String> = ["position".to_owned()].into();
        let email: HashSet<String> = ["email".to_owned()].into();
        let just_before = later - Duration::seconds(1);
        assert!(employee.modified_since(just_before, Some(&position)));
        assert!(!employee.modified_since(just_before, Some(&email)));
        assert!(matches!(
            employee.set_value("nope", Value::Null, later),
            Err(SandboxError::UnknownAttribute(_))
        ));
        assert!(matches!(
            employee.set_value("id", Value::Null, later),
            Err(SandboxError::ReadOnlyAttribute(_))
        ));
    }

    #[test]
    fn datasets_round_trip_through_the_response_shape() {
        let employees = generate(4, 30);
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("employees.json");
        save_dataset(&path, &employees).unwrap();
        let loaded = load_dataset(&path, reference_time()).unwrap();
        assert_eq!(loaded.len(), 30);
        for (original, reloaded) in employees.iter().zip(&loaded) {
            assert_eq!(original.id(), reloaded.id());
            assert_eq!(original.last_modified(), reloaded.last_modified());
            let mut original_attributes: Vec<&Attribute> = original.attributes().collect();
            let mut reloaded_attributes: Vec<&Attribute> = reloaded.attributes().collect();
            original_attributes.sort_by(|a, b| a.key.cmp(&b.key));
            reloaded_attributes.sort_by(|a, b| a.key.cmp(&b.key));
            assert_eq!(original_attributes, reloaded_attributes);
        }
        std::fs::write(
            &path,
            r#"{"data":[{"attributes":{"first_name":{"value":"x"}}}]}"#,
        )
        .unwrap();
        assert!(matches!(
            load_dataset(&path, reference_time()),
            Err(SandboxError::Dataset { .. })
        ));
    }
}
