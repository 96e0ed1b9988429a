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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;

    fn backoff(max_attempts: u32) -> Backoff {
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_attempts,
        }
    }

    async fn run(failures: Vec<StoreError>, max_attempts: u32) -> (Result<u32, StoreError>, u32) {
        let calls = Cell::new(0);
        let failures = std::cell::RefCell::new(failures.into_iter());
        let result = with_retries(
            &backoff(max_attempts),
            Deadline::after(Duration::from_secs(5)),
            "test",
            || {
                calls.set(calls.get() + 1);
                let next = failures.borrow_mut().next();
                async move { next.map_or(Ok(7), Err) }
            },
        )
        .await;
        (result, calls.get())
    }

    fn unavailable() -> StoreError {
        StoreError::Unavailable("throttled".into())
    }

    #[tokio::test]
    async fn an_unavailable_store_is_retried_until_it_answers() {
        let (result, calls) = run(vec![unavailable(), unavailable()], 5).await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let (result, calls) = run(vec![StoreError::Conflict("x".into())], 5).await;
        assert!(matches!(result, Err(StoreError::Conflict(_))));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn retries_end_with_the_attempts_or_the_deadline() {
        let (result, calls) = run(vec![unavailable(), unavailable(), unavailable()], 2).await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert_eq!(calls, 2);

        let calls = Cell::new(0);
        let slow = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(10),
            max_attempts: 10,
        };
        let result: Result<(), StoreError> = with_retries(
            &slow,
            Deadline::after(Duration::from_millis(20)),
            "test",
            || {
                calls.set(calls.get() + 1);
                async { Err(unavailable()) }
            },
        )
        .await;
        assert!(result.is_err());
        // Full jitter may pick a short wait once in a while; never anywhere near ten tries.
        assert!(calls.get() <= 3, "{}", calls.get());
    }
}
