//! Webhooks end to end over HTTP: the sandbox delivers Personio events to the receiver (the app
//! layer's `WebhookReceiver` behind an HTTP route, as the hosts serve it), the receiver queues
//! sync jobs, a worker takes them in batches (`SyncJobHandler::handle_batch`, as employee-sync
//! takes the webhook queue's batches) and the LMS changes. Also: coalescing, an event during a
//! full run, dropped events recovered by a delta run, a deletion recovered by the full run, the
//! receiver's refusals and its answer time with a slow LMS.

use crate::sync_harness::{personio_client, selected, settings};
use axum::body::Bytes;
use chrono::Utc;
use common::app::{
    ConnectPolicy, FixedConnector, IntegrationAdapters, MessageResult, SyncJobHandler,
    WebhookReceiver, install_webhook, remove_webhook, webhook_status,
};
use common::certificates::{FetchLimits, PdfFetcher};
use common::domain::IntegrationId;
use common::domain::employee::PersonioId;
use common::domain::job::SyncJob;
use common::domain::run::{RunKind, RunRecord, Trigger};
use common::lms::memory::MemoryLms;
use common::notify::MemoryNotifier;
use common::personio::PersonioClient;
use common::ports::{IntegrationStore, LeaseStore, MemoryWebhookTokens, RunStore};
use common::retry::Deadline;
use common::store::MemoryStore;
use common::store::contract::integration_record;
use integration_tests::webhooks::{ChannelQueue, serve_receiver};
use personio_sandbox::{
    DeliveryPolicy, LMS_SYNC_KEY, RunningSandbox, Sandbox, SandboxConfig, WebhookFaults,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const INTEGRATION: &str = "acme";

struct Flow {
    sandbox: RunningSandbox,
    store: MemoryStore,
    lms: Arc<MemoryLms>,
    queue: Arc<ChannelQueue>,
    tokens: MemoryWebhookTokens,
    handler: SyncJobHandler,
    personio: Arc<PersonioClient>,
    public_url: String,
    receiver_task: tokio::task::JoinHandle<()>,
}

async fn flow(employees: usize) -> Flow {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .with_seed(14)
            .with_employees(employees)
            .without_rate_limits()
            .with_http_webhooks()
            .with_webhook_delivery(DeliveryPolicy::compressed(Duration::from_millis(50))),
    )
    .await
    .expect("sandbox starts");
    let store = MemoryStore::new();
    let mut record = integration_record(INTEGRATION, "tenant", None, 1);
    record.settings = settings();
    store.put_integration(&record, None).await.expect("stored");
    let lms = Arc::new(MemoryLms::new());
    let queue = Arc::new(ChannelQueue::default());
    let tokens = MemoryWebhookTokens::new();
    let personio = personio_client(&sandbox, sandbox.default_credential());
    let handler = SyncJobHandler::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(FixedConnector::new(
            IntegrationAdapters {
                hr: personio.clone(),
                lms: lms.clone(),
            },
            ConnectPolicy::LOCAL,
        )),
        Arc::new(MemoryNotifier::new()),
        PdfFetcher::new(FetchLimits::default(), common::net::NetworkPolicy::LOCAL)
            .expect("fetcher"),
    );
    let receiver = Arc::new(WebhookReceiver::new(
        Arc::new(store.clone()),
        Arc::new(tokens.clone()),
        queue.clone(),
    ));
    let (public_url, receiver_task) = serve_receiver(receiver).await.expect("the receiver");
    Flow {
        sandbox,
        store,
        lms,
        queue,
        tokens,
        handler,
        personio,
        public_url,
        receiver_task,
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

fn acme() -> IntegrationId {
    IntegrationId::new(INTEGRATION)
}

impl Flow {
    async fn install(&self) {
        install_webhook(
            self.personio.as_ref(),
            &self.tokens,
            &acme(),
            &self.public_url,
            deadline(),
        )
        .await
        .expect("installed");
    }

    /// A scheduled-style job, run now.
    async fn run_job(&self, delta: bool) -> RunRecord {
        let job = SyncJob {
            integration_id: acme(),
            trigger: Trigger::Schedule,
            dry_run: false,
            kind: RunKind::Full,
            requested_at: Utc::now(),
            employees: Vec::new(),
            delta,
        };
        let done = self
            .handler
            .handle_job(job, deadline(), "test-worker")
            .await
            .expect("the job runs");
        self.newest_run_of(done).await
    }

    async fn newest_run_of(&self, done: common::app::SyncJobDone) -> RunRecord {
        let common::app::SyncJobDone::Ran { run_id, .. } = done else {
            panic!("expected a run, got {done:?}");
        };
        self.store
            .run(&acme(), &run_id)
            .await
            .expect("read")
            .expect("recorded")
    }

    /// Waits until the queue holds `count` messages (deliveries are asynchronous).
    async fn queued(&self, count: usize) {
        let started = Instant::now();
        while self.queue.len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} of {count} jobs queued",
                self.queue.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One worker pass: every queued message as one batch; retried ones go back.
    async fn work(&self) -> Vec<MessageResult> {
        let messages = self.queue.take_all();
        let results = self
            .handler
            .handle_batch(&messages, deadline(), "test-worker")
            .await;
        for result in &results {
            if result.retry {
                let message = messages
                    .iter()
                    .find(|message| message.message_id == result.message_id)
                    .expect("a message of the batch");
                self.queue.push(message.body.clone());
            }
        }
        results
    }

    fn lms_user(&self, employee: u64) -> Option<common::lms::memory::MemoryLmsUser> {
        self.lms
            .users()
            .into_iter()
            .find(|user| user.profile.external_id == employee.to_string())
    }

    async fn runs(&self) -> Vec<RunRecord> {
        self.store.runs(&acme(), 100).await.expect("runs")
    }
}

/// An unselected employee that gets an account when selected: active, with an email.
fn unselected_active(sandbox: &RunningSandbox) -> Vec<u64> {
    let chosen = settings();
    let selected: Vec<u64> = selected(sandbox, &chosen)
        .iter()
        .map(|employee| employee.id())
        .collect();
    sandbox
        .employees()
        .into_iter()
        .filter(|employee| !selected.contains(&employee.id()))
        .filter(|employee| employee.text("status") == Some("active"))
        .filter(|employee| {
            employee
                .text("email")
                .is_some_and(|email| email.contains('@'))
        })
        .map(|employee| employee.id())
        .collect()
}

#[tokio::test]
async fn a_webhook_event_becomes_a_targeted_run_that_changes_the_lms() {
    let flow = flow(40).await;
    flow.install().await;
    let status = webhook_status(
        flow.personio.as_ref(),
        &flow.tokens,
        &acme(),
        &flow.public_url,
        Utc::now() - chrono::Duration::minutes(1),
        deadline(),
    )
    .await
    .expect("status");
    assert!(status.is_active(), "{status:?}");

    let employee = unselected_active(&flow.sandbox)[0];
    let changed = Instant::now();
    flow.sandbox
        .set_attribute(employee, LMS_SYNC_KEY, "yes")
        .expect("selected");
    flow.queued(1).await;
    let results = flow.work().await;
    let delay = changed.elapsed();
    assert!(
        results.iter().all(|result| result.result.is_ok()),
        "{results:?}"
    );
    let user = flow
        .lms_user(employee)
        .expect("the employee has an account");
    assert!(user.active);
    let runs = flow.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].trigger, runs[0].kind, runs[0].targets.clone()),
        (
            Trigger::Webhook,
            RunKind::Targeted,
            vec![PersonioId(employee as i64)]
        )
    );
    assert!(delay < Duration::from_secs(5), "{delay:?}");

    // Deselection: the event deactivates just that account.
    flow.sandbox
        .set_attribute(employee, LMS_SYNC_KEY, "no")
        .expect("deselected");
    flow.queued(1).await;
    flow.work().await;
    assert!(!flow.lms_user(employee).expect("still there").active);

    // The deliveries show in the status; removing the webhook stops them.
    let status = webhook_status(
        flow.personio.as_ref(),
        &flow.tokens,
        &acme(),
        &flow.public_url,
        Utc::now() - chrono::Duration::minutes(1),
        deadline(),
    )
    .await
    .expect("status");
    assert!(status.delivered >= 2 && status.failed == 0, "{status:?}");
    assert!(
        remove_webhook(
            flow.personio.as_ref(),
            &flow.tokens,
            &acme(),
            &flow.public_url,
            deadline()
        )
        .await
        .expect("removed")
    );
    flow.sandbox
        .set_attribute(employee, LMS_SYNC_KEY, "yes")
        .expect("selected");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(flow.queue.len(), 0, "no webhook, no event");
    flow.receiver_task.abort();
    flow.sandbox.shutdown().await;
}

