//! The audit trail of the admin API: every state-changing request on an integration of the
//! caller's tenant is recorded once it is answered — who (the caller's subject claim), what (the
//! action and the names of the fields it changed), when, under which request id, and the
//! answer. Recording is one step of [`AdminApi::handle`], driven by [`audit_action`]: a new
//! route that changes state only names its action there (the match is exhaustive, so a new
//! endpoint cannot be forgotten). `GET /integrations/{id}/audit` reads the trail.
//!
//! Entries name fields, never values: the changed fields come from comparing the record before
//! and after (secrets are not in the record), the rotated credentials from the names of the
//! request's fields.

use super::routes::Endpoint;
use super::{AdminApi, ApiError, ApiResult, Caller, json_response, query_parameter};
use crate::app::audit::read_audit_page;
use crate::domain::IntegrationId;
use crate::domain::audit::{AuditAction, AuditCursor, AuditEntry, AuditOutcome};
use crate::domain::integration::IntegrationRecord;
use bytes::Bytes;
use chrono::{SubsecRound, Utc};
use http::{Response, StatusCode, header};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

/// The request id a host assigned to a request (API Gateway's, a local server's), handed to the
/// API as a request extension. Without one the API makes one up. Sent back as `X-Request-Id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The response header naming the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The action a request of `endpoint` is recorded as; `None` for the requests that change
/// nothing an admin configured (reads, the dry-run plan, the check).
pub fn audit_action(endpoint: Endpoint) -> Option<AuditAction> {
    match endpoint {
        Endpoint::CreateIntegration => Some(AuditAction::Create),
        // Told apart from a credential rotation once the changes are known.
        Endpoint::UpdateIntegration => Some(AuditAction::Update),
        Endpoint::DeleteIntegration => Some(AuditAction::Delete),
        Endpoint::SyncNow => Some(AuditAction::SyncNow),
        Endpoint::SyncEmployee => Some(AuditAction::SyncEmployee),
        Endpoint::Reconcile => Some(AuditAction::Reconcile),
        Endpoint::SubmitCertificate => Some(AuditAction::SubmitCertificate),
        Endpoint::SubmitCertificateBatch => Some(AuditAction::SubmitCertificateBatch),
        Endpoint::InstallWebhook => Some(AuditAction::InstallWebhook),
        Endpoint::RemoveWebhook => Some(AuditAction::RemoveWebhook),
        Endpoint::OpenApi
        | Endpoint::ListIntegrations
        | Endpoint::GetIntegration
        | Endpoint::Plan
        | Endpoint::Check
        | Endpoint::ListRuns
        | Endpoint::GetRun
        | Endpoint::GetCertificate
        | Endpoint::ListCertificates
        | Endpoint::ExplainEmployee
        | Endpoint::SettingsDefaults
        | Endpoint::ListAudit
        | Endpoint::WebhookStatus => None,
    }
}

/// What an audited request was about, gathered before it is dispatched.
pub(super) struct Audited {
    pub action: AuditAction,
    /// The integration as it was before the request, when the caller's tenant owns it. `None`
    /// for a create, and for a request on an integration that is not the caller's (those are
    /// not recorded: there is nothing of the caller's to record them on).
    pub before: Option<IntegrationRecord>,
}

/// Record fields that change with every write, or are not the admin's to set: left out of the
/// changed fields.
const BOOKKEEPING: &[&str] = &[
    "id",
    "tenant_id",
    "version",
    "created_at",
    "updated_at",
    "next_run_at",
    "secret_ref",
    "certificate_problem",
];

/// The request fields that carry secrets, by their path in the body.
const CREDENTIAL_FIELDS: &[(&str, &str)] = &[
    ("personio", "client_id"),
    ("personio", "client_secret"),
    ("lms", "token"),
];

/// How deep changed fields are named (`settings.selection.attribute`); a difference below is
/// named by its path at this depth.
const FIELD_DEPTH: usize = 3;

