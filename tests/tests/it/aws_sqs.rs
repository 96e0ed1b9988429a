//! `SqsJobQueue` against moto's SQS through the real SDK client: both queues, FIFO grouping and
//! deduplication, a redrive policy that moves a poison message to the DLQ, and error mapping.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use chrono::Utc;
use common::aws::sqs::{content_dedup_id, fifo_id};
use common::aws::{SqsJobQueue, endpoint_sdk_config};
use common::domain::IntegrationId;
use common::domain::certificate::CertificateId;
use common::domain::job::SyncJob;
use common::domain::run::Trigger;
use common::ports::{JobQueue, QueueError};
use integration_tests::aws::{REGION, moto_endpoint, unique_name};
use std::collections::HashMap;

async fn sqs_client() -> Option<Client> {
    let endpoint = moto_endpoint()?;
    Some(Client::new(&endpoint_sdk_config(&endpoint, REGION).await))
}

async fn create_queue(
    client: &Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> String {
    client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .unwrap_or_else(|error| panic!("create queue {name}: {error:?}"))
        .queue_url
        .unwrap_or_else(|| panic!("no URL for queue {name}"))
}

async fn create_fifo_queue(client: &Client, prefix: &str) -> String {
    let name = format!("{}.fifo", unique_name(prefix));
    create_queue(
        client,
        &name,
        HashMap::from([(QueueAttributeName::FifoQueue, "true".to_owned())]),
    )
    .await
}

/// Everything visible on the queue now (several receives: SQS returns at most 10 at a time).
/// The messages stay invisible for 30 s, so a later receive of the loop does not see them again.
async fn receive_all(client: &Client, queue_url: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    for _ in 0..5 {
        let batch = receive_once(client, queue_url, 30).await;
        if batch.is_empty() {
            break;
        }
        messages.extend(batch);
    }
    messages
}

/// One receive of up to 10 messages, with their group and deduplication ids.
async fn receive_once(client: &Client, queue_url: &str, visibility_timeout: i32) -> Vec<Message> {
    let received = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility_timeout)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
        .send()
        .await
        .unwrap_or_else(|error| panic!("receive: {error:?}"));
    received.messages.unwrap_or_default()
}

fn sync_job(integration: &str) -> SyncJob {
    SyncJob {
        integration_id: IntegrationId::new(integration),
        trigger: Trigger::Manual,
        dry_run: true,
        kind: Default::default(),
        requested_at: Utc::now(),
        employees: Vec::new(),
        delta: false,
    }
}

fn system_attribute(message: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    message
        .attributes()
        .and_then(|attributes| attributes.get(&name))
        .map(String::as_str)
}

#[tokio::test]
async fn jobs_reach_both_queues_and_certificates_are_grouped_and_deduplicated() {
    let Some(client) = sqs_client().await else {
        return;
    };
    let sync_url = create_queue(&client, &unique_name("sync-jobs"), HashMap::new()).await;
    let certificate_url = create_fifo_queue(&client, "certificate-jobs").await;
    let queue = SqsJobQueue::new(client.clone(), &sync_url, &certificate_url);

    let job = sync_job("acme");
    queue.enqueue_sync(&job).await.unwrap();
    let received = receive_all(&client, &sync_url).await;
    assert_eq!(received.len(), 1);
    let body: SyncJob = serde_json::from_str(received[0].body().unwrap_or_default()).unwrap();
    assert_eq!(body, job);

    let acme = IntegrationId::new("acme");
    let first = serde_json::json!({"certificate_id": "cert-1", "course": "Arbeitsschutz"});
    let redelivered = serde_json::json!({"course": "Arbeitsschutz", "certificate_id": "cert-1"});
    let other = serde_json::json!({"certificate_id": "cert-2", "course": "Datenschutz"});
    for job in [&first, &redelivered, &other] {
        let certificate = CertificateId(job["certificate_id"].as_str().unwrap().into());
        queue
            .enqueue_certificate(&acme, &certificate, job)
            .await
            .unwrap();
    }

    // FIFO: one message group is handed out one batch at a time, in order.
    let received = receive_all(&client, &certificate_url).await;
    let bodies: Vec<serde_json::Value> = received
        .iter()
        .map(|message| serde_json::from_str(message.body().unwrap_or_default()).unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec![first.clone(), other],
        "the identical redelivery of cert-1 is dropped"
    );
    for message in &received {
        assert_eq!(
            system_attribute(message, MessageSystemAttributeName::MessageGroupId),
            Some("acme")
        );
    }
    assert_eq!(
        system_attribute(
            &received[0],
            MessageSystemAttributeName::MessageDeduplicationId
        ),
        Some(content_dedup_id(&first).as_str())
    );
}

