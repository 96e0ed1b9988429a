//! The application layer: what a host calls. Every use case of the integration is here, side by
//! side; hosts (the CLI, the Lambda functions, the admin API) pick adapters, connect, and call one
//! of these.
//!
//! - [`connect`]: connecting an integration (its Personio and SCIM clients) under the host's
//!   [`ConnectPolicy`], directly or through a [`Connector`] that reads the secrets first.
//! - [`integration_sync`]: syncing an integration — the sync run, then the release of parked
//!   certificates ([`sync_integration`]).
//! - [`sync_job`]: the sync-job consumer (one job from the sync queue → one sync).
//! - [`targeted_sync`]: naming the employees of a targeted run (`sync --only`, the admin API's
//!   employee sync, a job naming employees).
//! - [`certificate_jobs`]: the certificate-job consumer (a batch from the certificate queue →
//!   Personio documents).
//! - [`explain`]: one employee as the sync sees them ("why was X not synced?").
//! - [`preflight`]: the pre-flight check of an integration (`personio-lms check`, the admin API).
//! - [`roster`]: reading Personio as a sync does, for the use cases that look before a run
//!   (and the first-sync count the CLI confirms).
//! - [`run_lookup`]: one run by its id, a unique prefix of it, or `latest`.
//! - [`run_history`]: the run history as every reader shows it (a dead run reads `abandoned`),
//!   and what the next run says about such runs.
//! - [`lease`]: the sync lease for hosts: taking over a dead local holder's lease, breaking a
//!   lease by hand (`personio-lms unlock`).
//! - [`schedule`]: the scheduler's claim of due integrations and their sync jobs.
//! - [`delta_runs`]: which scheduled runs are deltas, and where a delta starts.
//! - [`job_batch`]: a batch of sync jobs folded into as few runs as do the same work (webhook
//!   events close together become one targeted run).
//! - [`webhook_receiver`]: a Personio webhook delivery → checked → a sync job naming the
//!   employee.
//! - [`webhook_setup`]: installing, showing and removing an integration's Personio webhook.
//! - [`observe`]: an integration's health and parked certificates, read for the hosts' metrics.
//! - [`audit`]: reading the audit trail of admin actions (`personio-lms audit`, the admin API).
//!
//! The engines they drive are below: `crate::sync` (the sync run) and `crate::certificates` (the
//! certificate push); they see the world only through `crate::ports`.

pub mod audit;
pub mod certificate_jobs;
pub mod connect;
pub mod delta_runs;
pub mod explain;
pub mod integration_sync;
pub mod job_batch;
pub mod lease;
pub mod observe;
pub mod preflight;
pub mod roster;
pub mod run_history;
pub mod run_lookup;
pub mod schedule;
pub mod sync_job;
pub mod targeted_sync;
pub mod webhook_receiver;
pub mod webhook_setup;

pub use certificate_jobs::{CertificateConsumer, ConsumedBatch, RecordOutcome};
pub use connect::{
    ConnectError, ConnectPolicy, Connector, CredentialsConnector, FixedConnector,
    IntegrationAdapters, check_connection, connect_integration, connect_personio,
};
pub use delta_runs::{full_run_due, scheduled_scope};
pub use explain::{EmployeeKey, ExplainError, Explanation, explain_employee};
pub use integration_sync::{IntegrationSync, SyncVerdict, sync_integration};
pub use job_batch::{Coalesced, CoalescedJob, MessageResult, coalesce};
pub use lease::{
    LeaseState, ProcessHolder, break_lease, lease_state, take_over_from_dead_local_holder,
};
pub use preflight::{Check, CheckStatus, PreflightReport, run_preflight};
pub use roster::{first_sync_accounts, read_roster};
pub use run_lookup::{RunLookupError, find_run};
pub use schedule::{ScheduleError, ScheduleReport, enqueue_due_syncs, next_run_after};
pub use sync_job::{SyncJobDone, SyncJobError, SyncJobHandler};
pub use targeted_sync::{MAX_NAMED_EMPLOYEES, NamedEmployeesError, named_scope, parse_employee_id};
pub use webhook_receiver::{DeliveryAnswer, ReceiveError, Received, WebhookEvent, WebhookReceiver};
pub use webhook_setup::{
    InstalledWebhook, ReceivingHost, WebhookSetupError, WebhookStatus, install_webhook,
    receiver_url, remove_webhook, webhook_check, webhook_status,
};