#[tokio::test]
async fn events_close_together_are_coalesced_into_one_run() {
    let flow = flow(40).await;
    flow.install().await;
    let candidates = unselected_active(&flow.sandbox);
    let (first, second) = (candidates[0], candidates[1]);
    // A hire-like burst: several changes of one employee, one of another.
    flow.sandbox
        .set_attribute(first, LMS_SYNC_KEY, "yes")
        .unwrap();
    flow.sandbox
        .set_attribute(first, "last_name", "Nachname")
        .unwrap();
    flow.sandbox
        .set_attribute(first, "position", "Trainer")
        .unwrap();
    flow.sandbox
        .set_attribute(second, LMS_SYNC_KEY, "yes")
        .unwrap();
    flow.queued(4).await;
    let results = flow.work().await;
    assert_eq!(results.len(), 4);
    let runs = flow.runs().await;
    assert_eq!(runs.len(), 1, "four events, one run");
    assert_eq!(runs[0].targets, {
        let mut ids = vec![PersonioId(first as i64), PersonioId(second as i64)];
        ids.sort();
        ids
    });
    assert_eq!(runs[0].counts.created, 2);
    assert_eq!(
        flow.lms_user(first)
            .expect("created")
            .profile
            .last_name
            .as_deref(),
        Some("Nachname")
    );
    flow.receiver_task.abort();
    flow.sandbox.shutdown().await;
}