/// A job corrected and submitted again within SQS's five-minute window is a new message (the
/// ledger still makes one document of it), while its unchanged twin is dropped.
#[tokio::test]
async fn a_corrected_job_within_the_dedup_window_is_delivered() {
    let Some(client) = sqs_client().await else {
        return;
    };
    let sync_url = create_queue(&client, &unique_name("sync-jobs"), HashMap::new()).await;
    let certificate_url = create_fifo_queue(&client, "certificate-jobs").await;
    let queue = SqsJobQueue::new(client.clone(), &sync_url, &certificate_url);
    let acme = IntegrationId::new("acme");
    let certificate = CertificateId("cert-7".into());
    let wrong = serde_json::json!({"certificate_id": "cert-7", "completed_on": "31.12.2026"});
    let corrected = serde_json::json!({"certificate_id": "cert-7", "completed_on": "2026-12-31"});
    for job in [&wrong, &corrected, &corrected] {
        queue
            .enqueue_certificate(&acme, &certificate, job)
            .await
            .unwrap();
    }
    let bodies: Vec<serde_json::Value> = receive_all(&client, &certificate_url)
        .await
        .iter()
        .map(|message| serde_json::from_str(message.body().unwrap_or_default()).unwrap())
        .collect();
    assert_eq!(bodies, vec![wrong, corrected]);
}

#[tokio::test]
async fn certificate_ids_sqs_would_refuse_are_hashed_and_still_deduplicated() {
    let Some(client) = sqs_client().await else {
        return;
    };
    let sync_url = create_queue(&client, &unique_name("sync-jobs"), HashMap::new()).await;
    let certificate_url = create_fifo_queue(&client, "certificate-jobs").await;
    let queue = SqsJobQueue::new(client.clone(), &sync_url, &certificate_url);

    let long_id = CertificateId(format!("zertifikat-für-{}", "x".repeat(200)));
    let integration = IntegrationId::new("Müller & Söhne GmbH");
    let job = serde_json::json!({"certificate_id": long_id.0, "course": "Erste Hilfe"});
    for _ in 0..3 {
        queue
            .enqueue_certificate(&integration, &long_id, &job)
            .await
            .unwrap();
    }
    let received = receive_all(&client, &certificate_url).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        system_attribute(
            &received[0],
            MessageSystemAttributeName::MessageDeduplicationId
        ),
        Some(content_dedup_id(&job).as_str())
    );
    assert_eq!(
        system_attribute(&received[0], MessageSystemAttributeName::MessageGroupId),
        Some(fifo_id(integration.as_str()).as_str())
    );
}

#[tokio::test]
async fn a_message_received_past_max_receive_count_lands_in_the_dead_letter_queue() {
    let Some(client) = sqs_client().await else {
        return;
    };
    let dlq_url = create_queue(&client, &unique_name("sync-jobs-dlq"), HashMap::new()).await;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .unwrap();
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2});
    let sync_url = create_queue(
        &client,
        &unique_name("sync-jobs"),
        HashMap::from([(QueueAttributeName::RedrivePolicy, redrive.to_string())]),
    )
    .await;
    let certificate_url = create_fifo_queue(&client, "certificate-jobs").await;
    let queue = SqsJobQueue::new(client.clone(), &sync_url, &certificate_url);

    let poison = sync_job("poison");
    queue.enqueue_sync(&poison).await.unwrap();
    // A consumer that fails twice (never deletes; visibility 0 makes it visible again at once).
    for receive in 1..=2 {
        let received = receive_once(&client, &sync_url, 0).await;
        assert_eq!(received.len(), 1, "receive {receive}");
    }
    assert!(
        receive_once(&client, &sync_url, 0).await.is_empty(),
        "the third receive finds it gone"
    );
    let dead = receive_all(&client, &dlq_url).await;
    assert_eq!(dead.len(), 1);
    let body: SyncJob = serde_json::from_str(dead[0].body().unwrap_or_default()).unwrap();
    assert_eq!(body, poison);
}

#[tokio::test]
async fn a_missing_queue_is_a_refusal() {
    let Some(client) = sqs_client().await else {
        return;
    };
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let missing = format!("{endpoint}/123456789012/{}", unique_name("no-such-queue"));
    let queue = SqsJobQueue::new(client, &missing, format!("{missing}.fifo"));
    let error = queue.enqueue_sync(&sync_job("acme")).await.unwrap_err();
    assert!(matches!(error, QueueError::Rejected(_)), "{error:?}");
    assert!(!error.is_retryable());
}
