//! The roster: what Personio said about the employees of one run, collected page by page (or,
//! in a targeted run, employee by employee) so that no raw page outlives its turn.

use super::profile::{
    MappingError, desired_groups, is_selected, lock_reason, map_profile, profile_hash,
};
use crate::domain::employee::{
    Employee, EmployeePage, EmployeeParseError, EmployeeRecord, PersonioId,
};
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsProfile;
use crate::domain::settings::IntegrationSettings;
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A selected employee ready to be written: the profile, its hash and the groups it belongs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncTarget {
    pub personio_id: PersonioId,
    pub name: Option<String>,
    pub profile: LmsProfile,
    pub hash: String,
    pub groups: BTreeSet<String>,
    /// Why the account would be locked (not able to sign in); `None` when it can sign in.
    pub locked: Option<String>,
}

/// A selected employee as listed: mapped, or the reason it cannot be.
#[derive(Clone, Debug)]
pub(super) struct SelectedEmployee {
    pub personio_id: PersonioId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub mapped: Result<SyncTarget, MappingError>,
}

/// An employee Personio listed who is not selected: enough to name them in a row.
#[derive(Clone, Debug)]
pub(super) struct UnselectedEmployee {
    pub name: Option<String>,
    /// The selection attribute's value, when it has one.
    pub selection: Option<String>,
}

#[derive(Debug, Default)]
pub struct Roster {
    /// Every employee id Personio listed, selected or not, parsed or not: whoever is in here is
    /// not "gone".
    pub(super) listed: HashSet<PersonioId>,
    pub(super) selected: Vec<SelectedEmployee>,
    pub(super) unselected: HashMap<PersonioId, UnselectedEmployee>,
    pub(super) parse_errors: Vec<EmployeeParseError>,
    /// Ids a read of the single employee answered "no such employee" for: gone for sure.
    pub(super) absent: HashSet<PersonioId>,
    /// Whether Personio's answers contained the selection attribute at all.
    selection_readable: bool,
}

impl Roster {
    pub fn add_page(
        &mut self,
        page: EmployeePage,
        settings: &IntegrationSettings,
        today: NaiveDate,
    ) {
        let attribute = &settings.selection.attribute;
        self.selection_readable |= page
            .attributes_present
            .iter()
            .any(|present| present.eq_ignore_ascii_case(attribute));
        for employee in page.employees {
            match employee {
                Ok(employee) => self.add_employee(employee, settings, today),
                Err(error) => {
                    if let Some(id) = error.employee_id {
                        self.listed.insert(id);
                    }
                    self.parse_errors.push(error);
                }
            }
        }
    }

    /// The answer of a single read of employee `id`: the record, or `None` for "no such
    /// employee".
    pub fn add_single(
        &mut self,
        id: PersonioId,
        record: Option<EmployeeRecord>,
        settings: &IntegrationSettings,
        today: NaiveDate,
    ) {
        let Some(mut record) = record else {
            self.absent.insert(id);
            return;
        };
        // A record whose id cannot be read is still the employee that was asked for.
        if let Err(error) = &mut record.employee {
            error.employee_id.get_or_insert(id);
        }
        self.add_page(record.into_page(), settings, today);
    }

    fn add_employee(
        &mut self,
        employee: Employee,
        settings: &IntegrationSettings,
        today: NaiveDate,
    ) {
        self.listed.insert(employee.id);
        let attribute = &settings.selection.attribute;
        let selection = employee.custom_attribute(attribute);
        self.selection_readable |= selection.is_some();
        if !is_selected(&employee, &settings.selection) {
            let selection = selection.map(|attribute| attribute.value.as_text());
            self.unselected.insert(
                employee.id,
                UnselectedEmployee {
                    name: employee.display_name(),
                    selection,
                },
            );
            return;
        }
        let mapped = map_profile(&employee, settings, today).map(|profile| SyncTarget {
            personio_id: employee.id,
            name: employee.display_name(),
            hash: profile_hash(&profile),
            groups: desired_groups(&employee, settings),
            locked: lock_reason(&employee, settings, today),
            profile,
        });
        self.selected.push(SelectedEmployee {
            personio_id: employee.id,
            name: employee.display_name(),
            email: employee.email.clone(),
            mapped,
        });
    }

    pub fn listed_count(&self) -> usize {
        self.listed.len()
    }

    /// The name of a listed employee who is not selected.
    pub(super) fn unselected_name(&self, id: PersonioId) -> Option<String> {
        self.unselected.get(&id)?.name.clone()
    }

    /// A listing that cannot be trusted to say who is selected: Personio answered, but without
    /// the selection attribute (not readable by the API credential) or without anybody while
    /// users are linked. Planning on it would deactivate everyone, so the run stops instead.
    /// `targeted`: the employees were read one by one, so "nobody" only means those few are
    /// gone; only the attribute is checked.
    pub fn untrustworthy(
        &self,
        links: &[EmployeeLink],
        settings: &IntegrationSettings,
        targeted: bool,
    ) -> Option<String> {
        if self.listed.is_empty() && self.parse_errors.is_empty() {
            if targeted {
                return None;
            }
            let active_links = links.iter().filter(|link| link.active).count();
            return (active_links > 0).then(|| {
                format!(
                    "Personio listed no employees at all while {active_links} users are linked; \
                     does the API credential still have access to employees? Nothing was changed"
                )
            });
        }
        (!self.selection_readable).then(|| {
            format!(
                "no employee in Personio's answer has the selection attribute {:?}; it is \
                 misspelt in the settings or not readable by the API credential (Personio leaves \
                 out attributes it may not read). Nothing was changed",
                settings.selection.attribute
            )
        })
    }
}
