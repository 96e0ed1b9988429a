//! The in-process work of `personio-lms serve`: the scheduler (each integration's own interval,
//! the app layer's claim), the sync worker and the certificate worker, both on the durable
//! SQLite queue, and what each does when the host shuts down. Every finished run, certificate
//! batch and scheduler pass is reported to the host's [`MetricsRegistry`] (`GET /metrics`), as
//! the Lambda hosts write them as EMF lines.
//!
//! Shutdown: every loop stops taking work at once; a sync run or a certificate batch in flight is
//! given `grace` to finish. What does not finish is handed back to the queue (delivered again on
//! the next start, not counted as a failure), and an abandoned run's lease is released, so the
//! next start neither waits for it nor sees the integration as busy.

use chrono::{DateTime, Utc};
use common::app::{
    CertificateConsumer, ConsumedBatch, RecordOutcome, SyncJobDone, SyncJobHandler,
    enqueue_due_syncs,
};
use common::certificates::{Clock, PushOutcome};
use common::domain::IntegrationId;
use common::metrics::MetricsRegistry;
use common::ports::LeaseStore;
use common::retry::Deadline;
use common::store::{JobKind, ReceivedJob, Release, Released, SqliteJobQueue, SqliteStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, error, info, info_span, warn};

/// How the workers pace themselves.
#[derive(Clone, Copy, Debug)]
pub struct WorkerSettings {
    /// How often the scheduler looks for due integrations.
    pub scheduler_tick: Duration,
    /// How often an idle worker looks at the queue.
    pub poll: Duration,
    /// Sync runs at the same time (never two of one integration).
    pub sync_workers: usize,
    /// How long one sync run may take.
    pub sync_budget: Duration,
    /// Certificate jobs taken at once.
    pub certificate_batch: usize,
    /// How long one certificate batch may take.
    pub certificate_budget: Duration,
    /// How long work in flight may still take after a shutdown was asked for.
    pub grace: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            scheduler_tick: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            sync_workers: 2,
            sync_budget: Duration::from_secs(30 * 60),
            certificate_batch: 10,
            certificate_budget: Duration::from_secs(120),
            grace: Duration::from_secs(60),
        }
    }
}

/// What the workers share.
#[derive(Clone)]
pub struct WorkerContext {
    pub store: Arc<SqliteStore>,
    pub queue: SqliteJobQueue,
    pub clock: Clock,
    pub settings: WorkerSettings,
    /// This host's name for leases ("personio-lms serve on HOST (pid N)").
    pub holder: String,
    /// What `GET /metrics` shows: every finished run and certificate batch.
    pub metrics: Arc<MetricsRegistry>,
}

/// A shutdown request every loop watches.
pub type Stop = watch::Receiver<bool>;

/// Waits until a shutdown is asked for.
pub async fn stopped(stop: &mut Stop) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Sleeps for `duration`; `true` when a shutdown came first.
async fn sleep_or_stop(duration: Duration, stop: &mut Stop) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *stop.borrow(),
        () = stopped(stop) => true,
    }
}

