//! The employee sync against the independent SCIM server (`scim2-server`, started from the test
//! virtualenv through `tests/scim/launch.py`): the initial sync of a generated company, with
//! SCIM Bulk and without, and the no-change re-sync; SCIM requests by kind against the least the
//! protocol allows, supervisor lookups, and how many synced employees whose supervisor is synced
//! too lack their `manager` afterwards.
//!
//! `cargo run --release -p benchmarks --bin scim-sync [-- --employees N] [--seed S]
//! [--concurrency N] [--no-bulk | --bulk-only] [--lms-latency-ms N]`
//!
//! `--lms-latency-ms N` puts a proxy before the server that holds every request N ms, as a
//! remote LMS's round trip does (the 10 s wall target applies without it only).
//!
//! The Personio sandbox runs in-process without rate limits: the SCIM side is what is measured
//! here (the `sync` benchmark measures the Personio side under its documented limits).

use benchmarks::sandbox_process::flag_value;
use common::domain::IntegrationId;
use common::domain::employee::PersonioId;
use common::domain::run::{RunRecord, RunStatus, Trigger};
use common::domain::settings::{GroupSource, IntegrationSettings};
use common::lms::scim::{ENTERPRISE_USER_SCHEMA, RequestCounts, RequestKind, ScimConfig, ScimLms};
use common::notify::DiscardNotifier;
use common::personio::{PersonioClient, PersonioConfig, RateLimits};
use common::ports::{EmployeeQuery, HrSource};
use common::progress::NoProgress;
use common::retry::Deadline;
use common::secret::Secret;
use common::store::MemoryStore;
use common::sync::{SyncEngine, SyncOutcome, SyncRequest, is_selected};
use futures::TryStreamExt;
use integration_tests::fault_proxy::{FaultProxy, ProxyMode};
use integration_tests::scim::{FULL, ScimServer, TOKEN};
use personio_sandbox::{LMS_SYNC_LABEL, RunningSandbox, Sandbox, SandboxConfig};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEFAULT_EMPLOYEES: usize = 10_000;
/// The most a bulk initial sync may take, as a multiple of the protocol's minimum.
const BULK_TARGET_RATIO: f64 = 1.1;
const BULK_TARGET_WALL: Duration = Duration::from_secs(10);
/// The most requests per created user without bulk.
const SINGLE_TARGET_PER_USER: f64 = 1.05;

fn main() -> ExitCode {
    benchmarks::main_with("scim-sync", |_| async { Ok(()) }, benchmark)
}

#[derive(Clone, Copy)]
struct Options {
    employees: usize,
    seed: u64,
    concurrency: usize,
    latency: Duration,
}

async fn benchmark(args: Vec<String>) -> Result<(), String> {
    let options = Options {
        employees: flag_value(&args, "--employees", DEFAULT_EMPLOYEES)?,
        seed: flag_value(&args, "--seed", 7)?,
        concurrency: flag_value(&args, "--concurrency", 8)?,
        latency: Duration::from_millis(flag_value(&args, "--lms-latency-ms", 0)?),
    };
    let modes: Vec<bool> = if args.iter().any(|arg| arg == "--no-bulk") {
        vec![false]
    } else if args.iter().any(|arg| arg == "--bulk-only") {
        vec![true]
    } else {
        vec![true, false]
    };
    println!(
        "scim-sync: {} employees (seed {}), scim2-server behind loopback HTTP{}, Personio \
         sandbox in-process without rate limits, {} writes in flight without bulk, groups by \
         department",
        options.employees,
        options.seed,
        if options.latency.is_zero() {
            String::new()
        } else {
            format!(" and {} ms more per request", options.latency.as_millis())
        },
        options.concurrency
    );
    let mut missed = Vec::new();
    for bulk in modes {
        missed.extend(scenario(options, bulk).await?);
    }
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!("targets missed: {}", missed.join("; ")))
    }
}

struct Company {
    sandbox: RunningSandbox,
    hr: Arc<PersonioClient>,
    settings: IntegrationSettings,
    /// Selected employees with an email: Personio id → supervisor's Personio id.
    supervisors: HashMap<PersonioId, Option<PersonioId>>,
    departments: BTreeMap<String, usize>,
}

