//! Retry policy shared by every third-party HTTP client (Personio, SCIM): capped exponential
//! backoff with full jitter, bounded by a caller-given [`Deadline`].

use std::time::Duration;
use tokio::time::Instant;

/// The point in time after which a caller no longer wants an answer (a Lambda's remaining time,
/// a CLI run's budget). Every retry loop and every request timeout is bounded by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    pub fn after(duration: Duration) -> Self {
        Self(Instant::now() + duration)
    }

    /// Far enough away to mean "no deadline" while staying representable.
    pub fn none() -> Self {
        Self::after(Duration::from_secs(60 * 60 * 24 * 365))
    }

    pub fn instant(&self) -> Instant {
        self.0
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn is_past(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Whether waiting `wait` would still leave time before the deadline.
    pub fn allows(&self, wait: Duration) -> bool {
        Instant::now() + wait < self.0
    }
}

/// Capped exponential backoff with full jitter: attempt `n` (0-based) waits a uniformly random
/// time in `[0, min(cap, base * 2^n)]`. Full jitter spreads retries of many clients hit by the
/// same 429 storm instead of synchronising them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Upper bound on attempts (the first try included), besides the deadline.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        // Personio documents "retry after at least 1 s" for 429 and no Retry-After header.
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            max_attempts: 12,
        }
    }
}

impl Backoff {
    /// The ceiling of the wait before retry number `attempt` (0 = the first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry number `attempt`. A server's `Retry-After` wins over the jitter
    /// (a server that says when is better informed than a guess), but never below it.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(attempt);
        let jittered = ceiling.mul_f64(rand::random::<f64>());
        match retry_after {
            Some(server_says) => server_says.max(jittered.min(self.base)),
            None => jittered,
        }
    }

    /// The wait before the next attempt, or `None` when the attempts are used up or the wait
    /// would end after the deadline (the caller then reports its last error).
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        deadline: Deadline,
    ) -> Option<Duration> {
        if attempt + 1 >= self.max_attempts {
            return None;
        }
        let wait = self.delay(attempt, retry_after);
        deadline.allows(wait).then_some(wait)
    }
}

/// Waits at least this long are worth telling the operator about: they stall the output.
const NOTICEABLE_WAIT: Duration = Duration::from_secs(2);

/// Says that a call of `system` waits `wait` before trying again after `reason`, and how long it
/// may still take at the most (its deadline): a warning when the wait is long enough to notice
/// (the CLI shows warnings by default), a debug line otherwise.
pub fn announce_wait(system: &str, reason: &str, wait: Duration, deadline: Deadline) {
    let at_most = if deadline.remaining() > Duration::from_secs(30 * 24 * 60 * 60) {
        String::new()
    } else {
        format!(
            "; it gives up in {} at the latest",
            human_duration(deadline.remaining())
        )
    };
    if wait >= NOTICEABLE_WAIT {
        tracing::warn!(
            "{system}: {reason}; trying again in {}{at_most}",
            human_duration(wait)
        );
    } else {
        tracing::debug!(
            "{system}: {reason}; trying again in {}{at_most}",
            human_duration(wait)
        );
    }
}

/// `850 ms`, `4.2 s`, `3 min 20 s`, `1 h 5 min`: a duration for people.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if seconds < 60 {
        format!("{:.1} s", duration.as_secs_f64())
    } else if seconds < 60 * 60 {
        format!("{} min {} s", seconds / 60, seconds % 60)
    } else {
        format!("{} h {} min", seconds / 3600, seconds % 3600 / 60)
    }
}

/// Parses an HTTP `Retry-After` value given in seconds (the HTTP-date form is rare for APIs and
/// is ignored, which falls back to the jittered backoff).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_is_capped() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(8),
            max_attempts: 10,
        };
        let ceilings: Vec<u64> = (0..6).map(|n| backoff.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, vec![1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff.ceiling(200), Duration::from_secs(8));
    }

    #[test]
    fn delay_stays_within_the_ceiling() {
        let backoff = Backoff::default();
        for attempt in 0..8 {
            for _ in 0..50 {
                assert!(backoff.delay(attempt, None) <= backoff.ceiling(attempt));
            }
        }
    }

    #[test]
    fn retry_after_is_honoured() {
        let backoff = Backoff::default();
        assert_eq!(
            backoff.delay(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[tokio::test]
    async fn next_delay_respects_deadline_and_attempts() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(10),
            max_attempts: 3,
        };
        let near = Deadline::after(Duration::from_millis(50));
        assert_eq!(
            backoff.next_delay(0, Some(Duration::from_secs(10)), near),
            None
        );
        let far = Deadline::after(Duration::from_secs(3600));
        assert!(backoff.next_delay(0, None, far).is_some());
        assert!(backoff.next_delay(1, None, far).is_some());
        assert_eq!(backoff.next_delay(2, None, far), None);
    }

    #[test]
    fn durations_read_for_people() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(human_duration(Duration::from_millis(4200)), "4.2 s");
        assert_eq!(human_duration(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(human_duration(Duration::from_secs(3900)), "1 h 5 min");
    }

    #[test]
    fn retry_after_parses_seconds_only() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
