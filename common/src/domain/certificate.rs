//! The certificate ledger: exactly one Personio document per LMS certificate.

use super::IntegrationId;
use super::employee::PersonioId;
use super::lms::LmsUserId;
use chrono::{DateTime, Duration, NaiveDate, Utc};
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

/// Names one claim of a certificate: one attempt of one worker. Only the holder of the current
/// claim may complete, fail or park the certificate, so a worker that outlived its claim cannot
/// overwrite what the next one did.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClaimToken(pub String);

impl ClaimToken {
    /// A fresh random token for one attempt.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

impl fmt::Display for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a certificate is about, kept on its ledger entry so that an admin sees whose
/// certificate of which course it is in every state (a done entry keeps no job).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSubject {
    /// The learner as the LMS names them.
    pub lms_user_id: LmsUserId,
    /// The learner's email as the job gave it (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The Personio employee, once the LMS user is linked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personio_id: Option<PersonioId>,
    pub course_name: String,
    pub completed_on: NaiveDate,
}

/// Where a certificate stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LedgerState {
    /// Waiting for its employee to be linked; the job is kept whole and released by the next
    /// successful sync run of the integration, and fails once it has waited too long.
    Parked {
        job: serde_json::Value,
        /// When it was first parked (`None` on entries parked before this was recorded: then
        /// the entry's `updated_at` stands in, see [`LedgerEntry::parked_since`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<DateTime<Utc>>,
        /// Why it waits, for the admin ("LMS user 42 is neither linked nor found in the LMS").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A worker is uploading it. After `expires_at` the worker is presumed dead, and the next one
    /// looks for the document in Personio before uploading again.
    InProgress {
        expires_at: DateTime<Utc>,
        /// The claim's holder (`None` on entries claimed before claims had holders: nobody can
        /// finish those, they can only expire and be recovered).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder: Option<ClaimToken>,
    },
    Done {
        document_id: String,
    },
    /// A permanent failure; a later delivery of the same certificate may try again (looking in
    /// Personio first).
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
    /// Whose certificate of which course (`None` on entries written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<CertificateSubject>,
}

impl LedgerEntry {
    /// When a parked entry was parked (`None` for the other states).
    pub fn parked_since(&self) -> Option<DateTime<Utc>> {
        match &self.state {
            LedgerState::Parked { since, .. } => Some(since.unwrap_or(self.updated_at)),
            _ => None,
        }
    }
}

/// A worker's claim of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// This attempt's token; the worker names it again to complete, fail or park.
    pub token: ClaimToken,
    pub now: DateTime<Utc>,
    /// How long the claim holds.
    pub ttl: Duration,
    /// Stored on the entry (replacing what it had) when the claim is granted.
    pub subject: Option<CertificateSubject>,
}

impl Claim {
    /// A claim by a fresh attempt, without a subject.
    pub fn new(now: DateTime<Utc>, ttl: Duration) -> Self {
        Self {
            token: ClaimToken::random(),
            now,
            ttl,
            subject: None,
        }
    }
}

/// The answer to a worker's claim of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerClaim {
    /// The worker holds it until `expires_at`. `recovering` is true when an earlier attempt was
    /// claimed (its claim expired, it failed, or it was parked again): the document may already
    /// be in Personio and must be looked for first.
    Claimed {
        expires_at: DateTime<Utc>,
        recovering: bool,
    },
    /// Already pushed: nothing to do.
    AlreadyDone { document_id: String },
    /// Another worker holds an unexpired claim: try again later.
    Busy { expires_at: DateTime<Utc> },
}

/// A job to park because its employee is not linked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parking {
    pub job: serde_json::Value,
    /// Why it waits.
    pub reason: String,
    /// When it was first parked, if it was parked before (a released job parked again);
    /// `None`: now, unless the entry is parked already (then its first parking stands).
    pub since: Option<DateTime<Utc>>,
    /// The claim the parking worker holds, if any (a released job it failed to push).
    pub holder: Option<ClaimToken>,
    pub now: DateTime<Utc>,
    pub subject: Option<CertificateSubject>,
}

impl Parking {
    /// Parking `job` now for `reason`, by no claim, without a subject.
    pub fn new(job: serde_json::Value, reason: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            job,
            reason: reason.into(),
            since: None,
            holder: None,
            now,
            subject: None,
        }
    }
}

/// The answer to parking a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParkAnswer {
    /// Parked; `since` is when it was first parked.
    Parked { since: DateTime<Utc> },
    /// Pushed already: stays done.
    AlreadyDone { document_id: String },
    /// Another worker holds an unexpired claim: left to it.
    Busy { expires_at: DateTime<Utc> },
}
