//! The CLI's configuration file: one integration, its endpoints, where secrets come from, where
//! state and emails go, and its [`IntegrationSettings`].
//!
//! ```toml
//! [integration]
//! id = "acme"
//! state = "acme.sqlite"            # default: <config dir>/<id>.sqlite
//! outbox = "outbox"                # default: <config dir>/outbox
//!
//! [personio]
//! base_url = "https://api.personio.de"
//! client_id = "papi-…"
//! client_secret_env = "PERSONIO_CLIENT_SECRET"
//!
//! [lms]
//! scim_base_url = "https://lms.example.com/scim/v2"
//! token_env = "LMS_SCIM_TOKEN"
//!
//! [smtp]                           # optional: without it emails go to the outbox
//! host = "smtp.example.com"
//! password_env = "SMTP_PASSWORD"
//!
//! [settings]
//! selection = { attribute = "LMS Sync" }
//! ```
//!
//! Relative paths are relative to the config file, so a config works from any directory.
//! Every problem is reported with the field's dotted name. Secrets are read from the environment
//! only by the commands that connect ([`CliConfig::credentials`], [`CliConfig::smtp`]): the
//! history and the ledger need none.

use common::app::{ConnectError, ConnectPolicy, check_connection};
use common::domain::IntegrationId;
use common::domain::integration::{LmsConnection, PersonioConnection};
use common::domain::settings::{IntegrationSettings, SettingsError, is_plausible_email};
use common::notify::{SmtpConfig, SmtpSecurity, check_security};
use common::personio::DEFAULT_BASE_URL;
use common::ports::IntegrationCredentials;
use common::secret::{Secret, without_values};
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Sender of the run-summary and invitation emails written to the outbox, unless configured.
pub const DEFAULT_EMAIL_FROM: &str = "personio-lms@localhost";

/// What the CLI connects to: what its operator configures, which may be a Personio sandbox or a
/// SCIM server on this machine (plain http to loopback), and https everywhere else.
pub const CONNECT_POLICY: ConnectPolicy = ConnectPolicy::LOCAL;

