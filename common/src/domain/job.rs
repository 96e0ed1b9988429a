//! Work items that travel through the job queues.

use super::IntegrationId;
use super::employee::PersonioId;
use super::run::{RunKind, Trigger};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A request to run one sync of one integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    pub integration_id: IntegrationId,
    pub trigger: Trigger,
    #[serde(default)]
    pub dry_run: bool,
    /// A full run, or a reconcile (which also repairs what was changed in the LMS by hand). A
    /// job naming `employees` is a targeted run (`full` or `targeted` here; a reconcile names
    /// nobody).
    #[serde(default)]
    pub kind: RunKind,
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
