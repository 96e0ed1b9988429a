//! The same figures for a long-running local host (`personio-lms serve`): a registry the host
//! feeds with every finished run and certificate batch, rendered on `GET /metrics` in the
//! Prometheus text exposition format (version 0.0.4), the ecosystem's convention for scraping.
//! Counters count since the host started; gauges hold the latest value seen.

use super::figures::{
    CertificateFigures, ParkedCertificates, RunFigures, RunHealth, RunObservation, ScheduledHealth,
    kind_name, status_name,
};
use crate::domain::IntegrationId;
use crate::domain::run::RunRecord;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// The content type of the rendered page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Label values of one sample, in the family's label order.
type Labels = Vec<String>;

#[derive(Default)]
struct Families {
    runs: BTreeMap<Labels, u64>,
    employees: BTreeMap<Labels, u64>,
    requests: BTreeMap<Labels, u64>,
    throttled: BTreeMap<Labels, u64>,
    duration_sum: BTreeMap<Labels, f64>,
    duration_count: BTreeMap<Labels, u64>,
    certificates: BTreeMap<Labels, u64>,
    consecutive_failures: BTreeMap<Labels, u64>,
    last_success: BTreeMap<Labels, i64>,
    parked: BTreeMap<Labels, u64>,
    oldest_parked: BTreeMap<Labels, u64>,
    dropped: BTreeMap<Labels, u64>,
}

/// Everything a local host has observed, behind one lock (observations are rare: one per run or
/// batch).
#[derive(Default)]
pub struct MetricsRegistry {
    families: Mutex<Families>,
}

impl std::fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRegistry").finish_non_exhaustive()
    }
}

fn add(map: &mut BTreeMap<Labels, u64>, labels: Labels, value: u64) {
    *map.entry(labels).or_insert(0) += value;
}

impl MetricsRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn families(&self) -> std::sync::MutexGuard<'_, Families> {
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A finished sync run (dry runs are not counted, as in the EMF lines), with the
    /// integration's health after it when known; `now` is when it was observed.
    pub fn observe_run(&self, record: &RunRecord, health: Option<&RunHealth>, now: DateTime<Utc>) {
        if record.dry_run {
            return;
        }
        let figures = RunFigures::of(record);
        let integration = record.integration_id.as_str().to_owned();
        let mut families = self.families();
        add(
            &mut families.runs,
            vec![
                integration.clone(),
                kind_name(record),
                status_name(record.status),
            ],
            1,
        );
        for (action, count) in [
            ("created", figures.created),
            ("updated", figures.updated),
            ("deactivated", figures.deactivated),
            ("skipped", figures.skipped),
            ("failed", figures.failed),
            ("held_back", figures.held_back),
        ] {
            add(
                &mut families.employees,
                vec![integration.clone(), action.to_owned()],
                u64::from(count),
            );
        }
        for (system, counts) in [("personio", &figures.personio), ("lms", &figures.lms)] {
            add(
                &mut families.throttled,
                vec![integration.clone(), system.to_owned()],
                counts.throttled,
            );
            if counts.by_kind.is_empty() {
                add(
                    &mut families.requests,
                    vec![integration.clone(), system.to_owned(), "all".to_owned()],
                    counts.requests,
                );
            }
            for (kind, count) in &counts.by_kind {
                add(
                    &mut families.requests,
                    vec![integration.clone(), system.to_owned(), kind.clone()],
                    *count,
                );
            }
        }
        if let Some(duration_ms) = figures.duration_ms {
            *families
                .duration_sum
                .entry(vec![integration.clone()])
                .or_insert(0.0) += duration_ms as f64 / 1000.0;
            add(&mut families.duration_count, vec![integration.clone()], 1);
        }
        if let Some(health) = health {
            set_health(&mut families, integration, health, now);
        }
    }

    /// The health of the integrations a scheduler pass found due (so that the gauges move even
    /// when no run finishes); `now` is when the pass looked.
    pub fn observe_scheduled_health(&self, seen: &[ScheduledHealth], now: DateTime<Utc>) {
        let mut families = self.families();
        for seen in seen {
            set_health(
                &mut families,
                seen.integration.as_str().to_owned(),
                &seen.health,
                now,
            );
        }
    }

    /// Certificate messages that can never be pushed (not a job, no such integration): counted
    /// in total only, so that an id that names no integration never becomes a label.
    pub fn observe_dropped_certificates(&self, count: usize) {
        if count == 0 {
            return;
        }
        add(
            &mut self.families().dropped,
            Vec::new(),
            u64::try_from(count).unwrap_or(u64::MAX),
        );
    }

    /// A finished sync job: its run, and the release of parked certificates after it.
    pub fn observe(&self, observation: &RunObservation, now: DateTime<Utc>) {
        self.observe_run(&observation.record, observation.health.as_ref(), now);
        if observation.record.dry_run {
            return;
        }
        if observation.released.is_some() || observation.parked.is_some() {
            self.observe_certificates(
                &observation.record.integration_id,
                &observation.released.unwrap_or_default(),
                observation.parked.as_ref(),
            );
        }
    }

    /// The certificates of one integration in one batch or release, and its parked
    /// certificates after it when known.
    pub fn observe_certificates(
        &self,
        integration: &IntegrationId,
        figures: &CertificateFigures,
        parked: Option<&ParkedCertificates>,
    ) {
        let integration = integration.as_str().to_owned();
        let mut families = self.families();
        for (outcome, count) in [
            ("uploaded", figures.uploaded),
            ("recovered", figures.recovered),
            ("parked", figures.parked),
            ("failed", figures.failed),
            ("retried", figures.retried),
            ("already_done", figures.already_done),
        ] {
            add(
                &mut families.certificates,
                vec![integration.clone(), outcome.to_owned()],
                u64::try_from(count).unwrap_or(u64::MAX),
            );
        }
        if let Some(parked) = parked {
            families.parked.insert(
                vec![integration.clone()],
                u64::try_from(parked.count).unwrap_or(u64::MAX),
            );
            families
                .oldest_parked
                .insert(vec![integration], parked.oldest_age_seconds());
        }
    }

    /// The page for `GET /metrics`.
    pub fn render(&self) -> String {
        let families = self.families();
        let mut page = Page::default();
        page.counter(
            "personio_lms_runs_total",
            "Sync runs, by integration, kind and status.",
            &["integration", "kind", "status"],
            &families.runs,
        );
        page.counter(
            "personio_lms_employees_total",
            "Employees by what a run did to them (created includes adopted).",
            &["integration", "action"],
            &families.employees,
        );
        page.counter(
            "personio_lms_requests_total",
            "HTTP requests to Personio and the LMS (every attempt), by kind where known.",
            &["integration", "system", "kind"],
            &families.requests,
        );
        page.counter(
            "personio_lms_throttled_total",
            "Answers 429 Too Many Requests from Personio and the LMS.",
            &["integration", "system"],
            &families.throttled,
        );
        page.summary(
            "personio_lms_run_duration_seconds",
            "How long finished sync runs took.",
            &["integration"],
            &families.duration_sum,
            &families.duration_count,
        );
        page.counter(
            "personio_lms_certificates_total",
            "Certificate jobs by outcome.",
            &["integration", "outcome"],
            &families.certificates,
        );
        page.counter(
            "personio_lms_certificate_jobs_dropped_total",
            "Certificate messages that can never be pushed (not a job, no such integration), dropped.",
            &[],
            &families.dropped,
        );
        page.gauge(
            "personio_lms_consecutive_failed_runs",
            "Runs in a row that failed as a whole, as of the latest run.",
            &["integration"],
            families
                .consecutive_failures
                .iter()
                .map(|(l, v)| (l, *v as f64)),
        );
        page.gauge(
            "personio_lms_last_success_timestamp_seconds",
            "When the latest run that finished (succeeded or completed with failures) ended.",
            &["integration"],
            families.last_success.iter().map(|(l, v)| (l, *v as f64)),
        );
        page.gauge(
            "personio_lms_parked_certificates",
            "Certificates waiting for their employee's link.",
            &["integration"],
            families.parked.iter().map(|(l, v)| (l, *v as f64)),
        );
        page.gauge(
            "personio_lms_oldest_parked_certificate_age_seconds",
            "How long the certificate parked longest had waited when last seen.",
            &["integration"],
            families.oldest_parked.iter().map(|(l, v)| (l, *v as f64)),
        );
        page.text
    }
}

