//! The item keys of the single-table model (docs/dynamodb.md, "Items"). Backends with real tables
//! use them in error messages so that a conflict or a corrupt item names the same key everywhere;
//! a DynamoDB backend uses them as its partition and sort keys.

use crate::domain::IntegrationId;
use crate::domain::certificate::CertificateId;
use crate::domain::employee::PersonioId;
use crate::domain::run::RunId;
use chrono::{DateTime, SecondsFormat, Utc};

/// The partition key every item of an integration shares.
pub fn partition(integration: &IntegrationId) -> String {
    format!("INT#{integration}")
}

pub fn link_sort(personio_id: PersonioId) -> String {
    format!("EMP#{personio_id}")
}

/// Fixed-width UTC timestamp first, so that sort keys order runs by start time.
pub fn run_sort(started_at: DateTime<Utc>, run_id: &RunId) -> String {
    format!(
        "RUN#{}#{run_id}",
        started_at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

pub const LEASE_SORT: &str = "LEASE";

/// The integration record's sort key: the record is `INT#{id}` / `CONFIG`.
pub const INTEGRATION_SORT: &str = "CONFIG";

pub fn certificate_sort(certificate: &CertificateId) -> String {
    format!("CERT#{certificate}")
}

/// An audit entry: fixed-width UTC timestamp first (as for runs), so that sort keys order the
/// trail by time; the entry id tells entries of the same instant apart.
pub fn audit_sort(at: DateTime<Utc>, entry_id: &str) -> String {
    format!(
        "{AUDIT_PREFIX}{}#{entry_id}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

/// What every audit entry's sort key starts with.
pub const AUDIT_PREFIX: &str = "AUDIT#";

/// `partition/sort`, the form used in error messages.
pub fn item(integration: &IntegrationId, sort: &str) -> String {
    format!("{}/{sort}", partition(integration))
}

pub fn link_item(integration: &IntegrationId, personio_id: PersonioId) -> String {
    item(integration, &link_sort(personio_id))
}

pub fn run_item(integration: &IntegrationId, started_at: DateTime<Utc>, run_id: &RunId) -> String {
    item(integration, &run_sort(started_at, run_id))
}

pub fn integration_item(integration: &IntegrationId) -> String {
    item(integration, INTEGRATION_SORT)
}

pub fn lease_item(integration: &IntegrationId) -> String {
    item(integration, LEASE_SORT)
}

pub fn audit_item(integration: &IntegrationId, at: DateTime<Utc>, entry_id: &str) -> String {
    item(integration, &audit_sort(at, entry_id))
}

pub fn certificate_item(integration: &IntegrationId, certificate: &CertificateId) -> String {
    item(integration, &certificate_sort(certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_sort_keys_order_by_start_time() {
        let run_id = RunId("r".into());
        let earlier = DateTime::from_timestamp(999_999_999, 5_000).expect("valid timestamp");
        let later = DateTime::from_timestamp(1_000_000_000, 0).expect("valid timestamp");
        assert!(run_sort(earlier, &run_id) < run_sort(later, &run_id));
        assert_eq!(
            run_sort(later, &run_id),
            "RUN#2001-09-09T01:46:40.000000Z#r"
        );
    }
}
