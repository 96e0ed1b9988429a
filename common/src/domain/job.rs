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
}
