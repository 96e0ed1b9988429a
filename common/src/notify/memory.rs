//! A notifier that keeps what it is given (and can be told to fail), for tests: compiled for this
//! crate's tests and, with the `test-support` feature, for other crates'.

use crate::ports::{Notifier, NotifyError, OutgoingEmail};
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryNotifier {
    sent: Mutex<Vec<OutgoingEmail>>,
    /// When set, every send fails with this (retryable) reason.
    failure: Mutex<Option<String>>,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Makes every following send fail (`Some`) or succeed again (`None`).
    pub fn fail_with(&self, reason: Option<&str>) {
        *self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = reason.map(str::to_owned);
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(reason) = failure {
            return Err(NotifyError::Unavailable(reason));
        }
        self.sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(email.clone());
        Ok(())
    }
}
