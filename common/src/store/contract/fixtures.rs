//! The values the contract cases write: two integrations, a fixed instant, and links, runs,
//! certificates and integration records built from a few numbers.

use crate::domain::IntegrationId;
use crate::domain::certificate::{CertificateId, CertificateSubject, Claim, ClaimToken, Parking};
use crate::domain::employee::PersonioId;
use crate::domain::integration::{
    IntegrationRecord, LmsConnection, PersonioConnection, SyncSchedule,
};
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::domain::run::{RequestCounts, RunId, RunRecord, RunStats, Trigger};
use crate::domain::settings::IntegrationSettings;
use crate::ports::StoreError;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

pub(super) fn globex() -> IntegrationId {
    IntegrationId::new("globex")
}

pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a representable constant")
}

pub(crate) fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

pub(super) fn link(integration: &IntegrationId, personio_id: i64, version: u64) -> EmployeeLink {
    EmployeeLink {
        integration_id: integration.clone(),
        personio_id: PersonioId(personio_id),
        lms_user_id: LmsUserId(format!("{integration}-lms-{personio_id}")),
        email: format!("employee{personio_id}@{integration}.example"),
        profile_hash: format!("hash-{personio_id}-{version}"),
        groups: BTreeSet::from(["Sales".to_owned(), "Berlin".to_owned()]),
        active: true,
        updated_at: t0() + Duration::seconds(version as i64),
        version,
        manager: Default::default(),
        profile: None,
        invited_at: None,
        invitation_pending: false,
    }
}

pub(crate) fn run(
    integration: &IntegrationId,
    run_id: &str,
    started_at: DateTime<Utc>,
) -> RunRecord {
    RunRecord {
        notices: vec![format!("notice of {run_id}")],
        stats: RunStats {
            personio: RequestCounts {
                requests: 12,
                throttled: 1,
                by_kind: BTreeMap::new(),
            },
            lms: RequestCounts {
                requests: 30,
                throttled: 2,
                by_kind: BTreeMap::from([("read".to_owned(), 20), ("patch".to_owned(), 10)]),
            },
        },
        holder: Some(format!("holder of {run_id}")),
        ends_by: Some(started_at + chrono::Duration::minutes(30)),
        ..RunRecord::started(
            integration.clone(),
            RunId(run_id.to_owned()),
            Trigger::Schedule,
            started_at,
        )
    }
}

pub(super) fn cert(id: &str) -> CertificateId {
    CertificateId(id.to_owned())
}

/// A claim by the attempt `token` at `at`, holding for `ttl`, without a subject.
pub(super) fn claim(token: &str, at: DateTime<Utc>, ttl: Duration) -> Claim {
    Claim {
        token: token_of(token),
        now: at,
        ttl,
        subject: None,
    }
}

pub(super) fn token_of(token: &str) -> ClaimToken {
    ClaimToken(token.to_owned())
}

/// Parking `job` at `at` by nobody's claim, with a reason.
pub(super) fn parking(job: serde_json::Value, at: DateTime<Utc>) -> Parking {
    Parking {
        job,
        reason: "LMS user u-9 is not linked".into(),
        since: None,
        holder: None,
        now: at,
        subject: None,
    }
}

pub(super) fn subject(lms_user: &str, course: &str) -> CertificateSubject {
    CertificateSubject {
        lms_user_id: LmsUserId(lms_user.to_owned()),
        email: Some(format!("{lms_user}@acme.example")),
        personio_id: None,
        course_name: course.to_owned(),
        completed_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default(),
    }
}

pub(super) fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected a conflict, got {result:?}"
    );
}

/// An integration record as the admin API writes it: every field set, none of them defaults.
pub fn integration_record(
    id: &str,
    tenant_id: &str,
    next_run_at: Option<DateTime<Utc>>,
    version: u64,
) -> IntegrationRecord {
    let mut settings = IntegrationSettings::new("LMS Sync");
    settings.certificates.enabled = true;
    IntegrationRecord {
        id: IntegrationId::new(id),
        tenant_id: tenant_id.to_owned(),
        name: format!("{id} GmbH → Akademie"),
        personio: PersonioConnection {
            base_url: Some("http://127.0.0.1:1/personio".into()),
            partner_id: Some("partner".into()),
            app_id: None,
        },
        lms: LmsConnection {
            scim_base_url: format!("http://127.0.0.1:1/scim/{id}"),
        },
        settings,
        schedule: if next_run_at.is_some() {
            SyncSchedule::EveryMinutes(15)
        } else {
            SyncSchedule::Manual
        },
        next_run_at,
        secret_ref: format!("lms-integration/{id}"),
        created_at: t0(),
        updated_at: t0() + Duration::seconds(version as i64),
        version,
        certificate_problem: None,
    }
}
