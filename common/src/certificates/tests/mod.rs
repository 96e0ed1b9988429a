//! The pusher against `MemoryStore` and a recording Personio double: the double and fixture
//! here with the main cases; `recovery` (finding an earlier attempt's document, claims with
//! owners) and `parking` (jobs waiting for their employee) beside them.

use super::fetch::test_server::{Reply, TestServer};
use super::*;
use crate::domain::IntegrationId;
use crate::domain::certificate::{CertificateId, Claim, LedgerClaim, LedgerState};
use crate::domain::employee::{EmployeePage, PersonioId};
use crate::domain::link::EmployeeLink;
use crate::domain::lms::{LmsProfile, LmsUserId};
use crate::domain::settings::CertificateSettings;
use crate::lms::memory::MemoryLms;
use crate::ports::{
    CertificateLedger, DocumentCategory, DocumentUpload, EmployeeQuery, ExistingDocument, HrError,
    HrSource, LearningPlatform, LinkStore, UploadedDocument,
};
use crate::progress::NoProgress;
use crate::retry::{Backoff, Deadline};
use crate::store::MemoryStore;
use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use futures::stream::BoxStream;
use serde_json::{Value, json};
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const PDF: &[u8] = b"%PDF-1.7\n% certificate\n%%EOF\n";

/// What the double does on the next upload.
#[derive(Debug)]
enum UploadFault {
    /// Refused or failed without storing anything.
    Fail(HrError),
    /// Stores the document, then the worker "crashes" (panics) before it can write the ledger.
    CrashAfterUpload,
    /// Stores the document, then the answer is lost (a timeout after Personio processed it).
    LostAnswer,
    /// Tells `entered`, waits for `resume`, then stores the document, or refuses with `then`:
    /// a worker that is slow for as long as the test wants.
    Pause {
        entered: Arc<Notify>,
        resume: Arc<Notify>,
        then: Option<HrError>,
    },
}

#[derive(Default)]
struct HrState {
    categories: Vec<DocumentCategory>,
    category_reads: usize,
    uploads: Vec<DocumentUpload>,
    documents: Vec<(PersonioId, ExistingDocument)>,
    lookups: usize,
    faults: VecDeque<UploadFault>,
    unknown_employees: BTreeSet<PersonioId>,
    /// Answer the category read with rejected credentials.
    reject_credentials_on_categories: bool,
    /// Refuse the document list (a credential without access to Personio's v2 API).
    refuse_lookups: bool,
}

/// A Personio double for documents: records uploads, lists them back like the v2 list.
#[derive(Default)]
struct RecordingHr {
    state: Mutex<HrState>,
}

