//! Notifier adapters: the outbox folder of `.eml` files (the CLI), a notifier that sends nothing
//! (hosts that must not email, like the admin API's dry-run plans), and, for tests, one that keeps
//! what it is given. The wording of every email is the sync's (`crate::sync::email`); SES is in
//! `crate::aws`.

pub mod discard;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod outbox;

pub use discard::DiscardNotifier;
#[cfg(any(test, feature = "test-support"))]
pub use memory::MemoryNotifier;
pub use outbox::OutboxNotifier;
