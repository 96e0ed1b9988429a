//! The sync-job consumer: one sync job from the sync queue → load the integration, connect, run
//! [`sync_integration`] (the sync, then the release of parked certificates).
//!
//! What becomes of the message:
//! - the run happened (whatever its verdict: a failed run is in the run history, and the next
//!   scheduled run tries again), or another run holds the lease: done, acknowledged;
//! - a job that can never run (unreadable, unknown integration, invalid settings, missing or
//!   malformed secret, bad URL): [`SyncJobError`] that is not retryable; the host logs it and
//!   acknowledges, because a redelivery would fail the same way and the scheduler enqueues the
//!   integration's next run anyway (the DLQ would only collect noise);
//! - a failure that can pass (state store or Secrets Manager unavailable before the run could be
//!   recorded): retryable [`SyncJobError`]; the host reports the message as failed, SQS delivers it
//!   again, and after `maxReceiveCount` it reaches the DLQ.

use super::connect::{ConnectError, Connector};
use super::delta_runs::scheduled_scope;
use super::integration_sync::{IntegrationSync, SyncVerdict, sync_integration};
use super::observe::{parked_certificates, run_health};
use super::targeted_sync::named_scope;
use crate::certificates::{CertificatePusher, PdfFetcher};
use crate::domain::IntegrationId;
use crate::domain::integration::{IntegrationRecord, SyncSchedule};
use crate::domain::job::SyncJob;
use crate::domain::run::{RunId, RunKind, RunRecord};
use crate::metrics::{CertificateFigures, RunObservation};
use crate::ports::{IntegrationStore, Notifier, StateStore, StoreError};
use crate::progress::NoProgress;
use crate::retry::Deadline;
use crate::sync::{SyncEngine, SyncError, SyncOutcome, SyncRequest, SyncScope};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tracing::{Instrument, error, info, info_span, warn};

/// How one sync job ended when it did not fail.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncJobDone {
    /// The run ran and is recorded.
    Ran {
        integration: IntegrationId,
        run_id: RunId,
        verdict: SyncVerdict,
        /// The run with the integration's health and parked certificates after it, for the
        /// host's metrics.
        observation: Box<RunObservation>,
    },
    /// Another run of the integration is in progress; this job did nothing.
    LeaseHeld {
        integration: IntegrationId,
        holder: String,
        until: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncJobError {
    #[error("the message is not a sync job: {0}")]
    InvalidJob(String),
    #[error("integration {0} does not exist (deleted after the job was queued?)")]
    UnknownIntegration(IntegrationId),
    #[error("reading integration {integration} failed: {source}")]
    Store {
        integration: IntegrationId,
        #[source]
        source: StoreError,
    },
    #[error("connecting integration {integration} failed: {source}")]
    Connect {
        integration: IntegrationId,
        #[source]
        source: ConnectError,
    },
    #[error("the sync of integration {integration} could not run: {source}")]
    Sync {
        integration: IntegrationId,
        #[source]
        source: SyncError,
    },
    /// A job naming employees (a webhook event) found another run holding the lease. That run
    /// may have read the employees before the change, so the job is not dropped: the queue
    /// delivers it again.
    #[error(
        "integration {integration} is syncing ({holder}, until {until}); the named employees are synced when the job comes again"
    )]
    Busy {
        integration: IntegrationId,
        holder: String,
        until: DateTime<Utc>,
    },
}

impl SyncJobError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidJob(_) | Self::UnknownIntegration(_) => false,
            Self::Busy { .. } => true,
            Self::Store { source, .. } => source.is_retryable(),
            Self::Connect { source, .. } => source.is_retryable(),
            Self::Sync { source, .. } => match source {
                SyncError::Settings(_) => false,
                SyncError::Store { source, .. } => source.is_retryable(),
            },
        }
    }
}

/// Runs sync jobs. Build one per process and share it across invocations.
pub struct SyncJobHandler {
    integrations: Arc<dyn IntegrationStore>,
    store: Arc<dyn StateStore>,
    connector: Arc<dyn Connector>,
    notifier: Arc<dyn Notifier>,
    fetcher: PdfFetcher,
}

