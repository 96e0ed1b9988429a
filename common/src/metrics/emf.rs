//! CloudWatch Embedded Metric Format: each finished run, certificate batch and scheduler pass
//! is one JSON log line from which CloudWatch Logs extracts the metrics, with no API call and
//! no dependency at run time. These are pure functions from the figures to the document; the
//! Lambda hosts print the lines on stdout.
//!
//! Dimensions are few, for cost: every per-integration metric is emitted by `IntegrationId` and
//! without dimensions (the total the alarms watch); `Runs` also by `RunKind` × `RunStatus`.
//! Names and units: [`super::names`] and `docs/operating.md`.

use super::figures::{
    CertificateFigures, ParkedCertificates, RunFigures, RunHealth, RunObservation, SchedulerPass,
    kind_name, status_name,
};
use super::names::{self, Metric};
use crate::domain::IntegrationId;
use crate::domain::run::RunRecord;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The dimension sets of a per-integration metric: by integration, and the total.
const PER_INTEGRATION: &[&[&str]] = &[&[names::DIMENSION_INTEGRATION], &[]];
const TOTAL_ONLY: &[&[&str]] = &[&[]];

/// One EMF document under construction: root members, then one directive per dimension layout.
struct Document {
    namespace: String,
    root: Map<String, Value>,
    directives: Vec<Value>,
}

impl Document {
    fn new(namespace: &str, now: DateTime<Utc>) -> Self {
        Self {
            namespace: namespace.to_owned(),
            root: Map::new(),
            directives: Vec::new(),
        }
        .with_timestamp(now)
    }

    fn with_timestamp(mut self, now: DateTime<Utc>) -> Self {
        self.root
            .insert("_aws".into(), json!({"Timestamp": now.timestamp_millis()}));
        self
    }

    /// A dimension value or a context member (searchable in Logs Insights, not a dimension
    /// unless a directive names it).
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.root.insert(key.to_owned(), value.into());
    }

    /// Metrics with their values, extracted under `dimension_sets`.
    fn metrics(&mut self, dimension_sets: &[&[&str]], values: &[(Metric, u64)]) {
        if values.is_empty() {
            return;
        }
        let definitions: Vec<Value> = values
            .iter()
            .map(|(metric, _)| json!({"Name": metric.name, "Unit": metric.unit.as_str()}))
            .collect();
        for (metric, value) in values {
            self.root
                .insert(metric.name.to_owned(), Value::from(*value));
        }
        self.directives.push(json!({
            "Namespace": self.namespace,
            "Dimensions": dimension_sets,
            "Metrics": definitions,
        }));
    }

    fn finish(mut self) -> Value {
        if let Some(Value::Object(metadata)) = self.root.get_mut("_aws") {
            metadata.insert("CloudWatchMetrics".into(), Value::Array(self.directives));
        }
        Value::Object(self.root)
    }
}

/// The line to print: the document as one line of JSON.
pub fn line(document: &Value) -> String {
    document.to_string()
}

