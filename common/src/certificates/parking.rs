//! Jobs whose employee is not linked: parked with the reason they wait, released after a sync
//! run, and failed once they have waited the integration's `parked_expiry_days`, so that a job
//! for an LMS user nobody will ever link does not wait forever.

use super::error::PushError;
use super::job::CertificateJob;
use super::outcome::PushOutcome;
use super::push::{Attempt, Batch, CertificatePusher, JobSource, claim_ttl, subject_of};
use super::retrying::with_retries;
use crate::domain::certificate::{Claim, ClaimToken, LedgerClaim, ParkAnswer, Parking};
use chrono::{DateTime, Utc};

impl CertificatePusher {
    /// A job whose LMS user is linked to no employee: parked (a queued job) or left parked (a
    /// released one), unless it has waited too long.
    pub(super) async fn unlinked(
        &self,
        batch: &Batch<'_>,
        job: &CertificateJob,
        value: &serde_json::Value,
        source: &JobSource,
    ) -> PushOutcome {
        match source {
            // Still parked as it was: nothing to write, unless its time is up.
            JobSource::Parked { since, reason } => {
                let reason = reason
                    .clone()
                    .unwrap_or_else(|| not_linked(job, LmsAnswer::NotAsked));
                if self.waited_too_long(batch, *since) {
                    self.expire(batch, job, *since, reason).await
                } else {
                    PushOutcome::Parked { reason }
                }
            }
            JobSource::Queue => {
                let reason = self.unlinked_reason(job).await;
                let parking = Parking {
                    job: value.clone(),
                    reason: reason.clone(),
                    since: None,
                    holder: None,
                    now: (self.clock)(),
                    subject: Some(subject_of(job, None)),
                };
                self.park(batch, job, &parking).await
            }
        }
    }

    /// Parks a released job that could not be pushed now, under the claim it holds, keeping
    /// when it was first parked.
    pub(super) async fn park_again(
        &self,
        batch: &Batch<'_>,
        attempt: &Attempt<'_>,
        value: &serde_json::Value,
        since: DateTime<Utc>,
        reason: String,
    ) -> PushOutcome {
        let parking = Parking {
            job: value.clone(),
            reason,
            since: Some(since),
            holder: Some(attempt.token.clone()),
            now: (self.clock)(),
            subject: Some(subject_of(attempt.job, Some(attempt.employee))),
        };
        self.park(batch, attempt.job, &parking).await
    }

    async fn park(
        &self,
        batch: &Batch<'_>,
        job: &CertificateJob,
        parking: &Parking,
    ) -> PushOutcome {
        let parked = with_retries(&self.backoff, batch.deadline, "parking", || {
            self.store
                .park_certificate(batch.integration, &job.certificate_id, parking)
        })
        .await;
        match parked {
            Ok(ParkAnswer::Parked { since }) if self.waited_too_long(batch, since) => {
                self.expire(batch, job, since, parking.reason.clone()).await
            }
            Ok(ParkAnswer::Parked { .. }) => PushOutcome::Parked {
                reason: parking.reason.clone(),
            },
            Ok(ParkAnswer::AlreadyDone { document_id }) => PushOutcome::AlreadyDone { document_id },
            Ok(ParkAnswer::Busy { expires_at }) => PushOutcome::Busy { until: expires_at },
            Err(error) => PushOutcome::failed(&error.into()),
        }
    }

    fn waited_too_long(&self, batch: &Batch<'_>, since: DateTime<Utc>) -> bool {
        (self.clock)() - since >= batch.settings.parked_expiry()
    }

    /// Fails a job that has waited too long: claimed, then failed under that claim, so that a
    /// worker holding it meanwhile is left alone.
    async fn expire(
        &self,
        batch: &Batch<'_>,
        job: &CertificateJob,
        since: DateTime<Utc>,
        reason: String,
    ) -> PushOutcome {
        let error = PushError::ParkedTooLong {
            since,
            days: batch.settings.parked_expiry_days,
            reason,
        };
        let claim = Claim {
            token: ClaimToken::random(),
            now: (self.clock)(),
            ttl: claim_ttl(batch.settings),
            subject: Some(subject_of(job, None)),
        };
        let claimed = with_retries(&self.backoff, batch.deadline, "claiming", || {
            self.store
                .claim_certificate(batch.integration, &job.certificate_id, &claim)
        })
        .await;
        match claimed {
            Ok(LedgerClaim::Claimed { .. }) => {
                self.record_failure(batch, &job.certificate_id, &claim.token, &error.to_string())
                    .await;
                tracing::warn!(%error, "a parked certificate waited too long");
                PushOutcome::failed(&error)
            }
            Ok(LedgerClaim::AlreadyDone { document_id }) => {
                PushOutcome::AlreadyDone { document_id }
            }
            Ok(LedgerClaim::Busy { expires_at }) => PushOutcome::Busy { until: expires_at },
            Err(error) => PushOutcome::failed(&error.into()),
        }
    }

    /// Why a job's employee is not linked, in words an admin can act on: asks the LMS whether
    /// the user exists at all.
    async fn unlinked_reason(&self, job: &CertificateJob) -> String {
        let answer = match &self.lms {
            None => LmsAnswer::NotAsked,
            Some(lms) => match lms.find_user_by_id(&job.lms_user_id).await {
                Ok(Some(user)) => LmsAnswer::Found { email: user.email },
                Ok(None) => LmsAnswer::Missing,
                Err(error) => LmsAnswer::Failed(error.to_string()),
            },
        };
        not_linked(job, answer)
    }
}

/// What the LMS said about a job's user.
enum LmsAnswer {
    NotAsked,
    Found { email: String },
    Missing,
    Failed(String),
}

fn not_linked(job: &CertificateJob, answer: LmsAnswer) -> String {
    let user = &job.lms_user_id;
    match answer {
        LmsAnswer::NotAsked => {
            format!("LMS user {user} is not linked to a Personio employee yet")
        }
        LmsAnswer::Found { email } => format!(
            "LMS user {user} ({email}) is not linked to a Personio employee yet; a sync run \
             links them once they are selected in Personio"
        ),
        LmsAnswer::Missing => {
            format!("LMS user {user} is neither linked to a Personio employee nor found in the LMS")
        }
        LmsAnswer::Failed(error) => format!(
            "LMS user {user} is not linked to a Personio employee yet (the LMS could not be \
             asked whether the user exists: {error})"
        ),
    }
}
