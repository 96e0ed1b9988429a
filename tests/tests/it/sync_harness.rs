//! What the sync tests over HTTP share: the real Personio client against the sandbox, the engine
//! with test-sized retries, the settings, and readers of the sandbox's employees.

use common::domain::IntegrationId;
use common::domain::employee::PersonioId;
use common::domain::run::{EmployeeOutcome, RunRecord, Trigger};
use common::domain::settings::{GroupSource, IntegrationSettings};
use common::notify::MemoryNotifier;
use common::personio::{PersonioClient, PersonioConfig, RateLimits};
use common::ports::{LearningPlatform, StateStore};
use common::progress::NoProgress;
use common::retry::{Backoff, Deadline};
use common::secret::Secret;
use common::sync::{SyncEngine, SyncOutcome, SyncRequest};
use personio_sandbox::{
    Employee, LMS_SYNC_KEY, LMS_SYNC_LABEL, RunningSandbox, Sandbox, SandboxConfig,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_EMAIL: &str = "hr@acme.example";

pub fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

/// A seed-driven company of `employees`, without rate limits (tests that need them set them).
pub async fn start_sandbox(seed: u64, employees: usize) -> RunningSandbox {
    Sandbox::start(
        SandboxConfig::default()
            .with_seed(seed)
            .with_employees(employees)
            .without_rate_limits(),
    )
    .await
    .expect("sandbox starts")
}

/// The Personio client for `credential`, with test-sized timings and no client-side budget.
pub fn personio_client(
    sandbox: &RunningSandbox,
    (client_id, client_secret): (String, String),
) -> Arc<PersonioClient> {
    let mut config = PersonioConfig::new(client_id, Secret::new(client_secret))
        .with_base_url(sandbox.base_url().parse().expect("sandbox URL"));
    config.request_timeout = Duration::from_secs(2);
    config.limits = RateLimits::unlimited();
    config.backoff = Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 40,
    };
    Arc::new(PersonioClient::new(config).expect("client builds"))
}

/// The engine over the sandbox's default credential.
pub fn engine(
    sandbox: &RunningSandbox,
    lms: Arc<dyn LearningPlatform>,
    store: Arc<dyn StateStore>,
    notifier: Arc<MemoryNotifier>,
) -> SyncEngine {
    SyncEngine::new(
        personio_client(sandbox, sandbox.default_credential()),
        lms,
        store,
        notifier,
    )
    .with_retry(Backoff {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
        max_attempts: 3,
    })
}

/// The sandbox's selection attribute, groups by department, a summary to the admin.
pub fn settings() -> IntegrationSettings {
    let mut settings = IntegrationSettings::new(LMS_SYNC_LABEL);
    settings.groups.by = BTreeSet::from([GroupSource::Department]);
    settings.notifications.admin_email = Some(ADMIN_EMAIL.to_owned());
    settings
}

pub fn request(settings: IntegrationSettings) -> SyncRequest {
    let mut request = SyncRequest::new(acme(), settings, Trigger::Manual);
    request.deadline = Deadline::after(Duration::from_secs(120));
    request
}

/// Runs the sync; it must complete (not find the lease held).
pub async fn run(engine: &SyncEngine, request: SyncRequest) -> RunRecord {
    match engine
        .run(request, &NoProgress)
        .await
        .expect("the run is recorded")
    {
        SyncOutcome::Completed(record) => record,
        held => panic!("expected a completed run, got {held:?}"),
    }
}

/// The sandbox's employees whose selection attribute says yes under `settings`.
pub fn selected(sandbox: &RunningSandbox, settings: &IntegrationSettings) -> Vec<Employee> {
    sandbox
        .employees()
        .into_iter()
        .filter(|employee| {
            employee
                .text(LMS_SYNC_KEY)
                .is_some_and(|value| settings.selection.is_yes(value))
        })
        .collect()
}

/// The selected employees who get an account under default status settings: all but the
/// leavers (status inactive), whose account would start locked and so is not created.
pub fn onboarded(sandbox: &RunningSandbox, settings: &IntegrationSettings) -> Vec<Employee> {
    selected(sandbox, settings)
        .into_iter()
        .filter(|employee| {
            !employee
                .text("status")
                .is_some_and(|status| status.eq_ignore_ascii_case("inactive"))
        })
        .collect()
}

/// The department relation (`{type, attributes: {id, name}}`) of an employee.
pub fn department(employee: &Employee) -> Option<&Value> {
    employee
        .attribute("department")
        .map(|attribute| &attribute.value)
        .filter(|value| value.is_object())
}

pub fn department_name(employee: &Employee) -> Option<String> {
    department(employee)?
        .pointer("/attributes/name")?
        .as_str()
        .map(str::to_owned)
}

/// Every department name of the company.
pub fn department_names(employees: &[Employee]) -> BTreeSet<String> {
    employees.iter().filter_map(department_name).collect()
}

pub fn email(employee: &Employee) -> String {
    employee
        .text("email")
        .expect("a generated email")
        .to_owned()
}

pub fn personio_id(employee: &Employee) -> PersonioId {
    PersonioId(employee.id() as i64)
}

/// The outcome the run recorded for an employee (unchanged ones are not listed).
pub fn outcome_of(record: &RunRecord, employee: u64) -> Option<&EmployeeOutcome> {
    record
        .outcomes
        .iter()
        .find(|outcome| outcome.personio_id == Some(PersonioId(employee as i64)))
}
