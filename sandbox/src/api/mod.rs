//! The HTTP surface. Every request passes the [`gateway`] first (counted, delayed, perhaps
//! faulted); its handler then authorizes it (token and rate budget, also in the gateway module)
//! and answers with Personio's validation rules and error bodies ([`error`]).

mod auth;
mod documents;
mod documents_v2;
mod employees;
mod error;
mod gateway;
mod params;
mod upload_form;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};

use crate::endpoint::Endpoint;
use crate::state::AppState;

use error::ApiError;
use upload_form::MAX_FILE_BYTES;

/// The route table: Personio's paths, an unknown path gets Personio's v1 404 body.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(Endpoint::AuthV1.path(), post(auth::auth_v1))
        .route(Endpoint::AuthV2.path(), post(auth::auth_v2))
        .route(Endpoint::Employees.path(), get(employees::list_employees))
        .route(
            Endpoint::DocumentCategories.path(),
            get(documents::list_document_categories),
        )
        .route(
            Endpoint::DocumentUpload.path(),
            // Room for a 30 MB file plus the multipart framing; larger bodies get a 413.
            post(documents::upload_document)
                .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 1024 * 1024)),
        )
        .route(
            Endpoint::DocumentListV2.path(),
            get(documents_v2::list_documents_v2),
        )
        .fallback(|| async { ApiError::v1(StatusCode::NOT_FOUND, 0, "Not Found") })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            gateway::gateway,
        ))
        .with_state(state)
}
