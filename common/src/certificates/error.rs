//! Why a certificate job failed, and which failures are a problem of the whole integration.

use super::document::CategoryError;
use super::fetch::FetchError;
use super::job::JobError;
use crate::domain::employee::PersonioId;
use crate::domain::settings::CertificateSettingsError;
use crate::ports::{HrError, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

/// A problem of the integration rather than of one certificate, for the host to show on the
/// integration's status (every job of the batch also fails with it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "problem", content = "message", rename_all = "snake_case")]
pub enum IntegrationProblem {
    #[error("certificate settings: {0}")]
    Settings(String),
    #[error("{0}")]
    Category(String),
    #[error("Personio rejected the API credentials while pushing certificates: {0}")]
    Credentials(String),
}

/// Why one job failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("invalid certificate job: {0}")]
    InvalidJob(#[from] JobError),
    #[error("certificate push is disabled for this integration")]
    Disabled,
    #[error("the integration's certificate settings are invalid: {0}")]
    Settings(#[from] CertificateSettingsError),
    #[error("{0}")]
    Category(#[from] CategoryError),
    #[error("reading Personio's document categories failed: {0}")]
    Categories(Arc<HrError>),
    #[error("{0}")]
    Pdf(#[from] FetchError),
    #[error("employee {employee} is unknown to Personio: {message}")]
    UnknownEmployee {
        employee: PersonioId,
        message: String,
    },
    #[error("uploading the certificate to Personio failed: {0}")]
    Upload(HrError),
    #[error("looking for an earlier upload of the certificate in Personio failed: {0}")]
    Lookup(HrError),
    #[error("the certificate ledger failed: {0}")]
    Store(#[from] StoreError),
    #[error("the deadline passed before the certificate could be pushed")]
    DeadlineExceeded,
    /// Parked longer than the integration's `parked_expiry_days`: nobody will link its employee.
    #[error(
        "waited for its employee since {} (more than {days} days) and gave up: {reason}",
        since.format("%Y-%m-%d")
    )]
    ParkedTooLong {
        since: DateTime<Utc>,
        days: u32,
        reason: String,
    },
}

impl PushError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidJob(_)
            | Self::Disabled
            | Self::Settings(_)
            | Self::Category(_)
            | Self::UnknownEmployee { .. }
            | Self::ParkedTooLong { .. } => false,
            Self::Categories(error) => error.is_retryable(),
            Self::Pdf(error) => error.is_retryable(),
            Self::Upload(error) | Self::Lookup(error) => error.is_retryable(),
            Self::Store(error) => error.is_retryable(),
            Self::DeadlineExceeded => true,
        }
    }

    pub(super) fn integration_problem(&self) -> Option<IntegrationProblem> {
        match self {
            Self::Settings(error) => Some(IntegrationProblem::Settings(error.to_string())),
            Self::Category(error) => Some(IntegrationProblem::Category(error.to_string())),
            Self::Upload(HrError::Unauthorized { message })
            | Self::Lookup(HrError::Unauthorized { message }) => {
                Some(IntegrationProblem::Credentials(message.clone()))
            }
            Self::Categories(error) => match &**error {
                HrError::Unauthorized { message } => {
                    Some(IntegrationProblem::Credentials(message.clone()))
                }
                _ => None,
            },
            _ => None,
        }
    }
}
