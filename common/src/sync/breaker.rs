//! The run's circuit breaker for the learning platform. When the LMS refuses connections, times
//! out or rejects the token for several calls in a row, the problem is the system's, not any
//! employee's: the breaker opens, the run stops starting changes ([`RunStop`]), the calls still
//! made fail at once, and the run fails as a whole with that one error instead of one failure row
//! per employee.
//!
//! Personio needs no breaker of its own in a sync: its listing is one stream that fails the run on
//! its first error (after the client's bounded retries).
//!
//! [`BreakerLms`] wraps the run's `LearningPlatform`; `tracking` runs one change and tells
//! whether its last LMS call failed for a system reason, so that the run can tell a change that
//! failed because the LMS was down from one the LMS refused for its data.

use super::stop::{RunStop, StopReason, TRIP_AFTER};
use crate::domain::lms::{LmsGroup, LmsGroupId, LmsUser, LmsUserId};
use crate::domain::settings::AttributeMapping;
use crate::ports::{LearningPlatform, ListedUser, LmsError, LmsFeatures, MappingReport, UserWrite};
use async_trait::async_trait;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tracing::error;

/// What the breaker knows of the change being applied.
#[derive(Clone, Copy, Default)]
struct ChangeCalls {
    /// Its latest LMS call failed for a system reason.
    last_failed: bool,
    /// Its failures since its last answer are already counted.
    counted: bool,
}

tokio::task_local! {
    static CHANGE: Cell<ChangeCalls>;
}

/// Runs one change; also says whether its last LMS call failed for a system reason. The phased
/// apply runs each employee's own writes in one (bulk and group requests count one by one).
pub async fn tracking<F: Future>(change: F) -> (F::Output, bool) {
    CHANGE
        .scope(Cell::new(ChangeCalls::default()), async {
            let output = change.await;
            let failed = CHANGE.with(|calls| calls.get().last_failed);
            (output, failed)
        })
        .await
}

/// Notes a call's result for the change being applied; whether a system failure is new for the
/// breaker (calls outside any change always are).
fn note_call(failed: bool) -> bool {
    CHANGE
        .try_with(|calls| {
            let before = calls.get();
            calls.set(ChangeCalls {
                last_failed: failed,
                counted: failed,
            });
            !before.counted
        })
        .unwrap_or(true)
}

/// Whether the error is the system's (down, unreachable, the token refused, garbage answers, an
/// address or a redirect the network policy does not connect to) rather than an answer about
/// this request (not found, a duplicate, invalid data).
pub fn is_system_failure(error: &LmsError) -> bool {
    matches!(
        error,
        LmsError::Unauthorized { .. }
            | LmsError::Unavailable { .. }
            | LmsError::Malformed(_)
            | LmsError::Refused(_)
    )
}

/// Counts the run's LMS calls that failed for a system reason in a row; opens after
/// [`TRIP_AFTER`] and stops the run.
pub struct Breaker {
    failures_in_a_row: AtomicU32,
    stop: Arc<RunStop>,
}

impl Breaker {
    pub fn new(stop: Arc<RunStop>) -> Self {
        Self {
            failures_in_a_row: AtomicU32::new(0),
            stop,
        }
    }

    /// The run's error once the breaker is open.
    fn open_reason(&self) -> Option<String> {
        match self.stop.reason() {
            Some(StopReason::SystemDown(reason)) => Some(reason),
            _ => None,
        }
    }

    fn answered(&self) {
        self.failures_in_a_row.store(0, Ordering::SeqCst);
    }

    fn failed(&self, error: &LmsError) {
        let in_a_row = self.failures_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
        if in_a_row >= TRIP_AFTER && self.open_reason().is_none() {
            error!(%error, in_a_row, "the learning platform keeps failing; the run stops trying");
            self.stop.stop(StopReason::SystemDown(error.to_string()));
        }
    }

    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, LmsError>>,
    ) -> Result<T, LmsError> {
        if let Some(reason) = self.open_reason() {
            note_call(true);
            return Err(LmsError::Unavailable {
                reason: format!("not tried, the run stopped: {reason}"),
                attempts: 0,
            });
        }
        let result = call.await;
        match &result {
            Err(error) if is_system_failure(error) => {
                if note_call(true) {
                    self.failed(error);
                }
            }
            // An answer, even a refusal of this request, shows the system works.
            Ok(_) | Err(_) => {
                note_call(false);
                self.answered();
            }
        }
        result
    }
}

/// The run's LMS behind its breaker.
pub struct BreakerLms {
    inner: Arc<dyn LearningPlatform>,
    breaker: Breaker,
}

impl BreakerLms {
    pub fn new(inner: Arc<dyn LearningPlatform>, stop: Arc<RunStop>) -> Self {
        Self {
            inner,
            breaker: Breaker::new(stop),
        }
    }
}

#[async_trait]
impl LearningPlatform for BreakerLms {
    async fn features(&self) -> Result<LmsFeatures, LmsError> {
        self.breaker.call(self.inner.features()).await
    }

    async fn describe_mapping(
        &self,
        mapping: &AttributeMapping,
    ) -> Result<MappingReport, LmsError> {
        self.breaker
            .call(self.inner.describe_mapping(mapping))
            .await
    }

    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<LmsUser>, LmsError> {
        self.breaker
            .call(self.inner.find_user_by_external_id(external_id))
            .await
    }

