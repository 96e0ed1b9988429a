//! Work items that travel through the job queues.

use super::IntegrationId;
use super::employee::PersonioId;
use super::run::Trigger;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A request to run one sync of one integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    pub integration_id: IntegrationId,
    pub trigger: Trigger,
    #[serde(default)]
    pub dry_run: bool,
    pub requested_at: DateTime<Utc>,
    /// A targeted run of just these employees; empty: everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub employees: Vec<PersonioId>,
    /// A scheduled run that may be a delta: the consumer lists only the employees changed since
    /// the previous successful run (minus an overlap), or runs a full sync when there is none
    /// to start from. Ignored for a job naming employees.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delta: bool,
}
