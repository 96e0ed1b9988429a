use crate::domain::IntegrationId;
use crate::domain::certificate::{
    CertificateId, Claim, ClaimToken, LedgerClaim, LedgerEntry, ParkAnswer, Parking,
};
use crate::domain::employee::PersonioId;
use crate::domain::integration::IntegrationRecord;
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::domain::run::{RunId, RunRecord};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// Employee links: Personio id ↔ LMS user id, with the last profile written (and its hash), the
/// groups the sync added and the invitation sent.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Every link of the integration (the store pages internally).
    async fn links(&self, integration: &IntegrationId) -> Result<Vec<EmployeeLink>, StoreError>;

    async fn link(
        &self,
        integration: &IntegrationId,
        personio_id: PersonioId,
    ) -> Result<Option<EmployeeLink>, StoreError>;

    /// The link whose LMS user is `lms_user_id` (certificates arrive with the LMS's user id).
    async fn link_by_lms_user(
        &self,
        integration: &IntegrationId,
        lms_user_id: &LmsUserId,
    ) -> Result<Option<EmployeeLink>, StoreError>;

    /// Conditional write: `expected_version` is the version read (`None` = the link must not
    /// exist yet). The stored link gets `link.version`, which the caller sets to expected + 1.
    /// A mismatch is `StoreError::Conflict` and writes nothing.
    async fn put_link(
        &self,
        link: &EmployeeLink,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError>;
}

/// Run records, newest first.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts or replaces the record with the same integration and run id.
    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    async fn run(
        &self,
        integration: &IntegrationId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError>;

    /// The newest `limit` runs, newest first.
    async fn runs(
        &self,
        integration: &IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub integration_id: IntegrationId,
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired(Lease),
    /// Someone else holds an unexpired lease.
    HeldBy(Lease),
}

/// The sync lease: at most one run per integration at a time; a dead run's lease expires.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease when it is free, expired, or already held by `holder`.
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError>;

    /// Extends a lease `holder` still holds; `Ok(false)` when it was lost (expired and taken).
    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Releases the lease if `holder` holds it (a no-op otherwise).
    async fn release_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
    ) -> Result<(), StoreError>;

    /// The stored lease, expired or not (`None`: free). A read for those who only look: the
    /// scheduler skips an integration whose run is still in progress.
    async fn lease(&self, integration: &IntegrationId) -> Result<Option<Lease>, StoreError>;
}

/// One ledger entry per certificate: parked → in progress (a claim with a holder and an expiry)
/// → done / failed. Only the holder of the current claim completes, fails or parks it.
#[async_trait]
pub trait CertificateLedger: Send + Sync {
    /// Conditional claim: granted when the entry is absent, parked, failed, or in progress but
    /// expired (`recovering` is then true whenever an earlier attempt was claimed); answers
    /// `AlreadyDone` or `Busy` otherwise. A granted claim is held by `claim.token`.
    async fn claim_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        claim: &Claim,
    ) -> Result<LedgerClaim, StoreError>;

    /// In progress under `holder`'s claim → done. `Conflict` when the entry is not in progress
    /// or its claim is another's (a worker whose claim was taken over).
    async fn complete_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        document_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// In progress under `holder`'s claim → failed with a reason; `Conflict` as
    /// [`complete_certificate`](Self::complete_certificate).
    async fn fail_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Parks a job whose employee is not linked (absent, parked, failed, expired or the
    /// parker's own claim → parked). A done entry stays done and an unexpired claim of another
    /// worker is left alone; the answer says which.
    async fn park_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        parking: &Parking,
    ) -> Result<ParkAnswer, StoreError>;

    async fn certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<LedgerEntry>, StoreError>;

    /// Every entry of the integration, ordered by certificate id.
    async fn certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// The parked entries of the integration, ordered by certificate id.
    async fn parked_certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError>;
}

/// Integration records (admin API, scheduler). Kept apart from `StateStore` because only the
/// hosts that manage integrations need it; the sync and the certificate push get their settings
/// handed to them.
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    async fn integration(
        &self,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError>;

    /// Every integration of one tenant, ordered by id.
    async fn integrations_of_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<IntegrationRecord>, StoreError>;

    /// Conditional write, as `LinkStore::put_link`: `expected_version` is the version read
    /// (`None` = must not exist yet); a mismatch is `Conflict` and writes nothing.
    async fn put_integration(
        &self,
        record: &IntegrationRecord,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError>;

    /// Deletes the record if it still has `expected_version` (`Conflict` otherwise). Links, runs
    /// and the ledger are kept: they are history, and runs expire by themselves.
    async fn delete_integration(
        &self,
        id: &IntegrationId,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    /// Integrations whose `next_run_at` is at or before `now`, earliest first, at most `limit`.
    async fn due_integrations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StoreError>;

    /// The scheduler's claim of one due run: moves `next_run_at` from `seen` to `next` only if it
    /// is still `seen`. `Ok(false)` means another scheduler invocation claimed it first, so two
    /// invocations at the same time never enqueue the same run twice.
    async fn claim_due_run(
        &self,
        id: &IntegrationId,
        seen: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>;
}

/// What a sync run keeps: the links, its run record and the lease (not the ledger).
pub trait SyncStore: LinkStore + RunStore + LeaseStore {}

impl<T: LinkStore + RunStore + LeaseStore> SyncStore for T {}

/// What the certificate push keeps: link lookups and the ledger (not the lease or the runs).
pub trait CertificateStore: LinkStore + CertificateLedger {}

impl<T: LinkStore + CertificateLedger> CertificateStore for T {}

/// Everything the core keeps. One backend (DynamoDB, SQLite, memory) implements all of it; a
/// host that runs both the sync and the certificate push hands the one store to both.
pub trait StateStore: SyncStore + CertificateStore {}

impl<T: SyncStore + CertificateStore> StateStore for T {}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found another version than it expected.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// A stored item that cannot be read back (schema drift, corruption).
    #[error("corrupt stored item {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// The backend is unreachable or throttling.
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
