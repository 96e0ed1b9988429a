//! The host's workers against real parts: the SQLite state file and queue, the Personio sandbox
//! over HTTP, the app layer's sync and certificate consumers, the in-process LMS.

use super::demo::{DEMO_LMS_URL, DemoConnector};
use super::workers::{self, WorkerContext, WorkerSettings};
use super::{addresses, recover};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use common::app::{
    CertificateConsumer, ConnectError, ConnectPolicy, Connector, CredentialsConnector,
    IntegrationAdapters, SyncJobHandler,
};
use common::certificates::{Clock, FetchLimits, PdfFetcher};
use common::domain::IntegrationId;
use common::domain::certificate::{CertificateId, LedgerState};
use common::domain::employee::PersonioId;
use common::domain::integration::IntegrationRecord;
use common::domain::job::SyncJob;
use common::domain::run::{RunKind, RunRecord, Trigger};
use common::lms::memory::MemoryLms;
use common::notify::DiscardNotifier;
use common::ports::{
    CertificateLedger, CredentialsStore, DocumentCategory, DocumentUpload, EmployeeQuery,
    ExistingDocument, HrError, HrSource, IntegrationCredentials, IntegrationStore, JobQueue,
    LeaseStore, LinkStore, RunStore, UploadedDocument,
};
use common::retry::Deadline;
use common::secret::Secret;
use common::store::{
    CredentialKey, JobKind, QueueDepth, SealedCredentials, SqliteJobQueue, SqliteStore,
};
use futures::stream::BoxStream;
use personio_sandbox::{Endpoint, Faults, LMS_SYNC_LABEL, RunningSandbox, Sandbox, SandboxConfig};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use url::Url;

struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    fn clock(&self) -> Clock {
        let shared = self.0.clone();
        Arc::new(move || *shared.lock().unwrap())
    }

    fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    sandbox: RunningSandbox,
    store: Arc<SqliteStore>,
    queue: SqliteJobQueue,
    credentials: Arc<SealedCredentials>,
    lms: Arc<MemoryLms>,
}

async fn fixture(faults: Faults) -> Fixture {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_employees(30)
            .with_seed(5)
            .without_rate_limits()
            .with_faults(faults),
    )
    .await
    .expect("the sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap());
    let queue = SqliteJobQueue::new(&store);
    let credentials = Arc::new(SealedCredentials::new(&store, CredentialKey::generate()));
    Fixture {
        _dir: dir,
        sandbox,
        store,
        queue,
        credentials,
        lms: Arc::new(MemoryLms::new()),
    }
}

impl Fixture {
    /// An integration of the sandbox and the in-process LMS, written as the API writes one.
    async fn integration(
        &self,
        name: &str,
        schedule: serde_json::Value,
        next_run_at: Option<DateTime<Utc>>,
    ) -> IntegrationId {
        let id = IntegrationId::new(name);
        let now = Utc::now();
        let record: IntegrationRecord = serde_json::from_value(json!({
            "id": name,
            "tenant_id": super::LOCAL_TENANT,
            "name": name,
            "personio": {"base_url": self.sandbox.base_url()},
            "lms": {"scim_base_url": DEMO_LMS_URL},
            "settings": {
                "selection": {"attribute": LMS_SYNC_LABEL},
                "certificates": {"enabled": true, "in_progress_ttl_seconds": 60}
            },
            "schedule": schedule,
            "next_run_at": next_run_at,
            "secret_ref": format!("sealed:{name}"),
            "created_at": now,
            "updated_at": now,
            "version": 1
        }))
        .expect("a valid integration record");
        self.store.put_integration(&record, None).await.unwrap();
        let (client_id, client_secret) = self.sandbox.default_credential();
        self.credentials
            .put_credentials(
                &id,
                &IntegrationCredentials::new(
                    client_id,
                    Secret::new(client_secret),
                    Secret::new("unused"),
                ),
            )
            .await
            .unwrap();
        id
    }

    fn connector(&self) -> DemoConnector {
        DemoConnector::new(
            CredentialsConnector::new(
                self.credentials.clone(),
                ConnectPolicy {
                    personio_rate_budget: false,
                    ..ConnectPolicy::LOCAL
                },
            ),
            self.lms.clone(),
        )
    }

    fn context(&self, clock: Clock) -> WorkerContext {
        WorkerContext {
            store: self.store.clone(),
            queue: self.queue.clone(),
            clock,
            settings: WorkerSettings {
                scheduler_tick: Duration::from_millis(50),
                poll: Duration::from_millis(50),
                sync_workers: 4,
                sync_budget: Duration::from_secs(60),
                certificate_batch: 10,
                certificate_budget: Duration::from_secs(30),
                grace: Duration::from_secs(5),
            },
            holder: "personio-lms serve test".into(),
            metrics: Arc::new(common::metrics::MetricsRegistry::new()),
        }
    }