#[tokio::test]
async fn an_event_during_a_full_run_is_retried_after_it_and_not_lost() {
    let flow = flow(250).await;
    flow.install().await;
    let employee = unselected_active(&flow.sandbox)[0];
    // A full run that stops between its first and second page.
    let hold = flow.sandbox.hold_employee_listing_after(1);
    let full = {
        let handler = &flow.handler;
        async move {
            handler
                .handle_job(
                    SyncJob {
                        integration_id: acme(),
                        trigger: Trigger::Schedule,
                        dry_run: false,
                        kind: RunKind::Full,
                        requested_at: Utc::now(),
                        employees: Vec::new(),
                        delta: false,
                    },
                    deadline(),
                    "full-run",
                )
                .await
        }
    };
    let during = async {
        hold.wait_until_held().await;
        flow.sandbox
            .set_attribute(employee, LMS_SYNC_KEY, "yes")
            .expect("selected");
        flow.queued(1).await;
        let results = flow.work().await;
        assert_eq!(results.len(), 1);
        assert!(
            results[0].retry,
            "held by the full run: delivered again, {results:?}"
        );
        assert!(
            results[0]
                .result
                .as_ref()
                .is_err_and(|error| error.contains("is syncing")),
            "{results:?}"
        );
        hold.release();
    };
    let (full, ()) = tokio::join!(full, during);
    full.expect("the full run ran");
    assert_eq!(flow.queue.len(), 1, "the event's job is back on the queue");
    let results = flow.work().await;
    assert!(
        results
            .iter()
            .all(|result| !result.retry && result.result.is_ok()),
        "{results:?}"
    );
    assert!(
        flow.lms_user(employee)
            .expect("synced after the full run")
            .active
    );
    assert_eq!(
        flow.store.lease(&acme()).await.expect("lease"),
        None,
        "both runs released the lease"
    );
    flow.receiver_task.abort();
    flow.sandbox.shutdown().await;
}

