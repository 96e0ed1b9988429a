//! A proxy in front of the independent SCIM server that behaves like the SCIM servers real
//! learning platforms run: each quirk, switched on by a test, changes what the proxy passes on
//! or answers itself (no discovery documents, no `externalId` filter, no PATCH, no ETags,
//! refused filtered PATCH paths, a competing create, soft deletes, users keyed by email, 429s,
//! a bulk operation refused). It counts what it was sent, so a test can see how the adapter
//! coped.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// The quirks a test switches on.
#[derive(Clone, Debug, Default)]
pub struct Quirks {
    /// `/ResourceTypes` and `/Schemas` answer 404.
    pub no_discovery: bool,
    /// A filter on `externalId` answers 400 `invalidFilter`.
    pub no_external_id_filter: bool,
    /// `/ServiceProviderConfig` says no PATCH and no bulk; a PATCH answers 501.
    pub no_patch: bool,
    /// `/ServiceProviderConfig` says no ETags; no `ETag` header, no `meta.version`.
    pub no_etags: bool,
    /// Entra-style PATCH: a value filter without a sub-attribute (`emails[type eq "work"]`) is
    /// refused with 400 `invalidPath` (directly and inside bulk requests).
    pub filtered_patch_refused: bool,
    /// Before the first create of this userName, someone else creates a user with it (with
    /// this externalId, or none): the create meets a 409.
    pub competing_create: Option<(String, Option<String>)>,
    /// Users "deleted" by `soft_delete`: hidden from reads, but their userName stays taken.
    pub soft_deletes: bool,
    /// `userName` is immutable (the LMS keys users by email): a PATCH or PUT that changes it
    /// answers 400 `mutability`.
    pub email_keyed: bool,
    /// Every n-th request answers 429 with `Retry-After: 1`.
    pub throttle_every: Option<u32>,
    /// Bulk operations creating this userName answer 400 `invalidValue`.
    pub refuse_in_bulk: Option<String>,
}

#[derive(Default)]
struct Shared {
    quirks: Quirks,
    requests: Vec<(Method, String)>,
    deleted: HashSet<String>,
    competed: bool,
    if_match_seen: bool,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    shared: Arc<Mutex<Shared>>,
}

/// The running proxy; it stops when dropped (with the test's runtime).
pub struct QuirkProxy {
    base_url: String,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for QuirkProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl QuirkProxy {
    /// Starts a proxy to `upstream` (the SCIM base URL, `http://127.0.0.1:port/v2`).
    pub async fn start(upstream: String, quirks: Quirks) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            quirks,
            ..Shared::default()
        }));
        let state = ProxyState {
            upstream,
            client: reqwest::Client::new(),
            shared: shared.clone(),
        };
        let app = Router::new().fallback(proxy).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{address}/v2"),
            shared,
            server,
        }
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An LMS admin deleting a user on a server that deletes softly.
    pub fn soft_delete(&self, id: &str) {
        self.shared().deleted.insert(id.to_owned());
    }

    /// Requests by `METHOD /first-segment` (`PATCH /Users`, `POST /Bulk`), and how many.
    pub fn requests(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (method, path) in &self.shared().requests {
            let resource = path.trim_start_matches('/').split('/').nth(1).unwrap_or("");
            *counts.entry(format!("{method} /{resource}")).or_default() += 1;
        }
        counts
    }

    pub fn count(&self, key: &str) -> usize {
        self.requests().get(key).copied().unwrap_or(0)
    }

    /// Whether any request carried `If-Match`.
    pub fn if_match_seen(&self) -> bool {
        self.shared().if_match_seen
    }
}

