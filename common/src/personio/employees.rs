//! Tolerant parsing of `GET /v1/company/employees` answers.
//!
//! Every attribute comes as `{label, value, type, universal_id}`. What the credential may not
//! read is absent; empty values are `null`, `""` or `[]`; dates come with or without a time and
//! offset; numbers may be strings; tags may be a JSON-encoded string. One employee that cannot be
//! parsed becomes an [`EmployeeParseError`] naming the field, and the rest of the page parses.

use crate::domain::employee::{
    AttributeValue, CustomAttribute, Employee, EmployeePage, EmployeeParseError, EmployeeRecord,
    EmploymentStatus, OrgUnit, PersonioId, Supervisor,
};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The prefix of Personio's custom attributes (`dynamic_1234`).
const CUSTOM_ATTRIBUTE_PREFIX: &str = "dynamic_";
/// The `universal_id` of the birthday custom attribute.
const BIRTHDAY_UNIVERSAL_ID: &str = "date_of_birth";

/// `metadata` of a list page; the numbers as Personio sent them, when it sent them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageMetadata {
    pub total_elements: Option<u64>,
    pub current_page: Option<u64>,
    pub total_pages: Option<u64>,
}

/// One list page, parsed; the raw JSON is gone by the time this exists.
#[derive(Debug)]
pub struct ParsedPage {
    pub metadata: PageMetadata,
    /// How many records the page held (parsed or not): the next offset moves by this much.
    pub records: usize,
    pub page: EmployeePage,
}

/// Parses one employees page. `Err` only when the body is not a list answer at all (which is
/// worth a retry: it is usually a truncated body); bad employees are per-employee errors.
pub fn parse_employees_page(body: &[u8]) -> Result<ParsedPage, String> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|error| format!("employees page is not JSON: {error}"))?;
    let Some(object) = root.as_object() else {
        return Err("employees page is not a JSON object".to_owned());
    };
    let Some(data) = object.get("data").and_then(Value::as_array) else {
        return Err("employees page has no `data` array".to_owned());
    };
    let metadata = object
        .get("metadata")
        .map(|metadata| PageMetadata {
            total_elements: lenient_count(metadata.get("total_elements")),
            current_page: lenient_count(metadata.get("current_page")),
            total_pages: lenient_count(metadata.get("total_pages")),
        })
        .unwrap_or_default();

    let mut page = EmployeePage {
        current_page: metadata
            .current_page
            .and_then(|page| u32::try_from(page).ok())
            .unwrap_or_default(),
        total_pages: metadata
            .total_pages
            .and_then(|pages| u32::try_from(pages).ok())
            .unwrap_or_default(),
        ..EmployeePage::default()
    };
    for item in data {
        let Some(attributes) = item.get("attributes").and_then(Value::as_object) else {
            page.employees.push(Err(EmployeeParseError {
                employee_id: None,
                name: None,
                field: "attributes".to_owned(),
                reason: "the record has no `attributes` object".to_owned(),
            }));
            continue;
        };
        note_present_attributes(attributes, &mut page.attributes_present);
        page.employees.push(parse_employee(attributes));
    }
    Ok(ParsedPage {
        metadata,
        records: data.len(),
        page,
    })
}

/// Parses the answer of `GET /v1/company/employees/{id}` (`{"success": true, "data": {"type":
/// "Employee", "attributes": {…}}}`). `Err` only when the body is not such an answer at all.
pub fn parse_single_employee(body: &[u8]) -> Result<EmployeeRecord, String> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|error| format!("employee answer is not JSON: {error}"))?;
    let Some(attributes) = root.pointer("/data/attributes").and_then(Value::as_object) else {
        return Err("employee answer has no `data.attributes` object".to_owned());
    };
    let mut attributes_present = BTreeSet::new();
    note_present_attributes(attributes, &mut attributes_present);
    Ok(EmployeeRecord {
        employee: parse_employee(attributes),
        attributes_present,
    })
}

fn note_present_attributes(attributes: &Map<String, Value>, present: &mut BTreeSet<String>) {
    for (key, attribute) in attributes {
        if !present.contains(key) {
            present.insert(key.clone());
        }
        if key.starts_with(CUSTOM_ATTRIBUTE_PREFIX)
            && let Some(label) = attribute.get("label").and_then(Value::as_str)
            && !present.contains(label)
        {
            present.insert(label.to_owned());
        }
    }
}

/// Parses one employee from its `attributes` object. An employee that cannot be parsed is
/// named as far as its record allows, so that an admin can find the person.
pub fn parse_employee(attributes: &Map<String, Value>) -> Result<Employee, EmployeeParseError> {
    parse_attributes(attributes).map_err(|mut error| {
        error.name = readable_name(attributes);
        error
    })
}

