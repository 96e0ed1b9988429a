//! What the queue consumers (the `employee-sync` and `certificate-push` hosts) do with their
//! messages, independent of Lambda and SQS: [`sync`] runs one sync job, and
//! [`crate::certificates::queue`] pushes a batch of certificate jobs. Both reach an integration's
//! remote systems through a [`Connector`].

pub mod sync;

use crate::connect::ConnectError;
use crate::domain::integration::IntegrationRecord;
use crate::ports::{Credentials, CredentialsError, HrSource, LearningPlatform};
use async_trait::async_trait;
use std::sync::Arc;

/// One queue message as the consumers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    /// Never empty: hosts skip records without one (they could not be reported as failed).
    pub message_id: String,
    pub body: String,
    /// The FIFO message group (`None` on a standard queue): later messages of a group whose
    /// message failed are held back, so the group stays in order.
    pub group_id: Option<String>,
}

/// An integration's two remote systems, connected.
#[derive(Clone)]
pub struct Connected {
    pub hr: Arc<dyn HrSource>,
    pub lms: Arc<dyn LearningPlatform>,
}

/// Builds the adapters of an integration from its record. Production hosts use
/// [`CredentialsConnector`]; tests may connect to doubles.
#[async_trait]
pub trait Connector: Send + Sync {
    async fn connect(&self, record: &IntegrationRecord) -> Result<Connected, ConnectFailure>;
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("integration settings: {0}")]
    Settings(#[from] ConnectError),
}

impl ConnectFailure {
    /// Only an unreachable credential store can get better by itself; a missing or malformed
    /// secret and a bad URL need an admin.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Credentials(error) => error.is_retryable(),
            Self::Settings(_) => false,
        }
    }
}

/// Reads the integration's secrets and connects with [`crate::connect::connect`] (the Personio
/// client and the SCIM client), as every host does.
pub struct CredentialsConnector {
    credentials: Arc<dyn Credentials>,
}

impl CredentialsConnector {
    pub fn new(credentials: Arc<dyn Credentials>) -> Self {
        Self { credentials }
    }
}

#[async_trait]
impl Connector for CredentialsConnector {
    async fn connect(&self, record: &IntegrationRecord) -> Result<Connected, ConnectFailure> {
        let credentials = self.credentials.credentials(&record.id).await?;
        let adapters = crate::connect::connect(&record.personio, &record.lms, &credentials)?;
        Ok(Connected {
            hr: adapters.hr,
            lms: adapters.lms,
        })
    }
}
