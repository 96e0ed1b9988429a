//! The learning platform's side: the profile the sync maintains and the users and groups it finds.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The LMS's own id of a user (SCIM `id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LmsUserId(pub String);

impl fmt::Display for LmsUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The LMS's own id of a group (SCIM `id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LmsGroupId(pub String);

impl fmt::Display for LmsGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The role every new user gets. It is sent on create only, never again, so that an LMS admin
/// can promote a user without the next sync undoing it.
pub const DEFAULT_ROLE: &str = "User";

/// The supervisor as the LMS sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    /// The supervisor's Personio id (the manager's `externalId` in the LMS).
    pub personio_id: Option<String>,
    pub name: Option<String>,
}

/// Everything the sync writes to an LMS user: the synced fields and nothing else. Its stable hash
/// (see the engine) decides whether an employee changed since the last run, so field order and
/// formatting must be deterministic (`BTreeMap`, dates as `NaiveDate`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmsProfile {
    /// The Personio id, as text (SCIM `externalId`).
    pub external_id: String,
    /// Primary work email, also the SCIM `userName`.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    /// The mapped status ("Preboarding", "Active", "Absent", "Inactive" by default).
    pub status: String,
    /// Whether the account may sign in (false when locked or deactivated).
    pub active: bool,
    /// The position.
    pub title: Option<String>,
    pub department: Option<String>,
    pub team: Option<String>,
    /// The office.
    pub location: Option<String>,
    /// The subcompany.
    pub company: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub hire_date: Option<NaiveDate>,
    pub contract_end_date: Option<NaiveDate>,
    pub termination_date: Option<NaiveDate>,
    pub employment_type: Option<String>,
    pub manager: Option<Manager>,
    /// The Personio id again, as the enterprise `employeeNumber`.
    pub employee_number: Option<String>,
    /// Admin-chosen custom attributes: LMS field name → value.
    pub custom: BTreeMap<String, String>,
}

/// A user as found in the LMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmsUser {
    pub id: LmsUserId,
    pub external_id: Option<String>,
    /// The userName / primary email as the LMS holds it.
    pub email: String,
    pub active: bool,
}

/// A group as found in the LMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmsGroup {
    pub id: LmsGroupId,
    pub name: String,
}