#[tokio::test]
async fn dropped_events_are_recovered_by_the_next_delta_run_and_a_deletion_by_the_full_run() {
    let flow = flow(60).await;
    flow.install().await;
    let first = flow.run_job(true).await;
    assert_eq!(first.kind, RunKind::Full, "no run to start a delta from");
    let accounts = flow.lms.users().len();
    assert!(accounts > 0);

    // Personio loses every event from now on.
    flow.sandbox
        .set_webhook_faults(WebhookFaults {
            drop_share: 1.0,
            seed: 3,
            ..WebhookFaults::none()
        })
        .expect("faults");
    let newcomer = unselected_active(&flow.sandbox)[0];
    flow.sandbox
        .set_attribute(newcomer, LMS_SYNC_KEY, "yes")
        .expect("selected");
    let gone = selected(&flow.sandbox, &settings())
        .into_iter()
        .find(|employee| flow.lms_user(employee.id()).is_some_and(|user| user.active))
        .expect("a synced employee")
        .id();
    flow.sandbox.remove_employee(gone).expect("deleted");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(flow.queue.len(), 0, "the events were dropped");

    let delta = flow.run_job(true).await;
    assert_eq!(delta.kind, RunKind::Delta);
    assert!(flow.lms_user(newcomer).expect("found by the delta").active);
    assert!(
        flow.lms_user(gone).expect("still there").active,
        "a delta never deactivates whom it does not list"
    );
    assert_eq!(delta.counts.deactivated, 0);

    let full = flow.run_job(false).await;
    assert_eq!(full.kind, RunKind::Full);
    assert!(!flow.lms_user(gone).expect("kept, deactivated").active);
    assert_eq!(full.counts.deactivated, 1);
    flow.receiver_task.abort();
    flow.sandbox.shutdown().await;
}

#[tokio::test]
async fn the_receiver_refuses_bad_tokens_unknown_integrations_and_bad_bodies_over_http() {
    let flow = flow(5).await;
    flow.install().await;
    let http = reqwest::Client::new();
    let url = |integration: &str| format!("{}/webhooks/personio/{integration}", flow.public_url);
    let event = r#"{"event_name":"person.updated","payload":{"id":"10001"}}"#;
    let status = |response: reqwest::Response| response.status().as_u16();
    let sent = http
        .post(url(INTEGRATION))
        .header("authorization", "wrong")
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 401);
    let sent = http
        .post(url(INTEGRATION))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 401);
    let token = common::ports::WebhookTokens::webhook_token(&flow.tokens, &acme())
        .await
        .unwrap()
        .expect("installed");
    let sent = http
        .post(url("globex"))
        .header("authorization", token.expose())
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 404);
    let sent = http
        .post(url(INTEGRATION))
        .header("authorization", token.expose())
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 400);
    assert_eq!(flow.queue.len(), 0);
    let sent = http
        .post(url(INTEGRATION))
        .header("authorization", token.expose())
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 202);
    assert_eq!(flow.queue.len(), 1);
    flow.receiver_task.abort();
    flow.sandbox.shutdown().await;
}

