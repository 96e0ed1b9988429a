//! `personio-lms serve`, the built binary, over HTTP: who may call what (admin token, sessions,
//! CSRF), that no secret reaches the state file, the logs or an answer, the shutdown on SIGTERM,
//! one host per data directory, and the console in headless Chromium against the Personio sandbox
//! and the independent SCIM server. Only 127.0.0.1 is contacted.

use common::admin::routes::routes;
use integration_tests::scim::{FULL, ScimServer, TOKEN as SCIM_TOKEN};
use integration_tests::{external_tests_required, venv_tool};
use personio_sandbox::{LMS_SYNC_LABEL, RunningSandbox, Sandbox, SandboxConfig};
use reqwest::header::{COOKIE, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::BINARY;
use support::serve::{Serve, client, send, wait_for};

/// Every route of the API with its parameters filled in.
fn every_route() -> Vec<(Method, String)> {
    routes()
        .iter()
        .map(|route| {
            let method = Method::from_bytes(route.method.as_str().as_bytes()).expect("a method");
            let path = route
                .template
                .replace("{id}", "some-integration")
                .replace("{run_id}", "some-run")
                .replace("{certificate_id}", "some-certificate");
            (method, path)
        })
        .collect()
}

#[tokio::test]
async fn every_api_route_needs_the_admin_token_and_cookie_changes_need_csrf() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let http = client();
    let token = serve.token().to_owned();
    for (method, path) in every_route() {
        let url = serve.url(&path);
        let anonymous = send(http.request(method.clone(), &url).body("{}")).await;
        if path == "/openapi.json" {
            assert_eq!(anonymous.status, StatusCode::OK, "the contract is public");
        } else {
            assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                anonymous.text
            );
            assert_eq!(
                anonymous.json()["type"],
                "urn:personio-lms:problem:unauthenticated"
            );
        }
        for (name, forged) in [
            ("authorization", "Bearer plms_forged".to_owned()),
            ("authorization", token.clone()),
            ("cookie", "plms_session=forged-session".to_owned()),
        ] {
            let refused = send(
                http.request(method.clone(), &url)
                    .header(name, forged)
                    .body("{}"),
            )
            .await;
            assert_eq!(
                refused.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with a forged {name}"
            );
        }
        let allowed = send(
            http.request(method.clone(), &url)
                .bearer_auth(&token)
                .body("{}"),
        )
        .await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&allowed.status),
            "{method} {path} with the admin token: {} {}",
            allowed.status,
            allowed.text
        );
    }
    // The console's files are public (they hold nothing); the rest of the host's answers too.
    let console = send(http.get(serve.url("/console/"))).await;
    assert_eq!(console.status, StatusCode::OK);
    assert!(console.text.contains("<html"));

    // The console's sign-in: a wrong token names the field; the right one opens a session.
    let wrong = send(
        http.post(serve.url("/session"))
            .json(&json!({"token": "plms_wrong"})),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["field"], "token");
    let signed_in = send(
        http.post(serve.url("/session"))
            .json(&json!({"token": token})),
    )
    .await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{}", signed_in.text);
    let cookie = signed_in.cookie.clone().expect("a session cookie");
    let csrf = signed_in.json()["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_owned();
    assert!(!signed_in.text.contains(&token));
    let listed = send(http.get(serve.url("/integrations")).header(COOKIE, &cookie)).await;
    assert_eq!(listed.status, StatusCode::OK);

    let own_origin = serve.base.clone();
    let create = |headers: Vec<(&'static str, String)>| {
        let mut request = http
            .post(serve.url("/integrations"))
            .header(COOKIE, &cookie)
            .json(&json!({}));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        send(request)
    };
    let no_csrf = create(vec![]).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "{}", no_csrf.text);
    let wrong_csrf = create(vec![("x-csrf-token", "guessed".into())]).await;
    assert_eq!(wrong_csrf.status, StatusCode::FORBIDDEN);
    let cross_site = create(vec![
        ("x-csrf-token", csrf.clone()),
        (ORIGIN.as_str(), "https://evil.example".into()),
    ])
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let same_site = create(vec![
        ("x-csrf-token", csrf.clone()),
        (ORIGIN.as_str(), own_origin),
    ])
    .await;
    assert_eq!(
        same_site.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "past the checks, the API judges the body: {}",
        same_site.text
    );

    // Another Host (DNS rebinding) is refused before anything else.
    let rebound = send(
        http.get(serve.url("/integrations"))
            .bearer_auth(&token)
            .header("host", "evil.example"),
    )
    .await;
    assert_eq!(rebound.status, StatusCode::MISDIRECTED_REQUEST);

    // Signing out needs the CSRF token too, and ends the session.
    let logout = send(http.delete(serve.url("/session")).header(COOKIE, &cookie)).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    let logout = send(
        http.delete(serve.url("/session"))
            .header(COOKIE, &cookie)
            .header("x-csrf-token", &csrf),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = send(http.get(serve.url("/integrations")).header(COOKIE, &cookie)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

async fn sandbox() -> RunningSandbox {
    Sandbox::start(
        SandboxConfig::default()
            .with_employees(25)
            .with_seed(13)
            .without_rate_limits()
            // The console installs a webhook that delivers to serve on 127.0.0.1.
            .with_http_webhooks(),
    )
    .await
    .expect("the sandbox starts")
}

/// Every byte of the state file and its write-ahead log.
fn state_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["state.sqlite", "state.sqlite-wal"] {
        bytes.extend(std::fs::read(dir.join("data").join(name)).unwrap_or_default());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_state_file_the_logs_or_any_answer() {
    let Some(scim) = ScimServer::start(FULL) else {
        return;
    };
    let sandbox = sandbox().await;
    let (client_id, client_secret) = sandbox.add_credential(None);
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &["-vv"]);
    let http = client();
    let token = serve.token().to_owned();
    let mut answers = Vec::new();
    let created = send(http.post(serve.url("/integrations")).bearer_auth(&token).json(&json!({
        "name": "ACME",
        "personio": {"base_url": sandbox.base_url(), "client_id": client_id, "client_secret": client_secret},
        "lms": {"scim_base_url": scim.base_url(), "token": SCIM_TOKEN},
        "settings": {"selection": {"attribute": LMS_SYNC_LABEL}},
        "schedule": "manual"
    })))
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json()["id"].as_str().expect("an id").to_owned();
    answers.push(created.text);
    for (method, path) in [
        (Method::GET, format!("/integrations/{id}")),
        (Method::GET, "/integrations".to_owned()),
        (Method::POST, format!("/integrations/{id}/check")),
        (Method::POST, format!("/integrations/{id}/plan")),
        (Method::POST, format!("/integrations/{id}/sync")),
    ] {
        let answer = send(
            http.request(method.clone(), serve.url(&path))
                .bearer_auth(&token),
        )
        .await;
        assert!(
            answer.status.is_success(),
            "{method} {path}: {} {}",
            answer.status,
            answer.text
        );
        answers.push(answer.text);
    }
    // The worker runs the sync; its record is an answer too.
    let started = Instant::now();
    let runs = loop {
        let runs = send(
            http.get(serve.url(&format!("/integrations/{id}/runs")))
                .bearer_auth(&token),
        )
        .await
        .json();
        let real = runs["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|run| run["dry_run"] == false && run["status"] != "running");
        if real {
            break runs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sync did not run: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for run in runs["runs"].as_array().into_iter().flatten() {
        let run_id = run["run_id"].as_str().unwrap_or_default();
        answers.push(
            send(
                http.get(serve.url(&format!("/integrations/{id}/runs/{run_id}")))
                    .bearer_auth(&token),
            )
            .await
            .text,
        );
    }
    // Rotating a secret: the answer shows the record, not the secret.
    let rotated = send(
        http.put(serve.url(&format!("/integrations/{id}")))
            .bearer_auth(&token)
            .header("if-match", "\"1\"")
            .json(&json!({
                "lms": {"scim_base_url": scim.base_url(), "token": SCIM_TOKEN}
            })),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    answers.push(rotated.text);
    assert_eq!(serve.terminate(30), 0);

    // Everything the host wrote, but the one line that prints the admin token on first start.
    let logs: String = serve
        .output()
        .lines()
        .filter(|line| !line.starts_with("admin token: "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(logs.contains("DEBUG"), "the logs were taken at debug level");
    let state = state_bytes(dir.path());
    assert!(!state.is_empty());
    for (name, secret) in [
        ("the Personio client secret", client_secret.as_str()),
        ("the SCIM token", SCIM_TOKEN),
        ("the admin token", token.as_str()),
    ] {
        let leaked: Vec<&str> = logs.lines().filter(|line| line.contains(secret)).collect();
        assert!(leaked.is_empty(), "{name} is in the logs: {leaked:?}");
        assert!(!contains(&state, secret), "a secret is in the state file");
        for answer in &answers {
            assert!(
                !answer.contains(secret),
                "a secret is in an answer: {answer}"
            );
        }
    }
    // Not even the credential key.
    let key =
        std::fs::read_to_string(dir.path().join("data/credential.key")).expect("the key file");
    assert!(!contains(&state, key.trim()) && !logs.contains(key.trim()));
}

#[test]
fn sigterm_stops_the_host_and_one_host_holds_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Serve::start(dir.path(), &[]);
    // A second host on the same data directory refuses to start while the first runs.
    let second = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("PERSONIO_LMS_CREDENTIAL_KEY")
        .output()
        .expect("runs");
    assert_eq!(
        second.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("is using"));

    assert_eq!(first.terminate(20), 0, "{}", first.output());
    let output = first.output();
    assert!(
        output.contains("SIGTERM: stopping") && output.contains("stopped"),
        "{output}"
    );
    // The hold was released: the next start does not wait for it, and keeps the admin token.
    let started = Instant::now();
    let mut again = Serve::start(dir.path(), &[]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(again.token.is_none(), "the token is printed only once");
    assert!(!again.output().contains("waiting for its hold"));
    assert_eq!(again.terminate(20), 0);
}

/// `GET /metrics` after a sync run and a certificate batch in serve, scraped over HTTP like
/// Prometheus does (the admin token as bearer) and read by the Prometheus project's own parser:
/// the run's figures are its record's, the certificate batch's are the ledger's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_after_a_run_show_its_figures() {
    let Some(scim) = ScimServer::start(FULL) else {
        return;
    };
    let sandbox = sandbox().await;
    let (client_id, client_secret) = sandbox.add_credential(None);
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let http = client();
    let token = serve.token().to_owned();

    // Only the API's callers may read it: no credential, a forged one → 401.
    for request in [
        http.get(serve.url("/metrics")),
        http.get(serve.url("/metrics")).bearer_auth("plms_forged"),
        http.get(serve.url("/metrics"))
            .header(COOKIE, "plms_session=forged-session"),
    ] {
        let refused = send(request).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
        assert!(!refused.text.contains("personio_lms_"));
    }
    let refused = send(http.post(serve.url("/metrics")).bearer_auth(&token)).await;
    assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);

    let created = send(http.post(serve.url("/integrations")).bearer_auth(&token).json(&json!({
        "name": "ACME",
        "personio": {"base_url": sandbox.base_url(), "client_id": client_id, "client_secret": client_secret},
        "lms": {"scim_base_url": scim.base_url(), "token": SCIM_TOKEN},
        "settings": {
            "selection": {"attribute": LMS_SYNC_LABEL},
            "certificates": {"enabled": true}
        },
        "schedule": "manual"
    })))
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json()["id"].as_str().expect("an id").to_owned();
    let synced = send(
        http.post(serve.url(&format!("/integrations/{id}/sync")))
            .bearer_auth(&token),
    )
    .await;
    assert!(synced.status.is_success(), "{}", synced.text);
    let runs = wait_for(
        &http,
        &serve,
        &format!("/integrations/{id}/runs"),
        90,
        |runs| {
            runs["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|run| run["dry_run"] == false && run["status"] != "running")
        },
    )
    .await;
    let run_id = runs["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|run| run["dry_run"] == false)
        .and_then(|run| run["run_id"].as_str())
        .expect("the run")
        .to_owned();
    let run = send(
        http.get(serve.url(&format!("/integrations/{id}/runs/{run_id}")))
            .bearer_auth(&token),
    )
    .await
    .json();
    let status = run["status"].as_str().expect("a status").to_owned();
    assert!(
        ["succeeded", "completed_with_failures"].contains(&status.as_str()),
        "{run}"
    );
    let count = |name: &str| run["counts"][name].as_f64().unwrap_or(0.0);
    assert!(
        count("created") > 0.0,
        "the first run creates accounts: {run}"
    );

    // A certificate for an LMS user nobody is linked to: the worker's batch parks it.
    let submitted = send(
        http.post(serve.url(&format!("/integrations/{id}/certificates")))
            .bearer_auth(&token)
            .json(&json!({
                "certificate_id": "metrics-cert-1",
                "lms_user_id": "no-such-lms-user",
                "course_name": "Fire safety",
                "completed_on": "2026-11-23",
                "pdf_base64": "JVBERi0xLjQKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyA+PiBlbmRvYmoKdHJhaWxlciA8PCAvUm9vdCAxIDAgUiA+PgolJUVPRgo="
            })),
    )
    .await;
    assert!(submitted.status.is_success(), "{}", submitted.text);

    // The batch is counted right after its ledger entries are written: scrape until it shows.
    let started = Instant::now();
    let (page, samples) = loop {
        let response = http
            .get(serve.url("/metrics"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok()),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let page = response.text().await.expect("a page");
        let Some(samples) = integration_tests::prometheus::parse_page(&page) else {
            return;
        };
        let parked = integration_tests::prometheus::value(
            &samples,
            "personio_lms_certificates_total",
            &[("integration", &id), ("outcome", "parked")],
        );
        if parked == Some(1.0) {
            break (page, samples);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the certificate batch never showed:\n{page}\n{}",
            serve.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let value = |name: &str, labels: &[(&str, &str)]| {
        integration_tests::prometheus::value(&samples, name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} not on the page:\n{page}"))
    };
    let one = [("integration", id.as_str())];
    assert_eq!(
        value(
            "personio_lms_runs_total",
            &[("integration", &id), ("kind", "full"), ("status", &status)]
        ),
        1.0
    );
    for (action, expected) in [
        ("created", count("created") + count("adopted")),
        ("updated", count("updated")),
        ("deactivated", count("deactivated")),
        ("skipped", count("skipped")),
        ("failed", count("failed")),
        ("held_back", count("held_back")),
    ] {
        assert_eq!(
            value(
                "personio_lms_employees_total",
                &[("integration", &id), ("action", action)]
            ),
            expected,
            "{action}"
        );
    }
    let stats = &run["stats"];
    let personio_requests = stats["personio"]["requests"].as_f64().expect("counted");
    assert!(personio_requests > 0.0, "{stats}");
    assert_eq!(
        value(
            "personio_lms_requests_total",
            &[
                ("integration", &id),
                ("system", "personio"),
                ("kind", "all")
            ]
        ),
        personio_requests
    );
    let by_kind = stats["lms"]["by_kind"].as_object().expect("SCIM kinds");
    assert!(!by_kind.is_empty(), "{stats}");
    for (kind, requests) in by_kind {
        assert_eq!(
            value(
                "personio_lms_requests_total",
                &[("integration", &id), ("system", "lms"), ("kind", kind)]
            ),
            requests.as_f64().unwrap_or_default(),
            "LMS {kind}"
        );
    }
    assert_eq!(
        value(
            "personio_lms_throttled_total",
            &[("integration", &id), ("system", "lms")]
        ),
        stats["lms"]["throttled"].as_f64().unwrap_or_default()
    );
    assert_eq!(value("personio_lms_run_duration_seconds_count", &one), 1.0);
    let started_at =
        chrono::DateTime::parse_from_rfc3339(run["started_at"].as_str().unwrap()).expect("a time");
    let finished_at =
        chrono::DateTime::parse_from_rfc3339(run["finished_at"].as_str().unwrap()).expect("a time");
    let seconds = (finished_at - started_at).num_milliseconds() as f64 / 1000.0;
    assert!(
        (value("personio_lms_run_duration_seconds_sum", &one) - seconds).abs() < 0.002,
        "{seconds} s"
    );
    // The health after the run: none failed, the last success is this run's end (within the
    // second the health was read in).
    assert_eq!(value("personio_lms_consecutive_failed_runs", &one), 0.0);
    let last_success = value("personio_lms_last_success_timestamp_seconds", &one);
    assert!(
        (last_success - finished_at.timestamp() as f64).abs() <= 2.0,
        "{last_success} vs {finished_at}"
    );
    // The certificate batch: parked, and the integration's parked certificates after it.
    assert_eq!(value("personio_lms_parked_certificates", &one), 1.0);
    assert!(value("personio_lms_oldest_parked_certificate_age_seconds", &one) < 120.0);
    assert_eq!(
        value(
            "personio_lms_certificates_total",
            &[("integration", &id), ("outcome", "uploaded")]
        ),
        0.0
    );
    assert_eq!(
        integration_tests::prometheus::family_type(&samples, "personio_lms_runs").as_deref(),
        Some("counter")
    );
    // A console session may read it as well (a GET needs no CSRF token).
    let signed_in = send(
        http.post(serve.url("/session"))
            .json(&json!({"token": token})),
    )
    .await;
    let cookie = signed_in.cookie.expect("a session");
    let by_session = send(http.get(serve.url("/metrics")).header(COOKIE, cookie)).await;
    assert_eq!(by_session.status, StatusCode::OK);
    assert!(by_session.text.contains("personio_lms_runs_total{"));
}

fn chromium() -> Option<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from("/usr/bin/chromium");
    let driver = PathBuf::from("/usr/bin/chromedriver");
    if chromium.exists() && driver.exists() {
        return Some((chromium, driver));
    }
    let message = "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver; .ci/run does)";
    if external_tests_required() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// The console as an admin uses it, in headless Chromium (`tests/console/drive_console.py`).
/// Screenshots go to `$CONSOLE_SCREENSHOT_DIR` (the ones in docs/console/ were taken so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let Some((chromium, driver)) = chromium() else {
        return;
    };
    let Some(python) = venv_tool("python") else {
        return;
    };
    let Some(scim) = ScimServer::start(FULL) else {
        return;
    };
    let sandbox = sandbox().await;
    let (client_id, client_secret) = sandbox.default_credential();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let screenshots = std::env::var_os("CONSOLE_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("screenshots"));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/console/drive_console.py"
    );
    let output = tokio::task::spawn_blocking({
        let (base, token, personio, scim_url) = (
            serve.base.clone(),
            serve.token().to_owned(),
            sandbox.base_url(),
            scim.base_url(),
        );
        let screenshots = screenshots.clone();
        move || {
            Command::new(python)
                .arg(script)
                .args([
                    "--console",
                    &format!("{base}/console/"),
                    "--api",
                    &base,
                    "--token",
                    &token,
                ])
                .args([
                    "--personio-url",
                    &personio,
                    "--personio-client-id",
                    &client_id,
                    "--personio-client-secret",
                    &client_secret,
                ])
                .args([
                    "--scim-url",
                    &scim_url,
                    "--scim-token",
                    SCIM_TOKEN,
                    "--selection-attribute",
                    LMS_SYNC_LABEL,
                ])
                .arg("--screenshots")
                .arg(&screenshots)
                .arg("--chromium")
                .arg(chromium)
                .arg("--chromedriver")
                .arg(driver)
                .output()
                .expect("python runs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the console test failed (screenshots in {}):\n{stdout}\n{stderr}\n--- serve\n{}",
        screenshots.display(),
        serve.output()
    );
    assert!(stdout.contains("every step passed"), "{stdout}");
    // The certificate pushed through the API arrived in Personio, once.
    let documents = sandbox.documents();
    assert_eq!(
        documents
            .iter()
            .filter(|document| document.title.contains("Fire safety"))
            .count(),
        1,
        "{documents:?}"
    );
}

/// The console's OpenID Connect sign-in (the AWS host's) in headless Chromium, against a
/// stand-in identity provider and API (`tests/console/oidc_sign_in.py`): code with PKCE (S256),
/// state and nonce checked, the ID token sent as the bearer token.
#[test]
fn the_console_signs_in_with_openid_connect() {
    let Some((chromium, driver)) = chromium() else {
        return;
    };
    let Some(python) = venv_tool("python") else {
        return;
    };
    let output = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/console/oidc_sign_in.py"
        ))
        .arg("--chromium")
        .arg(chromium)
        .arg("--chromedriver")
        .arg(driver)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("signed in with code + PKCE"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
