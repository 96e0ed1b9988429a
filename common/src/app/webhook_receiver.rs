//! The webhook receiver: one Personio delivery (`POST /webhooks/personio/{integration_id}`) →
//! checked → a sync job naming the employee, on the queue. Hosts (the `webhook-receiver` Lambda,
//! `personio-lms serve`) only hand over the path's integration id, the `Authorization` header
//! and the body, and turn the answer into a status code.
//!
//! Personio wants a 2xx within 3 s and sends nothing but ids, so the receiver never syncs
//! inline: it checks, enqueues and answers. The checks, in this order, so that nobody learns
//! anything about a body they may not send:
//! - the integration exists (404 otherwise);
//! - the `Authorization` header is exactly the integration's webhook token (401 otherwise),
//!   compared in constant time; a mismatch reads the token again once (the webhook may have been
//!   installed again with a new token) before it is refused;
//! - the body is a Personio event naming an employee (400 otherwise). A `ping` and events the
//!   integration does not act on are acknowledged without a job.
//!
//! Nothing logged here holds the token or the header.

use crate::domain::IntegrationId;
use crate::domain::employee::PersonioId;
use crate::domain::job::SyncJob;
use crate::domain::run::{RunKind, Trigger};
use crate::ports::{IntegrationStore, JobQueue, WebhookTokens};
use crate::secret::Secret;
use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Personio gives a delivery 3 s; the receiver answers within this, whatever the stores do.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(2_500);

/// The largest body the receiver reads (Personio's events are a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// At most one read of the token past its cache per integration in this time, so that wrong
/// tokens cannot make the receiver hammer the secret store; short, so that a webhook installed
/// again is accepted within seconds even after a refused delivery.
pub const FRESH_READ_INTERVAL: Duration = Duration::from_secs(5);

/// What a delivery became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A sync job for the employee is on the queue.
    Enqueued {
        event_name: String,
        employee: PersonioId,
    },
    /// A ping, or an event the integration does not act on: acknowledged, no job.
    Acknowledged { event_name: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("there is no integration {0:?}")]
    UnknownIntegration(String),
    #[error(
        "the Authorization header is missing or is not the integration's webhook token (install the webhook again with `personio-lms webhooks install`)"
    )]
    Unauthorized,
    #[error("the body is not a Personio webhook event: {0}")]
    Malformed(String),
    /// The integration, the token or the queue could not be reached (in time): Personio
    /// delivers the event again.
    #[error("the event cannot be taken now: {0}")]
    Unavailable(String),
}

impl ReceiveError {
    /// The HTTP status a host answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownIntegration(_) => 404,
            Self::Unauthorized => 401,
            Self::Malformed(_) => 400,
            Self::Unavailable(_) => 503,
        }
    }
}

/// What a host answers a delivery with: the status, a JSON body (problem+json for a
/// refusal) and its content type. One shape for every host that receives webhooks.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryAnswer {
    pub status: u16,
    pub body: Value,
    pub content_type: &'static str,
}

impl DeliveryAnswer {
    /// 202 (queued), 200 (a ping or an event with nothing to sync), or the refusal's status
    /// with a problem+json body that names the reason (never the token).
    pub fn of(answer: &Result<Received, ReceiveError>) -> Self {
        match answer {
            Ok(Received::Enqueued {
                event_name,
                employee,
            }) => Self {
                status: 202,
                body: serde_json::json!({
                    "status": "queued", "event_name": event_name, "employee": employee.0
                }),
                content_type: "application/json",
            },
            Ok(Received::Acknowledged { event_name }) => Self {
                status: 200,
                body: serde_json::json!({"status": "acknowledged", "event_name": event_name}),
                content_type: "application/json",
            },
            Err(error) => {
                let status = error.status();
                let title = match status {
                    400 => "Bad Request",
                    401 => "Unauthorized",
                    404 => "Not Found",
                    _ => "Service Unavailable",
                };
                Self {
                    status,
                    body: serde_json::json!({
                        "type": "about:blank",
                        "title": title,
                        "status": status,
                        "detail": error.to_string(),
                    }),
                    content_type: "application/problem+json",
                }
            }
        }
    }
}

