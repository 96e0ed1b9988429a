//! A certificate backfill of one integration: N certificates (inline PDFs, linked employees)
//! pushed through `CertificatePusher::push_batch` to a Personio sandbox with the documented
//! document limit (60/min), then the same batch again (a repeated backfill).
//!
//! `cargo run --release -p benchmarks --bin certificates [-- --certificates N]
//! [--employees N] [--pdf-kib N] [--margin-ms N]`
//!
//! The sandbox runs in a child process (see `benchmarks::sandbox_process`); the child also
//! reports the documents it holds and how many certificates arrived more than once
//! (`documents`), reading the certificate id from each document's comment.

use base64::Engine as _;
use benchmarks::sandbox_process::{SandboxProcess, flag_value, serve_child};
use benchmarks::{
    CountingAllocator, describe_ratio, describe_windows, main_with, mebibytes, peak_bytes, ratio,
    reset_peak,
};
use chrono::Utc;
use common::certificates::{
    BatchCounts, BatchReport, CertificatePusher, FetchLimits, JobReport, PdfFetcher, PushProgress,
};
use common::domain::IntegrationId;
use common::domain::employee::PersonioId;
use common::domain::link::EmployeeLink;
use common::domain::lms::LmsUserId;
use common::domain::settings::CertificateSettings;
use common::personio::{PersonioClient, PersonioConfig, RateLimits, minimum_duration};
use common::ports::LinkStore;
use common::retry::Deadline;
use common::secret::Secret;
use common::store::MemoryStore;
use personio_sandbox::{RunningSandbox, SandboxConfig, generate};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const DEFAULT_CERTIFICATES: usize = 1_000;
const DEFAULT_EMPLOYEES: usize = 200;
const DEFAULT_PDF_KIB: usize = 8;
const DOCUMENTS: &str = "documents";
const INTEGRATION: &str = "bench";
/// How the pusher's document comment names the certificate (`document_comment`).
const COMMENT_CERTIFICATE_PREFIX: &str = "LMS certificate ";

fn main() -> ExitCode {
    main_with("certificates", serve, benchmark)
}

fn sandbox_config(employees: usize) -> SandboxConfig {
    SandboxConfig::default().with_employees(employees)
}

/// Child mode: the sandbox, plus `documents`.
async fn serve(args: Vec<String>) -> Result<(), String> {
    let employees = flag_value(&args, "--employees", DEFAULT_EMPLOYEES)?;
    serve_child(
        sandbox_config(employees),
        |sandbox, command| match command {
            DOCUMENTS => Ok(document_census(sandbox)),
            _ => Err(format!("unknown command `{command}`")),
        },
    )
    .await
}

/// `<documents> <distinct certificates> <documents without a certificate id>`.
fn document_census(sandbox: &RunningSandbox) -> String {
    let documents = sandbox.documents();
    let mut certificates = BTreeSet::new();
    let mut unnamed = 0;
    for document in &documents {
        match document
            .comment
            .as_deref()
            .and_then(|comment| comment.split(COMMENT_CERTIFICATE_PREFIX).nth(1))
            .map(|rest| rest.trim_end_matches('.'))
        {
            Some(certificate) => {
                certificates.insert(certificate.to_owned());
            }
            None => unnamed += 1,
        }
    }
    format!("{} {} {unnamed}", documents.len(), certificates.len())
}

/// Prints every hundredth job to stderr: the full run takes a quarter of an hour.
struct EveryHundred {
    started: Instant,
}

