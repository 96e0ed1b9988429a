//! In-memory state store: the core's test double and the benchmarks' store. Clones share state.
//!
//! Every operation takes one std mutex for its whole read-decide-write, which makes each
//! conditional write atomic; no lock is held across an `.await`.

use super::rules;
use crate::domain::IntegrationId;
use crate::domain::audit::{AuditCursor, AuditEntry, AuditPage};
use crate::domain::certificate::{
    CertificateId, Claim, ClaimToken, LedgerClaim, LedgerEntry, LedgerState, ParkAnswer, Parking,
};
use crate::domain::employee::PersonioId;
use crate::domain::integration::IntegrationRecord;
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::domain::run::{RunId, RunRecord};
use crate::ports::{
    AuditLog, AuditQuery, CertificateLedger, IntegrationStore, Lease, LeaseOutcome, LeaseStore,
    LinkStore, RunStore, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Operation counts since the store was created. A read is one call that reads (listing all
/// links is one read); a write is one item actually written or deleted (a refused conditional
/// write, a refused lease or a no-op release writes nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub link_reads: u64,
    pub link_writes: u64,
    pub run_reads: u64,
    pub run_writes: u64,
    pub lease_reads: u64,
    pub lease_writes: u64,
    pub certificate_reads: u64,
    pub certificate_writes: u64,
}

#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    integrations: HashMap<IntegrationId, IntegrationItems>,
    /// The integration records, apart from the items: deleting a record keeps the history.
    records: BTreeMap<IntegrationId, IntegrationRecord>,
    /// Audit entries by integration, in trail order (oldest first).
    audit: HashMap<IntegrationId, BTreeMap<AuditCursor, AuditEntry>>,
    stats: StoreStats,
}

#[derive(Default)]
struct IntegrationItems {
    links: BTreeMap<PersonioId, EmployeeLink>,
    runs: HashMap<RunId, RunRecord>,
    lease: Option<Lease>,
    certificates: BTreeMap<CertificateId, LedgerEntry>,
}

impl State {
    fn items(&self, integration: &IntegrationId) -> Option<&IntegrationItems> {
        self.integrations.get(integration)
    }

