use super::*;
use serde_json::json;

const SPEC_EXAMPLE: &str = include_str!("../fixtures/spec_employees_example.json");
const QUIRKS: &str = include_str!("../fixtures/quirks_employees_page.json");

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
}

fn parse_one(attributes: Value) -> Result<Employee, EmployeeParseError> {
    parse_employee(attributes.as_object().expect("an object"))
}

#[test]
fn parses_the_spec_example() {
    let parsed = parse_employees_page(SPEC_EXAMPLE.as_bytes()).expect("a list page");
    assert_eq!(
        parsed.metadata,
        PageMetadata {
            total_elements: Some(2),
            current_page: Some(0),
            total_pages: Some(3)
        }
    );
    assert_eq!(parsed.records, 1);
    let employee = parsed.page.employees[0].as_ref().expect("parses");
    assert_eq!(employee.id, PersonioId(1));
    assert_eq!(employee.first_name.as_deref(), Some("Alexander"));
    assert_eq!(employee.last_name.as_deref(), Some("Bergmann"));
    assert_eq!(
        employee.preferred_name.as_deref(),
        Some("Alexander Bergmann")
    );
    assert_eq!(
        employee.email.as_deref(),
        Some("alexander.bergmann@demo.email")
    );
    assert_eq!(employee.gender.as_deref(), Some("male"));
    assert_eq!(employee.status, Some(EmploymentStatus::Active));
    assert_eq!(employee.position.as_deref(), Some("CTO"));
    assert_eq!(employee.employment_type.as_deref(), Some("external"));
    assert_eq!(
        employee.supervisor,
        Some(Supervisor {
            id: Some(PersonioId(2)),
            name: None
        })
    );
    assert_eq!(employee.hire_date, Some(day("2014-11-09")));
    assert_eq!(employee.contract_end_date, None);
    assert_eq!(employee.termination_date, None);
    assert_eq!(
        employee.last_modified_at,
        Some(DateTime::parse_from_rfc3339("2020-11-18T17:33:55+01:00").expect("test time"))
    );
    let unit = |id, name: &str| {
        Some(OrgUnit {
            id: Some(id),
            name: name.to_owned(),
        })
    };
    assert_eq!(employee.subcompany, unit(7033, "CS Demo GmbH"));
    assert_eq!(employee.office, unit(131014, "Munich"));
    assert_eq!(employee.department, unit(281521, "Customer Support"));
    assert_eq!(employee.team, unit(59026, "T_X"));
    assert_eq!(employee.birthday, None);
    let keys: Vec<&str> = employee.custom.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec!["dynamic_21827", "dynamic_24407", "dynamic_33400"]
    );
    assert_eq!(
        employee
            .custom_attribute("Anniversary Date")
            .map(|attribute| &attribute.value),
        Some(&AttributeValue::Date(day("2021-01-01")))
    );
    assert_eq!(
        employee
            .custom_attribute("dynamic_24407")
            .map(|attribute| attribute.value.as_text()),
        Some("Dr".to_owned())
    );
    let present = &parsed.page.attributes_present;
    for expected in [
        "first_name",
        "cost_centers",
        "dynamic_24407",
        "Titel",
        "IBAN",
        "team",
    ] {
        assert!(present.contains(expected), "{expected} should be present");
    }
    assert!(!present.contains("date_of_birth"));
}

