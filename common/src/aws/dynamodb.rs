//! The state store on one DynamoDB table (DESIGN.md "Data model"; `docs/dynamodb.md`).
//!
//! Items and access patterns (pk is always `INT#{integration_id}`):
//!
//! | item | sk | read by |
//! | --- | --- | --- |
//! | employee link | `EMP#{personio_id}` | GetItem; Query `begins_with(sk, "EMP#")`; GSI `gsi1` on `gsi1pk = INT#{id}#LMSUSER#{lms_user_id}` |
//! | run header | `RUN#{started_at}#{run_id}` | Query `begins_with(sk, "RUN#")`, `ScanIndexForward=false` (newest first) |
//! | run pointer | `RUNID#{run_id}` | GetItem: `run(id)` finds the header's sort key here, no scan |
//! | run chunk | `RUNCHUNK#{run_id}#{generation}#{index}` | Query on that prefix, for records over the inline limit |
//! | lease | `LEASE` | GetItem (consistent) |
//! | certificate | `CERT#{certificate_id}` | GetItem; Query `begins_with(sk, "CERT#")` (+ filter `state = parked`) |
//! | integration record | `CONFIG` | GetItem (consistent); due ones: GSI `gsi1` on `gsi1pk = SCHEDULE`, `gsi1sk = {next_run_at}#{id}` (sparse: manual integrations are not in it) |
//!
//! One more partition: `TENANT#{tenant_id}` holds one membership item `INT#{integration_id}` per
//! integration of the tenant (Query, consistent), written in the same transaction as the record.
//!
//! `RUNID#` and `RUNCHUNK#` do not start with `RUN#`, so the run listing never sees them.
//!
//! Lease and ledger transitions are decided by [`crate::store::rules`] (the same rules as every
//! other backend) on a consistent read, then written with a `ConditionExpression` on the item's
//! revision counter `rev`: the write lands only if nobody changed the item since it was read,
//! otherwise the read-decide-write repeats. Link writes are conditional on `version`.

use super::{AwsFailure, classify};
use crate::domain::IntegrationId;
use crate::domain::certificate::{CertificateId, LedgerClaim, LedgerEntry, LedgerState};
use crate::domain::employee::PersonioId;
use crate::domain::integration::IntegrationRecord;
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::domain::run::{RunId, RunRecord};
use crate::ports::{
    CertificateLedger, IntegrationStore, Lease, LeaseOutcome, LeaseStore, LinkStore, RunStore,
    StoreError,
};
use crate::store::{keys, rules};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, PutRequest,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use std::collections::{BTreeSet, HashMap};

type Item = HashMap<String, AttributeValue>;

/// The table's keys, index and TTL attribute: what a SAM/CloudFormation template must declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDefinition {
    /// Partition key, type S.
    pub partition_key: &'static str,
    /// Sort key, type S.
    pub sort_key: &'static str,
    /// The sparse GSI that finds a link by its LMS user (projection ALL); integration records
    /// with a next run use it too, as the schedule.
    pub lms_user_index: &'static str,
    /// The GSI's partition key, type S: `INT#{integration_id}#LMSUSER#{lms_user_id}` on links,
    /// `SCHEDULE` on integration records that have a next run.
    pub lms_user_index_partition_key: &'static str,
    /// The GSI's sort key, type S: the link's `EMP#{personio_id}`; a scheduled record's
    /// `{next_run_at}#{integration_id}`.
    pub lms_user_index_sort_key: &'static str,
    /// The TTL attribute (epoch seconds), set on run items only.
    pub ttl_attribute: &'static str,
    /// Always on-demand (PAY_PER_REQUEST): sync runs are bursty.
    pub billing_mode: BillingMode,
}

/// The one table definition, shared by [`DynamoStore::create_table`] and `docs/dynamodb.md`.
pub fn table_definition() -> TableDefinition {
    TableDefinition {
        partition_key: "pk",
        sort_key: "sk",
        lms_user_index: "gsi1",
        lms_user_index_partition_key: "gsi1pk",
        lms_user_index_sort_key: "gsi1sk",
        ttl_attribute: "expires_at",
        billing_mode: BillingMode::PayPerRequest,
    }
}

/// How long run records are kept after their last write, unless configured otherwise.
pub const DEFAULT_RUN_RETENTION_DAYS: i64 = 90;

/// A run record's JSON up to this size is stored inside its header item; a larger one is split
/// into chunk items of this size. DynamoDB items are at most 400 KB including attribute names,
/// so this leaves room for the header's other attributes.
const INLINE_RECORD_LIMIT: usize = 350 * 1024;

/// How often a lease or ledger transition re-reads after losing a race before it gives up.
const MAX_OPTIMISTIC_ATTEMPTS: usize = 10;

