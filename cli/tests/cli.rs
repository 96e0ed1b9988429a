//! The built `personio-lms` binary, end to end: a Personio sandbox started by the test, the
//! independent SCIM server (scim2-server, through the `integration-tests` harness) as the LMS,
//! config files written to a temp dir. Only 127.0.0.1 is contacted.
//!
//! These live in `cli/tests/` rather than `tests/tests/it/` because `CARGO_BIN_EXE_*` is only
//! set for the binaries of the package under test.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::domain::IntegrationId;
use common::domain::link::ManagerLink;
use common::ports::{LeaseStore, LinkStore};
use common::store::SqliteStore;
use integration_tests::{ServerGuard, free_port};
use personio_sandbox::RunningSandbox;
use serde_json::{Value, json};
use support::*;

/// A sandbox, the SCIM server and a config for both in a temp dir.
struct World {
    scim: ServerGuard,
    sandbox: RunningSandbox,
    dir: tempfile::TempDir,
    config: String,
    client_secret: String,
}

impl World {
    async fn start(employees: usize) -> Option<Self> {
        let scim = start_scim()?;
        let sandbox = sandbox(employees).await;
        let (client_id, client_secret) = sandbox.default_credential();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_config(
            dir.path(),
            &sandbox.base_url(),
            &client_id,
            &format!("{}/v2", scim.base_url()),
        );
        let config = config.to_str().expect("a UTF-8 path").to_owned();
        Some(Self {
            scim,
            sandbox,
            dir,
            config,
            client_secret,
        })
    }

