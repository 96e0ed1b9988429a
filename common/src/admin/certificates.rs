//! Certificate jobs: submit one, submit a backfill batch (JSON array or NDJSON), read where a
//! certificate stands. Jobs are validated here with the pusher's own parser, so a bad job is
//! refused at the door, naming its field, instead of failing later on the queue.

use super::body::parse_json;
use super::routes::percent_decode;
use super::{AdminApi, ApiError, ApiResult, Caller, json_response, query_parameter};
use crate::certificates::{CertificateJob, parse_ndjson_numbered};
use crate::domain::IntegrationId;
use crate::domain::certificate::{CertificateId, LedgerEntry, LedgerState};
use crate::domain::employee::PersonioId;
use crate::domain::integration::IntegrationRecord;
use crate::domain::lms::LmsUserId;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use tracing::info;

/// The default and the largest page of `GET /integrations/{id}/certificates`.
const DEFAULT_CERTIFICATE_PAGE: usize = 50;
const MAX_CERTIFICATE_PAGE: usize = 200;
const STATES: [&str; 4] = ["parked", "in_progress", "done", "failed"];

/// Which certificates a listing asks for: the ledger in certificate-id order, from after a
/// cursor, optionally of one state.
pub(super) struct CertificatePage {
    state: Option<&'static str>,
    after: Option<CertificateId>,
    limit: usize,
}

#[derive(Serialize)]
struct CertificateList {
    certificates: Vec<CertificateView>,
    /// The cursor of the next page (`after`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<CertificateId>,
}

#[derive(Serialize)]
struct Accepted {
    certificate_id: CertificateId,
    status: ItemStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum ItemStatus {
    /// On the queue.
    Accepted,
    /// Invalid: resubmitting it unchanged will fail again.
    Rejected,
    /// Valid, but the queue was unavailable: resubmit it.
    Failed,
}

/// One job of a batch: its position (array index from 1, or NDJSON line), what it is, what
/// happened.
#[derive(Serialize)]
struct ItemReport {
    item: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_id: Option<CertificateId>,
    status: ItemStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct BatchResponse {
    accepted: usize,
    rejected: usize,
    failed: usize,
    items: Vec<ItemReport>,
}

/// Where a certificate stands. A parked job is summarised, not returned: its `pdf_url` may be
/// a presigned link, whose query is a credential.
#[derive(Serialize)]
struct CertificateView {
    integration_id: IntegrationId,
    certificate_id: CertificateId,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parked_since: Option<DateTime<Utc>>,
    /// For a parked job: the LMS user whose employee is not linked yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting_for_lms_user: Option<String>,
    /// Whose certificate of which course (entries written before this was kept have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    lms_user_id: Option<LmsUserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    personio_id: Option<PersonioId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    course_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_on: Option<NaiveDate>,
    attempts: u32,
    updated_at: DateTime<Utc>,
}

/// A job ready for the queue.
struct ValidJob {
    certificate_id: CertificateId,
    job: Value,
}

/// One job of a batch by its position, parsed as JSON or already refused.
type BatchItem = (usize, Result<Value, Refusal>);

/// Why one job was refused.
struct Refusal {
    certificate_id: Option<CertificateId>,
    field: String,
    reason: String,
}

impl AdminApi {
    pub(super) async fn submit_certificate(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        body: &Bytes,
    ) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        require_certificates_enabled(&record)?;
        let job = validate_job(id, parse_json(body, None)?)
            .map_err(|refusal| ApiError::invalid(refusal.field, refusal.reason))?;
        self.adapters
            .queue
            .enqueue_certificate(id, &job.certificate_id, &job.job)
            .await?;
        info!(integration = %id, certificate = %job.certificate_id, "certificate job queued");
        Ok(json_response(
            StatusCode::ACCEPTED,
            &Accepted {
                certificate_id: job.certificate_id,
                status: ItemStatus::Accepted,
            },
        ))
    }

