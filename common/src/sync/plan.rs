//! Planning: what Personio says (the [`Roster`]) against what the links remember, decided
//! without touching the LMS. The plan is pure data, so a dry run and a real run start from the
//! same decisions.

use super::diff::profile_changes;
use super::managers::ManagerDirectory;
use super::roster::{Roster, SelectedEmployee, SyncTarget};
use crate::domain::employee::{EmployeeParseError, PersonioId};
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::domain::run::{EmployeeOutcome, FieldChange, OutcomeAction, RunKind};
use crate::domain::settings::IntegrationSettings;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Whom a run covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SyncScope {
    /// Everyone Personio lists, against every link.
    #[default]
    Everyone,
    /// Only these employees, each read by itself: nobody else is created, changed or
    /// deactivated.
    Employees(BTreeSet<PersonioId>),
    /// The employees Personio lists as changed since this time (`updated_since`): those are
    /// planned as in a full run; an employee it does not list is not covered (a delta run never
    /// deactivates the absent).
    ChangedSince(DateTime<Utc>),
}

impl SyncScope {
    pub fn kind(&self) -> RunKind {
        match self {
            Self::Everyone => RunKind::Full,
            Self::Employees(_) => RunKind::Targeted,
            Self::ChangedSince(_) => RunKind::Delta,
        }
    }

    /// Whether the run covers employee `id`; `listed`: Personio listed it in this run.
    pub fn covers(&self, id: PersonioId, listed: bool) -> bool {
        match self {
            Self::Everyone => true,
            Self::Employees(ids) => ids.contains(&id),
            Self::ChangedSince(_) => listed,
        }
    }

    /// The named employees (empty for everyone and for a delta).
    pub fn named(&self) -> Vec<PersonioId> {
        match self {
            Self::Everyone | Self::ChangedSince(_) => Vec::new(),
            Self::Employees(ids) => ids.iter().copied().collect(),
        }
    }
}

/// Why a linked user is to be deactivated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeactivationReason {
    /// Still in Personio, but the selection attribute no longer says yes.
    Deselected,
    /// Not in Personio's listing. Confirmed with a read of the employee before anything is
    /// done: an employee missed because the listing shifted while it was paged is still there.
    Gone,
    /// A read of the employee answered "no such employee".
    Deleted,
}

impl DeactivationReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Deselected => "deselected in Personio",
            Self::Gone => "no longer listed by Personio",
            Self::Deleted => "no longer in Personio",
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
        /// Field by field, when the link kept the profile it wrote last.
        changes: Vec<FieldChange>,
    },
    /// Profile as last written, but memberships to add (or, for a mover, to remove) or an
    /// invitation that is owed.
    CatchUp {
        target: Box<SyncTarget>,
        link: EmployeeLink,
    },
    /// Profile unchanged, but the manager reference is to be written or looked up again
    /// (`reason` says why); memberships and an owed invitation are caught up too.
    Manager {
        target: Box<SyncTarget>,
        link: EmployeeLink,
        reason: String,
    },
    Deactivate {
        link: EmployeeLink,
        reason: DeactivationReason,
        name: Option<String>,
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
            | Self::CatchUp { link, .. }
            | Self::Manager { link, .. }
            | Self::Repair { link, .. }
            | Self::Deactivate { link, .. } => link.personio_id,
        }
    }

    /// The employee's name and email, as far as the change knows them.
    pub fn who(&self) -> (Option<String>, Option<String>) {
        match self {
            Self::Create { target }
            | Self::Update { target, .. }
            | Self::CatchUp { target, .. }
            | Self::Manager { target, .. }
            | Self::Repair {
                target: Some(target),
                ..
            } => (target.name.clone(), Some(target.profile.email.clone())),
            Self::Repair {
                target: None, link, ..
            } => (link.name().map(str::to_owned), Some(link.email.clone())),
            Self::Deactivate { link, name, .. } => (name.clone(), Some(link.email.clone())),
        }
    }
}

