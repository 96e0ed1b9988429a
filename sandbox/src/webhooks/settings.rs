//! How the sandbox runs webhooks: delivery timing, URL rules and faults.

use std::time::Duration;

use crate::error::SandboxError;

/// When and how long deliveries are tried.
///
/// Personio: a receiver must answer 2xx within 3 s; an answer it does not get in time, or a 5xx
/// other than 501, is retried; extended retries continue "for up to 3 days, with increasing
/// delays, up to a maximum of 6 attempts", each attempt being up to 2 consecutive requests
/// ("fast attempt"), at most 14 requests in all. The delays themselves are not published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// How long a receiver has to answer with a 2xx.
    pub ack_timeout: Duration,
    /// The pause before the second request of an attempt.
    pub fast_retry_delay: Duration,
    /// The pause before each extended retry attempt (its length is the number of retries).
    pub retry_delays: Vec<Duration>,
}

impl DeliveryPolicy {
    /// Personio's documented shape: 3 s to answer, 1 + 6 attempts of up to 2 requests each,
    /// retries spread over a little under 3 days (1 min, 5 min, 30 min, 2 h, 12 h, 48 h: the
    /// sandbox's reading of "increasing delays").
    pub fn personio() -> Self {
        let minutes = |count: u64| Duration::from_secs(60 * count);
        Self {
            ack_timeout: Duration::from_secs(3),
            fast_retry_delay: Duration::from_secs(1),
            retry_delays: vec![
                minutes(1),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(12 * 60),
                minutes(48 * 60),
            ],
        }
    }

    /// The same shape with every pause scaled down to multiples of `unit` (1, 2, 4, … units),
    /// for tests and demos; the 3 s answer budget stays.
    pub fn compressed(unit: Duration) -> Self {
        Self {
            ack_timeout: Duration::from_secs(3),
            fast_retry_delay: unit,
            retry_delays: (0..6).map(|power| unit * (1 << power)).collect(),
        }
    }

    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Requests one event gets at most: 2 per attempt, 1 + retries attempts (Personio: 14).
    pub fn max_requests(&self) -> usize {
        2 * (1 + self.retry_delays.len())
    }
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self::personio()
    }
}

/// Faults of Personio's event pipeline, seeded so a run is repeatable.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookFaults {
    /// Share (0..=1) of events that are lost before delivery: never sent, never listed.
    pub drop_share: f64,
    /// Seed of the drop draws.
    pub seed: u64,
    /// Attribute keys whose changes fire no event at all, as users report for job changes
    /// (e.g. `position`).
    pub silent_attributes: Vec<String>,
}

impl WebhookFaults {
    pub fn none() -> Self {
        Self {
            drop_share: 0.0,
            seed: 0,
            silent_attributes: Vec::new(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        if (0.0..=1.0).contains(&self.drop_share) {
            Ok(())
        } else {
            Err(SandboxError::InvalidConfig(
                "the webhook drop share must be in 0..=1".to_owned(),
            ))
        }
    }
}

impl Default for WebhookFaults {
    fn default() -> Self {
        Self::none()
    }
}

/// Everything about the sandbox's webhooks.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// The `company_id` every event carries.
    pub company_id: String,
    /// Sandbox deviation: also accept `http://` URLs on a loopback host (127.0.0.0/8, `[::1]`,
    /// `localhost`), so tests and the demo can receive without TLS. Personio requires HTTPS.
    pub allow_http_loopback: bool,
    pub delivery: DeliveryPolicy,
    pub faults: WebhookFaults,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            company_id: "4242".to_owned(),
            allow_http_loopback: false,
            delivery: DeliveryPolicy::personio(),
            faults: WebhookFaults::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personio_policy_matches_the_documented_shape() {
        let policy = DeliveryPolicy::personio();
        assert_eq!(policy.ack_timeout, Duration::from_secs(3));
        assert_eq!(policy.max_requests(), 14);
        let total: Duration = policy.retry_delays.iter().sum();
        assert!(total <= Duration::from_secs(3 * 24 * 3600), "{total:?}");
        assert!(policy.retry_delays.windows(2).all(|pair| pair[0] < pair[1]));
        let fast = DeliveryPolicy::compressed(Duration::from_millis(10));
        assert_eq!(fast.max_requests(), 14);
        assert_eq!(fast.retry_delays[5], Duration::from_millis(320));
        assert_eq!(fast.ack_timeout, Duration::from_secs(3));
    }

    #[test]
    fn drop_share_must_be_a_share() {
        assert!(WebhookFaults::none().validate().is_ok());
        let bad = WebhookFaults {
            drop_share: 1.5,
            ..WebhookFaults::none()
        };
        assert!(bad.validate().is_err());
    }
}
