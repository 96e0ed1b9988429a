//! The sync against systems that misbehave, asserting the end state after every run: no duplicate
//! LMS users (by externalId and by userName), no lost links (every user the sync made is linked,
//! every link names a user), nobody deactivated because of a failed or partial listing, and a next
//! run without faults that converges.
//!
//! Personio misbehaves through the sandbox's fault injection (5xx share, latency, hangs, truncated
//! JSON, dropped connections); the LMS (the independent SCIM server) through a fault proxy the
//! test controls (5xx, 429 with Retry-After, dropped connections, answers lost after the server
//! acted, hangs, dying mid-run).

use crate::sync_harness::{acme, engine, personio_client, request, run, settings, start_sandbox};
use common::domain::run::{OutcomeAction, RunRecord, RunStatus};
use common::lms::memory::MemoryLms;
use common::lms::scim::{ScimConfig, ScimLms};
use common::notify::MemoryNotifier;
use common::ports::{LearningPlatform, LinkStore};
use common::retry::Backoff;
use common::secret::Secret;
use common::store::MemoryStore;
use common::sync::SyncEngine;
use integration_tests::fault_proxy::{FaultProxy, ProxyMode};
use integration_tests::scim::{FULL, ScimServer, TOKEN};
use personio_sandbox::{Employee, Endpoint, Faults, LMS_SYNC_KEY, RunningSandbox};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// An LMS user as the invariants need it.
struct User {
    external_id: String,
    user_name: String,
    active: bool,
}

/// The invariants of any run's end state, given the LMS's users and the links. After a run that
/// converged (`complete`) every user is linked too; after one cut short, a user whose answer
/// was lost may be unlinked until the next run finds it by Personio id.
///
/// `may_be_inactive`: the users allowed to be inactive (those inactive because of their Personio
/// status, and the deselected); anybody else inactive was deactivated wrongly.
async fn assert_consistent(
    users: &[User],
    store: &MemoryStore,
    may_be_inactive: &BTreeSet<String>,
    complete: bool,
) {
    let external: BTreeSet<&str> = users.iter().map(|user| user.external_id.as_str()).collect();
    assert_eq!(external.len(), users.len(), "duplicate externalIds");
    let names: BTreeSet<String> = users
        .iter()
        .map(|user| user.user_name.to_lowercase())
        .collect();
    assert_eq!(names.len(), users.len(), "duplicate userNames");
    let links = store.links(&acme()).await.expect("links");
    let linked: BTreeSet<String> = links
        .iter()
        .map(|link| link.personio_id.to_string())
        .collect();
    let external: BTreeSet<String> = external.into_iter().map(str::to_owned).collect();
    assert!(linked.is_subset(&external), "a link without its user");
    if complete {
        assert_eq!(linked, external, "a user without its link");
    }
    let wrongly = inactive(users);
    let wrongly: Vec<_> = wrongly.difference(may_be_inactive).collect();
    assert!(
        wrongly.is_empty(),
        "deactivated while still selected: {wrongly:?}"
    );
}

/// The Personio ids of the inactive users.
fn inactive(users: &[User]) -> BTreeSet<String> {
    users
        .iter()
        .filter(|user| !user.active)
        .map(|user| user.external_id.clone())
        .collect()
}

fn memory_users(lms: &MemoryLms) -> Vec<User> {
    lms.users()
        .into_iter()
        .map(|user| User {
            external_id: user.profile.external_id,
            user_name: user.profile.email,
            active: user.active,
        })
        .collect()
}

async fn scim_users(server: &ScimServer) -> Vec<User> {
    server
        .user_documents()
        .await
        .iter()
        .map(|user: &Value| User {
            external_id: user["externalId"].as_str().unwrap_or_default().to_owned(),
            user_name: user["userName"].as_str().unwrap_or_default().to_owned(),
            active: user["active"].as_bool().unwrap_or(true),
        })
        .collect()
}

