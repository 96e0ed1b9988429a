//! Near-real-time sync: how fast a change in Personio reaches the LMS through webhooks and
//! through delta runs alone, and how many Personio requests an hour the schedule costs, against a
//! 10,000-employee sandbox with Personio's documented rate limits on (server and client).
//!
//! `cargo run --release -p benchmarks --bin webhooks [-- --employees N] [--changes N]
//! [--spread-secs N] [--batch-window-ms N]`
//!
//! The pieces are the product's: the sandbox delivers its webhook events over HTTP to the app
//! layer's `WebhookReceiver` (behind an axum route, as `serve` hosts it), which queues sync jobs;
//! a worker takes them as the webhook queue's event source does (after the first message, a
//! batching window, then everything queued, `SyncJobHandler::handle_batch`); delta runs are the
//! scheduler's jobs (`delta: true`) run by the same handler. The LMS is `MemoryLms` behind a
//! wrapper that notes when each employee's account was last written.
//!
//! 1. A full run makes the accounts (its Personio requests are the full run's cost).
//! 2. Webhooks: `--changes` selected employees get a new last name, evenly over `--spread-secs`;
//!    latency = the LMS write − the change.
//! 3. Delta only (webhook removed): `--changes` other employees change the same way; a delta run
//!    starts every 60 s (the schedule's 1-minute cadence) until all are written.
//! 4. Nothing changes: ten delta runs, their Personio requests.
//!
//! The sandbox runs in this process (its own runtime threads): the latencies are dominated by
//! waits (the batching window, the schedule, the rate limits), not by CPU.

use benchmarks::sandbox_process::flag_value;
use chrono::Utc;
use common::app::{
    ConnectPolicy, FixedConnector, IntegrationAdapters, SyncJobDone, SyncJobHandler,
    WebhookReceiver, install_webhook, remove_webhook,
};
use common::certificates::{FetchLimits, PdfFetcher};
use common::domain::IntegrationId;
use common::domain::integration::{
    IntegrationRecord, LmsConnection, PersonioConnection, SyncSchedule,
};
use common::domain::job::SyncJob;
use common::domain::lms::{LmsGroup, LmsGroupId, LmsProfile, LmsUser, LmsUserId};
use common::domain::run::{RunKind, Trigger};
use common::domain::settings::{AttributeMapping, GroupSource, IntegrationSettings};
use common::lms::memory::MemoryLms;
use common::notify::DiscardNotifier;
use common::personio::{PersonioClient, PersonioConfig};
use common::ports::{
    IntegrationStore, LearningPlatform, ListedUser, LmsError, LmsFeatures, MappingReport,
    MemoryWebhookTokens, RunStore, UserWrite,
};
use common::retry::Deadline;
use common::secret::Secret;
use common::store::MemoryStore;
use integration_tests::webhooks::{ChannelQueue, serve_receiver};
use personio_sandbox::{
    Endpoint, LMS_SYNC_KEY, LMS_SYNC_LABEL, RunningSandbox, Sandbox, SandboxConfig,
};
use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INTEGRATION: &str = "bench";

