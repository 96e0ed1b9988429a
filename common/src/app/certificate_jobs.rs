//! The certificate-job consumer: a batch of certificate jobs from the certificate queue (FIFO,
//! message group = integration), record by record: parse the body → the integration's settings
//! and Personio client (loaded once per batch and integration) → [`CertificatePusher`].
//!
//! Which messages are reported as failed (SQS delivers them again; after `maxReceiveCount` they
//! reach the DLQ), and which are acknowledged:
//! - a pushed, already done, recovered or parked certificate, and a permanent push failure (the
//!   pusher records it on the ledger): acknowledged;
//! - busy (another worker's claim) and retryable push failures (429/5xx past the deadline, an
//!   unavailable store): failed, delivered again;
//! - a body that is no JSON object naming an integration, or an integration that no longer
//!   exists: acknowledged and logged (nothing could ever push it);
//! - an integration that cannot be connected (secret missing or unreadable, bad URL): failed, so
//!   that the jobs wait in the queue and then in the DLQ until an admin fixes it and redrives;
//! - a record whose processing panicked: failed (only that record);
//! - every record after a failed one **of the same message group**: failed without being
//!   processed, because SQS FIFO keeps a group in order only if the host does too.
//!
//! An integration-wide problem (a configured category that does not exist, rejected credentials)
//! is also written onto the integration record (`certificate_problem`), where the admin API shows
//! it, and cleared there by the next certificate that reaches Personio.

use super::connect::Connector;
use super::observe::{CertificateTally, Tallied};
use crate::certificates::{
    CertificatePusher, Clock, FetchError, FetchLimits, PdfFetcher, PushOutcome,
};
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationNotice;
use crate::domain::settings::IntegrationSettings;
use crate::metrics::{CertificateFigures, ParkedCertificates};
use crate::ports::{CertificateStore, IntegrationStore, QueueMessage, StoreError};
use crate::retry::Deadline;
use futures::FutureExt as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tracing::{Instrument, error, info, info_span, warn};

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The pusher handled it; redelivered only if the outcome is retryable.
    Pushed(PushOutcome),
    /// Can never be pushed (unreadable body, unknown integration): acknowledged.
    Dropped { reason: String },
    /// The integration could not be loaded or connected: delivered again.
    IntegrationUnavailable { reason: String },
    /// An earlier record of the same message group failed: not processed, delivered again.
    HeldBack,
    /// The invocation's time ran out before the record: not processed, delivered again.
    DeadlinePassed,
    /// Processing panicked: delivered again (and, if it keeps panicking, to the DLQ).
    Panicked { reason: String },
}

impl RecordOutcome {
    /// Whether the host reports the record as a batch item failure.
    pub fn redeliver(&self) -> bool {
        match self {
            Self::Pushed(outcome) => outcome.is_retryable(),
            Self::Dropped { .. } => false,
            Self::IntegrationUnavailable { .. }
            | Self::HeldBack
            | Self::DeadlinePassed
            | Self::Panicked { .. } => true,
        }
    }
}

/// Every record's outcome, in batch order, and the batch's figures for the host's metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumedBatch {
    pub records: Vec<(String, RecordOutcome)>,
    /// What became of the certificates of each integration the batch's jobs named (a record
    /// not processed counts as retried when its message group's integration is known).
    pub figures: BTreeMap<IntegrationId, CertificateFigures>,
    /// The parked certificates after the batch, of each integration whose jobs it parked.
    pub parked: BTreeMap<IntegrationId, ParkedCertificates>,
    /// Records that can never be pushed (not JSON, no or an unknown integration).
    pub dropped: usize,
}

impl ConsumedBatch {
    /// The message ids to report as batch item failures.
    pub fn failed_message_ids(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|(_, outcome)| outcome.redeliver())
            .map(|(message_id, _)| message_id.clone())
            .collect()
    }
}

/// Consumes certificate batches. Build one per process and share it across invocations.
pub struct CertificateConsumer {
    integrations: Arc<dyn IntegrationStore>,
    store: Arc<dyn CertificateStore>,
    connector: Arc<dyn Connector>,
    fetcher: PdfFetcher,
    clock: Clock,
}