    fn items_mut(&mut self, integration: &IntegrationId) -> &mut IntegrationItems {
        self.integrations.entry(integration.clone()).or_default()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> StoreStats {
        self.lock().stats
    }

    // Every mutation replaces whole values, so a panic elsewhere never leaves a half-written
    // item behind: the poisoned state is still consistent and usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl LinkStore for MemoryStore {
    async fn links(&self, integration: &IntegrationId) -> Result<Vec<EmployeeLink>, StoreError> {
        let mut state = self.lock();
        state.stats.link_reads += 1;
        Ok(state
            .items(integration)
            .map(|items| items.links.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn link(
        &self,
        integration: &IntegrationId,
        personio_id: PersonioId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        let mut state = self.lock();
        state.stats.link_reads += 1;
        Ok(state
            .items(integration)
            .and_then(|items| items.links.get(&personio_id).cloned()))
    }

    // A scan in Personio-id order: the lowest id wins if two links ever named the same LMS
    // user, as in the SQLite store.
    async fn link_by_lms_user(
        &self,
        integration: &IntegrationId,
        lms_user_id: &LmsUserId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        let mut state = self.lock();
        state.stats.link_reads += 1;
        Ok(state.items(integration).and_then(|items| {
            items
                .links
                .values()
                .find(|link| &link.lms_user_id == lms_user_id)
                .cloned()
        }))
    }

    async fn put_link(
        &self,
        link: &EmployeeLink,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let links = &mut state.items_mut(&link.integration_id).links;
        let stored_version = links.get(&link.personio_id).map(|stored| stored.version);
        rules::check_link_version(link, expected_version, stored_version)?;
        links.insert(link.personio_id, link.clone());
        state.stats.link_writes += 1;
        Ok(())
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let mut state = self.lock();
        state
            .items_mut(&run.integration_id)
            .runs
            .insert(run.run_id.clone(), run.clone());
        state.stats.run_writes += 1;
        Ok(())
    }

    async fn run(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError> {
        let mut state = self.lock();
        state.stats.run_reads += 1;
        Ok(state
            .items(integration)
            .and_then(|items| items.runs.get(run_id).cloned()))
    }

    async fn runs(
        &self,
        integration: &IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let mut state = self.lock();
        state.stats.run_reads += 1;
        let Some(items) = state.items(integration) else {
            return Ok(Vec::new());
        };
        let mut runs: Vec<&RunRecord> = items.runs.values().collect();
        // The order of the run sort key (start time to the microsecond, then run id), descending,
        // as in the SQLite and DynamoDB stores.
        runs.sort_by_cached_key(|run| {
            std::cmp::Reverse((run.started_at.timestamp_micros(), run.run_id.clone()))
        });
        Ok(runs.into_iter().take(limit).cloned().collect())
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut state = self.lock();
        let items = state.items_mut(integration);
        let outcome = rules::acquire_lease(items.lease.as_ref(), integration, holder, now, ttl);
        if let LeaseOutcome::Acquired(lease) = &outcome {
            items.lease = Some(lease.clone());
            state.stats.lease_writes += 1;
        }
        Ok(outcome)
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let items = state.items_mut(integration);
        let Some(renewed) = rules::renew_lease(items.lease.as_ref(), holder, now, ttl) else {
            return Ok(false);
        };
        items.lease = Some(renewed);
        state.stats.lease_writes += 1;
        Ok(true)
    }

    async fn release_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let items = state.items_mut(integration);
        if rules::releases_lease(items.lease.as_ref(), holder) {
            items.lease = None;
            state.stats.lease_writes += 1;
        }
        Ok(())
    }

    async fn lease(&self, integration: &IntegrationId) -> Result<Option<Lease>, StoreError> {
        let mut state = self.lock();
        state.stats.lease_reads += 1;
        Ok(state
            .items(integration)
            .and_then(|items| items.lease.clone()))
    }
}

impl MemoryStore {
    /// The ledger's read-decide-write under the one lock: `decide` turns the stored entry (if
    /// any) into the answer and the entry to store.
    fn update_entry<T>(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        decide: impl FnOnce(Option<&LedgerEntry>) -> Result<(T, Option<LedgerEntry>), StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock();
        let certificates = &mut state.items_mut(integration).certificates;
        let (answer, next) = decide(certificates.get(certificate))?;
        if let Some(entry) = next {
            certificates.insert(certificate.clone(), entry);
            state.stats.certificate_writes += 1;
        }
        Ok(answer)
    }
}

#[async_trait]
impl CertificateLedger for MemoryStore {
    async fn claim_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        claim: &Claim,
    ) -> Result<LedgerClaim, StoreError> {
        self.update_entry(integration, certificate, |current| {
            let decision = rules::claim_certificate(current, integration, certificate, claim);
            Ok((decision.answer, decision.store))
        })
    }

    async fn complete_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        document_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_entry(integration, certificate, |current| {
            let done = rules::complete_certificate(
                current.cloned(),
                integration,
                certificate,
                holder,
                document_id,
                now,
            )?;
            Ok(((), Some(done)))
        })
    }

    async fn fail_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_entry(integration, certificate, |current| {
            let failed = rules::fail_certificate(
                current.cloned(),
                integration,
                certificate,
                holder,
                reason,
                now,
            )?;
            Ok(((), Some(failed)))
        })
    }

    async fn park_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        parking: &Parking,
    ) -> Result<ParkAnswer, StoreError> {
        self.update_entry(integration, certificate, |current| {
            Ok(rules::park_certificate(
                current.cloned(),
                integration,
                certificate,
                parking,
            ))
        })
    }

