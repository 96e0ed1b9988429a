//! The audit trail: one `AUDIT#{at}#{entry_id}` item per entry in its integration's partition,
//! holding the entry as JSON (`entry`) plus `tenant_id` for people reading the table, and
//! `expires_at` (epoch seconds) when the entry has a retention, for the table's TTL. Entries are
//! only ever appended (a put on a key that exists is refused). TTL deletes within days of
//! expiry, so the listing leaves out expired entries itself.

use super::codec::{Item, ItemReader, keyed_item, n, s};
use super::errors::sdk_error;
use super::store::DynamoStore;
use crate::domain::IntegrationId;
use crate::domain::audit::{AuditEntry, AuditPage};
use crate::ports::{AuditLog, AuditQuery, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use std::collections::HashMap;

fn encode_entry(entry: &AuditEntry) -> Result<Item, StoreError> {
    let key = || keys::audit_item(&entry.integration_id, entry.at, &entry.entry_id);
    let json = serde_json::to_string(entry).map_err(|error| StoreError::Corrupt {
        key: key(),
        reason: format!("audit entry cannot be serialised: {error}"),
    })?;
    let mut item = keyed_item(
        keys::partition(&entry.integration_id),
        keys::audit_sort(entry.at, &entry.entry_id),
        "audit",
        [("tenant_id", s(&entry.tenant_id)), ("entry", s(json))],
    );
    if let Some(expires_at) = entry.expires_at {
        // TTL reads whole seconds; rounded up, so that TTL never deletes an entry early.
        let seconds = expires_at.timestamp() + i64::from(expires_at.timestamp_subsec_nanos() > 0);
        item.insert("expires_at".into(), n(seconds));
    }
    Ok(item)
}

fn decode_entry(item: &Item) -> Result<AuditEntry, StoreError> {
    let reader = ItemReader::new(item);
    serde_json::from_str(reader.string("entry")?)
        .map_err(|error| reader.corrupt(format!("audit entry: {error}")))
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let item = encode_entry(entry)?;
        self.client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|error| {
                sdk_error(
                    "PutItem",
                    &keys::audit_item(&entry.integration_id, entry.at, &entry.entry_id),
                    error,
                )
            })?;
        Ok(())
    }

    async fn audit_entries(
        &self,
        integration: &IntegrationId,
        query: &AuditQuery,
    ) -> Result<AuditPage, StoreError> {
        let partition = keys::partition(integration);
        // The page, and one more live entry to know whether another page follows.
        let wanted = query.limit.max(1).saturating_add(1);
        let mut start_key: Option<Item> = query.after.as_ref().map(|after| {
            HashMap::from([
                ("pk".to_owned(), s(&partition)),
                (
                    "sk".to_owned(),
                    s(keys::audit_sort(after.at, &after.entry_id)),
                ),
            ])
        });
        let what = keys::item(integration, &format!("{}*", keys::AUDIT_PREFIX));
        let mut live = Vec::with_capacity(wanted);
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table_name)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&partition))
                .expression_attribute_values(":prefix", s(keys::AUDIT_PREFIX))
                .consistent_read(true)
                .scan_index_forward(false)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| sdk_error("Query", &what, error))?;
            for item in output.items.unwrap_or_default() {
                let entry = decode_entry(&item)?;
                if !entry.is_expired(query.now) {
                    live.push(entry);
                }
            }
            if live.len() >= wanted {
                break;
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => break,
            }
        }
        Ok(rules::audit_page(live, query))
    }
}
