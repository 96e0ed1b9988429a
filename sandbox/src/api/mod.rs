//! The HTTP surface. Every request passes the [`gateway`] first (counted, delayed, perhaps
//! faulted); its handler then authorizes it (token, scope and rate budget, also in the gateway
//! module) and answers with Personio's validation rules and error bodies ([`error`]).

mod auth;
mod control;
mod documents;
mod documents_v2;
mod employees;
mod error;
mod gateway;
mod params;
mod upload_form;
mod v2_list;
mod webhook_history;
mod webhooks;

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

/// The route table: Personio's paths (plus the `/_sandbox/` control surface when asked for); an
/// unknown path gets Personio's v1 404 body.
pub(crate) fn router(state: Arc<AppState>, control_api: bool) -> Router {
    let mut router = Router::new()
        .route(Endpoint::AuthV1.path(), post(auth::auth_v1))
        .route(Endpoint::AuthV2.path(), post(auth::auth_v2))
        .route(Endpoint::Employees.path(), get(employees::list_employees))
        .route(Endpoint::Employee.path(), get(employees::get_employee))
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
        .route(
            Endpoint::WebhookList.path(),
            get(webhooks::list_webhooks).post(webhooks::create_webhook),
        )
        .route(
            Endpoint::WebhookGet.path(),
            get(webhooks::get_webhook)
                .patch(webhooks::update_webhook)
                .delete(webhooks::delete_webhook),
        )
        .route(
            Endpoint::WebhookEvents.path(),
            get(webhook_history::list_events),
        )
        .route(
            Endpoint::WebhookActivity.path(),
            get(webhook_history::list_activity),
        )
        .route(
            Endpoint::WebhookRedelivery.path(),
            post(webhook_history::redeliver),
        )
        .route(Endpoint::WebhookPing.path(), post(webhook_history::ping))
        .route(
            Endpoint::WebhookTestEvent.path(),
            post(webhook_history::test_event),
        );
    if control_api {
        router = router.merge(control::routes());
    }
    router
        .fallback(|| async { ApiError::v1(StatusCode::NOT_FOUND, 0, "Not Found") })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            gateway::gateway,
        ))
        .with_state(state)
}
