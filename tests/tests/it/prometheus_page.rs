//! The `/metrics` page of a local host, read by the Prometheus project's own parser
//! (`prometheus_client.parser`): every family typed as declared, every sample with its labels
//! and value as the registry counted them, label values escaped so that they read back.

use chrono::{Duration, Utc};
use common::domain::IntegrationId;
use common::domain::run::{
    RequestCounts, RunCounts, RunId, RunRecord, RunStats, RunStatus, Trigger,
};
use common::metrics::{CertificateFigures, MetricsRegistry, ParkedCertificates, RunHealth};
use integration_tests::prometheus::{family_type, parse_page, value};

fn run(integration: &str, status: RunStatus) -> RunRecord {
    let started_at = Utc::now() - Duration::minutes(5);
    RunRecord {
        finished_at: Some(started_at + Duration::milliseconds(1250)),
        status,
        counts: RunCounts {
            created: 2,
            updated: 1,
            ..RunCounts::default()
        },
        stats: RunStats {
            personio: RequestCounts {
                requests: 3,
                throttled: 1,
                by_kind: Default::default(),
            },
            lms: RequestCounts {
                requests: 5,
                throttled: 0,
                by_kind: [("create".to_owned(), 2), ("read".to_owned(), 3)]
                    .into_iter()
                    .collect(),
            },
        },
        ..RunRecord::started(
            IntegrationId::new(integration),
            RunId("r1".into()),
            Trigger::Schedule,
            started_at,
        )
    }
}

#[test]
fn the_metrics_page_reads_back_with_the_prometheus_parser() {
    let registry = MetricsRegistry::new();
    let odd = "acme \"north\"\\eu\nline";
    registry.observe_run(&run("acme", RunStatus::Succeeded), None, Utc::now());
    registry.observe_run(
        &run(odd, RunStatus::Failed),
        Some(&RunHealth {
            consecutive_failures: 2,
            since_last_success: Duration::hours(3),
        }),
        Utc::now(),
    );
    registry.observe_certificates(
        &IntegrationId::new("acme"),
        &CertificateFigures {
            uploaded: 4,
            parked: 1,
            ..CertificateFigures::default()
        },
        Some(&ParkedCertificates {
            count: 1,
            oldest_age: Some(Duration::seconds(600)),
        }),
    );
    registry.observe_dropped_certificates(2);
    let page = registry.render();
    let Some(samples) = parse_page(&page) else {
        return;
    };
    let value = |sample: &str, labels: &[(&str, &str)]| -> f64 {
        value(&samples, sample, labels)
            .unwrap_or_else(|| panic!("{sample} {labels:?} not in {samples:?}"))
    };
    let family_type = |family: &str| {
        family_type(&samples, family).unwrap_or_else(|| panic!("no family {family}"))
    };
    // The parser names counters without their `_total` suffix.
    assert_eq!(family_type("personio_lms_runs"), "counter");
    assert_eq!(family_type("personio_lms_run_duration_seconds"), "summary");
    assert_eq!(family_type("personio_lms_parked_certificates"), "gauge");
    assert_eq!(
        value(
            "personio_lms_runs_total",
            &[
                ("integration", "acme"),
                ("kind", "full"),
                ("status", "succeeded")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            "personio_lms_runs_total",
            &[("integration", odd), ("kind", "full"), ("status", "failed")]
        ),
        1.0,
        "an escaped label value reads back as it was"
    );
    assert_eq!(
        value(
            "personio_lms_requests_total",
            &[("integration", "acme"), ("system", "lms"), ("kind", "read")]
        ),
        3.0
    );
    assert_eq!(
        value(
            "personio_lms_throttled_total",
            &[("integration", "acme"), ("system", "personio")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "personio_lms_run_duration_seconds_sum",
            &[("integration", "acme")]
        ),
        1.25
    );
    assert_eq!(
        value(
            "personio_lms_consecutive_failed_runs",
            &[("integration", odd)]
        ),
        2.0
    );
    assert_eq!(
        value(
            "personio_lms_certificates_total",
            &[("integration", "acme"), ("outcome", "uploaded")]
        ),
        4.0
    );
    assert_eq!(
        value(
            "personio_lms_oldest_parked_certificate_age_seconds",
            &[("integration", "acme")]
        ),
        600.0
    );
    assert_eq!(
        value("personio_lms_certificate_jobs_dropped_total", &[]),
        2.0,
        "a family without labels"
    );
}
