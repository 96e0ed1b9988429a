//! The SQLite store as a whole: the contract suite on an in-memory database and on a file, then
//! what only a database file shows (reopening, damaged items and files, another process's lock).

use super::SqliteStore;
use crate::domain::IntegrationId;
use crate::domain::certificate::{CertificateId, Claim};
use crate::domain::employee::PersonioId;
use crate::domain::link::EmployeeLink;
use crate::domain::lms::LmsUserId;
use crate::domain::run::{RunId, RunRecord};
use crate::ports::{CertificateLedger, LeaseOutcome, LeaseStore, LinkStore, RunStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::BTreeSet;

mod in_memory_contract {
    crate::state_store_contract_tests!(((), super::SqliteStore::in_memory().unwrap()));
    crate::integration_store_contract_tests!(((), super::SqliteStore::in_memory().unwrap()));
    crate::audit_log_contract_tests!(((), super::SqliteStore::in_memory().unwrap()));
}

mod file_contract {
    crate::state_store_contract_tests!({
        let directory = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open(directory.path().join("state.sqlite")).unwrap();
        (directory, store)
    });
    crate::integration_store_contract_tests!({
        let directory = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open(directory.path().join("state.sqlite")).unwrap();
        (directory, store)
    });
    crate::audit_log_contract_tests!({
        let directory = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open(directory.path().join("state.sqlite")).unwrap();
        (directory, store)
    });
}

fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

fn link(personio_id: i64) -> EmployeeLink {
    EmployeeLink {
        integration_id: acme(),
        personio_id: PersonioId(personio_id),
        lms_user_id: LmsUserId(format!("lms-{personio_id}")),
        email: format!("e{personio_id}@acme.example"),
        profile_hash: format!("{personio_id:064x}"),
        groups: BTreeSet::from(["Sales".to_owned()]),
        active: true,
        updated_at: DateTime::UNIX_EPOCH,
        version: 1,
        manager: Default::default(),
        profile: None,
        invited_at: None,
        invitation_pending: false,
    }
}

fn run(run_id: &str) -> RunRecord {
    use crate::domain::run::{RunStatus, Trigger};
    RunRecord {
        status: RunStatus::Succeeded,
        ..RunRecord::started(
            acme(),
            RunId(run_id.to_owned()),
            Trigger::Cli,
            DateTime::UNIX_EPOCH,
        )
    }
}

#[tokio::test]
async fn a_reopened_file_store_reads_back_what_was_written() {
    let directory = tempfile::tempdir().unwrap();
    // Parent directories are created on first use.
    let path = directory.path().join("nested/deeper/state.sqlite");
    let now = Utc::now();
    let certificate = CertificateId("c-1".into());
    {
        let store = SqliteStore::open(&path).unwrap();
        store.put_link(&link(1), None).await.unwrap();
        store.put_run(&run("r1")).await.unwrap();
        store
            .acquire_lease(&acme(), "run-1", now, Duration::minutes(15))
            .await
            .unwrap();
        store
            .claim_certificate(
                &acme(),
                &certificate,
                &Claim::new(now, Duration::minutes(5)),
            )
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap(),
        Some(link(1))
    );
    assert_eq!(
        store
            .link_by_lms_user(&acme(), &link(1).lms_user_id)
            .await
            .unwrap(),
        Some(link(1))
    );
    assert_eq!(store.runs(&acme(), 5).await.unwrap(), vec![run("r1")]);
    let refused = store
        .acquire_lease(&acme(), "run-2", now, Duration::minutes(15))
        .await
        .unwrap();
    assert!(matches!(refused, LeaseOutcome::HeldBy(lease) if lease.holder == "run-1"));
    assert_eq!(
        store
            .certificate(&acme(), &certificate)
            .await
            .unwrap()
            .map(|e| e.attempts),
        Some(1)
    );
}

#[tokio::test]
async fn unreadable_stored_items_are_corrupt_and_name_their_key() {
    let store = SqliteStore::in_memory().unwrap();
    store.put_run(&run("r1")).await.unwrap();
    store.put_link(&link(1), None).await.unwrap();
    store
        .claim_certificate(
            &acme(),
            &CertificateId("c-1".into()),
            &Claim::new(Utc::now(), Duration::minutes(5)),
        )
        .await
        .unwrap();
    store
        .call(|connection| {
            connection.execute_batch(
                "UPDATE runs SET item = '{\"run_id\": 7';
                 UPDATE links SET item = '{}';
                 UPDATE certificates SET item = '[]';",
            )?;
            Ok(())
        })
        .await
        .unwrap();

    let corrupt_key = |result: Result<_, StoreError>| match result {
        Err(StoreError::Corrupt { key, .. }) => key,
        other => panic!("expected a corrupt item, got {other:?}"),
    };
    let run_key = "INT#acme/RUN#1970-01-01T00:00:00.000000Z#r1";
    assert_eq!(
        corrupt_key(store.run(&acme(), &RunId("r1".into())).await.map(|_| ())),
        run_key
    );
    assert_eq!(
        corrupt_key(store.runs(&acme(), 10).await.map(|_| ())),
        run_key
    );
    assert_eq!(
        corrupt_key(store.links(&acme()).await.map(|_| ())),
        "INT#acme/EMP#1"
    );
    let certificate = CertificateId("c-1".into());
    assert_eq!(
        corrupt_key(
            store
                .claim_certificate(
                    &acme(),
                    &certificate,
                    &Claim::new(Utc::now(), Duration::minutes(5)),
                )
                .await
                .map(|_| ())
        ),
        "INT#acme/CERT#c-1"
    );
    // Other items are unaffected.
    store.put_run(&run("r2")).await.unwrap();
    assert_eq!(
        store.run(&acme(), &RunId("r2".into())).await.unwrap(),
        Some(run("r2"))
    );
}

#[tokio::test]
async fn a_locked_database_is_unavailable_and_retryable() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.sqlite");
    let store =
        SqliteStore::open_with_busy_timeout(&path, std::time::Duration::from_millis(50)).unwrap();
    let mut other_process = Connection::open(&path).unwrap();
    let write_lock = other_process
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();

    let error = store.put_link(&link(1), None).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(error.is_retryable());

    write_lock.rollback().unwrap();
    store.put_link(&link(1), None).await.unwrap();
}

