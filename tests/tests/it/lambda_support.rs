//! What the Lambda end-to-end tests share: the AWS stand-ins (a fresh DynamoDB Local table, moto
//! for SQS, Secrets Manager and SES, a secret prefix of their own), the sample events of
//! `events/`, a `lambda_runtime::Context`, SQS messages turned into the event Lambda would send,
//! and the independent `scim2-server` as the learning platform.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Utc};
use common::aws::host::AwsServices;
use common::aws::{DynamoStore, endpoint_sdk_config};
use common::domain::IntegrationId;
use common::domain::integration::{
    IntegrationRecord, LmsConnection, PersonioConnection, SyncSchedule,
};
use common::domain::settings::IntegrationSettings;
use common::ports::{IntegrationCredentials, IntegrationStore};
use common::secret::Secret;
use integration_tests::aws::{REGION, dynamodb_local_endpoint, moto_endpoint, unique_name};
use integration_tests::{ServerGuard, free_port, venv_tool};
use lambda_runtime::Context;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The LMS token the SCIM server accepts.
pub const SCIM_TOKEN: &str = "lambda-e2e-token";

pub struct LambdaEnv {
    pub services: AwsServices,
    pub table_name: String,
    pub store: DynamoStore,
    pub secret_prefix: String,
    pub sqs: aws_sdk_sqs::Client,
}

/// A fresh table and secret prefix on the shared DynamoDB Local and moto, or `None` (the test
/// skips) when they are not installed and external tests are optional.
pub async fn lambda_env() -> Option<LambdaEnv> {
    let dynamodb = endpoint_sdk_config(&dynamodb_local_endpoint()?, REGION).await;
    let moto = endpoint_sdk_config(&moto_endpoint()?, REGION).await;
    let services = AwsServices {
        dynamodb,
        ..AwsServices::uniform(moto.clone())
    };
    let table_name = unique_name("lambda-state");
    let store = services.state_store(&table_name, None);
    store
        .create_table()
        .await
        .unwrap_or_else(|error| panic!("cannot create the test table: {error}"));
    Some(LambdaEnv {
        services,
        table_name,
        store,
        secret_prefix: format!("{}/", unique_name("personio-lms")),
        sqs: aws_sdk_sqs::Client::new(&moto),
    })
}

impl LambdaEnv {
    /// A queue (FIFO when `fifo`), with a DLQ of its own after `max_receive_count` receives.
    /// Returns the queue's and the DLQ's URL.
    pub async fn queue_with_dlq(
        &self,
        prefix: &str,
        fifo: bool,
        max_receive_count: u32,
    ) -> (String, String) {
        let suffix = if fifo { ".fifo" } else { "" };
        let fifo_attributes = || {
            if fifo {
                HashMap::from([(QueueAttributeName::FifoQueue, "true".to_owned())])
            } else {
                HashMap::new()
            }
        };
        let dlq_url = self
            .create_queue(
                &format!("{}{suffix}", unique_name(&format!("{prefix}-dlq"))),
                fifo_attributes(),
            )
            .await;
        let dlq_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
            .unwrap();
        let mut attributes = fifo_attributes();
        attributes.insert(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
                .to_string(),
        );
        let url = self
            .create_queue(&format!("{}{suffix}", unique_name(prefix)), attributes)
            .await;
        (url, dlq_url)
    }

