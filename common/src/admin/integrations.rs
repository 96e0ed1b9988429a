//! Integrations: create, list, read, change, delete. Credentials go to the credential store and
//! never come back: the record keeps only the reference the store returned.

use super::body::{IntegrationChanges, NewIntegration, parse_json};
use super::{AdminApi, ApiError, ApiResult, Caller, json_response, with_etag};
use crate::app::connect::{check_connection_resolved, personio_origin, scim_origin};
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::ports::{IntegrationCredentials, StoreError};
use bytes::Bytes;
use chrono::Utc;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tracing::{error, info, warn};

#[derive(Serialize)]
struct IntegrationList {
    integrations: Vec<IntegrationRecord>,
}

impl AdminApi {
    pub(super) async fn create_integration(&self, caller: &Caller, body: &Bytes) -> ApiResult {
        let new = NewIntegration::parse(&parse_json(body, None)?)?;
        check_connection_resolved(&new.personio, &new.lms, &self.adapters.connector.policy())
            .await?;
        let id = IntegrationId::new(uuid::Uuid::new_v4().to_string());
        // The secrets are sent only where they were given for.
        let mut credentials = new.credentials;
        credentials.personio_origin = personio_origin(&new.personio);
        credentials.scim_origin = scim_origin(&new.lms);
        let secret_ref = self
            .adapters
            .credentials
            .put_credentials(&id, &credentials)
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
    ///
    /// A base URL pointing to another origin needs that system's secret in the same request:
    /// stored secrets go only where their owner named. New secrets are stored only after the
    /// record's conditional write succeeded, so a change that loses a race leaves the stored
    /// secrets as they were; and each secret remembers the origin it was given for, so a record
    /// written with a new address is never connected with the old secret.
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
        let (personio_before, scim_before) =
            (personio_origin(&record.personio), scim_origin(&record.lms));
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
            check_connection_resolved(
                &record.personio,
                &record.lms,
                &self.adapters.connector.policy(),
            )
            .await?;
        }
        let new_personio = personio_origin(&record.personio);
        let new_scim = scim_origin(&record.lms);
        if new_personio != personio_before && changes.credentials.personio_client_secret.is_none() {
            return Err(secret_required(
                "personio.client_secret",
                "personio.base_url",
            ));
        }
        if new_scim != scim_before && changes.credentials.lms_token.is_none() {
            return Err(secret_required("lms.token", "lms.scim_base_url"));
        }
        // Rotating one secret keeps the others (read now, written after the record).
        let rotated = if changes.credentials.is_empty() {
            None
        } else {
            let given_personio = changes.credentials.personio_client_secret.is_some();
            let given_lms = changes.credentials.lms_token.is_some();
            let mut credentials = match changes.credentials.complete() {
                Some(credentials) => credentials,
                None => {
                    let stored = self.adapters.credentials.credentials(id).await?;
                    changes.credentials.apply_to(stored)
                }
            };
            if given_personio {
                credentials.personio_origin = new_personio;
            }
            if given_lms {
                credentials.scim_origin = new_scim;
            }
            Some(credentials)
        };
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
        if let Some(credentials) = rotated {
            record = self.rotate_credentials(record, &credentials).await?;
        }
        Ok(with_etag(
            json_response(StatusCode::OK, &record),
            record.version,
        ))
    }

    /// Stores rotated credentials of a record just written. Should the store fail, the record
    /// keeps its new version: a changed address then meets secrets given for the old one, which
    /// the connector refuses to send there, and the caller is told to send the secrets again.
    async fn rotate_credentials(
        &self,
        mut record: IntegrationRecord,
        credentials: &IntegrationCredentials,
    ) -> Result<IntegrationRecord, ApiError> {
        let id = record.id.clone();
        let secret_ref = match self
            .adapters
            .credentials
            .put_credentials(&id, credentials)
            .await
        {
            Ok(secret_ref) => secret_ref,
            Err(error) => {
                error!(integration = %id, %error, "integration changed, its credentials not stored");
                return Err(ApiError::Unavailable(format!(
                    "the integration was changed (version {}), but its new credentials could \
                     not be stored: {error}; send them again",
                    record.version
                )));
            }
        };
        info!(integration = %id, "integration credentials rotated");
        if secret_ref != record.secret_ref {
            let written = record.version;
            record.secret_ref = secret_ref;
            record.version = written + 1;
            if let Err(error) = self
                .adapters
                .integrations
                .put_integration(&record, Some(written))
                .await
            {
                // Only the reference shown to people is stale; the secret itself is stored.
                warn!(integration = %id, %error, "the credentials' new reference was not recorded");
                record.version = written;
            }
        }
        Ok(record)
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

/// A base URL moved to another origin without its system's secret.
fn secret_required(secret: &str, url: &str) -> ApiError {
    ApiError::invalid(
        secret,
        format!(
            "is required when {url} changes to another host: the stored secret is only ever sent \
             to the address it was given for"
        ),
    )
}
