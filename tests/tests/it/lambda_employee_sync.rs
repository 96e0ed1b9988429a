//! The `employee-sync` function's acknowledgement rules: a held lease and a missing integration
//! are acknowledged; a retryable failure is reported, so a poisoned job reaches the DLQ after the
//! queue's receive limit (a real moto queue with a redrive policy).

use super::lambda_support::{context, lambda_env, sample, sqs_event, start_scim};
use super::sync_harness::start_sandbox;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use common::app::ConnectPolicy;
use common::aws::host::IntegrationsConfig;
use common::domain::IntegrationId;
use common::domain::run::RunStatus;
use common::ports::{LeaseStore, LinkStore, RunStore};
use integration_tests::fault_proxy::{FaultProxy, ProxyMode};
use lambda_runtime::LambdaEvent;
use std::collections::BTreeSet;
use std::time::Duration;

fn config(env: &super::lambda_support::LambdaEnv, table_name: &str) -> employee_sync::Config {
    employee_sync::Config {
        integrations: IntegrationsConfig {
            table_name: table_name.to_owned(),
            secret_prefix: env.secret_prefix.clone(),
            run_retention_days: None,
        },
        ses_from_address: "personio-lms@acme.example".into(),
    }
}

/// The sample sync-job event, its job aimed at `integration`.
fn sync_job_event(integration: &str) -> LambdaEvent<SqsEvent> {
    let mut event: SqsEvent = serde_json::from_value(sample("sqs-sync-job.json")).unwrap();
    let mut job: serde_json::Value =
        serde_json::from_str(event.records[0].body.as_deref().unwrap_or_default()).unwrap();
    job["integration_id"] = integration.into();
    event.records[0].body = Some(job.to_string());
    LambdaEvent::new(event, context("sync", Duration::from_secs(60)))
}

#[tokio::test]
async fn a_held_lease_and_a_deleted_integration_are_acknowledged() {
    let Some(env) = lambda_env().await else {
        return;
    };
    env.put_secret("acme", ("client", "secret")).await;
    env.put_integration(
        "acme",
        "http://127.0.0.1:9/personio",
        "http://127.0.0.1:9/scim/v2",
        None,
    )
    .await;
    let acme = IntegrationId::new("acme");
    env.store
        .acquire_lease(
            &acme,
            "a-running-sync",
            Utc::now(),
            chrono::Duration::minutes(10),
        )
        .await
        .unwrap();
    let function = employee_sync::EmployeeSync::new(
        &config(&env, &env.table_name),
        &env.services,
        ConnectPolicy::LOCAL,
    )
    .unwrap();

    let held = function.handle(sync_job_event("acme")).await.unwrap();
    assert!(held.batch_item_failures.is_empty(), "{held:?}");
    assert!(env.store.runs(&acme, 10).await.unwrap().is_empty());

    let gone = function
        .handle(sync_job_event("deleted-meanwhile"))
        .await
        .unwrap();
    assert!(gone.batch_item_failures.is_empty(), "{gone:?}");
}

#[tokio::test]
async fn a_job_that_keeps_failing_retryably_ends_in_the_dlq() {
    let Some(env) = lambda_env().await else {
        return;
    };
    let (queue_url, dlq_url) = env.queue_with_dlq("sync-jobs", false, 2).await;
    let body = sync_job_event("acme").payload.records[0]
        .body
        .clone()
        .unwrap_or_default();
    env.sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body(&body)
        .send()
        .await
        .unwrap();
    // The state table is unreachable: every delivery fails retryably and is reported.
    let function = employee_sync::EmployeeSync::new(
        &config(&env, "no-such-table"),
        &env.services,
        ConnectPolicy::LOCAL,
    )
    .unwrap();
    for delivery in 1..=2 {
        let messages = env.receive(&queue_url, 30).await;
        assert_eq!(messages.len(), 1, "delivery {delivery}");
        let event = sqs_event("sqs-sync-job.json", &messages);
        let response = function
            .handle(LambdaEvent::new(
                event,
                context("sync", Duration::from_secs(60)),
            ))
            .await
            .unwrap();
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.clone())
            .collect();
        assert_eq!(failed.len(), 1, "delivery {delivery}: {response:?}");
        assert_eq!(Some(failed[0].as_str()), messages[0].message_id());
        env.settle(&queue_url, &messages, &failed).await;
    }
    assert!(
        env.receive(&queue_url, 0).await.is_empty(),
        "moved away after two receives"
    );
    let dead = env.receive(&dlq_url, 30).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(body.as_str()));
}