/// A configuration problem, naming the field (`personio.client_secret_env`) or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: String, message: String },
    /// Valid TOML that does not fit as a whole (e.g. a missing section).
    #[error("{path}: {message}")]
    Document { path: String, message: String },
    #[error("{path}: {field}: {message}")]
    Field {
        path: String,
        field: String,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    integration: RawIntegration,
    personio: RawPersonio,
    lms: RawLms,
    smtp: Option<RawSmtp>,
    settings: IntegrationSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    id: String,
    state: Option<PathBuf>,
    outbox: Option<PathBuf>,
    email_from: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersonio {
    base_url: Option<String>,
    client_id: String,
    client_secret_env: Option<String>,
    client_secret: Option<String>,
    partner_id: Option<String>,
    app_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLms {
    scim_base_url: String,
    token_env: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    security: Option<SmtpSecurity>,
    user: Option<String>,
    password_env: Option<String>,
    ca_file: Option<PathBuf>,
    timeout_seconds: Option<u64>,
}

/// The `[smtp]` section: where the CLI sends its mail. The password stays in the environment
/// until [`CliConfig::smtp`] reads it.
#[derive(Clone, Debug)]
pub struct SmtpSection {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub user: Option<String>,
    password_env: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub timeout: std::time::Duration,
}

/// Where a secret comes from: an environment variable (preferred) or the file itself.
#[derive(Clone, Debug)]
enum SecretSource {
    Variable(String),
    Literal(Secret),
}

/// The secrets of the connection, not read yet.
#[derive(Clone, Debug)]
struct SecretSources {
    client_secret: SecretSource,
    token: SecretSource,
}

/// A loaded, validated configuration with its secrets resolved.
pub struct CliConfig {
    pub path: PathBuf,
    pub integration_id: IntegrationId,
    pub state_path: PathBuf,
    pub outbox: PathBuf,
    pub email_from: String,
    pub personio: PersonioConnection,
    pub lms: LmsConnection,
    personio_client_id: String,
    secrets: SecretSources,
    /// Where emails are sent; `None`: written to the outbox.
    pub smtp: Option<SmtpSection>,
    pub settings: IntegrationSettings,
    /// Fields that hold a literal secret (allowed, but the user is warned).
    pub literal_secrets: Vec<&'static str>,
}

/// Where environment variables come from; a parameter so tests need not touch the process's.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl CliConfig {
    /// Reads and validates the file; reads no secret (see [`Self::credentials`]).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as the file at `path` (used to resolve relative paths and in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let field = |field: &str, message: String| ConfigError::Field {
            path: shown.clone(),
            field: field.to_owned(),
            message,
        };
        let document: RawDocument = toml::from_str(text).map_err(|error| {
            // Never the value: it may be a secret typed into the wrong field.
            let message = without_values(error.message().trim());
            match error.span().map(|span| field_at(text, span)) {
                Some(Ok(Some(name))) => field(&name, message),
                // Well-formed, but about the document as a whole (a missing section).
                Some(Ok(None)) => ConfigError::Document {
                    path: shown.clone(),
                    message,
                },
                Some(Err(())) | None => ConfigError::Syntax {
                    path: shown.clone(),
                    message: syntax_message(text, &error),
                },
            }
        })?;
        let RawDocument {
            integration,
            personio,
            lms,
            smtp,
            settings,
        } = document;
        settings.validate().map_err(|error| match error {
            SettingsError::Invalid { field, message } => ConfigError::Field {
                path: shown.clone(),
                field: format!("settings.{field}"),
                message,
            },
            other => field("settings", other.to_string()),
        })?;

        if integration.id.trim().is_empty() {
            return Err(field("integration.id", "must not be empty".into()));
        }
        let places = Places::of(integration, path, &field)?;
        let connection = Connection::resolve(personio, lms, &field)?;
        let smtp = smtp
            .map(|raw| SmtpSection::of(raw, &places.base_dir, &field))
            .transpose()?;
        Ok(Self {
            path: path.to_owned(),
            integration_id: places.integration_id,
            state_path: places.state_path,
            outbox: places.outbox,
            email_from: places.email_from,
            personio: connection.personio,
            lms: connection.lms,
            personio_client_id: connection.personio_client_id,
            secrets: connection.secrets,
            smtp,
            settings,
            literal_secrets: connection.literal_secrets,
        })
    }

    fn field_error(&self, field: &str, message: String) -> ConfigError {
        ConfigError::Field {
            path: self.path.display().to_string(),
            field: field.to_owned(),
            message,
        }
    }

    /// The connection's secrets, read now (from the environment or the file): only commands
    /// that talk to Personio or the LMS call this.
    pub fn credentials(
        &self,
        env: &dyn Environment,
    ) -> Result<IntegrationCredentials, ConfigError> {
        let field = |name: &str, message: String| self.field_error(name, message);
        Ok(IntegrationCredentials::new(
            self.personio_client_id.clone(),
            resolve(
                "personio.client_secret",
                &self.secrets.client_secret,
                env,
                &field,
            )?,
            resolve("lms.token", &self.secrets.token, env, &field)?,
        ))
    }

    /// The SMTP settings with the password read now; `None` without an `[smtp]` section.
    pub fn smtp(&self, env: &dyn Environment) -> Result<Option<SmtpConfig>, ConfigError> {
        let Some(section) = &self.smtp else {
            return Ok(None);
        };
        let field = |name: &str, message: String| self.field_error(name, message);
        let password = section
            .password_env
            .as_ref()
            .map(|variable| {
                resolve(
                    "smtp.password",
                    &SecretSource::Variable(variable.clone()),
                    env,
                    &field,
                )
            })
            .transpose()?;
        let extra_roots_pem = section
            .ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|error| {
                    field(
                        "smtp.ca_file",
                        format!("cannot read {}: {error}", path.display()),
                    )
                })
            })
            .transpose()?;
        Ok(Some(SmtpConfig {
            host: section.host.clone(),
            port: section.port,
            security: section.security,
            user: section.user.clone(),
            password,
            from: self.email_from.clone(),
            extra_roots_pem,
            timeout: section.timeout,
        }))
    }
}

