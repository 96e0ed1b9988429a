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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::sync::Mutex;

    /// An item in memory whose conditional write can be made to lose `races` times: each lost
    /// race stands for another writer that bumped the revision in between.
    struct Cell {
        stored: Mutex<Option<Versioned<u32>>>,
        races: Mutex<usize>,
        writes: Mutex<usize>,
    }

    impl Cell {
        fn new(value: Option<u32>, races: usize) -> Self {
            Self {
                stored: Mutex::new(value.map(|value| Versioned { value, revision: 1 })),
                races: Mutex::new(races),
                writes: Mutex::new(0),
            }
        }

        fn read(&self) -> BoxFuture<'_, Result<Option<Versioned<u32>>, StoreError>> {
            let stored = self.stored.lock().unwrap();
            let read = stored.as_ref().map(|item| Versioned {
                value: item.value,
                revision: item.revision,
            });
            async move { Ok(read) }.boxed()
        }

        fn write(&self, value: u32, read: Option<u64>) -> BoxFuture<'_, Result<bool, StoreError>> {
            *self.writes.lock().unwrap() += 1;
            let mut stored = self.stored.lock().unwrap();
            let mut races = self.races.lock().unwrap();
            if *races > 0 {
                *races -= 1;
                let revision = stored.as_ref().map_or(1, |item| item.revision + 1);
                *stored = Some(Versioned {
                    value: 100,
                    revision,
                });
                return async { Ok(false) }.boxed();
            }
            let landed = stored.as_ref().map(|item| item.revision) == read;
            if landed {
                *stored = Some(Versioned {
                    value,
                    revision: read.map_or(1, |revision| revision + 1),
                });
            }
            async move { Ok(landed) }.boxed()
        }
    }

    /// Adds one to the stored value (absent counts as 0) and answers the value written.
    fn increment(current: Option<u32>) -> Result<Decision<u32, u32>, StoreError> {
        let next = current.unwrap_or(0) + 1;
        Ok(Decision::Write(next, next))
    }

    #[tokio::test]
    async fn a_lost_race_decides_again_on_what_the_other_writer_wrote() {
        let cell = Cell::new(Some(5), 1);
        let answer = read_decide_write(
            "INT#a/X",
            || cell.read(),
            increment,
            |value, read| cell.write(value, read),
        )
        .await
        .unwrap();
        assert_eq!(
            answer, 101,
            "decided on the racing writer's 100, not the 5 first read"
        );
        assert_eq!(*cell.writes.lock().unwrap(), 2);
        let stored = cell.stored.lock().unwrap();
        assert_eq!(
            stored.as_ref().map(|item| (item.value, item.revision)),
            Some((101, 3))
        );
    }

    #[tokio::test]
    async fn an_answer_without_a_write_writes_nothing() {
        let cell = Cell::new(None, 0);
        let answer = read_decide_write(
            "INT#a/X",
            || cell.read(),
            |current| Ok(Decision::<u32, _>::Answer(current.is_none())),
            |value, read| cell.write(value, read),
        )
        .await
        .unwrap();
        assert!(answer);
        assert_eq!(*cell.writes.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn an_item_that_keeps_changing_is_a_conflict_naming_it() {
        let cell = Cell::new(None, usize::MAX);
        let error = read_decide_write(
            "INT#a/X",
            || cell.read(),
            increment,
            |value, read| cell.write(value, read),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, StoreError::Conflict(message) if message.contains("INT#a/X")),
            "{error:?}"
        );
        assert_eq!(*cell.writes.lock().unwrap(), MAX_OPTIMISTIC_ATTEMPTS);
    }

    #[tokio::test]
    async fn a_failed_decision_is_returned_without_a_write() {
        let cell = Cell::new(Some(1), 0);
        let error = read_decide_write(
            "INT#a/X",
            || cell.read(),
            |_| Err::<Decision<u32, ()>, _>(StoreError::Conflict("not in progress".into())),
            |value, read| cell.write(value, read),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
        assert_eq!(*cell.writes.lock().unwrap(), 0);
    }
}
