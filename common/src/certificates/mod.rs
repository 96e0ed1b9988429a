//! Certificate push, LMS → Personio: each course certificate (PDF) becomes exactly one Personio
//! employee document, even under redelivery and crashes.
//!
//! - [`job`]: the certificate job schema (`docs/certificate-job.md`), parsed per job, and NDJSON
//!   backfill files.
//! - [`settings`]: the integration's certificate settings (category, PDF host allow-list).
//! - [`fetch`]: fetching a `pdf_url` safely (allow-list, HTTPS, size/time/redirect limits).
//! - [`document`]: category choice, title, comment and file name of the Personio document.
//! - [`push`]: the pusher, over the `HrSource` and `StateStore` ports and the ledger.

pub mod document;
pub mod fetch;
pub mod job;
pub mod push;
pub mod queue;
mod retrying;
pub mod settings;

pub use document::{CategoryError, choose_category, document_title};
pub use fetch::{FetchError, FetchLimits, MAX_PDF_BYTES, PdfFetcher};
pub use job::{
    CertificateJob, InvalidJob, JobError, LineError, MAX_INLINE_PDF_BYTES, PdfSource, parse_ndjson,
    parse_ndjson_numbered,
};
pub use push::{
    BatchCounts, BatchReport, CertificatePusher, Clock, IntegrationProblem, JobReport, NoProgress,
    PushError, PushOutcome, PushProgress,
};
pub use settings::{CertificateSettings, CertificateSettingsError, HostAllowList};

#[cfg(test)]
mod tests;
