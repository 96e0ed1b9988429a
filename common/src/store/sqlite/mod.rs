//! Embedded SQLite state store: the CLI's default.
//!
//! It keeps the items of the single-table model the DynamoDB store uses (docs/dynamodb.md) in one
//! table per item kind, each keyed by `(integration_id, <sort key>)` like the DynamoDB items
//! (`INT#{id}` / `EMP#…`, `RUN#…`, `LEASE`, `CERT#…`). Items are stored whole as JSON (`item`), so
//! a new optional field needs no migration; the other columns exist only for keys, indexes and
//! conditions.
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
//! - audit entries: an integration's newest first from a cursor (primary key, descending); the
//!   expired ones, pruned on every write (partial index `audit_expiry`).
//!
//! - jobs (`jobs`, the durable queue of `personio-lms serve`): live jobs of a kind in id order
//!   (`jobs_live`); duplicates by key (`jobs_dedup`); receive as read-decide-write in one
//!   transaction.
//! - credentials (`credentials`, sealed with the host's key): one row per integration.
//! - webhook tokens (`webhook_tokens`, sealed the same way): one row per integration with a
//!   webhook installed.
//!
//! The modules: `schema` (tables and migrations), `connection` (settings of the connection,
//! transactions, queries, error mapping), `codec` (items, timestamps and versions in columns),
//! then one per item family (`links`, `runs`, `lease`, `ledger`, `integrations`, `audit`, `jobs`,
//! `credentials`, `webhook_tokens`), each with its
//! SQL and its port's implementation. Every decision of a lease, ledger or version transition
//! comes from `store::rules`.
//!
//! rusqlite is synchronous: every call runs on tokio's blocking pool, on the one connection
//! behind a std mutex. Writes that read first take the write lock up front (`BEGIN IMMEDIATE`),
//! so they stay atomic even when another process uses the same file.

mod audit;
mod codec;
mod connection;
mod credentials;
mod integrations;
mod jobs;
mod lease;
mod ledger;
mod links;
mod runs;
mod schema;
#[cfg(test)]
mod tests;
mod webhook_tokens;

pub use credentials::{CredentialKey, KeyError, SealedCredentials, write_private};
pub use jobs::{
    DEFAULT_MAX_RECEIVES, DeadJob, JobKind, QueueDepth, ReceivedJob, Release, Released,
    SqliteJobQueue,
};

use crate::ports::StoreError;
use connection::{OperationResult, map_sqlite};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Long enough to ride out another process's write transaction (a CLI run next to a demo),
/// short enough that a stuck lock surfaces as a retryable `Unavailable`.
const DEFAULT_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
        connection::configure(&connection, busy_timeout)
            .and_then(|()| schema::migrate(&mut connection, database))
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
