//! Jobs whose employee is not linked: the reason they wait, and the end of the wait.

use super::*;

fn fixture_with_lms(lms: MemoryLms) -> Fixture {
    let mut f = fixture(&["Learning certificates"]);
    let lms: Arc<dyn LearningPlatform> = Arc::new(lms);
    f.pusher = f.pusher.with_lms(lms);
    f
}

fn lms_profile(email: &str) -> LmsProfile {
    LmsProfile {
        external_id: "unsynced".into(),
        email: email.into(),
        status: "Active".into(),
        active: true,
        ..LmsProfile::default()
    }
}

/// A job for an LMS user id that is neither linked nor known to the LMS says so while it waits;
/// one for a user the LMS has says that a sync run will link them.
#[tokio::test]
async fn a_parked_job_says_whether_the_lms_knows_its_user() {
    let lms = MemoryLms::new();
    let known = lms
        .create_user(&lms_profile("ben@acme.example"), "User")
        .await
        .unwrap();
    let f = fixture_with_lms(lms);
    let unknown = f.push_one(job("c-1", "u-typo")).await;
    assert_eq!(
        unknown,
        PushOutcome::Parked {
            reason: "LMS user u-typo is neither linked to a Personio employee nor found in the \
                     LMS"
            .into()
        }
    );
    let waiting = f.push_one(job("c-2", &known.id.0)).await;
    let PushOutcome::Parked { reason } = waiting else {
        panic!("{waiting:?}")
    };
    assert!(
        reason.contains("(ben@acme.example) is not linked to a Personio employee yet"),
        "{reason}"
    );
    assert!(matches!(
        f.state("c-1").await,
        Some(LedgerState::Parked { reason: Some(reason), .. }) if reason.contains("neither linked")
    ));
}

/// A parked job does not wait forever: after `parked_expiry_days` the next release fails it,
/// naming why it waited; until then it stays parked.
#[tokio::test]
async fn a_parked_job_fails_after_the_configured_expiry() {
    let f = fixture_with_lms(MemoryLms::new());
    let settings = CertificateSettings {
        parked_expiry_days: 10,
        ..settings()
    };
    let parked_at = f.clock.now();
    let report = f
        .pusher
        .push_batch(
            &acme(),
            &settings,
            vec![job("c-1", "u-gone")],
            deadline(),
            &NoProgress,
        )
        .await;
    assert!(matches!(report.jobs[0].outcome, PushOutcome::Parked { .. }));
    let release = || async {
        f.pusher
            .release_parked(&acme(), &settings, deadline(), &NoProgress)
            .await
            .unwrap()
    };
    f.clock.advance(chrono::Duration::days(9));
    assert!(matches!(
        outcomes(&release().await)[..],
        [PushOutcome::Parked { .. }]
    ));
    f.clock.advance(chrono::Duration::days(1));
    let expired = outcomes(&release().await);
    let expected = format!(
        "waited for its employee since {} (more than 10 days) and gave up: LMS user u-gone is \
         neither linked to a Personio employee nor found in the LMS",
        parked_at.format("%Y-%m-%d")
    );
    assert_eq!(
        expired,
        vec![PushOutcome::Failed {
            reason: expected.clone(),
            retryable: false
        }]
    );
    assert_eq!(
        f.state("c-1").await,
        Some(LedgerState::Failed { reason: expected })
    );
    assert!(release().await.jobs.is_empty());
    assert!(f.hr.uploads().is_empty());
}

/// A job redelivered while parked keeps its first parking, so redeliveries do not reset the
/// clock: once it is due, the redelivery itself fails it.
#[tokio::test]
async fn a_redelivered_parked_job_keeps_waiting_from_its_first_parking() {
    let f = fixture(&["Learning certificates"]);
    let first = f.clock.now();
    assert!(matches!(
        f.push_one(job("c-1", "u-new")).await,
        PushOutcome::Parked { .. }
    ));
    f.clock.advance(chrono::Duration::days(20));
    assert!(matches!(
        f.push_one(job("c-1", "u-new")).await,
        PushOutcome::Parked { .. }
    ));
    assert_eq!(f.entry("c-1").await.parked_since(), Some(first));
    f.clock.advance(chrono::Duration::days(10));
    let outcome = f.push_one(job("c-1", "u-new")).await;
    assert!(
        reason(&outcome).starts_with("waited for its employee since"),
        "{outcome:?}"
    );
    assert!(!outcome.is_retryable());
}
