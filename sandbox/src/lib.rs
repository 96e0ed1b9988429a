//! A local emulator of the Personio API, for the client's tests, the CLI demo and benchmarks.
//!
//! It serves the real paths on `http://127.0.0.1:PORT`:
//!
//! | endpoint | notes |
//! | --- | --- |
//! | `POST /v1/auth` | JSON or form body; token valid `expires_in` = 86400 s |
//! | `GET /v1/company/employees` | `limit` 1..=100 (default 50, 400 above), record `offset`, `attributes[]`, `email`, `updated_since` |
//! | `GET /v1/company/employees/{employee_id}` | one employee, whitelisted attributes; Personio's documented 404 |
//! | `GET /v1/company/document-categories` | |
//! | `POST /v1/company/documents` | multipart; 422 with `error_data`, 404 for unknown employee/category |
//! | `POST /v2/auth/token` | OAuth 2.0 client credentials, form body only, optional `scope` |
//! | `GET /v2/document-management/documents` | `owner_id` (required unless `cursor`), `category_id`, `limit` 1..=200, `cursor` |
//! | `POST/GET /v2/webhooks`, `GET/PATCH/DELETE /v2/webhooks/{id}` | webhooks management; scopes `personio:webhooks:read`/`write` |
//! | `GET /v2/webhooks/{id}/events`, `…/activity`; `POST …/redelivery`, `…/ping`, `…/test-event` | a webhook's history and manual sends |
//!
//! **v2 needs a v2 token.** Personio's v2 API is secured by bearer tokens from the OAuth 2.0
//! endpoint `POST /v2/auth/token` (credentials-service spec: `grant_type=client_credentials`,
//! form-encoded, errors as `application/problem+json`), not by v1 tokens. The sandbox enforces
//! this both ways: v1 tokens get 401 on v2 endpoints and v2 tokens get 401 on v1 endpoints, so a
//! client that mixes them up fails here first. A v2 token carries the scopes it was granted
//! (all of its credential's unless `scope` asks for fewer; one the credential lacks is
//! `invalid_scope`); an operation whose scope ([`scopes`]) the token lacks answers 403.
//!
//! The v2 document-management and webhooks specs are not among the specs in
//! `conformance/specs/`; their lists (`_data`, `_meta.links.self/next.href`, cursor pagination,
//! `limit` 1..=200 default 100) and error bodies follow `common-components-v2.json` and
//! Personio's reference pages. Where those pages are silent, the sandbox's readings are listed
//! in `README.md` ("Readings").
//!
//! **Webhooks.** Changes made through [`RunningSandbox`]'s mutation methods (or the `/_sandbox/`
//! control surface) fire Personio's employee events to every enabled webhook subscribed to them:
//! data-less JSON bodies (`id`, `company_id`, `event_name`, `occurred_at`, `payload` with the
//! ids), POSTed with the webhook's authentication, 3 s to answer, redirects not followed,
//! retried on timeouts and 5xx (not 501) per [`DeliveryPolicy`], every request recorded. A
//! background dispatcher delivers, so no API handler or mutation waits for a receiver.
//! [`WebhookFaults`] drop a seeded share of events or silence changes to chosen attributes.
//!
//! Readings where the sources disagree or are silent: the employees `limit` defaults to 50 (the
//! v1 spec's example says 10); a naive `updated_since` (`2022-12-24T08:15:30`) is read as UTC;
//! with `updated_since` Personio ignores `limit`, `offset` and `email` and answers the whole
//! selection at once, echoing `limit` in the metadata as its examples do; 401/429 bodies use
//! Personio's v1 error shape with `code` 401/429.
//!
//! Every credential has its own attribute whitelist; attributes it may not read are omitted
//! (only `id` is always present), and `updated_since` only counts changes to attributes it may
//! read. Rate limits are per credential and sliding-window (see [`RateLimits::personio`]).
//! Latency and faults are seeded and can be changed while running. For tests,
//! [`RunningSandbox::hold_employee_listing_after`] holds a listing between two pages.

mod api;
mod cli;
mod config;
mod credentials;
mod employee;
mod endpoint;
mod error;
mod faults;
mod generator;
mod listing_hold;
mod mutation;
mod rate_limit;
mod sandbox;
mod state;
mod stats;
mod store;
mod webhooks;

pub use cli::{SandboxArgs, serve};
pub use config::{DocumentCategory, Faults, RateLimitRule, RateLimits, SandboxConfig};
pub use employee::{Attribute, Employee};
pub use endpoint::{Endpoint, scopes};
pub use error::SandboxError;
pub use faults::FaultKind;
pub use generator::{
    COST_CENTER_KEY, DATE_OF_BIRTH_KEY, LMS_SYNC_KEY, LMS_SYNC_LABEL, NEXT_TRAINING_KEY,
    NewEmployee, PERSONNEL_NUMBER_KEY, TAGS_KEY, generate,
};
pub use listing_hold::ListingHold;
pub use sandbox::{RunningSandbox, Sandbox};
pub use stats::Stats;
pub use store::UploadedDocument;
pub use webhooks::model::EventName;
pub use webhooks::registry::WebhookStats;
pub use webhooks::settings::{DeliveryPolicy, WebhookFaults, WebhookSettings};
