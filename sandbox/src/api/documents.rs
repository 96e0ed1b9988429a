//! v1 documents: `GET /v1/company/document-categories` and `POST /v1/company/documents`.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::error::ApiError;
use super::gateway::authorize;
use super::upload_form::{read_upload_form, validate_upload};
use crate::config::DocumentCategory;
use crate::endpoint::Endpoint;
use crate::state::AppState;
use crate::store::UploadedDocument;

fn category_json(category: &DocumentCategory) -> Value {
    json!({"id": category.id, "type": "DocumentCategory", "attributes": {"name": category.name}})
}

pub(super) async fn list_document_categories(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Endpoint::DocumentCategories)?;
    let data: Vec<Value> = state.categories.iter().map(category_json).collect();
    Ok(axum::Json(json!({"success": true, "data": data})).into_response())
}

pub(super) async fn upload_document(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let credential = authorize(&state, &headers, Endpoint::DocumentUpload)?;
    let multipart = multipart
        .map_err(|rejection| ApiError::v1(StatusCode::BAD_REQUEST, 0, &rejection.body_text()))?;
    let upload = validate_upload(read_upload_form(multipart).await?)?;
    let not_found = |model: &str, id: u64| {
        ApiError::v1(
            StatusCode::NOT_FOUND,
            0,
            &format!("No query results for model [{model}] {id}"),
        )
    };
    let category = state
        .categories
        .iter()
        .find(|category| category.id == upload.category_id)
        .ok_or_else(|| not_found("DocumentCategory", upload.category_id))?;
    let mut store = state.store_mut();
    let owner = store
        .employee(upload.employee_id)
        .map(|employee| employee.short_json())
        .ok_or_else(|| not_found("Employee", upload.employee_id))?;
    let now = Utc::now();
    let document = store.add_document(UploadedDocument {
        id: 0,
        employee_id: upload.employee_id,
        category_id: upload.category_id,
        title: upload.title,
        comment: upload.comment,
        // Personio dates a document with the upload day when no date is given.
        date: upload.date.unwrap_or_else(|| now.date_naive()),
        file_name: upload.file_name,
        content_type: upload.content_type,
        bytes: upload.bytes,
        created_at: now,
        uploaded_by: credential.client_id.clone(),
    });
    tracing::debug!(
        id = document.id,
        employee = document.employee_id,
        "document uploaded"
    );
    let body = json!({
        "success": true,
        "data": {
            "id": document.id,
            "type": "Document",
            "attributes": {
                "title": document.title,
                "date": document.date.format("%Y-%m-%d").to_string(),
                "comment": document.comment.clone().unwrap_or_default(),
                "employee": owner,
                "category": category_json(category),
            },
        },
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}
