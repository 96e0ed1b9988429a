//! The nouns of webhooks: a webhook configuration, an event, a delivery attempt, and their JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// Whether a webhook receives events. Personio's default is `DISABLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookStatus {
    Enabled,
    Disabled,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::Disabled => "DISABLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ENABLED" => Some(Self::Enabled),
            "DISABLED" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// How deliveries authenticate themselves to the receiver. `Debug` shows no secret value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DeliveryAuth {
    /// No authentication header.
    None,
    /// This exact value in `Authorization` (no prefix added).
    Token(String),
    /// Up to 3 custom headers, in the order given.
    Custom(Vec<(String, String)>),
}

impl std::fmt::Debug for DeliveryAuth {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => formatter.write_str("None"),
            Self::Token(_) => formatter.write_str("Token(<redacted>)"),
            Self::Custom(headers) => {
                let names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
                write!(formatter, "Custom({names:?} = <redacted>)")
            }
        }
    }
}

impl DeliveryAuth {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Token(_) => "TOKEN",
            Self::Custom(_) => "CUSTOM",
        }
    }

    /// The headers a delivery carries.
    pub fn headers(&self) -> Vec<(&str, &str)> {
        match self {
            Self::None => Vec::new(),
            Self::Token(token) => vec![("authorization", token.as_str())],
            Self::Custom(headers) => headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect(),
        }
    }
}

/// The events Personio documents for employees, plus the `ping` of the ping endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventName {
    PersonCreated,
    PersonUpdated,
    PersonDeleted,
    EmploymentCreated,
    EmploymentUpdated,
    EmploymentDeleted,
    EmploymentStarted,
    EmploymentTerminated,
    /// Sent by `POST /v2/webhooks/{id}/ping` only; not subscribable.
    Ping,
}

impl EventName {
    /// The events a webhook may subscribe to (`enabled_events`) and send as a test event.
    pub const CATALOG: [Self; 8] = [
        Self::PersonCreated,
        Self::PersonUpdated,
        Self::PersonDeleted,
        Self::EmploymentCreated,
        Self::EmploymentUpdated,
        Self::EmploymentDeleted,
        Self::EmploymentStarted,
        Self::EmploymentTerminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PersonCreated => "person.created",
            Self::PersonUpdated => "person.updated",
            Self::PersonDeleted => "person.deleted",
            Self::EmploymentCreated => "employment.created",
            Self::EmploymentUpdated => "employment.updated",
            Self::EmploymentDeleted => "employment.deleted",
            Self::EmploymentStarted => "employment.started",
            Self::EmploymentTerminated => "employment.terminated",
            Self::Ping => "ping",
        }
    }

    /// A catalog event by name (`ping` is not one).
    pub fn from_catalog(text: &str) -> Option<Self> {
        Self::CATALOG.into_iter().find(|name| name.as_str() == text)
    }

    fn is_employment(self) -> bool {
        matches!(
            self,
            Self::EmploymentCreated
                | Self::EmploymentUpdated
                | Self::EmploymentDeleted
                | Self::EmploymentStarted
                | Self::EmploymentTerminated
        )
    }
}

/// Employment ids are kept apart from person ids (= v1 employee ids) on purpose, so that a
/// receiver that takes one for the other fails against the sandbox first.
pub(crate) const EMPLOYMENT_ID_OFFSET: u64 = 1_000_000_000;

/// The data-less payload of an event about `person` (its only employment for employment
/// events): ids as strings, as everywhere in v2.
pub(crate) fn event_payload(name: EventName, person: u64) -> Value {
    if name.is_employment() {
        json!({
            "id": (EMPLOYMENT_ID_OFFSET + person).to_string(),
            "person": {"id": person.to_string()},
        })
    } else {
        json!({"id": person.to_string()})
    }
}

/// A webhook configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Webhook {
    pub id: String,
    pub url: String,
    pub description: String,
    pub status: WebhookStatus,
    pub auth: DeliveryAuth,
    pub enabled_events: Vec<EventName>,
}

impl Webhook {
    /// The webhook as the API shows it. The token and the custom header values are never
    /// shown: whether Personio echoes them is not documented, and a client must not need them.
    pub fn to_json(&self) -> Value {
        let events: Vec<&str> = self
            .enabled_events
            .iter()
            .map(|name| name.as_str())
            .collect();
        json!({
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "status": self.status.as_str(),
            "auth_type": self.auth.type_name(),
            "enabled_events": events,
        })
    }