impl SmtpSection {
    fn of(raw: RawSmtp, base_dir: &Path, field: FieldError) -> Result<Self, ConfigError> {
        let host = raw.host.trim().to_owned();
        if host.is_empty() {
            return Err(field("smtp.host", "must not be empty".into()));
        }
        let security = raw.security.unwrap_or(SmtpSecurity::Starttls);
        check_security(&host, security).map_err(|error| match error {
            common::notify::SmtpSetupError::Invalid {
                field: name,
                message,
            } => field(&format!("smtp.{name}"), message),
        })?;
        match (&raw.user, &raw.password_env) {
            (Some(_), None) => {
                return Err(field(
                    "smtp.password_env",
                    "missing (name the environment variable that holds the SMTP password)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(field(
                    "smtp.user",
                    "missing (the password needs a user)".into(),
                ));
            }
            _ => {}
        }
        if raw.timeout_seconds == Some(0) {
            return Err(field("smtp.timeout_seconds", "must be at least 1".into()));
        }
        Ok(Self {
            host,
            port: raw.port.unwrap_or_else(|| security.default_port()),
            security,
            user: raw.user,
            password_env: raw.password_env,
            ca_file: raw.ca_file.map(|path| {
                if path.is_absolute() {
                    path
                } else {
                    base_dir.join(path)
                }
            }),
            timeout: std::time::Duration::from_secs(raw.timeout_seconds.unwrap_or(30)),
        })
    }
}

/// A config problem naming its field (`field("personio.base_url", message)`).
type FieldError<'a> = &'a dyn Fn(&str, String) -> ConfigError;

/// The `[integration]` section resolved: its id, and where its state and emails go.
struct Places {
    base_dir: PathBuf,
    integration_id: IntegrationId,
    state_path: PathBuf,
    outbox: PathBuf,
    email_from: String,
}

impl Places {
    fn of(
        integration: RawIntegration,
        path: &Path,
        field: FieldError,
    ) -> Result<Self, ConfigError> {
        // A bare file name has the empty path as its parent, and joining onto it keeps the
        // relative path as it is, which is right: relative to the working directory.
        let base_dir = path.parent().unwrap_or(Path::new(""));
        let relative = |configured: Option<PathBuf>, default: PathBuf| {
            let chosen = configured.unwrap_or(default);
            if chosen.is_absolute() {
                chosen
            } else {
                base_dir.join(chosen)
            }
        };
        let state_path = relative(
            integration.state,
            PathBuf::from(format!("{}.sqlite", file_safe(&integration.id))),
        );
        let outbox = relative(integration.outbox, PathBuf::from("outbox"));
        let email_from = integration
            .email_from
            .unwrap_or_else(|| DEFAULT_EMAIL_FROM.to_owned());
        if !is_plausible_email(&email_from) {
            return Err(field(
                "integration.email_from",
                format!("{email_from:?} is not an email address"),
            ));
        }
        Ok(Self {
            base_dir: base_dir.to_owned(),
            integration_id: IntegrationId::new(integration.id.trim()),
            state_path,
            outbox,
            email_from,
        })
    }
}

/// The `[personio]` and `[lms]` sections resolved: the connection settings (checked against the
/// CLI's [`CONNECT_POLICY`]) and where the secrets come from.
struct Connection {
    personio: PersonioConnection,
    lms: LmsConnection,
    personio_client_id: String,
    secrets: SecretSources,
    literal_secrets: Vec<&'static str>,
}

