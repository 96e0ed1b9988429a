//! Request counters an HTTP adapter keeps at its send path: how many requests left, how many
//! were answered 429, and (where the adapter tells them apart) how many of each kind. A run reads
//! them before and after ([`RequestCounters::snapshot`], [`RequestCounts::since`]) and records the
//! difference in its run record, so the counters themselves only ever grow.

use crate::domain::run::RequestCounts;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct RequestCounters {
    requests: AtomicU64,
    throttled: AtomicU64,
    /// Kinds are a handful of names; one lock per request costs nothing next to the request.
    by_kind: Mutex<BTreeMap<&'static str, u64>>,
}

impl RequestCounters {
    pub fn new() -> Self {
        Self::default()
    }

    /// One request is about to leave (every attempt counts, retries included).
    pub fn sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// One request of `kind` is about to leave.
    pub fn sent_kind(&self, kind: &'static str) {
        self.sent();
        let mut by_kind = self
            .by_kind
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *by_kind.entry(kind).or_insert(0) += 1;
    }

    /// A request was answered 429 Too Many Requests.
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> RequestCounts {
        let by_kind = self
            .by_kind
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(kind, count)| ((*kind).to_owned(), *count))
            .collect();
        RequestCounts {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            by_kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_keeps_the_difference_of_two_readings() {
        let counters = RequestCounters::new();
        counters.sent_kind("read");
        counters.throttled();
        let before = counters.snapshot();
        counters.sent_kind("read");
        counters.sent_kind("create");
        counters.sent();
        counters.throttled();
        let after = counters.snapshot();
        assert_eq!(after.requests, 4);
        let run = after.since(&before);
        assert_eq!(run.requests, 3);
        assert_eq!(run.throttled, 1);
        assert_eq!(
            run.by_kind,
            BTreeMap::from([("create".to_owned(), 1), ("read".to_owned(), 1)])
        );
        // Readings of other counters (a restarted adapter) never go below zero.
        assert_eq!(before.since(&after), RequestCounts::default());
    }
}
