//! The sync run: plan, then apply.

pub mod profile;
