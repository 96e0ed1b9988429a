//! "Why was X (not) synced?": one employee as the sync sees them. Personio's record and whether
//! the selection attribute picks them (and by which value), the profile the mapping makes and
//! which fields the LMS receives, the link, the LMS user as the LMS has it now, what the next run
//! would do, and the employee's outcomes in recent runs.
//!
//! The next run's decision comes from the sync's own planning over the whole listing and every
//! link (a duplicate email or the deactivation guard depends on the others), so explain and the
//! sync can never disagree. Used by `personio-lms explain` and
//! `GET /integrations/{id}/employees/{personio_id}`.

use super::roster::read_roster;
use crate::domain::IntegrationId;
use crate::domain::employee::{Employee, EmployeeParseError, PersonioId};
use crate::domain::link::{EmployeeLink, ManagerLink};
use crate::domain::lms::{LmsProfile, LmsUser};
use crate::domain::run::{EmployeeOutcome, OutcomeAction, RunId, RunKind, RunStatus};
use crate::domain::settings::IntegrationSettings;
use crate::ports::{HrError, HrSource, LearningPlatform, StoreError, SyncStore};
use crate::retry::Deadline;
use crate::sync::profile::{desired_groups, is_selected, map_profile};
use crate::sync::{PlannedChange, Roster, SyncPlan, SyncScope};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How many of the newest runs are searched for the employee's outcomes.
pub const RECENT_RUNS: usize = 20;

/// Who is asked about: a Personio id or an email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmployeeKey {
    PersonioId(PersonioId),
    Email(String),
}

impl EmployeeKey {
    /// `1042` is a Personio id, `anna@example.com` an email; anything else is refused.
    pub fn parse(text: &str) -> Result<Self, ExplainError> {
        let text = text.trim();
        if let Ok(id) = text.parse::<i64>()
            && id > 0
        {
            return Ok(Self::PersonioId(PersonioId(id)));
        }
        if crate::domain::settings::is_plausible_email(text) {
            return Ok(Self::Email(text.to_owned()));
        }
        Err(ExplainError::BadKey(text.to_owned()))
    }

    fn matches(&self, id: Option<PersonioId>, email: Option<&str>) -> bool {
        match self {
            Self::PersonioId(wanted) => id == Some(*wanted),
            Self::Email(wanted) => email.is_some_and(|email| email.eq_ignore_ascii_case(wanted)),
        }
    }
}

impl std::fmt::Display for EmployeeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PersonioId(id) => write!(f, "Personio id {id}"),
            Self::Email(email) => f.write_str(email),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("{0:?} is neither a Personio id (a number) nor an email address")]
    BadKey(String),
    /// Neither Personio, the links nor recent runs know the employee.
    #[error("no employee {0}: Personio does not list them, and no link or recent run names them")]
    Unknown(EmployeeKey),
    #[error("listing employees from Personio failed: {0}")]
    Personio(#[from] HrError),
    #[error("the state store failed: {0}")]
    Store(#[from] StoreError),
}

/// The selection attribute's verdict on the employee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub attribute: String,
    /// The attribute's value in Personio; `None` when the record does not have it.
    pub value: Option<String>,
    pub selected: bool,
    pub yes_values: Vec<String>,
}

/// What the next run would do for the employee, in the sync's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NextRun {
    /// `create`, `update`, `catch up`, `update manager`, `retry manager`, `repair`,
    /// `deactivate`, `skip`, `hold back`, `nothing`.
    pub action: &'static str,
    pub reason: String,
}

/// A recent run's outcome for the employee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunMention {
    pub run_id: RunId,
    pub started_at: DateTime<Utc>,
    pub dry_run: bool,
    pub status: RunStatus,
    pub outcome: EmployeeOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub personio_id: Option<PersonioId>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The answer in one sentence.
    pub verdict: String,
    /// Whether Personio lists the employee.
    pub in_personio: bool,
    /// Why Personio's record cannot be read, when it cannot.
    pub parse_error: Option<String>,
    pub selection: Option<Selection>,
    /// The profile the mapping makes (what the LMS receives), or why there is none.
    pub profile: Option<LmsProfile>,
    pub mapping_error: Option<String>,
    /// The profile's fields that carry a value: exactly what is sent to the LMS.
    pub fields_sent: Vec<String>,
    /// The LMS groups the employee belongs in.
    pub groups: Vec<String>,
    pub link: Option<EmployeeLink>,
    /// The LMS user as the LMS has it now (found by the link's external id, else by email).
    pub lms_user: Option<LmsUser>,
    /// Why the LMS could not be asked, when it could not.
    pub lms_error: Option<String>,
    pub next_run: NextRun,
    /// Newest first.
    pub recent_runs: Vec<RunMention>,
}