impl Connection {
    fn resolve(personio: RawPersonio, lms: RawLms, field: FieldError) -> Result<Self, ConfigError> {
        let mut literal_secrets = Vec::new();
        let client_secret = secret_source(
            "personio.client_secret",
            personio.client_secret,
            personio.client_secret_env,
            field,
        )?;
        if matches!(client_secret, SecretSource::Literal(_)) {
            literal_secrets.push("personio.client_secret");
        }
        let token = secret_source("lms.token", lms.token, lms.token_env, field)?;
        if matches!(token, SecretSource::Literal(_)) {
            literal_secrets.push("lms.token");
        }
        if personio.client_id.trim().is_empty() {
            return Err(field("personio.client_id", "must not be empty".into()));
        }
        let connection = Self {
            personio: PersonioConnection {
                base_url: Some(
                    personio
                        .base_url
                        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
                ),
                partner_id: personio.partner_id,
                app_id: personio.app_id,
            },
            lms: LmsConnection {
                scim_base_url: lms.scim_base_url,
            },
            personio_client_id: personio.client_id.trim().to_owned(),
            secrets: SecretSources {
                client_secret,
                token,
            },
            literal_secrets,
        };
        check_connection(&connection.personio, &connection.lms, &CONNECT_POLICY).map_err(
            |error| match error {
                ConnectError::Url {
                    field: name,
                    reason,
                } => field(name, reason),
                other => field("personio", other.to_string()),
            },
        )?;
        Ok(connection)
    }
}

/// A secret from `NAME_env` (the variable's name) or, discouraged, `NAME` (the literal value).
fn secret_source(
    name: &str,
    literal: Option<String>,
    variable: Option<String>,
    field: FieldError,
) -> Result<SecretSource, ConfigError> {
    let env_field = format!("{name}_env");
    match (literal, variable) {
        (Some(_), Some(_)) => Err(field(
            name,
            format!("set either {name} or {env_field}, not both"),
        )),
        (None, None) => Err(field(
            &env_field,
            "missing (name the environment variable that holds the secret)".into(),
        )),
        (Some(literal), None) if literal.is_empty() => Err(field(name, "must not be empty".into())),
        (Some(literal), None) => Ok(SecretSource::Literal(Secret::new(literal))),
        (None, Some(variable)) if variable.trim().is_empty() => {
            Err(field(&env_field, "must not be empty".into()))
        }
        (None, Some(variable)) => Ok(SecretSource::Variable(variable)),
    }
}

/// The secret's value, read from the environment now.
fn resolve(
    name: &str,
    source: &SecretSource,
    env: &dyn Environment,
    field: FieldError,
) -> Result<Secret, ConfigError> {
    let env_field = format!("{name}_env");
    match source {
        SecretSource::Literal(secret) => Ok(secret.clone()),
        SecretSource::Variable(variable) => match env.var(variable) {
            Some(value) if !value.is_empty() => Ok(Secret::new(value)),
            Some(_) => Err(field(
                &env_field,
                format!("environment variable {variable} is empty"),
            )),
            None => Err(field(
                &env_field,
                format!("environment variable {variable} is not set"),
            )),
        },
    }
}

/// The dotted name of the key an error's span points at (`personio.client_id`,
/// `settings.status.active.lms_status`, `settings.groups.by[1]`), for errors whose message names
/// only the problem, not the place. `Ok(None)`: the span is about the whole document;
/// `Err`: the text is not even well-formed TOML.
fn field_at(text: &str, span: Range<usize>) -> Result<Option<String>, ()> {
    let document = toml::de::DeTable::parse(text).map_err(|_| ())?;
    // toml reports a field missing from the document itself with the empty span at its start.
    if span == (0..0) {
        return Ok(None);
    }
    let span = span.start..span.end.max(span.start + 1);
    let mut path = Vec::new();
    descend_table(document.get_ref(), &span, &mut path);
    Ok((!path.is_empty()).then(|| path.join(".")))
}