/// The wait before a failed job is delivered again: 30 s, doubling, at most 15 minutes.
fn retry_delay(receives: u32) -> chrono::Duration {
    let doublings = receives.saturating_sub(1).min(5);
    chrono::Duration::seconds((30_i64 << doublings).min(15 * 60))
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Every `scheduler_tick`: claims the integrations that are due and queues their sync jobs.
pub async fn scheduler(context: WorkerContext, mut stop: Stop) {
    loop {
        let now = (context.clock)();
        match enqueue_due_syncs(context.store.as_ref(), &context.queue, now).await {
            Ok(report) => {
                context
                    .metrics
                    .observe_scheduled_health(&report.health, now);
                if !report.enqueued.is_empty() || !report.failed.is_empty() {
                    info!(
                        enqueued = report.enqueued.len(),
                        still_running = report.still_running.len(),
                        failed = report.failed.len(),
                        "scheduler pass"
                    );
                }
            }
            Err(error) => warn!(%error, "the scheduler could not list the due integrations"),
        }
        if sleep_or_stop(context.settings.scheduler_tick, &mut stop).await {
            info!("scheduler stopped");
            return;
        }
    }
}

/// The most waiting jobs of one integration taken together: webhook events that arrived close
/// together become one targeted run (`app::job_batch`), as the Lambda host's batches do.
const JOBS_PER_RUN: usize = 50;

/// Runs sync jobs, at most `sync_workers` integrations at once and one worker per integration;
/// what waits for one integration is taken together and folded into as few runs as do the work.
pub async fn sync_worker(context: WorkerContext, handler: Arc<SyncJobHandler>, mut stop: Stop) {
    let settings = context.settings;
    let mut running: JoinSet<Vec<i64>> = JoinSet::new();
    let mut held: HashMap<i64, (ReceivedJob, String)> = HashMap::new();
    let settle = |finished: Result<Vec<i64>, tokio::task::JoinError>,
                  held: &mut HashMap<i64, (ReceivedJob, String)>| {
        if let Ok(job_ids) = finished {
            for job_id in job_ids {
                held.remove(&job_id);
            }
        }
    };
    loop {
        while let Some(finished) = running.try_join_next() {
            settle(finished, &mut held);
        }
        if *stop.borrow() {
            break;
        }
        let free = settings.sync_workers.saturating_sub(running.len());
        if free > 0 {
            let now = (context.clock)();
            let visibility = chrono(settings.sync_budget) + chrono::Duration::minutes(5);
            match context
                .queue
                .receive_groups(JobKind::Sync, free, JOBS_PER_RUN, now, visibility)
                .await
            {
                Ok(jobs) => {
                    for jobs in by_group(jobs) {
                        let first = jobs[0].job_id;
                        let holder = format!("{} job {first}", context.holder);
                        for job in &jobs {
                            held.insert(job.job_id, (job.clone(), holder.clone()));
                        }
                        let span = info_span!(
                            "serve_sync",
                            job = first,
                            jobs = jobs.len(),
                            integration = %jobs[0].group
                        );
                        running.spawn(
                            run_sync_jobs(context.clone(), handler.clone(), jobs, holder)
                                .instrument(span),
                        );
                    }
                }
                Err(error) => warn!(%error, "cannot read the sync queue"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(settings.poll) => {}
            () = stopped(&mut stop) => {}
            Some(finished) = running.join_next(), if !running.is_empty() => {
                settle(finished, &mut held);
            }
        }
    }
    if !running.is_empty() {
        info!(
            runs = running.len(),
            grace_s = settings.grace.as_secs(),
            "waiting for sync runs in flight"
        );
    }
    let drained = tokio::time::timeout(settings.grace, async {
        while let Some(finished) = running.join_next().await {
            settle(finished, &mut held);
        }
    })
    .await;
    if drained.is_err() {
        running.abort_all();
        while let Some(finished) = running.join_next().await {
            settle(finished, &mut held);
        }
    }
    let mut released = std::collections::HashSet::new();
    for (job, holder) in held.into_values() {
        hand_back_sync(&context, &job, &holder, released.insert(holder.clone())).await;
    }
    info!("sync worker stopped");
}

/// The received jobs by integration, each group in queue order.
fn by_group(jobs: Vec<ReceivedJob>) -> Vec<Vec<ReceivedJob>> {
    let mut groups: Vec<Vec<ReceivedJob>> = Vec::new();
    for job in jobs {
        match groups.iter_mut().find(|group| group[0].group == job.group) {
            Some(group) => group.push(job),
            None => groups.push(vec![job]),
        }
    }
    groups
}

/// One integration's waiting jobs, folded into runs by the app layer; then each job settled by
/// the result of the run it was folded into: acknowledged, or delivered again later.
async fn run_sync_jobs(
    context: WorkerContext,
    handler: Arc<SyncJobHandler>,
    jobs: Vec<ReceivedJob>,
    holder: String,
) -> Vec<i64> {
    let deadline = Deadline::after(context.settings.sync_budget);
    let messages: Vec<_> = jobs.iter().map(ReceivedJob::message).collect();
    let results = handler.handle_batch(&messages, deadline, &holder).await;
    let mut observed = std::collections::HashSet::new();
    for result in &results {
        if let Ok(SyncJobDone::Ran {
            run_id,
            observation,
            ..
        }) = &result.result
            && observed.insert(run_id.clone())
        {
            context.metrics.observe(observation, Utc::now());
        }
    }
    for job in &jobs {
        let result = results
            .iter()
            .find(|result| result.message_id == job.job_id.to_string());
        let settled = match result {
            Some(result) if result.retry => {
                let retry_at = (context.clock)() + retry_delay(job.receives);
                let reason = result.result.as_ref().err().cloned().unwrap_or_default();
                context
                    .queue
                    .release(job, Release::Failed, retry_at, &reason)
                    .await
                    .map(|released| log_release(job, released, retry_at))
            }
            // A run that happened (whatever its verdict), a held lease, a job that can never
            // run: done (the handler has logged it; the run history has the rest).
            _ => context.queue.acknowledge(job).await.map(|_| ()),
        };
        if let Err(error) = settled {
            warn!(job = job.job_id, %error, "the sync job's queue entry could not be settled; it is delivered again after its visibility");
        }
    }
    jobs.iter().map(|job| job.job_id).collect()
}

/// A run cut off by the shutdown: its lease released, its job delivered again on the next start.
/// (`release_lease`: the first job of a run's jobs releases the run's lease.)
async fn hand_back_sync(
    context: &WorkerContext,
    job: &ReceivedJob,
    holder: &str,
    release_lease: bool,
) {
    let integration = IntegrationId::new(job.group.clone());
    if release_lease && let Err(error) = context.store.release_lease(&integration, holder).await {
        error!(%integration, %error, "the lease of an interrupted run could not be released; it expires by itself");
    }
    match context
        .queue
        .release(
            job,
            Release::HandBack,
            (context.clock)(),
            "the host shut down during the run",
        )
        .await
    {
        Ok(_) => {
            warn!(%integration, job = job.job_id, "a sync run did not finish before the shutdown; its job runs again on the next start")
        }
        Err(error) => {
            error!(%integration, %error, "an interrupted sync job could not be handed back; it is delivered again after its visibility")
        }
    }
}

fn log_release(job: &ReceivedJob, released: Released, retry_at: DateTime<Utc>) {
    match released {
        Released::Retried => info!(job = job.job_id, %retry_at, "job delivered again later"),
        Released::Dead => error!(
            job = job.job_id,
            receives = job.receives,
            "job failed too often; set aside as dead"
        ),
        Released::NotHeld => warn!(
            job = job.job_id,
            "job was taken over after its visibility ended"
        ),
    }
}

/// Pushes certificate jobs in batches, in order per integration.
pub async fn certificate_worker(
    context: WorkerContext,
    consumer: Arc<CertificateConsumer>,
    mut stop: Stop,
) {
    let settings = context.settings;
    loop {
        if *stop.borrow() {
            break;
        }
        let now = (context.clock)();
        let visibility = chrono(settings.certificate_budget) + chrono::Duration::minutes(5);
        let jobs = match context
            .queue
            .receive(
                JobKind::Certificate,
                settings.certificate_batch,
                settings.certificate_batch,
                now,
                visibility,
            )
            .await
        {
            Ok(jobs) => jobs,
            Err(error) => {
                warn!(%error, "cannot read the certificate queue");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            if sleep_or_stop(settings.poll, &mut stop).await {
                break;
            }
            continue;
        }
        let messages = jobs.iter().map(ReceivedJob::message).collect();
        let batch = consumer.consume(messages, Deadline::after(settings.certificate_budget));
        let mut stop_for_batch = stop.clone();
        let cut_off = async {
            stopped(&mut stop_for_batch).await;
            tokio::time::sleep(settings.grace).await;
        };
        tokio::select! {
            consumed = batch => {
                observe_batch(&context.metrics, &consumed);
                settle_certificates(&context, &jobs, consumed.records).await
            }
            () = cut_off => {
                // The pushes in flight are abandoned; their ledger claims expire and the next
                // start looks for the documents before uploading anything again.
                for job in &jobs {
                    if let Err(error) = context.queue.release(job, Release::HandBack, (context.clock)(), "the host shut down").await {
                        error!(job = job.job_id, %error, "an interrupted certificate job could not be handed back");
                    }
                }
                warn!(jobs = jobs.len(), "certificate jobs did not finish before the shutdown; handed back");
                break;
            }
        }
    }
    info!("certificate worker stopped");
}

/// A certificate batch's figures, by integration, with the parked certificates of those that
/// parked jobs (as the certificate-push function's EMF lines).
fn observe_batch(metrics: &MetricsRegistry, batch: &ConsumedBatch) {
    for (integration, figures) in &batch.figures {
        metrics.observe_certificates(integration, figures, batch.parked.get(integration));
    }
    metrics.observe_dropped_certificates(batch.dropped);
}

async fn settle_certificates(
    context: &WorkerContext,
    jobs: &[ReceivedJob],
    records: Vec<(String, RecordOutcome)>,
) {
    for (message_id, outcome) in records {
        let Some(job) = jobs.iter().find(|job| job.job_id.to_string() == message_id) else {
            continue;
        };
        let now = (context.clock)();
        let settled = if !outcome.redeliver() {
            context.queue.acknowledge(job).await.map(|_| ())
        } else {
            let (release, retry_at, reason) = match &outcome {
                // Another worker's claim: back when it ends, and no fault of the job's.
                RecordOutcome::Pushed(PushOutcome::Busy { until }) => (
                    Release::HandBack,
                    *until + chrono::Duration::seconds(1),
                    "another worker holds the certificate".to_owned(),
                ),
                RecordOutcome::HeldBack | RecordOutcome::DeadlinePassed => (
                    Release::HandBack,
                    now,
                    "not reached in this batch".to_owned(),
                ),
                other => (
                    Release::Failed,
                    now + retry_delay(job.receives),
                    failure_reason(other),
                ),
            };
            context
                .queue
                .release(job, release, retry_at, &reason)
                .await
                .map(|released| log_release(job, released, retry_at))
        };
        if let Err(error) = settled {
            warn!(job = job.job_id, %error, "a certificate job's queue entry could not be settled; it is delivered again after its visibility");
        }
    }
}

/// Why a certificate job is delivered again, for the dead job it may become.
fn failure_reason(outcome: &RecordOutcome) -> String {
    match outcome {
        RecordOutcome::Pushed(PushOutcome::Failed { reason, .. })
        | RecordOutcome::IntegrationUnavailable { reason }
        | RecordOutcome::Panicked { reason }
        | RecordOutcome::Dropped { reason } => reason.clone(),
        RecordOutcome::Pushed(other) => format!("push outcome {other:?}"),
        RecordOutcome::HeldBack => "held back behind a failed job of its integration".into(),
        RecordOutcome::DeadlinePassed => "no time left in the batch".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_delay(1).num_seconds(), 30);
        assert_eq!(retry_delay(2).num_seconds(), 60);
        assert_eq!(retry_delay(5).num_seconds(), 480);
        assert_eq!(retry_delay(40).num_seconds(), 900);
    }
}