impl RecordingHr {
    fn with_categories(names: &[&str]) -> Arc<Self> {
        let hr = Self::default();
        hr.state().categories = names
            .iter()
            .enumerate()
            .map(|(index, name)| DocumentCategory {
                id: 100 + index as i64,
                name: name.to_string(),
            })
            .collect();
        Arc::new(hr)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HrState> {
        self.state.lock().unwrap()
    }

    fn fault_next_upload(&self, fault: UploadFault) {
        self.state().faults.push_back(fault);
    }

    fn uploads(&self) -> Vec<DocumentUpload> {
        self.state().uploads.clone()
    }

    fn document_count(&self) -> usize {
        self.state().documents.len()
    }
}

#[async_trait]
impl HrSource for RecordingHr {
    fn employee_pages<'a>(
        &'a self,
        _query: &'a EmployeeQuery,
        _deadline: Deadline,
    ) -> BoxStream<'a, Result<EmployeePage, HrError>> {
        Box::pin(futures::stream::empty())
    }

    /// It lists nobody, so it knows nobody.
    async fn employee(
        &self,
        _id: PersonioId,
        _deadline: Deadline,
    ) -> Result<Option<crate::domain::employee::EmployeeRecord>, HrError> {
        Ok(None)
    }

    async fn document_categories(
        &self,
        _deadline: Deadline,
    ) -> Result<Vec<DocumentCategory>, HrError> {
        let mut state = self.state();
        state.category_reads += 1;
        if state.reject_credentials_on_categories {
            return Err(HrError::Unauthorized {
                message: "invalid client".into(),
            });
        }
        Ok(state.categories.clone())
    }

    async fn upload_document(
        &self,
        document: &DocumentUpload,
        _deadline: Deadline,
    ) -> Result<UploadedDocument, HrError> {
        let fault = {
            let mut state = self.state();
            if state.unknown_employees.contains(&document.employee_id) {
                return Err(HrError::Rejected {
                    status: 404,
                    message: "Employee not found".into(),
                });
            }
            match state.faults.pop_front() {
                Some(UploadFault::Fail(error)) => return Err(error),
                other => other,
            }
        };
        let fault = match fault {
            Some(UploadFault::Pause {
                entered,
                resume,
                then,
            }) => {
                entered.notify_one();
                resume.notified().await;
                if let Some(error) = then {
                    return Err(error);
                }
                None
            }
            other => other,
        };
        let id = {
            let mut state = self.state();
            let id = format!("doc-{}", state.documents.len() + 1);
            state.uploads.push(document.clone());
            state.documents.push((
                document.employee_id,
                ExistingDocument {
                    id: id.clone(),
                    title: document.title.clone(),
                    category_id: Some(document.category_id),
                    date: document.date,
                    comment: document.comment.clone(),
                },
            ));
            id
        };
        match fault {
            Some(UploadFault::CrashAfterUpload) => panic!("simulated crash after the upload"),
            Some(UploadFault::LostAnswer) => Err(HrError::Unavailable {
                reason: "timed out".into(),
                attempts: 1,
            }),
            _ => Ok(UploadedDocument { id }),
        }
    }

    async fn find_documents(
        &self,
        owner: PersonioId,
        category_id: Option<i64>,
        _deadline: Deadline,
    ) -> Result<Vec<ExistingDocument>, HrError> {
        let mut state = self.state();
        state.lookups += 1;
        if state.refuse_lookups {
            return Err(HrError::Rejected {
                status: 403,
                message: "Forbidden".into(),
            });
        }
        Ok(state
            .documents
            .iter()
            .filter(|(employee, document)| {
                *employee == owner && category_id.is_none_or(|id| document.category_id == Some(id))
            })
            .map(|(_, document)| document.clone())
            .collect())
    }
}

/// A clock the test moves forward, to let claims expire.
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
        )))
    }

    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

struct Fixture {
    hr: Arc<RecordingHr>,
    store: MemoryStore,
    clock: TestClock,
    pusher: CertificatePusher,
}

fn fast_backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 3,
    }
}

fn fixture_with(hr: Arc<RecordingHr>, limits: FetchLimits) -> Fixture {
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let reading = clock.clone();
    let pusher = CertificatePusher::new(
        hr.clone(),
        Arc::new(store.clone()),
        PdfFetcher::new(limits, crate::net::NetworkPolicy::LOCAL).unwrap(),
    )
    .with_backoff(fast_backoff())
    .with_clock(Arc::new(move || reading.now()));
    Fixture {
        hr,
        store,
        clock,
        pusher,
    }
}

fn fixture(categories: &[&str]) -> Fixture {
    fixture_with(
        RecordingHr::with_categories(categories),
        FetchLimits::default(),
    )
}

fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

fn settings() -> CertificateSettings {
    CertificateSettings {
        enabled: true,
        allowed_pdf_hosts: vec!["127.0.0.1".into(), "*.lms.example".into()],
        ..CertificateSettings::default()
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(30))
}

fn job(certificate: &str, user: &str) -> Value {
    json!({
        "integration_id": "acme",
        "certificate_id": certificate,
        "lms_user_id": user,
        "email": format!("{user}@acme.example"),
        "course_name": format!("Course {certificate}"),
        "completed_on": "2026-11-20",
        "valid_until": "2028-11-20",
        "pdf_base64": base64::engine::general_purpose::STANDARD.encode(PDF),
    })
}

