//! Integration records, their tenant memberships and the schedule.
//!
//! The record is one `CONFIG` item (the `IntegrationRecord` as JSON, plus the attributes
//! conditions and indexes need), versioned. Each integration also has a membership item
//! `INT#{integration_id}` in its tenant's partition `TENANT#{tenant_id}`, written in the same
//! transaction as the record, so listing a tenant's integrations is a consistent query.
//! A record with a next run is in the schedule: `gsi1pk = SCHEDULE`,
//! `gsi1sk = {next_run_at}#{integration_id}` (sparse: manual integrations are not in it).

use super::codec::{Item, ItemReader, keyed_item, n, s, timestamp};
use super::errors::{invalid_request, sdk_error};
use super::optimistic::{Decision, Versioned, read_decide_write};
use super::requests::Unchanged;
use super::schema::table_definition;
use super::store::DynamoStore;
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::ports::{IntegrationStore, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::FutureExt;

/// The counter a record write is conditioned on.
const VERSION: &str = "version";

/// The `gsi1pk` of every integration record that has a next run: one index partition ordered
/// by next run. The scheduler reads it once a minute; it holds one entry per scheduled
/// integration, far below a partition's limits.
const SCHEDULE_INDEX_PARTITION: &str = "SCHEDULE";

/// Fixed width (nanoseconds, `Z`), so that the index orders by time; the id breaks ties.
fn schedule_index_sort(next_run_at: DateTime<Utc>, integration: &IntegrationId) -> String {
    format!("{}#{integration}", schedule_time(next_run_at))
}

fn schedule_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The partition listing a tenant's integrations, and its membership items' sort key.
fn tenant_partition(tenant_id: &str) -> String {
    format!("TENANT#{tenant_id}")
}

fn tenant_member_sort(integration: &IntegrationId) -> String {
    format!("INT#{integration}")
}

/// The record as JSON (settings are a deep structure read and written whole), plus the
/// attributes conditions and indexes need. No secret: the record holds only `secret_ref`.
fn encode_integration(record: &IntegrationRecord) -> Result<Item, StoreError> {
    let json = serde_json::to_string(record).map_err(|error| StoreError::Corrupt {
        key: keys::integration_item(&record.id),
        reason: format!("integration record cannot be serialised: {error}"),
    })?;
    let mut item = keyed_item(
        keys::partition(&record.id),
        keys::INTEGRATION_SORT,
        "integration",
        [
            ("integration_id", s(record.id.as_str())),
            ("tenant_id", s(&record.tenant_id)),
            (VERSION, n(record.version)),
            ("record", s(json)),
        ],
    );
    if let Some(next_run_at) = record.next_run_at {
        item.insert("next_run_at".into(), s(timestamp(next_run_at)));
        item.insert("gsi1pk".into(), s(SCHEDULE_INDEX_PARTITION));
        item.insert(
            "gsi1sk".into(),
            s(schedule_index_sort(next_run_at, &record.id)),
        );
    }
    Ok(item)
}

fn decode_integration(item: &Item) -> Result<IntegrationRecord, StoreError> {
    let reader = ItemReader::new(item);
    serde_json::from_str(reader.string("record")?)
        .map_err(|error| reader.corrupt(format!("integration record: {error}")))
}

fn tenant_member_item(record: &IntegrationRecord) -> Item {
    keyed_item(
        tenant_partition(&record.tenant_id),
        tenant_member_sort(&record.id),
        "tenant_integration",
        [("integration_id", s(record.id.as_str()))],
    )
}

impl DynamoStore {
    /// The record, read consistently.
    async fn read_integration(
        &self,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        self.get(id, keys::INTEGRATION_SORT)
            .await?
            .map(|item| decode_integration(&item))
            .transpose()
    }

    /// The record's own item, written only if the stored one still has `expected_version`
    /// (`None`: absent). The first item of every integration transaction.
    fn put_record(
        &self,
        record: &IntegrationRecord,
        expected_version: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let condition = Unchanged::since(VERSION, expected_version);
        let put = Put::builder()
            .table_name(&self.table_name)
            .set_item(Some(encode_integration(record)?))
            .condition_expression(condition.expression)
            .set_expression_attribute_values(condition.values)
            .build()
            .map_err(invalid_request)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Runs an integration transaction; a failed condition (the record changed since it was
    /// read) or a concurrent transaction on the same items is a `Conflict`.
    async fn write_integration(
        &self,
        id: &IntegrationId,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let item_key = keys::integration_item(id);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(error) = result else {
            return Ok(());
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        {
            let conflicting = cancelled.cancellation_reasons().iter().any(|reason| {
                matches!(
                    reason.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            });
            if conflicting {
                return Err(StoreError::Conflict(format!(
                    "{item_key} changed while it was being written"
                )));
            }
        }
        Err(sdk_error("TransactWriteItems", &item_key, error))
    }
}

#[async_trait]
impl IntegrationStore for DynamoStore {
    async fn integration(
        &self,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        self.read_integration(id).await
    }

    async fn integrations_of_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        let partition = tenant_partition(tenant_id);
        let request = self
            .client
            .query()
            .table_name(&self.table_name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&partition))
            .consistent_read(true);
        let mut members = Vec::new();
        for item in self.query_pages(request, None, "Query", &partition).await? {
            members.push(IntegrationId::new(
                ItemReader::new(&item).string("integration_id")?,
            ));
        }
        // A tenant has a handful of integrations: one consistent read each, in the
        // membership's id order. A membership whose record is gone or moved to another
        // tenant (a write racing this listing) is skipped.
        let mut records = Vec::with_capacity(members.len());
        for id in &members {
            if let Some(record) = self.read_integration(id).await?
                && record.tenant_id == tenant_id
            {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn put_integration(
        &self,
        record: &IntegrationRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let stored = self.read_integration(&record.id).await?;
        rules::check_integration_version(
            &record.id,
            expected_version,
            stored.as_ref().map(|stored| stored.version),
        )?;
        let mut items = vec![
            self.put_record(record, expected_version)?,
            self.transact_put(tenant_member_item(record))?,
        ];
        if let Some(previous) = stored.filter(|stored| stored.tenant_id != record.tenant_id) {
            items.push(self.transact_delete(
                tenant_partition(&previous.tenant_id),
                tenant_member_sort(&record.id),
            )?);
        }
        self.write_integration(&record.id, items).await
    }

    async fn delete_integration(
        &self,
        id: &IntegrationId,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let stored = match self.read_integration(id).await? {
            Some(stored) if stored.version == expected_version => stored,
            other => {
                let stored_version = other.map(|stored| stored.version);
                return Err(rules::check_integration_version(
                    id,
                    Some(expected_version),
                    stored_version,
                )
                .err()
                .unwrap_or_else(|| {
                    StoreError::Conflict(format!("{} changed", keys::integration_item(id)))
                }));
            }
        };
        let condition = Unchanged::since(VERSION, Some(expected_version));
        let delete_record = Delete::builder()
            .table_name(&self.table_name)
            .key("pk", s(keys::partition(id)))
            .key("sk", s(keys::INTEGRATION_SORT))
            .condition_expression(condition.expression)
            .set_expression_attribute_values(condition.values)
            .build()
            .map_err(invalid_request)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete_record).build(),
            self.transact_delete(tenant_partition(&stored.tenant_id), tenant_member_sort(id))?,
        ];
        self.write_integration(id, items).await
    }

    async fn due_integrations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        let definition = table_definition();
        // Every sort key of a time at or before `now` is below `{now}$` ('$' follows '#').
        let bound = format!("{}$", schedule_time(now));
        let request = self
            .client
            .query()
            .table_name(&self.table_name)
            .index_name(definition.lms_user_index)
            .key_condition_expression("#index_pk = :schedule AND #index_sk < :bound")
            .expression_attribute_names("#index_pk", definition.lms_user_index_partition_key)
            .expression_attribute_names("#index_sk", definition.lms_user_index_sort_key)
            .expression_attribute_values(":schedule", s(SCHEDULE_INDEX_PARTITION))
            .expression_attribute_values(":bound", s(&bound));
        let items = self
            .query_pages(request, Some(limit), "Query gsi1", SCHEDULE_INDEX_PARTITION)
            .await?;
        items.iter().map(decode_integration).collect()
    }

    // The index is eventually consistent, so `seen` may already be stale: the claim decides on
    // a consistent read and writes conditionally on the version read, so of two schedulers
    // racing for one run exactly one moves `next_run_at`.
    async fn claim_due_run(
        &self,
        id: &IntegrationId,
        seen: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        read_decide_write(
            &keys::integration_item(id),
            || {
                async move {
                    Ok(self.read_integration(id).await?.map(|record| Versioned {
                        revision: record.version,
                        value: record,
                    }))
                }
                .boxed()
            },
            |current| {
                Ok(match rules::claim_due_run(current.as_ref(), seen, next) {
                    Some(claimed) => Decision::Write(claimed, true),
                    None => Decision::Answer(false),
                })
            },
            |claimed, read_version| {
                async move {
                    let put = self.put_record(&claimed, read_version)?;
                    match self.write_integration(id, vec![put]).await {
                        Ok(()) => Ok(true),
                        // Someone wrote in between: the loop decides again on what they wrote.
                        Err(StoreError::Conflict(_)) => Ok(false),
                        Err(other) => Err(other),
                    }
                }
                .boxed()
            },
        )
        .await
    }
}