/// The decisions of one run, before anything is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub changes: Vec<PlannedChange>,
    /// Outcomes decided without the LMS: skipped employees, held-back deactivations, leavers not
    /// created, and (in a targeted run) the named employees with nothing to do.
    pub settled: Vec<EmployeeOutcome>,
    /// Employees whose profile and groups are as last written: nothing to do.
    pub unchanged: u32,
    pub notices: Vec<String>,
    /// Every linked LMS user and its employee, so that adoption never takes another
    /// employee's account.
    pub linked_users: HashMap<LmsUserId, PersonioId>,
    /// The supervisors the links know, for the manager references.
    pub managers: ManagerDirectory,
    /// Employees whose profile is as last written, decided once the run's creates and
    /// deactivations are known (their manager reference may still need a write).
    unchanged_linked: Vec<(Box<SyncTarget>, EmployeeLink)>,
    /// A reconcile run's employees whose profile is as last written (unchanged, or planned for
    /// their groups or manager reference only), to compare with what the LMS holds.
    pub in_sync: Vec<(Box<SyncTarget>, EmployeeLink)>,
    /// A reconcile run's links of deactivated accounts of employees no longer selected.
    pub deactivated: Vec<EmployeeLink>,
}

impl SyncPlan {
    /// `links` are all the integration's links, also in a targeted run: adoption, the
    /// supervisors' directory and the deactivation guard look at all of them, while only those
    /// in `scope` are changed. A reconcile run (`kind`) also keeps the employees in sync and the
    /// deactivated links (`in_sync`, `deactivated`) to compare them with the LMS.
    pub fn new(
        roster: Roster,
        links: Vec<EmployeeLink>,
        settings: &IntegrationSettings,
        scope: &SyncScope,
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
        let targeted = matches!(scope, SyncScope::Employees(_));

        plan.skip_parse_errors(&roster.parse_errors, &links);
        let duplicates = duplicate_emails(&roster.selected);
        // Selected employees are never deactivated, even the skipped ones: they are still
        // wanted in the LMS, their data just needs fixing.
        let mut protected: HashSet<PersonioId> = roster
            .parse_errors
            .iter()
            .filter_map(|error| error.employee_id)
            .collect();
        let mut decided = protected.clone();
        for employee in &roster.selected {
            protected.insert(employee.personio_id);
            decided.insert(employee.personio_id);
            let link = links.remove(&employee.personio_id);
            plan.plan_selected(employee, link, &duplicates, settings);
        }

        let unidentified = roster
            .parse_errors
            .iter()
            .any(|error| error.employee_id.is_none());
        let mut deactivations = Vec::new();
        for link in links.into_values() {
            if !scope.covers(link.personio_id, roster.listed.contains(&link.personio_id))
                || protected.contains(&link.personio_id)
            {
                continue;
            }
            decided.insert(link.personio_id);
            let name = link
                .name()
                .map(str::to_owned)
                .or_else(|| roster.unselected_name(link.personio_id));
            let reason = if roster.absent.contains(&link.personio_id) {
                DeactivationReason::Deleted
            } else if roster.listed.contains(&link.personio_id) {
                DeactivationReason::Deselected
            } else {
                DeactivationReason::Gone
            };
            if !link.active && kind == RunKind::Reconcile {
                plan.deactivated.push(link);
                continue;
            }
            if !link.active {
                if targeted {
                    plan.settled.push(already_deactivated(&link, name, reason));
                }
                continue;
            }
            if reason == DeactivationReason::Gone && unidentified {
                plan.settled.push(held_back(
                    &link,
                    name,
                    "Personio listed an employee whose id could not be read, which may be this one",
                ));
                continue;
            }
            deactivations.push(PlannedChange::Deactivate { link, reason, name });
        }
        if unidentified {
            plan.notices.push(
                "Personio listed an employee whose id could not be read: nobody was deactivated \
                 as gone from Personio in this run"
                    .to_owned(),
            );
        }
        for id in scope.named() {
            if !decided.contains(&id) {
                plan.settled
                    .push(named_without_account(id, &roster, settings));
            }
        }
        plan.guard(deactivations, active_links, settings);
        plan.settle_unchanged(&all_links, settings, kind, targeted);
        plan
    }

