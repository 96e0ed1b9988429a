//! The built binary when runs meet people and networks: real signals delivered to a real child
//! process, stdout closed early, a holder killed with SIGKILL, `unlock`, and systems that are
//! down or refuse the credentials. Every test asserts the end state: the run record, the links,
//! the lease, the LMS's users, and the exit code the README documents.
//!
//! The LMS is the independent SCIM server behind a fault proxy the test controls (slow, dead);
//! Personio is the sandbox.

mod support;

use common::domain::IntegrationId;
use common::domain::link::EmployeeLink;
use common::domain::run::{RunRecord, RunStatus};
use common::ports::{LeaseOutcome, LeaseStore, LinkStore, RunStore};
use common::store::SqliteStore;
use integration_tests::fault_proxy::{FaultProxy, ProxyMode};
use integration_tests::free_port;
use integration_tests::scim::{FULL, ScimServer, TOKEN};
use personio_sandbox::RunningSandbox;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{BINARY, Output, SECRET_VAR, TOKEN_VAR, run, sandbox, write_config};

const COMPANY: usize = 60;

/// The sandbox, the SCIM server behind the proxy, a config using both, the state file.
struct World {
    sandbox: RunningSandbox,
    scim: ScimServer,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    config: PathBuf,
    secret: String,
}

impl World {
    async fn start() -> Option<Self> {
        let scim = ScimServer::start(FULL)?;
        let sandbox = sandbox(COMPANY).await;
        let proxy = FaultProxy::start(&scim.base_url()).await;
        let (client_id, secret) = sandbox.default_credential();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_config(dir.path(), &sandbox.base_url(), &client_id, &proxy.url(""));
        Some(Self {
            sandbox,
            scim,
            proxy,
            dir,
            config,
            secret,
        })
    }

    fn config(&self) -> &str {
        self.config.to_str().expect("a UTF-8 path")
    }

    fn envs(&self) -> [(&str, &str); 2] {
        [(SECRET_VAR, self.secret.as_str()), (TOKEN_VAR, TOKEN)]
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut args = args.to_vec();
        args.extend(["--config", self.config()]);
        run(&args, &self.envs())
    }

    /// The binary started with piped output, not waited for.
    fn spawn(&self, args: &[&str]) -> Child {
        Command::new(BINARY)
            .args(args)
            .args(["--config", self.config()])
            .envs(self.envs())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts")
    }

    /// A sync started against a slow LMS, once it has linked its first employee: in the middle
    /// of its changes.
    async fn sync_in_the_middle_of_its_changes(&self) -> Child {
        self.proxy
            .set_mode(ProxyMode::Delay(Duration::from_millis(150)));
        let child = self.spawn(&["sync"]);
        self.wait_until("a first employee linked", || async {
            !self.links().await.is_empty()
        })
        .await;
        child
    }

    /// A config like this one whose LMS is the SCIM server itself (the proxy left out).
    fn direct_config(&self) -> PathBuf {
        let text = std::fs::read_to_string(&self.config).expect("read the config");
        let direct = text.replace(&self.proxy.url(""), &self.scim.base_url());
        let path = self.dir.path().join("direct.toml");
        std::fs::write(&path, direct).expect("write the config");
        path
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(self.dir.path().join("state/acme.sqlite")).expect("the state file")
    }

    async fn links(&self) -> Vec<EmployeeLink> {
        self.store().links(&acme()).await.expect("links")
    }

    async fn runs(&self) -> Vec<RunRecord> {
        self.store().runs(&acme(), 20).await.expect("runs")
    }