#[test]
fn a_file_that_is_not_a_database_is_corrupt() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.sqlite");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let result = SqliteStore::open(&path);
    assert!(
        matches!(&result, Err(StoreError::Corrupt { key, .. }) if *key == path.display().to_string()),
        "{:?}",
        result.err()
    );
}

/// A state file written by the code before links kept their profile and invitation, and run
/// records their kind and changes (`tests/fixtures/state-2025-11.sqlite`, written by the store
/// of that time: three links, one run).
#[tokio::test]
async fn a_state_file_from_before_profiles_were_kept_reads_and_migrates_on_write() {
    use crate::domain::run::{OutcomeAction, RunKind};
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.sqlite");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/state-2025-11.sqlite"
        ),
        &path,
    )
    .unwrap();
    let store = SqliteStore::open(&path).unwrap();

    let links = store.links(&acme()).await.unwrap();
    assert_eq!(links.len(), 3);
    for link in &links {
        assert_eq!(link.version, 3);
        assert_eq!(
            (&link.profile, link.invited_at, link.invitation_pending),
            (&None, None, false),
            "{link:?}"
        );
    }
    assert_eq!(
        links[1].groups,
        BTreeSet::from(["Berlin".to_owned(), "Customer Support".to_owned()])
    );
    assert!(!links[2].active);
    let runs = store.runs(&acme(), 5).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.kind, RunKind::Full);
    assert!(run.targets.is_empty() && run.fields_sent.is_empty());
    assert_eq!((run.counts.created, run.counts.not_created), (1, 0));
    assert_eq!(run.outcomes.len(), 4);
    assert!(
        run.outcomes
            .iter()
            .all(|outcome| outcome.changes.is_empty())
    );
    assert_eq!(run.outcomes[2].action, OutcomeAction::Deactivated);

    // The next write keeps the profile; the old fields are unchanged.
    let mut written = links[0].clone();
    written.profile = Some(crate::domain::lms::LmsProfile {
        external_id: "101".into(),
        email: written.email.clone(),
        status: "Active".into(),
        active: true,
        ..Default::default()
    });
    written.version = 4;
    store.put_link(&written, Some(3)).await.unwrap();
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reopened.link(&acme(), PersonioId(101)).await.unwrap(),
        Some(written)
    );
    assert_eq!(
        reopened
            .link_by_lms_user(&acme(), &LmsUserId("lms-user-102".into()))
            .await
            .unwrap()
            .map(|link| link.personio_id),
        Some(PersonioId(102))
    );
}