fn scim_error(status: StatusCode, scim_type: &str, detail: &str) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.as_u16().to_string(),
        "scimType": scim_type,
        "detail": detail,
    });
    Response::builder()
        .status(status)
        .header("content-type", "application/scim+json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/scim+json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// A path with a value filter and no sub-attribute after it.
fn bare_filtered_path(path: &str) -> bool {
    path.ends_with(']')
}

fn refused_patch_operation(body: &Value) -> bool {
    body["Operations"].as_array().is_some_and(|operations| {
        operations
            .iter()
            .any(|operation| operation["path"].as_str().is_some_and(bare_filtered_path))
    })
}

fn changes_user_name(body: &Value) -> bool {
    body["Operations"].as_array().is_some_and(|operations| {
        operations.iter().any(|operation| {
            operation["path"].as_str() == Some("userName")
                || operation["value"].get("userName").is_some()
        })
    })
}

async fn proxy(State(state): State<ProxyState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.clone();
    let quirks = {
        let mut shared = state.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.requests.push((method.clone(), path.clone()));
        shared.if_match_seen |= parts.headers.contains_key("if-match");
        let count = shared.requests.len() as u32;
        if let Some(every) = shared.quirks.throttle_every
            && count % every == 0
        {
            let mut response = scim_error(StatusCode::TOO_MANY_REQUESTS, "", "slow down");
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return response;
        }
        shared.quirks.clone()
    };
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let resource = path.trim_start_matches('/').split('/').nth(1).unwrap_or("");
    let id = path
        .trim_start_matches('/')
        .split('/')
        .nth(2)
        .map(str::to_owned);
    let decoded_query = url::form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&");

    if quirks.no_discovery && matches!(resource, "Schemas" | "ResourceTypes") {
        return scim_error(StatusCode::NOT_FOUND, "", "not served here");
    }
    if quirks.no_external_id_filter
        && resource == "Users"
        && decoded_query.to_lowercase().contains("externalid")
    {
        return scim_error(
            StatusCode::BAD_REQUEST,
            "invalidFilter",
            "filtering on externalId is not supported",
        );
    }
    if quirks.no_patch && method == Method::PATCH {
        return scim_error(StatusCode::NOT_IMPLEMENTED, "", "PATCH is not supported");
    }
    if quirks.filtered_patch_refused
        && method == Method::PATCH
        && refused_patch_operation(&json_body)
    {
        return scim_error(
            StatusCode::BAD_REQUEST,
            "invalidPath",
            "value filters need a sub-attribute",
        );
    }
    if quirks.email_keyed && resource == "Users" {
        let changes = match method {
            Method::PATCH => changes_user_name(&json_body),
            Method::PUT => {
                let current = forward(&state, Method::GET, &path, "", Bytes::new(), &parts.headers)
                    .await
                    .1;
                current["userName"] != json_body["userName"]
            }
            _ => false,
        };
        if changes {
            return scim_error(
                StatusCode::BAD_REQUEST,
                "mutability",
                "userName is immutable",
            );
        }
    }
    if quirks.soft_deletes
        && resource == "Users"
        && id.as_ref().is_some_and(|id| {
            state
                .shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .deleted
                .contains(id)
        })
    {
        return scim_error(StatusCode::NOT_FOUND, "", "no such user");
    }
    if let Some((user_name, external_id)) = &quirks.competing_create
        && method == Method::POST
        && (resource == "Users" || resource == "Bulk")
        && body_creates(&json_body, resource, user_name)
    {
        let first = {
            let mut shared = state.shared.lock().unwrap_or_else(|p| p.into_inner());
            !std::mem::replace(&mut shared.competed, true)
        };
        if first {
            let mut user = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
                "emails": [{"value": user_name, "type": "work", "primary": true}],
            });
            if let Some(external_id) = external_id {
                user["externalId"] = json!(external_id);
            }
            let created = forward(
                &state,
                Method::POST,
                &users_path(&path),
                "",
                Bytes::from(user.to_string()),
                &parts.headers,
            )
            .await;
            assert!(
                created.0.is_success(),
                "the competing create: {:?}",
                created.1
            );
        }
    }
    if resource == "Bulk" {
        return bulk(&state, &quirks, &path, json_body, &parts.headers).await;
    }

    let (status, mut answer, headers) =
        forward_full(&state, method, &path, &query, body, &parts.headers).await;
    if quirks.soft_deletes && resource == "Users" && answer.get("Resources").is_some() {
        let deleted = state
            .shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .deleted
            .clone();
        if let Some(resources) = answer["Resources"].as_array_mut() {
            resources.retain(|user| !user["id"].as_str().is_some_and(|id| deleted.contains(id)));
            let shown = resources.len();
            answer["totalResults"] = json!(shown);
        }
    }
    if resource == "ServiceProviderConfig" {
        if quirks.no_patch {
            answer["patch"] = json!({"supported": false});
            answer["bulk"] = json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0});
        }
        if quirks.no_etags {
            answer["etag"] = json!({"supported": false});
        }
    }
    if resource == "Schemas" && quirks.email_keyed {
        for schema in answer["Resources"].as_array_mut().into_iter().flatten() {
            for attribute in schema["attributes"].as_array_mut().into_iter().flatten() {
                if attribute["name"] == "userName" {
                    attribute["mutability"] = json!("immutable");
                }
            }
        }
    }
    if quirks.no_etags {
        strip_versions(&mut answer);
    }
    let mut response = if answer.is_null() {
        Response::builder()
            .status(status)
            .body(Body::empty())
            .unwrap_or_default()
    } else {
        json_response(status, &answer)
    };
    if !quirks.no_etags
        && let Some(etag) = headers.get("etag")
    {
        response.headers_mut().insert("etag", etag.clone());
    }
    response
}