/// The documented budget the targets are measured against: 100 requests a minute of full
/// listings (10,000 employees, 100 per page) = 6,000 an hour.
const FULL_LISTINGS_PER_HOUR: f64 = 6_000.0;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("webhooks: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(benchmark(std::env::args().skip(1).collect())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("webhooks: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `MemoryLms` that notes when each employee's account (by external id) was last written.
struct TimedLms {
    inner: MemoryLms,
    written: Mutex<HashMap<String, Instant>>,
}

impl TimedLms {
    fn note(&self, profile: &LmsProfile) {
        if let Ok(mut written) = self.written.lock() {
            written.insert(profile.external_id.clone(), Instant::now());
        }
    }

    fn written_at(&self, employee: u64) -> Option<Instant> {
        self.written
            .lock()
            .ok()?
            .get(&employee.to_string())
            .copied()
    }
}

#[async_trait::async_trait]
impl LearningPlatform for TimedLms {
    async fn features(&self) -> Result<LmsFeatures, LmsError> {
        self.inner.features().await
    }
    async fn describe_mapping(
        &self,
        mapping: &AttributeMapping,
    ) -> Result<MappingReport, LmsError> {
        self.inner.describe_mapping(mapping).await
    }
    async fn find_user_by_external_id(&self, id: &str) -> Result<Option<LmsUser>, LmsError> {
        self.inner.find_user_by_external_id(id).await
    }
    async fn find_user_by_id(&self, id: &LmsUserId) -> Result<Option<LmsUser>, LmsError> {
        self.inner.find_user_by_id(id).await
    }
    async fn find_user_by_email(&self, email: &str) -> Result<Option<LmsUser>, LmsError> {
        self.inner.find_user_by_email(email).await
    }
    async fn list_users(
        &self,
        synced: Option<&AttributeMapping>,
    ) -> Result<Vec<ListedUser>, LmsError> {
        self.inner.list_users(synced).await
    }
    async fn drift(
        &self,
        listed: &ListedUser,
        write: &UserWrite<'_>,
    ) -> Result<Vec<String>, LmsError> {
        self.inner.drift(listed, write).await
    }
    async fn create_user(&self, write: &UserWrite<'_>) -> Result<LmsUser, LmsError> {
        let user = self.inner.create_user(write).await?;
        self.note(write.profile);
        Ok(user)
    }
    async fn update_user(&self, id: &LmsUserId, write: &UserWrite<'_>) -> Result<(), LmsError> {
        self.inner.update_user(id, write).await?;
        self.note(write.profile);
        Ok(())
    }
    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError> {
        self.inner.deactivate_user(id).await
    }
    async fn write_batch(
        &self,
        writes: &[UserWrite<'_>],
    ) -> Result<Vec<Result<LmsUser, LmsError>>, LmsError> {
        let results = self.inner.write_batch(writes).await?;
        for (write, result) in writes.iter().zip(&results) {
            if result.is_ok() {
                self.note(write.profile);
            }
        }
        Ok(results)
    }
    async fn find_group(&self, name: &str) -> Result<Option<LmsGroup>, LmsError> {
        self.inner.find_group(name).await
    }
    async fn list_groups(&self) -> Result<Option<Vec<LmsGroup>>, LmsError> {
        self.inner.list_groups().await
    }
    async fn add_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.inner.add_group_members(group, users).await
    }
    async fn remove_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.inner.remove_group_members(group, users).await
    }
    async fn group_members(&self, group: &LmsGroupId) -> Result<BTreeSet<LmsUserId>, LmsError> {
        self.inner.group_members(group).await
    }
}

fn settings() -> IntegrationSettings {
    let mut settings = IntegrationSettings::new(LMS_SYNC_LABEL);
    settings.groups.by = BTreeSet::from([GroupSource::Department]);
    settings
}

fn record() -> IntegrationRecord {
    let now = Utc::now();
    IntegrationRecord {
        id: IntegrationId::new(INTEGRATION),
        tenant_id: "bench".into(),
        name: "Benchmark".into(),
        personio: PersonioConnection::default(),
        lms: LmsConnection {
            scim_base_url: "https://lms.example.com/scim/v2".into(),
        },
        settings: settings(),
        schedule: SyncSchedule::EveryMinutes(1),
        next_run_at: None,
        secret_ref: "bench".into(),
        created_at: now,
        updated_at: now,
        version: 1,
        certificate_problem: None,
    }
}

/// Personio requests about employees the sandbox served (listing pages and single reads).
fn employee_requests(sandbox: &RunningSandbox) -> u64 {
    let stats = sandbox.stats();
    stats.requests_to(Endpoint::Employees) + stats.requests_to(Endpoint::Employee)
}

