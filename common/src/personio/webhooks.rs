//! Personio's v2 webhooks management (`/v2/webhooks…`, v2 token, scopes
//! `personio:webhooks:read`/`write`): the [`HrWebhooks`] adapter.
//!
//! A webhook is created with `status: ENABLED` (Personio's default is `DISABLED`) and auth type
//! `TOKEN`: Personio then sends the token as the exact `Authorization` value of every delivery.
//! Personio never shows the token again, and neither does this client.

use super::budget::EndpointGroup;
use super::client::PersonioClient;
use super::documents::cursor_of;
use super::transport::{Call, Repeat, TokenFlow};
use crate::ports::{HrError, HrWebhooks, RegisteredWebhook, WebhookDelivery, WebhookRegistration};
use crate::retry::Deadline;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// v2 list page size (Personio allows 1..=200).
const PAGE_SIZE: u32 = 100;
/// A generous bound on the pages of one listing, against a cursor that loops.
const MAX_PAGES: usize = 1_000;

fn call(name: &'static str, repeat: Repeat) -> Call {
    Call {
        name,
        group: EndpointGroup::Webhooks,
        token: Some(TokenFlow::V2),
        repeat,
    }
}

/// The body of a create or a full update: enabled, token authentication, the events.
fn registration_body(registration: &WebhookRegistration) -> Value {
    json!({
        "url": registration.url,
        "description": registration.description,
        "enabled_events": registration.enabled_events,
        "status": "ENABLED",
        "auth_type": "TOKEN",
        "token": registration.token.expose(),
    })
}

fn parse_json(body: &[u8], what: &str) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|error| format!("{what} is not JSON: {error}"))
}

/// A webhook object; Personio's single-object answers may wrap it in `_data`.
fn webhook_of(value: &Value) -> Result<RegisteredWebhook, String> {
    let object = value.get("_data").unwrap_or(value);
    serde_json::from_value(object.clone())
        .map_err(|error| format!("a webhook is malformed: {error}"))
}

pub(super) fn parse_webhook(body: &[u8]) -> Result<RegisteredWebhook, String> {
    webhook_of(&parse_json(body, "the webhook")?)
}

/// One v2 list page: its items and the next page's cursor.
fn parse_list_page(body: &[u8], what: &str) -> Result<(Vec<Value>, Option<String>), String> {
    let root = parse_json(body, what)?;
    let items = root
        .get("_data")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what} has no `_data` array"))?
        .clone();
    let next = match root
        .pointer("/_meta/links/next/href")
        .and_then(Value::as_str)
        .filter(|href| !href.is_empty())
    {
        None => None,
        Some(href) => {
            Some(cursor_of(href).ok_or_else(|| format!("next link `{href}` has no cursor"))?)
        }
    };
    Ok((items, next))
}

fn delivery_of(item: &Value) -> Result<WebhookDelivery, String> {
    serde_json::from_value(item.clone())
        .map_err(|error| format!("an activity row is malformed: {error}"))
}

impl PersonioClient {
    /// Every page of a v2 list at `path` with `filters`, each item parsed by `parse`.
    async fn v2_list<T>(
        &self,
        name: &'static str,
        path: &str,
        filters: &[(&str, String)],
        parse: impl Fn(&Value) -> Result<T, String>,
        deadline: Deadline,
    ) -> Result<Vec<T>, HrError> {
        let url = self.transport().url(path);
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut parameters: Vec<(&str, String)> = filters.to_vec();
            parameters.push(("limit", PAGE_SIZE.to_string()));
            if let Some(cursor) = &cursor {
                parameters.push(("cursor", cursor.clone()));
            }
            let (page, next) = self
                .transport()
                .execute(
                    call(name, Repeat::Safe),
                    deadline,
                    |http| http.get(&url).query(&parameters),
                    |body| parse_list_page(body, name),
                )
                .await?;
            for item in &page {
                items.push(parse(item).map_err(HrError::Malformed)?);
            }
            match next {
                Some(next) if Some(&next) == cursor.as_ref() => {
                    return Err(HrError::Malformed(format!(
                        "{name}: the same cursor came back"
                    )));
                }
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
        Err(HrError::Malformed(format!(
            "{name} did not end within {MAX_PAGES} pages"
        )))
    }
}

#[async_trait]
impl HrWebhooks for PersonioClient {
    async fn webhooks(&self, deadline: Deadline) -> Result<Vec<RegisteredWebhook>, HrError> {
        self.v2_list("list webhooks", "/v2/webhooks", &[], webhook_of, deadline)
            .await
    }

