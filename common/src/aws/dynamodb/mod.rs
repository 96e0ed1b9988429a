//! The state store on one DynamoDB table. `docs/dynamodb.md` describes the table, its items and
//! access patterns, retention and error mapping; the modules follow its item families:
//!
//! | module | holds |
//! | --- | --- |
//! | `store` | [`DynamoStore`]: the SDK client, the table name and the run retention |
//! | `schema` | the table definition and [`DynamoStore::create_table`] |
//! | `codec` | attribute values from and to Rust values; typed reads that name a corrupt item |
//! | `requests` | the requests every family uses: consistent get, paged query, conditional put and delete, batch and transaction writes |
//! | `optimistic` | the read-decide-write loop of the lease, the ledger and the scheduler's claim |
//! | `errors` | DynamoDB failures as `StoreError` |
//! | `links` | employee links `EMP#…`, found by LMS user through the index `gsi1` |
//! | `runs` | run headers `RUN#…`, the `RUNID#…` pointer and the `RUNCHUNK#…` chunks of large records |
//! | `lease` | the sync lease `LEASE` |
//! | `certificates` | the certificate ledger `CERT#…` |
//! | `integrations` | integration records `CONFIG`, tenant memberships `TENANT#…` and the schedule in `gsi1` |
//! | `audit` | the audit trail `AUDIT#…` of admin actions, kept for its retention (TTL) |
//!
//! Every item of an integration lives in the partition `INT#{integration_id}`
//! ([`crate::store::keys`]); only tenant memberships live in a partition of their own.

mod audit;
mod certificates;
mod codec;
mod errors;
mod integrations;
mod lease;
mod links;
mod optimistic;
mod requests;
mod runs;
mod schema;
mod store;

pub use schema::{TableDefinition, table_definition};
pub use store::{DEFAULT_RUN_RETENTION_DAYS, DynamoStore};