#[tokio::test]
async fn the_receiver_answers_within_three_seconds_while_a_slow_lms_syncs() {
    let flow = flow(40).await;
    flow.install().await;
    flow.lms.set_latency(Duration::from_millis(400));
    let candidates = unselected_active(&flow.sandbox);
    flow.sandbox
        .set_attribute(candidates[0], LMS_SYNC_KEY, "yes")
        .unwrap();
    flow.queued(1).await;
    // The worker syncs with a slow LMS while Personio delivers more events.
    let worker = flow.work();
    let deliveries = async {
        for employee in &candidates[1..4] {
            flow.sandbox
                .set_attribute(*employee, LMS_SYNC_KEY, "yes")
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (results, ()) = tokio::join!(worker, deliveries);
    assert!(results.iter().all(|result| result.result.is_ok()));
    flow.queued(3).await;
    let status = webhook_status(
        flow.personio.as_ref(),
        &flow.tokens,
        &acme(),
        &flow.public_url,
        Utc::now() - chrono::Duration::minutes(1),
        deadline(),
    )
    .await
    .expect("status");
    // Personio's own record of the requests: every one answered 2xx within its 3 s.
    assert_eq!((status.delivered, status.failed), (4, 0), "{status:?}");
    flow.receiver_task.abort();
    flow.sandbox.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_installs_shows_and_removes_the_webhook_without_showing_its_token() {
    use common::admin::testing::{MemoryCredentials, RecordingJobQueue};
    use common::admin::{AdminAdapters, AdminApi, Caller, WebhookHosting};
    use common::ports::{CredentialsStore, IntegrationCredentials};
    use common::secret::Secret;

    let flow = flow(5).await;
    // The integration's record points at the sandbox; its secrets are in the credential store.
    let mut record = flow
        .store
        .integration(&acme())
        .await
        .expect("read")
        .expect("stored");
    record.personio.base_url = Some(flow.sandbox.base_url());
    flow.store
        .put_integration(&record, Some(record.version))
        .await
        .expect("stored");
    let credentials = Arc::new(MemoryCredentials::default());
    let (client_id, client_secret) = flow.sandbox.default_credential();
    credentials
        .put_credentials(
            &acme(),
            &IntegrationCredentials {
                personio_client_id: client_id,
                personio_client_secret: Secret::new(client_secret),
                lms_token: Secret::new("unused"),
                personio_origin: None,
                scim_origin: None,
            },
        )
        .await
        .expect("stored");
    let adapters = |store: &MemoryStore| AdminAdapters {
        integrations: Arc::new(store.clone()),
        state: Arc::new(store.clone()),
        audit: Arc::new(store.clone()),
        credentials: credentials.clone(),
        queue: Arc::new(RecordingJobQueue::default()),
        connector: Arc::new(common::app::CredentialsConnector::new(
            credentials.clone(),
            ConnectPolicy::LOCAL,
        )),
        notifier: Arc::new(MemoryNotifier::new()),
    };
    let api = AdminApi::new(adapters(&flow.store)).with_webhooks(WebhookHosting {
        tokens: Arc::new(flow.tokens.clone()),
        public_url: flow.public_url.clone(),
    });
    let caller = Caller {
        tenant_id: "tenant".into(),
        subject: Some("admin@acme.example".into()),
    };
    let call = |method: &str| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri("/integrations/acme/webhook")
            .body(Bytes::new())
            .expect("request");
        api.handle(request, Some(caller.clone()))
    };
    let body = |response: axum::http::Response<Bytes>| -> (u16, serde_json::Value) {
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body()).unwrap_or_default();
        (status, body)
    };

    let (status, before) = body(call("GET").await);
    assert_eq!(
        (status, &before["active"]),
        (200, &serde_json::json!(false)),
        "{before}"
    );
    let (status, installed) = body(call("PUT").await);
    assert_eq!(status, 200, "{installed}");
    assert_eq!(installed["webhook"]["status"], "ENABLED");
    assert_eq!(installed["replaced"], false);
    let token = common::ports::WebhookTokens::webhook_token(&flow.tokens, &acme())
        .await
        .expect("read")
        .expect("stored");
    assert!(
        !installed.to_string().contains(token.expose()),
        "{installed}"
    );
    // Installing again replaces the token of the same webhook.
    let (_, again) = body(call("PUT").await);
    assert_eq!(
        (again["replaced"].clone(), again["webhook"]["id"].clone()),
        (serde_json::json!(true), installed["webhook"]["id"].clone())
    );
    let (status, shown) = body(call("GET").await);
    assert_eq!(
        (status, &shown["active"]),
        (200, &serde_json::json!(true)),
        "{shown}"
    );
    assert!(!shown.to_string().contains(token.expose()));
    assert_eq!(call("DELETE").await.status().as_u16(), 204);
    assert_eq!(call("DELETE").await.status().as_u16(), 404);
    let (_, after) = body(call("GET").await);
    assert_eq!(after["active"], false);

    // Installing and removing are in the audit trail; reading the status is not.
    let trail = common::ports::AuditLog::audit_entries(
        &flow.store,
        &acme(),
        &common::ports::AuditQuery {
            limit: 50,
            after: None,
            now: Utc::now(),
        },
    )
    .await
    .expect("audit")
    .entries;
    let actions: Vec<String> = trail
        .iter()
        .map(|entry| entry.action.as_str().to_owned())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|action| *action == "install_webhook")
            .count(),
        2,
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|action| action == "remove_webhook"),
        "{actions:?}"
    );
    assert!(
        !trail
            .iter()
            .any(|entry| format!("{entry:?}").contains(token.expose()))
    );

    // A host without a public URL does not offer the routes.
    let without = AdminApi::new(adapters(&flow.store));
    let request = axum::http::Request::builder()
        .method("PUT")
        .uri("/integrations/acme/webhook")
        .body(Bytes::new())
        .expect("request");
    assert_eq!(
        without
            .handle(request, Some(caller.clone()))
            .await
            .status()
            .as_u16(),
        503
    );
    flow.receiver_task.abort();
    flow.sandbox.shutdown().await;
}
