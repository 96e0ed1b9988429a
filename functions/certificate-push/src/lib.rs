//! The `certificate-push` function: batches of up to 10 certificate jobs from the FIFO
//! certificate queue → Personio documents ([`common::certificates::queue::CertificateConsumer`]),
//! reporting partial batch failures (retryable outcomes, and what follows them in their message
//! group).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::aws::host::{
    AwsServices, HostError, batch_response, invocation_deadline, queue_messages, required_env,
};
use common::certificates::queue::CertificateConsumer;
use common::certificates::{FetchError, FetchLimits};
use common::jobs::CredentialsConnector;
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// Left of the invocation (a 120 s function) for recording outcomes and answering.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// What the function reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub secret_prefix: String,
}

impl Config {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            table_name: required_env("TABLE_NAME")?,
            secret_prefix: required_env("SECRET_PREFIX")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] HostError),
    #[error("cannot set up the PDF fetcher: {0}")]
    Fetcher(#[from] FetchError),
}

/// The handler with its adapters, built once per process.
pub struct CertificatePush {
    consumer: CertificateConsumer,
}

impl CertificatePush {
    pub fn new(config: &Config, services: &AwsServices) -> Result<Self, StartupError> {
        let store = Arc::new(services.state_store(&config.table_name, None));
        let credentials = Arc::new(services.credentials(&config.secret_prefix));
        let consumer = CertificateConsumer::new(
            store.clone(),
            store,
            Arc::new(CredentialsConnector::new(credentials)),
            FetchLimits::default(),
        )?;
        Ok(Self { consumer })
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, Diagnostic> {
        let (payload, context) = event.into_parts();
        let deadline = invocation_deadline(&context, DEADLINE_MARGIN);
        let span = tracing::info_span!("certificate_batch", request_id = %context.request_id);
        let batch = self
            .consumer
            .consume(queue_messages(payload), deadline)
            .instrument(span)
            .await;
        Ok(batch_response(batch.failed_message_ids()))
    }
}
