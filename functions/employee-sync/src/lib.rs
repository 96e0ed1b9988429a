//! The `employee-sync` function: one sync job per invocation from the sync queue (BatchSize 1)
//! → one sync run ([`common::app::SyncJobHandler`]). A retryable failure reports the
//! message as failed (SQS delivers it again, then to the DLQ); everything else is acknowledged.
//! Each real run leaves its metrics as Embedded Metric Format lines (run, and the release of
//! parked certificates).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::app::{ConnectPolicy, SyncJobDone, SyncJobHandler};
use common::aws::host::{
    AwsServices, HostError, IntegrationsConfig, MetricsOutput, StartupError, batch_response,
    invocation_deadline, queue_messages, required_env,
};
use common::certificates::{FetchLimits, PdfFetcher};
use common::metrics::emf;
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
    metrics: MetricsOutput,
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
            PdfFetcher::new(FetchLimits::default(), policy.network())?,
        );
        Ok(Self {
            jobs,
            metrics: MetricsOutput::stdout(common::metrics::names::DEFAULT_NAMESPACE),
        })
    }

    /// Where the metrics lines go (the deployed function: [`MetricsOutput::from_env`]).
    pub fn with_metrics(mut self, metrics: MetricsOutput) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &MetricsOutput {
        &self.metrics
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
            match result {
                Ok(SyncJobDone::Ran { observation, .. }) => {
                    self.metrics.emit(emf::run_observation_documents(
                        self.metrics.namespace(),
                        &observation,
                        chrono::Utc::now(),
                    ))
                }
                Ok(SyncJobDone::LeaseHeld { .. }) => {}
                Err(error) if error.is_retryable() => failed.push(message.message_id),
                Err(_) => {}
            }
        }
        Ok(batch_response(failed))
    }
}
