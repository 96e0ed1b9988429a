//! Syncing an integration, as every host does it: the CLI and the Lambda functions call
//! [`sync_integration`] rather than running the sync engine and the certificate pusher themselves.
//!
//! A certificate whose employee has no LMS link yet is parked (see the certificate ledger); the
//! run that creates the link is the moment to push it. So after a real, successful sync the
//! parked certificates of the integration are released here, and every host gets that for free.

use super::run_history::abandoned_notices;
use crate::certificates::{BatchReport, CertificatePusher, PushProgress};
use crate::domain::run::{RunRecord, RunStatus};
use crate::ports::StoreError;
use crate::sync::{SyncEngine, SyncError, SyncOutcome, SyncProgress, SyncRequest};
use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// What [`sync_integration`] did: the sync's outcome and, when it ran, the release of parked
/// certificates.
#[derive(Debug)]
pub struct IntegrationSync {
    pub sync: SyncOutcome,
    /// `None` when no release was due: a dry run, a held lease, a failed run, or certificates
    /// disabled. `Some(Err)` when the ledger could not be listed (the sync itself still counts).
    pub released: Option<Result<BatchReport, StoreError>>,
}

/// How a sync went as a whole, for exit codes, SQS batch failures and API status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncVerdict {
    /// Every employee synced and every released certificate pushed (or was already there).
    Succeeded,
    /// The run finished, but employees failed or were held back, or released certificates failed.
    CompletedWithFailures,
    /// The run could not finish (Personio or the LMS unreachable, credentials rejected).
    Failed,
    /// The run was stopped (a signal, a closed output, its deadline) and stopped cleanly: what it
    /// did is recorded, the rest is left for the next run.
    Aborted,
    /// Another run holds the lease; this one did nothing.
    LeaseHeld,
}

impl IntegrationSync {
    /// The run record, unless the lease was held.
    pub fn record(&self) -> Option<&RunRecord> {
        match &self.sync {
            SyncOutcome::Completed(record) => Some(record),
            SyncOutcome::LeaseHeld { .. } => None,
        }
    }

    /// Who held the lease and until when, when it was held.
    pub fn lease_held(&self) -> Option<(&str, DateTime<Utc>)> {
        match &self.sync {
            SyncOutcome::LeaseHeld { holder, expires_at } => Some((holder, *expires_at)),
            SyncOutcome::Completed(_) => None,
        }
    }

    pub fn verdict(&self) -> SyncVerdict {
        let record = match &self.sync {
            SyncOutcome::LeaseHeld { .. } => return SyncVerdict::LeaseHeld,
            SyncOutcome::Completed(record) => record,
        };
        let release_failed = match &self.released {
            None => false,
            Some(Err(_)) => true,
            Some(Ok(report)) => {
                let counts = report.counts();
                report.integration_problem.is_some()
                    || counts.failed_permanent + counts.failed_retryable + counts.busy > 0
            }
        };
        match record.status {
            RunStatus::Failed | RunStatus::Running | RunStatus::Abandoned => SyncVerdict::Failed,
            RunStatus::Aborted => SyncVerdict::Aborted,
            RunStatus::CompletedWithFailures => SyncVerdict::CompletedWithFailures,
            RunStatus::Succeeded if release_failed => SyncVerdict::CompletedWithFailures,
            RunStatus::Succeeded => SyncVerdict::Succeeded,
        }
    }
}

/// Whether a finished sync may release parked certificates: only a real run that got as far as
/// writing links (a failed run may have written none, and a dry run writes none).
fn releases_parked(request_dry_run: bool, record: &RunRecord) -> bool {
    !request_dry_run
        && !record.dry_run
        && matches!(
            record.status,
            RunStatus::Succeeded | RunStatus::CompletedWithFailures
        )
}

