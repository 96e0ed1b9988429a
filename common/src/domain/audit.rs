//! The audit trail: one entry per state-changing admin action on an integration — who (the
//! caller's subject claim, within the tenant), what (the action, the names of the fields it
//! changed), when, under which request id, and how it ended. Entries name fields, never values:
//! a rotated secret appears as `personio.client_secret`, never as what it was or became.

use super::IntegrationId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the caller did. New state-changing routes of the admin API add their action here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// `POST /integrations`.
    Create,
    /// `PUT /integrations/{id}` changing settings, connection, name or schedule (with or without
    /// new credentials).
    Update,
    /// `PUT /integrations/{id}` that only replaced credentials.
    RotateCredentials,
    /// `DELETE /integrations/{id}`.
    Delete,
    /// `POST /integrations/{id}/sync`.
    SyncNow,
    /// `POST /integrations/{id}/employees/{personio_id}/sync`: a targeted run of one employee.
    SyncEmployee,
    /// `POST /integrations/{id}/reconcile`: a run that also repairs what was changed in the LMS.
    Reconcile,
    /// `POST /integrations/{id}/certificates`.
    SubmitCertificate,
    /// `POST /integrations/{id}/certificates/batch`.
    SubmitCertificateBatch,
    /// `PUT /integrations/{id}/webhook`: the Personio webhook registered with a new token.
    InstallWebhook,
    /// `DELETE /integrations/{id}/webhook`.
    RemoveWebhook,
}

impl AuditAction {
    /// The name as stored and shown (`rotate_credentials`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::RotateCredentials => "rotate_credentials",
            Self::Delete => "delete",
            Self::SyncNow => "sync_now",
            Self::SyncEmployee => "sync_employee",
            Self::Reconcile => "reconcile",
            Self::SubmitCertificate => "submit_certificate",
            Self::SubmitCertificateBatch => "submit_certificate_batch",
            Self::InstallWebhook => "install_webhook",
            Self::RemoveWebhook => "remove_webhook",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the action ended, as the caller was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// Answered 2xx: the change was made (or, for a batch, at least accepted in part).
    Succeeded,
    /// Answered 4xx: refused, nothing changed (a stale version, an invalid field, …).
    Refused,
    /// Answered 5xx: a dependency failed; nothing changed, or (see `problem`) not all of it.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditOutcome {
    pub result: AuditResult,
    /// The HTTP status the caller got.
    pub status: u16,
    /// For a refusal or failure, the problem detail the caller got (these never quote a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl AuditOutcome {
    /// The outcome of an answer with `status` (and the problem detail of an error answer).
    pub fn of_status(status: u16, problem: Option<String>) -> Self {
        let result = match status {
            200..=399 => AuditResult::Succeeded,
            400..=499 => AuditResult::Refused,
            _ => AuditResult::Failed,
        };
        Self {
            result,
            status,
            problem,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub integration_id: IntegrationId,
    /// The tenant the integration belongs to (the caller's tenant: only a tenant's own
    /// integrations are ever acted on).
    pub tenant_id: String,
    /// Unique per entry; orders entries recorded at the same instant.
    pub entry_id: String,
    pub at: DateTime<Utc>,
    /// The caller's subject claim (`sub`); absent when the token carried none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The request id the host assigned (API Gateway's, or the local server's), also sent to the
    /// caller as `X-Request-Id`.
    pub request_id: String,
    pub action: AuditAction,
    /// The fields the action changed (or, refused, would have changed), by name:
    /// `settings.selection.attribute`, `schedule`, `lms.token`. Never their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// What the action was about beyond the integration: the certificate id of a submission, the
    /// counts of a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub outcome: AuditOutcome,
    /// After this instant the entry is no longer kept (the configured retention); `None`: kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl AuditEntry {
    /// Where the entry stands in the newest-first order of its integration's trail.
    pub fn cursor(&self) -> AuditCursor {
        AuditCursor {
            at: self.at,
            entry_id: self.entry_id.clone(),
        }
    }

    /// Whether the entry is past its retention at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }
}

/// A position in an integration's trail (newest first): a page continues after it. Written as
/// `{microseconds since the epoch}-{entry id}`, which needs no escaping in a URL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditCursor {
    pub at: DateTime<Utc>,
    pub entry_id: String,
}

impl fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.at.timestamp_micros(), self.entry_id)
    }
}

impl std::str::FromStr for AuditCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const EXPECTED: &str = "is not a cursor this API handed out";
        let (micros, entry_id) = text.split_once('-').ok_or(EXPECTED)?;
        let valid_id = !entry_id.is_empty()
            && entry_id
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .filter(|_| valid_id)
            .ok_or(EXPECTED)?;
        Ok(Self {
            at,
            entry_id: entry_id.to_owned(),
        })
    }
}

/// One page of an integration's trail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts, when there are more entries.
    pub next: Option<AuditCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = AuditCursor {
            at: DateTime::from_timestamp_micros(1_750_000_000_123_456).expect("valid"),
            entry_id: "0b9c2c1e-8a8e-4b55-9d7c-5c1f7f0e2a11".into(),
        };
        let text = cursor.to_string();
        assert_eq!(
            text,
            "1750000000123456-0b9c2c1e-8a8e-4b55-9d7c-5c1f7f0e2a11"
        );
        assert_eq!(text.parse::<AuditCursor>(), Ok(cursor));
        for bad in ["", "abc", "12-", "-id", "x-id", "12-id%20", "12-a/b"] {
            assert!(bad.parse::<AuditCursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn outcomes_follow_the_answer() {
        assert_eq!(
            AuditOutcome::of_status(204, None).result,
            AuditResult::Succeeded
        );
        assert_eq!(
            AuditOutcome::of_status(412, Some("stale".into())).result,
            AuditResult::Refused
        );
        assert_eq!(
            AuditOutcome::of_status(503, None).result,
            AuditResult::Failed
        );
    }

    #[test]
    fn action_names_match_their_serialised_form() {
        for action in [
            AuditAction::Create,
            AuditAction::Update,
            AuditAction::RotateCredentials,
            AuditAction::Delete,
            AuditAction::SyncNow,
            AuditAction::SyncEmployee,
            AuditAction::Reconcile,
            AuditAction::SubmitCertificate,
            AuditAction::SubmitCertificateBatch,
            AuditAction::InstallWebhook,
            AuditAction::RemoveWebhook,
        ] {
            assert_eq!(
                serde_json::to_value(action).ok(),
                Some(serde_json::Value::String(action.as_str().to_owned()))
            );
        }
    }
}
