//! The audit trail: table `audit`, keyed by `(integration_id, at_us, entry_id)` so that the
//! primary key lists an integration's trail in time order. Expired entries are pruned on every
//! write (through `audit_expiry`) and never listed.

use super::SqliteStore;
use super::codec::{encode, item_column};
use super::connection::{OperationResult, query_all, write_transaction};
use crate::domain::IntegrationId;
use crate::domain::audit::{AuditEntry, AuditPage};
use crate::ports::{AuditLog, AuditQuery, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use chrono::DateTime;
use rusqlite::params;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.call(move |connection| {
            let key = || keys::audit_item(&entry.integration_id, entry.at, &entry.entry_id);
            let item = encode(&entry, key)?;
            write_transaction(connection, |transaction| {
                transaction
                    .prepare_cached("DELETE FROM audit WHERE expires_at_us <= ?1")?
                    .execute(params![entry.at.timestamp_micros()])?;
                transaction
                    .prepare_cached(
                        "INSERT INTO audit (integration_id, at_us, entry_id, expires_at_us, item)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        entry.integration_id.as_str(),
                        entry.at.timestamp_micros(),
                        entry.entry_id,
                        entry.expires_at.map(|expires| expires.timestamp_micros()),
                        item
                    ])?;
                Ok(())
            })
        })
        .await
    }

    async fn audit_entries(
        &self,
        integration: &IntegrationId,
        query: &AuditQuery,
    ) -> Result<AuditPage, StoreError> {
        let integration = integration.clone();
        let (after_us, after_id) = match &query.after {
            Some(after) => (
                Some(after.at.timestamp_micros()),
                Some(after.entry_id.clone()),
            ),
            None => (None, None),
        };
        let now_us = query.now.timestamp_micros();
        // One more than the page, so that the page knows whether another follows.
        let fetch = i64::try_from(query.limit.max(1).saturating_add(1)).unwrap_or(i64::MAX);
        let entries = self
            .call(move |connection| -> OperationResult<Vec<AuditEntry>> {
                query_all(
                    connection,
                    "SELECT at_us, entry_id, item FROM audit
                     WHERE integration_id = ?1
                       AND (?2 IS NULL OR (at_us, entry_id) < (?2, ?3))
                       AND (expires_at_us IS NULL OR expires_at_us > ?4)
                     ORDER BY at_us DESC, entry_id DESC LIMIT ?5",
                    params![integration.as_str(), after_us, after_id, now_us, fetch],
                    |row| {
                        let at_us: i64 = row.get("at_us")?;
                        let entry_id: String = row.get("entry_id")?;
                        // The key as the other backends name it; a time out of range as stored.
                        item_column(row, || match DateTime::from_timestamp_micros(at_us) {
                            Some(at) => keys::audit_item(&integration, at, &entry_id),
                            None => keys::item(
                                &integration,
                                &format!("{}{at_us}#{entry_id}", keys::AUDIT_PREFIX),
                            ),
                        })
                    },
                )
            })
            .await?;
        Ok(rules::audit_page(entries, query))
    }
}
