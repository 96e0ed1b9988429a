//! Notifier adapters and the wording of every email the core sends.

pub mod compose;
pub mod memory;
pub mod outbox;

pub use compose::{invitation_email, run_summary_email};
pub use memory::MemoryNotifier;
pub use outbox::OutboxNotifier;
