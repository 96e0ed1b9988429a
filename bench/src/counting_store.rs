//! A state store that counts the calls it passes on, so that a benchmark reports link and run
//! writes for any backend (the SQLite store keeps no counters of its own). It counts like
//! [`MemoryStore::stats`](common::store::MemoryStore::stats): a read is one call that reads, a
//! write is one call that wrote (refused conditional writes are not counted).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use common::domain::IntegrationId;
use common::domain::certificate::{
    CertificateId, Claim, ClaimToken, LedgerClaim, LedgerEntry, ParkAnswer, Parking,
};
use common::domain::employee::PersonioId;
use common::domain::link::EmployeeLink;
use common::domain::lms::LmsUserId;
use common::domain::run::{RunId, RunRecord};
use common::ports::{
    CertificateLedger, Lease, LeaseOutcome, LeaseStore, LinkStore, RunStore, StateStore, StoreError,
};
use common::store::StoreStats;
use std::sync::{Mutex, PoisonError};

pub struct CountingStore<S> {
    inner: S,
    stats: Mutex<StoreStats>,
}

impl<S: StateStore> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            stats: Mutex::new(StoreStats::default()),
        }
    }

    /// The counts since the store was wrapped.
    pub fn stats(&self) -> StoreStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count<T>(
        &self,
        result: Result<T, StoreError>,
        counter: impl FnOnce(&mut StoreStats) -> &mut u64,
    ) -> Result<T, StoreError> {
        if result.is_ok() {
            *counter(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner)) += 1;
        }
        result
    }

    /// A certificate call that writes only when `wrote` says so (a granted claim, a parking);
    /// otherwise it answered from what it read ("already done", "busy").
    fn count_certificate<T>(
        &self,
        result: Result<T, StoreError>,
        wrote: impl FnOnce(&T) -> bool,
    ) -> Result<T, StoreError> {
        let wrote = result.as_ref().is_ok_and(wrote);
        self.count(result, |stats| {
            if wrote {
                &mut stats.certificate_writes
            } else {
                &mut stats.certificate_reads
            }
        })
    }
}

#[async_trait]
impl<S: StateStore> LinkStore for CountingStore<S> {
    async fn links(&self, integration: &IntegrationId) -> Result<Vec<EmployeeLink>, StoreError> {
        let result = self.inner.links(integration).await;
        self.count(result, |stats| &mut stats.link_reads)
    }

    async fn link(
        &self,
        integration: &IntegrationId,
        personio_id: PersonioId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        let result = self.inner.link(integration, personio_id).await;
        self.count(result, |stats| &mut stats.link_reads)
    }

    async fn link_by_lms_user(
        &self,
        integration: &IntegrationId,
        lms_user_id: &LmsUserId,
    ) -> Result<Option<EmployeeLink>, StoreError> {
        let result = self.inner.link_by_lms_user(integration, lms_user_id).await;
        self.count(result, |stats| &mut stats.link_reads)
    }

    async fn put_link(
        &self,
        link: &EmployeeLink,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let result = self.inner.put_link(link, expected_version).await;
        self.count(result, |stats| &mut stats.link_writes)
    }
}

#[async_trait]
impl<S: StateStore> RunStore for CountingStore<S> {
    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let result = self.inner.put_run(run).await;
        self.count(result, |stats| &mut stats.run_writes)
    }

    async fn run(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError> {
        let result = self.inner.run(integration, run_id).await;
        self.count(result, |stats| &mut stats.run_reads)
    }

    async fn runs(
        &self,
        integration: &IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let result = self.inner.runs(integration, limit).await;
        self.count(result, |stats| &mut stats.run_reads)
    }
}

#[async_trait]
impl<S: StateStore> LeaseStore for CountingStore<S> {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let result = self
            .inner
            .acquire_lease(integration, holder, now, ttl)
            .await;
        self.count(result, |stats| &mut stats.lease_writes)
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let result = self.inner.renew_lease(integration, holder, now, ttl).await;
        self.count(result, |stats| &mut stats.lease_writes)
    }

    async fn release_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let result = self.inner.release_lease(integration, holder).await;
        self.count(result, |stats| &mut stats.lease_writes)
    }

    async fn lease(&self, integration: &IntegrationId) -> Result<Option<Lease>, StoreError> {
        let result = self.inner.lease(integration).await;
        self.count(result, |stats| &mut stats.lease_reads)
    }
}

#[async_trait]
impl<S: StateStore> CertificateLedger for CountingStore<S> {
    async fn claim_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        claim: &Claim,
    ) -> Result<LedgerClaim, StoreError> {
        let result = self
            .inner
            .claim_certificate(integration, certificate, claim)
            .await;
        self.count_certificate(result, |answer| {
            matches!(answer, LedgerClaim::Claimed { .. })
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
        let result = self
            .inner
            .complete_certificate(integration, certificate, holder, document_id, now)
            .await;
        self.count(result, |stats| &mut stats.certificate_writes)
    }

    async fn fail_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .fail_certificate(integration, certificate, holder, reason, now)
            .await;
        self.count(result, |stats| &mut stats.certificate_writes)
    }

    async fn park_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        parking: &Parking,
    ) -> Result<ParkAnswer, StoreError> {
        let result = self
            .inner
            .park_certificate(integration, certificate, parking)
            .await;
        self.count_certificate(result, |answer| matches!(answer, ParkAnswer::Parked { .. }))
    }

    async fn certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let result = self.inner.certificate(integration, certificate).await;
        self.count(result, |stats| &mut stats.certificate_reads)
    }

    async fn certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let result = self.inner.certificates(integration).await;
        self.count(result, |stats| &mut stats.certificate_reads)
    }

    async fn parked_certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let result = self.inner.parked_certificates(integration).await;
        self.count(result, |stats| &mut stats.certificate_reads)
    }
}
