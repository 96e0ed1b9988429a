//! The sync run: plan, then apply.
