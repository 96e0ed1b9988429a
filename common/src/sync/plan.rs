//! Planning: what the listing says against what the links remember, decided without touching
//! the LMS. The plan is pure data, so a dry run and a real run start from the same decisions.

use super::managers::ManagerDirectory;
use super::profile::{MappingError, desired_groups, is_selected, map_profile, profile_hash};
use crate::domain::employee::{EmployeePage, EmployeeParseError, PersonioId};
use crate::domain::link::EmployeeLink;
use crate::domain::lms::{LmsProfile, LmsUserId};
use crate::domain::run::{EmployeeOutcome, OutcomeAction, RunKind};
use crate::domain::settings::IntegrationSettings;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A selected employee ready to be written: the profile, its hash and the groups it belongs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncTarget {
    pub personio_id: PersonioId,
    pub name: Option<String>,
    pub profile: LmsProfile,
    pub hash: String,
    pub groups: BTreeSet<String>,
}

/// A selected employee as listed: mapped, or the reason it cannot be.
#[derive(Clone, Debug)]
struct SelectedEmployee {
    personio_id: PersonioId,
    name: Option<String>,
    email: Option<String>,
    mapped: Result<SyncTarget, MappingError>,
}

/// What the listing produced, collected page by page so that no raw page outlives its turn.
#[derive(Debug, Default)]
pub struct Roster {
    /// Every employee id Personio listed, selected or not, parsed or not: whoever is in here is
    /// not "gone".
    listed: HashSet<PersonioId>,
    selected: Vec<SelectedEmployee>,
    parse_errors: Vec<EmployeeParseError>,
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
            let employee = match employee {
                Ok(employee) => employee,
                Err(error) => {
                    if let Some(id) = error.employee_id {
                        self.listed.insert(id);
                    }
                    self.parse_errors.push(error);
                    continue;
                }
            };
            self.listed.insert(employee.id);
            self.selection_readable |= employee.custom_attribute(attribute).is_some();
            if !is_selected(&employee, &settings.selection) {
                continue;
            }
            let mapped = map_profile(&employee, settings, today).map(|profile| SyncTarget {
                personio_id: employee.id,
                name: employee.display_name(),
                hash: profile_hash(&profile),
                groups: desired_groups(&profile, settings),
                profile,
            });
            self.selected.push(SelectedEmployee {
                personio_id: employee.id,
                name: employee.display_name(),
                email: employee.email.clone(),
                mapped,
            });
        }
    }

    pub fn listed_count(&self) -> usize {
        self.listed.len()
    }

    /// A listing that cannot be trusted to say who is selected: Personio answered, but without
    /// the selection attribute (not readable by the API credential) or without anybody while
    /// users are linked. Planning on it would deactivate everyone, so the run stops instead.
    pub fn untrustworthy(
        &self,
        links: &[EmployeeLink],
        settings: &IntegrationSettings,
    ) -> Option<String> {
        let active_links = links.iter().filter(|link| link.active).count();
        if self.listed.is_empty() && self.parse_errors.is_empty() {
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

/// Why a linked user is to be deactivated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeactivationReason {
    /// Still in Personio, but the selection attribute no longer says yes.
    Deselected,
    /// No longer listed by Personio.
    Gone,
}

impl DeactivationReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Deselected => "deselected in Personio",
            Self::Gone => "no longer listed by Personio",
        }
    }
}

/// One LMS change the run will make (or, in a dry run, would make).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedChange {
    /// No link yet: adopt the LMS user with this Personio id or email, or create one.
    Create { target: Box<SyncTarget> },
    /// The profile changed since the last write, or the account was deactivated and the
    /// employee is selected again.
    Update {
        target: Box<SyncTarget>,
        link: EmployeeLink,
    },
    /// Profile unchanged, but memberships the sync has not made yet.
    AddGroups {
        target: Box<SyncTarget>,
        link: EmployeeLink,
    },
    /// Profile unchanged, but the manager reference is to be written or looked up again
    /// (`reason` says why); memberships the sync has not made yet are added too.
    Manager {
        target: Box<SyncTarget>,
        link: EmployeeLink,
        reason: String,
    },
    Deactivate {
        link: EmployeeLink,
        reason: DeactivationReason,
    },
    /// A reconcile run found the LMS changed by hand: `repair` says what is restored.
    Repair {
        target: Option<Box<SyncTarget>>,
        link: EmployeeLink,
        repair: Repair,
    },
}

/// What a reconcile run restores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// The linked user was deleted in the LMS: set up again, and the link updated.
    Deleted,
    /// Synced fields (by name) were changed in the LMS: written again.
    Edited(Vec<String>),
    /// Memberships the sync added were removed: added again.
    Groups(BTreeSet<String>),
    /// A deactivated account was activated in the LMS: deactivated again.
    Reactivated,
}

