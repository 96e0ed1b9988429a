//! Notifier adapters: the outbox folder of `.eml` files (the CLI without a mail server), SMTP
//! (feature `smtp`: the CLI with one), a notifier that sends nothing
//! (hosts that must not email, like the admin API's dry-run plans), and, for tests, one that keeps
//! what it is given. The wording of every email is the sync's (`crate::sync::email`); SES is in
//! `crate::aws`.

pub mod discard;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod outbox;
#[cfg(feature = "smtp")]
pub mod smtp;

pub use discard::DiscardNotifier;
#[cfg(any(test, feature = "test-support"))]
pub use memory::MemoryNotifier;
pub use outbox::OutboxNotifier;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpConfig, SmtpNotifier, SmtpSecurity, SmtpSetupError, check_security};
