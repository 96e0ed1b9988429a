//! The admin API end to end, through the Lambda function's handler with the sample API Gateway
//! HTTP API events from `events/`: state in DynamoDB Local, secrets and queues in moto, the
//! Personio sandbox and the independent SCIM server as the remote systems. From creating an
//! integration to reading its run, and no secret in any answer or stored item on the way.

use crate::lambda_support::{LambdaEnv, SCIM_TOKEN, lambda_env, sample, start_scim};
use admin_api::{Host, HostConfig};
use common::admin::AdminApi;
use common::app::ConnectPolicy;
use common::aws::host::IntegrationsConfig;
use common::domain::settings::IntegrationSettings;
use integration_tests::ServerGuard;
use integration_tests::venv_tool;
use lambda_http::Body;
use personio_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use serde_json::{Value, json};

const TENANT_CLAIM: &str = "tenant_id";

struct World {
    host: Host,
    env: LambdaEnv,
    sync_queue_url: String,
    certificate_queue_url: String,
    sandbox: RunningSandbox,
    /// Keeps the SCIM server running for the test.
    _scim: ServerGuard,
    scim_url: String,
    /// Events sent so far.
    sent: std::sync::atomic::AtomicUsize,
}

/// Everything started and wired, or `None` when a local server is not installed (and external
/// tests are optional).
async fn world() -> Option<World> {
    let env = lambda_env().await?;
    let (scim, scim_url) = start_scim()?;
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_employees(12)
            .with_seed(5)
            .without_rate_limits(),
    )
    .await
    .expect("the sandbox starts");
    let (sync_queue_url, _) = env.queue_with_dlq("admin-sync", false, 3).await;
    let (certificate_queue_url, _) = env.queue_with_dlq("admin-cert", true, 5).await;
    let config = HostConfig {
        integrations: IntegrationsConfig {
            table_name: env.table_name.clone(),
            secret_prefix: env.secret_prefix.clone(),
            run_retention_days: Some(30),
        },
        sync_queue_url: sync_queue_url.clone(),
        certificate_queue_url: certificate_queue_url.clone(),
        tenant_claim: TENANT_CLAIM.into(),
        console: console_sign_in(),
        audit_retention_days: Some(400),
        ses_from_address: "lms-sync@acme.example".into(),
        webhook_public_url: None,
    };
    // The sandbox and the SCIM server listen on plain http on loopback.
    let adapters = config.adapters(&env.services, ConnectPolicy::LOCAL);
    Some(World {
        host: Host::new(
            AdminApi::new(adapters).with_limits(config.limits()),
            TENANT_CLAIM,
            console_sign_in(),
        ),
        env,
        sync_queue_url,
        certificate_queue_url,
        sandbox,
        _scim: scim,
        scim_url,
        sent: Default::default(),
    })
}

fn set_path(event: &mut Value, path: &str) {
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"] = json!({"proxy": path.trim_start_matches('/')});
}

struct Answer {
    status: u16,
    body: Value,
    text: String,
    /// The `X-Request-Id` of the answer.
    request_id: String,
}

