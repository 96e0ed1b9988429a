//! The LMS's own rate limit, honoured: concurrency that backs off on 429 and recovers.
//!
//! Every request takes a permit. A 429 halves the number of requests allowed in flight (never
//! below one) and, with a `Retry-After`, holds every new request until then; each run of as many
//! successes as the current limit raises it by one again, up to the ceiling (additive increase,
//! multiplicative decrease, as TCP does).

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

pub struct Throttle {
    state: Mutex<State>,
    released: Notify,
    ceiling: usize,
}

struct State {
    limit: usize,
    in_flight: usize,
    successes: usize,
    resume_at: Option<Instant>,
    throttled: u64,
}

/// A request in flight; dropping it frees its place.
pub struct Permit<'a> {
    throttle: &'a Throttle,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.throttle.lock().in_flight -= 1;
        self.throttle.released.notify_waiters();
    }
}

impl Throttle {
    pub fn new(ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            state: Mutex::new(State {
                limit: ceiling,
                in_flight: 0,
                successes: 0,
                resume_at: None,
                throttled: 0,
            }),
            released: Notify::new(),
            ceiling,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a place under the current limit (and past any `Retry-After`).
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the check, so a release between check and wait is not missed.
            released.as_mut().enable();
            let wait = {
                let mut state = self.lock();
                match state.resume_at {
                    Some(at) if at > Instant::now() => Some(at),
                    _ if state.in_flight < state.limit => {
                        state.in_flight += 1;
                        return Permit { throttle: self };
                    }
                    _ => None,
                }
            };
            match wait {
                Some(at) => tokio::time::sleep_until(at).await,
                None => released.await,
            }
        }
    }

    /// The LMS answered 429: fewer requests at once, and none before `retry_after`.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let mut state = self.lock();
        state.throttled += 1;
        // Those in flight were too many; this permit is one of them.
        state.limit = (state.in_flight.min(state.limit) / 2).max(1);
        state.successes = 0;
        if let Some(wait) = retry_after {
            let until = Instant::now() + wait;
            state.resume_at = Some(state.resume_at.map_or(until, |at| at.max(until)));
        }
        tracing::warn!(
            limit = state.limit,
            ?retry_after,
            "the LMS asks to slow down"
        );
    }

    /// A request went through: after as many as the limit, one more may run at once.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.successes += 1;
        if state.successes >= state.limit && state.limit < self.ceiling {
            state.limit += 1;
            state.successes = 0;
            drop(state);
            self.released.notify_waiters();
        }
    }

    /// The requests allowed in flight now.
    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// How many 429s the LMS answered.
    pub fn throttled_count(&self) -> u64 {
        self.lock().throttled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn backs_off_on_429_and_recovers_with_successes() {
        let throttle = Throttle::new(8);
        let permits: Vec<_> = futures::future::join_all((0..8).map(|_| throttle.acquire())).await;
        throttle.throttled(None);
        assert_eq!(throttle.limit(), 4);
        drop(permits);
        for _ in 0..4 {
            throttle.succeeded();
        }
        assert_eq!(throttle.limit(), 5);
        for _ in 0..100 {
            throttle.succeeded();
        }
        assert_eq!(throttle.limit(), 8, "never above the ceiling");
        assert_eq!(throttle.throttled_count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_requests_stay_under_the_limit_and_retry_after_holds_everyone() {
        let throttle = Arc::new(Throttle::new(4));
        let first = throttle.acquire().await;
        let second = throttle.acquire().await;
        throttle.throttled(Some(Duration::from_secs(2)));
        assert_eq!(throttle.limit(), 1);
        drop((first, second));
        let started = Instant::now();
        let peak = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (throttle, peak, now) = (throttle.clone(), peak.clone(), now.clone());
                tokio::spawn(async move {
                    let _permit = throttle.acquire().await;
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    throttle.succeeded();
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("the task ends");
        }
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "Retry-After held"
        );
        assert!(
            peak.load(Ordering::SeqCst) <= 3,
            "{}",
            peak.load(Ordering::SeqCst)
        );
        assert!(throttle.limit() > 1, "recovering");
    }
}
