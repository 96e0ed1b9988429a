//! The `scheduler` and `employee-sync` functions end to end: their handlers, called with the
//! sample events and a constructed `Context`, against DynamoDB Local, moto's SQS and Secrets
//! Manager, the Personio sandbox and `scim2-server` as the LMS.

use super::lambda_support::{context, lambda_env, sample, sqs_event, start_scim};
use chrono::{Duration as ChronoDuration, Utc};
use common::app::ConnectPolicy;
use common::aws::host::{IntegrationsConfig, MetricsOutput};
use common::domain::IntegrationId;
use common::domain::job::SyncJob;
use common::domain::run::{RunStatus, Trigger};
use common::metrics::emf;
use common::ports::{IntegrationStore, RunStore};
use lambda_runtime::LambdaEvent;
use personio_sandbox::{Sandbox, SandboxConfig};
use std::collections::BTreeSet;
use std::time::Duration;

fn scheduler_event(request_id: &str) -> LambdaEvent<serde_json::Value> {
    LambdaEvent::new(
        sample("scheduler-event.json"),
        context(request_id, Duration::from_secs(50)),
    )
}

#[tokio::test]
async fn a_due_integration_is_synced_through_the_queue_into_the_lms_and_the_run_history() {
    let Some(env) = lambda_env().await else {
        return;
    };
    let Some((_scim, scim_url)) = start_scim() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default().with_employees(12))
        .await
        .unwrap();
    let (client_id, client_secret) = sandbox.default_credential();
    env.put_secret("acme", (&client_id, &client_secret)).await;
    let due_at = Utc::now() - ChronoDuration::minutes(1);
    env.put_integration("acme", &sandbox.base_url(), &scim_url, Some(due_at))
        .await;
    let (sync_url, _dlq) = env.queue_with_dlq("sync-jobs", false, 3).await;

    let scheduler = scheduler::Scheduler::new(
        &scheduler::Config {
            table_name: env.table_name.clone(),
            sync_queue_url: sync_url.clone(),
        },
        &env.services,
    )
    .with_metrics(MetricsOutput::captured("PersonioLms/test"));
    let report = scheduler
        .handle(scheduler_event("schedule-1"))
        .await
        .unwrap();
    assert_eq!(report.enqueued, vec![IntegrationId::new("acme")]);
    let acme = IntegrationId::new("acme");
    let record = env.store.integration(&acme).await.unwrap().unwrap();
    assert_eq!(
        record.next_run_at,
        Some(due_at + ChronoDuration::minutes(15))
    );

    // The next invocation in the same minute finds nothing due.
    let again = scheduler
        .handle(scheduler_event("schedule-2"))
        .await
        .unwrap();
    assert!(again.enqueued.is_empty(), "{again:?}");

    let messages = env.receive(&sync_url, 30).await;
    assert_eq!(messages.len(), 1);
    let job: SyncJob = serde_json::from_str(messages[0].body().unwrap_or_default()).unwrap();
    assert_eq!(
        (job.integration_id.clone(), job.trigger),
        (acme.clone(), Trigger::Schedule)
    );

    let employee_sync = employee_sync::EmployeeSync::new(
        &employee_sync::Config {
            integrations: IntegrationsConfig {
                table_name: env.table_name.clone(),
                secret_prefix: env.secret_prefix.clone(),
                run_retention_days: Some(7),
            },
            ses_from_address: "personio-lms@acme.example".into(),
        },
        &env.services,
        // The sandbox and the SCIM server listen on plain http on loopback.
        ConnectPolicy::LOCAL,
    )
    .unwrap()
    .with_metrics(MetricsOutput::captured("PersonioLms/test"));
    let event = sqs_event("sqs-sync-job.json", &messages);
    let response = employee_sync
        .handle(LambdaEvent::new(
            event,
            context("sync-1", Duration::from_secs(300)),
        ))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let runs = env.store.runs(&acme, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        (run.trigger, run.status),
        (Trigger::Schedule, RunStatus::Succeeded),
        "{run:?}"
    );
    assert!(run.counts.created > 0, "{:?}", run.counts);
    assert_eq!(run.counts.failed, 0, "{:?}", run.outcomes);
    // Counted where the requests left: the Personio client and the SCIM client.
    assert!(run.stats.personio.requests >= 2, "{:?}", run.stats);
    // The creates went one by one, or in bulk requests where the LMS offers bulk (scim2-server
    // does).
    let kind = |name: &str| run.stats.lms.by_kind.get(name).copied().unwrap_or(0);
    assert!(
        kind("create") >= u64::from(run.counts.created)
            || (kind("bulk") > 0 && kind("create") == 0),
        "{:?}",
        run.stats
    );
    assert_eq!(
        run.stats.lms.requests,
        run.stats.lms.by_kind.values().sum::<u64>(),
        "{:?}",
        run.stats
    );

    // The metrics of both handlers, as EMF lines.
    let scheduler_lines = scheduler.metrics().captured_lines();
    let documents = parse_emf(&scheduler_lines);
    let pass = documents
        .iter()
        .find(|d| d.get("SchedulerPasses").is_some())
        .expect("a pass line");
    assert_eq!(
        (
            pass["SchedulerPasses"].as_u64(),
            pass["SyncJobsEnqueued"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let health = documents
        .iter()
        .find(|d| d["IntegrationId"] == "acme")
        .expect("a health line");
    assert_eq!(health["ConsecutiveFailedRuns"], 0);
    assert!(health["MinutesSinceLastSuccess"].is_u64(), "{health}");
    let sync_lines = parse_emf(&employee_sync.metrics().captured_lines());
    // The run, and the release of parked certificates after it (the fixture pushes certificates).
    assert_eq!(sync_lines.len(), 2, "{sync_lines:?}");
    let release = &sync_lines[1];
    assert_eq!(release["Source"], "release");
    assert_eq!(release["ParkedCertificates"], 0);
    let line = &sync_lines[0];
    assert_eq!(
        (line["IntegrationId"].as_str(), line["RunStatus"].as_str()),
        (Some("acme"), Some("succeeded"))
    );
    assert_eq!(
        line["EmployeesCreated"].as_u64(),
        Some(u64::from(run.counts.created))
    );
    assert_eq!(
        line["PersonioRequests"].as_u64(),
        Some(run.stats.personio.requests)
    );
    assert_eq!(line["LmsRequests"].as_u64(), Some(run.stats.lms.requests));
    assert_eq!(line["RunsFailed"], 0);
    for directive in line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert_eq!(directive["Namespace"], "PersonioLms/test");
    }

    // A redelivery of the same job runs again and changes nothing: it is a scheduled job that
    // may be a delta, and now there is a good run to start from, so it lists only the employees
    // changed since then (none).
    let redelivered = sqs_event("sqs-sync-job.json", &messages);
    employee_sync
        .handle(LambdaEvent::new(
            redelivered,
            context("sync-2", Duration::from_secs(300)),
        ))
        .await
        .unwrap();
    let runs = env.store.runs(&acme, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].kind, common::domain::run::RunKind::Delta);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(
        (
            runs[0].counts.created,
            runs[0].counts.updated,
            runs[0].counts.deactivated
        ),
        (0, 0, 0),
        "{:?}",
        runs[0].counts
    );
    sandbox.shutdown().await;
}

