//! A durable job queue in the state file (table `jobs`): what SQS is to the Lambda hosts, for a
//! host that runs on one machine (`personio-lms serve`). The [`JobQueue`] port enqueues; a worker
//! in the same process receives, acknowledges and releases.
//!
//! It keeps SQS's rules, so the consumers of the app layer behave the same on both hosts:
//! - **Visibility.** A received job is invisible to other receivers until its visibility
//!   timeout; a worker that dies with it (a crash, a kill) loses it only until then. Only the
//!   receipt of the latest receive can acknowledge or release it, so a worker that outlived its
//!   visibility cannot remove a job another worker now holds.
//! - **Groups in order.** Jobs of one group (the integration) are received oldest first, and no
//!   job of a group is received while another of that group is in flight or waits for a retry:
//!   one integration's certificates keep their order, and its sync jobs never run side by side.
//! - **Deduplication.** A certificate job with the same content as one already queued or in
//!   flight is not queued again (the same deduplication id as SQS FIFO's: a hash of the job), so
//!   a corrected job for the same certificate is queued; a sync job equal to one still waiting
//!   (same integration, same dry-run flag, same kind of run, same employees named) is the same
//!   request and is not queued twice.
//! - **Dead jobs.** A job released more often than `max_receives` stops being delivered and is
//!   kept with its last reason for the admin, like a dead-letter queue.

use super::SqliteStore;
use super::connection::{OperationResult, query_all, query_optional, write_transaction};
use crate::domain::IntegrationId;
use crate::domain::certificate::CertificateId;
use crate::domain::job::SyncJob;
use crate::domain::run::RunKind;
use crate::ports::{JobQueue, QueueError, QueueMessage, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Transaction, params};
use std::collections::{HashMap, HashSet};

/// The two queues that share the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    Sync,
    Certificate,
}

impl JobKind {
    fn column(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Certificate => "certificate",
        }
    }
}

/// Deliveries of one job before it is set aside as dead (SQS's `maxReceiveCount`).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// The durable queue. Clones share the state file's connection.
#[derive(Clone, Debug)]
pub struct SqliteJobQueue {
    store: SqliteStore,
    max_receives: u32,
}

/// A job a worker holds until it acknowledges or releases it, or its visibility ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedJob {
    pub job_id: i64,
    pub kind: JobKind,
    /// The integration.
    pub group: String,
    pub body: String,
    /// Deliveries so far, this one included.
    pub receives: u32,
    receipt: String,
}

impl ReceivedJob {
    /// The job as the app layer's consumers take it (message id = job id, group = integration).
    pub fn message(&self) -> QueueMessage {
        QueueMessage {
            message_id: self.job_id.to_string(),
            body: self.body.clone(),
            group_id: Some(self.group.clone()),
        }
    }
}

/// Whether a release counts as a failed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The job failed and is tried again at `retry_at`; past `max_receives` it is dead.
    Failed,
    /// The job was not worked on to the end through no fault of its own (the worker shuts down,
    /// another worker holds the certificate): the delivery does not count.
    HandBack,
}

/// What became of a released job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// Delivered again from `retry_at`.
    Retried,
    /// Set aside after its last allowed delivery.
    Dead,
    /// The receipt is stale: the visibility ended and the job was received again (or is gone).
    NotHeld,
}

/// A job set aside after too many deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJob {
    pub job_id: i64,
    pub group: String,
    pub body: String,
    pub receives: u32,
    pub reason: String,
    pub enqueued_at: DateTime<Utc>,
}

/// How many jobs of a kind are where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting to be received (now or after a retry delay).
    pub waiting: usize,
    /// Received and not yet acknowledged, released or timed out.
    pub in_flight: usize,
    pub dead: usize,
}

struct LiveJob {
    job_id: i64,
    group: String,
    body: String,
    receives: u32,
    visible_at_us: i64,
    in_flight: bool,
}

impl SqliteJobQueue {
    /// The queue in `store`'s state file.
    pub fn new(store: &SqliteStore) -> Self {
        Self {
            store: store.clone(),
            max_receives: DEFAULT_MAX_RECEIVES,
        }
    }

    pub fn with_max_receives(mut self, max_receives: u32) -> Self {
        self.max_receives = max_receives.max(1);
        self
    }

