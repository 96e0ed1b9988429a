//! Sync now, dry-run plans, employee syncs, pre-flight checks and the run history of one
//! integration.

use super::{AdminApi, ApiError, ApiResult, Caller, json_response};
use crate::app::preflight::{PreflightReport, run_preflight};
use crate::app::run_history;
use crate::app::targeted_sync::{named_scope, parse_employee_id};
use crate::domain::IntegrationId;
use crate::domain::integration::IntegrationRecord;
use crate::domain::job::SyncJob;
use crate::domain::run::{RunId, RunKind, RunRecord, Trigger};
use crate::notify::DiscardNotifier;
use crate::progress::NoProgress;
use crate::retry::Deadline;
use crate::sync::{SyncEngine, SyncError, SyncOutcome, SyncRequest};
use chrono::Utc;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// Time left after the remote budget for the run record to be written and the answer sent;
/// past it the request is abandoned rather than cut off by API Gateway without an answer.
pub(super) const WRAP_UP: Duration = Duration::from_secs(3);

#[derive(Serialize)]
struct CheckResponse<'a> {
    passed: bool,
    #[serde(flatten)]
    report: &'a PreflightReport,
}

#[derive(Serialize)]
struct RunList {
    runs: Vec<Value>,
}

impl AdminApi {
    pub(super) async fn sync_now(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        self.owned_integration(caller, id).await?;
        self.enqueue(id, RunKind::Full).await
    }

    /// A reconcile run on demand: the sync plus the repair of what was changed in the LMS by
    /// hand (deleted or edited users, removed memberships).
    pub(super) async fn reconcile_now(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        self.owned_integration(caller, id).await?;
        self.enqueue(id, RunKind::Reconcile).await
    }

    async fn enqueue(&self, id: &IntegrationId, kind: RunKind) -> ApiResult {
        let job = SyncJob {
            integration_id: id.clone(),
            trigger: Trigger::Manual,
            dry_run: false,
            kind,
            requested_at: Utc::now(),
            employees: Vec::new(),
            delta: false,
        };
        self.adapters.queue.enqueue_sync(&job).await?;
        info!(integration = %id, ?kind, "sync requested");
        Ok(json_response(StatusCode::ACCEPTED, &job))
    }

    /// A dry run: the same reads and the same plan as a sync, recorded as a run, with no LMS or
    /// link writes and no email.
    pub(super) async fn plan(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        let mut request = SyncRequest::new(id.clone(), record.settings.clone(), Trigger::Manual);
        request.dry_run = true;
        // A dry run composes no email; the engine is built with a notifier all the same.
        self.run_within_budget(&record, request, Arc::new(DiscardNotifier), "the plan")
            .await
    }

    /// Provision on demand: the plan and apply for one employee (a targeted run), with the lease
    /// taken as for any run; the answer is the run's record with the employee's outcome.
    pub(super) async fn sync_employee(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        personio_id: &str,
    ) -> ApiResult {
        let personio_id = parse_employee_id(personio_id)
            .map_err(|error| ApiError::invalid("personio_id", error.to_string()))?;
        let record = self.owned_integration(caller, id).await?;
        let mut request = SyncRequest::new(id.clone(), record.settings.clone(), Trigger::Manual);
        request.scope = named_scope([personio_id])
            .map_err(|error| ApiError::invalid("personio_id", error.to_string()))?;
        request.lease_holder = format!("admin API employee sync {}", uuid::Uuid::new_v4());
        // Within the request's budget; should the host end the request anyway, the lease
        // expires soon after.
        request.lease_ttl = chrono::Duration::minutes(1);
        let notifier = self.adapters.notifier.clone();
        info!(integration = %id, %personio_id, "employee sync requested");
        self.run_within_budget(&record, request, notifier, "the employee sync")
            .await
    }

    /// Connects the integration and runs `request` within the remote budget; the answer is
    /// the run's record.
    async fn run_within_budget(
        &self,
        record: &IntegrationRecord,
        mut request: SyncRequest,
        notifier: Arc<dyn crate::ports::Notifier>,
        what: &str,
    ) -> ApiResult {
        let deadline = Deadline::after(self.limits.remote_budget);
        let connected = self.adapters.connector.connect(record, deadline).await?;
        let engine = SyncEngine::new(
            connected.hr,
            connected.lms,
            self.adapters.state.clone(),
            notifier,
        );
        request.deadline = deadline;
        let run = engine.run(request, &NoProgress);
        let outcome = tokio::time::timeout(self.limits.remote_budget + WRAP_UP, run)
            .await
            .map_err(|_| ApiError::Unavailable(format!("{what} did not finish in time")))?
            .map_err(|error| match error {
                SyncError::Settings(error) => ApiError::invalid("settings", error.to_string()),
                SyncError::Store { source, .. } => source.into(),
            })?;
        match outcome {
            SyncOutcome::Completed(run) => Ok(json_response(StatusCode::OK, &run)),
            SyncOutcome::LeaseHeld { holder, expires_at } => Err(ApiError::Conflict(format!(
                "a sync run ({holder}) holds the integration until {expires_at}; try again \
                 after it"
            ))),
        }
    }

    pub(super) async fn check(&self, caller: &Caller, id: &IntegrationId) -> ApiResult {
        let record = self.owned_integration(caller, id).await?;
        let deadline = Deadline::after(self.limits.remote_budget);
        let connected = self.adapters.connector.connect(&record, deadline).await?;
        let checks = run_preflight(
            connected.hr.as_ref(),
            connected.lms.as_ref(),
            &record.settings,
            deadline,
        );
        let mut report = tokio::time::timeout(self.limits.remote_budget + WRAP_UP, checks)
            .await
            .map_err(|_| ApiError::Unavailable("the check did not finish in time".into()))?;
        report
            .checks
            .push(self.webhook_check(&record, deadline).await);
        Ok(json_response(
            StatusCode::OK,
            &CheckResponse {
                passed: report.passed(),
                report: &report,
            },
        ))
    }

    /// The newest runs, without their per-employee outcomes (those are in the single run).
    pub(super) async fn list_runs(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        limit: usize,
    ) -> ApiResult {
        self.owned_integration(caller, id).await?;
        let runs = run_history::recent_runs(self.adapters.state.as_ref(), id, limit).await?;
        let runs = runs.iter().map(run_summary).collect();
        Ok(json_response(StatusCode::OK, &RunList { runs }))
    }

    pub(super) async fn get_run(
        &self,
        caller: &Caller,
        id: &IntegrationId,
        run_id: String,
    ) -> ApiResult {
        self.owned_integration(caller, id).await?;
        let run_id = RunId(run_id);
        match run_history::run(self.adapters.state.as_ref(), id, &run_id).await? {
            Some(run) => Ok(json_response(StatusCode::OK, &run)),
            None => Err(ApiError::NotFound(format!(
                "integration {id} has no run {run_id}"
            ))),
        }
    }
}

/// A run record without its outcomes, plus how many there are.
fn run_summary(run: &RunRecord) -> Value {
    let mut summary = serde_json::to_value(run).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut summary {
        fields.remove("outcomes");
        fields.insert("outcome_count".into(), Value::from(run.outcomes.len()));
    }
    summary
}
