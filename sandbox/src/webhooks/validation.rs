//! The rules for a webhook configuration in `POST /v2/webhooks` and `PATCH /v2/webhooks/{id}`.
//!
//! Every problem names its field. A missing field or a value of the wrong JSON type is
//! malformed (400); a well-formed value Personio would not accept (a non-HTTPS URL, an unknown
//! event, a forbidden header, a token without `auth_type` TOKEN) is unprocessable (422). Personio
//! documents both status codes without saying which rule answers which: this split is the
//! sandbox's reading. Fields the API does not know are ignored.

use axum::http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use url::{Host, Url};

use super::model::{DeliveryAuth, EventName, Webhook, WebhookStatus};

/// Which status a problem answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// 400: missing, or the wrong JSON type.
    Malformed,
    /// 422: well-formed but not acceptable.
    Unprocessable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldProblem {
    pub field: String,
    pub message: String,
    pub severity: Severity,
}

/// A valid configuration, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WebhookSpec {
    pub url: String,
    pub description: String,
    pub status: WebhookStatus,
    pub auth: DeliveryAuth,
    pub enabled_events: Vec<EventName>,
}

/// Personio: at most 3 custom headers, none named like (or starting with) these.
const MAX_CUSTOM_HEADERS: usize = 3;
const FORBIDDEN_HEADER_PREFIXES: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "content-type",
];

#[derive(Debug, Default)]
struct Problems(Vec<FieldProblem>);

impl Problems {
    fn add(&mut self, field: &str, message: impl Into<String>, severity: Severity) {
        self.0.push(FieldProblem {
            field: field.to_owned(),
            message: message.into(),
            severity,
        });
    }
    fn malformed(&mut self, field: &str, message: impl Into<String>) {
        self.add(field, message, Severity::Malformed);
    }
    fn unprocessable(&mut self, field: &str, message: impl Into<String>) {
        self.add(field, message, Severity::Unprocessable);
    }
}

/// The request body as an object, or the one problem that it is not.
pub(crate) fn body_object(body: &Value) -> Result<&Map<String, Value>, Vec<FieldProblem>> {
    body.as_object().ok_or_else(|| {
        vec![FieldProblem {
            field: "body".to_owned(),
            message: "The request body must be a JSON object.".to_owned(),
            severity: Severity::Malformed,
        }]
    })
}

/// A string field: `None` when absent (or `null`), a problem when not a string.
fn text<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    problems: &mut Problems,
) -> Option<&'a str> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            problems.malformed(field, format!("{field} must be a string."));
            None
        }
    }
}

fn required<'a>(value: Option<&'a str>, field: &str, problems: &mut Problems) -> Option<&'a str> {
    if value.is_none() && !problems.0.iter().any(|problem| problem.field == field) {
        problems.malformed(field, format!("{field} is required."));
    }
    value
}

/// `https://…`; `http://` only on a loopback host and only where the sandbox allows it.
fn check_url(text: &str, allow_http_loopback: bool, problems: &mut Problems) -> Option<String> {
    let Ok(url) = Url::parse(text) else {
        problems.unprocessable("url", "url must be an absolute URL.");
        return None;
    };
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Some(text.to_owned()),
        "http" if allow_http_loopback && loopback => Some(text.to_owned()),
        "http" if allow_http_loopback => {
            problems.unprocessable(
                "url",
                "url must be an HTTPS endpoint (this sandbox also accepts http:// on a loopback host).",
            );
            None
        }
        _ => {
            problems.unprocessable("url", "url must be an HTTPS endpoint.");
            None
        }
    }
}

fn check_status(text: Option<&str>, problems: &mut Problems) -> Option<WebhookStatus> {
    let text = text?;
    let status = WebhookStatus::parse(text);
    if status.is_none() {
        problems.malformed("status", "status must be one of ENABLED, DISABLED.");
    }
    status
}

