use super::emf::{self, CertificateSource};
use super::figures::{
    CertificateFigures, ParkedCertificates, RunHealth, ScheduledHealth, SchedulerPass,
};
use super::names;
use super::prometheus::MetricsRegistry;
use crate::domain::IntegrationId;
use crate::domain::certificate::{CertificateId, LedgerEntry, LedgerState};
use crate::domain::run::{
    RequestCounts, RunCounts, RunId, RunRecord, RunStats, RunStatus, Trigger,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_760_000_000, 0).expect("valid")
}

fn run(id: &str, started_minutes: i64, status: RunStatus) -> RunRecord {
    let started_at = t0() + Duration::minutes(started_minutes);
    RunRecord {
        finished_at: Some(started_at + Duration::milliseconds(2500)),
        status,
        counts: RunCounts {
            created: 3,
            adopted: 1,
            updated: 2,
            deactivated: 1,
            skipped: 4,
            failed: 5,
            held_back: 6,
            repaired: 3,
            unchanged: 50,
            ..RunCounts::default()
        },
        stats: RunStats {
            personio: RequestCounts {
                requests: 7,
                throttled: 1,
                by_kind: BTreeMap::new(),
            },
            lms: RequestCounts {
                requests: 20,
                throttled: 2,
                by_kind: BTreeMap::from([("read".into(), 12), ("patch".into(), 8)]),
            },
        },
        ..RunRecord::started(
            IntegrationId::new("acme"),
            RunId(id.into()),
            Trigger::Schedule,
            started_at,
        )
    }
}

/// The `Metrics` names of each directive and its dimension sets.
fn directives(document: &Value) -> Vec<(Vec<Vec<String>>, Vec<String>)> {
    document["_aws"]["CloudWatchMetrics"]
        .as_array()
        .expect("directives")
        .iter()
        .map(|directive| {
            let dimensions = serde_json::from_value(directive["Dimensions"].clone()).expect("sets");
            let metrics = directive["Metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .map(|metric| metric["Name"].as_str().expect("name").to_owned())
                .collect();
            (dimensions, metrics)
        })
        .collect()
}

#[test]
fn a_run_line_is_valid_emf_with_every_run_metric() {
    let record = run("r1", 0, RunStatus::CompletedWithFailures);
    let health = RunHealth {
        consecutive_failures: 0,
        since_last_success: Duration::minutes(3),
    };
    let document = emf::run_document("PersonioLms/test", &record, Some(&health), true, t0())
        .expect("a real run has a line");
    emf::validate(&document).expect("valid EMF");
    let line = emf::line(&document);
    assert!(!line.contains('\n'));
    assert_eq!(
        serde_json::from_str::<Value>(&line).ok(),
        Some(document.clone())
    );
    assert_eq!(document["_aws"]["Timestamp"], t0().timestamp_millis());
    assert_eq!(document["IntegrationId"], "acme");
    assert_eq!(document["RunStatus"], "completed_with_failures");
    assert_eq!(document["RunKind"], "full");
    assert_eq!(document["RunId"], "r1");
    for (name, value) in [
        ("Runs", 1),
        ("RunsFailed", 0),
        ("EmployeesCreated", 4),
        ("EmployeesUpdated", 2),
        ("EmployeesDeactivated", 1),
        ("EmployeesSkipped", 4),
        ("EmployeesFailed", 5),
        ("EmployeesHeldBack", 6),
        ("EmployeesRepaired", 3),
        ("PersonioRequests", 7),
        ("PersonioThrottled", 1),
        ("LmsRequests", 20),
        ("LmsThrottled", 2),
        ("RunDuration", 2500),
        ("ConsecutiveFailedRuns", 0),
        ("MinutesSinceLastSuccess", 3),
    ] {
        assert_eq!(document[name], json!(value), "{name}");
    }
    let directives = directives(&document);
    assert_eq!(directives.len(), 2);
    assert_eq!(
        directives[0].0,
        vec![vec!["IntegrationId".to_owned()], vec![]]
    );
    assert_eq!(directives[0].1.len(), 16);
    assert_eq!(
        directives[1],
        (
            vec![vec!["RunKind".to_owned(), "RunStatus".to_owned()]],
            vec!["Runs".to_owned()]
        )
    );
    for document in [&document] {
        for directive in document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(directive["Namespace"], "PersonioLms/test");
        }
    }
}

