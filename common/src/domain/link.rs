//! The employee link: what the sync remembers about one Personio employee's LMS account.

use super::IntegrationId;
use super::employee::PersonioId;
use super::lms::LmsUserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeLink {
    pub integration_id: IntegrationId,
    pub personio_id: PersonioId,
    pub lms_user_id: LmsUserId,
    /// The email last written to the LMS (lower-cased comparison happens in the engine).
    pub email: String,
    /// Stable hash of the last `LmsProfile` written; equal hash = nothing to write.
    pub profile_hash: String,
    /// Group names the sync has added this user to (the sync never removes memberships).
    pub groups: BTreeSet<String>,
    /// False once the sync has deactivated the account (deselected or gone from Personio).
    pub active: bool,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: 1 on first write, +1 on every write. A conditional write
    /// names the version it read; a store refuses it when the stored version differs.
    pub version: u64,
    /// The manager reference last written to the LMS user.
    #[serde(default)]
    pub manager: ManagerLink,
}

/// What the LMS user's manager reference was set to by the last write.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ManagerLink {
    /// Not recorded (a link written before references were tracked): the profile hash alone
    /// decides, and a reconcile run repairs a reference that is off.
    #[default]
    Unknown,
    /// No manager was written (no supervisor in Personio, or the reference was cleared).
    None,
    /// The supervisor's LMS user.
    Set { user: LmsUserId },
    /// The employee has a supervisor whose LMS user could not be found yet: every later run
    /// looks again until it is found and written.
    Pending { supervisor: PersonioId },
}
