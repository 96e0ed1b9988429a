//! Lists every employee of a 10,000-employee Personio sandbox with the documented rate limits on,
//! and compares the wall time with the floor the limits set.
//!
//! `cargo run --release -p benchmarks --bin personio-listing [-- --employees N]`
//!
//! The sandbox runs in a child process (this same binary in `--sandbox-child` mode, serving
//! through the sandbox's library), so that the heap peak and the CPU of this process are the
//! client's alone. The child reports the server-side counters (requests, 429s) on request.

use benchmarks::sandbox_process::{SandboxProcess, flag_value, serve_child};
use benchmarks::{
    CountingAllocator, describe_ratio, describe_windows, main_with, mebibytes, peak_bytes, ratio,
    reset_peak,
};
use common::personio::{PersonioClient, PersonioConfig, RateLimits, minimum_duration};
use common::ports::{EmployeeQuery, HrSource};
use common::retry::Deadline;
use common::secret::Secret;
use futures::StreamExt;
use personio_sandbox::SandboxConfig;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const DEFAULT_EMPLOYEES: usize = 10_000;

fn main() -> ExitCode {
    main_with(
        "personio-listing",
        |args| async move {
            let employees = flag_value(&args, "--employees", DEFAULT_EMPLOYEES)?;
            let config = SandboxConfig::default().with_employees(employees);
            serve_child(config, |_, command| {
                Err(format!("unknown command `{command}`"))
            })
            .await
        },
        |args| async move { benchmark(flag_value(&args, "--employees", DEFAULT_EMPLOYEES)?).await },
    )
}

async fn benchmark(employees: usize) -> Result<(), String> {
    let (mut sandbox, access) =
        SandboxProcess::start(&["--employees".to_owned(), employees.to_string()])?;
    let config = PersonioConfig::new(access.client_id, Secret::new(access.client_secret))
        .with_base_url(
            access
                .base_url
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

    let counts = sandbox.counts()?;
    let (requests, throttled, auth_requests) = (
        counts.employee_requests,
        counts.employee_429s,
        counts.auth_requests,
    );
    let floor = minimum_duration(&limits.employees, page_count);
    let ratio = ratio(wall, floor);
    let documented = RateLimits::personio_documented();
    println!("personio-listing: {employees} employees, documented limits on both sides");
    println!("  employees listed        {listed} ({unparsable} unparsable), {page_count} pages");
    println!("  wall time               {:.2} s", wall.as_secs_f64());
    println!(
        "  floor set by the limits {:.2} s ({page_count} requests at {})",
        floor.as_secs_f64(),
        describe_windows(&documented.employees)
    );
    println!("  ratio wall / floor      {}", describe_ratio(ratio));
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
