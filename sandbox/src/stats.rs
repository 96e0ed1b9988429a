//! What the sandbox has served: requests, 429 answers and injected faults, for inspection.

use std::collections::HashMap;
use std::hash::Hash;

use crate::endpoint::Endpoint;
use crate::faults::FaultKind;

/// What the sandbox has served so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received per endpoint (including throttled and faulted ones).
    pub requests: HashMap<Endpoint, u64>,
    /// 429 answers per endpoint.
    pub throttled: HashMap<Endpoint, u64>,
    pub faults: HashMap<FaultKind, u64>,
}

impl Stats {
    pub fn requests_to(&self, endpoint: Endpoint) -> u64 {
        self.requests.get(&endpoint).copied().unwrap_or(0)
    }
    pub fn throttled_on(&self, endpoint: Endpoint) -> u64 {
        self.throttled.get(&endpoint).copied().unwrap_or(0)
    }
    pub fn faults_of(&self, kind: FaultKind) -> u64 {
        self.faults.get(&kind).copied().unwrap_or(0)
    }

    pub(crate) fn count_request(&mut self, endpoint: Endpoint) {
        bump(&mut self.requests, endpoint);
    }
    pub(crate) fn count_throttled(&mut self, endpoint: Endpoint) {
        bump(&mut self.throttled, endpoint);
    }
    pub(crate) fn count_fault(&mut self, kind: FaultKind) {
        bump(&mut self.faults, kind);
    }
}

fn bump<K: Hash + Eq>(counts: &mut HashMap<K, u64>, key: K) {
    *counts.entry(key).or_default() += 1;
}