/// How often a batch write resubmits the items DynamoDB left unprocessed (throttling).
const MAX_BATCH_ATTEMPTS: u32 = 8;

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_LIMIT: usize = 25;

const RUN_POINTER_PREFIX: &str = "RUNID#";
const RUN_CHUNK_PREFIX: &str = "RUNCHUNK#";

fn run_pointer_sort(run_id: &RunId) -> String {
    format!("{RUN_POINTER_PREFIX}{run_id}")
}

fn run_chunk_prefix(run_id: &RunId, generation: &str) -> String {
    format!("{RUN_CHUNK_PREFIX}{run_id}#{generation}#")
}

/// Zero-padded so that chunks sort in write order.
fn run_chunk_sort(run_id: &RunId, generation: &str, index: usize) -> String {
    format!("{}{index:06}", run_chunk_prefix(run_id, generation))
}

fn lms_user_index_key(integration: &IntegrationId, lms_user: &LmsUserId) -> String {
    format!("{}#LMSUSER#{lms_user}", keys::partition(integration))
}

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

/// Where a run record's outcomes are: inline, or in `count` chunk items of one generation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ChunkSet {
    generation: String,
    count: usize,
}

/// The state store on DynamoDB. Cheap to clone (the SDK client is shared).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table_name: String,
    run_retention: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
            run_retention: Duration::days(DEFAULT_RUN_RETENTION_DAYS),
        }
    }

    /// How long a run record (and its chunks and pointer) is kept after its last write, through
    /// the table's TTL attribute.
    pub fn with_run_retention(mut self, retention: Duration) -> Self {
        self.run_retention = retention;
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// Creates the table as [`table_definition`] describes it, waits until it is active and
    /// enables TTL. For tests and local setups; deployed tables come from the SAM template.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let definition = table_definition();
        let string_attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(invalid_request)
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(invalid_request)
        };
        let lms_user_index = GlobalSecondaryIndex::builder()
            .index_name(definition.lms_user_index)
            .key_schema(key(definition.lms_user_index_partition_key, KeyType::Hash)?)
            .key_schema(key(definition.lms_user_index_sort_key, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(invalid_request)?;
        self.client
            .create_table()
            .table_name(&self.table_name)
            .attribute_definitions(string_attribute(definition.partition_key)?)
            .attribute_definitions(string_attribute(definition.sort_key)?)
            .attribute_definitions(string_attribute(definition.lms_user_index_partition_key)?)
            .attribute_definitions(string_attribute(definition.lms_user_index_sort_key)?)
            .key_schema(key(definition.partition_key, KeyType::Hash)?)
            .key_schema(key(definition.sort_key, KeyType::Range)?)
            .global_secondary_indexes(lms_user_index)
            .billing_mode(definition.billing_mode.clone())
            .send()
            .await
            .map_err(|error| sdk_error("CreateTable", &self.table_name, error))?;

        // Creation is asynchronous on AWS (immediate on DynamoDB Local): poll, bounded.
        let mut active = false;
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table_name)
                .send()
                .await
                .map_err(|error| sdk_error("DescribeTable", &self.table_name, error))?;
            if described.table().and_then(|table| table.table_status())
                == Some(&TableStatus::Active)
            {
                active = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        if !active {
            return Err(StoreError::Unavailable(format!(
                "table {} did not become active within a minute",
                self.table_name
            )));
        }

        self.client
            .update_time_to_live()
            .table_name(&self.table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(definition.ttl_attribute)
                    .build()
                    .map_err(invalid_request)?,
            )
            .send()
            .await
            .map_err(|error| sdk_error("UpdateTimeToLive", &self.table_name, error))?;
        tracing::info!(table = %self.table_name, "created the state table");
        Ok(())
    }

    // ---- generic item access -------------------------------------------------------------

    async fn get(
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

    /// Every item of the partition whose sort key starts with `prefix`, following
    /// `LastEvaluatedKey`; at most `limit` items when given. `only_state` keeps the items whose
    /// `state` attribute has that value (a filter applied by DynamoDB after the key condition).
    async fn query_prefix(
        &self,
        integration: &IntegrationId,
        prefix: &str,
        newest_first: bool,
        limit: Option<usize>,
        only_state: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            let remaining = limit.map(|limit| limit.saturating_sub(items.len()));
            if remaining == Some(0) {
                break;
            }
            let mut request = self
                .client
                .query()
                .table_name(&self.table_name)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::partition(integration)))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .scan_index_forward(!newest_first)
                .set_exclusive_start_key(start_key.take());
            if let Some(remaining) = remaining {
                request = request.limit(i32::try_from(remaining).unwrap_or(i32::MAX));
            }
            if let Some(state) = only_state {
                request = request
                    .filter_expression("#state = :state")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":state", s(state));
            }
            let output = request.send().await.map_err(|error| {
                sdk_error(
                    "Query",
                    &keys::item(integration, &format!("{prefix}*")),
                    error,
                )
            })?;
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

    /// Writes `item` (with `rev` set to the next revision) only if the stored item still has the
    /// revision `read_revision` (`None`: still absent). `Ok(false)` when someone else wrote first.
    async fn put_if_unchanged(
        &self,
        mut item: Item,
        read_revision: Option<u64>,
        item_key: &str,
    ) -> Result<bool, StoreError> {
        item.insert(
            "rev".into(),
            n(read_revision.map_or(1, |revision| revision.saturating_add(1))),
        );
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item));
        request = match read_revision {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(revision) => request
                .condition_expression("rev = :read_rev")
                .expression_attribute_values(":read_rev", n(revision)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) => match classify(&error) {
                failure if failure.is_code(CONDITION_FAILED) => Ok(false),
                failure => Err(unavailable("PutItem", item_key, &failure)),
            },
        }
    }

    /// Deletes an item only if it still has the revision read. `Ok(false)` when it changed.
    async fn delete_if_unchanged(
        &self,
        integration: &IntegrationId,
        sort: &str,
        read_revision: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .key("pk", s(keys::partition(integration)))
            .key("sk", s(sort))
            .condition_expression("rev = :read_rev")
            .expression_attribute_values(":read_rev", n(read_revision))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match classify(&error) {
                failure if failure.is_code(CONDITION_FAILED) => Ok(false),
                failure => Err(unavailable(
                    "DeleteItem",
                    &keys::item(integration, sort),
                    &failure,
                )),
            },
        }
    }

    /// Writes or deletes many items with BatchWriteItem, 25 at a time, resubmitting what
    /// DynamoDB leaves unprocessed with a short growing pause.
    async fn batch_write(&self, requests: Vec<WriteRequest>, what: &str) -> Result<(), StoreError> {
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

    // ---- runs ----------------------------------------------------------------------------

    async fn decode_run(&self, item: &Item) -> Result<RunRecord, StoreError> {
        let reader = ItemReader::new(item);
        let json = match reader.optional_string("record")? {
            Some(inline) => inline.as_bytes().to_vec(),
            None => {
                let integration = IntegrationId::new(reader.string("integration_id")?);
                let run_id = RunId(reader.string("run_id")?.to_owned());
                let chunks = ChunkSet {
                    generation: reader.string("chunk_generation")?.to_owned(),
                    count: reader.number("chunk_count")?,
                };
                self.read_chunks(&integration, &run_id, &chunks).await?
            }
        };
        serde_json::from_slice(&json)
            .map_err(|error| reader.corrupt(format!("run record: {error}")))
    }

    async fn read_chunks(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
        chunks: &ChunkSet,
    ) -> Result<Vec<u8>, StoreError> {
        let items = self
            .query_prefix(
                integration,
                &run_chunk_prefix(run_id, &chunks.generation),
                false,
                None,
                None,
            )
            .await?;
        if items.len() != chunks.count {
            return Err(StoreError::Corrupt {
                key: keys::item(integration, &run_chunk_prefix(run_id, &chunks.generation)),
                reason: format!("expected {} chunks, found {}", chunks.count, items.len()),
            });
        }
        let mut json = Vec::new();
        for item in &items {
            json.extend_from_slice(ItemReader::new(item).binary("data")?);
        }
        Ok(json)
    }

    async fn delete_chunks(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
        chunks: &ChunkSet,
    ) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(chunks.count);
        for index in 0..chunks.count {
            let delete = DeleteRequest::builder()
                .key("pk", s(keys::partition(integration)))
                .key("sk", s(run_chunk_sort(run_id, &chunks.generation, index)))
                .build()
                .map_err(invalid_request)?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(requests, "stale run chunks").await
    }

    // ---- lease and ledger ----------------------------------------------------------------

    async fn read_lease(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<(Lease, u64)>, StoreError> {
        let Some(item) = self.get(integration, keys::LEASE_SORT).await? else {
            return Ok(None);
        };
        let reader = ItemReader::new(&item);
        let lease = Lease {
            integration_id: integration.clone(),
            holder: reader.string("holder")?.to_owned(),
            expires_at: reader.datetime("lease_expires_at")?,
        };
        Ok(Some((lease, reader.number("rev")?)))
    }

    fn lease_item(lease: &Lease) -> Item {
        HashMap::from([
            ("pk".into(), s(keys::partition(&lease.integration_id))),
            ("sk".into(), s(keys::LEASE_SORT)),
            ("kind".into(), s("lease")),
            ("holder".into(), s(&lease.holder)),
            ("lease_expires_at".into(), s(timestamp(lease.expires_at))),
        ])
    }

    async fn read_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<(LedgerEntry, u64)>, StoreError> {
        let sort = keys::certificate_sort(certificate);
        match self.get(integration, &sort).await? {
            None => Ok(None),
            Some(item) => {
                let entry = decode_certificate(&item)?;
                Ok(Some((entry, ItemReader::new(&item).number("rev")?)))
            }
        }
    }

    /// Stores `entry` if the item still has `read_revision`; `Ok(false)` when it lost a race.
    async fn write_certificate(
        &self,
        entry: &LedgerEntry,
        read_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        let item_key = keys::certificate_item(&entry.integration_id, &entry.certificate_id);
        self.put_if_unchanged(encode_certificate(entry), read_revision, &item_key)
            .await
    }

    /// Read, apply a finishing rule (complete/fail), write if unchanged; repeat on a lost race.
    async fn finish_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        rule: impl Fn(Option<LedgerEntry>) -> Result<LedgerEntry, StoreError> + Send + Sync,
    ) -> Result<(), StoreError> {
        for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
            let current = self.read_certificate(integration, certificate).await?;
            let read_revision = current.as_ref().map(|(_, revision)| *revision);
            let next = rule(current.map(|(entry, _)| entry))?;
            if self.write_certificate(&next, read_revision).await? {
                return Ok(());
            }
        }
        Err(contended(&keys::certificate_item(integration, certificate)))
    }

    /// The record and its version, read consistently.
    async fn read_integration(
        &self,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        self.get(id, keys::INTEGRATION_SORT)
            .await?
            .map(|item| decode_integration(&item))
            .transpose()
    }

    fn transact_put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
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

    fn transact_delete(&self, pk: String, sk: String) -> Result<TransactWriteItem, StoreError> {
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

    /// The record's own item, written only if the stored one still has `expected_version`
    /// (`None`: absent). The first item of every integration transaction.
    fn put_record(
        &self,
        record: &IntegrationRecord,
        expected_version: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table_name)
            .set_item(Some(encode_integration(record)?));
        let put = match expected_version {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(invalid_request)?)
            .build())
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

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

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
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(encode_link(link)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match expected_version {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(version) => request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) => {
                // The stored item comes back with the refusal: name its version in the conflict.
                if let Some(
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                        refused,
                    ),
                ) = error.as_service_error()
                {
                    let stored = refused
                        .item()
                        .and_then(|item| ItemReader::new(item).number::<u64>("version").ok());
                    let conflict = rules::check_link_version(link, expected_version, stored)
                        .err()
                        .unwrap_or_else(|| {
                            StoreError::Conflict(format!(
                                "{item_key}: the conditional write was refused"
                            ))
                        });
                    return Err(conflict);
                }
                Err(sdk_error("PutItem", &item_key, error))
            }
        }
    }
}

