//! The CLI's errors and the exit codes scripts rely on (documented in `--help` and the README).

use crate::config::ConfigError;

/// Exit codes. Stable: scripts branch on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything succeeded.
    Success = 0,
    /// The run finished, but employees or certificates failed or were held back.
    Partial = 1,
    /// Bad command line or configuration (clap also exits with 2 on usage errors).
    Usage = 2,
    /// The run failed as a whole: Personio or the LMS unreachable, credentials rejected, state
    /// store unusable.
    RunFailed = 3,
    /// Another run of the integration holds the lease.
    LeaseHeld = 4,
    /// The pre-flight check found a problem.
    CheckFailed = 5,
    /// Ctrl-C (SIGINT): a sync stopped cleanly (run recorded as aborted, lease released).
    Interrupted = 130,
    /// stdout was closed before everything was written (`… | head`); a sync stopped cleanly.
    OutputClosed = 141,
    /// SIGTERM: a sync stopped cleanly, as for Ctrl-C.
    Terminated = 143,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The exit-code table, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  finished, but some employees or certificates failed or were held back
  2  usage or configuration error
  3  the run failed as a whole (Personio/LMS unreachable, credentials rejected,
     the run's time used up)
  4  another run of the integration holds the lease
  5  the pre-flight check (`check`) failed
130  stopped by Ctrl-C (SIGINT): a sync records what it did as an aborted run
141  stdout was closed (`... | head`): a sync stops as for Ctrl-C
143  stopped by SIGTERM: a sync stops as for Ctrl-C";

/// An error that ends the command; `main` prints it as one line and exits with its code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad input given on the command line or in a file it names.
    #[error("{0}")]
    Input(String),
    /// The run (or command) could not do its work at all.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) | Self::Input(_) => ExitCode::Usage,
            Self::Failed(_) => ExitCode::RunFailed,
        }
    }

    pub fn failed(context: &str, error: impl std::fmt::Display) -> Self {
        Self::Failed(format!("{context}: {error}"))
    }
}
