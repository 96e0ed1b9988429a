//! The certificate push: one LMS certificate → exactly one Personio employee document.
//!
//! Per job: parse → resolve the employee by LMS user id (park when unlinked, see [`super::parking`])
//! → claim the ledger entry (in progress, with this attempt's token and an expiry) → when an
//! earlier attempt was claimed, look for the document in Personio first (by the certificate id
//! its comment carries) → fetch the PDF → upload → complete (document id), or fail (permanent
//! reason). Only the holder of the claim completes or fails it.
//! Jobs of a batch run one after the other: Personio allows 60 document uploads a minute per
//! credential (enforced by the Personio client's budget), so concurrency would only queue there.

use super::document::{
    CategoryError, choose_category, document_comment, document_file_name, document_title,
    is_document_of,
};
use super::error::{IntegrationProblem, PushError};
use super::fetch::PdfFetcher;
use super::job::{CertificateJob, InvalidJob, JobError, MAX_INLINE_PDF_BYTES, PdfSource};
use super::outcome::{BatchReport, JobReport, PushOutcome, PushProgress};
use super::retrying::with_retries;
use crate::domain::IntegrationId;
use crate::domain::certificate::{
    CertificateId, CertificateSubject, Claim, ClaimToken, LedgerClaim, LedgerState,
};
use crate::domain::employee::PersonioId;
use crate::domain::settings::{CertificateSettings, HostAllowList};
use crate::ports::{
    CertificateStore, DocumentCategory, DocumentUpload, HrError, HrSource, LearningPlatform,
    StoreError,
};
use crate::progress::NoProgress;
use crate::retry::{Backoff, Deadline};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// A worker stops working on a certificate this long before its claim expires, so that a
/// second worker (which may claim it after expiry) never uploads while the first still does.
const CLAIM_SAFETY_MARGIN: Duration = Duration::from_secs(30);

/// Where a job came from: decides what happens to it when it cannot finish now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum JobSource {
    /// A queue delivers it again when it is reported retryable.
    Queue,
    /// Released from the ledger's parked entries: nothing redelivers it, so a retryable failure
    /// parks it again. Re-parking forgets that an upload may have happened, so parked jobs are
    /// always looked for in Personio before uploading. `since` and `reason` are its parking's.
    Parked {
        since: DateTime<Utc>,
        reason: Option<String>,
    },
}

/// The clock of the ledger's expiries (replaceable in tests to let claims expire).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Pushes certificate jobs to Personio. Cheap to share: hold one per process.
pub struct CertificatePusher {
    pub(super) hr: Arc<dyn HrSource>,
    /// Link lookups and the ledger: all the push keeps.
    pub(super) store: Arc<dyn CertificateStore>,
    /// Asked whether the LMS user of a job for nobody linked exists (the parked job's reason).
    pub(super) lms: Option<Arc<dyn LearningPlatform>>,
    fetcher: PdfFetcher,
    pub(super) backoff: Backoff,
    pub(super) clock: Clock,
    max_inline_pdf_bytes: usize,
}

/// What one batch shares: the integration, its settings, and the category, read at most once.
pub(super) struct Batch<'a> {
    pub(super) integration: &'a IntegrationId,
    pub(super) settings: &'a CertificateSettings,
    allowed_hosts: HostAllowList,
    category: Option<Result<DocumentCategory, CategoryFailure>>,
    pub(super) deadline: Deadline,
    problem: Option<IntegrationProblem>,
}

/// A failed category read or choice, kept to fail every later job of the batch the same way.
#[derive(Clone)]
enum CategoryFailure {
    Choice(CategoryError),
    Read(Arc<HrError>),
}

impl CategoryFailure {
    fn to_error(&self) -> PushError {
        match self {
            Self::Choice(error) => PushError::Category(error.clone()),
            Self::Read(error) => PushError::Categories(error.clone()),
        }
    }
}

/// A claimed job's failure, with whether a document may exist in Personio for it.
struct ClaimedFailure {
    error: PushError,
    /// True when the failure leaves it unknown whether the document exists (an ambiguous upload
    /// or a failed lookup): the ledger entry is then left in progress to expire and be
    /// recovered, never marked failed (a failed entry is re-claimed without a lookup).
    document_may_exist: bool,
}

