//! The tables and their migrations. `PRAGMA user_version` counts the migrations applied; a
//! database written by a newer build (a higher count) is refused rather than misread.

use super::connection::OperationResult;
use crate::ports::StoreError;
use rusqlite::{Connection, TransactionBehavior};

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
    r#"
CREATE TABLE jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    group_key TEXT NOT NULL,
    dedup_key TEXT,
    body TEXT NOT NULL,
    enqueued_at_us INTEGER NOT NULL,
    visible_at_us INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    dead_reason TEXT
);
CREATE INDEX jobs_live ON jobs (kind, group_key, job_id) WHERE dead_reason IS NULL;
CREATE INDEX jobs_dedup ON jobs (kind, dedup_key) WHERE dead_reason IS NULL;

CREATE TABLE credentials (
    integration_id TEXT NOT NULL PRIMARY KEY,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at_us INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE audit (
    integration_id TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    expires_at_us INTEGER,
    item TEXT NOT NULL,
    PRIMARY KEY (integration_id, at_us, entry_id)
) WITHOUT ROWID;
CREATE INDEX audit_expiry ON audit (expires_at_us) WHERE expires_at_us IS NOT NULL;
"#,
    r#"
CREATE TABLE webhook_tokens (
    integration_id TEXT NOT NULL PRIMARY KEY,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at_us INTEGER NOT NULL
) WITHOUT ROWID;
"#,
];

/// Applies the migrations `database` has not seen yet, in one transaction.
pub(super) fn migrate(connection: &mut Connection, database: &str) -> OperationResult<()> {
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

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use crate::ports::StoreError;
    use rusqlite::Connection;

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
}
