//! What the integration tells its operators in numbers: the figures of runs, certificate batches
//! and an integration's health ([`figures`]), computed once from the records, and the two ways
//! they leave a host — CloudWatch Embedded Metric Format lines from the Lambda functions
//! ([`emf`]) and a Prometheus page from a long-running local host ([`prometheus`]). Every name
//! and unit is in [`names`] (and `docs/operating.md`).
//!
//! Pure functions over domain records and certificate batch counts; the app layer computes the
//! health from the stores and hands the figures to the hosts.

pub mod emf;
pub mod figures;
pub mod names;
pub mod prometheus;

pub use figures::{
    CertificateFigures, ParkedCertificates, RunFigures, RunHealth, RunObservation, ScheduledHealth,
    SchedulerPass,
};
pub use prometheus::MetricsRegistry;

#[cfg(test)]
mod tests;