fn users_path(path: &str) -> String {
    let prefix = path.split('/').take(2).collect::<Vec<_>>().join("/");
    format!("{prefix}/Users")
}

fn body_creates(body: &Value, resource: &str, user_name: &str) -> bool {
    let same = |user: &Value| {
        user["userName"]
            .as_str()
            .is_some_and(|name| name.eq_ignore_ascii_case(user_name))
    };
    if resource == "Users" {
        return same(body);
    }
    body["Operations"].as_array().is_some_and(|operations| {
        operations
            .iter()
            .any(|operation| operation["method"] == "POST" && same(&operation["data"]))
    })
}

fn strip_versions(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::Object(meta)) = fields.get_mut("meta") {
                meta.remove("version");
            }
            for field in fields.values_mut() {
                strip_versions(field);
            }
        }
        Value::Array(elements) => elements.iter_mut().for_each(strip_versions),
        _ => {}
    }
}

/// A bulk request: the operations a quirk refuses answer from here, the rest go upstream,
/// and the results are put back together in request order.
async fn bulk(
    state: &ProxyState,
    quirks: &Quirks,
    path: &str,
    mut body: Value,
    headers: &HeaderMap,
) -> Response {
    let deleted = state
        .shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .deleted
        .clone();
    let operations = body["Operations"].as_array().cloned().unwrap_or_default();
    let mut refused = Vec::new();
    let mut passed = Vec::new();
    for operation in operations {
        let target = operation["path"].as_str().unwrap_or("");
        let target_id = target.rsplit('/').next().unwrap_or("");
        let refusal = if quirks.soft_deletes && deleted.contains(target_id) {
            Some((404, "", "no such user"))
        } else if quirks.filtered_patch_refused
            && operation["method"] == "PATCH"
            && refused_patch_operation(&operation["data"])
        {
            Some((400, "invalidPath", "value filters need a sub-attribute"))
        } else if quirks.refuse_in_bulk.as_deref().is_some_and(|name| {
            operation["method"] == "POST" && operation["data"]["userName"] == json!(name)
        }) {
            Some((400, "invalidValue", "this userName is refused"))
        } else {
            None
        };
        match refusal {
            Some((status, scim_type, detail)) => refused.push(json!({
                "method": operation["method"],
                "bulkId": operation["bulkId"],
                "status": status.to_string(),
                "response": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": status.to_string(),
                    "scimType": scim_type,
                    "detail": detail,
                },
            })),
            None => passed.push(operation),
        }
    }
    let mut results = refused;
    if !passed.is_empty() {
        body["Operations"] = Value::Array(passed);
        let (status, answer, _) = forward_full(
            state,
            Method::POST,
            path,
            "",
            Bytes::from(body.to_string()),
            headers,
        )
        .await;
        if !status.is_success() {
            return json_response(status, &answer);
        }
        results.extend(answer["Operations"].as_array().cloned().unwrap_or_default());
    }
    json_response(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
            "Operations": results,
        }),
    )
}

async fn forward(
    state: &ProxyState,
    method: Method,
    path: &str,
    query: &str,
    body: Bytes,
    headers: &HeaderMap,
) -> (StatusCode, Value) {
    let (status, value, _) = forward_full(state, method, path, query, body, headers).await;
    (status, value)
}

async fn forward_full(
    state: &ProxyState,
    method: Method,
    path: &str,
    query: &str,
    body: Bytes,
    headers: &HeaderMap,
) -> (StatusCode, Value, HeaderMap) {
    // The upstream base URL ends in `/v2`, as the proxy's own paths start with it.
    let base = state.upstream.trim_end_matches("/v2");
    let mut url = format!("{base}{path}");
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    let mut request = state
        .client
        .request(method, url)
        .header("content-type", "application/scim+json");
    if let Some(authorization) = headers.get("authorization") {
        request = request.header("authorization", authorization.clone());
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    let response = request
        .send()
        .await
        .expect("the upstream SCIM server answers");
    let status = response.status();
    let response_headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, value, response_headers)
}