impl Repair {
    pub fn describe(&self) -> String {
        match self {
            Self::Deleted => "the LMS user had been deleted in the LMS; it was set up again".into(),
            Self::Edited(fields) => format!(
                "changed in the LMS by hand ({}); the synced values were restored",
                fields.join(", ")
            ),
            Self::Groups(groups) => format!(
                "removed in the LMS from {}; added again",
                groups
                    .iter()
                    .map(|group| format!("{group:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Reactivated => {
                "activated in the LMS by hand although not selected; deactivated again".into()
            }
        }
    }
}

impl PlannedChange {
    pub fn personio_id(&self) -> PersonioId {
        match self {
            Self::Create { target } => target.personio_id,
            Self::Update { link, .. }
            | Self::AddGroups { link, .. }
            | Self::Manager { link, .. }
            | Self::Repair { link, .. }
            | Self::Deactivate { link, .. } => link.personio_id,
        }
    }
}

/// The decisions of one run, before anything is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub changes: Vec<PlannedChange>,
    /// Outcomes decided without the LMS: skipped employees, held-back deactivations.
    pub settled: Vec<EmployeeOutcome>,
    /// Employees whose profile and groups are as last written: nothing to do.
    pub unchanged: u32,
    pub notices: Vec<String>,
    /// Every linked LMS user and its employee, so that adoption never takes another
    /// employee's account.
    pub linked_users: HashMap<LmsUserId, PersonioId>,
    /// The supervisors the links know, for the manager references.
    pub managers: ManagerDirectory,
    /// Employees whose profile and groups are as last written, decided once the run's creates
    /// and deactivations are known (their manager reference may still need a write).
    unchanged_linked: Vec<(Box<SyncTarget>, EmployeeLink)>,
    /// A reconcile run's employees whose profile is as last written (unchanged, or planned for
    /// their groups or manager reference only), to compare with what the LMS holds.
    pub in_sync: Vec<(Box<SyncTarget>, EmployeeLink)>,
    /// A reconcile run's links of deactivated accounts of employees no longer selected.
    pub deactivated: Vec<EmployeeLink>,
}

impl SyncPlan {
    pub fn new(roster: Roster, links: Vec<EmployeeLink>, settings: &IntegrationSettings) -> Self {
        Self::for_run(roster, links, settings, RunKind::Full)
    }

    /// The plan of a run of `kind`: a reconcile run keeps the employees in sync and the
    /// deactivated links (`in_sync`, `deactivated`) to compare them with the LMS.
    pub fn for_run(
        roster: Roster,
        links: Vec<EmployeeLink>,
        settings: &IntegrationSettings,
        kind: RunKind,
    ) -> Self {
        let mut plan = SyncPlan {
            linked_users: links
                .iter()
                .map(|link| (link.lms_user_id.clone(), link.personio_id))
                .collect(),
            ..SyncPlan::default()
        };
        let all_links = links.clone();
        let mut links: BTreeMap<PersonioId, EmployeeLink> = links
            .into_iter()
            .map(|link| (link.personio_id, link))
            .collect();
        let active_links = links.values().filter(|link| link.active).count();

        plan.skip_parse_errors(&roster.parse_errors);
        let duplicates = duplicate_emails(&roster.selected);
        // Selected employees are never deactivated, even the skipped ones: they are still
        // wanted in the LMS, their data just needs fixing.
        let mut protected: HashSet<PersonioId> = roster
            .parse_errors
            .iter()
            .filter_map(|error| error.employee_id)
            .collect();
        for employee in roster.selected {
            protected.insert(employee.personio_id);
            let link = links.remove(&employee.personio_id);
            plan.plan_selected(employee, link, &duplicates);
        }

        let unidentified = roster
            .parse_errors
            .iter()
            .any(|error| error.employee_id.is_none());
        let mut deactivations = Vec::new();
        for link in links.into_values() {
            if !link.active && kind == RunKind::Reconcile && !protected.contains(&link.personio_id)
            {
                plan.deactivated.push(link);
                continue;
            }
            if !link.active || protected.contains(&link.personio_id) {
                continue;
            }
            let reason = if roster.listed.contains(&link.personio_id) {
                DeactivationReason::Deselected
            } else {
                DeactivationReason::Gone
            };
            if reason == DeactivationReason::Gone && unidentified {
                plan.settled.push(held_back(
                    &link,
                    "Personio listed an employee whose id could not be read, which may be this one",
                ));
                continue;
            }
            deactivations.push(PlannedChange::Deactivate { link, reason });
        }
        if unidentified {
            plan.notices.push(
                "Personio listed an employee whose id could not be read: nobody was deactivated \
                 as gone from Personio in this run"
                    .to_owned(),
            );
        }

        let guard = settings.deactivation_guard;
        if guard.holds_back(deactivations.len(), active_links) {
            plan.notices.push(format!(
                "deactivation guard: this run would deactivate {} of {active_links} linked users \
                 (limit: more than {} and more than {} %), so all of them were held back; check \
                 the selection attribute and the API credential's permissions in Personio",
                deactivations.len(),
                guard.max_count,
                guard.max_percent,
            ));
            for change in deactivations {
                if let PlannedChange::Deactivate { link, reason } = change {
                    let why = format!("{}; held back by the deactivation guard", reason.describe());
                    plan.settled.push(held_back(&link, &why));
                }
            }
        } else {
            plan.changes.extend(deactivations);
        }
        plan.settle_unchanged(&all_links, settings, kind);
        plan
    }

