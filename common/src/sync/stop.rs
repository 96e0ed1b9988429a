//! Stopping a run early and cleanly: asked from outside (Ctrl-C, SIGTERM, a closed output), or
//! by the run itself (its time is up, a system is down, the lease was lost). A stopping run starts
//! no new change, gives the changes in flight a short grace to finish, records what it did and
//! releases the lease; the next run plans the rest again.

use crate::domain::run::RunStatus;
use crate::retry::{Deadline, human_duration};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Changes in a row (across the run's concurrent changes) whose LMS calls failed for a system
/// reason that open the LMS breaker (`sync::breaker`) and stop the run. Each such call already
/// outlasted the client's own retries; the engine's retries of one change count once, so that
/// one employee's trouble never opens it.
pub const TRIP_AFTER: u32 = 3;

/// How long the changes in flight get to finish once a run stops. Their LMS writes are short
/// calls; a change still busy after this is cut off (the next run finds its user by Personio id
/// or email, so nothing is created twice).
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(5);

/// Why a host asks a run to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopRequest {
    /// Ctrl-C (SIGINT).
    Interrupted,
    /// SIGTERM: `kill`, a service manager, a container stop.
    Terminated,
    /// The output the run reports to was closed (`personio-lms sync | head -1`).
    OutputClosed,
}

impl StopRequest {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Interrupted => "interrupted (Ctrl-C)",
            Self::Terminated => "stopped by SIGTERM",
            Self::OutputClosed => "stopped because its output was closed",
        }
    }
}

/// A host's handle to stop a run cleanly (a signal handler keeps a clone). Clones share one
/// state; the first request wins.
#[derive(Clone, Debug)]
pub struct CancelToken(Arc<watch::Sender<Option<StopRequest>>>);

impl Default for CancelToken {
    fn default() -> Self {
        Self(Arc::new(watch::channel(None).0))
    }
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop; `false` when it was asked before (the first reason stays).
    pub fn cancel(&self, request: StopRequest) -> bool {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(request);
            true
        })
    }

    pub fn requested(&self) -> Option<StopRequest> {
        *self.0.borrow()
    }

    /// Resolves once a stop is requested.
    pub async fn cancelled(&self) -> StopRequest {
        let mut receiver = self.0.subscribe();
        let requested = receiver
            .wait_for(Option::is_some)
            .await
            .map(|request| *request);
        match requested {
            Ok(Some(request)) => request,
            // The sender lives in `self`, so the channel cannot close while this waits.
            _ => std::future::pending().await,
        }
    }
}

/// Why a run stops early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The host asked (a signal, a closed output).
    Requested(StopRequest),
    /// The run's time is up; says which limit (its deadline, or the time sized to its work).
    OutOfTime(String),
    /// A system is down or refuses the credentials (the breaker's one error for the run).
    SystemDown(String),
    /// Another run took the lease.
    LeaseLost,
}

impl StopReason {
    /// A run stopped from outside (or by its clock) is aborted; one that could not go on failed.
    pub fn status(&self) -> RunStatus {
        match self {
            Self::Requested(_) | Self::OutOfTime(_) => RunStatus::Aborted,
            Self::SystemDown(_) | Self::LeaseLost => RunStatus::Failed,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Requested(request) => format!("the run was {}", request.describe()),
            Self::OutOfTime(what) => what.clone(),
            Self::SystemDown(problem) => problem.clone(),
            Self::LeaseLost => {
                "the run lost its lease (another run may have taken over)".to_owned()
            }
        }
    }

    /// The run's one error when it stopped while applying `planned` changes, `not_applied` of
    /// them left: why, and how far it got.
    pub fn error_after(&self, planned: usize, not_applied: u32) -> String {
        let done = planned.saturating_sub(not_applied as usize);
        let progress = format!(
            "{done} of {planned} planned changes applied, {not_applied} left for the next run"
        );
        match self {
            Self::SystemDown(problem) => format!(
                "{problem}; the run stopped trying after {TRIP_AFTER} failed calls in a row: \
                 {progress}"
            ),
            other => format!("{}: {progress}", other.describe()),
        }
    }
}

/// `deadline` as a time of day (from `now`), unless it means "no deadline".
pub fn wall_clock(now: DateTime<Utc>, deadline: Deadline) -> Option<DateTime<Utc>> {
    let remaining = deadline.remaining();
    if remaining > Duration::from_secs(30 * 24 * 60 * 60) {
        return None;
    }
    chrono::Duration::from_std(remaining)
        .ok()
        .and_then(|left| now.checked_add_signed(left))
}

/// A limit in time and what it is, for the run's error.
#[derive(Clone, Debug)]
struct TimeLimit {
    stop_at: Instant,
    what: String,
}

/// One run's stop state: the host's token, the run's own reasons, and when its time is up.
pub struct RunStop {
    cancel: CancelToken,
    reason: watch::Sender<Option<StopReason>>,
    limit: Mutex<TimeLimit>,
    /// The hard end: every call ends by then, so the grace for changes in flight ends there too.
    #[cfg_attr(not(test), allow(dead_code))]
    deadline: Deadline,
}