/// Each line parsed and checked against the EMF specification.
fn parse_emf(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|line| {
            assert!(!line.contains('\n'), "one line each");
            let document: serde_json::Value = serde_json::from_str(line).expect("JSON");
            emf::validate(&document).unwrap_or_else(|problems| panic!("{line}: {problems:?}"));
            document
        })
        .collect()
}

#[tokio::test]
async fn two_scheduler_invocations_at_the_same_time_enqueue_each_due_run_once() {
    let Some(env) = lambda_env().await else {
        return;
    };
    let due_at = Utc::now() - ChronoDuration::minutes(2);
    let ids: Vec<String> = (0..40).map(|n| format!("int-{n:02}")).collect();
    for id in &ids {
        env.put_integration(
            id,
            "http://127.0.0.1:9/personio",
            "http://127.0.0.1:9/scim/v2",
            Some(due_at),
        )
        .await;
    }
    let (sync_url, _dlq) = env.queue_with_dlq("sync-jobs", false, 3).await;
    let config = scheduler::Config {
        table_name: env.table_name.clone(),
        sync_queue_url: sync_url.clone(),
    };
    // Two function instances: separate clients, as two concurrent Lambda invocations have.
    let first = scheduler::Scheduler::new(&config, &env.services);
    let second = scheduler::Scheduler::new(&config, &env.services);
    let (a, b) = tokio::join!(
        first.handle(scheduler_event("concurrent-1")),
        second.handle(scheduler_event("concurrent-2"))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.enqueued.len() + b.enqueued.len(), 40, "{a:?} {b:?}");

    let mut enqueued = Vec::new();
    loop {
        let batch = env.receive(&sync_url, 60).await;
        if batch.is_empty() {
            break;
        }
        for message in &batch {
            let job: SyncJob = serde_json::from_str(message.body().unwrap_or_default()).unwrap();
            enqueued.push(job.integration_id.0);
        }
    }
    assert_eq!(
        enqueued.len(),
        40,
        "one job per due integration, none twice"
    );
    let distinct: BTreeSet<String> = enqueued.into_iter().collect();
    assert_eq!(distinct, ids.into_iter().collect::<BTreeSet<_>>());
}