    fn envs(&self) -> [(&'static str, &str); 2] {
        [
            (SECRET_VAR, self.client_secret.as_str()),
            (TOKEN_VAR, SCIM_TOKEN),
        ]
    }

    async fn shutdown(self) {
        self.sandbox.shutdown().await;
    }
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

fn job(certificate: &str, lms_user: &str, course: Option<&str>) -> String {
    let mut job = json!({
        "integration_id": "acme",
        "certificate_id": certificate,
        "lms_user_id": lms_user,
        "completed_on": "2026-11-20",
        "pdf_base64": BASE64.encode(PDF),
    });
    if let Some(course) = course {
        job["course_name"] = json!(course);
    }
    job.to_string()
}

#[test]
fn demo_runs_end_to_end_and_prints_every_section() {
    let output = run(&["demo", "--employees", "60", "--seed", "3"], &[]);
    assert_eq!(output.code, 0, "{output}");
    for section in [
        "== 1. First sync",
        "== 2. Changes in Personio",
        "new hire",
        "left the company",
        "deselected",
        "== 3. Re-sync",
        "deactivated",
        "the LMS has no groups named",
        "== 4. Why was someone not synced?",
        "$ personio-lms explain ",
        "next run: skip",
        "== 5. A change in Personio reaches the LMS within seconds: a webhook",
        "Personio delivers to http://127.0.0.1:",
        "person.updated queued after ",
        "(trigger webhook) wrote the LMS user",
        "== 6. Certificates",
        "uploaded 3",
        "documents in Personio (the sandbox): 3",
        "== 7. Emails in the outbox",
        "== 8. The LMS now",
    ] {
        assert!(
            output.stdout.contains(section),
            "missing {section:?}\n{output}"
        );
    }
    // The measured delay from the change in Personio to the LMS write, in milliseconds.
    let delay: u64 = output
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("in the LMS"))
        .and_then(|rest| rest.trim().split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no measured delay\n{output}"));
    assert!(delay < 10_000, "{delay} ms\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_runs_backfill_and_ledger_against_sandbox_and_scim_server() {
    let Some(world) = World::start(25).await else {
        return;
    };
    let World {
        sandbox,
        dir,
        client_secret,
        ..
    } = &world;
    let config = world.config.as_str();
    let envs = world.envs();

    let first = run(&["sync", "--config", config], &envs);
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stdout.contains("succeeded"), "{first}");
    assert!(first.stdout.contains("created "), "{first}");
    assert!(
        !first.stdout.contains(client_secret.as_str())
            && !first.stderr.contains(client_secret.as_str())
    );

    let second = run(&["sync", "--config", config], &envs);
    assert_eq!(second.code, 0, "{second}");
    assert!(
        second.stdout.contains("nothing changed in the LMS"),
        "{second}"
    );
    // Nobody created ("not created" leavers are reported each run).
    assert!(!second.stdout.contains("  created "), "{second}");

    let json = run(&["sync", "--config", config, "--dry-run", "--json"], &envs);
    assert_eq!(json.code, 0, "{json}");
    let record: Value = serde_json::from_str(&json.stdout).expect("the run record as JSON");
    assert_eq!(record["dry_run"], true);
    assert_eq!(record["counts"]["created"], 0);
    assert!(!json.stdout.contains(client_secret.as_str()) && !json.stdout.contains(SCIM_TOKEN));

    let runs = run(&["runs", "--config", config], &envs);
    assert_eq!(runs.code, 0, "{runs}");
    assert_eq!(
        runs.stdout.lines().count(),
        2 + 3,
        "header, rule, 3 runs\n{runs}"
    );
    let newest = runs.stdout.lines().nth(2).expect("a run line");
    assert!(newest.contains("(dry run)"), "newest first\n{runs}");
    let first_id = first
        .stdout
        .split_whitespace()
        .nth(1)
        .expect("the run id")
        .to_owned();
    let shown = run(&["runs", "show", &first_id, "--config", config], &envs);
    assert_eq!(shown.code, 0, "{shown}");
    assert!(shown.stdout.contains("created"), "{shown}");
    // The figures the metrics carry: requests to both systems, the SCIM ones by kind.
    let requests = shown
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("requests: Personio "))
        .unwrap_or_else(|| panic!("a requests line\n{shown}"));
    // Creates go one by one, or in bulk requests where the LMS offers them (scim2-server does).
    assert!(
        requests.contains("· LMS ") && (requests.contains("create ") || requests.contains("bulk ")),
        "{shown}"
    );
    let unknown = run(&["runs", "show", "no-such-run", "--config", config], &envs);
    assert_eq!(unknown.code, 2, "{unknown}");

    // Certificates: two good jobs, a broken line and a job without course name.
    let state = dir.path().join("state/acme.sqlite");
    let links = SqliteStore::open(&state)
        .expect("the state file")
        .links(&IntegrationId::new("acme"))
        .await
        .expect("links");
    assert!(links.len() >= 2, "the sync linked employees");
    let jobs = [
        job("c-1", &links[0].lms_user_id.0, Some("Fire safety")),
        "{not json".to_owned(),
        job("c-2", &links[1].lms_user_id.0, Some("First aid")),
        job("c-3", &links[1].lms_user_id.0, None),
    ];
    let jobs_file = dir.path().join("jobs.ndjson");
    // Saved by an editor that writes a byte order mark, with one line in Latin-1.
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice((jobs.join("\n") + "\n").as_bytes());
    bytes.extend_from_slice(b"{\"certificate_id\": \"c-5\", \"course_name\": \"Br\xFCcke\"}\n");
    std::fs::write(&jobs_file, bytes).expect("write jobs");
    let jobs_file = jobs_file.to_str().expect("UTF-8");

    let backfill = run(&["backfill", "--config", config, jobs_file], &envs);
    assert_eq!(backfill.code, 1, "{backfill}");
    assert!(
        backfill
            .stdout
            .contains("jobs.ndjson: line 2: not a JSON value"),
        "{backfill}"
    );
    assert!(
        backfill.stdout.starts_with(&format!("{jobs_file}: line 2")),
        "{backfill}"
    );
    assert!(
        backfill
            .stdout
            .contains("jobs.ndjson: line 5: not UTF-8 text (invalid byte at column"),
        "{backfill}"
    );
    assert!(
        backfill.stdout.contains("uploaded 2 · already done 0"),
        "{backfill}"
    );
    let invalid_row = backfill
        .stdout
        .lines()
        .find(|line| line.starts_with("4 "))
        .unwrap_or_else(|| panic!("a row for line 4\n{backfill}"));
    assert!(invalid_row.contains("course_name"), "{backfill}");
    assert_eq!(sandbox.documents().len(), 2);

    let again = run(&["backfill", "--config", config, jobs_file], &envs);
    assert_eq!(again.code, 1, "the broken lines are still broken\n{again}");
    assert!(
        again.stdout.contains("uploaded 0 · already done 2"),
        "{again}"
    );
    assert_eq!(sandbox.documents().len(), 2, "nothing pushed twice");

    // Four times what a queued job may carry inline: the CLI takes up to Personio's 30 MB.
    let pdf = dir.path().join("c-4.pdf");
    let mut content = PDF.to_vec();
    content.resize(1024 * 1024, b' ');
    std::fs::write(&pdf, &content).expect("write the PDF");
    let pushed = run(
        &[
            "push-certificate",
            "--config",
            config,
            "--certificate-id",
            "c-4",
            "--lms-user-id",
            &links[0].lms_user_id.0,
            "--course",
            "Forklift licence",
            "--completed-on",
            "2026-11-21",
            "--pdf",
            pdf.to_str().expect("UTF-8"),
        ],
        &envs,
    );
    assert_eq!(pushed.code, 0, "{pushed}");
    assert!(pushed.stdout.contains("uploaded 1"), "{pushed}");
    let documents = sandbox.documents();
    assert_eq!(documents.len(), 3);
    assert_eq!(documents[2].title, "Forklift licence");

    let ledger = run(&["certificates", "--config", config], &envs);
    assert_eq!(ledger.code, 0, "{ledger}");
    assert!(
        ledger.stdout.lines().any(|line| line.starts_with("c-1")
            && line.contains("done")
            && line.contains(&format!(
                "{} (LMS user {}",
                links[0].personio_id, links[0].lms_user_id
            ))
            && line.contains("Fire safety (2026-11-20)")),
        "{ledger}"
    );
    assert!(
        ledger
            .stdout
            .lines()
            .any(|line| line.starts_with("c-3") && line.contains("failed"))
    );

    // One employee, on demand: changed in Personio, synced alone, with the change told.
    let named = links[0].personio_id;
    let other = links[1].personio_id;
    sandbox
        .set_attribute(named.0 as u64, "position", "Forklift Lead")
        .expect("changed");
    sandbox
        .set_attribute(other.0 as u64, "position", "Not named")
        .expect("changed");
    let only = run(
        &["sync", "--config", config, "--only", &named.to_string()],
        &envs,
    );
    assert_eq!(only.code, 0, "{only}");
    assert!(only.stdout.contains("updated 1"), "{only}");
    assert!(only.stdout.contains("→ Forklift Lead"), "{only}");
    assert!(!only.stdout.contains("Not named"), "{only}");
    let history = run(&["runs", "--config", config], &envs);
    assert!(history.stdout.contains("cli, targeted"), "{history}");
    let bad = run(&["sync", "--config", config, "--only", "12,x"], &envs);
    assert_eq!(bad.code, 2, "{bad}");
    assert!(
        bad.stderr.contains("\"x\" is not a Personio employee id"),
        "{bad}"
    );

    // Another process holds the lease: the sync does nothing and says so with exit code 4.
    let store = SqliteStore::open(&state).expect("the state file");
    let taken = store
        .acquire_lease(
            &IntegrationId::new("acme"),
            "someone else",
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
        )
        .await
        .expect("the lease");
    assert!(matches!(taken, common::ports::LeaseOutcome::Acquired(_)));
    let held = run(&["sync", "--config", config], &envs);
    assert_eq!(held.code, 4, "{held}");
    assert!(held.stdout.contains("someone else"), "{held}");
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_the_trail_of_the_state_file_page_by_page() {
    use common::domain::audit::{AuditAction, AuditEntry, AuditOutcome};
    use common::ports::AuditLog;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "http://127.0.0.1:9/personio",
        "client",
        "http://127.0.0.1:9/scim/v2",
    );
    let config = config.to_str().expect("a UTF-8 path");
    let envs = [(SECRET_VAR, "s3cret"), (TOKEN_VAR, SCIM_TOKEN)];
    let empty = run(&["audit", "--config", config], &envs);
    assert_eq!(empty.code, 0, "{empty}");
    assert_eq!(empty.stdout, "no admin actions recorded\n");

    let store = SqliteStore::open(dir.path().join("state/acme.sqlite")).expect("the state file");
    let at = chrono::Utc::now() - chrono::Duration::minutes(10);
    for (n, action, status) in [
        (1, AuditAction::Create, 201),
        (2, AuditAction::Update, 412),
        (3, AuditAction::SyncNow, 202),
    ] {
        store
            .record_audit(&AuditEntry {
                integration_id: IntegrationId::new("acme"),
                tenant_id: "local".into(),
                entry_id: format!("entry-{n}"),
                at: at + chrono::Duration::minutes(n),
                subject: Some("ada@acme.example".into()),
                request_id: format!("req-{n}"),
                action,
                fields: if n == 2 {
                    vec!["schedule".into()]
                } else {
                    Vec::new()
                },
                detail: None,
                outcome: AuditOutcome::of_status(
                    status,
                    (status == 412).then(|| "the integration is no longer at version 1".into()),
                ),
                expires_at: None,
            })
            .await
            .expect("recorded");
    }
    let listed = run(&["audit", "--config", config], &envs);
    assert_eq!(listed.code, 0, "{listed}");
    let rows: Vec<&str> = listed.stdout.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{listed}");
    assert!(
        rows[0].contains("sync_now") && rows[0].contains("req-3"),
        "{listed}"
    );
    assert!(
        rows[1].contains("412 the integration is no longer at version 1")
            && rows[1].contains("schedule"),
        "{listed}"
    );

    let first = run(
        &["audit", "--config", config, "--limit", "2", "--json"],
        &envs,
    );
    assert_eq!(first.code, 0, "{first}");
    let page: Value = serde_json::from_str(&first.stdout).expect("JSON");
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(2));
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = run(&["audit", "--config", config, "--cursor", &cursor], &envs);
    assert_eq!(rest.code, 0, "{rest}");
    assert!(
        rest.stdout.contains("req-1") && !rest.stdout.contains("req-3"),
        "{rest}"
    );
    let bad = run(
        &["audit", "--config", config, "--cursor", "yesterday"],
        &envs,
    );
    assert_eq!(bad.code, 2, "{bad}");
    assert!(bad.stderr.contains("--cursor"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_clearly_on_a_wrong_client_secret() {
    let sandbox = sandbox(5).await;
    let (client_id, _) = sandbox.default_credential();
    let dir = tempfile::tempdir().expect("temp dir");
    // Nothing listens there: the LMS check fails fast, on loopback.
    let lms = format!("http://127.0.0.1:{}/v2", free_port());
    let config = write_config(dir.path(), &sandbox.base_url(), &client_id, &lms);
    let config = config.to_str().expect("UTF-8");
    let output = run(
        &["check", "--config", config, "--timeout", "20"],
        &[(SECRET_VAR, "papi-wrong-secret"), (TOKEN_VAR, SCIM_TOKEN)],
    );
    assert_eq!(output.code, 5, "{output}");
    let personio_line = output
        .stdout
        .lines()
        .find(|line| line.starts_with("[XX] personio"))
        .unwrap_or_else(|| panic!("a failed Personio check\n{output}"));
    assert!(
        personio_line.to_lowercase().contains("credential")
            || personio_line.to_lowercase().contains("rejected"),
        "{output}"
    );
    assert!(
        output.stdout.ends_with("pre-flight check FAILED\n"),
        "{output}"
    );
    assert!(!output.stdout.contains("papi-wrong-secret"));
    sandbox.shutdown().await;
}

#[test]
fn a_bad_config_field_exits_2_and_names_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "http://127.0.0.1:9",
        "papi-id",
        "http://127.0.0.1:9/v2",
    );
    let config_path = config.to_str().expect("UTF-8");

    let unset = run(&["sync", "--config", config_path], &[(TOKEN_VAR, "x")]);
    assert_eq!(unset.code, 2, "{unset}");
    assert!(
        unset.stderr.contains(&format!(
            "personio.client_secret_env: environment variable {SECRET_VAR} is not set"
        )),
        "{unset}"
    );

    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace("selection = {", "apply_concurrency = 0\nselection = {"),
    )
    .expect("write");
    let invalid = run(
        &["check", "--config", config_path],
        &[(SECRET_VAR, "s"), (TOKEN_VAR, "t")],
    );
    assert_eq!(invalid.code, 2, "{invalid}");
    assert!(
        invalid.stderr.contains("settings.apply_concurrency"),
        "{invalid}"
    );