fn check_events(value: Option<&Value>, problems: &mut Problems) -> Option<Vec<EventName>> {
    let field = "enabled_events";
    let items = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) => items,
        Some(_) => {
            problems.malformed(field, "enabled_events must be an array of event names.");
            return None;
        }
    };
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        match item
            .as_str()
            .map(|name| (name, EventName::from_catalog(name)))
        {
            None => problems.malformed(field, "enabled_events must be an array of event names."),
            Some((_, Some(name))) => {
                if !events.contains(&name) {
                    events.push(name);
                }
            }
            Some((name, None)) => {
                let known: Vec<&str> = EventName::CATALOG
                    .iter()
                    .map(|name| name.as_str())
                    .collect();
                problems.unprocessable(
                    field,
                    format!(
                        "Unknown event `{name}`; known events: {}.",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    if items.is_empty() {
        problems.unprocessable(field, "enabled_events must name at least one event.");
    }
    Some(events)
}

/// `custom_headers`: a map of at most 3 valid, allowed header names to string values.
fn check_custom_headers(
    value: Option<&Value>,
    problems: &mut Problems,
) -> Option<Vec<(String, String)>> {
    let field = "custom_headers";
    let map = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Object(map)) => map,
        Some(_) => {
            problems.malformed(
                field,
                "custom_headers must be an object of header names to values.",
            );
            return None;
        }
    };
    if map.len() > MAX_CUSTOM_HEADERS {
        problems.unprocessable(field, "custom_headers may hold at most 3 headers.");
    }
    let mut headers = Vec::with_capacity(map.len());
    for (name, value) in map {
        let lower = name.to_ascii_lowercase();
        let Some(value) = value.as_str() else {
            problems.malformed(
                field,
                format!("The value of header `{name}` must be a string."),
            );
            continue;
        };
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.unprocessable(field, format!("`{name}` is not a valid header name."));
        } else if FORBIDDEN_HEADER_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
        {
            problems.unprocessable(field, format!("Header `{name}` is not allowed."));
        } else if HeaderValue::from_str(value).is_err() {
            problems.unprocessable(
                field,
                format!("The value of header `{name}` is not a valid header value."),
            );
        } else {
            headers.push((name.clone(), value.to_owned()));
        }
    }
    Some(headers)
}

/// The raw authentication fields of a request, before they are checked together.
#[derive(Debug, Default)]
struct AuthFields {
    auth_type: Option<String>,
    token: Option<String>,
    custom_headers: Option<Vec<(String, String)>>,
}

impl AuthFields {
    fn read(object: &Map<String, Value>, problems: &mut Problems) -> Self {
        Self {
            auth_type: text(object, "auth_type", problems).map(str::to_owned),
            token: text(object, "token", problems).map(str::to_owned),
            custom_headers: check_custom_headers(object.get("custom_headers"), problems),
        }
    }

    fn any_given(&self) -> bool {
        self.auth_type.is_some() || self.token.is_some() || self.custom_headers.is_some()
    }

    /// `auth_type` (default TOKEN) with its one matching credential field.
    fn resolve(self, problems: &mut Problems) -> Option<DeliveryAuth> {
        let auth_type = self.auth_type.unwrap_or_else(|| "TOKEN".to_owned());
        let token_misplaced = || "token is only allowed if auth_type is TOKEN.";
        let headers_misplaced = || "custom_headers are only allowed if auth_type is CUSTOM.";
        match auth_type.as_str() {
            "NONE" | "TOKEN" | "CUSTOM" => {}
            _ => {
                problems.malformed("auth_type", "auth_type must be one of NONE, TOKEN, CUSTOM.");
                return None;
            }
        }
        if auth_type != "TOKEN" && self.token.is_some() {
            problems.unprocessable("token", token_misplaced());
        }
        if auth_type != "CUSTOM" && self.custom_headers.is_some() {
            problems.unprocessable("custom_headers", headers_misplaced());
        }
        match auth_type.as_str() {
            "TOKEN" => match self.token {
                Some(token) if !token.is_empty() && HeaderValue::from_str(&token).is_ok() => {
                    Some(DeliveryAuth::Token(token))
                }
                Some(_) => {
                    problems.unprocessable("token", "token must be a non-empty header value.");
                    None
                }
                None => {
                    problems.unprocessable("token", "token is required when auth_type is TOKEN.");
                    None
                }
            },
            "CUSTOM" => match self.custom_headers {
                Some(headers) if !headers.is_empty() => Some(DeliveryAuth::Custom(headers)),
                _ => {
                    problems.unprocessable(
                        "custom_headers",
                        "custom_headers (1 to 3 headers) are required when auth_type is CUSTOM.",
                    );
                    None
                }
            },
            _ => Some(DeliveryAuth::None),
        }
    }
}

