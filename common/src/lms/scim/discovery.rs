//! What a SCIM server says about itself (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`
//! and `/Schemas`, condensed into the few facts the adapter acts on. A document the server does
//! not serve leaves RFC 7643's defaults, and a warning that says so.

use super::defaults::{AttributeDoc, rfc7643_schema};
use crate::domain::settings::scim::ScimPath;
pub use crate::domain::settings::scim::{
    CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DEFAULT_USERS_ENDPOINT: &str = "/Users";
const DEFAULT_GROUPS_ENDPOINT: &str = "/Groups";

/// RFC 7643 §7 `mutability`, as far as writing goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    /// Set on create, never changed after (`userName` of an LMS that keys users by email).
    Immutable,
    ReadOnly,
}

/// Bulk as `/ServiceProviderConfig` announces it (RFC 7644 §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkLimits {
    pub max_operations: usize,
    pub max_payload_bytes: usize,
}

/// The facts about one server that decide how the adapter talks to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCapabilities {
    pub patch_supported: bool,
    pub filter_supported: bool,
    /// The server's cap on results per response (`filter.maxResults`), if it names one.
    pub max_results: Option<usize>,
    pub bulk: Option<BulkLimits>,
    pub etag_supported: bool,
    pub users_endpoint: String,
    pub groups_endpoint: String,
    /// The schema extensions the User resource type lists.
    user_extensions: BTreeSet<String>,
    /// Per schema (lowercased URN): its attribute paths (lowercased, sub-attributes as
    /// `parent.child`) and their mutability. Published schemas, else RFC 7643's for core and
    /// enterprise.
    schemas: BTreeMap<String, BTreeMap<String, Mutability>>,
    /// Which discovery documents the server did not serve, as remarks for people.
    pub warnings: Vec<String>,
}

