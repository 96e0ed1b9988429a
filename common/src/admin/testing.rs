//! In-memory adapters for the admin API's tests: a job queue that records what it is given and a
//! credential store that keeps secrets in a map.

use crate::domain::IntegrationId;
use crate::domain::certificate::CertificateId;
use crate::domain::job::SyncJob;
use crate::ports::{
    Credentials, CredentialsError, CredentialsStore, IntegrationCredentials, JobQueue, QueueError,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records the jobs it is given; can be told to be unavailable.
#[derive(Default)]
pub struct RecordingJobQueue {
    sync_jobs: Mutex<Vec<SyncJob>>,
    certificate_jobs: Mutex<Vec<(IntegrationId, CertificateId, serde_json::Value)>>,
    unavailable: Mutex<Option<String>>,
}

impl RecordingJobQueue {
    pub fn sync_jobs(&self) -> Vec<SyncJob> {
        lock(&self.sync_jobs).clone()
    }

    pub fn certificate_jobs(&self) -> Vec<(IntegrationId, CertificateId, serde_json::Value)> {
        lock(&self.certificate_jobs).clone()
    }

    /// Makes every following enqueue fail retryably (`Some`) or succeed again (`None`).
    pub fn set_unavailable(&self, reason: Option<&str>) {
        *lock(&self.unavailable) = reason.map(str::to_owned);
    }

    fn check_available(&self) -> Result<(), QueueError> {
        match lock(&self.unavailable).as_ref() {
            Some(reason) => Err(QueueError::Unavailable(reason.clone())),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl JobQueue for RecordingJobQueue {
    async fn enqueue_sync(&self, job: &SyncJob) -> Result<(), QueueError> {
        self.check_available()?;
        lock(&self.sync_jobs).push(job.clone());
        Ok(())
    }

    async fn enqueue_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        job: &serde_json::Value,
    ) -> Result<(), QueueError> {
        self.check_available()?;
        lock(&self.certificate_jobs).push((integration.clone(), certificate.clone(), job.clone()));
        Ok(())
    }
}

/// Credentials in a map; the reference it hands out is `memory:{integration_id}`.
#[derive(Default)]
pub struct MemoryCredentials {
    stored: Mutex<HashMap<IntegrationId, IntegrationCredentials>>,
}

impl MemoryCredentials {
    pub fn stored(&self, integration: &IntegrationId) -> Option<IntegrationCredentials> {
        lock(&self.stored).get(integration).cloned()
    }

    /// How many integrations have credentials.
    pub fn stored_count(&self) -> usize {
        lock(&self.stored).len()
    }
}

#[async_trait]
impl Credentials for MemoryCredentials {
    async fn credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<IntegrationCredentials, CredentialsError> {
        self.stored(integration)
            .ok_or_else(|| CredentialsError::Missing(integration.clone()))
    }
}

#[async_trait]
impl CredentialsStore for MemoryCredentials {
    async fn put_credentials(
        &self,
        integration: &IntegrationId,
        credentials: &IntegrationCredentials,
    ) -> Result<String, CredentialsError> {
        lock(&self.stored).insert(integration.clone(), credentials.clone());
        Ok(format!("memory:{integration}"))
    }

    async fn delete_credentials(
        &self,
        integration: &IntegrationId,
    ) -> Result<(), CredentialsError> {
        lock(&self.stored).remove(integration);
        Ok(())
    }
}
