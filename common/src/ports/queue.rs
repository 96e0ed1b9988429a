use crate::domain::IntegrationId;
use crate::domain::certificate::CertificateId;
use crate::domain::job::SyncJob;
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// The deduplication id of a certificate job, the same in every queue (SQS FIFO, the SQLite
/// queue of `serve`): `sha256-` and the hex digest of its JSON (object keys sorted:
/// `serde_json::Value`'s maps are ordered), so that an identical redelivery is dropped and a
/// corrected one is not (the ledger still makes it one document).
pub fn content_dedup_id(job: &serde_json::Value) -> String {
    format!(
        "sha256-{}",
        hex::encode(Sha256::digest(job.to_string().as_bytes()))
    )
}

/// The job queues: sync jobs, and certificate jobs (FIFO per integration, deduplicated by the
/// job's content, so a job submitted twice unchanged in the dedup window is one message and a
/// corrected one is not dropped).
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue_sync(&self, job: &SyncJob) -> Result<(), QueueError>;

    /// `job` is the certificate job document as submitted (its schema belongs to the
    /// certificate push); the queue only needs its integration and certificate id.
    async fn enqueue_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        job: &serde_json::Value,
    ) -> Result<(), QueueError>;
}

/// One message as a queue consumer receives it (the hosts turn SQS records into these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    /// Never empty: hosts skip records without one (they could not be reported as failed).
    pub message_id: String,
    pub body: String,
    /// The FIFO message group (`None` on a standard queue): later messages of a group whose
    /// message failed are held back, so the group stays in order.
    pub group_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the job was refused by the queue: {0}")]
    Rejected(String),
    #[error("the job queue is unavailable: {0}")]
    Unavailable(String),
}

impl QueueError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
