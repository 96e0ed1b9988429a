//! The `employee-sync` function: one sync job per invocation from the sync queue (BatchSize 1)
//! → one sync run ([`common::app::SyncJobHandler`]); a batch from the webhook queue → one
//! targeted run per integration. A retryable failure reports the
//! message as failed (SQS delivers it again, then to the DLQ); everything else is acknowledged.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::app::{ConnectPolicy, SyncJobHandler};
use common::aws::host::{
    AwsServices, HostError, IntegrationsConfig, StartupError, batch_response, invocation_deadline,
    queue_messages, required_env,
};
use common::certificates::{FetchLimits, PdfFetcher};
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// Left of the invocation for recording the run and releasing the lease: the run's deadline is
/// this much before Lambda's (a 900 s function).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

/// What the function reads from its environment: what every queue consumer reads, and the
/// sender of the run summaries and invitations.
#[derive(Clone, Debug)]
pub struct Config {
    pub integrations: IntegrationsConfig,
    /// `SES_FROM_ADDRESS`: a verified SES identity.
    pub ses_from_address: String,
}

impl Config {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            integrations: IntegrationsConfig::from_env()?,
            ses_from_address: required_env("SES_FROM_ADDRESS")?,
        })
    }
}

/// The handler with its adapters, built once per process.
pub struct EmployeeSync {
    jobs: SyncJobHandler,
}

impl EmployeeSync {
    /// `policy` is what the integrations' connections may be (the deployed function passes
    /// [`ConnectPolicy::HOSTED`]).
    pub fn new(
        config: &Config,
        services: &AwsServices,
        policy: ConnectPolicy,
    ) -> Result<Self, StartupError> {
        let (store, connector) = config.integrations.state_and_connector(services, policy);
        let jobs = SyncJobHandler::new(
            store.clone(),
            store,
            connector,
            Arc::new(services.notifier(&config.ses_from_address)),
            PdfFetcher::new(FetchLimits::default())?,
        );
        Ok(Self { jobs })
    }

    /// Runs the jobs of the event: one from the sync queue (BatchSize 1), up to a batch from
    /// the webhook queue, whose jobs naming employees of one integration are folded into one
    /// targeted run (`common::app::job_batch`). Reports the messages to deliver again.
    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, Diagnostic> {
        let (payload, context) = event.into_parts();
        let deadline = invocation_deadline(&context, DEADLINE_MARGIN);
        let messages = queue_messages(payload);
        let span = tracing::info_span!(
            "sqs_batch",
            request_id = %context.request_id,
            messages = messages.len(),
        );
        let results = self
            .jobs
            .handle_batch(&messages, deadline, &context.request_id)
            .instrument(span)
            .await;
        let failed: Vec<String> = results
            .into_iter()
            .filter(|result| result.retry)
            .map(|result| result.message_id)
            .collect();
        Ok(batch_response(failed))
    }
}
