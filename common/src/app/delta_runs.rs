//! Which scheduled runs are deltas, and where a delta starts.
//!
//! - The scheduler ([`full_run_due`]): a scheduled run is full when it is the first one due in
//!   its integration's full-run period (`delta_runs.full_every_hours`, default a day; the
//!   periods of different integrations are offset by their id so that their full runs spread
//!   over the period); the others are deltas. Decided from the due times alone, so the claim
//!   that makes each run happen once makes it full or delta once too.
//! - The consumer ([`scheduled_scope`]): a delta lists the employees changed since the newest
//!   successful full or delta run started, minus `delta_runs.overlap_minutes` (changes saved
//!   while that run listed, clocks apart). Without such a run among the newest
//!   [`RUNS_SEARCHED`], or when it is older than the full-run period, the run is full: a full run
//!   is always right, a delta only cheaper.

use crate::domain::IntegrationId;
use crate::domain::run::{RunKind, RunStatus};
use crate::domain::settings::DeltaRunSettings;
use crate::ports::{RunStore, StoreError};
use crate::sync::SyncScope;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// How many of the newest runs are searched for the run a delta starts from (targeted runs from
/// webhooks come in between).
pub const RUNS_SEARCHED: usize = 200;

/// Whether the scheduled run due at `due` (the one before was due at `previous_due`) is the
/// first of a full-run period: then it is a full run.
pub fn full_run_due(
    integration: &IntegrationId,
    settings: &DeltaRunSettings,
    previous_due: DateTime<Utc>,
    due: DateTime<Utc>,
) -> bool {
    if !settings.enabled {
        return true;
    }
    let period = settings.full_every().num_seconds().max(1);
    let digest = Sha256::digest(integration.as_str().as_bytes());
    let offset = i64::from(u32::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ])) % period;
    let period_of = |at: DateTime<Utc>| (at.timestamp() - offset).div_euclid(period);
    period_of(previous_due) != period_of(due)
}

/// The scope of a scheduled run whose job allows a delta, decided at `now`.
pub async fn scheduled_scope(
    runs: &dyn RunStore,
    integration: &IntegrationId,
    settings: &DeltaRunSettings,
    now: DateTime<Utc>,
) -> Result<SyncScope, StoreError> {
    if !settings.enabled {
        return Ok(SyncScope::Everyone);
    }
    let recent = runs.runs(integration, RUNS_SEARCHED).await?;
    let base = recent.iter().find(|run| {
        !run.dry_run
            && matches!(run.kind, RunKind::Full | RunKind::Delta)
            && matches!(
                run.status,
                RunStatus::Succeeded | RunStatus::CompletedWithFailures
            )
    });
    let Some(base) = base else {
        return Ok(SyncScope::Everyone);
    };
    let since = base.started_at - settings.overlap();
    if since < now - settings.full_every() {
        return Ok(SyncScope::Everyone);
    }
    Ok(SyncScope::ChangedSince(
        since.min(now - Duration::seconds(1)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run::{RunId, RunRecord, Trigger};
    use crate::store::MemoryStore;

    fn at(hours: i64, minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap()
            + Duration::hours(hours)
            + Duration::minutes(minutes)
    }

    #[test]
    fn one_scheduled_run_per_period_is_full() {
        let settings = DeltaRunSettings::default();
        let acme = IntegrationId::new("acme");
        // Every 5 minutes for three days: exactly one full run a day.
        let dues: Vec<DateTime<Utc>> = (0..(3 * 24 * 12)).map(|step| at(0, step * 5)).collect();
        let full = dues
            .windows(2)
            .filter(|pair| full_run_due(&acme, &settings, pair[0], pair[1]))
            .count();
        assert!((2..=3).contains(&full), "{full}");
        // Another integration's full runs fall elsewhere in the day.
        let first_full = |id: &str| {
            dues.windows(2)
                .position(|pair| full_run_due(&IntegrationId::new(id), &settings, pair[0], pair[1]))
        };
        assert_ne!(first_full("acme"), first_full("globex"));
        let off = DeltaRunSettings {
            enabled: false,
            ..settings
        };
        assert!(full_run_due(&acme, &off, at(0, 0), at(0, 5)));
    }

    fn run(kind: RunKind, status: RunStatus, started_at: DateTime<Utc>) -> RunRecord {
        RunRecord {
            kind,
            finished_at: Some(started_at + Duration::minutes(1)),
            status,
            ..RunRecord::started(
                IntegrationId::new("acme"),
                RunId::generate(),
                Trigger::Schedule,
                started_at,
            )
        }
    }

    #[tokio::test]
    async fn a_delta_starts_at_the_newest_good_full_or_delta_run_minus_the_overlap() {
        let store = MemoryStore::new();
        let acme = IntegrationId::new("acme");
        let settings = DeltaRunSettings::default();
        let now = at(10, 0);
        assert_eq!(
            scheduled_scope(&store, &acme, &settings, now)
                .await
                .unwrap(),
            SyncScope::Everyone,
            "no run to start from"
        );
        store
            .put_run(&run(RunKind::Full, RunStatus::Succeeded, at(9, 0)))
            .await
            .unwrap();
        store
            .put_run(&run(
                RunKind::Delta,
                RunStatus::CompletedWithFailures,
                at(9, 30),
            ))
            .await
            .unwrap();
        // Newer, but not a base: a failed delta and a targeted run.
        store
            .put_run(&run(RunKind::Delta, RunStatus::Failed, at(9, 50)))
            .await
            .unwrap();
        store
            .put_run(&run(RunKind::Targeted, RunStatus::Succeeded, at(9, 55)))
            .await
            .unwrap();
        assert_eq!(
            scheduled_scope(&store, &acme, &settings, now)
                .await
                .unwrap(),
            SyncScope::ChangedSince(at(9, 25))
        );
        // A base older than the full-run period makes the run full.
        assert_eq!(
            scheduled_scope(&store, &acme, &settings, at(40, 0))
                .await
                .unwrap(),
            SyncScope::Everyone
        );
    }
}
