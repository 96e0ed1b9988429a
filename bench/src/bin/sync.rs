//! One integration's employee sync against a 10,000-employee Personio sandbox with the documented
//! rate limits on: an initial sync, a no-change re-sync and a 1 %-change re-sync, each with the
//! in-memory LMS and, in turn, the in-memory and the SQLite state store.
//!
//! `cargo run --release -p benchmarks --bin sync [-- --employees N] [--changes N]
//! [--lms-latency-ms N] [--margin-ms N]`
//!
//! The sandbox runs in a child process (see `benchmarks::sandbox_process`); the child also
//! applies the mixed changes (`mutate N`) and forgets the rate-limit history between scenarios
//! (`reset-limits`), since re-syncs run minutes apart, not back to back. Each scenario gets a
//! fresh Personio client (and so a fresh client budget); the LMS and the store carry over.

use benchmarks::counting_store::CountingStore;
use benchmarks::sandbox_process::{SandboxAccess, SandboxProcess, flag_value, serve_child};
use benchmarks::{
    CountingAllocator, describe_ratio, describe_windows, main_with, mebibytes, peak_bytes, ratio,
    reset_peak,
};
use common::domain::IntegrationId;
use common::domain::run::{RunRecord, RunStatus, Trigger};
use common::domain::settings::{GroupSource, IntegrationSettings};
use common::lms::memory::MemoryLms;
use common::notify::DiscardNotifier;
use common::personio::{PersonioClient, PersonioConfig, RateLimits, minimum_duration};
use common::ports::StateStore;
use common::progress::NoProgress;
use common::retry::Deadline;
use common::secret::Secret;
use common::store::{MemoryStore, SqliteStore, StoreStats};
use common::sync::{SyncEngine, SyncOutcome, SyncRequest};
use personio_sandbox::{
    Employee, LMS_SYNC_KEY, LMS_SYNC_LABEL, RateLimits as SandboxLimits, RunningSandbox,
    SandboxConfig, generate,
};
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const DEFAULT_EMPLOYEES: usize = 10_000;
/// 1 % of the default company.
const DEFAULT_CHANGES: usize = 100;
const MUTATE: &str = "mutate";
const RESET_LIMITS: &str = "reset-limits";
/// The most a no-change re-sync may take, as a multiple of the rate-limit floor.
const NO_CHANGE_TARGET_RATIO: f64 = 1.1;

fn main() -> ExitCode {
    main_with("sync", serve, benchmark)
}

fn sandbox_config(employees: usize) -> SandboxConfig {
    SandboxConfig::default().with_employees(employees)
}

/// Child mode: the sandbox, plus `mutate N` and `reset-limits`.
async fn serve(args: Vec<String>) -> Result<(), String> {
    let employees = flag_value(&args, "--employees", DEFAULT_EMPLOYEES)?;
    serve_child(sandbox_config(employees), |sandbox, command| match command
        .split_whitespace()
        .collect::<Vec<_>>()[..]
    {
        [MUTATE, count] => {
            let count = count
                .parse()
                .map_err(|_| format!("`{MUTATE}` needs a number, got `{count}`"))?;
            mutate(sandbox, count)
        }
        [RESET_LIMITS] => {
            sandbox.set_rate_limits(SandboxLimits::personio());
            Ok("ok".to_owned())
        }
        _ => Err(format!("unknown command `{command}`")),
    })
    .await
}

/// The name of an employee's department (a `{type, attributes: {id, name}}` relation).
fn department_name(employee: &Employee) -> Option<&str> {
    employee
        .attribute("department")?
        .value
        .pointer("/attributes/name")?
        .as_str()
}

/// Changes `count` selected employees, spread over the company, in turn: a new email, another
/// department, another status (active ↔ leave).
fn mutate(sandbox: &RunningSandbox, count: usize) -> Result<String, String> {
    let selection = IntegrationSettings::new(LMS_SYNC_LABEL).selection;
    let employees = sandbox.employees();
    let selected: Vec<&Employee> = employees
        .iter()
        .filter(|employee| {
            employee
                .text(LMS_SYNC_KEY)
                .is_some_and(|value| selection.is_yes(value))
        })
        .collect();
    if selected.len() < count {
        return Err(format!("only {} employees are selected", selected.len()));
    }
    let step = selected.len() / count.max(1);
    let (mut emails, mut departments, mut statuses) = (0, 0, 0);
    for (turn, employee) in selected.iter().step_by(step.max(1)).take(count).enumerate() {
        let id = employee.id();
        let changed = match turn % 3 {
            0 => {
                emails += 1;
                sandbox.set_attribute(id, "email", format!("renamed.{id}@acme.example"))
            }
            1 => {
                departments += 1;
                let current = department_name(employee);
                let other = employees
                    .iter()
                    .find(|other| department_name(other).is_some_and(|name| Some(name) != current))
                    .and_then(|other| other.attribute("department"))
                    .map(|attribute| attribute.value.clone())
                    .ok_or("no other department to move to")?;
                sandbox.set_attribute(id, "department", other)
            }
            _ => {
                statuses += 1;
                let next = if employee.text("status") == Some("active") {
                    "leave"
                } else {
                    "active"
                };
                sandbox.set_status(id, next)
            }
        };
        changed.map_err(|error| error.to_string())?;
    }
    Ok(format!(
        "{emails} email, {departments} department and {statuses} status changes"
    ))
}

