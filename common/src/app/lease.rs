//! The sync lease as a host sees it: who holds it, taking over the lease of a process on this
//! machine that died, and breaking a lease by hand (`personio-lms unlock`).
//!
//! A run's lease expires by itself a few minutes after its holder died; these make the wait
//! unnecessary where it is safe: a local holder whose process is gone cannot be running, and an
//! admin who breaks a lease has been told who holds it and until when.

use crate::domain::IntegrationId;
use crate::ports::{Lease, LeaseStore, StoreError};
use chrono::{DateTime, Utc};
use std::fmt;

/// A lease holder that is a process on some machine: `personio-lms on HOST (pid N)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessHolder {
    pub host: String,
    pub pid: u32,
}

const PREFIX: &str = "personio-lms on ";

impl fmt::Display for ProcessHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{} (pid {})", self.host, self.pid)
    }
}

impl ProcessHolder {
    /// Reads a holder written by `Display`; `None` for any other holder (a Lambda request id).
    pub fn parse(holder: &str) -> Option<Self> {
        let rest = holder.strip_prefix(PREFIX)?;
        let (host, pid) = rest.rsplit_once(" (pid ")?;
        let pid = pid.strip_suffix(')')?.parse().ok()?;
        (!host.is_empty()).then(|| Self {
            host: host.to_owned(),
            pid,
        })
    }
}

/// The lease as it stands, for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    Free,
    /// Held by a holder that no longer renews it; the next run takes it.
    Expired(Lease),
    Held(Lease),
}

pub async fn lease_state(
    store: &dyn LeaseStore,
    integration: &IntegrationId,
    now: DateTime<Utc>,
) -> Result<LeaseState, StoreError> {
    Ok(match store.lease(integration).await? {
        None => LeaseState::Free,
        Some(lease) if lease.expires_at <= now => LeaseState::Expired(lease),
        Some(lease) => LeaseState::Held(lease),
    })
}

/// When the lease is held by a process of `this_host` that `is_running` says is gone, releases
/// it (on behalf of that holder only, so a lease taken meanwhile by someone else stays) and
/// returns the lease taken over.
pub async fn take_over_from_dead_local_holder(
    store: &dyn LeaseStore,
    integration: &IntegrationId,
    this_host: &str,
    is_running: impl Fn(u32) -> bool,
) -> Result<Option<Lease>, StoreError> {
    let LeaseState::Held(lease) = lease_state(store, integration, Utc::now()).await? else {
        return Ok(None);
    };
    let dead_local = ProcessHolder::parse(&lease.holder)
        .is_some_and(|holder| holder.host == this_host && !is_running(holder.pid));
    if !dead_local {
        return Ok(None);
    }
    store.release_lease(integration, &lease.holder).await?;
    Ok(Some(lease))
}

/// Breaks `seen` (the lease an admin was shown and confirmed), on behalf of its holder only: a
/// lease another run took meanwhile stays. Returns the lease held afterwards (`None`: free).
pub async fn break_lease(
    store: &dyn LeaseStore,
    integration: &IntegrationId,
    seen: &Lease,
) -> Result<Option<Lease>, StoreError> {
    store.release_lease(integration, &seen.holder).await?;
    store.lease(integration).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::LeaseOutcome;
    use crate::store::MemoryStore;
    use chrono::Duration;

    fn acme() -> IntegrationId {
        IntegrationId::new("acme")
    }

    #[test]
    fn a_process_holder_reads_back_and_nothing_else_does() {
        let holder = ProcessHolder {
            host: "build-box (eu)".into(),
            pid: 4242,
        };
        let text = holder.to_string();
        assert_eq!(text, "personio-lms on build-box (eu) (pid 4242)");
        assert_eq!(ProcessHolder::parse(&text), Some(holder));
        for other in [
            "8f1c2d3e-aaaa-bbbb-cccc-1234567890ab",
            "personio-lms on  (pid 1)",
            "personio-lms on host (pid x)",
            "someone else",
        ] {
            assert_eq!(ProcessHolder::parse(other), None, "{other}");
        }
    }

    async fn hold(store: &MemoryStore, holder: &str) {
        let taken = store
            .acquire_lease(&acme(), holder, Utc::now(), Duration::minutes(5))
            .await
            .unwrap();
        assert!(matches!(taken, LeaseOutcome::Acquired(_)));
    }

    #[tokio::test]
    async fn only_a_dead_process_of_this_host_is_taken_over() {
        let store = MemoryStore::new();
        let dead_here = ProcessHolder {
            host: "here".into(),
            pid: 7,
        }
        .to_string();
        hold(&store, &dead_here).await;
        let alive = |pid| pid != 7;
        // Another host's process, or a live one here: left alone.
        assert_eq!(
            take_over_from_dead_local_holder(&store, &acme(), "elsewhere", alive)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            take_over_from_dead_local_holder(&store, &acme(), "here", |_| true)
                .await
                .unwrap(),
            None
        );
        let taken = take_over_from_dead_local_holder(&store, &acme(), "here", alive)
            .await
            .unwrap();
        assert_eq!(taken.map(|lease| lease.holder), Some(dead_here));
        assert_eq!(
            lease_state(&store, &acme(), Utc::now()).await.unwrap(),
            LeaseState::Free
        );
    }

    #[tokio::test]
    async fn breaking_releases_only_the_lease_that_was_shown() {
        let store = MemoryStore::new();
        hold(&store, "stuck run").await;
        let LeaseState::Held(seen) = lease_state(&store, &acme(), Utc::now()).await.unwrap() else {
            panic!("held");
        };
        assert_eq!(break_lease(&store, &acme(), &seen).await.unwrap(), None);
        hold(&store, "a new run").await;
        let after = break_lease(&store, &acme(), &seen).await.unwrap();
        assert_eq!(
            after.map(|lease| lease.holder).as_deref(),
            Some("a new run")
        );
    }
}