/// An integration as one batch uses it, loaded at its first record.
struct Loaded {
    settings: IntegrationSettings,
    pusher: CertificatePusher,
}

/// Per batch: what each integration loaded to (a failure too, so that a batch of ten jobs of a
/// broken integration asks Secrets Manager once, not ten times).
type LoadCache = HashMap<IntegrationId, Result<Arc<Loaded>, LoadFailure>>;

/// Per batch: what the pushes said about each integration as a whole — `Some(problem)`, or `None`
/// once a certificate reached Personio. Integrations whose pushes said neither are absent.
type ProblemsSeen = HashMap<IntegrationId, Option<String>>;

#[derive(Clone)]
enum LoadFailure {
    Unknown,
    Unavailable(String),
}

impl CertificateConsumer {
    pub fn new(
        integrations: Arc<dyn IntegrationStore>,
        store: Arc<dyn CertificateStore>,
        connector: Arc<dyn Connector>,
        limits: FetchLimits,
    ) -> Result<Self, FetchError> {
        // The PDF fetch keeps to the same address rules as the integrations' connections.
        let fetcher = PdfFetcher::new(limits, connector.policy().network())?;
        Ok(Self {
            integrations,
            store,
            connector,
            fetcher,
            clock: Arc::new(chrono::Utc::now),
        })
    }

    /// The clock the pushers read claims and their expiry by (tests of a crash that left a
    /// claim behind move it past the claim's end).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Pushes the batch's records one after the other (Personio's upload budget is per
    /// credential; concurrency would only queue there), all by `deadline`.
    pub async fn consume(&self, messages: Vec<QueueMessage>, deadline: Deadline) -> ConsumedBatch {
        let mut cache = LoadCache::new();
        let mut problems = ProblemsSeen::new();
        let mut failed_groups: HashSet<String> = HashSet::new();
        let mut batch = ConsumedBatch::default();
        let mut tally = CertificateTally::default();
        for message in messages {
            let span = info_span!(
                "certificate_message",
                message_id = %message.message_id,
                group = message.group_id.as_deref().unwrap_or("-"),
            );
            let held_back = message
                .group_id
                .as_ref()
                .is_some_and(|group| failed_groups.contains(group));
            let (integration, outcome) = if held_back {
                (None, RecordOutcome::HeldBack)
            } else if deadline.is_past() {
                (None, RecordOutcome::DeadlinePassed)
            } else {
                AssertUnwindSafe(self.consume_one(
                    &message.body,
                    &mut cache,
                    &mut problems,
                    deadline,
                ))
                .catch_unwind()
                .instrument(span.clone())
                .await
                .unwrap_or_else(|panic| {
                    let reason = panic_reason(panic.as_ref());
                    (None, RecordOutcome::Panicked { reason })
                })
            };
            let tallied = match &outcome {
                RecordOutcome::Pushed(pushed) => Tallied::Pushed(pushed),
                RecordOutcome::Dropped { .. } => Tallied::Dropped,
                _ => Tallied::NotProcessed,
            };
            tally.count(message.group_id.as_deref(), integration, tallied);
            span.in_scope(|| log_outcome(&outcome));
            if outcome.redeliver()
                && let Some(group) = &message.group_id
            {
                failed_groups.insert(group.clone());
            }
            batch.records.push((message.message_id, outcome));
        }
        for (integration, problem) in problems {
            self.note_certificate_problem(&integration, problem).await;
        }
        let figures = tally.finish(self.store.as_ref(), chrono::Utc::now()).await;
        batch.figures = figures.figures;
        batch.parked = figures.parked;
        batch.dropped = figures.dropped;
        info!(
            records = batch.records.len(),
            failed = batch.failed_message_ids().len(),
            "certificate batch consumed"
        );
        batch
    }

