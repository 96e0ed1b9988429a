//! Core of the Personio ⇄ learning platform integration.
//!
//! The core knows nothing about Lambda or AWS: it talks to the world through the narrow traits in
//! [`ports`]; adapters implement them; hosts (the CLI, the Lambda functions) wire adapters to the core.

pub mod admin;
pub mod certificates;
pub mod connect;
pub mod domain;
pub mod jobs;
pub mod lms;
pub mod notify;
pub mod personio;
pub mod ports;
pub mod preflight;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod service;
pub mod settings;
pub mod store;
pub mod sync;

#[cfg(feature = "aws")]
pub mod aws;
