//! The Personio client against the Personio sandbox over HTTP: paging, whitelisting, quirks,
//! rate limits, faults, deadlines, errors, documents.

use bytes::Bytes;
use common::domain::employee::{AttributeValue, Employee, EmployeePage, PersonioId};
use common::personio::{PersonioClient, PersonioConfig, RateLimits, RateWindow};
use common::ports::{DocumentUpload, EmployeeQuery, HrError, HrSource};
use common::retry::{Backoff, Deadline};
use common::secret::Secret;
use futures::TryStreamExt;
use personio_sandbox::{
    Endpoint, FaultKind, Faults, RateLimitRule, RateLimits as SandboxLimits, RunningSandbox,
    Sandbox, SandboxConfig, TAGS_KEY,
};
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

async fn start(config: SandboxConfig) -> RunningSandbox {
    Sandbox::start(config).await.expect("sandbox starts")
}

/// A client with test-sized timings and no client-side budget (tests that need one set it).
fn config_for(
    sandbox: &RunningSandbox,
    (client_id, client_secret): (String, String),
) -> PersonioConfig {
    let mut config = PersonioConfig::new(client_id, Secret::new(client_secret))
        .with_base_url(sandbox.base_url().parse().expect("sandbox URL"));
    config.request_timeout = Duration::from_secs(2);
    config.limits = RateLimits::unlimited();
    config.backoff = Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 30,
    };
    config
}

fn client(config: PersonioConfig) -> PersonioClient {
    PersonioClient::new(config).expect("client builds")
}

async fn list_all(
    client: &PersonioClient,
    query: &EmployeeQuery,
    deadline: Deadline,
) -> Result<Vec<EmployeePage>, HrError> {
    client.employee_pages(query, deadline).try_collect().await
}

fn employees_of(pages: &[EmployeePage]) -> Vec<&Employee> {
    pages
        .iter()
        .flat_map(|page| &page.employees)
        .map(|employee| employee.as_ref().expect("every generated employee parses"))
        .collect()
}

fn non_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(text)) => !text.trim().is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
    }
}

#[tokio::test]
async fn pages_through_every_employee_with_one_auth_and_one_request_per_page() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(1_050)
            .without_rate_limits(),
    )
    .await;
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let pages = list_all(
        &client,
        &EmployeeQuery::default(),
        Deadline::after(Duration::from_secs(30)),
    )
    .await
    .expect("listing succeeds");

    let stats = sandbox.stats();
    assert_eq!(
        stats.requests_to(Endpoint::Employees),
        11,
        "ceil(1050 / 100) pages"
    );
    assert_eq!(stats.requests_to(Endpoint::AuthV1), 1);
    assert_eq!(pages.len(), 11);
    assert_eq!(pages[10].current_page, 10);
    let employees = employees_of(&pages);
    let ids: HashSet<PersonioId> = employees.iter().map(|employee| employee.id).collect();
    assert_eq!(ids.len(), 1_050);

    // The generator's quirks (empty values of every kind, three date formats, numbers as
    // strings, tags as JSON strings) all come through as the sandbox holds them.
    let mut tags_seen = 0;
    for employee in &employees {
        let source = sandbox
            .employee(employee.id.0 as u64)
            .expect("served employee exists");
        let value = |key: &str| source.attribute(key).map(|attribute| &attribute.value);
        assert_eq!(
            employee.email.as_deref(),
            source
                .text("email")
                .map(str::trim)
                .filter(|email| !email.is_empty()),
        );
        for (key, parsed) in [
            ("hire_date", employee.hire_date),
            ("contract_end_date", employee.contract_end_date),
            ("termination_date", employee.termination_date),
        ] {
            assert_eq!(
                parsed.is_some(),
                non_empty(value(key)),
                "{key} of {}",
                employee.id
            );
        }
        assert_eq!(
            employee.department.is_some(),
            non_empty(value("department"))
        );
        assert_eq!(
            employee.supervisor.is_some(),
            non_empty(value("supervisor"))
        );
        if let Some(AttributeValue::List(tags)) = employee
            .custom
            .get(TAGS_KEY)
            .map(|attribute| &attribute.value)
        {
            assert!(!tags.is_empty());
            tags_seen += 1;
        }
    }
    assert!(
        tags_seen > 100,
        "tags parsed from JSON strings: {tags_seen}"
    );
    assert!(
        employees
            .iter()
            .filter(|employee| employee.birthday.is_some())
            .count()
            > 900
    );
}