impl RunStop {
    /// A run that stops when `cancel` asks, or a little before `deadline` (a tenth of the time
    /// it has, at most [`IN_FLIGHT_GRACE`]), so that the changes in flight can finish by it.
    pub fn new(cancel: CancelToken, deadline: Deadline) -> Self {
        let lead = (deadline.remaining() / 10).min(IN_FLIGHT_GRACE);
        let limit = TimeLimit {
            stop_at: deadline.instant() - lead,
            what: format!(
                "the run reached its deadline ({} after it started)",
                human_duration(deadline.remaining())
            ),
        };
        Self {
            cancel,
            reason: watch::channel(None).0,
            limit: Mutex::new(limit),
            deadline,
        }
    }

    /// Brings the time limit forward to `stop_at` (never back), described as `what`.
    pub fn limit_to(&self, stop_at: Instant, what: String) {
        let mut limit = self.limit.lock().unwrap_or_else(|p| p.into_inner());
        if stop_at < limit.stop_at {
            *limit = TimeLimit { stop_at, what };
        }
    }

    fn limit(&self) -> TimeLimit {
        self.limit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the run for `reason`, unless it already stops (the first reason stays).
    pub fn stop(&self, reason: StopReason) {
        self.reason.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// Why the run stops, if it does: its own reasons, the host's request, the clock.
    pub fn reason(&self) -> Option<StopReason> {
        if let Some(reason) = self.reason.borrow().clone() {
            return Some(reason);
        }
        if let Some(request) = self.cancel.requested() {
            self.stop(StopReason::Requested(request));
        } else {
            let limit = self.limit();
            if Instant::now() >= limit.stop_at {
                self.stop(StopReason::OutOfTime(limit.what));
            }
        }
        self.reason.borrow().clone()
    }

    pub fn is_stopping(&self) -> bool {
        self.reason().is_some()
    }

    /// Resolves once the run is to stop, with the reason.
    pub async fn stopping(&self) -> StopReason {
        let mut own = self.reason.subscribe();
        let limit = self.limit();
        tokio::select! {
            request = self.cancel.cancelled() => self.stop(StopReason::Requested(request)),
            () = tokio::time::sleep_until(limit.stop_at) => self.stop(StopReason::OutOfTime(limit.what)),
            _ = async { own.wait_for(Option::is_some).await.map(|_| ()) } => {}
        }
        self.reason()
            .unwrap_or(StopReason::Requested(StopRequest::Interrupted))
    }

    /// How long the changes in flight may still take once the run stops.
    #[cfg(test)]
    pub fn grace(&self) -> Duration {
        IN_FLIGHT_GRACE.min(self.deadline.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_request_wins_and_wakes_the_waiter() {
        let token = CancelToken::new();
        let waiter = tokio::spawn({
            let token = token.clone();
            async move { token.cancelled().await }
        });
        assert!(token.cancel(StopRequest::Terminated));
        assert!(!token.cancel(StopRequest::Interrupted));
        assert_eq!(waiter.await.expect("joined"), StopRequest::Terminated);
        assert_eq!(token.requested(), Some(StopRequest::Terminated));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_stops_a_little_before_its_deadline() {
        let stop = RunStop::new(
            CancelToken::new(),
            Deadline::after(Duration::from_secs(100)),
        );
        assert!(!stop.is_stopping());
        let reason = stop.stopping().await;
        assert!(matches!(&reason, StopReason::OutOfTime(what) if what.contains("deadline")));
        // Five seconds (the grace) were left for the changes in flight.
        assert_eq!(stop.grace(), IN_FLIGHT_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_is_only_ever_brought_forward_and_the_first_reason_stays() {
        let stop = RunStop::new(
            CancelToken::new(),
            Deadline::after(Duration::from_secs(100)),
        );
        stop.limit_to(Instant::now() + Duration::from_secs(500), "later".into());
        stop.limit_to(Instant::now() + Duration::from_secs(10), "sized".into());
        assert_eq!(stop.stopping().await, StopReason::OutOfTime("sized".into()));
        stop.stop(StopReason::LeaseLost);
        assert_eq!(stop.reason(), Some(StopReason::OutOfTime("sized".into())));
    }

    #[tokio::test]
    async fn a_host_request_and_an_own_reason_both_end_the_wait() {
        let token = CancelToken::new();
        let stop = RunStop::new(token.clone(), Deadline::none());
        token.cancel(StopRequest::OutputClosed);
        assert_eq!(
            stop.stopping().await,
            StopReason::Requested(StopRequest::OutputClosed)
        );
        let stop = RunStop::new(CancelToken::new(), Deadline::none());
        stop.stop(StopReason::SystemDown("down".into()));
        assert_eq!(stop.stopping().await, StopReason::SystemDown("down".into()));
    }
}