async fn link(store: &MemoryStore, personio_id: i64, user: &str) {
    let link = EmployeeLink {
        integration_id: acme(),
        personio_id: PersonioId(personio_id),
        lms_user_id: LmsUserId(user.into()),
        email: format!("{user}@acme.example"),
        profile_hash: "h".into(),
        groups: BTreeSet::new(),
        active: true,
        updated_at: Utc::now(),
        version: 1,
        profile: None,
        invited_at: None,
        invitation_pending: false,
    };
    store.put_link(&link, None).await.unwrap();
}

impl Fixture {
    async fn push(&self, jobs: Vec<Value>) -> BatchReport {
        self.pusher
            .push_batch(&acme(), &settings(), jobs, deadline(), &NoProgress)
            .await
    }

    async fn push_one(&self, job: Value) -> PushOutcome {
        let mut report = self
            .pusher
            .push_one(&acme(), &settings(), job, deadline())
            .await;
        assert_eq!(report.jobs.len(), 1);
        report.jobs.remove(0).outcome
    }

    async fn entry(&self, certificate: &str) -> crate::domain::certificate::LedgerEntry {
        self.store
            .certificate(&acme(), &CertificateId(certificate.into()))
            .await
            .unwrap()
            .expect("a ledger entry")
    }

    async fn state(&self, certificate: &str) -> Option<LedgerState> {
        self.store
            .certificate(&acme(), &CertificateId(certificate.into()))
            .await
            .unwrap()
            .map(|entry| entry.state)
    }
}

fn outcomes(report: &BatchReport) -> Vec<PushOutcome> {
    report.jobs.iter().map(|job| job.outcome.clone()).collect()
}

fn uploaded(id: &str) -> PushOutcome {
    PushOutcome::Uploaded {
        document_id: id.into(),
    }
}

