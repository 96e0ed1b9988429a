//! SCIM Bulk (RFC 7644 §3.7): many writes in one request, within the server's `maxOperations`
//! and `maxPayloadSize`, each operation's outcome mapped back to its write. `failOnErrors` is not
//! sent, so one refused operation fails that write only.

use super::ScimLms;
use super::counts::RequestKind;
use super::document::{Purpose, create_body, patch_body};
use super::http::error_for_response;
use super::users::user_written;
use crate::domain::lms::{LmsUser, LmsUserId};
use crate::ports::{LmsError, ManagerRef, UserWrite, WriteKind};
use crate::retry::Deadline;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// The `bulkId` of a write: a create's is its external id (what `bulkId:` references name).
fn bulk_id(index: usize, write: &UserWrite<'_>) -> String {
    match write.kind {
        WriteKind::Create { .. } => write.profile.external_id.clone(),
        _ => format!("op-{index}"),
    }
}

/// A copy of an error that failed a whole request, for each write it carried.
fn for_each_write(error: &LmsError) -> LmsError {
    match error {
        LmsError::NotFound { what } => LmsError::NotFound { what: what.clone() },
        LmsError::Conflict { detail } => LmsError::Conflict {
            detail: detail.clone(),
        },
        LmsError::Unauthorized { status, detail } => LmsError::Unauthorized {
            status: *status,
            detail: detail.clone(),
        },
        LmsError::Rejected { status, detail } => LmsError::Rejected {
            status: *status,
            detail: detail.clone(),
        },
        LmsError::Unavailable { reason, attempts } => LmsError::Unavailable {
            reason: reason.clone(),
            attempts: *attempts,
        },
        LmsError::Malformed(detail) => LmsError::Malformed(detail.clone()),
        LmsError::ManualStep(detail) => LmsError::ManualStep(detail.clone()),
        LmsError::Refused(detail) => LmsError::Refused(detail.clone()),
    }
}

/// Whether a failed bulk request says the server has no usable bulk endpoint.
fn bulk_missing(error: &LmsError) -> bool {
    matches!(
        error,
        LmsError::NotFound { .. }
            | LmsError::Rejected {
                status: 404 | 405 | 501,
                ..
            }
    )
}