impl SyncJobHandler {
    pub fn new(
        integrations: Arc<dyn IntegrationStore>,
        store: Arc<dyn StateStore>,
        connector: Arc<dyn Connector>,
        notifier: Arc<dyn Notifier>,
        fetcher: PdfFetcher,
    ) -> Self {
        Self {
            integrations,
            store,
            connector,
            notifier,
            fetcher,
        }
    }

    /// Runs the sync job in `body`. `lease_holder` names this worker to a run that finds the
    /// lease held (a Lambda request id); everything ends by `deadline`.
    pub async fn handle(
        &self,
        body: &str,
        deadline: Deadline,
        lease_holder: &str,
    ) -> Result<SyncJobDone, SyncJobError> {
        let job: SyncJob = serde_json::from_str(body)
            .map_err(|error| SyncJobError::InvalidJob(error.to_string()))?;
        self.handle_job(job, deadline, lease_holder).await
    }

    /// Runs one sync job already read (a batch's coalesced job, see `app::job_batch`).
    pub async fn handle_job(
        &self,
        job: SyncJob,
        deadline: Deadline,
        lease_holder: &str,
    ) -> Result<SyncJobDone, SyncJobError> {
        let span = info_span!(
            "sync_job",
            integration = %job.integration_id,
            trigger = ?job.trigger,
            dry_run = job.dry_run,
        );
        let result = self
            .run(job, deadline, lease_holder)
            .instrument(span.clone())
            .await;
        span.in_scope(|| match &result {
            Ok(SyncJobDone::Ran { run_id, verdict, .. }) => match verdict {
                SyncVerdict::Failed => error!(run = %run_id, "the sync run failed; it is recorded, the next run tries again"),
                SyncVerdict::Aborted => warn!(run = %run_id, "the sync run stopped before its deadline; what it did is recorded, the next run does the rest"),
                verdict => info!(run = %run_id, ?verdict, "sync job done"),
            },
            Ok(SyncJobDone::LeaseHeld { holder, until, .. }) => {
                info!(%holder, %until, "another run holds the lease; job acknowledged")
            }
            Err(error) if error.is_retryable() => warn!(%error, "sync job failed; it will be delivered again"),
            Err(error) => error!(%error, "sync job cannot run; dropped"),
        });
        result
    }