#[async_trait]
impl RunStore for DynamoStore {
    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let integration = &run.integration_id;
        let header_sort = keys::run_sort(run.started_at, &run.run_id);
        let header_key = keys::item(integration, &header_sort);
        let json = serde_json::to_vec(run).map_err(|error| StoreError::Corrupt {
            key: header_key.clone(),
            reason: format!("run record cannot be serialised: {error}"),
        })?;
        let expires_at = n(Utc::now()
            .checked_add_signed(self.run_retention)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .timestamp());

        // What the previous write of this run left behind, to clean up after the switch.
        let pointer_sort = run_pointer_sort(&run.run_id);
        let previous = match self.get(integration, &pointer_sort).await? {
            Some(item) => Some(decode_pointer(&item)?),
            None => None,
        };

        let mut header: Item = HashMap::from([
            ("pk".into(), s(keys::partition(integration))),
            ("sk".into(), s(&header_sort)),
            ("kind".into(), s("run")),
            ("integration_id".into(), s(integration.as_str())),
            ("run_id".into(), s(&run.run_id.0)),
            ("started_at".into(), s(timestamp(run.started_at))),
            ("expires_at".into(), expires_at.clone()),
        ]);
        let mut pointer: Item = HashMap::from([
            ("pk".into(), s(keys::partition(integration))),
            ("sk".into(), s(&pointer_sort)),
            ("kind".into(), s("run_pointer")),
            ("run_sk".into(), s(&header_sort)),
            ("expires_at".into(), expires_at.clone()),
        ]);
        let chunks = if json.len() <= INLINE_RECORD_LIMIT {
            let inline = String::from_utf8(json).map_err(|error| StoreError::Corrupt {
                key: header_key.clone(),
                reason: format!("run record JSON is not UTF-8: {error}"),
            })?;
            header.insert("record".into(), s(inline));
            None
        } else {
            // Too big for one item: chunks of a fresh generation, written before the header
            // that points at them, so a reader never sees a header without its chunks.
            let chunks = ChunkSet {
                generation: uuid::Uuid::new_v4().simple().to_string(),
                count: json.len().div_ceil(INLINE_RECORD_LIMIT),
            };
            let mut requests = Vec::with_capacity(chunks.count);
            for (index, part) in json.chunks(INLINE_RECORD_LIMIT).enumerate() {
                let item: Item = HashMap::from([
                    ("pk".into(), s(keys::partition(integration))),
                    (
                        "sk".into(),
                        s(run_chunk_sort(&run.run_id, &chunks.generation, index)),
                    ),
                    ("kind".into(), s("run_chunk")),
                    ("data".into(), AttributeValue::B(Blob::new(part.to_vec()))),
                    ("expires_at".into(), expires_at.clone()),
                ]);
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(invalid_request)?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            self.batch_write(requests, &header_key).await?;
            for item in [&mut header, &mut pointer] {
                item.insert("chunk_generation".into(), s(&chunks.generation));
                item.insert("chunk_count".into(), n(chunks.count));
            }
            Some(chunks)
        };

        // Header and pointer switch together: `run(id)` and `runs()` agree at every moment.
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table_name)
                        .set_item(Some(item))
                        .build()
                        .map_err(invalid_request)?,
                )
                .build())
        };
        self.client
            .transact_write_items()
            .transact_items(put(header)?)
            .transact_items(put(pointer)?)
            .send()
            .await
            .map_err(|error| sdk_error("TransactWriteItems", &header_key, error))?;

        // Leftovers of the previous write: failures only leave garbage that the TTL removes.
        if let Some(previous) = previous {
            if previous.header_sort != header_sort {
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.table_name)
                    .key("pk", s(keys::partition(integration)))
                    .key("sk", s(&previous.header_sort))
                    .send()
                    .await;
                if let Err(error) = deleted {
                    tracing::warn!(item = %keys::item(integration, &previous.header_sort), error = %classify(&error), "could not delete a replaced run header");
                }
            }
            if let Some(stale) = previous
                .chunks
                .filter(|stale| Some(stale) != chunks.as_ref())
                && let Err(error) = self.delete_chunks(integration, &run.run_id, &stale).await
            {
                tracing::warn!(item = %header_key, %error, "could not delete replaced run chunks");
            }
        }
        Ok(())
    }

    async fn run(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError> {
        let Some(pointer) = self.get(integration, &run_pointer_sort(run_id)).await? else {
            return Ok(None);
        };
        let pointer = decode_pointer(&pointer)?;
        match self.get(integration, &pointer.header_sort).await? {
            Some(header) => self.decode_run(&header).await.map(Some),
            None => Err(StoreError::Corrupt {
                key: keys::item(integration, &run_pointer_sort(run_id)),
                reason: format!("points at {} which does not exist", pointer.header_sort),
            }),
        }
    }

    async fn runs(
        &self,
        integration: &IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let headers = self
            .query_prefix(integration, "RUN#", true, Some(limit), None)
            .await?;
        let mut runs = Vec::with_capacity(headers.len());
        for header in &headers {
            runs.push(self.decode_run(header).await?);
        }
        Ok(runs)
    }
}