    /// Waits (up to 60 s) until `ready` holds for the state.
    async fn wait_until<F, Fut>(&self, what: &str, ready: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !ready().await {
            assert!(started.elapsed() < Duration::from_secs(60), "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The LMS's users, checked for duplicates (by externalId and by userName) and against the
    /// links: every user the sync made is linked, every link names a user.
    async fn assert_consistent(&self) -> Vec<Value> {
        let users = self.scim.user_documents().await;
        let external: Vec<&str> = users
            .iter()
            .filter_map(|user| user["externalId"].as_str())
            .collect();
        let unique: BTreeSet<&str> = external.iter().copied().collect();
        assert_eq!(unique.len(), external.len(), "duplicate externalIds");
        let names: BTreeSet<String> = users
            .iter()
            .filter_map(|user| user["userName"].as_str().map(str::to_lowercase))
            .collect();
        assert_eq!(names.len(), users.len(), "duplicate userNames");
        let links = self.links().await;
        let linked: BTreeSet<String> = links
            .iter()
            .map(|link| link.personio_id.to_string())
            .collect();
        let unique: BTreeSet<String> = unique.into_iter().map(str::to_owned).collect();
        assert_eq!(linked, unique, "every user linked, every link a user");
        users
    }

    async fn lease_is_free(&self) -> bool {
        let store = self.store();
        let outcome = store
            .acquire_lease(
                &acme(),
                "test probe",
                chrono::Utc::now(),
                chrono::Duration::seconds(5),
            )
            .await
            .expect("the lease");
        store
            .release_lease(&acme(), "test probe")
            .await
            .expect("released");
        matches!(outcome, LeaseOutcome::Acquired(_))
    }
}

fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {name}");
}

/// Waits for the child without blocking the runtime's other work (the proxy, the sandbox).
async fn finish(child: Child) -> Output {
    tokio::task::spawn_blocking(move || {
        let output = child.wait_with_output().expect("the child ends");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("joined")
}

fn assert_no_panic(output: &Output) {
    assert!(
        !output.stderr.contains("panicked"),
        "the binary panicked\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_sync_cleanly_and_the_next_run_converges() {
    let Some(world) = World::start().await else {
        return;
    };
    let child = world.sync_in_the_middle_of_its_changes().await;
    signal(&child, "-INT");
    let interrupted = finish(child).await;

    assert_eq!(interrupted.code, 130, "{interrupted}");
    assert!(
        interrupted.stderr.contains("Ctrl-C (SIGINT): stopping"),
        "{interrupted}"
    );
    assert!(interrupted.stdout.contains("ABORTED"), "{interrupted}");
    assert_no_panic(&interrupted);
    let runs = world.runs().await;
    let record = &runs[0];
    assert_eq!(record.status, RunStatus::Aborted);
    let error = record.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("the run was interrupted (Ctrl-C)"),
        "{error}"
    );
    assert_eq!(record.counts.failed, 0, "{:?}", record.outcomes);
    assert!(record.counts.created > 0 && record.counts.not_applied > 0);
    assert_eq!(world.links().await.len() as u32, record.counts.created);
    world.assert_consistent().await;
    assert!(world.lease_is_free().await, "the lease was released");
    let history = world.run(&["runs"]);
    assert!(history.stdout.contains("ABORTED"), "{history}");

    world.proxy.set_mode(ProxyMode::Pass);
    let next = world.run(&["sync"]);
    assert_eq!(next.code, 0, "{next}");
    let users = world.assert_consistent().await;
    let runs = world.runs().await;
    assert_eq!(
        users.len() as u32,
        runs[1].counts.created + runs[0].counts.created,
        "the second run created exactly the rest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_reading_personio_changes_nothing() {
    let Some(world) = World::start().await else {
        return;
    };
    // The listing's first page waits: the run is reading Personio when the signal comes.
    let hold = world.sandbox.hold_employee_listing_after(0);
    let child = world.spawn(&["sync"]);
    hold.wait_until_held().await;
    signal(&child, "-TERM");
    let stopped = finish(child).await;
    hold.release();

    assert_eq!(stopped.code, 143, "{stopped}");
    assert_no_panic(&stopped);
    let record = &world.runs().await[0];
    assert_eq!(record.status, RunStatus::Aborted);
    assert_eq!(
        record.error.as_deref(),
        Some("the run was stopped by SIGTERM while reading Personio; nothing was changed")
    );
    assert!(world.links().await.is_empty());
    assert!(world.scim.user_documents().await.is_empty());
    assert!(world.lease_is_free().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_stops_a_sync_cleanly_and_nothing_panics() {
    let Some(world) = World::start().await else {
        return;
    };
    let mut child = world.sync_in_the_middle_of_its_changes().await;
    // The reader goes away (`personio-lms sync | head -1` with head gone).
    drop(child.stdout.take());
    let stopped = finish(child).await;

    assert_eq!(stopped.code, 141, "{stopped}");
    assert_no_panic(&stopped);
    let record = &world.runs().await[0];
    assert_eq!(record.status, RunStatus::Aborted);
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("the run was stopped because its output was closed"),
        "{record:?}"
    );
    world.assert_consistent().await;
    assert!(world.lease_is_free().await);

    // Read commands and the demo whose reader leaves early: no panic, exit 141.
    // (The reader is gone before the command writes its first line.)
    let mut runs = world.spawn(&["runs"]);
    drop(runs.stdout.take());
    let runs = finish(runs).await;
    assert_eq!(runs.code, 141, "{runs}");
    assert_no_panic(&runs);
    let mut demo = Command::new(BINARY)
        .args(["demo", "--employees", "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    drop(demo.stdout.take());
    let demo = finish(demo).await;
    assert_eq!(demo.code, 141, "{demo}");
    assert_no_panic(&demo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_is_taken_over_at_once_and_its_run_reads_abandoned() {
    let Some(world) = World::start().await else {
        return;
    };
    let mut child = world.sync_in_the_middle_of_its_changes().await;
    child.kill().expect("SIGKILL");
    let killed = finish(child).await;
    assert_eq!(killed.code, -1, "ended by a signal");
    let dead_run = world.runs().await[0].clone();
    assert_eq!(
        dead_run.status,
        RunStatus::Running,
        "it never recorded its end"
    );
    assert!(!world.lease_is_free().await, "its lease is still held");
    // Past the clock skew a reader allows a run that started just as the lease was read.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    world.proxy.set_mode(ProxyMode::Pass);
    let next = world.run(&["sync"]);

    assert_eq!(next.code, 0, "{next}");
    assert!(
        next.stderr
            .contains("the sync lease was taken over from personio-lms on ")
            && next.stderr.contains("which no longer runs on this host"),
        "{next}"
    );
    let runs = world.runs().await;
    assert!(
        runs[0].notices.iter().any(|notice| notice
            .starts_with(&format!("run {} ", dead_run.run_id))
            && notice.contains("abandoned")),
        "{:?}",
        runs[0].notices
    );
    let history = world.run(&["runs"]);
    let line = history
        .stdout
        .lines()
        .find(|line| line.contains(&dead_run.run_id.0[..8]))
        .unwrap_or_else(|| panic!("the dead run is listed\n{history}"));
    assert!(line.contains("abandoned"), "{history}");
    world.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_shows_the_holder_and_breaks_the_lease_only_when_confirmed() {
    let Some(world) = World::start().await else {
        return;
    };
    let free = world.run(&["unlock"]);
    assert_eq!(free.code, 0, "{free}");
    assert!(free.stdout.contains("is free; nothing to unlock"), "{free}");
    world
        .store()
        .acquire_lease(
            &acme(),
            "a stuck run on another host",
            chrono::Utc::now(),
            chrono::Duration::minutes(10),
        )
        .await
        .expect("the lease");

    let unlock = |answer: &'static str| {
        let mut child = Command::new(BINARY)
            .args(["unlock", "--config", world.config()])
            .envs(world.envs())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unlock starts");
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(answer.as_bytes()).expect("answered");
        drop(stdin);
        finish(child)
    };
    let declined = unlock("n\n").await;
    assert_eq!(declined.code, 0, "{declined}");
    assert!(
        declined
            .stdout
            .contains("is held by a stuck run on another host until"),
        "{declined}"
    );
    assert!(declined.stdout.contains("left as it is"), "{declined}");
    assert!(!world.lease_is_free().await);
    let unanswered = unlock("").await;
    assert_eq!(unanswered.code, 2, "{unanswered}");
    assert!(unanswered.stderr.contains("--yes"), "{unanswered}");
    let confirmed = unlock("y\n").await;
    assert_eq!(confirmed.code, 0, "{confirmed}");
    assert!(confirmed.stdout.contains("lease broken"), "{confirmed}");
    assert!(world.lease_is_free().await);

    world
        .store()
        .acquire_lease(
            &acme(),
            "another stuck run",
            chrono::Utc::now(),
            chrono::Duration::minutes(10),
        )
        .await
        .expect("the lease");
    let forced = world.run(&["unlock", "--yes"]);
    assert_eq!(forced.code, 0, "{forced}");
    assert!(world.lease_is_free().await);
}

/// A sync against `config`; the run's one error, and how long it took.
fn failing_sync(config: &Path, envs: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let output = run(&["sync", "--config", config.to_str().expect("UTF-8")], envs);
    (output, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_token_rejecting_lms_fails_the_run_as_a_whole_within_seconds() {
    let Some(world) = World::start().await else {
        return;
    };
    // The token is wrong: one error, exit 3, no row per employee, no links.
    let wrong_token = [
        (SECRET_VAR, world.secret.as_str()),
        (TOKEN_VAR, "not-the-token"),
    ];
    let (rejected, took) = failing_sync(&world.config, &wrong_token);
    assert_eq!(rejected.code, 3, "{rejected}");
    assert!(
        rejected
            .stdout
            .contains("error: the learning platform rejected the token (HTTP 401)"),
        "{rejected}"
    );
    let failed_lines = rejected
        .stdout
        .lines()
        .filter(|line| line.contains("FAILED"));
    assert_eq!(
        failed_lines.count(),
        1,
        "the status line, no failure rows\n{rejected}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let record = &world.runs().await[0];
    assert_eq!(record.status, RunStatus::Failed);
    // No row blames an employee (rows decided before any LMS call, like a leaver not created,
    // may be there).
    assert!(
        record
            .outcomes
            .iter()
            .all(|outcome| outcome.action != common::domain::run::OutcomeAction::Failed)
            && record.counts.failed == 0,
        "{:?}",
        record.outcomes
    );
    assert!(world.links().await.is_empty());

    // Nothing listens where the LMS should be: refused connections end the run in seconds.
    let text = std::fs::read_to_string(&world.config).expect("config");
    let dead = world.dir.path().join("dead-lms.toml");
    std::fs::write(
        &dead,
        text.replace(
            &world.proxy.url(""),
            &format!("http://127.0.0.1:{}/v2", free_port()),
        ),
    )
    .expect("config");
    let (down, took) = failing_sync(&dead, &world.envs());
    assert_eq!(down.code, 3, "{down}");
    assert!(
        down.stdout
            .contains("error: the learning platform is unavailable: cannot connect"),
        "{down}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(world.links().await.is_empty());
    assert!(world.lease_is_free().await);

    // The LMS dies in the middle of the run: what was done stays linked, nothing twice.
    world
        .proxy
        .switch_at(world.proxy.requests() + 40, ProxyMode::Die);
    let (died, _) = failing_sync(&world.config, &world.envs());
    assert_eq!(died.code, 3, "{died}");
    assert!(
        died.stdout.contains("learning platform is unavailable"),
        "{died}"
    );
    let linked = world.assert_consistent().await.len();
    let record = &world.runs().await[0];
    assert_eq!(record.counts.failed, 0, "{:?}", record.outcomes);
    assert_eq!(linked as u32, record.counts.created);
    // Back up (without the proxy): the next run converges.
    let (again, _) = failing_sync(&world.direct_config(), &world.envs());
    assert_eq!(again.code, 0, "{again}");
    let users = world.assert_consistent().await;
    assert!(users.len() > linked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personio_down_fails_sync_and_check_fast_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let config = write_config(
        dir.path(),
        &nowhere,
        "papi-id",
        &format!("{nowhere}/scim/v2"),
    );
    let envs = [(SECRET_VAR, "secret"), (TOKEN_VAR, "token")];

    let (sync, took) = failing_sync(&config, &envs);
    assert_eq!(sync.code, 3, "{sync}");
    assert!(
        sync.stdout
            .contains("listing employees from Personio failed after 0 page(s): Personio is unavailable: cannot connect"),
        "{sync}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let started = Instant::now();
    let check = run(
        &["check", "--config", config.to_str().expect("UTF-8")],
        &envs,
    );
    let took = started.elapsed();
    assert_eq!(check.code, 5, "{check}");
    assert!(
        check.stdout.to_lowercase().contains("cannot connect"),
        "{check}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
}
