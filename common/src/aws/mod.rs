//! The AWS adapters of the ports: DynamoDB state store, Secrets Manager credentials, SQS job
//! queue and SES notifier. Hosts build one `SdkConfig` ([`load_sdk_config`] in Lambda,
//! [`endpoint_sdk_config`] against a local endpoint such as DynamoDB Local or moto) and create each
//! service's client from it.

pub mod dynamodb;
#[cfg(feature = "lambda")]
pub mod host;
pub mod secrets;
pub mod ses;
pub mod sqs;
pub mod webhook_tokens;

pub use dynamodb::{DynamoStore, TableDefinition, table_definition};
pub use secrets::SecretsManagerCredentials;
pub use ses::SesNotifier;
pub use sqs::SqsJobQueue;
pub use webhook_tokens::SecretsManagerWebhookTokens;

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
        SdkError::ServiceError(context) => classify_service_error(
            context.raw().status().as_u16(),
            context.err().code(),
            context.err().message(),
        ),
        // Timeouts, dispatch and response failures: nothing the service decided.
        other => AwsFailure::Retryable(DisplayErrorContext(other).to_string()),
    }
}

/// The service answered with `status` and an error `code`: 5xx, 429 and the throttling codes
/// (which AWS sends with HTTP 400) are worth retrying, everything else is a refusal.
fn classify_service_error(status: u16, code: Option<&str>, message: Option<&str>) -> AwsFailure {
    let code = code.unwrap_or("Unknown").to_owned();
    let message = message.unwrap_or("no message").to_owned();
    if status >= 500 || status == 429 || THROTTLING_CODES.contains(&code.as_str()) {
        AwsFailure::Retryable(format!("{code} (HTTP {status}): {message}"))
    } else {
        AwsFailure::Refused { code, message }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retryable_and_the_rest_refused() {
        for (status, code) in [
            (400, "ProvisionedThroughputExceededException"),
            (400, "ThrottlingException"),
            (400, "TooManyRequestsException"),
            (429, "SlowDown"),
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
        ] {
            let failure = classify_service_error(status, Some(code), Some("slow down"));
            assert!(
                matches!(failure, AwsFailure::Retryable(_)),
                "{status} {code}"
            );
        }
        for (status, code) in [
            (400, "ConditionalCheckFailedException"),
            (400, "MessageRejected"),
            (400, "ResourceNotFoundException"),
            (400, "AWS.SimpleQueueService.NonExistentQueue"),
        ] {
            let failure = classify_service_error(status, Some(code), Some("no"));
            assert!(failure.is_code(code), "{status} {code}: {failure:?}");
        }
        let unknown = classify_service_error(403, None, None);
        assert_eq!(unknown.to_string(), "Unknown: no message");
    }
}
