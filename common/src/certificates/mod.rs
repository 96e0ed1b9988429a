//! Certificate push, LMS → Personio: each course certificate (PDF) becomes exactly one Personio
//! employee document, even under redelivery and crashes.
//!
//! - [`job`]: the certificate job schema (`docs/certificate-job.md`), parsed per job, and NDJSON
//!   backfill files.
//! - [`fetch`]: fetching a `pdf_url` safely (allow-list, HTTPS, size/time/redirect limits).
//! - [`document`]: category choice, title, comment and file name of the Personio document.
//! - [`push`]: the pusher, over the `HrSource` port and the `CertificateStore` port (link lookups
//!   and the ledger); `parking`: jobs whose employee is not linked (parked with a reason, failed
//!   after `parked_expiry_days`); [`outcome`]: what became of each job; [`error`]: why a job
//!   failed.
//!
//! The certificate settings are domain data (`crate::domain::settings::certificates`); the queue
//! consumer that feeds the pusher is a use case of the application layer (`crate::app`).

pub mod document;
pub mod error;
pub mod fetch;
pub mod job;
pub mod outcome;
mod parking;
pub mod push;
mod retrying;

pub use document::{CategoryError, choose_category, document_title};
pub use error::{IntegrationProblem, PushError};
pub use fetch::{FetchError, FetchLimits, MAX_PDF_BYTES, PdfFetcher};
pub use job::{
    CertificateJob, InvalidJob, JobError, LineError, MAX_INLINE_PDF_BYTES, PdfSource, parse_ndjson,
    parse_ndjson_numbered,
};
pub use outcome::{BatchCounts, BatchReport, JobReport, PushOutcome, PushProgress};
pub use push::{CertificatePusher, Clock};

#[cfg(test)]
mod tests;
