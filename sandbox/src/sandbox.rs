//! Starting a sandbox, and the handle that inspects and changes a running one.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api;
use crate::config::{Faults, RateLimits, SandboxConfig};
use crate::credentials::{AuthRegistry, Credential};
use crate::employee::{Employee, load_dataset, save_dataset};
use crate::endpoint::scopes;
use crate::error::SandboxError;
use crate::faults::FaultInjector;
use crate::generator::{self, NewEmployee};
use crate::listing_hold::ListingHold;
use crate::mutation;
use crate::rate_limit::RateLimiter;
use crate::state::{AppState, lock};
use crate::stats::Stats;
use crate::store::{Store, UploadedDocument};
use crate::webhooks::WebhookHub;
use crate::webhooks::delivery::spawn_dispatcher;
use crate::webhooks::registry::WebhookStats;
use crate::webhooks::settings::WebhookFaults;

/// Entry point: `Sandbox::start(config).await`.
pub struct Sandbox;

impl Sandbox {
    /// Loads or generates the data and serves it on 127.0.0.1 in the current tokio runtime.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        config.faults.validate()?;
        let employees = match &config.dataset {
            Some(path) => load_dataset(path, generator::reference_time())?,
            None => generator::generate(config.seed, config.employees),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| SandboxError::Bind {
                port: config.port,
                source,
            })?;
        let address = listener.local_addr().map_err(SandboxError::Server)?;
        let mut auth = AuthRegistry::new(config.seed, config.token_lifetime);
        let default_credential = auth.add_credential(None, all_scopes());
        let (webhooks, delivery_queue) = WebhookHub::new(config.webhooks.clone(), config.seed)?;
        let dispatcher = spawn_dispatcher(Arc::clone(&webhooks), delivery_queue);
        let state = Arc::new(AppState {
            seed: config.seed,
            base_url: format!("http://{address}"),
            store: RwLock::new(Store::new(employees)),
            auth: Mutex::new(auth),
            limiter: Mutex::new(RateLimiter::new(config.rate_limits.clone())),
            faults: Mutex::new(FaultInjector::new(config.faults.clone())),
            stats: Mutex::new(Stats::default()),
            categories: config.document_categories.clone(),
            webhooks,
            listing_hold: Mutex::new(None),
        });
        let app = api::router(Arc::clone(&state), config.control_api);
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_signal.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        tracing::info!(%address, "personio sandbox listening");
        Ok(RunningSandbox {
            state,
            default_credential,
            shutdown: Some(shutdown),
            server: Some(server),
            dispatcher: Some(dispatcher),
        })
    }
}

fn all_scopes() -> BTreeSet<String> {
    scopes::ALL
        .iter()
        .map(|scope| (*scope).to_owned())
        .collect()
}

/// A sandbox serving in the background; dropped or [`RunningSandbox::shutdown`] stops it.
pub struct RunningSandbox {
    state: Arc<AppState>,
    default_credential: Arc<Credential>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    /// The webhook delivery dispatcher; aborting it stops every delivery in flight.
    dispatcher: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// `http://127.0.0.1:PORT`, without a trailing slash; paths are Personio's (`/v1/auth`, …).
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// `(client_id, client_secret)` of the credential created at start, which reads everything.
    pub fn default_credential(&self) -> (String, String) {
        (
            self.default_credential.client_id.clone(),
            self.default_credential.client_secret.clone(),
        )
    }

    /// A new credential that may read only `whitelist` (plus `id`); `None` reads everything.
    /// It holds every v2 scope the sandbox knows.
    pub fn add_credential(&self, whitelist: Option<&[&str]>) -> (String, String) {
        self.add_credential_with_scopes(whitelist, &scopes::ALL)
    }

    /// A new credential holding only the given v2 scopes (e.g. `personio:webhooks:read`):
    /// v2 operations that need another scope answer 403.
    pub fn add_credential_with_scopes(
        &self,
        whitelist: Option<&[&str]>,
        scopes: &[&str],
    ) -> (String, String) {
        let whitelist = whitelist.map(|keys| {
            keys.iter()
                .map(|key| (*key).to_owned())
                .collect::<HashSet<_>>()
        });
        let scopes = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        let credential = lock(&self.state.auth).add_credential(whitelist, scopes);
        (
            credential.client_id.clone(),
            credential.client_secret.clone(),
        )
    }

