//! What the hosts report about finished work, beyond the run record and the batch outcomes: an
//! integration's health over its recent runs and its parked certificates, read from the stores
//! and turned into [`crate::metrics`] figures. A failed read only leaves a figure out (logged);
//! it never fails the work it reports on.

use crate::domain::IntegrationId;
use crate::metrics::{ParkedCertificates, RunHealth};
use crate::ports::{CertificateLedger, RunStore};
use chrono::{DateTime, Utc};
use tracing::warn;

/// How many of an integration's newest runs its health is computed from: enough that any
/// alarm on failed runs in a row fires well within it.
pub const HEALTH_HISTORY: usize = 50;

/// The integration's health from its newest runs; `created_at` stands in for the last success
/// of an integration that never had one.
pub async fn run_health<S: RunStore + ?Sized>(
    runs: &S,
    integration: &IntegrationId,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<RunHealth> {
    match runs.runs(integration, HEALTH_HISTORY).await {
        Ok(history) => {
            let complete = history.len() < HEALTH_HISTORY;
            Some(RunHealth::from_history(&history, complete, created_at, now))
        }
        Err(error) => {
            warn!(%integration, %error, "cannot read the run history for the integration's health");
            None
        }
    }
}

/// The integration's parked certificates now.
pub async fn parked_certificates<S: CertificateLedger + ?Sized>(
    ledger: &S,
    integration: &IntegrationId,
    now: DateTime<Utc>,
) -> Option<ParkedCertificates> {
    match ledger.parked_certificates(integration).await {
        Ok(entries) => Some(ParkedCertificates::of(&entries, now)),
        Err(error) => {
            warn!(%integration, %error, "cannot list the parked certificates");
            None
        }
    }
}
