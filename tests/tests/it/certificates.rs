//! The certificate push over HTTP: the real Personio client against the Personio sandbox, with
//! the in-memory state store.

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use common::certificates::{BatchReport, CertificatePusher, FetchLimits, PdfFetcher, PushOutcome};
use common::domain::IntegrationId;
use common::domain::certificate::{CertificateId, Claim, LedgerState};
use common::domain::employee::{EmployeePage, PersonioId};
use common::domain::link::EmployeeLink;
use common::domain::lms::LmsUserId;
use common::domain::settings::CertificateSettings;
use common::net::NetworkPolicy;
use common::personio::{PersonioClient, PersonioConfig, RateLimits as ClientLimits, RateWindow};
use common::ports::{
    CertificateLedger, DocumentCategory, DocumentUpload, EmployeeQuery, ExistingDocument, HrError,
    HrSource, LinkStore, UploadedDocument,
};
use common::progress::NoProgress;
use common::retry::{Backoff, Deadline};
use common::secret::Secret;
use common::store::MemoryStore;
use futures::stream::BoxStream;
use personio_sandbox::{
    DocumentCategory as SandboxCategory, Endpoint, RateLimitRule, RateLimits, RunningSandbox,
    Sandbox, SandboxConfig,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PDF: &[u8] = b"%PDF-1.4\n% sandbox certificate\n%%EOF\n";

/// The Personio client, with a switch that "crashes" the worker (panics) right after an upload
/// succeeded, before the pusher can record it.
struct CrashingHr {
    inner: PersonioClient,
    crash_after_upload: AtomicBool,
}

#[async_trait]
impl HrSource for CrashingHr {
    fn employee_pages<'a>(
        &'a self,
        query: &'a EmployeeQuery,
        deadline: Deadline,
    ) -> BoxStream<'a, Result<EmployeePage, HrError>> {
        self.inner.employee_pages(query, deadline)
    }

    async fn employee(
        &self,
        id: PersonioId,
        deadline: Deadline,
    ) -> Result<Option<common::domain::employee::EmployeeRecord>, HrError> {
        self.inner.employee(id, deadline).await
    }

    async fn document_categories(
        &self,
        deadline: Deadline,
    ) -> Result<Vec<DocumentCategory>, HrError> {
        self.inner.document_categories(deadline).await
    }

    async fn upload_document(
        &self,
        document: &DocumentUpload,
        deadline: Deadline,
    ) -> Result<UploadedDocument, HrError> {
        let uploaded = self.inner.upload_document(document, deadline).await?;
        if self.crash_after_upload.swap(false, Ordering::SeqCst) {
            panic!(
                "simulated crash after the upload of document {}",
                uploaded.id
            );
        }
        Ok(uploaded)
    }

    async fn find_documents(
        &self,
        owner: PersonioId,
        category_id: Option<i64>,
        deadline: Deadline,
    ) -> Result<Vec<ExistingDocument>, HrError> {
        self.inner
            .find_documents(owner, category_id, deadline)
            .await
    }
}

struct Setup {
    sandbox: RunningSandbox,
    hr: Arc<CrashingHr>,
    store: MemoryStore,
    clock: Arc<Mutex<DateTime<Utc>>>,
    pusher: CertificatePusher,
    employees: Vec<u64>,
}

/// A sandbox (distinct seeds keep the per-credential client budgets of parallel tests apart)
/// and a pusher over the real client.
async fn setup(config: SandboxConfig, client_limits: ClientLimits) -> Setup {
    let sandbox = Sandbox::start(config.with_employees(4)).await.unwrap();
    let (client_id, secret) = sandbox.default_credential();
    let mut client_config = PersonioConfig::new(client_id, Secret::new(secret))
        .with_base_url(sandbox.base_url().parse().unwrap());
    client_config.limits = client_limits;
    client_config.backoff = Backoff {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(1),
        max_attempts: 40,
    };
    let hr = Arc::new(CrashingHr {
        inner: PersonioClient::new(client_config).unwrap(),
        crash_after_upload: AtomicBool::new(false),
    });
    let store = MemoryStore::new();
    let clock = Arc::new(Mutex::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
    ));
    let reading = clock.clone();
    let pusher = CertificatePusher::new(
        hr.clone(),
        Arc::new(store.clone()),
        PdfFetcher::new(FetchLimits::default(), NetworkPolicy::LOCAL).unwrap(),
    )
    .with_clock(Arc::new(move || *reading.lock().unwrap()));
    let employees = sandbox.employees().iter().map(|e| e.id()).collect();
    Setup {
        sandbox,
        hr,
        store,
        clock,
        pusher,
        employees,
    }
}

fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

fn settings() -> CertificateSettings {
    CertificateSettings {
        enabled: true,
        allowed_pdf_hosts: vec!["files.lms.example".into()],
        ..CertificateSettings::default()
    }
}

fn job(certificate: &str, lms_user: &str) -> Value {
    json!({
        "integration_id": "acme",
        "certificate_id": certificate,
        "lms_user_id": lms_user,
        "course_name": format!("Course {certificate}"),
        "completed_on": "2026-11-20",
        "pdf_base64": base64::engine::general_purpose::STANDARD.encode(PDF),
    })
}

fn lms_user(employee: u64) -> String {
    format!("lms-{employee}")
}

impl Setup {
    async fn link(&self, employee: u64) {
        let link = EmployeeLink {
            integration_id: acme(),
            personio_id: PersonioId(employee as i64),
            lms_user_id: LmsUserId(lms_user(employee)),
            email: format!("{employee}@acme.example"),
            profile_hash: "h".into(),
            groups: BTreeSet::new(),
            active: true,
            updated_at: Utc::now(),
            version: 1,
            profile: None,
            invited_at: None,
            invitation_pending: false,
        };
        self.store.put_link(&link, None).await.unwrap();
    }

    async fn push(&self, jobs: Vec<Value>) -> BatchReport {
        self.pusher
            .push_batch(
                &acme(),
                &settings(),
                jobs,
                Deadline::after(Duration::from_secs(60)),
                &NoProgress,
            )
            .await
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

fn categories(names: &[&str]) -> Vec<SandboxCategory> {
    names
        .iter()
        .enumerate()
        .map(|(index, name)| SandboxCategory {
            id: index as u64 + 11,
            name: name.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn certificates_arrive_in_the_first_default_category_that_exists() {
    for (seed, names, expected) in [
        (9101, None, 3), // the sandbox's defaults hold "Bildungszertifikate" (id 3)
        (
            9102,
            Some(&["Other documents", "Learning Certificates"][..]),
            12,
        ),
        (9103, Some(&["Verträge", "Other documents"][..]), 12),
    ] {
        let mut config = SandboxConfig::default().with_seed(seed);
        if let Some(names) = names {
            config = config.with_document_categories(categories(names));
        }
        let s = setup(config, ClientLimits::personio_documented()).await;
        let employee = s.employees[0];
        s.link(employee).await;
        let report = s.push(vec![job("c-1", &lms_user(employee))]).await;
        let documents = s.sandbox.documents();
        assert_eq!(documents.len(), 1, "{report:?}");
        let document = &documents[0];
        assert_eq!(
            outcomes(&report),
            vec![PushOutcome::Uploaded {
                document_id: document.id.to_string()
            }]
        );
        assert_eq!(document.category_id, expected, "{names:?}");
        assert_eq!(document.employee_id, employee);
        assert_eq!(document.title, "Course c-1");
        assert_eq!(document.date.to_string(), "2026-11-20");
        assert_eq!(&document.bytes[..], PDF);
        assert_eq!(document.file_name, "certificate-course-c-1-2026-11-20.pdf");
        assert!(
            document
                .comment
                .as_deref()
                .is_some_and(|comment| comment.contains("Completed on 2026-11-20"))
        );
    }
}

#[tokio::test]
async fn parked_redelivered_and_crashed_certificates_end_as_one_document_each() {
    let s = setup(
        SandboxConfig::default().with_seed(9201),
        ClientLimits::personio_documented(),
    )
    .await;
    let (first, second) = (s.employees[0], s.employees[1]);
    s.link(first).await;

    // Parked until the second employee is linked, then released.
    let parked = s.push(vec![job("c-parked", &lms_user(second))]).await;
    assert!(
        matches!(&outcomes(&parked)[..], [PushOutcome::Parked { reason }] if reason.contains("not linked")),
        "{parked:?}"
    );
    s.link(second).await;
    let released = s
        .pusher
        .release_parked(
            &acme(),
            &settings(),
            Deadline::after(Duration::from_secs(60)),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(released.counts().uploaded, 1);

    // Redelivery: nothing new.
    let again = s
        .push(vec![
            job("c-parked", &lms_user(second)),
            job("c-parked", &lms_user(second)),
        ])
        .await;
    assert_eq!(again.counts().already_done, 2);
    assert_eq!(s.sandbox.documents().len(), 1);

    // A crash between the upload and the ledger write, recovered through the v2 document list.
    s.hr.crash_after_upload.store(true, Ordering::SeqCst);
    let crashing = Arc::new(s);
    let worker = crashing.clone();
    let crashed =
        tokio::spawn(async move { worker.push(vec![job("c-crash", &lms_user(first))]).await })
            .await;
    assert!(crashed.unwrap_err().is_panic());
    let s = crashing;
    assert_eq!(s.sandbox.documents().len(), 2);
    assert!(matches!(
        s.state("c-crash").await,
        Some(LedgerState::InProgress { .. })
    ));
    let busy = s.push(vec![job("c-crash", &lms_user(first))]).await;
    assert!(matches!(busy.jobs[0].outcome, PushOutcome::Busy { .. }));

    *s.clock.lock().unwrap() += chrono::Duration::hours(1);
    let recovered = s.push(vec![job("c-crash", &lms_user(first))]).await;
    let crashed_document = s.sandbox.documents()[1].id.to_string();
    assert_eq!(
        outcomes(&recovered),
        vec![PushOutcome::Recovered {
            document_id: crashed_document.clone()
        }]
    );
    assert_eq!(
        s.state("c-crash").await,
        Some(LedgerState::Done {
            document_id: crashed_document
        })
    );
    assert_eq!(s.sandbox.documents().len(), 2);
    assert_eq!(s.sandbox.stats().requests_to(Endpoint::DocumentUpload), 2);
}

/// Two certificates of one employee, course and day, the second's first worker dead before its
/// upload: over HTTP, the recovery lists the employee's documents (v2) and finds only the first
/// certificate's, which carries the other certificate id in its comment: the second is uploaded.
#[tokio::test]
async fn twin_certificates_over_http_are_two_documents() {
    let s = setup(
        SandboxConfig::default().with_seed(9211),
        ClientLimits::personio_documented(),
    )
    .await;
    let employee = s.employees[0];
    s.link(employee).await;
    let twin = |certificate: &str| {
        let mut job = job(certificate, &lms_user(employee));
        job["course_name"] = json!("Brandschutzhelfer");
        job
    };
    assert_eq!(s.push(vec![twin("c-1")]).await.counts().uploaded, 1);
    // The second certificate's first worker claimed it and died before uploading.
    let claimed_at = *s.clock.lock().unwrap();
    s.store
        .claim_certificate(
            &acme(),
            &CertificateId("c-2".into()),
            &Claim::new(claimed_at, chrono::Duration::minutes(15)),
        )
        .await
        .unwrap();
    *s.clock.lock().unwrap() += chrono::Duration::hours(1);
    let recovered = s.push(vec![twin("c-2")]).await;
    let documents = s.sandbox.documents();
    assert_eq!(documents.len(), 2, "{recovered:?}");
    assert_eq!(
        outcomes(&recovered),
        vec![PushOutcome::Uploaded {
            document_id: documents[1].id.to_string()
        }]
    );
    assert_eq!(documents[0].title, documents[1].title);
    assert!(
        documents[1].comment.as_deref().is_some_and(
            |comment| comment.ends_with(r#"LMS certificate "c-2" of integration "acme"."#)
        ),
        "{:?}",
        documents[1].comment
    );
    assert_eq!(s.sandbox.stats().requests_to(Endpoint::DocumentListV2), 1);
}

/// Uploads the sandbox accepted never exceed `max` within any `window` (by their creation time,
/// with a little slack for the clocks the sandbox reads).
fn assert_rate_kept(s: &Setup, max: usize, window: Duration) {
    let times: Vec<_> = s
        .sandbox
        .documents()
        .iter()
        .map(|document| document.created_at)
        .collect();
    let window = chrono::Duration::from_std(window).unwrap() - chrono::Duration::milliseconds(50);
    for pair in times.windows(max + 1) {
        assert!(
            pair[max] - pair[0] >= window,
            "{} uploads within {:?}",
            max + 1,
            pair[max] - pair[0]
        );
    }
}

async fn push_twelve_certificates(s: &Setup) -> BatchReport {
    let mut jobs = Vec::new();
    for employee in &s.employees[..3] {
        s.link(*employee).await;
        for n in 0..4 {
            jobs.push(job(&format!("c-{employee}-{n}"), &lms_user(*employee)));
        }
    }
    s.push(jobs).await
}

#[tokio::test]
async fn a_429_storm_at_the_documents_endpoint_delays_but_loses_nothing() {
    // The client does not know the (lowered) limit, so the sandbox answers 429 until the client
    // backs off.
    let limit = RateLimitRule::new(4, Duration::from_secs(1));
    let s = setup(
        SandboxConfig::default()
            .with_seed(9301)
            .with_rate_limits(RateLimits {
                documents: vec![limit],
                ..RateLimits::personio()
            }),
        ClientLimits::unlimited(),
    )
    .await;
    let report = push_twelve_certificates(&s).await;
    assert_eq!(report.counts().uploaded, 12, "{report:?}");
    assert_eq!(s.sandbox.documents().len(), 12);
    assert!(s.sandbox.stats().throttled_on(Endpoint::DocumentUpload) > 0);
    assert_rate_kept(&s, 4, Duration::from_secs(1));
}

#[tokio::test]
async fn a_client_that_knows_the_limit_is_never_throttled() {
    let s = setup(
        SandboxConfig::default()
            .with_seed(9302)
            .with_rate_limits(RateLimits {
                documents: vec![RateLimitRule::new(4, Duration::from_secs(1))],
                ..RateLimits::personio()
            }),
        ClientLimits {
            documents: vec![RateWindow::new(4, Duration::from_secs(1))],
            ..ClientLimits::personio_documented()
        },
    )
    .await;
    let report = push_twelve_certificates(&s).await;
    assert_eq!(report.counts().uploaded, 12, "{report:?}");
    let stats = s.sandbox.stats();
    assert_eq!(stats.throttled_on(Endpoint::DocumentUpload), 0);
    assert_eq!(stats.throttled_on(Endpoint::DocumentCategories), 0);
    assert_rate_kept(&s, 4, Duration::from_secs(1));
}

#[tokio::test]
async fn bad_jobs_fail_alone_with_their_reasons() {
    let s = setup(
        SandboxConfig::default().with_seed(9401),
        ClientLimits::personio_documented(),
    )
    .await;
    let employee = s.employees[0];
    s.link(employee).await;
    // An LMS user linked to a Personio id the sandbox does not know.
    let ghost = 999_999;
    s.link(ghost).await;
    let user = lms_user(employee);
    let mut bad_date = job("bad-date", &user);
    bad_date["completed_on"] = json!("31.12.2026");
    let mut not_pdf = job("not-pdf", &user);
    not_pdf["pdf_base64"] = json!(base64::engine::general_purpose::STANDARD.encode("<html>"));
    let mut foreign_host = job("foreign-host", &user);
    foreign_host.as_object_mut().unwrap().remove("pdf_base64");
    foreign_host["pdf_url"] = json!("https://evil.example/c.pdf");
    let mut missing = job("missing", &user);
    missing.as_object_mut().unwrap().remove("lms_user_id");
    let report = s
        .push(vec![
            bad_date,
            not_pdf,
            foreign_host,
            missing,
            job("ghost", &lms_user(ghost)),
            job("good", &user),
        ])
        .await;
    let reasons: Vec<String> = report.jobs[..5]
        .iter()
        .map(|job| match &job.outcome {
            PushOutcome::Failed {
                reason,
                retryable: false,
            } => reason.clone(),
            other => panic!("expected a permanent failure, got {other:?}"),
        })
        .collect();
    assert!(reasons[0].contains("completed_on: expected a date YYYY-MM-DD, got \"31.12.2026\""));
    assert!(reasons[1].contains("pdf_base64: the content is not a PDF"));
    assert!(reasons[2].contains("\"evil.example\" is not in the integration's allowed_pdf_hosts"));
    assert!(reasons[3].contains("lms_user_id: missing"));
    assert!(
        reasons[4].starts_with("employee 999999 is unknown to Personio"),
        "{}",
        reasons[4]
    );
    assert!(matches!(
        report.jobs[5].outcome,
        PushOutcome::Uploaded { .. }
    ));
    assert_eq!(s.sandbox.documents().len(), 1);
    assert!(matches!(
        s.state("ghost").await,
        Some(LedgerState::Failed { .. })
    ));
}