    fn sync_handler(&self, connector: Arc<dyn Connector>) -> Arc<SyncJobHandler> {
        Arc::new(SyncJobHandler::new(
            self.store.clone(),
            self.store.clone(),
            connector,
            Arc::new(DiscardNotifier),
            PdfFetcher::new(FetchLimits::default(), common::net::NetworkPolicy::LOCAL).unwrap(),
        ))
    }

    async fn runs(&self, id: &IntegrationId) -> Vec<RunRecord> {
        self.store.runs(id, 100).await.unwrap()
    }
}

/// Polls `condition` every 25 ms until it holds or `seconds` pass.
async fn eventually<F, Fut>(seconds: u64, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + Duration::from_secs(seconds);
    while std::time::Instant::now() < until {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn idle(fixture: &Fixture, ids: &[&IntegrationId]) -> bool {
    let depth = fixture
        .queue
        .depth(JobKind::Sync, Utc::now())
        .await
        .unwrap();
    let mut leases = 0;
    for id in ids {
        if fixture.store.lease(id).await.unwrap().is_some() {
            leases += 1;
        }
    }
    depth == QueueDepth::default() && leases == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_integrations_run_once_each_and_never_two_runs_of_one_at_a_time() {
    // Slow listings, so that runs would overlap if anything let them.
    let fixture = fixture(Faults {
        latency: Duration::from_millis(400),
        only: vec![Endpoint::Employees],
        ..Faults::none()
    })
    .await;
    let t0 = Utc::now();
    let every_minute = json!({"every_minutes": 1});
    let a = fixture
        .integration(
            "a",
            every_minute.clone(),
            Some(t0 - chrono::Duration::minutes(1)),
        )
        .await;
    let b = fixture
        .integration("b", every_minute, Some(t0 - chrono::Duration::minutes(1)))
        .await;
    let later = fixture
        .integration(
            "later",
            json!({"every_minutes": 60}),
            Some(t0 + chrono::Duration::hours(1)),
        )
        .await;
    let manual = fixture.integration("manual", json!("manual"), None).await;

    let clock = TestClock::new(t0);
    let context = fixture.context(clock.clock());
    let handler = fixture.sync_handler(Arc::new(fixture.connector()));
    let (stop_sender, stop) = watch::channel(false);
    // Two schedulers at once (as two hosts' ticks could be): each due run is still queued once.
    let tasks = vec![
        tokio::spawn(workers::scheduler(context.clone(), stop.clone())),
        tokio::spawn(workers::scheduler(context.clone(), stop.clone())),
        tokio::spawn(workers::sync_worker(context.clone(), handler, stop.clone())),
    ];

    // While a's first run is going, "sync now" is pressed twice: one run, after the first.
    eventually(20, "a's first run holds its lease", || async {
        fixture.store.lease(&a).await.unwrap().is_some()
    })
    .await;
    for _ in 0..2 {
        let job = SyncJob {
            integration_id: a.clone(),
            trigger: Trigger::Manual,
            dry_run: false,
            kind: RunKind::Full,
            requested_at: Utc::now(),
            employees: Vec::new(),
            delta: false,
        };
        fixture.queue.enqueue_sync(&job).await.unwrap();
    }
    eventually(30, "a ran twice and b once", || async {
        fixture.runs(&a).await.len() == 2
            && fixture.runs(&b).await.len() == 1
            && idle(&fixture, &[&a, &b]).await
    })
    .await;

    // A minute later both are due again.
    clock.advance(chrono::Duration::seconds(61));
    eventually(30, "the next scheduled runs", || async {
        fixture.runs(&a).await.len() == 3
            && fixture.runs(&b).await.len() == 2
            && idle(&fixture, &[&a, &b]).await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_sender.send(true).unwrap();
    for task in tasks {
        task.await.unwrap();
    }

    let runs_a = fixture.runs(&a).await;
    let mut triggers: Vec<Trigger> = runs_a.iter().rev().map(|run| run.trigger).collect();
    assert_eq!(
        triggers,
        [Trigger::Schedule, Trigger::Manual, Trigger::Schedule]
    );
    triggers = fixture
        .runs(&b)
        .await
        .iter()
        .map(|run| run.trigger)
        .collect();
    assert_eq!(triggers, [Trigger::Schedule, Trigger::Schedule]);
    assert!(fixture.runs(&later).await.is_empty());
    assert!(fixture.runs(&manual).await.is_empty());
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = runs_a
        .iter()
        .map(|run| (run.started_at, run.finished_at.expect("finished")))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "runs of one integration overlapped: {pair:?}"
        );
    }
    assert!(runs_a.iter().all(|run| run.error.is_none()), "{runs_a:?}");
}

/// The HR side of a host that dies right after Personio stored a document, before the ledger
/// or the queue heard of it: the worst moment for a duplicate.
struct DiesAfterUpload {
    inner: Arc<dyn HrSource>,
    uploaded: Arc<Notify>,
}

#[async_trait]
impl HrSource for DiesAfterUpload {
    fn employee_pages<'a>(
        &'a self,
        query: &'a EmployeeQuery,
        deadline: Deadline,
    ) -> BoxStream<'a, Result<common::domain::employee::EmployeePage, HrError>> {
        self.inner.employee_pages(query, deadline)
    }

    async fn employee(
        &self,
        id: common::domain::employee::PersonioId,
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
        let _stored = self.inner.upload_document(document, deadline).await;
        self.uploaded.notify_one();
        std::future::pending().await
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

struct DyingConnector {
    inner: DemoConnector,
    uploaded: Arc<Notify>,
}

#[async_trait]
impl Connector for DyingConnector {
    fn policy(&self) -> ConnectPolicy {
        self.inner.policy()
    }

    async fn connect(
        &self,
        record: &IntegrationRecord,
        deadline: Deadline,
    ) -> Result<IntegrationAdapters, ConnectError> {
        let mut adapters = self.inner.connect(record, deadline).await?;
        adapters.hr = Arc::new(DiesAfterUpload {
            inner: adapters.hr,
            uploaded: self.uploaded.clone(),
        });
        Ok(adapters)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_push_never_duplicates_a_document() {
    let fixture = fixture(Faults::none()).await;
    let id = fixture.integration("acme", json!("manual"), None).await;
    // A real sync links the employees first.
    let handler = fixture.sync_handler(Arc::new(fixture.connector()));
    let job = json!({"integration_id": "acme", "trigger": "manual", "dry_run": false, "requested_at": Utc::now()});
    handler
        .handle(
            &job.to_string(),
            Deadline::after(Duration::from_secs(30)),
            "setup",
        )
        .await
        .expect("the first sync runs");
    let links = fixture.store.links(&id).await.unwrap();
    let link = links.first().expect("the sync linked employees");

    let certificate = CertificateId("cert-crash-1".into());
    let pdf = b"%PDF-1.4\n%%EOF\n";
    let certificate_job = json!({
        "integration_id": "acme",
        "certificate_id": certificate.0,
        "lms_user_id": link.lms_user_id.0,
        "course_name": "Fire safety",
        "completed_on": "2026-11-23",
        "pdf_base64": BASE64.encode(pdf),
    });
    fixture
        .queue
        .enqueue_certificate(&id, &certificate, &certificate_job)
        .await
        .unwrap();

    // First life: the worker uploads, then the process dies before anything else is written.
    let t0 = Utc::now();
    let uploaded = Arc::new(Notify::new());
    let dying: Arc<dyn Connector> = Arc::new(DyingConnector {
        inner: fixture.connector(),
        uploaded: uploaded.clone(),
    });
    let consumer = Arc::new(
        CertificateConsumer::new(
            fixture.store.clone(),
            fixture.store.clone(),
            dying,
            FetchLimits::default(),
        )
        .unwrap(),
    );
    let (_stop_first, stop) = watch::channel(false);
    let first_life = tokio::spawn(workers::certificate_worker(
        fixture.context(TestClock::new(t0).clock()),
        consumer,
        stop,
    ));
    tokio::time::timeout(Duration::from_secs(20), uploaded.notified())
        .await
        .expect("the document reached Personio");
    first_life.abort();
    let _ = first_life.await;
    assert_eq!(fixture.sandbox.documents().len(), 1);
    let entry = fixture
        .store
        .certificate(&id, &certificate)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(entry.state, LedgerState::InProgress { .. }),
        "{entry:?}"
    );
    let depth = fixture
        .queue
        .depth(JobKind::Certificate, Utc::now())
        .await
        .unwrap();
    assert_eq!(depth.in_flight, 1);

    // Second life, after the claim's time: the job comes back, the document is found, nothing
    // is uploaded again.
    recover(
        &fixture.store,
        &fixture.queue,
        "personio-lms serve second life",
    )
    .await;
    let later = TestClock::new(t0 + chrono::Duration::hours(2));
    let consumer = Arc::new(
        CertificateConsumer::new(
            fixture.store.clone(),
            fixture.store.clone(),
            Arc::new(fixture.connector()),
            FetchLimits::default(),
        )
        .unwrap()
        .with_clock(later.clock()),
    );
    let (stop_second, stop) = watch::channel(false);
    let second_life = tokio::spawn(workers::certificate_worker(
        fixture.context(later.clock()),
        consumer,
        stop,
    ));
    eventually(20, "the certificate is done", || async {
        matches!(
            fixture
                .store
                .certificate(&id, &certificate)
                .await
                .unwrap()
                .map(|entry| entry.state),
            Some(LedgerState::Done { .. })
        )
    })
    .await;
    stop_second.send(true).unwrap();
    second_life.await.unwrap();

    let documents = fixture.sandbox.documents();
    assert_eq!(documents.len(), 1, "one certificate, one document");
    let entry = fixture
        .store
        .certificate(&id, &certificate)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        entry.state,
        LedgerState::Done {
            document_id: documents[0].id.to_string()
        }
    );
    let depth = fixture
        .queue
        .depth(JobKind::Certificate, Utc::now())
        .await
        .unwrap();
    assert_eq!(depth, QueueDepth::default());
}

/// Webhook events of several employees that wait for one integration when the worker looks are
/// one targeted run of all of them (and a full job beside them a run of its own), every job
/// acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_waiting_for_one_integration_are_folded_into_one_run() {
    let fixture = fixture(Faults::none()).await;
    let id = fixture.integration("acme", json!("manual"), None).await;
    let employees: Vec<PersonioId> = fixture
        .sandbox
        .employees()
        .iter()
        .take(3)
        .map(|employee| PersonioId(i64::try_from(employee.id()).unwrap()))
        .collect();
    for employee in &employees {
        fixture
            .queue
            .enqueue_sync(&SyncJob {
                integration_id: id.clone(),
                trigger: Trigger::Webhook,
                dry_run: false,
                kind: RunKind::Targeted,
                requested_at: Utc::now(),
                employees: vec![*employee],
                delta: false,
            })
            .await
            .unwrap();
    }
    // Queued before the worker starts: it finds all of them at its first look.
    let handler = fixture.sync_handler(Arc::new(fixture.connector()));
    let (stop_sender, stop) = watch::channel(false);
    let worker = tokio::spawn(workers::sync_worker(
        fixture.context(Arc::new(Utc::now)),
        handler,
        stop,
    ));
    eventually(20, "the jobs are done", || async {
        idle(&fixture, &[&id]).await
    })
    .await;
    stop_sender.send(true).unwrap();
    worker.await.unwrap();

    let runs = fixture.runs(&id).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let mut targets = runs[0].targets.clone();
    targets.sort();
    let mut expected = employees.clone();
    expected.sort();
    assert_eq!(
        (runs[0].trigger, runs[0].kind, targets),
        (Trigger::Webhook, RunKind::Targeted, expected)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_off_by_the_shutdown_gives_back_its_job_and_its_lease() {
    // A listing slow enough to outlast the grace period.
    let fixture = fixture(Faults {
        latency: Duration::from_secs(3),
        only: vec![Endpoint::Employees],
        ..Faults::none()
    })
    .await;
    let id = fixture.integration("slow", json!("manual"), None).await;
    let mut context = fixture.context(Arc::new(Utc::now));
    context.settings.grace = Duration::from_millis(200);
    let handler = fixture.sync_handler(Arc::new(fixture.connector()));
    let (stop_sender, stop) = watch::channel(false);
    let worker = tokio::spawn(workers::sync_worker(context, handler, stop));
    let job = SyncJob {
        integration_id: id.clone(),
        trigger: Trigger::Manual,
        dry_run: false,
        kind: RunKind::Full,
        requested_at: Utc::now(),
        employees: Vec::new(),
        delta: false,
    };
    fixture.queue.enqueue_sync(&job).await.unwrap();
    eventually(10, "the run holds its lease", || async {
        fixture.store.lease(&id).await.unwrap().is_some()
    })
    .await;
    stop_sender.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the worker stops within its grace")
        .unwrap();
    assert!(
        fixture.store.lease(&id).await.unwrap().is_none(),
        "the lease is released"
    );
    let depth = fixture
        .queue
        .depth(JobKind::Sync, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        depth,
        QueueDepth {
            waiting: 1,
            in_flight: 0,
            dead: 0
        },
        "the job waits for the next start"
    );
    let again = fixture
        .queue
        .receive(
            JobKind::Sync,
            1,
            1,
            Utc::now(),
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
    assert_eq!(again[0].receives, 1, "a hand-back is not a failed delivery");
}

#[test]
fn a_loopback_server_answers_its_aliases_and_the_public_url() {
    let (hosts, origins) = addresses("127.0.0.1:8080".parse().unwrap(), None);
    assert_eq!(hosts, ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"]);
    assert!(origins.contains(&"http://localhost:8080".to_owned()));
    let public = Url::parse("https://lms-admin.example.com/").unwrap();
    let (hosts, origins) = addresses("127.0.0.1:8080".parse().unwrap(), Some(&public));
    assert!(hosts.contains(&"lms-admin.example.com".to_owned()));
    assert!(origins.contains(&"https://lms-admin.example.com".to_owned()));
}