/// Explains one employee of an integration. Reads Personio (one full listing, as a sync does),
/// the links and recent runs, and asks the LMS for the user; writes nothing.
pub async fn explain_employee(
    hr: &dyn HrSource,
    lms: &dyn LearningPlatform,
    store: &dyn SyncStore,
    integration: &IntegrationId,
    settings: &IntegrationSettings,
    key: &EmployeeKey,
    deadline: Deadline,
) -> Result<Explanation, ExplainError> {
    let today = Utc::now().date_naive();
    let listed = list(hr, settings, key, deadline).await?;
    let links = store.links(integration).await?;
    let found_id = match &listed.record {
        Some(Ok(employee)) => Some(employee.id),
        Some(Err(error)) => error.employee_id,
        None => None,
    };
    let link = links
        .iter()
        .find(|link| match found_id {
            Some(id) => link.personio_id == id,
            None => key.matches(Some(link.personio_id), Some(&link.email)),
        })
        .cloned();
    let personio_id = found_id.or(link.as_ref().map(|link| link.personio_id));
    let plan = SyncPlan::new(
        listed.roster,
        links,
        settings,
        &SyncScope::Everyone,
        RunKind::Full,
    );
    let recent_runs = recent_runs(store, integration, key, personio_id).await?;

    let employee = listed
        .record
        .as_ref()
        .and_then(|record| record.as_ref().ok());
    if employee.is_none() && link.is_none() && recent_runs.is_empty() && found_id.is_none() {
        return Err(ExplainError::Unknown(key.clone()));
    }
    let mut explanation = Explanation {
        personio_id,
        name: employee
            .and_then(Employee::display_name)
            .or_else(|| recent_runs.iter().find_map(|run| run.outcome.name.clone())),
        email: employee
            .and_then(|employee| employee.email.clone())
            .or_else(|| link.as_ref().map(|link| link.email.clone())),
        verdict: String::new(),
        in_personio: listed.record.is_some(),
        parse_error: match &listed.record {
            Some(Err(error)) => Some(error.to_string()),
            _ => None,
        },
        selection: employee.map(|employee| selection(employee, settings)),
        profile: None,
        mapping_error: None,
        fields_sent: Vec::new(),
        groups: Vec::new(),
        next_run: next_run(&plan, personio_id, link.as_ref(), settings),
        link,
        lms_user: None,
        lms_error: None,
        recent_runs,
    };
    if let Some(employee) = employee {
        match map_profile(employee, settings, today) {
            Ok(profile) => {
                explanation.fields_sent = fields_with_values(&profile);
                explanation.groups = desired_groups(employee, settings).into_iter().collect();
                explanation.profile = Some(profile);
            }
            Err(error) => explanation.mapping_error = Some(error.to_string()),
        }
    }
    look_up_lms_user(lms, &mut explanation).await;
    explanation.verdict = verdict(&explanation, key);
    Ok(explanation)
}

struct Listed {
    roster: Roster,
    /// The employee's record: parsed, or why it cannot be; `None` when not listed.
    record: Option<Result<Employee, EmployeeParseError>>,
}

/// One full listing into the sync's roster, keeping the asked-for employee's record.
async fn list(
    hr: &dyn HrSource,
    settings: &IntegrationSettings,
    key: &EmployeeKey,
    deadline: Deadline,
) -> Result<Listed, HrError> {
    let mut record = None;
    let roster = read_roster(hr, settings, deadline, |page| {
        if record.is_none() {
            record = page
                .employees
                .iter()
                .find(|candidate| match candidate {
                    Ok(employee) => key.matches(Some(employee.id), employee.email.as_deref()),
                    Err(error) => key.matches(error.employee_id, None),
                })
                .cloned();
        }
    })
    .await?;
    Ok(Listed { roster, record })
}

