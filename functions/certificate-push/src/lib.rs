//! The `certificate-push` function: batches of up to 10 certificate jobs from the FIFO
//! certificate queue → Personio documents ([`common::app::CertificateConsumer`]),
//! reporting partial batch failures (retryable outcomes, and what follows them in their message
//! group).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::app::{CertificateConsumer, ConnectPolicy};
use common::aws::host::{
    AwsServices, IntegrationsConfig, StartupError, batch_response, invocation_deadline,
    queue_messages,
};
use common::certificates::FetchLimits;
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::time::Duration;
use tracing::Instrument as _;

/// Left of the invocation (a 120 s function) for recording outcomes and answering.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// The handler with its adapters, built once per process.
pub struct CertificatePush {
    consumer: CertificateConsumer,
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