impl CertificatePusher {
    pub fn new(
        hr: Arc<dyn HrSource>,
        store: Arc<dyn CertificateStore>,
        fetcher: PdfFetcher,
    ) -> Self {
        Self {
            hr,
            store,
            lms: None,
            fetcher,
            backoff: Backoff::default(),
            clock: Arc::new(Utc::now),
            max_inline_pdf_bytes: MAX_INLINE_PDF_BYTES,
        }
    }

    /// The integration's LMS, asked whether the user of a job for nobody linked exists, so that
    /// the parked job says which of the two it waits for. Without it, a parked job only says
    /// that its user is not linked.
    pub fn with_lms(mut self, lms: Arc<dyn LearningPlatform>) -> Self {
        self.lms = Some(lms);
        self
    }

    /// The largest inline PDF accepted (decoded). Jobs from a queue keep to
    /// [`MAX_INLINE_PDF_BYTES`] (the default); a host whose jobs never travel through a queue
    /// (the CLI) may allow up to Personio's own limit.
    pub fn with_inline_pdf_limit(mut self, bytes: usize) -> Self {
        self.max_inline_pdf_bytes = bytes;
        self
    }

    /// The backoff for PDF fetches and state store calls.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Pushes a batch of jobs of one integration, one after the other; each job's outcome is
    /// reported by its index. Document categories are read at most once per batch.
    pub async fn push_batch(
        &self,
        integration: &IntegrationId,
        settings: &CertificateSettings,
        jobs: Vec<serde_json::Value>,
        deadline: Deadline,
        progress: &dyn PushProgress,
    ) -> BatchReport {
        let jobs = jobs
            .into_iter()
            .map(|job| (job, JobSource::Queue))
            .collect();
        self.push_jobs(integration, settings, jobs, deadline, progress)
            .await
    }

    /// Pushes one job: a batch of one.
    pub async fn push_one(
        &self,
        integration: &IntegrationId,
        settings: &CertificateSettings,
        job: serde_json::Value,
        deadline: Deadline,
    ) -> BatchReport {
        self.push_batch(integration, settings, vec![job], deadline, &NoProgress)
            .await
    }

    /// Pushes every parked job of the integration whose employee is linked by now. Hosts call
    /// it after every successful sync run. Jobs still unlinked stay parked (no write).
    pub async fn release_parked(
        &self,
        integration: &IntegrationId,
        settings: &CertificateSettings,
        deadline: Deadline,
        progress: &dyn PushProgress,
    ) -> Result<BatchReport, StoreError> {
        if !settings.enabled {
            return Ok(BatchReport::default());
        }
        let parked = with_retries(
            &self.backoff,
            deadline,
            "listing parked certificates",
            || self.store.parked_certificates(integration),
        )
        .await?;
        let jobs = parked
            .into_iter()
            .filter_map(|entry| {
                let since = entry.parked_since()?;
                match entry.state {
                    LedgerState::Parked { job, reason, .. } => {
                        Some((job, JobSource::Parked { since, reason }))
                    }
                    _ => None,
                }
            })
            .collect();
        Ok(self
            .push_jobs(integration, settings, jobs, deadline, progress)
            .await)
    }

    async fn push_jobs(
        &self,
        integration: &IntegrationId,
        settings: &CertificateSettings,
        jobs: Vec<(serde_json::Value, JobSource)>,
        deadline: Deadline,
        progress: &dyn PushProgress,
    ) -> BatchReport {
        let total = jobs.len();
        // A disabled push or unusable settings fail every job alike, and record nothing: the
        // certificates are not at fault.
        let allowed_hosts = if settings.enabled {
            settings
                .validate()
                .and_then(|()| settings.pdf_host_allow_list())
                .map_err(PushError::Settings)
        } else {
            Err(PushError::Disabled)
        };
        let mut reports = Vec::with_capacity(total);
        let mut finished = |report: JobReport| {
            progress.job_finished(report.index + 1, total, &report);
            reports.push(report);
        };
        let problem = match allowed_hosts {
            Err(error) => {
                for (index, (job, _)) in jobs.into_iter().enumerate() {
                    finished(JobReport {
                        index,
                        certificate_id: certificate_id_of(&job),
                        outcome: PushOutcome::failed(&error),
                    });
                }
                error.integration_problem()
            }
            Ok(allowed_hosts) => {
                let mut batch = Batch {
                    integration,
                    settings,
                    allowed_hosts,
                    category: None,
                    deadline,
                    problem: None,
                };
                for (index, (job, source)) in jobs.into_iter().enumerate() {
                    let (certificate_id, outcome) = self.push_job(&mut batch, job, source).await;
                    finished(JobReport {
                        index,
                        certificate_id,
                        outcome,
                    });
                }
                batch.problem
            }
        };
        let report = BatchReport {
            jobs: reports,
            integration_problem: problem,
        };
        tracing::info!(
            %integration,
            jobs = total,
            counts = ?report.counts(),
            problem = ?report.integration_problem,
            "certificate batch finished"
        );
        report
    }