impl ScimLms {
    /// The writes in as few bulk requests as the limits allow, in order; a request's creates are
    /// known by id to the requests after it. One result per write.
    pub(super) async fn bulk_write(
        &self,
        writes: &[UserWrite<'_>],
        deadline: Deadline,
    ) -> Result<Vec<Result<LmsUser, LmsError>>, LmsError> {
        let capabilities = self.discovered(deadline).await?;
        let Some(limits) = self.bulk_usable(capabilities) else {
            return Err(LmsError::Rejected {
                status: 501,
                detail: "the LMS takes no bulk requests".into(),
            });
        };
        let users_endpoint = capabilities.users_endpoint.clone();
        let mut results: Vec<Option<Result<LmsUser, LmsError>>> =
            writes.iter().map(|_| None).collect();
        let mut created: HashMap<String, LmsUserId> = HashMap::new();
        let envelope = json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": []}).to_string();
        let mut next = 0;
        while next < writes.len() {
            let mut operations = Vec::new();
            let mut indices = Vec::new();
            let mut creating = HashSet::new();
            let mut size = envelope.len();
            for (index, write) in writes.iter().enumerate().skip(next) {
                if operations.len() == limits.max_operations {
                    break;
                }
                let operation = self
                    .bulk_operation(index, write, &created, &creating, &users_endpoint, deadline)
                    .await?;
                let length = operation.to_string().len() + 1;
                if !operations.is_empty() && size + length > limits.max_payload_bytes {
                    break;
                }
                size += length;
                if let WriteKind::Create { .. } = write.kind {
                    creating.insert(write.profile.external_id.clone());
                }
                operations.push(operation);
                indices.push(index);
            }
            next = indices.last().map_or(next + 1, |last| last + 1);
            if size > limits.max_payload_bytes {
                let index = indices[0];
                results[index] = Some(Err(LmsError::Rejected {
                    status: 413,
                    detail: format!(
                        "the write is larger than the LMS's bulk payload limit ({} bytes)",
                        limits.max_payload_bytes
                    ),
                }));
                continue;
            }
            let body = json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations});
            let url = self.http.url("/Bulk", &[]);
            let answer = self
                .http
                .send(
                    RequestKind::Bulk,
                    Method::POST,
                    url,
                    &[],
                    Some(&body),
                    deadline,
                )
                .await;
            let response = match answer {
                Ok(response) => response.body.unwrap_or(Value::Null),
                Err(error) => {
                    if bulk_missing(&error) {
                        tracing::warn!(%error, "the LMS has no usable bulk endpoint; writing one by one from now on");
                        self.learnt.bulk_refused.store(true, Ordering::Relaxed);
                    }
                    if results.iter().all(Option::is_none) {
                        return Err(error);
                    }
                    for index in indices.iter().copied().chain(next..writes.len()) {
                        results[index] = Some(Err(for_each_write(&error)));
                    }
                    break;
                }
            };
            let outcomes = operation_outcomes(&response, &indices, writes)?;
            for (index, outcome) in indices.iter().copied().zip(outcomes) {
                if let (Ok(user), WriteKind::Create { .. }) = (&outcome, &writes[index].kind) {
                    created.insert(writes[index].profile.external_id.clone(), user.id.clone());
                }
                results[index] = Some(outcome);
            }
        }
        Ok(results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(LmsError::Malformed(
                        "the bulk response left this write out".into(),
                    ))
                })
            })
            .collect())
    }

    /// One operation of a bulk request. A manager created earlier in the run goes by id, one
    /// created in this request by `bulkId:`, one whose create failed is left out.
    async fn bulk_operation(
        &self,
        index: usize,
        write: &UserWrite<'_>,
        created: &HashMap<String, LmsUserId>,
        creating: &HashSet<String>,
        users_endpoint: &str,
        deadline: Deadline,
    ) -> Result<Value, LmsError> {
        let manager = match &write.manager {
            ManagerRef::SameBatch(external_id) => match created.get(external_id) {
                Some(id) => ManagerRef::User(id.clone()),
                None if creating.contains(external_id) => write.manager.clone(),
                None => ManagerRef::None,
            },
            other => other.clone(),
        };
        let write = UserWrite {
            manager,
            ..write.clone()
        };
        let capabilities = self.discovered(deadline).await?;
        let endpoint = users_endpoint.trim_end_matches('/');
        let bulk_id = bulk_id(index, &write);
        Ok(match &write.kind {
            WriteKind::Create { role } => {
                let attributes = self
                    .attributes_for(&write, Purpose::Create, deadline)
                    .await?;
                json!({
                    "method": "POST",
                    "path": endpoint,
                    "bulkId": bulk_id,
                    "data": create_body(&attributes, role, capabilities),
                })
            }
            WriteKind::Update { id } | WriteKind::Deactivate { id } => {
                let attributes = self
                    .attributes_for(&write, Purpose::Update, deadline)
                    .await?;
                json!({
                    "method": "PATCH",
                    "path": format!("{endpoint}/{}", id.0),
                    "bulkId": bulk_id,
                    "data": patch_body(&attributes),
                })
            }
        })
    }
}

