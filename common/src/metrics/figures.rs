//! The figures every metrics surface shows, computed once from the records: a run's
//! ([`RunFigures`]), an integration's health over its recent runs ([`RunHealth`]), its parked
//! certificates ([`ParkedCertificates`]) and a certificate batch's ([`CertificateFigures`]). The
//! EMF lines, the Prometheus page and `personio-lms runs show` all read these, so they agree.

use crate::certificates::BatchCounts;
use crate::domain::IntegrationId;
use crate::domain::certificate::{LedgerEntry, LedgerState};
use crate::domain::run::{RequestCounts, RunRecord, RunStatus};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// What one run did, in numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunFigures {
    /// Created, or adopted (an existing LMS user linked by email).
    pub created: u32,
    pub updated: u32,
    pub deactivated: u32,
    pub skipped: u32,
    pub failed: u32,
    pub held_back: u32,
    pub personio: RequestCounts,
    pub lms: RequestCounts,
    /// From start to finish; `None` while the run has not finished.
    pub duration_ms: Option<u64>,
}

impl RunFigures {
    pub fn of(record: &RunRecord) -> Self {
        let counts = &record.counts;
        Self {
            created: counts.created + counts.adopted,
            updated: counts.updated,
            deactivated: counts.deactivated,
            skipped: counts.skipped,
            failed: counts.failed,
            held_back: counts.held_back,
            personio: record.stats.personio.clone(),
            lms: record.stats.lms.clone(),
            duration_ms: record.finished_at.map(|finished| {
                u64::try_from((finished - record.started_at).num_milliseconds()).unwrap_or(0)
            }),
        }
    }
}

/// The name of a run's status as stored and shown (`completed_with_failures`).
pub fn status_name(status: RunStatus) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{status:?}").to_lowercase(),
    }
}

/// The run's kind as its record names it (`full`, `targeted`, …); records that name none are
/// full runs (every run before kinds existed was one).
pub fn kind_name(record: &RunRecord) -> String {
    match serde_json::to_value(record) {
        Ok(serde_json::Value::Object(mut fields)) => match fields.remove("kind") {
            Some(serde_json::Value::String(kind)) => kind,
            _ => "full".to_owned(),
        },
        _ => "full".to_owned(),
    }
}

/// How an integration has been doing over its recent runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RunHealth {
    /// Finished real runs that failed as a whole, newest first, before the first that did not.
    pub consecutive_failures: u32,
    /// Since the newest real run that finished (succeeded, or completed with some employees
    /// failed): since its finish. With none in the history read, since the integration was
    /// created if that history is complete, else since the oldest run read (a lower bound).
    pub since_last_success: Duration,
}

impl RunHealth {
    /// From `newest_first` (an integration's newest runs, as `RunStore::runs` lists them):
    /// `complete` says the list holds every run the store has (fewer than asked for), and
    /// `created_at` is when the integration was created.
    pub fn from_history(
        newest_first: &[RunRecord],
        complete: bool,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        // Dry runs change nothing; a run still going says nothing yet.
        let finished: Vec<&RunRecord> = newest_first
            .iter()
            .filter(|run| !run.dry_run && run.status != RunStatus::Running)
            .collect();
        let consecutive_failures = finished
            .iter()
            .take_while(|run| run.status == RunStatus::Failed)
            .count();
        let last_success = finished
            .iter()
            .find(|run| {
                matches!(
                    run.status,
                    RunStatus::Succeeded | RunStatus::CompletedWithFailures
                )
            })
            .map(|run| run.finished_at.unwrap_or(run.started_at));
        let since = match last_success {
            Some(at) => at,
            None if complete => created_at,
            None => newest_first
                .iter()
                .map(|run| run.started_at)
                .min()
                .unwrap_or(created_at),
        };
        Self {
            consecutive_failures: u32::try_from(consecutive_failures).unwrap_or(u32::MAX),
            since_last_success: (now - since).max(Duration::zero()),
        }
    }

    pub fn minutes_since_last_success(&self) -> u64 {
        u64::try_from(self.since_last_success.num_minutes()).unwrap_or(0)
    }
}

/// The certificates of an integration waiting for their employee's link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ParkedCertificates {
    pub count: usize,
    /// How long the one parked longest has waited (since it was parked); `None` when none is.
    pub oldest_age: Option<Duration>,
}

impl ParkedCertificates {
    /// From the ledger's parked entries (others are ignored).
    pub fn of(entries: &[LedgerEntry], now: DateTime<Utc>) -> Self {
        let parked: Vec<&LedgerEntry> = entries
            .iter()
            .filter(|entry| matches!(entry.state, LedgerState::Parked { .. }))
            .collect();
        Self {
            count: parked.len(),
            oldest_age: parked
                .iter()
                // Since it was first parked: a re-parked entry's `updated_at` moves on.
                .filter_map(|entry| entry.parked_since())
                .min()
                .map(|oldest| (now - oldest).max(Duration::zero())),
        }
    }

    pub fn oldest_age_seconds(&self) -> u64 {
        self.oldest_age
            .and_then(|age| u64::try_from(age.num_seconds()).ok())
            .unwrap_or(0)
    }
}

/// What became of the certificate jobs of one batch (or one release of parked jobs), for one
/// integration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CertificateFigures {
    pub uploaded: usize,
    /// Found in Personio after a crashed attempt, recorded without a second upload.
    pub recovered: usize,
    pub parked: usize,
    /// Failed for good (recorded on the ledger with the reason).
    pub failed: usize,
    /// To be delivered again: busy elsewhere, a retryable failure, or held back in its message
    /// group.
    pub retried: usize,
    /// Pushed before: nothing done.
    pub already_done: usize,
}

impl CertificateFigures {
    pub fn of(counts: &BatchCounts) -> Self {
        Self {
            uploaded: counts.uploaded,
            recovered: counts.recovered,
            parked: counts.parked,
            failed: counts.failed_permanent,
            retried: counts.busy + counts.failed_retryable,
            already_done: counts.already_done,
        }
    }

    pub fn add(&mut self, other: &Self) {
        self.uploaded += other.uploaded;
        self.recovered += other.recovered;
        self.parked += other.parked;
        self.failed += other.failed;
        self.retried += other.retried;
        self.already_done += other.already_done;
    }

    pub fn total(&self) -> usize {
        self.uploaded
            + self.recovered
            + self.parked
            + self.failed
            + self.retried
            + self.already_done
    }
}

/// What one scheduler pass did, in numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerPass {
    pub enqueued: usize,
    /// Due, but a sync was still in progress.
    pub still_running: usize,
    pub claimed_elsewhere: usize,
    /// Could not be handled; left due for the next pass.
    pub failed: usize,
}

/// A finished sync run as a host reports it: the record, the integration's health after it,
/// and the parked certificates released after it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunObservation {
    pub record: RunRecord,
    /// Whether the integration syncs on a schedule (then the time since its last success is a
    /// figure worth an alarm).
    pub scheduled: bool,
    pub health: Option<RunHealth>,
    /// What the release of parked certificates after the run did, when there was one.
    pub released: Option<CertificateFigures>,
    /// The integration's parked certificates after the release, when it pushes certificates.
    pub parked: Option<ParkedCertificates>,
}

/// An integration the scheduler handled, and its health as it found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduledHealth {
    pub integration: IntegrationId,
    /// Whether it syncs on a schedule (a manual integration can have a one-off due run).
    pub scheduled: bool,
    pub health: RunHealth,
}
