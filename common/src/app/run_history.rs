//! Reading the run history as it is, not as it was last written: a run whose holder died (kill -9,
//! power loss, a Lambda timeout) never recorded its end and stays `running` in the store. Every
//! reader (the CLI's `runs`, the admin API, hence the console) reads through here, so such a run
//! reads as `abandoned` everywhere, decided by one rule ([`effective_status`]).

use crate::domain::IntegrationId;
use crate::domain::run::{RunId, RunRecord, RunStatus};
use crate::ports::StoreError;
use crate::ports::{Lease, SyncStore};
use chrono::{DateTime, Duration, Utc};

/// Clocks of different hosts (a Lambda, the reader) may differ by this much (NTP keeps them far
/// closer; on one host there is none).
const CLOCK_SKEW: Duration = Duration::seconds(1);
/// A dry run (it takes no lease) past its deadline by this much is not running any more: every
/// call of it ends by the deadline, and recording its end takes moments.
const PAST_DEADLINE: Duration = Duration::minutes(1);
/// A dry run without a deadline is taken as gone this long after its start: it reads Personio and
/// looks up LMS users, which takes minutes even for a large company.
const DRY_RUN_AT_MOST: Duration = Duration::hours(1);
/// How many of the newest runs the next run looks through for abandoned ones.
const RECENT: usize = 5;

/// The status to show for `record`, given the integration's lease as read at `lease_read_at`
/// (read before the record). A `running` record is abandoned when its run cannot be going on any
/// more: a real run no longer holds the lease (gone, expired, or another holder's), a dry run is
/// past its deadline. A record that started after the lease was read is taken as running: its
/// run may have taken the lease after that read.
pub fn effective_status(
    record: &RunRecord,
    lease: Option<&Lease>,
    lease_read_at: DateTime<Utc>,
) -> RunStatus {
    if record.status != RunStatus::Running {
        return record.status;
    }
    if record.started_at + CLOCK_SKEW >= lease_read_at {
        return RunStatus::Running;
    }
    let running = if record.dry_run {
        let gone_after = record
            .ends_by
            .map_or(record.started_at + DRY_RUN_AT_MOST, |ends_by| {
                ends_by + PAST_DEADLINE
            });
        lease_read_at <= gone_after
    } else {
        lease.is_some_and(|lease| {
            lease.expires_at > lease_read_at
                && record
                    .holder
                    .as_ref()
                    .is_none_or(|holder| *holder == lease.holder)
        })
    };
    if running {
        RunStatus::Running
    } else {
        RunStatus::Abandoned
    }
}

/// The newest `limit` runs, newest first, each with its effective status.
pub async fn recent_runs(
    store: &dyn SyncStore,
    integration: &IntegrationId,
    limit: usize,
) -> Result<Vec<RunRecord>, StoreError> {
    let (lease, read_at) = read_lease(store, integration).await?;
    let mut runs = store.runs(integration, limit).await?;
    for run in &mut runs {
        run.status = effective_status(run, lease.as_ref(), read_at);
    }
    Ok(runs)
}

/// One run with its effective status.
pub async fn run(
    store: &dyn SyncStore,
    integration: &IntegrationId,
    run_id: &RunId,
) -> Result<Option<RunRecord>, StoreError> {
    let (lease, read_at) = read_lease(store, integration).await?;
    let mut run = store.run(integration, run_id).await?;
    if let Some(run) = &mut run {
        run.status = effective_status(run, lease.as_ref(), read_at);
    }
    Ok(run)
}

async fn read_lease(
    store: &dyn SyncStore,
    integration: &IntegrationId,
) -> Result<(Option<Lease>, DateTime<Utc>), StoreError> {
    let read_at = Utc::now();
    let lease = store.lease(integration).await?;
    Ok((lease, read_at))
}

