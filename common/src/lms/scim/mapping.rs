//! The attribute mapping of the settings against what one server offers: each field's target,
//! or why it has none.

use super::discovery::ServerCapabilities;
use crate::domain::settings::AttributeMapping;
use crate::domain::settings::scim::{FieldTargets, MappedField, ProfileField, ScimPath};
use crate::ports::{FieldTarget, MappingReport};

/// Where each field goes on this server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedMapping {
    pub targets: Vec<(MappedField, ScimPath)>,
    pub report: MappingReport,
}

pub fn resolve(mapping: &AttributeMapping, capabilities: &ServerCapabilities) -> ResolvedMapping {
    let mut targets = Vec::new();
    let mut fields = Vec::new();
    for (field, candidates) in &mapping.fields {
        let name = field.to_string();
        let (target, note) = match candidates {
            FieldTargets::Off => (
                None,
                Some("not sent: the settings map it nowhere".to_owned()),
            ),
            FieldTargets::Configured(path) => match capabilities.offers(path) {
                Ok(()) => (Some(path.clone()), None),
                Err(reason) => (
                    None,
                    Some(format!(
                        "{path} cannot be written: {reason}; nothing is sent"
                    )),
                ),
            },
            FieldTargets::Default(paths) => {
                let mut reasons = Vec::new();
                let found = paths.iter().find(|path| match capabilities.offers(path) {
                    Ok(()) => true,
                    Err(reason) => {
                        reasons.push(reason);
                        false
                    }
                });
                match found {
                    Some(path) => (Some(path.clone()), None),
                    None => (None, Some(nowhere(field, &reasons))),
                }
            }
        };
        fields.push(FieldTarget {
            field: name,
            target: target.as_ref().map(ToString::to_string),
            note,
            off: matches!(candidates, FieldTargets::Off),
        });
        if let Some(path) = target {
            targets.push((field.clone(), path));
        }
    }
    ResolvedMapping {
        targets,
        report: MappingReport {
            fields,
            warnings: capabilities.warnings.clone(),
        },
    }
}

fn nowhere(field: &MappedField, reasons: &[String]) -> String {
    let why = reasons
        .first()
        .map_or(String::new(), |reason| format!(" ({reason})"));
    match field {
        MappedField::Profile(ProfileField::Status) => format!(
            "the LMS offers no attribute for it{why}; only `active` is sent. Map it in \
             [scim.attributes] to an attribute the LMS has"
        ),
        _ => format!(
            "the LMS offers no attribute for it{why}; map it in [scim.attributes] to an \
             attribute the LMS has, or to \"\" to silence this"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::ScimSettings;
    use crate::domain::settings::scim::{ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA};
    use serde_json::json;

    fn capabilities(extensions: &[&str]) -> ServerCapabilities {
        let user_type = json!({
            "name": "User", "endpoint": "/Users",
            "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
            "schemaExtensions": extensions.iter().map(|schema| json!({"schema": schema})).collect::<Vec<_>>()
        });
        ServerCapabilities::from_discovery(None, Some(&[user_type]), None).expect("valid")
    }

    fn target<'a>(report: &'a MappingReport, field: &str) -> &'a FieldTarget {
        report
            .fields
            .iter()
            .find(|target| target.field == field)
            .unwrap_or_else(|| panic!("no {field}"))
    }

    #[test]
    fn the_default_mapping_uses_the_project_extension_where_advertised() {
        let mapping = AttributeMapping::new(&ScimSettings::default(), &[]).unwrap();
        let full = resolve(
            &mapping,
            &capabilities(&[ENTERPRISE_USER_SCHEMA, PERSONIO_LMS_USER_SCHEMA]),
        );
        assert_eq!(full.report.dropped().count(), 0, "{:#?}", full.report);
        assert_eq!(
            target(&full.report, "location").target.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:personio-lms:2.0:User:location")
        );

        let standard = resolve(&mapping, &capabilities(&[ENTERPRISE_USER_SCHEMA]));
        assert_eq!(
            target(&standard.report, "location").target.as_deref(),
            Some(r#"addresses[type eq "work"].locality"#)
        );
        assert_eq!(
            target(&standard.report, "employment_type")
                .target
                .as_deref(),
            Some("userType")
        );
        let status = target(&standard.report, "status");
        assert_eq!(status.target, None);
        assert!(
            status
                .note
                .as_deref()
                .is_some_and(|note| note.contains("only `active` is sent")),
            "{status:?}"
        );
        let dropped: Vec<&str> = standard
            .report
            .dropped()
            .map(|field| field.field.as_str())
            .collect();
        assert_eq!(
            dropped,
            [
                "team",
                "gender",
                "birthday",
                "hire_date",
                "contract_end_date",
                "termination_date",
                "status"
            ]
        );
    }

    #[test]
    fn configured_targets_must_be_offered() {
        let mut settings = ScimSettings::default();
        settings
            .attributes
            .insert("team".into(), format!("{ENTERPRISE_USER_SCHEMA}:division"));
        settings.attributes.insert("gender".into(), "".into());
        settings
            .attributes
            .insert("status".into(), "urn:acme:scim:1.0:Learner:state".into());
        let mapping = AttributeMapping::new(&settings, &[]).unwrap();
        let resolved = resolve(&mapping, &capabilities(&[ENTERPRISE_USER_SCHEMA]));
        assert_eq!(
            target(&resolved.report, "team").target.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division")
        );
        let gender = target(&resolved.report, "gender");
        assert!(gender.off && gender.target.is_none());
        let status = target(&resolved.report, "status");
        assert!(
            status
                .note
                .as_deref()
                .is_some_and(|note| note.contains("does not advertise")),
            "{status:?}"
        );
        assert!(
            !resolved
                .report
                .dropped()
                .any(|field| field.field == "gender")
        );
    }
}