impl PushProgress for EveryHundred {
    fn job_finished(&self, done: usize, total: usize, _report: &JobReport) {
        if done % 100 == 0 || done == total {
            eprintln!(
                "  … {done}/{total} jobs after {:.0} s",
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

async fn benchmark(args: Vec<String>) -> Result<(), String> {
    let certificates = flag_value(&args, "--certificates", DEFAULT_CERTIFICATES)?;
    let employees = flag_value(&args, "--employees", DEFAULT_EMPLOYEES)?;
    let pdf_kib = flag_value(&args, "--pdf-kib", DEFAULT_PDF_KIB)?;
    let margin = flag_value(&args, "--margin-ms", u64::MAX)?;
    let (mut sandbox, access) =
        SandboxProcess::start(&["--employees".to_owned(), employees.to_string()])?;
    let mut config = PersonioConfig::new(access.client_id, Secret::new(access.client_secret))
        .with_base_url(
            access
                .base_url
                .parse()
                .map_err(|error| format!("sandbox URL: {error}"))?,
        );
    if margin != u64::MAX {
        config.limits.window_margin = Duration::from_millis(margin);
    }
    let limits = config.limits.clone();
    let client = Arc::new(PersonioClient::new(config).map_err(|error| error.to_string())?);

    let integration = IntegrationId::new(INTEGRATION);
    let store = MemoryStore::new();
    let employee_ids: Vec<u64> = generate(sandbox_config(employees).seed, employees)
        .iter()
        .map(|employee| employee.id())
        .collect();
    if employee_ids.is_empty() {
        return Err("--employees must be at least 1".to_owned());
    }
    for &employee in &employee_ids {
        store
            .put_link(&link(&integration, employee), None)
            .await
            .map_err(|error| format!("linking employee {employee}: {error}"))?;
    }
    let jobs = jobs(&employee_ids, certificates, pdf_kib * 1024);
    let batch_bytes: usize = jobs.iter().map(|job| job.to_string().len()).sum();
    let pusher = CertificatePusher::new(
        client,
        Arc::new(store),
        PdfFetcher::new(FetchLimits::default(), common::net::NetworkPolicy::LOCAL)
            .map_err(|error| error.to_string())?,
    );
    let settings = CertificateSettings {
        enabled: true,
        ..CertificateSettings::default()
    };

    println!(
        "certificates: {certificates} certificates ({pdf_kib} KiB inline PDFs, batch {} as JSON) \
         for {employees} linked employees, documented limits on both sides (documents {}), \
         client window margin {} ms",
        mebibytes(batch_bytes),
        describe_windows(&limits.documents),
        limits.window_margin.as_millis(),
    );
    let mut problems = Vec::new();
    for pass in ["first push", "repeated backfill"] {
        let before = sandbox.counts()?;
        // The caller's copy is made before the measurement: push_batch consumes its batch.
        let batch = jobs.clone();
        reset_peak();
        let started = Instant::now();
        let report = pusher
            .push_batch(
                &integration,
                &settings,
                batch,
                Deadline::after(Duration::from_secs(3 * 3600)),
                &EveryHundred { started },
            )
            .await;
        let wall = started.elapsed();
        let peak = peak_bytes();
        let server = sandbox.counts()?.since(&before);
        let census = sandbox.ask(DOCUMENTS)?;
        let [documents, distinct, unnamed] = parse_census(&census)?;
        let counts = report.counts();
        // Served requests: a 429 costs the client time but takes no place in the server's window.
        let document_requests =
            (server.category_requests + server.upload_requests + server.document_list_requests)
                .saturating_sub(server.document_429s);
        let floor = minimum_duration(
            &RateLimits::personio_documented().documents,
            document_requests,
        );

        println!("-- {pass}");
        report_counts(&counts, &report);
        println!("   wall time                 {:.1} s", wall.as_secs_f64());
        println!(
            "   floor set by the limits   {:.1} s ({document_requests} document-budget requests: \
             {} uploads, {} category reads, {} v2 lists, less 429s)",
            floor.as_secs_f64(),
            server.upload_requests,
            server.category_requests,
            server.document_list_requests,
        );
        println!(
            "   ratio wall / floor        {}",
            describe_ratio(ratio(wall, floor))
        );
        println!("   429s received             {}", server.document_429s);
        println!(
            "   sandbox documents         {documents} ({distinct} distinct certificates, \
             {} duplicates, {unnamed} without a certificate id)",
            documents.saturating_sub(distinct + unnamed)
        );
        println!("   peak heap                 {}", mebibytes(peak));

        if documents != distinct + unnamed {
            problems.push(format!(
                "{pass}: {} duplicates",
                documents.saturating_sub(distinct + unnamed)
            ));
        }
        if server.document_429s > 0 {
            problems.push(format!("{pass}: {} 429s", server.document_429s));
        }
        let expected = match pass {
            "first push" => counts.uploaded == certificates,
            _ => counts.already_done == certificates && server.upload_requests == 0,
        };
        if !expected {
            problems.push(format!("{pass}: {counts:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn parse_census(line: &str) -> Result<[u64; 3], String> {
    let numbers: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("unexpected census `{line}`"))?;
    numbers
        .try_into()
        .map_err(|_| format!("unexpected census `{line}`"))
}

fn report_counts(counts: &BatchCounts, report: &BatchReport) {
    println!(
        "   jobs                      {} uploaded, {} already done, {} recovered, {} parked, \
         {} busy, {} failed (retryable), {} failed (permanent)",
        counts.uploaded,
        counts.already_done,
        counts.recovered,
        counts.parked,
        counts.busy,
        counts.failed_retryable,
        counts.failed_permanent,
    );
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for job in &report.jobs {
        if let common::certificates::PushOutcome::Failed { reason, .. } = &job.outcome {
            *reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    for (reason, count) in reasons {
        println!("   failure ×{count}: {reason}");
    }
    if let Some(problem) = &report.integration_problem {
        println!("   integration problem: {problem}");
    }
}

fn lms_user(employee: u64) -> String {
    format!("lms-{employee}")
}

fn link(integration: &IntegrationId, employee: u64) -> EmployeeLink {
    EmployeeLink {
        integration_id: integration.clone(),
        personio_id: PersonioId(employee as i64),
        lms_user_id: LmsUserId(lms_user(employee)),
        email: format!("{employee}@acme.example"),
        profile_hash: String::new(),
        groups: BTreeSet::new(),
        active: true,
        updated_at: Utc::now(),
        version: 1,
        profile: None,
        invited_at: None,
        invitation_pending: false,
    }
}

/// `count` jobs, spread round-robin over the employees, each with its own inline PDF.
fn jobs(employees: &[u64], count: usize, pdf_bytes: usize) -> Vec<Value> {
    let engine = base64::engine::general_purpose::STANDARD;
    (0..count)
        .map(|index| {
            let employee = employees[index % employees.len()];
            let mut pdf = format!("%PDF-1.4\n% certificate {index}\n").into_bytes();
            pdf.resize(pdf_bytes.max(pdf.len()), b' ');
            pdf.extend_from_slice(b"\n%%EOF\n");
            json!({
                "integration_id": INTEGRATION,
                "certificate_id": format!("cert-{index:06}"),
                "lms_user_id": lms_user(employee),
                "course_name": format!("Course {}", index % 40),
                "completed_on": "2026-11-20",
                "pdf_base64": engine.encode(&pdf),
            })
        })
        .collect()
}
