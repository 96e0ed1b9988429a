//! A notifier that sends nothing: for work that must never email anybody, such as a dry-run plan
//! the admin API makes (a dry run composes no email, but the engine is built with a notifier).

use crate::ports::{Notifier, NotifyError, OutgoingEmail};
use async_trait::async_trait;

/// Drops every email, noting it in the debug log (recipient and subject, never the body).
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardNotifier;

#[async_trait]
impl Notifier for DiscardNotifier {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        tracing::debug!(to = %email.to, subject = %email.subject, "email discarded: this host sends none");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_email_is_accepted_and_dropped() {
        let email = OutgoingEmail {
            to: "hr@example.com".into(),
            subject: "Personio → LMS sync acme: succeeded".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
        };
        assert!(DiscardNotifier.send(&email).await.is_ok());
    }
}