fn covers(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn descend_table(table: &toml::de::DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) {
    for (key, value) in table {
        if covers(&key.span(), span) {
            path.push(key.get_ref().to_string());
            return;
        }
        if covers(&value.span(), span) {
            path.push(key.get_ref().to_string());
            descend_value(value.get_ref(), span, path);
            return;
        }
    }
    // An error spanning several keys is about this table itself (a missing field).
    let keys_inside = table.keys().filter(|key| covers(span, &key.span())).count();
    if keys_inside > 1 {
        return;
    }
    // A `[header]` table's span covers only its header line, so a span in a table's body is in
    // the table whose header comes last before it (looking into `[a.b]` sub-headers too).
    let enclosing = table
        .iter()
        .filter_map(|(key, value)| match value.get_ref() {
            toml::de::DeValue::Table(inner) => {
                latest_header(key.span().start, inner, span.start).map(|start| (start, key, inner))
            }
            _ => None,
        })
        .max_by_key(|(start, _, _)| *start);
    if let Some((_, key, inner)) = enclosing {
        path.push(key.get_ref().to_string());
        descend_table(inner, span, path);
    }
}

/// The start of the last header at or before `offset` within a table and its sub-tables.
fn latest_header(start: usize, table: &toml::de::DeTable<'_>, offset: usize) -> Option<usize> {
    let own = (start <= offset).then_some(start);
    table
        .iter()
        .filter_map(|(key, value)| match value.get_ref() {
            toml::de::DeValue::Table(inner) => latest_header(key.span().start, inner, offset),
            _ => None,
        })
        .chain(own)
        .max()
}

fn descend_value(value: &toml::de::DeValue<'_>, span: &Range<usize>, path: &mut Vec<String>) {
    match value {
        toml::de::DeValue::Table(table) => descend_table(table, span, path),
        toml::de::DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if covers(&item.span(), span) {
                    if let Some(last) = path.last_mut() {
                        last.push_str(&format!("[{index}]"));
                    }
                    descend_value(item.get_ref(), span, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

fn syntax_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message.to_owned(),
    }
}

/// The integration id as a file name (state file default).
fn file_safe(id: &str) -> String {
    id.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The commented example configuration `init-config` prints (and `examples/` holds).
pub fn example_config() -> String {
    format!(
        "{}\n[settings]\n{}",
        EXAMPLE_CONFIG_HEAD.trim_start(),
        indent_settings(common::domain::settings::EXAMPLE_SETTINGS_TOML)
    )
}

const EXAMPLE_CONFIG_HEAD: &str = r#"
# personio-lms configuration: one integration between Personio and a SCIM learning platform.
# Relative paths are relative to this file. Secrets come from environment variables (preferred);
# `client_secret = "…"` / `token = "…"` in this file work too, with a warning.

[integration]
id = "acme"                                  # names the integration in state, runs and jobs
# state = "acme.sqlite"                      # SQLite state file (default: <id>.sqlite here)
# outbox = "outbox"                          # .eml files of invitations and run summaries
# email_from = "personio-lms@localhost"      # sender written into those emails

[personio]
base_url = "https://api.personio.de"         # the sandbox: http://127.0.0.1:PORT
client_id = "papi-00000000-0000-0000-0000-000000000000"
client_secret_env = "PERSONIO_CLIENT_SECRET" # or: client_secret = "papi-…"
# partner_id = "ACME_PARTNER"                # X-Personio-Partner-ID header (optional)
# app_id = "ACME_LMS_SYNC"                   # X-Personio-App-ID header (optional)

[lms]
scim_base_url = "https://lms.example.com/scim/v2"
token_env = "LMS_SCIM_TOKEN"                 # or: token = "…"

# Without [smtp], invitations and run summaries are written to the outbox, not sent.
# [smtp]
# host = "smtp.example.com"
# port = 587                                 # default: 587 starttls, 465 tls, 25 none
# security = "starttls"                      # starttls | tls | none (none: localhost only)
# user = "lms-sync@example.com"              # omit both for a relay that needs no login
# password_env = "SMTP_PASSWORD"
# ca_file = "company-ca.pem"                 # a CA the system does not trust already
# timeout_seconds = 30
"#;

/// `EXAMPLE_SETTINGS_TOML` as the `[settings]` section: its tables become `[settings.…]`.
fn indent_settings(settings: &str) -> String {
    settings
        .trim_start()
        .lines()
        .map(|line| match line.strip_prefix('[') {
            Some(rest) if !line.starts_with("[[") => format!("[settings.{rest}"),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, &'static str>);

    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|value| (*value).to_owned())
        }
    }

    fn env() -> FakeEnv {
        FakeEnv(HashMap::from([
            ("PERSONIO_CLIENT_SECRET", "papi-secret-value"),
            ("LMS_SCIM_TOKEN", "scim-token-value"),
        ]))
    }

    const MINIMAL: &str = r#"
[integration]
id = "acme"

[personio]
base_url = "http://127.0.0.1:8090"
client_id = "papi-id"
client_secret_env = "PERSONIO_CLIENT_SECRET"

[lms]
scim_base_url = "http://127.0.0.1:8091/v2/"
token_env = "LMS_SCIM_TOKEN"

[settings]
selection = { attribute = "LMS Sync" }
"#;

    fn parse(text: &str) -> Result<CliConfig, ConfigError> {
        CliConfig::parse(text, Path::new("/etc/lms/acme.toml"))
    }

    /// The first problem of the file or, when it is valid, of its secrets.
    fn error(text: &str) -> String {
        match parse(text).and_then(|config| config.credentials(&env()).map(|_| config)) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_minimal_config_gets_defaults_next_to_the_file() {
        let config = parse(MINIMAL).expect("valid");
        let credentials = config.credentials(&env()).expect("secrets set");
        assert_eq!(config.integration_id.as_str(), "acme");
        assert_eq!(config.state_path, Path::new("/etc/lms/acme.sqlite"));
        assert_eq!(config.outbox, Path::new("/etc/lms/outbox"));
        assert_eq!(
            credentials.personio_client_secret.expose(),
            "papi-secret-value"
        );
        assert_eq!(
            config.personio.base_url.as_deref(),
            Some("http://127.0.0.1:8090")
        );
        assert_eq!(config.lms.scim_base_url, "http://127.0.0.1:8091/v2/");
        assert_eq!(credentials.lms_token.expose(), "scim-token-value");
        assert_eq!(config.settings, IntegrationSettings::new("LMS Sync"));
        assert!(config.literal_secrets.is_empty());
        assert!(config.smtp.is_none());
    }

    #[test]
    fn the_file_loads_without_secrets_and_connecting_asks_for_them() {
        let config = parse(MINIMAL).expect("no secret is read on load");
        let empty = FakeEnv(HashMap::new());
        let message = config
            .credentials(&empty)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert_eq!(
            message,
            "/etc/lms/acme.toml: personio.client_secret_env: environment variable \
             PERSONIO_CLIENT_SECRET is not set"
        );
    }

    #[test]
    fn an_smtp_section_gets_defaults_and_its_password_when_asked() {
        let text = format!(
            "{MINIMAL}\n[smtp]\nhost = \"smtp.example.com\"\nuser = \"lms@example.com\"\n\
             password_env = \"SMTP_PASSWORD\"\nca_file = \"ca.pem\"\n"
        );
        let config = parse(&text).expect("valid");
        let section = config.smtp.clone().expect("an smtp section");
        assert_eq!(section.port, 587);
        assert_eq!(section.security, SmtpSecurity::Starttls);
        assert_eq!(
            section.ca_file.as_deref(),
            Some(Path::new("/etc/lms/ca.pem"))
        );
        let message = config
            .smtp(&env())
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("smtp.password_env: environment variable SMTP_PASSWORD is not set"),
            "{message}"
        );

        let plain =
            format!("{MINIMAL}\n[smtp]\nhost = \"mail.example.com\"\nsecurity = \"none\"\n");
        let message = error(&plain);
        assert!(message.contains(": smtp.security: \"none\""), "{message}");
        let no_password = format!("{MINIMAL}\n[smtp]\nhost = \"smtp.example.com\"\nuser = \"x\"\n");
        assert!(error(&no_password).contains("smtp.password_env: missing"));
        let tls = format!("{MINIMAL}\n[smtp]\nhost = \"smtp.example.com\"\nsecurity = \"tls\"\n");
        let section = parse(&tls).expect("valid").smtp.expect("smtp");
        assert_eq!(section.port, 465);
    }

    #[test]
    fn a_missing_environment_variable_names_the_field_and_the_variable() {
        let text = MINIMAL.replace("\"PERSONIO_CLIENT_SECRET\"", "\"NOT_SET_ANYWHERE\"");
        assert_eq!(
            error(&text),
            "/etc/lms/acme.toml: personio.client_secret_env: environment variable \
             NOT_SET_ANYWHERE is not set"
        );
    }

    #[test]
    fn a_literal_secret_is_accepted_and_flagged() {
        let text = MINIMAL.replace("token_env = \"LMS_SCIM_TOKEN\"", "token = \"literal\"");
        let config = parse(&text).expect("valid");
        assert_eq!(config.literal_secrets, vec!["lms.token"]);
        let credentials = config.credentials(&env()).expect("secrets");
        assert_eq!(credentials.lms_token.expose(), "literal");
    }

    #[test]
    fn both_or_neither_secret_source_is_an_error() {
        let both = MINIMAL.replace(
            "token_env = \"LMS_SCIM_TOKEN\"",
            "token_env = \"LMS_SCIM_TOKEN\"\ntoken = \"x\"",
        );
        assert!(error(&both).contains("lms.token: set either lms.token or lms.token_env"));
        let neither = MINIMAL.replace("token_env = \"LMS_SCIM_TOKEN\"", "");
        assert!(error(&neither).contains("lms.token_env: missing"));
    }

    #[test]
    fn bad_fields_are_named() {
        let bad_url = MINIMAL.replace("http://127.0.0.1:8090", "ftp://x");
        assert!(error(&bad_url).contains("personio.base_url: \"ftp://x\" must be an http(s) URL"));
        // The same rule as every other host's: plain http only to loopback.
        let insecure = MINIMAL.replace("http://127.0.0.1:8091/v2/", "http://lms.example.com/v2/");
        let message = error(&insecure);
        assert!(
            message.contains(": lms.scim_base_url: \"http://lms.example.com/v2/\" must use https"),
            "{message}"
        );
        let unknown = MINIMAL.replace(
            "client_id = \"papi-id\"",
            "client_id = \"papi-id\"\nclientid = 1",
        );
        let message = error(&unknown);
        assert!(
            message.contains("personio.clientid: unknown field `clientid`"),
            "{message}"
        );
        let settings = MINIMAL.replace(
            "selection = { attribute = \"LMS Sync\" }",
            "selection = { attribute = \"LMS Sync\" }\napply_concurrency = 0",
        );
        let message = error(&settings);
        assert!(
            message.contains(": settings.apply_concurrency: "),
            "{message}"
        );
        let missing = MINIMAL.replace("[lms]", "[lms_typo]");
        let message = error(&missing);
        assert!(
            message.contains("lms_typo: unknown field `lms_typo`"),
            "{message}"
        );
        let syntax = MINIMAL.replace("id = \"acme\"", "id = ");
        assert!(
            error(&syntax).contains("not valid TOML: line 3"),
            "{}",
            error(&syntax)
        );
    }

    #[test]
    fn type_errors_and_missing_fields_name_their_place() {
        let wrong_type = MINIMAL.replace("client_id = \"papi-id\"", "client_id = 5");
        let message = error(&wrong_type);
        assert!(
            message.contains(": personio.client_id: invalid type: integer, expected a string"),
            "{message}"
        );
        let nested = MINIMAL.replace("attribute = \"LMS Sync\"", "attribute = 3");
        let message = error(&nested);
        assert!(
            message.contains(": settings.selection.attribute: invalid type"),
            "{message}"
        );
        let listed = MINIMAL.replace(
            "selection = { attribute = \"LMS Sync\" }",
            "selection = { attribute = \"LMS Sync\" }\ngroups = { by = [\"team\", \"floor\"] }",
        );
        let message = error(&listed);
        assert!(
            message.contains(": settings.groups.by[1]: unknown variant, expected one of"),
            "{message}"
        );
        let no_client_id = MINIMAL.replace("client_id = \"papi-id\"", "");
        let lms_block = "[lms]\nscim_base_url = \"http://127.0.0.1:8091/v2/\"\ntoken_env = \"LMS_SCIM_TOKEN\"\n";
        assert!(MINIMAL.contains(lms_block));
        let message = error(&MINIMAL.replace(lms_block, ""));
        assert_eq!(message, "/etc/lms/acme.toml: missing field `lms`");
        let message = error(MINIMAL.replace(lms_block, "").trim_start());
        assert_eq!(message, "/etc/lms/acme.toml: missing field `lms`");
        let message = error(&no_client_id);
        assert!(
            message.contains(": personio: missing field `client_id`"),
            "{message}"
        );
        // A [settings.…] sub-table written after another section still names its place.
        let settings_block = "[settings]\nselection = { attribute = \"LMS Sync\" }\n";
        let reordered = MINIMAL
            .replace(settings_block, "")
            .replace("[lms]", &format!("{settings_block}\n[lms]"))
            + "\n[settings.status]\nactive = { lms_status = 5, active = true }\n";
        assert!(reordered.find("[lms]") > reordered.find("[settings]"));
        let message = error(&reordered);
        assert!(
            message.contains(": settings.status.active.lms_status: invalid type"),
            "{message}"
        );
    }

    /// A secret typed with the wrong type, or into the wrong field, is reported by field and
    /// type: the value is never echoed.
    #[test]
    fn a_mistyped_secret_is_named_by_field_and_type_never_by_value() {
        let cases = [
            (
                MINIMAL.replace(
                    "client_secret_env = \"PERSONIO_CLIENT_SECRET\"",
                    "client_secret = 90817263544",
                ),
                "personio.client_secret: invalid type: integer, expected a string",
                "90817263544",
            ),
            (
                MINIMAL.replace(
                    "token_env = \"LMS_SCIM_TOKEN\"",
                    "token = [\"scim-t0ken-in-a-list\"]",
                ),
                "lms.token: invalid type: sequence, expected a string",
                "scim-t0ken-in-a-list",
            ),
            (
                MINIMAL.replace(
                    "selection = { attribute = \"LMS Sync\" }",
                    "selection = { attribute = \"LMS Sync\" }\napply_concurrency = \"papi-s3cret\"",
                ),
                "settings.apply_concurrency: invalid type: string, expected usize",
                "papi-s3cret",
            ),
            (
                MINIMAL.replace(
                    "selection = { attribute = \"LMS Sync\" }",
                    "selection = { attribute = \"LMS Sync\" }\ngroups = { by = [\"papi-s3cret\"] }",
                ),
                "settings.groups.by[0]: unknown variant, expected one of",
                "papi-s3cret",
            ),
        ];
        let unquoted = MINIMAL.replace(
            "client_secret_env = \"PERSONIO_CLIENT_SECRET\"",
            "client_secret = papi-unquoted-s3cret",
        );
        let message = error(&unquoted);
        assert!(message.contains("not valid TOML: line 8"), "{message}");
        assert!(!message.contains("unquoted-s3cret"), "{message}");
        for (text, expected, value) in cases {
            let message = error(&text);
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains(value), "{message}");
        }
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let config = parse(MINIMAL).expect("valid");
        let shown = format!(
            "{:?} {:?} {:?}",
            config.personio,
            config.lms,
            config.credentials(&env()).expect("secrets")
        );
        assert!(!shown.contains("papi-secret-value"));
        assert!(!shown.contains("scim-token-value"));
    }

    #[test]
    fn the_example_config_parses_with_every_settings_field() {
        let config =
            CliConfig::parse(&example_config(), Path::new("x.toml")).expect("the example is valid");
        let settings = common::domain::settings::IntegrationSettings::from_toml_str(
            common::domain::settings::EXAMPLE_SETTINGS_TOML,
        )
        .expect("valid settings");
        assert_eq!(config.settings, settings);
        assert_eq!(config.state_path, Path::new("acme.sqlite"));
    }
}