#[async_trait]
impl LeaseStore for DynamoStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
            let current = self.read_lease(integration).await?;
            let read_revision = current.as_ref().map(|(_, revision)| *revision);
            let outcome = rules::acquire_lease(
                current.as_ref().map(|(lease, _)| lease),
                integration,
                holder,
                now,
                ttl,
            );
            let LeaseOutcome::Acquired(lease) = &outcome else {
                return Ok(outcome);
            };
            if self
                .put_if_unchanged(
                    Self::lease_item(lease),
                    read_revision,
                    &keys::lease_item(integration),
                )
                .await?
            {
                return Ok(outcome);
            }
            // Another run wrote the lease between our read and write: decide again on what it wrote.
        }
        Err(contended(&keys::lease_item(integration)))
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
            let Some((current, read_revision)) = self.read_lease(integration).await? else {
                return Ok(false);
            };
            let Some(renewed) = rules::renew_lease(Some(&current), holder, now, ttl) else {
                return Ok(false);
            };
            if self
                .put_if_unchanged(
                    Self::lease_item(&renewed),
                    Some(read_revision),
                    &keys::lease_item(integration),
                )
                .await?
            {
                return Ok(true);
            }
        }
        Err(contended(&keys::lease_item(integration)))
    }

    async fn release_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
    ) -> Result<(), StoreError> {
        for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
            let Some((current, read_revision)) = self.read_lease(integration).await? else {
                return Ok(());
            };
            if !rules::releases_lease(Some(&current), holder) {
                return Ok(());
            }
            if self
                .delete_if_unchanged(integration, keys::LEASE_SORT, read_revision)
                .await?
            {
                return Ok(());
            }
        }
        Err(contended(&keys::lease_item(integration)))
    }

    async fn lease(&self, integration: &IntegrationId) -> Result<Option<Lease>, StoreError> {
        Ok(self.read_lease(integration).await?.map(|(lease, _)| lease))
    }
}

