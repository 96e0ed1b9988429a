//! Webhook deliveries in process, for the tests and the webhook benchmark: a job queue that
//! keeps what the receiver enqueues for a worker to take in batches, and the receiver's route
//! (`POST /webhooks/personio/{integration_id}`, answered as the hosts answer it) on a loopback
//! port.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::app::{DeliveryAnswer, WebhookReceiver};
use common::domain::IntegrationId;
use common::domain::certificate::CertificateId;
use common::domain::job::SyncJob;
use common::ports::{JobQueue, QueueError, QueueMessage};
use std::sync::{Arc, Mutex};

/// The webhook queue in process: what the receiver enqueues, a worker takes in batches.
#[derive(Default)]
pub struct ChannelQueue {
    messages: Mutex<Vec<QueueMessage>>,
    /// Signalled on every message (the worker's "something arrived").
    pub arrived: tokio::sync::Notify,
    sent: Mutex<u64>,
}

impl ChannelQueue {
    pub fn push(&self, body: String) {
        let id = {
            let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            *sent += 1;
            *sent
        };
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(QueueMessage {
                message_id: format!("m{id}"),
                body,
                group_id: None,
            });
        self.arrived.notify_one();
    }

    pub fn take_all(&self) -> Vec<QueueMessage> {
        std::mem::take(&mut *self.messages.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn len(&self) -> usize {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait]
impl JobQueue for ChannelQueue {
    async fn enqueue_sync(&self, job: &SyncJob) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(job).map_err(|error| QueueError::Rejected(error.to_string()))?;
        self.push(body);
        Ok(())
    }

    async fn enqueue_certificate(
        &self,
        _integration: &IntegrationId,
        _certificate: &CertificateId,
        _job: &serde_json::Value,
    ) -> Result<(), QueueError> {
        Err(QueueError::Rejected("no certificate queue here".into()))
    }
}

/// Serves `receiver` on 127.0.0.1 (a free port): its base URL, and the server's task.
pub async fn serve_receiver(
    receiver: Arc<WebhookReceiver>,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/webhooks/personio/{integration_id}", post(receive))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base_url, task))
}

async fn receive(
    State(receiver): State<Arc<WebhookReceiver>>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    let answer = DeliveryAnswer::of(&receiver.receive(&integration, authorization, &body).await);
    StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
