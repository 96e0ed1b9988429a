//! The sync lease: one `LEASE` item per integration (`holder`, `lease_expires_at`, `rev`). Taking,
//! renewing and releasing it are the rules of [`crate::store::rules`] run through the
//! optimistic loop, so two runs racing for the lease get exactly one lease, and the loser is told
//! who holds it. No `expires_at`: TTL must never delete a lease.

use super::codec::{Item, ItemReader, keyed_item, s, timestamp};
use super::optimistic::{Decision, Versioned, read_decide_write};
use super::requests::REVISION;
use super::store::DynamoStore;
use crate::domain::IntegrationId;
use crate::ports::{Lease, LeaseOutcome, LeaseStore, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;

fn lease_item(lease: &Lease) -> Item {
    keyed_item(
        keys::partition(&lease.integration_id),
        keys::LEASE_SORT,
        "lease",
        [
            ("holder", s(&lease.holder)),
            ("lease_expires_at", s(timestamp(lease.expires_at))),
        ],
    )
}

/// What a lease transition writes.
enum LeaseWrite {
    Put(Lease),
    Delete,
}

impl DynamoStore {
    async fn read_lease(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<Versioned<Lease>>, StoreError> {
        let Some(item) = self.get(integration, keys::LEASE_SORT).await? else {
            return Ok(None);
        };
        let reader = ItemReader::new(&item);
        let lease = Lease {
            integration_id: integration.clone(),
            holder: reader.string("holder")?.to_owned(),
            expires_at: reader.datetime("lease_expires_at")?,
        };
        Ok(Some(Versioned {
            value: lease,
            revision: reader.number(REVISION)?,
        }))
    }

    /// Reads the lease, applies `decide`, and writes what it decided if the lease is unchanged;
    /// repeats on a lost race.
    async fn decide_lease<A>(
        &self,
        integration: &IntegrationId,
        decide: impl Fn(Option<Lease>) -> Decision<LeaseWrite, A>,
    ) -> Result<A, StoreError> {
        let item_key = &keys::lease_item(integration);
        read_decide_write(
            item_key,
            || self.read_lease(integration).boxed(),
            |current| Ok(decide(current)),
            |write, read_revision| match write {
                LeaseWrite::Put(lease) => self
                    .put_if_unchanged(lease_item(&lease), read_revision, item_key)
                    .boxed(),
                LeaseWrite::Delete => self
                    .delete_if_unchanged(integration, keys::LEASE_SORT, read_revision)
                    .boxed(),
            },
        )
        .await
    }
}

#[async_trait]
impl LeaseStore for DynamoStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.decide_lease(integration, |current| {
            match rules::acquire_lease(current.as_ref(), integration, holder, now, ttl) {
                LeaseOutcome::Acquired(lease) => Decision::Write(
                    LeaseWrite::Put(lease.clone()),
                    LeaseOutcome::Acquired(lease),
                ),
                held @ LeaseOutcome::HeldBy(_) => Decision::Answer(held),
            }
        })
        .await
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.decide_lease(integration, |current| {
            match rules::renew_lease(current.as_ref(), holder, now, ttl) {
                Some(renewed) => Decision::Write(LeaseWrite::Put(renewed), true),
                None => Decision::Answer(false),
            }
        })
        .await
    }

    async fn release_lease(
        &self,
        integration: &IntegrationId,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.decide_lease(integration, |current| {
            if rules::releases_lease(current.as_ref(), holder) {
                Decision::Write(LeaseWrite::Delete, ())
            } else {
                Decision::Answer(())
            }
        })
        .await
    }

    async fn lease(&self, integration: &IntegrationId) -> Result<Option<Lease>, StoreError> {
        Ok(self
            .read_lease(integration)
            .await?
            .map(|current| current.value))
    }
}
