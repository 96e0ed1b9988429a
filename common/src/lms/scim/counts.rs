//! How many requests of each kind the adapter sent: the benchmark's protocol accounting, and a
//! test's proof that a run made only the requests it should.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
    Discovery,
    /// A filtered search for one user.
    UserLookup,
    /// A page of the user listing.
    UserListing,
    UserCreate,
    /// PATCH or PUT of one user.
    UserUpdate,
    /// GET of one user (before a PUT, or a read).
    UserRead,
    /// `POST /Bulk`.
    Bulk,
    GroupLookup,
    GroupListing,
    /// PATCH or PUT of one group.
    GroupUpdate,
    GroupRead,
}

impl RequestKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::UserLookup => "user lookups",
            Self::UserListing => "user listing pages",
            Self::UserCreate => "user creates",
            Self::UserUpdate => "user updates",
            Self::UserRead => "user reads",
            Self::Bulk => "bulk requests",
            Self::GroupLookup => "group lookups",
            Self::GroupListing => "group listing pages",
            Self::GroupUpdate => "group member updates",
            Self::GroupRead => "group reads",
        }
    }
}

/// Requests sent (each HTTP attempt counts, retries included).
#[derive(Default)]
pub struct RequestCounter {
    counts: Mutex<BTreeMap<RequestKind, u64>>,
}

impl RequestCounter {
    pub fn count(&self, kind: RequestKind) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(kind)
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts(
            self.counts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        )
    }
}

/// A snapshot of the counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts(pub BTreeMap<RequestKind, u64>);

impl RequestCounts {
    pub fn get(&self, kind: RequestKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The counts since `earlier`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts(
            self.0
                .iter()
                .map(|(kind, count)| (*kind, count - earlier.get(*kind)))
                .filter(|(_, count)| *count > 0)
                .collect(),
        )
    }
}