async fn company(options: Options, bulk: bool) -> Result<Company, String> {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_seed(options.seed)
            .with_employees(options.employees)
            .without_rate_limits(),
    )
    .await
    .map_err(|error| format!("sandbox: {error}"))?;
    let (client_id, client_secret) = sandbox.default_credential();
    let mut config = PersonioConfig::new(client_id, Secret::new(client_secret)).with_base_url(
        sandbox
            .base_url()
            .parse()
            .map_err(|error| format!("sandbox URL: {error}"))?,
    );
    config.limits = RateLimits::unlimited();
    let hr = Arc::new(PersonioClient::new(config).map_err(|error| error.to_string())?);
    let mut settings = IntegrationSettings::new(LMS_SYNC_LABEL);
    settings.groups.by = BTreeSet::from([GroupSource::Department]);
    settings.apply_concurrency = options.concurrency;
    settings.scim.bulk = bulk;
    let mut supervisors = HashMap::new();
    let mut departments = BTreeMap::new();
    let query = EmployeeQuery::default();
    let mut pages = hr.employee_pages(&query, Deadline::none());
    while let Some(page) = pages.try_next().await.map_err(|error| error.to_string())? {
        for employee in page.employees.into_iter().flatten() {
            if !is_selected(&employee, &settings.selection) || employee.email.is_none() {
                continue;
            }
            supervisors.insert(
                employee.id,
                employee
                    .supervisor
                    .as_ref()
                    .and_then(|supervisor| supervisor.id),
            );
            if let Some(department) = &employee.department {
                *departments.entry(department.name.clone()).or_default() += 1;
            }
        }
    }
    drop(pages);
    Ok(Company {
        sandbox,
        hr,
        settings,
        supervisors,
        departments,
    })
}

async fn scenario(options: Options, bulk: bool) -> Result<Vec<String>, String> {
    let company = company(options, bulk).await?;
    let server = ScimServer::start(FULL).ok_or("scim2-server is not installed (TEST_VENV)")?;
    for name in company.departments.keys() {
        server.create_group(name).await;
    }
    // A remote LMS's round trip, when asked for: every request held by the proxy.
    let proxy = if options.latency.is_zero() {
        None
    } else {
        let proxy = FaultProxy::start(&server.base_url()).await;
        proxy.set_mode(ProxyMode::Delay(options.latency));
        Some(proxy)
    };
    let base_url = proxy
        .as_ref()
        .map_or_else(|| server.base_url(), |proxy| proxy.url(""));
    let mut config = ScimConfig::new(base_url, Secret::new(TOKEN));
    config.call_budget = Duration::from_secs(300);
    config.timeout = Duration::from_secs(120);
    let lms = Arc::new(ScimLms::new(config).map_err(|error| error.to_string())?);
    let store = Arc::new(MemoryStore::new());
    let engine = SyncEngine::new(
        company.hr.clone(),
        lms.clone(),
        store.clone(),
        Arc::new(DiscardNotifier),
    );
    println!();
    println!(
        "== {} ==",
        if bulk {
            "with SCIM Bulk"
        } else {
            "without bulk"
        }
    );
    let mut missed = Vec::new();
    for name in ["initial sync", "no-change re-sync"] {
        let before = lms.scim_request_counts();
        let mut request = SyncRequest::new(
            IntegrationId::new("bench"),
            company.settings.clone(),
            Trigger::Manual,
        );
        request.deadline = Deadline::after(Duration::from_secs(1800));
        let started = Instant::now();
        let outcome = engine
            .run(request, &NoProgress)
            .await
            .map_err(|error| format!("{name}: {error}"))?;
        let wall = started.elapsed();
        let SyncOutcome::Completed(record) = outcome else {
            return Err(format!("{name}: the lease was held"));
        };
        let requests = lms.scim_request_counts().since(&before);
        println!("-- {name}");
        report(&record, wall, &requests);
        if record.status != RunStatus::Succeeded {
            missed.push(format!("{name}: run {:?}", record.status));
        }
        if name == "initial sync" {
            let minimum = protocol_minimum(&record, &requests, &company, bulk, &lms).await?;
            let ratio = requests.total() as f64 / minimum as f64;
            println!("   protocol minimum          {minimum} requests");
            println!("   ratio requests / minimum  {ratio:.3}");
            let created = record.counts.created.max(1);
            let per_user = requests.total() as f64 / f64::from(created);
            println!("   requests per created user {per_user:.3}");
            let (missing, expected) = missing_managers(&server, &company).await;
            println!(
                "   managers missing          {missing} of {expected} synced employees whose \
                 supervisor is synced too"
            );
            if bulk && ratio > BULK_TARGET_RATIO {
                missed.push(format!("bulk: {ratio:.3} × the minimum"));
            }
            if bulk && options.latency.is_zero() && wall > BULK_TARGET_WALL {
                missed.push(format!("bulk: {:.1} s", wall.as_secs_f64()));
            }
            if !bulk && per_user > SINGLE_TARGET_PER_USER {
                missed.push(format!("without bulk: {per_user:.3} requests per user"));
            }
            if missing > 0 {
                missed.push(format!("{missing} managers missing"));
            }
        } else if requests.total() > 0 {
            missed.push(format!("{name}: {} LMS requests", requests.total()));
        }
    }
    drop(company.sandbox);
    Ok(missed)
}