#[derive(Clone, Copy)]
struct Options {
    employees: usize,
    changes: usize,
    lms_latency: Duration,
    margin: Option<Duration>,
}

async fn benchmark(args: Vec<String>) -> Result<(), String> {
    let options = Options {
        employees: flag_value(&args, "--employees", DEFAULT_EMPLOYEES)?,
        changes: flag_value(&args, "--changes", DEFAULT_CHANGES)?,
        lms_latency: Duration::from_millis(flag_value(&args, "--lms-latency-ms", 0)?),
        margin: flag_value(&args, "--margin-ms", u64::MAX)
            .map(|millis| (millis != u64::MAX).then(|| Duration::from_millis(millis)))?,
    };
    let documented = RateLimits::personio_documented();
    let margin = options.margin.unwrap_or(documented.window_margin);
    println!(
        "sync: {} employees, documented limits on both sides ({}), client window margin {} ms, \
         MemoryLms latency {} ms, groups by department",
        options.employees,
        describe_windows(&documented.employees),
        margin.as_millis(),
        options.lms_latency.as_millis(),
    );
    let mut missed = Vec::new();
    let memory = Arc::new(CountingStore::new(MemoryStore::new()));
    missed.extend(run_scenarios("MemoryStore", memory.clone(), || memory.stats(), options).await?);
    let directory = tempfile::tempdir().map_err(|error| format!("temp dir: {error}"))?;
    let sqlite = Arc::new(CountingStore::new(
        SqliteStore::open(directory.path().join("state.db")).map_err(|error| error.to_string())?,
    ));
    missed.extend(run_scenarios("SqliteStore", sqlite.clone(), || sqlite.stats(), options).await?);
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!("targets missed: {}", missed.join("; ")))
    }
}

