//! A proxy in front of a test server (the independent SCIM server) that the test controls: it
//! passes requests through, or slows them down, answers 5xx or 429, drops connections, hangs, or
//! dies (stops listening, so connections are refused) — from the start or from the n-th request
//! on, so that a system can fail in the middle of a run.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What the proxy does with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum ProxyMode {
    /// Forward it.
    Pass,
    /// Forward it after a delay.
    Delay(Duration),
    /// Answer `status` to every `every`-th request (1: all), forward the others.
    Answer {
        status: u16,
        retry_after: Option<u32>,
        every: usize,
    },
    /// Close the connection of every `every`-th request without an answer, that request not
    /// forwarded; forward the others.
    Drop { every: usize },
    /// Forward every `every`-th request, then close the connection without its answer: the
    /// server acted, the client cannot know (a create that went through, its answer lost).
    LoseAnswer { every: usize },
    /// Never answer every `every`-th request (the client gives up); forward the others.
    Hang { every: usize },
    /// Stop listening: this request's connection is dropped, later connections are refused.
    Die,
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    mode: Mutex<ProxyMode>,
    /// `(n, mode)`: from the n-th request on (1-based), `mode` replaces the current one.
    switch: Mutex<Option<(usize, ProxyMode)>>,
    requests: AtomicUsize,
    died: Notify,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<ProxyState>,
    server: tokio::task::JoinHandle<()>,
}

/// A marker payload for the deliberate unwind that drops a connection.
struct DroppedConnection;

impl FaultProxy {
    /// A proxy on a free loopback port forwarding to `upstream` (scheme, host and port).
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the proxy");
        let address = listener.local_addr().expect("a bound address");
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            mode: Mutex::new(ProxyMode::Pass),
            switch: Mutex::new(None),
            requests: AtomicUsize::new(0),
            died: Notify::new(),
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        let dying = state.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { dying.died.notified().await })
                .await;
        });
        Self {
            address,
            state,
            server,
        }
    }

    /// The proxy's URL for what is `path` upstream (`/v2`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn set_mode(&self, mode: ProxyMode) {
        if mode == ProxyMode::Die {
            self.state.died.notify_one();
        }
        *lock(&self.state.mode) = mode;
    }

    /// From the `nth` request on (counting from the proxy's start), `mode`.
    pub fn switch_at(&self, nth: usize, mode: ProxyMode) {
        *lock(&self.state.switch) = Some((nth, mode));
    }

    /// Requests the proxy received.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let nth = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let mode = {
        let mut mode = lock(&state.mode);
        if let Some((at, next)) = lock(&state.switch).clone()
            && nth >= at
        {
            if next == ProxyMode::Die {
                state.died.notify_one();
            }
            *mode = next;
        }
        mode.clone()
    };
    match mode {
        ProxyMode::Pass => pass(&state, request).await,
        ProxyMode::Delay(delay) => {
            tokio::time::sleep(delay).await;
            pass(&state, request).await
        }
        ProxyMode::Answer {
            status,
            retry_after,
            every,
        } if nth % every.max(1) == 0 => {
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [("content-type", "application/scim+json")],
                format!(
                    r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"{status}","detail":"injected by the test proxy"}}"#
                ),
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().expect("digits"));
            }
            response
        }
        ProxyMode::Answer { .. } => pass(&state, request).await,
        ProxyMode::LoseAnswer { every } if nth % every.max(1) == 0 => {
            let _ = pass(&state, request).await;
            std::panic::resume_unwind(Box::new(DroppedConnection))
        }
        ProxyMode::LoseAnswer { .. } => pass(&state, request).await,
        ProxyMode::Hang { every } if nth % every.max(1) == 0 => std::future::pending().await,
        // Unwinding out of the connection task makes hyper drop the socket without writing a
        // response. `resume_unwind` skips the panic hook, so nothing is printed.
        ProxyMode::Drop { every } if nth % every.max(1) == 0 => {
            std::panic::resume_unwind(Box::new(DroppedConnection))
        }
        ProxyMode::Die => std::panic::resume_unwind(Box::new(DroppedConnection)),
        ProxyMode::Drop { .. } | ProxyMode::Hang { .. } => pass(&state, request).await,
    }
}

async fn pass(state: &ProxyState, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            headers.insert(name.clone(), value.clone());
        }
    }
    let upstream = state
        .client
        .request(parts.method, format!("{}{path}", state.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(answer) = upstream else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_else(|_| Bytes::new());
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}