#[tokio::test]
async fn a_restricted_whitelist_leaves_fields_absent_not_broken() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(120)
            .without_rate_limits(),
    )
    .await;
    let restricted = sandbox.add_credential(Some(&["first_name", "email", "status"]));
    let client = client(config_for(&sandbox, restricted));
    let pages = list_all(
        &client,
        &EmployeeQuery::default(),
        Deadline::after(Duration::from_secs(10)),
    )
    .await
    .expect("listing succeeds");
    let employees = employees_of(&pages);
    assert_eq!(employees.len(), 120);
    for employee in employees {
        assert!(employee.last_name.is_none() && employee.department.is_none());
        assert!(employee.hire_date.is_none() && employee.birthday.is_none());
        assert!(employee.custom.is_empty());
    }
    let present: HashSet<&str> = pages
        .iter()
        .flat_map(|page| page.attributes_present.iter().map(String::as_str))
        .collect();
    assert_eq!(
        present,
        HashSet::from(["id", "first_name", "email", "status"])
    );
}

#[tokio::test]
async fn a_single_read_parses_like_the_listing_and_a_404_is_none() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(40)
            .without_rate_limits(),
    )
    .await;
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let deadline = Deadline::after(Duration::from_secs(10));
    let pages = list_all(&client, &EmployeeQuery::default(), deadline)
        .await
        .expect("listing succeeds");
    let listed = employees_of(&pages)[11].clone();

    let record = client
        .employee(listed.id, deadline)
        .await
        .expect("the read succeeds")
        .expect("the employee exists");

    assert_eq!(record.employee.as_ref().ok(), Some(&listed));
    assert!(record.attributes_present.contains("email"));
    assert!(record.attributes_present.contains("LMS Sync"));
    let before = sandbox.stats().requests_to(Endpoint::Employee);
    assert!(
        client
            .employee(PersonioId(987_654), deadline)
            .await
            .expect("a 404 is an answer")
            .is_none()
    );
    sandbox
        .remove_employee(listed.id.0 as u64)
        .expect("removed");
    assert!(
        client
            .employee(listed.id, deadline)
            .await
            .expect("a 404 is an answer")
            .is_none()
    );
    assert_eq!(
        sandbox.stats().requests_to(Endpoint::Employee),
        before + 2,
        "one request each, a 404 is not retried"
    );

    // A restricted credential reads only its whitelist, and says so.
    let restricted = client_for_whitelist(&sandbox, &["first_name", "email", "status"]);
    let other = employees_of(&pages)[12];
    let record = restricted
        .employee(other.id, deadline)
        .await
        .expect("the read succeeds")
        .expect("the employee exists");
    assert_eq!(
        record.attributes_present,
        ["email", "first_name", "id", "status"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    let employee = record.employee.expect("parses");
    assert!(employee.custom.is_empty() && employee.last_name.is_none());
}

fn client_for_whitelist(sandbox: &RunningSandbox, whitelist: &[&str]) -> PersonioClient {
    client(config_for(sandbox, sandbox.add_credential(Some(whitelist))))
}

#[tokio::test]
async fn projection_and_email_filter_are_sent() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(50)
            .without_rate_limits(),
    )
    .await;
    let target = sandbox.employees().into_iter().nth(7).expect("an employee");
    let email = target.text("email").expect("generated email").to_owned();
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let query = EmployeeQuery {
        attributes: Some(vec!["email".to_owned(), "last_name".to_owned()]),
        email: Some(email.clone()),
        ..EmployeeQuery::default()
    };
    let pages = list_all(&client, &query, Deadline::after(Duration::from_secs(10)))
        .await
        .expect("listing succeeds");
    let employees = employees_of(&pages);
    assert_eq!(employees.len(), 1);
    assert_eq!(employees[0].id.0 as u64, target.id());
    assert_eq!(employees[0].email.as_deref(), Some(email.as_str()));
    assert!(employees[0].first_name.is_none(), "not projected");
}