    async fn find_user_by_id(&self, id: &LmsUserId) -> Result<Option<LmsUser>, LmsError> {
        self.breaker.call(self.inner.find_user_by_id(id)).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<LmsUser>, LmsError> {
        self.breaker
            .call(self.inner.find_user_by_email(email))
            .await
    }

    async fn list_users(
        &self,
        synced: Option<&AttributeMapping>,
    ) -> Result<Vec<ListedUser>, LmsError> {
        self.breaker.call(self.inner.list_users(synced)).await
    }

    async fn drift(
        &self,
        listed: &ListedUser,
        write: &UserWrite<'_>,
    ) -> Result<Vec<String>, LmsError> {
        self.breaker.call(self.inner.drift(listed, write)).await
    }

    async fn create_user(&self, write: &UserWrite<'_>) -> Result<LmsUser, LmsError> {
        self.breaker.call(self.inner.create_user(write)).await
    }

    async fn update_user(&self, id: &LmsUserId, write: &UserWrite<'_>) -> Result<(), LmsError> {
        self.breaker.call(self.inner.update_user(id, write)).await
    }

    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError> {
        self.breaker.call(self.inner.deactivate_user(id)).await
    }

    async fn write_batch(
        &self,
        writes: &[UserWrite<'_>],
    ) -> Result<Vec<Result<LmsUser, LmsError>>, LmsError> {
        self.breaker.call(self.inner.write_batch(writes)).await
    }

    async fn find_group(&self, name: &str) -> Result<Option<LmsGroup>, LmsError> {
        self.breaker.call(self.inner.find_group(name)).await
    }

    async fn list_groups(&self) -> Result<Option<Vec<LmsGroup>>, LmsError> {
        self.breaker.call(self.inner.list_groups()).await
    }

    fn request_counts(&self) -> crate::domain::run::RequestCounts {
        self.inner.request_counts()
    }

    async fn add_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.breaker
            .call(self.inner.add_group_members(group, users))
            .await
    }

    async fn remove_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.breaker
            .call(self.inner.remove_group_members(group, users))
            .await
    }

    async fn group_members(&self, group: &LmsGroupId) -> Result<BTreeSet<LmsUserId>, LmsError> {
        self.breaker.call(self.inner.group_members(group)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lms::memory::MemoryLms;
    use crate::retry::Deadline;
    use crate::sync::stop::CancelToken;

    fn refused() -> LmsError {
        LmsError::Unauthorized {
            status: 401,
            detail: "invalid token".into(),
        }
    }

    #[tokio::test]
    async fn three_system_failures_in_a_row_open_it_and_an_answer_resets_the_count() {
        let stop = Arc::new(RunStop::new(CancelToken::new(), Deadline::none()));
        let breaker = Breaker::new(stop.clone());
        for _ in 0..2 {
            let _ = breaker.call(async { Err::<(), _>(refused()) }).await;
        }
        let _ = breaker
            .call(async {
                Err::<(), _>(LmsError::NotFound {
                    what: "user".into(),
                })
            })
            .await;
        let _ = breaker.call(async { Err::<(), _>(refused()) }).await;
        assert!(!stop.is_stopping(), "a refusal of one request is an answer");
        let _ = breaker.call(async { Err::<(), _>(refused()) }).await;
        let _ = breaker.call(async { Err::<(), _>(refused()) }).await;
        assert_eq!(
            stop.reason(),
            Some(StopReason::SystemDown(
                "the learning platform rejected the token (HTTP 401): invalid token".into()
            ))
        );
        // Open: nothing more reaches the LMS.
        let lms = Arc::new(MemoryLms::new());
        let guarded = BreakerLms {
            inner: lms.clone(),
            breaker,
        };
        let error = guarded.find_group("Sales").await.expect_err("not tried");
        assert!(error.to_string().contains("not tried"), "{error}");
        assert_eq!(lms.read_counts(), Default::default());
    }

    #[tokio::test]
    async fn the_retries_of_one_change_count_once() {
        let stop = Arc::new(RunStop::new(CancelToken::new(), Deadline::none()));
        let breaker = Breaker::new(stop.clone());
        tracking(async {
            for _ in 0..5 {
                let _ = breaker.call(async { Err::<(), _>(refused()) }).await;
            }
        })
        .await;
        assert!(!stop.is_stopping());
        for _ in 0..2 {
            let _ = tracking(breaker.call(async { Err::<(), _>(refused()) })).await;
        }
        assert!(stop.is_stopping(), "three changes in a row");
    }

    #[tokio::test]
    async fn tracking_tells_a_system_failure_from_a_refusal() {
        let stop = Arc::new(RunStop::new(CancelToken::new(), Deadline::none()));
        let breaker = Breaker::new(stop);
        let (_, failed) = tracking(breaker.call(async { Err::<(), _>(refused()) })).await;
        assert!(failed);
        let (_, failed) = tracking(async {
            let _ = breaker.call(async { Err::<(), _>(refused()) }).await;
            breaker.call(async { Ok(()) }).await
        })
        .await;
        assert!(!failed, "the last call decides");
        let rejected = LmsError::Rejected {
            status: 400,
            detail: "bad email".into(),
        };
        let (_, failed) = tracking(breaker.call(async { Err::<(), _>(rejected) })).await;
        assert!(!failed);
        // The network policy refusing the LMS's address (or its redirect) refuses every call.
        let not_connected = LmsError::Refused("lms.example resolves to 10.0.0.5".into());
        let (_, failed) = tracking(breaker.call(async { Err::<(), _>(not_connected) })).await;
        assert!(failed);
    }
}