/// The invocation's deadline cuts a long run short (a slow LMS): the run stops before it, cleanly
/// (recorded `aborted` with what it did, its lease released, the job acknowledged), and the next
/// invocation does the rest without creating anybody twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_short_by_the_invocation_deadline_is_recorded_and_releases_its_lease() {
    let Some(env) = lambda_env().await else {
        return;
    };
    let Some((_scim, scim_url)) = start_scim() else {
        return;
    };
    let sandbox = start_sandbox(7301, 60).await;
    let proxy = FaultProxy::start(&scim_url).await;
    // Some five calls per new employee, eight at a time: well over the time the run gets.
    proxy.set_mode(ProxyMode::Delay(Duration::from_millis(400)));
    let (client_id, client_secret) = sandbox.default_credential();
    env.put_secret("acme", (&client_id, &client_secret)).await;
    env.put_integration("acme", &sandbox.base_url(), &proxy.url(""), None)
        .await;
    let function = employee_sync::EmployeeSync::new(
        &config(&env, &env.table_name),
        &env.services,
        ConnectPolicy::LOCAL,
    )
    .unwrap();
    let acme = IntegrationId::new("acme");
    // Five seconds for the run after the function's margin.
    let remaining = employee_sync::DEADLINE_MARGIN + Duration::from_secs(5);
    let mut event = sync_job_event("acme");
    event.context = context("cut-short", remaining);

    let started = std::time::Instant::now();
    let response = function.handle(event).await.unwrap();

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(response.batch_item_failures.is_empty(), "acknowledged");
    let record = env.store.runs(&acme, 1).await.unwrap().remove(0);
    assert_eq!(record.status, RunStatus::Aborted);
    let error = record.error.clone().unwrap_or_default();
    assert!(error.starts_with("the run reached its deadline"), "{error}");
    assert_eq!(record.holder.as_deref(), Some("cut-short"));
    assert_eq!(record.counts.failed, 0, "{:?}", record.outcomes);
    assert!(
        record.counts.not_applied > 0,
        "cut short: {:?}",
        record.counts
    );
    assert_eq!(
        env.store.lease(&acme).await.unwrap(),
        None,
        "lease released"
    );
    let links = env.store.links(&acme).await.unwrap();
    assert_eq!(links.len() as u32, record.counts.created);

    proxy.set_mode(ProxyMode::Pass);
    let mut event = sync_job_event("acme");
    event.context = context("next", Duration::from_secs(120));
    function.handle(event).await.unwrap();
    let next = env.store.runs(&acme, 1).await.unwrap().remove(0);
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    let users = scim_users(&scim_url).await;
    let external: BTreeSet<String> = users
        .iter()
        .filter_map(|user| user["externalId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(external.len(), users.len(), "nobody created twice");
    let linked: BTreeSet<String> = env
        .store
        .links(&acme)
        .await
        .unwrap()
        .iter()
        .map(|link| link.personio_id.to_string())
        .collect();
    assert_eq!(linked, external);
}

async fn scim_users(scim_url: &str) -> Vec<serde_json::Value> {
    let list: serde_json::Value = reqwest::Client::new()
        .get(format!("{scim_url}/Users?count=1000"))
        .bearer_auth(super::lambda_support::SCIM_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["Resources"].as_array().cloned().unwrap_or_default()
}
