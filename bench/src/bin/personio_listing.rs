//! Lists every employee of a 10,000-employee Personio sandbox with the documented rate limits on,
//! and compares the wall time with the floor the limits set.
//!
//! `cargo run --release -p benchmarks --bin personio-listing [-- --employees N]`
//!
//! The sandbox runs in a child process (this same binary in `--sandbox-child` mode, serving
//! through the sandbox's library), so that the heap peak and the CPU of this process are the
//! client's alone. The child reports the server-side counters (requests, 429s) on request.

use benchmarks::{CountingAllocator, mebibytes, peak_bytes, reset_peak};
use common::personio::{PersonioClient, PersonioConfig, RateLimits, minimum_duration};
use common::ports::{EmployeeQuery, HrSource};
use common::retry::Deadline;
use common::secret::Secret;
use futures::StreamExt;
use personio_sandbox::{Endpoint, Sandbox, SandboxConfig};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CHILD_FLAG: &str = "--sandbox-child";
const DEFAULT_EMPLOYEES: usize = 10_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let employees = match employees_argument(&args) {
        Ok(employees) => employees,
        Err(message) => {
            eprintln!("personio-listing: {message}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("personio-listing: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = if args.iter().any(|arg| arg == CHILD_FLAG) {
        runtime.block_on(serve_sandbox(employees))
    } else {
        runtime.block_on(benchmark(employees))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("personio-listing: {message}");
            ExitCode::FAILURE
        }
    }
}

fn employees_argument(args: &[String]) -> Result<usize, String> {
    match args.iter().position(|arg| arg == "--employees") {
        None => Ok(DEFAULT_EMPLOYEES),
        Some(index) => args
            .get(index + 1)
            .and_then(|count| count.parse().ok())
            .ok_or_else(|| "--employees needs a number".to_owned()),
    }
}

/// Child mode: serve the sandbox (documented limits on), print the URL and credential, answer
/// each `stats` line on stdin with the counters, stop at end of input.
async fn serve_sandbox(employees: usize) -> Result<(), String> {
    let sandbox = Sandbox::start(SandboxConfig::default().with_employees(employees))
        .await
        .map_err(|error| error.to_string())?;
    let (client_id, client_secret) = sandbox.default_credential();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{}\n{client_id}\n{client_secret}",
        sandbox.base_url()
    )
    .and_then(|()| stdout.flush())
    .map_err(|error| error.to_string())?;
    drop(stdout);
    // Blocks until the parent asks for the counters or closes the pipe.
    let stats_wanted = tokio::task::spawn_blocking(|| {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .any(|line| line.trim() == "stats")
    });
    if stats_wanted.await.map_err(|error| error.to_string())? {
        let stats = sandbox.stats();
        println!(
            "{} {} {}",
            stats.requests_to(Endpoint::Employees),
            stats.throttled_on(Endpoint::Employees),
            stats.requests_to(Endpoint::AuthV1)
        );
    }
    sandbox.shutdown().await;
    Ok(())
}

/// The sandbox child, killed when dropped.
struct SandboxProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl SandboxProcess {
    fn start(employees: usize) -> Result<(Self, String, String, String), String> {
        let executable = std::env::current_exe().map_err(|error| error.to_string())?;
        let mut child = Command::new(executable)
            .args([CHILD_FLAG, "--employees", &employees.to_string()])
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
        let base_url = process.read_line()?;
        let client_id = process.read_line()?;
        let client_secret = process.read_line()?;
        Ok((process, base_url, client_id, client_secret))
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the sandbox exited early".to_owned()),
            Ok(_) => Ok(line.trim().to_owned()),
            Err(error) => Err(format!("cannot read from the sandbox: {error}")),
        }
    }

    /// `(employee requests, employee 429s, auth requests)` as the server counted them.
    fn stats(&mut self) -> Result<(u64, u64, u64), String> {
        let stdin = self.stdin.as_mut().ok_or("the sandbox's stdin is closed")?;
        writeln!(stdin, "stats")
            .and_then(|()| stdin.flush())
            .map_err(|error| error.to_string())?;
        let line = self.read_line()?;
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|number| number.parse().ok())
            .collect();
        match numbers[..] {
            [requests, throttled, auth] => Ok((requests, throttled, auth)),
            _ => Err(format!("unexpected stats line `{line}`")),
        }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn benchmark(employees: usize) -> Result<(), String> {
    let (mut sandbox, base_url, client_id, client_secret) = SandboxProcess::start(employees)?;
    let config = PersonioConfig::new(client_id, Secret::new(client_secret)).with_base_url(
        base_url
            .parse()
            .map_err(|error| format!("sandbox URL: {error}"))?,
    );
    let limits = config.limits.clone();
    let client = PersonioClient::new(config).map_err(|error| error.to_string())?;

    reset_peak();
    let started = Instant::now();
    let query = EmployeeQuery::default();
    let mut pages = client.employee_pages(&query, Deadline::after(Duration::from_secs(600)));
    let (mut listed, mut unparsable, mut page_count) = (0usize, 0usize, 0u64);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| format!("listing failed: {error}"))?;
        page_count += 1;
        for employee in &page.employees {
            match employee {
                Ok(_) => listed += 1,
                Err(_) => unparsable += 1,
            }
        }
    }
    drop(pages);
    let wall = started.elapsed();
    let peak = peak_bytes();

    let (requests, throttled, auth_requests) = sandbox.stats()?;
    let floor = minimum_duration(&limits.employees, page_count);
    let ratio = wall.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON);
    let documented = RateLimits::personio_documented();
    println!("personio-listing: {employees} employees, documented limits on both sides");
    println!("  employees listed        {listed} ({unparsable} unparsable), {page_count} pages");
    println!("  wall time               {:.2} s", wall.as_secs_f64());
    println!(
        "  floor set by the limits {:.2} s ({page_count} requests at {})",
        floor.as_secs_f64(),
        describe_windows(&documented)
    );
    println!("  ratio wall / floor      {ratio:.3}");
    println!("  requests (server count) {requests} employee pages + {auth_requests} auth");
    println!("  429s received           {throttled}");
    println!("  client peak heap        {}", mebibytes(peak));
    if listed + unparsable != employees {
        return Err(format!(
            "listed {} of {employees} employees",
            listed + unparsable
        ));
    }
    Ok(())
}

fn describe_windows(limits: &RateLimits) -> String {
    limits
        .employees
        .iter()
        .map(|window| format!("{}/{} s", window.max_requests, window.per.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" and ")
}
