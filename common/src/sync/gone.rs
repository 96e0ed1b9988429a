//! Confirming a departure before acting on it. Personio pages its listing by record offset: an
//! employee removed while the listing is read shifts the later pages, so somebody else can be
//! missed and look gone. Before an employee missing from the listing is deactivated, a read of
//! that one employee confirms it: "no such employee" confirms; anything else keeps the account
//! and says why.

use super::apply::ApplyContext;
use super::plan::DeactivationReason;
use crate::domain::employee::EmployeeRecord;
use crate::domain::link::EmployeeLink;
use crate::domain::run::{EmployeeOutcome, OutcomeAction};
use crate::sync::profile::is_selected;
use tracing::{info, warn};

/// What a read of an employee missing from the listing showed.
enum Confirmation {
    /// The employee is gone, or no longer selected: deactivate for this reason.
    Deactivate(DeactivationReason),
    /// The employee is there and selected (or cannot be judged): keep the account.
    Keep(String),
}

impl ApplyContext<'_> {
    /// Deactivates `link`'s user, first confirming with a read that an employee missing from
    /// the listing is gone.
    pub(super) async fn deactivate_confirmed(
        &self,
        link: EmployeeLink,
        reason: DeactivationReason,
        name: Option<String>,
    ) -> EmployeeOutcome {
        if reason != DeactivationReason::Gone {
            return self.deactivate(link, name, reason.describe()).await;
        }
        let read = self
            .retry("reading an employee missing from the listing", || {
                self.engine
                    .hr
                    .employee(link.personio_id, self.request.deadline)
            })
            .await;
        let confirmation = match read {
            Ok(None) => Confirmation::Deactivate(DeactivationReason::Deleted),
            Ok(Some(record)) => self.judge(record),
            Err(error) => {
                warn!(%error, "could not confirm that the employee left Personio");
                let mut outcome = kept(&link, name, OutcomeAction::HeldBack);
                outcome.reason = Some(format!(
                    "not deactivated: missing from Personio's listing, but reading the employee \
                     to confirm it failed ({error}); the next run checks again"
                ));
                return outcome;
            }
        };
        match confirmation {
            Confirmation::Deactivate(reason) => {
                let why = match reason {
                    DeactivationReason::Deleted => {
                        "no longer in Personio (not listed, and a read of the employee found none)"
                    }
                    other => other.describe(),
                };
                self.deactivate(link, name, why).await
            }
            Confirmation::Keep(why) => {
                info!(%why, "an employee missing from the listing is still in Personio");
                let mut outcome = kept(&link, name, OutcomeAction::Unchanged);
                outcome.reason = Some(why);
                outcome
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
            Ok(_) => Confirmation::Keep(format!(
                "{SHIFTED}; {}",
                self.tense("the account was kept", "the account would be kept")
            )),
            Err(error) => Confirmation::Keep(format!(
                "{SHIFTED}, though its record could not be read ({error}); {}",
                self.tense("the account was kept", "the account would be kept")
            )),
        }
    }
}

fn kept(link: &EmployeeLink, name: Option<String>, action: OutcomeAction) -> EmployeeOutcome {
    let mut outcome = EmployeeOutcome::new(Some(link.personio_id), action);
    outcome.email = Some(link.email.clone());
    outcome.name = name;
    outcome
}