impl AdminApi {
    /// What a request of `endpoint` will be recorded as, read before it is dispatched (a delete
    /// must be read before it happens); `None` when it is not recorded.
    pub(super) async fn audit_intent(
        &self,
        endpoint: Endpoint,
        params: &[String],
        caller: Option<&Caller>,
    ) -> Option<Audited> {
        let action = audit_action(endpoint)?;
        let caller = caller?;
        if endpoint == Endpoint::CreateIntegration {
            return Some(Audited {
                action,
                before: None,
            });
        }
        let id = IntegrationId::new(params.first()?.clone());
        match self.adapters.integrations.integration(&id).await {
            Ok(Some(record)) if record.tenant_id == caller.tenant_id => Some(Audited {
                action,
                before: Some(record),
            }),
            // Not the caller's (or unreadable, and then the request fails the same way).
            _ => None,
        }
    }

    /// Records an answered request. A failure to record is logged, never turned into a failed
    /// answer: the change has happened (or not) either way.
    pub(super) async fn record_audit(
        &self,
        audited: Audited,
        caller: &Caller,
        request_id: &str,
        request_body: &Bytes,
        response: &Response<Bytes>,
    ) {
        let answer: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        let status = response.status();
        let integration = match &audited.before {
            Some(before) => before.id.clone(),
            // A create is recorded on the integration it created; one that created nothing has
            // no integration to be recorded on (it is in the log with its request id).
            None => match answer.get("id").and_then(Value::as_str) {
                Some(id) if status.is_success() => IntegrationId::new(id),
                _ => return,
            },
        };
        let request: Value = serde_json::from_slice(request_body).unwrap_or(Value::Null);
        let (action, fields) = match audited.action {
            AuditAction::Update => {
                update_fields(audited.before.as_ref(), &request, &answer, status)
            }
            action => (action, Vec::new()),
        };
        let problem = (!status.is_success())
            .then(|| {
                answer
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .flatten();
        let at = Utc::now().trunc_subsecs(6);
        let entry = AuditEntry {
            integration_id: integration,
            tenant_id: caller.tenant_id.clone(),
            entry_id: uuid::Uuid::new_v4().to_string(),
            at,
            subject: caller.subject.clone(),
            request_id: request_id.to_owned(),
            action,
            fields,
            detail: detail(action, &request, &answer, status),
            outcome: AuditOutcome::of_status(status.as_u16(), problem),
            expires_at: self
                .limits
                .audit_retention
                .map(|retention| crate::store::rules::expiry(at, retention)),
        };
        match self.adapters.audit.record_audit(&entry).await {
            Ok(()) => info!(
                integration = %entry.integration_id,
                action = %entry.action,
                request_id,
                status = status.as_u16(),
                "admin action recorded"
            ),
            Err(error) => error!(
                integration = %entry.integration_id,
                action = %entry.action,
                request_id,
                %error,
                "admin action NOT recorded in the audit trail"
            ),
        }
    }

    /// `GET /integrations/{id}/audit`: the trail, newest first, page by page. The trail of a
    /// deleted integration stays readable by its tenant (its last entry says who deleted it);
    /// another tenant's is answered like one that does not exist.
    pub(super) async fn list_audit(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        query: Option<&str>,
    ) -> ApiResult {
        let limit = match query_parameter(query, "limit") {
            None => self.limits.default_audit_entries,
            Some(value) => value
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=self.limits.max_audit_entries).contains(limit))
                .ok_or_else(|| ApiError::InvalidQuery {
                    name: "limit",
                    message: format!(
                        "must be an integer from 1 to {}",
                        self.limits.max_audit_entries
                    ),
                })?,
        };
        let after = query_parameter(query, "cursor")
            .map(|cursor| {
                cursor
                    .parse::<AuditCursor>()
                    .map_err(|message| ApiError::InvalidQuery {
                        name: "cursor",
                        message,
                    })
            })
            .transpose()?;
        let exists = match self.adapters.integrations.integration(id).await? {
            Some(record) if record.tenant_id != caller.tenant_id => {
                return Err(ApiError::NotFound(format!("no integration {id}")));
            }
            Some(_) => true,
            None => false,
        };
        let first_page = after.is_none();
        let mut page = read_audit_page(self.adapters.audit.as_ref(), id, limit, after).await?;
        // Every entry of an integration is its tenant's; kept that way on the way out too.
        page.entries
            .retain(|entry| entry.tenant_id == caller.tenant_id);
        if !exists && first_page && page.entries.is_empty() {
            return Err(ApiError::NotFound(format!("no integration {id}")));
        }
        Ok(json_response(
            StatusCode::OK,
            &AuditList {
                next_cursor: page.next.map(|cursor| cursor.to_string()),
                entries: page.entries,
            },
        ))
    }
}

