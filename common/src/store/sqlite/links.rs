//! Employee links: table `links`, keyed by `(integration_id, personio_id)`, found by LMS user
//! through `links_by_lms_user`; a write is conditional on the stored `version`.

use super::SqliteStore;
use super::codec::{encode, item_column, stored_version, version_column};
use super::connection::{OperationResult, query_all, query_optional, write_transaction};
use crate::domain::IntegrationId;
use crate::domain::employee::PersonioId;
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::ports::{LinkStore, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

fn link_from_row(integration: &IntegrationId, row: &Row<'_>) -> OperationResult<EmployeeLink> {
    let personio_id = PersonioId(row.get("personio_id")?);
    item_column(row, || keys::link_item(integration, personio_id))
}

fn read_version(connection: &Connection, link: &EmployeeLink) -> OperationResult<Option<u64>> {
    query_optional(
        connection,
        "SELECT version FROM links WHERE integration_id = ?1 AND personio_id = ?2",
        params![link.integration_id.as_str(), link.personio_id.0],
        |row| Ok(stored_version(row.get(0)?)),
    )
}

fn write_link(connection: &Connection, link: &EmployeeLink) -> OperationResult<()> {
    let key = || keys::link_item(&link.integration_id, link.personio_id);
    let item = encode(link, key)?;
    let version = version_column(link.version, key)?;
    connection
        .prepare_cached(
            "INSERT INTO links (integration_id, personio_id, lms_user_id, version, item)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (integration_id, personio_id) DO UPDATE
             SET lms_user_id = excluded.lms_user_id, version = excluded.version,
                 item = excluded.item",
        )?
        .execute(params![
            link.integration_id.as_str(),
            link.personio_id.0,
            link.lms_user_id.0,
            version,
            item
        ])?;
    Ok(())
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn links(&self, integration: &IntegrationId) -> Result<Vec<EmployeeLink>, StoreError> {
        let integration = integration.clone();
        self.call(move |connection| {
            query_all(
                connection,
                "SELECT personio_id, item FROM links WHERE integration_id = ?1 ORDER BY personio_id",
                params![integration.as_str()],
                |row| link_from_row(&integration, row),
            )
        })
        .await
    }

    async fn link(
        &self,
        integration: &IntegrationId,
        personio_id: PersonioId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        let integration = integration.clone();
        self.call(move |connection| {
            query_optional(
                connection,
                "SELECT personio_id, item FROM links
                 WHERE integration_id = ?1 AND personio_id = ?2",
                params![integration.as_str(), personio_id.0],
                |row| link_from_row(&integration, row),
            )
        })
        .await
    }

    async fn link_by_lms_user(
        &self,
        integration: &IntegrationId,
        lms_user_id: &LmsUserId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        let integration = integration.clone();
        let lms_user_id = lms_user_id.clone();
        self.call(move |connection| {
            // Lowest Personio id first, should two links ever name the same LMS user.
            query_optional(
                connection,
                "SELECT personio_id, item FROM links
                 WHERE integration_id = ?1 AND lms_user_id = ?2
                 ORDER BY personio_id LIMIT 1",
                params![integration.as_str(), lms_user_id.0],
                |row| link_from_row(&integration, row),
            )
        })
        .await
    }

    async fn put_link(
        &self,
        link: &EmployeeLink,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let link = link.clone();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let stored = read_version(transaction, &link)?;
                rules::check_link_version(&link, expected_version, stored)?;
                write_link(transaction, &link)
            })
        })
        .await
    }
}
