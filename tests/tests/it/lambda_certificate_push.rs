//! The `certificate-push` function end to end: the sample FIFO batch becomes Personio documents
//! in the sandbox exactly once (a redelivered batch adds none; a record without a message id is
//! skipped), and a job that keeps failing reaches the DLQ of a real moto FIFO queue.

use super::lambda_support::{LambdaEnv, context, lambda_env, sample, sqs_event};
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use common::app::ConnectPolicy;
use common::aws::host::{IntegrationsConfig, MetricsOutput};
use common::domain::IntegrationId;
use common::domain::certificate::{CertificateId, LedgerState};
use common::domain::employee::PersonioId;
use common::domain::link::EmployeeLink;
use common::domain::lms::LmsUserId;
use common::metrics::emf;
use common::ports::{CertificateLedger, LinkStore};
use lambda_runtime::LambdaEvent;
use personio_sandbox::{Sandbox, SandboxConfig};
use std::collections::BTreeSet;
use std::time::Duration;

fn function(env: &LambdaEnv) -> certificate_push::CertificatePush {
    certificate_push::CertificatePush::new(
        &IntegrationsConfig {
            table_name: env.table_name.clone(),
            secret_prefix: env.secret_prefix.clone(),
            run_retention_days: None,
        },
        &env.services,
        // The sandbox listens on plain http on loopback.
        ConnectPolicy::LOCAL,
    )
    .unwrap()
    .with_metrics(MetricsOutput::captured("PersonioLms/test"))
}

fn batch_event() -> LambdaEvent<SqsEvent> {
    LambdaEvent::new(
        serde_json::from_value(sample("sqs-certificate-batch.json")).unwrap(),
        context("push", Duration::from_secs(110)),
    )
}

async fn link(env: &LambdaEnv, lms_user: &str, employee: u64) {
    let link = EmployeeLink {
        integration_id: IntegrationId::new("acme"),
        personio_id: PersonioId(employee as i64),
        lms_user_id: LmsUserId(lms_user.into()),
        email: format!("{lms_user}@acme.example"),
        profile_hash: "h".into(),
        groups: BTreeSet::new(),
        active: true,
        updated_at: Utc::now(),
        version: 1,
        profile: None,
        invited_at: None,
        invitation_pending: false,
    };
    env.store.put_link(&link, None).await.unwrap();
}

#[tokio::test]
async fn a_certificate_batch_becomes_one_document_per_certificate() {
    let Some(env) = lambda_env().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default().with_employees(3))
        .await
        .unwrap();
    let (client_id, client_secret) = sandbox.default_credential();
    env.put_secret("acme", (&client_id, &client_secret)).await;
    env.put_integration(
        "acme",
        &sandbox.base_url(),
        "http://127.0.0.1:9/scim/v2",
        None,
    )
    .await;
    let employees: Vec<u64> = sandbox.employees().iter().map(|e| e.id()).collect();
    link(&env, "lms-user-1", employees[0]).await;
    link(&env, "lms-user-2", employees[1]).await;
    let push = function(&env);

    let response = push.handle(batch_event()).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let documents = sandbox.documents();
    let titles: BTreeSet<(u64, String)> = documents
        .iter()
        .map(|document| (document.employee_id, document.title.clone()))
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from([
            (employees[0], "Datenschutz-Grundlagen (DSGVO)".to_owned()),
            (employees[1], "Brandschutzhelfer".to_owned()),
        ]),
        "the record without a message id is skipped"
    );
    let acme = IntegrationId::new("acme");
    for certificate in ["cert-1001", "cert-1002"] {
        let entry = env
            .store
            .certificate(&acme, &CertificateId(certificate.into()))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(entry.state, LedgerState::Done { .. }), "{entry:?}");
    }
    assert_eq!(
        env.store
            .certificate(&acme, &CertificateId("cert-1003".into()))
            .await
            .unwrap(),
        None
    );

    // The batch's metrics line, valid EMF.
    let lines = push.metrics().captured_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    emf::validate(&line).unwrap_or_else(|problems| panic!("{line}: {problems:?}"));
    assert_eq!(line["IntegrationId"], "acme");
    assert_eq!(line["CertificatesUploaded"], 2);
    assert_eq!(line["CertificatesFailed"], 0);
    assert_eq!(line["Source"], "queue");

    // Redelivered: acknowledged, and no second document.
    let again = push.handle(batch_event()).await.unwrap();
    assert!(again.batch_item_failures.is_empty(), "{again:?}");
    assert_eq!(sandbox.documents().len(), 2);
    let lines = push.metrics().captured_lines();
    let redelivered: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(
        (
            redelivered["CertificatesUploaded"].as_u64(),
            redelivered["CertificatesAlreadyDone"].as_u64()
        ),
        (Some(0), Some(2))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_job_that_keeps_failing_ends_in_the_fifo_dlq() {
    let Some(env) = lambda_env().await else {
        return;
    };
    // The integration exists but its secret does not: every delivery fails and is reported.
    env.put_integration(
        "acme",
        "http://127.0.0.1:9/personio",
        "http://127.0.0.1:9/scim/v2",
        None,
    )
    .await;
    let (queue_url, dlq_url) = env.queue_with_dlq("certificate-jobs", true, 2).await;
    let sample_event: SqsEvent =
        serde_json::from_value(sample("sqs-certificate-batch.json")).unwrap();
    let body = sample_event.records[0].body.clone().unwrap_or_default();
    env.sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body(&body)
        .message_group_id("acme")
        .message_deduplication_id("cert-1001")
        .send()
        .await
        .unwrap();
    let push = function(&env);
    for delivery in 1..=2 {
        let messages = env.receive(&queue_url, 30).await;
        assert_eq!(messages.len(), 1, "delivery {delivery}");
        let event = sqs_event("sqs-certificate-batch.json", &messages);
        assert_eq!(
            event.records[0]
                .attributes
                .get("MessageGroupId")
                .map(String::as_str),
            Some("acme")
        );
        let response = push
            .handle(LambdaEvent::new(
                event,
                context("push", Duration::from_secs(110)),
            ))
            .await
            .unwrap();
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.clone())
            .collect();
        assert_eq!(
            failed.iter().map(String::as_str).collect::<Vec<_>>(),
            [messages[0].message_id().unwrap_or_default()]
        );
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