fn set_health(
    families: &mut Families,
    integration: String,
    health: &RunHealth,
    now: DateTime<Utc>,
) {
    families.consecutive_failures.insert(
        vec![integration.clone()],
        u64::from(health.consecutive_failures),
    );
    families.last_success.insert(
        vec![integration],
        (now - health.since_last_success).timestamp(),
    );
}

/// The text of the page, family by family.
#[derive(Default)]
struct Page {
    text: String,
}

impl Page {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, label_names: &[&str], labels: &[String], value: f64) {
        let pairs: Vec<String> = label_names
            .iter()
            .zip(labels)
            .map(|(name, value)| format!("{name}=\"{}\"", escape_label(value)))
            .collect();
        match pairs.is_empty() {
            true => {
                let _ = writeln!(self.text, "{name} {}", number(value));
            }
            false => {
                let _ = writeln!(self.text, "{name}{{{}}} {}", pairs.join(","), number(value));
            }
        }
    }

    fn counter(
        &mut self,
        name: &str,
        help: &str,
        label_names: &[&str],
        values: &BTreeMap<Labels, u64>,
    ) {
        self.header(name, help, "counter");
        for (labels, value) in values {
            self.sample(name, label_names, labels, *value as f64);
        }
    }

    fn gauge<'a>(
        &mut self,
        name: &str,
        help: &str,
        label_names: &[&str],
        values: impl Iterator<Item = (&'a Labels, f64)>,
    ) {
        self.header(name, help, "gauge");
        for (labels, value) in values {
            self.sample(name, label_names, labels, value);
        }
    }

    fn summary(
        &mut self,
        name: &str,
        help: &str,
        label_names: &[&str],
        sums: &BTreeMap<Labels, f64>,
        counts: &BTreeMap<Labels, u64>,
    ) {
        self.header(name, help, "summary");
        for (labels, sum) in sums {
            self.sample(&format!("{name}_sum"), label_names, labels, *sum);
            let count = counts.get(labels).copied().unwrap_or(0);
            self.sample(&format!("{name}_count"), label_names, labels, count as f64);
        }
    }
}

/// A sample value: integers without a fraction, others as Rust prints them (which Prometheus
/// parses).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}
