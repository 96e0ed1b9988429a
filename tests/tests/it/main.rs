//! Cross-crate integration tests. One module per area; one binary for all of them.

mod certificates;
mod personio_client;