    /// Expires every token issued so far (the next call with one gets a 401).
    pub fn expire_tokens(&self) {
        lock(&self.state.auth).expire_all(tokio::time::Instant::now());
    }

    fn read<T>(&self, read: impl FnOnce(&Store) -> T) -> T {
        read(&self.state.store())
    }

    pub fn employee(&self, id: u64) -> Option<Employee> {
        self.read(|store| store.employee(id).cloned())
    }

    pub fn employees(&self) -> Vec<Employee> {
        self.read(|store| store.employees().to_vec())
    }

    pub fn employee_count(&self) -> usize {
        self.read(|store| store.employees().len())
    }

    /// Adds a new hire (an otherwise generated, active profile) and returns its id. Fires
    /// `person.created`, `employment.created` (and `employment.started` when active).
    pub fn add_employee(&self, hire: NewEmployee) -> Result<u64, SandboxError> {
        mutation::add_employee(&self.state, &hire)
    }

    /// Changes one attribute's value (by key, e.g. `email`, `dynamic_1001`). Fires
    /// `person.updated` or `employment.updated` (see the crate docs) if the value changed.
    pub fn set_attribute(
        &self,
        id: u64,
        key: &str,
        value: impl Into<Value>,
    ) -> Result<(), SandboxError> {
        mutation::set_attribute(&self.state, id, key, value.into())
    }

    /// Changes the status (`onboarding`, `active`, `leave`, `inactive`).
    pub fn set_status(&self, id: u64, status: &str) -> Result<(), SandboxError> {
        self.set_attribute(id, "status", status)
    }

    /// Removes an employee, as when a record is deleted in Personio. Fires
    /// `employment.deleted` and `person.deleted`.
    pub fn remove_employee(&self, id: u64) -> Result<Employee, SandboxError> {
        mutation::remove_employee(&self.state, id)
    }

    /// Test facility: the `GET /v1/company/employees` request that follows the next `pages`
    /// ones waits until the returned hold is released (or dropped), so that a test can change
    /// the data between two pages of one client listing. Replaces an earlier hold.
    pub fn hold_employee_listing_after(&self, pages: usize) -> ListingHold {
        let (hold, gate) = ListingHold::new(pages);
        *lock(&self.state.listing_hold) = Some(gate);
        hold
    }

    /// What the webhooks did so far: events created, dropped, silenced, requests, outcomes.
    pub fn webhook_stats(&self) -> WebhookStats {
        self.state.webhooks.registry().stats()
    }

    /// Replaces the webhook faults; the drop sequence restarts from `faults.seed`.
    pub fn set_webhook_faults(&self, faults: WebhookFaults) -> Result<(), SandboxError> {
        faults.validate()?;
        self.state.webhooks.registry().set_faults(faults);
        Ok(())
    }

    /// Every uploaded document, with its bytes, in upload order.
    pub fn documents(&self) -> Vec<UploadedDocument> {
        self.read(|store| store.documents().to_vec())
    }

    pub fn stats(&self) -> Stats {
        lock(&self.state.stats).clone()
    }

    /// Replaces latency and fault settings; the fault sequence restarts from `faults.seed`.
    pub fn set_faults(&self, faults: Faults) -> Result<(), SandboxError> {
        faults.validate()?;
        *lock(&self.state.faults) = FaultInjector::new(faults);
        Ok(())
    }

    /// Replaces the rate limits and forgets the request history.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        lock(&self.state.limiter).set_limits(limits);
    }

    /// Writes the current employees as a `GET /v1/company/employees` response.
    pub fn save_dataset(&self, path: &Path) -> Result<(), SandboxError> {
        self.read(|store| save_dataset(path, store.employees()))
    }

    /// Stops accepting connections and waits (briefly) for in-flight requests; requests hung by
    /// a timeout fault are cut off.
    pub async fn shutdown(mut self) {
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.abort();
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.abort();
        }
    }
}
