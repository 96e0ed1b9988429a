//! Reading the audit trail of admin actions, as the admin API (`GET /integrations/{id}/audit`)
//! and `personio-lms audit` both do: newest first, page by page, without expired entries.
//! Entries are written by the admin API (`crate::admin`), the one place admin actions happen.

use crate::domain::IntegrationId;
use crate::domain::audit::{AuditCursor, AuditPage};
use crate::ports::{AuditLog, AuditQuery, StoreError};
use chrono::Utc;

/// Up to `limit` entries of the integration's trail, newest first, after `after` (the previous
/// page's `next`), leaving out those past their retention now.
pub async fn read_audit_page<L: AuditLog + ?Sized>(
    log: &L,
    integration: &IntegrationId,
    limit: usize,
    after: Option<AuditCursor>,
) -> Result<AuditPage, StoreError> {
    let query = AuditQuery {
        limit: limit.max(1),
        after,
        now: Utc::now(),
    };
    log.audit_entries(integration, &query).await
}