    async fn run(
        &self,
        job: SyncJob,
        deadline: Deadline,
        lease_holder: &str,
    ) -> Result<SyncJobDone, SyncJobError> {
        let integration = job.integration_id;
        // A job naming employees is a targeted run of just them (webhook events, the admin
        // API's employee sync); without names, everyone, or a delta when the schedule allows.
        // A reconcile compares every user with the LMS: it names nobody and is never a delta.
        let named = match (job.employees.is_empty(), job.kind) {
            (true, RunKind::Targeted) => {
                return Err(SyncJobError::InvalidJob(
                    "employees: a targeted run names at least one employee".to_owned(),
                ));
            }
            (true, _) => None,
            (false, RunKind::Reconcile) => {
                return Err(SyncJobError::InvalidJob(
                    "employees: a reconcile run covers everyone and names nobody".to_owned(),
                ));
            }
            (false, _) => Some(
                named_scope(job.employees)
                    .map_err(|error| SyncJobError::InvalidJob(format!("employees: {error}")))?,
            ),
        };
        let record = match self.integrations.integration(&integration).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(SyncJobError::UnknownIntegration(integration)),
            Err(source) => {
                return Err(SyncJobError::Store {
                    integration,
                    source,
                });
            }
        };
        let targeted = named.is_some();
        let scope = match named {
            Some(scope) => scope,
            None if job.delta && job.kind != RunKind::Reconcile => scheduled_scope(
                self.store.as_ref(),
                &integration,
                &record.settings.delta_runs,
                Utc::now(),
            )
            .await
            .map_err(|source| SyncJobError::Store {
                integration: integration.clone(),
                source,
            })?,
            None => SyncScope::Everyone,
        };
        let connected = match self.connector.connect(&record, deadline).await {
            Ok(connected) => connected,
            Err(source) => {
                return Err(SyncJobError::Connect {
                    integration,
                    source,
                });
            }
        };
        let engine = SyncEngine::new(
            connected.hr.clone(),
            connected.lms.clone(),
            self.store.clone(),
            self.notifier.clone(),
        );
        let pusher = CertificatePusher::new(connected.hr, self.store.clone(), self.fetcher.clone())
            .with_lms(connected.lms);
        let mut request =
            SyncRequest::new(integration.clone(), record.settings.clone(), job.trigger);
        request.dry_run = job.dry_run;
        request.scope = scope;
        request.kind = job.kind;
        request.deadline = deadline;
        request.lease_holder = lease_holder.to_owned();
        let synced = sync_integration(&engine, &pusher, request, &NoProgress, &NoProgress)
            .await
            .map_err(|source| SyncJobError::Sync {
                integration: integration.clone(),
                source,
            })?;
        let verdict = synced.verdict();
        Ok(match &synced.sync {
            SyncOutcome::Completed(run) => SyncJobDone::Ran {
                integration,
                run_id: run.run_id.clone(),
                verdict,
                observation: Box::new(self.observe(&record, run, &synced).await),
            },
            SyncOutcome::LeaseHeld { holder, expires_at } if targeted => {
                return Err(SyncJobError::Busy {
                    integration,
                    holder: holder.clone(),
                    until: *expires_at,
                });
            }
            SyncOutcome::LeaseHeld { holder, expires_at } => SyncJobDone::LeaseHeld {
                integration,
                holder: holder.clone(),
                until: *expires_at,
            },
        })
    }
}

