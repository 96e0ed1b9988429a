//! The webhooks, their events and every delivery request, in memory.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::changes::Change;
use super::model::{
    AttemptRecord, DeliveryAuth, DeliveryStatus, EventName, EventRecord, Webhook, WebhookStatus,
    event_payload,
};
use super::settings::{WebhookFaults, WebhookSettings};
use super::validation::WebhookSpec;

/// What the sandbox's webhooks did, for inspection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events created for delivery (ping and test events included).
    pub events: u64,
    /// Events lost to the drop fault (never sent, never listed).
    pub dropped: u64,
    /// Changes that fired no event because of the silent-attributes fault.
    pub silenced: u64,
    /// HTTP requests sent to receivers.
    pub requests: u64,
    /// Events a receiver acknowledged.
    pub delivered: u64,
    /// Events given up on: a final answer (4xx, 501, a redirect) or every retry used.
    pub failed: u64,
}

/// One event to deliver (again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryJob {
    pub webhook_id: String,
    pub event_id: String,
}

/// What one delivery request needs, read afresh for every request so that a fixed URL or
/// token applies to the retries of earlier events.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryTarget {
    pub url: String,
    pub auth: DeliveryAuth,
    pub body: Value,
    pub event_name: EventName,
}

/// Why a configuration could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    NotFound,
    /// Another webhook already delivers to this URL.
    DuplicateUrl,
}

/// Filters of the event and activity listings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HistoryFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub event_name: Option<EventName>,
    pub is_delivered: Option<bool>,
}

impl HistoryFilter {
    fn admits(&self, at: DateTime<Utc>, name: EventName) -> bool {
        self.from.is_none_or(|from| at >= from)
            && self.to.is_none_or(|to| at <= to)
            && self.event_name.is_none_or(|wanted| wanted == name)
    }
}

#[derive(Debug)]
pub(crate) struct Registry {
    settings: WebhookSettings,
    webhooks: Vec<Webhook>,
    events: Vec<EventRecord>,
    attempts: Vec<AttemptRecord>,
    ids: StdRng,
    drops: StdRng,
    stats: WebhookStats,
}

impl Registry {
    pub fn new(settings: WebhookSettings, seed: u64) -> Self {
        let drops = StdRng::seed_from_u64(settings.faults.seed);
        Self {
            settings,
            webhooks: Vec::new(),
            events: Vec::new(),
            attempts: Vec::new(),
            ids: StdRng::seed_from_u64(seed ^ 0x5745_4248_4f4f_4b53),
            drops,
            stats: WebhookStats::default(),
        }
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    pub fn stats(&self) -> WebhookStats {
        self.stats.clone()
    }

    /// Replaces the faults; the drop sequence restarts from `faults.seed`.
    pub fn set_faults(&mut self, faults: WebhookFaults) {
        self.drops = StdRng::seed_from_u64(faults.seed);
        self.settings.faults = faults;
    }

    fn new_id(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.ids.random())
            .into_uuid()
            .to_string()
    }

    fn url_taken(&self, url: &str, except: Option<&str>) -> bool {
        self.webhooks
            .iter()
            .any(|webhook| webhook.url == url && Some(webhook.id.as_str()) != except)
    }

    pub fn create(&mut self, spec: WebhookSpec) -> Result<Webhook, StoreError> {
        if self.url_taken(&spec.url, None) {
            return Err(StoreError::DuplicateUrl);
        }
        let webhook = Webhook {
            id: self.new_id(),
            url: spec.url,
            description: spec.description,
            status: spec.status,
            auth: spec.auth,
            enabled_events: spec.enabled_events,
        };
        self.webhooks.push(webhook.clone());
        Ok(webhook)
    }

