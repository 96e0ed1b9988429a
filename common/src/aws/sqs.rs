//! The job queues on SQS: a standard queue for sync jobs and a FIFO queue for certificate jobs
//! (message group = integration, so one integration's certificates are pushed in order and
//! integrations do not block each other; deduplication id = a hash of the job's content, so a
//! job submitted twice unchanged within SQS's five-minute window becomes one message, while a
//! corrected job for the same certificate is a message of its own — the certificate ledger
//! still makes either one document). Bodies are JSON.

use super::{AwsFailure, classify};
use crate::domain::IntegrationId;
use crate::domain::certificate::CertificateId;
use crate::domain::job::SyncJob;
use crate::ports::{JobQueue, QueueError};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use sha2::{Digest, Sha256};

/// SQS's limit for `MessageGroupId` and `MessageDeduplicationId`.
const FIFO_ID_MAX_LEN: usize = 128;

#[derive(Clone, Debug)]
pub struct SqsJobQueue {
    client: Client,
    sync_queue_url: String,
    /// `None` for hosts that only enqueue sync jobs (the scheduler).
    certificate_queue_url: Option<String>,
}

impl SqsJobQueue {
    /// `certificate_queue_url` must be a FIFO queue (`….fifo`).
    pub fn new(
        client: Client,
        sync_queue_url: impl Into<String>,
        certificate_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            sync_queue_url: sync_queue_url.into(),
            certificate_queue_url: Some(certificate_queue_url.into()),
        }
    }

    /// A queue for sync jobs only (the scheduler): enqueueing a certificate job is refused.
    pub fn for_sync_jobs(client: Client, sync_queue_url: impl Into<String>) -> Self {
        Self {
            client,
            sync_queue_url: sync_queue_url.into(),
            certificate_queue_url: None,
        }
    }
}

/// A FIFO group or deduplication id for `value`: the value itself when SQS accepts it (at most
/// 128 characters of ASCII letters, digits and punctuation), else `sha256-` and its hex digest,
/// so that equal values still map to equal ids.
pub fn fifo_id(value: &str) -> String {
    let acceptable = !value.is_empty()
        && value.len() <= FIFO_ID_MAX_LEN
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte.is_ascii_punctuation());
    if acceptable {
        value.to_owned()
    } else {
        format!("sha256-{}", hex::encode(Sha256::digest(value.as_bytes())))
    }
}

pub use crate::ports::content_dedup_id;

fn queue_error(queue: &str, failure: AwsFailure) -> QueueError {
    match failure {
        AwsFailure::Retryable(reason) => {
            QueueError::Unavailable(format!("SQS queue {queue}: {reason}"))
        }
        refused => QueueError::Rejected(format!("SQS queue {queue}: {refused}")),
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue_sync(&self, job: &SyncJob) -> Result<(), QueueError> {
        let body = serde_json::to_string(job)
            .map_err(|error| QueueError::Rejected(format!("sync job is not JSON: {error}")))?;
        let sent = self
            .client
            .send_message()
            .queue_url(&self.sync_queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|error| queue_error(&self.sync_queue_url, classify(&error)))?;
        tracing::info!(integration = %job.integration_id, message_id = sent.message_id().unwrap_or("-"), "enqueued sync job");
        Ok(())
    }

    async fn enqueue_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        job: &serde_json::Value,
    ) -> Result<(), QueueError> {
        let Some(queue_url) = &self.certificate_queue_url else {
            return Err(QueueError::Rejected(
                "this host was configured without a certificate queue".into(),
            ));
        };
        let sent = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(job.to_string())
            .message_group_id(fifo_id(integration.as_str()))
            .message_deduplication_id(content_dedup_id(job))
            .send()
            .await
            .map_err(|error| queue_error(queue_url, classify(&error)))?;
        tracing::info!(%integration, %certificate, message_id = sent.message_id().unwrap_or("-"), "enqueued certificate job");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_ids_pass_acceptable_values_and_hash_the_rest() {
        assert_eq!(fifo_id("cert-42_a:b/c"), "cert-42_a:b/c");
        let long = "c".repeat(129);
        let hashed = fifo_id(&long);
        assert!(
            hashed.starts_with("sha256-") && hashed.len() == 71,
            "{hashed}"
        );
        assert_eq!(
            fifo_id(&long),
            hashed,
            "stable, so deduplication still works"
        );
        assert_ne!(fifo_id(&"c".repeat(130)), hashed);
        for refused in ["zertifikat für jürgen", "with space", ""] {
            let id = fifo_id(refused);
            assert!(id.starts_with("sha256-"), "{refused:?} → {id}");
        }
        assert_eq!(fifo_id(&"c".repeat(128)), "c".repeat(128));
    }

    #[test]
    fn deduplication_ids_follow_the_content_not_the_certificate() {
        let job = serde_json::json!({"certificate_id": "c-1", "course_name": "Fire safety"});
        let same = serde_json::json!({"course_name": "Fire safety", "certificate_id": "c-1"});
        let corrected = serde_json::json!({"certificate_id": "c-1", "course_name": "Fire Safety"});
        assert_eq!(content_dedup_id(&job), content_dedup_id(&same));
        assert_ne!(content_dedup_id(&job), content_dedup_id(&corrected));
        let id = content_dedup_id(&job);
        assert!(id.len() <= FIFO_ID_MAX_LEN, "{id}");
        assert_eq!(fifo_id(&id), id, "SQS takes it as it is");
    }
}
