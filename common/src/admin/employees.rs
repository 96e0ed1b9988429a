//! One employee of an integration: `GET /integrations/{id}/employees/{personio_id}`, the
//! answer to "why was X (not) synced?" (`crate::app::explain`).

use super::{AdminApi, ApiError, ApiResult, Caller, json_response};
use crate::app::explain::{EmployeeKey, ExplainError, explain_employee};
use crate::domain::IntegrationId;
use crate::domain::employee::PersonioId;
use crate::ports::SyncStore;
use crate::retry::Deadline;
use http::StatusCode;

impl AdminApi {
    pub(super) async fn explain_employee(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        personio_id: String,
    ) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        let key = match personio_id.trim().parse::<i64>() {
            Ok(number) if number > 0 => EmployeeKey::PersonioId(PersonioId(number)),
            _ => {
                return Err(ApiError::invalid(
                    "personio_id",
                    format!("{personio_id:?} is not a Personio employee id (a positive number)"),
                ));
            }
        };
        let deadline = Deadline::after(self.limits.remote_budget);
        let connected = self.adapters.connector.connect(&record, deadline).await?;
        let store: &dyn SyncStore = self.adapters.state.as_ref();
        let work = explain_employee(
            connected.hr.as_ref(),
            connected.lms.as_ref(),
            store,
            id,
            &record.settings,
            &key,
            deadline,
        );
        let answer = tokio::time::timeout(self.limits.remote_budget + super::WRAP_UP, work)
            .await
            .map_err(|_| ApiError::Unavailable("the explanation did not finish in time".into()))?
            .map_err(|error| match error {
                ExplainError::Unknown(_) => ApiError::NotFound(error.to_string()),
                ExplainError::BadKey(_) => ApiError::invalid("personio_id", error.to_string()),
                ExplainError::Store(error) => error.into(),
                ExplainError::Personio(error) if error.is_retryable() => {
                    ApiError::Unavailable(error.to_string())
                }
                // Rejected credentials, a base URL that is not Personio: the integration's
                // settings need fixing, retrying will not help.
                ExplainError::Personio(error) => ApiError::invalid("personio", error.to_string()),
            })?;
        Ok(json_response(StatusCode::OK, &answer))
    }
}
