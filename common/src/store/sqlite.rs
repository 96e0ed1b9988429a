//! Embedded SQLite state store: the CLI's default.
//!
//! It mirrors DESIGN.md's single table with one table per item kind, each keyed by
//! `(integration_id, <sort key>)` like the DynamoDB items (`INT#{id}` / `EMP#…`, `RUN#…`, `LEASE`,
//! `CERT#…`). Items are stored whole as JSON (`item`), so a new optional field needs no
//! migration; the other columns exist only for keys, indexes and conditions.
//!
//! Access patterns:
//! - links: all of an integration (primary key prefix); one by Personio id (primary key); one by
//!   LMS user id (`links_by_lms_user`); conditional write on `version`.
//! - runs: one by run id (primary key); newest first by start time (`runs_newest_first`).
//! - leases: one per integration (primary key); read-decide-write in one transaction.
//! - certificates: one by id (primary key); all in id order (primary key prefix); the parked
//!   ones in id order (partial index `certificates_parked`); read-decide-write in one transaction.
//! - integrations: one by id (primary key); a tenant's in id order (`integrations_by_tenant`);
//!   the due ones earliest first (partial index `integrations_due`, manual ones are not in it);
//!   conditional write and the scheduler's claim as read-decide-write in one transaction.
//!
//! rusqlite is synchronous: every call runs on tokio's blocking pool, on the one connection
//! behind a std mutex. Writes that read first take the write lock up front (`BEGIN IMMEDIATE`),
//! so they stay atomic even when another process uses the same file.

use super::{keys, rules};
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
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Long enough to ride out another process's write transaction (a CLI run next to a demo),
/// short enough that a stuck lock surfaces as a retryable `Unavailable`.
const DEFAULT_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Schema migrations; `PRAGMA user_version` counts the ones applied. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE links (
    integration_id TEXT NOT NULL,
    personio_id INTEGER NOT NULL,
    lms_user_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (integration_id, personio_id)
) WITHOUT ROWID;
CREATE INDEX links_by_lms_user ON links (integration_id, lms_user_id, personio_id);

CREATE TABLE runs (
    integration_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    started_at_us INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (integration_id, run_id)
);
CREATE INDEX runs_newest_first ON runs (integration_id, started_at_us DESC, run_id DESC);

CREATE TABLE leases (
    integration_id TEXT NOT NULL PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_us INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE certificates (
    integration_id TEXT NOT NULL,
    certificate_id TEXT NOT NULL,
    parked INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (integration_id, certificate_id)
) WITHOUT ROWID;
CREATE INDEX certificates_parked ON certificates (integration_id, certificate_id) WHERE parked = 1;
"#,
    r#"
CREATE TABLE integrations (
    integration_id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    next_run_at_us INTEGER,
    version INTEGER NOT NULL,
    item TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX integrations_by_tenant ON integrations (tenant_id, integration_id);
CREATE INDEX integrations_due ON integrations (next_run_at_us, integration_id)
    WHERE next_run_at_us IS NOT NULL;
"#,
];

#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    /// The file path (or `:memory:`), for error messages.
    database: Arc<str>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// What a blocking operation can fail with, before SQLite errors are mapped with the database
/// name they concern.
#[derive(Debug, thiserror::Error)]
enum OperationError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OperationError {
    fn into_store_error(self, database: &str) -> StoreError {
        match self {
            Self::Sqlite(error) => map_sqlite(database, error),
            Self::Store(error) => error,
        }
    }
}

type OperationResult<T> = Result<T, OperationError>;

impl SqliteStore {
    /// Opens (creating it and its parent directories on first use) and migrates the database file.
    /// Blocking: call it at startup, not on a hot async path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_busy_timeout(path.as_ref(), DEFAULT_BUSY_TIMEOUT)
    }

    /// A private, empty database that lives as long as the store (and its clones).
    pub fn in_memory() -> Result<Self, StoreError> {
        let database = ":memory:";
        let connection = Connection::open_in_memory().map_err(|e| map_sqlite(database, e))?;
        Self::prepare(connection, database, DEFAULT_BUSY_TIMEOUT)
    }

    fn open_with_busy_timeout(
        path: &Path,
        busy_timeout: std::time::Duration,
    ) -> Result<Self, StoreError> {
        let database = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the directory {} for the state database: {e}",
                    parent.display()
                ))
            })?;
        }
        let connection = Connection::open(path).map_err(|e| map_sqlite(&database, e))?;
        Self::prepare(connection, &database, busy_timeout)
    }

    fn prepare(
        mut connection: Connection,
        database: &str,
        busy_timeout: std::time::Duration,
    ) -> Result<Self, StoreError> {
        configure_and_migrate(&mut connection, database, busy_timeout)
            .map_err(|e| e.into_store_error(database))?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            database: database.into(),
        })
    }

    /// Runs `operation` on the connection on tokio's blocking pool.
    async fn call<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> OperationResult<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        let outcome = tokio::task::spawn_blocking(move || {
            // A panic inside an operation rolled its transaction back when it unwound, so the
            // connection behind a poisoned mutex is still in a clean state.
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            operation(&mut connection)
        })
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "a SQLite operation on {} did not finish: {e}",
                self.database
            ))
        })?;
        outcome.map_err(|e| e.into_store_error(&self.database))
    }
}

