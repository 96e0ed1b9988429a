//! The `certificate-push` function: batches of up to 10 certificate jobs from the FIFO
//! certificate queue → Personio documents ([`common::app::CertificateConsumer`]),
//! reporting partial batch failures (retryable outcomes, and what follows them in their message
//! group). Each batch leaves its metrics as Embedded Metric Format lines, one per integration.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::app::{CertificateConsumer, ConnectPolicy};
use common::aws::host::{
    AwsServices, IntegrationsConfig, MetricsOutput, StartupError, batch_response,
    invocation_deadline, queue_messages,
};
use common::certificates::FetchLimits;
use common::metrics::emf::{self, CertificateSource};
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::time::Duration;
use tracing::Instrument as _;

/// Left of the invocation (a 120 s function) for recording outcomes and answering.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// The handler with its adapters, built once per process.
pub struct CertificatePush {
    consumer: CertificateConsumer,
    metrics: MetricsOutput,
}

impl CertificatePush {
    /// `policy` is what the integrations' connections may be (the deployed function passes
    /// [`ConnectPolicy::HOSTED`]).
    pub fn new(
        config: &IntegrationsConfig,
        services: &AwsServices,
        policy: ConnectPolicy,
    ) -> Result<Self, StartupError> {
        let (store, connector) = config.state_and_connector(services, policy);
        let consumer =
            CertificateConsumer::new(store.clone(), store, connector, FetchLimits::default())?;
        Ok(Self {
            consumer,
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
        let now = chrono::Utc::now();
        let namespace = self.metrics.namespace();
        let mut documents: Vec<_> = batch
            .figures
            .iter()
            .map(|(integration, figures)| {
                emf::certificate_document(
                    namespace,
                    integration,
                    figures,
                    batch.parked.get(integration),
                    CertificateSource::Queue,
                    now,
                )
            })
            .collect();
        if batch.dropped > 0 {
            documents.push(emf::dropped_certificates_document(
                namespace,
                batch.dropped,
                now,
            ));
        }
        self.metrics.emit(documents);
        Ok(batch_response(batch.failed_message_ids()))
    }
}
