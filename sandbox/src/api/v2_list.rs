//! The pieces every v2 list shares: `limit` (1..=200, default 100, from Personio's common
//! components), opaque `cur_…` cursors, and the `{_data, _meta.links.self/next}` body.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use super::params::first;

const MAX_V2_LIMIT: usize = 200;
const DEFAULT_V2_LIMIT: usize = 100;

pub(super) fn invalid_v2(detail: String) -> ApiError {
    ApiError::v2(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        detail,
        "common.invalid_request",
    )
}

/// `limit`: 1..=200, 100 when not given.
pub(super) fn page_limit(pairs: &[(String, String)]) -> Result<usize, ApiError> {
    let Some(text) = first(pairs, "limit") else {
        return Ok(DEFAULT_V2_LIMIT);
    };
    text.parse::<usize>()
        .ok()
        .filter(|limit| (1..=MAX_V2_LIMIT).contains(limit))
        .ok_or_else(|| {
            invalid_v2(format!(
                "limit must be an integer between 1 and {MAX_V2_LIMIT}."
            ))
        })
}

/// A cursor on the wire: opaque (`cur_` and hex), like Personio's, but stateless.
pub(super) fn encode_cursor(plain: &str) -> String {
    let hex: String = plain.bytes().map(|byte| format!("{byte:02x}")).collect();
    format!("cur_{hex}")
}

pub(super) fn decode_cursor(text: &str) -> Option<String> {
    let hex = text.strip_prefix("cur_")?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(hex.get(index..index + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// A v2 list body; `next` is the query of the next page, if there is one.
pub(super) fn list_body(
    data: Vec<Value>,
    endpoint_url: &str,
    query: Option<&str>,
    next: Option<String>,
) -> Value {
    let self_href = match query {
        Some(query) if !query.is_empty() => format!("{endpoint_url}?{query}"),
        _ => endpoint_url.to_owned(),
    };
    let mut links = json!({"self": {"href": self_href}});
    if let (Some(next), Some(object)) = (next, links.as_object_mut()) {
        object.insert(
            "next".to_owned(),
            json!({"href": format!("{endpoint_url}?{next}")}),
        );
    }
    json!({"_data": data, "_meta": {"links": links}})
}

/// One page of an in-memory list whose filters travel in the cursor: the filters are the
/// request's query without `cursor` and `limit`, the position is an index into the filtered
/// list (which only grows at its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListPosition {
    /// The filter parameters, as `key=value&…`.
    pub filters: String,
    pub offset: usize,
}

impl ListPosition {
    /// From a request: a `cursor` carries filters and position; otherwise the request's own
    /// filters start at the beginning.
    pub fn of_request(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        if let Some(cursor) = first(pairs, "cursor") {
            let invalid = || invalid_v2("The cursor is invalid.".to_owned());
            let plain = decode_cursor(cursor).ok_or_else(invalid)?;
            let (offset, filters) = plain.split_once('\n').ok_or_else(invalid)?;
            return Ok(Self {
                filters: filters.to_owned(),
                offset: offset.parse().map_err(|_| invalid())?,
            });
        }
        let filters = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                pairs
                    .iter()
                    .filter(|(key, _)| key != "limit" && key != "cursor"),
            )
            .finish();
        Ok(Self { filters, offset: 0 })
    }

    /// The filter parameters as pairs.
    pub fn filter_pairs(&self) -> Vec<(String, String)> {
        super::params::form_pairs(self.filters.as_bytes())
    }

    /// The page of `items` at this position, and the query of the next page if any.
    pub fn page<T: Clone>(&self, items: &[T], limit: usize) -> (Vec<T>, Option<String>) {
        let start = self.offset.min(items.len());
        let end = start.saturating_add(limit).min(items.len());
        let next = (end < items.len()).then(|| {
            let cursor = encode_cursor(&format!("{end}\n{}", self.filters));
            format!("cursor={cursor}&limit={limit}")
        });
        (items[start..end].to_vec(), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        super::super::params::form_pairs(query.as_bytes())
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_cursor(&encode_cursor("a\nb=c")).as_deref(),
            Some("a\nb=c")
        );
        for garbage in ["", "abc", "cur_zz", "cur_ffff"] {
            assert_eq!(decode_cursor(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn positions_carry_filters_across_pages() {
        let start = ListPosition::of_request(&pairs("status=ENABLED&limit=2")).unwrap();
        assert_eq!(start.filters, "status=ENABLED");
        let items = [1, 2, 3, 4, 5];
        let (page, next) = start.page(&items, 2);
        assert_eq!(page, [1, 2]);
        let next = next.unwrap();
        let second = ListPosition::of_request(&pairs(&next)).unwrap();
        assert_eq!(second.filter_pairs(), pairs("status=ENABLED"));
        let (page, next) = second.page(&items, 2);
        assert_eq!(page, [3, 4]);
        let (page, next) = ListPosition::of_request(&pairs(&next.unwrap()))
            .unwrap()
            .page(&items, 2);
        assert_eq!((page, next), (vec![5], None));
        assert!(ListPosition::of_request(&pairs("cursor=cur_41")).is_err());
    }
}
