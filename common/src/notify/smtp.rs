//! An SMTP notifier for hosts that send their own mail (the CLI): the message is the outbox's
//! (`render_eml`, one rendering for both), delivered by `lettre` over rustls.
//!
//! Retryable versus permanent is decided here, once: a 4xx reply, a refused or dropped
//! connection and a timeout are `Unavailable` (retryable); a 5xx reply (an unknown recipient, a
//! rejected login) is `Rejected`.

use super::outbox::render_eml;
use crate::ports::{Notifier, NotifyError, OutgoingEmail};
use crate::secret::Secret;
use async_trait::async_trait;
use chrono::Utc;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::fmt;
use std::time::Duration;

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this machine.
    None,
}

impl SmtpSecurity {
    /// The port usually paired with this security.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Starttls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// Where and how to send. The password is a [`Secret`]: it never prints.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Login; `None` sends without authenticating (a relay that trusts this host).
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// The sender of every message (envelope and `From:`).
    pub from: String,
    /// Extra trust anchors (PEM), for a server whose certificate a company CA signed.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Per SMTP command (connect, each reply).
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot work, naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

fn invalid(field: &'static str, message: impl Into<String>) -> SmtpSetupError {
    SmtpSetupError::Invalid {
        field,
        message: message.into(),
    }
}

pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
    /// `host:port`, for messages.
    server: String,
}

impl SmtpNotifier {
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpSetupError> {
        let host = config.host.trim().to_owned();
        if host.is_empty() {
            return Err(invalid("host", "must not be empty"));
        }
        check_security(&host, config.security)?;
        if !crate::domain::settings::is_plausible_email(&config.from) {
            return Err(invalid(
                "from",
                format!("{:?} is not an email address", config.from),
            ));
        }
        let tls = match config.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls_parameters(&host, &config)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(&host, &config)?),
        };
        let hello = config
            .from
            .rsplit_once('@')
            .map_or_else(|| "localhost".to_owned(), |(_, domain)| domain.to_owned());
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(config.port)
            .tls(tls)
            .hello_name(ClientId::Domain(hello))
            .timeout(Some(config.timeout));
        match (&config.user, &config.password) {
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (Some(_), None) => return Err(invalid("password", "a user needs a password")),
            (None, Some(_)) => return Err(invalid("user", "a password needs a user")),
            (None, None) => {}
        }
        Ok(Self {
            transport: builder.build(),
            from: config.from,
            server: format!("{host}:{}", config.port),
        })
    }

    /// `host:port` of the mail server.
    pub fn server(&self) -> &str {
        &self.server
    }
}

fn tls_parameters(host: &str, config: &SmtpConfig) -> Result<TlsParameters, SmtpSetupError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(pem) = &config.extra_roots_pem {
        // lettre takes a PEM without certificates as an empty list; that is a mistake here.
        if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(invalid("ca_file", "holds no PEM certificate"));
        }
        let certificate = Certificate::from_pem(pem)
            .map_err(|error| invalid("ca_file", format!("not a PEM certificate: {error}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|error| invalid("security", format!("cannot set up TLS: {error}")))
}

/// Plain SMTP only to a relay on this machine: mail and password would cross the network
/// unencrypted. Config loaders call this too, so the rule has one home.
pub fn check_security(host: &str, security: SmtpSecurity) -> Result<(), SmtpSetupError> {
    if security == SmtpSecurity::None && !is_loopback_host(host.trim()) {
        return Err(invalid(
            "security",
            format!(
                "\"none\" sends mail and the password unencrypted, so it is only allowed to a \
                 relay on this machine (localhost), not {host:?}; use \"starttls\" or \"tls\""
            ),
        ));
    }
    Ok(())
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[async_trait]
impl Notifier for SmtpNotifier {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let unique = uuid::Uuid::new_v4().to_string();
        let message = render_eml(email, &self.from, Utc::now(), &unique)?;
        let address = |value: &str| {
            value
                .parse::<Address>()
                .map_err(|error| NotifyError::Rejected {
                    to: email.to.clone(),
                    reason: format!("{value:?} is not an email address: {error}"),
                })
        };
        let envelope = Envelope::new(Some(address(&self.from)?), vec![address(&email.to)?])
            .map_err(|error| NotifyError::Rejected {
                to: email.to.clone(),
                reason: error.to_string(),
            })?;
        self.transport
            .send_raw(&envelope, message.as_bytes())
            .await
            .map_err(|error| self.describe(&email.to, &error))?;
        tracing::debug!(server = %self.server, "email sent by SMTP");
        Ok(())
    }
}

impl SmtpNotifier {
    fn describe(&self, to: &str, error: &lettre::transport::smtp::Error) -> NotifyError {
        if error.is_permanent() {
            NotifyError::Rejected {
                to: to.to_owned(),
                reason: format!("the mail server {} answered: {error}", self.server),
            }
        } else if error.is_tls() || error.to_string().contains("certificate") {
            NotifyError::Unavailable(format!(
                "TLS with the mail server {} failed: {error} (a certificate signed by a company \
                 CA needs that CA in the SMTP settings' ca_file)",
                self.server
            ))
        } else {
            NotifyError::Unavailable(format!("the mail server {}: {error}", self.server))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            user: Some("lms@example.com".into()),
            password: Some(Secret::new("smtp-password-value")),
            from: "lms@example.com".into(),
            extra_roots_pem: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn plaintext_is_for_this_machine_only() {
        let mut remote = config();
        remote.security = SmtpSecurity::None;
        let error = SmtpNotifier::new(remote).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("security: \"none\"")),
            "{error:?}"
        );
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let mut local = config();
            local.security = SmtpSecurity::None;
            local.host = host.into();
            assert!(SmtpNotifier::new(local).is_ok(), "{host}");
        }
    }

    #[test]
    fn a_user_and_a_password_come_together() {
        let mut no_password = config();
        no_password.password = None;
        assert!(
            SmtpNotifier::new(no_password)
                .err()
                .is_some_and(|e| e.to_string().starts_with("password:"))
        );
        let mut bad_ca = config();
        bad_ca.extra_roots_pem = Some(b"not a certificate".to_vec());
        assert!(
            SmtpNotifier::new(bad_ca)
                .err()
                .is_some_and(|e| e.to_string().starts_with("ca_file:"))
        );
    }

    #[test]
    fn the_password_never_prints() {
        let shown = format!("{:?}", config());
        assert!(!shown.contains("smtp-password-value"), "{shown}");
        assert!(shown.contains("smtp.example.com"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_retryable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or(1);
        let mut local = config();
        local.host = "127.0.0.1".into();
        local.port = port;
        local.security = SmtpSecurity::None;
        local.user = None;
        local.password = None;
        let notifier = SmtpNotifier::new(local).unwrap();
        let email = OutgoingEmail {
            to: "hr@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
        };
        let error = notifier.send(&email).await.unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));
    }
}
