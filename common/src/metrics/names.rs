//! Every metric name, unit and dimension the integration emits, in one place: the EMF lines
//! (`super::emf`), the alarms of `infra/template.yaml` (checked by `infra/check_template.py`)
//! and `docs/operating.md` (checked by a test) all use these names.

/// The default CloudWatch namespace; the Lambda hosts take `METRICS_NAMESPACE` from the
/// template (one namespace per stack), this when it is unset.
pub const DEFAULT_NAMESPACE: &str = "PersonioLms";

/// The integration a figure is about. Every per-integration metric is also emitted without it,
/// as the total over all integrations (what the alarms watch).
pub const DIMENSION_INTEGRATION: &str = "IntegrationId";
/// A run's kind (`full`, `targeted`, …), only with [`RUNS`].
pub const DIMENSION_RUN_KIND: &str = "RunKind";
/// A run's status (`succeeded`, `completed_with_failures`, `failed`, …), only with [`RUNS`].
pub const DIMENSION_RUN_STATUS: &str = "RunStatus";

/// A CloudWatch unit, as EMF spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    /// A number CloudWatch has no unit for (minutes).
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
            Self::None => "None",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
}

const fn metric(name: &'static str, unit: Unit) -> Metric {
    Metric { name, unit }
}

// Sync runs (employee-sync, one line per real run).
/// 1 per run; also by run kind and status.
pub const RUNS: Metric = metric("Runs", Unit::Count);
/// 1 per run that failed as a whole (Personio or the LMS unreachable, credentials refused, …).
pub const RUNS_FAILED: Metric = metric("RunsFailed", Unit::Count);
/// Employees created in the LMS (or existing LMS users adopted by email).
pub const EMPLOYEES_CREATED: Metric = metric("EmployeesCreated", Unit::Count);
pub const EMPLOYEES_UPDATED: Metric = metric("EmployeesUpdated", Unit::Count);
pub const EMPLOYEES_DEACTIVATED: Metric = metric("EmployeesDeactivated", Unit::Count);
/// Not synced because of their data (no email, duplicate email, …).
pub const EMPLOYEES_SKIPPED: Metric = metric("EmployeesSkipped", Unit::Count);
pub const EMPLOYEES_FAILED: Metric = metric("EmployeesFailed", Unit::Count);
/// Deactivations held back by the deactivation guard.
pub const EMPLOYEES_HELD_BACK: Metric = metric("EmployeesHeldBack", Unit::Count);
/// HTTP requests to Personio, every attempt counted.
pub const PERSONIO_REQUESTS: Metric = metric("PersonioRequests", Unit::Count);
/// Personio answers 429 Too Many Requests.
pub const PERSONIO_THROTTLED: Metric = metric("PersonioThrottled", Unit::Count);
/// HTTP requests to the LMS's SCIM API, every attempt counted.
pub const LMS_REQUESTS: Metric = metric("LmsRequests", Unit::Count);
/// LMS answers 429 Too Many Requests.
pub const LMS_THROTTLED: Metric = metric("LmsThrottled", Unit::Count);
pub const RUN_DURATION: Metric = metric("RunDuration", Unit::Milliseconds);

// An integration's health (employee-sync after each run, the scheduler for each due run).
/// Failed runs in a row, newest first.
pub const CONSECUTIVE_FAILED_RUNS: Metric = metric("ConsecutiveFailedRuns", Unit::Count);
/// Minutes since the last run that finished (scheduled integrations only).
pub const MINUTES_SINCE_LAST_SUCCESS: Metric = metric("MinutesSinceLastSuccess", Unit::None);

// Certificates (certificate-push per batch, employee-sync per release of parked ones).
pub const CERTIFICATES_UPLOADED: Metric = metric("CertificatesUploaded", Unit::Count);
/// Found in Personio after a crashed attempt: recorded, not uploaded twice.
pub const CERTIFICATES_RECOVERED: Metric = metric("CertificatesRecovered", Unit::Count);
/// Parked: the employee is not linked yet.
pub const CERTIFICATES_PARKED: Metric = metric("CertificatesParked", Unit::Count);
/// Failed for good (the reason is on the ledger).
pub const CERTIFICATES_FAILED: Metric = metric("CertificatesFailed", Unit::Count);
/// To be delivered again (busy elsewhere, a retryable failure, held back in their group).
pub const CERTIFICATES_RETRIED: Metric = metric("CertificatesRetried", Unit::Count);
/// Parked certificates of the integration now.
pub const PARKED_CERTIFICATES: Metric = metric("ParkedCertificates", Unit::Count);
/// How long the certificate parked longest has waited.
pub const OLDEST_PARKED_CERTIFICATE_AGE: Metric =
    metric("OldestParkedCertificateAge", Unit::Seconds);
/// Certificate messages that can never be pushed (not JSON, no integration): dropped. Total only.
pub const CERTIFICATE_JOBS_DROPPED: Metric = metric("CertificateJobsDropped", Unit::Count);

// The scheduler (one line per pass), totals only.
/// 1 per scheduler pass that could list the due integrations: its absence means the scheduler
/// is not running (or cannot read the table).
pub const SCHEDULER_PASSES: Metric = metric("SchedulerPasses", Unit::Count);
pub const SYNC_JOBS_ENQUEUED: Metric = metric("SyncJobsEnqueued", Unit::Count);
/// Due integrations the pass could not handle (left due for the next pass).
pub const SCHEDULE_FAILURES: Metric = metric("ScheduleFailures", Unit::Count);

/// Every metric above, for the documentation check.
pub const ALL: &[Metric] = &[
    RUNS,
    RUNS_FAILED,
    EMPLOYEES_CREATED,
    EMPLOYEES_UPDATED,
    EMPLOYEES_DEACTIVATED,
    EMPLOYEES_SKIPPED,
    EMPLOYEES_FAILED,
    EMPLOYEES_HELD_BACK,
    PERSONIO_REQUESTS,
    PERSONIO_THROTTLED,
    LMS_REQUESTS,
    LMS_THROTTLED,
    RUN_DURATION,
    CONSECUTIVE_FAILED_RUNS,
    MINUTES_SINCE_LAST_SUCCESS,
    CERTIFICATES_UPLOADED,
    CERTIFICATES_RECOVERED,
    CERTIFICATES_PARKED,
    CERTIFICATES_FAILED,
    CERTIFICATES_RETRIED,
    PARKED_CERTIFICATES,
    OLDEST_PARKED_CERTIFICATE_AGE,
    CERTIFICATE_JOBS_DROPPED,
    SCHEDULER_PASSES,
    SYNC_JOBS_ENQUEUED,
    SCHEDULE_FAILURES,
];