impl ServerCapabilities {
    /// Condenses the three discovery documents. A document the server does not serve (`None`)
    /// leaves the RFC's defaults: no PATCH, no bulk, filtering assumed (answers are matched on
    /// the client too, so a server that ignores a filter is still read correctly), `/Users` and
    /// `/Groups` with the enterprise extension, and the attribute definitions of RFC 7643.
    pub fn from_discovery(
        service_provider_config: Option<&Value>,
        resource_types: Option<&[Value]>,
        schemas: Option<&[Value]>,
    ) -> Result<Self, String> {
        let mut warnings = Vec::new();
        let config = match service_provider_config {
            Some(document) => ServiceProviderConfigDoc::deserialize(document)
                .map_err(|error| format!("/ServiceProviderConfig: {error}"))?,
            None => {
                warnings.push(
                    "the LMS serves no /ServiceProviderConfig: no PATCH and no bulk are assumed \
                     (updates read the user and write it back)"
                        .to_owned(),
                );
                ServiceProviderConfigDoc {
                    filter: FilterDoc {
                        supported: true,
                        max_results: None,
                    },
                    ..ServiceProviderConfigDoc::default()
                }
            }
        };
        let resource_type_docs: Vec<ResourceTypeDoc> = resource_types
            .unwrap_or_default()
            .iter()
            .map(ResourceTypeDoc::deserialize)
            .collect::<Result<_, _>>()
            .map_err(|error| format!("/ResourceTypes: {error}"))?;
        let schema_docs: Vec<SchemaDoc> = schemas
            .unwrap_or_default()
            .iter()
            .map(SchemaDoc::deserialize)
            .collect::<Result<_, _>>()
            .map_err(|error| format!("/Schemas: {error}"))?;

        let user_type = resource_type_docs
            .iter()
            .find(|resource_type| resource_type.schema.eq_ignore_ascii_case(CORE_USER_SCHEMA));
        let group_type = resource_type_docs
            .iter()
            .find(|resource_type| resource_type.name.eq_ignore_ascii_case("Group"));
        let user_extensions = match (resource_types, user_type) {
            (Some(_), Some(user)) => user
                .schema_extensions
                .iter()
                .map(|extension| extension.schema.to_ascii_lowercase())
                .collect(),
            (Some(_), None) => BTreeSet::new(),
            (None, _) => {
                warnings.push(
                    "the LMS serves no /ResourceTypes: /Users and /Groups with the enterprise \
                     extension of RFC 7643 are assumed"
                        .to_owned(),
                );
                BTreeSet::from([ENTERPRISE_USER_SCHEMA.to_ascii_lowercase()])
            }
        };
        let mut schema_map: BTreeMap<String, BTreeMap<String, Mutability>> = schema_docs
            .iter()
            .map(|schema| {
                let mut attributes = BTreeMap::new();
                collect_attributes(&schema.attributes, "", &mut attributes);
                (schema.id.to_ascii_lowercase(), attributes)
            })
            .collect();
        if schemas.is_none() {
            warnings.push(
                "the LMS serves no /Schemas: the core and enterprise User attributes of RFC 7643 \
                 are assumed"
                    .to_owned(),
            );
        }
        for urn in [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA] {
            let key = urn.to_ascii_lowercase();
            if !schema_map.contains_key(&key) && (schemas.is_none() || urn == CORE_USER_SCHEMA) {
                // A server that publishes schemas but not the core one still has it.
                let mut attributes = BTreeMap::new();
                collect_attributes(&rfc7643_schema(urn), "", &mut attributes);
                schema_map.insert(key, attributes);
            }
        }
        let bulk = config
            .bulk
            .filter(|bulk| bulk.supported)
            .map(|bulk| BulkLimits {
                max_operations: bulk
                    .max_operations
                    .and_then(|max| usize::try_from(max).ok())
                    .filter(|max| *max > 0)
                    .unwrap_or(1),
                max_payload_bytes: bulk
                    .max_payload_size
                    .and_then(|max| usize::try_from(max).ok())
                    .filter(|max| *max > 0)
                    .unwrap_or(usize::MAX),
            })
            .filter(|bulk| bulk.max_operations > 1);
        Ok(Self {
            patch_supported: config.patch.supported,
            filter_supported: config.filter.supported,
            max_results: config
                .filter
                .max_results
                .and_then(|max| usize::try_from(max).ok())
                .filter(|max| *max > 0),
            bulk,
            etag_supported: config.etag.supported,
            users_endpoint: user_type
                .map_or(DEFAULT_USERS_ENDPOINT, |user| user.endpoint.as_str())
                .to_owned(),
            groups_endpoint: group_type
                .map_or(DEFAULT_GROUPS_ENDPOINT, |group| group.endpoint.as_str())
                .to_owned(),
            user_extensions,
            schemas: schema_map,
            warnings,
        })
    }

    /// Whether the User resource type lists `extension` (only then is it sent).
    pub fn user_extension_advertised(&self, extension: &str) -> bool {
        self.user_extensions
            .contains(&extension.to_ascii_lowercase())
    }

    fn mutability(&self, schema: &str, path: &str) -> Option<Option<Mutability>> {
        self.schemas
            .get(&schema.to_ascii_lowercase())
            .map(|attributes| attributes.get(&path.to_ascii_lowercase()).copied())
    }

    /// Whether a client may write the attribute at `path` (`name.givenName`, `manager.displayName`)
    /// of `schema` when creating a user: it must be declared and not read-only where the schema
    /// is known. Of an unknown schema nothing is known, so everything is written.
    pub fn writable(&self, schema: &str, path: &str) -> bool {
        // RFC 7643 §3.1: the common attributes belong to every resource and are in no schema;
        // `externalId` is the one a client sets.
        if path.eq_ignore_ascii_case("externalId") {
            return true;
        }
        match self.mutability(schema, path) {
            None => true,
            Some(mutability) => mutability.is_some_and(|m| m != Mutability::ReadOnly),
        }
    }