    async fn consume_one(
        &self,
        body: &str,
        cache: &mut LoadCache,
        problems: &mut ProblemsSeen,
        deadline: Deadline,
    ) -> (Option<IntegrationId>, RecordOutcome) {
        let job: serde_json::Value = match serde_json::from_str(body) {
            Ok(job) => job,
            Err(error) => {
                let reason = format!("the message body is not JSON: {error}");
                return (None, RecordOutcome::Dropped { reason });
            }
        };
        let Some(integration) = job
            .get("integration_id")
            .and_then(serde_json::Value::as_str)
            .map(IntegrationId::new)
        else {
            let reason = "the certificate job names no integration_id".into();
            return (None, RecordOutcome::Dropped { reason });
        };
        let loaded = match cache.get(&integration) {
            Some(loaded) => loaded.clone(),
            None => {
                let loaded = self.load(&integration, deadline).await;
                cache.insert(integration.clone(), loaded.clone());
                loaded
            }
        };
        match loaded {
            Ok(loaded) => {
                let report = loaded
                    .pusher
                    .push_one(&integration, &loaded.settings.certificates, job, deadline)
                    .await;
                let reached_personio = report.jobs.iter().any(|job| {
                    matches!(
                        job.outcome,
                        PushOutcome::Uploaded { .. } | PushOutcome::Recovered { .. }
                    )
                });
                if let Some(problem) = &report.integration_problem {
                    problems.insert(integration.clone(), Some(problem.to_string()));
                } else if reached_personio {
                    problems.insert(integration.clone(), None);
                }
                // A batch of one reports one job; should it ever not, the job is tried again.
                let outcome = report.jobs.into_iter().next().map_or_else(
                    || PushOutcome::Failed {
                        reason: "the pusher reported no outcome for the job".into(),
                        retryable: true,
                    },
                    |job| job.outcome,
                );
                (Some(integration), RecordOutcome::Pushed(outcome))
            }
            // Not attributed: an id that names no integration must not become a metric.
            Err(LoadFailure::Unknown) => (
                None,
                RecordOutcome::Dropped {
                    reason: format!("integration {integration} does not exist"),
                },
            ),
            Err(LoadFailure::Unavailable(reason)) => (
                Some(integration),
                RecordOutcome::IntegrationUnavailable { reason },
            ),
        }
    }

    /// Writes the batch's verdict onto the integration record when it differs from what is
    /// there. A conditional write, re-read on a conflict; a failure is logged, never fails the
    /// batch (the next batch tries again).
    async fn note_certificate_problem(&self, integration: &IntegrationId, problem: Option<String>) {
        for _ in 0..3 {
            let record = match self.integrations.integration(integration).await {
                Ok(Some(record)) => record,
                Ok(None) => return,
                Err(error) => {
                    warn!(%integration, %error, "cannot read the integration to note its certificate problem");
                    return;
                }
            };
            let standing = record
                .certificate_problem
                .as_ref()
                .map(|notice| &notice.message);
            if standing == problem.as_ref() {
                return;
            }
            let mut noted = record.clone();
            noted.certificate_problem = problem.clone().map(|message| IntegrationNotice {
                message,
                since: chrono::Utc::now(),
            });
            noted.version = record.version.saturating_add(1);
            match self
                .integrations
                .put_integration(&noted, Some(record.version))
                .await
            {
                Ok(()) => {
                    match &problem {
                        Some(message) => {
                            warn!(%integration, problem = %message, "certificate push problem noted on the integration")
                        }
                        None => info!(%integration, "certificate push problem cleared"),
                    }
                    return;
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(error) => {
                    warn!(%integration, %error, "cannot note the certificate problem on the integration");
                    return;
                }
            }
        }
        warn!(%integration, "the integration kept changing; its certificate problem is noted by a later batch");
    }

    async fn load(
        &self,
        integration: &IntegrationId,
        deadline: Deadline,
    ) -> Result<Arc<Loaded>, LoadFailure> {
        let record = match self.integrations.integration(integration).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(LoadFailure::Unknown),
            Err(error) => {
                return Err(LoadFailure::Unavailable(format!(
                    "reading integration {integration} failed: {error}"
                )));
            }
        };
        let connected = self
            .connector
            .connect(&record, deadline)
            .await
            .map_err(|error| {
                LoadFailure::Unavailable(format!(
                    "connecting integration {integration} failed: {error}"
                ))
            })?;
        Ok(Arc::new(Loaded {
            settings: record.settings,
            pusher: CertificatePusher::new(connected.hr, self.store.clone(), self.fetcher.clone())
                .with_clock(self.clock.clone())
                .with_lms(connected.lms),
        }))
    }
}

