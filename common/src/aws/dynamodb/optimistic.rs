//! The optimistic read-decide-write loop, written once for the lease, the certificate ledger and
//! the scheduler's claim of a due run.
//!
//! The decision is one of the rules in [`crate::store::rules`] (the same rules as every other
//! backend), taken on a strongly consistent read. The write carries a condition on the counter
//! read (`rev`, or an integration record's `version`): it lands only if nobody changed the item
//! since it was read. Otherwise the loop reads again and decides on what the other writer wrote.

use crate::ports::StoreError;
use futures::future::BoxFuture;

/// How often a transition re-reads after losing a race before it gives up.
const MAX_OPTIMISTIC_ATTEMPTS: usize = 10;

/// An item's decoded value and the counter its conditional write checks.
pub(super) struct Versioned<V> {
    pub value: V,
    pub revision: u64,
}

/// What a rule decided on the item as read.
pub(super) enum Decision<W, A> {
    /// Nothing to write: answer `A`.
    Answer(A),
    /// Write `W` if the item is still as read, then answer `A`.
    Write(W, A),
}

/// Reads the item (`read`), decides (`decide`) and, when the decision is a write, writes it
/// conditioned on the revision read (`write` says whether it landed). A lost race repeats the
/// whole step; after [`MAX_OPTIMISTIC_ATTEMPTS`] it is a `Conflict` naming `item_key`.
///
/// `read` and `write` return boxed futures: the futures of async closures cannot (yet) be
/// required to be `Send` in a signature, which the store's `async_trait` methods need.
pub(super) async fn read_decide_write<'a, V, W, A>(
    item_key: &str,
    read: impl Fn() -> BoxFuture<'a, Result<Option<Versioned<V>>, StoreError>>,
    decide: impl Fn(Option<V>) -> Result<Decision<W, A>, StoreError>,
    write: impl Fn(W, Option<u64>) -> BoxFuture<'a, Result<bool, StoreError>>,
) -> Result<A, StoreError> {
    for _ in 0..MAX_OPTIMISTIC_ATTEMPTS {
        let current = read().await?;
        let read_revision = current.as_ref().map(|current| current.revision);
        match decide(current.map(|current| current.value))? {
            Decision::Answer(answer) => return Ok(answer),
            Decision::Write(next, answer) => {
                if write(next, read_revision).await? {
                    return Ok(answer);
                }
                // Someone wrote between our read and write: decide again on what they wrote.
            }
        }
    }
    Err(StoreError::Conflict(format!(
        "{item_key} kept changing: gave up after {MAX_OPTIMISTIC_ATTEMPTS} attempts"
    )))
}
