//! The certificate ledger: table `certificates`, keyed by `(integration_id, certificate_id)`,
//! the parked ones found through the partial index `certificates_parked`. Every transition is
//! decided by `store::rules` on the entry read inside the same write transaction.

use super::SqliteStore;
use super::codec::{encode, item_column};
use super::connection::{OperationResult, query_all, query_optional, write_transaction};
use crate::domain::IntegrationId;
use crate::domain::certificate::{
    CertificateId, Claim, ClaimToken, LedgerClaim, LedgerEntry, LedgerState, ParkAnswer, Parking,
};
use crate::ports::{CertificateLedger, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

fn entry_from_row(integration: &IntegrationId, row: &Row<'_>) -> OperationResult<LedgerEntry> {
    let certificate = CertificateId(row.get("certificate_id")?);
    item_column(row, || keys::certificate_item(integration, &certificate))
}

fn read_entry(
    connection: &Connection,
    integration: &IntegrationId,
    certificate: &CertificateId,
) -> OperationResult<Option<LedgerEntry>> {
    query_optional(
        connection,
        "SELECT certificate_id, item FROM certificates
         WHERE integration_id = ?1 AND certificate_id = ?2",
        params![integration.as_str(), certificate.0],
        |row| entry_from_row(integration, row),
    )
}

fn write_entry(connection: &Connection, entry: &LedgerEntry) -> OperationResult<()> {
    let item = encode(entry, || {
        keys::certificate_item(&entry.integration_id, &entry.certificate_id)
    })?;
    let parked = matches!(entry.state, LedgerState::Parked { .. });
    connection
        .prepare_cached(
            "INSERT INTO certificates (integration_id, certificate_id, parked, item)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (integration_id, certificate_id) DO UPDATE
             SET parked = excluded.parked, item = excluded.item",
        )?
        .execute(params![
            entry.integration_id.as_str(),
            entry.certificate_id.0,
            parked,
            item
        ])?;
    Ok(())
}

impl SqliteStore {
    /// Reads one certificate, lets `decide` turn it into the answer and the entry to store (if
    /// any), stores it: one write transaction.
    async fn update_entry<T, F>(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        decide: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(
                Option<LedgerEntry>,
                &IntegrationId,
                &CertificateId,
            ) -> Result<(T, Option<LedgerEntry>), StoreError>
            + Send
            + 'static,
    {
        let integration = integration.clone();
        let certificate = certificate.clone();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let current = read_entry(transaction, &integration, &certificate)?;
                let (answer, next) = decide(current, &integration, &certificate)?;
                if let Some(entry) = next {
                    write_entry(transaction, &entry)?;
                }
                Ok(answer)
            })
        })
        .await
    }

    /// Finishes an in-progress entry by `finish`: `rules::complete_certificate` with the
    /// document id, or `rules::fail_certificate` with the reason.
    async fn finish_entry<F>(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        finish: F,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(
                Option<LedgerEntry>,
                &IntegrationId,
                &CertificateId,
                &ClaimToken,
                &str,
                DateTime<Utc>,
            ) -> Result<LedgerEntry, StoreError>
            + Send
            + 'static,
    {
        let detail = detail.to_owned();
        let holder = holder.clone();
        self.update_entry(integration, certificate, move |current, id, certificate| {
            let finished = finish(current, id, certificate, &holder, &detail, now)?;
            Ok(((), Some(finished)))
        })
        .await
    }

    async fn list_entries(
        &self,
        integration: &IntegrationId,
        parked_only: bool,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let integration = integration.clone();
        self.call(move |connection| {
            // Two literal statements so that the parked one can use the partial index.
            let sql = if parked_only {
                "SELECT certificate_id, item FROM certificates
                 WHERE integration_id = ?1 AND parked = 1 ORDER BY certificate_id"
            } else {
                "SELECT certificate_id, item FROM certificates
                 WHERE integration_id = ?1 ORDER BY certificate_id"
            };
            query_all(connection, sql, params![integration.as_str()], |row| {
                entry_from_row(&integration, row)
            })
        })
        .await
    }
}

#[async_trait]
impl CertificateLedger for SqliteStore {
    async fn claim_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        claim: &Claim,
    ) -> Result<LedgerClaim, StoreError> {
        let claim = claim.clone();
        self.update_entry(
            integration,
            certificate,
            move |current, integration, certificate| {
                let decision =
                    rules::claim_certificate(current.as_ref(), integration, certificate, &claim);
                Ok((decision.answer, decision.store))
            },
        )
        .await
    }

    async fn complete_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        document_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_entry(
            integration,
            certificate,
            holder,
            rules::complete_certificate,
            document_id,
            now,
        )
        .await
    }

    async fn fail_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_entry(
            integration,
            certificate,
            holder,
            rules::fail_certificate,
            reason,
            now,
        )
        .await
    }

    async fn park_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        parking: &Parking,
    ) -> Result<ParkAnswer, StoreError> {
        let parking = parking.clone();
        self.update_entry(
            integration,
            certificate,
            move |current, integration, certificate| {
                Ok(rules::park_certificate(
                    current,
                    integration,
                    certificate,
                    &parking,
                ))
            },
        )
        .await
    }

    async fn certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let integration = integration.clone();
        let certificate = certificate.clone();
        self.call(move |connection| read_entry(connection, &integration, &certificate))
            .await
    }

    async fn certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.list_entries(integration, false).await
    }

    async fn parked_certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.list_entries(integration, true).await
    }
}
