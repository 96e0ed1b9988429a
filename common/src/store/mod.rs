//! State store adapters: in-memory and embedded SQLite.
//!
//! Every backend keeps the items of one single-table model, the one the DynamoDB store uses
//! (docs/dynamodb.md): an `INT#{id}` partition per integration holding its link, run, lease and
//! certificate items and its record, named by [`keys`]. The rules that decide a lease, ledger,
//! version or schedule transition live in [`rules`], once, so the backends differ only in how
//! they make a read-decide-write atomic. The contract suite (`contract`, feature
//! `contract-tests`) is the behaviour every backend must show.

pub mod keys;
mod memory;
pub mod rules;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use memory::{MemoryStore, StoreStats};
#[cfg(feature = "sqlite")]
pub use sqlite::{
    CredentialKey, DEFAULT_MAX_RECEIVES, DeadJob, JobKind, KeyError, QueueDepth, ReceivedJob,
    Release, Released, SealedCredentials, SqliteJobQueue, SqliteStore, write_private,
};