/// A Personio event as far as the receiver reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The event's id (the same on every retry), when Personio sends one.
    pub id: Option<String>,
    pub event_name: String,
    /// The employee (Personio's person) the event is about; `None` for a ping.
    pub employee: Option<PersonioId>,
}

/// The receiver with its adapters; build one per process.
pub struct WebhookReceiver {
    integrations: Arc<dyn IntegrationStore>,
    tokens: Arc<dyn WebhookTokens>,
    queue: Arc<dyn JobQueue>,
    fresh_reads: Mutex<HashMap<IntegrationId, Instant>>,
    fresh_read_interval: Duration,
}

impl WebhookReceiver {
    pub fn new(
        integrations: Arc<dyn IntegrationStore>,
        tokens: Arc<dyn WebhookTokens>,
        queue: Arc<dyn JobQueue>,
    ) -> Self {
        Self {
            integrations,
            tokens,
            queue,
            fresh_reads: Mutex::new(HashMap::new()),
            fresh_read_interval: FRESH_READ_INTERVAL,
        }
    }

    /// How often a mismatching token may be read past the cache (default
    /// [`FRESH_READ_INTERVAL`]).
    pub fn with_fresh_read_interval(mut self, interval: Duration) -> Self {
        self.fresh_read_interval = interval;
        self
    }

    /// Takes one delivery. Answers within [`ANSWER_WITHIN`]: a store or queue that is slower is
    /// [`ReceiveError::Unavailable`], and Personio tries again later.
    pub async fn receive(
        &self,
        integration_id: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Received, ReceiveError> {
        let span = tracing::info_span!("webhook", integration = %integration_id);
        let answer = tokio::time::timeout(
            ANSWER_WITHIN,
            tracing::Instrument::instrument(
                self.take(integration_id, authorization, body),
                span.clone(),
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ReceiveError::Unavailable(format!(
                "not done within {} ms",
                ANSWER_WITHIN.as_millis()
            )))
        });
        span.in_scope(|| match &answer {
            Ok(Received::Enqueued {
                event_name,
                employee,
            }) => info!(%event_name, %employee, "webhook event queued as a targeted sync"),
            Ok(Received::Acknowledged { event_name }) => {
                info!(%event_name, "webhook event acknowledged, nothing to sync")
            }
            Err(error) => warn!(status = error.status(), %error, "webhook delivery refused"),
        });
        answer
    }

    async fn take(
        &self,
        integration_id: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Received, ReceiveError> {
        let integration = IntegrationId::new(integration_id);
        if !plausible_id(integration_id) {
            return Err(ReceiveError::UnknownIntegration(integration_id.to_owned()));
        }
        match self.integrations.integration(&integration).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ReceiveError::UnknownIntegration(integration_id.to_owned())),
            Err(error) => {
                return Err(ReceiveError::Unavailable(format!(
                    "reading the integration: {error}"
                )));
            }
        }
        self.authenticate(&integration, authorization).await?;
        if body.len() > MAX_BODY_BYTES {
            return Err(ReceiveError::Malformed(format!(
                "{} bytes, more than the {MAX_BODY_BYTES} an event can have",
                body.len()
            )));
        }
        let event = parse_event(body).map_err(ReceiveError::Malformed)?;
        let Some(employee) = event.employee else {
            return Ok(Received::Acknowledged {
                event_name: event.event_name,
            });
        };
        let job = SyncJob {
            integration_id: integration,
            trigger: Trigger::Webhook,
            dry_run: false,
            kind: RunKind::Targeted,
            requested_at: Utc::now(),
            employees: vec![employee],
            delta: false,
        };
        self.queue
            .enqueue_sync(&job)
            .await
            .map_err(|error| ReceiveError::Unavailable(format!("enqueueing the sync: {error}")))?;
        Ok(Received::Enqueued {
            event_name: event.event_name,
            employee,
        })
    }

    async fn authenticate(
        &self,
        integration: &IntegrationId,
        authorization: Option<&str>,
    ) -> Result<(), ReceiveError> {
        let Some(given) = authorization.filter(|given| !given.is_empty()) else {
            return Err(ReceiveError::Unauthorized);
        };
        let unavailable =
            |error| ReceiveError::Unavailable(format!("reading the webhook token: {error}"));
        let token = self
            .tokens
            .webhook_token(integration)
            .await
            .map_err(unavailable)?;
        if token
            .as_ref()
            .is_some_and(|token| tokens_match(given, token))
        {
            return Ok(());
        }
        if !self.may_read_fresh(integration) {
            return Err(ReceiveError::Unauthorized);
        }
        let fresh = self
            .tokens
            .fresh_webhook_token(integration)
            .await
            .map_err(unavailable)?;
        match fresh {
            Some(token) if tokens_match(given, &token) => Ok(()),
            _ => Err(ReceiveError::Unauthorized),
        }
    }

    fn may_read_fresh(&self, integration: &IntegrationId) -> bool {
        let mut reads = self
            .fresh_reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        match reads.get(integration) {
            Some(last) if now.duration_since(*last) < self.fresh_read_interval => false,
            _ => {
                reads.insert(integration.clone(), now);
                true
            }
        }
    }
}

