//! The certificate ledger: exactly one Personio document per LMS certificate.

use super::IntegrationId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The LMS's certificate id, unique per integration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CertificateId(pub String);

impl fmt::Display for CertificateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a certificate stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LedgerState {
    /// Waiting for its employee to be synced; the job is kept whole and released by the next
    /// successful sync run of the integration.
    Parked {
        job: serde_json::Value,
    },
    /// A worker is uploading it. After `expires_at` the worker is presumed dead, and the next one
    /// looks for the document in Personio before uploading again.
    InProgress {
        expires_at: DateTime<Utc>,
    },
    Done {
        document_id: String,
    },
    /// A permanent failure; a later delivery of the same certificate may try again.
    Failed {
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub integration_id: IntegrationId,
    pub certificate_id: CertificateId,
    #[serde(flatten)]
    pub state: LedgerState,
    /// How many times a worker has claimed it.
    pub attempts: u32,
    pub updated_at: DateTime<Utc>,
}

/// The answer to a worker's claim of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerClaim {
    /// The worker holds it until `expires_at`. `recovering` is true when an earlier worker's
    /// claim had expired: the document may already be in Personio and must be looked for first.
    Claimed {
        expires_at: DateTime<Utc>,
        recovering: bool,
    },
    /// Already pushed: nothing to do.
    AlreadyDone { document_id: String },
    /// Another worker holds an unexpired claim: try again later.
    Busy { expires_at: DateTime<Utc> },
}