    async fn push_job(
        &self,
        batch: &mut Batch<'_>,
        value: serde_json::Value,
        source: JobSource,
    ) -> (Option<CertificateId>, PushOutcome) {
        let parsed = CertificateJob::parse_with_inline_limit(&value, self.max_inline_pdf_bytes);
        let certificate_id = match &parsed {
            Ok(job) => Some(job.certificate_id.clone()),
            Err(invalid) => invalid.certificate_id.clone(),
        };
        let span = tracing::info_span!(
            "certificate_push",
            integration = %batch.integration,
            certificate = certificate_id.as_ref().map_or("(unreadable)", |id| id.0.as_str()),
        );
        let outcome = match parsed {
            Err(invalid) => {
                self.record_invalid(batch, invalid)
                    .instrument(span.clone())
                    .await
            }
            Ok(job) if &job.integration_id != batch.integration => {
                PushOutcome::failed(&PushError::InvalidJob(JobError {
                    field: "integration_id",
                    reason: format!(
                        "the job is for integration {}, but was submitted to {}",
                        job.integration_id, batch.integration
                    ),
                }))
            }
            Ok(job) => {
                self.push_valid(batch, &job, &value, source)
                    .instrument(span.clone())
                    .await
            }
        };
        span.in_scope(|| match &outcome {
            PushOutcome::Failed { reason, retryable } => {
                tracing::warn!(%reason, retryable, "certificate not pushed");
            }
            outcome => tracing::info!(?outcome, "certificate handled"),
        });
        (certificate_id, outcome)
    }

    async fn push_valid(
        &self,
        batch: &mut Batch<'_>,
        job: &CertificateJob,
        value: &serde_json::Value,
        source: JobSource,
    ) -> PushOutcome {
        if batch.deadline.is_past() {
            return PushOutcome::failed(&PushError::DeadlineExceeded);
        }
        let link = match with_retries(&self.backoff, batch.deadline, "reading the link", || {
            self.store
                .link_by_lms_user(batch.integration, &job.lms_user_id)
        })
        .await
        {
            Ok(link) => link,
            Err(error) => return PushOutcome::failed(&error.into()),
        };
        let Some(link) = link else {
            return self.unlinked(batch, job, value, &source).await;
        };
        let token = ClaimToken::random();
        let claim = Claim {
            token: token.clone(),
            now: (self.clock)(),
            ttl: claim_ttl(batch.settings),
            subject: Some(subject_of(job, Some(link.personio_id))),
        };
        let claimed = with_retries(&self.backoff, batch.deadline, "claiming", || {
            self.store
                .claim_certificate(batch.integration, &job.certificate_id, &claim)
        })
        .await;
        let (expires_at, recovering) = match claimed {
            Ok(LedgerClaim::Claimed {
                expires_at,
                recovering,
            }) => (expires_at, recovering),
            Ok(LedgerClaim::AlreadyDone { document_id }) => {
                return PushOutcome::AlreadyDone { document_id };
            }
            Ok(LedgerClaim::Busy { expires_at }) => return PushOutcome::Busy { until: expires_at },
            Err(error) => return PushOutcome::failed(&error.into()),
        };
        let claim_left = (expires_at - (self.clock)())
            .to_std()
            .unwrap_or_default()
            .saturating_sub(CLAIM_SAFETY_MARGIN);
        let job_deadline = batch.deadline.min(Deadline::after(claim_left));
        let look_first = recovering || matches!(source, JobSource::Parked { .. });
        let attempt = Attempt {
            job,
            token: &token,
            employee: link.personio_id,
        };
        match self
            .upload_claimed(batch, &attempt, look_first, job_deadline)
            .await
        {
            Ok(outcome) => outcome,
            Err(failure) => {
                self.settle_failure(batch, &attempt, value, &source, failure)
                    .await
            }
        }
    }

