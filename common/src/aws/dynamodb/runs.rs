//! Run records: a header `RUN#{started_at}#{run_id}` per run (listed newest first), a pointer
//! `RUNID#{run_id}` that finds the header without a scan, and, for a record too large for one
//! item, chunks `RUNCHUNK#{run_id}#{generation}#{index}` of its JSON. All of them carry
//! `expires_at` (last write + the store's run retention), so the table's TTL removes old runs.
//!
//! `RUNID#` and `RUNCHUNK#` do not start with `RUN#`, so the run listing never sees them.

use super::codec::{Item, ItemReader, keyed_item, n, s, timestamp};
use super::errors::{invalid_request, sdk_error};
use super::store::DynamoStore;
use crate::aws::classify;
use crate::domain::IntegrationId;
use crate::domain::run::{RunId, RunRecord};
use crate::ports::{RunStore, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use chrono::Utc;

/// A run record's JSON up to this size is stored inside its header item; a larger one is split
/// into chunk items of this size. DynamoDB items are at most 400 KB including attribute names,
/// so this leaves room for the header's other attributes.
const INLINE_RECORD_LIMIT: usize = 350 * 1024;

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

/// Where a run record's outcomes are: inline, or in `count` chunk items of one generation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ChunkSet {
    generation: String,
    count: usize,
}

impl ChunkSet {
    /// Names the chunks in a header or pointer item.
    fn describe_in(&self, item: &mut Item) {
        item.insert("chunk_generation".into(), s(&self.generation));
        item.insert("chunk_count".into(), n(self.count));
    }
}

/// What the `RUNID#` pointer says: the header's sort key, and the chunks if the record has any.
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

/// The header without the record itself (inline `record`, or the chunks' names).
fn header_item(run: &RunRecord, header_sort: &str, expires_at: &AttributeValue) -> Item {
    let integration = &run.integration_id;
    keyed_item(
        keys::partition(integration),
        header_sort,
        "run",
        [
            ("integration_id", s(integration.as_str())),
            ("run_id", s(&run.run_id.0)),
            ("started_at", s(timestamp(run.started_at))),
            ("expires_at", expires_at.clone()),
        ],
    )
}

fn pointer_item(run: &RunRecord, header_sort: &str, expires_at: &AttributeValue) -> Item {
    keyed_item(
        keys::partition(&run.integration_id),
        run_pointer_sort(&run.run_id),
        "run_pointer",
        [
            ("run_sk", s(header_sort)),
            ("expires_at", expires_at.clone()),
        ],
    )
}

impl DynamoStore {
    /// The pointer of `run_id`, if the run was written.
    async fn run_pointer(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
    ) -> Result<Option<RunPointer>, StoreError> {
        self.get(integration, &run_pointer_sort(run_id))
            .await?
            .map(|item| decode_pointer(&item))
            .transpose()
    }

    /// The record a header holds inline or names the chunks of.
    async fn read_run_record(&self, header: &Item) -> Result<RunRecord, StoreError> {
        let reader = ItemReader::new(header);
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
        let prefix = run_chunk_prefix(run_id, &chunks.generation);
        let items = self
            .query_prefix(integration, &prefix, false, None, None)
            .await?;
        if items.len() != chunks.count {
            return Err(StoreError::Corrupt {
                key: keys::item(integration, &prefix),
                reason: format!("expected {} chunks, found {}", chunks.count, items.len()),
            });
        }
        let mut json = Vec::new();
        for item in &items {
            json.extend_from_slice(ItemReader::new(item).binary("data")?);
        }
        Ok(json)
    }

    /// Writes the record's JSON as chunks of a fresh generation. They go in before the header
    /// that points at them, so a reader never sees a header without its chunks.
    async fn write_chunks(
        &self,
        run: &RunRecord,
        json: &[u8],
        expires_at: &AttributeValue,
        header_key: &str,
    ) -> Result<ChunkSet, StoreError> {
        let chunks = ChunkSet {
            generation: uuid::Uuid::new_v4().simple().to_string(),
            count: json.len().div_ceil(INLINE_RECORD_LIMIT),
        };
        let mut requests = Vec::with_capacity(chunks.count);
        for (index, part) in json.chunks(INLINE_RECORD_LIMIT).enumerate() {
            let item = keyed_item(
                keys::partition(&run.integration_id),
                run_chunk_sort(&run.run_id, &chunks.generation, index),
                "run_chunk",
                [
                    ("data", AttributeValue::B(Blob::new(part.to_vec()))),
                    ("expires_at", expires_at.clone()),
                ],
            );
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(invalid_request)?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.batch_write(requests, header_key).await?;
        Ok(chunks)
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

    /// Removes what the previous write of the run left behind once the new header and pointer
    /// are in: its header when the start time (and so the sort key) changed, its chunks when
    /// they are not the current ones. A failure only leaves garbage that the TTL removes.
    async fn delete_replaced(
        &self,
        run: &RunRecord,
        previous: RunPointer,
        header_sort: &str,
        chunks: Option<&ChunkSet>,
    ) {
        let integration = &run.integration_id;
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
        if let Some(stale) = previous.chunks.filter(|stale| Some(stale) != chunks)
            && let Err(error) = self.delete_chunks(integration, &run.run_id, &stale).await
        {
            let header_key = keys::item(integration, header_sort);
            tracing::warn!(item = %header_key, %error, "could not delete replaced run chunks");
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
        let expires_at = n(rules::expiry(Utc::now(), self.run_retention).timestamp());

        // What the previous write of this run left behind, to clean up after the switch.
        let previous = self.run_pointer(integration, &run.run_id).await?;

        let mut header = header_item(run, &header_sort, &expires_at);
        let mut pointer = pointer_item(run, &header_sort, &expires_at);
        let chunks = if json.len() <= INLINE_RECORD_LIMIT {
            let inline = String::from_utf8(json).map_err(|error| StoreError::Corrupt {
                key: header_key.clone(),
                reason: format!("run record JSON is not UTF-8: {error}"),
            })?;
            header.insert("record".into(), s(inline));
            None
        } else {
            let chunks = self
                .write_chunks(run, &json, &expires_at, &header_key)
                .await?;
            chunks.describe_in(&mut header);
            chunks.describe_in(&mut pointer);
            Some(chunks)
        };

        // Header and pointer switch together: `run(id)` and `runs()` agree at every moment.
        self.client
            .transact_write_items()
            .transact_items(self.transact_put(header)?)
            .transact_items(self.transact_put(pointer)?)
            .send()
            .await
            .map_err(|error| sdk_error("TransactWriteItems", &header_key, error))?;

        if let Some(previous) = previous {
            self.delete_replaced(run, previous, &header_sort, chunks.as_ref())
                .await;
        }
        Ok(())
    }

    async fn run(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError> {
        let Some(pointer) = self.run_pointer(integration, run_id).await? else {
            return Ok(None);
        };
        match self.get(integration, &pointer.header_sort).await? {
            Some(header) => self.read_run_record(&header).await.map(Some),
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
            runs.push(self.read_run_record(header).await?);
        }
        Ok(runs)
    }
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
}