impl World {
    /// Sends an event, each with a request id of its own (the samples share one).
    async fn send(&self, mut event: Value) -> Answer {
        let sent = self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        event["requestContext"]["requestId"] = json!(format!("apigw-request-{sent}"));
        let request = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
        let response = self
            .host
            .handle(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            request_id,
            format!("apigw-request-{sent}"),
            "API Gateway's request id is answered"
        );
        let text = match response.into_body() {
            Body::Text(text) => text,
            Body::Empty => String::new(),
            other => panic!("unexpected body {other:?}"),
        };
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON answer")
        };
        Answer {
            status,
            body,
            text,
            request_id,
        }
    }

    /// A sample event aimed at the integration `id` (the samples name a made-up one).
    async fn send_for(&self, name: &str, id: &str, edit: impl FnOnce(&mut Value)) -> Answer {
        let mut event = sample(name);
        let sample_path = event["rawPath"].as_str().unwrap_or_default().to_owned();
        let sample_id = sample_path.split('/').nth(2).unwrap_or_default().to_owned();
        set_path(&mut event, &sample_path.replace(&sample_id, id));
        edit(&mut event);
        self.send(event).await
    }

    /// How many users the SCIM server holds.
    async fn scim_users(&self) -> u64 {
        let users: Value = reqwest::Client::new()
            .get(format!("{}/Users", self.scim_url))
            .bearer_auth(SCIM_TOKEN)
            .send()
            .await
            .expect("the SCIM server answers")
            .json()
            .await
            .expect("a list response");
        users["totalResults"].as_u64().expect("a count")
    }

    /// The bodies of the messages on a queue now.
    async fn receive(&self, queue_url: &str) -> Vec<Value> {
        self.env
            .receive(queue_url, 30)
            .await
            .iter()
            .filter_map(|message| message.body())
            .map(|body| serde_json::from_str(body).expect("a JSON message"))
            .collect()
    }

    fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.env.services.secrets_manager)
    }

    /// Every item of the table, as text.
    async fn table_dump(&self) -> String {
        let items = aws_sdk_dynamodb::Client::new(&self.env.services.dynamodb)
            .scan()
            .table_name(&self.env.table_name)
            .send()
            .await
            .expect("scan");
        format!("{:?}", items.items())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_flow_from_creating_an_integration_to_reading_its_run() {
    let Some(world) = world().await else { return };
    let (client_id, client_secret) = world.sandbox.default_credential();
    let rotated_secret = "rotated-personio-s3cret";
    let secrets = [client_secret.as_str(), SCIM_TOKEN, rotated_secret];
    // The request id of each state-changing request, in order, for the audit trail.
    let mut recorded: Vec<(&str, u16, String)> = Vec::new();
    let mut answers = Vec::new();

    let contract = world.send(sample("admin-openapi.json")).await;
    assert_eq!(contract.status, 200);
    assert_eq!(contract.body["openapi"], "3.1.0");

    let mut create = sample("admin-create-integration.json");
    let mut body: Value =
        serde_json::from_str(create["body"].as_str().expect("a body")).expect("JSON body");
    body["personio"]["base_url"] = json!(world.sandbox.base_url());
    body["personio"]["client_id"] = json!(client_id);
    body["personio"]["client_secret"] = json!(client_secret);
    body["lms"]["scim_base_url"] = json!(world.scim_url);
    body["lms"]["token"] = json!(SCIM_TOKEN);
    create["body"] = json!(body.to_string());
    let created = world.send(create).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    assert_eq!(created.body["tenant_id"], "tenant-acme");
    recorded.push(("create", 201, created.request_id.clone()));

    // The secrets went to Secrets Manager, and only there.
    let secret_ref = created.body["secret_ref"]
        .as_str()
        .expect("a secret ref")
        .to_owned();
    let stored_secret = world
        .secrets()
        .get_secret_value()
        .secret_id(&secret_ref)
        .send()
        .await
        .expect("the secret exists");
    assert!(
        stored_secret
            .secret_string()
            .is_some_and(|text| text.contains(&client_secret))
    );
    let table = world.table_dump().await;
    assert!(table.contains(&id), "the record is in the table");
    for secret in secrets {
        assert!(!table.contains(secret), "a secret in the table");
    }
    answers.push(created);

    let check = world.send_for("admin-check.json", &id, |_| {}).await;
    assert_eq!(check.status, 200, "{}", check.text);
    assert_eq!(check.body["passed"], true, "{}", check.text);
    let selected = check.body["employees_selected"].as_u64().expect("a count");
    assert!(selected > 0, "{}", check.text);
    answers.push(check);

    let plan = world.send_for("admin-plan.json", &id, |_| {}).await;
    assert_eq!(plan.status, 200, "{}", plan.text);
    assert_eq!(plan.body["dry_run"], true);
    // Leavers among the selected get no account (their account would start locked).
    let counts = &plan.body["counts"];
    assert_eq!(
        counts["created"]
            .as_u64()
            .zip(counts["not_created"].as_u64())
            .map(|(c, n)| c + n),
        Some(selected)
    );
    assert_eq!(world.scim_users().await, 0, "a plan creates no LMS user");
    let run_id = plan.body["run_id"].as_str().expect("a run id").to_owned();

    let runs = world.send_for("admin-list-runs.json", &id, |_| {}).await;
    assert_eq!(runs.status, 200, "{}", runs.text);
    assert_eq!(runs.body["runs"][0]["run_id"], run_id.as_str());
    let run = world
        .send_for("admin-get-run.json", &id, |event| {
            let path = format!("/integrations/{id}/runs/{run_id}");
            set_path(event, &path);
        })
        .await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(run.body["outcomes"], plan.body["outcomes"]);
    answers.extend([plan, runs, run]);

    // Provision on demand: one employee, synced now, nobody else.
    let employee =
        crate::sync_harness::onboarded(&world.sandbox, &IntegrationSettings::new("LMS Sync"))
            .into_iter()
            .next()
            .expect("an employee who gets an account");
    let synced = world
        .send_for("admin-sync-employee.json", &id, |event| {
            let path = format!("/integrations/{id}/employees/{}/sync", employee.id());
            set_path(event, &path);
        })
        .await;
    assert_eq!(synced.status, 200, "{}", synced.text);
    assert_eq!(synced.body["kind"], "targeted");
    assert_eq!(synced.body["counts"]["created"], 1, "{}", synced.text);
    assert_eq!(synced.body["outcomes"][0]["personio_id"], employee.id());
    assert_eq!(world.scim_users().await, 1, "just the one employee");
    recorded.push(("sync_employee", 200, synced.request_id.clone()));
    answers.push(synced);

    let sync = world.send_for("admin-sync-now.json", &id, |_| {}).await;
    assert_eq!(sync.status, 202, "{}", sync.text);
    recorded.push(("sync_now", 202, sync.request_id.clone()));
    let jobs = world.receive(&world.sync_queue_url).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["integration_id"], id.as_str());
    assert_eq!(jobs[0]["trigger"], "manual");

    // A reconcile run on demand: queued like "sync now", recorded as its own action.
    let reconcile_path = format!("/integrations/{id}/reconcile");
    let reconcile = world
        .send_for("admin-sync-now.json", &id, |event| {
            set_path(event, &reconcile_path)
        })
        .await;
    assert_eq!(reconcile.status, 202, "{}", reconcile.text);
    assert_eq!(reconcile.body["kind"], "reconcile", "{}", reconcile.text);
    recorded.push(("reconcile", 202, reconcile.request_id.clone()));
    let jobs = world.receive(&world.sync_queue_url).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["kind"], "reconcile");

    let updated = world
        .send_for("admin-update-integration.json", &id, |_| {})
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["version"], 2);
    assert_eq!(updated.body["schedule"], "manual");
    let stale = world
        .send_for("admin-update-integration.json", &id, |_| {})
        .await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    recorded.push(("update", 200, updated.request_id.clone()));
    recorded.push(("update", 412, stale.request_id.clone()));
    answers.push(updated);

    // A credential rotation: the connection as it was, a new secret.
    let base_url = world.sandbox.base_url();
    let rotation = world
        .send_for("admin-update-integration.json", &id, |event| {
            event["headers"]["if-match"] = json!("\"2\"");
            event["body"] =
                json!(json!({"personio": {
                "base_url": base_url, "client_id": client_id, "client_secret": rotated_secret
            }}).to_string());
        })
        .await;
    assert_eq!(rotation.status, 200, "{}", rotation.text);
    recorded.push(("rotate_credentials", 200, rotation.request_id.clone()));
    answers.push(rotation);

    let submitted = world
        .send_for("admin-submit-certificate.json", &id, |_| {})
        .await;
    assert_eq!(submitted.status, 202, "{}", submitted.text);
    let batch = world
        .send_for("admin-certificate-batch.json", &id, |_| {})
        .await;
    assert_eq!(batch.status, 207, "{}", batch.text);
    assert_eq!(batch.body["accepted"], 1);
    recorded.push(("submit_certificate", 202, submitted.request_id.clone()));
    recorded.push(("submit_certificate_batch", 207, batch.request_id.clone()));
    assert_eq!(batch.body["items"][1]["field"], "completed_on");
    let queued = world.receive(&world.certificate_queue_url).await;
    let mut certificates: Vec<&str> = queued
        .iter()
        .filter_map(|job| job["certificate_id"].as_str())
        .collect();
    certificates.sort_unstable();
    assert_eq!(certificates, ["cert-1", "cert-4711"]);
    assert!(
        queued
            .iter()
            .all(|job| job["integration_id"] == id.as_str())
    );
    let certificate = world
        .send_for("admin-get-certificate.json", &id, |_| {})
        .await;
    assert_eq!(
        certificate.status, 404,
        "not pushed yet: {}",
        certificate.text
    );

    // Another tenant sees nothing, not even that the integration exists.
    let foreign = world
        .send_for("admin-get-run.json", &id, |event| {
            set_path(event, &format!("/integrations/{id}"));
            event["requestContext"]["authorizer"]["jwt"]["claims"][TENANT_CLAIM] =
                json!("tenant-other");
        })
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);
    let list = world.send(sample("admin-list-integrations.json")).await;
    assert_eq!(list.body["integrations"][0]["id"], id.as_str());
    answers.push(list);

    let read = world
        .send_for("admin-get-integration.json", &id, |_| {})
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    answers.push(read);
    let deleted = world
        .send_for("admin-delete-integration.json", &id, |event| {
            event["headers"]["if-match"] = json!("\"3\"");
        })
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    recorded.push(("delete", 204, deleted.request_id.clone()));
    let gone = world
        .send_for("admin-get-integration.json", &id, |_| {})
        .await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    let secret = world
        .secrets()
        .describe_secret()
        .secret_id(&secret_ref)
        .send()
        .await
        .expect("a secret pending deletion can still be described");
    assert!(
        secret.deleted_date().is_some(),
        "the secret is scheduled for deletion"
    );

    // The audit trail in DynamoDB: every state-changing request, newest first, with the
    // caller's subject and API Gateway's request id; readable by its tenant after the delete.
    let audit_path = format!("/integrations/{id}/audit");
    let audit = world
        .send_for("admin-list-runs.json", &id, |event| {
            set_path(event, &audit_path);
            event["rawQueryString"] = json!("limit=100");
            event["queryStringParameters"] = json!({"limit": "100"});
        })
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let entries = audit.body["entries"].as_array().expect("entries");
    let trail: Vec<(&str, u16, String)> = entries
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default(),
                entry["outcome"]["status"].as_u64().unwrap_or_default() as u16,
                entry["request_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    recorded.reverse();
    assert_eq!(trail, recorded);
    for entry in entries {
        assert_eq!(entry["subject"], "user-7f3a");
        assert_eq!(entry["tenant_id"], "tenant-acme");
        assert!(entry["expires_at"].is_string(), "{entry}");
    }
    let rotation_entry = &entries[3];
    assert_eq!(
        rotation_entry["fields"],
        json!(["personio.client_id", "personio.client_secret"])
    );
    // Two entries at a time, following the cursor, gives the same trail.
    let mut paged = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = world
            .send_for("admin-list-runs.json", &id, |event| {
                set_path(event, &audit_path);
                event["rawQueryString"] = json!(query);
                let parameters: serde_json::Map<String, Value> = query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(key, value)| (key.to_owned(), json!(value)))
                    .collect();
                event["queryStringParameters"] = Value::Object(parameters);
            })
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        paged.extend(page.body["entries"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(&paged, entries);
    let foreign_audit = world
        .send_for("admin-list-runs.json", &id, |event| {
            set_path(event, &audit_path);
            event["requestContext"]["authorizer"]["jwt"]["claims"][TENANT_CLAIM] =
                json!("tenant-other");
        })
        .await;
    assert_eq!(foreign_audit.status, 404, "{}", foreign_audit.text);

    // No secret anywhere: not in the table (records, runs, audit entries), not in any answer.
    let table = world.table_dump().await;
    assert!(table.contains("AUDIT#"), "the trail is in the table");
    for secret in secrets {
        assert!(!table.contains(secret), "a secret in the table");
    }
    answers.push(audit);
    for answer in &answers {
        for secret in secrets {
            assert!(!answer.text.contains(secret), "a secret in {}", answer.text);
        }
    }
}

/// The document is valid OpenAPI 3.1 by an independent validator (the unit tests check that it
/// matches the routes and the responses).
#[test]
fn the_openapi_document_is_valid_openapi() {
    let Some(validator) = venv_tool("openapi-spec-validator") else {
        return;
    };
    let output = std::process::Command::new(validator)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../common/src/admin/openapi.json"
        ))
        .output()
        .expect("the validator runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The console's sign-in as a deployed stack configures it (a Cognito user pool).
fn console_sign_in() -> common::admin::console::ConsoleAuth {
    common::admin::console::ConsoleAuth::Oidc(common::admin::console::OidcSettings {
        issuer: "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_example".into(),
        client_id: "console".into(),
        authorization_endpoint: None,
        token_endpoint: None,
        logout_endpoint: None,
        scopes: "openid email profile".into(),
    })
}
