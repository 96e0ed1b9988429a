//! `personio-lms`: the command-line host. Parses the command line, sets up logging, runs the
//! command and maps its result to an exit code; the commands live in the modules.

mod app;
mod args;
mod config;
mod demo;
mod error;
mod job_flags;
mod progress;
mod render;

use args::{Cli, Command, RunsCommand};
use clap::Parser;
use common::domain::run::RunKind;
use error::{CliError, ExitCode};
use std::io::IsTerminal;
use std::time::Duration;

fn main() {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let code = match tokio::runtime::Runtime::new() {
        Ok(runtime) => match runtime.block_on(run(cli.command)) {
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
    std::process::exit(code.code());
}

async fn run(command: Command) -> Result<ExitCode, CliError> {
    let seconds = |timeout: args::TimeoutArg| Duration::from_secs(timeout.timeout);
    match command {
        Command::Demo(demo) => demo::run(&demo).await,
        Command::Sync {
            config,
            dry_run,
            reconcile,
            json,
            only,
            timeout,
        } => {
            let kind = if reconcile {
                RunKind::Reconcile
            } else {
                RunKind::Full
            };
            app::sync(&config.config, dry_run, kind, json, only, seconds(timeout)).await
        }
        Command::Check { config, timeout } => app::check(&config.config, seconds(timeout)).await,
        Command::Runs(runs) => match (runs.show, runs.config) {
            (Some(RunsCommand::Show { run_id, config }), _) => {
                app::run_show(&config.config, &run_id).await
            }
            (None, Some(config)) => app::runs(&config, runs.limit).await,
            (None, None) => Err(CliError::Input("runs needs --config FILE".into())),
        },
        Command::PushCertificate {
            config,
            job,
            timeout,
        } => {
            let loaded = app::load_config(&config.config)?;
            let job = job.to_job(&loaded.integration_id)?;
            app::push_jobs(&config.config, vec![job], Vec::new(), 0, seconds(timeout)).await
        }
        Command::Backfill {
            config,
            jobs,
            timeout,
        } => app::backfill(&config.config, &jobs, seconds(timeout)).await,
        Command::Certificates { config } => app::certificates(&config.config).await,
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

/// Logs go to stderr: warnings by default, `-v` info, `-vv` debug; `RUST_LOG` overrides.
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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// `personio-lms demo | head` closes stdout early, and Rust's `print!` then panics. Unix tools
/// stop quietly in that case, so the panic message is left out; the panic still unwinds, so the
/// demo's temporary directory is removed.
fn quiet_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        let broken_pipe =
            message.starts_with("failed printing to stdout") && message.contains("Broken pipe");
        if !broken_pipe {
            default_hook(info);
        }
    }));
}
