//! The independent SCIM server (`scim2-server` from PyPI), started through `tests/scim/launch.py`
//! in the shape a test asks for, with a raw client for what an LMS admin would do by hand.

use crate::{ServerGuard, free_port, venv_tool};
use common::domain::lms::{LmsGroupId, LmsUserId};
use common::lms::scim::{ScimConfig, ScimLms};
use common::retry::Backoff;
use common::secret::Secret;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// The bearer token the server accepts.
pub const TOKEN: &str = "integration-test-token";

/// The server's shape: what its discovery documents announce.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub patch: bool,
    pub personio_extension: bool,
    /// A vendor's own User extension (`VENDOR_USER_SCHEMA`: region, costCentre,
    /// learnerStatus), as an LMS publishes its custom schema.
    pub vendor_extension: bool,
}

/// The vendor extension's URN (`tests/scim/vendor-user-schema.json`).
pub const VENDOR_USER_SCHEMA: &str = "urn:example:params:scim:schemas:extension:acmelearn:1.0:User";

/// PATCH supported and the project's extension schema advertised.
pub const FULL: Shape = Shape {
    patch: true,
    personio_extension: true,
    vendor_extension: false,
};
/// Neither PATCH nor the extension.
pub const MINIMAL: Shape = Shape {
    patch: false,
    personio_extension: false,
    vendor_extension: false,
};
/// PATCH, no project extension, and a vendor's own extension: a real LMS's dialect.
pub const VENDOR: Shape = Shape {
    patch: true,
    personio_extension: false,
    vendor_extension: true,
};

pub struct ScimServer {
    guard: ServerGuard,
    raw: reqwest::Client,
}

impl ScimServer {
    /// `None` (the test skips) when the test virtualenv lacks scim2-server.
    pub fn start(shape: Shape) -> Option<Self> {
        venv_tool("scim2-server")?;
        let python = venv_tool("python")?;
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scim/launch.py"))
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .args(["--bearer-token", TOKEN]);
        if shape.personio_extension {
            command.arg("--advertise-extension");
        }
        if shape.vendor_extension {
            command.arg("--advertise-vendor-extension");
        }
        if !shape.patch {
            command.arg("--without-patch");
        }
        let guard = ServerGuard::start("scim2-server", command, port, Duration::from_secs(30));
        Some(Self {
            guard,
            raw: reqwest::Client::new(),
        })
    }

    pub fn base_url(&self) -> String {
        format!("{}/v2", self.guard.base_url())
    }

    /// The adapter with test-sized timings; `page_size` 1 makes every lookup with several
    /// candidates page.
    pub fn lms(&self, token: &str, page_size: usize) -> ScimLms {
        scim_client(&self.base_url(), token, page_size)
    }

    /// A request straight to the server, as an LMS admin would make it.
    pub async fn raw(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .raw
            .request(method, format!("{}{path}", self.base_url()))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a readable body");
        assert!(status.is_success(), "{path}: HTTP {status}: {text}");
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        }
    }

    pub async fn user_document(&self, id: &LmsUserId) -> Value {
        self.raw(reqwest::Method::GET, &format!("/Users/{id}"), None)
            .await
    }

    /// Every user the server holds, page by page.
    pub async fn user_documents(&self) -> Vec<Value> {
        let mut users = Vec::new();
        loop {
            let path = format!("/Users?startIndex={}&count=1000", users.len() + 1);
            let page = self.raw(reqwest::Method::GET, &path, None).await;
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            let total = page["totalResults"].as_u64().unwrap_or(0) as usize;
            let received = resources.len();
            users.extend(resources);
            if received == 0 || users.len() >= total {
                return users;
            }
        }
    }

    pub async fn admin_patch(&self, path: &str, operations: Value) -> Value {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations
        });
        self.raw(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// Creates a group, as an LMS admin would (the sync never does).
    pub async fn create_group(&self, name: &str) -> LmsGroupId {
        let group = self
            .raw(
                reqwest::Method::POST,
                "/Groups",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name
                })),
            )
            .await;
        LmsGroupId(group["id"].as_str().expect("a group id").to_owned())
    }

    /// The user ids of the group's members.
    pub async fn group_members(&self, group: &LmsGroupId) -> Vec<String> {
        let group = self
            .raw(reqwest::Method::GET, &format!("/Groups/{group}"), None)
            .await;
        let mut members: Vec<String> = group["members"]
            .as_array()
            .map(|members| {
                members
                    .iter()
                    .filter_map(|member| member["value"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        members.sort_unstable();
        members
    }
}

/// The adapter at `base_url` with test-sized timings.
pub fn scim_client(base_url: &str, token: &str, page_size: usize) -> ScimLms {
    scim_client_with(base_url, token, page_size, 1000)
}

/// …with `listing_page_size` users per listing page (small ones make lookups the cheaper way).
pub fn scim_client_with(
    base_url: &str,
    token: &str,
    page_size: usize,
    listing_page_size: usize,
) -> ScimLms {
    let mut config = ScimConfig::new(base_url, Secret::new(token));
    config.timeout = Duration::from_secs(10);
    config.call_budget = Duration::from_secs(30);
    config.page_size = page_size;
    config.listing_page_size = listing_page_size;
    config.backoff = Backoff {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(200),
        max_attempts: 3,
    };
    ScimLms::new(config).expect("a valid SCIM configuration")
}
