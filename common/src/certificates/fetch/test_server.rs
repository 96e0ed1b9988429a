//! A minimal HTTP/1.1 server on loopback for the core's HTTP tests (PDF fetches, redirects the
//! adapters must not follow): canned replies by path (the query is ignored), one request per
//! connection. Written on raw tokio sockets so the core's tests need
//! no server framework.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

#[derive(Clone, Debug)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Sent with `Transfer-Encoding: chunked` (no Content-Length), in 64 KiB chunks.
    chunked: bool,
    delay: Duration,
}

impl Reply {
    pub(crate) fn ok(body: &[u8]) -> Self {
        Self {
            status: 200,
            headers: vec![("Content-Type".into(), "application/pdf".into())],
            body: body.to_vec(),
            chunked: false,
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: b"error".to_vec(),
            chunked: false,
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn redirect(location: &str) -> Self {
        Self::redirect_with(302, location)
    }

    /// A redirect with its status (307 and 308 keep the method and the body).
    pub(crate) fn redirect_with(status: u16, location: &str) -> Self {
        Self {
            headers: vec![("Location".into(), location.into())],
            ..Self::status(status)
        }
    }

    pub(crate) fn chunked(self) -> Self {
        Self {
            chunked: true,
            ..self
        }
    }

    pub(crate) fn delayed(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

pub(crate) struct TestServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(routes: Vec<(&str, Reply)>) -> Self {
        let routes: Arc<HashMap<String, Reply>> = Arc::new(
            routes
                .into_iter()
                .map(|(path, reply)| (path.to_owned(), reply))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let routes = routes.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => head.extend_from_slice(&buffer[..read]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&head);
                    let target = head.split_whitespace().nth(1).unwrap_or("/");
                    let path = target.split('?').next().unwrap_or("/");
                    let reply = routes.get(path).cloned().unwrap_or(Reply::status(404));
                    tokio::time::sleep(reply.delay).await;
                    let _ = write_reply(&mut socket, &reply).await;
                });
            }
        });
        Self {
            port,
            requests,
            task,
        }
    }

    pub(crate) fn url(&self, path_and_query: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}{path_and_query}", self.port)).unwrap()
    }

    /// Requests answered so far.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn write_reply(socket: &mut tokio::net::TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Test\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        socket.write_all(head.as_bytes()).await?;
        for chunk in reply.body.chunks(64 * 1024) {
            socket
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            socket.write_all(chunk).await?;
            socket.write_all(b"\r\n").await?;
        }
        socket.write_all(b"0\r\n\r\n").await?;
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        socket.write_all(head.as_bytes()).await?;
        socket.write_all(&reply.body).await?;
    }
    socket.shutdown().await
}
