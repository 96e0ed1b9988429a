//! Request bodies, read field by field so that every error names the field at fault
//! (`personio.client_secret`, `settings.selection.attribute`) and none quotes a value: some of
//! these values are secrets.

use super::problem::ApiError;
use crate::domain::integration::{LmsConnection, PersonioConnection, SyncSchedule};
use crate::domain::settings::{IntegrationSettings, SettingsError};
use crate::ports::IntegrationCredentials;
use crate::secret::{Secret, without_values};
use serde_json::{Map, Value};

/// The longest integration name accepted.
const MAX_NAME_CHARS: usize = 200;
/// The longest interval of a schedule: once a day.
const MAX_EVERY_MINUTES: u64 = 1440;

/// Parses a JSON body. An empty body is `empty` (for the POST actions that take no input).
pub fn parse_json(body: &[u8], empty: Option<Value>) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace)
        && let Some(empty) = empty
    {
        return Ok(empty);
    }
    // serde_json's syntax errors name line and column and never quote the input.
    serde_json::from_slice(body).map_err(|error| ApiError::MalformedJson(error.to_string()))
}

/// `POST /integrations`.
#[derive(Debug)]
pub struct NewIntegration {
    pub name: String,
    pub personio: PersonioConnection,
    pub lms: LmsConnection,
    pub credentials: IntegrationCredentials,
    pub settings: IntegrationSettings,
    pub schedule: SyncSchedule,
}

/// `PUT /integrations/{id}`: every top-level field is optional; a given one replaces the
/// stored value (a given `personio` object replaces the whole Personio connection).
#[derive(Debug, Default)]
pub struct IntegrationChanges {
    pub name: Option<String>,
    pub personio: Option<PersonioConnection>,
    pub lms: Option<LmsConnection>,
    pub credentials: CredentialChanges,
    pub settings: Option<IntegrationSettings>,
    pub schedule: Option<SyncSchedule>,
    /// The version the client read (alternative to `If-Match`).
    pub version: Option<u64>,
}

/// The secrets a `PUT` rotates; those not given keep their stored value.
#[derive(Debug, Default)]
pub struct CredentialChanges {
    pub personio_client_id: Option<String>,
    pub personio_client_secret: Option<Secret>,
    pub lms_token: Option<Secret>,
}

impl CredentialChanges {
    pub fn is_empty(&self) -> bool {
        self.personio_client_id.is_none()
            && self.personio_client_secret.is_none()
            && self.lms_token.is_none()
    }

    /// The stored credentials with these changes applied. A secret not given keeps the origin
    /// it was given for; a given one gets its origin where the caller binds it.
    pub fn apply_to(self, stored: IntegrationCredentials) -> IntegrationCredentials {
        IntegrationCredentials {
            personio_client_id: self.personio_client_id.unwrap_or(stored.personio_client_id),
            personio_origin: stored
                .personio_origin
                .filter(|_| self.personio_client_secret.is_none()),
            scim_origin: stored.scim_origin.filter(|_| self.lms_token.is_none()),
            personio_client_secret: self
                .personio_client_secret
                .unwrap_or(stored.personio_client_secret),
            lms_token: self.lms_token.unwrap_or(stored.lms_token),
        }
    }

    /// All three, when all three are given (then the stored ones need not be read).
    pub fn complete(&self) -> Option<IntegrationCredentials> {
        Some(IntegrationCredentials::new(
            self.personio_client_id.clone()?,
            self.personio_client_secret.clone()?,
            self.lms_token.clone()?,
        ))
    }
}

impl NewIntegration {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let root = Fields::root(body)?;
        root.only(&["name", "personio", "lms", "settings", "schedule"])?;
        let personio = root.object("personio")?;
        personio.only(PERSONIO_FIELDS)?;
        let lms = root.object("lms")?;
        lms.only(LMS_FIELDS)?;
        Ok(Self {
            name: name(&root)?,
            personio: personio_connection(&personio)?,
            lms: lms_connection(&lms)?,
            credentials: IntegrationCredentials::new(
                personio.required_string("client_id")?,
                Secret::new(personio.required_string("client_secret")?),
                Secret::new(lms.required_string("token")?),
            ),
            settings: settings(root.required("settings")?)?,
            schedule: schedule(root.required("schedule")?)?,
        })
    }
}

