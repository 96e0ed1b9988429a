//! The admin API's webhook routes (`PUT|GET|DELETE /integrations/{id}/webhook`): install the
//! integration's Personio webhook with a new token, show whether it is active and how its
//! deliveries went (Personio's activity of the last 24 h), remove it. Only a host that receives
//! webhooks offers them ([`WebhookHosting`]: where the tokens are kept, the public URL Personio
//! reaches the host at); elsewhere they answer 503. The token is never in an answer.

use super::problem::ApiError;
use super::{AdminApi, ApiResult, Caller, json_response};
use crate::app::connect_personio;
use crate::app::preflight::{Check, CheckStatus};
use crate::app::webhook_setup::{
    ReceivingHost, WebhookSetupError, install_webhook, remove_webhook, webhook_check,
    webhook_status,
};
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::personio::PersonioClient;
use crate::ports::{HrError, WebhookTokens};
use crate::retry::Deadline;
use bytes::Bytes;
use chrono::Utc;
use http::{Response, StatusCode};
use std::sync::Arc;

/// What a host that receives Personio's webhooks gives the API.
#[derive(Clone)]
pub struct WebhookHosting {
    pub tokens: Arc<dyn WebhookTokens>,
    /// Where Personio reaches the host (`https://…`); the receiver's route is below it.
    pub public_url: String,
}

impl From<WebhookSetupError> for ApiError {
    fn from(error: WebhookSetupError) -> Self {
        match error {
            WebhookSetupError::PublicUrl(..) => ApiError::Unavailable(format!(
                "this host's public URL cannot receive webhooks: {error}"
            )),
            WebhookSetupError::Personio(HrError::Unauthorized { message }) => ApiError::Conflict(
                format!("Personio rejected the integration's credentials: {message}"),
            ),
            // A 403 is the credential's scopes; anything else is about the webhook itself
            // (Personio takes https URLs only, for one).
            WebhookSetupError::Personio(HrError::Rejected {
                status: 403,
                message,
            }) => ApiError::Conflict(format!(
                "Personio refused (HTTP 403): {message}; the API credential needs the scopes \
                 personio:webhooks:read and personio:webhooks:write"
            )),
            WebhookSetupError::Personio(HrError::Rejected { status, message }) => {
                ApiError::Conflict(format!(
                    "Personio refused the webhook (HTTP {status}): {message} (Personio delivers \
                     to public https URLs only: the host's public URL must be one)"
                ))
            }
            WebhookSetupError::Personio(error) => ApiError::Unavailable(error.to_string()),
            WebhookSetupError::Tokens(error) => error.into(),
        }
    }
}

impl AdminApi {
    /// Offers the webhook routes: this host receives Personio's webhooks at `public_url`.
    pub fn with_webhooks(mut self, hosting: WebhookHosting) -> Self {
        self.webhooks = Some(hosting);
        self
    }

    fn hosting(&self) -> Result<&WebhookHosting, ApiError> {
        self.webhooks.as_ref().ok_or_else(|| {
            ApiError::Unavailable(
                "this host does not receive webhooks (it has no public URL for Personio)".into(),
            )
        })
    }

    /// The integration's Personio client, for the webhook management API.
    async fn personio_of(&self, record: &IntegrationRecord) -> Result<PersonioClient, ApiError> {
        let credentials = self.adapters.credentials.credentials(&record.id).await?;
        Ok(connect_personio(
            &record.personio,
            &credentials.personio_client_id,
            &credentials.personio_client_secret,
            &self.adapters.connector.policy(),
        )?)
    }

    /// The check's `webhooks` line: this host's webhook when it receives them, else the one
    /// registered for the integration's route.
    pub(super) async fn webhook_check(
        &self,
        record: &IntegrationRecord,
        deadline: Deadline,
    ) -> Check {
        let personio = match self.personio_of(record).await {
            Ok(personio) => personio,
            Err(error) => {
                return Check {
                    name: "webhooks",
                    status: CheckStatus::Warning,
                    detail: format!("cannot read the webhooks in Personio: {error}"),
                };
            }
        };
        let host = self.webhooks.as_ref().map(|hosting| ReceivingHost {
            tokens: hosting.tokens.as_ref(),
            public_url: &hosting.public_url,
        });
        webhook_check(&personio, &record.id, host, deadline).await
    }

    pub(super) async fn install_webhook(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        let hosting = self.hosting()?;
        let record = self.owned_integration(caller, id).await?;
        let personio = self.personio_of(&record).await?;
        let deadline = Deadline::after(self.limits.remote_budget);
        let installed = install_webhook(
            &personio,
            hosting.tokens.as_ref(),
            id,
            &hosting.public_url,
            deadline,
        )
        .await?;
        Ok(json_response(StatusCode::OK, &installed))
    }

    pub(super) async fn webhook_status(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        let hosting = self.hosting()?;
        let record = self.owned_integration(caller, id).await?;
        let personio = self.personio_of(&record).await?;
        let deadline = Deadline::after(self.limits.remote_budget);
        let status = webhook_status(
            &personio,
            hosting.tokens.as_ref(),
            id,
            &hosting.public_url,
            Utc::now() - chrono::Duration::hours(24),
            deadline,
        )
        .await?;
        let mut body = serde_json::to_value(&status).unwrap_or_default();
        if let Some(object) = body.as_object_mut() {
            object.insert("active".into(), status.is_active().into());
            object.insert("summary".into(), status.summary().into());
        }
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(super) async fn remove_webhook(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        let hosting = self.hosting()?;
        let record = self.owned_integration(caller, id).await?;
        let personio = self.personio_of(&record).await?;
        let deadline = Deadline::after(self.limits.remote_budget);
        if remove_webhook(
            &personio,
            hosting.tokens.as_ref(),
            id,
            &hosting.public_url,
            deadline,
        )
        .await?
        {
            let mut response = Response::new(Bytes::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        } else {
            Err(ApiError::NotFound(format!(
                "no webhook of integration {id} is registered in Personio"
            )))
        }
    }
}
