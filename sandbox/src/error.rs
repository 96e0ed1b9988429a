//! The error of the sandbox's Rust API and startup.

use std::path::PathBuf;

/// Errors of the sandbox's Rust API and startup.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("dataset {path}: {reason}")]
    Dataset { path: PathBuf, reason: String },
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    #[error("no employee with id {0}")]
    UnknownEmployee(u64),
    #[error("an employee with id {0} already exists")]
    DuplicateEmployee(u64),
    #[error("employees have no attribute `{0}`")]
    UnknownAttribute(String),
    #[error("attribute `{0}` is maintained by the sandbox")]
    ReadOnlyAttribute(String),
    #[error("sandbox server failed: {0}")]
    Server(std::io::Error),
    #[error("cannot wait for a shutdown signal: {0}")]
    Signal(std::io::Error),
}