/// The three scenarios against a fresh sandbox and a fresh LMS; returns the targets missed.
async fn run_scenarios(
    store_name: &str,
    store: Arc<dyn StateStore>,
    store_stats: impl Fn() -> StoreStats,
    options: Options,
) -> Result<Vec<String>, String> {
    let (mut sandbox, access) =
        SandboxProcess::start(&["--employees".to_owned(), options.employees.to_string()])?;
    let lms = Arc::new(MemoryLms::with_groups(departments(options.employees)));
    lms.set_latency(options.lms_latency);
    let notifier = Arc::new(DiscardNotifier);
    let mut settings = IntegrationSettings::new(LMS_SYNC_LABEL);
    settings.groups.by = BTreeSet::from([GroupSource::Department]);
    settings.notifications.admin_email = Some("hr@acme.example".to_owned());

    let scenarios = [
        ("initial sync", 0),
        ("no-change re-sync", 0),
        ("1 %-change re-sync", options.changes),
    ];
    let mut missed = Vec::new();
    println!();
    println!("== {store_name} ==");
    for (name, changes) in scenarios {
        if changes > 0 {
            let applied = sandbox.ask(&format!("{MUTATE} {changes}"))?;
            println!("-- {name} ({applied} in the sandbox)");
        } else {
            println!("-- {name}");
        }
        sandbox.ask(RESET_LIMITS)?;
        let counts_before = sandbox.counts()?;
        let writes_before = lms.write_counts();
        let reads_before = lms.read_counts();
        let store_before = store_stats();
        let live_before = benchmarks::live_bytes();

        let engine = SyncEngine::new(
            Arc::new(client(&access, options.margin)?),
            lms.clone(),
            store.clone(),
            notifier.clone(),
        );
        let mut request = SyncRequest::new(
            IntegrationId::new("bench"),
            settings.clone(),
            Trigger::Manual,
        );
        request.deadline = Deadline::after(Duration::from_secs(900));
        reset_peak();
        let started = Instant::now();
        let outcome = engine
            .run(request, &NoProgress)
            .await
            .map_err(|error| format!("{name}: {error}"))?;
        let wall = started.elapsed();
        let peak = peak_bytes();
        drop(engine);

        let record = match outcome {
            SyncOutcome::Completed(record) => record,
            SyncOutcome::LeaseHeld { holder, .. } => {
                return Err(format!("{name}: the lease is held by {holder}"));
            }
        };
        let server = sandbox.counts()?.since(&counts_before);
        let writes = lms.write_counts();
        let reads = lms.read_counts();
        let stored = store_stats();
        let served_pages = server
            .employee_requests
            .saturating_sub(server.employee_429s);
        let floor = minimum_duration(&RateLimits::personio_documented().employees, served_pages);
        let wall_ratio = ratio(wall, floor);
        let link_writes = stored.link_writes - store_before.link_writes;
        let lms_writes = writes.total() - writes_before.total();

        report_run(&record);
        println!("   wall time                 {:.2} s", wall.as_secs_f64());
        println!(
            "   floor set by the limits   {:.2} s ({served_pages} employee requests)",
            floor.as_secs_f64()
        );
        println!(
            "   ratio wall / floor        {}",
            describe_ratio(wall_ratio)
        );
        println!(
            "   Personio requests         {} employees + {} auth (server count)",
            server.employee_requests, server.auth_requests
        );
        println!("   429s received             {}", server.employee_429s);
        println!(
            "   LMS writes                {lms_writes}: {} creates, {} updates, {} deactivations, \
             {} group adds",
            writes.creates - writes_before.creates,
            writes.updates - writes_before.updates,
            writes.deactivations - writes_before.deactivations,
            writes.group_adds - writes_before.group_adds,
        );
        println!(
            "   LMS lookups               {} users, {} groups",
            reads.user_lookups - reads_before.user_lookups,
            reads.group_lookups - reads_before.group_lookups,
        );
        println!(
            "   links                     {} reads, {link_writes} writes",
            stored.link_reads - store_before.link_reads,
        );
        println!(
            "   run-record writes         {}",
            stored.run_writes - store_before.run_writes
        );
        println!(
            "   peak heap                 {} ({} live before the run)",
            mebibytes(peak),
            mebibytes(live_before)
        );

        if record.status != RunStatus::Succeeded {
            missed.push(format!("{store_name} {name}: run {:?}", record.status));
        }
        if server.employee_429s > 0 {
            missed.push(format!(
                "{store_name} {name}: {} 429s",
                server.employee_429s
            ));
        }
        if name == scenarios[1].0 {
            if lms_writes > 0 || link_writes > 0 {
                missed.push(format!(
                    "{store_name} {name}: {lms_writes} LMS and {link_writes} link writes"
                ));
            }
            if let Some(over) = wall_ratio.filter(|ratio| *ratio > NO_CHANGE_TARGET_RATIO) {
                missed.push(format!(
                    "{store_name} {name}: {over:.3} × the floor (target {NO_CHANGE_TARGET_RATIO})"
                ));
            }
        }
    }
    Ok(missed)
}

fn client(access: &SandboxAccess, margin: Option<Duration>) -> Result<PersonioClient, String> {
    let mut config = PersonioConfig::new(
        access.client_id.clone(),
        Secret::new(access.client_secret.clone()),
    )
    .with_base_url(
        access
            .base_url
            .parse()
            .map_err(|error| format!("sandbox URL: {error}"))?,
    );
    if let Some(margin) = margin {
        config.limits.window_margin = margin;
    }
    PersonioClient::new(config).map_err(|error| error.to_string())
}

/// Every department of the generated company: the LMS has a group for each.
fn departments(employees: usize) -> Vec<String> {
    let names: BTreeSet<String> = generate(sandbox_config(employees).seed, employees)
        .iter()
        .filter_map(|employee| department_name(employee).map(str::to_owned))
        .collect();
    names.into_iter().collect()
}

fn report_run(record: &RunRecord) {
    let counts = &record.counts;
    println!(
        "   run                       {:?}: {} created, {} not created (locked), {} updated, \
         {} deactivated, {} unchanged, {} skipped, {} failed, {} groups added",
        record.status,
        counts.created,
        counts.not_created,
        counts.updated,
        counts.deactivated,
        counts.unchanged,
        counts.skipped,
        counts.failed,
        counts.groups_added,
    );
}