/// The preferred name, else "first last", from whichever of them are plain text.
fn readable_name(attributes: &Map<String, Value>) -> Option<String> {
    let text = |field: &str| {
        attributes
            .get(field)
            .map(attribute_value)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    text("preferred_name").or_else(|| match (text("first_name"), text("last_name")) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (one, other) => one.or(other),
    })
}

fn parse_attributes(attributes: &Map<String, Value>) -> Result<Employee, EmployeeParseError> {
    let id = match attributes.get("id").map(attribute_value).map(integer) {
        Some(Ok(Some(id))) => PersonioId(id),
        Some(Err(reason)) => return Err(field_error(None, "id", reason)),
        None | Some(Ok(None)) => {
            return Err(field_error(None, "id", "the record has no id".to_owned()));
        }
    };
    let fail = |field: &str, reason: String| field_error(Some(id), field, reason);
    let text_field = |field: &str| read_attribute(attributes, id, field, text);
    let date_field = |field: &str| read_attribute(attributes, id, field, date);
    let org_unit_field = |field: &str| read_attribute(attributes, id, field, org_unit);

    let status = match text_field("status")? {
        None => None,
        Some(status) => Some(
            employment_status(&status)
                .ok_or_else(|| fail("status", format!("unknown employment status `{status}`")))?,
        ),
    };
    let supervisor = read_attribute(attributes, id, "supervisor", supervisor)?;
    let last_modified_at = read_attribute(attributes, id, "last_modified_at", date_time)?;

    let mut birthday = None;
    let mut custom = std::collections::BTreeMap::new();
    for (key, attribute) in attributes {
        if attribute.get("universal_id").and_then(Value::as_str) == Some(BIRTHDAY_UNIVERSAL_ID) {
            birthday = date(attribute_value(attribute)).map_err(|reason| fail(key, reason))?;
        }
        if key.starts_with(CUSTOM_ATTRIBUTE_PREFIX)
            && let Some(value) = custom_value(attribute)
        {
            let label = attribute
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or(key)
                .to_owned();
            custom.insert(
                key.clone(),
                CustomAttribute {
                    key: key.clone(),
                    label,
                    value,
                },
            );
        }
    }

    Ok(Employee {
        id,
        first_name: text_field("first_name")?,
        last_name: text_field("last_name")?,
        preferred_name: text_field("preferred_name")?,
        email: text_field("email")?,
        gender: text_field("gender")?,
        status,
        position: text_field("position")?,
        department: org_unit_field("department")?,
        team: org_unit_field("team")?,
        office: org_unit_field("office")?,
        subcompany: org_unit_field("subcompany")?,
        supervisor,
        employment_type: text_field("employment_type")?,
        hire_date: date_field("hire_date")?,
        contract_end_date: date_field("contract_end_date")?,
        termination_date: date_field("termination_date")?,
        last_modified_at,
        birthday,
        custom,
    })
}

/// Reads one attribute's value with `read`; an absent attribute is `None`.
fn read_attribute<T>(
    attributes: &Map<String, Value>,
    id: PersonioId,
    field: &str,
    read: impl Fn(&Value) -> Result<Option<T>, String>,
) -> Result<Option<T>, EmployeeParseError> {
    match attributes.get(field) {
        None => Ok(None),
        Some(attribute) => {
            read(attribute_value(attribute)).map_err(|reason| field_error(Some(id), field, reason))
        }
    }
}

fn field_error(employee_id: Option<PersonioId>, field: &str, reason: String) -> EmployeeParseError {
    EmployeeParseError {
        employee_id,
        name: None,
        field: field.to_owned(),
        reason,
    }
}

fn employment_status(status: &str) -> Option<EmploymentStatus> {
    match status.to_ascii_lowercase().as_str() {
        "onboarding" => Some(EmploymentStatus::Onboarding),
        "active" => Some(EmploymentStatus::Active),
        "leave" => Some(EmploymentStatus::Leave),
        "inactive" => Some(EmploymentStatus::Inactive),
        _ => None,
    }
}

/// The `value` of an attribute object; a bare value (as inside nested objects) is its own value.
fn attribute_value(attribute: &Value) -> &Value {
    match attribute {
        Value::Object(object) if object.contains_key("value") => &object["value"],
        other => other,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn text(value: &Value) -> Result<Option<String>, String> {
    if is_empty(value) {
        return Ok(None);
    }
    match value {
        Value::String(text) => Ok(Some(text.trim().to_owned())),
        Value::Number(number) => Ok(Some(number.to_string())),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        other => Err(format!("expected text, got {}", describe(other))),
    }
}

fn integer(value: &Value) -> Result<Option<i64>, String> {
    if is_empty(value) {
        return Ok(None);
    }
    let parsed = match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0)
                .map(|float| float as i64)
        }),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| format!("expected an integer, got {}", describe(value)))
}

/// A non-negative count from `metadata`, which may come as a number or a numeric string.
fn lenient_count(value: Option<&Value>) -> Option<u64> {
    value
        .and_then(|value| integer(value).ok().flatten())
        .and_then(|count| u64::try_from(count).ok())
}

