//! The Personio sandbox in a child process, so that the heap peak and the CPU of the benchmark
//! process are the client's alone.
//!
//! A benchmark binary runs itself again with [`CHILD_FLAG`]: the child serves the sandbox through
//! its library ([`serve_child`]), prints the base URL and the default credential, then answers
//! one line per command line on stdin (`stats` and whatever the benchmark adds) until stdin
//! closes. The parent drives it through [`SandboxProcess`].

use personio_sandbox::{Endpoint, RunningSandbox, Sandbox, SandboxConfig, Stats};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The argument that puts a benchmark binary into child (sandbox) mode.
pub const CHILD_FLAG: &str = "--sandbox-child";

/// The command every child answers with [`ServerCounts::to_line`].
pub const STATS_COMMAND: &str = "stats";

/// The value after `flag` in `args`, `default` without the flag.
pub fn flag_value<T: std::str::FromStr>(
    args: &[String],
    flag: &str,
    default: T,
) -> Result<T, String> {
    match args.iter().position(|arg| arg == flag) {
        None => Ok(default),
        Some(index) => args
            .get(index + 1)
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

/// What the sandbox counted, server side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerCounts {
    pub employee_requests: u64,
    pub employee_429s: u64,
    pub auth_requests: u64,
    pub category_requests: u64,
    pub upload_requests: u64,
    pub document_list_requests: u64,
    /// 429s on the document endpoints (categories, uploads, v2 list share one budget).
    pub document_429s: u64,
}

impl ServerCounts {
    pub fn of(stats: &Stats) -> Self {
        let document_endpoints = [
            Endpoint::DocumentCategories,
            Endpoint::DocumentUpload,
            Endpoint::DocumentListV2,
        ];
        Self {
            employee_requests: stats.requests_to(Endpoint::Employees),
            employee_429s: stats.throttled_on(Endpoint::Employees),
            auth_requests: stats.requests_to(Endpoint::AuthV1)
                + stats.requests_to(Endpoint::AuthV2),
            category_requests: stats.requests_to(Endpoint::DocumentCategories),
            upload_requests: stats.requests_to(Endpoint::DocumentUpload),
            document_list_requests: stats.requests_to(Endpoint::DocumentListV2),
            document_429s: document_endpoints
                .into_iter()
                .map(|endpoint| stats.throttled_on(endpoint))
                .sum(),
        }
    }

    fn fields(&self) -> [u64; 7] {
        [
            self.employee_requests,
            self.employee_429s,
            self.auth_requests,
            self.category_requests,
            self.upload_requests,
            self.document_list_requests,
            self.document_429s,
        ]
    }

    pub fn to_line(&self) -> String {
        self.fields().map(|count| count.to_string()).join(" ")
    }

    pub fn parse(line: &str) -> Result<Self, String> {
        let numbers: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| format!("unexpected stats line `{line}`"))?;
        match numbers[..] {
            [
                employee_requests,
                employee_429s,
                auth_requests,
                category_requests,
                upload_requests,
                document_list_requests,
                document_429s,
            ] => Ok(Self {
                employee_requests,
                employee_429s,
                auth_requests,
                category_requests,
                upload_requests,
                document_list_requests,
                document_429s,
            }),
            _ => Err(format!("unexpected stats line `{line}`")),
        }
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &Self) -> Self {
        let [a, b, c, d, e, f, g] = self.fields();
        let [a0, b0, c0, d0, e0, f0, g0] = earlier.fields();
        Self {
            employee_requests: a.saturating_sub(a0),
            employee_429s: b.saturating_sub(b0),
            auth_requests: c.saturating_sub(c0),
            category_requests: d.saturating_sub(d0),
            upload_requests: e.saturating_sub(e0),
            document_list_requests: f.saturating_sub(f0),
            document_429s: g.saturating_sub(g0),
        }
    }
}

/// Child mode: serves a sandbox with `config`, prints `base_url`, `client_id` and
/// `client_secret` (one per line), then answers every command line on stdin with one line:
/// `stats` with [`ServerCounts`], anything else with what `answer` returns (an error becomes a
/// line starting with `error:`). Ends when stdin closes.
pub async fn serve_child(
    config: SandboxConfig,
    mut answer: impl FnMut(&RunningSandbox, &str) -> Result<String, String>,
) -> Result<(), String> {
    let sandbox = Sandbox::start(config)
        .await
        .map_err(|error| error.to_string())?;
    let (client_id, client_secret) = sandbox.default_credential();
    print_line(&format!(
        "{}\n{client_id}\n{client_secret}",
        sandbox.base_url()
    ))?;
    let (lines_in, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    // Stdin is read on a thread of its own: the runtime keeps serving meanwhile.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines_in.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let command = line.trim();
        let reply = if command == STATS_COMMAND {
            Ok(ServerCounts::of(&sandbox.stats()).to_line())
        } else {
            answer(&sandbox, command)
        };
        print_line(&reply.unwrap_or_else(|error| format!("error: {error}")))?;
    }
    sandbox.shutdown().await;
    Ok(())
}

fn print_line(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|error| error.to_string())
}

/// How to reach the child's sandbox.
pub struct SandboxAccess {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The sandbox child, killed when dropped.
pub struct SandboxProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl SandboxProcess {
    /// Runs this executable with [`CHILD_FLAG`] and `args`, and reads the handshake.
    pub fn start(args: &[String]) -> Result<(Self, SandboxAccess), String> {
        let executable = std::env::current_exe().map_err(|error| error.to_string())?;
        let mut child = Command::new(executable)
            .arg(CHILD_FLAG)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot start the sandbox: {error}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the sandbox's pipes are missing".to_owned());
        };
        let mut process = Self {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
        };
        let access = SandboxAccess {
            base_url: process.read_line()?,
            client_id: process.read_line()?,
            client_secret: process.read_line()?,
        };
        Ok((process, access))
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the sandbox exited early".to_owned()),
            Ok(_) => Ok(line.trim().to_owned()),
            Err(error) => Err(format!("cannot read from the sandbox: {error}")),
        }
    }

    /// Sends one command line and returns the child's one-line answer.
    pub fn ask(&mut self, command: &str) -> Result<String, String> {
        let stdin = self.stdin.as_mut().ok_or("the sandbox's stdin is closed")?;
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|error| error.to_string())?;
        let answer = self.read_line()?;
        match answer.strip_prefix("error: ") {
            Some(error) => Err(format!("sandbox: `{command}` failed: {error}")),
            None => Ok(answer),
        }
    }

    /// The server-side counters so far.
    pub fn counts(&mut self) -> Result<ServerCounts, String> {
        ServerCounts::parse(&self.ask(STATS_COMMAND)?)
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
