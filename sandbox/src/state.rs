//! The state behind a running sandbox, shared by the HTTP handlers and the
//! [`crate::RunningSandbox`] handle.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::DocumentCategory;
use crate::credentials::AuthRegistry;
use crate::faults::FaultInjector;
use crate::listing_hold::HoldGate;
use crate::rate_limit::RateLimiter;
use crate::stats::Stats;
use crate::store::Store;
use crate::webhooks::WebhookHub;

/// Shared state of a running sandbox.
#[derive(Debug)]
pub(crate) struct AppState {
    pub seed: u64,
    pub base_url: String,
    pub store: RwLock<Store>,
    pub auth: Mutex<AuthRegistry>,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<FaultInjector>,
    pub stats: Mutex<Stats>,
    pub categories: Vec<DocumentCategory>,
    pub webhooks: Arc<WebhookHub>,
    /// The test facility that holds an employee listing between two pages.
    pub listing_hold: Mutex<Option<Arc<HoldGate>>>,
}

impl AppState {
    /// The data for reading. A poisoned lock is used anyway, as with [`lock`]: every change to
    /// the store is one method call, so a panic elsewhere cannot leave it half-changed.
    pub fn store(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn store_mut(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The listing hold, if a test installed one.
    pub fn listing_hold(&self) -> Option<Arc<HoldGate>> {
        lock(&self.listing_hold).clone()
    }
}

/// Locks a mutex; a handler that panicked mid-update leaves only counters behind, so the data
/// is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
