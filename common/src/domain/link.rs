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
}
