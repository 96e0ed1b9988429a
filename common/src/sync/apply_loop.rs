//! Applying the plan's changes with bounded concurrency, until all are done or the run stops.
//!
//! A stopping run ([`RunStop`]) starts no new change; the changes in flight get a short grace to
//! finish (their links are written as usual), and what is still busy after it is cut off. A change
//! that failed because a system was down (its last LMS call failed for a system reason) is no
//! failure of that employee when the run stopped: it is counted as not applied, with the other
//! changes the run did not get to, and the run's one error says why.

use super::SyncProgress;
use super::apply::ApplyContext;
use super::breaker::tracking;
use super::plan::PlannedChange;
use super::stop::{RunStop, StopReason};
use crate::domain::run::{EmployeeOutcome, OutcomeAction};
use futures::StreamExt;
use tokio::time::Instant;
use tracing::warn;

/// What applying the changes came to.
pub struct Applied {
    /// The outcomes to record (not those of changes failed by a system problem when the run
    /// stopped).
    pub outcomes: Vec<EmployeeOutcome>,
    /// Planned changes not applied: never started, cut off, or failed because a system was down.
    pub not_applied: u32,
    /// Changes still busy when the grace ran out were dropped mid-way.
    pub cut_off: bool,
    /// Why the run stopped before its changes were done, if it did.
    pub stopped: Option<StopReason>,
}

pub async fn apply_changes(
    context: &ApplyContext<'_>,
    changes: Vec<PlannedChange>,
    concurrency: usize,
    stop: &RunStop,
    progress: &dyn SyncProgress,
) -> Applied {
    let total = changes.len();
    progress.applied(0, total);
    let mut outcomes = Vec::with_capacity(total);
    let mut failed_by_system = Vec::new();
    let mut done = 0;
    let mut not_started = 0;
    let mut record = |result: (Option<EmployeeOutcome>, bool)| match result {
        (Some(outcome), failed_for_system) => {
            done += 1;
            progress.applied(done, total);
            if outcome.action == OutcomeAction::Failed && failed_for_system {
                failed_by_system.push(outcome);
            } else {
                outcomes.push(outcome);
            }
        }
        (None, _) => not_started += 1,
    };
    let mut results = futures::stream::iter(changes)
        .map(|change| tracking(context.apply(change)))
        .buffer_unordered(concurrency);
    let mut stopped_early = false;
    loop {
        tokio::select! {
            biased;
            next = results.next() => match next {
                Some(result) => record(result),
                None => break,
            },
            _ = stop.stopping() => {
                stopped_early = true;
                break;
            }
        }
    }
    let mut cut_off = false;
    if stopped_early {
        // Nothing new starts (`apply` checks the stop); the changes in flight may finish.
        let grace_ends = Instant::now() + stop.grace();
        loop {
            match tokio::time::timeout_at(grace_ends, results.next()).await {
                Ok(Some(result)) => record(result),
                Ok(None) => break,
                Err(_) => {
                    warn!("changes still in flight after the grace were cut off");
                    cut_off = true;
                    break;
                }
            }
        }
    }
    drop(results);
    // A stop between two changes is seen by the next one, which does not start.
    let stopped_early = stopped_early || not_started > 0;
    // A stop that came after every change was done leaves the run complete, unless it says that
    // a system failed (the breaker) or the lease was lost on the way.
    let stopped = stop.reason().filter(|reason| {
        stopped_early || matches!(reason, StopReason::SystemDown(_) | StopReason::LeaseLost)
    });
    if stopped.is_none() {
        outcomes.append(&mut failed_by_system);
    }
    let not_applied = (total - outcomes.len()) as u32;
    Applied {
        outcomes,
        not_applied,
        cut_off,
        stopped,
    }
}
