//! Reading Personio the way a sync does, for the use cases that look before a run: the
//! pre-flight check, `explain`, and the first-sync confirmation. They plan with the sync's own
//! [`SyncPlan`], so what they say is what a run would do.

use crate::domain::employee::EmployeePage;
use crate::domain::settings::IntegrationSettings;
use crate::ports::{EmployeeQuery, HrError, HrSource};
use crate::retry::Deadline;
use crate::sync::{PlannedChange, Roster, SyncPlan, SyncScope};
use futures::StreamExt;

/// One full listing into the sync's roster; `inspect` sees each page before the roster takes it.
pub async fn read_roster(
    hr: &dyn HrSource,
    settings: &IntegrationSettings,
    deadline: Deadline,
    mut inspect: impl FnMut(&EmployeePage),
) -> Result<Roster, HrError> {
    let today = chrono::Utc::now().date_naive();
    let query = EmployeeQuery::default();
    let mut pages = hr.employee_pages(&query, deadline);
    let mut roster = Roster::default();
    while let Some(page) = pages.next().await {
        let page = page?;
        inspect(&page);
        roster.add_page(page, settings, today);
    }
    Ok(roster)
}

/// How many LMS accounts the first sync of an integration would create (or adopt from the LMS
/// by email): the selected employees its plan, with no links yet, would create. Reads Personio
/// only; nothing is recorded.
pub async fn first_sync_accounts(
    hr: &dyn HrSource,
    settings: &IntegrationSettings,
    deadline: Deadline,
) -> Result<usize, HrError> {
    let roster = read_roster(hr, settings, deadline, |_| {}).await?;
    Ok(
        SyncPlan::new(roster, Vec::new(), settings, &SyncScope::Everyone)
            .changes
            .iter()
            .filter(|change| matches!(change, PlannedChange::Create { .. }))
            .count(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::testing::{StaticHrSource, employee, select};

    #[tokio::test]
    async fn counts_the_selected_employees_a_first_sync_would_create() {
        let mut staff: Vec<_> = (1..=5)
            .map(|id| employee(id, &format!("p{id}@example.com")))
            .collect();
        select(&mut staff[0], false);
        staff[1].email = None;
        let hr = StaticHrSource::of(staff);
        let settings = IntegrationSettings::new(crate::sync::testing::SELECTION_LABEL);
        let count = first_sync_accounts(&hr, &settings, Deadline::none())
            .await
            .expect("listed");
        assert_eq!(
            count, 3,
            "not the deselected one, not the one without email"
        );
    }
}