    /// Whether an update may change the attribute (neither read-only nor immutable).
    pub fn writable_on_update(&self, schema: &str, path: &str) -> bool {
        self.writable(schema, path)
            && self.mutability(schema, path).flatten() != Some(Mutability::Immutable)
    }

    /// The server keys users by their userName (the email) and takes no change of it.
    pub fn email_changes_by_hand(&self) -> bool {
        !self.writable_on_update(CORE_USER_SCHEMA, "userName")
    }

    /// Whether the server takes writes to `path`, or why not.
    pub fn offers(&self, path: &ScimPath) -> Result<(), String> {
        if !path.is_core() && !self.user_extension_advertised(&path.schema) {
            return Err(format!(
                "the LMS does not advertise the schema extension {}",
                path.schema
            ));
        }
        let Some(attributes) = self.schemas.get(&path.schema.to_ascii_lowercase()) else {
            // An advertised extension whose definition the server does not publish.
            return Ok(());
        };
        let attribute = path.attribute.to_ascii_lowercase();
        let schema_path = path.schema_path();
        let sub_path = match (&path.sub_attribute, &path.filter) {
            (Some(_), _) => schema_path.clone(),
            (None, Some(_)) => format!("{attribute}.value"),
            (None, None) => schema_path.clone(),
        };
        match attributes.get(&attribute) {
            None => Err(format!("the LMS has no attribute `{}`", path.attribute)),
            Some(Mutability::ReadOnly) => Err(format!("`{}` is read-only", path.attribute)),
            Some(_) if sub_path == attribute => Ok(()),
            Some(_) => match attributes.get(&sub_path) {
                // A complex attribute published without its sub-attributes: nothing to hold on to.
                None if !attributes
                    .keys()
                    .any(|key| key.starts_with(&format!("{attribute}."))) =>
                {
                    Ok(())
                }
                None => Err(format!(
                    "`{}` has no sub-attribute `{}`",
                    path.attribute,
                    sub_path.rsplit('.').next().unwrap_or_default()
                )),
                Some(Mutability::ReadOnly) => Err(format!("`{path}` is read-only")),
                Some(_) => Ok(()),
            },
        }
    }
}