    async fn webhook(
        &self,
        id: &str,
        deadline: Deadline,
    ) -> Result<Option<RegisteredWebhook>, HrError> {
        let url = self
            .transport()
            .url(&format!("/v2/webhooks/{}", path_segment(id)));
        match self
            .transport()
            .execute(
                call("read webhook", Repeat::Safe),
                deadline,
                |http| http.get(&url),
                parse_webhook,
            )
            .await
        {
            Ok(webhook) => Ok(Some(webhook)),
            Err(HrError::Rejected { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn create_webhook(
        &self,
        registration: &WebhookRegistration,
        deadline: Deadline,
    ) -> Result<RegisteredWebhook, HrError> {
        let url = self.transport().url("/v2/webhooks");
        let body = registration_body(registration);
        tracing::info!(url = %registration.url, "registering the Personio webhook");
        self.transport()
            .execute(
                // A lost answer may have created it: only a refusal is repeated; the set-up
                // finds a webhook of the same URL before creating another.
                call("create webhook", Repeat::OnlyWhenRefused),
                deadline,
                |http| http.post(&url).json(&body),
                parse_webhook,
            )
            .await
    }

    async fn update_webhook(
        &self,
        id: &str,
        registration: &WebhookRegistration,
        deadline: Deadline,
    ) -> Result<RegisteredWebhook, HrError> {
        let url = self
            .transport()
            .url(&format!("/v2/webhooks/{}", path_segment(id)));
        let body = registration_body(registration);
        self.transport()
            .execute(
                call("update webhook", Repeat::Safe),
                deadline,
                |http| http.patch(&url).json(&body),
                parse_webhook,
            )
            .await
    }

    async fn delete_webhook(&self, id: &str, deadline: Deadline) -> Result<bool, HrError> {
        let url = self
            .transport()
            .url(&format!("/v2/webhooks/{}", path_segment(id)));
        match self
            .transport()
            .execute(
                call("delete webhook", Repeat::Safe),
                deadline,
                |http| http.delete(&url),
                |_| Ok(()),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(HrError::Rejected { status: 404, .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn webhook_activity(
        &self,
        id: &str,
        since: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Vec<WebhookDelivery>, HrError> {
        let path = format!("/v2/webhooks/{}/activity", path_segment(id));
        let filters = [(
            "completed_at.gte",
            since.to_rfc3339_opts(SecondsFormat::Millis, true),
        )];
        self.v2_list("webhook activity", &path, &filters, delivery_of, deadline)
            .await
    }
}

/// A webhook id as one path segment (Personio's are UUIDs; anything else is escaped).
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn a_registration_is_enabled_with_token_auth() {
        let body = registration_body(&WebhookRegistration {
            url: "https://lms-sync.example/webhooks/personio/acme".into(),
            description: "personio-lms".into(),
            enabled_events: vec!["person.updated".into()],
            token: Secret::new("tok"),
        });
        assert_eq!(body["status"], "ENABLED");
        assert_eq!(body["auth_type"], "TOKEN");
        assert_eq!(body["token"], "tok");
    }

    #[test]
    fn webhooks_and_pages_parse_in_personios_shapes() {
        let one = br#"{"id":"7f0","url":"https://x/h","description":"d","status":"ENABLED","auth_type":"TOKEN","enabled_events":["person.updated"]}"#;
        let webhook = parse_webhook(one).unwrap();
        assert!(webhook.is_enabled());
        assert_eq!(webhook.enabled_events, vec!["person.updated"]);
        let page = br#"{"_data":[{"id":"a","url":"https://x","status":"DISABLED","auth_type":"NONE"}],
            "_meta":{"links":{"self":{"href":"https://x/v2/webhooks"},"next":{"href":"https://x/v2/webhooks?cursor=cur_61&limit=100"}}}}"#;
        let (items, next) = parse_list_page(page, "list").unwrap();
        assert_eq!(items.len(), 1);
        assert!(!webhook_of(&items[0]).unwrap().is_enabled());
        assert_eq!(next.as_deref(), Some("cur_61"));
        assert!(parse_list_page(br#"{"data":[]}"#, "list").is_err());
        let row = serde_json::json!({"id":"r","event_id":"e","event_name":"person.updated","attempt":1,
            "completed_at":"2026-01-02T03:04:05.000Z","status_code":null,"is_delivered":false,"error":"timeout"});
        let delivery = delivery_of(&row).unwrap();
        assert_eq!((delivery.status_code, delivery.is_delivered), (None, false));
        assert_eq!(path_segment("a/b"), "a%2Fb");
    }
}