/// The checked parts of a configuration, each `None` where a problem was found.
struct Parts {
    url: Option<String>,
    description: Option<String>,
    status: Option<WebhookStatus>,
    auth: Option<DeliveryAuth>,
    events: Option<Vec<EventName>>,
}

impl Parts {
    fn finish(self, problems: Problems) -> Result<WebhookSpec, Vec<FieldProblem>> {
        match self {
            Self {
                url: Some(url),
                description: Some(description),
                status: Some(status),
                auth: Some(auth),
                events: Some(enabled_events),
            } if problems.0.is_empty() => Ok(WebhookSpec {
                url,
                description,
                status,
                auth,
                enabled_events,
            }),
            _ => Err(problems.0),
        }
    }
}

/// A new webhook: `url`, `description` and `enabled_events` required; `status` defaults to
/// DISABLED and `auth_type` to TOKEN.
pub(crate) fn validate_create(
    object: &Map<String, Value>,
    allow_http_loopback: bool,
) -> Result<WebhookSpec, Vec<FieldProblem>> {
    let mut problems = Problems::default();
    let url = required(text(object, "url", &mut problems), "url", &mut problems)
        .and_then(|url| check_url(url, allow_http_loopback, &mut problems));
    let description = required(
        text(object, "description", &mut problems),
        "description",
        &mut problems,
    )
    .map(str::to_owned);
    let status = match text(object, "status", &mut problems) {
        None => Some(WebhookStatus::Disabled),
        given => check_status(given, &mut problems),
    };
    let events = check_events(object.get("enabled_events"), &mut problems);
    if events.is_none()
        && !problems
            .0
            .iter()
            .any(|problem| problem.field == "enabled_events")
    {
        problems.malformed("enabled_events", "enabled_events is required.");
    }
    let auth = AuthFields::read(object, &mut problems).resolve(&mut problems);
    Parts {
        url,
        description,
        status,
        auth,
        events,
    }
    .finish(problems)
}

