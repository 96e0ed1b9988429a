//! Run records: table `runs`, keyed by `(integration_id, run_id)`, listed newest first through
//! `runs_newest_first`. A run is written whole each time, without a condition.

use super::SqliteStore;
use super::codec::{encode, item_column};
use super::connection::{OperationResult, query_all, query_optional};
use crate::domain::IntegrationId;
use crate::domain::run::{RunId, RunRecord};
use crate::ports::{RunStore, StoreError};
use crate::store::keys;
use async_trait::async_trait;
use chrono::DateTime;
use rusqlite::{Row, params};

fn run_from_row(integration: &IntegrationId, row: &Row<'_>) -> OperationResult<RunRecord> {
    let run_id = RunId(row.get("run_id")?);
    let started_at_us: i64 = row.get("started_at_us")?;
    // The key as the other backends name it; a start time out of range is named as stored.
    let key = || match DateTime::from_timestamp_micros(started_at_us) {
        Some(started_at) => keys::run_item(integration, started_at, &run_id),
        None => keys::item(integration, &format!("RUN#{started_at_us}#{run_id}")),
    };
    item_column(row, key)
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let run = run.clone();
        self.call(move |connection| {
            let item = encode(&run, || {
                keys::run_item(&run.integration_id, run.started_at, &run.run_id)
            })?;
            connection
                .prepare_cached(
                    "INSERT INTO runs (integration_id, run_id, started_at_us, item)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (integration_id, run_id) DO UPDATE
                     SET started_at_us = excluded.started_at_us, item = excluded.item",
                )?
                .execute(params![
                    run.integration_id.as_str(),
                    run.run_id.0,
                    run.started_at.timestamp_micros(),
                    item
                ])?;
            Ok(())
        })
        .await
    }

    async fn run(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError> {
        let integration = integration.clone();
        let run_id = run_id.clone();
        self.call(move |connection| {
            query_optional(
                connection,
                "SELECT run_id, started_at_us, item FROM runs
                 WHERE integration_id = ?1 AND run_id = ?2",
                params![integration.as_str(), run_id.0],
                |row| run_from_row(&integration, row),
            )
        })
        .await
    }

    async fn runs(
        &self,
        integration: &IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let integration = integration.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |connection| {
            query_all(
                connection,
                "SELECT run_id, started_at_us, item FROM runs WHERE integration_id = ?1
                 ORDER BY started_at_us DESC, run_id DESC LIMIT ?2",
                params![integration.as_str(), limit],
                |row| run_from_row(&integration, row),
            )
        })
        .await
    }
}
