//! `DynamoStore` on Amazon's DynamoDB Local through the real SDK client: the generic state-store
//! contract, then what only DynamoDB has (item size limit, paging, the documented item layout,
//! races between separate clients, error mapping).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use common::aws::{DynamoStore, endpoint_sdk_config, table_definition};
use common::domain::IntegrationId;
use common::domain::certificate::{CertificateId, Claim};
use common::domain::employee::PersonioId;
use common::domain::link::EmployeeLink;
use common::domain::lms::LmsUserId;
use common::domain::run::{
    EmployeeOutcome, OutcomeAction, RunCounts, RunId, RunRecord, RunStatus, Trigger,
};
use common::ports::{CertificateLedger, LeaseOutcome, LeaseStore, LinkStore, RunStore, StoreError};
use integration_tests::aws::{REGION, dynamodb_local_endpoint, unique_name};
use std::collections::BTreeSet;

async fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&endpoint_sdk_config(endpoint, REGION).await)
}

/// A store on a fresh table of its own, or `None` when DynamoDB Local is not installed (and
/// external tests are optional).
async fn fresh_store() -> Option<DynamoStore> {
    let endpoint = dynamodb_local_endpoint()?;
    let store = DynamoStore::new(client(&endpoint).await, unique_name("state"));
    store
        .create_table()
        .await
        .unwrap_or_else(|error| panic!("cannot create the test table: {error}"));
    Some(store)
}

mod contract {
    common::state_store_contract_tests!(match super::fresh_store().await {
        Some(store) => ((), store),
        None => return,
    });
}

mod audit_contract {
    common::audit_log_contract_tests!(match super::fresh_store().await {
        Some(store) => ((), store),
        None => return,
    });
}

mod integration_contract {
    common::integration_store_contract_tests!(match super::fresh_store().await {
        Some(store) => ((), store),
        None => return,
    });
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_760_000_000, 0).unwrap_or_default()
}

fn acme() -> IntegrationId {
    IntegrationId::new("acme")
}

/// A finished run with `outcomes` failed employees, each with a long reason.
fn run_with_outcomes(run_id: &str, started_at: DateTime<Utc>, outcomes: usize) -> RunRecord {
    RunRecord {
        finished_at: Some(started_at + Duration::minutes(4)),
        status: RunStatus::CompletedWithFailures,
        counts: RunCounts {
            failed: u32::try_from(outcomes).unwrap_or(u32::MAX),
            ..RunCounts::default()
        },
        outcomes: (0..outcomes)
            .map(|n| EmployeeOutcome {
                personio_id: Some(PersonioId(n as i64)),
                email: Some(format!("mitarbeiterin.{n}@acme.example")),
                name: Some(format!("Mitarbeiterin Nummer {n}")),
                action: OutcomeAction::Failed,
                groups_added: vec!["Vertrieb".into(), "München".into()],
                groups_removed: Vec::new(),
                changes: Vec::new(),
                invited: false,
                reason: Some(format!(
                    "the learning platform refused the request (HTTP 400): attribute {n} {}",
                    "is invalid ".repeat(8)
                )),
            })
            .collect(),
        notices: vec!["group \"Außendienst\" does not exist in the LMS".into()],
        ..RunRecord::started(
            acme(),
            RunId(run_id.to_owned()),
            Trigger::Schedule,
            started_at,
        )
    }
}

/// The sort keys of the `INT#acme` items that start with `prefix`, every page.
async fn sort_keys_with_prefix(store: &DynamoStore, endpoint: &str, prefix: &str) -> Vec<String> {
    let items = client(endpoint)
        .await
        .query()
        .table_name(store.table_name())
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S("INT#acme".into()))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap_or_else(|error| panic!("query: {error:?}"));
    items
        .iter()
        .filter_map(|item| item.get("sk").and_then(|sk| sk.as_s().ok()).cloned())
        .collect()
}

#[tokio::test]
async fn a_run_record_over_the_item_size_limit_is_stored_in_chunks_and_replaced_cleanly() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let Some(endpoint) = dynamodb_local_endpoint() else {
        return;
    };
    let big = run_with_outcomes("big", t0(), 6_000);
    let json_size = serde_json::to_vec(&big).map(|json| json.len()).unwrap_or(0);
    assert!(
        json_size > 1_000_000,
        "the record must exceed 400 KB by far: {json_size}"
    );

    store.put_run(&big).await.unwrap();
    assert_eq!(
        store.run(&acme(), &big.run_id).await.unwrap().as_ref(),
        Some(&big)
    );
    assert_eq!(store.runs(&acme(), 5).await.unwrap(), vec![big.clone()]);
    let first_chunks = sort_keys_with_prefix(&store, &endpoint, "RUNCHUNK#big#").await;
    assert_eq!(
        first_chunks.len(),
        json_size.div_ceil(350 * 1024),
        "{first_chunks:?}"
    );

    // Rewritten big (new generation): the old generation's chunks are gone.
    let mut bigger = run_with_outcomes("big", t0(), 7_000);
    bigger.status = RunStatus::Failed;
    store.put_run(&bigger).await.unwrap();
    assert_eq!(
        store.run(&acme(), &big.run_id).await.unwrap(),
        Some(bigger.clone())
    );
    let second_chunks = sort_keys_with_prefix(&store, &endpoint, "RUNCHUNK#big#").await;
    assert!(
        second_chunks.iter().all(|sk| !first_chunks.contains(sk)),
        "stale chunks remain: {second_chunks:?}"
    );

    // Rewritten small: stored inline, no chunk left behind.
    let small = run_with_outcomes("big", t0(), 3);
    store.put_run(&small).await.unwrap();
    assert_eq!(
        store.run(&acme(), &small.run_id).await.unwrap(),
        Some(small.clone())
    );
    assert_eq!(
        sort_keys_with_prefix(&store, &endpoint, "RUNCHUNK#").await,
        Vec::<String>::new()
    );
    assert_eq!(store.runs(&acme(), 5).await.unwrap(), vec![small]);
}