/// Integration ids are short and plain; anything else cannot name one (and is not looked up).
fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// Whether `given` is the token, in time independent of where they differ: both are hashed
/// first, so even their lengths stay hidden, and the digests are compared without an early exit.
pub fn tokens_match(given: &str, token: &Secret) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(token.expose().as_bytes());
    let difference = given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |difference, (a, b)| difference | (a ^ b));
    std::hint::black_box(difference) == 0
}

/// Reads a Personio event: `event_name`, and the employee from the payload — `payload.id` for
/// `person.*` events, `payload.person.id` for `employment.*` events (an employment's own id is
/// not an employee id). Ids come as strings or numbers.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, String> {
    let root: Value = serde_json::from_slice(body).map_err(|error| format!("not JSON: {error}"))?;
    let object = root.as_object().ok_or("not a JSON object")?;
    let event_name = object
        .get("event_name")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .ok_or("`event_name` is missing or not a string")?
        .to_owned();
    let id = object.get("id").and_then(id_text);
    let payload = object.get("payload");
    let employee_at = |pointer: &str| -> Result<PersonioId, String> {
        let value = payload
            .and_then(|payload| payload.pointer(pointer))
            .ok_or_else(|| format!("`payload{}` is missing", pointer.replace('/', ".")))?;
        id_text(value)
            .and_then(|text| text.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .map(PersonioId)
            .ok_or_else(|| {
                format!(
                    "`payload{}` is not an employee id",
                    pointer.replace('/', ".")
                )
            })
    };
    let employee = if event_name.starts_with("person.") {
        Some(employee_at("/id")?)
    } else if event_name.starts_with("employment.") {
        Some(employee_at("/person/id")?)
    } else {
        // `ping`, and whatever Personio may add: nothing to sync.
        None
    };
    Ok(WebhookEvent {
        id,
        event_name,
        employee,
    })
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::certificate::CertificateId;
    use crate::ports::{MemoryWebhookTokens, QueueError};
    use crate::store::MemoryStore;
    use crate::store::contract::integration_record;

    #[derive(Default)]
    struct RecordingQueue {
        jobs: Mutex<Vec<SyncJob>>,
        delay: Option<Duration>,
    }

    #[async_trait::async_trait]
    impl JobQueue for RecordingQueue {
        async fn enqueue_sync(&self, job: &SyncJob) -> Result<(), QueueError> {
            if let Some(delay) = self.delay {
                tokio::time::sleep(delay).await;
            }
            self.jobs.lock().unwrap().push(job.clone());
            Ok(())
        }

        async fn enqueue_certificate(
            &self,
            _integration: &IntegrationId,
            _certificate: &CertificateId,
            _job: &Value,
        ) -> Result<(), QueueError> {
            Err(QueueError::Rejected("not here".into()))
        }
    }

    async fn receiver(queue: Arc<RecordingQueue>) -> (WebhookReceiver, MemoryWebhookTokens) {
        let store = MemoryStore::new();
        store
            .put_integration(&integration_record("acme", "tenant", None, 1), None)
            .await
            .unwrap();
        let tokens = MemoryWebhookTokens::new();
        tokens
            .put_webhook_token(&IntegrationId::new("acme"), &Secret::new("s3cret-token"))
            .await
            .unwrap();
        (
            WebhookReceiver::new(Arc::new(store), Arc::new(tokens.clone()), queue),
            tokens,
        )
    }

    const UPDATED: &[u8] = br#"{"id":"e1","company_id":"4242","event_name":"person.updated","occurred_at":"2026-01-01T00:00:00.000Z","payload":{"id":"17"}}"#;

    #[tokio::test]
    async fn an_event_with_the_token_queues_a_targeted_webhook_job() {
        let queue = Arc::new(RecordingQueue::default());
        let (receiver, _) = receiver(queue.clone()).await;
        let received = receiver
            .receive("acme", Some("s3cret-token"), UPDATED)
            .await
            .unwrap();
        assert_eq!(
            received,
            Received::Enqueued {
                event_name: "person.updated".into(),
                employee: PersonioId(17)
            }
        );
        let jobs = queue.jobs.lock().unwrap().clone();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].trigger, jobs[0].employees.clone(), jobs[0].delta),
            (Trigger::Webhook, vec![PersonioId(17)], false)
        );
    }

    #[tokio::test]
    async fn wrong_missing_or_prefixed_tokens_unknown_integrations_and_bad_bodies_are_refused() {
        let queue = Arc::new(RecordingQueue::default());
        let (receiver, _) = receiver(queue.clone()).await;
        for given in [
            None,
            Some(""),
            Some("s3cret-tokeN"),
            Some("Bearer s3cret-token"),
        ] {
            let error = receiver.receive("acme", given, UPDATED).await.unwrap_err();
            assert_eq!(error.status(), 401, "{given:?}");
            assert!(!error.to_string().contains("s3cret"));
        }
        for unknown in ["globex", "", "../acme", "a b"] {
            let error = receiver
                .receive(unknown, Some("s3cret-token"), UPDATED)
                .await
                .unwrap_err();
            assert_eq!(error.status(), 404, "{unknown:?}");
        }
        for body in [
            &b"not json"[..],
            br#"[1]"#,
            br#"{"payload":{"id":"1"}}"#,
            br#"{"event_name":"person.updated"}"#,
            br#"{"event_name":"person.updated","payload":{"id":"x"}}"#,
            br#"{"event_name":"employment.updated","payload":{"id":"1000000017"}}"#,
        ] {
            let error = receiver
                .receive("acme", Some("s3cret-token"), body)
                .await
                .unwrap_err();
            assert_eq!(error.status(), 400, "{}", String::from_utf8_lossy(body));
        }
        assert!(queue.jobs.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn employment_events_name_the_person_and_pings_queue_nothing() {
        let queue = Arc::new(RecordingQueue::default());
        let (receiver, _) = receiver(queue.clone()).await;
        let employment = br#"{"event_name":"employment.terminated","payload":{"id":"1000000017","person":{"id":"17"}}}"#;
        assert_eq!(
            receiver
                .receive("acme", Some("s3cret-token"), employment)
                .await
                .unwrap(),
            Received::Enqueued {
                event_name: "employment.terminated".into(),
                employee: PersonioId(17)
            }
        );
        let ping = br#"{"event_name":"ping","payload":{"webhook_id":"w"}}"#;
        assert_eq!(
            receiver
                .receive("acme", Some("s3cret-token"), ping)
                .await
                .unwrap(),
            Received::Acknowledged {
                event_name: "ping".into()
            }
        );
        assert_eq!(queue.jobs.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_new_token_is_accepted_at_once_and_a_slow_queue_is_answered_in_time() {
        let queue = Arc::new(RecordingQueue {
            delay: Some(Duration::from_secs(10)),
            ..RecordingQueue::default()
        });
        let (receiver, tokens) = receiver(queue).await;
        tokens
            .put_webhook_token(&IntegrationId::new("acme"), &Secret::new("rotated"))
            .await
            .unwrap();
        let started = Instant::now();
        let error = receiver
            .receive("acme", Some("rotated"), UPDATED)
            .await
            .unwrap_err();
        // The token passed (the memory store has no cache); the queue did not answer in time.
        assert_eq!(error.status(), 503, "{error}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn tokens_match_only_exactly() {
        let token = Secret::new("abc");
        assert!(tokens_match("abc", &token));
        for other in ["", "ab", "abcd", "ABC", " abc"] {
            assert!(!tokens_match(other, &token), "{other:?}");
        }
    }
}