fn collect_attributes(
    attributes: &[AttributeDoc],
    prefix: &str,
    into: &mut BTreeMap<String, Mutability>,
) {
    for attribute in attributes {
        let path = format!("{prefix}{}", attribute.name.to_ascii_lowercase());
        let mutability = match attribute.mutability.as_deref() {
            Some(text) if text.eq_ignore_ascii_case("readOnly") => Mutability::ReadOnly,
            Some(text) if text.eq_ignore_ascii_case("immutable") => Mutability::Immutable,
            _ => Mutability::ReadWrite,
        };
        collect_attributes(&attribute.sub_attributes, &format!("{path}."), into);
        into.insert(path, mutability);
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceProviderConfigDoc {
    #[serde(default)]
    patch: Supported,
    #[serde(default)]
    filter: FilterDoc,
    #[serde(default)]
    bulk: Option<BulkDoc>,
    #[serde(default)]
    etag: Supported,
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
struct BulkDoc {
    #[serde(default)]
    supported: bool,
    max_operations: Option<u64>,
    max_payload_size: Option<u64>,
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

    fn path(text: &str) -> ScimPath {
        ScimPath::parse(text).expect("a valid path")
    }

    #[test]
    fn reads_patch_filter_bulk_endpoints_and_extensions() {
        let config = json!({
            "patch": {"supported": true},
            "filter": {"supported": true, "maxResults": 50},
            "bulk": {"supported": true, "maxOperations": 1000, "maxPayloadSize": 1048576},
            "etag": {"supported": true}
        });
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
        assert!(capabilities.etag_supported);
        assert_eq!(capabilities.max_results, Some(50));
        assert_eq!(
            capabilities.bulk,
            Some(BulkLimits {
                max_operations: 1000,
                max_payload_bytes: 1_048_576
            })
        );
        assert_eq!(capabilities.users_endpoint, "/People");
        assert_eq!(capabilities.groups_endpoint, "/Teams");
        assert!(capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA));
        assert!(!capabilities.user_extension_advertised(PERSONIO_LMS_USER_SCHEMA));
        assert!(capabilities.warnings.is_empty());
    }

    #[test]
    fn missing_documents_fall_back_to_rfc_7643_with_warnings() {
        let capabilities = ServerCapabilities::from_discovery(None, None, None).expect("defaults");
        assert!(!capabilities.patch_supported);
        assert!(capabilities.bulk.is_none());
        assert!(capabilities.filter_supported);
        assert_eq!(capabilities.users_endpoint, "/Users");
        assert_eq!(capabilities.groups_endpoint, "/Groups");
        assert!(capabilities.user_extension_advertised(ENTERPRISE_USER_SCHEMA));
        assert!(!capabilities.user_extension_advertised(PERSONIO_LMS_USER_SCHEMA));
        assert!(capabilities.writable(CORE_USER_SCHEMA, "title"));
        assert!(!capabilities.writable(ENTERPRISE_USER_SCHEMA, "manager.displayName"));
        assert!(
            capabilities
                .offers(&path(r#"addresses[type eq "work"].locality"#))
                .is_ok()
        );
        assert!(capabilities.offers(&path("shoeSize")).is_err());
        assert_eq!(
            capabilities.warnings.len(),
            3,
            "{:?}",
            capabilities.warnings
        );
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
        let cost = path(&format!("{ENTERPRISE_USER_SCHEMA}:costCenter"));
        assert!(
            capabilities
                .offers(&cost)
                .unwrap_err()
                .contains("costCenter")
        );
    }

    #[test]
    fn an_immutable_user_name_means_email_changes_by_hand() {
        let core = json!({"id": CORE_USER_SCHEMA, "attributes": [
            {"name": "userName", "mutability": "immutable"},
            {"name": "emails", "subAttributes": [{"name": "value"}, {"name": "type"}]}
        ]});
        let capabilities =
            ServerCapabilities::from_discovery(None, None, Some(&[core])).expect("valid schema");
        assert!(capabilities.writable(CORE_USER_SCHEMA, "userName"));
        assert!(!capabilities.writable_on_update(CORE_USER_SCHEMA, "userName"));
        assert!(capabilities.email_changes_by_hand());
        let default = ServerCapabilities::from_discovery(None, None, None).expect("defaults");
        assert!(!default.email_changes_by_hand());
    }

    #[test]
    fn vendor_extensions_count_only_when_advertised() {
        let vendor = "urn:acme:scim:schemas:1.0:Learner";
        let types = [
            json!({"name": "User", "endpoint": "/Users", "schema": CORE_USER_SCHEMA,
               "schemaExtensions": [{"schema": vendor}]}),
        ];
        let schemas = [json!({"id": vendor, "attributes": [{"name": "costCenter"}]})];
        let capabilities =
            ServerCapabilities::from_discovery(None, Some(&types), Some(&schemas)).expect("valid");
        assert!(
            capabilities
                .offers(&path(&format!("{vendor}:costCenter")))
                .is_ok()
        );
        assert!(
            capabilities
                .offers(&path(&format!("{vendor}:team")))
                .is_err()
        );
        let enterprise = path(&format!("{ENTERPRISE_USER_SCHEMA}:department"));
        assert!(
            capabilities
                .offers(&enterprise)
                .unwrap_err()
                .contains("does not advertise")
        );
    }

    #[test]
    fn a_malformed_document_is_reported_with_its_source() {
        let types = [json!({"name": "User"})];
        let error = ServerCapabilities::from_discovery(None, Some(&types), None)
            .expect_err("resource type without endpoint");
        assert!(error.starts_with("/ResourceTypes:"), "{error}");
    }
}