    /// A backfill: every job on its own (one bad job never refuses the others). 202 when every
    /// job was queued, 207 with the per-item report otherwise.
    pub(super) async fn submit_certificate_batch(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        content_type: Option<&str>,
        body: &Bytes,
    ) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        require_certificates_enabled(&record)?;
        let items = batch_items(content_type, body)?;
        if items.len() > self.limits.max_batch_items {
            return Err(ApiError::PayloadTooLarge(format!(
                "{} jobs in one batch; at most {} are accepted, send the rest in further batches",
                items.len(),
                self.limits.max_batch_items
            )));
        }
        let queue = &self.adapters.queue;
        let mut reports: Vec<ItemReport> = futures::stream::iter(items)
            .map(|(item, parsed)| async move {
                let job = match parsed.and_then(|value| validate_job(id, value)) {
                    Ok(job) => job,
                    Err(refusal) => {
                        return ItemReport {
                            item,
                            certificate_id: refusal.certificate_id,
                            status: ItemStatus::Rejected,
                            field: Some(refusal.field),
                            reason: Some(refusal.reason),
                        };
                    }
                };
                let enqueued = queue
                    .enqueue_certificate(id, &job.certificate_id, &job.job)
                    .await;
                let (status, reason) = match enqueued {
                    Ok(()) => (ItemStatus::Accepted, None),
                    Err(error) if error.is_retryable() => {
                        (ItemStatus::Failed, Some(error.to_string()))
                    }
                    Err(error) => (ItemStatus::Rejected, Some(error.to_string())),
                };
                ItemReport {
                    item,
                    certificate_id: Some(job.certificate_id),
                    status,
                    field: None,
                    reason,
                }
            })
            .buffer_unordered(self.limits.enqueue_concurrency.max(1))
            .collect()
            .await;
        reports.sort_by_key(|report| report.item);
        let count = |status| reports.iter().filter(|r| r.status == status).count();
        let response = BatchResponse {
            accepted: count(ItemStatus::Accepted),
            rejected: count(ItemStatus::Rejected),
            failed: count(ItemStatus::Failed),
            items: reports,
        };
        info!(
            integration = %id,
            accepted = response.accepted,
            rejected = response.rejected,
            failed = response.failed,
            "certificate batch received"
        );
        let status = if response.accepted == response.items.len() {
            StatusCode::ACCEPTED
        } else {
            StatusCode::MULTI_STATUS
        };
        Ok(json_response(status, &response))
    }

    /// Reads `state`, `after` and `limit` of a certificate listing.
    pub(super) fn certificate_page(
        &self,
        query: Option<&str>,
    ) -> Result<CertificatePage, ApiError> {
        let state = match query_parameter(query, "state") {
            None => None,
            Some(value) => Some(
                STATES
                    .into_iter()
                    .find(|state| *state == value)
                    .ok_or_else(|| ApiError::InvalidQuery {
                        name: "state",
                        message: format!("must be one of {}", STATES.join(", ")),
                    })?,
            ),
        };
        let after = match query_parameter(query, "after") {
            None => None,
            Some(value) => Some(CertificateId(percent_decode(value).ok_or_else(|| {
                ApiError::InvalidQuery {
                    name: "after",
                    message: "must be a percent-encoded certificate id".into(),
                }
            })?)),
        };
        let limit = match query_parameter(query, "limit") {
            None => DEFAULT_CERTIFICATE_PAGE,
            Some(value) => value
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=MAX_CERTIFICATE_PAGE).contains(limit))
                .ok_or_else(|| ApiError::InvalidQuery {
                    name: "limit",
                    message: format!("must be an integer from 1 to {MAX_CERTIFICATE_PAGE}"),
                })?,
        };
        Ok(CertificatePage {
            state,
            after,
            limit,
        })
    }

    /// The ledger of an integration, a page at a time.
    pub(super) async fn list_certificates(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        page: CertificatePage,
    ) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        let expiry = record.settings.certificates.parked_expiry();
        let entries = self.adapters.state.certificates(id).await?;
        let mut matching = entries
            .into_iter()
            .filter(|entry| {
                page.after
                    .as_ref()
                    .is_none_or(|after| entry.certificate_id > *after)
            })
            .map(|entry| certificate_view(entry, expiry))
            .filter(|view| page.state.is_none_or(|state| view.state == state));
        let certificates: Vec<CertificateView> = matching.by_ref().take(page.limit).collect();
        let next_after = match matching.next() {
            Some(_) => certificates.last().map(|view| view.certificate_id.clone()),
            None => None,
        };
        Ok(json_response(
            StatusCode::OK,
            &CertificateList {
                certificates,
                next_after,
            },
        ))
    }

    pub(super) async fn get_certificate(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        certificate_id: String,
    ) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        let certificate_id = CertificateId(certificate_id);
        let expiry = record.settings.certificates.parked_expiry();
        match self.adapters.state.certificate(id, &certificate_id).await? {
            Some(entry) => Ok(json_response(
                StatusCode::OK,
                &certificate_view(entry, expiry),
            )),
            None => Err(ApiError::NotFound(format!(
                "integration {id} has no certificate {certificate_id}"
            ))),
        }
    }
}