/// Runs one sync of one integration, then releases its parked certificates when the run was real
/// and did not fail and the integration pushes certificates.
pub async fn sync_integration(
    engine: &SyncEngine,
    pusher: &CertificatePusher,
    request: SyncRequest,
    sync_progress: &dyn SyncProgress,
    push_progress: &dyn PushProgress,
) -> Result<IntegrationSync, SyncError> {
    let mut request = request;
    match abandoned_notices(engine.store(), &request.integration_id).await {
        Ok(notices) => request.notices.extend(notices),
        // Only a notice is lost; the run itself does not depend on it.
        Err(error) => warn!(%error, "could not look for abandoned runs"),
    }
    let integration = request.integration_id.clone();
    let certificates = request.settings.certificates.clone();
    let deadline = request.deadline;
    let dry_run = request.dry_run;
    let cancel = request.cancel.clone();
    let sync = engine.run(request, sync_progress).await?;
    let released = match &sync {
        SyncOutcome::Completed(record)
            if certificates.enabled
                && releases_parked(dry_run, record)
                && cancel.requested().is_none() =>
        {
            // A stop asked for meanwhile ends the release: a certificate cut short mid-upload is
            // recovered by its ledger claim (the next push looks for the document first).
            let release =
                pusher.release_parked(&integration, &certificates, deadline, push_progress);
            let released = tokio::select! {
                released = release => released,
                _ = cancel.cancelled() => {
                    info!("stopped while releasing parked certificates");
                    return Ok(IntegrationSync { sync, released: None });
                }
            };
            match &released {
                Ok(report) if !report.jobs.is_empty() => {
                    info!(released = report.jobs.len(), "released parked certificates");
                }
                Ok(_) => {}
                Err(error) => warn!(%error, "could not list the parked certificates"),
            }
            Some(released)
        }
        _ => None,
    };
    Ok(IntegrationSync { sync, released })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::{FetchLimits, PdfFetcher, PushOutcome};
    use crate::domain::IntegrationId;
    use crate::domain::certificate::LedgerState;
    use crate::domain::lms::{LmsProfile, LmsUserId};
    use crate::domain::run::Trigger;
    use crate::domain::settings::IntegrationSettings;
    use crate::lms::memory::MemoryLms;
    use crate::notify::MemoryNotifier;
    use crate::ports::{CertificateLedger, DocumentCategory, LinkStore};
    use crate::progress::NoProgress;
    use crate::store::MemoryStore;
    use crate::sync::testing::{SELECTION_KEY, StaticHrSource, employee};
    use serde_json::json;
    use std::sync::Arc;

    const PDF_BASE64: &str = "JVBERi0xLjQKJSVFT0YK";

    struct Fixture {
        hr: Arc<StaticHrSource>,
        store: Arc<MemoryStore>,
        engine: SyncEngine,
        pusher: CertificatePusher,
        settings: IntegrationSettings,
        integration: IntegrationId,
        /// The LMS user the sync adopts for employee 1 (same email), known before the sync.
        lms_user: LmsUserId,
    }

    fn fixture(certificates_enabled: bool) -> Fixture {
        let hr = Arc::new(StaticHrSource::of(vec![employee(1, "ada@example.com")]));
        hr.set_categories(vec![DocumentCategory {
            id: 7,
            name: "Learning certificates".into(),
        }]);
        let store = Arc::new(MemoryStore::new());
        let lms = Arc::new(MemoryLms::new());
        let lms_user = lms.seed_user(
            LmsProfile {
                external_id: String::new(),
                email: "ada@example.com".into(),
                ..LmsProfile::default()
            },
            "User",
        );
        let engine = SyncEngine::new(
            hr.clone(),
            lms,
            store.clone(),
            Arc::new(MemoryNotifier::new()),
        );
        let fetcher = PdfFetcher::new(FetchLimits::default(), crate::net::NetworkPolicy::LOCAL)
            .expect("a default fetcher");
        let pusher = CertificatePusher::new(hr.clone(), store.clone(), fetcher);
        let mut settings = IntegrationSettings::new(SELECTION_KEY);
        settings.certificates.enabled = certificates_enabled;
        Fixture {
            hr,
            store,
            engine,
            pusher,
            settings,
            integration: IntegrationId::new("acme"),
            lms_user,
        }
    }

    /// Pushes a certificate of the LMS user no employee is linked to yet: it is parked.
    async fn park_for_next_user(f: &Fixture) {
        let job = json!({
            "integration_id": f.integration.as_str(),
            "certificate_id": "cert-1",
            "lms_user_id": f.lms_user.0,
            "course_name": "Fire safety",
            "completed_on": "2026-11-20",
            "pdf_base64": PDF_BASE64,
        });
        let report = f
            .pusher
            .push_one(
                &f.integration,
                &f.settings.certificates,
                job,
                crate::retry::Deadline::none(),
            )
            .await;
        assert!(
            matches!(&report.jobs[0].outcome, PushOutcome::Parked { reason } if reason.contains("not linked")),
            "{:?}",
            report.jobs[0].outcome
        );
    }

    /// The ledger entry of the certificate `park_for_next_user` parked.
    async fn parked_entry(f: &Fixture) -> crate::domain::certificate::LedgerEntry {
        f.store
            .certificate(
                &f.integration,
                &crate::domain::certificate::CertificateId("cert-1".into()),
            )
            .await
            .expect("ledger")
            .expect("entry")
    }

    fn request(f: &Fixture, dry_run: bool) -> SyncRequest {
        let mut request = SyncRequest::new(f.integration.clone(), f.settings.clone(), Trigger::Cli);
        request.dry_run = dry_run;
        request
    }

    #[tokio::test]
    async fn a_successful_sync_releases_parked_certificates() {
        let f = fixture(true);
        park_for_next_user(&f).await;
        let result = sync_integration(
            &f.engine,
            &f.pusher,
            request(&f, false),
            &NoProgress,
            &NoProgress,
        )
        .await
        .expect("the sync runs");
        let links = f.store.links(&f.integration).await.expect("links");
        assert_eq!(links.len(), 1);
        let released = result
            .released
            .as_ref()
            .expect("a release was due")
            .as_ref()
            .expect("the ledger was listed");
        assert_eq!(released.jobs.len(), 1);
        assert_eq!(links[0].lms_user_id, f.lms_user);
        let entry = parked_entry(&f).await;
        assert!(matches!(entry.state, LedgerState::Done { .. }));
        assert_eq!(f.hr.uploaded().len(), 1);
        assert_eq!(result.verdict(), SyncVerdict::Succeeded);
    }

    #[tokio::test]
    async fn a_dry_run_releases_nothing() {
        let f = fixture(true);
        park_for_next_user(&f).await;
        let result = sync_integration(
            &f.engine,
            &f.pusher,
            request(&f, true),
            &NoProgress,
            &NoProgress,
        )
        .await
        .expect("the sync runs");
        assert!(result.released.is_none());
        assert_eq!(result.verdict(), SyncVerdict::Succeeded);
        assert!(f.hr.uploaded().is_empty());
    }

    #[tokio::test]
    async fn disabled_certificates_release_nothing() {
        let f = fixture(false);
        let result = sync_integration(
            &f.engine,
            &f.pusher,
            request(&f, false),
            &NoProgress,
            &NoProgress,
        )
        .await
        .expect("the sync runs");
        assert!(result.released.is_none());
        assert!(result.record().is_some());
    }

    /// Asks the run to stop once its last change is applied.
    struct StopWhenApplied(crate::sync::CancelToken);

    impl SyncProgress for StopWhenApplied {
        fn applied(&self, done: usize, total: usize) {
            if total > 0 && done == total {
                self.0.cancel(crate::sync::StopRequest::Interrupted);
            }
        }
    }

    #[tokio::test]
    async fn a_stop_asked_for_after_the_changes_leaves_parked_certificates_for_the_next_run() {
        let f = fixture(true);
        park_for_next_user(&f).await;
        let request = request(&f, false);
        let progress = StopWhenApplied(request.cancel.clone());

        let result = sync_integration(&f.engine, &f.pusher, request, &progress, &NoProgress)
            .await
            .expect("the sync runs");

        assert_eq!(
            result.verdict(),
            SyncVerdict::Succeeded,
            "every change was applied"
        );
        assert!(result.released.is_none());
        assert!(f.hr.uploaded().is_empty());
        let entry = parked_entry(&f).await;
        assert!(matches!(entry.state, LedgerState::Parked { .. }));
    }

    #[tokio::test]
    async fn a_failed_listing_is_a_failed_verdict_and_releases_nothing() {
        let f = fixture(true);
        f.hr.fail_after_pages(Some(0));
        let result = sync_integration(
            &f.engine,
            &f.pusher,
            request(&f, false),
            &NoProgress,
            &NoProgress,
        )
        .await
        .expect("the sync is recorded");
        assert_eq!(result.verdict(), SyncVerdict::Failed);
        assert!(result.released.is_none());
    }
}