impl IntegrationChanges {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let root = Fields::root(body)?;
        root.only(&["name", "personio", "lms", "settings", "schedule", "version"])?;
        let mut changes = Self::default();
        if root.has("name") {
            changes.name = Some(name(&root)?);
        }
        if let Some(personio) = root.optional_object("personio")? {
            personio.only(PERSONIO_FIELDS)?;
            changes.personio = Some(personio_connection(&personio)?);
            changes.credentials.personio_client_id = personio.optional_string("client_id")?;
            changes.credentials.personio_client_secret =
                personio.optional_string("client_secret")?.map(Secret::new);
        }
        if let Some(lms) = root.optional_object("lms")? {
            lms.only(LMS_FIELDS)?;
            changes.lms = Some(lms_connection(&lms)?);
            changes.credentials.lms_token = lms.optional_string("token")?.map(Secret::new);
        }
        if let Some(value) = root.get("settings") {
            changes.settings = Some(settings(value)?);
        }
        if let Some(value) = root.get("schedule") {
            changes.schedule = Some(schedule(value)?);
        }
        if let Some(value) = root.get("version") {
            changes.version = Some(
                value
                    .as_u64()
                    .ok_or_else(|| ApiError::invalid("version", "must be a positive integer"))?,
            );
        }
        Ok(changes)
    }
}

const PERSONIO_FIELDS: &[&str] = &[
    "base_url",
    "partner_id",
    "app_id",
    "client_id",
    "client_secret",
];
const LMS_FIELDS: &[&str] = &["scim_base_url", "token"];

fn name(root: &Fields<'_>) -> Result<String, ApiError> {
    let name = root.required_string("name")?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name)
}

fn personio_connection(personio: &Fields<'_>) -> Result<PersonioConnection, ApiError> {
    Ok(PersonioConnection {
        base_url: personio.optional_string("base_url")?,
        partner_id: personio.optional_string("partner_id")?,
        app_id: personio.optional_string("app_id")?,
    })
}

fn lms_connection(lms: &Fields<'_>) -> Result<LmsConnection, ApiError> {
    Ok(LmsConnection {
        scim_base_url: lms.required_string("scim_base_url")?,
    })
}

/// The integration settings, parsed and validated as every loader does; errors keep the field
/// path the settings module reports (`settings.selection.attribute`).
fn settings(value: &Value) -> Result<IntegrationSettings, ApiError> {
    let settings: IntegrationSettings = serde_json::from_value(value.clone())
        .map_err(|error| ApiError::invalid("settings", without_values(&error.to_string())))?;
    settings.validate().map_err(|error| match error {
        SettingsError::Invalid { field, message } => {
            ApiError::invalid(format!("settings.{field}"), message)
        }
        other => ApiError::invalid("settings", other.to_string()),
    })?;
    Ok(settings)
}

/// `"manual"` or `{"every_minutes": N}` with N from 1 to 1440.
fn schedule(value: &Value) -> Result<SyncSchedule, ApiError> {
    const EXPECTED: &str = r#"must be "manual" or {"every_minutes": N} with N from 1 to 1440"#;
    match value {
        Value::String(text) if text == "manual" => Ok(SyncSchedule::Manual),
        Value::Object(object) => {
            let fields = Fields {
                object,
                path: "schedule".into(),
            };
            fields.only(&["every_minutes"])?;
            let minutes = fields
                .required("every_minutes")?
                .as_u64()
                .filter(|minutes| (1..=MAX_EVERY_MINUTES).contains(minutes))
                .and_then(|minutes| u32::try_from(minutes).ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "schedule.every_minutes",
                        "must be an integer from 1 to 1440",
                    )
                })?;
            Ok(SyncSchedule::EveryMinutes(minutes))
        }
        _ => Err(ApiError::invalid("schedule", EXPECTED)),
    }
}

/// A JSON object with its path in the body, for error messages.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    /// `""` for the body itself, else `personio`, `lms`, …
    path: String,
}

