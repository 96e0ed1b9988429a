//! Delivering events: a background dispatcher takes jobs from a queue (so that no API handler or
//! mutation ever waits for a receiver) and runs each event's attempts in its own task.
//!
//! Per request: `POST` of the event's JSON to the webhook's current URL with its current
//! authentication, answered within the policy's timeout (Personio: 3 s), redirects not followed.
//! A 2xx delivers. A timeout, a failed connection or a 5xx other than 501 is retried: first a
//! second request right away ("fast attempt"), then after each of the policy's retry delays.
//! Anything else (3xx, 4xx, 501) fails the event at once. Every request is recorded.

use std::sync::Arc;

use chrono::Utc;
use reqwest::StatusCode;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::{JoinHandle, JoinSet};

use super::WebhookHub;
use super::model::{AttemptRecord, DeliveryStatus};
use super::registry::{DeliveryJob, DeliveryTarget};
use super::settings::DeliveryPolicy;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered(u16),
    /// Worth another request (timeout, connection failure, 5xx but 501).
    Retry {
        status: Option<u16>,
        error: String,
    },
    /// Final: the receiver answered, but not with a 2xx Personio would retry.
    Refused {
        status: u16,
        error: String,
    },
}

impl Outcome {
    fn status(&self) -> Option<u16> {
        match self {
            Self::Delivered(status) | Self::Refused { status, .. } => Some(*status),
            Self::Retry { status, .. } => *status,
        }
    }

    fn error(&self) -> Option<String> {
        match self {
            Self::Delivered(_) => None,
            Self::Retry { error, .. } | Self::Refused { error, .. } => Some(error.clone()),
        }
    }
}

/// Reads a receiver's answer the way Personio does.
pub(crate) fn classify(status: StatusCode, location: Option<&str>) -> Outcome {
    let code = status.as_u16();
    if status.is_success() {
        Outcome::Delivered(code)
    } else if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
        Outcome::Retry {
            status: Some(code),
            error: format!("the receiver answered {code}"),
        }
    } else if status.is_redirection() {
        Outcome::Refused {
            status: code,
            error: format!(
                "the receiver answered {code} (redirect to {}), and redirects are not followed",
                location.unwrap_or("an unnamed location")
            ),
        }
    } else {
        Outcome::Refused {
            status: code,
            error: format!("the receiver answered {code}"),
        }
    }
}

/// The HTTP client deliveries use: no redirects, no proxy from the environment.
pub(crate) fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("Personio-Webhooks (personio-sandbox)")
        .build()
}

async fn send(http: &reqwest::Client, target: &DeliveryTarget, policy: &DeliveryPolicy) -> Outcome {
    let mut request = http
        .post(&target.url)
        .timeout(policy.ack_timeout)
        .json(&target.body);
    for (name, value) in target.auth.headers() {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok());
            classify(response.status(), location)
        }
        Err(error) if error.is_timeout() => Outcome::Retry {
            status: None,
            error: format!("no answer within {} ms", policy.ack_timeout.as_millis()),
        },
        Err(error) if error.is_connect() => Outcome::Retry {
            status: None,
            error: "the connection failed".to_owned(),
        },
        Err(_) => Outcome::Retry {
            status: None,
            error: "the request failed before an answer".to_owned(),
        },
    }
}

/// Runs every attempt of one event until it is delivered, refused, out of retries, or gone.
async fn deliver(hub: Arc<WebhookHub>, job: DeliveryJob) {
    let policy = hub.registry().settings().delivery.clone();
    let mut request = 0;
    for attempt in 0..=policy.retry_delays.len() {
        if let Some(delay) = attempt
            .checked_sub(1)
            .and_then(|index| policy.retry_delays.get(index))
        {
            tokio::time::sleep(*delay).await;
        }
        for fast in 0..2 {
            if fast == 1 {
                tokio::time::sleep(policy.fast_retry_delay).await;
            }
            let Some(target) = hub.registry().target(&job) else {
                return;
            };
            request += 1;
            let started_at = Utc::now();
            let outcome = send(&hub.http, &target, &policy).await;
            let completed_at = Utc::now();
            let mut registry = hub.registry();
            let record = AttemptRecord {
                id: registry.new_attempt_id(),
                webhook_id: job.webhook_id.clone(),
                event_id: job.event_id.clone(),
                event_name: target.event_name,
                url: target.url,
                attempt: attempt + 1,
                request,
                started_at,
                completed_at,
                status_code: outcome.status(),
                is_delivered: matches!(outcome, Outcome::Delivered(_)),
                error: outcome.error(),
            };
            registry.record_attempt(record);
            match outcome {
                Outcome::Delivered(_) => {
                    registry.settle(&job.event_id, DeliveryStatus::Delivered);
                    return;
                }
                Outcome::Refused { .. } => {
                    registry.settle(&job.event_id, DeliveryStatus::Failed);
                    return;
                }
                Outcome::Retry { .. } => {}
            }
        }
    }
    hub.registry().settle(&job.event_id, DeliveryStatus::Failed);
}

/// Starts the dispatcher. Aborting the returned task aborts every delivery in flight.
pub(crate) fn spawn_dispatcher(
    hub: Arc<WebhookHub>,
    mut queue: UnboundedReceiver<DeliveryJob>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut deliveries = JoinSet::new();
        loop {
            tokio::select! {
                job = queue.recv() => match job {
                    Some(job) => {
                        deliveries.spawn(deliver(Arc::clone(&hub), job));
                    }
                    None => break,
                },
                Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
            }
        }
        while deliveries.join_next().await.is_some() {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_personio_reads_them() {
        assert_eq!(classify(StatusCode::OK, None), Outcome::Delivered(200));
        assert_eq!(
            classify(StatusCode::NO_CONTENT, None),
            Outcome::Delivered(204)
        );
        for retried in [500, 502, 503, 504] {
            let status = StatusCode::from_u16(retried).unwrap();
            assert!(
                matches!(classify(status, None), Outcome::Retry { .. }),
                "{retried}"
            );
        }
        for refused in [501, 400, 401, 404, 410] {
            let status = StatusCode::from_u16(refused).unwrap();
            assert!(
                matches!(classify(status, None), Outcome::Refused { .. }),
                "{refused}"
            );
        }
        let redirect = classify(StatusCode::TEMPORARY_REDIRECT, Some("https://elsewhere"));
        assert!(
            matches!(&redirect, Outcome::Refused { error, .. } if error.contains("not followed")),
            "{redirect:?}"
        );
    }
}
