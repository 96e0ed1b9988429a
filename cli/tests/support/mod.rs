//! What the end-to-end tests of the built binary share: running it, a Personio sandbox, the
//! independent SCIM server, a config file pointing at both.

#![allow(dead_code)] // each test binary uses its own part

pub mod serve;

use integration_tests::{ServerGuard, free_port, venv_tool};
use personio_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_personio-lms");
pub const SCIM_TOKEN: &str = "cli-test-scim-token";
pub const SECRET_VAR: &str = "CLI_TEST_PERSONIO_SECRET";
pub const TOKEN_VAR: &str = "CLI_TEST_SCIM_TOKEN";

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let output = Command::new(BINARY)
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {BINARY}: {error}"));
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub async fn sandbox(employees: usize) -> RunningSandbox {
    Sandbox::start(
        SandboxConfig::default()
            .with_employees(employees)
            .with_seed(11)
            .without_rate_limits(),
    )
    .await
    .expect("the sandbox starts")
}

pub fn write_config(dir: &Path, personio_url: &str, client_id: &str, scim_url: &str) -> PathBuf {
    let text = format!(
        r#"
[integration]
id = "acme"
state = "state/acme.sqlite"

[personio]
base_url = "{personio_url}"
client_id = "{client_id}"
client_secret_env = "{SECRET_VAR}"

[lms]
scim_base_url = "{scim_url}"
token_env = "{TOKEN_VAR}"

[settings]
selection = {{ attribute = "LMS Sync" }}
notifications = {{ admin_email = "hr@example.com" }}
certificates = {{ enabled = true }}
"#
    );
    let path = dir.join("acme.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

pub fn start_scim() -> Option<ServerGuard> {
    venv_tool("scim2-server")?;
    let python = venv_tool("python")?;
    let port = free_port();
    let mut command = Command::new(python);
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/scim/launch.py"
        ))
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
        .args(["--bearer-token", SCIM_TOKEN, "--advertise-extension"]);
    Some(ServerGuard::start(
        "scim2-server",
        command,
        port,
        Duration::from_secs(30),
    ))
}
