//! The commands that work on a configured integration: wiring the adapters from a [`CliConfig`]
//! and running the core (`common`) with them. Output formatting lives in [`crate::render`].

use crate::config::{CONNECT_POLICY, CliConfig, ConfigError, ProcessEnvironment};
use crate::confirm::confirm;
use crate::error::{CliError, ExitCode};
use crate::mail::CliMail;
use crate::progress::{PushBar, SyncBar};
use crate::render::{self, Symbols, Width};
use crate::{process, stop};
use common::app::{
    ConnectError, EmployeeKey, ExplainError, IntegrationSync, LeaseState, ProcessHolder,
    RunLookupError, SyncVerdict, break_lease, connect_integration, connect_personio,
    explain_employee, find_run, first_sync_accounts, lease_state, named_scope, run_history,
    run_preflight, sync_integration, take_over_from_dead_local_holder, webhook_check,
};
use common::certificates::{
    BatchReport, CertificatePusher, FetchLimits, PdfFetcher, parse_ndjson_numbered,
};
use common::domain::certificate::{LedgerEntry, LedgerState};
use common::domain::employee::PersonioId;
use common::domain::run::{RunKind, RunRecord, Trigger};
use common::ports::{CertificateLedger, HrSource, LearningPlatform, LinkStore, MAX_DOCUMENT_BYTES};
use common::retry::Deadline;
use common::store::SqliteStore;
use common::sync::{SyncEngine, SyncError, SyncRequest, SyncScope};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// The adapters of one configured integration.
pub struct Wired {
    pub config: CliConfig,
    pub hr: Arc<dyn HrSource>,
    pub lms: Arc<dyn LearningPlatform>,
    pub store: Arc<SqliteStore>,
    pub notifier: Arc<CliMail>,
    pub deadline: Deadline,
}

/// Loads the config (warning about literal secrets) without touching the network, the state or
/// the secrets' environment variables.
pub fn load_config(path: &Path) -> Result<CliConfig, CliError> {
    let config = CliConfig::load(path)?;
    for field in &config.literal_secrets {
        warn!(
            field,
            "the config file holds a literal secret; prefer {field}_env with an environment variable"
        );
    }
    Ok(config)
}

/// Opens only the state store (for the history and the ledger).
pub fn open_store(config: &CliConfig) -> Result<SqliteStore, CliError> {
    if let Some(dir) = config
        .state_path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|error| {
            CliError::failed(&format!("cannot create {}", dir.display()), error)
        })?;
    }
    SqliteStore::open(&config.state_path).map_err(|error| {
        CliError::failed(
            &format!("cannot open the state file {}", config.state_path.display()),
            error,
        )
    })
}

pub fn wire(path: &Path, deadline: Deadline) -> Result<Wired, CliError> {
    let config = load_config(path)?;
    let adapters = connect_integration(
        &config.personio,
        &config.lms,
        &config.credentials(&ProcessEnvironment)?,
        &CONNECT_POLICY,
        deadline,
    )
    .map_err(|error| match error {
        ConnectError::Url { field, reason } => CliError::Config(ConfigError::Field {
            path: config.path.display().to_string(),
            field: field.into(),
            message: reason,
        }),
        other => CliError::failed("cannot connect the integration", other),
    })?;
    let store = open_store(&config)?;
    let notifier = CliMail::from_config(&config, &ProcessEnvironment)?;
    Ok(Wired {
        hr: adapters.hr,
        lms: adapters.lms,
        store: Arc::new(store),
        notifier: Arc::new(notifier),
        deadline,
        config,
    })
}

/// The CLI's pusher: jobs never travel through a queue here, so an inline PDF may be as large as
/// Personio takes (`push-certificate --pdf FILE`, backfill lines).
fn pusher(wired: &Wired) -> Result<CertificatePusher, CliError> {
    let fetcher = PdfFetcher::new(FetchLimits::default(), CONNECT_POLICY.network())
        .map_err(|error| CliError::failed("cannot set up the PDF download client", error))?;
    Ok(
        CertificatePusher::new(wired.hr.clone(), wired.store.clone(), fetcher)
            .with_lms(wired.lms.clone())
            .with_inline_pdf_limit(MAX_DOCUMENT_BYTES),
    )
}