#[async_trait]
impl CertificateLedger for DynamoStore {
    async fn claim_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LedgerClaim, StoreError> {
        for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
            let current = self.read_certificate(integration, certificate).await?;
            let read_revision = current.as_ref().map(|(_, revision)| *revision);
            let decision = rules::claim_certificate(
                current.as_ref().map(|(entry, _)| entry),
                integration,
                certificate,
                now,
                ttl,
            );
            let Some(entry) = &decision.store else {
                return Ok(decision.answer);
            };
            if self.write_certificate(entry, read_revision).await? {
                return Ok(decision.answer);
            }
        }
        Err(contended(&keys::certificate_item(integration, certificate)))
    }

    async fn complete_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        document_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_certificate(integration, certificate, |current| {
            rules::complete_certificate(current, integration, certificate, document_id, now)
        })
        .await
    }

    async fn fail_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_certificate(integration, certificate, |current| {
            rules::fail_certificate(current, integration, certificate, reason, now)
        })
        .await
    }

    async fn park_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        job: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
            let current = self.read_certificate(integration, certificate).await?;
            let read_revision = current.as_ref().map(|(_, revision)| *revision);
            let Some(parked) = rules::park_certificate(
                current.map(|(entry, _)| entry),
                integration,
                certificate,
                job,
                now,
            ) else {
                return Ok(false);
            };
            if self.write_certificate(&parked, read_revision).await? {
                return Ok(true);
            }
        }
        Err(contended(&keys::certificate_item(integration, certificate)))
    }

    async fn certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        Ok(self
            .read_certificate(integration, certificate)
            .await?
            .map(|(entry, _)| entry))
    }

    async fn certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        // Sort keys compare as UTF-8 bytes, which is `String`'s order: already by certificate id.
        let items = self
            .query_prefix(integration, "CERT#", false, None, None)
            .await?;
        items.iter().map(decode_certificate).collect()
    }

    async fn parked_certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        // A filter on the partition's certificates: parked entries are few and short-lived,
        // which does not justify a second index.
        let parked = rules::state_name(&LedgerState::Parked {
            job: serde_json::Value::Null,
        });
        let items = self
            .query_prefix(integration, "CERT#", false, None, Some(parked))
            .await?;
        items.iter().map(decode_certificate).collect()
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
        let mut members = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table_name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&partition))
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| sdk_error("Query", &partition, error))?;
            for item in output.items.unwrap_or_default() {
                members.push(IntegrationId::new(
                    ItemReader::new(&item).string("integration_id")?,
                ));
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => break,
            }
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
        let delete_record = Delete::builder()
            .table_name(&self.table_name)
            .key("pk", s(keys::partition(id)))
            .key("sk", s(keys::INTEGRATION_SORT))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(expected_version))
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
        let mut records = Vec::new();
        let mut start_key: Option<Item> = None;
        while records.len() < limit {
            let remaining = limit - records.len();
            let output = self
                .client
                .query()
                .table_name(&self.table_name)
                .index_name(definition.lms_user_index)
                .key_condition_expression("#index_pk = :schedule AND #index_sk < :bound")
                .expression_attribute_names("#index_pk", definition.lms_user_index_partition_key)
                .expression_attribute_names("#index_sk", definition.lms_user_index_sort_key)
                .expression_attribute_values(":schedule", s(SCHEDULE_INDEX_PARTITION))
                .expression_attribute_values(":bound", s(&bound))
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| sdk_error("Query gsi1", SCHEDULE_INDEX_PARTITION, error))?;
            for item in output.items.unwrap_or_default() {
                records.push(decode_integration(&item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => break,
            }
        }
        records.truncate(limit);
        Ok(records)
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
        for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
            let current = self.read_integration(id).await?;
            let Some(claimed) = rules::claim_due_run(current.as_ref(), seen, next) else {
                return Ok(false);
            };
            let read_version = current.map(|record| record.version);
            match self
                .write_integration(id, vec![self.put_record(&claimed, read_version)?])
                .await
            {
                Ok(()) => return Ok(true),
                // Someone wrote in between: decide again on what they wrote.
                Err(StoreError::Conflict(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(contended(&keys::integration_item(id)))
    }
}

// ---- item encoding ---------------------------------------------------------------------------

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Full precision (nanoseconds when present), so a timestamp reads back equal.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn encode_link(link: &EmployeeLink) -> Item {
    let integration = &link.integration_id;
    let sort = keys::link_sort(link.personio_id);
    HashMap::from([
        ("pk".into(), s(keys::partition(integration))),
        ("sk".into(), s(&sort)),
        ("kind".into(), s("link")),
        ("integration_id".into(), s(integration.as_str())),
        ("personio_id".into(), n(link.personio_id.0)),
        ("lms_user_id".into(), s(&link.lms_user_id.0)),
        ("email".into(), s(&link.email)),
        ("profile_hash".into(), s(&link.profile_hash)),
        (
            "groups".into(),
            AttributeValue::L(link.groups.iter().map(s).collect()),
        ),
        ("active".into(), AttributeValue::Bool(link.active)),
        ("updated_at".into(), s(timestamp(link.updated_at))),
        ("version".into(), n(link.version)),
        (
            "gsi1pk".into(),
            s(lms_user_index_key(integration, &link.lms_user_id)),
        ),
        ("gsi1sk".into(), s(sort)),
    ])
}

/// The record as JSON (settings are a deep structure read and written whole), plus the
/// attributes conditions and indexes need. No secret: the record holds only `secret_ref`.
fn encode_integration(record: &IntegrationRecord) -> Result<Item, StoreError> {
    let json = serde_json::to_string(record).map_err(|error| StoreError::Corrupt {
        key: keys::integration_item(&record.id),
        reason: format!("integration record cannot be serialised: {error}"),
    })?;
    let mut item: Item = HashMap::from([
        ("pk".into(), s(keys::partition(&record.id))),
        ("sk".into(), s(keys::INTEGRATION_SORT)),
        ("kind".into(), s("integration")),
        ("integration_id".into(), s(record.id.as_str())),
        ("tenant_id".into(), s(&record.tenant_id)),
        ("version".into(), n(record.version)),
        ("record".into(), s(json)),
    ]);
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
    HashMap::from([
        ("pk".into(), s(tenant_partition(&record.tenant_id))),
        ("sk".into(), s(tenant_member_sort(&record.id))),
        ("kind".into(), s("tenant_integration")),
        ("integration_id".into(), s(record.id.as_str())),
    ])
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
        version: reader.number("version")?,
    })
}

