//! What applying a plan came to when the run may have been stopped on the way.
//!
//! A stopping run ([`RunStop`]) starts no new LMS write: the phases of `sync::apply` check the
//! stop before each write and mark what they did not start as not applied. Those changes, and the
//! changes that failed while the LMS was down (the breaker opened), are no failure of their
//! employees: they are counted as not applied, the next run plans them again, and the run's one
//! error says why.

use super::stop::{RunStop, StopReason};
use crate::domain::run::{EmployeeOutcome, OutcomeAction};

/// The reason `sync::apply` gives a change it did not start because the run was stopping.
pub(super) const NOT_APPLIED: &str = "not applied";

/// What applying the changes came to.
pub struct Applied {
    /// The outcomes to record (not those of changes the run did not get to).
    pub outcomes: Vec<EmployeeOutcome>,
    /// Planned changes not applied: never started, or failed because a system was down.
    pub not_applied: u32,
    /// Why the run stopped before its changes were done, if it did.
    pub stopped: Option<StopReason>,
}

impl Applied {
    /// Sorts `outcomes` (one per planned change) by what the stop means for them.
    pub fn settle(outcomes: Vec<EmployeeOutcome>, stop: &RunStop) -> Self {
        let reason = stop.reason();
        let system_down = matches!(reason, Some(StopReason::SystemDown(_)));
        let total = outcomes.len();
        let (outcomes, dropped): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|outcome| {
            let failed = outcome.action == OutcomeAction::Failed;
            let not_started = failed
                && outcome
                    .reason
                    .as_deref()
                    .is_some_and(|reason| reason.starts_with(NOT_APPLIED));
            // While the LMS was down, a failed write says nothing about its employee.
            !(not_started || (failed && system_down))
        });
        let stopped_early = !dropped.is_empty();
        // A stop that came after every change was done leaves the run complete, unless it says
        // that a system failed (the breaker) or the lease was lost on the way.
        let stopped = reason.filter(|reason| {
            stopped_early || matches!(reason, StopReason::SystemDown(_) | StopReason::LeaseLost)
        });
        Self {
            not_applied: u32::try_from(total - outcomes.len()).unwrap_or(u32::MAX),
            outcomes,
            stopped,
        }
    }
}
