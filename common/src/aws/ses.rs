//! Email through Amazon SES v2 `SendEmail`: simple content (subject, text and HTML bodies, all
//! UTF-8) from one configured, verified sender address.

use super::{AwsFailure, classify};
use crate::ports::{Notifier, NotifyError, OutgoingEmail};
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::BuildError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

const CHARSET: &str = "UTF-8";

#[derive(Clone, Debug)]
pub struct SesNotifier {
    client: Client,
    from_address: String,
}

impl SesNotifier {
    /// `from_address` must be a verified SES identity (an address, or one of a verified domain);
    /// it may carry a display name (`Personio LMS Sync <sync@example.com>`).
    pub fn new(client: Client, from_address: impl Into<String>) -> Self {
        Self {
            client,
            from_address: from_address.into(),
        }
    }
}

fn utf8(text: &str) -> Result<Content, BuildError> {
    Content::builder().data(text).charset(CHARSET).build()
}

#[async_trait]
impl Notifier for SesNotifier {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let rejected = |reason: String| NotifyError::Rejected {
            to: email.to.clone(),
            reason,
        };
        let build = |error: BuildError| rejected(format!("invalid message: {error}"));
        let message = Message::builder()
            .subject(utf8(&email.subject).map_err(build)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text).map_err(build)?)
                    .html(utf8(&email.html).map_err(build)?)
                    .build(),
            )
            .build();
        let sent = self
            .client
            .send_email()
            .from_email_address(&self.from_address)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|error| match classify(&error) {
                AwsFailure::Retryable(reason) => {
                    NotifyError::Unavailable(format!("SES SendEmail: {reason}"))
                }
                refused => rejected(format!("SES SendEmail: {refused}")),
            })?;
        tracing::info!(
            to = %email.to,
            message_id = sent.message_id().unwrap_or("-"),
            "sent email through SES"
        );
        Ok(())
    }
}
