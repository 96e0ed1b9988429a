use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Sends email. The core composes every message (one place for the wording); adapters deliver.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the email to {to} was refused: {reason}")]
    Rejected { to: String, reason: String },
    #[error("the email service is unavailable: {0}")]
    Unavailable(String),
}

impl NotifyError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
