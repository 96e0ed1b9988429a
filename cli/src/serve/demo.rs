//! `personio-lms serve --demo`: the console populated in one command, needing nothing but the
//! repository. A Personio sandbox and an in-process LMS start with the host; a demo integration is
//! created through the admin API like any other, synced by the host's own worker, given a few
//! certificates (one of them for an LMS user nobody is linked to, so it waits parked), and then
//! the sandbox changes (a new hire, an email change, a deselection), so that the console's plan
//! has something to show.
//!
//! The demo integration's SCIM URL is a placeholder: an integration with exactly that URL is
//! connected to the in-process LMS; any other is connected as usual.

use super::LOCAL_TENANT;
use super::http::Web;
use crate::error::CliError;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use common::admin::Caller;
use common::app::{
    ConnectError, ConnectPolicy, Connector, CredentialsConnector, IntegrationAdapters,
};
use common::domain::IntegrationId;
use common::domain::integration::IntegrationRecord;
use common::lms::memory::MemoryLms;
use common::ports::{LinkStore, RunStore};
use common::retry::Deadline;
use common::store::SqliteStore;
use http::{Method, Request};
use personio_sandbox::{
    LMS_SYNC_KEY, LMS_SYNC_LABEL, NewEmployee, RunningSandbox, Sandbox, SandboxConfig,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The SCIM URL that means "the in-process LMS".
pub const DEMO_LMS_URL: &str = "http://localhost/in-process-demo-lms/scim/v2";

pub struct DemoWorld {
    sandbox: Arc<RunningSandbox>,
    lms: Arc<MemoryLms>,
}

/// Connects integrations as usual, except that the demo LMS URL is the in-process LMS.
pub struct DemoConnector {
    inner: CredentialsConnector,
    lms: Arc<MemoryLms>,
}

impl DemoConnector {
    pub fn new(inner: CredentialsConnector, lms: Arc<MemoryLms>) -> Self {
        Self { inner, lms }
    }
}

#[async_trait]
impl Connector for DemoConnector {
    fn policy(&self) -> ConnectPolicy {
        self.inner.policy()
    }

    async fn connect(
        &self,
        record: &IntegrationRecord,
        deadline: Deadline,
    ) -> Result<IntegrationAdapters, ConnectError> {
        let mut adapters = self.inner.connect(record, deadline).await?;
        if record.lms.scim_base_url == DEMO_LMS_URL {
            adapters.lms = self.lms.clone();
        }
        Ok(adapters)
    }
}

fn failed(context: &str) -> impl FnOnce(String) -> CliError + '_ {
    move |error| CliError::Failed(format!("demo: {context}: {error}"))
}

impl DemoWorld {
    pub async fn start() -> Result<Self, CliError> {
        let sandbox = Sandbox::start(
            SandboxConfig::default()
                .with_employees(60)
                .with_seed(7)
                .without_rate_limits()
                // "Install webhook" in the demo console: deliveries to serve on 127.0.0.1.
                .with_http_webhooks(),
        )
        .await
        .map_err(|error| failed("cannot start the Personio sandbox")(error.to_string()))?;
        let (lms, _) = crate::demo::demo_lms(&sandbox);
        println!(
            "  demo              Personio sandbox {} ({} employees), in-process LMS",
            sandbox.base_url(),
            sandbox.employee_count()
        );
        Ok(Self {
            sandbox: Arc::new(sandbox),
            lms,
        })
    }

    pub fn connector(&self, inner: CredentialsConnector) -> DemoConnector {
        DemoConnector::new(inner, self.lms.clone())
    }

    /// Creates, syncs and feeds the demo integration (in the background; the console works
    /// while it does).
    pub fn populate(
        &self,
        web: Arc<Web>,
        store: Arc<SqliteStore>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let sandbox = self.sandbox.clone();
        async move {
            if let Err(error) = populate(&web, &store, &sandbox).await {
                warn!(%error, "the demo integration could not be set up completely");
                println!("demo: {error}");
            }
        }
    }

    pub async fn shutdown(self) {
        match Arc::try_unwrap(self.sandbox) {
            Ok(sandbox) => sandbox.shutdown().await,
            Err(shared) => drop(shared),
        }
    }
}

