//! Run configuration: data source, rate limits, injected latency and faults.

use std::path::PathBuf;
use std::time::Duration;

use crate::endpoint::Endpoint;
use crate::error::SandboxError;
use crate::webhooks::settings::{DeliveryPolicy, WebhookSettings};

/// One sliding-window rule: at most `max_requests` within any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRule {
    pub max_requests: u32,
    pub window: Duration,
}

impl RateLimitRule {
    pub const fn new(max_requests: u32, window: Duration) -> Self {
        Self {
            max_requests,
            window,
        }
    }
}

/// Rate limits per bucket, applied per credential. An empty rule list means "unlimited".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// `GET /v1/company/employees` and the single read `GET /v1/company/employees/{id}`.
    pub employees: Vec<RateLimitRule>,
    /// Document upload, document categories and the v2 document list share one budget:
    /// Personio documents "the Documents endpoint" limit (60/min) without splitting it.
    pub documents: Vec<RateLimitRule>,
    /// `POST /v1/auth` and `POST /v2/auth/token`, keyed by the presented client id.
    pub auth: Vec<RateLimitRule>,
    /// The webhooks management API (`/v2/webhooks…`): Personio documents no limit for it.
    pub webhooks: Vec<RateLimitRule>,
}

impl RateLimits {
    /// The documented Personio limits: employees 300/min with bursts of at most 15/s,
    /// documents 60/min, auth 60/min; none for webhook management.
    pub fn personio() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            employees: vec![
                RateLimitRule::new(300, minute),
                RateLimitRule::new(15, Duration::from_secs(1)),
            ],
            documents: vec![RateLimitRule::new(60, minute)],
            auth: vec![RateLimitRule::new(60, minute)],
            webhooks: Vec::new(),
        }
    }

    /// No limits at all.
    pub fn disabled() -> Self {
        Self {
            employees: Vec::new(),
            documents: Vec::new(),
            auth: Vec::new(),
            webhooks: Vec::new(),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::personio()
    }
}

/// Injected latency and faults. Shares are probabilities in `0.0..=1.0`, drawn from a generator
/// seeded with `seed`, so a run with the same request sequence sees the same faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added to every API response.
    pub latency: Duration,
    /// Uniform random extra latency in `0..=latency_jitter`.
    pub latency_jitter: Duration,
    /// Share of requests answered with 500 or 502 (half each).
    pub server_error_share: f64,
    /// Share of requests that hang for `hang` before being answered normally.
    pub timeout_share: f64,
    /// Share of requests whose (real) JSON body is cut in half.
    pub truncated_share: f64,
    /// Share of requests whose connection is closed without any response.
    pub dropped_share: f64,
    /// How long a "timeout" request hangs; longer than any sane client timeout by default.
    pub hang: Duration,
    pub seed: u64,
    /// Endpoints the faults apply to; empty means all.
    pub only: Vec<Endpoint>,
}

impl Faults {
    /// No latency and no faults.
    pub fn none() -> Self {
        Self {
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            server_error_share: 0.0,
            timeout_share: 0.0,
            truncated_share: 0.0,
            dropped_share: 0.0,
            hang: Duration::from_secs(30),
            seed: 0,
            only: Vec::new(),
        }
    }

    pub(crate) fn applies_to(&self, endpoint: Endpoint) -> bool {
        self.only.is_empty() || self.only.contains(&endpoint)
    }

    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let shares = [
            self.server_error_share,
            self.timeout_share,
            self.truncated_share,
            self.dropped_share,
        ];
        let in_range = shares.iter().all(|share| (0.0..=1.0).contains(share));
        if !in_range || shares.iter().sum::<f64>() > 1.0 + f64::EPSILON {
            return Err(SandboxError::InvalidConfig(
                "fault shares must each be in 0..=1 and sum to at most 1".to_owned(),
            ));
        }
        Ok(())
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self::none()
    }
}

/// A document category offered by `GET /v1/company/document-categories`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCategory {
    pub id: u64,
    pub name: String,
}

/// Everything a sandbox run needs. Build it from `Default` and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub seed: u64,
    /// Number of generated employees (ignored when `dataset` is set).
    pub employees: usize,
    /// A JSON file in the shape of `GET /v1/company/employees` to serve instead of generated data.
    pub dataset: Option<PathBuf>,
    pub rate_limits: RateLimits,
    pub faults: Faults,
    /// 0 picks a free port.
    pub port: u16,
    /// Lifetime of issued tokens (`expires_in`).
    pub token_lifetime: Duration,
    pub document_categories: Vec<DocumentCategory>,
    /// Webhook delivery, URL rules and faults.
    pub webhooks: WebhookSettings,
    /// Serve the HTTP control surface under `/_sandbox/` (changes to the data from another
    /// process). Off by default: it is not part of Personio's API.
    pub control_api: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            employees: 200,
            dataset: None,
            rate_limits: RateLimits::personio(),
            faults: Faults::none(),
            port: 0,
            token_lifetime: Duration::from_secs(86_400),
            document_categories: default_document_categories(),
            webhooks: WebhookSettings::default(),
            control_api: false,
        }
    }
}

impl SandboxConfig {
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn with_employees(mut self, employees: usize) -> Self {
        self.employees = employees;
        self
    }
    pub fn with_dataset(mut self, path: impl Into<PathBuf>) -> Self {
        self.dataset = Some(path.into());
        self
    }
    pub fn with_rate_limits(mut self, rate_limits: RateLimits) -> Self {
        self.rate_limits = rate_limits;
        self
    }
    pub fn without_rate_limits(self) -> Self {
        self.with_rate_limits(RateLimits::disabled())
    }
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    pub fn with_document_categories(mut self, categories: Vec<DocumentCategory>) -> Self {
        self.document_categories = categories;
        self
    }
    pub fn with_webhooks(mut self, webhooks: WebhookSettings) -> Self {
        self.webhooks = webhooks;
        self
    }
    /// Sandbox deviation for tests and demos: accept `http://` webhook URLs on a loopback host.
    pub fn with_http_webhooks(mut self) -> Self {
        self.webhooks.allow_http_loopback = true;
        self
    }
    pub fn with_webhook_delivery(mut self, delivery: DeliveryPolicy) -> Self {
        self.webhooks.delivery = delivery;
        self
    }
    /// Serves the `/_sandbox/` control surface (see the crate docs).
    pub fn with_control_api(mut self) -> Self {
        self.control_api = true;
        self
    }
}

/// A realistic mix for a German company: the integration looks for "Learning certificates" or
/// "Bildungszertifikate" first and falls back to "Other documents".
pub(crate) fn default_document_categories() -> Vec<DocumentCategory> {
    [
        (1, "Certificates of employment"),
        (2, "Other documents"),
        (3, "Bildungszertifikate"),
        (4, "Arbeitsverträge"),
        (5, "Gehaltsabrechnungen"),
    ]
    .into_iter()
    .map(|(id, name)| DocumentCategory {
        id,
        name: name.to_owned(),
    })
    .collect()
}
