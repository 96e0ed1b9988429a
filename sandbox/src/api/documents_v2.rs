//! `GET /v2/document-management/documents`: one owner's documents, cursor-paginated, in the v2
//! shape (`_data`, `_meta.links`).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::gateway::authorize;
use super::params::{first, form_pairs};
use super::v2_list::{decode_cursor, encode_cursor, invalid_v2, list_body, page_limit};
use crate::endpoint::Endpoint;
use crate::state::AppState;
use crate::store::{UploadedDocument, documents_of};

/// The position a v2 cursor stands for: the listing's filters and the last id already served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DocumentCursor {
    owner_id: u64,
    category_id: Option<u64>,
    after_id: u64,
}

impl DocumentCursor {
    fn encode(&self) -> String {
        encode_cursor(&format!(
            "{}:{}:{}",
            self.owner_id,
            self.category_id.map_or(String::new(), |id| id.to_string()),
            self.after_id
        ))
    }

    fn decode(text: &str) -> Option<Self> {
        let plain = decode_cursor(text)?;
        let mut parts = plain.split(':');
        let owner_id = parts.next()?.parse().ok()?;
        let category_id = match parts.next()? {
            "" => None,
            id => Some(id.parse().ok()?),
        };
        let after_id = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self {
            owner_id,
            category_id,
            after_id,
        })
    }
}

pub(super) async fn list_documents_v2(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::DocumentListV2)?;
    let pairs = form_pairs(query.as_deref().unwrap_or_default().as_bytes());
    let limit = page_limit(&pairs)?;
    let position = listing_position(&pairs)?;
    let store = state.store();
    let mut matching = documents_of(store.documents(), position.owner_id, position.category_id)
        .filter(|document| document.id > position.after_id)
        .peekable();
    let mut page = Vec::with_capacity(limit.min(64));
    while page.len() < limit {
        match matching.next() {
            Some(document) => page.push(document),
            None => break,
        }
    }
    let has_more = matching.peek().is_some();
    let data: Vec<Value> = page
        .iter()
        .map(|document| document_v2_json(document))
        .collect();
    let endpoint = format!("{}{}", state.base_url, Endpoint::DocumentListV2.path());
    let next = match (has_more, page.last()) {
        (true, Some(last)) => {
            let next = DocumentCursor {
                after_id: last.id,
                ..position
            };
            Some(format!("cursor={}&limit={limit}", next.encode()))
        }
        _ => None,
    };
    Ok(axum::Json(list_body(data, &endpoint, query.as_deref(), next)).into_response())
}

/// Where the page starts: a `cursor` carries the filters on, otherwise `owner_id` (required)
/// and `category_id` start a new listing.
fn listing_position(pairs: &[(String, String)]) -> Result<DocumentCursor, ApiError> {
    if let Some(cursor) = first(pairs, "cursor") {
        return DocumentCursor::decode(cursor)
            .ok_or_else(|| invalid_v2("The cursor is invalid.".to_owned()));
    }
    let owner_id = first(pairs, "owner_id")
        .ok_or_else(|| invalid_v2("owner_id is required.".to_owned()))?
        .parse()
        .map_err(|_| invalid_v2("owner_id must be a numeric id.".to_owned()))?;
    let category_id = first(pairs, "category_id")
        .map(|id| {
            id.parse()
                .map_err(|_| invalid_v2("category_id must be a numeric id.".to_owned()))
        })
        .transpose()?;
    Ok(DocumentCursor {
        owner_id,
        category_id,
        after_id: 0,
    })
}

/// A document's metadata in the v2 shape (ids as strings, as everywhere in v2).
fn document_v2_json(document: &UploadedDocument) -> Value {
    json!({
        "id": document.id.to_string(),
        "name": document.title,
        "comment": document.comment.clone().unwrap_or_default(),
        "date": document.date.format("%Y-%m-%d").to_string(),
        "category": {"id": document.category_id.to_string()},
        "owner": {"id": document.employee_id.to_string()},
        "created_at": document.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = DocumentCursor {
            owner_id: 10001,
            category_id: Some(3),
            after_id: 17,
        };
        assert_eq!(DocumentCursor::decode(&cursor.encode()), Some(cursor));
        let without_category = DocumentCursor {
            category_id: None,
            ..cursor
        };
        assert_eq!(
            DocumentCursor::decode(&without_category.encode()),
            Some(without_category)
        );
        for garbage in ["", "cur_", "cur_zz", "abc", "cur_3a3a3a3a"] {
            assert_eq!(DocumentCursor::decode(garbage), None, "{garbage}");
        }
    }
}