#[tokio::test]
async fn one_bad_employee_does_not_spoil_the_page() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(30)
            .without_rate_limits(),
    )
    .await;
    let ids: Vec<u64> = sandbox
        .employees()
        .iter()
        .map(|employee| employee.id())
        .collect();
    sandbox
        .set_attribute(ids[3], "status", "retired")
        .expect("set status");
    sandbox
        .set_attribute(ids[4], "hire_date", "2019-04-01T00:00:00+0200")
        .expect("set date");
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let pages = list_all(
        &client,
        &EmployeeQuery::default(),
        Deadline::after(Duration::from_secs(10)),
    )
    .await
    .expect("listing succeeds");
    let results: Vec<_> = pages.iter().flat_map(|page| &page.employees).collect();
    assert_eq!(results.len(), 30);
    let failures: Vec<_> = results
        .iter()
        .filter_map(|result| result.as_ref().err())
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].employee_id, Some(PersonioId(ids[3] as i64)));
    assert_eq!(failures[0].field, "status");
    let fourth = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .find(|employee| employee.id.0 as u64 == ids[4])
        .expect("parsed");
    assert_eq!(
        fourth.hire_date,
        chrono::NaiveDate::from_ymd_opt(2019, 4, 1)
    );
}

#[tokio::test]
async fn a_429_storm_slows_the_client_down_but_every_request_succeeds() {
    // The server allows far less than the client's (disabled) budget: only backoff helps.
    let storm = SandboxLimits {
        employees: vec![RateLimitRule::new(1, Duration::from_millis(400))],
        ..SandboxLimits::disabled()
    };
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(500)
            .with_rate_limits(storm),
    )
    .await;
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let pages = list_all(
        &client,
        &EmployeeQuery::default(),
        Deadline::after(Duration::from_secs(30)),
    )
    .await
    .expect("the storm is ridden out");
    assert_eq!(employees_of(&pages).len(), 500);
    let stats = sandbox.stats();
    assert!(
        stats.throttled_on(Endpoint::Employees) > 0,
        "the storm happened"
    );
    assert_eq!(
        stats.requests_to(Endpoint::Employees) - stats.throttled_on(Endpoint::Employees),
        5,
        "every page was served exactly once"
    );
}

// Two worker threads: on one, a client parsing a page would hold back the server's clock reading
// of the other client's request, which no client-side budget can account for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_keeps_within_the_server_limits() {
    let limits = SandboxLimits {
        employees: vec![
            RateLimitRule::new(12, Duration::from_secs(2)),
            RateLimitRule::new(3, Duration::from_millis(300)),
        ],
        ..SandboxLimits::disabled()
    };
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(1_500)
            .with_rate_limits(limits),
    )
    .await;
    let mut config = config_for(&sandbox, sandbox.default_credential());
    config.limits = RateLimits {
        employees: vec![
            RateWindow::new(12, Duration::from_secs(2)),
            RateWindow::new(3, Duration::from_millis(300)),
        ],
        // Covers the send-time jitter of a debug build sharing two cores with the server.
        window_margin: Duration::from_millis(50),
        ..RateLimits::unlimited()
    };
    // Two clients of one credential share one budget: together they stay within the limits.
    let first = client(config.clone());
    let second = client(config);
    let deadline = Deadline::after(Duration::from_secs(30));
    let query = EmployeeQuery::default();
    let (one, two) = tokio::join!(
        list_all(&first, &query, deadline),
        list_all(&second, &query, deadline)
    );
    assert_eq!(employees_of(&one.expect("first listing")).len(), 1_500);
    assert_eq!(employees_of(&two.expect("second listing")).len(), 1_500);
    let stats = sandbox.stats();
    assert_eq!(
        stats.throttled_on(Endpoint::Employees),
        0,
        "the budget alone kept the pace"
    );
    assert_eq!(stats.requests_to(Endpoint::Employees), 30);
}

#[tokio::test]
async fn server_errors_broken_answers_and_timeouts_are_retried_within_the_deadline() {
    let faults = Faults {
        server_error_share: 0.25,
        truncated_share: 0.1,
        dropped_share: 0.1,
        timeout_share: 0.1,
        hang: Duration::from_secs(5),
        seed: 7,
        ..Faults::none()
    };
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(600)
            .without_rate_limits()
            .with_faults(faults),
    )
    .await;
    let mut config = config_for(&sandbox, sandbox.default_credential());
    config.request_timeout = Duration::from_millis(300);
    let client = client(config);
    let pages = list_all(
        &client,
        &EmployeeQuery::default(),
        Deadline::after(Duration::from_secs(30)),
    )
    .await
    .expect("faults are retried");
    let ids: HashSet<PersonioId> = employees_of(&pages)
        .iter()
        .map(|employee| employee.id)
        .collect();
    assert_eq!(ids.len(), 600);
    let stats = sandbox.stats();
    let faults: u64 = [
        FaultKind::InternalServerError,
        FaultKind::BadGateway,
        FaultKind::TruncatedBody,
        FaultKind::DroppedConnection,
        FaultKind::Timeout,
    ]
    .into_iter()
    .map(|kind| stats.faults_of(kind))
    .sum();
    assert!(faults >= 2, "faults were injected: {stats:?}");
}

