//! `personio-lms serve` as a child process for the end-to-end tests: started on a free port
//! with its own data directory, its first admin token read from its output, killed when dropped;
//! and an HTTP client for its API.

use super::BINARY;
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `personio-lms serve`; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub base: String,
    pub token: Option<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    log: PathBuf,
}

impl Serve {
    pub fn start(dir: &Path, extra: &[&str]) -> Serve {
        let log = dir.join(format!("serve-{}.log", std::process::id() ^ rand_suffix()));
        let mut child = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("PERSONIO_LMS_CREDENTIAL_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {BINARY}: {error}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let started = Instant::now();
        loop {
            let seen = lines.lock().unwrap().clone();
            let base = seen
                .iter()
                .find_map(|line| line.strip_prefix("listening on "))
                .map(str::to_owned);
            let token_line = seen
                .iter()
                .find(|line| line.trim_start().starts_with("admin token"));
            if let (Some(base), Some(token_line)) = (base, token_line) {
                let token = token_line.strip_prefix("admin token: ").map(str::to_owned);
                return Serve {
                    child,
                    base,
                    token,
                    stdout: lines,
                    log,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "serve exited with {status}: {seen:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "serve did not start: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(&self) -> &str {
        self.token.as_deref().expect("printed on the first start")
    }

    /// SIGTERM, then the exit code (within `seconds`).
    pub fn terminate(&mut self, seconds: u64) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                started.elapsed() < Duration::from_secs(seconds),
                "serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn output(&self) -> String {
        format!(
            "{}\n{}",
            self.stdout.lock().unwrap().join("\n"),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|time| time.subsec_nanos())
        .unwrap_or(0)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

pub struct Answer {
    pub status: StatusCode,
    pub cookie: Option<String>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().to_owned());
    let text = response.text().await.expect("a body");
    Answer {
        status,
        cookie,
        text,
    }
}

/// Polls `GET path` with the admin token until `done` accepts the JSON answer.
pub async fn wait_for(
    http: &reqwest::Client,
    serve: &Serve,
    path: &str,
    seconds: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let answer = send(http.get(serve.url(path)).bearer_auth(serve.token())).await;
        let value = answer.json();
        if answer.status == StatusCode::OK && done(&value) {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "GET {path} did not get there: {} {}\n{}",
            answer.status,
            answer.text,
            serve.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