struct RunPointer {
    header_sort: String,
    chunks: Option<ChunkSet>,
}

fn decode_pointer(item: &Item) -> Result<RunPointer, StoreError> {
    let reader = ItemReader::new(item);
    let chunks = match reader.optional_string("chunk_generation")? {
        Some(generation) => Some(ChunkSet {
            generation: generation.to_owned(),
            count: reader.number("chunk_count")?,
        }),
        None => None,
    };
    Ok(RunPointer {
        header_sort: reader.string("run_sk")?.to_owned(),
        chunks,
    })
}

fn encode_certificate(entry: &LedgerEntry) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(keys::partition(&entry.integration_id))),
        (
            "sk".into(),
            s(keys::certificate_sort(&entry.certificate_id)),
        ),
        ("kind".into(), s("certificate")),
        ("integration_id".into(), s(entry.integration_id.as_str())),
        ("certificate_id".into(), s(&entry.certificate_id.0)),
        ("state".into(), s(rules::state_name(&entry.state))),
        ("attempts".into(), n(entry.attempts)),
        ("updated_at".into(), s(timestamp(entry.updated_at))),
    ]);
    // Deliberately not `expires_at`: that is the table's TTL attribute, and TTL must never
    // delete a claim.
    let (name, value) = match &entry.state {
        LedgerState::Parked { job } => ("job", s(job.to_string())),
        LedgerState::InProgress { expires_at } => ("claim_expires_at", s(timestamp(*expires_at))),
        LedgerState::Done { document_id } => ("document_id", s(document_id)),
        LedgerState::Failed { reason } => ("reason", s(reason)),
    };
    item.insert(name.into(), value);
    item
}

