use clap::Parser;
use personio_sandbox::{SandboxArgs, serve};
use tracing_subscriber::EnvFilter;

/// A local emulator of the Personio API.
#[derive(Debug, Parser)]
#[command(name = "personio-sandbox", version)]
struct Cli {
    #[command(flatten)]
    args: SandboxArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Logs go to stderr: stdout carries the three lines scripts parse.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match serve(Cli::parse().args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("personio-sandbox: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
