//! State store adapters: in-memory and embedded SQLite.
//!
//! Every backend keeps the items of one single-table model (`INT#{id}` partition; link, run,
//! lease and certificate items; `docs/dynamodb.md`, "Items"). The rules that decide a lease or ledger transition live in
//! [`rules`], once, so the backends differ only in how they make a read-decide-write atomic.

pub mod keys;
mod memory;
pub mod rules;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use memory::{MemoryStore, StoreStats};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