fn selection(employee: &Employee, settings: &IntegrationSettings) -> Selection {
    let attribute = &settings.selection.attribute;
    Selection {
        attribute: attribute.clone(),
        value: employee
            .custom_attribute(attribute)
            .map(|custom| custom.value.as_text()),
        selected: is_selected(employee, &settings.selection),
        yes_values: settings.selection.yes_values.clone(),
    }
}

/// The names of the profile's fields that carry a value (`custom.costCenter` for custom ones):
/// the profile is mapped with the `fields` setting, so these are the personal data the LMS gets.
fn fields_with_values(profile: &LmsProfile) -> Vec<String> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(profile) else {
        return Vec::new();
    };
    let mut sent = Vec::new();
    for (name, value) in fields {
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::Object(custom) if name == "custom" => {
                sent.extend(custom.keys().map(|key| format!("custom.{key}")));
            }
            serde_json::Value::String(text) if text.is_empty() => {}
            _ => sent.push(name),
        }
    }
    sent
}

/// What the plan decided for the employee.
fn next_run(
    plan: &SyncPlan,
    personio_id: Option<PersonioId>,
    link: Option<&EmployeeLink>,
    settings: &IntegrationSettings,
) -> NextRun {
    let nothing = |reason: &str| NextRun {
        action: "nothing",
        reason: reason.to_owned(),
    };
    let Some(id) = personio_id else {
        return nothing("not in Personio's listing and never linked");
    };
    if let Some(change) = plan
        .changes
        .iter()
        .find(|change| change.personio_id() == id)
    {
        return match change {
            PlannedChange::Create { .. } => NextRun {
                action: "create",
                reason: "no LMS account is linked yet: the LMS user with this email is adopted, \
                         else one is created"
                    .into(),
            },
            PlannedChange::Update { link, .. } if !link.active => NextRun {
                action: "update",
                reason: "selected again after the sync deactivated the account".into(),
            },
            PlannedChange::Update { .. } => NextRun {
                action: "update",
                reason: "the profile changed since the last write".into(),
            },
            PlannedChange::CatchUp { target, link } => {
                let joins: Vec<String> = target.groups.difference(&link.groups).cloned().collect();
                let leaves: Vec<String> = if settings.groups.remove_when_moved {
                    link.groups.difference(&target.groups).cloned().collect()
                } else {
                    Vec::new()
                };
                let mut parts = Vec::new();
                if !joins.is_empty() {
                    parts.push(format!("joins {}", joins.join(", ")));
                }
                if !leaves.is_empty() {
                    parts.push(format!(
                        "leaves {} (groups the sync added)",
                        leaves.join(", ")
                    ));
                }
                if parts.is_empty() {
                    parts.push("the invitation it is owed is sent".to_owned());
                }
                NextRun {
                    action: "catch up",
                    reason: parts.join("; "),
                }
            }
            PlannedChange::Manager { reason, link, .. }
                if matches!(link.manager, ManagerLink::Pending { .. }) =>
            {
                NextRun {
                    action: "retry manager",
                    reason: format!(
                        "{reason}: the manager reference is written once the supervisor has an \
                         LMS account"
                    ),
                }
            }
            PlannedChange::Manager { reason, .. } => NextRun {
                action: "update manager",
                reason: reason.clone(),
            },
            // Planned by reconcile runs only (this plan is a normal run's), kept for completeness.
            PlannedChange::Repair { repair, .. } => NextRun {
                action: "repair",
                reason: repair.describe(),
            },
            PlannedChange::Deactivate { reason, .. } => NextRun {
                action: "deactivate",
                reason: reason.describe().into(),
            },
        };
    }
    if let Some(outcome) = plan
        .settled
        .iter()
        .find(|outcome| outcome.personio_id == Some(id))
    {
        let action = match outcome.action {
            OutcomeAction::HeldBack => "hold back",
            OutcomeAction::Skipped => "skip",
            _ => "nothing",
        };
        return NextRun {
            action,
            reason: outcome.reason.clone().unwrap_or_default(),
        };
    }
    if let Some(ManagerLink::Pending { supervisor }) = link.map(|link| &link.manager) {
        // A supervisor the sync does not give an account: normal runs do not ask the LMS again.
        return NextRun {
            action: "retry manager",
            reason: format!(
                "in sync, but without a manager reference: the supervisor (Personio employee \
                 {supervisor}) has no LMS account; it is written when the sync gives the \
                 supervisor one, or when a reconcile run finds one made in the LMS"
            ),
        };
    }
    nothing(
        "in sync: the LMS has the profile and groups last written, or the employee is not selected",
    )
}