    pub fn get(&self, id: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|webhook| webhook.id == id)
    }

    pub fn update(&mut self, id: &str, spec: WebhookSpec) -> Result<Webhook, StoreError> {
        if self.url_taken(&spec.url, Some(id)) {
            return Err(StoreError::DuplicateUrl);
        }
        let webhook = self
            .webhooks
            .iter_mut()
            .find(|webhook| webhook.id == id)
            .ok_or(StoreError::NotFound)?;
        webhook.url = spec.url;
        webhook.description = spec.description;
        webhook.status = spec.status;
        webhook.auth = spec.auth;
        webhook.enabled_events = spec.enabled_events;
        Ok(webhook.clone())
    }

    /// Deletes the webhook and its history; pending retries stop.
    pub fn delete(&mut self, id: &str) -> bool {
        let before = self.webhooks.len();
        self.webhooks.retain(|webhook| webhook.id != id);
        self.events.retain(|event| event.webhook_id != id);
        self.attempts.retain(|attempt| attempt.webhook_id != id);
        self.webhooks.len() < before
    }

    /// Webhooks in creation order, optionally only those subscribed to an event or in a status.
    pub fn list(&self, event: Option<EventName>, status: Option<WebhookStatus>) -> Vec<&Webhook> {
        self.webhooks
            .iter()
            .filter(|webhook| event.is_none_or(|name| webhook.subscribes_to(name)))
            .filter(|webhook| status.is_none_or(|wanted| webhook.status == wanted))
            .collect()
    }

    /// A webhook's events, oldest first.
    pub fn events(&self, webhook_id: &str, filter: &HistoryFilter) -> Vec<&EventRecord> {
        self.events
            .iter()
            .filter(|event| event.webhook_id == webhook_id)
            .filter(|event| filter.admits(event.occurred_at, event.name))
            .filter(|event| {
                filter
                    .is_delivered
                    .is_none_or(|wanted| (event.status == DeliveryStatus::Delivered) == wanted)
            })
            .collect()
    }

    /// A webhook's delivery requests, oldest first; the time filter is on completion.
    pub fn attempts(&self, webhook_id: &str, filter: &HistoryFilter) -> Vec<&AttemptRecord> {
        self.attempts
            .iter()
            .filter(|attempt| attempt.webhook_id == webhook_id)
            .filter(|attempt| filter.admits(attempt.completed_at, attempt.event_name))
            .filter(|attempt| {
                filter
                    .is_delivered
                    .is_none_or(|wanted| attempt.is_delivered == wanted)
            })
            .collect()
    }

    fn new_event(
        &mut self,
        webhook_id: String,
        name: EventName,
        payload: Value,
        at: DateTime<Utc>,
    ) -> (EventRecord, DeliveryJob) {
        let event = EventRecord {
            id: self.new_id(),
            webhook_id,
            name,
            occurred_at: at,
            payload,
            status: DeliveryStatus::Pending,
        };
        self.events.push(event.clone());
        self.stats.events += 1;
        let job = DeliveryJob {
            webhook_id: event.webhook_id.clone(),
            event_id: event.id.clone(),
        };
        (event, job)
    }

    /// The events `change` fires for every enabled webhook subscribed to them, minus the ones
    /// the faults swallow.
    pub fn publish(&mut self, change: &Change, at: DateTime<Utc>) -> Vec<DeliveryJob> {
        let silenced = change.attribute().is_some_and(|key| {
            self.settings
                .faults
                .silent_attributes
                .iter()
                .any(|silent| silent == key)
        });
        let names = change.events();
        if silenced {
            if !names.is_empty() {
                self.stats.silenced += 1;
            }
            return Vec::new();
        }
        let mut planned = Vec::new();
        for name in names {
            for webhook in &self.webhooks {
                if webhook.status == WebhookStatus::Enabled && webhook.subscribes_to(name) {
                    planned.push((webhook.id.clone(), name));
                }
            }
        }
        let mut jobs = Vec::with_capacity(planned.len());
        for (webhook_id, name) in planned {
            if self.drops.random::<f64>() < self.settings.faults.drop_share {
                self.stats.dropped += 1;
                continue;
            }
            let payload = event_payload(name, change.person());
            jobs.push(self.new_event(webhook_id, name, payload, at).1);
        }
        jobs
    }

    /// A ping or test event for one webhook, whatever its status and subscriptions.
    pub fn test_event(
        &mut self,
        webhook_id: &str,
        name: EventName,
        payload: Value,
        at: DateTime<Utc>,
    ) -> Option<(EventRecord, DeliveryJob)> {
        let webhook_id = self.get(webhook_id)?.id.clone();
        Some(self.new_event(webhook_id, name, payload, at))
    }

    /// Puts the webhook's events selected by `filter` back into delivery.
    pub fn redeliver(&mut self, webhook_id: &str, filter: &HistoryFilter) -> Vec<DeliveryJob> {
        let selected: Vec<String> = self
            .events(webhook_id, filter)
            .into_iter()
            .map(|event| event.id.clone())
            .collect();
        for event in &mut self.events {
            if selected.contains(&event.id) {
                event.status = DeliveryStatus::Pending;
            }
        }
        selected
            .into_iter()
            .map(|event_id| DeliveryJob {
                webhook_id: webhook_id.to_owned(),
                event_id,
            })
            .collect()
    }

    /// Where and what to send for `job` now; `None` once the webhook or event is gone.
    pub fn target(&self, job: &DeliveryJob) -> Option<DeliveryTarget> {
        let webhook = self.get(&job.webhook_id)?;
        let event = self.events.iter().find(|event| event.id == job.event_id)?;
        Some(DeliveryTarget {
            url: webhook.url.clone(),
            auth: webhook.auth.clone(),
            body: event.body(&self.settings.company_id),
            event_name: event.name,
        })
    }

    pub fn record_attempt(&mut self, attempt: AttemptRecord) {
        self.stats.requests += 1;
        self.attempts.push(attempt);
    }

    /// Settles the event's delivery; an event already gone (its webhook deleted) is ignored.
    pub fn settle(&mut self, event_id: &str, status: DeliveryStatus) {
        let Some(event) = self.events.iter_mut().find(|event| event.id == event_id) else {
            return;
        };
        event.status = status;
        match status {
            DeliveryStatus::Delivered => self.stats.delivered += 1,
            DeliveryStatus::Failed => self.stats.failed += 1,
            DeliveryStatus::Pending => {}
        }
    }

    pub fn new_attempt_id(&mut self) -> String {
        self.new_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::model::DeliveryAuth;

    fn spec(url: &str, status: WebhookStatus, events: &[EventName]) -> WebhookSpec {
        WebhookSpec {
            url: url.to_owned(),
            description: "d".to_owned(),
            status,
            auth: DeliveryAuth::None,
            enabled_events: events.to_vec(),
        }
    }

    fn updated(person: u64, key: &str) -> Change {
        Change::Updated {
            person,
            key: key.to_owned(),
            from: Value::from("a"),
            to: Value::from("b"),
        }
    }

    #[test]
    fn only_enabled_subscribed_webhooks_get_events() {
        let mut registry = Registry::new(WebhookSettings::default(), 1);
        let on = registry
            .create(spec(
                "https://a.example",
                WebhookStatus::Enabled,
                &[EventName::PersonUpdated],
            ))
            .unwrap();
        registry
            .create(spec(
                "https://b.example",
                WebhookStatus::Disabled,
                &[EventName::PersonUpdated],
            ))
            .unwrap();
        registry
            .create(spec(
                "https://c.example",
                WebhookStatus::Enabled,
                &[EventName::PersonCreated],
            ))
            .unwrap();
        assert_eq!(
            registry.create(spec("https://a.example", WebhookStatus::Enabled, &[])),
            Err(StoreError::DuplicateUrl)
        );
        let jobs = registry.publish(&updated(10_001, "email"), Utc::now());
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].webhook_id, on.id);
        let target = registry.target(&jobs[0]).unwrap();
        assert_eq!(target.body["payload"]["id"], "10001");
        assert_eq!(target.body["event_name"], "person.updated");
        assert_eq!(registry.stats().events, 1);
        assert!(registry.delete(&on.id));
        assert!(
            registry.target(&jobs[0]).is_none(),
            "deleted webhooks stop retrying"
        );
    }

    #[test]
    fn faults_drop_a_seeded_share_and_silence_attributes() {
        let settings = WebhookSettings {
            faults: WebhookFaults {
                drop_share: 0.3,
                seed: 5,
                silent_attributes: vec!["position".to_owned()],
            },
            ..WebhookSettings::default()
        };
        let run = || {
            let mut registry = Registry::new(settings.clone(), 1);
            registry
                .create(spec(
                    "https://a.example",
                    WebhookStatus::Enabled,
                    &EventName::CATALOG,
                ))
                .unwrap();
            let delivered: Vec<u64> = (0..1000)
                .filter(|person| {
                    !registry
                        .publish(&updated(*person, "email"), Utc::now())
                        .is_empty()
                })
                .collect();
            assert!(
                registry
                    .publish(&updated(1, "position"), Utc::now())
                    .is_empty()
            );
            (delivered, registry.stats())
        };
        let (first, stats) = run();
        assert_eq!(first, run().0, "same seed, same drops");
        assert!((600..800).contains(&first.len()), "{}", first.len());
        assert_eq!(stats.dropped as usize, 1000 - first.len());
        assert_eq!(stats.silenced, 1);
    }
}
