//! What every Lambda host shares (feature `lambda`): reading its environment, building the AWS
//! adapters once per process, the invocation's deadline, the SQS batch plumbing and JSON logs.
//! Environment variables are read by name through [`required_env`]/[`optional_env`], in the
//! functions' own crates or in a `from_env` here ([`IntegrationsConfig`]), so that
//! `infra/check_template.py` can see which variables each function needs.

use super::{
    DynamoStore, SecretsManagerCredentials, SecretsManagerWebhookTokens, SesNotifier, SqsJobQueue,
    load_sdk_config,
};
use crate::app::connect::{ConnectPolicy, CredentialsConnector};
use crate::certificates::FetchError;
use crate::ports::QueueMessage;
use crate::retry::Deadline;
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use std::io::Write as _;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The SQS attribute naming a FIFO message's group.
const MESSAGE_GROUP_ID: &str = "MessageGroupId";

/// A host that cannot start: its configuration is incomplete.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    InvalidEnv { name: &'static str, reason: String },
}

/// A variable the host cannot do without; set but empty counts as missing.
pub fn required_env(name: &'static str) -> Result<String, HostError> {
    optional_env(name)?.ok_or(HostError::MissingEnv(name))
}

/// A variable with a default; unset or empty is `None`.
pub fn optional_env(name: &'static str) -> Result<Option<String>, HostError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(HostError::InvalidEnv {
            name,
            reason: "not valid UTF-8".into(),
        }),
    }
}

/// An optional variable parsed as `T` (e.g. a number of days); unset or empty is `None`.
pub fn optional_env_parsed<T>(name: &'static str) -> Result<Option<T>, HostError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    optional_env(name)?
        .map(|value| parse_env(name, &value))
        .transpose()
}

fn parse_env<T>(name: &'static str, value: &str) -> Result<T, HostError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|error: T::Err| HostError::InvalidEnv {
            name,
            reason: format!("{value:?}: {error}"),
        })
}

/// Where a host finds the integrations, as every function that works on them (`employee-sync`,
/// `certificate-push`, `admin-api`) reads it from its environment: their records and state, their
/// secrets, and how long run records are kept.
#[derive(Clone, Debug)]
pub struct IntegrationsConfig {
    /// `TABLE_NAME`: the state table.
    pub table_name: String,
    /// `SECRET_PREFIX`: integration secrets are named `{SECRET_PREFIX}{integration_id}`.
    pub secret_prefix: String,
    /// `RUN_RETENTION_DAYS`: how long run records are kept.
    pub run_retention_days: Option<u32>,
}

impl IntegrationsConfig {
    pub fn from_env() -> Result<Self, HostError> {
        Ok(Self {
            table_name: required_env("TABLE_NAME")?,
            secret_prefix: required_env("SECRET_PREFIX")?,
            run_retention_days: optional_env_parsed("RUN_RETENTION_DAYS")?,
        })
    }

    /// The state store (integration records included).
    pub fn state_store(&self, services: &AwsServices) -> Arc<DynamoStore> {
        Arc::new(services.state_store(&self.table_name, self.run_retention_days))
    }

    /// The integrations' secrets.
    pub fn credentials(&self, services: &AwsServices) -> Arc<SecretsManagerCredentials> {
        Arc::new(services.credentials(&self.secret_prefix))
    }

    /// The state store, and the connector that reads an integration's secrets and connects it
    /// under `policy`: what a queue consumer needs.
    pub fn state_and_connector(
        &self,
        services: &AwsServices,
        policy: ConnectPolicy,
    ) -> (Arc<DynamoStore>, Arc<CredentialsConnector>) {
        let connector = CredentialsConnector::new(self.credentials(services), policy);
        (self.state_store(services), Arc::new(connector))
    }
}

/// Why a queue consumer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] HostError),
    #[error("cannot set up the PDF fetcher: {0}")]
    Fetcher(#[from] FetchError),
}

/// The SDK configuration of each AWS service a host uses. In Lambda all are the same (region
/// and credentials from the environment); tests send DynamoDB to DynamoDB Local and the rest to
/// moto.
#[derive(Clone, Debug)]
pub struct AwsServices {
    pub dynamodb: SdkConfig,
    pub sqs: SdkConfig,
    pub secrets_manager: SdkConfig,
    pub ses: SdkConfig,
}

impl AwsServices {
    pub fn uniform(config: SdkConfig) -> Self {
        Self {
            dynamodb: config.clone(),
            sqs: config.clone(),
            secrets_manager: config.clone(),
            ses: config,
        }
    }

    /// The Lambda environment's configuration. Reads no network: credentials resolve lazily.
    pub async fn from_environment() -> Self {
        Self::uniform(load_sdk_config().await)
    }

