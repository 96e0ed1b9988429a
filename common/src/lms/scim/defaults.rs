//! RFC 7643's definitions of the core User schema (§4.1) and the enterprise extension (§4.3), for
//! a server that does not publish `/Schemas`: names, sub-attributes and the read-only ones.

use crate::domain::settings::scim::{CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA};
use serde::Deserialize;

/// An attribute as a server's `/Schemas` describes it (or as RFC 7643 does, for a server that
/// publishes none).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AttributeDoc {
    pub name: String,
    pub mutability: Option<String>,
    #[serde(default)]
    pub sub_attributes: Vec<AttributeDoc>,
}

/// `name` or `name(sub, sub)`; a trailing `!` marks a read-only attribute.
const CORE: &[&str] = &[
    "userName",
    "name(formatted, familyName, givenName, middleName, honorificPrefix, honorificSuffix)",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "password",
    "emails(value, display, type, primary)",
    "phoneNumbers(value, display, type, primary)",
    "ims(value, display, type, primary)",
    "photos(value, display, type, primary)",
    "addresses(formatted, streetAddress, locality, region, postalCode, country, type, primary)",
    "groups!(value!, $ref!, display!, type!)",
    "entitlements(value, display, type, primary)",
    "roles(value, display, type, primary)",
    "x509Certificates(value, display, type, primary)",
];

const ENTERPRISE: &[&str] = &[
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager(value, $ref, displayName!)",
];

/// The attributes of `urn` as RFC 7643 defines them (empty for any other schema).
pub fn rfc7643_schema(urn: &str) -> Vec<AttributeDoc> {
    let table = if urn == CORE_USER_SCHEMA {
        CORE
    } else if urn == ENTERPRISE_USER_SCHEMA {
        ENTERPRISE
    } else {
        &[]
    };
    table.iter().map(|entry| attribute(entry)).collect()
}

fn attribute(entry: &str) -> AttributeDoc {
    let (head, subs) = match entry.split_once('(') {
        Some((head, rest)) => (head, rest.trim_end_matches(')')),
        None => (entry, ""),
    };
    let (name, read_only) = named(head);
    AttributeDoc {
        name,
        mutability: read_only.then(|| "readOnly".to_owned()),
        sub_attributes: subs
            .split(',')
            .map(str::trim)
            .filter(|sub| !sub.is_empty())
            .map(|sub| {
                let (name, read_only) = named(sub);
                AttributeDoc {
                    name,
                    mutability: read_only.then(|| "readOnly".to_owned()),
                    sub_attributes: Vec::new(),
                }
            })
            .collect(),
    }
}

fn named(text: &str) -> (String, bool) {
    let text = text.trim();
    match text.strip_suffix('!') {
        Some(name) => (name.to_owned(), true),
        None => (text.to_owned(), false),
    }
}