/// Deselects linked employees in the sandbox: a listing that loses them part-way must not read
/// as "they left", a listing that has them deactivates them.
fn deselect(sandbox: &RunningSandbox, ids: &[String]) -> BTreeSet<String> {
    for id in ids {
        sandbox
            .set_attribute(id.parse().expect("an id"), LMS_SYNC_KEY, "nein")
            .expect("deselected");
    }
    ids.iter().cloned().collect()
}

/// The final run without faults succeeds, and the one after it changes nothing.
async fn assert_converges(engine: &SyncEngine) -> RunRecord {
    let converged = run(engine, request(settings())).await;
    assert!(
        matches!(
            converged.status,
            RunStatus::Succeeded | RunStatus::CompletedWithFailures
        ),
        "{:?} {:?}",
        converged.error,
        converged.outcomes
    );
    let failed: Vec<_> = converged
        .outcomes
        .iter()
        .filter(|outcome| outcome.action == OutcomeAction::Failed)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let settled = run(engine, request(settings())).await;
    assert_eq!(settled.status, RunStatus::Succeeded, "{:?}", settled.error);
    let counts = settled.counts;
    assert_eq!(
        counts.created + counts.adopted + counts.updated + counts.deactivated,
        0,
        "converged: {counts:?}"
    );
    converged
}

