//! The admin API over in-memory adapters. Every response of these tests is also checked against
//! the OpenAPI document (`documented`), so the document cannot drift from what the API sends.

use super::routes::{RouteMatch, match_route, routes};
use super::testing::{MemoryCredentials, RecordingJobQueue};
use super::*;
use crate::app::connect::{ConnectError, ConnectPolicy, IntegrationAdapters};
use crate::domain::certificate::{CertificateId, Claim, Parking};
use crate::domain::run::{RunKind, Trigger};
use crate::lms::memory::MemoryLms;
use crate::notify::MemoryNotifier;
use crate::ports::{CertificateLedger, Credentials, IntegrationStore, LeaseStore, LinkStore};
use crate::store::MemoryStore;
use crate::sync::testing::{self, StaticHrSource};
use http::{HeaderMap, Method};
use serde_json::{Value, json};
use std::collections::BTreeSet;

mod audit;

pub(super) const TENANT: &str = "tenant-a";
pub(super) const PERSONIO_SECRET: &str = "papi-very-s3cret";
pub(super) const LMS_TOKEN: &str = "lms-very-t0ken";

/// Reads the stored credentials like the real connector, then hands out the doubles.
struct DoubleConnector {
    credentials: Arc<MemoryCredentials>,
    hr: Arc<StaticHrSource>,
    lms: Arc<MemoryLms>,
}

#[async_trait::async_trait]
impl Connector for DoubleConnector {
    fn policy(&self) -> ConnectPolicy {
        ConnectPolicy::HOSTED
    }

    async fn connect(
        &self,
        record: &IntegrationRecord,
        _deadline: crate::retry::Deadline,
    ) -> Result<IntegrationAdapters, ConnectError> {
        self.credentials.credentials(&record.id).await?;
        Ok(IntegrationAdapters {
            hr: self.hr.clone(),
            lms: self.lms.clone(),
        })
    }
}

pub(super) struct Harness {
    pub(super) api: AdminApi,
    pub(super) store: Arc<MemoryStore>,
    pub(super) queue: Arc<RecordingJobQueue>,
    pub(super) credentials: Arc<MemoryCredentials>,
    pub(super) lms: Arc<MemoryLms>,
    pub(super) notifier: Arc<MemoryNotifier>,
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Value,
    pub(super) text: String,
}

pub(super) fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(RecordingJobQueue::default());
    let credentials = Arc::new(MemoryCredentials::default());
    let hr = Arc::new(StaticHrSource::of(vec![
        testing::employee(1, "ada@example.com"),
        testing::employee(2, "grace@example.com"),
    ]));
    let lms = Arc::new(MemoryLms::with_groups(["Engineering"]));
    let notifier = Arc::new(MemoryNotifier::new());
    let api = AdminApi::new(AdminAdapters {
        integrations: store.clone(),
        state: store.clone(),
        credentials: credentials.clone(),
        queue: queue.clone(),
        audit: store.clone(),
        connector: Arc::new(DoubleConnector {
            credentials: credentials.clone(),
            hr,
            lms: lms.clone(),
        }),
        notifier: notifier.clone(),
    });
    Harness {
        api,
        store,
        queue,
        credentials,
        lms,
        notifier,
    }
}

pub(super) fn create_body() -> Value {
    json!({
        "name": "ACME → Academy",
        "personio": {"client_id": "papi-id", "client_secret": PERSONIO_SECRET, "partner_id": "acme"},
        "lms": {"scim_base_url": "https://lms.example.com/scim/v2", "token": LMS_TOKEN},
        "settings": {"selection": {"attribute": testing::SELECTION_LABEL}, "groups": {"by": ["department"]}},
        "schedule": {"every_minutes": 60}
    })
}

impl Harness {
    pub(super) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_as(Some(TENANT), method, path, &[], body.map(|b| b.to_string()))
            .await
    }

    pub(super) async fn call_as(
        &self,
        tenant: Option<&str>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let mut request = Request::builder().method(method.clone()).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Bytes::from(body.unwrap_or_default()))
            .expect("a valid test request");
        let caller = tenant.map(|tenant| Caller::new(tenant, Some(format!("admin-of-{tenant}"))));
        let response = self.api.handle(request, caller).await;
        let status = response.status();
        let headers = response.headers().clone();
        let text = String::from_utf8(response.into_body().to_vec()).expect("UTF-8 body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        };
        documented(&method, path, status, &headers, &body);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub(super) async fn create(&self) -> (String, Answer) {
        let created = self
            .call(Method::POST, "/integrations", Some(create_body()))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.body["id"].as_str().expect("an id").to_owned();
        (id, created)
    }
}