#[tokio::test]
async fn listing_runs_follows_pages_past_one_megabyte() {
    let Some(store) = fresh_store().await else {
        return;
    };
    // ~300 KB each, stored inline: a Query page (1 MB) holds about three of them.
    let runs: Vec<RunRecord> = (0..7)
        .map(|n| run_with_outcomes(&format!("run-{n}"), t0() + Duration::hours(n), 1_200))
        .collect();
    for run in &runs {
        store.put_run(run).await.unwrap();
    }
    let listed = store.runs(&acme(), 6).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|run| run.run_id.0.as_str()).collect();
    assert_eq!(ids, ["run-6", "run-5", "run-4", "run-3", "run-2", "run-1"]);
    assert_eq!(store.runs(&acme(), 100).await.unwrap().len(), 7);
}

#[tokio::test]
async fn a_run_moved_to_another_start_time_leaves_no_stale_header() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let first = run_with_outcomes("r", t0(), 1);
    store.put_run(&first).await.unwrap();
    let mut moved = first.clone();
    moved.started_at = t0() + Duration::seconds(1);
    store.put_run(&moved).await.unwrap();
    assert_eq!(store.runs(&acme(), 10).await.unwrap(), vec![moved.clone()]);
    assert_eq!(
        store.run(&acme(), &moved.run_id).await.unwrap(),
        Some(moved)
    );
}

#[tokio::test]
async fn items_have_the_documented_keys_index_and_ttl() {
    let Some(endpoint) = dynamodb_local_endpoint() else {
        return;
    };
    let raw = client(&endpoint).await;
    let store =
        DynamoStore::new(raw.clone(), unique_name("layout")).with_run_retention(Duration::days(7));
    store.create_table().await.unwrap();
    let definition = table_definition();

    let described = raw
        .describe_table()
        .table_name(store.table_name())
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    let key_names: Vec<&str> = table
        .key_schema()
        .iter()
        .map(|key| key.attribute_name())
        .collect();
    assert_eq!(key_names, [definition.partition_key, definition.sort_key]);
    let index = &table.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some(definition.lms_user_index));
    let ttl = raw
        .describe_time_to_live()
        .table_name(store.table_name())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|description| description.attribute_name()),
        Some(definition.ttl_attribute)
    );

    let link = EmployeeLink {
        integration_id: acme(),
        personio_id: PersonioId(42),
        lms_user_id: LmsUserId("lms-42".into()),
        email: "ada@acme.example".into(),
        profile_hash: "h1".into(),
        groups: BTreeSet::new(),
        active: true,
        updated_at: t0(),
        version: 1,
        manager: Default::default(),
        profile: None,
        invited_at: None,
        invitation_pending: false,
    };
    store.put_link(&link, None).await.unwrap();
    store
        .put_run(&run_with_outcomes("r1", t0(), 1))
        .await
        .unwrap();
    store
        .claim_certificate(
            &acme(),
            &CertificateId("c1".into()),
            &Claim::new(t0(), Duration::minutes(5)),
        )
        .await
        .unwrap();

    let get = |sk: String| {
        let raw = raw.clone();
        let table = store.table_name().to_owned();
        async move {
            raw.get_item()
                .table_name(table)
                .key("pk", AttributeValue::S("INT#acme".into()))
                .key("sk", AttributeValue::S(sk.clone()))
                .send()
                .await
                .unwrap()
                .item
                .unwrap_or_else(|| panic!("no item {sk}"))
        }
    };
    let link_item = get("EMP#42".into()).await;
    assert_eq!(
        link_item
            .get("gsi1pk")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("INT#acme#LMSUSER#lms-42")
    );
    assert!(!link_item.contains_key(definition.ttl_attribute));

    let header = get(format!("RUN#{}#r1", "2025-10-09T08:53:20.000000Z")).await;
    let expires_at: i64 = header
        .get(definition.ttl_attribute)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let expected = (Utc::now() + Duration::days(7)).timestamp();
    assert!(
        (expected - expires_at).abs() < 120,
        "{expires_at} vs {expected}"
    );
    let pointer = get("RUNID#r1".into()).await;
    assert!(pointer.contains_key(definition.ttl_attribute));

    let certificate = get("CERT#c1".into()).await;
    assert_eq!(
        certificate
            .get("state")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("in_progress")
    );
    assert!(
        !certificate.contains_key(definition.ttl_attribute),
        "TTL must never delete a ledger entry"
    );
}

