//! The nouns of the integration, shared by the engine, the ports and the adapters, and the
//! settings an admin chooses for an integration ([`settings`]).

pub mod audit;
pub mod certificate;
pub mod employee;
pub mod integration;
pub mod job;
pub mod link;
pub mod lms;
pub mod run;
pub mod settings;

use serde::{Deserialize, Serialize};
use std::fmt;

/// One integration = one Personio account connected to one LMS tenant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntegrationId(pub String);

impl IntegrationId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IntegrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