    /// The state table, with the run retention when the host sets one.
    pub fn state_store(&self, table_name: &str, run_retention_days: Option<u32>) -> DynamoStore {
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.dynamodb), table_name);
        match run_retention_days {
            Some(days) => store.with_run_retention(chrono::Duration::days(i64::from(days))),
            None => store,
        }
    }

    /// Credentials in the secret `{secret_prefix}{integration_id}`.
    pub fn credentials(&self, secret_prefix: &str) -> SecretsManagerCredentials {
        SecretsManagerCredentials::new(aws_sdk_secretsmanager::Client::new(&self.secrets_manager))
            .with_name_pattern(format!("{secret_prefix}{{integration_id}}"))
    }

    /// Webhook tokens next to the credentials in `{secret_prefix}{integration_id}`.
    pub fn webhook_tokens(&self, secret_prefix: &str) -> SecretsManagerWebhookTokens {
        SecretsManagerWebhookTokens::new(
            aws_sdk_secretsmanager::Client::new(&self.secrets_manager),
            format!("{secret_prefix}{{integration_id}}"),
        )
    }

    /// The sync queue alone (the scheduler).
    pub fn sync_queue(&self, sync_queue_url: &str) -> SqsJobQueue {
        SqsJobQueue::for_sync_jobs(aws_sdk_sqs::Client::new(&self.sqs), sync_queue_url)
    }

    /// Both job queues (the admin API).
    pub fn job_queues(&self, sync_queue_url: &str, certificate_queue_url: &str) -> SqsJobQueue {
        SqsJobQueue::new(
            aws_sdk_sqs::Client::new(&self.sqs),
            sync_queue_url,
            certificate_queue_url,
        )
    }

    pub fn notifier(&self, from_address: &str) -> SesNotifier {
        SesNotifier::new(aws_sdk_sesv2::Client::new(&self.ses), from_address)
    }
}

/// The invocation's deadline minus `margin`: the time a handler leaves itself to record its
/// results and answer before Lambda ends the invocation.
pub fn invocation_deadline(context: &lambda_runtime::Context, margin: Duration) -> Deadline {
    let ends = UNIX_EPOCH + Duration::from_millis(context.deadline);
    let remaining = ends
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Deadline::after(remaining.saturating_sub(margin))
}

/// The event's records as queue messages. A record without a message id cannot be reported as
/// failed (an empty item identifier fails the whole batch), so it is logged and skipped; SQS
/// always sends one, so only a hand-made event lacks it.
pub fn queue_messages(event: SqsEvent) -> Vec<QueueMessage> {
    event
        .records
        .into_iter()
        .enumerate()
        .filter_map(|(index, record)| {
            let Some(message_id) = record.message_id.filter(|id| !id.trim().is_empty()) else {
                tracing::error!(
                    record = index,
                    "SQS record without a message id skipped: it could not be reported as failed"
                );
                return None;
            };
            Some(QueueMessage {
                message_id,
                body: record.body.unwrap_or_default(),
                group_id: record.attributes.get(MESSAGE_GROUP_ID).cloned(),
            })
        })
        .collect()
}

/// The partial batch response reporting `failed` message ids (never an empty one).
pub fn batch_response(failed: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed.into_iter().filter(|id| !id.is_empty()));
    response
}

/// Where a host's metrics go: Embedded Metric Format lines on stdout, from which CloudWatch
/// Logs extracts the metrics (`crate::metrics::emf`), under the stack's namespace. Tests keep
/// the lines in memory instead.
#[derive(Clone)]
pub struct MetricsOutput {
    namespace: String,
    captured: Option<Arc<Mutex<Vec<String>>>>,
}

impl std::fmt::Debug for MetricsOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsOutput")
            .field("namespace", &self.namespace)
            .field("captured", &self.captured.is_some())
            .finish()
    }
}

impl MetricsOutput {
    /// `METRICS_NAMESPACE` (the template sets one per stack), or the default namespace.
    pub fn from_env() -> Result<Self, HostError> {
        let namespace = optional_env("METRICS_NAMESPACE")?
            .unwrap_or_else(|| crate::metrics::names::DEFAULT_NAMESPACE.to_owned());
        Ok(Self::stdout(namespace))
    }

    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            captured: None,
        }
    }

    /// Keeps the lines in memory (for tests): read them with [`Self::captured_lines`].
    pub fn captured(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            captured: Some(Arc::default()),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The lines emitted so far by a [`Self::captured`] output (empty for stdout).
    pub fn captured_lines(&self) -> Vec<String> {
        self.captured
            .as_ref()
            .map(|lines| lines.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .unwrap_or_default()
    }

    /// Writes each document as one line. A line must reach the log whole, so each is written
    /// under the stdout lock; a failed write is only logged (metrics never fail the work).
    pub fn emit(&self, documents: impl IntoIterator<Item = serde_json::Value>) {
        for document in documents {
            let line = crate::metrics::emf::line(&document);
            match &self.captured {
                Some(lines) => lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line),
                None => {
                    let mut stdout = std::io::stdout().lock();
                    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                        tracing::warn!(%error, "a metrics line could not be written");
                    }
                }
            }
        }
    }
}

/// JSON log lines (Lambda's `LogFormat: JSON`) at the level of `AWS_LAMBDA_LOG_LEVEL` or
/// `RUST_LOG`, with the current span's fields (integration, run, message id) on every line.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
