//! The run record: what one sync run did, for the history, the summary email and the API.
//!
//! Fields added after the first release are `#[serde(default)]`: records stored before them
//! still read.

use super::IntegrationId;
use super::employee::PersonioId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What started the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The scheduler found the integration due.
    Schedule,
    /// "Sync now" through the admin API.
    Manual,
    /// The command line.
    Cli,
    /// The local demo.
    Demo,
    /// A Personio webhook event named the employees.
    Webhook,
}

/// What a run covers and what it is asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Every employee: the whole listing against every link. What changed in Personio since the
    /// links were written goes to the LMS.
    #[default]
    Full,
    /// Only the employees it names (`sync --only`, the admin API's employee sync, a job naming
    /// employees): each read by itself; nobody else is touched, nobody else is deactivated.
    Targeted,
    /// A full run that also reads the LMS's users and repairs what was changed there by hand
    /// (deleted, deactivated or edited users, removed group memberships). Scheduled less often.
    Reconcile,
    /// The employees Personio lists as changed since a time (`updated_since`, the previous
    /// successful run minus an overlap): planned as in a full run, but nobody it does not list
    /// is touched, so nobody is deactivated as gone (the periodic full run does that).
    Delta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every employee synced.
    Succeeded,
    /// The run finished but some employees failed or were held back.
    CompletedWithFailures,
    /// The run could not finish (Personio unreachable, credentials rejected, …).
    Failed,
    /// The run was stopped from outside (Ctrl-C, SIGTERM, a closed output, its deadline) and
    /// stopped cleanly: what it did is recorded and linked, the rest is left for the next run.
    Aborted,
    /// Never stored: how a `running` record reads once nothing runs it any more (its holder died
    /// without recording an end). Derived when the history is read, by
    /// `app::run_history::effective_status`.
    Abandoned,
}

/// What happened to one employee in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeAction {
    Created,
    /// An existing LMS user with the same email was linked and updated.
    Adopted,
    Updated,
    Deactivated,
    Unchanged,
    /// No LMS account yet, and the account would be locked (a leaver, a contract not started):
    /// not created, unless the settings create locked accounts (`create_locked_accounts`).
    NotCreated,
    /// Not synced because of its data (no email, duplicate email, unparseable attribute), or
    /// (in a targeted run) not selected or not in Personio.
    Skipped,
    /// A deactivation held back by the deactivation guard.
    HeldBack,
    Failed,
    /// A reconcile run restored what was changed in the LMS by hand (the reason says what).
    Repaired,
}

/// One field of the LMS profile that a run changed (or, in a dry run, would change). `None` is
/// "empty". Rendered the same way everywhere ([`fmt::Display`]): `~ department: Sales →
/// Marketing`, `+ team: Platform`, `- position: Engineer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's name as the `fields` setting names it (`department`, `status`, …), or the LMS
    /// field name of a custom attribute.
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match (&self.from, &self.to) {
            (Some(from), Some(to)) => write!(f, "~ {field}: {from} → {to}"),
            (None, Some(to)) => write!(f, "+ {field}: {to}"),
            (Some(from), None) => write!(f, "- {field}: {from}"),
            (None, None) => write!(f, "~ {field}"),
        }
    }
}

