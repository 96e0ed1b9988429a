//! The store itself: the SDK client, the table name and how long run records are kept. The
//! item families implement the store's ports on it, each in its own module.

use aws_sdk_dynamodb::Client;
use chrono::Duration;

/// How long run records are kept after their last write, unless configured otherwise.
pub const DEFAULT_RUN_RETENTION_DAYS: i64 = 90;

/// The state store on DynamoDB. Cheap to clone (the SDK client is shared).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table_name: String,
    /// Run items carry `expires_at` = last write + this, for the table's TTL.
    pub(super) run_retention: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
            run_retention: Duration::days(DEFAULT_RUN_RETENTION_DAYS),
        }
    }

    /// How long a run record (and its chunks and pointer) is kept after its last write, through
    /// the table's TTL attribute.
    pub fn with_run_retention(mut self, retention: Duration) -> Self {
        self.run_retention = retention;
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }
}
