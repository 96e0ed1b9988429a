//! `personio-lms`: the command-line host. Parses the command line, sets up logging, runs the
//! command and maps its result to an exit code; the commands live in the modules.

mod app;
mod args;
mod audit;
mod config;
mod confirm;
mod demo;
mod error;
mod job_flags;
mod mail;
mod progress;
mod render;
mod serve;

use args::{Cli, Command, RunsCommand};
use clap::Parser;
use error::{CliError, ExitCode};
use std::io::IsTerminal;
use std::time::Duration;

fn main() {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    // A server logs what it does (its requests, runs and jobs) unless asked for less.
    let verbose = match cli.command {
        Command::Serve(_) => cli.verbose.max(1),
        _ => cli.verbose,
    };
    init_logging(verbose);
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
            json,
            yes,
            only,
            timeout,
        } => {
            let options = app::SyncOptions {
                dry_run,
                json,
                yes,
                only,
                timeout: seconds(timeout),
            };
            app::sync(&config.config, options).await
        }
        Command::Check {
            config,
            json,
            timeout,
        } => app::check(&config.config, seconds(timeout), json).await,
        Command::Explain {
            employee,
            config,
            json,
            timeout,
        } => app::explain(&config.config, &employee, json, seconds(timeout)).await,
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
            app::push_jobs(&config.config, vec![job], Vec::new(), 0, seconds(timeout)).await
        }
        Command::Backfill {
            config,
            jobs,
            timeout,
        } => app::backfill(&config.config, &jobs, seconds(timeout)).await,
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
