//! The transition rules of the sync lease and the certificate ledger, written once for every
//! backend. Each rule is a pure decision from the stored item (if any) to the answer and the item
//! to store; a backend makes "read, decide, write" atomic in its own way (a mutex, a SQLite
//! transaction, a DynamoDB conditional write on the value read).

use super::keys;
use crate::domain::IntegrationId;
use crate::domain::audit::{AuditEntry, AuditPage};
use crate::domain::certificate::{
    CertificateId, Claim, ClaimToken, LedgerClaim, LedgerEntry, LedgerState, ParkAnswer, Parking,
};
use crate::domain::integration::IntegrationRecord;
use crate::domain::link::EmployeeLink;
use crate::ports::{AuditQuery, Lease, LeaseOutcome, StoreError};
use chrono::{DateTime, Duration, Utc};

/// `now + ttl`, saturating: an absurd ttl means "never expires", not a panic.
pub fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now.checked_add_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A lease or claim is expired from its expiry instant on.
fn is_expired(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expires_at <= now
}

/// Acquiring the lease: `Acquired` carries the lease to store; `HeldBy` stores nothing.
pub fn acquire_lease(
    current: Option<&Lease>,
    integration: &IntegrationId,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> LeaseOutcome {
    match current {
        Some(lease) if lease.holder != holder && !is_expired(lease.expires_at, now) => {
            LeaseOutcome::HeldBy(lease.clone())
        }
        _ => LeaseOutcome::Acquired(Lease {
            integration_id: integration.clone(),
            holder: holder.to_owned(),
            expires_at: expiry(now, ttl),
        }),
    }
}

/// Renewing the lease: the extended lease to store, or `None` when `holder` no longer holds it.
/// A holder whose lease expired but was not taken over still holds it: nobody else ran.
pub fn renew_lease(
    current: Option<&Lease>,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Option<Lease> {
    current
        .filter(|lease| lease.holder == holder)
        .map(|lease| Lease {
            expires_at: expiry(now, ttl),
            ..lease.clone()
        })
}

/// Whether releasing on behalf of `holder` removes the stored lease.
pub fn releases_lease(current: Option<&Lease>, holder: &str) -> bool {
    current.is_some_and(|lease| lease.holder == holder)
}

/// A claim decision: the answer, and the entry to store when the claim succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimDecision {
    pub answer: LedgerClaim,
    pub store: Option<LedgerEntry>,
}

/// Claiming: granted over nothing, a parked or failed entry, or an expired claim; the claim is
/// `recovering` whenever an earlier attempt was claimed (it may have uploaded).
pub fn claim_certificate(
    current: Option<&LedgerEntry>,
    integration: &IntegrationId,
    certificate: &CertificateId,
    claim: &Claim,
) -> ClaimDecision {
    match current.map(|entry| &entry.state) {
        Some(LedgerState::Done { document_id }) => {
            return ClaimDecision {
                answer: LedgerClaim::AlreadyDone {
                    document_id: document_id.clone(),
                },
                store: None,
            };
        }
        Some(LedgerState::InProgress { expires_at, .. }) if !is_expired(*expires_at, claim.now) => {
            return ClaimDecision {
                answer: LedgerClaim::Busy {
                    expires_at: *expires_at,
                },
                store: None,
            };
        }
        _ => {}
    }
    let expires_at = expiry(claim.now, claim.ttl);
    let earlier_attempts = current.map_or(0, |entry| entry.attempts);
    ClaimDecision {
        answer: LedgerClaim::Claimed {
            expires_at,
            recovering: earlier_attempts > 0,
        },
        store: Some(LedgerEntry {
            integration_id: integration.clone(),
            certificate_id: certificate.clone(),
            state: LedgerState::InProgress {
                expires_at,
                holder: Some(claim.token.clone()),
            },
            attempts: earlier_attempts.saturating_add(1),
            updated_at: claim.now,
            subject: claim
                .subject
                .clone()
                .or_else(|| current.and_then(|entry| entry.subject.clone())),
        }),
    }
}

/// In progress under `holder`'s claim → done; the entry to store, or `Conflict` naming the
/// state found.
pub fn complete_certificate(
    current: Option<LedgerEntry>,
    integration: &IntegrationId,
    certificate: &CertificateId,
    holder: &ClaimToken,
    document_id: &str,
    now: DateTime<Utc>,
) -> Result<LedgerEntry, StoreError> {
    finish(
        current,
        integration,
        certificate,
        holder,
        LedgerState::Done {
            document_id: document_id.to_owned(),
        },
        now,
    )
}

/// In progress under `holder`'s claim → failed; the entry to store, or `Conflict` naming the
/// state found.
pub fn fail_certificate(
    current: Option<LedgerEntry>,
    integration: &IntegrationId,
    certificate: &CertificateId,
    holder: &ClaimToken,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<LedgerEntry, StoreError> {
    finish(
        current,
        integration,
        certificate,
        holder,
        LedgerState::Failed {
            reason: reason.to_owned(),
        },
        now,
    )
}

// Only the holder of the current claim finishes it, expired or not: an expired claim nobody
// took over is still its worker's (it did the work), while a claim taken over belongs to the
// new worker, and the old one's late answer is refused instead of overwriting the new one's.
fn finish(
    current: Option<LedgerEntry>,
    integration: &IntegrationId,
    certificate: &CertificateId,
    holder: &ClaimToken,
    next: LedgerState,
    now: DateTime<Utc>,
) -> Result<LedgerEntry, StoreError> {
    let item = || keys::certificate_item(integration, certificate);
    match current {
        Some(entry) if holds(&entry.state, holder) => Ok(LedgerEntry {
            state: next,
            updated_at: now,
            ..entry
        }),
        Some(LedgerEntry {
            state: LedgerState::InProgress { .. },
            ..
        }) => Err(StoreError::Conflict(format!(
            "certificate {} is claimed by another attempt",
            item()
        ))),
        other => Err(StoreError::Conflict(format!(
            "certificate {} is {}, not in progress",
            item(),
            other.map_or("absent", |entry| state_name(&entry.state)),
        ))),
    }
}

/// Whether `holder` holds the entry's claim.
fn holds(state: &LedgerState, holder: &ClaimToken) -> bool {
    matches!(state, LedgerState::InProgress { holder: Some(current), .. } if current == holder)
}

/// Parking: the answer, and the entry to store when it is parked. A done certificate stays
/// done; an unexpired claim of another worker is left to it; a parked entry keeps when it was
/// first parked.
pub fn park_certificate(
    current: Option<LedgerEntry>,
    integration: &IntegrationId,
    certificate: &CertificateId,
    parking: &Parking,
) -> (ParkAnswer, Option<LedgerEntry>) {
    let mut since = parking.since.unwrap_or(parking.now);
    match current.as_ref().map(|entry| &entry.state) {
        Some(LedgerState::Done { document_id }) => {
            return (
                ParkAnswer::AlreadyDone {
                    document_id: document_id.clone(),
                },
                None,
            );
        }
        Some(state @ LedgerState::InProgress { expires_at, .. })
            if !is_expired(*expires_at, parking.now)
                && !parking
                    .holder
                    .as_ref()
                    .is_some_and(|holder| holds(state, holder)) =>
        {
            return (
                ParkAnswer::Busy {
                    expires_at: *expires_at,
                },
                None,
            );
        }
        Some(LedgerState::Parked { .. }) => {
            if let Some(first) = current.as_ref().and_then(LedgerEntry::parked_since) {
                since = since.min(first);
            }
        }
        _ => {}
    }
    let state = LedgerState::Parked {
        job: parking.job.clone(),
        since: Some(since),
        reason: Some(parking.reason.clone()),
    };
    let entry = match current {
        Some(entry) => LedgerEntry {
            state,
            updated_at: parking.now,
            subject: parking.subject.clone().or(entry.subject.clone()),
            ..entry
        },
        None => LedgerEntry {
            integration_id: integration.clone(),
            certificate_id: certificate.clone(),
            state,
            attempts: 0,
            updated_at: parking.now,
            subject: parking.subject.clone(),
        },
    };
    (ParkAnswer::Parked { since }, Some(entry))
}

/// The version check of a conditional link write: `expected` must be the stored version
/// (`None`: no link stored yet). The refusal names the item and both versions.
pub fn check_link_version(
    link: &EmployeeLink,
    expected: Option<u64>,
    stored: Option<u64>,
) -> Result<(), StoreError> {
    check_version(
        &keys::link_item(&link.integration_id, link.personio_id),
        expected,
        stored,
    )
}

fn check_version(item: &str, expected: Option<u64>, stored: Option<u64>) -> Result<(), StoreError> {
    if expected == stored {
        return Ok(());
    }
    let describe = |version: Option<u64>| {
        version.map_or("nothing stored".to_owned(), |v| format!("version {v}"))
    };
    Err(StoreError::Conflict(format!(
        "{item} expected {}, found {}",
        describe(expected),
        describe(stored),
    )))
}

/// The version check of a conditional integration write (as [`check_link_version`]).
pub fn check_integration_version(
    integration: &IntegrationId,
    expected: Option<u64>,
    stored: Option<u64>,
) -> Result<(), StoreError> {
    check_version(&keys::integration_item(integration), expected, stored)
}

/// Whether an integration is due at `now`: it has a next run at or before `now`.
pub fn is_due(next_run_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    next_run_at.is_some_and(|next| next <= now)
}

/// The scheduler's claim: the record to store when its `next_run_at` is still `seen`, or `None`
/// when another invocation moved it first (or the record is gone). A claim is a write, so it
/// bumps the version: an admin edit based on the record before the claim then conflicts instead
/// of putting the claimed `next_run_at` back (which would enqueue the same run twice).
/// `updated_at` stays: it tells people when the configuration last changed.
pub fn claim_due_run(
    current: Option<&IntegrationRecord>,
    seen: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> Option<IntegrationRecord> {
    current
        .filter(|record| record.next_run_at == Some(seen))
        .map(|record| IntegrationRecord {
            next_run_at: next,
            version: record.version.saturating_add(1),
            ..record.clone()
        })
}

/// The state's name as serialised (the `state` tag of `LedgerEntry`).
pub fn state_name(state: &LedgerState) -> &'static str {
    match state {
        LedgerState::Parked { .. } => "parked",
        LedgerState::InProgress { .. } => "in_progress",
        LedgerState::Done { .. } => "done",
        LedgerState::Failed { .. } => "failed",
    }
}

/// One page of an audit trail from its entries newest first, beginning after the query's
/// cursor: the entries not expired at `query.now`, at most `query.limit`, and `next` only when
/// another live entry follows (so the last page says it is the last).
pub fn audit_page(
    newest_first: impl IntoIterator<Item = AuditEntry>,
    query: &AuditQuery,
) -> AuditPage {
    let limit = query.limit.max(1);
    let mut live = newest_first
        .into_iter()
        .filter(|entry| {
            query
                .after
                .as_ref()
                .is_none_or(|after| entry.cursor() < *after)
        })
        .filter(|entry| !entry.is_expired(query.now))
        .take(limit + 1);
    let entries: Vec<AuditEntry> = live.by_ref().take(limit).collect();
    let next = match live.next() {
        Some(_) => entries.last().map(AuditEntry::cursor),
        None => None,
    };
    AuditPage { entries, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_saturates_instead_of_overflowing() {
        let now = Utc::now();
        assert_eq!(expiry(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn state_names_match_the_serialised_tag() {
        let states = [
            LedgerState::Parked {
                job: serde_json::Value::Null,
                since: None,
                reason: None,
            },
            LedgerState::InProgress {
                expires_at: Utc::now(),
                holder: None,
            },
            LedgerState::Done {
                document_id: "d".into(),
            },
            LedgerState::Failed { reason: "r".into() },
        ];
        for state in states {
            let json = serde_json::to_value(&state).expect("serialisable");
            assert_eq!(json["state"], state_name(&state));
        }
    }
}