#[test]
fn a_failed_run_counts_as_failed_and_a_manual_one_has_no_success_age() {
    let record = run("r2", 0, RunStatus::Failed);
    let health = RunHealth {
        consecutive_failures: 3,
        since_last_success: Duration::hours(5),
    };
    let document = emf::run_document("NS", &record, Some(&health), false, t0()).expect("a line");
    emf::validate(&document).expect("valid EMF");
    assert_eq!(document["RunsFailed"], 1);
    assert_eq!(document["ConsecutiveFailedRuns"], 3);
    assert!(document.get("MinutesSinceLastSuccess").is_none());
    let mut dry = record.clone();
    dry.dry_run = true;
    assert_eq!(emf::run_document("NS", &dry, None, true, t0()), None);
    let mut running = record;
    running.finished_at = None;
    let document = emf::run_document("NS", &running, None, true, t0()).expect("a line");
    emf::validate(&document).expect("valid EMF");
    assert!(document.get("RunDuration").is_none());
    assert!(document.get("ConsecutiveFailedRuns").is_none());
}

#[test]
fn certificate_scheduler_and_dropped_lines_are_valid_emf() {
    let figures = CertificateFigures {
        uploaded: 4,
        recovered: 1,
        parked: 2,
        failed: 1,
        retried: 3,
        already_done: 5,
    };
    let parked = ParkedCertificates {
        count: 2,
        oldest_age: Some(Duration::seconds(7200)),
    };
    let acme = IntegrationId::new("acme");
    let with_parked = emf::certificate_document(
        "NS",
        &acme,
        &figures,
        Some(&parked),
        CertificateSource::Queue,
        t0(),
    );
    emf::validate(&with_parked).expect("valid EMF");
    assert_eq!(with_parked["CertificatesUploaded"], 4);
    assert_eq!(with_parked["CertificatesRetried"], 3);
    assert_eq!(with_parked["ParkedCertificates"], 2);
    assert_eq!(with_parked["OldestParkedCertificateAge"], 7200);
    assert_eq!(with_parked["Source"], "queue");
    let without = emf::certificate_document(
        "NS",
        &acme,
        &figures,
        None,
        CertificateSource::Release,
        t0(),
    );
    emf::validate(&without).expect("valid EMF");
    assert!(without.get("OldestParkedCertificateAge").is_none());

    let pass = SchedulerPass {
        enqueued: 3,
        still_running: 1,
        claimed_elsewhere: 0,
        failed: 2,
    };
    let scheduler = emf::scheduler_document("NS", &pass, t0());
    emf::validate(&scheduler).expect("valid EMF");
    assert_eq!(scheduler["SchedulerPasses"], 1);
    assert_eq!(scheduler["SyncJobsEnqueued"], 3);
    assert_eq!(scheduler["ScheduleFailures"], 2);
    assert_eq!(directives(&scheduler)[0].0, vec![Vec::<String>::new()]);

    let health = RunHealth {
        consecutive_failures: 2,
        since_last_success: Duration::minutes(90),
    };
    let health = emf::health_document("NS", &acme, &health, true, t0());
    emf::validate(&health).expect("valid EMF");
    assert_eq!(health["MinutesSinceLastSuccess"], 90);

    let dropped = emf::dropped_certificates_document("NS", 2, t0());
    emf::validate(&dropped).expect("valid EMF");
    assert_eq!(dropped["CertificateJobsDropped"], 2);
}

#[test]
fn the_validator_catches_what_the_specification_forbids() {
    let valid = json!({
        "_aws": {"Timestamp": 1, "CloudWatchMetrics": [
            {"Namespace": "N", "Dimensions": [["D"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}
        ]},
        "D": "x", "M": 1
    });
    emf::validate(&valid).expect("the specification's own shape");
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut document = valid.clone();
        edit(&mut document);
        document
    };
    let cases: Vec<(&str, Value)> = vec![
        ("no _aws", json!({"M": 1})),
        (
            "timestamp as text",
            broken(&|d| d["_aws"]["Timestamp"] = json!("1")),
        ),
        (
            "empty namespace",
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("")),
        ),
        (
            "dimension without member",
            broken(&|d| {
                d.as_object_mut().map(|o| o.remove("D"));
            }),
        ),
        ("dimension as number", broken(&|d| d["D"] = json!(3))),
        (
            "metric without member",
            broken(&|d| {
                d.as_object_mut().map(|o| o.remove("M"));
            }),
        ),
        ("metric as text", broken(&|d| d["M"] = json!("1"))),
        (
            "unknown unit",
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Minutes")),
        ),
        (
            "no dimension sets",
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([])),
        ),
        (
            "ten dimensions",
            broken(&|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] =
                    json!([["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]])
            }),
        ),
    ];
    for (what, document) in cases {
        assert!(emf::validate(&document).is_err(), "{what} passed");
    }
}

