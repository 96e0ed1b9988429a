//! Harness for tests that need an external server (the independent SCIM server, moto, the
//! OpenAPI validator, an SMTP server): finds the tool in the test virtualenv, starts it on a free loopback port and
//! kills it when the guard drops.

pub mod aws;
pub mod fault_proxy;
pub mod prometheus;
pub mod scim;
pub mod scim_quirks;
pub mod smtp;
pub mod webhooks;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The virtualenv that holds the Python test tools: `$TEST_VENV`, else `<workspace>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("TEST_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|root| root.join(".venv"))
            .unwrap_or_else(|| PathBuf::from(".venv")),
    }
}

/// Whether a missing external tool must fail the test (CI sets `REQUIRE_EXTERNAL_TESTS=1`)
/// rather than skip it.
pub fn external_tests_required() -> bool {
    std::env::var("REQUIRE_EXTERNAL_TESTS").is_ok_and(|value| value == "1")
}

/// The path of an executable in the virtualenv's `bin/`, or `None` with a printed notice when it
/// is missing and external tests are optional. Panics (failing the test) when they are required.
pub fn venv_tool(name: &str) -> Option<PathBuf> {
    let path = venv_dir().join("bin").join(name);
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{name} not found at {}: run `bash .ci/run` (or set TEST_VENV) to install the test tools",
        path.display()
    );
    if external_tests_required() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"))
}

/// A child process that is killed when the guard drops, so a failing test leaves no server behind.
pub struct ServerGuard {
    child: Child,
    pub port: u16,
    name: String,
}

impl ServerGuard {
    /// Starts `command` (which must listen on `port`) and waits until the port accepts
    /// connections, up to `startup`.
    pub fn start(name: &str, mut command: Command, port: u16, startup: Duration) -> Self {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        let mut guard = Self {
            child,
            port,
            name: name.to_owned(),
        };
        guard.wait_until_listening(startup);
        guard
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_listening(&mut self, startup: Duration) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        while started.elapsed() < startup {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited before listening: {status}", self.name);
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not listen on port {} within {startup:?}",
            self.name, self.port
        );
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tracing::debug!(server = %self.name, "stopped test server");
    }
}
