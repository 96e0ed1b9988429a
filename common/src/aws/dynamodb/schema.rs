//! The table's keys, index and TTL attribute, and creating a table that has them.

use super::errors::{invalid_request, sdk_error};
use super::store::DynamoStore;
use crate::ports::StoreError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};

/// The table's keys, index and TTL attribute: what a SAM/CloudFormation template must declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDefinition {
    /// Partition key, type S.
    pub partition_key: &'static str,
    /// Sort key, type S.
    pub sort_key: &'static str,
    /// The sparse GSI that finds a link by its LMS user (projection ALL); integration records
    /// with a next run use it too, as the schedule.
    pub lms_user_index: &'static str,
    /// The GSI's partition key, type S: `INT#{integration_id}#LMSUSER#{lms_user_id}` on links,
    /// `SCHEDULE` on integration records that have a next run.
    pub lms_user_index_partition_key: &'static str,
    /// The GSI's sort key, type S: the link's `EMP#{personio_id}`; a scheduled record's
    /// `{next_run_at}#{integration_id}`.
    pub lms_user_index_sort_key: &'static str,
    /// The TTL attribute (epoch seconds), set on run items and on audit entries that have a
    /// retention.
    pub ttl_attribute: &'static str,
    /// Always on-demand (PAY_PER_REQUEST): sync runs are bursty.
    pub billing_mode: BillingMode,
}

/// The one table definition, shared by [`DynamoStore::create_table`] and `docs/dynamodb.md`.
pub fn table_definition() -> TableDefinition {
    TableDefinition {
        partition_key: "pk",
        sort_key: "sk",
        lms_user_index: "gsi1",
        lms_user_index_partition_key: "gsi1pk",
        lms_user_index_sort_key: "gsi1sk",
        ttl_attribute: "expires_at",
        billing_mode: BillingMode::PayPerRequest,
    }
}

/// How often `create_table` asks whether the new table is active, and how long it waits between.
const ACTIVE_POLLS: u32 = 120;
const ACTIVE_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

impl DynamoStore {
    /// Creates the table as [`table_definition`] describes it, waits until it is active and
    /// enables TTL. For tests and local setups; deployed tables come from the SAM template.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let definition = table_definition();
        let string_attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(invalid_request)
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(invalid_request)
        };
        let lms_user_index = GlobalSecondaryIndex::builder()
            .index_name(definition.lms_user_index)
            .key_schema(key(definition.lms_user_index_partition_key, KeyType::Hash)?)
            .key_schema(key(definition.lms_user_index_sort_key, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(invalid_request)?;
        self.client
            .create_table()
            .table_name(&self.table_name)
            .attribute_definitions(string_attribute(definition.partition_key)?)
            .attribute_definitions(string_attribute(definition.sort_key)?)
            .attribute_definitions(string_attribute(definition.lms_user_index_partition_key)?)
            .attribute_definitions(string_attribute(definition.lms_user_index_sort_key)?)
            .key_schema(key(definition.partition_key, KeyType::Hash)?)
            .key_schema(key(definition.sort_key, KeyType::Range)?)
            .global_secondary_indexes(lms_user_index)
            .billing_mode(definition.billing_mode.clone())
            .send()
            .await
            .map_err(|error| sdk_error("CreateTable", &self.table_name, error))?;

        self.wait_until_active().await?;

        self.client
            .update_time_to_live()
            .table_name(&self.table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(definition.ttl_attribute)
                    .build()
                    .map_err(invalid_request)?,
            )
            .send()
            .await
            .map_err(|error| sdk_error("UpdateTimeToLive", &self.table_name, error))?;
        tracing::info!(table = %self.table_name, "created the state table");
        Ok(())
    }

    /// Creation is asynchronous on AWS (immediate on DynamoDB Local): poll, bounded.
    async fn wait_until_active(&self) -> Result<(), StoreError> {
        for _ in 0..ACTIVE_POLLS {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table_name)
                .send()
                .await
                .map_err(|error| sdk_error("DescribeTable", &self.table_name, error))?;
            if described.table().and_then(|table| table.table_status())
                == Some(&TableStatus::Active)
            {
                return Ok(());
            }
            tokio::time::sleep(ACTIVE_POLL_INTERVAL).await;
        }
        Err(StoreError::Unavailable(format!(
            "table {} did not become active within a minute",
            self.table_name
        )))
    }
}