#[test]
fn every_metric_name_is_unique_and_a_valid_emf_name() {
    let mut seen = std::collections::BTreeSet::new();
    for metric in names::ALL {
        assert!(seen.insert(metric.name), "{} twice", metric.name);
        assert!(
            metric.name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{}",
            metric.name
        );
    }
}

#[test]
fn every_metric_is_documented_in_the_operating_page() {
    let page = include_str!("../../../docs/operating.md");
    for metric in names::ALL {
        assert!(
            page.contains(&format!("`{}`", metric.name)),
            "{} is not in docs/operating.md",
            metric.name
        );
    }
}

fn failed_at(id: &str, minutes: i64) -> RunRecord {
    run(id, minutes, RunStatus::Failed)
}

#[test]
fn health_counts_failures_in_a_row_and_the_time_since_the_last_finished_run() {
    let now = t0() + Duration::minutes(100);
    let mut dry_failure = failed_at("dry", 95);
    dry_failure.dry_run = true;
    let mut running = run("now", 99, RunStatus::Running);
    running.finished_at = None;
    // Newest first, as the store lists them.
    let history = vec![
        running,
        dry_failure,
        failed_at("f3", 90),
        failed_at("f2", 80),
        failed_at("f1", 70),
        run("ok", 60, RunStatus::CompletedWithFailures),
        failed_at("f0", 50),
    ];
    let health = RunHealth::from_history(&history, true, t0(), now);
    assert_eq!(health.consecutive_failures, 3);
    // "ok" finished 2.5 s after minute 60.
    assert_eq!(health.minutes_since_last_success(), 39);

    let never = vec![failed_at("f2", 80), failed_at("f1", 70)];
    let complete = RunHealth::from_history(&never, true, t0() - Duration::minutes(20), now);
    assert_eq!(complete.consecutive_failures, 2);
    assert_eq!(
        complete.minutes_since_last_success(),
        120,
        "since the integration was created"
    );
    let partial = RunHealth::from_history(&never, false, t0() - Duration::minutes(20), now);
    assert_eq!(
        partial.minutes_since_last_success(),
        30,
        "at least since the oldest run read"
    );
    let fresh = RunHealth::from_history(&[], true, now, now);
    assert_eq!(
        (
            fresh.consecutive_failures,
            fresh.minutes_since_last_success()
        ),
        (0, 0)
    );
}

#[test]
fn parked_certificates_are_counted_with_the_oldest_age() {
    let entry = |id: &str, state: LedgerState, minutes: i64| LedgerEntry {
        integration_id: IntegrationId::new("acme"),
        certificate_id: CertificateId(id.into()),
        state,
        attempts: 0,
        updated_at: t0() + Duration::minutes(minutes),
        subject: None,
    };
    let parked = || LedgerState::Parked {
        job: json!({}),
        since: None,
        reason: None,
    };
    let entries = vec![
        entry("a", parked(), 10),
        entry(
            "b",
            LedgerState::Done {
                document_id: "d".into(),
            },
            0,
        ),
        entry("c", parked(), 30),
    ];
    let figures = ParkedCertificates::of(&entries, t0() + Duration::minutes(40));
    assert_eq!(figures.count, 2);
    assert_eq!(figures.oldest_age_seconds(), 30 * 60);
    assert_eq!(
        ParkedCertificates::of(&[], t0()),
        ParkedCertificates::default()
    );
}

/// Checks the text format line by line: one HELP and TYPE per family before its samples,
/// `name{labels} value` samples whose values parse, and label values that stay quoted.
fn parse_exposition(page: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("name and type");
            assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned()), "{name} typed twice");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample");
        let family = series.split('{').next().expect("a name");
        let base = family.trim_end_matches("_sum").trim_end_matches("_count");
        assert!(
            typed.contains(family) || typed.contains(base),
            "{family} before its TYPE"
        );
        assert!(series.ends_with('}') || !series.contains('{'), "{line}");
        samples.insert(series.to_owned(), value.parse::<f64>().expect("a number"));
    }
    samples
}

