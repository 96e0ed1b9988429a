//! `personio-lms`: the command-line host. Parses the command line, sets up logging, runs the
//! command and maps its result to an exit code; the commands live in the modules.

// Every `print!`/`println!`/`eprint!`/`eprintln!` of this binary goes through `output`, which
// never panics: std's panic when stdout is closed (`personio-lms runs | head -1`). Defined before
// the modules, these shadow the standard macros in all of them.
macro_rules! print {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}
#[allow(unused_macros)] // none yet; defined so that a future `eprint!` cannot panic either
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::output::write_stderr(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    () => { $crate::output::write_stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

mod app;
mod args;
mod audit;
mod config;
mod confirm;
mod demo;
mod demo_webhook;
mod error;
mod job_flags;
mod mail;
mod output;
mod process;
mod progress;
mod render;
mod serve;
mod stop;
mod webhooks;

use args::{Cli, Command, RunsCommand};
use clap::Parser;
use common::domain::run::RunKind;
use error::{CliError, ExitCode};
use std::io::IsTerminal;
use std::time::Duration;

fn main() {
    let cli = Cli::parse();
    // A server logs what it does (its requests, runs and jobs) unless asked for less.
    let verbose = match cli.command {
        Command::Serve(_) => cli.verbose.max(1),
        _ => cli.verbose,
    };
    init_logging(verbose);
    let code = match tokio::runtime::Runtime::new() {
        Ok(runtime) => match runtime.block_on(run_until_stopped(cli.command)) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error}");
                error.exit_code()
            }
        },
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::RunFailed
        }
    };
    // A stopped command says what stopped it, whatever it got done before.
    let code = stop::requested().map_or(code, stop::exit_code);
    std::process::exit(code.code());
}

/// Runs the command until it ends or is asked to stop. A sync stops by itself (cleanly, recording
/// its run); any other command is simply dropped, which is safe for each: reads change nothing,
/// and a certificate push cut short is recovered by its ledger claim.
async fn run_until_stopped(command: Command) -> Result<ExitCode, CliError> {
    // `serve` shuts down by itself on SIGINT/SIGTERM: it stops taking work, finishes or hands
    // back the job in flight and releases its leases.
    if matches!(command, Command::Serve(_)) {
        return run(command).await;
    }
    // The sandbox is a server: its stdout is a banner, and a closed one must not stop it.
    stop::listen(!matches!(command, Command::Sandbox(_)));
    if matches!(command, Command::Sync { .. }) {
        stop::stops_cleanly();
        return run(command).await;
    }
    let token = stop::token();
    tokio::select! {
        result = run(command) => result,
        request = token.cancelled() => Ok(stop::exit_code(request)),
    }
}

/// `check` is a pre-flight: it answers within a minute or says why not.
const CHECK_TIMEOUT: u64 = 60;
/// `explain` reads the whole listing, as a sync does: a large company's takes minutes at
/// Personio's rate limit.
const EXPLAIN_TIMEOUT: u64 = 600;
/// Certificate pushes: each PDF is one upload within Personio's documents budget (60/min).
const PUSH_TIMEOUT: u64 = 1800;

async fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Demo(demo) => demo::run(&demo).await,
        Command::Sync {
            config,
            dry_run,
            reconcile,
            json,
            yes,
            only,
            timeout,
        } => {
            let options = app::SyncOptions {
                dry_run,
                json,
                yes,
                kind: if reconcile {
                    RunKind::Reconcile
                } else {
                    RunKind::Full
                },
                only,
                timeout: timeout.timeout.map(Duration::from_secs),
            };
            app::sync(&config.config, options).await
        }
        Command::Check {
            config,
            json,
            timeout,
        } => app::check(&config.config, timeout.or(CHECK_TIMEOUT), json).await,
        Command::Explain {
            employee,
            config,
            json,
            timeout,
        } => app::explain(&config.config, &employee, json, timeout.or(EXPLAIN_TIMEOUT)).await,
        Command::Unlock { config, yes } => app::unlock(&config.config, yes).await,
        Command::Webhooks(args) => webhooks::webhooks(&args.action).await,
        Command::Runs(runs) => match (runs.show, runs.config) {
            (
                Some(RunsCommand::Show {
                    run_id,
                    config,
                    json,
                }),
                _,
            ) => app::run_show(&config.config, &run_id, json || runs.json).await,
            (None, Some(config)) => app::runs(&config, runs.limit, runs.json).await,
            (None, None) => Err(CliError::Input("runs needs --config FILE".into())),
        },
        Command::PushCertificate {
            config,
            job,
            timeout,
        } => {
            let loaded = app::load_config(&config.config)?;
            let job = job.to_job(&loaded.integration_id)?;
            app::push_jobs(
                &config.config,
                vec![job],
                Vec::new(),
                0,
                timeout.or(PUSH_TIMEOUT),
            )
            .await
        }
        Command::Backfill {
            config,
            jobs,
            timeout,
        } => app::backfill(&config.config, &jobs, timeout.or(PUSH_TIMEOUT)).await,
        Command::Certificates { config, json } => app::certificates(&config.config, json).await,
        Command::Serve(serve) => serve::run(&serve).await,
        Command::Audit {
            config,
            limit,
            cursor,
            json,
        } => audit::audit(&config.config, usize::from(limit), cursor.as_deref(), json).await,
        Command::Sandbox(sandbox) => personio_sandbox::serve(sandbox)
            .await
            .map(|()| ExitCode::Success)
            .map_err(|error| CliError::failed("the sandbox stopped", error)),
        Command::InitConfig => {
            print!("{}", config::example_config());
            Ok(ExitCode::Success)
        }
    }
}

/// Logs go to stderr (above the progress bar when one is drawn): warnings by default, `-v` info,
/// `-vv` debug; `RUST_LOG` overrides.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| progress::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