    // Nothing listens on the Personio URL: the run fails as a whole.
    let unreachable = dir.path().join("unreachable.toml");
    let text = std::fs::read_to_string(&config)
        .expect("read")
        .replace("apply_concurrency = 0\n", "");
    std::fs::write(&unreachable, text).expect("write");
    let failed = run(
        &[
            "sync",
            "--config",
            unreachable.to_str().expect("UTF-8"),
            "--timeout",
            "3",
        ],
        &[(SECRET_VAR, "s"), (TOKEN_VAR, "t")],
    );
    assert_eq!(failed.code, 3, "{failed}");
    assert!(failed.stdout.contains("FAILED"), "{failed}");

    let usage = run(&["sync"], &[]);
    assert_eq!(usage.code, 2, "{usage}");
}

#[test]
fn help_documents_the_exit_codes_and_init_config_prints_a_valid_example() {
    let help = run(&["--help"], &[]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout
            .contains("4  another run of the integration holds the lease")
    );
    let example = run(&["init-config"], &[]);
    assert_eq!(example.code, 0);
    assert!(
        example.stdout.contains("[settings.certificates]"),
        "{example}"
    );
    let committed = include_str!("../../examples/personio-lms.toml");
    assert_eq!(
        example.stdout, committed,
        "examples/personio-lms.toml is `personio-lms init-config` output; regenerate it"
    );
}