#[test]
fn parses_every_quirk_and_keeps_the_page_when_one_employee_fails() {
    let parsed = parse_employees_page(QUIRKS.as_bytes()).expect("a list page");
    // Numbers as strings in the metadata too.
    assert_eq!(parsed.metadata.total_elements, Some(5));
    assert_eq!(parsed.page.total_pages, 1);
    assert_eq!(parsed.records, 5);
    let [first, retired, bad_date, without_id, minimal] = &parsed.page.employees[..] else {
        panic!("five records, got {:?}", parsed.page.employees);
    };

    let first = first.as_ref().expect("the quirky employee parses");
    assert_eq!(first.id, PersonioId(1001));
    assert_eq!(first.first_name.as_deref(), Some("Jürgen"));
    assert_eq!(first.preferred_name, None, "\"\" is empty");
    assert_eq!(first.gender, None, "null is empty");
    assert_eq!(first.position, None, "[] is empty");
    assert_eq!(first.team, None);
    assert_eq!(first.office, None);
    assert_eq!(first.status, Some(EmploymentStatus::Leave));
    assert_eq!(
        first.department,
        Some(OrgUnit {
            id: Some(281521),
            name: "Kundenservice".to_owned()
        })
    );
    assert_eq!(
        first.supervisor,
        Some(Supervisor {
            id: Some(PersonioId(2)),
            name: Some("Anna Schmidt".to_owned())
        })
    );
    assert_eq!(first.hire_date, Some(day("2020-03-01")));
    assert_eq!(
        first.contract_end_date,
        Some(day("2026-12-31")),
        "+0100 offsets"
    );
    assert_eq!(first.termination_date, None);
    assert_eq!(
        first.last_modified_at,
        Some(DateTime::parse_from_rfc3339("2024-02-01T10:15:00+01:00").expect("test time"))
    );
    assert_eq!(
        first.birthday,
        Some(day("1985-07-14")),
        "found by universal_id"
    );
    let value = |key: &str| {
        first
            .custom
            .get(key)
            .map(|attribute| attribute.value.clone())
    };
    assert_eq!(
        value("dynamic_1002"),
        Some(AttributeValue::Text("ja".to_owned()))
    );
    assert_eq!(
        first
            .custom_attribute("lms sync")
            .map(|attribute| attribute.key.as_str()),
        Some("dynamic_1002")
    );
    assert_eq!(
        value("dynamic_1003"),
        Some(AttributeValue::List(vec![
            "Rust".to_owned(),
            "SQL".to_owned()
        ])),
        "tags as a JSON-encoded string"
    );
    assert_eq!(
        value("dynamic_1004"),
        Some(AttributeValue::List(vec![
            "Deutsch".to_owned(),
            "Englisch".to_owned()
        ]))
    );
    assert_eq!(
        value("dynamic_1005"),
        Some(AttributeValue::Text("4711".to_owned()))
    );
    assert_eq!(
        value("dynamic_1001"),
        Some(AttributeValue::Date(day("1985-07-14")))
    );
    assert_eq!(
        value("dynamic_1006"),
        None,
        "empty custom values are left out"
    );
    assert_eq!(value("dynamic_1007"), None);

    let retired = retired.as_ref().expect_err("unknown status");
    assert_eq!(retired.employee_id, Some(PersonioId(1002)));
    assert_eq!(retired.field, "status");
    assert!(retired.reason.contains("retired"), "{retired}");

    let bad_date = bad_date.as_ref().expect_err("not a date");
    assert_eq!(
        (bad_date.employee_id, bad_date.field.as_str()),
        (Some(PersonioId(1003)), "hire_date")
    );

    let without_id = without_id.as_ref().expect_err("no id");
    assert_eq!(
        (without_id.employee_id, without_id.field.as_str()),
        (None, "id")
    );

    let minimal = minimal.as_ref().expect("whitelisting gaps are not errors");
    assert_eq!(minimal.email.as_deref(), Some("lee@example.com"));
    assert_eq!(minimal.first_name, None);
    assert!(minimal.custom.is_empty());

    let present = &parsed.page.attributes_present;
    assert!(
        present.contains("termination_date"),
        "readable empty attributes are present"
    );
    assert!(present.contains("dynamic_1006") && present.contains("Leer"));
    assert!(present.contains("LMS Sync"));
}

#[test]
fn an_id_that_is_not_a_number_is_an_error_without_id() {
    let error = parse_one(json!({"id": {"label": "ID", "value": "abc"}})).expect_err("bad id");
    assert_eq!((error.employee_id, error.field.as_str()), (None, "id"));
}