    /// The supervisors' directory once creates and deactivations are planned, and with it what
    /// each employee whose profile is as last written still needs: a manager reference written,
    /// memberships or an invitation caught up, or nothing.
    fn settle_unchanged(
        &mut self,
        links: &[EmployeeLink],
        settings: &IntegrationSettings,
        kind: RunKind,
        list_unchanged: bool,
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
            if let Some(reason) =
                self.managers
                    .needs_attention(&target.profile, &link, kind == RunKind::Reconcile)
            {
                self.changes.push(PlannedChange::Manager {
                    target,
                    link,
                    reason,
                });
            } else if memberships_behind(&target, &link, settings)
                || invitation_owed(&link, settings)
            {
                self.changes.push(PlannedChange::CatchUp { target, link });
            } else if list_unchanged {
                // Listed with its reason once the run is done.
                let mut outcome =
                    EmployeeOutcome::new(Some(target.personio_id), OutcomeAction::Unchanged);
                outcome.email = Some(target.profile.email.clone());
                outcome.name = target.name.clone();
                self.settled.push(outcome);
            } else {
                self.unchanged += 1;
            }
        }
    }

    /// Applies the deactivation guard: too many deactivations at once are all held back.
    fn guard(
        &mut self,
        deactivations: Vec<PlannedChange>,
        active_links: usize,
        settings: &IntegrationSettings,
    ) {
        let guard = settings.deactivation_guard;
        if !guard.holds_back(deactivations.len(), active_links) {
            self.changes.extend(deactivations);
            return;
        }
        self.notices.push(format!(
            "deactivation guard: this run would deactivate {} of {active_links} linked users \
             (limit: more than {} and more than {} %), so all of them were held back; check \
             the selection attribute and the API credential's permissions in Personio",
            deactivations.len(),
            guard.max_count,
            guard.max_percent,
        ));
        for change in deactivations {
            if let PlannedChange::Deactivate { link, reason, name } = change {
                let why = format!("{}; held back by the deactivation guard", reason.describe());
                self.settled.push(held_back(&link, name, &why));
            }
        }
    }

    fn skip_parse_errors(
        &mut self,
        errors: &[EmployeeParseError],
        links: &BTreeMap<PersonioId, EmployeeLink>,
    ) {
        for error in errors {
            let link = error.employee_id.and_then(|id| links.get(&id));
            let mut outcome = EmployeeOutcome::new(error.employee_id, OutcomeAction::Skipped);
            outcome.name = error
                .name
                .clone()
                .or_else(|| link.and_then(|link| link.name().map(str::to_owned)));
            outcome.email = link.map(|link| link.email.clone());
            outcome.reason = Some(format!(
                "could not read field `{}` from Personio: {}; the LMS account (if any) is left as it is",
                error.field, error.reason
            ));
            self.settled.push(outcome);
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
        employee: &SelectedEmployee,
        link: Option<EmployeeLink>,
        duplicates: &HashMap<String, Vec<PersonioId>>,
        settings: &IntegrationSettings,
    ) {
        let settle = |action: OutcomeAction, reason: String| {
            let mut outcome = EmployeeOutcome::new(Some(employee.personio_id), action);
            outcome.email = employee.email.clone();
            outcome.name = employee.name.clone();
            outcome.reason = Some(reason);
            outcome
        };
        let target = match &employee.mapped {
            Ok(target) => target,
            Err(error) => {
                self.settled
                    .push(settle(OutcomeAction::Skipped, error.to_string()));
                return;
            }
        };
        if let Some(sharing) = duplicates.get(&target.profile.email.to_lowercase()) {
            let others: Vec<String> = sharing
                .iter()
                .filter(|id| **id != target.personio_id)
                .map(ToString::to_string)
                .collect();
            self.settled.push(settle(
                OutcomeAction::Skipped,
                format!(
                    "the email {} is also used by Personio employee(s) {}; none of them is synced \
                     until the email is unique",
                    target.profile.email,
                    others.join(", ")
                ),
            ));
            return;
        }
        let Some(link) = link else {
            match &target.locked {
                Some(locked) if !settings.create_locked_accounts => {
                    self.settled.push(settle(
                        OutcomeAction::NotCreated,
                        format!(
                            "{locked}; an account that would start locked is not created \
                             (setting create_locked_accounts)"
                        ),
                    ));
                }
                _ => self.changes.push(PlannedChange::Create {
                    target: Box::new(target.clone()),
                }),
            }
            return;
        };
        let target = Box::new(target.clone());
        if link.profile_hash != target.hash || !link.active {
            let changes = link
                .profile
                .as_ref()
                .map(|written| profile_changes(written, &target.profile))
                .unwrap_or_default();
            self.changes.push(PlannedChange::Update {
                target,
                link,
                changes,
            });
        } else {
            self.unchanged_linked.push((target, link));
        }
    }
}

