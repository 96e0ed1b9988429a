//! A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request and
//! answers from a script (then 200).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Answers 200 only after this long.
    Slow(Duration),
    /// Answers 307 to this location.
    Redirect(String),
    /// Answers 200 once [`Receiver::release`] is called.
    Hold,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
    pub fn event_name(&self) -> &str {
        self.body["event_name"].as_str().unwrap_or_default()
    }
}

#[derive(Debug)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    log: Mutex<Vec<Received>>,
    arrived: watch::Sender<usize>,
    released: watch::Sender<bool>,
}

fn guard<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct Receiver {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let reply = guard(&shared.script).pop_front();
    {
        let mut log = guard(&shared.log);
        log.push(Received {
            path,
            headers,
            body,
            at: Instant::now(),
        });
        shared.arrived.send_replace(log.len());
    }
    match reply {
        None | Some(Reply::Status(200)) => StatusCode::OK.into_response(),
        Some(Reply::Status(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Some(Reply::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            StatusCode::OK.into_response()
        }
        Some(Reply::Redirect(location)) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Some(Reply::Hold) => {
            let mut released = shared.released.subscribe();
            let _ = released.wait_for(|released| *released).await;
            StatusCode::OK.into_response()
        }
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            arrived: watch::Sender::new(0),
            released: watch::Sender::new(false),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver binds");
        let address = listener.local_addr().expect("receiver address");
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{address}"),
            shared,
            server,
        }
    }

    /// The receiver's URL for `path` (e.g. `/hook`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The replies to the next requests, in order; after them every request gets a 200.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        guard(&self.shared.script).extend(replies);
    }

    /// Lets requests answered with [`Reply::Hold`] finish.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    pub fn received(&self) -> Vec<Received> {
        guard(&self.shared.log).clone()
    }

    /// Waits (at most 10 s) until `count` requests arrived; returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let mut arrived = self.shared.arrived.subscribe();
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            arrived.wait_for(|arrived| *arrived >= count),
        )
        .await;
        let received = self.received();
        assert!(
            waited.is_ok(),
            "expected {count} requests, got {}: {:?}",
            received.len(),
            received
                .iter()
                .map(Received::event_name)
                .collect::<Vec<_>>()
        );
        received
    }

    /// Asserts that nothing more than `count` requests arrives within `quiet`.
    pub async fn assert_stays_at(&self, count: usize, quiet: Duration) {
        tokio::time::sleep(quiet).await;
        let received = self.received();
        assert_eq!(
            received.len(),
            count,
            "{:?}",
            received
                .iter()
                .map(Received::event_name)
                .collect::<Vec<_>>()
        );
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
