//! Seeded fault injection: latency, 500/502 answers, hangs, truncated bodies, dropped connections.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Faults;
use crate::endpoint::Endpoint;

/// A fault the sandbox injected, as counted in [`crate::Stats::faults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    InternalServerError,
    BadGateway,
    Timeout,
    TruncatedBody,
    DroppedConnection,
}

#[derive(Debug)]
pub(crate) struct FaultInjector {
    faults: Faults,
    rng: StdRng,
}

impl FaultInjector {
    pub fn new(faults: Faults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed);
        Self { faults, rng }
    }

    pub fn hang(&self) -> Duration {
        self.faults.hang
    }

    /// The latency to add and the fault (if any) for the next request to `endpoint`.
    pub fn decide(&mut self, endpoint: Endpoint) -> (Duration, Option<FaultKind>) {
        if !self.faults.applies_to(endpoint) {
            return (Duration::ZERO, None);
        }
        let jitter = if self.faults.latency_jitter.is_zero() {
            Duration::ZERO
        } else {
            self.faults.latency_jitter.mul_f64(self.rng.random::<f64>())
        };
        let latency = self.faults.latency + jitter;
        let draw = self.rng.random::<f64>();
        let mut threshold = 0.0;
        let choices = [
            (self.faults.server_error_share, None),
            (self.faults.timeout_share, Some(FaultKind::Timeout)),
            (self.faults.truncated_share, Some(FaultKind::TruncatedBody)),
            (
                self.faults.dropped_share,
                Some(FaultKind::DroppedConnection),
            ),
        ];
        for (share, kind) in choices {
            threshold += share;
            if draw < threshold {
                let kind = kind.unwrap_or(if self.rng.random_bool(0.5) {
                    FaultKind::InternalServerError
                } else {
                    FaultKind::BadGateway
                });
                return (latency, Some(kind));
            }
        }
        (latency, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(faults: &Faults, count: usize) -> Vec<Option<FaultKind>> {
        let mut injector = FaultInjector::new(faults.clone());
        (0..count)
            .map(|_| injector.decide(Endpoint::Employees).1)
            .collect()
    }

    #[test]
    fn seeded_faults_repeat_and_follow_their_shares() {
        let faults = Faults {
            server_error_share: 0.2,
            dropped_share: 0.1,
            seed: 7,
            ..Faults::none()
        };
        let first = sequence(&faults, 2000);
        assert_eq!(first, sequence(&faults, 2000), "same seed, same faults");
        let server_errors = first
            .iter()
            .filter(|fault| {
                matches!(
                    fault,
                    Some(FaultKind::InternalServerError | FaultKind::BadGateway)
                )
            })
            .count();
        let dropped = first
            .iter()
            .filter(|fault| **fault == Some(FaultKind::DroppedConnection))
            .count();
        assert!(
            (300..500).contains(&server_errors),
            "{server_errors} server errors"
        );
        assert!((120..280).contains(&dropped), "{dropped} dropped");
        assert!(
            first.contains(&Some(FaultKind::BadGateway))
                && first.contains(&Some(FaultKind::InternalServerError))
        );
    }

    #[test]
    fn faults_can_target_endpoints_and_default_to_none() {
        assert!(sequence(&Faults::none(), 100).iter().all(Option::is_none));
        let only_auth = Faults {
            timeout_share: 1.0,
            only: vec![Endpoint::AuthV1],
            ..Faults::none()
        };
        assert!(sequence(&only_auth, 10).iter().all(Option::is_none));
        let mut injector = FaultInjector::new(only_auth);
        assert_eq!(
            injector.decide(Endpoint::AuthV1).1,
            Some(FaultKind::Timeout)
        );
    }
}
