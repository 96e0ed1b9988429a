//! The integration record: one Personio account connected to one LMS tenant, as the admin API
//! stores it and the scheduler and the Lambda hosts read it. It names where the secrets are,
//! never what they are.

use super::IntegrationId;
use super::settings::IntegrationSettings;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationRecord {
    pub id: IntegrationId,
    /// The tenant that owns the integration (the admin API's JWT claim).
    pub tenant_id: String,
    /// A name for people ("ACME GmbH → Academy").
    pub name: String,
    pub personio: PersonioConnection,
    pub lms: LmsConnection,
    pub settings: IntegrationSettings,
    pub schedule: SyncSchedule,
    /// When the scheduler next enqueues a sync; `None` for manual-only integrations.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Where the Personio client id/secret and the LMS token are kept (a Secrets Manager name).
    pub secret_ref: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, as for employee links: 1 on create, +1 on every write.
    pub version: u64,
    /// The certificate push's current integration-wide problem (a configured document category
    /// that does not exist, rejected credentials, unusable settings): every certificate fails
    /// until it is fixed, so it belongs on the integration, not only on each job. Cleared by the
    /// next push that works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_problem: Option<IntegrationNotice>,
}

/// A problem shown with an integration, and since when it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationNotice {
    pub message: String,
    pub since: DateTime<Utc>,
}

/// The non-secret half of the Personio connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonioConnection {
    /// `None`: Personio's production API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

/// The non-secret half of the LMS connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmsConnection {
    pub scim_base_url: String,
}

/// How often the integration syncs by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncSchedule {
    /// Only "sync now" (admin API) or the CLI.
    Manual,
    /// Every N minutes (1 to 1440).
    EveryMinutes(u32),
}

impl SyncSchedule {
    /// The minutes between scheduled runs; `None` for manual integrations.
    pub fn every_minutes(&self) -> Option<u32> {
        match self {
            Self::Manual => None,
            Self::EveryMinutes(minutes) => Some(*minutes),
        }
    }

    /// The next due time after a run was enqueued at `now`, or `None` for manual integrations.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Manual => None,
            Self::EveryMinutes(minutes) => Some(now + Duration::minutes(i64::from(*minutes))),
        }
    }
}
