//! Confirming a departure before acting on it. Personio pages its listing by record offset: an
//! employee removed while the listing is read shifts the later pages, so somebody else can be
//! missed and look gone. Before an employee missing from the listing is deactivated, a read of
//! that one employee confirms it: "no such employee" confirms; anything else keeps the account
//! and says why.

use super::{ApplyContext, Step, Work, bounded};
use crate::domain::employee::{EmployeeRecord, PersonioId};
use crate::domain::run::OutcomeAction;
use crate::sync::plan::DeactivationReason;
use crate::sync::profile::is_selected;
use futures::FutureExt;
use tracing::{info, warn};

/// What a read of an employee missing from the listing showed.
enum Confirmation {
    /// The employee is gone, or no longer selected: deactivate for this reason.
    Deactivate(DeactivationReason),
    /// The employee is there and selected (or cannot be judged): keep the account, with this
    /// outcome and reason.
    Keep(OutcomeAction, String),
}

impl ApplyContext<'_> {
    /// Confirms, with a read of each, the departures of employees missing from the listing
    /// (a few reads at once). A confirmed one is deactivated with the reason the read gave;
    /// one that is still there keeps its account, and the outcome says why.
    pub(super) async fn confirm_departures(&self, works: &mut [Work]) {
        let jobs: Vec<_> = works
            .iter()
            .enumerate()
            .filter(|(_, work)| work.unconfirmed_departure && !work.failed())
            .filter_map(|(index, work)| Some((index, work.link.as_ref()?.personio_id)))
            .map(|(index, personio_id)| {
                async move { (index, self.confirm_departure(personio_id).await) }.boxed()
            })
            .collect();
        if jobs.is_empty() {
            return;
        }
        let confirmed = bounded(jobs, self.request.settings.apply_concurrency, false).await;
        for (index, confirmation) in confirmed {
            let work = &mut works[index];
            work.unconfirmed_departure = false;
            match confirmation {
                Confirmation::Deactivate(reason) => {
                    let why = match reason {
                        DeactivationReason::Deleted => {
                            "no longer in Personio (not listed, and a read of the employee found none)"
                        }
                        other => other.describe(),
                    };
                    work.outcome.reason = Some(why.to_owned());
                }
                Confirmation::Keep(action, why) => {
                    info!(%why, "an employee missing from the listing is kept");
                    work.step = Step::Kept;
                    work.outcome.action = action;
                    work.outcome.reason = Some(why);
                }
            }
        }
    }

    /// What a read of an employee missing from the listing shows.
    async fn confirm_departure(&self, personio_id: PersonioId) -> Confirmation {
        let read = self
            .retry("reading an employee missing from the listing", || {
                self.engine.hr.employee(personio_id, self.request.deadline)
            })
            .await;
        match read {
            Ok(None) => Confirmation::Deactivate(DeactivationReason::Deleted),
            Ok(Some(record)) => self.judge(record),
            Err(error) => {
                warn!(%error, "could not confirm that the employee left Personio");
                Confirmation::Keep(
                    OutcomeAction::HeldBack,
                    format!(
                        "not deactivated: missing from Personio's listing, but reading the \
                         employee to confirm it failed ({error}); the next run checks again"
                    ),
                )
            }
        }
    }

    fn judge(&self, record: EmployeeRecord) -> Confirmation {
        const SHIFTED: &str = "missing from Personio's listing, but a read of the employee found \
                               it (the listing shifted while it was paged)";
        let selection = &self.request.settings.selection;
        let readable = record
            .attributes_present
            .iter()
            .any(|present| present.eq_ignore_ascii_case(&selection.attribute));
        match record.employee {
            Ok(employee) if readable && !is_selected(&employee, selection) => {
                Confirmation::Deactivate(DeactivationReason::Deselected)
            }
            Ok(_) => Confirmation::Keep(
                OutcomeAction::Unchanged,
                format!(
                    "{SHIFTED}; {}",
                    self.tense("the account was kept", "the account would be kept")
                ),
            ),
            Err(error) => Confirmation::Keep(
                OutcomeAction::Unchanged,
                format!(
                    "{SHIFTED}, though its record could not be read ({error}); {}",
                    self.tense("the account was kept", "the account would be kept")
                ),
            ),
        }
    }
}