async fn recent_runs(
    store: &dyn SyncStore,
    integration: &IntegrationId,
    key: &EmployeeKey,
    personio_id: Option<PersonioId>,
) -> Result<Vec<RunMention>, StoreError> {
    let runs = store.runs(integration, RECENT_RUNS).await?;
    Ok(runs
        .into_iter()
        .filter_map(|run| {
            let outcome = run.outcomes.iter().find(|outcome| match personio_id {
                Some(id) => outcome.personio_id == Some(id),
                None => key.matches(None, outcome.email.as_deref()),
            })?;
            Some(RunMention {
                run_id: run.run_id.clone(),
                started_at: run.started_at,
                dry_run: run.dry_run,
                status: run.status,
                outcome: outcome.clone(),
            })
        })
        .collect())
}

/// The LMS user by the Personio id as external id, else by email. A failure is recorded, not
/// raised: the rest of the answer stands without it.
async fn look_up_lms_user(lms: &dyn LearningPlatform, explanation: &mut Explanation) {
    let by_id = match explanation.personio_id {
        Some(id) => lms.find_user_by_external_id(&id.to_string()).await,
        None => Ok(None),
    };
    let found = match by_id {
        Ok(None) => match &explanation.email {
            Some(email) => lms.find_user_by_email(email).await,
            None => Ok(None),
        },
        other => other,
    };
    match found {
        Ok(user) => explanation.lms_user = user,
        Err(error) => explanation.lms_error = Some(error.to_string()),
    }
}

