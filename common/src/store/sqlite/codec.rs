//! How values sit in columns: items as JSON text, timestamps as microseconds since the epoch,
//! versions as signed integers. Every failure names the item's key (`store::keys`), the same key
//! the other backends name.

use super::connection::OperationResult;
use crate::ports::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::Row;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The row's `item` column, decoded; unreadable JSON is a corrupt item named by `key`.
pub(super) fn item_column<T: DeserializeOwned>(
    row: &Row<'_>,
    key: impl FnOnce() -> String,
) -> OperationResult<T> {
    let item: String = row.get("item")?;
    serde_json::from_str(&item).map_err(|e| {
        StoreError::Corrupt {
            key: key(),
            reason: format!("unreadable JSON: {e}"),
        }
        .into()
    })
}

/// The JSON text stored in an `item` column.
pub(super) fn encode<T: Serialize>(
    value: &T,
    key: impl FnOnce() -> String,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        key: key(),
        reason: format!("cannot be serialised: {e}"),
    })
}

pub(super) fn micros_to_time(
    micros: i64,
    key: impl FnOnce() -> String,
) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt {
        key: key(),
        reason: format!("timestamp {micros} µs is out of range"),
    })
}

/// SQLite integers are signed; a version beyond `i64::MAX` can neither be stored nor match.
pub(super) fn version_column(
    version: u64,
    key: impl FnOnce() -> String,
) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| {
        StoreError::Conflict(format!("{} version {version} is too large to store", key()))
    })
}

/// A stored version as the version check reads it: a negative one matches no expectation,
/// like any other mismatch.
pub(super) fn stored_version(column: i64) -> u64 {
    u64::try_from(column).unwrap_or(u64::MAX)
}