/// The read commands: `--json` everywhere, run ids by prefix and `latest`, no secrets needed
/// for the history and the ledger, `explain` for a synced and an unsynced employee, and mail
/// sent through a real SMTP server when the config has `[smtp]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_commands_explain_and_smtp_mail() {
    use integration_tests::smtp::{PASSWORD, Security, SmtpServer, USER};
    let Some(smtp) = SmtpServer::start(Security::Starttls, true) else {
        return;
    };
    let Some(world) = World::start(20).await else {
        return;
    };
    let World {
        scim,
        sandbox,
        dir,
        client_secret,
        config,
    } = &world;
    let mut text = std::fs::read_to_string(config).expect("the config");
    text = text.replace(
        "[settings]",
        &format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\nuser = \"{USER}\"\n\
             password_env = \"CLI_TEST_SMTP_PASSWORD\"\nca_file = \"{}\"\n\n[settings]",
            smtp.port(),
            smtp.ca_path().display()
        ),
    );
    std::fs::write(config, text).expect("write the config");
    let config = config.as_str();
    let envs = [
        (SECRET_VAR, client_secret.as_str()),
        (TOKEN_VAR, SCIM_TOKEN),
        ("CLI_TEST_SMTP_PASSWORD", PASSWORD),
    ];

    let first = run(&["sync", "--config", config], &envs);
    assert_eq!(first.code, 0, "{first}");
    assert!(
        first
            .stdout
            .contains(&format!("sent through localhost:{}", smtp.port())),
        "{first}"
    );
    assert!(!first.stdout.contains("outbox"), "{first}");
    let mail = smtp.wait_for(1);
    assert_eq!(mail.len(), 1, "the run summary");
    assert_eq!(mail[0].rcpt_tos, vec!["hr@example.com".to_owned()]);
    assert!(mail[0].encrypted);
    // The created rows name the Personio id.
    let state = dir.path().join("state/acme.sqlite");
    let links = SqliteStore::open(&state)
        .expect("the state file")
        .links(&IntegrationId::new("acme"))
        .await
        .expect("links");
    // One whose supervisor reference is settled: an employee whose supervisor has no LMS
    // account is looked at again by every run (issue 16), which `explain` says (below).
    let settled = links
        .iter()
        .find(|link| !matches!(link.manager, ManagerLink::Pending { .. }))
        .expect("a link with a settled manager reference");
    let linked = settled.personio_id;
    assert!(
        first
            .stdout
            .lines()
            .any(|line| line.trim_start().starts_with(&format!("{linked} "))
                && line.contains("created")),
        "{first}"
    );

    // A quiet second run sends no summary (on_changes is the default).
    let second = run(&["sync", "--config", config], &envs);
    assert_eq!(second.code, 0, "{second}");
    assert_eq!(smtp.received().len(), 1, "{second}");

    // The history and the ledger read the state file only: no secret in the environment.
    let runs = run(&["runs", "--config", config, "--json"], &[]);
    assert_eq!(runs.code, 0, "{runs}");
    let listed: Value = serde_json::from_str(&runs.stdout).expect("one JSON document");
    let ids: Vec<String> = listed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|run| run["run_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 2);
    let latest = run(
        &["runs", "show", "latest", "--config", config, "--json"],
        &[],
    );
    assert_eq!(latest.code, 0, "{latest}");
    let latest: Value = serde_json::from_str(&latest.stdout).expect("JSON");
    assert_eq!(latest["run_id"], ids[0].as_str());
    let by_prefix = run(&["runs", "show", &ids[1][..8], "--config", config], &[]);
    assert_eq!(by_prefix.code, 0, "{by_prefix}");
    assert!(
        by_prefix.stdout.starts_with(&format!("run {}", ids[1])),
        "{by_prefix}"
    );
    let certificates = run(&["certificates", "--config", config, "--json"], &[]);
    assert_eq!(certificates.code, 0, "{certificates}");
    assert_eq!(
        serde_json::from_str::<Value>(&certificates.stdout).expect("JSON"),
        json!([])
    );

    // explain: a linked employee, in words and as JSON.
    let explained = run(&["explain", &linked.to_string(), "--config", config], &envs);
    assert_eq!(explained.code, 0, "{explained}");
    assert!(
        explained.stdout.contains(&format!("Personio id {linked}")),
        "{explained}"
    );
    assert!(
        explained.stdout.contains("next run: nothing"),
        "{explained}"
    );
    assert!(
        explained.stdout.contains("the profile the LMS receives:"),
        "{explained}"
    );
    let as_json = run(
        &[
            "explain",
            &settled.email.to_uppercase(),
            "--config",
            config,
            "--json",
        ],
        &envs,
    );
    assert_eq!(as_json.code, 0, "{as_json}");
    let answer: Value = serde_json::from_str(&as_json.stdout).expect("JSON");
    assert_eq!(answer["personio_id"], json!(linked.0));
    assert_eq!(answer["link"]["lms_user_id"], json!(settled.lms_user_id.0));
    assert_eq!(answer["lms_user"]["id"], json!(settled.lms_user_id.0));
    if let Some(pending) = links
        .iter()
        .find(|link| matches!(link.manager, ManagerLink::Pending { .. }))
    {
        let retried = run(
            &[
                "explain",
                &pending.personio_id.to_string(),
                "--config",
                config,
            ],
            &envs,
        );
        assert_eq!(retried.code, 0, "{retried}");
        assert!(
            retried.stdout.contains("next run: retry manager"),
            "{retried}"
        );
    }
    assert_eq!(answer["recent_runs"][0]["outcome"]["action"], "created");
    // An employee the sync did not link: not selected, or skipped for their data.
    let unlinked = sandbox
        .employees()
        .iter()
        .map(|employee| employee.id())
        .find(|id| links.iter().all(|link| link.personio_id.0 as u64 != *id))
        .expect("an unlinked employee");
    let why = run(
        &[
            "explain",
            &unlinked.to_string(),
            "--config",
            config,
            "--json",
        ],
        &envs,
    );
    assert_eq!(why.code, 0, "{why}");
    let why: Value = serde_json::from_str(&why.stdout).expect("JSON");
    assert!(why["link"].is_null());
    let verdict = why["verdict"].as_str().unwrap_or_default();
    assert!(
        verdict.starts_with("not selected") || why["next_run"]["action"] == "skip",
        "{why:#}"
    );
    let nobody = run(&["explain", "999999", "--config", config], &envs);
    assert_eq!(nobody.code, 2, "{nobody}");
    assert!(
        nobody.stderr.contains("no employee Personio id 999999"),
        "{nobody}"
    );

    // check --json, then a base URL that is not Personio's API (the SCIM server).
    let check = run(&["check", "--config", config, "--json"], &envs);
    let report: Value = serde_json::from_str(&check.stdout).expect("JSON");
    assert_eq!(report["passed"], json!(check.code == 0), "{check}");
    // This host receives no webhooks; the check reads Personio's for the integration's route.
    let webhooks = report["report"]["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|check| check["name"] == "webhooks")
        .cloned()
        .unwrap_or_default();
    assert_eq!(webhooks["status"], "ok", "{check}");
    assert!(
        webhooks["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("none installed")),
        "{check}"
    );
    let wrong = std::fs::read_to_string(config)
        .expect("the config")
        .replace(&sandbox.base_url(), &scim.base_url());
    let wrong_path = dir.path().join("wrong.toml");
    std::fs::write(&wrong_path, wrong).expect("write");
    let not_personio = run(
        &["check", "--config", wrong_path.to_str().expect("UTF-8")],
        &envs,
    );
    assert_eq!(not_personio.code, 5, "{not_personio}");
    assert!(
        not_personio
            .stdout
            .contains("does not point at the Personio API"),
        "{not_personio}"
    );
    assert!(
        !not_personio.stdout.contains("check the client id"),
        "{not_personio}"
    );
    world.shutdown().await;
}

/// A first sync that creates many accounts asks first; without a terminal it does not wait for
/// an answer but stops with exit 2, naming `--yes`, having changed nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_first_sync_asks_and_never_blocks_without_a_terminal() {
    let Some(world) = World::start(200).await else {
        return;
    };
    let dir = &world.dir;
    let config = world.config.as_str();
    let envs = world.envs();
    let refused = run(&["sync", "--config", config], &envs);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(
        refused.stderr.contains("first sync of acme: it creates"),
        "{refused}"
    );
    assert!(refused.stderr.contains("--yes"), "{refused}");
    let state = dir.path().join("state/acme.sqlite");
    let store = SqliteStore::open(&state).expect("the state file");
    let acme = IntegrationId::new("acme");
    assert!(store.links(&acme).await.expect("links").is_empty());

    let confirmed = run(&["sync", "--config", config, "--yes"], &envs);
    assert_eq!(confirmed.code, 0, "{confirmed}");
    let links = store.links(&acme).await.expect("links");
    assert!(links.len() > 50, "{} linked", links.len());
    // Not a first sync any more: no question.
    let again = run(&["sync", "--config", config], &envs);
    assert_eq!(again.code, 0, "{again}");
    world.shutdown().await;
}
