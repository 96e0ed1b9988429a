//! Integrations: create, list, read, change, delete. Credentials go to the credential store and
//! never come back: the record keeps only the reference the store returned.

use super::body::{IntegrationChanges, NewIntegration, parse_json};
use super::{AdminApi, ApiError, ApiResult, Caller, json_response, with_etag};
use crate::app::connect::check_connection;
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::ports::StoreError;
use bytes::Bytes;
use chrono::Utc;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tracing::{error, info};

#[derive(Serialize)]
struct IntegrationList {
    integrations: Vec<IntegrationRecord>,
}

impl AdminApi {
    pub(super) async fn create_integration(&self, caller: &Caller, body: &Bytes) -> ApiResult {
        let new = NewIntegration::parse(&parse_json(body, None)?)?;
        check_connection(&new.personio, &new.lms, &self.adapters.connector.policy())?;
        let id = IntegrationId::new(uuid::Uuid::new_v4().to_string());
        let secret_ref = self
            .adapters
            .credentials
            .put_credentials(&id, &new.credentials)
            .await?;
        let now = Utc::now();
        let record = IntegrationRecord {
            id: id.clone(),
            tenant_id: caller.tenant_id.clone(),
            name: new.name,
            personio: new.personio,
            lms: new.lms,
            settings: new.settings,
            schedule: new.schedule,
            next_run_at: new.schedule.next_after(now),
            secret_ref,
            created_at: now,
            updated_at: now,
            version: 1,
            certificate_problem: None,
        };
        if let Err(error) = self
            .adapters
            .integrations
            .put_integration(&record, None)
            .await
        {
            // No record will ever point at these credentials.
            if let Err(cleanup) = self.adapters.credentials.delete_credentials(&id).await {
                error!(integration = %id, error = %cleanup, "credentials of an integration that was not created were not removed");
            }
            return Err(error.into());
        }
        info!(integration = %id, tenant = %caller.tenant_id, "integration created");
        let mut response = with_etag(json_response(StatusCode::CREATED, &record), record.version);
        if let Ok(location) = HeaderValue::from_str(&format!("/integrations/{id}")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }

    pub(super) async fn list_integrations(&self, caller: &Caller) -> ApiResult {
        let integrations = self
            .adapters
            .integrations
            .integrations_of_tenant(&caller.tenant_id)
            .await?;
        Ok(json_response(
            StatusCode::OK,
            &IntegrationList { integrations },
        ))
    }

    pub(super) async fn get_integration(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        Ok(with_etag(
            json_response(StatusCode::OK, &record),
            record.version,
        ))
    }

    /// Optimistic concurrency: the client names the version it read (`If-Match` or `version`);
    /// a change on top of any other version is refused with 412, so two admins cannot
    /// overwrite each other's edits unknowingly.
    pub(super) async fn update_integration(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        if_match: Option<u64>,
        body: &Bytes,
    ) -> ApiResult {
        let changes = IntegrationChanges::parse(&parse_json(body, None)?)?;
        let mut record = self.owned_integration(caller, id).await?;
        let expected = if_match
            .or(changes.version)
            .ok_or(ApiError::VersionRequired)?;
        if expected != record.version {
            return Err(ApiError::VersionMismatch { expected });
        }

        let connection_changed = changes.personio.is_some() || changes.lms.is_some();
        if let Some(name) = changes.name {
            record.name = name;
        }
        if let Some(personio) = changes.personio {
            record.personio = personio;
        }
        if let Some(lms) = changes.lms {
            record.lms = lms;
        }
        if let Some(settings) = changes.settings {
            record.settings = settings;
        }
        let now = Utc::now();
        if let Some(schedule) = changes.schedule
            && schedule != record.schedule
        {
            record.schedule = schedule;
            record.next_run_at = schedule.next_after(now);
        }
        if connection_changed {
            check_connection(
                &record.personio,
                &record.lms,
                &self.adapters.connector.policy(),
            )?;
        }
        if !changes.credentials.is_empty() {
            // Rotating one secret keeps the others.
            let credentials = match changes.credentials.complete() {
                Some(credentials) => credentials,
                None => {
                    let stored = self.adapters.credentials.credentials(id).await?;
                    changes.credentials.apply_to(stored)
                }
            };
            record.secret_ref = self
                .adapters
                .credentials
                .put_credentials(id, &credentials)
                .await?;
            info!(integration = %id, "integration credentials rotated");
        }
        record.updated_at = now;
        record.version = expected + 1;
        self.adapters
            .integrations
            .put_integration(&record, Some(expected))
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => ApiError::VersionMismatch { expected },
                other => other.into(),
            })?;
        info!(integration = %id, version = record.version, "integration changed");
        Ok(with_etag(
            json_response(StatusCode::OK, &record),
            record.version,
        ))
    }

    /// Deletes the record (at the version in `If-Match`, else at the version just read) and its
    /// credentials. The run history and the ledger stay: they are history, and runs expire by
    /// themselves.
    pub(super) async fn delete_integration(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        if_match: Option<u64>,
    ) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        let expected = if_match.unwrap_or(record.version);
        if expected != record.version {
            return Err(ApiError::VersionMismatch { expected });
        }
        self.adapters
            .integrations
            .delete_integration(id, expected)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => ApiError::VersionMismatch { expected },
                other => other.into(),
            })?;
        info!(integration = %id, "integration deleted");
        // After the record: a refused delete must leave a live integration its secrets. A failure
        // here leaves an orphaned secret, which is logged for cleanup rather than undoing the
        // delete the caller asked for.
        if let Err(error) = self.adapters.credentials.delete_credentials(id).await {
            error!(integration = %id, %error, "the deleted integration's credentials were not removed");
        }
        let mut response = http::Response::new(Bytes::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }
}