/// Each write's outcome from a bulk response: matched by `bulkId`, else in order.
fn operation_outcomes(
    response: &Value,
    indices: &[usize],
    writes: &[UserWrite<'_>],
) -> Result<Vec<Result<LmsUser, LmsError>>, LmsError> {
    let operations = response
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| LmsError::Malformed("a bulk response without Operations".into()))?;
    let by_bulk_id: HashMap<&str, &Value> = operations
        .iter()
        .filter_map(|operation| Some((operation.get("bulkId")?.as_str()?, operation)))
        .collect();
    Ok(indices
        .iter()
        .enumerate()
        .map(|(position, index)| {
            let write = &writes[*index];
            let answer = by_bulk_id
                .get(bulk_id(*index, write).as_str())
                .copied()
                .or_else(|| {
                    operations
                        .get(position)
                        .filter(|operation| operation.get("bulkId").is_none())
                });
            match answer {
                Some(answer) => outcome_of(answer, write),
                // RFC 7644 §3.7.3: a server that stopped early leaves the rest unanswered.
                None => Err(LmsError::Unavailable {
                    reason: "the LMS did not run this operation of the bulk request".into(),
                    attempts: 1,
                }),
            }
        })
        .collect())
}

fn outcome_of(answer: &Value, write: &UserWrite<'_>) -> Result<LmsUser, LmsError> {
    let status = match answer.get("status") {
        Some(Value::String(text)) => text.trim().parse::<u16>().ok(),
        Some(Value::Number(number)) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .and_then(|code| StatusCode::from_u16(code).ok())
    .ok_or_else(|| LmsError::Malformed("a bulk operation without a status".into()))?;
    if !status.is_success() {
        let body = answer
            .get("response")
            .map(Value::to_string)
            .unwrap_or_default();
        return Err(error_for_response(status, body.as_bytes()));
    }
    let id = match &write.kind {
        WriteKind::Update { id } | WriteKind::Deactivate { id } => id.clone(),
        WriteKind::Create { .. } => answer
            .pointer("/response/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let location = answer.get("location")?.as_str()?;
                location
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
            })
            .map(LmsUserId)
            .ok_or_else(|| {
                LmsError::Malformed("a bulk create answered without location or id".into())
            })?,
    };
    Ok(user_written(id, write))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lms::LmsProfile;
    use crate::domain::settings::{AttributeMapping, ScimSettings};

    fn profile(id: &str) -> LmsProfile {
        LmsProfile {
            external_id: id.into(),
            email: format!("p{id}@example.com"),
            active: true,
            ..LmsProfile::default()
        }
    }

    #[test]
    fn outcomes_follow_bulk_ids_and_statuses() {
        let mapping = AttributeMapping::new(&ScimSettings::default(), &[]).unwrap();
        let (one, two, three) = (profile("1"), profile("2"), profile("3"));
        let create = |profile| UserWrite {
            kind: WriteKind::Create {
                role: "User".into(),
            },
            profile,
            mapping: &mapping,
            manager: ManagerRef::None,
        };
        let writes = [
            create(&one),
            create(&two),
            UserWrite {
                kind: WriteKind::Update {
                    id: LmsUserId("u3".into()),
                },
                ..create(&three)
            },
        ];
        let response = json!({"Operations": [
            {"method": "PATCH", "bulkId": "op-2", "status": 200},
            {"method": "POST", "bulkId": "2", "status": "409",
             "response": {"scimType": "uniqueness", "detail": "userName taken"}},
            {"method": "POST", "bulkId": "1", "status": "201",
             "location": "https://lms.example/scim/v2/Users/abc"},
        ]});
        let outcomes = operation_outcomes(&response, &[0, 1, 2], &writes).unwrap();
        assert_eq!(outcomes[0].as_ref().unwrap().id, LmsUserId("abc".into()));
        assert!(
            matches!(&outcomes[1], Err(LmsError::Conflict { detail }) if detail == "uniqueness: userName taken")
        );
        assert_eq!(outcomes[2].as_ref().unwrap().id, LmsUserId("u3".into()));

        let stopped =
            json!({"Operations": [{"bulkId": "1", "status": "201", "response": {"id": "x"}}]});
        let outcomes = operation_outcomes(&stopped, &[0, 1], &writes).unwrap();
        assert_eq!(outcomes[0].as_ref().unwrap().id, LmsUserId("x".into()));
        assert!(outcomes[1].as_ref().is_err_and(LmsError::is_retryable));
    }
}