fn configure_and_migrate(
    connection: &mut Connection,
    database: &str,
    busy_timeout: std::time::Duration,
) -> OperationResult<()> {
    connection.busy_timeout(busy_timeout)?;
    // An in-memory database answers "memory" and stays so; that is fine.
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    // With WAL, NORMAL loses at most the last commits on power loss, never consistency; it
    // is what makes thousands of single-link commits per run cheap.
    connection.pragma_update(None, "synchronous", "NORMAL")?;

    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let applied: i64 = transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len();
    let applied = usize::try_from(applied)
        .ok()
        .filter(|applied| *applied <= known)
        .ok_or_else(|| StoreError::Corrupt {
            key: database.to_owned(),
            reason: format!(
                "schema version {applied} is not one this build knows (0 to {known}); \
                 a newer build may have written it"
            ),
        })?;
    for migration in &MIGRATIONS[applied..] {
        transaction.execute_batch(migration)?;
    }
    // `known` is a small constant count; it always fits.
    transaction.pragma_update(None, "user_version", known as i64)?;
    transaction.commit()?;
    Ok(())
}

/// Busy and locked databases are worth retrying; a damaged file is corrupt; everything else
/// (I/O, permissions, a full disk) makes the store unavailable.
fn map_sqlite(database: &str, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!("SQLite database {database} is busy: {error}"))
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            key: database.to_owned(),
            reason: error.to_string(),
        },
        _ => StoreError::Unavailable(format!("SQLite database {database}: {error}")),
    }
}

/// Runs `operation` in a transaction that holds the write lock from its first read.
fn write_transaction<T>(
    connection: &mut Connection,
    operation: impl FnOnce(&Transaction<'_>) -> OperationResult<T>,
) -> OperationResult<T> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = operation(&transaction)?;
    transaction.commit()?;
    Ok(value)
}

fn decode<T: DeserializeOwned>(json: &str, key: impl FnOnce() -> String) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key(),
        reason: format!("unreadable JSON: {e}"),
    })
}

fn encode<T: Serialize>(value: &T, key: impl FnOnce() -> String) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        key: key(),
        reason: format!("cannot be serialised: {e}"),
    })
}

fn micros_to_time(micros: i64, key: impl FnOnce() -> String) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt {
        key: key(),
        reason: format!("timestamp {micros} µs is out of range"),
    })
}

/// SQLite integers are signed; a version beyond `i64::MAX` can neither be stored nor match.
fn version_column(link: &EmployeeLink) -> Result<i64, StoreError> {
    i64::try_from(link.version).map_err(|_| {
        StoreError::Conflict(format!(
            "link {} version {} is too large to store",
            keys::link_item(&link.integration_id, link.personio_id),
            link.version
        ))
    })
}

