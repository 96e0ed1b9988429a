//! The run record: what one sync run did, for the history, the summary email and the API.

use super::IntegrationId;
use super::employee::PersonioId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
}

/// What the run was asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// The usual run: what changed in Personio since the links were written goes to the LMS.
    #[default]
    Full,
    /// A full run that also reads the LMS's users and repairs what was changed there by hand
    /// (deleted, deactivated or edited users, removed group memberships). Scheduled less often.
    Reconcile,
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
    /// Not synced because of its data (no email, duplicate email, unparseable attribute).
    Skipped,
    /// A deactivation held back by the deactivation guard.
    HeldBack,
    Failed,
    /// A reconcile run restored what was changed in the LMS by hand (the reason says what).
    Repaired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeOutcome {
    pub personio_id: Option<PersonioId>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub action: OutcomeAction,
    /// Groups the user was added to in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_added: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invited: bool,
    /// Why: the error for failed/skipped, the guard for held back, the changed fields otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
    /// Users a reconcile run repaired.
    #[serde(default)]
    pub repaired: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub integration_id: IntegrationId,
    pub run_id: RunId,
    #[serde(default)]
    pub kind: RunKind,
    pub trigger: Trigger,
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
}