/// What the next run says about runs that were abandoned since the last run that recorded its
/// end: one notice each (older abandoned runs were told by the run after them).
pub async fn abandoned_notices(
    store: &dyn SyncStore,
    integration: &IntegrationId,
) -> Result<Vec<String>, StoreError> {
    let runs = recent_runs(store, integration, RECENT).await?;
    Ok(runs
        .iter()
        .take_while(|run| matches!(run.status, RunStatus::Running | RunStatus::Abandoned))
        .filter(|run| run.status == RunStatus::Abandoned)
        .map(|run| {
            format!(
                "run {} (started {}{}) never recorded its end: its process stopped without \
                 cleaning up, so it is shown as abandoned; this run picks up where it left off",
                run.run_id,
                run.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                run.holder
                    .as_ref()
                    .map(|holder| format!(" by {holder}"))
                    .unwrap_or_default(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run::Trigger;
    use crate::ports::{LeaseStore, RunStore};
    use crate::store::MemoryStore;

    fn record(id: &str, started_at: DateTime<Utc>, dry_run: bool) -> RunRecord {
        RunRecord {
            dry_run,
            holder: Some(format!("holder of {id}")),
            ends_by: Some(started_at + Duration::minutes(10)),
            kind: Default::default(),
            ..RunRecord::started(
                IntegrationId::new("acme"),
                RunId(id.into()),
                Trigger::Cli,
                started_at,
            )
        }
    }

    fn lease(holder: &str, expires_at: DateTime<Utc>) -> Lease {
        Lease {
            integration_id: IntegrationId::new("acme"),
            holder: holder.into(),
            expires_at,
        }
    }

    #[test]
    fn a_running_record_is_abandoned_once_its_holder_lost_the_lease() {
        let now = Utc::now();
        let run = record("r1", now - Duration::minutes(3), false);
        let held = lease("holder of r1", now + Duration::minutes(2));
        assert_eq!(effective_status(&run, Some(&held), now), RunStatus::Running);
        let expired = lease("holder of r1", now - Duration::seconds(1));
        assert_eq!(
            effective_status(&run, Some(&expired), now),
            RunStatus::Abandoned
        );
        let other = lease("someone else", now + Duration::minutes(2));
        assert_eq!(
            effective_status(&run, Some(&other), now),
            RunStatus::Abandoned
        );
        assert_eq!(effective_status(&run, None, now), RunStatus::Abandoned);
        // Finished records read as they were written.
        let mut done = run.clone();
        done.status = RunStatus::Aborted;
        assert_eq!(effective_status(&done, None, now), RunStatus::Aborted);
    }

    #[test]
    fn a_run_that_started_after_the_lease_was_read_is_running() {
        let read_at = Utc::now();
        let run = record("r1", read_at + Duration::milliseconds(20), false);
        assert_eq!(effective_status(&run, None, read_at), RunStatus::Running);
    }

    #[test]
    fn a_dry_run_is_abandoned_a_minute_past_its_deadline_or_an_hour_after_its_start() {
        let now = Utc::now();
        let going = record("d1", now - Duration::minutes(5), true);
        assert_eq!(effective_status(&going, None, now), RunStatus::Running);
        let dead = record("d2", now - Duration::minutes(12), true);
        assert_eq!(effective_status(&dead, None, now), RunStatus::Abandoned);
        let mut unbounded = record("d3", now - Duration::minutes(50), true);
        unbounded.ends_by = None;
        assert_eq!(effective_status(&unbounded, None, now), RunStatus::Running);
        unbounded.started_at = now - Duration::minutes(61);
        assert_eq!(
            effective_status(&unbounded, None, now),
            RunStatus::Abandoned
        );
    }

    #[tokio::test]
    async fn readers_and_the_next_run_see_abandoned_runs() {
        let store = MemoryStore::new();
        let acme = IntegrationId::new("acme");
        let now = Utc::now();
        let mut finished = record("r1", now - Duration::hours(2), false);
        finished.status = RunStatus::Succeeded;
        store.put_run(&finished).await.unwrap();
        store
            .put_run(&record("r2", now - Duration::hours(1), false))
            .await
            .unwrap();
        store
            .put_run(&record("r3", now - Duration::minutes(1), false))
            .await
            .unwrap();
        store
            .acquire_lease(&acme, "holder of r3", now, Duration::minutes(5))
            .await
            .unwrap();

        let runs = recent_runs(&store, &acme, 10).await.unwrap();
        let statuses: Vec<_> = runs.iter().map(|run| run.status).collect();
        assert_eq!(
            statuses,
            [
                RunStatus::Running,
                RunStatus::Abandoned,
                RunStatus::Succeeded
            ]
        );
        let one = run(&store, &acme, &RunId("r2".into())).await.unwrap();
        assert_eq!(one.map(|run| run.status), Some(RunStatus::Abandoned));

        let notices = abandoned_notices(&store, &acme).await.unwrap();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0].contains("run r2") && notices[0].contains("by holder of r2"),
            "{notices:?}"
        );
    }
}
