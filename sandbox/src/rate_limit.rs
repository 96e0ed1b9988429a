//! Sliding-window rate limiting per (credential, bucket).

use std::collections::{HashMap, VecDeque};

use tokio::time::Instant;

use crate::config::{RateLimitRule, RateLimits};
use crate::endpoint::Endpoint;

/// The budgets Personio counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Auth,
    Employees,
    Documents,
    Webhooks,
}

impl Bucket {
    /// The budget a request to `endpoint` counts against (see [`RateLimits`]).
    pub fn of(endpoint: Endpoint) -> Self {
        match endpoint {
            Endpoint::AuthV1 | Endpoint::AuthV2 => Self::Auth,
            // Personio limits "the GET Employees endpoint"; the single read is counted with the
            // listing, the stricter reading for a client that must stay within the budget.
            Endpoint::Employees | Endpoint::Employee => Self::Employees,
            Endpoint::DocumentCategories | Endpoint::DocumentUpload | Endpoint::DocumentListV2 => {
                Self::Documents
            }
            Endpoint::WebhookCreate
            | Endpoint::WebhookList
            | Endpoint::WebhookGet
            | Endpoint::WebhookUpdate
            | Endpoint::WebhookDelete
            | Endpoint::WebhookEvents
            | Endpoint::WebhookActivity
            | Endpoint::WebhookRedelivery
            | Endpoint::WebhookPing
            | Endpoint::WebhookTestEvent => Self::Webhooks,
        }
    }
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limits: RateLimits,
    /// Accepted request times, oldest first, kept for the longest window of the bucket.
    history: HashMap<(String, Bucket), VecDeque<Instant>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            history: HashMap::new(),
        }
    }

    pub fn set_limits(&mut self, limits: RateLimits) {
        self.limits = limits;
        self.history.clear();
    }

    fn rules(&self, bucket: Bucket) -> &[RateLimitRule] {
        match bucket {
            Bucket::Auth => &self.limits.auth,
            Bucket::Employees => &self.limits.employees,
            Bucket::Documents => &self.limits.documents,
            Bucket::Webhooks => &self.limits.webhooks,
        }
    }

    /// Records the request and returns `true` if it is within every rule; a refused request
    /// does not use up budget, as with Personio (a client that backs off recovers).
    pub fn admit(&mut self, key: &str, bucket: Bucket, now: Instant) -> bool {
        let rules = self.rules(bucket).to_vec();
        if rules.is_empty() {
            return true;
        }
        let longest = rules
            .iter()
            .map(|rule| rule.window)
            .max()
            .unwrap_or_default();
        let history = self.history.entry((key.to_owned(), bucket)).or_default();
        while history
            .front()
            .is_some_and(|at| now.duration_since(*at) >= longest)
        {
            history.pop_front();
        }
        let within = rules.iter().all(|rule| {
            let in_window = history
                .iter()
                .rev()
                .take_while(|at| now.duration_since(**at) < rule.window)
                .count();
            in_window < rule.max_requests as usize
        });
        if within {
            history.push_back(now);
        }
        within
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(RateLimits {
            employees: vec![
                RateLimitRule::new(6, Duration::from_secs(60)),
                RateLimitRule::new(3, Duration::from_secs(1)),
            ],
            documents: vec![RateLimitRule::new(1, Duration::from_secs(1))],
            auth: Vec::new(),
            webhooks: Vec::new(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn burst_and_window_limits_slide() {
        let mut limiter = limiter();
        let admitted: Vec<bool> = (0..4)
            .map(|_| limiter.admit("a", Bucket::Employees, Instant::now()))
            .collect();
        assert_eq!(admitted, [true, true, true, false], "burst of 3 per second");
        // Another credential has its own budget.
        assert!(limiter.admit("b", Bucket::Employees, Instant::now()));
        tokio::time::advance(Duration::from_secs(1)).await;
        let admitted: Vec<bool> = (0..4)
            .map(|_| limiter.admit("a", Bucket::Employees, Instant::now()))
            .collect();
        assert_eq!(admitted, [true, true, true, false], "burst window slid");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            !limiter.admit("a", Bucket::Employees, Instant::now()),
            "6 per minute used up"
        );
        tokio::time::advance(Duration::from_secs(58)).await;
        assert!(
            limiter.admit("a", Bucket::Employees, Instant::now()),
            "first burst left the minute window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_are_separate_and_empty_rules_mean_unlimited() {
        let mut limiter = limiter();
        assert!(limiter.admit("a", Bucket::Documents, Instant::now()));
        assert!(!limiter.admit("a", Bucket::Documents, Instant::now()));
        assert!(limiter.admit("a", Bucket::Employees, Instant::now()));
        assert!((0..1000).all(|_| limiter.admit("a", Bucket::Auth, Instant::now())));
        limiter.set_limits(RateLimits::disabled());
        assert!(limiter.admit("a", Bucket::Documents, Instant::now()));
    }
}