/// Jobs for an integration whose push is off would only fail on the queue.
fn require_certificates_enabled(record: &IntegrationRecord) -> Result<(), ApiError> {
    if record.settings.certificates.enabled {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "the certificate push of integration {} is off (settings.certificates.enabled)",
            record.id
        )))
    }
}

/// The batch's jobs with their positions: a JSON array, or NDJSON (by content type, or when
/// the body does not start with `[`).
/// A line that is not UTF-8 fails on its own (NDJSON), and a UTF-8 byte order mark is accepted.
fn batch_items(content_type: Option<&str>, body: &Bytes) -> Result<Vec<BatchItem>, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let ndjson = content_type.is_some_and(|kind| kind.contains("ndjson"))
        || body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'[');
    if ndjson {
        return Ok(parse_ndjson_numbered(body)
            .into_iter()
            .map(|(line, parsed)| {
                let parsed = parsed.map_err(|error| Refusal {
                    certificate_id: None,
                    field: "job".into(),
                    reason: error.to_string(),
                });
                (line, parsed)
            })
            .collect());
    }
    match parse_json(body, None)? {
        Value::Array(values) => Ok(values
            .into_iter()
            .enumerate()
            .map(|(index, value)| (index + 1, Ok(value)))
            .collect()),
        _ => Err(ApiError::invalid(
            "body",
            "must be a JSON array of certificate jobs, or NDJSON",
        )),
    }
}

/// Checks one job as the pusher will parse it. A job without `integration_id` gets the one in
/// the path; a job naming another integration is refused (it would be pushed there).
fn validate_job(integration: &IntegrationId, mut job: Value) -> Result<ValidJob, Refusal> {
    if let Value::Object(fields) = &mut job
        && fields.get("integration_id").is_none_or(Value::is_null)
    {
        fields.insert(
            "integration_id".into(),
            Value::String(integration.as_str().to_owned()),
        );
    }
    let parsed = CertificateJob::parse(&job).map_err(|invalid| Refusal {
        certificate_id: invalid.certificate_id,
        field: invalid.error.field.to_owned(),
        reason: invalid.error.reason,
    })?;
    if parsed.integration_id != *integration {
        return Err(Refusal {
            certificate_id: Some(parsed.certificate_id),
            field: "integration_id".into(),
            reason: format!("must be {integration}, the integration in the path"),
        });
    }
    Ok(ValidJob {
        certificate_id: parsed.certificate_id,
        job,
    })
}

fn certificate_view(entry: LedgerEntry, parked_expiry: chrono::Duration) -> CertificateView {
    let parked_since = entry.parked_since();
    let subject = entry.subject.clone();
    let mut view = CertificateView {
        integration_id: entry.integration_id,
        certificate_id: entry.certificate_id,
        state: "",
        document_id: None,
        reason: None,
        expires_at: None,
        parked_since: None,
        waiting_for_lms_user: None,
        lms_user_id: subject.as_ref().map(|subject| subject.lms_user_id.clone()),
        personio_id: subject.as_ref().and_then(|subject| subject.personio_id),
        email: subject.as_ref().and_then(|subject| subject.email.clone()),
        course_name: subject.as_ref().map(|subject| subject.course_name.clone()),
        completed_on: subject.as_ref().map(|subject| subject.completed_on),
        attempts: entry.attempts,
        updated_at: entry.updated_at,
    };
    match entry.state {
        LedgerState::Parked { job, reason, .. } => {
            view.state = "parked";
            view.reason = reason;
            view.parked_since = parked_since;
            view.expires_at = parked_since.map(|since| since + parked_expiry);
            let job = CertificateJob::parse(&job).ok();
            view.waiting_for_lms_user = job.as_ref().map(|job| job.lms_user_id.0.clone());
            if let (None, Some(job)) = (&subject, job) {
                view.lms_user_id = Some(job.lms_user_id);
                view.email = job.email;
                view.course_name = Some(job.course_name);
                view.completed_on = Some(job.completed_on);
            }
        }
        LedgerState::InProgress { expires_at, .. } => {
            view.state = "in_progress";
            view.expires_at = Some(expires_at);
        }
        LedgerState::Done { document_id } => {
            view.state = "done";
            view.document_id = Some(document_id);
        }
        LedgerState::Failed { reason } => {
            view.state = "failed";
            view.reason = Some(reason);
        }
    }
    view
}