fn integration_from_row(row: &rusqlite::Row<'_>) -> OperationResult<IntegrationRecord> {
    let id = IntegrationId(row.get("integration_id")?);
    let item: String = row.get("item")?;
    Ok(decode(&item, || keys::integration_item(&id))?)
}

fn read_integration(
    connection: &Connection,
    id: &IntegrationId,
) -> OperationResult<Option<IntegrationRecord>> {
    connection
        .prepare_cached("SELECT integration_id, item FROM integrations WHERE integration_id = ?1")?
        .query_row(params![id.as_str()], |row| Ok(integration_from_row(row)))
        .optional()?
        .transpose()
}

/// The stored version, as `put_link` reads it: a negative one matches no expectation.
fn read_integration_version(
    connection: &Connection,
    id: &IntegrationId,
) -> OperationResult<Option<u64>> {
    let stored: Option<i64> = connection
        .prepare_cached("SELECT version FROM integrations WHERE integration_id = ?1")?
        .query_row(params![id.as_str()], |row| row.get(0))
        .optional()?;
    Ok(stored.map(|v| u64::try_from(v).unwrap_or(u64::MAX)))
}

fn write_integration(connection: &Connection, record: &IntegrationRecord) -> OperationResult<()> {
    let key = || keys::integration_item(&record.id);
    let item = encode(record, key)?;
    let version = i64::try_from(record.version).map_err(|_| {
        StoreError::Conflict(format!(
            "{} version {} is too large to store",
            key(),
            record.version
        ))
    })?;
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

fn link_from_row(
    integration: &IntegrationId,
    row: &rusqlite::Row<'_>,
) -> OperationResult<EmployeeLink> {
    let personio_id: i64 = row.get("personio_id")?;
    let item: String = row.get("item")?;
    Ok(decode(&item, || {
        keys::link_item(integration, PersonioId(personio_id))
    })?)
}

fn run_from_row(
    integration: &IntegrationId,
    row: &rusqlite::Row<'_>,
) -> OperationResult<RunRecord> {
    let run_id = RunId(row.get("run_id")?);
    let started_at_us: i64 = row.get("started_at_us")?;
    let item: String = row.get("item")?;
    let key = || match DateTime::from_timestamp_micros(started_at_us) {
        Some(started_at) => keys::run_item(integration, started_at, &run_id),
        None => keys::item(integration, &format!("RUN#{started_at_us}#{run_id}")),
    };
    Ok(decode(&item, key)?)
}

fn entry_from_row(
    integration: &IntegrationId,
    row: &rusqlite::Row<'_>,
) -> OperationResult<LedgerEntry> {
    let certificate = CertificateId(row.get("certificate_id")?);
    let item: String = row.get("item")?;
    Ok(decode(&item, || {
        keys::certificate_item(integration, &certificate)
    })?)
}

fn read_lease(
    connection: &Connection,
    integration: &IntegrationId,
) -> OperationResult<Option<Lease>> {
    let stored = connection
        .prepare_cached("SELECT holder, expires_at_us FROM leases WHERE integration_id = ?1")?
        .query_row(params![integration.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?;
    let Some((holder, expires_at_us)) = stored else {
        return Ok(None);
    };
    let expires_at = micros_to_time(expires_at_us, || keys::lease_item(integration))?;
    Ok(Some(Lease {
        integration_id: integration.clone(),
        holder,
        expires_at,
    }))
}

fn write_lease(connection: &Connection, lease: &Lease) -> OperationResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO leases (integration_id, holder, expires_at_us) VALUES (?1, ?2, ?3)
             ON CONFLICT (integration_id) DO UPDATE
             SET holder = excluded.holder, expires_at_us = excluded.expires_at_us",
        )?
        .execute(params![
            lease.integration_id.as_str(),
            lease.holder,
            lease.expires_at.timestamp_micros()
        ])?;
    Ok(())
}

fn read_entry(
    connection: &Connection,
    integration: &IntegrationId,
    certificate: &CertificateId,
) -> OperationResult<Option<LedgerEntry>> {
    connection
        .prepare_cached(
            "SELECT certificate_id, item FROM certificates
             WHERE integration_id = ?1 AND certificate_id = ?2",
        )?
        .query_row(params![integration.as_str(), certificate.0], |row| {
            Ok(entry_from_row(integration, row))
        })
        .optional()?
        .transpose()
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

#[async_trait]
impl LinkStore for SqliteStore {
    async fn links(&self, integration: &IntegrationId) -> Result<Vec<EmployeeLink>, StoreError> {
        let integration = integration.clone();
        self.call(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT personio_id, item FROM links WHERE integration_id = ?1 ORDER BY personio_id",
            )?;
            let rows = statement.query_map(params![integration.as_str()], |row| {
                Ok(link_from_row(&integration, row))
            })?;
            rows.map(|row| row?).collect()
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
            connection
                .prepare_cached(
                    "SELECT personio_id, item FROM links
                     WHERE integration_id = ?1 AND personio_id = ?2",
                )?
                .query_row(params![integration.as_str(), personio_id.0], |row| {
                    Ok(link_from_row(&integration, row))
                })
                .optional()?
                .transpose()
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
            connection
                .prepare_cached(
                    "SELECT personio_id, item FROM links
                     WHERE integration_id = ?1 AND lms_user_id = ?2
                     ORDER BY personio_id LIMIT 1",
                )?
                .query_row(params![integration.as_str(), lms_user_id.0], |row| {
                    Ok(link_from_row(&integration, row))
                })
                .optional()?
                .transpose()
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
            let item = encode(&link, || {
                keys::link_item(&link.integration_id, link.personio_id)
            })?;
            let version = version_column(&link)?;
            write_transaction(connection, |transaction| {
                let stored: Option<i64> = transaction
                    .prepare_cached(
                        "SELECT version FROM links WHERE integration_id = ?1 AND personio_id = ?2",
                    )?
                    .query_row(
                        params![link.integration_id.as_str(), link.personio_id.0],
                        |row| row.get(0),
                    )
                    .optional()?;
                // A negative stored version matches no expectation, like any other mismatch.
                let stored = stored.map(|v| u64::try_from(v).unwrap_or(u64::MAX));
                rules::check_link_version(&link, expected_version, stored)?;
                transaction
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
            })
        })
        .await
    }
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
            connection
                .prepare_cached(
                    "SELECT run_id, started_at_us, item FROM runs
                     WHERE integration_id = ?1 AND run_id = ?2",
                )?
                .query_row(params![integration.as_str(), run_id.0], |row| {
                    Ok(run_from_row(&integration, row))
                })
                .optional()?
                .transpose()
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
            let mut statement = connection.prepare_cached(
                "SELECT run_id, started_at_us, item FROM runs WHERE integration_id = ?1
                 ORDER BY started_at_us DESC, run_id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![integration.as_str(), limit], |row| {
                Ok(run_from_row(&integration, row))
            })?;
            rows.map(|row| row?).collect()
        })
        .await
    }
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let integration = integration.clone();
        let holder = holder.to_owned();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let current = read_lease(transaction, &integration)?;
                let outcome =
                    rules::acquire_lease(current.as_ref(), &integration, &holder, now, ttl);
                if let LeaseOutcome::Acquired(lease) = &outcome {
                    write_lease(transaction, lease)?;
                }
                Ok(outcome)
            })
        })
        .await
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let integration = integration.clone();
        let holder = holder.to_owned();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let current = read_lease(transaction, &integration)?;
                let Some(renewed) = rules::renew_lease(current.as_ref(), &holder, now, ttl) else {
                    return Ok(false);
                };
                write_lease(transaction, &renewed)?;
                Ok(true)
            })
        })
        .await
    }

    async fn release_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let integration = integration.clone();
        let holder = holder.to_owned();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let current = read_lease(transaction, &integration)?;
                if rules::releases_lease(current.as_ref(), &holder) {
                    transaction
                        .prepare_cached("DELETE FROM leases WHERE integration_id = ?1")?
                        .execute(params![integration.as_str()])?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn lease(&self, integration: &IntegrationId) -> Result<Option<Lease>, StoreError> {
        let integration = integration.clone();
        self.call(move |connection| read_lease(connection, &integration))
            .await
    }
}