fn reason(outcome: &PushOutcome) -> &str {
    match outcome {
        PushOutcome::Failed { reason, .. } => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn uploads_into_the_first_default_category_that_exists() {
    for (categories, expected) in [
        (
            &[
                "Other documents",
                "Bildungszertifikate",
                "learning certificates ",
            ][..],
            102,
        ),
        (
            &["Other documents", "BILDUNGSZERTIFIKATE", "Verträge"][..],
            101,
        ),
        (&["Verträge", " other documents"][..], 101),
    ] {
        let f = fixture(categories);
        link(&f.store, 7, "u-1").await;
        assert_eq!(f.push_one(job("c-1", "u-1")).await, uploaded("doc-1"));
        let uploads = f.hr.uploads();
        assert_eq!(uploads.len(), 1);
        let upload = &uploads[0];
        assert_eq!(upload.category_id, expected, "{categories:?}");
        assert_eq!(upload.employee_id, PersonioId(7));
        assert_eq!(upload.title, "Course c-1");
        assert_eq!(upload.date, chrono::NaiveDate::from_ymd_opt(2026, 11, 20));
        assert_eq!(
            upload.comment.as_deref(),
            Some(
                "Course certificate: Course c-1. Completed on 2026-11-20. Valid until \
                 2028-11-20. LMS certificate \"c-1\" of integration \"acme\"."
            )
        );
        assert_eq!(upload.file_name, "certificate-course-c-1-2026-11-20.pdf");
        assert_eq!(upload.content_type, "application/pdf");
        assert_eq!(&upload.content[..], PDF);
        assert_eq!(
            f.state("c-1").await,
            Some(LedgerState::Done {
                document_id: "doc-1".into()
            })
        );
    }
}

#[tokio::test]
async fn categories_are_read_once_per_batch_and_only_when_needed() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    // A parked job needs no category.
    f.push(vec![job("c-0", "nobody")]).await;
    assert_eq!(f.hr.state().category_reads, 0);
    let report = f
        .push(vec![
            job("c-1", "u-1"),
            job("c-2", "u-1"),
            job("c-3", "u-1"),
        ])
        .await;
    assert_eq!(report.counts().uploaded, 3);
    assert_eq!(f.hr.state().category_reads, 1);
}

#[tokio::test]
async fn a_missing_configured_category_fails_every_job_and_the_integration() {
    let f = fixture(&["Other documents"]);
    link(&f.store, 7, "u-1").await;
    let settings = CertificateSettings {
        category: Some("Zertifikate".into()),
        ..settings()
    };
    let report = f
        .pusher
        .push_batch(
            &acme(),
            &settings,
            vec![job("c-1", "u-1"), job("c-2", "u-1")],
            deadline(),
            &NoProgress,
        )
        .await;
    let expected = "the configured document category \"Zertifikate\" does not exist in \
                    Personio (categories: Other documents)";
    for outcome in outcomes(&report) {
        assert_eq!(
            outcome,
            PushOutcome::Failed {
                reason: expected.into(),
                retryable: false
            }
        );
    }
    assert_eq!(
        report.integration_problem,
        Some(IntegrationProblem::Category(expected.into()))
    );
    assert_eq!(f.hr.state().category_reads, 1);
    assert!(f.hr.uploads().is_empty());
    assert_eq!(
        f.state("c-2").await,
        Some(LedgerState::Failed {
            reason: expected.into()
        })
    );
}

#[tokio::test]
async fn no_usable_default_category_is_a_clear_error() {
    let f = fixture(&["Verträge"]);
    link(&f.store, 7, "u-1").await;
    let report = f.push(vec![job("c-1", "u-1")]).await;
    assert!(reason(&report.jobs[0].outcome).contains("none of the document categories"));
    assert!(matches!(
        report.integration_problem,
        Some(IntegrationProblem::Category(_))
    ));
}

#[tokio::test]
async fn a_job_for_an_unlinked_employee_is_parked_and_released_after_the_link_appears() {
    let f = fixture(&["Learning certificates"]);
    let parked_job = job("c-1", "u-new");
    let waiting = "LMS user u-new is not linked to a Personio employee yet";
    assert_eq!(
        f.push_one(parked_job.clone()).await,
        PushOutcome::Parked {
            reason: waiting.into()
        }
    );
    assert_eq!(
        f.state("c-1").await,
        Some(LedgerState::Parked {
            job: parked_job.clone(),
            since: Some(f.clock.now()),
            reason: Some(waiting.into()),
        })
    );
    let entry = f.entry("c-1").await;
    let subject = entry.subject.expect("the subject is kept");
    assert_eq!(
        (subject.lms_user_id.0.as_str(), subject.course_name.as_str()),
        ("u-new", "Course c-1")
    );
    assert_eq!(subject.personio_id, None);

    // A sync run that did not link the employee: the job stays parked, untouched.
    let writes = f.store.stats().certificate_writes;
    let report = f
        .pusher
        .release_parked(&acme(), &settings(), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&report),
        vec![PushOutcome::Parked {
            reason: waiting.into()
        }]
    );
    assert_eq!(f.store.stats().certificate_writes, writes);

    link(&f.store, 9, "u-new").await;
    let report = f
        .pusher
        .release_parked(&acme(), &settings(), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(outcomes(&report), vec![uploaded("doc-1")]);
    assert_eq!(f.hr.uploads()[0].employee_id, PersonioId(9));
    // Nothing left to release.
    let again = f
        .pusher
        .release_parked(&acme(), &settings(), deadline(), &NoProgress)
        .await
        .unwrap();
    assert!(again.jobs.is_empty());
    assert_eq!(f.hr.document_count(), 1);
}

#[tokio::test]
async fn a_released_job_that_fails_retryably_is_parked_again() {
    let f = fixture(&["Learning certificates"]);
    f.push_one(job("c-1", "u-1")).await;
    link(&f.store, 7, "u-1").await;
    f.hr.fault_next_upload(UploadFault::Fail(HrError::Unavailable {
        reason: "HTTP 503".into(),
        attempts: 12,
    }));
    let report = f
        .pusher
        .release_parked(&acme(), &settings(), deadline(), &NoProgress)
        .await
        .unwrap();
    assert!(report.jobs[0].outcome.is_retryable());
    assert!(matches!(
        f.state("c-1").await,
        Some(LedgerState::Parked { .. })
    ));
    let report = f
        .pusher
        .release_parked(&acme(), &settings(), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(outcomes(&report), vec![uploaded("doc-1")]);
}

#[tokio::test]
async fn a_released_job_whose_lookup_is_refused_stays_parked_and_is_not_uploaded() {
    let f = fixture(&["Learning certificates"]);
    f.push_one(job("c-1", "u-1")).await;
    link(&f.store, 7, "u-1").await;
    f.hr.state().refuse_lookups = true;
    let report = f
        .pusher
        .release_parked(&acme(), &settings(), deadline(), &NoProgress)
        .await
        .unwrap();
    assert!(reason(&report.jobs[0].outcome).starts_with(
        "looking for an earlier upload of the certificate in Personio failed: Personio refused \
         the request (HTTP 403)"
    ));
    assert!(f.hr.uploads().is_empty());
    assert!(matches!(
        f.state("c-1").await,
        Some(LedgerState::Parked { .. })
    ));
}

#[tokio::test]
async fn a_redelivered_job_uploads_and_fetches_nothing_twice() {
    let server = TestServer::start(vec![("/c/1.pdf", Reply::ok(PDF))]).await;
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    let mut by_url = job("c-1", "u-1");
    by_url.as_object_mut().unwrap().remove("pdf_base64");
    by_url["pdf_url"] = json!(server.url("/c/1.pdf?X-Amz-Signature=abc").as_str());

    assert_eq!(f.push_one(by_url.clone()).await, uploaded("doc-1"));
    assert_eq!(
        f.push_one(by_url).await,
        PushOutcome::AlreadyDone {
            document_id: "doc-1".into()
        }
    );
    assert_eq!(f.hr.document_count(), 1);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_crash_after_the_upload_is_recovered_without_a_second_document() {
    let f = Arc::new(fixture(&["Learning certificates"]));
    link(&f.store, 7, "u-1").await;
    f.hr.fault_next_upload(UploadFault::CrashAfterUpload);
    let crashing = f.clone();
    let crashed = tokio::spawn(async move { crashing.push_one(job("c-1", "u-1")).await }).await;
    assert!(crashed.unwrap_err().is_panic());
    assert_eq!(f.hr.document_count(), 1);
    assert!(matches!(
        f.state("c-1").await,
        Some(LedgerState::InProgress { .. })
    ));

    // While the dead worker's claim is fresh, another worker backs off.
    let busy = f.push_one(job("c-1", "u-1")).await;
    assert!(matches!(busy, PushOutcome::Busy { .. }));
    assert!(busy.is_retryable());

    f.clock.advance(chrono::Duration::hours(1));
    assert_eq!(
        f.push_one(job("c-1", "u-1")).await,
        PushOutcome::Recovered {
            document_id: "doc-1".into()
        }
    );
    assert_eq!(f.hr.document_count(), 1);
    assert_eq!(f.hr.uploads().len(), 1);
    assert_eq!(
        f.state("c-1").await,
        Some(LedgerState::Done {
            document_id: "doc-1".into()
        })
    );
}

#[tokio::test]
async fn a_lost_upload_answer_leaves_the_claim_to_be_recovered() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    f.hr.fault_next_upload(UploadFault::LostAnswer);
    let outcome = f.push_one(job("c-1", "u-1")).await;
    assert!(outcome.is_retryable(), "{outcome:?}");
    assert!(matches!(
        f.state("c-1").await,
        Some(LedgerState::InProgress { .. })
    ));
    f.clock.advance(chrono::Duration::hours(1));
    assert_eq!(
        f.push_one(job("c-1", "u-1")).await,
        PushOutcome::Recovered {
            document_id: "doc-1".into()
        }
    );
    assert_eq!(f.hr.document_count(), 1);
}

#[tokio::test]
async fn a_busy_certificate_is_left_to_its_worker() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    let claim = f
        .store
        .claim_certificate(
            &acme(),
            &CertificateId("c-1".into()),
            &Claim::new(f.clock.now(), chrono::Duration::minutes(15)),
        )
        .await
        .unwrap();
    let LedgerClaim::Claimed { expires_at, .. } = claim else {
        panic!("{claim:?}")
    };
    assert_eq!(
        f.push_one(job("c-1", "u-1")).await,
        PushOutcome::Busy { until: expires_at }
    );
    assert!(f.hr.uploads().is_empty());
}

#[tokio::test]
async fn retryable_failures_are_left_to_expire_and_retried_with_a_lookup() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    f.hr.fault_next_upload(UploadFault::Fail(HrError::Unavailable {
        reason: "HTTP 429".into(),
        attempts: 12,
    }));
    let outcome = f.push_one(job("c-1", "u-1")).await;
    assert_eq!(
        outcome,
        PushOutcome::Failed {
            reason: "uploading the certificate to Personio failed: Personio is unavailable: \
                     HTTP 429 (after 12 attempts)"
                .into(),
            retryable: true
        }
    );
    assert!(matches!(
        f.state("c-1").await,
        Some(LedgerState::InProgress { .. })
    ));
    f.clock.advance(chrono::Duration::hours(1));
    assert_eq!(f.push_one(job("c-1", "u-1")).await, uploaded("doc-1"));
    assert_eq!(f.hr.state().lookups, 1);
}

