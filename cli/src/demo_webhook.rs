//! The demo's webhook step: a change in the Personio sandbox reaches the LMS through a webhook,
//! with the measured delay. The sandbox delivers the event over HTTP to a receiver in this
//! process (`WebhookReceiver` behind the route `personio-lms serve` offers, answered the same
//! way), the receiver queues a job on the SQLite queue `serve` uses, and `SyncJobHandler` runs it
//! as a targeted run, as `serve`'s sync worker does.

use crate::error::CliError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use common::app::{
    ConnectPolicy, DeliveryAnswer, FixedConnector, IntegrationAdapters, SyncJobDone,
    SyncJobHandler, WebhookReceiver, install_webhook, remove_webhook,
};
use common::certificates::{FetchLimits, PdfFetcher};
use common::domain::IntegrationId;
use common::domain::integration::{
    IntegrationRecord, LmsConnection, PersonioConnection, SyncSchedule,
};
use common::domain::settings::IntegrationSettings;
use common::lms::memory::MemoryLms;
use common::personio::PersonioClient;
use common::ports::Notifier;
use common::ports::{IntegrationStore, MemoryWebhookTokens};
use common::retry::Deadline;
use common::store::{JobKind, SqliteJobQueue, SqliteStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the demo shows of the step.
pub struct WebhookShown {
    pub receiver_url: String,
    pub event_queued_after: Duration,
    pub in_lms_after: Duration,
    pub run_id: String,
}

/// The demo's adapters the step runs on.
pub struct WebhookParts<'a> {
    pub personio: Arc<PersonioClient>,
    pub lms: Arc<MemoryLms>,
    pub store: Arc<SqliteStore>,
    pub notifier: Arc<dyn Notifier>,
    pub integration: &'a IntegrationId,
    pub settings: &'a IntegrationSettings,
    pub personio_url: String,
}

fn failed(context: &str) -> impl FnOnce(String) -> CliError + '_ {
    move |error| CliError::Failed(format!("demo: {context}: {error}"))
}

/// Installs the webhook, lets `change` happen in Personio, and follows the event into the LMS
/// until `arrived` holds; removes the webhook again.
pub async fn through_a_webhook(
    parts: WebhookParts<'_>,
    change: impl FnOnce() -> Result<(), String>,
    arrived: impl Fn(&MemoryLms) -> bool,
) -> Result<WebhookShown, CliError> {
    let deadline = || Deadline::after(Duration::from_secs(30));
    let record = IntegrationRecord {
        id: parts.integration.clone(),
        tenant_id: "demo".into(),
        name: "Demo".into(),
        personio: PersonioConnection {
            base_url: Some(parts.personio_url),
            ..PersonioConnection::default()
        },
        lms: LmsConnection {
            scim_base_url: "in-process".into(),
        },
        settings: parts.settings.clone(),
        schedule: SyncSchedule::Manual,
        next_run_at: None,
        secret_ref: "demo".into(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        version: 1,
        certificate_problem: None,
    };
    parts
        .store
        .put_integration(&record, None)
        .await
        .map_err(|error| failed("the integration record")(error.to_string()))?;
    let tokens = Arc::new(MemoryWebhookTokens::new());
    let queue = SqliteJobQueue::new(&parts.store);
    let receiver = Arc::new(WebhookReceiver::new(
        parts.store.clone(),
        tokens.clone(),
        Arc::new(queue.clone()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| failed("the webhook receiver")(error.to_string()))?;
    let address = listener
        .local_addr()
        .map_err(|error| failed("the webhook receiver")(error.to_string()))?;
    let router = Router::new()
        .route("/webhooks/personio/{integration}", post(receive))
        .with_state(receiver);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let public_url = format!("http://{address}");
    let installed = install_webhook(
        parts.personio.as_ref(),
        tokens.as_ref(),
        parts.integration,
        &public_url,
        deadline(),
    )
    .await
    .map_err(|error| failed("installing the webhook")(error.to_string()))?;

    let handler = SyncJobHandler::new(
        parts.store.clone(),
        parts.store.clone(),
        Arc::new(FixedConnector::new(
            IntegrationAdapters {
                hr: parts.personio.clone(),
                lms: parts.lms.clone(),
            },
            ConnectPolicy::LOCAL,
        )),
        parts.notifier,
        PdfFetcher::new(FetchLimits::default(), ConnectPolicy::LOCAL.network())
            .map_err(|error| failed("the PDF fetcher")(error.to_string()))?,
    );
    let changed = Instant::now();
    change().map_err(failed("the change in Personio"))?;
    let mut queued_after = None;
    let mut run_id = String::new();
    while !arrived(&parts.lms) {
        if changed.elapsed() > Duration::from_secs(20) {
            return Err(failed("the webhook")(
                "the change did not reach the LMS within 20 s".into(),
            ));
        }
        let jobs = queue
            .receive(
                JobKind::Sync,
                1,
                1,
                Utc::now(),
                chrono::Duration::minutes(5),
            )
            .await
            .map_err(|error| failed("the queue")(error.to_string()))?;
        let Some(job) = jobs.into_iter().next() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        queued_after.get_or_insert(changed.elapsed());
        let done = handler
            .handle(&job.body, deadline(), "personio-lms demo")
            .await
            .map_err(|error| failed("the targeted run")(error.to_string()))?;
        if let SyncJobDone::Ran { run_id: id, .. } = done {
            run_id = id.to_string();
        }
        queue
            .acknowledge(&job)
            .await
            .map_err(|error| failed("the queue")(error.to_string()))?;
    }
    let in_lms_after = changed.elapsed();
    remove_webhook(
        parts.personio.as_ref(),
        tokens.as_ref(),
        parts.integration,
        &public_url,
        deadline(),
    )
    .await
    .map_err(|error| failed("removing the webhook")(error.to_string()))?;
    server.abort();
    Ok(WebhookShown {
        receiver_url: installed.webhook.url,
        event_queued_after: queued_after.unwrap_or(in_lms_after),
        in_lms_after,
        run_id,
    })
}

async fn receive(
    State(receiver): State<Arc<WebhookReceiver>>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let answer = DeliveryAnswer::of(&receiver.receive(&integration, authorization, &body).await);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body.to_string(),
    )
        .into_response()
}
