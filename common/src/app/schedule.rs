//! The scheduler's core: every minute, claim the integrations whose sync is due and enqueue one
//! sync job for each.
//!
//! Exactly once per due run, even with two scheduler invocations at the same time: a run is
//! enqueued only by the invocation whose `claim_due_run` moved `next_run_at` (a conditional
//! write). A run whose integration still has a sync in progress (an unexpired lease) is not
//! stacked on top of it: the claim moves `next_run_at` on, and the job is skipped.

use super::delta_runs::full_run_due;
use super::observe::run_health;
use crate::domain::IntegrationId;
use crate::domain::integration::{IntegrationRecord, SyncSchedule};
use crate::domain::job::SyncJob;
use crate::domain::run::{RunKind, Trigger};
use crate::metrics::{ScheduledHealth, SchedulerPass};
use crate::ports::{IntegrationStore, JobQueue, LeaseStore, QueueError, RunStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

/// How many due integrations one query returns; the scheduler pages on until none are left.
const PAGE_SIZE: usize = 100;

/// At most this many pages per invocation: with an eventually consistent schedule index, a page
/// may repeat entries another invocation just claimed, and the next minute picks up the rest.
const MAX_PAGES: usize = 20;

/// Due integrations handled at the same time (store reads and writes, one SQS send each).
const CONCURRENCY: usize = 8;

/// What one scheduler invocation did, integration by integration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScheduleReport {
    /// A sync job was enqueued.
    pub enqueued: Vec<IntegrationId>,
    /// Due, but a sync was still in progress: moved on without a job.
    pub still_running: Vec<IntegrationId>,
    /// Another invocation claimed the run first (or the record changed meanwhile).
    pub claimed_elsewhere: Vec<IntegrationId>,
    /// Could not be handled; the run stays due (or was put back) for the next invocation.
    pub failed: Vec<(IntegrationId, String)>,
    /// The health of the integrations enqueued or still running, for the metrics (an
    /// integration whose history could not be read is left out).
    pub health: Vec<ScheduledHealth>,
}

