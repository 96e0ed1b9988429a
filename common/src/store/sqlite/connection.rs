//! The connection's settings, and what every operation on it uses: the error type, the mapping
//! of SQLite errors to `StoreError`, the write transaction and the two query shapes.

use crate::ports::StoreError;
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Params, Row, Transaction, TransactionBehavior,
};

/// What a blocking operation can fail with, before SQLite errors are mapped with the database
/// name they concern.
#[derive(Debug, thiserror::Error)]
pub(super) enum OperationError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OperationError {
    pub(super) fn into_store_error(self, database: &str) -> StoreError {
        match self {
            Self::Sqlite(error) => map_sqlite(database, error),
            Self::Store(error) => error,
        }
    }
}

pub(super) type OperationResult<T> = Result<T, OperationError>;

/// Busy and locked databases are worth retrying; a damaged file is corrupt; everything else
/// (I/O, permissions, a full disk) makes the store unavailable.
pub(super) fn map_sqlite(database: &str, error: rusqlite::Error) -> StoreError {
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

/// The settings every connection gets before the schema is migrated.
pub(super) fn configure(
    connection: &Connection,
    busy_timeout: std::time::Duration,
) -> OperationResult<()> {
    connection.busy_timeout(busy_timeout)?;
    // An in-memory database answers "memory" and stays so; that is fine.
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    // With WAL, NORMAL loses at most the last commits on power loss, never consistency; it
    // is what makes thousands of single-link commits per run cheap.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Runs `operation` in a transaction that holds the write lock from its first read.
pub(super) fn write_transaction<T>(
    connection: &mut Connection,
    operation: impl FnOnce(&Transaction<'_>) -> OperationResult<T>,
) -> OperationResult<T> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = operation(&transaction)?;
    transaction.commit()?;
    Ok(value)
}

/// The row `sql` selects, decoded by `from_row`, or `None` when it selects none.
pub(super) fn query_optional<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    from_row: impl FnOnce(&Row<'_>) -> OperationResult<T>,
) -> OperationResult<Option<T>> {
    connection
        .prepare_cached(sql)?
        .query_row(params, |row| Ok(from_row(row)))
        .optional()?
        .transpose()
}

/// Every row `sql` selects, decoded by `from_row`, in the statement's order.
pub(super) fn query_all<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    mut from_row: impl FnMut(&Row<'_>) -> OperationResult<T>,
) -> OperationResult<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    let rows = statement.query_map(params, |row| Ok(from_row(row)))?;
    rows.map(|row| row?).collect()
}