fn date(value: &Value) -> Result<Option<NaiveDate>, String> {
    let Some(text) = text(value)? else {
        return Ok(None);
    };
    parse_date(&text)
        .map(Some)
        .ok_or_else(|| format!("`{text}` is not a date"))
}

fn date_time(value: &Value) -> Result<Option<DateTime<FixedOffset>>, String> {
    let Some(text) = text(value)? else {
        return Ok(None);
    };
    parse_date_time(&text)
        .map(Some)
        .ok_or_else(|| format!("`{text}` is not a date and time"))
}

/// `YYYY-MM-DD`, or a date-time whose local date is the date (`2014-11-09T00:00:00+01:00` is the
/// 9th in Personio's time zone, whatever it is in UTC).
fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| parse_date_time(text).map(|moment| moment.date_naive()))
}

/// RFC 3339, an offset without a colon (`+0100`), or a date-time without an offset (taken as UTC).
fn parse_date_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .or_else(|| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .or_else(|| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%z").ok())
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| naive.and_utc().fixed_offset())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|naive| naive.and_utc().fixed_offset())
        })
}

/// `{type, attributes: {id, name}}`; also `{id, name}` and a bare name.
fn org_unit(value: &Value) -> Result<Option<OrgUnit>, String> {
    if is_empty(value) {
        return Ok(None);
    }
    let fields = match value {
        Value::String(name) => {
            return Ok(Some(OrgUnit {
                id: None,
                name: name.trim().to_owned(),
            }));
        }
        // A one-element list is the same unit (some accounts return relations as lists).
        Value::Array(items) if items.len() == 1 => return org_unit(&items[0]),
        Value::Object(object) => object
            .get("attributes")
            .and_then(Value::as_object)
            .unwrap_or(object),
        other => {
            return Err(format!(
                "expected an organisational unit, got {}",
                describe(other)
            ));
        }
    };
    let id = fields.get("id").map(integer).transpose()?.flatten();
    let name = fields.get("name").map(text).transpose()?.flatten();
    match (id, name) {
        (_, Some(name)) => Ok(Some(OrgUnit { id, name })),
        (None, None) => Ok(None),
        (Some(id), None) => Err(format!("organisational unit {id} has no name")),
    }
}

/// A nested Employee; only its id and name are kept.
fn supervisor(value: &Value) -> Result<Option<Supervisor>, String> {
    if is_empty(value) {
        return Ok(None);
    }
    let Some(object) = value.as_object() else {
        return Err(format!(
            "expected a nested employee, got {}",
            describe(value)
        ));
    };
    let fields = object
        .get("attributes")
        .and_then(Value::as_object)
        .unwrap_or(object);
    let nested_text = |field: &str| {
        fields
            .get(field)
            .map(|attribute| text(attribute_value(attribute)))
            .transpose()
            .map(Option::flatten)
    };
    let id = fields
        .get("id")
        .map(|attribute| integer(attribute_value(attribute)))
        .transpose()?
        .flatten()
        .map(PersonioId);
    let first = nested_text("preferred_name")?.or(nested_text("first_name")?);
    let name = match (first, nested_text("last_name")?) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (Some(only), None) | (None, Some(only)) => Some(only),
        (None, None) => nested_text("name")?,
    };
    Ok((id.is_some() || name.is_some()).then_some(Supervisor { id, name }))
}

/// A custom attribute's value, normalised; `None` when it is empty.
fn custom_value(attribute: &Value) -> Option<AttributeValue> {
    let value = attribute_value(attribute);
    if is_empty(value) {
        return None;
    }
    let declared_date = attribute.get("type").and_then(Value::as_str) == Some("date");
    match value {
        Value::Array(items) => Some(AttributeValue::List(list_items(items))),
        Value::String(raw) => {
            let trimmed = raw.trim();
            if declared_date && let Some(day) = parse_date(trimmed) {
                return Some(AttributeValue::Date(day));
            }
            // Tags and multi-selects can arrive as a JSON-encoded list inside the string.
            if trimmed.starts_with('[')
                && let Ok(Value::Array(items)) = serde_json::from_str::<Value>(trimmed)
            {
                let items = list_items(&items);
                return (!items.is_empty()).then_some(AttributeValue::List(items));
            }
            Some(AttributeValue::Text(trimmed.to_owned()))
        }
        Value::Number(number) => Some(AttributeValue::Text(number.to_string())),
        Value::Bool(flag) => Some(AttributeValue::Text(flag.to_string())),
        Value::Object(_) => match org_unit(value) {
            Ok(Some(unit)) => Some(AttributeValue::Text(unit.name)),
            _ => Some(AttributeValue::Text(value.to_string())),
        },
        Value::Null => None,
    }
}

fn list_items(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            Value::Object(_) => org_unit(item).ok().flatten().map(|unit| unit.name),
            other => text(other).ok().flatten(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