/// A change to `current`: every field optional. Changing `auth_type` drops the credential field
/// of the old type unless the request gives it again.
pub(crate) fn validate_update(
    current: &Webhook,
    object: &Map<String, Value>,
    allow_http_loopback: bool,
) -> Result<WebhookSpec, Vec<FieldProblem>> {
    let mut problems = Problems::default();
    let url = match text(object, "url", &mut problems) {
        Some(url) => check_url(url, allow_http_loopback, &mut problems),
        None => Some(current.url.clone()),
    };
    let description = Some(
        text(object, "description", &mut problems)
            .map_or_else(|| current.description.clone(), str::to_owned),
    );
    let status = match text(object, "status", &mut problems) {
        None => Some(current.status),
        given => check_status(given, &mut problems),
    };
    let events = check_events(object.get("enabled_events"), &mut problems)
        .or_else(|| Some(current.enabled_events.clone()));
    let mut auth_fields = AuthFields::read(object, &mut problems);
    let auth = if auth_fields.any_given() {
        let new_type = auth_fields
            .auth_type
            .clone()
            .unwrap_or_else(|| current.auth.type_name().to_owned());
        match &current.auth {
            DeliveryAuth::Token(token) if new_type == "TOKEN" && auth_fields.token.is_none() => {
                auth_fields.token = Some(token.clone());
            }
            DeliveryAuth::Custom(headers)
                if new_type == "CUSTOM" && auth_fields.custom_headers.is_none() =>
            {
                auth_fields.custom_headers = Some(headers.clone());
            }
            _ => {}
        }
        auth_fields.auth_type = Some(new_type);
        auth_fields.resolve(&mut problems)
    } else {
        Some(current.auth.clone())
    };
    Parts {
        url,
        description,
        status,
        auth,
        events,
    }
    .finish(problems)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn create(body: Value) -> Result<WebhookSpec, Vec<FieldProblem>> {
        validate_create(body.as_object().unwrap(), false)
    }

    fn fields(problems: &[FieldProblem]) -> Vec<(&str, Severity)> {
        problems
            .iter()
            .map(|problem| (problem.field.as_str(), problem.severity))
            .collect()
    }

    fn good() -> Value {
        json!({
            "url": "https://hooks.example.com/personio",
            "description": "LMS sync",
            "enabled_events": ["person.updated", "person.updated", "employment.updated"],
            "token": "s3cret",
        })
    }

    #[test]
    fn a_minimal_webhook_is_disabled_with_token_auth() {
        let spec = create(good()).unwrap();
        assert_eq!(spec.status, WebhookStatus::Disabled);
        assert_eq!(spec.auth, DeliveryAuth::Token("s3cret".to_owned()));
        assert_eq!(
            spec.enabled_events,
            [EventName::PersonUpdated, EventName::EmploymentUpdated]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let problems =
            create(json!({"description": 7, "status": "on", "enabled_events": "x"})).unwrap_err();
        assert_eq!(
            fields(&problems),
            [
                ("url", Severity::Malformed),
                ("description", Severity::Malformed),
                ("status", Severity::Malformed),
                ("enabled_events", Severity::Malformed),
                ("token", Severity::Unprocessable),
            ]
        );
        let problems = create(json!({
            "url": "http://hooks.example.com/x",
            "description": "d",
            "enabled_events": ["person.moved"],
            "auth_type": "CUSTOM",
            "token": "t",
            "custom_headers": {"Content-Type-X": "a", "X-A": "1", "X-B": "2", "X-C": "3"},
        }))
        .unwrap_err();
        assert_eq!(
            fields(&problems),
            [
                ("url", Severity::Unprocessable),
                ("enabled_events", Severity::Unprocessable),
                ("custom_headers", Severity::Unprocessable),
                ("custom_headers", Severity::Unprocessable),
                ("token", Severity::Unprocessable),
            ]
        );
    }

    #[test]
    fn http_is_only_for_loopback_and_only_when_allowed() {
        let with_url = |url: &str| {
            let mut body = good();
            body["url"] = Value::from(url);
            body
        };
        let object = with_url("http://127.0.0.1:9000/hook");
        assert!(create(object.clone()).is_err());
        assert!(validate_create(object.as_object().unwrap(), true).is_ok());
        for url in ["http://localhost/x", "http://[::1]:80/x"] {
            assert!(
                validate_create(with_url(url).as_object().unwrap(), true).is_ok(),
                "{url}"
            );
        }
        for url in ["http://10.0.0.1/x", "ftp://127.0.0.1/x", "not a url"] {
            assert!(
                validate_create(with_url(url).as_object().unwrap(), true).is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn custom_headers_replace_the_token_and_updates_switch_cleanly() {
        let custom = create(json!({
            "url": "https://h.example.com",
            "description": "d",
            "enabled_events": ["person.created"],
            "auth_type": "CUSTOM",
            "custom_headers": {"X-Api-Key": "k1", "Authorization": "Basic abc"},
        }))
        .unwrap();
        let current = Webhook {
            id: "w".to_owned(),
            url: custom.url,
            description: custom.description,
            status: custom.status,
            auth: custom.auth,
            enabled_events: custom.enabled_events,
        };
        let to_none = json!({"auth_type": "NONE", "status": "ENABLED"});
        let spec = validate_update(&current, to_none.as_object().unwrap(), false).unwrap();
        assert_eq!(
            (spec.auth, spec.status),
            (DeliveryAuth::None, WebhookStatus::Enabled)
        );
        let to_token = json!({"auth_type": "TOKEN"});
        let problems = validate_update(&current, to_token.as_object().unwrap(), false).unwrap_err();
        assert_eq!(fields(&problems), [("token", Severity::Unprocessable)]);
        let headers_only = json!({"custom_headers": {"X-Other": "v"}});
        let spec = validate_update(&current, headers_only.as_object().unwrap(), false).unwrap();
        assert_eq!(
            spec.auth,
            DeliveryAuth::Custom(vec![("X-Other".to_owned(), "v".to_owned())])
        );
        let unchanged = json!({"description": "new"});
        let spec = validate_update(&current, unchanged.as_object().unwrap(), false).unwrap();
        assert_eq!(spec.auth, current.auth);
        assert_eq!(spec.description, "new");
    }
}