fn decode_certificate(item: &Item) -> Result<LedgerEntry, StoreError> {
    let reader = ItemReader::new(item);
    let state = match reader.string("state")? {
        "parked" => LedgerState::Parked {
            job: serde_json::from_str(reader.string("job")?)
                .map_err(|error| reader.corrupt(format!("parked job: {error}")))?,
        },
        "in_progress" => LedgerState::InProgress {
            expires_at: reader.datetime("claim_expires_at")?,
        },
        "done" => LedgerState::Done {
            document_id: reader.string("document_id")?.to_owned(),
        },
        "failed" => LedgerState::Failed {
            reason: reader.string("reason")?.to_owned(),
        },
        other => return Err(reader.corrupt(format!("unknown ledger state `{other}`"))),
    };
    Ok(LedgerEntry {
        integration_id: IntegrationId::new(reader.string("integration_id")?),
        certificate_id: CertificateId(reader.string("certificate_id")?.to_owned()),
        state,
        attempts: reader.number("attempts")?,
        updated_at: reader.datetime("updated_at")?,
    })
}

/// Typed access to an item's attributes; every failure is `Corrupt` naming the item's key.
struct ItemReader<'a> {
    item: &'a Item,
}

impl<'a> ItemReader<'a> {
    fn new(item: &'a Item) -> Self {
        Self { item }
    }