    async fn upload_claimed(
        &self,
        batch: &mut Batch<'_>,
        attempt: &Attempt<'_>,
        look_first: bool,
        deadline: Deadline,
    ) -> Result<PushOutcome, ClaimedFailure> {
        let known_absent = |error: PushError| ClaimedFailure {
            error,
            document_may_exist: false,
        };
        let job = attempt.job;
        let category = self.category(batch).await.map_err(known_absent)?;
        if look_first {
            let existing = self
                .hr
                .find_documents(attempt.employee, Some(category.id), deadline)
                .await
                .map_err(|error| ClaimedFailure {
                    error: PushError::Lookup(error),
                    document_may_exist: true,
                })?;
            if let Some(found) = existing
                .iter()
                .find(|doc| is_document_of(doc, batch.integration, &job.certificate_id))
            {
                tracing::info!(document_id = %found.id, "found the document of an earlier upload");
                return self.complete(batch, attempt, &found.id).await.map(|()| {
                    PushOutcome::Recovered {
                        document_id: found.id.clone(),
                    }
                });
            }
        }
        let content = self.pdf(batch, job, deadline).await.map_err(known_absent)?;
        let upload = DocumentUpload {
            employee_id: attempt.employee,
            category_id: category.id,
            title: document_title(&job.course_name),
            comment: Some(document_comment(batch.integration, job)),
            date: Some(job.completed_on),
            file_name: document_file_name(job),
            content_type: "application/pdf".into(),
            content,
        };
        let uploaded = match self.hr.upload_document(&upload, deadline).await {
            Ok(uploaded) => uploaded,
            Err(HrError::Rejected {
                status: 404,
                message,
            }) => {
                return Err(known_absent(PushError::UnknownEmployee {
                    employee: attempt.employee,
                    message,
                }));
            }
            // A retryable failure may have reached Personio (a timeout after the upload landed);
            // a permanent one was refused.
            Err(error) => {
                return Err(ClaimedFailure {
                    document_may_exist: error.is_retryable(),
                    error: PushError::Upload(error),
                });
            }
        };
        self.complete(batch, attempt, &uploaded.id)
            .await
            .map(|()| PushOutcome::Uploaded {
                document_id: uploaded.id,
            })
    }

    /// Records the document on the ledger under this attempt's claim. If that fails (the store,
    /// or a claim taken over by another worker) the document exists but the ledger does not say
    /// so: the claim expires and the next worker recovers it by lookup.
    async fn complete(
        &self,
        batch: &Batch<'_>,
        attempt: &Attempt<'_>,
        document_id: &str,
    ) -> Result<(), ClaimedFailure> {
        with_retries(&self.backoff, batch.deadline, "completing", || {
            self.store.complete_certificate(
                batch.integration,
                &attempt.job.certificate_id,
                attempt.token,
                document_id,
                (self.clock)(),
            )
        })
        .await
        .map_err(|error| ClaimedFailure {
            error: error.into(),
            document_may_exist: true,
        })
    }

    /// The batch's category: read and chosen at the first job that needs it, then reused
    /// (a failure too, so that a batch does not hammer Personio with the same failing read).
    async fn category(&self, batch: &mut Batch<'_>) -> Result<DocumentCategory, PushError> {
        let chosen = match &batch.category {
            Some(chosen) => chosen.clone(),
            None => {
                let chosen = match self.hr.document_categories(batch.deadline).await {
                    Ok(categories) => {
                        choose_category(&categories, batch.settings.category.as_deref())
                            .map_err(CategoryFailure::Choice)
                    }
                    Err(error) => Err(CategoryFailure::Read(Arc::new(error))),
                };
                batch.category = Some(chosen.clone());
                chosen
            }
        };
        chosen.map_err(|failure| {
            let error = failure.to_error();
            if batch.problem.is_none() {
                batch.problem = error.integration_problem();
            }
            error
        })
    }

    async fn pdf(
        &self,
        batch: &Batch<'_>,
        job: &CertificateJob,
        deadline: Deadline,
    ) -> Result<Bytes, PushError> {
        match &job.pdf {
            PdfSource::Inline(content) => Ok(content.clone()),
            PdfSource::Url(url) => {
                with_retries(&self.backoff, deadline, "fetching the PDF", || {
                    self.fetcher.fetch(url, &batch.allowed_hosts, deadline)
                })
                .await
                .map_err(PushError::Pdf)
            }
        }
    }

