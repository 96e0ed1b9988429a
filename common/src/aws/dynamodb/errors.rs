//! DynamoDB failures as `StoreError`s (`docs/dynamodb.md`, "Errors"): a failed condition is a
//! conflict; throttling, 5xx, transport failures and refusals such as a missing table are
//! unavailability, named by operation and item.

use crate::aws::{AwsFailure, classify};
use crate::ports::StoreError;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};

/// The error code of a write whose `ConditionExpression` did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// Any SDK error of an operation on `item_key`: a failed condition is a conflict, the rest
/// (throttling, 5xx, transport, a missing table) is unavailability.
pub(super) fn sdk_error<E>(
    operation: &str,
    item_key: &str,
    error: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(&error) {
        failure if failure.is_code(CONDITION_FAILED) => {
            StoreError::Conflict(format!("{operation} {item_key}: the condition failed"))
        }
        failure => unavailable(operation, item_key, &failure),
    }
}

/// Whether a conditional write landed: `Ok(false)` when its condition failed (someone else
/// wrote first), an error for any other failure.
pub(super) fn condition_held<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    operation: &str,
    item_key: &str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) => match classify(&error) {
            failure if failure.is_code(CONDITION_FAILED) => Ok(false),
            failure => Err(unavailable(operation, item_key, &failure)),
        },
    }
}

fn unavailable(operation: &str, item_key: &str, failure: &AwsFailure) -> StoreError {
    StoreError::Unavailable(format!("DynamoDB {operation} {item_key}: {failure}"))
}

pub(super) fn invalid_request(error: BuildError) -> StoreError {
    StoreError::Unavailable(format!("invalid DynamoDB request: {error}"))
}
