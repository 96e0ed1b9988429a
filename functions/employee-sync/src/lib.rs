//! The `employee-sync` function: one sync job per invocation from the sync queue (BatchSize 1)
//! → one sync run ([`common::app::SyncJobHandler`]); a batch from the webhook queue → one
//! targeted run per integration. A retryable failure reports the
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
        let mut failed = Vec::new();
        // Messages folded into one run share its result: its metrics are emitted once.
        let mut emitted = std::collections::BTreeSet::new();
        for result in results {
            if let Ok(SyncJobDone::Ran {
                run_id,
                observation,
                ..
            }) = &result.result
                && emitted.insert(run_id.clone())
            {
                self.metrics.emit(emf::run_observation_documents(
                    self.metrics.namespace(),
                    observation,
                    chrono::Utc::now(),
                ));
            }
            if result.retry {
                failed.push(result.message_id);
            }
        }
        Ok(batch_response(failed))
    }
}
