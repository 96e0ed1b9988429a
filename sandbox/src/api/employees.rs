//! `GET /v1/company/employees`: the query's rules (limits, offset, projection, `email`,
//! `updated_since`) and the page, rendered by the store; and the single read
//! `GET /v1/company/employees/{employee_id}`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::error::ApiError;
use super::gateway::authorize;
use super::params::{first, form_pairs};
use crate::employee::{Visibility, render_one};
use crate::endpoint::Endpoint;
use crate::state::AppState;
use crate::store::EmployeeQuery;

const MAX_EMPLOYEE_LIMIT: usize = 100;
/// The task's reading of Personio's default page size (the v1 spec's example says 10).
const DEFAULT_EMPLOYEE_LIMIT: usize = 50;

fn json_response(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub(super) async fn list_employees(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let credential = authorize(&state, &headers, Endpoint::Employees)?;
    let query = parse_employee_query(query.as_deref().unwrap_or_default())?;
    if let Some(hold) = state.listing_hold() {
        hold.pass().await;
    }
    let page = state.store().list(&query, credential.whitelist.as_ref());
    Ok(json_response(page))
}

/// Personio's documented 404 for an unknown employee (its example message, trailing space and
/// all). An id that is not a number gets the same answer: the sandbox's reading, Personio's
/// route only takes numeric ids.
fn employee_not_found() -> ApiError {
    ApiError::v1(
        StatusCode::NOT_FOUND,
        404,
        "Es ist ein Problem aufgetreten ",
    )
}

/// One employee, with the attributes the credential may read (`attributes[]` is not a
/// parameter of this endpoint). Counted against the employees rate budget.
pub(super) async fn get_employee(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(employee_id): Path<String>,
) -> Result<Response, ApiError> {
    let credential = authorize(&state, &headers, Endpoint::Employee)?;
    let id: u64 = employee_id.parse().map_err(|_| employee_not_found())?;
    let visibility = Visibility {
        whitelist: credential.whitelist.as_ref(),
        projection: None,
    };
    let store = state.store();
    let employee = store.employee(id).ok_or_else(employee_not_found)?;
    Ok(json_response(render_one(employee, visibility)))
}

fn bad_request(message: &str) -> ApiError {
    ApiError::v1(StatusCode::BAD_REQUEST, 0, message)
}

fn parse_employee_query(raw: &str) -> Result<EmployeeQuery, ApiError> {
    let pairs = form_pairs(raw.as_bytes());
    let limit = match first(&pairs, "limit") {
        None => DEFAULT_EMPLOYEE_LIMIT,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(limit) if (1..=MAX_EMPLOYEE_LIMIT).contains(&limit) => limit,
            Ok(limit) if limit > MAX_EMPLOYEE_LIMIT => {
                return Err(bad_request("The limit must not be greater than 100."));
            }
            _ => return Err(bad_request("The limit must be an integer of at least 1.")),
        },
    };
    let offset = match first(&pairs, "offset") {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|_| bad_request("The offset must be an integer of at least 0."))?,
    };
    let projection: HashSet<String> = pairs
        .iter()
        .filter(|(key, _)| key == "attributes[]")
        .map(|(_, value)| value.clone())
        .collect();
    let updated_since = first(&pairs, "updated_since")
        .map(|text| {
            parse_updated_since(text).ok_or_else(|| {
                bad_request("The updated_since must be an ISO 8601 date time (2022-12-24T08:15:30) or a date (YYYY-MM-DD).")
            })
        })
        .transpose()?;
    Ok(EmployeeQuery {
        limit,
        offset,
        email: first(&pairs, "email").map(str::to_owned),
        projection: (!projection.is_empty()).then_some(projection),
        updated_since,
    })
}

/// `2022-12-24T08:15:30` (read as UTC), a full RFC 3339 time, or `2022-12-24`.
fn parse_updated_since(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|at| at.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|at| at.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employee_query_limits_and_defaults() {
        let query = parse_employee_query("").unwrap();
        assert_eq!((query.limit, query.offset), (DEFAULT_EMPLOYEE_LIMIT, 0));
        let query = parse_employee_query(
            "limit=100&offset=200&attributes[]=email&attributes%5B%5D=status&email=A%40b.c",
        )
        .unwrap();
        assert_eq!((query.limit, query.offset), (100, 200));
        assert_eq!(query.email.as_deref(), Some("A@b.c"));
        let projection = query.projection.unwrap();
        assert!(projection.contains("email") && projection.contains("status"));
        for bad in [
            "limit=101",
            "limit=0",
            "limit=x",
            "offset=-1",
            "updated_since=yesterday",
        ] {
            assert!(parse_employee_query(bad).is_err(), "{bad} must be rejected");
        }
        let since = parse_employee_query("updated_since=2022-12-24T08:15:30")
            .unwrap()
            .updated_since;
        assert_eq!(
            since.map(|at| at.to_rfc3339()),
            Some("2022-12-24T08:15:30+00:00".to_owned())
        );
        assert!(
            parse_employee_query("updated_since=2022-12-24")
                .unwrap()
                .updated_since
                .is_some()
        );
    }
}