/// Who holds the lease of a CLI run: this process on this host, so that a later run on the same
/// host can tell when it died.
fn lease_holder() -> ProcessHolder {
    ProcessHolder {
        host: process::host_name(),
        pid: std::process::id(),
    }
}

/// The exit code of a sync, from the shared verdict.
pub fn sync_exit_code(verdict: SyncVerdict) -> ExitCode {
    match verdict {
        SyncVerdict::Succeeded => ExitCode::Success,
        SyncVerdict::CompletedWithFailures => ExitCode::Partial,
        // Stopped by its time limit; a stop asked for by a signal exits with that signal's code.
        SyncVerdict::Failed | SyncVerdict::Aborted => ExitCode::RunFailed,
        SyncVerdict::LeaseHeld => ExitCode::LeaseHeld,
    }
}

pub fn sync_error(error: SyncError) -> CliError {
    match error {
        SyncError::Settings(error) => CliError::Input(error.to_string()),
        SyncError::Store { .. } => CliError::Failed(error.to_string()),
    }
}

/// Prints a finished sync (and any released certificates) for people.
pub fn print_sync(result: &IntegrationSync, max_rows: usize) {
    let width = Width::detect();
    if let Some((holder, expires_at)) = result.lease_held() {
        println!("another run holds the lease: {holder} (until {expires_at}); nothing done");
    }
    if let Some(record) = result.record() {
        print!("{}", render::run_summary(record, max_rows, width));
    }
    match &result.released {
        Some(Ok(report)) if !report.jobs.is_empty() => {
            println!("\nparked certificates released:");
            print!("{}", render::batch_report(report, &|_| None, width));
        }
        Some(Err(error)) => println!("\nparked certificates could not be listed: {error}"),
        _ => {}
    }
}

/// How `sync` was asked to run.
pub struct SyncOptions {
    pub dry_run: bool,
    pub json: bool,
    /// Skip the first-sync confirmation.
    pub yes: bool,
    /// A full run or a reconcile run (`--reconcile`); a targeted run is `only`.
    pub kind: RunKind,
    /// Sync just these employees (a targeted run); empty: everyone.
    pub only: Vec<PersonioId>,
    /// The run's deadline; without one the run's changes get the time their number needs.
    pub timeout: Option<Duration>,
}

/// A first sync that would create more accounts than this asks first (each account may mean an
/// invitation email and a licence).
pub const FIRST_SYNC_CONFIRM_ABOVE: usize = 50;

/// Before the first real sync of an integration (no links yet): count the accounts it would
/// create and, when more than [`FIRST_SYNC_CONFIRM_ABOVE`], ask.
async fn confirm_first_sync(wired: &Wired) -> Result<(), CliError> {
    let links = wired
        .store
        .links(&wired.config.integration_id)
        .await
        .map_err(|error| CliError::failed("cannot read the state file", error))?;
    if !links.is_empty() {
        return Ok(());
    }
    let accounts = match first_sync_accounts(
        wired.hr.as_ref(),
        &wired.config.settings,
        wired.deadline,
    )
    .await
    {
        Ok(accounts) => accounts,
        // The run meets the same problem and records it as a failed run; with nothing
        // listed it can create nobody, so there is nothing to confirm.
        Err(error) => {
            warn!(%error, "could not count the first sync's accounts");
            return Ok(());
        }
    };
    if accounts <= FIRST_SYNC_CONFIRM_ABOVE {
        return Ok(());
    }
    let invitations = if wired.config.settings.notifications.invite_new_users {
        " and invites each by email"
    } else {
        ""
    };
    confirm(
        &format!(
            "This is the first sync of {}: it creates (or links, where the LMS has the email) \
             {accounts} LMS accounts{invitations}; `sync --dry-run` shows them.",
            wired.config.integration_id
        ),
        "--yes",
    )
}