fn count(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// A finished sync run, with the integration's health after it when known. `None` for a dry
/// run: it changed nothing and is no run of the integration's schedule.
pub fn run_document(
    namespace: &str,
    record: &RunRecord,
    health: Option<&RunHealth>,
    scheduled: bool,
    now: DateTime<Utc>,
) -> Option<Value> {
    if record.dry_run {
        return None;
    }
    let figures = RunFigures::of(record);
    let mut document = Document::new(namespace, now);
    document.set(names::DIMENSION_INTEGRATION, record.integration_id.as_str());
    document.set(names::DIMENSION_RUN_KIND, kind_name(record));
    document.set(names::DIMENSION_RUN_STATUS, status_name(record.status));
    document.set("RunId", record.run_id.0.as_str());
    document.set("Trigger", json!(record.trigger));
    let failed = u64::from(record.status == crate::domain::run::RunStatus::Failed);
    let mut values = vec![
        (names::RUNS, 1),
        (names::RUNS_FAILED, failed),
        (names::EMPLOYEES_CREATED, u64::from(figures.created)),
        (names::EMPLOYEES_UPDATED, u64::from(figures.updated)),
        (names::EMPLOYEES_DEACTIVATED, u64::from(figures.deactivated)),
        (names::EMPLOYEES_SKIPPED, u64::from(figures.skipped)),
        (names::EMPLOYEES_FAILED, u64::from(figures.failed)),
        (names::EMPLOYEES_HELD_BACK, u64::from(figures.held_back)),
        (names::PERSONIO_REQUESTS, figures.personio.requests),
        (names::PERSONIO_THROTTLED, figures.personio.throttled),
        (names::LMS_REQUESTS, figures.lms.requests),
        (names::LMS_THROTTLED, figures.lms.throttled),
    ];
    if let Some(duration_ms) = figures.duration_ms {
        values.push((names::RUN_DURATION, duration_ms));
    }
    values.extend(health_values(health, scheduled));
    // `Runs` under both layouts: the two directives extract it twice, once per layout.
    document.metrics(PER_INTEGRATION, &values);
    document.metrics(
        &[&[names::DIMENSION_RUN_KIND, names::DIMENSION_RUN_STATUS]],
        &[(names::RUNS, 1)],
    );
    Some(document.finish())
}

/// The lines of a finished sync job: the run's, and the certificates' when parked certificates
/// were released after it or are counted. None for a dry run.
pub fn run_observation_documents(
    namespace: &str,
    observation: &RunObservation,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let Some(run) = run_document(
        namespace,
        &observation.record,
        observation.health.as_ref(),
        observation.scheduled,
        now,
    ) else {
        return Vec::new();
    };
    let mut documents = vec![run];
    if observation.released.is_some() || observation.parked.is_some() {
        documents.push(certificate_document(
            namespace,
            &observation.record.integration_id,
            &observation.released.unwrap_or_default(),
            observation.parked.as_ref(),
            CertificateSource::Release,
            now,
        ));
    }
    documents
}

fn health_values(health: Option<&RunHealth>, scheduled: bool) -> Vec<(Metric, u64)> {
    let Some(health) = health else {
        return Vec::new();
    };
    let mut values = vec![(
        names::CONSECUTIVE_FAILED_RUNS,
        u64::from(health.consecutive_failures),
    )];
    // A manual integration may go without runs for as long as nobody asks for one.
    if scheduled {
        values.push((
            names::MINUTES_SINCE_LAST_SUCCESS,
            health.minutes_since_last_success(),
        ));
    }
    values
}

/// An integration's health alone (the scheduler's view of a due integration).
pub fn health_document(
    namespace: &str,
    integration: &IntegrationId,
    health: &RunHealth,
    scheduled: bool,
    now: DateTime<Utc>,
) -> Value {
    let mut document = Document::new(namespace, now);
    document.set(names::DIMENSION_INTEGRATION, integration.as_str());
    document.metrics(PER_INTEGRATION, &health_values(Some(health), scheduled));
    document.finish()
}

/// Where certificate figures come from, as a context member of their line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    /// A batch from the certificate queue.
    Queue,
    /// Parked jobs released after a sync run.
    Release,
}

/// The certificates of one integration in one batch or release, and its parked certificates
/// after it when known.
pub fn certificate_document(
    namespace: &str,
    integration: &IntegrationId,
    figures: &CertificateFigures,
    parked: Option<&ParkedCertificates>,
    source: CertificateSource,
    now: DateTime<Utc>,
) -> Value {
    let mut document = Document::new(namespace, now);
    document.set(names::DIMENSION_INTEGRATION, integration.as_str());
    document.set(
        "Source",
        match source {
            CertificateSource::Queue => "queue",
            CertificateSource::Release => "release",
        },
    );
    document.set("CertificatesAlreadyDone", count(figures.already_done));
    let mut values = vec![
        (names::CERTIFICATES_UPLOADED, count(figures.uploaded)),
        (names::CERTIFICATES_RECOVERED, count(figures.recovered)),
        (names::CERTIFICATES_PARKED, count(figures.parked)),
        (names::CERTIFICATES_FAILED, count(figures.failed)),
        (names::CERTIFICATES_RETRIED, count(figures.retried)),
    ];
    if let Some(parked) = parked {
        values.push((names::PARKED_CERTIFICATES, count(parked.count)));
        values.push((
            names::OLDEST_PARKED_CERTIFICATE_AGE,
            parked.oldest_age_seconds(),
        ));
    }
    document.metrics(PER_INTEGRATION, &values);
    document.finish()
}