#[test]
fn the_prometheus_page_accumulates_runs_and_holds_the_latest_gauges() {
    let registry = MetricsRegistry::new();
    let first = run("r1", 0, RunStatus::Succeeded);
    let mut second = run("r2", 10, RunStatus::Failed);
    second.integration_id = IntegrationId::new("we\"ird\\id\n");
    let health = RunHealth {
        consecutive_failures: 1,
        since_last_success: Duration::minutes(10),
    };
    registry.observe_run(&first, None, t0());
    registry.observe_run(&first, Some(&health), t0() + Duration::minutes(20));
    registry.observe_run(&second, None, t0());
    let mut dry = first.clone();
    dry.dry_run = true;
    registry.observe_run(&dry, None, t0());
    registry.observe_certificates(
        &IntegrationId::new("acme"),
        &CertificateFigures {
            uploaded: 2,
            ..CertificateFigures::default()
        },
        Some(&ParkedCertificates {
            count: 1,
            oldest_age: Some(Duration::seconds(90)),
        }),
    );
    let page = registry.render();
    let samples = parse_exposition(&page);
    let at = |series: &str| {
        samples
            .get(series)
            .copied()
            .unwrap_or_else(|| panic!("{series} missing in\n{page}"))
    };
    assert_eq!(
        at(r#"personio_lms_runs_total{integration="acme",kind="full",status="succeeded"}"#),
        2.0
    );
    assert_eq!(
        at(r#"personio_lms_runs_total{integration="we\"ird\\id\n",kind="full",status="failed"}"#),
        1.0
    );
    assert_eq!(
        at(r#"personio_lms_employees_total{integration="acme",action="created"}"#),
        8.0
    );
    assert_eq!(
        at(r#"personio_lms_requests_total{integration="acme",system="lms",kind="read"}"#),
        24.0
    );
    assert_eq!(
        at(r#"personio_lms_requests_total{integration="acme",system="personio",kind="all"}"#),
        14.0
    );
    assert_eq!(
        at(r#"personio_lms_throttled_total{integration="acme",system="lms"}"#),
        4.0
    );
    assert_eq!(
        at(r#"personio_lms_run_duration_seconds_sum{integration="acme"}"#),
        5.0
    );
    assert_eq!(
        at(r#"personio_lms_run_duration_seconds_count{integration="acme"}"#),
        2.0
    );
    assert_eq!(
        at(r#"personio_lms_consecutive_failed_runs{integration="acme"}"#),
        1.0
    );
    assert_eq!(
        at(r#"personio_lms_last_success_timestamp_seconds{integration="acme"}"#),
        (t0() + Duration::minutes(10)).timestamp() as f64
    );
    assert_eq!(
        at(r#"personio_lms_certificates_total{integration="acme",outcome="uploaded"}"#),
        2.0
    );
    assert_eq!(
        at(r#"personio_lms_oldest_parked_certificate_age_seconds{integration="acme"}"#),
        90.0
    );
    assert!(page.ends_with('\n'));
}

#[test]
fn the_prometheus_page_takes_the_schedulers_health_and_dropped_jobs_in_total() {
    let registry = MetricsRegistry::new();
    registry.observe_scheduled_health(
        &[ScheduledHealth {
            integration: IntegrationId::new("acme"),
            scheduled: true,
            health: RunHealth {
                consecutive_failures: 3,
                since_last_success: Duration::hours(2),
            },
        }],
        t0(),
    );
    registry.observe_dropped_certificates(0);
    registry.observe_dropped_certificates(2);
    registry.observe_dropped_certificates(1);
    let page = registry.render();
    let samples = parse_exposition(&page);
    assert_eq!(
        samples[r#"personio_lms_consecutive_failed_runs{integration="acme"}"#],
        3.0
    );
    assert_eq!(
        samples[r#"personio_lms_last_success_timestamp_seconds{integration="acme"}"#],
        (t0() - Duration::hours(2)).timestamp() as f64
    );
    assert_eq!(
        samples["personio_lms_certificate_jobs_dropped_total"], 3.0,
        "a family without labels is written without braces:\n{page}"
    );
}
