//! Reading what a SCIM server answers: users, groups, list responses; and the one filter the
//! adapter sends.

use crate::domain::lms::{LmsGroup, LmsGroupId, LmsUser, LmsUserId};
use serde::Deserialize;
use serde_json::Value;

/// A string as a filter comparison value (RFC 7644 §3.4.2.2): a JSON string literal, so quotes,
/// backslashes and control characters are escaped as JSON escapes them.
pub fn filter_literal(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

/// `attribute eq "value"`, the only filter the adapter needs.
pub fn equality_filter(attribute: &str, value: &str) -> String {
    format!("{attribute} eq {}", filter_literal(value))
}

/// RFC 7644 §3.4.2 list response. `Resources` may be missing when there are none.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    pub total_results: Option<usize>,
    #[serde(rename = "Resources", alias = "resources", default)]
    pub resources: Vec<Value>,
}

/// The resources of a discovery listing: a list response, or (some servers) a bare array.
pub fn listed_resources(document: Value) -> Result<Vec<Value>, String> {
    match document {
        Value::Array(resources) => Ok(resources),
        other => ListResponse::deserialize(other)
            .map(|list| list.resources)
            .map_err(|error| format!("a discovery listing: {error}")),
    }
}

/// The members of a group resource.
pub fn group_member_ids(group: &Value) -> Vec<LmsUserId> {
    group
        .get("members")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|member| member.get("value").and_then(Value::as_str))
                .map(|id| LmsUserId(id.to_owned()))
                .collect()
        })
        .unwrap_or_default()
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
    use serde_json::json;

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
        assert_eq!(
            group_member_ids(&json!({"members": [{"value": "u1"}, {"display": "x"}]})),
            vec![LmsUserId("u1".into())]
        );
    }

    #[test]
    fn discovery_listings_may_be_list_responses_or_arrays() {
        let listed = listed_resources(json!({"totalResults": 1, "Resources": [{"id": "User"}]}))
            .expect("a list response");
        assert_eq!(listed.len(), 1);
        let bare = listed_resources(json!([{"id": "a"}, {"id": "b"}])).expect("an array");
        assert_eq!(bare.len(), 2);
        assert!(listed_resources(json!("nonsense")).is_err());
    }
}