    pub fn subscribes_to(&self, name: EventName) -> bool {
        self.enabled_events.contains(&name)
    }
}

/// Where an event's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }
}

/// An event created for one webhook.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRecord {
    pub id: String,
    pub webhook_id: String,
    pub name: EventName,
    pub occurred_at: DateTime<Utc>,
    pub payload: Value,
    pub status: DeliveryStatus,
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl EventRecord {
    /// The request body a delivery carries: Personio's documented fields (`company_id`,
    /// `event_name`, `occurred_at`, `payload`) plus the event's `id`, which the event history
    /// and redeliveries name it by.
    pub fn body(&self, company_id: &str) -> Value {
        json!({
            "id": self.id,
            "company_id": company_id,
            "event_name": self.name.as_str(),
            "occurred_at": timestamp(self.occurred_at),
            "payload": self.payload,
        })
    }

    /// The event as `GET /v2/webhooks/{id}/events` lists it: the body plus where it stands.
    pub fn to_json(&self, company_id: &str) -> Value {
        let mut body = self.body(company_id);
        if let Some(object) = body.as_object_mut() {
            object.insert(
                "delivery_status".to_owned(),
                Value::from(self.status.as_str()),
            );
        }
        body
    }
}

/// One HTTP request made to deliver an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttemptRecord {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_name: EventName,
    pub url: String,
    /// 1 for the first attempt, up to 1 + the number of retries.
    pub attempt: usize,
    /// The request's number over all attempts of the event (Personio: at most 14).
    pub request: usize,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// The receiver's status code, when it answered at all.
    pub status_code: Option<u16>,
    pub is_delivered: bool,
    /// Why the request did not deliver (timeout, refused connection, a redirect, a status).
    pub error: Option<String>,
}

impl AttemptRecord {
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        let duration = self.completed_at - self.started_at;
        let fields = [
            ("id", Value::from(self.id.as_str())),
            ("event_id", Value::from(self.event_id.as_str())),
            ("event_name", Value::from(self.event_name.as_str())),
            ("url", Value::from(self.url.as_str())),
            ("attempt", Value::from(self.attempt)),
            ("request", Value::from(self.request)),
            ("started_at", Value::from(timestamp(self.started_at))),
            ("completed_at", Value::from(timestamp(self.completed_at))),
            ("duration_ms", Value::from(duration.num_milliseconds())),
            (
                "status_code",
                self.status_code.map_or(Value::Null, Value::from),
            ),
            ("is_delivered", Value::from(self.is_delivered)),
            ("error", self.error.clone().map_or(Value::Null, Value::from)),
        ];
        for (key, value) in fields {
            object.insert(key.to_owned(), value);
        }
        Value::Object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_ping_is_not_subscribable() {
        for name in EventName::CATALOG {
            assert_eq!(EventName::from_catalog(name.as_str()), Some(name));
        }
        assert_eq!(EventName::from_catalog("ping"), None);
        assert_eq!(EventName::from_catalog("person.moved"), None);
    }

    #[test]
    fn payloads_carry_ids_only_and_keep_employments_apart() {
        assert_eq!(
            event_payload(EventName::PersonUpdated, 10_001),
            json!({"id": "10001"})
        );
        assert_eq!(
            event_payload(EventName::EmploymentTerminated, 10_001),
            json!({"id": "1000010001", "person": {"id": "10001"}})
        );
    }

    #[test]
    fn the_api_never_shows_delivery_secrets() {
        let webhook = Webhook {
            id: "w".to_owned(),
            url: "https://example.com/hook".to_owned(),
            description: "d".to_owned(),
            status: WebhookStatus::Disabled,
            auth: DeliveryAuth::Custom(vec![("X-Key".to_owned(), "secret-value".to_owned())]),
            enabled_events: vec![EventName::PersonCreated],
        };
        let shown = webhook.to_json().to_string();
        assert!(!shown.contains("secret-value"), "{shown}");
        assert!(!format!("{webhook:?}").contains("secret-value"));
        assert!(shown.contains("\"auth_type\":\"CUSTOM\""));
        let token = Webhook {
            auth: DeliveryAuth::Token("Bearer t0ken".to_owned()),
            ..webhook
        };
        assert!(!token.to_json().to_string().contains("t0ken"));
        assert!(
            !format!("{token:?}").contains("t0ken"),
            "Debug hides it too"
        );
        assert_eq!(token.auth.headers(), [("authorization", "Bearer t0ken")]);
    }
}