/// Each kind of Personio fault on the employee listing, alone and heavy, then all at once.
fn personio_fault_kinds() -> Vec<(&'static str, Faults)> {
    let on_listing = |faults: Faults| Faults {
        seed: 11,
        only: vec![Endpoint::Employees],
        ..faults
    };
    vec![
        (
            "5xx",
            on_listing(Faults {
                server_error_share: 0.5,
                ..Faults::none()
            }),
        ),
        (
            "latency",
            on_listing(Faults {
                latency: Duration::from_millis(30),
                latency_jitter: Duration::from_millis(60),
                ..Faults::none()
            }),
        ),
        (
            "hangs",
            on_listing(Faults {
                timeout_share: 0.3,
                hang: Duration::from_secs(3),
                ..Faults::none()
            }),
        ),
        (
            "truncated JSON",
            on_listing(Faults {
                truncated_share: 0.5,
                ..Faults::none()
            }),
        ),
        (
            "dropped connections",
            on_listing(Faults {
                dropped_share: 0.5,
                ..Faults::none()
            }),
        ),
        (
            "everything",
            on_listing(Faults {
                latency: Duration::from_millis(10),
                latency_jitter: Duration::from_millis(20),
                server_error_share: 0.2,
                timeout_share: 0.1,
                truncated_share: 0.2,
                dropped_share: 0.2,
                hang: Duration::from_secs(3),
                ..Faults::none()
            }),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personio_faults_never_deactivate_anybody_wrongly_and_the_next_run_converges() {
    for (kind, faults) in personio_fault_kinds() {
        let sandbox = start_sandbox(7401, 250).await;
        let lms = Arc::new(MemoryLms::new());
        let store = MemoryStore::new();
        let engine = engine(
            &sandbox,
            lms.clone(),
            Arc::new(store.clone()),
            Arc::new(MemoryNotifier::new()),
        );
        let first = run(&engine, request(settings())).await;
        assert_eq!(
            first.status,
            RunStatus::Succeeded,
            "{kind}: {:?}",
            first.error
        );
        let deselected = deselect(&sandbox, &linked_ids(&store, 3).await);
        let may_be_inactive: BTreeSet<String> = inactive(&memory_users(&lms))
            .union(&deselected)
            .cloned()
            .collect();

        sandbox.set_faults(faults).expect("valid faults");
        // Runs with faults: each either succeeds (the client rode them out) or fails as a whole;
        // either way the state is consistent and only the deselected are deactivated.
        for attempt in 0..2 {
            let record = run(&engine, request(settings())).await;
            eprintln!("{kind} #{attempt}: {:?} {:?}", record.status, record.error);
            assert!(
                matches!(record.status, RunStatus::Succeeded | RunStatus::Failed),
                "{kind} #{attempt}: {:?}",
                record.status
            );
            if record.status == RunStatus::Failed {
                assert_eq!(record.counts.deactivated, 0, "{kind}: {:?}", record.error);
                let error = record.error.as_deref().unwrap_or_default();
                assert!(error.contains("nothing was changed"), "{kind}: {error}");
            }
            assert_consistent(&memory_users(&lms), &store, &may_be_inactive, false).await;
        }
        let faulted: u64 = sandbox.stats().faults.values().sum();
        assert!(
            faulted > 0 || kind == "latency",
            "{kind}: faults were injected"
        );

        sandbox.set_faults(Faults::none()).expect("no faults");
        assert_converges(&engine).await;
        let users = memory_users(&lms);
        assert_consistent(&users, &store, &may_be_inactive, true).await;
        assert_eq!(
            inactive(&users),
            may_be_inactive,
            "{kind}: the deselected too"
        );
        sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_fails_part_way_deactivates_nobody() {
    let sandbox = start_sandbox(7402, 250).await;
    let lms = Arc::new(MemoryLms::new());
    let store = MemoryStore::new();
    let engine = Arc::new(engine(
        &sandbox,
        lms.clone(),
        Arc::new(store.clone()),
        Arc::new(MemoryNotifier::new()),
    ));
    run(&engine, request(settings())).await;
    let links_before = store.links(&acme()).await.expect("links");
    let inactive_before = inactive(&memory_users(&lms));
    // After its first page, Personio answers nothing but errors: the listing ends part-way.
    let hold = sandbox.hold_employee_listing_after(1);
    let running = tokio::spawn({
        let engine = engine.clone();
        async move { run(&engine, request(settings())).await }
    });
    hold.wait_until_held().await;
    sandbox
        .set_faults(Faults {
            server_error_share: 1.0,
            only: vec![Endpoint::Employees],
            ..Faults::none()
        })
        .expect("valid faults");
    hold.release();
    let record = running.await.expect("joined");

    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("listing employees from Personio failed after ")
            && !error.starts_with("listing employees from Personio failed after 0 ")
            && error.ends_with("nothing was changed"),
        "{error}"
    );
    assert_eq!(record.counts.deactivated, 0);
    assert_eq!(inactive(&memory_users(&lms)), inactive_before);
    assert_eq!(store.links(&acme()).await.expect("links"), links_before);
    sandbox.set_faults(Faults::none()).expect("no faults");
    assert_converges(&engine).await;
}

/// The Personio ids of the first `count` links.
async fn linked_ids(store: &MemoryStore, count: usize) -> Vec<String> {
    store
        .links(&acme())
        .await
        .expect("links")
        .iter()
        .take(count)
        .map(|link| link.personio_id.to_string())
        .collect()
}

/// A SCIM client through `proxy`, with test-sized timings (a hang is a 2 s timeout).
fn scim_through(proxy: &FaultProxy) -> ScimLms {
    let mut config = ScimConfig::new(proxy.url(""), Secret::new(TOKEN));
    config.timeout = Duration::from_secs(2);
    config.call_budget = Duration::from_secs(20);
    config.backoff = Backoff {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(400),
        max_attempts: 6,
    };
    ScimLms::new(config).expect("a valid SCIM configuration")
}

struct ScimWorld {
    sandbox: RunningSandbox,
    server: ScimServer,
    proxy: FaultProxy,
    store: MemoryStore,
    engine: SyncEngine,
}

impl ScimWorld {
    async fn start(seed: u64) -> Option<Self> {
        let server = ScimServer::start(FULL)?;
        let sandbox = start_sandbox(seed, 40).await;
        let proxy = FaultProxy::start(&server.base_url()).await;
        let store = MemoryStore::new();
        let engine = Self::engine_with(&sandbox, Arc::new(scim_through(&proxy)), &store);
        Some(Self {
            sandbox,
            server,
            proxy,
            store,
            engine,
        })
    }

    fn engine_with(
        sandbox: &RunningSandbox,
        lms: Arc<dyn LearningPlatform>,
        store: &MemoryStore,
    ) -> SyncEngine {
        SyncEngine::new(
            personio_client(sandbox, sandbox.default_credential()),
            lms,
            Arc::new(store.clone()),
            Arc::new(MemoryNotifier::new()),
        )
        .with_retry(Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            max_attempts: 3,
        })
    }

    /// The engine with the LMS reached directly, not through the proxy.
    fn direct_engine(&self) -> SyncEngine {
        Self::engine_with(
            &self.sandbox,
            Arc::new(self.server.lms(TOKEN, 100)),
            &self.store,
        )
    }

    async fn assert_consistent(&self, may_be_inactive: &BTreeSet<String>, complete: bool) {
        assert_consistent(
            &scim_users(&self.server).await,
            &self.store,
            may_be_inactive,
            complete,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lms_answering_5xx_429_dropping_hanging_or_losing_answers_ends_consistent() {
    let modes = [
        (
            "5xx",
            ProxyMode::Answer {
                status: 503,
                retry_after: None,
                every: 3,
            },
        ),
        (
            "429 with Retry-After",
            ProxyMode::Answer {
                status: 429,
                retry_after: Some(1),
                every: 4,
            },
        ),
        ("dropped connections", ProxyMode::Drop { every: 4 }),
        (
            "answers lost after the server acted",
            ProxyMode::LoseAnswer { every: 3 },
        ),
        ("hangs", ProxyMode::Hang { every: 5 }),
    ];
    for (kind, mode) in modes {
        let Some(world) = ScimWorld::start(7410).await else {
            return;
        };
        world.proxy.set_mode(mode);
        let record = run(&world.engine, request(settings())).await;
        eprintln!(
            "{kind}: {:?} {:?} {:?}",
            record.status, record.counts, record.error
        );
        assert!(
            matches!(
                record.status,
                RunStatus::Succeeded | RunStatus::CompletedWithFailures | RunStatus::Failed
            ),
            "{kind}: {:?}",
            record.status
        );
        // Nobody is deselected: whoever is inactive now must be so by Personio status, which
        // the converged state shows.
        let users = scim_users(&world.server).await;
        let all: BTreeSet<String> = users.iter().map(|user| user.external_id.clone()).collect();
        assert_consistent(&users, &world.store, &all, false).await;
        let inactive_after_faults = inactive(&users);

        // The LMS well again (reached directly, with the usual timeouts: a slow machine must not
        // read as a hang).
        let converged = assert_converges(&world.direct_engine()).await;
        let users = scim_users(&world.server).await;
        let by_status = inactive(&users);
        assert_consistent(&users, &world.store, &by_status, true).await;
        assert!(inactive_after_faults.is_subset(&by_status), "{kind}");
        assert!(
            !scim_users(&world.server).await.is_empty(),
            "{kind}: {converged:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lms_that_dies_mid_run_fails_the_run_once_and_the_next_run_converges() {
    let Some(world) = ScimWorld::start(7411).await else {
        return;
    };
    run(&world.engine, request(settings())).await;
    let deselected = deselect(&world.sandbox, &linked_ids(&world.store, 2).await);
    let may_be_inactive: BTreeSet<String> = inactive(&scim_users(&world.server).await)
        .union(&deselected)
        .cloned()
        .collect();
    for employee in world.sandbox.employees().iter().take(30) {
        change_position(&world.sandbox, employee);
    }
    world
        .proxy
        .switch_at(world.proxy.requests() + 12, ProxyMode::Die);

    let record = run(&world.engine, request(settings())).await;

    assert_eq!(record.status, RunStatus::Failed, "{:?}", record.outcomes);
    let error = record.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("the learning platform is unavailable")
            && error.contains("the run stopped trying"),
        "{error}"
    );
    assert!(
        record
            .outcomes
            .iter()
            .all(|outcome| outcome.action != OutcomeAction::Failed),
        "no failure rows: {:?}",
        record.outcomes
    );
    assert!(record.counts.not_applied > 0);
    world.assert_consistent(&may_be_inactive, false).await;

    // The LMS is back (reached directly): the next run does the rest.
    assert_converges(&world.direct_engine()).await;
    world.assert_consistent(&may_be_inactive, true).await;
    assert_eq!(inactive(&scim_users(&world.server).await), may_be_inactive);
}

fn change_position(sandbox: &RunningSandbox, employee: &Employee) {
    let _ = sandbox.set_attribute(employee.id(), "position", "Fault Tester");
}
