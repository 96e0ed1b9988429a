//! A local emulator of the Personio API, for the client's tests, the CLI demo and benchmarks.
//!
//! It serves the real paths on `http://127.0.0.1:PORT`:
//!
//! | endpoint | notes |
//! | --- | --- |
//! | `POST /v1/auth` | JSON or form body; token valid `expires_in` = 86400 s |
//! | `GET /v1/company/employees` | `limit` 1..=100 (default 50, 400 above), record `offset`, `attributes[]`, `email`, `updated_since` |
//! | `GET /v1/company/document-categories` | |
//! | `POST /v1/company/documents` | multipart; 422 with `error_data`, 404 for unknown employee/category |
//! | `POST /v2/auth/token` | OAuth 2.0 client credentials, form body only |
//! | `GET /v2/document-management/documents` | `owner_id` (required unless `cursor`), `category_id`, `limit` 1..=200, `cursor` |
//!
//! **v2 needs a v2 token.** Personio's v2 API (`/v2/document-management/…`) is secured by
//! bearer tokens from the OAuth 2.0 endpoint `POST /v2/auth/token` (credentials-service spec:
//! `grant_type=client_credentials`, form-encoded, errors as `application/problem+json`), not by
//! v1 tokens. The sandbox enforces this both ways: v1 tokens get 401 on v2 endpoints and v2
//! tokens get 401 on v1 endpoints, so a client that mixes them up fails here first.
//!
//! The v2 document-management spec is not in the shared spec folder; the list's shape
//! (`_data`, `_meta.links.self/next.href`, cursor pagination, `limit` 1..=200 default 100,
//! v2 error bodies) follows `common-components-v2.json` and Personio's reference page; the
//! document fields (`id`, `name`, `comment`, `date`, `category.id`, `owner.id`, `created_at`)
//! are the sandbox's best reading and may differ in detail from production.
//!
//! Readings where the sources disagree or are silent: the employees `limit` defaults to 50 (the
//! v1 spec's example says 10); a naive `updated_since` (`2022-12-24T08:15:30`) is read as UTC;
//! with `updated_since` the whole selection is one page, since Personio then ignores `limit`
//! and `offset`; 401/429 bodies use Personio's v1 error shape with `code` 401/429.
//!
//! Every credential has its own attribute whitelist; attributes it may not read are omitted
//! (only `id` is always present). Rate limits are per credential and sliding-window (see
//! [`RateLimits::personio`]). Latency and faults are seeded and can be changed while running.

mod api;
mod auth;
mod cli;
mod config;
mod employee;
mod faults;
mod generator;
mod rate_limit;
mod store;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use api::{Endpoint, MAX_FILE_BYTES, Stats};
pub use auth::Credential;
pub use cli::{SandboxArgs, serve};
pub use config::{
    DocumentCategory, Faults, RateLimitRule, RateLimits, SandboxConfig, default_document_categories,
};
pub use employee::{Attribute, Employee, load_dataset, save_dataset};
pub use faults::FaultKind;
pub use generator::{
    COST_CENTER_KEY, DATE_OF_BIRTH_KEY, LMS_SYNC_KEY, LMS_SYNC_LABEL, NEXT_TRAINING_KEY,
    NewEmployee, PERSONNEL_NUMBER_KEY, TAGS_KEY, generate, reference_time,
};
pub use store::UploadedDocument;

use api::{AppState, lock};
use auth::AuthRegistry;
use faults::FaultInjector;
use rate_limit::RateLimiter;
use store::Store;

/// Errors of the sandbox's Rust API and startup.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("dataset {path}: {reason}")]
    Dataset { path: PathBuf, reason: String },
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    #[error("no employee with id {0}")]
    UnknownEmployee(u64),
    #[error("an employee with id {0} already exists")]
    DuplicateEmployee(u64),
    #[error("employees have no attribute `{0}`")]
    UnknownAttribute(String),
    #[error("attribute `{0}` is maintained by the sandbox")]
    ReadOnlyAttribute(String),
    #[error("sandbox server failed: {0}")]
    Server(std::io::Error),
    #[error("cannot wait for a shutdown signal: {0}")]
    Signal(std::io::Error),
}

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
        let default_credential = auth.add_credential(None);
        let state = Arc::new(AppState {
            seed: config.seed,
            base_url: format!("http://{address}"),
            store: RwLock::new(Store::new(employees)),
            auth: Mutex::new(auth),
            limiter: Mutex::new(RateLimiter::new(config.rate_limits.clone())),
            faults: Mutex::new(FaultInjector::new(config.faults.clone())),
            stats: Mutex::new(Stats::default()),
            categories: config.document_categories.clone(),
        });
        let app = api::router(Arc::clone(&state));
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
            address,
            state,
            default_credential,
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }
}

/// A sandbox serving in the background; dropped or [`RunningSandbox::shutdown`] stops it.
pub struct RunningSandbox {
    address: SocketAddr,
    state: Arc<AppState>,
    default_credential: Arc<Credential>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// `http://127.0.0.1:PORT`, without a trailing slash; paths are Personio's (`/v1/auth`, …).
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// `(client_id, client_secret)` of the credential created at start, which reads everything.
    pub fn default_credential(&self) -> (String, String) {
        (
            self.default_credential.client_id.clone(),
            self.default_credential.client_secret.clone(),
        )
    }

    /// A new credential that may read only `whitelist` (plus `id`); `None` reads everything.
    pub fn add_credential(&self, whitelist: Option<&[&str]>) -> (String, String) {
        let whitelist = whitelist.map(|keys| {
            keys.iter()
                .map(|key| (*key).to_owned())
                .collect::<HashSet<_>>()
        });
        let credential = lock(&self.state.auth).add_credential(whitelist);
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
        read(
            &self
                .state
                .store
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn write<T>(&self, write: impl FnOnce(&mut Store) -> T) -> T {
        write(
            &mut self
                .state
                .store
                .write()
                .unwrap_or_else(PoisonError::into_inner),
        )
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

    /// Adds a new hire (an otherwise generated, active profile) and returns its id.
    pub fn add_employee(&self, hire: NewEmployee) -> Result<u64, SandboxError> {
        let seed = self.state.seed;
        self.write(|store| {
            let id = store.next_employee_id();
            store.add_employee(generator::new_hire(seed, id, &hire, Utc::now()))
        })
    }

    /// Changes one attribute's value (by key, e.g. `email`, `dynamic_1001`).
    pub fn set_attribute(
        &self,
        id: u64,
        key: &str,
        value: impl Into<Value>,
    ) -> Result<(), SandboxError> {
        let value = value.into();
        self.write(|store| store.set_attribute(id, key, value, Utc::now()))
    }

    /// Changes the status (`onboarding`, `active`, `leave`, `inactive`).
    pub fn set_status(&self, id: u64, status: &str) -> Result<(), SandboxError> {
        self.set_attribute(id, "status", status)
    }

    /// Removes an employee, as when a record is deleted in Personio.
    pub fn remove_employee(&self, id: u64) -> Result<Employee, SandboxError> {
        self.write(|store| store.remove_employee(id))
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
    }
}
