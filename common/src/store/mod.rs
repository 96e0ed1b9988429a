//! State store adapters: in-memory and embedded SQLite.