/// One admin API call as the local admin.
async fn call(web: &Web, method: Method, path: &str, body: Value) -> Result<Value, String> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .map_err(|error| error.to_string())?;
    let caller = Caller::new(LOCAL_TENANT, Some("demo set-up".to_owned()));
    let response = web.api.handle(request, Some(caller)).await;
    let status = response.status();
    let answer: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(answer)
    } else {
        Err(format!("{path}: HTTP {status}: {}", answer["detail"]))
    }
}

async fn populate(web: &Web, store: &SqliteStore, sandbox: &RunningSandbox) -> Result<(), String> {
    let (client_id, client_secret) = sandbox.default_credential();
    let created = call(
        web,
        Method::POST,
        "/integrations",
        json!({
            "name": "Demo company → in-process LMS",
            "personio": {
                "base_url": sandbox.base_url(),
                "client_id": client_id,
                "client_secret": client_secret,
            },
            "lms": {"scim_base_url": DEMO_LMS_URL, "token": "demo-lms-token"},
            "settings": {
                "selection": {"attribute": LMS_SYNC_LABEL},
                "groups": {"by": ["department", "team", "position"]},
                "notifications": {
                    "invite_new_users": true,
                    "login_url": "https://lms.demo.example",
                    "admin_email": "hr@demo.example"
                },
                "certificates": {"enabled": true}
            },
            "schedule": {"every_minutes": 15}
        }),
    )
    .await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let integration = IntegrationId::new(id.clone());
    call(
        web,
        Method::POST,
        &format!("/integrations/{id}/sync"),
        json!({}),
    )
    .await?;
    info!(integration = %id, "demo integration created; first sync queued");

    // The host's worker runs the sync; the certificates need its links.
    let mut synced = false;
    for _ in 0..240 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let runs = store
            .runs(&integration, 1)
            .await
            .map_err(|e| e.to_string())?;
        if runs.first().is_some_and(|run| run.finished_at.is_some()) {
            synced = true;
            break;
        }
    }
    if !synced {
        return Err("the first sync did not finish within a minute".into());
    }
    let links = store.links(&integration).await.map_err(|e| e.to_string())?;
    let mut linked: Vec<_> = links.into_iter().filter(|link| link.active).collect();
    linked.sort_by_key(|link| link.personio_id.0);
    let today = chrono::Utc::now().date_naive().to_string();
    let courses = [
        "Datenschutz-Grundlagen (DSGVO)",
        "Fire safety",
        "IT security basics",
    ];
    let mut jobs: Vec<Value> = linked
        .iter()
        .skip(3)
        .zip(courses)
        .enumerate()
        .map(|(index, (link, course))| {
            json!({
                "certificate_id": format!("demo-cert-{}", index + 1),
                "lms_user_id": link.lms_user_id.0,
                "course_name": course,
                "completed_on": today,
                "pdf_base64": BASE64.encode(crate::demo::certificate_pdf(course, &link.email, &today)),
            })
        })
        .collect();
    jobs.push(json!({
        "certificate_id": "demo-cert-unlinked",
        "lms_user_id": "lms-user-not-synced",
        "course_name": "Onboarding",
        "completed_on": today,
        "pdf_base64": BASE64.encode(crate::demo::certificate_pdf("Onboarding", "Unknown", &today)),
    }));
    call(
        web,
        Method::POST,
        &format!("/integrations/{id}/certificates/batch"),
        Value::Array(jobs),
    )
    .await?;

    // Changes for the next sync (and the console's plan) to find.
    let change =
        |result: Result<(), personio_sandbox::SandboxError>| result.map_err(|e| e.to_string());
    sandbox
        .add_employee(
            NewEmployee::new("Mia", "Neumann", "mia.neumann@demo.example").with(LMS_SYNC_KEY, "ja"),
        )
        .map_err(|e| e.to_string())?;
    if let [renamed, deselected, ..] = linked.as_slice() {
        let renamed_id = u64::try_from(renamed.personio_id.0).unwrap_or_default();
        change(sandbox.set_attribute(renamed_id, "email", format!("new.{}", renamed.email)))?;
        let deselected_id = u64::try_from(deselected.personio_id.0).unwrap_or_default();
        change(sandbox.set_attribute(deselected_id, LMS_SYNC_KEY, "nein"))?;
    }
    println!(
        "demo: the integration is synced and has certificates; Personio changed since (see its Plan tab)"
    );
    Ok(())
}