impl<'a> Fields<'a> {
    fn root(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(object) => Ok(Self {
                object,
                path: String::new(),
            }),
            _ => Err(ApiError::invalid("body", "must be a JSON object")),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Rejects fields the API does not know: a misspelt `client_secret` must not be dropped
    /// silently.
    fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .object
            .keys()
            .find(|key| !known.contains(&key.as_str()))
        {
            Some(unknown) => Err(ApiError::invalid(
                self.field(unknown),
                format!("unknown field (expected one of: {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.object.contains_key(key)
    }

    /// The value, with `null` read as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|value| !value.is_null())
    }

    fn required(&self, key: &str) -> Result<&'a Value, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::invalid(self.field(key), "is required"))
    }

    fn object(&self, key: &str) -> Result<Fields<'a>, ApiError> {
        self.optional_object(key)?
            .ok_or_else(|| ApiError::invalid(self.field(key), "is required"))
    }

    fn optional_object(&self, key: &str) -> Result<Option<Fields<'a>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Fields {
                object,
                path: self.field(key),
            })),
            Some(_) => Err(ApiError::invalid(self.field(key), "must be a JSON object")),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, ApiError> {
        self.optional_string(key)?
            .ok_or_else(|| ApiError::invalid(self.field(key), "is required"))
    }

    /// A non-blank string, trimmed; `null` and absent are `None`. The messages never quote the
    /// value (it may be a secret).
    fn optional_string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => {
                Err(ApiError::invalid(self.field(key), "must not be empty"))
            }
            Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
            Some(_) => Err(ApiError::invalid(self.field(key), "must be a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid_body() -> Value {
        json!({
            "name": "ACME → Academy",
            "personio": {"client_id": "papi-id", "client_secret": "papi-s3cret"},
            "lms": {"scim_base_url": "https://lms.example.com/scim/v2", "token": "lms-t0ken"},
            "settings": {"selection": {"attribute": "LMS Sync"}},
            "schedule": {"every_minutes": 60}
        })
    }

    fn field_of(body: Value) -> (String, String) {
        match NewIntegration::parse(&body) {
            Err(ApiError::InvalidField { field, message }) => (field, message),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_complete_create_body() {
        let parsed = NewIntegration::parse(&valid_body()).expect("valid");
        assert_eq!(parsed.name, "ACME → Academy");
        assert_eq!(parsed.schedule, SyncSchedule::EveryMinutes(60));
        assert_eq!(
            parsed.credentials.personio_client_secret.expose(),
            "papi-s3cret"
        );
        assert_eq!(parsed.settings.selection.attribute, "LMS Sync");
        assert!(!format!("{parsed:?}").contains("s3cret"));
    }

    #[test]
    fn every_error_names_its_field_and_never_quotes_a_secret() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"personio": {"client_secret": 42}}),
                "personio.client_secret",
            ),
            (
                json!({"personio": {"client_secret": "  "}}),
                "personio.client_secret",
            ),
            (
                json!({"personio": {"client_secret": null}}),
                "personio.client_secret",
            ),
            (
                json!({"personio": {"clientsecret": "papi-s3cret"}}),
                "personio.clientsecret",
            ),
            (json!({"lms": {"token": ["lms-t0ken"]}}), "lms.token"),
            (json!({"lms": "https://x"}), "lms"),
            (
                json!({"settings": {"selection": {"attribute": " "}}}),
                "settings.selection.attribute",
            ),
            (json!({"settings": {"selection": {}}}), "settings"),
            (
                json!({"schedule": {"every_minutes": 0}}),
                "schedule.every_minutes",
            ),
            (
                json!({"schedule": {"every_minutes": 1441}}),
                "schedule.every_minutes",
            ),
            (json!({"schedule": "hourly"}), "schedule"),
            (json!({"name": "x".repeat(201)}), "name"),
            (json!({"extra": true}), "extra"),
        ];
        for (patch, expected) in cases {
            let mut body = valid_body();
            for (key, value) in patch.as_object().into_iter().flatten() {
                match (body.get_mut(key), value) {
                    (Some(Value::Object(target)), Value::Object(changes)) => {
                        for (inner, value) in changes {
                            target.insert(inner.clone(), value.clone());
                        }
                        if changes.is_empty() {
                            target.clear();
                        }
                    }
                    _ => {
                        body[key] = value.clone();
                    }
                }
            }
            let (field, message) = field_of(body);
            assert_eq!(field, expected, "{message}");
            assert!(
                !message.contains("s3cret") && !message.contains("t0ken"),
                "{message}"
            );
        }
        assert_eq!(field_of(json!([1])).0, "body");
    }

    #[test]
    fn changes_take_only_what_is_given() {
        let changes = IntegrationChanges::parse(&json!({
            "lms": {"scim_base_url": "https://lms.example.com/scim/v2", "token": "new"},
            "schedule": "manual",
            "version": 3
        }))
        .expect("valid");
        assert_eq!(changes.schedule, Some(SyncSchedule::Manual));
        assert_eq!(changes.version, Some(3));
        assert!(changes.name.is_none() && changes.settings.is_none() && changes.personio.is_none());
        assert!(!changes.credentials.is_empty());
        assert!(changes.credentials.complete().is_none());
        let stored =
            IntegrationCredentials::new("id", Secret::new("old-secret"), Secret::new("old"));
        let rotated = changes.credentials.apply_to(stored);
        assert_eq!(rotated.lms_token.expose(), "new");
        assert_eq!(rotated.personio_client_secret.expose(), "old-secret");
        let error = IntegrationChanges::parse(&json!({"version": -1})).err();
        assert!(matches!(error, Some(ApiError::InvalidField { field, .. }) if field == "version"));
    }

    #[test]
    fn malformed_json_names_the_position_and_empty_bodies_may_default() {
        let error = parse_json(b"{\"name\": }", None)
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("line 1 column 10")),
            "{error:?}"
        );
        assert_eq!(parse_json(b" \n", Some(json!({}))).ok(), Some(json!({})));
        assert!(parse_json(b"", None).is_err());
    }
}
