//! The `scheduler` function: EventBridge Scheduler invokes it every minute; it claims the
//! integrations whose sync is due and enqueues one sync job each ([`common::app::schedule`]).
//! Each pass that could list the due integrations leaves an Embedded Metric Format line (its
//! absence is the "scheduler not running" alarm), and one per integration it handled with that
//! integration's health.

use common::app::schedule::{ScheduleError, ScheduleReport, enqueue_due_syncs};
use common::aws::host::{AwsServices, HostError, MetricsOutput, required_env};
use common::aws::{DynamoStore, SqsJobQueue};
use common::metrics::emf;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::Instrument as _;

/// What the function reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub sync_queue_url: String,
}

impl Config {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            table_name: required_env("TABLE_NAME")?,
            sync_queue_url: required_env("SYNC_QUEUE_URL")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// Every other integration was handled; the failed ones stay due for the next minute.
    #[error("{count} due integration(s) could not be scheduled, e.g. {first}")]
    Incomplete { count: usize, first: String },
}

impl From<SchedulerError> for Diagnostic {
    fn from(error: SchedulerError) -> Self {
        let error_type = match error {
            SchedulerError::Schedule(_) => "ScheduleListingFailed",
            SchedulerError::Incomplete { .. } => "ScheduleIncomplete",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

/// The handler with its adapters, built once per process.
pub struct Scheduler {
    store: DynamoStore,
    queue: SqsJobQueue,
    metrics: MetricsOutput,
}

impl Scheduler {
    pub fn new(config: &Config, services: &AwsServices) -> Self {
        Self {
            store: services.state_store(&config.table_name, None),
            queue: services.sync_queue(&config.sync_queue_url),
            metrics: MetricsOutput::stdout(common::metrics::names::DEFAULT_NAMESPACE),
        }
    }

    /// Where the metrics lines go (the deployed function: [`MetricsOutput::from_env`]).
    pub fn with_metrics(mut self, metrics: MetricsOutput) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &MetricsOutput {
        &self.metrics
    }

    /// The payload (EventBridge Scheduler's notification, or any JSON) carries nothing the
    /// scheduler needs: "due" is decided by the clock at invocation.
    pub async fn handle(
        &self,
        event: LambdaEvent<serde_json::Value>,
    ) -> Result<ScheduleReport, SchedulerError> {
        let span = tracing::info_span!("scheduler", request_id = %event.context.request_id);
        async {
            let now = chrono::Utc::now();
            let report = enqueue_due_syncs(&self.store, &self.queue, now).await?;
            let namespace = self.metrics.namespace();
            let mut documents = vec![emf::scheduler_document(namespace, &report.pass(), now)];
            documents.extend(report.health.iter().map(|seen| {
                emf::health_document(
                    namespace,
                    &seen.integration,
                    &seen.health,
                    seen.scheduled,
                    now,
                )
            }));
            self.metrics.emit(documents);
            match report.failed.first() {
                None => Ok(report),
                Some((integration, reason)) => Err(SchedulerError::Incomplete {
                    count: report.failed.len(),
                    first: format!("{integration}: {reason}"),
                }),
            }
        }
        .instrument(span)
        .await
    }
}