/// Memberships the sync has yet to add, or (for a mover, when the settings say so) to remove.
fn memberships_behind(
    target: &SyncTarget,
    link: &EmployeeLink,
    settings: &IntegrationSettings,
) -> bool {
    !target.groups.is_subset(&link.groups)
        || (settings.groups.remove_when_moved && !link.groups.is_subset(&target.groups))
}

/// Whether the account's invitation is owed and may go now: the sync created the account with
/// invitations on, and it can sign in (a locked account is invited when it first can).
pub(super) fn invitation_owed(link: &EmployeeLink, settings: &IntegrationSettings) -> bool {
    link.invitation_pending
        && link.active
        && link.profile.as_ref().is_some_and(|profile| profile.active)
        && settings.notifications.invite_new_users
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

fn held_back(link: &EmployeeLink, name: Option<String>, reason: &str) -> EmployeeOutcome {
    let mut outcome = EmployeeOutcome::new(Some(link.personio_id), OutcomeAction::HeldBack);
    outcome.email = Some(link.email.clone());
    outcome.name = name;
    outcome.reason = Some(format!("not deactivated: {reason}"));
    outcome
}

/// A named employee of a targeted run whose account is deactivated already.
fn already_deactivated(
    link: &EmployeeLink,
    name: Option<String>,
    reason: DeactivationReason,
) -> EmployeeOutcome {
    let mut outcome = EmployeeOutcome::new(Some(link.personio_id), OutcomeAction::Unchanged);
    outcome.email = Some(link.email.clone());
    outcome.name = name;
    outcome.reason = Some(format!(
        "{}; the LMS account is already deactivated",
        reason.describe()
    ));
    outcome
}

/// A named employee of a targeted run with neither a selection nor a link: why nothing happens.
fn named_without_account(
    id: PersonioId,
    roster: &Roster,
    settings: &IntegrationSettings,
) -> EmployeeOutcome {
    let mut outcome = EmployeeOutcome::new(Some(id), OutcomeAction::Skipped);
    outcome.reason = Some(if roster.absent.contains(&id) {
        "Personio has no employee with this id".to_owned()
    } else {
        let unselected = roster.unselected.get(&id);
        outcome.name = unselected.and_then(|employee| employee.name.clone());
        let attribute = &settings.selection.attribute;
        match unselected.and_then(|employee| employee.selection.as_deref()) {
            Some(value) if !value.trim().is_empty() => {
                format!("not selected in Personio ({attribute} is {value:?})")
            }
            _ => format!("not selected in Personio ({attribute} is empty)"),
        }
    });
    outcome
}
