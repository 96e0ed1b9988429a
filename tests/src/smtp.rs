//! A real SMTP server (`aiosmtpd` from PyPI, through `tests/smtp/launch.py`) in the shape a test
//! asks for: plain, STARTTLS or TLS, with or without a login. Received messages are read back
//! from its maildir.

use crate::{ServerGuard, free_port, venv_tool};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The one login the server accepts when started with a user.
pub const USER: &str = "lms-sync@example.com";
pub const PASSWORD: &str = "smtp-test-password";

/// How the server protects its connections (the notifier's `SmtpSecurity`, as the script names it).
#[derive(Clone, Copy, Debug)]
pub enum Security {
    None,
    Starttls,
    Tls,
}

impl Security {
    fn flag(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Starttls => "starttls",
            Self::Tls => "tls",
        }
    }
}

pub struct SmtpServer {
    guard: ServerGuard,
    dir: tempfile::TempDir,
}

/// One received message: its bytes and its envelope.
#[derive(Debug)]
pub struct Received {
    pub message: String,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub login: Option<String>,
    pub encrypted: bool,
}

impl SmtpServer {
    /// `None` (the test skips) when the test virtualenv lacks aiosmtpd.
    pub fn start(security: Security, login: bool) -> Option<Self> {
        venv_tool("aiosmtpd")?;
        let python = venv_tool("python")?;
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/launch.py"))
            .args(["--port", &port.to_string(), "--security", security.flag()])
            .arg("--maildir")
            .arg(dir.path().join("mail"))
            .arg("--ca-out")
            .arg(dir.path().join("ca.pem"));
        if login {
            command.args(["--user", USER, "--password", PASSWORD]);
        }
        let guard = ServerGuard::start("aiosmtpd", command, port, Duration::from_secs(30));
        Some(Self { guard, dir })
    }

    pub fn port(&self) -> u16 {
        self.guard.port
    }

    /// The PEM of the CA that signed the server's certificate (TLS modes).
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca_path()).expect("the server wrote its CA")
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mail = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&mail)
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .map(|path| {
                let message = std::fs::read_to_string(&path).expect("a message");
                let meta: Value = serde_json::from_str(
                    &std::fs::read_to_string(path.with_extension("json")).expect("its envelope"),
                )
                .expect("JSON");
                Received {
                    message,
                    mail_from: meta["mail_from"].as_str().unwrap_or_default().to_owned(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .map(|list| {
                            list.iter()
                                .filter_map(|to| to.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    login: meta["login"].as_str().map(str::to_owned),
                    encrypted: meta["encrypted"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// Waits (bounded) until `count` messages have arrived.
    pub fn wait_for(&self, count: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count || started.elapsed() > Duration::from_secs(10) {
                return received;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