/// `sync`: a run of `kind` (full or reconcile), or (`only` not empty) a targeted run of just
/// those employees.
pub async fn sync(path: &Path, options: SyncOptions) -> Result<ExitCode, CliError> {
    let SyncOptions {
        dry_run,
        json,
        yes,
        kind,
        only,
        timeout,
    } = options;
    // A targeted run names its employees: there is nothing to confirm.
    let confirmed = yes || !only.is_empty();
    let scope = if only.is_empty() {
        SyncScope::Everyone
    } else {
        named_scope(only).map_err(|error| CliError::Input(format!("--only: {error}")))?
    };
    let wired = wire(path, timeout.map_or_else(Deadline::none, Deadline::after))?;
    let engine = SyncEngine::new(
        wired.hr.clone(),
        wired.lms.clone(),
        wired.store.clone(),
        wired.notifier.clone(),
    );
    if !dry_run && !confirmed {
        confirm_first_sync(&wired).await?;
    }
    // The run's time starts now: neither the count nor an admin thinking over the question
    // counts against it.
    let deadline = timeout.map_or_else(Deadline::none, Deadline::after);
    let pusher = pusher(&wired)?;
    let mut request = SyncRequest::new(
        wired.config.integration_id.clone(),
        wired.config.settings.clone(),
        Trigger::Cli,
    );
    request.dry_run = dry_run;
    request.scope = scope;
    request.kind = kind;
    request.deadline = deadline;
    request.sized_to_work = timeout.is_none();
    request.cancel = stop::token();
    let holder = lease_holder();
    request.lease_holder = holder.to_string();
    if !dry_run {
        request
            .notices
            .extend(take_over_from_dead_process(&wired, &holder.host).await?);
    }
    let sync_bar = SyncBar::new(!json, dry_run);
    let push_bar = PushBar::new(!json, "releasing parked certificates");
    let result = sync_integration(&engine, &pusher, request, &sync_bar, &push_bar)
        .await
        .map_err(sync_error)?;
    sync_bar.finish();
    push_bar.finish();
    if json {
        match result.record() {
            Some(record) => print_json(record)?,
            None => print_json(&serde_json::json!({
                "lease_held": result.lease_held().map(|(holder, until)| serde_json::json!({
                    "holder": holder, "expires_at": until
                }))
            }))?,
        }
    } else {
        print_sync(&result, 40);
        if let Some(line) = wired.notifier.report() {
            println!("\n{line}");
        }
    }
    Ok(sync_exit_code(result.verdict()))
}

/// A lease held by a process of this host that no longer exists is taken over at once (it would
/// otherwise block runs until it expires); the run's notices say so.
async fn take_over_from_dead_process(
    wired: &Wired,
    this_host: &str,
) -> Result<Option<String>, CliError> {
    let taken = take_over_from_dead_local_holder(
        wired.store.as_ref(),
        &wired.config.integration_id,
        this_host,
        process::is_running,
    )
    .await
    .map_err(|error| CliError::failed("cannot read the sync lease", error))?;
    Ok(taken.map(|lease| {
        let notice = format!(
            "the sync lease was taken over from {}, which no longer runs on this host (it died \
             without releasing it)",
            lease.holder
        );
        eprintln!("note: {notice}");
        notice
    }))
}

pub async fn check(path: &Path, timeout: Duration, json: bool) -> Result<ExitCode, CliError> {
    let wired = wire(path, Deadline::after(timeout))?;
    let mut report = run_preflight(
        wired.hr.as_ref(),
        wired.lms.as_ref(),
        &wired.config.settings,
        wired.deadline,
    )
    .await;
    // This host receives no deliveries: the webhook registered for the integration's route on
    // the host that does (serve, the AWS stack), if any.
    let credentials = wired.config.credentials(&ProcessEnvironment)?;
    let personio = connect_personio(
        &wired.config.personio,
        &credentials.personio_client_id,
        &credentials.personio_client_secret,
        &CONNECT_POLICY,
    )
    .map_err(|error| CliError::failed("cannot connect to Personio", error))?;
    report.checks.push(
        webhook_check(
            &personio,
            &wired.config.integration_id,
            None,
            wired.deadline,
        )
        .await,
    );
    if json {
        print_json(&serde_json::json!({
            "passed": report.passed(),
            "report": report,
        }))?;
    } else {
        print!("{}", render::preflight(&report, Symbols::detect()));
    }
    Ok(if report.passed() {
        ExitCode::Success
    } else {
        ExitCode::CheckFailed
    })
}