#[tokio::test]
async fn a_deadline_that_runs_out_gives_a_retryable_error_in_time() {
    let always_failing = Faults {
        server_error_share: 1.0,
        only: vec![Endpoint::Employees],
        ..Faults::none()
    };
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(10)
            .without_rate_limits()
            .with_faults(always_failing),
    )
    .await;
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let deadline = Duration::from_millis(1500);
    let started = tokio::time::Instant::now();
    let error = list_all(
        &client,
        &EmployeeQuery::default(),
        Deadline::after(deadline),
    )
    .await
    .expect_err("every page request fails");
    // Either the retries ran out of time between attempts (`Unavailable`) or the deadline cut an
    // attempt short (`DeadlineExceeded`, likelier on a loaded machine): both say "try later".
    assert!(
        matches!(
            error,
            HrError::Unavailable { .. } | HrError::DeadlineExceeded
        ),
        "{error:?}"
    );
    assert!(error.is_retryable(), "{error:?}");
    assert!(
        sandbox.stats().requests_to(Endpoint::Employees) > 1,
        "the 500s were retried"
    );
    assert!(
        started.elapsed() < deadline + Duration::from_secs(1),
        "bounded by the deadline: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_reported_with_personios_message_and_not_retried() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(10)
            .without_rate_limits(),
    )
    .await;
    let mut config = config_for(&sandbox, sandbox.default_credential());
    config.page_size = 101;
    let client = client(config);
    let error = list_all(
        &client,
        &EmployeeQuery::default(),
        Deadline::after(Duration::from_secs(10)),
    )
    .await
    .expect_err("limit above 100");
    match &error {
        HrError::Rejected { status, message } => {
            assert_eq!(*status, 400);
            assert!(message.contains("100"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(sandbox.stats().requests_to(Endpoint::Employees), 1);
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits(),
    )
    .await;
    let (client_id, _) = sandbox.default_credential();
    let client = client(config_for(
        &sandbox,
        (client_id, "not-the-secret".to_owned()),
    ));
    let error = client
        .document_categories(Deadline::after(Duration::from_secs(5)))
        .await
        .expect_err("wrong secret");
    match &error {
        HrError::Unauthorized { message } => {
            assert!(message.contains("Wrong credentials"), "{message}");
            assert!(!message.contains("not-the-secret"));
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(!format!("{error:?} {client:?}").contains("not-the-secret"));
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_concurrent_callers_share_one_auth() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits(),
    )
    .await;
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let deadline = Deadline::after(Duration::from_secs(10));
    let calls = (0..8).map(|_| client.document_categories(deadline));
    for categories in futures::future::join_all(calls).await {
        assert_eq!(categories.expect("categories").len(), 5);
    }
    assert_eq!(sandbox.stats().requests_to(Endpoint::AuthV1), 1);

    sandbox.expire_tokens();
    client
        .document_categories(deadline)
        .await
        .expect("re-authenticated");
    let stats = sandbox.stats();
    assert_eq!(stats.requests_to(Endpoint::AuthV1), 2);
    assert_eq!(
        stats.requests_to(Endpoint::DocumentCategories),
        10,
        "8 + the refused one + its retry"
    );
}

fn certificate(employee_id: PersonioId, category_id: i64, title: &str) -> DocumentUpload {
    DocumentUpload {
        employee_id,
        category_id,
        title: title.to_owned(),
        comment: Some("Kurs abgeschlossen".to_owned()),
        date: chrono::NaiveDate::from_ymd_opt(2025, 3, 14),
        file_name: "zertifikat.pdf".to_owned(),
        content_type: "application/pdf".to_owned(),
        content: Bytes::from_static(b"%PDF-1.7 certificate"),
    }
}

#[tokio::test]
async fn documents_are_uploaded_and_found_again_through_every_v2_page() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits(),
    )
    .await;
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let deadline = Deadline::after(Duration::from_secs(30));
    let categories = client
        .document_categories(deadline)
        .await
        .expect("categories");
    let learning = categories
        .iter()
        .find(|category| category.name == "Bildungszertifikate")
        .expect("the sandbox offers Bildungszertifikate");
    let other = categories
        .iter()
        .find(|category| category.name == "Other documents")
        .expect("the sandbox offers Other documents");
    let owner = PersonioId(sandbox.employees()[0].id() as i64);

    // More than one v2 page (100 per page) in the learning category, one elsewhere.
    let mut uploaded_ids = HashSet::new();
    for number in 0..101 {
        let uploaded = client
            .upload_document(
                &certificate(owner, learning.id, &format!("Kurs {number}")),
                deadline,
            )
            .await
            .expect("upload");
        uploaded_ids.insert(uploaded.id);
    }
    client
        .upload_document(&certificate(owner, other.id, "Sonstiges"), deadline)
        .await
        .expect("upload");

    let stored = sandbox.documents();
    assert_eq!(stored.len(), 102);
    assert_eq!(stored[0].title, "Kurs 0");
    assert_eq!(stored[0].comment.as_deref(), Some("Kurs abgeschlossen"));
    assert_eq!(stored[0].bytes.as_ref(), b"%PDF-1.7 certificate");

    let found = client
        .find_documents(owner, Some(learning.id), deadline)
        .await
        .expect("v2 list");
    assert_eq!(found.len(), 101);
    let found_ids: HashSet<String> = found.iter().map(|document| document.id.clone()).collect();
    assert_eq!(found_ids, uploaded_ids);
    assert!(
        found
            .iter()
            .all(|document| document.category_id == Some(learning.id))
    );
    assert_eq!(found[0].title, "Kurs 0");
    assert_eq!(found[0].date, chrono::NaiveDate::from_ymd_opt(2025, 3, 14));

    let everything = client
        .find_documents(owner, None, deadline)
        .await
        .expect("v2 list");
    assert_eq!(everything.len(), 102);
    let stats = sandbox.stats();
    assert_eq!(
        stats.requests_to(Endpoint::DocumentListV2),
        4,
        "two pages per listing"
    );
    assert_eq!(
        stats.requests_to(Endpoint::AuthV2),
        1,
        "one v2 token for both listings"
    );
    assert_eq!(stats.requests_to(Endpoint::AuthV1), 1);
}

#[tokio::test]
async fn uploads_over_the_limits_are_refused_before_sending_and_the_server_is_quoted() {
    let sandbox = start(
        SandboxConfig::default()
            .with_employees(5)
            .without_rate_limits(),
    )
    .await;
    let client = client(config_for(&sandbox, sandbox.default_credential()));
    let deadline = Deadline::after(Duration::from_secs(10));
    let owner = PersonioId(sandbox.employees()[0].id() as i64);

    let mut long_title = certificate(owner, 3, "");
    long_title.title = "T".repeat(256);
    let mut too_big = certificate(owner, 3, "Big");
    too_big.content = Bytes::from(vec![b'x'; 30 * 1024 * 1024 + 1]);
    for (document, field) in [(long_title, "title"), (too_big, "file")] {
        match client.upload_document(&document, deadline).await {
            Err(HrError::Invalid(message)) => assert!(message.starts_with(field), "{message}"),
            other => panic!("expected a client-side refusal of {field}, got {other:?}"),
        }
    }
    assert_eq!(sandbox.stats().requests_to(Endpoint::DocumentUpload), 0);

    let mut wrong_type = certificate(owner, 3, "Programm");
    wrong_type.file_name = "setup.exe".to_owned();
    match client.upload_document(&wrong_type, deadline).await {
        Err(HrError::Rejected { status, message }) => {
            assert_eq!(status, 422);
            assert!(
                message.contains("file: The file must be a file of type"),
                "{message}"
            );
        }
        other => panic!("expected a 422, got {other:?}"),
    }
    match client
        .upload_document(&certificate(PersonioId(987_654), 3, "Niemand"), deadline)
        .await
    {
        Err(HrError::Rejected { status, message }) => {
            assert_eq!(status, 404);
            assert!(
                message.contains("No query results for model [Employee] 987654"),
                "{message}"
            );
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    assert_eq!(sandbox.stats().requests_to(Endpoint::DocumentUpload), 2);
    assert!(sandbox.documents().is_empty());
}
