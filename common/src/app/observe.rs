//! What the hosts report about finished work, beyond the run record and the batch outcomes: an
//! integration's health over its recent runs and its parked certificates, read from the stores
//! and turned into [`crate::metrics`] figures. A failed read only leaves a figure out (logged);
//! it never fails the work it reports on.

use crate::certificates::{BatchReport, JobReport, PushOutcome};
use crate::domain::IntegrationId;
use crate::metrics::{CertificateFigures, ParkedCertificates, RunHealth};
use crate::ports::{CertificateLedger, RunStore};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// What became of one record of a certificate batch, as far as the figures care.
pub(super) enum Tallied<'a> {
    /// The pusher handled it.
    Pushed(&'a PushOutcome),
    /// Not processed (held back, out of time, its integration unavailable): delivered again.
    NotProcessed,
    /// Can never be pushed (no or an unknown integration): counted in total only, so that an id
    /// that names no integration never becomes a metric.
    Dropped,
}

/// A certificate batch's outcomes by integration, counted as the records come in.
#[derive(Default)]
pub(super) struct CertificateTally {
    /// Per integration: the pushed jobs' outcomes, and how many records were not processed.
    outcomes: BTreeMap<IntegrationId, (Vec<JobReport>, usize)>,
    /// Which integration each message group's records named, for the records not processed.
    group_integrations: HashMap<String, IntegrationId>,
    /// Integrations whose jobs were parked in the batch.
    parked_in: BTreeSet<IntegrationId>,
    dropped: usize,
}

/// A batch's figures: by integration, the parked certificates of those that parked, and the
/// records dropped.
pub(super) struct BatchFigures {
    pub figures: BTreeMap<IntegrationId, CertificateFigures>,
    pub parked: BTreeMap<IntegrationId, ParkedCertificates>,
    pub dropped: usize,
}

impl CertificateTally {
    /// One record of message group `group`, of `integration` when the record named one.
    pub fn count(
        &mut self,
        group: Option<&str>,
        integration: Option<IntegrationId>,
        record: Tallied<'_>,
    ) {
        if let (Some(group), Some(integration)) = (group, &integration) {
            self.group_integrations
                .insert(group.to_owned(), integration.clone());
        }
        let integration = integration
            .or_else(|| group.and_then(|group| self.group_integrations.get(group).cloned()));
        match (record, integration) {
            (Tallied::Dropped, _) => self.dropped += 1,
            (Tallied::Pushed(pushed), Some(integration)) => {
                if matches!(pushed, PushOutcome::Parked { .. }) {
                    self.parked_in.insert(integration.clone());
                }
                let (jobs, _) = self.outcomes.entry(integration).or_default();
                jobs.push(JobReport {
                    index: jobs.len(),
                    certificate_id: None,
                    outcome: pushed.clone(),
                });
            }
            (Tallied::NotProcessed, Some(integration)) => {
                self.outcomes.entry(integration).or_default().1 += 1;
            }
            (_, None) => {}
        }
    }

    /// The figures, with the parked certificates of the integrations that parked jobs read now.
    pub async fn finish<L: CertificateLedger + ?Sized>(
        self,
        ledger: &L,
        now: DateTime<Utc>,
    ) -> BatchFigures {
        let mut parked = BTreeMap::new();
        for integration in self.parked_in {
            if let Some(figures) = parked_certificates(ledger, &integration, now).await {
                parked.insert(integration, figures);
            }
        }
        let figures = self
            .outcomes
            .into_iter()
            .map(|(integration, (jobs, not_processed))| {
                let report = BatchReport {
                    jobs,
                    integration_problem: None,
                };
                let mut figures = CertificateFigures::of(&report.counts());
                figures.retried += not_processed;
                (integration, figures)
            })
            .collect();
        BatchFigures {
            figures,
            parked,
            dropped: self.dropped,
        }
    }
}
