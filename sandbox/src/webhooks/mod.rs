//! Personio's webhooks: configurations managed through `/v2/webhooks`, events fired by changes
//! to the sandbox's data, and their delivery to the configured URLs.
//!
//! [`WebhookHub`] is the one entry point for the rest of the sandbox: the API handlers read and
//! change the [`registry`] through it, mutations [`WebhookHub::publish`] their changes, and the
//! [`delivery`] dispatcher sends what the queue holds.

pub(crate) mod changes;
pub(crate) mod delivery;
pub(crate) mod model;
pub(crate) mod registry;
pub(crate) mod settings;
pub(crate) mod validation;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::error::SandboxError;
use changes::Change;
use registry::{DeliveryJob, Registry};
use settings::WebhookSettings;

/// The webhooks of a running sandbox.
#[derive(Debug)]
pub(crate) struct WebhookHub {
    registry: Mutex<Registry>,
    queue: UnboundedSender<DeliveryJob>,
    http: reqwest::Client,
}

impl WebhookHub {
    /// The hub and the receiving end of its delivery queue, for [`delivery::spawn_dispatcher`].
    pub fn new(
        settings: WebhookSettings,
        seed: u64,
    ) -> Result<(Arc<Self>, UnboundedReceiver<DeliveryJob>), SandboxError> {
        settings.faults.validate()?;
        let http = delivery::http_client().map_err(|error| {
            SandboxError::InvalidConfig(format!("cannot build the webhook HTTP client: {error}"))
        })?;
        let (queue, receiver) = mpsc::unbounded_channel();
        let hub = Self {
            registry: Mutex::new(Registry::new(settings, seed)),
            queue,
            http,
        };
        Ok((Arc::new(hub), receiver))
    }

    /// The configurations and history. Never held across an `await`; a poisoned lock is used
    /// anyway, since every change to the registry is one method call.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues jobs for the dispatcher; returns at once.
    pub fn enqueue(&self, jobs: Vec<DeliveryJob>) {
        for job in jobs {
            // The dispatcher only stops with the sandbox; a job queued after that has nobody
            // left to deliver it to.
            let _ = self.queue.send(job);
        }
    }

    /// Fires the events of a change to the data (after the change is stored).
    pub fn publish(&self, change: &Change, at: DateTime<Utc>) {
        let jobs = self.registry().publish(change, at);
        self.enqueue(jobs);
    }
}
