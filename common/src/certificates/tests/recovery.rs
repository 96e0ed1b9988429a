//! Recovering an earlier attempt: a document is recognised by its certificate's identity only,
//! a claim is finished only by its holder, and a retried failure looks in Personio first.

use super::*;

/// The job for `certificate` of course `course`, completed on 2026-11-20 like every test job.
fn job_of_course(certificate: &str, user: &str, course: &str) -> Value {
    let mut job = job(certificate, user);
    job["course_name"] = json!(course);
    job
}

/// Two certificates of the same employee, course and day are two documents: the recovery of
/// the second (its first worker died before uploading) finds the first one's document and must
/// not take it as its own.
#[tokio::test]
async fn twin_certificates_of_the_same_course_and_day_are_two_documents() {
    let f = Arc::new(fixture(&["Learning certificates"]));
    link(&f.store, 7, "u-1").await;
    assert_eq!(
        f.push_one(job_of_course("c-1", "u-1", "Fire safety")).await,
        uploaded("doc-1")
    );
    // The second certificate's first worker crashes before its upload reaches Personio.
    f.hr.fault_next_upload(UploadFault::Fail(HrError::Unavailable {
        reason: "connection reset before the request was sent".into(),
        attempts: 1,
    }));
    let twin = job_of_course("c-2", "u-1", "Fire safety");
    assert!(f.push_one(twin.clone()).await.is_retryable());
    f.clock.advance(chrono::Duration::hours(1));
    assert_eq!(f.push_one(twin).await, uploaded("doc-2"));
    assert_eq!(f.hr.document_count(), 2);
    assert_eq!(
        f.state("c-2").await,
        Some(LedgerState::Done {
            document_id: "doc-2".into()
        })
    );

    // Two course names that are equal once cut to Personio's 255 characters.
    let stem = "Arbeitssicherheit ".repeat(20);
    let (long_a, long_b) = (format!("{stem} Teil A"), format!("{stem} Teil B"));
    assert_eq!(document_title(&long_a), document_title(&long_b));
    assert_eq!(
        f.push_one(job_of_course("c-3", "u-1", &long_a)).await,
        uploaded("doc-3")
    );
    f.hr.fault_next_upload(UploadFault::Fail(HrError::Unavailable {
        reason: "connection reset".into(),
        attempts: 1,
    }));
    let second = job_of_course("c-4", "u-1", &long_b);
    assert!(f.push_one(second.clone()).await.is_retryable());
    f.clock.advance(chrono::Duration::hours(1));
    assert_eq!(f.push_one(second).await, uploaded("doc-4"));
    assert_eq!(f.hr.document_count(), 4);
}

/// Worker 1 is slow: its claim expires, worker 2 takes the certificate over and is uploading
/// when worker 1's late refusal arrives. Worker 1 cannot fail the certificate under worker 2's
/// claim, and worker 2 records its document.
#[tokio::test]
async fn a_stale_worker_finishing_after_another_claim_cannot_overwrite_it() {
    let f = Arc::new(fixture(&["Learning certificates"]));
    link(&f.store, 7, "u-1").await;
    let pause = || (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (first_entered, first_resume) = pause();
    f.hr.fault_next_upload(UploadFault::Pause {
        entered: first_entered.clone(),
        resume: first_resume.clone(),
        then: Some(HrError::Rejected {
            status: 422,
            message: "Datei ungültig".into(),
        }),
    });
    let (second_entered, second_resume) = pause();
    f.hr.fault_next_upload(UploadFault::Pause {
        entered: second_entered.clone(),
        resume: second_resume.clone(),
        then: None,
    });

    let first = tokio::spawn({
        let f = f.clone();
        async move { f.push_one(job("c-1", "u-1")).await }
    });
    first_entered.notified().await;
    f.clock.advance(chrono::Duration::hours(1));
    let second = tokio::spawn({
        let f = f.clone();
        async move { f.push_one(job("c-1", "u-1")).await }
    });
    second_entered.notified().await;

    first_resume.notify_one();
    let late = first.await.unwrap();
    assert!(!late.is_retryable(), "{late:?}");
    assert!(
        matches!(f.state("c-1").await, Some(LedgerState::InProgress { .. })),
        "the late refusal must not overwrite the second worker's claim"
    );
    second_resume.notify_one();
    assert_eq!(second.await.unwrap(), uploaded("doc-1"));
    assert_eq!(
        f.state("c-1").await,
        Some(LedgerState::Done {
            document_id: "doc-1".into()
        })
    );
    assert_eq!(
        f.push_one(job("c-1", "u-1")).await,
        PushOutcome::AlreadyDone {
            document_id: "doc-1".into()
        }
    );
    assert_eq!(f.hr.document_count(), 1);
}

/// A failed entry whose document nevertheless reached Personio (an ambiguous failure) is looked
/// for before a retry uploads it again.
#[tokio::test]
async fn a_retried_failed_certificate_looks_in_personio_first() {
    let f = fixture(&["Learning certificates"]);
    link(&f.store, 7, "u-1").await;
    // The document is in Personio, but the ledger says the certificate failed.
    f.hr.fault_next_upload(UploadFault::LostAnswer);
    assert!(f.push_one(job("c-1", "u-1")).await.is_retryable());
    let claim = Claim::new(
        f.clock.now() + chrono::Duration::hours(1),
        chrono::Duration::minutes(15),
    );
    let certificate = CertificateId("c-1".into());
    f.store
        .claim_certificate(&acme(), &certificate, &claim)
        .await
        .unwrap();
    f.store
        .fail_certificate(&acme(), &certificate, &claim.token, "refused", claim.now)
        .await
        .unwrap();
    f.clock.advance(chrono::Duration::hours(2));

    assert_eq!(
        f.push_one(job("c-1", "u-1")).await,
        PushOutcome::Recovered {
            document_id: "doc-1".into()
        }
    );
    assert_eq!(f.hr.document_count(), 1);
}