impl SyncJobHandler {
    /// The finished run with the integration's health and parked certificates after it (for a
    /// real run; a dry run is reported as it is).
    async fn observe(
        &self,
        integration: &IntegrationRecord,
        run: &RunRecord,
        synced: &IntegrationSync,
    ) -> RunObservation {
        let now = Utc::now();
        let real = !run.dry_run;
        let health = match real {
            true => {
                run_health(
                    self.store.as_ref(),
                    &integration.id,
                    integration.created_at,
                    now,
                )
                .await
            }
            false => None,
        };
        let parked = match real && integration.settings.certificates.enabled {
            true => parked_certificates(self.store.as_ref(), &integration.id, now).await,
            false => None,
        };
        let released = match &synced.released {
            Some(Ok(report)) => Some(CertificateFigures::of(&report.counts())),
            _ => None,
        };
        RunObservation {
            record: run.clone(),
            scheduled: matches!(integration.schedule, SyncSchedule::EveryMinutes(_)),
            health,
            released,
            parked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::connect::{ConnectPolicy, IntegrationAdapters};
    use crate::certificates::FetchLimits;
    use crate::domain::integration::IntegrationRecord;
    use crate::domain::run::Trigger;
    use crate::lms::memory::MemoryLms;
    use crate::notify::MemoryNotifier;
    use crate::ports::{CredentialsError, LeaseStore, RunStore};
    use crate::store::MemoryStore;
    use crate::store::contract::integration_record;
    use crate::sync::testing::{SELECTION_KEY, StaticHrSource, employee};

    /// Connects every integration to one static HR source and one in-memory LMS, or fails.
    struct StaticConnector {
        hr: Arc<StaticHrSource>,
        lms: Arc<MemoryLms>,
        failure: Option<fn() -> ConnectError>,
    }

    #[async_trait::async_trait]
    impl Connector for StaticConnector {
        fn policy(&self) -> ConnectPolicy {
            ConnectPolicy::LOCAL
        }

        async fn connect(
            &self,
            _record: &IntegrationRecord,
            _deadline: Deadline,
        ) -> Result<IntegrationAdapters, ConnectError> {
            if let Some(failure) = self.failure {
                return Err(failure());
            }
            Ok(IntegrationAdapters {
                hr: self.hr.clone(),
                lms: self.lms.clone(),
            })
        }
    }

    struct Fixture {
        store: MemoryStore,
        lms: Arc<MemoryLms>,
        handler: SyncJobHandler,
    }

    async fn fixture(failure: Option<fn() -> ConnectError>) -> Fixture {
        let store = MemoryStore::new();
        let mut record = integration_record("acme", "tenant", None, 1);
        record.settings = crate::domain::settings::IntegrationSettings::new(SELECTION_KEY);
        store.put_integration(&record, None).await.unwrap();
        let hr = Arc::new(StaticHrSource::of(vec![employee(1, "ada@example.com")]));
        let lms = Arc::new(MemoryLms::new());
        let connector = Arc::new(StaticConnector {
            hr,
            lms: lms.clone(),
            failure,
        });
        let handler = SyncJobHandler::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            connector,
            Arc::new(MemoryNotifier::new()),
            PdfFetcher::new(FetchLimits::default(), crate::net::NetworkPolicy::LOCAL).unwrap(),
        );
        Fixture {
            store,
            lms,
            handler,
        }
    }

    fn job(integration: &str) -> String {
        serde_json::to_string(&SyncJob {
            integration_id: IntegrationId::new(integration),
            trigger: Trigger::Schedule,
            dry_run: false,
            kind: Default::default(),
            requested_at: Utc::now(),
            employees: Vec::new(),
            delta: false,
        })
        .unwrap()
    }

    fn deadline() -> Deadline {
        Deadline::after(std::time::Duration::from_secs(60))
    }

    #[tokio::test]
    async fn a_job_runs_the_sync_and_is_recorded() {
        let f = fixture(None).await;
        let done = f
            .handler
            .handle(&job("acme"), deadline(), "req-1")
            .await
            .unwrap();
        let SyncJobDone::Ran {
            run_id, verdict, ..
        } = done
        else {
            panic!("expected a run, got {done:?}");
        };
        assert_eq!(verdict, SyncVerdict::Succeeded);
        let acme = IntegrationId::new("acme");
        let stored = f.store.run(&acme, &run_id).await.unwrap().unwrap();
        assert_eq!(
            (stored.trigger, stored.counts.created),
            (Trigger::Schedule, 1)
        );
        assert_eq!(f.lms.users().len(), 1);
        // The lease was released after the run.
        assert_eq!(f.store.lease(&acme).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_finished_job_reports_the_run_with_the_integrations_health() {
        let f = fixture(None).await;
        let acme = IntegrationId::new("acme");
        // Two failed runs before this one.
        for minutes in [20, 10] {
            let started_at = Utc::now() - chrono::Duration::minutes(minutes);
            let failed = crate::domain::run::RunRecord {
                kind: Default::default(),
                finished_at: Some(started_at),
                status: crate::domain::run::RunStatus::Failed,
                error: Some("Personio was unreachable".into()),
                ..RunRecord::started(
                    acme.clone(),
                    RunId(format!("failed-{minutes}")),
                    Trigger::Schedule,
                    started_at,
                )
            };
            f.store.put_run(&failed).await.unwrap();
        }
        let done = f
            .handler
            .handle(&job("acme"), deadline(), "req-3")
            .await
            .unwrap();
        let SyncJobDone::Ran { observation, .. } = done else {
            panic!("expected a run, got {done:?}");
        };
        assert_eq!(observation.record.counts.created, 1);
        let health = observation.health.expect("the health was read");
        assert_eq!(health.consecutive_failures, 0, "this run succeeded");
        assert!(health.since_last_success < chrono::Duration::minutes(1));
        assert!(
            !observation.scheduled,
            "the fixture's integration is manual"
        );
        // Certificates are off in the fixture: nothing released, nothing counted.
        assert_eq!((observation.released, observation.parked), (None, None));
    }

    #[tokio::test]
    async fn a_job_naming_employees_runs_a_targeted_sync_of_just_them() {
        let f = fixture(None).await;
        let mut named = SyncJob {
            integration_id: IntegrationId::new("acme"),
            trigger: Trigger::Manual,
            dry_run: false,
            kind: RunKind::Full,
            requested_at: Utc::now(),
            employees: vec![crate::domain::employee::PersonioId(1)],
            delta: false,
        };
        let done = f
            .handler
            .handle(&serde_json::to_string(&named).unwrap(), deadline(), "r")
            .await
            .unwrap();
        let SyncJobDone::Ran { run_id, .. } = done else {
            panic!("expected a run, got {done:?}");
        };
        let stored = f
            .store
            .run(&IntegrationId::new("acme"), &run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.kind, crate::domain::run::RunKind::Targeted);
        assert_eq!(stored.targets, named.employees);
        assert_eq!(stored.counts.created, 1);

        named.employees = vec![crate::domain::employee::PersonioId(0)];
        let error = f
            .handler
            .handle(&serde_json::to_string(&named).unwrap(), deadline(), "r")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SyncJobError::InvalidJob(reason) if reason.contains("employees")),
            "{error}"
        );
        assert!(!error.is_retryable());

        // A reconcile covers everyone; a targeted run names someone.
        named.employees = vec![crate::domain::employee::PersonioId(1)];
        named.kind = RunKind::Reconcile;
        let reconcile = f
            .handler
            .handle(&serde_json::to_string(&named).unwrap(), deadline(), "r")
            .await;
        assert!(
            matches!(&reconcile, Err(SyncJobError::InvalidJob(reason)) if reason.contains("reconcile")),
            "{reconcile:?}"
        );
        named.employees = Vec::new();
        named.kind = RunKind::Targeted;
        let nobody = f
            .handler
            .handle(&serde_json::to_string(&named).unwrap(), deadline(), "r")
            .await;
        assert!(
            matches!(&nobody, Err(SyncJobError::InvalidJob(reason)) if reason.contains("targeted")),
            "{nobody:?}"
        );
    }

    #[tokio::test]
    async fn a_held_lease_is_not_an_error() {
        let f = fixture(None).await;
        let acme = IntegrationId::new("acme");
        f.store
            .acquire_lease(&acme, "other-run", Utc::now(), chrono::Duration::minutes(5))
            .await
            .unwrap();
        let done = f
            .handler
            .handle(&job("acme"), deadline(), "req-2")
            .await
            .unwrap();
        assert!(
            matches!(&done, SyncJobDone::LeaseHeld { holder, .. } if holder == "other-run"),
            "{done:?}"
        );
        assert!(f.lms.users().is_empty());
    }

    #[tokio::test]
    async fn jobs_that_can_never_run_are_permanent_errors() {
        let f = fixture(None).await;
        for (body, what) in [
            ("not json", "unreadable"),
            (r#"{"integration_id": "acme"}"#, "incomplete"),
        ] {
            let error = f.handler.handle(body, deadline(), "r").await.unwrap_err();
            assert!(
                matches!(error, SyncJobError::InvalidJob(_)),
                "{what}: {error}"
            );
            assert!(!error.is_retryable(), "{what}");
        }
        let error = f
            .handler
            .handle(&job("gone"), deadline(), "r")
            .await
            .unwrap_err();
        assert!(
            matches!(error, SyncJobError::UnknownIntegration(_)),
            "{error}"
        );
        assert!(!error.is_retryable());

        let missing = fixture(Some(|| {
            ConnectError::Credentials(CredentialsError::Missing(IntegrationId::new("acme")))
        }))
        .await;
        let error = missing
            .handler
            .handle(&job("acme"), deadline(), "r")
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{error}");
    }

    #[tokio::test]
    async fn an_unavailable_credential_store_is_retryable() {
        let f = fixture(Some(|| {
            ConnectError::Credentials(CredentialsError::Unavailable("throttled".into()))
        }))
        .await;
        let error = f
            .handler
            .handle(&job("acme"), deadline(), "r")
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("throttled"), "{error}");
    }
}