#[tokio::test]
async fn two_runs_racing_for_the_lease_through_separate_clients_get_one_lease() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let Some(endpoint) = dynamodb_local_endpoint() else {
        return;
    };
    // A second store on the same table with its own client, as a second Lambda would have.
    let other = DynamoStore::new(client(&endpoint).await, store.table_name());
    for round in 0..10 {
        let integration = IntegrationId::new(format!("race-{round}"));
        let (first, second) = tokio::join!(
            store.acquire_lease(&integration, "run-a", t0(), Duration::minutes(15)),
            other.acquire_lease(&integration, "run-b", t0(), Duration::minutes(15)),
        );
        let outcomes = [first.unwrap(), second.unwrap()];
        let winners: Vec<&str> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                LeaseOutcome::Acquired(lease) => Some(lease.holder.as_str()),
                LeaseOutcome::HeldBy(_) => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        // The loser is told who holds it.
        assert!(
            outcomes.iter().any(
                |outcome| matches!(outcome, LeaseOutcome::HeldBy(lease) if lease.holder == winners[0])
            ),
            "round {round}: {outcomes:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_table_is_unavailable_not_a_conflict_or_absence() {
    let Some(endpoint) = dynamodb_local_endpoint() else {
        return;
    };
    let store = DynamoStore::new(client(&endpoint).await, unique_name("never-created"));
    let error = store.link(&acme(), PersonioId(1)).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Unavailable(reason) if reason.contains("ResourceNotFoundException")),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_stale_link_write_names_the_stored_version() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let mut link = EmployeeLink {
        integration_id: acme(),
        personio_id: PersonioId(5),
        lms_user_id: LmsUserId("u5".into()),
        email: "e5@acme.example".into(),
        profile_hash: "h".into(),
        groups: BTreeSet::from(["Sales".to_owned()]),
        active: true,
        updated_at: t0(),
        version: 1,
        manager: Default::default(),
        profile: None,
        invited_at: None,
        invitation_pending: false,
    };
    store.put_link(&link, None).await.unwrap();
    link.version = 2;
    store.put_link(&link, Some(1)).await.unwrap();
    link.version = 2;
    let error = store.put_link(&link, Some(1)).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Conflict(reason) if reason.contains("expected version 1, found version 2")),
        "{error:?}"
    );
}

/// A link item exactly as the store wrote it before links kept their profile and invitation
/// (every attribute of that format, nothing more): it reads with neither, keeps working with
/// the LMS-user index, and gets them at its next write.
#[tokio::test]
async fn a_link_item_from_before_profiles_were_kept_reads_and_migrates_on_write() {
    let Some(endpoint) = dynamodb_local_endpoint() else {
        return;
    };
    let raw = client(&endpoint).await;
    let store = DynamoStore::new(raw.clone(), unique_name("migration"));
    store.create_table().await.unwrap();
    let s = |value: &str| AttributeValue::S(value.to_owned());
    raw.put_item()
        .table_name(store.table_name())
        .item("pk", s("INT#acme"))
        .item("sk", s("EMP#102"))
        .item("kind", s("link"))
        .item("integration_id", s("acme"))
        .item("personio_id", AttributeValue::N("102".into()))
        .item("lms_user_id", s("lms-user-102"))
        .item("email", s("grace.hopper@acme.example"))
        .item("profile_hash", s(&format!("{:064x}", 102)))
        .item(
            "groups",
            AttributeValue::L(vec![s("Berlin"), s("Customer Support")]),
        )
        .item("active", AttributeValue::Bool(true))
        .item("updated_at", s("2025-11-03T06:00:00Z"))
        .item("version", AttributeValue::N("3".into()))
        .item("gsi1pk", s("INT#acme#LMSUSER#lms-user-102"))
        .item("gsi1sk", s("EMP#102"))
        .send()
        .await
        .unwrap();

    let link = store
        .link(&acme(), PersonioId(102))
        .await
        .unwrap()
        .expect("the old item reads");
    assert_eq!(link.version, 3);
    assert_eq!(
        link.groups,
        BTreeSet::from(["Berlin".to_owned(), "Customer Support".to_owned()])
    );
    assert_eq!(
        (&link.profile, link.invited_at, link.invitation_pending),
        (&None, None, false)
    );
    assert_eq!(
        store
            .link_by_lms_user(&acme(), &LmsUserId("lms-user-102".into()))
            .await
            .unwrap(),
        Some(link.clone())
    );

    let mut written = link.clone();
    written.profile = Some(common::domain::lms::LmsProfile {
        external_id: "102".into(),
        email: link.email.clone(),
        department: Some("Marketing".into()),
        status: "Active".into(),
        active: true,
        ..Default::default()
    });
    written.invited_at = Some(t0());
    written.version = 4;
    store.put_link(&written, Some(3)).await.unwrap();
    assert_eq!(store.links(&acme()).await.unwrap(), vec![written]);
}
