//! Notifier adapters.