/// `explain EMPLOYEE`: reads Personio, the LMS and the state; writes nothing.
pub async fn explain(
    path: &Path,
    employee: &str,
    json: bool,
    timeout: Duration,
) -> Result<ExitCode, CliError> {
    let key = EmployeeKey::parse(employee).map_err(|error| CliError::Input(error.to_string()))?;
    let wired = wire(path, Deadline::after(timeout))?;
    let answer = explain_employee(
        wired.hr.as_ref(),
        wired.lms.as_ref(),
        wired.store.as_ref(),
        &wired.config.integration_id,
        &wired.config.settings,
        &key,
        wired.deadline,
    )
    .await
    .map_err(|error| match error {
        ExplainError::BadKey(_) | ExplainError::Unknown(_) => CliError::Input(error.to_string()),
        other => CliError::Failed(other.to_string()),
    })?;
    if json {
        print_json(&answer)?;
    } else {
        print!("{}", render::explanation(&answer, Width::detect()));
    }
    Ok(ExitCode::Success)
}

/// Prints `value` as one complete JSON document, or nothing: it is rendered whole before the
/// first byte is written, so a reader never gets half a document; a failure is the command's
/// error (on stderr, with its exit code).
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|error| CliError::failed("cannot write the output as JSON", error))?;
    text.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| CliError::failed("cannot write to stdout", error))
}

/// One line of the run history for `runs --json`: the record without its outcomes (`runs show
/// ID --json` has them).
#[derive(serde::Serialize)]
struct RunLine<'a> {
    run_id: &'a str,
    trigger: common::domain::run::Trigger,
    dry_run: bool,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
    status: common::domain::run::RunStatus,
    counts: common::domain::run::RunCounts,
    notices: &'a [String],
    error: Option<&'a str>,
}

impl<'a> From<&'a RunRecord> for RunLine<'a> {
    fn from(record: &'a RunRecord) -> Self {
        Self {
            run_id: &record.run_id.0,
            trigger: record.trigger,
            dry_run: record.dry_run,
            started_at: record.started_at,
            finished_at: record.finished_at,
            status: record.status,
            counts: record.counts,
            notices: &record.notices,
            error: record.error.as_deref(),
        }
    }
}

/// `runs`: reads only the state file; needs no secret.
pub async fn runs(path: &Path, limit: usize, json: bool) -> Result<ExitCode, CliError> {
    let config = load_config(path)?;
    let store = open_store(&config)?;
    let records = run_history::recent_runs(&store, &config.integration_id, limit)
        .await
        .map_err(|error| CliError::failed("cannot read the run history", error))?;
    if json {
        let lines: Vec<RunLine> = records.iter().map(RunLine::from).collect();
        print_json(&lines)?;
    } else {
        print!("{}", render::runs_list(&records, Width::detect()));
    }
    Ok(ExitCode::Success)
}

/// `runs show ID|PREFIX|latest`: reads only the state file; needs no secret.
pub async fn run_show(path: &Path, run_id: &str, json: bool) -> Result<ExitCode, CliError> {
    let config = load_config(path)?;
    let store = open_store(&config)?;
    let record = find_run(&store, &config.integration_id, run_id)
        .await
        .map_err(|error| match error {
            RunLookupError::Store(error) => CliError::failed("cannot read the run history", error),
            other => CliError::Input(format!(
                "{other} (integration {}; `personio-lms runs` lists them)",
                config.integration_id
            )),
        })?;
    if json {
        print_json(&record)?;
    } else {
        print!(
            "{}",
            render::run_summary(&record, usize::MAX, Width::detect())
        );
        print!("{}", render::request_lines(&record));
    }
    Ok(ExitCode::Success)
}

