//! The requests every item family uses: a consistent get, a query that follows every page, a
//! put or delete conditioned on the item being as read, and batch and transaction writes.

use super::codec::{Item, n, s};
use super::errors::{condition_held, invalid_request, sdk_error};
use super::store::DynamoStore;
use crate::domain::IntegrationId;
use crate::ports::StoreError;
use crate::store::keys;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, WriteRequest};
use std::collections::HashMap;

/// How often a batch write resubmits the items DynamoDB left unprocessed (throttling).
const MAX_BATCH_ATTEMPTS: u32 = 8;

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_LIMIT: usize = 25;

/// The condition of a write that must only land on the item as it was read: still absent
/// (`read` is `None`), or still carrying the value `read` in its counter attribute (`rev` of the
/// lease and ledger, `version` of links and integration records).
pub(super) struct Unchanged {
    pub expression: String,
    pub values: Option<Item>,
}

impl Unchanged {
    pub(super) fn since(counter: &str, read: Option<u64>) -> Self {
        match read {
            None => Self {
                expression: "attribute_not_exists(pk)".into(),
                values: None,
            },
            Some(value) => Self {
                expression: format!("{counter} = :read"),
                values: Some(HashMap::from([(":read".into(), n(value))])),
            },
        }
    }
}

/// The revision counter of items written by read-decide-write (lease, ledger).
pub(super) const REVISION: &str = "rev";

impl DynamoStore {
    /// One item of the integration's partition, read consistently.
    pub(super) async fn get(
        &self,
        integration: &IntegrationId,
        sort: &str,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key("pk", s(keys::partition(integration)))
            .key("sk", s(sort))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error("GetItem", &keys::item(integration, sort), error))?;
        Ok(output.item)
    }

    /// The items `request` finds, following `LastEvaluatedKey`; at most `limit` when given.
    /// `operation` and `what` name the query in errors.
    pub(super) async fn query_pages(
        &self,
        request: QueryFluentBuilder,
        limit: Option<usize>,
        operation: &str,
        what: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            let remaining = limit.map(|limit| limit.saturating_sub(items.len()));
            if remaining == Some(0) {
                break;
            }
            let mut page = request.clone().set_exclusive_start_key(start_key.take());
            if let Some(remaining) = remaining {
                page = page.limit(i32::try_from(remaining).unwrap_or(i32::MAX));
            }
            let output = page
                .send()
                .await
                .map_err(|error| sdk_error(operation, what, error))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => break,
            }
        }
        if let Some(limit) = limit {
            items.truncate(limit);
        }
        Ok(items)
    }

    /// Every item of the partition whose sort key starts with `prefix`, read consistently; at
    /// most `limit` items when given. `only_state` keeps the items whose `state` attribute has
    /// that value (a filter applied by DynamoDB after the key condition).
    pub(super) async fn query_prefix(
        &self,
        integration: &IntegrationId,
        prefix: &str,
        newest_first: bool,
        limit: Option<usize>,
        only_state: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table_name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::partition(integration)))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .scan_index_forward(!newest_first);
        if let Some(state) = only_state {
            request = request
                .filter_expression("#state = :state")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", s(state));
        }
        let what = keys::item(integration, &format!("{prefix}*"));
        self.query_pages(request, limit, "Query", &what).await
    }

    /// Writes `item` (with `rev` set to the next revision) only if the stored item still has the
    /// revision `read_revision` (`None`: still absent). `Ok(false)` when someone else wrote first.
    pub(super) async fn put_if_unchanged(
        &self,
        mut item: Item,
        read_revision: Option<u64>,
        item_key: &str,
    ) -> Result<bool, StoreError> {
        item.insert(
            REVISION.into(),
            n(read_revision.map_or(1, |revision| revision.saturating_add(1))),
        );
        let condition = Unchanged::since(REVISION, read_revision);
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .condition_expression(condition.expression)
            .set_expression_attribute_values(condition.values)
            .send()
            .await;
        condition_held(result, "PutItem", item_key)
    }

    /// Deletes an item only if it still has the revision read (`None`: still absent, so there
    /// is nothing to delete). `Ok(false)` when someone else wrote first.
    pub(super) async fn delete_if_unchanged(
        &self,
        integration: &IntegrationId,
        sort: &str,
        read_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        let condition = Unchanged::since(REVISION, read_revision);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .key("pk", s(keys::partition(integration)))
            .key("sk", s(sort))
            .condition_expression(condition.expression)
            .set_expression_attribute_values(condition.values)
            .send()
            .await;
        condition_held(result, "DeleteItem", &keys::item(integration, sort))
    }

    /// Writes or deletes many items with BatchWriteItem, 25 at a time, resubmitting what
    /// DynamoDB leaves unprocessed with a short growing pause.
    pub(super) async fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        what: &str,
    ) -> Result<(), StoreError> {
        let mut pending: Vec<WriteRequest> = requests;
        while !pending.is_empty() {
            let rest = pending.split_off(pending.len().min(BATCH_WRITE_LIMIT));
            let mut batch = pending;
            pending = rest;
            let mut attempt = 0;
            while !batch.is_empty() {
                attempt += 1;
                if attempt > MAX_BATCH_ATTEMPTS {
                    return Err(StoreError::Unavailable(format!(
                        "DynamoDB kept {} items of {what} unprocessed after {MAX_BATCH_ATTEMPTS} attempts",
                        batch.len()
                    )));
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table_name, batch)
                    .send()
                    .await
                    .map_err(|error| sdk_error("BatchWriteItem", what, error))?;
                batch = output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table_name))
                    .unwrap_or_default();
                if !batch.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5)))
                        .await;
                }
            }
        }
        Ok(())
    }

    /// An unconditional put, as one item of a transaction.
    pub(super) fn transact_put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table_name)
                    .set_item(Some(item))
                    .build()
                    .map_err(invalid_request)?,
            )
            .build())
    }

    /// An unconditional delete of the item `pk`/`sk`, as one item of a transaction.
    pub(super) fn transact_delete(
        &self,
        pk: String,
        sk: String,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table_name)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .map_err(invalid_request)?,
            )
            .build())
    }
}
