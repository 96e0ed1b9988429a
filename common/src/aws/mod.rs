//! The AWS adapters of the ports: DynamoDB state store, Secrets Manager credentials, SQS job
//! queue and SES notifier. Hosts build one `SdkConfig` ([`load_sdk_config`] in Lambda,
//! [`endpoint_sdk_config`] against a local endpoint such as DynamoDB Local or moto) and create each
//! service's client from it.

pub mod dynamodb;
pub mod secrets;
pub mod ses;
pub mod sqs;

pub use dynamodb::{DynamoStore, TableDefinition, table_definition};
pub use secrets::SecretsManagerCredentials;
pub use ses::SesNotifier;
pub use sqs::SqsJobQueue;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials as StaticCredentials;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The configuration a Lambda function runs with: region and credentials from its environment.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// A configuration that sends every request to `endpoint_url` (DynamoDB Local, moto, LocalStack)
/// with fixed dummy credentials: for local development and tests, never for real AWS.
pub async fn endpoint_sdk_config(endpoint_url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(StaticCredentials::new(
            "LOCALACCESSKEY",
            "localsecretkey",
            None,
            None,
            "local-endpoint",
        ))
        .load()
        .await
}

/// How a failed AWS call should be treated by the caller.
#[derive(Debug)]
pub(crate) enum AwsFailure {
    /// Throttling, a 5xx, a timeout or a transport failure: the same call can succeed later.
    Retryable(String),
    /// The service refused the request for good; `code` is its error code (e.g.
    /// `ConditionalCheckFailedException`, `MessageRejected`).
    Refused { code: String, message: String },
}

/// Error codes that mean "slow down" across the services we call (HTTP 400 with these codes is
/// still retryable, which the status alone would not tell).
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "LimitExceededException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalFailure",
    "InternalServiceError",
    "InternalErrorException",
    "ServiceUnavailable",
];

/// Sorts an SDK error into retryable or refused. The text kept is the service's code and message
/// (or the SDK's description of a transport failure), never request contents.
pub(crate) fn classify<E>(error: &SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let service_error = context.err();
            let code = service_error.code().unwrap_or("Unknown").to_owned();
            let message = service_error.message().unwrap_or("no message").to_owned();
            let status = context.raw().status().as_u16();
            if status >= 500 || status == 429 || THROTTLING_CODES.contains(&code.as_str()) {
                AwsFailure::Retryable(format!("{code} (HTTP {status}): {message}"))
            } else {
                AwsFailure::Refused { code, message }
            }
        }
        other => AwsFailure::Retryable(DisplayErrorContext(other).to_string()),
    }
}

impl AwsFailure {
    pub(crate) fn is_code(&self, wanted: &str) -> bool {
        matches!(self, Self::Refused { code, .. } if code == wanted)
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retryable(reason) => f.write_str(reason),
            Self::Refused { code, message } => write!(f, "{code}: {message}"),
        }
    }
}
