use crate::domain::IntegrationId;
use crate::domain::audit::{AuditCursor, AuditEntry, AuditPage};
use crate::ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Which entries of an integration's trail to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// At most this many entries (at least 1).
    pub limit: usize,
    /// Start after this position (the previous page's `next`); `None`: the newest entry.
    pub after: Option<AuditCursor>,
    /// Entries expired at this instant are left out, whether or not the backend has removed
    /// them yet (DynamoDB's TTL deletes within days, not at the second).
    pub now: DateTime<Utc>,
}

/// The audit trail of admin actions (admin API hosts). Kept apart from `StateStore`: only the
/// hosts that serve the admin API write it. Entries are only ever appended.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an entry. A backend that removes expired entries itself (SQLite, memory) may
    /// prune entries expired at `entry.at` while it is at it.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// The integration's entries, newest first (by `at`, then by entry id), at most
    /// `query.limit`, after `query.after`, without those expired at `query.now`. `next` is set
    /// when further entries may follow.
    async fn audit_entries(
        &self,
        integration: &IntegrationId,
        query: &AuditQuery,
    ) -> Result<AuditPage, StoreError>;
}
