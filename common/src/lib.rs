//! Core of the Personio ⇄ learning platform integration.
//!
//! The core knows nothing about Lambda or AWS: it talks to the world through the narrow traits in
//! [`ports`]; adapters implement them; hosts (the CLI, the Lambda functions) wire adapters and call
//! the use cases in [`app`]. Layers, each importing only those below it:
//! [`domain`] ← [`ports`] ← engines ([`sync`], [`certificates`]) ← adapters ([`personio`],
//! [`lms`], [`store`], [`notify`], the AWS adapters) ← [`app`] ← [`admin`] and `aws::host` ← hosts.

pub mod admin;
pub mod app;
pub mod certificates;
pub mod counters;
pub mod domain;
pub mod lms;
pub mod metrics;
pub mod net;
pub mod net_failure;
pub mod notify;
pub mod personio;
pub mod ports;
pub mod progress;
pub mod retry;
pub mod secret;
pub mod store;
pub mod sync;
pub mod text;

#[cfg(feature = "aws")]
pub mod aws;
