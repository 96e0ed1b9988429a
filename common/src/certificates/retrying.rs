//! The one retry loop of the certificate push, around the shared [`Backoff`]: for the PDF fetch
//! and the state store. Personio calls are not wrapped: the Personio client already retries them
//! within its rate budget, and a second loop around it would multiply the attempts.

use crate::ports::StoreError;
use crate::retry::{Backoff, Deadline};
use std::future::Future;

/// An error that knows whether a later attempt can succeed.
pub(crate) trait Retryable {
    fn is_retryable(&self) -> bool;
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        StoreError::is_retryable(self)
    }
}

/// Runs `attempt` until it succeeds, fails permanently, or the backoff's attempts or the deadline
/// are used up (then the last error is returned).
pub(crate) async fn with_retries<T, E, F, Fut>(
    backoff: &Backoff,
    deadline: Deadline,
    what: &str,
    mut attempt: F,
) -> Result<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut retry = 0;
    loop {
        match attempt().await {
            Err(error) if error.is_retryable() => match backoff.next_delay(retry, None, deadline) {
                Some(wait) => {
                    tracing::debug!(%error, retry, ?wait, "{what} failed, retrying");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                None => return Err(error),
            },
            other => return other,
        }
    }
}