/// A ledger entry for `certificates --json`: a parked job without its PDF (which may be
/// megabytes of base64 and is no one's reading).
fn ledger_json(entry: &LedgerEntry) -> serde_json::Value {
    let mut entry = entry.clone();
    if let LedgerState::Parked { job, .. } = &mut entry.state
        && let Some(fields) = job.as_object_mut()
        && fields.remove("pdf_base64").is_some()
    {
        fields.insert("pdf_base64_omitted".into(), serde_json::Value::Bool(true));
    }
    serde_json::to_value(&entry).unwrap_or(serde_json::Value::Null)
}

/// `certificates`: reads only the state file; needs no secret.
pub async fn certificates(path: &Path, json: bool) -> Result<ExitCode, CliError> {
    let config = load_config(path)?;
    let store = open_store(&config)?;
    let entries = store
        .certificates(&config.integration_id)
        .await
        .map_err(|error| CliError::failed("cannot read the certificate ledger", error))?;
    if json {
        let values: Vec<serde_json::Value> = entries.iter().map(ledger_json).collect();
        print_json(&values)?;
    } else {
        print!(
            "{}",
            render::ledger(
                &entries,
                config.settings.certificates.parked_expiry(),
                Width::detect()
            )
        );
    }
    Ok(ExitCode::Success)
}

/// `unlock`: shows who holds the sync lease and breaks it after confirmation (or `--yes`).
pub async fn unlock(path: &Path, yes: bool) -> Result<ExitCode, CliError> {
    let config = load_config(path)?;
    let store = open_store(&config)?;
    let integration = &config.integration_id;
    let lease_error = |error| CliError::failed("cannot read the sync lease", error);
    let lease = match lease_state(&store, integration, chrono::Utc::now())
        .await
        .map_err(lease_error)?
    {
        LeaseState::Free => {
            println!("the sync lease of {integration} is free; nothing to unlock");
            return Ok(ExitCode::Success);
        }
        LeaseState::Expired(lease) => {
            println!(
                "the sync lease of {integration} expired at {} ({} held it); the next run takes \
                 it, nothing to unlock",
                lease.expires_at, lease.holder
            );
            return Ok(ExitCode::Success);
        }
        LeaseState::Held(lease) => lease,
    };
    println!(
        "the sync lease of {integration} is held by {} until {}",
        lease.holder, lease.expires_at
    );
    let this_host = process::host_name();
    match ProcessHolder::parse(&lease.holder) {
        Some(holder) if holder.host == this_host && !process::is_running(holder.pid) => {
            println!("that process no longer runs on this host: it died without releasing it");
        }
        Some(holder) if holder.host == this_host => println!(
            "warning: process {} still runs on this host; breaking its lease lets a second run \
             start beside it (stop it first: kill {})",
            holder.pid, holder.pid
        ),
        _ => println!(
            "if that run still goes on, it stops applying changes when it next renews the lease, \
             and another run can start"
        ),
    }
    if !yes
        && !crate::confirm::ask_on_stdin("break the lease? [y/N] ", "--yes", "break the lease")
            .await?
    {
        println!("the lease was left as it is");
        return Ok(ExitCode::Success);
    }
    match break_lease(&store, integration, &lease)
        .await
        .map_err(lease_error)?
    {
        None => {
            println!("lease broken; the next run can start");
            Ok(ExitCode::Success)
        }
        Some(now) => {
            println!(
                "the lease is now held by {} (a run that started meanwhile); it was left alone",
                now.holder
            );
            Ok(ExitCode::LeaseHeld)
        }
    }
}

/// The exit code of a certificate batch: rejected credentials or unusable settings fail the whole
/// batch (3); failed or unreadable jobs make it partial (1).
pub fn batch_exit_code(report: &BatchReport, bad_lines: usize) -> ExitCode {
    let counts = report.counts();
    if report.integration_problem.is_some() {
        ExitCode::RunFailed
    } else if bad_lines > 0 || counts.failed_permanent + counts.failed_retryable + counts.busy > 0 {
        ExitCode::Partial
    } else {
        ExitCode::Success
    }
}

fn require_certificates(config: &CliConfig) -> Result<(), CliError> {
    if config.settings.certificates.enabled {
        Ok(())
    } else {
        Err(CliError::Config(ConfigError::Field {
            path: config.path.display().to_string(),
            field: "settings.certificates.enabled".into(),
            message: "is false; set it to true to push certificates".into(),
        }))
    }
}