struct Percentiles {
    p50: Duration,
    p95: Duration,
    max: Duration,
}

fn percentiles(mut latencies: Vec<Duration>) -> Option<Percentiles> {
    latencies.sort();
    let at = |share: f64| {
        let index =
            ((latencies.len() as f64 * share).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index]
    };
    (!latencies.is_empty()).then(|| Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        max: at(1.0),
    })
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

struct Bench {
    sandbox: RunningSandbox,
    store: MemoryStore,
    lms: Arc<TimedLms>,
    queue: Arc<ChannelQueue>,
    tokens: MemoryWebhookTokens,
    handler: Arc<SyncJobHandler>,
    personio: Arc<PersonioClient>,
    public_url: String,
}

impl Bench {
    async fn run(&self, delta: bool) -> Result<(RunKind, Duration, u64), String> {
        let requests = employee_requests(&self.sandbox);
        let started = Instant::now();
        let job = SyncJob {
            integration_id: IntegrationId::new(INTEGRATION),
            trigger: Trigger::Schedule,
            dry_run: false,
            kind: RunKind::Full,
            requested_at: Utc::now(),
            employees: Vec::new(),
            delta,
        };
        let done = self
            .handler
            .handle_job(
                job,
                Deadline::after(Duration::from_secs(600)),
                "bench-scheduler",
            )
            .await
            .map_err(|error| error.to_string())?;
        let SyncJobDone::Ran { run_id, .. } = done else {
            return Err(format!("the run did not run: {done:?}"));
        };
        let record = self
            .store
            .run(&IntegrationId::new(INTEGRATION), &run_id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or("the run is not recorded")?;
        if record.error.is_some() {
            return Err(format!("the run failed: {:?}", record.error));
        }
        Ok((
            record.kind,
            started.elapsed(),
            employee_requests(&self.sandbox) - requests,
        ))
    }

    /// `count` selected employees with an account, not in `exclude`.
    fn synced_employees(&self, count: usize, exclude: &[u64]) -> Vec<u64> {
        let chosen = settings();
        self.sandbox
            .employees()
            .into_iter()
            .filter(|employee| {
                employee
                    .text(LMS_SYNC_KEY)
                    .is_some_and(|value| chosen.selection.is_yes(value))
            })
            .map(|employee| employee.id())
            .filter(|id| !exclude.contains(id) && self.lms.written_at(*id).is_some())
            .take(count)
            .collect()
    }

    /// Changes the last name of `employees` evenly over `spread`; the time of each change.
    async fn change_over(
        &self,
        employees: &[u64],
        spread: Duration,
        tag: &str,
    ) -> Result<HashMap<u64, Instant>, String> {
        let step = spread / employees.len().max(1) as u32;
        let mut changed = HashMap::new();
        for employee in employees {
            self.sandbox
                .set_attribute(*employee, "last_name", format!("{tag} {employee}"))
                .map_err(|error| error.to_string())?;
            changed.insert(*employee, Instant::now());
            tokio::time::sleep(step).await;
        }
        Ok(changed)
    }

    async fn wait_written(
        &self,
        changed: &HashMap<u64, Instant>,
        within: Duration,
    ) -> Vec<Duration> {
        let started = Instant::now();
        loop {
            let latencies: Vec<Duration> = changed
                .iter()
                .filter_map(|(employee, at)| {
                    self.lms
                        .written_at(*employee)
                        .filter(|written| written > at)
                        .map(|written| written - *at)
                })
                .collect();
            if latencies.len() == changed.len() || started.elapsed() > within {
                return latencies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The worker of the webhook queue: after the first message, the batching window, then one
/// batch of everything queued.
fn spawn_worker(bench: &Bench, window: Duration) -> tokio::task::JoinHandle<()> {
    let queue = bench.queue.clone();
    let handler = bench.handler.clone();
    tokio::spawn(async move {
        loop {
            queue.arrived.notified().await;
            tokio::time::sleep(window).await;
            let messages = queue.take_all();
            if messages.is_empty() {
                continue;
            }
            let results = handler
                .handle_batch(
                    &messages,
                    Deadline::after(Duration::from_secs(300)),
                    "bench-worker",
                )
                .await;
            for (result, message) in results.iter().zip(&messages) {
                if result.retry {
                    queue.push(message.body.clone());
                }
            }
        }
    })
}

async fn benchmark(args: Vec<String>) -> Result<(), String> {
    let employees: usize = flag_value(&args, "--employees", 10_000)?;
    let changes: usize = flag_value(&args, "--changes", 100)?;
    let spread = Duration::from_secs(flag_value(&args, "--spread-secs", 60)?);
    let window = Duration::from_millis(flag_value(&args, "--batch-window-ms", 2_000)?);

    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_employees(employees)
            .with_http_webhooks(),
    )
    .await
    .map_err(|error| error.to_string())?;
    let (client_id, client_secret) = sandbox.default_credential();
    let config = PersonioConfig::new(client_id, Secret::new(client_secret)).with_base_url(
        sandbox
            .base_url()
            .parse()
            .map_err(|error| format!("sandbox URL: {error}"))?,
    );
    let personio = Arc::new(PersonioClient::new(config).map_err(|error| error.to_string())?);
    let store = MemoryStore::new();
    store
        .put_integration(&record(), None)
        .await
        .map_err(|error| error.to_string())?;
    let lms = Arc::new(TimedLms {
        inner: MemoryLms::new(),
        written: Mutex::new(HashMap::new()),
    });
    for department in sandbox
        .employees()
        .iter()
        .filter_map(|employee| employee.attribute("department"))
        .filter_map(|attribute| {
            attribute
                .value
                .pointer("/attributes/name")?
                .as_str()
                .map(str::to_owned)
        })
        .collect::<BTreeSet<_>>()
    {
        lms.inner.seed_group(department);
    }
    let queue = Arc::new(ChannelQueue::default());
    let tokens = MemoryWebhookTokens::new();
    let handler = Arc::new(SyncJobHandler::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(FixedConnector::new(
            IntegrationAdapters {
                hr: personio.clone(),
                lms: lms.clone(),
            },
            ConnectPolicy::LOCAL,
        )),
        Arc::new(DiscardNotifier),
        PdfFetcher::new(FetchLimits::default(), common::net::NetworkPolicy::LOCAL)
            .map_err(|error| error.to_string())?,
    ));
    let receiver = Arc::new(WebhookReceiver::new(
        Arc::new(store.clone()),
        Arc::new(tokens.clone()),
        queue.clone(),
    ));
    let (public_url, _receiver_task) = serve_receiver(receiver)
        .await
        .map_err(|error| format!("the webhook receiver: {error}"))?;
    let bench = Bench {
        sandbox,
        store,
        lms,
        queue,
        tokens,
        handler,
        personio,
        public_url,
    };

    println!("## webhooks ({employees} employees, documented rate limits on)\n");
    let (kind, took, full_requests) = bench.run(true).await?;
    println!(
        "- initial run ({kind:?}, no run to start a delta from): {} s, {full_requests} employee requests",
        took.as_secs()
    );

    // Webhooks.
    let integration = IntegrationId::new(INTEGRATION);
    install_webhook(
        bench.personio.as_ref(),
        &bench.tokens,
        &integration,
        &bench.public_url,
        Deadline::after(Duration::from_secs(30)),
    )
    .await
    .map_err(|error| error.to_string())?;
    let worker = spawn_worker(&bench, window);
    let first = bench.synced_employees(changes, &[]);
    let before = employee_requests(&bench.sandbox);
    let changed = bench.change_over(&first, spread, "Webhook").await?;
    let latencies = bench.wait_written(&changed, Duration::from_secs(120)).await;
    let webhook_requests = employee_requests(&bench.sandbox) - before;
    let written = latencies.len();
    let webhook = percentiles(latencies).ok_or("no change reached the LMS through webhooks")?;
    worker.abort();
    let webhook_runs = bench
        .store
        .runs(&integration, 1_000)
        .await
        .map_err(|error| error.to_string())?
        .iter()
        .filter(|run| run.trigger == Trigger::Webhook)
        .count();
    println!(
        "- webhooks: {written}/{} changes over {} s written; latency p50 {}, p95 {}, max {} \
         (target p95 ≤ 5 s); {webhook_runs} targeted runs (batching window {} ms); \
         {webhook_requests} employee requests",
        first.len(),
        spread.as_secs(),
        seconds(webhook.p50),
        seconds(webhook.p95),
        seconds(webhook.max),
        window.as_millis()
    );
    remove_webhook(
        bench.personio.as_ref(),
        &bench.tokens,
        &integration,
        &bench.public_url,
        Deadline::after(Duration::from_secs(30)),
    )
    .await
    .map_err(|error| error.to_string())?;

    // Delta runs only, every minute.
    let second = bench.synced_employees(changes, &first);
    let phase = Instant::now();
    let changing = bench.change_over(&second, spread, "Delta");
    let schedule = async {
        let mut runs = Vec::new();
        for minute in 1..=3u32 {
            tokio::time::sleep_until((phase + Duration::from_secs(60) * minute).into()).await;
            runs.push(bench.run(true).await);
            if second
                .iter()
                .all(|id| bench.lms.written_at(*id).is_some_and(|at| at > phase))
            {
                break;
            }
        }
        runs
    };
    let (changed, runs) = tokio::join!(changing, schedule);
    let changed = changed?;
    let mut delta_requests = Vec::new();
    for run in runs {
        let (kind, _, requests) = run?;
        if kind != RunKind::Delta {
            return Err(format!("a scheduled run was {kind:?}, not a delta"));
        }
        delta_requests.push(requests);
    }
    let latencies = bench.wait_written(&changed, Duration::from_secs(5)).await;
    let written = latencies.len();
    let delta = percentiles(latencies).ok_or("no change reached the LMS through delta runs")?;
    println!(
        "- delta runs only (every 60 s): {written}/{} changes written; latency p50 {}, p95 {}, \
         max {} (target p95 ≤ 70 s); employee requests per delta run {delta_requests:?}",
        second.len(),
        seconds(delta.p50),
        seconds(delta.p95),
        seconds(delta.max),
    );

    // Nothing changes.
    let mut idle = Vec::new();
    for _ in 0..10 {
        let (kind, _, requests) = bench.run(true).await?;
        if kind != RunKind::Delta {
            return Err(format!("an idle scheduled run was {kind:?}"));
        }
        idle.push(requests);
    }
    let per_delta = idle.iter().sum::<u64>() as f64 / idle.len() as f64;
    let full_per_hour = full_requests as f64 / 24.0;
    let quiet_hour = 60.0 * per_delta + full_per_hour;
    println!(
        "- nothing changes: {per_delta:.1} employee requests per delta run; per hour 60 × \
         {per_delta:.1} + the daily full run's {full_requests} / 24 = {quiet_hour:.0} = {:.2} % \
         of {FULL_LISTINGS_PER_HOUR} (target ≤ 2 %)",
        100.0 * quiet_hour / FULL_LISTINGS_PER_HOUR
    );
    let per_change = webhook_requests as f64 / changes.max(1) as f64;
    let busy_hour = quiet_hour + per_change * (employees as f64 / 100.0);
    println!(
        "- 1 % of employees change per hour ({} changes): the quiet hour + {per_change:.2} \
         requests per change through webhooks = {busy_hour:.0} = {:.2} % of {FULL_LISTINGS_PER_HOUR}",
        employees / 100,
        100.0 * busy_hour / FULL_LISTINGS_PER_HOUR
    );
    bench.sandbox.shutdown().await;
    Ok(())
}