#[tokio::test]
async fn permanent_failures_are_recorded_on_the_ledger() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    link(&f.store, 8, "u-2").await;
    f.hr.state().unknown_employees.insert(PersonioId(8));
    f.hr.fault_next_upload(UploadFault::Fail(HrError::Rejected {
        status: 422,
        message: "Datei ungültig".into(),
    }));
    let report = f.push(vec![job("c-1", "u-1"), job("c-2", "u-2")]).await;
    let expected = [
        "uploading the certificate to Personio failed: Personio refused the request (HTTP 422): \
         Datei ungültig",
        "employee 8 is unknown to Personio: Employee not found",
    ];
    for (job, expected) in report.jobs.iter().zip(expected) {
        assert_eq!(
            job.outcome,
            PushOutcome::Failed {
                reason: expected.into(),
                retryable: false
            }
        );
        let certificate = job.certificate_id.clone().unwrap();
        assert_eq!(
            f.state(&certificate.0).await,
            Some(LedgerState::Failed {
                reason: expected.into()
            })
        );
    }
    // A failed certificate may be tried again by a later delivery.
    assert_eq!(f.push_one(job("c-1", "u-1")).await, uploaded("doc-1"));
}

#[tokio::test]
async fn rejected_credentials_are_an_integration_problem() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    f.hr.fault_next_upload(UploadFault::Fail(HrError::Unauthorized {
        message: "invalid client".into(),
    }));
    let report = f.push(vec![job("c-1", "u-1")]).await;
    assert!(!report.jobs[0].outcome.is_retryable());
    assert_eq!(
        report.integration_problem,
        Some(IntegrationProblem::Credentials("invalid client".into()))
    );
}