impl ScheduleReport {
    /// The pass in numbers.
    pub fn pass(&self) -> SchedulerPass {
        SchedulerPass {
            enqueued: self.enqueued.len(),
            still_running: self.still_running.len(),
            claimed_elsewhere: self.claimed_elsewhere.len(),
            failed: self.failed.len(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("cannot list the due integrations: {0}")]
    Listing(#[source] StoreError),
}

/// One integration's fate.
enum Handled {
    Enqueued,
    StillRunning,
    ClaimedElsewhere,
    Failed(String),
}

/// When the run after one due at `seen` is due, claimed at `now`: on the integration's cadence
/// (`seen + interval`), unless that is already past (the scheduler was down), then one interval
/// from now, so that missed runs never come in a burst. `None` for manual integrations: a
/// `next_run_at` set on one is a one-off run.
pub fn next_run_after(
    schedule: SyncSchedule,
    seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let SyncSchedule::EveryMinutes(minutes) = schedule else {
        return None;
    };
    let interval = Duration::minutes(i64::from(minutes.max(1)));
    let on_cadence = seen.checked_add_signed(interval)?;
    if on_cadence > now {
        Some(on_cadence)
    } else {
        now.checked_add_signed(interval)
    }
}

/// Claims every integration due at `now` and enqueues its sync job; reads the health of those
/// enqueued or still running (the scheduler sees every scheduled integration once per interval,
/// also when its runs stopped happening).
pub async fn enqueue_due_syncs<S>(
    store: &S,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
) -> Result<ScheduleReport, ScheduleError>
where
    S: IntegrationStore + LeaseStore + RunStore + ?Sized,
{
    let mut report = ScheduleReport::default();
    for _ in 0..MAX_PAGES {
        let due = store
            .due_integrations(now, PAGE_SIZE)
            .await
            .map_err(ScheduleError::Listing)?;
        let page_len = due.len();
        let handled: Vec<(IntegrationId, Handled, Option<ScheduledHealth>)> =
            futures::stream::iter(due)
                .map(|record| async move {
                    let span = info_span!("schedule", integration = %record.id);
                    let handled = schedule_one(store, queue, &record, now)
                        .instrument(span)
                        .await;
                    let health = match handled {
                        Handled::Enqueued | Handled::StillRunning => {
                            run_health(store, &record.id, record.created_at, now)
                                .await
                                .map(|health| ScheduledHealth {
                                    integration: record.id.clone(),
                                    scheduled: matches!(
                                        record.schedule,
                                        SyncSchedule::EveryMinutes(_)
                                    ),
                                    health,
                                })
                        }
                        Handled::ClaimedElsewhere | Handled::Failed(_) => None,
                    };
                    (record.id, handled, health)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut progressed = false;
        for (id, handled, health) in handled {
            report.health.extend(health);
            match handled {
                Handled::Enqueued => {
                    progressed = true;
                    report.enqueued.push(id);
                }
                Handled::StillRunning => {
                    progressed = true;
                    report.still_running.push(id);
                }
                Handled::ClaimedElsewhere => report.claimed_elsewhere.push(id),
                Handled::Failed(reason) => report.failed.push((id, reason)),
            }
        }
        // A short page was the last one; a page where nothing moved would only repeat itself
        // (stale index entries, or failures that stay due until the next invocation).
        if page_len < PAGE_SIZE || !progressed {
            break;
        }
    }
    for list in [
        &mut report.enqueued,
        &mut report.still_running,
        &mut report.claimed_elsewhere,
    ] {
        list.sort();
    }
    report.failed.sort();
    report
        .health
        .sort_by(|a, b| a.integration.cmp(&b.integration));
    info!(
        enqueued = report.enqueued.len(),
        still_running = report.still_running.len(),
        claimed_elsewhere = report.claimed_elsewhere.len(),
        failed = report.failed.len(),
        "scheduler pass finished"
    );
    Ok(report)
}

async fn schedule_one<S>(
    store: &S,
    queue: &dyn JobQueue,
    record: &IntegrationRecord,
    now: DateTime<Utc>,
) -> Handled
where
    S: IntegrationStore + LeaseStore + ?Sized,
{
    // The index only lists records with a next run; a record without one is a stale entry.
    let Some(seen) = record.next_run_at else {
        return Handled::ClaimedElsewhere;
    };
    let next = next_run_after(record.schedule, seen, now);
    match store.claim_due_run(&record.id, seen, next).await {
        Ok(true) => {}
        Ok(false) => return Handled::ClaimedElsewhere,
        Err(error) => return Handled::Failed(format!("claiming the run failed: {error}")),
    }
    // After the claim: only the invocation that owns this run looks at the lease.
    match store.lease(&record.id).await {
        Ok(Some(lease)) if lease.expires_at > now => {
            info!(holder = %lease.holder, until = %lease.expires_at, ?next, "a sync is still in progress; not stacking another");
            return Handled::StillRunning;
        }
        Ok(_) => {}
        Err(error) => {
            return unclaim(
                store,
                record,
                seen,
                next,
                format!("reading the lease failed: {error}"),
            )
            .await;
        }
    }
    let kind = record
        .settings
        .scim
        .run_kind_due(seen, record.schedule.every_minutes());
    let job = SyncJob {
        integration_id: record.id.clone(),
        trigger: Trigger::Schedule,
        dry_run: false,
        kind,
        requested_at: now,
        employees: Vec::new(),
        // A reconcile reads everyone (and the LMS); only a plain full run may shrink to a delta.
        delta: kind == RunKind::Full && scheduled_delta(record, seen),
    };
    match queue.enqueue_sync(&job).await {
        Ok(()) => {
            info!(?next, "enqueued the scheduled sync");
            Handled::Enqueued
        }
        Err(error) => unclaim(store, record, seen, next, enqueue_failure(&error)).await,
    }
}

/// Whether the run due at `seen` may be a delta: on a cadence, with delta runs on, and not the
/// first run of a full-run period (`app::delta_runs`).
fn scheduled_delta(record: &IntegrationRecord, seen: DateTime<Utc>) -> bool {
    let SyncSchedule::EveryMinutes(minutes) = record.schedule else {
        return false;
    };
    let previous = seen - Duration::minutes(i64::from(minutes.max(1)));
    !full_run_due(&record.id, &record.settings.delta_runs, previous, seen)
}

fn enqueue_failure(error: &QueueError) -> String {
    format!("enqueueing the sync job failed: {error}")
}

/// Puts a claimed run back (`next` → `seen`, only if nobody moved it since), so that the next
/// invocation tries again instead of the run being lost for a whole interval.
async fn unclaim<S>(
    store: &S,
    record: &IntegrationRecord,
    seen: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    reason: String,
) -> Handled
where
    S: IntegrationStore + ?Sized,
{
    warn!(%reason, "could not schedule the run; putting it back");
    let Some(next) = next else {
        // A one-off run of a manual integration cannot be put back by a conditional move
        // (there is no `next` to condition on); the admin triggers it again.
        return Handled::Failed(format!("{reason}; the one-off run is dropped"));
    };
    match store.claim_due_run(&record.id, next, Some(seen)).await {
        Ok(true) => Handled::Failed(reason),
        Ok(false) => Handled::Failed(format!("{reason}; the record changed meanwhile")),
        Err(error) => Handled::Failed(format!(
            "{reason}; putting the run back failed too ({error}), it is due again at {next}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::IntegrationStore;
    use crate::store::MemoryStore;
    use crate::store::contract::integration_record;
    use std::sync::Mutex;

    /// Records enqueued jobs; refuses them while `refuse` is set.
    #[derive(Default)]
    struct RecordingQueue {
        jobs: Mutex<Vec<SyncJob>>,
        refuse: Mutex<bool>,
    }

    impl RecordingQueue {
        fn jobs(&self) -> Vec<SyncJob> {
            self.jobs
                .lock()
                .map(|jobs| jobs.clone())
                .unwrap_or_default()
        }
    }

    #[async_trait::async_trait]
    impl JobQueue for RecordingQueue {
        async fn enqueue_sync(&self, job: &SyncJob) -> Result<(), QueueError> {
            if *self.refuse.lock().unwrap() {
                return Err(QueueError::Unavailable("throttled".into()));
            }
            self.jobs.lock().unwrap().push(job.clone());
            Ok(())
        }

        async fn enqueue_certificate(
            &self,
            _integration: &IntegrationId,
            _certificate: &crate::domain::certificate::CertificateId,
            _job: &serde_json::Value,
        ) -> Result<(), QueueError> {
            Err(QueueError::Rejected("not a certificate queue".into()))
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn minutes(n: i64) -> Duration {
        Duration::minutes(n)
    }

    async fn store_with(records: &[(&str, Option<DateTime<Utc>>, SyncSchedule)]) -> MemoryStore {
        let store = MemoryStore::new();
        for (id, next_run_at, schedule) in records {
            let mut record = integration_record(id, "tenant", *next_run_at, 1);
            record.schedule = *schedule;
            store.put_integration(&record, None).await.unwrap();
        }
        store
    }

    fn ids(list: &[&str]) -> Vec<IntegrationId> {
        list.iter().map(|id| IntegrationId::new(*id)).collect()
    }

    #[test]
    fn next_run_keeps_the_cadence_and_never_bursts() {
        let every_15 = SyncSchedule::EveryMinutes(15);
        assert_eq!(
            next_run_after(every_15, t0(), t0() + minutes(1)),
            Some(t0() + minutes(15))
        );
        // Down for an hour: one run now, the next one interval later.
        assert_eq!(
            next_run_after(every_15, t0(), t0() + minutes(60)),
            Some(t0() + minutes(75))
        );
        assert_eq!(next_run_after(SyncSchedule::Manual, t0(), t0()), None);
    }

    #[tokio::test]
    async fn scheduled_runs_are_deltas_but_one_full_run_a_period_and_manual_runs_are_full() {
        // Every minute for a day: the jobs of one integration, run by run.
        let mut deltas = 0;
        let mut fulls = 0;
        for minute in 0..(24 * 60) {
            let due = t0() + minutes(minute);
            let store = store_with(&[("acme", Some(due), SyncSchedule::EveryMinutes(1))]).await;
            let queue = RecordingQueue::default();
            enqueue_due_syncs(&store, &queue, due).await.unwrap();
            match queue.jobs().as_slice() {
                [job] if job.delta => deltas += 1,
                [_] => fulls += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((fulls, deltas), (1, 24 * 60 - 1));

        let store = store_with(&[("once", Some(t0()), SyncSchedule::Manual)]).await;
        let queue = RecordingQueue::default();
        enqueue_due_syncs(&store, &queue, t0()).await.unwrap();
        assert!(!queue.jobs()[0].delta, "a one-off run is full");

        let store = MemoryStore::new();
        let mut record = integration_record("off", "tenant", Some(t0()), 1);
        record.schedule = SyncSchedule::EveryMinutes(1);
        record.settings.delta_runs.enabled = false;
        store.put_integration(&record, None).await.unwrap();
        let queue = RecordingQueue::default();
        enqueue_due_syncs(&store, &queue, t0()).await.unwrap();
        assert!(!queue.jobs()[0].delta, "delta runs off: every run is full");
    }

    #[tokio::test]
    async fn due_integrations_get_one_job_each_and_move_on() {
        let store = store_with(&[
            (
                "due",
                Some(t0() - minutes(1)),
                SyncSchedule::EveryMinutes(15),
            ),
            (
                "later",
                Some(t0() + minutes(1)),
                SyncSchedule::EveryMinutes(15),
            ),
            ("manual", None, SyncSchedule::Manual),
            ("one-off", Some(t0()), SyncSchedule::Manual),
        ])
        .await;
        let queue = RecordingQueue::default();
        let report = enqueue_due_syncs(&store, &queue, t0()).await.unwrap();
        assert_eq!(report.enqueued, ids(&["due", "one-off"]));
        assert_eq!(report.failed, vec![]);
        let jobs = queue.jobs();
        assert_eq!(jobs.len(), 2);
        assert!(jobs.iter().all(|job| job.trigger == Trigger::Schedule
            && !job.dry_run
            && job.requested_at == t0()));

        let due = store
            .integration(&IntegrationId::new("due"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(due.next_run_at, Some(t0() + minutes(14)));
        let one_off = store
            .integration(&IntegrationId::new("one-off"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one_off.next_run_at, None);
        // Their health, for the metrics: no run yet, so since their creation (the fixtures'
        // instant); only the scheduled one counts as scheduled.
        let health: Vec<(&str, bool, u32)> = report
            .health
            .iter()
            .map(|h| {
                (
                    h.integration.as_str(),
                    h.scheduled,
                    h.health.consecutive_failures,
                )
            })
            .collect();
        assert_eq!(health, [("due", true, 0), ("one-off", false, 0)]);
        let created = integration_record("due", "tenant", None, 1).created_at;
        assert_eq!(report.health[0].health.since_last_success, t0() - created);
        assert_eq!(report.pass().enqueued, 2);

        // The same minute again: nothing is due any more.
        let again = enqueue_due_syncs(&store, &queue, t0()).await.unwrap();
        assert_eq!(again, ScheduleReport::default());
        assert_eq!(queue.jobs().len(), 2);
    }

    #[tokio::test]
    async fn a_run_in_progress_is_not_stacked_but_its_schedule_moves() {
        let store = store_with(&[("busy", Some(t0()), SyncSchedule::EveryMinutes(5))]).await;
        let busy = IntegrationId::new("busy");
        crate::ports::LeaseStore::acquire_lease(&store, &busy, "run-1", t0(), minutes(10))
            .await
            .unwrap();
        let queue = RecordingQueue::default();
        let report = enqueue_due_syncs(&store, &queue, t0()).await.unwrap();
        assert_eq!(report.still_running, ids(&["busy"]));
        assert!(queue.jobs().is_empty());
        // A run that never ends still has its health reported.
        assert_eq!(report.health.len(), 1);
        let record = store.integration(&busy).await.unwrap().unwrap();
        assert_eq!(record.next_run_at, Some(t0() + minutes(5)));

        // The lease expired (its run died): the next due run is enqueued.
        let report = enqueue_due_syncs(&store, &queue, t0() + minutes(10))
            .await
            .unwrap();
        assert_eq!(report.enqueued, ids(&["busy"]));
    }

    #[tokio::test]
    async fn a_refused_job_puts_the_run_back_for_the_next_invocation() {
        let store = store_with(&[("acme", Some(t0()), SyncSchedule::EveryMinutes(30))]).await;
        let queue = RecordingQueue::default();
        *queue.refuse.lock().unwrap() = true;
        let report = enqueue_due_syncs(&store, &queue, t0()).await.unwrap();
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert!(report.failed[0].1.contains("throttled"), "{report:?}");
        let acme = IntegrationId::new("acme");
        let record = store.integration(&acme).await.unwrap().unwrap();
        assert_eq!(record.next_run_at, Some(t0()));

        *queue.refuse.lock().unwrap() = false;
        let report = enqueue_due_syncs(&store, &queue, t0() + minutes(1))
            .await
            .unwrap();
        assert_eq!(report.enqueued, vec![acme]);
    }

    #[tokio::test]
    async fn concurrent_passes_enqueue_each_run_once() {
        let records: Vec<(String, Option<DateTime<Utc>>, SyncSchedule)> = (0..250)
            .map(|n| {
                (
                    format!("int-{n:03}"),
                    Some(t0() - minutes(n % 7)),
                    SyncSchedule::EveryMinutes(10),
                )
            })
            .collect();
        let borrowed: Vec<(&str, Option<DateTime<Utc>>, SyncSchedule)> = records
            .iter()
            .map(|(id, next, schedule)| (id.as_str(), *next, *schedule))
            .collect();
        let store = store_with(&borrowed).await;
        let queue = RecordingQueue::default();
        let (first, second) = futures::join!(
            enqueue_due_syncs(&store, &queue, t0()),
            enqueue_due_syncs(&store, &queue, t0())
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first.enqueued.len() + second.enqueued.len(), 250);
        let mut enqueued: Vec<IntegrationId> = queue
            .jobs()
            .into_iter()
            .map(|job| job.integration_id)
            .collect();
        enqueued.sort();
        enqueued.dedup();
        assert_eq!(enqueued.len(), 250);
        assert_eq!(queue.jobs().len(), 250);
    }
}
