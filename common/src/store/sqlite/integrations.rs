//! Integration records and the schedule: table `integrations`, keyed by `integration_id`, listed
//! per tenant through `integrations_by_tenant` and due ones through the partial index
//! `integrations_due` (a manual integration has no `next_run_at_us` and is not in it). Writes and
//! the scheduler's claim are decided by `store::rules` inside one write transaction.

use super::SqliteStore;
use super::codec::{encode, item_column, stored_version, version_column};
use super::connection::{OperationResult, query_all, query_optional, write_transaction};
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::ports::{IntegrationStore, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

fn integration_from_row(row: &Row<'_>) -> OperationResult<IntegrationRecord> {
    let id = IntegrationId(row.get("integration_id")?);
    item_column(row, || keys::integration_item(&id))
}

fn read_integration(
    connection: &Connection,
    id: &IntegrationId,
) -> OperationResult<Option<IntegrationRecord>> {
    query_optional(
        connection,
        "SELECT integration_id, item FROM integrations WHERE integration_id = ?1",
        params![id.as_str()],
        integration_from_row,
    )
}

fn read_version(connection: &Connection, id: &IntegrationId) -> OperationResult<Option<u64>> {
    query_optional(
        connection,
        "SELECT version FROM integrations WHERE integration_id = ?1",
        params![id.as_str()],
        |row| Ok(stored_version(row.get(0)?)),
    )
}

fn write_integration(connection: &Connection, record: &IntegrationRecord) -> OperationResult<()> {
    let key = || keys::integration_item(&record.id);
    let item = encode(record, key)?;
    let version = version_column(record.version, key)?;
    connection
        .prepare_cached(
            "INSERT INTO integrations (integration_id, tenant_id, next_run_at_us, version, item)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (integration_id) DO UPDATE
             SET tenant_id = excluded.tenant_id, next_run_at_us = excluded.next_run_at_us,
                 version = excluded.version, item = excluded.item",
        )?
        .execute(params![
            record.id.as_str(),
            record.tenant_id,
            record.next_run_at.map(|next| next.timestamp_micros()),
            version,
            item
        ])?;
    Ok(())
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn integration(
        &self,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        let id = id.clone();
        self.call(move |connection| read_integration(connection, &id))
            .await
    }

    async fn integrations_of_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        let tenant_id = tenant_id.to_owned();
        self.call(move |connection| {
            query_all(
                connection,
                "SELECT integration_id, item FROM integrations WHERE tenant_id = ?1
                 ORDER BY integration_id",
                params![tenant_id],
                integration_from_row,
            )
        })
        .await
    }

    async fn put_integration(
        &self,
        record: &IntegrationRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let record = record.clone();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let stored = read_version(transaction, &record.id)?;
                rules::check_integration_version(&record.id, expected_version, stored)?;
                write_integration(transaction, &record)
            })
        })
        .await
    }

    async fn delete_integration(
        &self,
        id: &IntegrationId,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let id = id.clone();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let stored = read_version(transaction, &id)?;
                rules::check_integration_version(&id, Some(expected_version), stored)?;
                transaction
                    .prepare_cached("DELETE FROM integrations WHERE integration_id = ?1")?
                    .execute(params![id.as_str()])?;
                Ok(())
            })
        })
        .await
    }

    async fn due_integrations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |connection| {
            query_all(
                connection,
                "SELECT integration_id, item FROM integrations
                 WHERE next_run_at_us IS NOT NULL AND next_run_at_us <= ?1
                 ORDER BY next_run_at_us, integration_id LIMIT ?2",
                params![now.timestamp_micros(), limit],
                integration_from_row,
            )
        })
        .await
    }

    async fn claim_due_run(
        &self,
        id: &IntegrationId,
        seen: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let id = id.clone();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let current = read_integration(transaction, &id)?;
                let Some(claimed) = rules::claim_due_run(current.as_ref(), seen, next) else {
                    return Ok(false);
                };
                write_integration(transaction, &claimed)?;
                Ok(true)
            })
        })
        .await
    }
}