#[tokio::test]
async fn a_failed_category_read_is_not_repeated_within_the_batch() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    f.hr.state().reject_credentials_on_categories = true;
    let report = f.push(vec![job("c-1", "u-1"), job("c-2", "u-1")]).await;
    for outcome in outcomes(&report) {
        assert_eq!(
            reason(&outcome),
            "reading Personio's document categories failed: Personio rejected the API \
             credentials: invalid client"
        );
        assert!(!outcome.is_retryable());
    }
    assert_eq!(f.hr.state().category_reads, 1);
    assert_eq!(
        report.integration_problem,
        Some(IntegrationProblem::Credentials("invalid client".into()))
    );
}

#[tokio::test]
async fn each_bad_job_gets_its_own_reason_and_the_good_one_still_arrives() {
    let server = TestServer::start(vec![
        ("/login.html", Reply::ok(b"<html>sign in</html>")),
        ("/big.pdf", {
            let mut big = PDF.to_vec();
            big.resize(200 * 1024, b'x');
            Reply::ok(&big).chunked()
        }),
        ("/gone.pdf", Reply::status(404)),
    ])
    .await;
    let limits = FetchLimits {
        max_bytes: 100 * 1024,
        ..FetchLimits::default()
    };
    let f = fixture_with(RecordingHr::with_categories(&["Other documents"]), limits);
    link(&f.store, 7, "u-1").await;
    let with = |certificate: &str, field: &str, value: Value| {
        let mut job = job(certificate, "u-1");
        if field.starts_with("pdf_") {
            job.as_object_mut().unwrap().remove("pdf_base64");
        }
        if value.is_null() {
            job.as_object_mut().unwrap().remove(field);
        } else {
            job[field] = value;
        }
        job
    };
    let url = |path: &str| json!(server.url(path).as_str());
    let too_large_inline = {
        let mut content = PDF.to_vec();
        content.resize(MAX_INLINE_PDF_BYTES + 1, b'x');
        json!(base64::engine::general_purpose::STANDARD.encode(content))
    };
    let jobs = vec![
        with("bad-1", "course_name", Value::Null),
        with("bad-2", "completed_on", json!("31.12.2026")),
        with("bad-3", "pdf_url", url("/login.html")),
        with(
            "bad-4",
            "pdf_url",
            json!("https://files.elsewhere.example/c.pdf"),
        ),
        with("bad-5", "pdf_url", json!("http://files.lms.example/c.pdf")),
        with("bad-6", "pdf_url", url("/big.pdf")),
        with("bad-7", "pdf_base64", too_large_inline),
        with("bad-8", "pdf_base64", json!("%%%")),
        with("bad-9", "pdf_url", url("/gone.pdf")),
        json!("not an object"),
        job("good", "u-1"),
    ];
    let report = f.push(jobs).await;
    let reasons: Vec<String> = report.jobs[..10]
        .iter()
        .map(|job| {
            assert!(!job.outcome.is_retryable(), "{job:?}");
            reason(&job.outcome).to_owned()
        })
        .collect();
    let expected_starts = [
        "invalid certificate job: course_name: missing",
        "invalid certificate job: completed_on: expected a date YYYY-MM-DD, got \"31.12.2026\"",
        "the content at pdf_url is not a PDF",
        "pdf_url host \"files.elsewhere.example\" is not in the integration's allowed_pdf_hosts",
        "pdf_url must use https (plain http only for loopback hosts): http://files.lms.example/c.pdf",
        "the PDF is larger than 102400 bytes",
        "invalid certificate job: pdf_base64: the inline PDF is",
        "invalid certificate job: pdf_base64: not valid base64",
        "no PDF at pdf_url (HTTP 404)",
        "invalid certificate job: job: expected a JSON object, got a string",
    ];
    for (reason, expected) in reasons.iter().zip(expected_starts) {
        assert!(
            reason.starts_with(expected),
            "{reason:?} should start with {expected:?}"
        );
    }
    assert_eq!(report.jobs[10].outcome, uploaded("doc-1"));
    assert_eq!(f.hr.document_count(), 1);
    // Bad jobs with a readable certificate id are recorded, with their reason.
    assert_eq!(
        f.state("bad-2").await,
        Some(LedgerState::Failed {
            reason: reasons[1].clone()
        })
    );
    assert_eq!(
        f.state("bad-4").await,
        Some(LedgerState::Failed {
            reason: reasons[3].clone()
        })
    );
    assert_eq!(report.integration_problem, None);
}