    /// Enqueues `body` unless `dedup` names a job that counts as the same (see the module).
    async fn enqueue(
        &self,
        kind: JobKind,
        group: String,
        dedup: String,
        body: String,
    ) -> Result<(), QueueError> {
        let now = Utc::now().timestamp_micros();
        self.store
            .call(move |connection| {
                write_transaction(connection, |transaction| {
                    // A certificate job is one job while it is anywhere in the queue; a sync request
                    // only while it still waits (one that runs already may have read old data).
                    let duplicate_sql = match kind {
                        JobKind::Certificate => {
                            "SELECT job_id FROM jobs WHERE kind = ?1 AND dedup_key = ?2
                             AND dead_reason IS NULL LIMIT 1"
                        }
                        JobKind::Sync => {
                            "SELECT job_id FROM jobs WHERE kind = ?1 AND dedup_key = ?2
                             AND dead_reason IS NULL AND receipt IS NULL LIMIT 1"
                        }
                    };
                    let duplicate = query_optional(
                        transaction,
                        duplicate_sql,
                        params![kind.column(), dedup],
                        |row| Ok(row.get::<_, i64>(0)?),
                    )?;
                    if duplicate.is_none() {
                        transaction
                            .prepare_cached(
                                // A new job is due at once, whatever clock a receiver
                                // goes by.
                                "INSERT INTO jobs (kind, group_key, dedup_key, body,
                                     enqueued_at_us, visible_at_us)
                                 VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                            )?
                            .execute(params![kind.column(), group, dedup, body, now])?;
                    }
                    Ok(())
                })
            })
            .await
            .map_err(queue_error)
    }

    /// Receives up to `max` jobs of `kind` that are due at `now`, at most `per_group` of one
    /// group (in order), each invisible to other receivers until `now + visibility`.
    pub async fn receive(
        &self,
        kind: JobKind,
        max: usize,
        per_group: usize,
        now: DateTime<Utc>,
        visibility: Duration,
    ) -> Result<Vec<ReceivedJob>, StoreError> {
        self.receive_up_to(kind, Limit::Jobs(max), per_group, now, visibility)
            .await
    }

    /// Receives the due jobs of at most `groups` groups, up to `per_group` of each (in order):
    /// one worker takes what waits for one integration together (webhook events close together
    /// become one run), and never two workers the same integration.
    pub async fn receive_groups(
        &self,
        kind: JobKind,
        groups: usize,
        per_group: usize,
        now: DateTime<Utc>,
        visibility: Duration,
    ) -> Result<Vec<ReceivedJob>, StoreError> {
        self.receive_up_to(kind, Limit::Groups(groups), per_group, now, visibility)
            .await
    }

    async fn receive_up_to(
        &self,
        kind: JobKind,
        limit: Limit,
        per_group: usize,
        now: DateTime<Utc>,
        visibility: Duration,
    ) -> Result<Vec<ReceivedJob>, StoreError> {
        let now_us = now.timestamp_micros();
        let invisible_until = (now + visibility).timestamp_micros();
        self.store
            .call(move |connection| {
                write_transaction(connection, |transaction| {
                    let live = live_jobs(transaction, kind)?;
                    let chosen = choose_due(&live, limit, per_group.max(1), now_us);
                    let mut received = Vec::with_capacity(chosen.len());
                    for job in chosen {
                        let receipt = uuid::Uuid::new_v4().to_string();
                        transaction
                            .prepare_cached(
                                "UPDATE jobs SET receipt = ?2, visible_at_us = ?3,
                                     attempts = attempts + 1
                                 WHERE job_id = ?1",
                            )?
                            .execute(params![job.job_id, receipt, invisible_until])?;
                        received.push(ReceivedJob {
                            job_id: job.job_id,
                            kind,
                            group: job.group.clone(),
                            body: job.body.clone(),
                            receives: job.receives + 1,
                            receipt,
                        });
                    }
                    Ok(received)
                })
            })
            .await
    }

    /// Removes a job that is done. `false`: the receipt is stale (see [`Released::NotHeld`]).
    pub async fn acknowledge(&self, job: &ReceivedJob) -> Result<bool, StoreError> {
        let (job_id, receipt) = (job.job_id, job.receipt.clone());
        self.store
            .call(move |connection| {
                let deleted = connection
                    .prepare_cached("DELETE FROM jobs WHERE job_id = ?1 AND receipt = ?2")?
                    .execute(params![job_id, receipt])?;
                Ok(deleted == 1)
            })
            .await
    }

    /// Gives a job back to the queue, to be received again from `retry_at`. A failed delivery
    /// past `max_receives` sets the job aside as dead with `reason`.
    pub async fn release(
        &self,
        job: &ReceivedJob,
        release: Release,
        retry_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Released, StoreError> {
        let (job_id, receipt) = (job.job_id, job.receipt.clone());
        let dead = release == Release::Failed && job.receives >= self.max_receives;
        let retry_at = retry_at.timestamp_micros();
        let reason = reason.to_owned();
        self.store
            .call(move |connection| {
                let changed = if dead {
                    connection
                        .prepare_cached(
                            "UPDATE jobs SET receipt = NULL, dead_reason = ?3
                             WHERE job_id = ?1 AND receipt = ?2",
                        )?
                        .execute(params![job_id, receipt, reason])?
                } else {
                    // A hand-back gives the delivery back too.
                    let uncount = i64::from(release == Release::HandBack);
                    connection
                        .prepare_cached(
                            "UPDATE jobs SET receipt = NULL, visible_at_us = ?3,
                                 attempts = MAX(attempts - ?4, 0)
                             WHERE job_id = ?1 AND receipt = ?2",
                        )?
                        .execute(params![job_id, receipt, retry_at, uncount])?
                };
                Ok(match (changed, dead) {
                    (0, _) => Released::NotHeld,
                    (_, true) => Released::Dead,
                    (_, false) => Released::Retried,
                })
            })
            .await
    }

    /// Makes every in-flight job of `kind` receivable at once: what a host does when it starts
    /// and knows that no worker of an earlier start is alive (it holds the state file alone).
    /// Returns how many were handed back.
    pub async fn hand_back_in_flight(
        &self,
        kind: JobKind,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = now.timestamp_micros();
        self.store
            .call(move |connection| {
                let changed = connection
                    .prepare_cached(
                        "UPDATE jobs SET receipt = NULL, visible_at_us = ?2,
                             attempts = MAX(attempts - 1, 0)
                         WHERE kind = ?1 AND receipt IS NOT NULL AND dead_reason IS NULL",
                    )?
                    .execute(params![kind.column(), now])?;
                Ok(changed)
            })
            .await
    }

    /// How many jobs of `kind` wait, are in flight, are dead at `now`.
    pub async fn depth(&self, kind: JobKind, now: DateTime<Utc>) -> Result<QueueDepth, StoreError> {
        let now_us = now.timestamp_micros();
        self.store
            .call(move |connection| {
                let rows = query_all(
                    connection,
                    "SELECT receipt IS NOT NULL AND visible_at_us > ?2 AS in_flight,
                            dead_reason IS NOT NULL AS dead, COUNT(*) AS jobs
                     FROM jobs WHERE kind = ?1 GROUP BY 1, 2",
                    params![kind.column(), now_us],
                    |row| {
                        Ok((
                            row.get::<_, bool>(0)?,
                            row.get::<_, bool>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    },
                )?;
                let mut depth = QueueDepth::default();
                for (in_flight, dead, count) in rows {
                    let count = usize::try_from(count).unwrap_or(0);
                    match (dead, in_flight) {
                        (true, _) => depth.dead += count,
                        (false, true) => depth.in_flight += count,
                        (false, false) => depth.waiting += count,
                    }
                }
                Ok(depth)
            })
            .await
    }

    /// The dead jobs of `kind`, oldest first.
    pub async fn dead_jobs(&self, kind: JobKind) -> Result<Vec<DeadJob>, StoreError> {
        self.store
            .call(move |connection| {
                query_all(
                    connection,
                    "SELECT job_id, group_key, body, attempts, dead_reason, enqueued_at_us
                     FROM jobs WHERE kind = ?1 AND dead_reason IS NOT NULL ORDER BY job_id",
                    params![kind.column()],
                    |row| {
                        let job_id = row.get("job_id")?;
                        let enqueued_at_us: i64 = row.get("enqueued_at_us")?;
                        Ok(DeadJob {
                            job_id,
                            group: row.get("group_key")?,
                            body: row.get("body")?,
                            receives: u32::try_from(row.get::<_, i64>("attempts")?).unwrap_or(0),
                            reason: row.get("dead_reason")?,
                            enqueued_at: super::codec::micros_to_time(enqueued_at_us, || {
                                format!("jobs/{job_id}")
                            })?,
                        })
                    },
                )
            })
            .await
    }
}

fn live_jobs(transaction: &Transaction<'_>, kind: JobKind) -> OperationResult<Vec<LiveJob>> {
    query_all(
        transaction,
        "SELECT job_id, group_key, body, attempts, visible_at_us, receipt IS NOT NULL
         FROM jobs WHERE kind = ?1 AND dead_reason IS NULL ORDER BY job_id",
        params![kind.column()],
        |row| {
            Ok(LiveJob {
                job_id: row.get(0)?,
                group: row.get(1)?,
                body: row.get(2)?,
                receives: u32::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                visible_at_us: row.get(4)?,
                in_flight: row.get(5)?,
            })
        },
    )
}

/// The jobs to deliver: per group (groups by their oldest job), the leading jobs that are due,
/// unless a job of the group is in flight with its visibility still running.
/// How many jobs one receive takes: a number of jobs, or the jobs of a number of groups.
#[derive(Clone, Copy, Debug)]
enum Limit {
    Jobs(usize),
    Groups(usize),
}

fn choose_due(live: &[LiveJob], limit: Limit, per_group: usize, now_us: i64) -> Vec<&LiveJob> {
    let blocked: HashSet<&str> = live
        .iter()
        .filter(|job| job.in_flight && job.visible_at_us > now_us)
        .map(|job| job.group.as_str())
        .collect();
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let mut stopped: HashSet<&str> = HashSet::new();
    let mut chosen = Vec::new();
    for job in live {
        if matches!(limit, Limit::Jobs(max) if chosen.len() >= max) {
            break;
        }
        let group = job.group.as_str();
        if blocked.contains(group) || stopped.contains(group) {
            continue;
        }
        if matches!(limit, Limit::Groups(max) if !taken.contains_key(group) && taken.len() >= max) {
            continue;
        }
        // A job waiting for its retry keeps the later jobs of its group behind it.
        if job.visible_at_us > now_us {
            stopped.insert(group);
            continue;
        }
        let count = taken.entry(group).or_insert(0);
        if *count >= per_group {
            continue;
        }
        *count += 1;
        chosen.push(job);
    }
    chosen
}

fn queue_error(error: StoreError) -> QueueError {
    if error.is_retryable() {
        QueueError::Unavailable(error.to_string())
    } else {
        QueueError::Rejected(error.to_string())
    }
}

#[async_trait]
impl JobQueue for SqliteJobQueue {
    async fn enqueue_sync(&self, job: &SyncJob) -> Result<(), QueueError> {
        let body = serde_json::to_string(job)
            .map_err(|error| QueueError::Rejected(format!("sync job is not JSON: {error}")))?;
        let group = job.integration_id.as_str().to_owned();
        // A waiting full run never swallows a reconcile (which also repairs the LMS), nor the
        // other way round.
        let what = match (job.dry_run, job.kind) {
            (true, _) => "plan",
            (false, RunKind::Reconcile) => "reconcile",
            (false, _) => "sync",
        };
        let mut dedup = format!("{group}#{what}");
        // A job naming employees is the same request only as another naming the same ones: a
        // waiting targeted job must never swallow a full run, nor one for other employees.
        let mut named: Vec<i64> = job.employees.iter().map(|id| id.0).collect();
        named.sort_unstable();
        named.dedup();
        for id in named {
            dedup.push_str(&format!("#{id}"));
        }
        // A waiting delta must not swallow a full run (which it would skip the deletions of).
        if job.delta && job.employees.is_empty() {
            dedup.push_str("#delta");
        }
        self.enqueue(JobKind::Sync, group, dedup, body).await
    }

    async fn enqueue_certificate(
        &self,
        integration: &IntegrationId,
        _certificate: &CertificateId,
        job: &serde_json::Value,
    ) -> Result<(), QueueError> {
        let group = integration.as_str().to_owned();
        // By content, not by certificate id: a corrected resubmission must not be dropped.
        let dedup = format!("{group}#{}", crate::ports::content_dedup_id(job));
        self.enqueue(JobKind::Certificate, group, dedup, job.to_string())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run::Trigger;
    use serde_json::json;

    fn queue() -> SqliteJobQueue {
        SqliteJobQueue::new(&SqliteStore::in_memory().unwrap()).with_max_receives(3)
    }

    fn certificate(
        integration: &str,
        id: &str,
    ) -> (IntegrationId, CertificateId, serde_json::Value) {
        (
            IntegrationId::new(integration),
            CertificateId(id.into()),
            json!({"integration_id": integration, "certificate_id": id}),
        )
    }

    async fn enqueue(queue: &SqliteJobQueue, integration: &str, id: &str) {
        let (integration, certificate, job) = certificate(integration, id);
        queue
            .enqueue_certificate(&integration, &certificate, &job)
            .await
            .unwrap();
    }

    fn ids(jobs: &[ReceivedJob]) -> Vec<String> {
        jobs.iter()
            .map(|job| {
                let body: serde_json::Value = serde_json::from_str(&job.body).unwrap();
                body["certificate_id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// A moment just after everything enqueued so far (enqueued jobs are due from their
    /// enqueue time).
    fn soon() -> DateTime<Utc> {
        Utc::now() + Duration::seconds(1)
    }

    fn visibility() -> Duration {
        Duration::seconds(60)
    }

    #[tokio::test]
    async fn an_identical_certificate_job_is_one_job_and_a_corrected_one_is_queued() {
        let queue = queue();
        let (integration, certificate, job) = certificate("acme", "c1");
        queue
            .enqueue_certificate(&integration, &certificate, &job)
            .await
            .unwrap();
        queue
            .enqueue_certificate(&integration, &certificate, &job)
            .await
            .unwrap();
        let mut corrected = job.clone();
        corrected["course_name"] = json!("Fire safety (corrected)");
        queue
            .enqueue_certificate(&integration, &certificate, &corrected)
            .await
            .unwrap();
        let depth = queue.depth(JobKind::Certificate, soon()).await.unwrap();
        assert_eq!(depth.waiting, 2, "{depth:?}");
    }

    #[tokio::test]
    async fn groups_are_delivered_in_order_and_one_in_flight_blocks_its_group() {
        let queue = queue();
        for (integration, id) in [
            ("acme", "a1"),
            ("globex", "g1"),
            ("acme", "a2"),
            ("acme", "a3"),
        ] {
            enqueue(&queue, integration, id).await;
        }
        let now = soon();
        let first = queue
            .receive(JobKind::Certificate, 10, 2, now, visibility())
            .await
            .unwrap();
        assert_eq!(ids(&first), ["a1", "g1", "a2"]);
        assert!(first.iter().all(|job| job.receives == 1));
        assert_eq!(first[0].message().group_id.as_deref(), Some("acme"));
        // acme and globex are in flight: nothing else is delivered, not even a3.
        let none = queue
            .receive(JobKind::Certificate, 10, 2, now, visibility())
            .await
            .unwrap();
        assert!(none.is_empty());
        assert!(
            queue
                .receive(JobKind::Sync, 10, 1, now, visibility())
                .await
                .unwrap()
                .is_empty()
        );
        for job in &first {
            assert!(queue.acknowledge(job).await.unwrap());
        }
        let rest = queue
            .receive(JobKind::Certificate, 10, 2, now, visibility())
            .await
            .unwrap();
        assert_eq!(ids(&rest), ["a3"]);
        let depth = queue.depth(JobKind::Certificate, now).await.unwrap();
        assert_eq!(
            depth,
            QueueDepth {
                waiting: 0,
                in_flight: 1,
                dead: 0
            }
        );
    }

    #[tokio::test]
    async fn receiving_by_groups_takes_what_waits_for_each_of_so_many_groups() {
        let queue = queue();
        for (integration, id) in [
            ("acme", "a1"),
            ("globex", "g1"),
            ("acme", "a2"),
            ("initech", "i1"),
            ("acme", "a3"),
        ] {
            enqueue(&queue, integration, id).await;
        }
        let now = soon();
        let two = queue
            .receive_groups(JobKind::Certificate, 2, 10, now, visibility())
            .await
            .unwrap();
        assert_eq!(
            ids(&two),
            ["a1", "g1", "a2", "a3"],
            "acme and globex, whole"
        );
        let capped = queue
            .receive_groups(JobKind::Certificate, 5, 10, now, visibility())
            .await
            .unwrap();
        assert_eq!(
            ids(&capped),
            ["i1"],
            "the groups in flight are not taken again"
        );
    }

    #[tokio::test]
    async fn a_crashed_workers_job_comes_back_and_its_stale_receipt_does_nothing() {
        let queue = queue();
        enqueue(&queue, "acme", "c1").await;
        let now = soon();
        let crashed = queue
            .receive(JobKind::Certificate, 1, 1, now, visibility())
            .await
            .unwrap();
        assert_eq!(ids(&crashed), ["c1"]);
        // The worker died; within its visibility nobody else gets the job.
        let later = now + Duration::seconds(30);
        assert!(
            queue
                .receive(JobKind::Certificate, 1, 1, later, visibility())
                .await
                .unwrap()
                .is_empty()
        );
        // After it the job is delivered again, and only the new receipt counts.
        let after = now + Duration::seconds(61);
        let again = queue
            .receive(JobKind::Certificate, 1, 1, after, visibility())
            .await
            .unwrap();
        assert_eq!(ids(&again), ["c1"]);
        assert_eq!(again[0].receives, 2);
        assert!(!queue.acknowledge(&crashed[0]).await.unwrap());
        assert_eq!(
            queue
                .release(&crashed[0], Release::Failed, after, "late")
                .await
                .unwrap(),
            Released::NotHeld
        );
        assert!(queue.acknowledge(&again[0]).await.unwrap());
        assert_eq!(
            queue.depth(JobKind::Certificate, after).await.unwrap(),
            QueueDepth::default()
        );
    }

    #[tokio::test]
    async fn failures_retry_later_keep_the_order_and_end_dead() {
        let queue = queue();
        enqueue(&queue, "acme", "c1").await;
        enqueue(&queue, "acme", "c2").await;
        let mut now = soon();
        for attempt in 1..=3 {
            let jobs = queue
                .receive(JobKind::Certificate, 1, 1, now, visibility())
                .await
                .unwrap();
            assert_eq!(ids(&jobs), ["c1"], "attempt {attempt}: c2 waits behind c1");
            let retry_at = now + Duration::seconds(10);
            let released = queue
                .release(&jobs[0], Release::Failed, retry_at, "Personio answered 503")
                .await
                .unwrap();
            if attempt < 3 {
                assert_eq!(released, Released::Retried);
                // Before the retry time nothing of the group is delivered.
                let early = queue
                    .receive(JobKind::Certificate, 5, 5, now, visibility())
                    .await
                    .unwrap();
                assert!(early.is_empty());
            } else {
                assert_eq!(released, Released::Dead);
            }
            now = retry_at;
        }
        let dead = queue.dead_jobs(JobKind::Certificate).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].reason, "Personio answered 503");
        assert_eq!(dead[0].receives, 3);
        let next = queue
            .receive(JobKind::Certificate, 5, 5, now, visibility())
            .await
            .unwrap();
        assert_eq!(ids(&next), ["c2"]);
    }

    #[tokio::test]
    async fn hand_backs_do_not_count_as_deliveries() {
        let queue = queue();
        enqueue(&queue, "acme", "c1").await;
        let now = soon();
        for _ in 0..5 {
            let jobs = queue
                .receive(JobKind::Certificate, 1, 1, now, visibility())
                .await
                .unwrap();
            assert_eq!(jobs[0].receives, 1);
            let released = queue
                .release(&jobs[0], Release::HandBack, now, "shutting down")
                .await
                .unwrap();
            assert_eq!(released, Released::Retried);
        }
        // A host that starts after a crash hands back what the dead process held.
        let held = queue
            .receive(JobKind::Certificate, 1, 1, now, visibility())
            .await
            .unwrap();
        assert_eq!(
            queue
                .hand_back_in_flight(JobKind::Certificate, now)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            queue.hand_back_in_flight(JobKind::Sync, now).await.unwrap(),
            0
        );
        let again = queue
            .receive(JobKind::Certificate, 1, 1, now, visibility())
            .await
            .unwrap();
        assert_eq!(again[0].job_id, held[0].job_id);
        assert_eq!(again[0].receives, 1);
    }

    #[tokio::test]
    async fn duplicates_are_one_job() {
        let queue = queue();
        enqueue(&queue, "acme", "c1").await;
        enqueue(&queue, "acme", "c1").await;
        enqueue(&queue, "globex", "c1").await;
        let now = soon();
        assert_eq!(
            queue
                .depth(JobKind::Certificate, now)
                .await
                .unwrap()
                .waiting,
            2
        );
        // In flight, a certificate is still the same job.
        let jobs = queue
            .receive(JobKind::Certificate, 5, 5, now, visibility())
            .await
            .unwrap();
        enqueue(&queue, "acme", "c1").await;
        assert_eq!(
            queue
                .depth(JobKind::Certificate, now)
                .await
                .unwrap()
                .in_flight,
            2
        );
        assert_eq!(
            queue
                .depth(JobKind::Certificate, now)
                .await
                .unwrap()
                .waiting,
            0
        );
        for job in &jobs {
            queue.acknowledge(job).await.unwrap();
        }

        // A sync request equal to one that waits is the same request; one that runs is not.
        let sync = SyncJob {
            integration_id: IntegrationId::new("acme"),
            trigger: Trigger::Manual,
            dry_run: false,
            kind: RunKind::Full,
            requested_at: now,
            employees: Vec::new(),
            delta: false,
        };
        queue.enqueue_sync(&sync).await.unwrap();
        queue.enqueue_sync(&sync).await.unwrap();
        let running = queue
            .receive(JobKind::Sync, 5, 1, now, visibility())
            .await
            .unwrap();
        assert_eq!(running.len(), 1);
        queue.enqueue_sync(&sync).await.unwrap();
        let depth = queue.depth(JobKind::Sync, now).await.unwrap();
        assert_eq!(
            depth,
            QueueDepth {
                waiting: 1,
                in_flight: 1,
                dead: 0
            }
        );
        // Never two sync jobs of one integration at once.
        assert!(
            queue
                .receive(JobKind::Sync, 5, 1, now, visibility())
                .await
                .unwrap()
                .is_empty()
        );
        let parsed: SyncJob = serde_json::from_str(&running[0].body).unwrap();
        assert_eq!(parsed, sync);
    }

    #[tokio::test]
    async fn a_waiting_targeted_job_swallows_neither_a_full_run_nor_other_employees() {
        let queue = queue();
        let now = Utc::now();
        let job = |ids: &[i64]| SyncJob {
            integration_id: IntegrationId::new("acme"),
            trigger: Trigger::Manual,
            dry_run: false,
            kind: RunKind::Full,
            requested_at: now,
            employees: ids
                .iter()
                .map(|id| crate::domain::employee::PersonioId(*id))
                .collect(),
            delta: false,
        };
        queue.enqueue_sync(&job(&[7, 3])).await.unwrap();
        // The same employees in another order: the same request.
        queue.enqueue_sync(&job(&[3, 7])).await.unwrap();
        queue.enqueue_sync(&job(&[4])).await.unwrap();
        queue.enqueue_sync(&job(&[])).await.unwrap();
        let depth = queue.depth(JobKind::Sync, now).await.unwrap();
        assert_eq!(depth.waiting, 3, "{depth:?}");
        // A reconcile is not swallowed by the waiting full run; a second one is by the first.
        let reconcile = SyncJob {
            kind: RunKind::Reconcile,
            ..job(&[])
        };
        queue.enqueue_sync(&reconcile).await.unwrap();
        queue.enqueue_sync(&reconcile).await.unwrap();
        let depth = queue.depth(JobKind::Sync, now).await.unwrap();
        assert_eq!(depth.waiting, 4, "{depth:?}");
    }
}