#[async_trait]
impl CertificateLedger for SqliteStore {
    async fn claim_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LedgerClaim, StoreError> {
        let (owned_integration, owned_certificate) = (integration.clone(), certificate.clone());
        self.update_entry(integration, certificate, move |current| {
            let decision = rules::claim_certificate(
                current.as_ref(),
                &owned_integration,
                &owned_certificate,
                now,
                ttl,
            );
            Ok((decision.answer, decision.store))
        })
        .await
    }

    async fn complete_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        document_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (owned_integration, owned_certificate) = (integration.clone(), certificate.clone());
        let document_id = document_id.to_owned();
        self.update_entry(integration, certificate, move |current| {
            let done = rules::complete_certificate(
                current,
                &owned_integration,
                &owned_certificate,
                &document_id,
                now,
            )?;
            Ok(((), Some(done)))
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
        let (owned_integration, owned_certificate) = (integration.clone(), certificate.clone());
        let reason = reason.to_owned();
        self.update_entry(integration, certificate, move |current| {
            let failed = rules::fail_certificate(
                current,
                &owned_integration,
                &owned_certificate,
                &reason,
                now,
            )?;
            Ok(((), Some(failed)))
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
        let (owned_integration, owned_certificate) = (integration.clone(), certificate.clone());
        let job = job.clone();
        self.update_entry(integration, certificate, move |current| {
            let parked =
                rules::park_certificate(current, &owned_integration, &owned_certificate, &job, now);
            Ok((parked.is_some(), parked))
        })
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
            let mut statement = connection.prepare_cached(
                "SELECT integration_id, item FROM integrations WHERE tenant_id = ?1
                 ORDER BY integration_id",
            )?;
            let rows =
                statement.query_map(params![tenant_id], |row| Ok(integration_from_row(row)))?;
            rows.map(|row| row?).collect()
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
                let stored = read_integration_version(transaction, &record.id)?;
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
                let stored = read_integration_version(transaction, &id)?;
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
            let mut statement = connection.prepare_cached(
                "SELECT integration_id, item FROM integrations
                 WHERE next_run_at_us IS NOT NULL AND next_run_at_us <= ?1
                 ORDER BY next_run_at_us, integration_id LIMIT ?2",
            )?;
            let rows = statement.query_map(params![now.timestamp_micros(), limit], |row| {
                Ok(integration_from_row(row))
            })?;
            rows.map(|row| row?).collect()
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

impl SqliteStore {
    /// Reads one certificate, lets `decide` turn it into the entry to store (if any), stores it.
    async fn update_entry<T, F>(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        decide: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Option<LedgerEntry>) -> Result<(T, Option<LedgerEntry>), StoreError>
            + Send
            + 'static,
    {
        let integration = integration.clone();
        let certificate = certificate.clone();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let current = read_entry(transaction, &integration, &certificate)?;
                let (answer, next) = decide(current)?;
                if let Some(entry) = next {
                    write_entry(transaction, &entry)?;
                }
                Ok(answer)
            })
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
            let mut statement = connection.prepare_cached(sql)?;
            let rows = statement.query_map(params![integration.as_str()], |row| {
                Ok(entry_from_row(&integration, row))
            })?;
            rows.map(|row| row?).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    mod in_memory_contract {
        crate::state_store_contract_tests!(((), super::SqliteStore::in_memory().unwrap()));
        crate::integration_store_contract_tests!(((), super::SqliteStore::in_memory().unwrap()));
    }

    mod file_contract {
        crate::state_store_contract_tests!({
            let directory = tempfile::tempdir().unwrap();
            let store = super::SqliteStore::open(directory.path().join("state.sqlite")).unwrap();
            (directory, store)
        });
        crate::integration_store_contract_tests!({
            let directory = tempfile::tempdir().unwrap();
            let store = super::SqliteStore::open(directory.path().join("state.sqlite")).unwrap();
            (directory, store)
        });
    }

    fn acme() -> IntegrationId {
        IntegrationId::new("acme")
    }

    fn link(personio_id: i64) -> EmployeeLink {
        EmployeeLink {
            integration_id: acme(),
            personio_id: PersonioId(personio_id),
            lms_user_id: LmsUserId(format!("lms-{personio_id}")),
            email: format!("e{personio_id}@acme.example"),
            profile_hash: format!("{personio_id:064x}"),
            groups: BTreeSet::from(["Sales".to_owned()]),
            active: true,
            updated_at: DateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    fn run(run_id: &str) -> RunRecord {
        use crate::domain::run::{RunCounts, RunStatus, Trigger};
        RunRecord {
            integration_id: acme(),
            run_id: RunId(run_id.to_owned()),
            trigger: Trigger::Cli,
            dry_run: false,
            started_at: DateTime::UNIX_EPOCH,
            finished_at: None,
            status: RunStatus::Succeeded,
            counts: RunCounts::default(),
            outcomes: Vec::new(),
            notices: Vec::new(),
            error: None,
        }
    }

    #[tokio::test]
    async fn a_reopened_file_store_reads_back_what_was_written() {
        let directory = tempfile::tempdir().unwrap();
        // Parent directories are created on first use.
        let path = directory.path().join("nested/deeper/state.sqlite");
        let now = Utc::now();
        let certificate = CertificateId("c-1".into());
        {
            let store = SqliteStore::open(&path).unwrap();
            store.put_link(&link(1), None).await.unwrap();
            store.put_run(&run("r1")).await.unwrap();
            store
                .acquire_lease(&acme(), "run-1", now, Duration::minutes(15))
                .await
                .unwrap();
            store
                .claim_certificate(&acme(), &certificate, now, Duration::minutes(5))
                .await
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.link(&acme(), PersonioId(1)).await.unwrap(),
            Some(link(1))
        );
        assert_eq!(
            store
                .link_by_lms_user(&acme(), &link(1).lms_user_id)
                .await
                .unwrap(),
            Some(link(1))
        );
        assert_eq!(store.runs(&acme(), 5).await.unwrap(), vec![run("r1")]);
        let refused = store
            .acquire_lease(&acme(), "run-2", now, Duration::minutes(15))
            .await
            .unwrap();
        assert!(matches!(refused, LeaseOutcome::HeldBy(lease) if lease.holder == "run-1"));
        assert_eq!(
            store
                .certificate(&acme(), &certificate)
                .await
                .unwrap()
                .map(|e| e.attempts),
            Some(1)
        );
    }

    #[tokio::test]
    async fn unreadable_stored_items_are_corrupt_and_name_their_key() {
        let store = SqliteStore::in_memory().unwrap();
        store.put_run(&run("r1")).await.unwrap();
        store.put_link(&link(1), None).await.unwrap();
        store
            .claim_certificate(
                &acme(),
                &CertificateId("c-1".into()),
                Utc::now(),
                Duration::minutes(5),
            )
            .await
            .unwrap();
        store
            .call(|connection| {
                connection.execute_batch(
                    "UPDATE runs SET item = '{\"run_id\": 7';
                     UPDATE links SET item = '{}';
                     UPDATE certificates SET item = '[]';",
                )?;
                Ok(())
            })
            .await
            .unwrap();

        let corrupt_key = |result: Result<_, StoreError>| match result {
            Err(StoreError::Corrupt { key, .. }) => key,
            other => panic!("expected a corrupt item, got {other:?}"),
        };
        let run_key = "INT#acme/RUN#1970-01-01T00:00:00.000000Z#r1";
        assert_eq!(
            corrupt_key(store.run(&acme(), &RunId("r1".into())).await.map(|_| ())),
            run_key
        );
        assert_eq!(
            corrupt_key(store.runs(&acme(), 10).await.map(|_| ())),
            run_key
        );
        assert_eq!(
            corrupt_key(store.links(&acme()).await.map(|_| ())),
            "INT#acme/EMP#1"
        );
        let certificate = CertificateId("c-1".into());
        assert_eq!(
            corrupt_key(
                store
                    .claim_certificate(&acme(), &certificate, Utc::now(), Duration::minutes(5))
                    .await
                    .map(|_| ())
            ),
            "INT#acme/CERT#c-1"
        );
        // Other items are unaffected.
        store.put_run(&run("r2")).await.unwrap();
        assert_eq!(
            store.run(&acme(), &RunId("r2".into())).await.unwrap(),
            Some(run("r2"))
        );
    }

    #[tokio::test]
    async fn a_locked_database_is_unavailable_and_retryable() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.sqlite");
        let store =
            SqliteStore::open_with_busy_timeout(&path, std::time::Duration::from_millis(50))
                .unwrap();
        let mut other_process = Connection::open(&path).unwrap();
        let write_lock = other_process
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();

        let error = store.put_link(&link(1), None).await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(error.is_retryable());

        write_lock.rollback().unwrap();
        store.put_link(&link(1), None).await.unwrap();
    }

    // Two stores on one file behave like two processes: separate connections, one file lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_connections_to_one_file_grant_the_lease_once() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.sqlite");
        let stores = [
            SqliteStore::open(&path).unwrap(),
            SqliteStore::open(&path).unwrap(),
        ];
        let now = Utc::now();
        for round in 0..20 {
            let integration = IntegrationId::new(format!("integration-{round}"));
            let attempts = stores.iter().enumerate().map(|(n, store)| {
                let (store, integration) = (store.clone(), integration.clone());
                tokio::spawn(async move {
                    store
                        .acquire_lease(
                            &integration,
                            &format!("run-{n}"),
                            now,
                            Duration::minutes(15),
                        )
                        .await
                })
            });
            let outcomes = futures::future::join_all(attempts).await;
            let count = |acquired: bool| {
                outcomes
                    .iter()
                    .filter(|outcome| match outcome {
                        Ok(Ok(LeaseOutcome::Acquired(_))) => acquired,
                        Ok(Ok(LeaseOutcome::HeldBy(_))) => !acquired,
                        _ => false,
                    })
                    .count()
            };
            // Both answer: the loser waits for the lock instead of failing with "busy".
            assert_eq!(
                (count(true), count(false)),
                (1, 1),
                "round {round}: {outcomes:?}"
            );
        }
    }

    #[test]
    fn a_schema_from_a_newer_build_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.sqlite");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        match SqliteStore::open(&path) {
            Err(StoreError::Corrupt { key, reason }) => {
                assert_eq!(key, path.display().to_string());
                assert!(reason.contains("schema version 99"), "{reason}");
            }
            Err(other) => panic!("expected a refusal, got {other:?}"),
            Ok(_) => panic!("expected a refusal, got a store"),
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_is_corrupt() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.sqlite");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let result = SqliteStore::open(&path);
        assert!(
            matches!(&result, Err(StoreError::Corrupt { key, .. }) if *key == path.display().to_string()),
            "{:?}",
            result.err()
        );
    }

    /// Ad-hoc throughput check: `cargo test -p common --release -- --ignored ten_thousand`.
    #[tokio::test]
    #[ignore = "timing measurement, run by hand"]
    async fn ten_thousand_link_writes() {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(directory.path().join("state.sqlite")).unwrap();
        let started = std::time::Instant::now();
        for id in 0..10_000 {
            store.put_link(&link(id), None).await.unwrap();
        }
        let written = started.elapsed();
        let listed = store.links(&acme()).await.unwrap();
        println!(
            "10,000 conditional link writes: {written:?}; listing them: {:?}",
            started.elapsed() - written
        );
        assert_eq!(listed.len(), 10_000);
    }
}