#[test]
fn an_unparseable_employee_is_named_as_far_as_the_record_shows() {
    let error = parse_one(json!({
        "id": {"value": 7},
        "first_name": {"value": "Zoë"},
        "last_name": {"value": " Ünal "},
        "status": {"value": "retired"},
    }))
    .expect_err("an unknown status");
    assert_eq!(
        (
            error.employee_id,
            error.name.as_deref(),
            error.field.as_str()
        ),
        (Some(PersonioId(7)), Some("Zoë Ünal"), "status")
    );
    let error = parse_one(json!({
        "id": {"value": "x"},
        "preferred_name": {"value": "Jo Müller"},
        "first_name": {"value": "Johanna"},
    }))
    .expect_err("a bad id");
    assert_eq!(error.name.as_deref(), Some("Jo Müller"));
    let error = parse_one(json!({"id": {"value": 8}, "status": {"value": 3}})).expect_err("bad");
    assert_eq!(error.name, None);
    // A single read parses the same way, and says what the answer contained.
    let record = parse_single_employee(
        br#"{"success": true, "data": {"type": "Employee", "attributes": {
            "id": {"label": "ID", "value": 9},
            "email": {"label": "Email", "value": "a@b.example"},
            "dynamic_1": {"label": "LMS Sync", "value": null}
        }}}"#,
    )
    .expect("an employee answer");
    assert_eq!(record.employee.expect("parses").id, PersonioId(9));
    assert!(record.attributes_present.contains("LMS Sync"));
    assert!(record.attributes_present.contains("dynamic_1"));
    assert!(parse_single_employee(br#"{"success": true, "data": []}"#).is_err());
}

#[test]
fn a_malformed_attribute_names_its_field() {
    let error = parse_one(json!({
        "id": {"value": 5},
        "email": {"value": {"unexpected": "object"}},
    }))
    .expect_err("email must be text");
    assert_eq!(
        (error.employee_id, error.field.as_str()),
        (Some(PersonioId(5)), "email")
    );

    let error = parse_one(json!({
        "id": {"value": 5},
        "department": {"value": {"type": "Department", "attributes": {"id": 3}}},
    }))
    .expect_err("a unit without a name");
    assert_eq!(error.field, "department");
}

#[test]
fn org_units_and_supervisors_come_in_several_shapes() {
    let employee = parse_one(json!({
        "id": {"value": 7},
        "office": {"value": "Berlin"},
        "team": {"value": [{"type": "Team", "attributes": {"id": 4, "name": "Blue"}}]},
        "department": {"value": {"id": "9", "name": "Sales"}},
        "supervisor": {"value": {"type": "Employee", "attributes": {
            "id": {"value": 3}, "preferred_name": {"value": "Bo"}, "first_name": {"value": "Robert"},
            "last_name": {"value": "Lind"}
        }}},
    }))
    .expect("parses");
    assert_eq!(
        employee.office,
        Some(OrgUnit {
            id: None,
            name: "Berlin".to_owned()
        })
    );
    assert_eq!(
        employee.team,
        Some(OrgUnit {
            id: Some(4),
            name: "Blue".to_owned()
        })
    );
    assert_eq!(
        employee.department,
        Some(OrgUnit {
            id: Some(9),
            name: "Sales".to_owned()
        })
    );
    assert_eq!(
        employee.supervisor.and_then(|supervisor| supervisor.name),
        Some("Bo Lind".to_owned())
    );
}

#[test]
fn dates_in_every_documented_form() {
    for (text, expected) in [
        ("2021-01-01", "2021-01-01"),
        ("2014-11-09T00:00:00+01:00", "2014-11-09"),
        ("2014-11-09T00:00:00+0100", "2014-11-09"),
        ("2014-11-09T00:00:00.000+01:00", "2014-11-09"),
        ("2014-11-09T23:30:00Z", "2014-11-09"),
        ("2014-11-09T08:15:30", "2014-11-09"),
    ] {
        assert_eq!(parse_date(text), Some(day(expected)), "{text}");
    }
    for bad in ["", "09.11.2014", "2014-13-01", "yesterday"] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
    assert_eq!(
        parse_date_time("2020-11-18T17:33:55+0100").map(|moment| moment.to_rfc3339()),
        Some("2020-11-18T17:33:55+01:00".to_owned())
    );
}

#[test]
fn a_body_that_is_not_a_list_page_is_an_error() {
    assert!(parse_employees_page(b"{\"success\":true,\"data\":[{\"type\":\"Empl").is_err());
    assert!(parse_employees_page(b"{\"success\":true,\"data\":{}}").is_err());
    assert!(parse_employees_page(b"[]").is_err());
    let no_attributes =
        parse_employees_page(b"{\"data\":[{\"type\":\"Employee\"}]}").expect("page");
    assert_eq!(no_attributes.records, 1);
    assert!(no_attributes.page.employees[0].is_err());
}
