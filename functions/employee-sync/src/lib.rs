//! The `employee-sync` function: one sync job per invocation from the sync queue (BatchSize 1)
//! → one sync run ([`common::jobs::sync::SyncJobHandler`]). A retryable failure reports the
//! message as failed (SQS delivers it again, then to the DLQ); everything else is acknowledged.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::aws::host::{
    AwsServices, HostError, batch_response, invocation_deadline, optional_env_parsed,
    queue_messages, required_env,
};
use common::certificates::{FetchError, FetchLimits, PdfFetcher};
use common::jobs::CredentialsConnector;
use common::jobs::sync::SyncJobHandler;
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// Left of the invocation for recording the run and releasing the lease: the run's deadline is
/// this much before Lambda's (a 900 s function).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

/// What the function reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub secret_prefix: String,
    pub ses_from_address: String,
    pub run_retention_days: Option<u32>,
}

impl Config {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            table_name: required_env("TABLE_NAME")?,
            secret_prefix: required_env("SECRET_PREFIX")?,
            ses_from_address: required_env("SES_FROM_ADDRESS")?,
            run_retention_days: optional_env_parsed("RUN_RETENTION_DAYS")?,
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
pub struct EmployeeSync {
    jobs: SyncJobHandler,
}

impl EmployeeSync {
    pub fn new(config: &Config, services: &AwsServices) -> Result<Self, StartupError> {
        let store = Arc::new(services.state_store(&config.table_name, config.run_retention_days));
        let credentials = Arc::new(services.credentials(&config.secret_prefix));
        let jobs = SyncJobHandler::new(
            store.clone(),
            store,
            Arc::new(CredentialsConnector::new(credentials)),
            Arc::new(services.notifier(&config.ses_from_address)),
            PdfFetcher::new(FetchLimits::default())?,
        );
        Ok(Self { jobs })
    }

    /// Runs each job of the event (one, with BatchSize 1) and reports the retryable failures.
    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, Diagnostic> {
        let (payload, context) = event.into_parts();
        let deadline = invocation_deadline(&context, DEADLINE_MARGIN);
        let mut failed = Vec::new();
        for message in queue_messages(payload) {
            let span = tracing::info_span!(
                "sqs_message",
                request_id = %context.request_id,
                message_id = %message.message_id,
            );
            let result = self
                .jobs
                .handle(&message.body, deadline, &context.request_id)
                .instrument(span)
                .await;
            if let Err(error) = result
                && error.is_retryable()
            {
                failed.push(message.message_id);
            }
        }
        Ok(batch_response(failed))
    }
}