    fn corrupt(&self, reason: String) -> StoreError {
        let key_part = |name: &str| match self.item.get(name) {
            Some(AttributeValue::S(value)) => value.as_str(),
            _ => "?",
        };
        StoreError::Corrupt {
            key: format!("{}/{}", key_part("pk"), key_part("sk")),
            reason,
        }
    }

    fn attribute(&self, name: &str) -> Result<&'a AttributeValue, StoreError> {
        self.item
            .get(name)
            .ok_or_else(|| self.corrupt(format!("attribute `{name}` is missing")))
    }

    fn optional_string(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value)),
            Some(_) => Err(self.corrupt(format!("attribute `{name}` is not a string"))),
        }
    }

    fn string(&self, name: &str) -> Result<&'a str, StoreError> {
        self.optional_string(name)?
            .ok_or_else(|| self.corrupt(format!("attribute `{name}` is missing")))
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        match self.attribute(name)? {
            AttributeValue::N(value) => value
                .parse()
                .map_err(|_| self.corrupt(format!("attribute `{name}` is out of range: {value}"))),
            _ => Err(self.corrupt(format!("attribute `{name}` is not a number"))),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, StoreError> {
        match self.attribute(name)? {
            AttributeValue::Bool(value) => Ok(*value),
            _ => Err(self.corrupt(format!("attribute `{name}` is not a boolean"))),
        }
    }

    fn binary(&self, name: &str) -> Result<&'a [u8], StoreError> {
        match self.attribute(name)? {
            AttributeValue::B(blob) => Ok(blob.as_ref()),
            _ => Err(self.corrupt(format!("attribute `{name}` is not binary"))),
        }
    }

    fn string_list(&self, name: &str) -> Result<BTreeSet<String>, StoreError> {
        match self.attribute(name)? {
            AttributeValue::L(values) => values
                .iter()
                .map(|value| match value {
                    AttributeValue::S(text) => Ok(text.clone()),
                    _ => Err(self.corrupt(format!("attribute `{name}` holds a non-string"))),
                })
                .collect(),
            _ => Err(self.corrupt(format!("attribute `{name}` is not a list"))),
        }
    }

    fn datetime(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        let text = self.string(name)?;
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|error| {
                self.corrupt(format!("attribute `{name}` is not a timestamp: {error}"))
            })
    }
}

// ---- errors ----------------------------------------------------------------------------------

/// Any SDK error of an operation on `item_key`: a failed condition is a conflict, the rest
/// (throttling, 5xx, transport, a missing table) is unavailability.
fn sdk_error<E>(operation: &str, item_key: &str, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(&error) {
        failure if failure.is_code(CONDITION_FAILED) => {
            StoreError::Conflict(format!("{operation} {item_key}: the condition failed"))
        }
        failure => unavailable(operation, item_key, &failure),
    }
}

fn unavailable(operation: &str, item_key: &str, failure: &AwsFailure) -> StoreError {
    StoreError::Unavailable(format!("DynamoDB {operation} {item_key}: {failure}"))
}

fn invalid_request(error: BuildError) -> StoreError {
    StoreError::Unavailable(format!("invalid DynamoDB request: {error}"))
}

fn contended(item_key: &str) -> StoreError {
    StoreError::Conflict(format!(
        "{item_key} kept changing: gave up after {MAX_OPTIMISTIC_ATTEMPTS} attempts"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auxiliary_run_items_are_outside_the_run_listing_prefix() {
        let run_id = RunId("r1".into());
        assert!(!run_pointer_sort(&run_id).starts_with("RUN#"));
        assert!(!run_chunk_sort(&run_id, "g", 0).starts_with("RUN#"));
        assert!(run_chunk_sort(&run_id, "g", 9) < run_chunk_sort(&run_id, "g", 10));
    }

    #[test]
    fn certificate_items_round_trip_in_every_state() {
        let at = DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap_or_default();
        let states = [
            LedgerState::Parked {
                job: serde_json::json!({"certificate_id": "c", "nested": [1, null]}),
            },
            LedgerState::InProgress { expires_at: at },
            LedgerState::Done {
                document_id: "doc-1".into(),
            },
            LedgerState::Failed {
                reason: "Personio: Datei zu groß".into(),
            },
        ];
        for state in states {
            let entry = LedgerEntry {
                integration_id: IntegrationId::new("acme"),
                certificate_id: CertificateId("c-1".into()),
                state,
                attempts: 3,
                updated_at: at,
            };
            let item = encode_certificate(&entry);
            assert!(!item.contains_key(table_definition().ttl_attribute));
            assert_eq!(decode_certificate(&item).unwrap(), entry);
        }
    }

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
        });
        item.insert("version".into(), s("one"));
        let error = decode_link(&item).unwrap_err();
        assert!(
            matches!(&error, StoreError::Corrupt { key, reason } if key == "INT#acme/EMP#7" && reason.contains("version")),
            "{error:?}"
        );
    }
}
