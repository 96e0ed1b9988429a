//! Validates the sandbox's responses against Personio's official OpenAPI files by running
//! `conformance/check_openapi.py` (openapi-core) from the test virtualenv against a live sandbox.
//!
//! The virtualenv is `$TEST_VENV` (default `<workspace>/.venv`); when it is missing the test
//! prints `SKIPPED:`, or fails if `REQUIRE_EXTERNAL_TESTS=1`. The specs are the copies in
//! `conformance/specs/` (their origin is in `SOURCES.md` there); `$PERSONIO_OPENAPI_DIR` points
//! the check at another folder of the same layout, e.g. newer specs.

use std::path::{Path, PathBuf};
use std::process::Command;

use personio_sandbox::{Sandbox, SandboxConfig};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The external tool at `path` if it exists; otherwise `None` after a skip notice, or a failure
/// when required.
fn required(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let message = format!("{what} not found at {}", path.display());
    assert!(
        std::env::var("REQUIRE_EXTERNAL_TESTS").as_deref() != Ok("1"),
        "{message} (REQUIRE_EXTERNAL_TESTS=1)"
    );
    println!("SKIPPED: {message}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_the_official_specs() {
    let venv =
        std::env::var_os("TEST_VENV").map_or_else(|| workspace_root().join(".venv"), PathBuf::from);
    let specs = std::env::var_os("PERSONIO_OPENAPI_DIR")
        .map_or_else(|| conformance_dir().join("specs"), PathBuf::from);
    // The specs are part of the repository: a missing folder is a wrong override, not a skip.
    assert!(
        specs.is_dir(),
        "Personio OpenAPI specs not found at {}",
        specs.display()
    );
    let Some(python) = required(venv.join("bin").join("python"), "test virtualenv python") else {
        return;
    };
    // Personio's real limits: the script checks the 429 too. Webhooks go to a receiver the
    // script runs on 127.0.0.1 over plain HTTP.
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_employees(250)
            .with_seed(5)
            .with_http_webhooks(),
    )
    .await
    .expect("sandbox starts");
    let (client_id, client_secret) = sandbox.default_credential();
    let script = conformance_dir().join("check_openapi.py");
    let arguments = [
        script.display().to_string(),
        sandbox.base_url(),
        client_id,
        client_secret,
        specs.display().to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || Command::new(python).args(arguments).output())
        .await
        .expect("script task")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    sandbox.shutdown().await;
    assert!(
        output.status.success(),
        "conformance check failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("checks passed"),
        "unexpected script output:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}
