//! Settings of the Personio client: where, who, how long to wait, how fast to go.

use crate::net::NetworkPolicy;
use crate::retry::Backoff;
use crate::secret::Secret;
use std::time::Duration;
use url::Url;

/// The production API; paths `/v1/...` and `/v2/...` are appended to it.
pub const DEFAULT_BASE_URL: &str = "https://api.personio.de";

#[derive(Clone, Debug)]
pub struct PersonioConfig {
    /// Scheme, host and port (and an optional path prefix) of the API.
    pub base_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// Sent as `X-Personio-Partner-ID` (v1) and `Personio-Partner-ID` (v2).
    pub partner_id: Option<String>,
    /// Sent as `X-Personio-App-ID` (v1) and `Personio-App-ID` (v2).
    pub app_id: Option<String>,
    /// Upper bound of one HTTP exchange (connect, send, whole body); the caller's deadline may
    /// shorten it further.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Records per employee page (Personio's maximum is 100).
    pub page_size: u32,
    /// A token is renewed this long before Personio says it expires, so that no request starts
    /// with a token that dies on the way.
    pub token_renewal_margin: Duration,
    pub limits: RateLimits,
    pub backoff: Backoff,
    /// Which addresses the client may reach (set from the host's policy where integrations are
    /// connected, `crate::app::connect`). Redirects are never followed, whatever the policy.
    pub network: NetworkPolicy,
}

impl PersonioConfig {
    /// Production defaults for one credential.
    pub fn new(client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL is a valid URL"),
            client_id: client_id.into(),
            client_secret,
            partner_id: None,
            app_id: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            page_size: 100,
            token_renewal_margin: Duration::from_secs(5 * 60),
            limits: RateLimits::personio_documented(),
            backoff: Backoff::default(),
            network: NetworkPolicy::LOCAL,
        }
    }

    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }
}

/// At most `max_requests` in any sliding window of `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateWindow {
    pub max_requests: u32,
    pub per: Duration,
}

impl RateWindow {
    pub const fn new(max_requests: u32, per: Duration) -> Self {
        Self { max_requests, per }
    }
}

/// Personio's documented limits per credential, by endpoint group. Every window of a group must
/// hold at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// `GET /v1/company/employees`: 300/min with bursts of at most 15/s.
    pub employees: Vec<RateWindow>,
    /// Document categories, uploads and the v2 document list: 60/min.
    pub documents: Vec<RateWindow>,
    /// `POST /v1/auth` and `POST /v2/auth/token`: 60/min.
    pub auth: Vec<RateWindow>,
    /// Each window is kept as if it were this much longer. The budget already spaces requests
    /// from the answers to earlier ones (the latest moment the server can have counted them),
    /// so network latency and its jitter need no margin; this only absorbs timer granularity.
    /// Costs `margin / window` of throughput when a window is the bottleneck.
    pub window_margin: Duration,
}

impl RateLimits {
    pub fn personio_documented() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            employees: vec![
                RateWindow::new(300, minute),
                RateWindow::new(15, Duration::from_secs(1)),
            ],
            documents: vec![RateWindow::new(60, minute)],
            auth: vec![RateWindow::new(60, minute)],
            window_margin: Duration::from_millis(10),
        }
    }

    /// No client-side budget (tests of other behaviour against a server without limits).
    pub fn unlimited() -> Self {
        Self {
            employees: Vec::new(),
            documents: Vec::new(),
            auth: Vec::new(),
            window_margin: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_base_url_is_production() {
        let config = PersonioConfig::new("id", Secret::new("s3cr3t-value"));
        assert_eq!(config.base_url.as_str(), "https://api.personio.de/");
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
    }
}