fn openapi() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

/// Asserts that a response is what the OpenAPI document promises for its route and status.
fn documented(method: &Method, path: &str, status: StatusCode, headers: &HeaderMap, body: &Value) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(content_type, PROBLEM_CONTENT_TYPE, "{status} {body}");
    }
    let doc = openapi();
    let template = match match_route(method, path.split('?').next().unwrap_or(path)) {
        RouteMatch::Found { endpoint, .. } => routes()
            .into_iter()
            .find(|route| route.endpoint == endpoint)
            .map(|route| route.template),
        _ => None,
    };
    let Some(template) = template else {
        // No route: the answer is a bare problem.
        let errors = validate(
            &doc,
            &json!({"$ref": "#/components/schemas/Problem"}),
            body,
            "$",
        );
        assert!(errors.is_empty(), "{status} {body}: {errors:?}");
        return;
    };
    let operation = &doc["paths"][template][method.as_str().to_lowercase()];
    let response = &operation["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which the document does not list"
    );
    if body.is_null() {
        assert!(
            response.get("content").is_none(),
            "{method} {template} {status} sent no body"
        );
        return;
    }
    let media = response["content"]
        .get(content_type)
        .unwrap_or_else(|| panic!("{method} {template} {status}: {content_type} not documented"));
    let errors = validate(&doc, &media["schema"], body, "$");
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: {errors:?}\n{body}"
    );
}

/// The JSON Schema keywords the document uses: $ref, allOf, oneOf, type, enum, required,
/// properties, additionalProperties, items, minimum. Returns what does not match.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = reference.trim_start_matches('#');
        let target = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling {reference}"));
        return validate(doc, target, value, at);
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        errors.extend(validate(doc, part, value, at));
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let matching = choices
            .iter()
            .filter(|choice| validate(doc, choice, value, at).is_empty())
            .count();
        if matching != 1 {
            errors.push(format!("{at}: matches {matching} of oneOf"));
        }
    }
    if let Some(kinds) = schema.get("type") {
        let kinds: Vec<&str> = match kinds {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = kinds.contains(&actual) || (actual == "integer" && kinds.contains(&"number"));
        if !fits {
            errors.push(format!("{at}: {actual}, expected {kinds:?}"));
            return errors;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} not in {allowed:?}"));
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64())
        && number < minimum
    {
        errors.push(format!("{at}: {number} below {minimum}"));
    }
    if let Value::Object(fields) = value {
        for required in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = required.as_str()
                && !fields.contains_key(name)
            {
                errors.push(format!("{at}: missing {name}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in fields {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => {
                    errors.extend(validate(doc, property, field, &format!("{at}.{name}")))
                }
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => errors.push(format!("{at}: undocumented field {name}")),
                    extra @ Value::Object(_) => {
                        errors.extend(validate(doc, extra, field, &format!("{at}.{name}")))
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            errors.extend(validate(doc, item_schema, item, &format!("{at}[{index}]")));
        }
    }
    errors
}

#[test]
fn the_document_lists_exactly_the_served_routes() {
    let doc = openapi();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| *key != "parameters")
                .map(move |(method, _)| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|route| (route.method.to_string(), route.template.to_owned()))
        .collect();
    assert_eq!(documented, served);
    // The validator itself must be able to fail.
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    assert!(!validate(&doc, &problem, &json!({"type": "x"}), "$").is_empty());
    assert!(
        !validate(
            &doc,
            &problem,
            &json!({"type": 1, "title": "t", "status": 1, "detail": ""}),
            "$"
        )
        .is_empty()
    );
}

#[tokio::test]
async fn create_read_list_and_never_return_a_secret() {
    let h = harness();
    let (id, created) = h.create().await;
    assert_eq!(created.headers[header::ETAG], "\"1\"");
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/integrations/{id}").as_str()
    );
    assert_eq!(created.body["tenant_id"], TENANT);
    assert_eq!(created.body["secret_ref"], format!("memory:{id}"));
    assert!(created.body["next_run_at"].is_string());
    let stored = h
        .credentials
        .stored(&IntegrationId::new(&id))
        .expect("stored");
    assert_eq!(stored.personio_client_secret.expose(), PERSONIO_SECRET);
    assert_eq!(stored.lms_token.expose(), LMS_TOKEN);

    let read = h
        .call(Method::GET, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created.body);
    let list = h.call(Method::GET, "/integrations", None).await;
    assert_eq!(list.body["integrations"][0]["id"], id.as_str());
    let record = h
        .store
        .integration(&IntegrationId::new(&id))
        .await
        .expect("readable")
        .expect("stored");
    let record_json = serde_json::to_string(&record).expect("serializable");
    for text in [&created.text, &read.text, &list.text, &record_json] {
        assert!(
            !text.contains(PERSONIO_SECRET) && !text.contains(LMS_TOKEN),
            "{text}"
        );
        // The client id lives with the secrets too.
        assert!(!text.contains("papi-id"), "{text}");
    }
}

