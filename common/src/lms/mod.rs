//! Learning platform adapters: SCIM 2.0 and in-memory.

pub mod memory;
pub mod scim;
