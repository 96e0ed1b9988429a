//! The sync lease: table `leases`, one row per integration. Every transition is decided by
//! `store::rules` on the row read inside the same write transaction.

use super::SqliteStore;
use super::codec::micros_to_time;
use super::connection::{OperationResult, query_optional, write_transaction};
use crate::domain::IntegrationId;
use crate::ports::{Lease, LeaseOutcome, LeaseStore, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};

fn read_lease(
    connection: &Connection,
    integration: &IntegrationId,
) -> OperationResult<Option<Lease>> {
    query_optional(
        connection,
        "SELECT holder, expires_at_us FROM leases WHERE integration_id = ?1",
        params![integration.as_str()],
        |row| {
            let holder = row.get("holder")?;
            let expires_at =
                micros_to_time(row.get("expires_at_us")?, || keys::lease_item(integration))?;
            Ok(Lease {
                integration_id: integration.clone(),
                holder,
                expires_at,
            })
        },
    )
}

fn write_lease(connection: &Connection, lease: &Lease) -> OperationResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO leases (integration_id, holder, expires_at_us) VALUES (?1, ?2, ?3)
             ON CONFLICT (integration_id) DO UPDATE
             SET holder = excluded.holder, expires_at_us = excluded.expires_at_us",
        )?
        .execute(params![
            lease.integration_id.as_str(),
            lease.holder,
            lease.expires_at.timestamp_micros()
        ])?;
    Ok(())
}

fn delete_lease(connection: &Connection, integration: &IntegrationId) -> OperationResult<()> {
    connection
        .prepare_cached("DELETE FROM leases WHERE integration_id = ?1")?
        .execute(params![integration.as_str()])?;
    Ok(())
}

impl SqliteStore {
    /// Reads the lease and lets `decide` answer and write on `holder`'s behalf: one write
    /// transaction.
    async fn update_lease<T, F>(
        &self,
        integration: &IntegrationId,
        holder: &str,
        decide: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, Option<Lease>, &IntegrationId, &str) -> OperationResult<T>
            + Send
            + 'static,
    {
        let integration = integration.clone();
        let holder = holder.to_owned();
        self.call(move |connection| {
            write_transaction(connection, |transaction| {
                let current = read_lease(transaction, &integration)?;
                decide(transaction, current, &integration, &holder)
            })
        })
        .await
    }
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.update_lease(
            integration,
            holder,
            move |transaction, current, id, holder| {
                let outcome = rules::acquire_lease(current.as_ref(), id, holder, now, ttl);
                if let LeaseOutcome::Acquired(lease) = &outcome {
                    write_lease(transaction, lease)?;
                }
                Ok(outcome)
            },
        )
        .await
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.update_lease(
            integration,
            holder,
            move |transaction, current, _, holder| {
                let Some(renewed) = rules::renew_lease(current.as_ref(), holder, now, ttl) else {
                    return Ok(false);
                };
                write_lease(transaction, &renewed)?;
                Ok(true)
            },
        )
        .await
    }

    async fn release_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.update_lease(integration, holder, |transaction, current, id, holder| {
            if rules::releases_lease(current.as_ref(), holder) {
                delete_lease(transaction, id)?;
            }
            Ok(())
        })
        .await
    }

    async fn lease(&self, integration: &IntegrationId) -> Result<Option<Lease>, StoreError> {
        let integration = integration.clone();
        self.call(move |connection| read_lease(connection, &integration))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use crate::domain::IntegrationId;
    use crate::ports::{LeaseOutcome, LeaseStore};
    use chrono::{Duration, Utc};

    // Two stores on one file behave like two processes: separate connections, one file lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_connections_to_one_file_grant_the_lease_once() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.sqlite");
        let stores = [
            SqliteStore::open(&path).unwrap(),
            SqliteStore::open(&path).unwrap(),
        ];
        let now = Utc::now();
        for round in 0..20 {
            let integration = IntegrationId::new(format!("integration-{round}"));
            let attempts = stores.iter().enumerate().map(|(n, store)| {
                let (store, integration) = (store.clone(), integration.clone());
                tokio::spawn(async move {
                    store
                        .acquire_lease(
                            &integration,
                            &format!("run-{n}"),
                            now,
                            Duration::minutes(15),
                        )
                        .await
                })
            });
            let outcomes = futures::future::join_all(attempts).await;
            let count = |acquired: bool| {
                outcomes
                    .iter()
                    .filter(|outcome| match outcome {
                        Ok(Ok(LeaseOutcome::Acquired(_))) => acquired,
                        Ok(Ok(LeaseOutcome::HeldBy(_))) => !acquired,
                        _ => false,
                    })
                    .count()
            };
            // Both answer: the loser waits for the lock instead of failing with "busy".
            assert_eq!(
                (count(true), count(false)),
                (1, 1),
                "round {round}: {outcomes:?}"
            );
        }
    }
}
