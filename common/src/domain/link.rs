//! The employee link: what the sync remembers about one Personio employee's LMS account.

use super::IntegrationId;
use super::employee::PersonioId;
use super::lms::{LmsProfile, LmsUserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Fields added after the first release are `#[serde(default)]`: a link stored before them reads
/// as "not known yet" and gets them at its next write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeLink {
    pub integration_id: IntegrationId,
    pub personio_id: PersonioId,
    pub lms_user_id: LmsUserId,
    /// The email last written to the LMS (lower-cased comparison happens in the engine).
    pub email: String,
    /// Stable hash of the last `LmsProfile` written; equal hash = nothing to write.
    pub profile_hash: String,
    /// Group names the sync has added this user to. Only these are ever removed by the sync
    /// (when `groups.remove_when_moved` is on); memberships made by hand are never touched.
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
    /// The profile last written to the LMS, so that the next change can be told field by field.
    /// `None` for a link written before profiles were kept: it has only its hash until its next
    /// write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<LmsProfile>,
    /// When the invitation email was sent (once per account, never again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_at: Option<DateTime<Utc>>,
    /// An invitation is owed: the sync created the account with invitations on, and it has not
    /// been sent yet (the account was created locked, or the email failed). It is sent when the
    /// account can sign in, by the first run that finds it so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invitation_pending: bool,
}

impl EmployeeLink {
    /// The display name of the last profile written, when one is kept.
    pub fn name(&self) -> Option<&str> {
        self.profile.as_ref()?.display_name.as_deref()
    }
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