#[tokio::test]
async fn another_tenants_integration_does_not_exist_for_the_caller() {
    let h = harness();
    let (id, _) = h.create().await;
    let other = Some("tenant-b");
    for (method, path) in [
        (Method::GET, format!("/integrations/{id}")),
        (Method::PUT, format!("/integrations/{id}")),
        (Method::DELETE, format!("/integrations/{id}")),
        (Method::POST, format!("/integrations/{id}/sync")),
        (Method::POST, format!("/integrations/{id}/plan")),
        (Method::POST, format!("/integrations/{id}/check")),
        (Method::GET, format!("/integrations/{id}/runs")),
        (Method::GET, format!("/integrations/{id}/runs/r-1")),
        (Method::POST, format!("/integrations/{id}/certificates")),
        (Method::GET, format!("/integrations/{id}/certificates/c-1")),
    ] {
        let answer = h
            .call_as(
                other,
                method.clone(),
                &path,
                &[("if-match", "\"1\"")],
                Some("{}".into()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        let missing = h
            .call_as(
                other,
                method.clone(),
                &path.replace(&id, "no-such-id"),
                &[],
                Some("{}".into()),
            )
            .await;
        assert_eq!(
            missing.body["detail"],
            answer.body["detail"]
                .as_str()
                .unwrap_or("")
                .replace(&id, "no-such-id")
        );
    }
    let list = h
        .call_as(other, Method::GET, "/integrations", &[], None)
        .await;
    assert_eq!(list.body, json!({"integrations": []}));
    assert!(h.queue.sync_jobs().is_empty());

    let anonymous = h
        .call_as(None, Method::GET, "/integrations", &[], None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let contract = h
        .call_as(None, Method::GET, "/openapi.json", &[], None)
        .await;
    assert_eq!(contract.status, StatusCode::OK);
    assert_eq!(contract.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn bad_requests_are_problems_naming_the_field() {
    let h = harness();
    let mut body = create_body();
    body["settings"]["selection"]["attribute"] = json!("  ");
    let answer = h.call(Method::POST, "/integrations", Some(body)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["field"], "settings.selection.attribute");
    assert_eq!(
        answer.body["type"],
        "urn:personio-lms:problem:invalid-field"
    );

    let mut body = create_body();
    body["lms"]["scim_base_url"] = json!("http://lms.example.com/scim/v2");
    let answer = h.call(Method::POST, "/integrations", Some(body)).await;
    assert_eq!(answer.body["field"], "lms.scim_base_url");
    let mut body = create_body();
    body["personio"]["base_url"] = json!("not a url");
    let answer = h.call(Method::POST, "/integrations", Some(body)).await;
    assert_eq!(answer.body["field"], "personio.base_url");
    let mut body = create_body();
    body["personio"]["client_secret"] = json!(12345);
    let answer = h.call(Method::POST, "/integrations", Some(body)).await;
    assert_eq!(answer.body["field"], "personio.client_secret");
    assert!(!answer.text.contains("12345"));

    let malformed = h
        .call_as(
            Some(TENANT),
            Method::POST,
            "/integrations",
            &[],
            Some("{\"name\": \"x\",\n  }".into()),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("line 2 column 3")),
        "{}",
        malformed.text
    );

    let unknown = h.call(Method::GET, "/nothing/here", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let wrong = h.call(Method::PATCH, "/integrations", None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers[header::ALLOW], "POST, GET");
    // Nothing was stored by the refused creates.
    assert!(
        h.store
            .integrations_of_tenant(TENANT)
            .await
            .expect("readable")
            .is_empty()
    );
}

#[tokio::test]
async fn changes_need_the_current_version_and_rotate_only_given_secrets() {
    let h = harness();
    let (id, created) = h.create().await;
    let path = format!("/integrations/{id}");
    let change = json!({"name": "Renamed", "schedule": "manual", "lms": {
        "scim_base_url": "https://lms2.example.com/scim/v2", "token": "new-t0ken"}});

    let unversioned = h.call(Method::PUT, &path, Some(change.clone())).await;
    assert_eq!(unversioned.status, StatusCode::PRECONDITION_REQUIRED);
    let stale = h
        .call_as(
            Some(TENANT),
            Method::PUT,
            &path,
            &[("if-match", "\"7\"")],
            Some(change.to_string()),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let changed = h
        .call_as(
            Some(TENANT),
            Method::PUT,
            &path,
            &[("if-match", "\"1\"")],
            Some(change.to_string()),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.headers[header::ETAG], "\"2\"");
    assert_eq!(changed.body["name"], "Renamed");
    assert_eq!(changed.body["schedule"], "manual");
    assert_eq!(changed.body["next_run_at"], Value::Null);
    assert_eq!(
        changed.body["lms"]["scim_base_url"],
        "https://lms2.example.com/scim/v2"
    );
    assert_eq!(changed.body["created_at"], created.body["created_at"]);
    assert!(!changed.text.contains("new-t0ken"));
    let stored = h
        .credentials
        .stored(&IntegrationId::new(&id))
        .expect("stored");
    assert_eq!(stored.lms_token.expose(), "new-t0ken");
    assert_eq!(stored.personio_client_secret.expose(), PERSONIO_SECRET);

    // The version in the body works as well; the old version no longer does.
    let again = h
        .call(Method::PUT, &path, Some(json!({"version": 1, "name": "x"})))
        .await;
    assert_eq!(again.status, StatusCode::PRECONDITION_FAILED);
    let bad_settings = h
        .call(Method::PUT, &path, Some(json!({"version": 2, "settings": {"selection": {"attribute": "x"}, "apply_concurrency": 0}})))
        .await;
    assert_eq!(bad_settings.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_settings.body["field"], "settings.apply_concurrency");

    let stale_delete = h
        .call_as(
            Some(TENANT),
            Method::DELETE,
            &path,
            &[("if-match", "\"1\"")],
            None,
        )
        .await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    let deleted = h.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(h.credentials.stored(&IntegrationId::new(&id)).is_none());
    assert_eq!(
        h.call(Method::GET, &path, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn sync_now_queues_a_manual_job_and_reports_an_unavailable_queue() {
    let h = harness();
    let (id, _) = h.create().await;
    let path = format!("/integrations/{id}/sync");
    let answer = h.call(Method::POST, &path, None).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let jobs = h.queue.sync_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].integration_id.as_str(), id);
    assert_eq!(jobs[0].trigger, Trigger::Manual);
    assert!(!jobs[0].dry_run);
    assert_eq!(jobs[0].kind, RunKind::Full);

    let reconcile = format!("/integrations/{id}/reconcile");
    let answer = h.call(Method::POST, &reconcile, None).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.body["kind"], "reconcile");
    assert_eq!(h.queue.sync_jobs()[1].kind, RunKind::Reconcile);

    h.queue.set_unavailable(Some("throttled"));
    let answer = h.call(Method::POST, &path, None).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn a_plan_is_a_recorded_dry_run_that_writes_nothing() {
    let h = harness();
    let (id, _) = h.create().await;
    let plan = h
        .call(Method::POST, &format!("/integrations/{id}/plan"), None)
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    assert_eq!(plan.body["dry_run"], true);
    assert_eq!(plan.body["counts"]["created"], 2);
    assert_eq!(h.lms.write_counts().total(), 0);

    let runs = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/runs?limit=5"),
            None,
        )
        .await;
    assert_eq!(runs.status, StatusCode::OK);
    assert_eq!(runs.body["runs"][0]["run_id"], plan.body["run_id"]);
    assert_eq!(runs.body["runs"][0]["outcome_count"], 2);
    assert!(runs.body["runs"][0].get("outcomes").is_none());
    let run_id = plan.body["run_id"].as_str().expect("run id");
    let run = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/runs/{run_id}"),
            None,
        )
        .await;
    assert_eq!(run.body, plan.body);
    let missing = h
        .call(Method::GET, &format!("/integrations/{id}/runs/nope"), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad_limit = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/runs?limit=0"),
            None,
        )
        .await;
    assert_eq!(bad_limit.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_limit.body["field"], "limit");
    for text in [&plan.text, &runs.text, &run.text] {
        assert!(!text.contains(PERSONIO_SECRET) && !text.contains(LMS_TOKEN));
    }
}

#[tokio::test]
async fn an_employee_sync_runs_just_that_employee_under_the_lease() {
    let h = harness();
    let (id, _) = h.create().await;
    let path = |employee: &str| format!("/integrations/{id}/employees/{employee}/sync");

    let synced = h.call(Method::POST, &path("1"), None).await;

    assert_eq!(synced.status, StatusCode::OK, "{}", synced.text);
    assert_eq!(synced.body["kind"], "targeted");
    assert_eq!(synced.body["targets"], json!([1]));
    assert_eq!(synced.body["dry_run"], false);
    assert_eq!(synced.body["counts"]["created"], 1);
    assert_eq!(synced.body["outcomes"][0]["personio_id"], 1);
    assert_eq!(synced.body["outcomes"][0]["action"], "created");
    assert_eq!(h.lms.users().len(), 1, "employee 2 is not touched");
    let integration = IntegrationId::new(id.clone());
    assert_eq!(h.store.links(&integration).await.unwrap().len(), 1);
    assert_eq!(
        h.store.lease(&integration).await.unwrap(),
        None,
        "the lease is released"
    );

    let again = h.call(Method::POST, &path("1"), None).await;
    assert_eq!(again.body["outcomes"][0]["action"], "unchanged");
    assert_eq!(
        again.body["outcomes"][0]["reason"],
        "the LMS account is up to date"
    );
    let unknown = h.call(Method::POST, &path("404"), None).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.body["outcomes"][0]["action"], "skipped");
    assert_eq!(
        unknown.body["outcomes"][0]["reason"],
        "Personio has no employee with this id"
    );

    let bad = h.call(Method::POST, &path("ada"), None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert_eq!(bad.body["field"], "personio_id");

    h.store
        .acquire_lease(
            &integration,
            "scheduled run",
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    let held = h.call(Method::POST, &path("2"), None).await;
    assert_eq!(held.status, StatusCode::CONFLICT, "{}", held.text);
    assert!(held.text.contains("scheduled run"), "{}", held.text);
    assert_eq!(h.lms.users().len(), 1);
    assert!(h.notifier.sent().is_empty(), "invitations are off");
}

#[tokio::test]
async fn a_run_whose_holder_died_reads_abandoned_and_a_live_one_running() {
    use crate::domain::run::{RunId, RunRecord};
    use crate::ports::{LeaseStore, RunStore};
    let h = harness();
    let (id, _) = h.create().await;
    let integration = IntegrationId::new(&id);
    let started = chrono::Utc::now() - chrono::Duration::minutes(10);
    let running = |run_id: &str, holder: &str| RunRecord {
        holder: Some(holder.into()),
        kind: Default::default(),
        ..RunRecord::started(
            integration.clone(),
            RunId(run_id.into()),
            Trigger::Schedule,
            started,
        )
    };
    h.store.put_run(&running("dead", "lambda-1")).await.unwrap();
    h.store.put_run(&running("live", "lambda-2")).await.unwrap();
    h.store
        .acquire_lease(
            &integration,
            "lambda-2",
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap();

    let runs = h
        .call(Method::GET, &format!("/integrations/{id}/runs"), None)
        .await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.text);
    let statuses: Vec<(&str, &str)> = runs.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| {
            (
                run["run_id"].as_str().unwrap_or_default(),
                run["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(statuses.contains(&("dead", "abandoned")), "{statuses:?}");
    assert!(statuses.contains(&("live", "running")), "{statuses:?}");
    let dead = h
        .call(Method::GET, &format!("/integrations/{id}/runs/dead"), None)
        .await;
    assert_eq!(dead.body["status"], "abandoned");
    assert_eq!(dead.body["holder"], "lambda-1");
}

#[tokio::test]
async fn a_check_reports_each_finding() {
    let h = harness();
    let (id, _) = h.create().await;
    let check = h
        .call(Method::POST, &format!("/integrations/{id}/check"), None)
        .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.text);
    assert_eq!(check.body["employees_selected"], 2);
    assert_eq!(check.body["groups_found"], json!(["Engineering"]));
    let passed = check.body["passed"].as_bool().expect("passed");
    let failed = check.body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .any(|check| check["status"] == "failed");
    assert_eq!(passed, !failed);
}

#[tokio::test]
async fn an_employee_is_explained_and_unknown_ones_are_not_found() {
    let h = harness();
    let (id, _) = h.create().await;
    let explained = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/employees/1"),
            None,
        )
        .await;
    assert_eq!(explained.status, StatusCode::OK, "{}", explained.text);
    assert_eq!(explained.body["personio_id"], 1);
    assert_eq!(explained.body["selection"]["selected"], true);
    assert_eq!(explained.body["next_run"]["action"], "create");
    assert!(explained.body["link"].is_null());
    assert!(
        explained.body["fields_sent"]
            .as_array()
            .expect("fields")
            .contains(&json!("email"))
    );
    assert_eq!(h.lms.write_counts().total(), 0, "explaining writes nothing");
    assert!(!explained.text.contains(PERSONIO_SECRET) && !explained.text.contains(LMS_TOKEN));

    let unknown = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/employees/99"),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    let bad = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/employees/ada"),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert_eq!(bad.body["field"], "personio_id");
    let elsewhere = h
        .call_as(
            Some("another-tenant"),
            Method::GET,
            &format!("/integrations/{id}/employees/1"),
            &[],
            None,
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}

fn certificate_job(certificate_id: &str) -> Value {
    json!({
        "certificate_id": certificate_id,
        "lms_user_id": "u-1",
        "course_name": "Fire safety",
        "completed_on": "2026-11-20",
        "pdf_url": "https://files.example.com/c.pdf?X-Amz-Signature=sig-s3cret"
    })
}

async fn enable_certificates(h: &Harness, id: &str) {
    enable_certificates_at(h, id, 1).await;
}

/// Turns the certificate push on at `version` (the integration's current version).
async fn enable_certificates_at(h: &Harness, id: &str, version: u64) {
    let settings = json!({"selection": {"attribute": testing::SELECTION_LABEL},
        "certificates": {"enabled": true, "allowed_pdf_hosts": ["files.example.com"]}});
    let changed = h
        .call(
            Method::PUT,
            &format!("/integrations/{id}"),
            Some(json!({"version": version, "settings": settings})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
}

#[tokio::test]
async fn certificate_jobs_are_validated_then_queued() {
    let h = harness();
    let (id, _) = h.create().await;
    let path = format!("/integrations/{id}/certificates");
    let off = h
        .call(Method::POST, &path, Some(certificate_job("c-1")))
        .await;
    assert_eq!(off.status, StatusCode::CONFLICT);
    enable_certificates(&h, &id).await;

    let queued = h
        .call(Method::POST, &path, Some(certificate_job("c-1")))
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    assert_eq!(
        queued.body,
        json!({"certificate_id": "c-1", "status": "accepted"})
    );
    let jobs = h.queue.certificate_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1, CertificateId("c-1".into()));
    assert_eq!(jobs[0].2["integration_id"], id.as_str());

    let mut foreign = certificate_job("c-2");
    foreign["integration_id"] = json!("someone-else");
    let refused = h.call(Method::POST, &path, Some(foreign)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["field"], "integration_id");
    let mut undated = certificate_job("c-3");
    undated["completed_on"] = json!("20.11.2026");
    let refused = h.call(Method::POST, &path, Some(undated)).await;
    assert_eq!(refused.body["field"], "completed_on");
    assert_eq!(h.queue.certificate_jobs().len(), 1);
}

#[tokio::test]
async fn a_batch_reports_every_item_on_its_own() {
    let h = harness();
    let (id, _) = h.create().await;
    enable_certificates(&h, &id).await;
    let path = format!("/integrations/{id}/certificates/batch");
    let mut bad = certificate_job("c-2");
    bad["course_name"] = json!("");
    let ndjson = format!("{}\n\n{}\n{{broken\n", certificate_job("c-1"), bad);
    let mixed = h
        .call_as(
            Some(TENANT),
            Method::POST,
            &path,
            &[("content-type", "application/x-ndjson")],
            Some(ndjson),
        )
        .await;
    assert_eq!(mixed.status, StatusCode::MULTI_STATUS, "{}", mixed.text);
    assert_eq!(mixed.body["accepted"], 1);
    assert_eq!(mixed.body["rejected"], 2);
    let items = mixed.body["items"].as_array().expect("items");
    assert_eq!(
        items[0],
        json!({"item": 1, "certificate_id": "c-1", "status": "accepted"})
    );
    assert_eq!(items[1]["item"], 3);
    assert_eq!(items[1]["field"], "course_name");
    assert_eq!(items[1]["certificate_id"], "c-2");
    assert_eq!(items[2]["item"], 4);
    assert_eq!(items[2]["field"], "job");

    let array = json!([certificate_job("c-4"), certificate_job("c-5")]);
    let all = h.call(Method::POST, &path, Some(array)).await;
    assert_eq!(all.status, StatusCode::ACCEPTED);
    assert_eq!(h.queue.certificate_jobs().len(), 3);

    h.queue.set_unavailable(Some("throttled"));
    let retry = h
        .call(Method::POST, &path, Some(json!([certificate_job("c-6")])))
        .await;
    assert_eq!(retry.status, StatusCode::MULTI_STATUS);
    assert_eq!(retry.body["items"][0]["status"], "failed");

    let h = Harness {
        api: AdminApi::new(h.api.adapters.clone()).with_limits(AdminLimits {
            max_batch_items: 1,
            ..AdminLimits::default()
        }),
        ..h
    };
    let too_many = h
        .call(
            Method::POST,
            &path,
            Some(json!([certificate_job("a"), certificate_job("b")])),
        )
        .await;
    assert_eq!(too_many.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// An NDJSON batch is read line by line: a line that is not UTF-8 is refused alone, and a
/// UTF-8 byte order mark (as some editors write) is accepted.
#[tokio::test]
async fn a_batch_line_that_is_not_utf8_fails_alone() {
    let h = harness();
    let (id, _) = h.create().await;
    enable_certificates(&h, &id).await;
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(certificate_job("c-1").to_string().as_bytes());
    body.extend_from_slice(b"\n{\"course_name\": \"Br\xFCcke\"}\n");
    body.extend_from_slice(certificate_job("c-3").to_string().as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/integrations/{id}/certificates/batch"))
        .header("content-type", "application/x-ndjson")
        .body(Bytes::from(body))
        .expect("a valid test request");
    let caller = Caller::new(TENANT, None);
    let response = h.api.handle(request, Some(caller)).await;
    assert_eq!(response.status(), StatusCode::MULTI_STATUS);
    let report: Value = serde_json::from_slice(response.body()).expect("JSON");
    assert_eq!(
        (report["accepted"].clone(), report["rejected"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(report["items"][1]["item"], 2);
    assert!(
        report["items"][1]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("not UTF-8")),
        "{report}"
    );
}

#[tokio::test]
async fn a_certificate_shows_where_it_stands_without_its_link() {
    let h = harness();
    let (id, _) = h.create().await;
    let integration = IntegrationId::new(&id);
    let now = chrono::Utc::now();
    let done = CertificateId("c-done".into());
    let claim = Claim::new(now, chrono::Duration::minutes(5));
    h.store
        .claim_certificate(&integration, &done, &claim)
        .await
        .expect("claimed");
    h.store
        .complete_certificate(&integration, &done, &claim.token, "doc-77", now)
        .await
        .expect("completed");
    let mut job = certificate_job("c-parked");
    job["integration_id"] = json!(id);
    h.store
        .park_certificate(
            &integration,
            &CertificateId("c-parked".into()),
            &Parking::new(
                job,
                "LMS user u-1 is not linked to a Personio employee yet",
                now,
            ),
        )
        .await
        .expect("parked");

    let answer = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/certificates/c-done"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["state"], "done");
    assert_eq!(answer.body["document_id"], "doc-77");
    let parked = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/certificates/c-parked"),
            None,
        )
        .await;
    assert_eq!(parked.body["state"], "parked");
    assert_eq!(parked.body["waiting_for_lms_user"], "u-1");
    assert_eq!(
        parked.body["reason"],
        "LMS user u-1 is not linked to a Personio employee yet"
    );
    assert_eq!(parked.body["lms_user_id"], "u-1");
    assert!(parked.body["course_name"].is_string(), "{}", parked.text);
    let since: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(parked.body["parked_since"].clone()).expect("a timestamp");
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(parked.body["expires_at"].clone()).expect("a timestamp");
    assert_eq!(until - since, chrono::Duration::days(30));
    assert!(!parked.text.contains("sig-s3cret"));
    let missing = h
        .call(
            Method::GET,
            &format!("/integrations/{id}/certificates/none"),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_ledger_is_listed_a_page_at_a_time_by_state() {
    let h = harness();
    let (id, _) = h.create().await;
    let integration = IntegrationId::new(&id);
    let now = chrono::Utc::now();
    for n in 1..=5 {
        let certificate = CertificateId(format!("c/{n}"));
        let claim = crate::domain::certificate::Claim::new(now, chrono::Duration::minutes(5));
        h.store
            .claim_certificate(&integration, &certificate, &claim)
            .await
            .expect("claimed");
        if n % 2 == 1 {
            h.store
                .complete_certificate(
                    &integration,
                    &certificate,
                    &claim.token,
                    &format!("doc-{n}"),
                    now,
                )
                .await
                .expect("completed");
        }
    }
    let h = &h;
    let list = |query: &str| {
        let path = format!("/integrations/{id}/certificates{query}");
        async move { h.call(Method::GET, &path, None).await }
    };
    let first = list("?limit=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let ids = |answer: &Answer| -> Vec<String> {
        answer.body["certificates"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|entry| {
                entry["certificate_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(ids(&first), ["c/1", "c/2"]);
    assert_eq!(first.body["next_after"], "c/2");
    let second = list("?limit=2&after=c%2F2").await;
    assert_eq!(ids(&second), ["c/3", "c/4"]);
    let last = list("?limit=2&after=c%2F4").await;
    assert_eq!(ids(&last), ["c/5"]);
    assert!(last.body.get("next_after").is_none());
    let done = list("?state=done").await;
    assert_eq!(ids(&done), ["c/1", "c/3", "c/5"]);
    assert_eq!(done.body["certificates"][0]["document_id"], "doc-1");
    for bad in ["?state=lost", "?limit=0", "?limit=201", "?after=%zz"] {
        let refused = list(bad).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let other = h
        .call_as(
            Some("tenant-b"),
            Method::GET,
            &format!("/integrations/{id}/certificates"),
            &[],
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_default_settings_are_every_setting_but_the_selection() {
    let h = harness();
    let answer = h.call(Method::GET, "/settings/defaults", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["selection"]["attribute"], "");
    assert_eq!(answer.body["apply_concurrency"], 8);
    assert_eq!(answer.body["certificates"]["enabled"], false);
    let anonymous = h
        .call_as(None, Method::GET, "/settings/defaults", &[], None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// An integration store that is down.
struct UnavailableIntegrations;

#[async_trait::async_trait]
impl IntegrationStore for UnavailableIntegrations {
    async fn integration(
        &self,
        _: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, crate::ports::StoreError> {
        Err(down())
    }

    async fn integrations_of_tenant(
        &self,
        _: &str,
    ) -> Result<Vec<IntegrationRecord>, crate::ports::StoreError> {
        Err(down())
    }

    async fn put_integration(
        &self,
        _: &IntegrationRecord,
        _: Option<u64>,
    ) -> Result<(), crate::ports::StoreError> {
        Err(down())
    }

    async fn delete_integration(
        &self,
        _: &IntegrationId,
        _: u64,
    ) -> Result<(), crate::ports::StoreError> {
        Err(down())
    }

    async fn due_integrations(
        &self,
        _: chrono::DateTime<chrono::Utc>,
        _: usize,
    ) -> Result<Vec<IntegrationRecord>, crate::ports::StoreError> {
        Err(down())
    }

    async fn claim_due_run(
        &self,
        _: &IntegrationId,
        _: chrono::DateTime<chrono::Utc>,
        _: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<bool, crate::ports::StoreError> {
        Err(down())
    }
}

fn down() -> crate::ports::StoreError {
    crate::ports::StoreError::Unavailable("throttled".into())
}

#[tokio::test]
async fn a_create_the_store_refuses_leaves_no_credentials_behind() {
    let h = harness();
    let mut adapters = h.api.adapters.clone();
    adapters.integrations = Arc::new(UnavailableIntegrations);
    let h = Harness {
        api: AdminApi::new(adapters),
        ..h
    };
    let answer = h
        .call(Method::POST, "/integrations", Some(create_body()))
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["type"], "urn:personio-lms:problem:unavailable");
    let list = h.call(Method::GET, "/integrations", None).await;
    assert_eq!(list.status, StatusCode::SERVICE_UNAVAILABLE);
    // The store is down, so the created id is unknown: no credentials may be left at all.
    let stored = h.credentials.stored_count();
    assert_eq!(stored, 0);
}
