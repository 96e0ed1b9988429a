//! What became of certificate jobs: one job's outcome, a batch's report and counts, and the
//! progress a host may watch.

use super::error::{IntegrationProblem, PushError};
use crate::domain::certificate::CertificateId;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What happened to one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PushOutcome {
    /// Uploaded now.
    Uploaded {
        document_id: String,
    },
    /// Pushed earlier (a redelivery or a repeated backfill): nothing done.
    AlreadyDone {
        document_id: String,
    },
    /// Found in Personio after an earlier worker's claim expired (it uploaded, then died before
    /// recording it): recorded, not uploaded again.
    Recovered {
        document_id: String,
    },
    /// The employee is not linked yet; the job waits in the ledger for the next sync run (and
    /// fails once it has waited `parked_expiry_days`). `reason` says whom it waits for.
    Parked {
        reason: String,
    },
    /// Another worker holds an unexpired claim: try again later.
    Busy {
        until: DateTime<Utc>,
    },
    Failed {
        reason: String,
        retryable: bool,
    },
}

impl PushOutcome {
    /// Whether the job should be delivered again (a queue host reports it as a batch item
    /// failure; everything else is finished or recorded).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Busy { .. }
                | Self::Failed {
                    retryable: true,
                    ..
                }
        )
    }

    pub(super) fn failed(error: &PushError) -> Self {
        Self::Failed {
            reason: error.to_string(),
            retryable: error.is_retryable(),
        }
    }
}

/// One job's outcome, by its position in the batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// The job's index in the batch as given (for mapping back to queue messages or NDJSON lines).
    pub index: usize,
    /// `None` when the job had no readable certificate id.
    pub certificate_id: Option<CertificateId>,
    #[serde(flatten)]
    pub outcome: PushOutcome,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub jobs: Vec<JobReport>,
    pub integration_problem: Option<IntegrationProblem>,
}

/// How many jobs ended how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchCounts {
    pub uploaded: usize,
    pub already_done: usize,
    pub recovered: usize,
    pub parked: usize,
    pub busy: usize,
    pub failed_retryable: usize,
    pub failed_permanent: usize,
}

impl BatchReport {
    pub fn counts(&self) -> BatchCounts {
        let mut counts = BatchCounts::default();
        for job in &self.jobs {
            match job.outcome {
                PushOutcome::Uploaded { .. } => counts.uploaded += 1,
                PushOutcome::AlreadyDone { .. } => counts.already_done += 1,
                PushOutcome::Recovered { .. } => counts.recovered += 1,
                PushOutcome::Parked { .. } => counts.parked += 1,
                PushOutcome::Busy { .. } => counts.busy += 1,
                PushOutcome::Failed {
                    retryable: true, ..
                } => counts.failed_retryable += 1,
                PushOutcome::Failed {
                    retryable: false, ..
                } => counts.failed_permanent += 1,
            }
        }
        counts
    }

    /// The jobs to deliver again.
    pub fn retryable(&self) -> impl Iterator<Item = &JobReport> {
        self.jobs.iter().filter(|job| job.outcome.is_retryable())
    }
}

/// Told after every job, so a CLI can draw a progress bar.
pub trait PushProgress: Send + Sync {
    fn job_finished(&self, _done: usize, _total: usize, _report: &JobReport) {}
}

impl PushProgress for crate::progress::NoProgress {}