    /// The supervisors' directory once creates and deactivations are planned, and with it the
    /// unchanged employees whose manager reference needs a write.
    fn settle_unchanged(
        &mut self,
        links: &[EmployeeLink],
        settings: &IntegrationSettings,
        kind: RunKind,
    ) {
        let mut creating = HashSet::new();
        let mut deactivating = HashSet::new();
        let mut reactivating = HashSet::new();
        for change in &self.changes {
            match change {
                PlannedChange::Create { target } => {
                    creating.insert(target.personio_id);
                }
                PlannedChange::Deactivate { link, .. } => {
                    deactivating.insert(link.personio_id);
                }
                PlannedChange::Update { link, .. } if !link.active => {
                    reactivating.insert(link.personio_id);
                }
                _ => {}
            }
        }
        self.managers = ManagerDirectory::new(
            links,
            |link| {
                (link.active && !deactivating.contains(&link.personio_id))
                    || reactivating.contains(&link.personio_id)
            },
            creating,
            settings.scim.inactive_manager,
        );
        for (target, link) in std::mem::take(&mut self.unchanged_linked) {
            if kind == RunKind::Reconcile {
                self.in_sync.push((target.clone(), link.clone()));
            }
            if let Some(reason) = self.managers.needs_attention(&target.profile, &link) {
                self.changes.push(PlannedChange::Manager {
                    target,
                    link,
                    reason,
                });
            } else if !target.groups.is_subset(&link.groups) {
                self.changes.push(PlannedChange::AddGroups { target, link });
            } else {
                self.unchanged += 1;
            }
        }
    }

    fn skip_parse_errors(&mut self, errors: &[EmployeeParseError]) {
        for error in errors {
            self.settled.push(EmployeeOutcome {
                personio_id: error.employee_id,
                email: None,
                name: None,
                action: OutcomeAction::Skipped,
                groups_added: Vec::new(),
                invited: false,
                reason: Some(format!(
                    "could not read field `{}` from Personio: {}; the LMS account (if any) is left as it is",
                    error.field, error.reason
                )),
            });
        }
        if !errors.is_empty() {
            self.notices.push(format!(
                "{} employee record(s) could not be read from Personio and were skipped",
                errors.len()
            ));
        }
    }

    fn plan_selected(
        &mut self,
        employee: SelectedEmployee,
        link: Option<EmployeeLink>,
        duplicates: &HashMap<String, Vec<PersonioId>>,
    ) {
        let skip = |reason: String| EmployeeOutcome {
            personio_id: Some(employee.personio_id),
            email: employee.email.clone(),
            name: employee.name.clone(),
            action: OutcomeAction::Skipped,
            groups_added: Vec::new(),
            invited: false,
            reason: Some(reason),
        };
        let target = match employee.mapped {
            Ok(target) => target,
            Err(error) => {
                self.settled.push(skip(error.to_string()));
                return;
            }
        };
        if let Some(sharing) = duplicates.get(&target.profile.email.to_lowercase()) {
            let others: Vec<String> = sharing
                .iter()
                .filter(|id| **id != target.personio_id)
                .map(ToString::to_string)
                .collect();
            self.settled.push(skip(format!(
                "the email {} is also used by Personio employee(s) {}; none of them is synced \
                 until the email is unique",
                target.profile.email,
                others.join(", ")
            )));
            return;
        }
        let target = Box::new(target);
        match link {
            None => self.changes.push(PlannedChange::Create { target }),
            Some(link) if link.profile_hash != target.hash || !link.active => {
                self.changes.push(PlannedChange::Update { target, link })
            }
            Some(link) => self.unchanged_linked.push((target, link)),
        }
    }
}

/// Lower-cased emails used by more than one selected employee, with the employees using them.
fn duplicate_emails(selected: &[SelectedEmployee]) -> HashMap<String, Vec<PersonioId>> {
    let mut by_email: HashMap<String, Vec<PersonioId>> = HashMap::new();
    for employee in selected {
        if let Ok(target) = &employee.mapped {
            by_email
                .entry(target.profile.email.to_lowercase())
                .or_default()
                .push(employee.personio_id);
        }
    }
    by_email.retain(|_, ids| ids.len() > 1);
    by_email
}

fn held_back(link: &EmployeeLink, reason: &str) -> EmployeeOutcome {
    EmployeeOutcome {
        personio_id: Some(link.personio_id),
        email: Some(link.email.clone()),
        name: None,
        action: OutcomeAction::HeldBack,
        groups_added: Vec::new(),
        invited: false,
        reason: Some(format!("not deactivated: {reason}")),
    }
}
