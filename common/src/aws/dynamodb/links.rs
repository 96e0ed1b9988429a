//! Employee links: one `EMP#{personio_id}` item per linked employee, versioned (a write names the
//! version it read), and found by LMS user through the sparse index `gsi1`
//! (`gsi1pk = INT#{integration_id}#LMSUSER#{lms_user_id}`).
//!
//! Attributes added later are optional, so items written before them still read: `profile` (the
//! last profile written, as JSON), `invited_at`, `invitation_pending`, `manager` (the manager
//! reference last written, as JSON).

use super::codec::{Item, ItemReader, keyed_item, n, s, timestamp};
use super::errors::sdk_error;
use super::requests::Unchanged;
use super::schema::table_definition;
use super::store::DynamoStore;
use crate::domain::IntegrationId;
use crate::domain::employee::PersonioId;
use crate::domain::link::{EmployeeLink, ManagerLink};
use crate::domain::lms::LmsUserId;
use crate::ports::{LinkStore, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

/// The counter a link write is conditioned on.
const VERSION: &str = "version";
/// The manager reference last written (`ManagerLink` as JSON).
const MANAGER: &str = "manager";

fn lms_user_index_key(integration: &IntegrationId, lms_user: &LmsUserId) -> String {
    format!("{}#LMSUSER#{lms_user}", keys::partition(integration))
}

fn encode_link(link: &EmployeeLink) -> Result<Item, StoreError> {
    let integration = &link.integration_id;
    let sort = keys::link_sort(link.personio_id);
    let mut item = keyed_item(
        keys::partition(integration),
        &sort,
        "link",
        [
            ("integration_id", s(integration.as_str())),
            ("personio_id", n(link.personio_id.0)),
            ("lms_user_id", s(&link.lms_user_id.0)),
            ("email", s(&link.email)),
            ("profile_hash", s(&link.profile_hash)),
            (
                "groups",
                AttributeValue::L(link.groups.iter().map(s).collect()),
            ),
            ("active", AttributeValue::Bool(link.active)),
            ("updated_at", s(timestamp(link.updated_at))),
            (VERSION, n(link.version)),
            (
                "gsi1pk",
                s(lms_user_index_key(integration, &link.lms_user_id)),
            ),
            ("gsi1sk", s(&sort)),
        ],
    );
    // JSON, as the other stores keep it; left out while nothing is recorded (older items).
    if link.manager != ManagerLink::Unknown {
        let json = serde_json::to_string(&link.manager).map_err(|error| StoreError::Corrupt {
            key: keys::link_item(integration, link.personio_id),
            reason: format!("the manager reference cannot be serialised: {error}"),
        })?;
        item.insert(MANAGER.into(), s(json));
    }
    if let Some(profile) = &link.profile {
        let json = serde_json::to_string(profile).map_err(|error| StoreError::Corrupt {
            key: keys::link_item(integration, link.personio_id),
            reason: format!("the profile cannot be serialised: {error}"),
        })?;
        item.insert("profile".into(), s(json));
    }
    if let Some(invited_at) = link.invited_at {
        item.insert("invited_at".into(), s(timestamp(invited_at)));
    }
    if link.invitation_pending {
        item.insert("invitation_pending".into(), AttributeValue::Bool(true));
    }
    Ok(item)
}

fn decode_link(item: &Item) -> Result<EmployeeLink, StoreError> {
    let reader = ItemReader::new(item);
    Ok(EmployeeLink {
        integration_id: IntegrationId::new(reader.string("integration_id")?),
        personio_id: PersonioId(reader.number("personio_id")?),
        lms_user_id: LmsUserId(reader.string("lms_user_id")?.to_owned()),
        email: reader.string("email")?.to_owned(),
        profile_hash: reader.string("profile_hash")?.to_owned(),
        groups: reader.string_list("groups")?,
        active: reader.boolean("active")?,
        updated_at: reader.datetime("updated_at")?,
        version: reader.number(VERSION)?,
        manager: match reader.optional_string(MANAGER)? {
            Some(json) => serde_json::from_str(json)
                .map_err(|error| reader.corrupt(format!("{MANAGER}: {error}")))?,
            None => ManagerLink::Unknown,
        },
        profile: reader.optional_json("profile")?,
        invited_at: reader.optional_datetime("invited_at")?,
        invitation_pending: reader
            .optional_boolean("invitation_pending")?
            .unwrap_or(false),
    })
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn links(&self, integration: &IntegrationId) -> Result<Vec<EmployeeLink>, StoreError> {
        let items = self
            .query_prefix(integration, "EMP#", false, None, None)
            .await?;
        items.iter().map(decode_link).collect()
    }

    async fn link(
        &self,
        integration: &IntegrationId,
        personio_id: PersonioId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        self.get(integration, &keys::link_sort(personio_id))
            .await?
            .map(|item| decode_link(&item))
            .transpose()
    }

    async fn link_by_lms_user(
        &self,
        integration: &IntegrationId,
        lms_user_id: &LmsUserId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        let definition = table_definition();
        let index_key = lms_user_index_key(integration, lms_user_id);
        // One LMS user belongs to one link; the index is eventually consistent, so a link
        // written a moment ago may not be found yet (certificate jobs arrive much later).
        let output = self
            .client
            .query()
            .table_name(&self.table_name)
            .index_name(definition.lms_user_index)
            .key_condition_expression("#index_pk = :index_pk")
            .expression_attribute_names("#index_pk", definition.lms_user_index_partition_key)
            .expression_attribute_values(":index_pk", s(&index_key))
            .limit(1)
            .send()
            .await
            .map_err(|error| sdk_error("Query gsi1", &index_key, error))?;
        output
            .items
            .unwrap_or_default()
            .first()
            .map(decode_link)
            .transpose()
    }

    async fn put_link(
        &self,
        link: &EmployeeLink,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let item_key = keys::link_item(&link.integration_id, link.personio_id);
        let condition = Unchanged::since(VERSION, expected_version);
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(encode_link(link)?))
            .condition_expression(condition.expression)
            .set_expression_attribute_values(condition.values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(error) = result else {
            return Ok(());
        };
        // The stored item comes back with the refusal: name its version in the conflict.
        if let Some(PutItemError::ConditionalCheckFailedException(refused)) =
            error.as_service_error()
        {
            let stored = refused
                .item()
                .and_then(|item| ItemReader::new(item).number::<u64>(VERSION).ok());
            return Err(rules::check_link_version(link, expected_version, stored)
                .err()
                .unwrap_or_else(|| {
                    StoreError::Conflict(format!("{item_key}: the conditional write was refused"))
                }));
        }
        Err(sdk_error("PutItem", &item_key, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use std::collections::BTreeSet;

    #[test]
    fn a_corrupt_item_names_its_key() {
        let mut item = encode_link(&EmployeeLink {
            integration_id: IntegrationId::new("acme"),
            personio_id: PersonioId(7),
            lms_user_id: LmsUserId("u7".into()),
            email: "a@b.example".into(),
            profile_hash: "h".into(),
            groups: BTreeSet::new(),
            active: true,
            updated_at: Utc::now(),
            version: 1,
            profile: None,
            invited_at: None,
            invitation_pending: false,
            manager: ManagerLink::Pending {
                supervisor: PersonioId(3),
            },
        })
        .unwrap();
        assert_eq!(
            decode_link(&item).map(|link| link.manager).ok(),
            Some(ManagerLink::Pending {
                supervisor: PersonioId(3)
            })
        );
        item.insert("version".into(), s("one"));
        let error = decode_link(&item).unwrap_err();
        assert!(
            matches!(&error, StoreError::Corrupt { key, reason } if key == "INT#acme/EMP#7" && reason.contains("version")),
            "{error:?}"
        );
    }
}