fn report(record: &RunRecord, wall: Duration, requests: &RequestCounts) {
    let counts = record.counts;
    println!(
        "   run                       {:?}: {} created, {} updated, {} unchanged, {} skipped, {} \
         failed, {} groups added",
        record.status,
        counts.created,
        counts.updated,
        counts.unchanged,
        counts.skipped,
        counts.failed,
        counts.groups_added
    );
    println!("   wall time                 {:.2} s", wall.as_secs_f64());
    let kinds: Vec<String> = requests
        .0
        .iter()
        .map(|(kind, count)| format!("{count} {}", kind.name()))
        .collect();
    println!(
        "   SCIM requests             {}: {}",
        requests.total(),
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        }
    );
    println!(
        "   supervisor lookups        {}",
        requests.get(RequestKind::UserLookup)
    );
}

/// Discovery (3) + listing pages (users and groups) + the creates (in ⌈N/maxOperations⌉ bulk
/// requests, or one each) + one member request per ⌈members/100⌉ of each group.
async fn protocol_minimum(
    record: &RunRecord,
    requests: &RequestCounts,
    company: &Company,
    bulk: bool,
    lms: &ScimLms,
) -> Result<u64, String> {
    let created = u64::from(record.counts.created);
    let writes = if bulk {
        let capabilities = lms
            .capabilities()
            .await
            .map_err(|error| error.to_string())?;
        let max = capabilities
            .bulk
            .map_or(1, |bulk| bulk.max_operations as u64);
        created.div_ceil(max)
    } else {
        created
    };
    let batch = company.settings.scim.group_batch_size as u64;
    let group_requests: u64 = company
        .departments
        .values()
        .map(|members| (*members as u64).div_ceil(batch))
        .sum();
    let listing = requests.get(RequestKind::UserListing).max(1) + 1;
    Ok(3 + listing + writes + group_requests)
}

/// How many selected employees whose supervisor is selected too have no (or another) manager.
async fn missing_managers(server: &ScimServer, company: &Company) -> (usize, usize) {
    let users = server.user_documents().await;
    let ids: HashMap<String, String> = users
        .iter()
        .filter_map(|user| {
            Some((
                user["externalId"].as_str()?.to_owned(),
                user["id"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut expected = 0;
    let mut missing = 0;
    for user in &users {
        let Some(external_id) = user["externalId"].as_str() else {
            continue;
        };
        let Ok(id) = external_id.parse::<i64>() else {
            continue;
        };
        let Some(Some(supervisor)) = company.supervisors.get(&PersonioId(id)) else {
            continue;
        };
        let Some(supervisor_user) = ids.get(&supervisor.to_string()) else {
            continue;
        };
        expected += 1;
        let manager = user[ENTERPRISE_USER_SCHEMA]["manager"]["value"].as_str();
        if manager != Some(supervisor_user.as_str()) {
            missing += 1;
        }
    }
    (missing, expected)
}