fn verdict(explanation: &Explanation, key: &EmployeeKey) -> String {
    let next = &explanation.next_run;
    let then = format!("next run: {} ({})", next.action, next.reason);
    if !explanation.in_personio {
        return match &explanation.link {
            Some(link) if link.active => {
                format!("Personio no longer lists {key}; the LMS user is still active; {then}")
            }
            Some(_) => format!("Personio no longer lists {key}; the LMS user was deactivated"),
            None => format!("Personio does not list {key}; it appears only in past runs"),
        };
    }
    if let Some(error) = &explanation.parse_error {
        return format!(
            "Personio's record cannot be read ({error}); the sync skips it and leaves any LMS \
             account as it is"
        );
    }
    match &explanation.selection {
        Some(selection) if !selection.selected => {
            let value = selection.value.as_ref().map_or_else(
                || "has no value".to_owned(),
                |value| format!("is {value:?}"),
            );
            format!(
                "not selected: {:?} {value} (selected when one of {}); {then}",
                selection.attribute,
                selection.yes_values.join(", ")
            )
        }
        Some(selection) => format!(
            "selected ({:?} is {:?}); {then}",
            selection.attribute,
            selection.value.as_deref().unwrap_or_default()
        ),
        None => then,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::GroupSource;
    use crate::lms::memory::MemoryLms;
    use crate::notify::MemoryNotifier;
    use crate::progress::NoProgress;
    use crate::store::MemoryStore;
    use crate::sync::testing::{SELECTION_LABEL, StaticHrSource, employee, select};
    use crate::sync::{SyncEngine, SyncRequest};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    const ACME: &str = "acme";

    struct World {
        hr: Arc<StaticHrSource>,
        lms: Arc<MemoryLms>,
        store: Arc<MemoryStore>,
        settings: IntegrationSettings,
    }

    impl World {
        fn new(staff: Vec<Employee>) -> Self {
            let mut settings = IntegrationSettings::new(SELECTION_LABEL);
            settings.groups.by = BTreeSet::from([GroupSource::Department]);
            Self {
                hr: Arc::new(StaticHrSource::of(staff)),
                lms: Arc::new(MemoryLms::with_groups(["Engineering"])),
                store: Arc::new(MemoryStore::new()),
                settings,
            }
        }

        async fn sync(&self) {
            let engine = SyncEngine::new(
                self.hr.clone(),
                self.lms.clone(),
                self.store.clone(),
                Arc::new(MemoryNotifier::new()),
            );
            let request = SyncRequest::new(
                IntegrationId::new(ACME),
                self.settings.clone(),
                crate::domain::run::Trigger::Cli,
            );
            engine.run(request, &NoProgress).await.expect("a run");
        }

        async fn explain(&self, key: &str) -> Result<Explanation, ExplainError> {
            explain_employee(
                self.hr.as_ref(),
                self.lms.as_ref(),
                self.store.as_ref(),
                &IntegrationId::new(ACME),
                &self.settings,
                &EmployeeKey::parse(key)?,
                Deadline::none(),
            )
            .await
        }
    }

    fn staff() -> Vec<Employee> {
        let anna = employee(1, "anna@example.com");
        let mut ben = employee(2, "ben@example.com");
        select(&mut ben, false);
        let mut cleo = employee(3, "cleo@example.com");
        cleo.email = None;
        vec![anna, ben, cleo]
    }

    #[tokio::test]
    async fn a_synced_employee_shows_profile_fields_link_lms_user_and_runs() {
        let world = World::new(staff());
        world.sync().await;
        let answer = world.explain("ANNA@example.com").await.expect("known");
        assert_eq!(answer.personio_id, Some(PersonioId(1)));
        assert_eq!(answer.name.as_deref(), Some("First1 Last1"));
        assert!(answer.selection.as_ref().is_some_and(|s| s.selected));
        assert!(answer.fields_sent.contains(&"email".to_owned()));
        assert!(answer.fields_sent.contains(&"department".to_owned()));
        assert!(
            !answer.fields_sent.contains(&"birthday".to_owned()),
            "no value, not sent"
        );
        assert_eq!(answer.groups, vec!["Engineering".to_owned()]);
        let link = answer.link.as_ref().expect("linked");
        assert_eq!(
            answer.lms_user.as_ref().map(|user| &user.id),
            Some(&link.lms_user_id)
        );
        assert_eq!(answer.next_run.action, "nothing");
        assert_eq!(answer.recent_runs.len(), 1);
        assert_eq!(answer.recent_runs[0].outcome.action, OutcomeAction::Created);
        assert!(
            answer
                .verdict
                .starts_with("selected (\"LMS Sync\" is \"ja\")"),
            "{}",
            answer.verdict
        );
    }

    #[tokio::test]
    async fn an_unselected_employee_is_explained_by_the_attribute_value() {
        let world = World::new(staff());
        world.sync().await;
        let answer = world.explain("2").await.expect("known");
        let selection = answer.selection.as_ref().expect("a selection verdict");
        assert!(!selection.selected);
        assert_eq!(selection.value.as_deref(), Some("nein"));
        assert!(answer.link.is_none());
        assert!(answer.lms_user.is_none());
        assert!(
            answer.verdict.starts_with(
                "not selected: \"LMS Sync\" is \"nein\" (selected when one of ja, yes, true)"
            ),
            "{}",
            answer.verdict
        );
    }

    #[tokio::test]
    async fn a_skipped_employee_gets_the_sync_s_own_reason() {
        let world = World::new(staff());
        world.sync().await;
        let answer = world.explain("3").await.expect("known");
        assert_eq!(answer.next_run.action, "skip");
        assert!(
            answer.next_run.reason.contains("no email"),
            "{:?}",
            answer.next_run
        );
        assert_eq!(
            answer.mapping_error.as_deref(),
            Some("no email address in Personio")
        );
        assert_eq!(answer.recent_runs.len(), 1, "the run recorded the skip");
        assert_eq!(answer.recent_runs[0].outcome.action, OutcomeAction::Skipped);
    }

    #[tokio::test]
    async fn a_deselected_linked_employee_would_be_deactivated() {
        let world = World::new(staff());
        world.sync().await;
        world.hr.update_employees(|employees| {
            if let Some(Ok(anna)) = employees.get_mut(0) {
                select(anna, false);
            }
        });
        let answer = world.explain("1").await.expect("known");
        assert_eq!(answer.next_run.action, "deactivate");
        assert_eq!(answer.next_run.reason, "deselected in Personio");
    }

    #[tokio::test]
    async fn unknown_employees_and_bad_keys_are_errors() {
        let world = World::new(staff());
        assert!(matches!(
            world.explain("999").await,
            Err(ExplainError::Unknown(EmployeeKey::PersonioId(PersonioId(
                999
            ))))
        ));
        assert!(matches!(
            world.explain("Anna").await,
            Err(ExplainError::BadKey(_))
        ));
        assert!(matches!(
            world.explain("-4").await,
            Err(ExplainError::BadKey(_))
        ));
    }
}