fn panic_reason(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("processing panicked: {message}")
}

fn log_outcome(outcome: &RecordOutcome) {
    match outcome {
        // The pusher logs its own outcomes.
        RecordOutcome::Pushed(_) => {}
        RecordOutcome::Dropped { reason } => error!(%reason, "certificate message dropped"),
        RecordOutcome::IntegrationUnavailable { reason } => {
            warn!(%reason, "certificate message failed; it will be delivered again")
        }
        RecordOutcome::HeldBack => {
            info!("an earlier message of the group failed; held back to keep the order")
        }
        RecordOutcome::DeadlinePassed => warn!("no time left for the message; delivered again"),
        RecordOutcome::Panicked { reason } => error!(%reason, "certificate message panicked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::connect::{ConnectError, ConnectPolicy, IntegrationAdapters};
    use crate::domain::certificate::{CertificateId, LedgerState};
    use crate::domain::employee::PersonioId;
    use crate::domain::integration::IntegrationRecord;
    use crate::domain::link::EmployeeLink;
    use crate::domain::lms::LmsUserId;
    use crate::lms::memory::MemoryLms;
    use crate::ports::{
        CertificateLedger, CredentialsError, DocumentCategory, HrSource, LinkStore,
    };
    use crate::store::MemoryStore;
    use crate::store::contract::integration_record;
    use crate::sync::testing::{StaticHrSource, employee};
    use chrono::Utc;
    use serde_json::json;
    use std::collections::BTreeSet;

    const PDF_BASE64: &str = "JVBERi0xLjQKJSVFT0YK";

    /// Connects "acme" and "globex" to one HR double; "broken" has no secret; a record whose
    /// name is "panic" makes the connector panic.
    struct TestConnector {
        hr: Arc<StaticHrSource>,
    }

    #[async_trait::async_trait]
    impl Connector for TestConnector {
        fn policy(&self) -> ConnectPolicy {
            ConnectPolicy::LOCAL
        }

        async fn connect(
            &self,
            record: &IntegrationRecord,
            _deadline: Deadline,
        ) -> Result<IntegrationAdapters, ConnectError> {
            match record.id.as_str() {
                "broken" => Err(ConnectError::Credentials(CredentialsError::Missing(
                    record.id.clone(),
                ))),
                "explosive" => panic!("connector exploded"),
                _ => Ok(IntegrationAdapters {
                    hr: self.hr.clone() as Arc<dyn HrSource>,
                    lms: Arc::new(MemoryLms::new()),
                }),
            }
        }
    }

    struct Fixture {
        hr: Arc<StaticHrSource>,
        store: MemoryStore,
        consumer: CertificateConsumer,
    }

    async fn fixture() -> Fixture {
        let store = MemoryStore::new();
        for id in ["acme", "globex", "broken", "explosive"] {
            store
                .put_integration(&integration_record(id, "tenant", None, 1), None)
                .await
                .unwrap();
            store
                .put_link(
                    &EmployeeLink {
                        integration_id: IntegrationId::new(id),
                        personio_id: PersonioId(1),
                        lms_user_id: LmsUserId("lms-1".into()),
                        email: "ada@example.com".into(),
                        profile_hash: "h".into(),
                        groups: BTreeSet::new(),
                        active: true,
                        updated_at: Utc::now(),
                        version: 1,
                        profile: None,
                        invited_at: None,
                        invitation_pending: false,
                    },
                    None,
                )
                .await
                .unwrap();
        }
        let hr = Arc::new(StaticHrSource::of(vec![employee(1, "ada@example.com")]));
        hr.set_categories(vec![DocumentCategory {
            id: 7,
            name: "Learning certificates".into(),
        }]);
        let consumer = CertificateConsumer::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(TestConnector { hr: hr.clone() }),
            FetchLimits::default(),
        )
        .unwrap();
        Fixture {
            hr,
            store,
            consumer,
        }
    }

    fn message(id: &str, group: Option<&str>, body: serde_json::Value) -> QueueMessage {
        QueueMessage {
            message_id: id.into(),
            body: body.to_string(),
            group_id: group.map(str::to_owned),
        }
    }

    fn job(integration: &str, certificate: &str) -> serde_json::Value {
        json!({
            "integration_id": integration,
            "certificate_id": certificate,
            "lms_user_id": "lms-1",
            "course_name": format!("Course {certificate}"),
            "completed_on": "2026-11-20",
            "pdf_base64": PDF_BASE64,
        })
    }

    fn deadline() -> Deadline {
        Deadline::after(std::time::Duration::from_secs(60))
    }

    #[tokio::test]
    async fn a_missing_category_is_noted_on_the_integration_and_cleared_once_fixed() {
        let f = fixture().await;
        let acme = IntegrationId::new("acme");
        let mut record = f.store.integration(&acme).await.unwrap().unwrap();
        record.settings.certificates.category = Some("Zertifikate".into());
        record.version += 1;
        f.store
            .put_integration(&record, Some(record.version - 1))
            .await
            .unwrap();

        f.consumer
            .consume(
                vec![message("m1", Some("acme"), job("acme", "c-1"))],
                deadline(),
            )
            .await;
        let noted = f.store.integration(&acme).await.unwrap().unwrap();
        let problem = noted
            .certificate_problem
            .clone()
            .expect("the problem is noted");
        assert!(problem.message.contains("Zertifikate"), "{problem:?}");
        assert_eq!(noted.version, record.version + 1);

        // The same problem again is not written again.
        f.consumer
            .consume(
                vec![message("m2", Some("acme"), job("acme", "c-2"))],
                deadline(),
            )
            .await;
        let unchanged = f.store.integration(&acme).await.unwrap().unwrap();
        assert_eq!(unchanged.version, noted.version);

        let mut fixed = unchanged.clone();
        fixed.settings.certificates.category = None;
        fixed.version += 1;
        f.store
            .put_integration(&fixed, Some(unchanged.version))
            .await
            .unwrap();
        f.consumer
            .consume(
                vec![message("m3", Some("acme"), job("acme", "c-3"))],
                deadline(),
            )
            .await;
        let cleared = f.store.integration(&acme).await.unwrap().unwrap();
        assert_eq!(cleared.certificate_problem, None);
        assert_eq!(f.hr.uploaded().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_record_holds_back_the_rest_of_its_group_only() {
        let f = fixture().await;
        let batch = f
            .consumer
            .consume(
                vec![
                    message("m1", Some("acme"), job("acme", "c1")),
                    message("m2", Some("broken"), job("broken", "c2")),
                    message("m3", Some("acme"), job("acme", "c3")),
                    message("m4", Some("broken"), job("broken", "c4")),
                    message("m5", Some("globex"), job("globex", "c5")),
                ],
                deadline(),
            )
            .await;
        assert_eq!(batch.failed_message_ids(), ["m2", "m4"]);
        assert!(matches!(
            batch.records[0].1,
            RecordOutcome::Pushed(PushOutcome::Uploaded { .. })
        ));
        assert!(matches!(
            batch.records[1].1,
            RecordOutcome::IntegrationUnavailable { .. }
        ));
        assert_eq!(batch.records[3].1, RecordOutcome::HeldBack);
        assert_eq!(f.hr.uploaded().len(), 3);
    }

    #[tokio::test]
    async fn the_batch_counts_each_integrations_certificates_for_the_metrics() {
        let f = fixture().await;
        let mut unlinked = job("globex", "c9");
        unlinked["lms_user_id"] = json!("lms-nobody");
        let batch = f
            .consumer
            .consume(
                vec![
                    message("m1", Some("acme"), job("acme", "c1")),
                    message("m2", Some("acme"), job("acme", "c1")),
                    message("m3", Some("broken"), job("broken", "c2")),
                    message("m4", Some("broken"), job("broken", "c3")),
                    message("m5", Some("globex"), unlinked),
                    message("m6", None, json!("not a job")),
                    message("m7", Some("x"), job("no-such-integration", "c4")),
                ],
                deadline(),
            )
            .await;
        let acme = &batch.figures[&IntegrationId::new("acme")];
        assert_eq!((acme.uploaded, acme.already_done, acme.total()), (1, 1, 2));
        // The unavailable integration's record, and the one held back behind it.
        let broken = &batch.figures[&IntegrationId::new("broken")];
        assert_eq!((broken.retried, broken.total()), (2, 2));
        let globex = &batch.figures[&IntegrationId::new("globex")];
        assert_eq!(globex.parked, 1);
        assert_eq!(batch.dropped, 2);
        assert!(
            !batch
                .figures
                .contains_key(&IntegrationId::new("no-such-integration"))
        );
        // Parked certificates are counted after the batch, for the integrations that parked.
        assert_eq!(batch.parked.len(), 1);
        assert_eq!(batch.parked[&IntegrationId::new("globex")].count, 1);
    }

    #[tokio::test]
    async fn a_panic_fails_only_its_record_and_later_ones_of_its_group() {
        let f = fixture().await;
        let batch = f
            .consumer
            .consume(
                vec![
                    message("m1", Some("explosive"), job("explosive", "c1")),
                    message("m2", Some("acme"), job("acme", "c2")),
                    message("m3", Some("explosive"), job("explosive", "c3")),
                ],
                deadline(),
            )
            .await;
        assert!(
            matches!(&batch.records[0].1, RecordOutcome::Panicked { reason } if reason.contains("connector exploded")),
            "{batch:?}"
        );
        assert!(matches!(
            batch.records[1].1,
            RecordOutcome::Pushed(PushOutcome::Uploaded { .. })
        ));
        assert_eq!(batch.records[2].1, RecordOutcome::HeldBack);
        assert_eq!(batch.failed_message_ids(), ["m1", "m3"]);
    }

    #[tokio::test]
    async fn unusable_and_permanently_failing_jobs_are_acknowledged() {
        let f = fixture().await;
        let mut invalid = job("acme", "bad-date");
        invalid["completed_on"] = json!("31.12.2026");
        let batch = f
            .consumer
            .consume(
                vec![
                    QueueMessage {
                        message_id: "not-json".into(),
                        body: "{".into(),
                        group_id: Some("acme".into()),
                    },
                    message(
                        "no-integration",
                        Some("acme"),
                        json!({"certificate_id": "x"}),
                    ),
                    message("gone", Some("gone"), job("gone", "c1")),
                    message("invalid", Some("acme"), invalid),
                    message("good", Some("acme"), job("acme", "c2")),
                ],
                deadline(),
            )
            .await;
        assert_eq!(
            batch.failed_message_ids(),
            Vec::<String>::new(),
            "{batch:?}"
        );
        assert!(matches!(batch.records[2].1, RecordOutcome::Dropped { .. }));
        assert!(matches!(
            batch.records[3].1,
            RecordOutcome::Pushed(PushOutcome::Failed {
                retryable: false,
                ..
            })
        ));
        // The invalid job's reason is on the ledger; the good one after it was pushed.
        let entry = f
            .store
            .certificate(
                &IntegrationId::new("acme"),
                &CertificateId("bad-date".into()),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(entry.state, LedgerState::Failed { .. }),
            "{entry:?}"
        );
        assert!(matches!(
            batch.records[4].1,
            RecordOutcome::Pushed(PushOutcome::Uploaded { .. })
        ));
    }

    #[tokio::test]
    async fn a_redelivered_job_is_not_pushed_twice_and_a_passed_deadline_defers() {
        let f = fixture().await;
        let first = f
            .consumer
            .consume(
                vec![message("m1", Some("acme"), job("acme", "c1"))],
                deadline(),
            )
            .await;
        let again = f
            .consumer
            .consume(
                vec![message("m1", Some("acme"), job("acme", "c1"))],
                deadline(),
            )
            .await;
        assert!(matches!(
            first.records[0].1,
            RecordOutcome::Pushed(PushOutcome::Uploaded { .. })
        ));
        assert!(matches!(
            again.records[0].1,
            RecordOutcome::Pushed(PushOutcome::AlreadyDone { .. })
        ));
        assert_eq!(f.hr.uploaded().len(), 1);

        let late = f
            .consumer
            .consume(
                vec![message("m2", None, job("acme", "c2"))],
                Deadline::after(std::time::Duration::ZERO),
            )
            .await;
        assert_eq!(late.records[0].1, RecordOutcome::DeadlinePassed);
        assert_eq!(late.failed_message_ids(), ["m2"]);
    }
}
