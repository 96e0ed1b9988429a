//! Personio HTTP client: the `HrSource` adapter.
//!
//! v1 for employees, document categories and uploads (`POST /v1/auth` token); v2 for the
//! document list and the webhooks management (`webhooks`), which only v2 offers and which only
//! take `POST /v2/auth/token` tokens.
//! Requests stay within a per-credential rate budget shared by every client of the credential
//! in the process; 429, 5xx and broken answers are retried with [`crate::retry::Backoff`] within
//! the caller's [`crate::retry::Deadline`].

mod budget;
mod client;
mod config;
mod documents;
mod employees;
mod paging;
#[cfg(test)]
mod redirect_tests;
mod transport;
mod webhooks;

pub use budget::{BudgetSlot, CredentialBudget, EndpointGroup, minimum_duration};
pub use client::PersonioClient;
pub use config::{DEFAULT_BASE_URL, PersonioConfig, RateLimits, RateWindow};
pub use documents::validate_upload;
pub use employees::{PageMetadata, ParsedPage, parse_employee, parse_employees_page};