    /// After a claimed job failed: a permanent failure with no document possibly in Personio is
    /// recorded as failed; otherwise the claim is left to expire (and the next worker looks in
    /// Personio first), except for a released parked job, which is parked again: no queue will
    /// deliver it, and a parked job is always looked for before it is uploaded.
    async fn settle_failure(
        &self,
        batch: &mut Batch<'_>,
        attempt: &Attempt<'_>,
        value: &serde_json::Value,
        source: &JobSource,
        failure: ClaimedFailure,
    ) -> PushOutcome {
        let error = failure.error;
        if batch.problem.is_none() {
            batch.problem = error.integration_problem();
        }
        if !error.is_retryable() && !failure.document_may_exist {
            self.record_failure(
                batch,
                &attempt.job.certificate_id,
                attempt.token,
                &error.to_string(),
            )
            .await;
        } else if let JobSource::Parked { since, .. } = source {
            let reason = format!("released, but not pushed yet: {error}");
            if let PushOutcome::Failed { reason, .. } =
                self.park_again(batch, attempt, value, *since, reason).await
            {
                tracing::warn!(%reason, "could not park the released job again");
            }
        }
        PushOutcome::failed(&error)
    }

    /// Writes a permanent failure onto the entry `token` holds; a failed write is only logged
    /// (the claim then expires and the next delivery fails the same way).
    pub(super) async fn record_failure(
        &self,
        batch: &Batch<'_>,
        certificate: &CertificateId,
        token: &ClaimToken,
        reason: &str,
    ) {
        let recorded = with_retries(&self.backoff, batch.deadline, "recording a failure", || {
            self.store.fail_certificate(
                batch.integration,
                certificate,
                token,
                reason,
                (self.clock)(),
            )
        })
        .await;
        if let Err(error) = recorded {
            tracing::warn!(%error, "could not record the certificate's failure");
        }
    }

    /// A job that does not parse fails permanently; when its certificate id is readable (and
    /// it belongs to this integration) the reason is also recorded on its ledger entry, so the
    /// admin API shows why, but only over nothing or an earlier failure: a done certificate, a
    /// parked (good) job and a claim of another worker are left alone.
    async fn record_invalid(&self, batch: &Batch<'_>, invalid: InvalidJob) -> PushOutcome {
        let error = PushError::InvalidJob(invalid.error);
        let outcome = PushOutcome::failed(&error);
        let (Some(integration), Some(certificate)) =
            (invalid.integration_id, invalid.certificate_id)
        else {
            return outcome;
        };
        if &integration != batch.integration {
            return outcome;
        }
        let recordable = match self
            .store
            .certificate(batch.integration, &certificate)
            .await
        {
            Ok(entry) => {
                entry.is_none_or(|entry| matches!(entry.state, LedgerState::Failed { .. }))
            }
            Err(_) => false,
        };
        if !recordable {
            return outcome;
        }
        let claim = Claim {
            token: ClaimToken::random(),
            now: (self.clock)(),
            ttl: claim_ttl(batch.settings),
            subject: None,
        };
        let claimed = self
            .store
            .claim_certificate(batch.integration, &certificate, &claim)
            .await;
        if let Ok(LedgerClaim::Claimed { .. }) = claimed {
            self.record_failure(batch, &certificate, &claim.token, &error.to_string())
                .await;
        }
        outcome
    }
}

/// One claimed attempt at a job: the job, the claim's token, the employee it goes to.
pub(super) struct Attempt<'a> {
    pub(super) job: &'a CertificateJob,
    pub(super) token: &'a ClaimToken,
    pub(super) employee: PersonioId,
}

/// Whose certificate of which course, for the ledger entry.
pub(super) fn subject_of(job: &CertificateJob, employee: Option<PersonioId>) -> CertificateSubject {
    CertificateSubject {
        lms_user_id: job.lms_user_id.clone(),
        email: job.email.clone(),
        personio_id: employee,
        course_name: document_title(&job.course_name),
        completed_on: job.completed_on,
    }
}

pub(super) fn claim_ttl(settings: &CertificateSettings) -> chrono::Duration {
    // Validated settings keep the ttl within a day, far inside chrono's range.
    chrono::Duration::from_std(settings.in_progress_ttl()).unwrap_or(chrono::Duration::MAX)
}

/// The certificate id of a job that is not pushed at all (disabled, bad settings), for reports.
fn certificate_id_of(job: &serde_json::Value) -> Option<CertificateId> {
    CertificateJob::parse(job)
        .map(|job| job.certificate_id)
        .or_else(|invalid| invalid.certificate_id.ok_or(()))
        .ok()
}