#[derive(Serialize)]
struct AuditList {
    entries: Vec<AuditEntry>,
    next_cursor: Option<String>,
}

/// Adds the request id to an answer.
pub(super) fn with_request_id(mut response: Response<Bytes>, request_id: &str) -> Response<Bytes> {
    if let Ok(value) = http::HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    response
}

/// An update's action and fields: what differs between the record before and after (or, for
/// a refused update, what the request asked to change), plus the credentials it carried, by
/// name. Only credentials: a rotation.
fn update_fields(
    before: Option<&IntegrationRecord>,
    request: &Value,
    answer: &Value,
    status: StatusCode,
) -> (AuditAction, Vec<String>) {
    let mut fields = match (status.is_success(), before) {
        (true, Some(before)) => {
            let mut changed = Vec::new();
            let before = serde_json::to_value(before).unwrap_or(Value::Null);
            diff_paths(&before, answer, "", 0, &mut changed);
            changed
        }
        _ => requested_paths(request),
    };
    let credentials: Vec<String> = CREDENTIAL_FIELDS
        .iter()
        .filter(|(object, field)| request.get(object).and_then(|o| o.get(field)).is_some())
        .map(|(object, field)| format!("{object}.{field}"))
        .collect();
    let action = if !credentials.is_empty() && fields.is_empty() {
        AuditAction::RotateCredentials
    } else {
        AuditAction::Update
    };
    fields.extend(credentials);
    fields.sort();
    fields.dedup();
    (action, fields)
}

/// The paths where two records differ (bookkeeping fields left out), at most [`FIELD_DEPTH`]
/// deep.
fn diff_paths(before: &Value, after: &Value, path: &str, depth: usize, out: &mut Vec<String>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(old), Value::Object(new)) if depth < FIELD_DEPTH => {
            let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                if depth == 0 && BOOKKEEPING.contains(&key.as_str()) {
                    continue;
                }
                let null = Value::Null;
                let child = join(path, key);
                diff_paths(
                    old.get(key).unwrap_or(&null),
                    new.get(key).unwrap_or(&null),
                    &child,
                    depth + 1,
                    out,
                );
            }
        }
        _ => out.push(path.to_owned()),
    }
}

/// The fields a request names (for a refused update, what it would have changed): its
/// top-level fields, and those of the connection objects; secrets are named, not quoted.
fn requested_paths(request: &Value) -> Vec<String> {
    let Some(fields) = request.as_object() else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    for (key, value) in fields {
        if key == "version" {
            continue;
        }
        match value {
            Value::Object(inner) if key == "personio" || key == "lms" => {
                paths.extend(
                    inner
                        .keys()
                        .filter(|field| {
                            !CREDENTIAL_FIELDS.contains(&(key.as_str(), field.as_str()))
                        })
                        .map(|field| join(key, field)),
                );
            }
            _ => paths.push(key.clone()),
        }
    }
    paths
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// What an entry says beyond its action: the certificate of a submission, a batch's counts, the
/// name a create gave.
fn detail(
    action: AuditAction,
    request: &Value,
    answer: &Value,
    status: StatusCode,
) -> Option<String> {
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    match action {
        AuditAction::Create => text(answer, "name").map(|name| format!("named \"{name}\"")),
        AuditAction::SyncEmployee => text(answer, "run_id").map(|run| format!("run {run}")),
        AuditAction::SubmitCertificate => text(answer, "certificate_id")
            .or_else(|| text(request, "certificate_id"))
            .map(|id| format!("certificate {id}")),
        AuditAction::SubmitCertificateBatch if status.is_success() => {
            let count = |key: &str| answer.get(key).and_then(Value::as_u64).unwrap_or(0);
            Some(format!(
                "{} accepted, {} rejected, {} failed",
                count("accepted"),
                count("rejected"),
                count("failed")
            ))
        }
        _ => None,
    }
}