    async fn certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let mut state = self.lock();
        state.stats.certificate_reads += 1;
        Ok(state
            .items(integration)
            .and_then(|items| items.certificates.get(certificate).cloned()))
    }

    async fn certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut state = self.lock();
        state.stats.certificate_reads += 1;
        Ok(state
            .items(integration)
            .map(|items| items.certificates.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn parked_certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut state = self.lock();
        state.stats.certificate_reads += 1;
        Ok(state
            .items(integration)
            .map(|items| {
                items
                    .certificates
                    .values()
                    .filter(|entry| matches!(entry.state, LedgerState::Parked { .. }))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl IntegrationStore for MemoryStore {
    async fn integration(
        &self,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        Ok(self.lock().records.get(id).cloned())
    }

    async fn integrations_of_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        Ok(self
            .lock()
            .records
            .values()
            .filter(|record| record.tenant_id == tenant_id)
            .cloned()
            .collect())
    }

    async fn put_integration(
        &self,
        record: &IntegrationRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored_version = state.records.get(&record.id).map(|stored| stored.version);
        rules::check_integration_version(&record.id, expected_version, stored_version)?;
        state.records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn delete_integration(
        &self,
        id: &IntegrationId,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored_version = state.records.get(id).map(|stored| stored.version);
        rules::check_integration_version(id, Some(expected_version), stored_version)?;
        state.records.remove(id);
        Ok(())
    }

    async fn due_integrations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        let state = self.lock();
        let mut due: Vec<&IntegrationRecord> = state
            .records
            .values()
            .filter(|record| rules::is_due(record.next_run_at, now))
            .collect();
        // Earliest first, ties by id: the order of the DynamoDB schedule index.
        due.sort_by(|a, b| (a.next_run_at, &a.id).cmp(&(b.next_run_at, &b.id)));
        Ok(due.into_iter().take(limit).cloned().collect())
    }

    async fn claim_due_run(
        &self,
        id: &IntegrationId,
        seen: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(claimed) = rules::claim_due_run(state.records.get(id), seen, next) else {
            return Ok(false);
        };
        state.records.insert(id.clone(), claimed);
        Ok(true)
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut state = self.lock();
        // Pruned on write, as in the SQLite store.
        for trail in state.audit.values_mut() {
            trail.retain(|_, kept| !kept.is_expired(entry.at));
        }
        state
            .audit
            .entry(entry.integration_id.clone())
            .or_default()
            .insert(entry.cursor(), entry.clone());
        Ok(())
    }

    async fn audit_entries(
        &self,
        integration: &IntegrationId,
        query: &AuditQuery,
    ) -> Result<AuditPage, StoreError> {
        let state = self.lock();
        let Some(trail) = state.audit.get(integration) else {
            return Ok(AuditPage::default());
        };
        Ok(rules::audit_page(trail.values().rev().cloned(), query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn link(personio_id: i64, version: u64) -> EmployeeLink {
        EmployeeLink {
            integration_id: IntegrationId::new("acme"),
            personio_id: PersonioId(personio_id),
            lms_user_id: LmsUserId(format!("u{personio_id}")),
            email: format!("e{personio_id}@example.com"),
            profile_hash: "h".into(),
            groups: BTreeSet::new(),
            active: true,
            updated_at: DateTime::UNIX_EPOCH,
            version,
            profile: None,
            invited_at: None,
            invitation_pending: false,
        }
    }

    #[tokio::test]
    async fn stats_count_reads_and_only_the_writes_that_happened() {
        let store = MemoryStore::new();
        let shared = store.clone();
        store
            .put_link(&link(1, 1), None)
            .await
            .expect("first write");
        assert!(store.put_link(&link(1, 1), None).await.is_err());
        shared
            .links(&IntegrationId::new("acme"))
            .await
            .expect("read");
        shared
            .release_lease(&IntegrationId::new("acme"), "nobody")
            .await
            .expect("no-op release");
        assert_eq!(
            store.stats(),
            StoreStats {
                link_reads: 1,
                link_writes: 1,
                ..StoreStats::default()
            }
        );
    }
}

#[cfg(test)]
mod contract {
    crate::state_store_contract_tests!(((), super::MemoryStore::new()));
    crate::integration_store_contract_tests!(((), super::MemoryStore::new()));
    crate::audit_log_contract_tests!(((), super::MemoryStore::new()));
}