#[tokio::test]
async fn a_bad_redelivery_does_not_overwrite_a_parked_or_done_certificate() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    f.push(vec![job("c-1", "u-1"), job("c-2", "u-unlinked")])
        .await;
    let mut broken = job("c-1", "u-1");
    broken["completed_on"] = json!("yesterday");
    let mut broken_parked = job("c-2", "u-unlinked");
    broken_parked["completed_on"] = json!("yesterday");
    let report = f.push(vec![broken, broken_parked]).await;
    assert_eq!(report.counts().failed_permanent, 2);
    assert!(matches!(
        f.state("c-1").await,
        Some(LedgerState::Done { .. })
    ));
    assert!(matches!(
        f.state("c-2").await,
        Some(LedgerState::Parked { .. })
    ));
}

#[tokio::test]
async fn a_job_of_another_integration_is_refused_and_not_recorded() {
    let f = fixture(&["Learning certificates"]);
    let mut foreign = job("c-1", "u-1");
    foreign["integration_id"] = json!("globex");
    let outcome = f.push_one(foreign).await;
    assert_eq!(
        reason(&outcome),
        "invalid certificate job: integration_id: the job is for integration globex, but was \
         submitted to acme"
    );
    assert_eq!(f.store.stats().certificate_writes, 0);
}