    async fn create_queue(
        &self,
        name: &str,
        attributes: HashMap<QueueAttributeName, String>,
    ) -> String {
        self.sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes))
            .send()
            .await
            .unwrap_or_else(|error| panic!("create queue {name}: {error:?}"))
            .queue_url
            .unwrap()
    }

    /// Receives what is visible now (up to 10), invisible for `visibility_timeout` seconds,
    /// with the attributes Lambda's event carries.
    pub async fn receive(&self, queue_url: &str, visibility_timeout: i32) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility_timeout)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|error| panic!("receive: {error:?}"))
            .messages
            .unwrap_or_default()
    }

    /// What Lambda's event source mapping does after the handler answered: deletes the
    /// acknowledged messages and makes the reported ones visible again at once.
    pub async fn settle(&self, queue_url: &str, messages: &[Message], failed: &[String]) {
        for message in messages {
            let receipt = message.receipt_handle().unwrap_or_default();
            if failed
                .iter()
                .any(|id| Some(id.as_str()) == message.message_id())
            {
                self.sqs
                    .change_message_visibility()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Stores an integration's secret under this test's prefix.
    pub async fn put_secret(&self, integration: &str, personio: (&str, &str)) {
        self.services
            .credentials(&self.secret_prefix)
            .put_credentials(
                &IntegrationId::new(integration),
                &IntegrationCredentials::new(
                    personio.0,
                    Secret::new(personio.1),
                    Secret::new(SCIM_TOKEN),
                ),
            )
            .await
            .unwrap_or_else(|error| panic!("cannot store the secret: {error}"));
    }

    /// Stores an integration record as the admin API would.
    pub async fn put_integration(
        &self,
        id: &str,
        personio_base_url: &str,
        scim_base_url: &str,
        next_run_at: Option<DateTime<Utc>>,
    ) -> IntegrationRecord {
        let mut settings = IntegrationSettings::new(personio_sandbox::LMS_SYNC_LABEL);
        settings.certificates.enabled = true;
        let record = IntegrationRecord {
            id: IntegrationId::new(id),
            tenant_id: "tenant-e2e".into(),
            name: format!("{id} → Academy"),
            personio: PersonioConnection {
                base_url: Some(personio_base_url.to_owned()),
                ..PersonioConnection::default()
            },
            lms: LmsConnection {
                scim_base_url: scim_base_url.to_owned(),
            },
            settings,
            schedule: SyncSchedule::EveryMinutes(15),
            next_run_at,
            secret_ref: format!("{}{id}", self.secret_prefix),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
            certificate_problem: None,
        };
        self.store.put_integration(&record, None).await.unwrap();
        record
    }
}

/// An invocation context with `remaining` time left, as the runtime would build it.
pub fn context(request_id: &str, remaining: Duration) -> Context {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    context.deadline = u64::try_from((now + remaining).as_millis()).unwrap_or(u64::MAX);
    context.invoked_function_arn =
        "arn:aws:lambda:eu-central-1:123456789012:function:personio-lms-test".into();
    context
}

/// A sample event from `events/`.
pub fn sample(name: &str) -> serde_json::Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The SQS event Lambda would send for `messages`: the sample event's first record as the
/// template, with each message's id, body and attributes.
pub fn sqs_event(sample_name: &str, messages: &[Message]) -> SqsEvent {
    let mut template: SqsEvent = serde_json::from_value(sample(sample_name)).unwrap();
    let first: SqsMessage = template.records.remove(0);
    template.records = messages
        .iter()
        .map(|message| {
            let mut record = first.clone();
            record.message_id = message.message_id().map(str::to_owned);
            record.receipt_handle = message.receipt_handle().map(str::to_owned);
            record.body = message.body().map(str::to_owned);
            record.attributes = message
                .attributes()
                .map(|attributes| {
                    attributes
                        .iter()
                        .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
                        .collect()
                })
                .unwrap_or_default();
            record
        })
        .collect();
    template
}

/// The independent `scim2-server` (PyPI) as the LMS, with PATCH and the project's extension;
/// `None` (the test skips) when the test virtualenv lacks it.
pub fn start_scim() -> Option<(ServerGuard, String)> {
    venv_tool("scim2-server")?;
    let python = venv_tool("python")?;
    let port = free_port();
    let mut command = Command::new(python);
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scim/launch.py"))
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
        .args(["--bearer-token", SCIM_TOKEN])
        .arg("--advertise-extension");
    let guard = ServerGuard::start("scim2-server", command, port, Duration::from_secs(30));
    let base_url = format!("{}/v2", guard.base_url());
    Some((guard, base_url))
}
