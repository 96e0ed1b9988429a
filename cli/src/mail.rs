//! Where the CLI's emails go — an SMTP server when the config has `[smtp]`, else the outbox
//! folder — and an honest line about it: "sent" only when a mail server took them.

use crate::config::{CliConfig, ConfigError, Environment};
use crate::error::CliError;
use async_trait::async_trait;
use common::notify::{OutboxNotifier, SmtpNotifier, SmtpSetupError};
use common::ports::{Notifier, NotifyError, OutgoingEmail};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

enum Route {
    Outbox(PathBuf),
    /// `host:port`
    Smtp(String),
}

/// The CLI's notifier: delivers through SMTP or the outbox and counts what was delivered.
pub struct CliMail {
    inner: Box<dyn Notifier>,
    route: Route,
    delivered: AtomicUsize,
}

impl CliMail {
    /// SMTP when configured (its password read from the environment now), else the outbox.
    pub fn from_config(config: &CliConfig, env: &dyn Environment) -> Result<Self, CliError> {
        let (inner, route): (Box<dyn Notifier>, Route) = match config.smtp(env)? {
            Some(smtp) => {
                let notifier = SmtpNotifier::new(smtp).map_err(|error| match error {
                    SmtpSetupError::Invalid { field, message } => {
                        CliError::Config(ConfigError::Field {
                            path: config.path.display().to_string(),
                            field: format!("smtp.{field}"),
                            message,
                        })
                    }
                })?;
                let server = notifier.server().to_owned();
                (Box::new(notifier), Route::Smtp(server))
            }
            None => (
                Box::new(OutboxNotifier::new(&config.outbox, &config.email_from)),
                Route::Outbox(config.outbox.clone()),
            ),
        };
        Ok(Self {
            inner,
            route,
            delivered: AtomicUsize::new(0),
        })
    }

    /// What became of this command's emails, for its last output line; `None` when there were
    /// none.
    pub fn report(&self) -> Option<String> {
        let count = self.delivered.load(Ordering::SeqCst);
        if count == 0 {
            return None;
        }
        let emails = if count == 1 { "email" } else { "emails" };
        Some(match &self.route {
            Route::Outbox(dir) => format!(
                "{count} {emails} written to the outbox {} (not sent: the config has no [smtp] \
                 section)",
                dir.display()
            ),
            Route::Smtp(server) => format!("{count} {emails} sent through {server}"),
        })
    }
}

#[async_trait]
impl Notifier for CliMail {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        self.inner.send(email).await?;
        self.delivered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_never_claims_to_have_sent() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mail = CliMail {
            inner: Box::new(OutboxNotifier::new(dir.path(), "lms@example.com")),
            route: Route::Outbox(dir.path().to_owned()),
            delivered: AtomicUsize::new(0),
        };
        assert_eq!(mail.report(), None);
        let email = OutgoingEmail {
            to: "hr@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
        };
        mail.send(&email).await.expect("written");
        let report = mail.report().expect("a line");
        assert!(
            report.starts_with("1 email written to the outbox "),
            "{report}"
        );
        assert!(!report.contains("sent through"));
    }
}