/// Fields added after the first release are `#[serde(default)]`, so stored records still read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeOutcome {
    pub personio_id: Option<PersonioId>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub action: OutcomeAction,
    /// Groups the user was added to in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_added: Vec<String>,
    /// Groups the sync had added and took the user out of in this run (a mover, with
    /// `groups.remove_when_moved` on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_removed: Vec<String>,
    /// The profile fields written, field by field (empty when the link kept no earlier profile
    /// to compare with, and for creates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invited: bool,
    /// Why: the error for failed/skipped, the guard for held back, what happened otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EmployeeOutcome {
    /// An outcome with nothing but who and what.
    pub fn new(personio_id: Option<PersonioId>, action: OutcomeAction) -> Self {
        Self {
            personio_id,
            email: None,
            name: None,
            action,
            groups_added: Vec::new(),
            groups_removed: Vec::new(),
            changes: Vec::new(),
            invited: false,
            reason: None,
        }
    }

    /// Every change as one line each: the fields, then `+ group …` and `- group …`.
    pub fn change_lines(&self) -> Vec<String> {
        let fields = self.changes.iter().map(ToString::to_string);
        let added = self
            .groups_added
            .iter()
            .map(|group| format!("+ group {group}"));
        let removed = self
            .groups_removed
            .iter()
            .map(|group| format!("- group {group}"));
        fields.chain(added).chain(removed).collect()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub created: u32,
    pub adopted: u32,
    pub updated: u32,
    pub deactivated: u32,
    pub unchanged: u32,
    pub skipped: u32,
    pub groups_added: u32,
    pub invitations: u32,
    pub failed: u32,
    pub held_back: u32,
    #[serde(default)]
    pub not_created: u32,
    #[serde(default)]
    pub groups_removed: u32,
    /// Planned changes the run did not apply because it stopped early (aborted, the learning
    /// platform unreachable, the lease lost); the next run plans them again.
    #[serde(default)]
    pub not_applied: u32,
    /// Users a reconcile run repaired.
    #[serde(default)]
    pub repaired: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub integration_id: IntegrationId,
    pub run_id: RunId,
    pub trigger: Trigger,
    #[serde(default)]
    pub kind: RunKind,
    /// The employees a targeted run was asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<PersonioId>,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub counts: RunCounts,
    /// Every employee with something to report. Unchanged employees are counted, not listed,
    /// so that a 10,000-employee no-change run stays a small record.
    pub outcomes: Vec<EmployeeOutcome>,
    /// Run-level notices: missing LMS groups (once each), the deactivation guard, parse errors.
    pub notices: Vec<String>,
    /// Why the run failed as a whole, when it did.
    pub error: Option<String>,
    /// The profile fields the run sends to the LMS (the `fields` setting, plus what is always
    /// sent): what personal data leaves Personio.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields_sent: Vec<String>,
    /// The requests the run sent to Personio and the LMS (zeros in records written before
    /// they were counted).
    #[serde(default)]
    pub stats: RunStats,
    /// Who ran it (the lease holder: `personio-lms on HOST (pid N)`, a Lambda request id). A
    /// `running` record whose holder no longer holds the lease is abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The run's deadline: a `running` record past it (and a short grace) is abandoned, which is
    /// how a dry run (it takes no lease) that died is told apart from one still going.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_by: Option<DateTime<Utc>>,
}

impl RunRecord {
    /// A run that starts at `started_at`: running, a full run of everyone, nothing counted,
    /// noticed or asked yet. Callers set what differs (`RunRecord { kind, ..RunRecord::started(…) }`),
    /// so that a field added to the record is added here once.
    pub fn started(
        integration_id: IntegrationId,
        run_id: RunId,
        trigger: Trigger,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            integration_id,
            run_id,
            trigger,
            kind: RunKind::Full,
            targets: Vec::new(),
            dry_run: false,
            started_at,
            finished_at: None,
            status: RunStatus::Running,
            counts: RunCounts::default(),
            outcomes: Vec::new(),
            notices: Vec::new(),
            error: None,
            fields_sent: Vec::new(),
            stats: RunStats::default(),
            holder: None,
            ends_by: None,
        }
    }
}

/// What a run asked of the remote systems.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    #[serde(default)]
    pub personio: RequestCounts,
    #[serde(default)]
    pub lms: RequestCounts,
}

/// HTTP requests one adapter sent, counted where they leave: every attempt counts, retries
/// included, so a run that was throttled shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    pub requests: u64,
    /// Requests answered 429 Too Many Requests.
    pub throttled: u64,
    /// The requests by kind (the SCIM client: `read`, `search`, `create`, `replace`, `patch`,
    /// `delete`, `bulk`); empty for an adapter that does not tell kinds apart.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_kind: BTreeMap<String, u64>,
}

impl RequestCounts {
    /// What was sent after `earlier` (a reading of the same counters): a run reads the counters
    /// of its adapters before and after and keeps the difference.
    pub fn since(&self, earlier: &Self) -> Self {
        let by_kind = self
            .by_kind
            .iter()
            .map(|(kind, count)| {
                let before = earlier.by_kind.get(kind).copied().unwrap_or(0);
                (kind.clone(), count.saturating_sub(before))
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        Self {
            requests: self.requests.saturating_sub(earlier.requests),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            by_kind,
        }
    }
}
