//! What a SCIM server says about itself (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`
//! and `/Schemas`, condensed into the few facts the adapter acts on.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const CORE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The project's own extension for the LMS-only fields (see `docs/scim-extension.md`).
pub const PERSONIO_LMS_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:personio-lms:2.0:User";

const DEFAULT_USERS_ENDPOINT: &str = "/Users";
const DEFAULT_GROUPS_ENDPOINT: &str = "/Groups";

/// The facts about one server that decide how the adapter talks to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCapabilities {
    pub patch_supported: bool,
    pub filter_supported: bool,
    /// The server's cap on results per response (`filter.maxResults`), if it names one.
    pub max_results: Option<usize>,
    pub users_endpoint: String,
    pub groups_endpoint: String,
    /// The schema extensions the User resource type lists.
    user_extensions: BTreeSet<String>,
    /// Per published schema (lowercased URN): its attribute paths (lowercased, sub-attributes as
    /// `parent.child`) and whether each is read-only.
    schemas: BTreeMap<String, BTreeMap<String, bool>>,
}

impl ServerCapabilities {
    /// Condenses the three discovery documents. A document the server does not serve (`None`)
    /// leaves the RFC's defaults: no PATCH, filtering assumed (answers are matched on the
    /// client too, so a server that ignores a filter is still read correctly), `/Users` and
    /// `/Groups`, no extensions, and no attribute restrictions.
    pub fn from_discovery(
        service_provider_config: Option<&Value>,
        resource_types: Option<&[Value]>,
        schemas: Option<&[Value]>,
    ) -> Result<Self, String> {
        let config = match service_provider_config {
            Some(document) => ServiceProviderConfigDoc::deserialize(document)
                .map_err(|error| format!("/ServiceProviderConfig: {error}"))?,
            None => ServiceProviderConfigDoc {
                patch: Supported { supported: false },
                filter: FilterDoc {
                    supported: true,
                    max_results: None,
                },
            },
        };
        let resource_types: Vec<ResourceTypeDoc> = resource_types
            .unwrap_or_default()
            .iter()
            .map(ResourceTypeDoc::deserialize)
            .collect::<Result<_, _>>()
            .map_err(|error| format!("/ResourceTypes: {error}"))?;
        let schemas: Vec<SchemaDoc> = schemas
            .unwrap_or_default()
            .iter()
            .map(SchemaDoc::deserialize)
            .collect::<Result<_, _>>()
            .map_err(|error| format!("/Schemas: {error}"))?;

        let user_type = resource_types
            .iter()
            .find(|resource_type| resource_type.schema.eq_ignore_ascii_case(CORE_USER_SCHEMA));
        let group_type = resource_types
            .iter()
            .find(|resource_type| resource_type.name.eq_ignore_ascii_case("Group"));
        Ok(Self {
            patch_supported: config.patch.supported,
            filter_supported: config.filter.supported,
            max_results: config
                .filter
                .max_results
                .and_then(|max| usize::try_from(max).ok())
                .filter(|max| *max > 0),
            users_endpoint: user_type
                .map_or(DEFAULT_USERS_ENDPOINT, |user| user.endpoint.as_str())
                .to_owned(),
            groups_endpoint: group_type
                .map_or(DEFAULT_GROUPS_ENDPOINT, |group| group.endpoint.as_str())
                .to_owned(),
            user_extensions: user_type
                .map(|user| {
                    user.schema_extensions
                        .iter()
                        .map(|extension| extension.schema.to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_default(),
            schemas: schemas
                .iter()
                .map(|schema| {
                    let mut attributes = BTreeMap::new();
                    collect_attributes(&schema.attributes, "", &mut attributes);
                    (schema.id.to_ascii_lowercase(), attributes)
                })
                .collect(),
        })
    }

    /// Whether the User resource type lists `extension` (only then is it sent).
    pub fn user_extension_advertised(&self, extension: &str) -> bool {
        self.user_extensions
            .contains(&extension.to_ascii_lowercase())
    }

    /// Whether a client may write the attribute at `path` (`name.givenName`, `manager.displayName`)
    /// of `schema`: it must be declared and not read-only when the server publishes the schema.
    /// Of an unpublished schema nothing is known, so everything is written.
    pub fn writable(&self, schema: &str, path: &str) -> bool {
        // RFC 7643 §3.1: the common attributes belong to every resource and are in no schema;
        // `externalId` is the one a client sets.
        if path.eq_ignore_ascii_case("externalId") {
            return true;
        }
        match self.schemas.get(&schema.to_ascii_lowercase()) {
            None => true,
            Some(attributes) => attributes
                .get(&path.to_ascii_lowercase())
                .is_some_and(|read_only| !read_only),
        }
    }
}

fn collect_attributes(
    attributes: &[AttributeDoc],
    prefix: &str,
    into: &mut BTreeMap<String, bool>,
) {
    for attribute in attributes {
        let path = format!("{prefix}{}", attribute.name.to_ascii_lowercase());
        let read_only = attribute
            .mutability
            .as_deref()
            .is_some_and(|mutability| mutability.eq_ignore_ascii_case("readOnly"));
        collect_attributes(&attribute.sub_attributes, &format!("{path}."), into);
        into.insert(path, read_only);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceProviderConfigDoc {
    #[serde(default)]
    patch: Supported,
    #[serde(default)]
    filter: FilterDoc,
}

#[derive(Default, Deserialize)]
struct Supported {
    #[serde(default)]
    supported: bool,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterDoc {
    #[serde(default)]
    supported: bool,
    max_results: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceTypeDoc {
    #[serde(default)]
    name: String,
    endpoint: String,
    schema: String,
    #[serde(default)]
    schema_extensions: Vec<SchemaExtensionDoc>,
}

#[derive(Deserialize)]
struct SchemaExtensionDoc {
    schema: String,
}

#[derive(Deserialize)]
struct SchemaDoc {
    id: String,
    #[serde(default)]
    attributes: Vec<AttributeDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributeDoc {
    name: String,
    mutability: Option<String>,
    #[serde(default)]
    sub_attributes: Vec<AttributeDoc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enterprise_schema() -> Value {
        json!({
            "id": ENTERPRISE_USER_SCHEMA,
            "attributes": [
                {"name": "department", "type": "string", "mutability": "readWrite"},
                {"name": "manager", "type": "complex", "mutability": "readWrite", "subAttributes": [
                    {"name": "value", "type": "string", "mutability": "readWrite"},
                    {"name": "displayName", "type": "string", "mutability": "readOnly"}
                ]}
            ]
        })
    }

    #[test]
    fn reads_patch_filter_endpoints_and_extensions() {
        let config =
            json!({"patch": {"supported": true}, "filter": {"supported": true, "maxResults": 50}});
        let types = [
            json!({"name": "User", "endpoint": "/People", "schema": CORE_USER_SCHEMA,
                   "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": false}]}),
            json!({"name": "Group", "endpoint": "/Teams", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group"}),
        ];
        let capabilities =
            ServerCapabilities::from_discovery(Some(&config), Some(&types), Some(&[]))
                .expect("valid discovery documents");
        assert!(capabilities.patch_supported);
        assert!(capabilities.filter_supported);
        assert_eq!(capabilities.max_results, Some(50));
        assert_eq!(capabilities.users_endpoint, "/People");
        assert_eq!(capabilities.groups_endpoint, "/Teams");
        assert!(capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA));
        assert!(!capabilities.user_extension_advertised(PERSONIO_LMS_USER_SCHEMA));
    }

    #[test]
    fn missing_documents_fall_back_to_conservative_defaults() {
        let capabilities = ServerCapabilities::from_discovery(None, None, None).expect("defaults");
        assert!(!capabilities.patch_supported);
        assert!(capabilities.filter_supported);
        assert_eq!(capabilities.users_endpoint, "/Users");
        assert_eq!(capabilities.groups_endpoint, "/Groups");
        assert!(!capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA));
        assert!(capabilities.writable(CORE_USER_SCHEMA, "title"));
    }

    #[test]
    fn read_only_and_undeclared_attributes_of_a_published_schema_are_not_writable() {
        let capabilities =
            ServerCapabilities::from_discovery(None, None, Some(&[enterprise_schema()]))
                .expect("valid schema");
        assert!(capabilities.writable(ENTERPRISE_USER_SCHEMA, "manager"));
        assert!(capabilities.writable(ENTERPRISE_USER_SCHEMA, "Manager.Value"));
        assert!(!capabilities.writable(ENTERPRISE_USER_SCHEMA, "manager.displayName"));
        assert!(!capabilities.writable(ENTERPRISE_USER_SCHEMA, "costCenter"));
        assert!(capabilities.writable(ENTERPRISE_USER_SCHEMA, "externalId"));
        assert!(capabilities.writable(PERSONIO_LMS_USER_SCHEMA, "team"));
    }

    #[test]
    fn a_malformed_document_is_reported_with_its_source() {
        let types = [json!({"name": "User"})];
        let error = ServerCapabilities::from_discovery(None, Some(&types), None)
            .expect_err("resource type without endpoint");
        assert!(error.starts_with("/ResourceTypes:"), "{error}");
    }
}
