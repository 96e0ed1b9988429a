//! A test facility: hold an employee listing between two pages, so that a test can change the
//! data at an exact point of a client's paging (an employee removed between page 1 and page 2
//! shifts every later record by one, which is how Personio's record offsets drift).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

/// The shared state of a hold, checked by the listing handler.
#[derive(Debug)]
pub(crate) struct HoldGate {
    /// Listing requests let through before the hold closes.
    pass_before_hold: usize,
    seen: AtomicUsize,
    held: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

impl HoldGate {
    /// Called by every `GET /v1/company/employees` before it reads the data: the request after
    /// the first `pass_before_hold` ones waits here until the hold is released.
    pub async fn pass(&self) {
        let index = self.seen.fetch_add(1, Ordering::SeqCst);
        if index != self.pass_before_hold {
            return;
        }
        self.held.send_replace(true);
        let mut released = self.released.subscribe();
        // The sender lives as long as `self`; an error cannot happen while we borrow it.
        let _ = released.wait_for(|released| *released).await;
    }
}

/// Holds the employee listing request that follows the first `pages` pages until
/// [`ListingHold::release`] (or drop). Get one from
/// [`crate::RunningSandbox::hold_employee_listing_after`]; test use only.
#[derive(Debug)]
pub struct ListingHold {
    gate: Arc<HoldGate>,
}

impl ListingHold {
    pub(crate) fn new(pages: usize) -> (Self, Arc<HoldGate>) {
        let gate = Arc::new(HoldGate {
            pass_before_hold: pages,
            seen: AtomicUsize::new(0),
            held: watch::Sender::new(false),
            released: watch::Sender::new(false),
        });
        (
            Self {
                gate: Arc::clone(&gate),
            },
            gate,
        )
    }

    /// Resolves once a client has read the first `pages` pages and asked for the next one,
    /// which now waits.
    pub async fn wait_until_held(&self) {
        let mut held = self.gate.held.subscribe();
        let _ = held.wait_for(|held| *held).await;
    }

    /// Lets the held request (and every later one) through.
    pub fn release(&self) {
        self.gate.released.send_replace(true);
    }
}

impl Drop for ListingHold {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_request_after_the_pages_waits_for_release() {
        let (hold, gate) = ListingHold::new(2);
        gate.pass().await;
        gate.pass().await;
        let held_gate = Arc::clone(&gate);
        let third = tokio::spawn(async move { held_gate.pass().await });
        tokio::time::timeout(Duration::from_secs(5), hold.wait_until_held())
            .await
            .expect("the third request is held");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!third.is_finished(), "held until released");
        hold.release();
        tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("released")
            .expect("task");
        gate.pass().await;
    }

    #[tokio::test]
    async fn dropping_the_hold_releases_it() {
        let (hold, gate) = ListingHold::new(0);
        let held_gate = Arc::clone(&gate);
        let first = tokio::spawn(async move { held_gate.pass().await });
        hold.wait_until_held().await;
        drop(hold);
        tokio::time::timeout(Duration::from_secs(5), first)
            .await
            .expect("released by drop")
            .expect("task");
    }
}