/// Pushes certificate jobs (already JSON values) and prints the result, naming input lines.
pub async fn push_jobs(
    path: &Path,
    jobs: Vec<serde_json::Value>,
    lines: Vec<usize>,
    bad_lines: usize,
    timeout: Duration,
) -> Result<ExitCode, CliError> {
    let wired = wire(path, Deadline::after(timeout))?;
    require_certificates(&wired.config)?;
    let pusher = pusher(&wired)?;
    let bar = PushBar::new(jobs.len() > 1, "pushing certificates");
    let report = pusher
        .push_batch(
            &wired.config.integration_id,
            &wired.config.settings.certificates,
            jobs,
            wired.deadline,
            &bar,
        )
        .await;
    bar.finish();
    print!(
        "{}",
        render::batch_report(&report, &|index| lines.get(index).copied(), Width::detect())
    );
    Ok(batch_exit_code(&report, bad_lines))
}

/// `backfill`: every line of an NDJSON file is one job; broken lines are reported with their
/// numbers and the others still pushed. The ledger makes a repeated backfill push nothing twice.
pub async fn backfill(
    path: &Path,
    jobs_file: &Path,
    timeout: Duration,
) -> Result<ExitCode, CliError> {
    // Bytes, not text: a line that is not UTF-8 fails on its own, the others are still pushed.
    let text = std::fs::read(jobs_file).map_err(|error| {
        CliError::Input(format!("cannot read {}: {error}", jobs_file.display()))
    })?;
    let mut jobs = Vec::new();
    let mut lines = Vec::new();
    let mut bad_lines = 0;
    for (line, value) in parse_ndjson_numbered(&text) {
        match value {
            Ok(value) => {
                jobs.push(value);
                lines.push(line);
            }
            Err(error) => {
                bad_lines += 1;
                println!("{}: {error}", jobs_file.display());
            }
        }
    }
    if jobs.is_empty() && bad_lines == 0 {
        return Err(CliError::Input(format!(
            "{} holds no certificate jobs",
            jobs_file.display()
        )));
    }
    push_jobs(path, jobs, lines, bad_lines, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::certificates::{IntegrationProblem, JobReport, PushOutcome};

    fn report(outcomes: Vec<PushOutcome>) -> BatchReport {
        BatchReport {
            jobs: outcomes
                .into_iter()
                .enumerate()
                .map(|(index, outcome)| JobReport {
                    index,
                    certificate_id: None,
                    outcome,
                })
                .collect(),
            integration_problem: None,
        }
    }

    #[test]
    fn batch_exit_codes() {
        let done = PushOutcome::AlreadyDone {
            document_id: "1".into(),
        };
        assert_eq!(
            batch_exit_code(
                &report(vec![
                    done.clone(),
                    PushOutcome::Parked {
                        reason: "not linked".into()
                    }
                ]),
                0
            ),
            ExitCode::Success
        );
        assert_eq!(
            batch_exit_code(&report(vec![done.clone()]), 1),
            ExitCode::Partial
        );
        let failed = PushOutcome::Failed {
            reason: "x".into(),
            retryable: false,
        };
        assert_eq!(
            batch_exit_code(&report(vec![done, failed]), 0),
            ExitCode::Partial
        );
        let mut rejected = report(Vec::new());
        rejected.integration_problem = Some(IntegrationProblem::Credentials("no".into()));
        assert_eq!(batch_exit_code(&rejected, 0), ExitCode::RunFailed);
    }

    #[test]
    fn sync_exit_codes_follow_the_shared_verdict() {
        assert_eq!(sync_exit_code(SyncVerdict::Succeeded).code(), 0);
        assert_eq!(sync_exit_code(SyncVerdict::CompletedWithFailures).code(), 1);
        assert_eq!(sync_exit_code(SyncVerdict::Failed).code(), 3);
        assert_eq!(sync_exit_code(SyncVerdict::LeaseHeld).code(), 4);
    }
}