/// Certificate messages of a batch that named no integration (total only).
pub fn dropped_certificates_document(namespace: &str, dropped: usize, now: DateTime<Utc>) -> Value {
    let mut document = Document::new(namespace, now);
    document.metrics(
        TOTAL_ONLY,
        &[(names::CERTIFICATE_JOBS_DROPPED, count(dropped))],
    );
    document.finish()
}

/// One scheduler pass that could list the due integrations.
pub fn scheduler_document(namespace: &str, pass: &SchedulerPass, now: DateTime<Utc>) -> Value {
    let mut document = Document::new(namespace, now);
    document.set("StillRunning", count(pass.still_running));
    document.set("ClaimedElsewhere", count(pass.claimed_elsewhere));
    document.metrics(
        TOTAL_ONLY,
        &[
            (names::SCHEDULER_PASSES, 1),
            (names::SYNC_JOBS_ENQUEUED, count(pass.enqueued)),
            (names::SCHEDULE_FAILURES, count(pass.failed)),
        ],
    );
    document.finish()
}

/// Checks a document against the EMF specification (the published JSON schema and the rules it
/// cannot express: every referenced dimension is a string member of the root, every metric a
/// number or an array of at most 100 numbers). Returns every violation.
#[cfg(any(test, feature = "test-support"))]
pub fn validate(document: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(root) = document.as_object() else {
        return Err(vec!["the document is not a JSON object".into()]);
    };
    let Some(metadata) = root.get("_aws").and_then(Value::as_object) else {
        return Err(vec!["_aws is missing or not an object".into()]);
    };
    if !metadata
        .get("Timestamp")
        .is_some_and(|t| t.is_u64() || t.is_i64())
    {
        problems.push("_aws.Timestamp must be an integer (epoch milliseconds)".into());
    }
    let Some(directives) = metadata.get("CloudWatchMetrics").and_then(Value::as_array) else {
        problems.push("_aws.CloudWatchMetrics must be an array".into());
        return Err(problems);
    };
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let name_ok = |value: &Value| {
        value
            .as_str()
            .is_some_and(|name| (1..=255).contains(&name.chars().count()))
    };
    for (index, directive) in directives.iter().enumerate() {
        let at = format!("_aws.CloudWatchMetrics[{index}]");
        if !directive.get("Namespace").is_some_and(name_ok) {
            problems.push(format!(
                "{at}.Namespace must be a string of 1 to 255 characters"
            ));
        }
        match directive.get("Dimensions").and_then(Value::as_array) {
            Some(sets) if !sets.is_empty() => {
                for set in sets {
                    let Some(keys) = set.as_array().filter(|keys| keys.len() <= 9) else {
                        problems.push(format!(
                            "{at}: a dimension set is not an array of at most 9 keys"
                        ));
                        continue;
                    };
                    for key in keys {
                        if !name_ok(key) {
                            problems.push(format!("{at}: dimension key {key} is not a name"));
                        } else if !root
                            .get(key.as_str().unwrap_or_default())
                            .is_some_and(Value::is_string)
                        {
                            problems.push(format!(
                                "{at}: dimension {key} has no string member on the root"
                            ));
                        }
                    }
                }
            }
            _ => problems.push(format!(
                "{at}.Dimensions must be a non-empty array of dimension sets"
            )),
        }
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            problems.push(format!("{at}.Metrics must be an array"));
            continue;
        };
        if metrics.len() > 100 {
            problems.push(format!("{at}: more than 100 metrics"));
        }
        for metric in metrics {
            let Some(name) = metric
                .get("Name")
                .filter(|name| name_ok(name))
                .and_then(Value::as_str)
            else {
                problems.push(format!("{at}: a metric without a valid Name"));
                continue;
            };
            if let Some(unit) = metric.get("Unit")
                && !unit.as_str().is_some_and(|unit| UNITS.contains(&unit))
            {
                problems.push(format!(
                    "{at}: metric {name} has unit {unit}, not a CloudWatch unit"
                ));
            }
            let numeric = match root.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(values)) => {
                    values.len() <= 100 && values.iter().all(Value::is_number)
                }
                _ => false,
            };
            if !numeric {
                problems.push(format!(
                    "{at}: metric {name} has no numeric member on the root"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