#[tokio::test]
async fn a_disabled_push_refuses_every_job_without_recording() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    let disabled = CertificateSettings {
        enabled: false,
        ..settings()
    };
    let report = f
        .pusher
        .push_batch(
            &acme(),
            &disabled,
            vec![job("c-1", "u-1")],
            deadline(),
            &NoProgress,
        )
        .await;
    assert_eq!(
        report.jobs[0].certificate_id,
        Some(CertificateId("c-1".into()))
    );
    assert_eq!(
        reason(&report.jobs[0].outcome),
        "certificate push is disabled for this integration"
    );
    assert_eq!(f.store.stats().certificate_writes, 0);
    assert_eq!(f.hr.state().category_reads, 0);
}

#[tokio::test]
async fn unusable_settings_fail_every_job_and_name_the_setting() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    let broken = CertificateSettings {
        allowed_pdf_hosts: vec!["https://files.lms.example/".into()],
        ..settings()
    };
    let report = f
        .pusher
        .push_batch(
            &acme(),
            &broken,
            vec![job("c-1", "u-1"), json!({})],
            deadline(),
            &NoProgress,
        )
        .await;
    let expected = "the integration's certificate settings are invalid: allowed_pdf_hosts[0]: \
                    expected a host name like files.example.com, not a URL: \
                    \"https://files.lms.example/\"";
    assert_eq!(report.counts().failed_permanent, 2);
    assert_eq!(reason(&report.jobs[1].outcome), expected);
    assert_eq!(
        report.integration_problem,
        Some(IntegrationProblem::Settings(
            "allowed_pdf_hosts[0]: expected a host name like files.example.com, not a URL: \
             \"https://files.lms.example/\""
                .into()
        ))
    );
    assert_eq!(f.store.stats().certificate_writes, 0);
}

#[tokio::test]
async fn a_passed_deadline_leaves_jobs_for_redelivery() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    let report = f
        .pusher
        .push_batch(
            &acme(),
            &settings(),
            vec![job("c-1", "u-1")],
            Deadline::after(Duration::ZERO),
            &NoProgress,
        )
        .await;
    assert!(report.jobs[0].outcome.is_retryable());
    assert_eq!(f.state("c-1").await, None);
}

#[tokio::test]
async fn a_repeated_backfill_pushes_nothing_twice() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    let ndjson = (1..=5)
        .map(|n| job(&format!("c-{n}"), "u-1").to_string())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n{broken\n";
    let parse = || {
        parse_ndjson(&ndjson)
            .into_iter()
            .filter_map(Result::ok)
            .collect::<Vec<_>>()
    };
    assert_eq!(parse_ndjson(&ndjson)[5].as_ref().unwrap_err().line, 6);

    struct Counting(AtomicUsize);
    impl PushProgress for Counting {
        fn job_finished(&self, done: usize, total: usize, _report: &JobReport) {
            assert_eq!(total, 5);
            assert_eq!(done, self.0.fetch_add(1, Ordering::SeqCst) + 1);
        }
    }
    let progress = Counting(AtomicUsize::new(0));
    let first = f
        .pusher
        .push_batch(&acme(), &settings(), parse(), deadline(), &progress)
        .await;
    assert_eq!(first.counts().uploaded, 5);
    assert_eq!(progress.0.load(Ordering::SeqCst), 5);
    let second = f.push(parse()).await;
    assert_eq!(second.counts().already_done, 5);
    assert_eq!(f.hr.document_count(), 5);
}

mod parking;
mod recovery;
