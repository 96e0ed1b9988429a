//! One SCIM request with the shared retry policy, and SCIM error responses (RFC 7644 §3.12)
//! turned into [`LmsError`]s.

use crate::counters::RequestCounters;
use crate::net_failure::{NoAnswer, Reachability};
use crate::ports::LmsError;
use crate::retry::{Backoff, Deadline, announce_wait, parse_retry_after};
use crate::secret::Secret;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use url::Url;

const SCIM_MEDIA_TYPE: &str = "application/scim+json";
/// Enough of an unexpected body to explain an error without flooding logs and run records.
const DETAIL_LIMIT: usize = 300;

pub struct ScimHttp {
    client: reqwest::Client,
    base_url: Url,
    token: Secret,
    request_timeout: Duration,
    backoff: Backoff,
    /// Every request that left, by kind ([`request_kind`]), and every 429 received.
    counters: RequestCounters,
}

/// A successful response: its body (empty for 204) as JSON, or `None` when empty.
#[derive(Debug)]
pub struct ScimResponse {
    pub body: Option<Value>,
}

impl ScimHttp {
    pub fn new(
        client: reqwest::Client,
        base_url: Url,
        token: Secret,
        request_timeout: Duration,
        backoff: Backoff,
    ) -> Self {
        Self {
            client,
            base_url,
            token,
            request_timeout,
            backoff,
            counters: RequestCounters::new(),
        }
    }

    pub fn counters(&self) -> &RequestCounters {
        &self.counters
    }

    /// The URL of `endpoint` (`/Users`, as a resource type names it) and further path segments
    /// (an id), each percent-encoded as one segment.
    pub fn url(&self, endpoint: &str, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        // Never fails: `ScimLms::new` accepts only base URLs that can take a path.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(endpoint.split('/').filter(|segment| !segment.is_empty()))
                .extend(segments);
        }
        url
    }

    /// Sends a request, retrying 429, 5xx, timeouts and transport errors with the backoff until
    /// it succeeds, fails permanently, runs out of attempts or would outlast `deadline`.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<&Value>,
        deadline: Deadline,
    ) -> Result<ScimResponse, LmsError> {
        let encoded_body = body.map(Value::to_string);
        let mut attempt = 0u32;
        let mut reachability = Reachability::default();
        loop {
            if deadline.is_past() {
                return Err(LmsError::Unavailable {
                    reason: "the call's deadline passed".into(),
                    attempts: attempt,
                });
            }
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .bearer_auth(self.token.expose())
                .header(ACCEPT, format!("{SCIM_MEDIA_TYPE}, application/json"))
                .timeout(self.request_timeout.min(deadline.remaining()));
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(encoded) = &encoded_body {
                request = request
                    .header(CONTENT_TYPE, SCIM_MEDIA_TYPE)
                    .body(encoded.clone());
            }

            self.counters.sent_kind(request_kind(&method, &url));
            let (reason, retry_after, no_answer) = match request.send().await {
                Ok(response) if response.status().is_redirection() => {
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|value| value.to_str().ok());
                    return Err(LmsError::Refused(format!(
                        "it answered HTTP {} with a redirect to {}, which is not followed: the \
                         token is sent to the configured lms.scim_base_url only (if the LMS \
                         moved, set that to its new address)",
                        response.status().as_u16(),
                        crate::net::redirect_origin(&url, location)
                    )));
                }
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        self.counters.throttled();
                    }
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(parse_retry_after);
                    let bytes = response.bytes().await;
                    tracing::debug!(%method, path = url.path(), status = status.as_u16(), attempt, "SCIM response");
                    match bytes {
                        Ok(bytes) if status.is_success() => {
                            return parse_success_body(&bytes).map(|body| ScimResponse { body });
                        }
                        Ok(bytes) if is_transient(status) => (
                            format!("HTTP {status}: {}", problem_detail(&bytes)),
                            retry_after,
                            None,
                        ),
                        Ok(bytes) => return Err(error_for_response(status, &bytes)),
                        Err(error) => {
                            let failure = NoAnswer::of(error);
                            (
                                format!(
                                    "reading the HTTP {status} response: {}",
                                    failure.describe()
                                ),
                                None,
                                Some(failure),
                            )
                        }
                    }
                }
                Err(error) => {
                    // An address this host does not connect to: permanent, never retried.
                    if let Some(refused) = crate::net::address_refusal(&error) {
                        return Err(LmsError::Refused(format!("{} {refused}", refused.host)));
                    }
                    // `NoAnswer` drops the URL, which carries filter values (emails).
                    let failure = NoAnswer::of(error);
                    (failure.describe(), None, Some(failure))
                }
            };

            let unavailable = |attempts| LmsError::Unavailable {
                reason: reason.clone(),
                attempts,
            };
            if reachability.give_up_after(no_answer.as_ref()) {
                return Err(unavailable(attempt + 1));
            }
            match self.backoff.next_delay(attempt, retry_after, deadline) {
                Some(wait) => {
                    tracing::debug!(%method, path = url.path(), attempt, ?wait, %reason, "SCIM request failed, retrying");
                    announce_wait("the learning platform", &reason, wait, deadline);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(unavailable(attempt + 1)),
            }
        }
    }
}

/// What a request does, for the run's request counts: by method, with the two POSTs that create
/// nothing (`/.search`, `/Bulk`) told apart.
fn request_kind(method: &Method, url: &Url) -> &'static str {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    match *method {
        Method::GET => "read",
        Method::POST if last == ".search" => "search",
        Method::POST if last == "Bulk" => "bulk",
        Method::POST => "create",
        Method::PUT => "replace",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}

/// 429 and 5xx are worth retrying, except 501: a server that does not implement something (PATCH
/// on some servers) will not implement it a second later.
fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

fn parse_success_body(bytes: &[u8]) -> Result<Option<Value>, LmsError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|error| LmsError::Malformed(format!("a response body that is not JSON: {error}")))
}

/// The permanent error for a non-success, non-transient response.
pub fn error_for_response(status: StatusCode, body: &[u8]) -> LmsError {
    let detail = problem_detail(body);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => LmsError::Unauthorized {
            status: status.as_u16(),
            detail,
        },
        StatusCode::NOT_FOUND => LmsError::NotFound { what: detail },
        StatusCode::CONFLICT => LmsError::Conflict { detail },
        _ => LmsError::Rejected {
            status: status.as_u16(),
            detail,
        },
    }
}

/// RFC 7644 §3.12 error body. `status` is a string in the RFC, a number in some servers; the
/// HTTP status is used instead, so it is not read.
#[derive(Deserialize)]
struct ScimProblem {
    #[serde(rename = "scimType")]
    scim_type: Option<String>,
    detail: Option<String>,
}

/// `scimType: detail` from a SCIM error body, else the start of whatever the body is.
fn problem_detail(body: &[u8]) -> String {
    if let Ok(problem) = serde_json::from_slice::<ScimProblem>(body) {
        match (problem.scim_type, problem.detail) {
            (Some(scim_type), Some(detail)) => return format!("{scim_type}: {detail}"),
            (None, Some(detail)) => return detail,
            (Some(scim_type), None) => return scim_type,
            (None, None) => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no detail given".into();
    }
    match text.char_indices().nth(DETAIL_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A loopback HTTP server answering request `n` with `responses[n]` (the last one repeated),
    /// counting the requests it got.
    async fn scripted_server(responses: Vec<&'static str>) -> (Url, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = Url::parse(&format!(
            "http://{}/scim/v2",
            listener.local_addr().expect("a bound address")
        ))
        .expect("a valid URL");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let index = counter.fetch_add(1, Ordering::SeqCst);
                let (head, body) = responses[index.min(responses.len() - 1)]
                    .split_once("\n\n")
                    .unwrap_or(("HTTP/1.1 200 OK", ""));
                let response = format!(
                    "{head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        (url, requests)
    }

    fn client_for(url: Url) -> ScimHttp {
        client_trying(url, 3)
    }

    fn client_trying(url: Url, max_attempts: u32) -> ScimHttp {
        ScimHttp::new(
            reqwest::Client::new(),
            url,
            Secret::new("token"),
            Duration::from_secs(5),
            Backoff {
                base: Duration::from_millis(10),
                cap: Duration::from_millis(40),
                max_attempts,
            },
        )
    }

    async fn get(http: &ScimHttp) -> Result<ScimResponse, LmsError> {
        let url = http.url("/Users", &["a b"]);
        assert!(url.path().ends_with("/scim/v2/Users/a%20b"), "{url}");
        http.send(
            Method::GET,
            url,
            &[],
            None,
            Deadline::after(Duration::from_secs(10)),
        )
        .await
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let (url, requests) = scripted_server(vec![
            "HTTP/1.1 503 Service Unavailable\n\n",
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 0\n\n",
            "HTTP/1.1 200 OK\n\n{\"id\":\"u1\"}",
        ])
        .await;
        let response = get(&client_for(url))
            .await
            .expect("the third attempt succeeds");
        assert_eq!(response.body, Some(serde_json::json!({"id": "u1"})));
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_stop_at_the_attempt_limit() {
        let (url, requests) = scripted_server(vec![
            "HTTP/1.1 502 Bad Gateway\n\n{\"detail\":\"upstream down\"}",
        ])
        .await;
        let error = get(&client_for(url)).await.expect_err("never succeeds");
        assert!(
            matches!(&error, LmsError::Unavailable { attempts: 3, reason } if reason.contains("upstream down")),
            "{error:?}"
        );
        assert!(error.is_retryable());
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let (url, requests) = scripted_server(vec![
            "HTTP/1.1 400 Bad Request\n\n{\"scimType\":\"invalidFilter\"}",
        ])
        .await;
        let error = get(&client_for(url)).await.expect_err("a bad request");
        assert!(
            matches!(&error, LmsError::Rejected { status: 400, detail } if detail == "invalidFilter"),
            "{error:?}"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_passed_deadline_stops_before_sending() {
        let (url, requests) = scripted_server(vec!["HTTP/1.1 200 OK\n\n{}"]).await;
        let http = client_for(url);
        let error = http
            .send(
                Method::GET,
                http.url("/Users", &[]),
                &[],
                None,
                Deadline::after(Duration::ZERO),
            )
            .await
            .expect_err("no time left");
        assert!(
            matches!(error, LmsError::Unavailable { attempts: 0, .. }),
            "{error:?}"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_server_that_refuses_connections_is_given_up_on_after_a_few_attempts() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/scim/v2")).expect("a URL");
        // A backoff that would try twelve times: the refusals end the call after three.
        let http = client_trying(url, 12);
        let started = std::time::Instant::now();
        let error = get(&http).await.expect_err("nothing listens");
        assert!(
            matches!(&error, LmsError::Unavailable { attempts: 3, reason } if reason.to_lowercase().contains("refused")),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    fn error(status: u16, body: &str) -> LmsError {
        error_for_response(
            StatusCode::from_u16(status).expect("a valid status"),
            body.as_bytes(),
        )
    }

    #[test]
    fn scim_errors_map_to_port_errors() {
        let uniqueness = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}"#;
        assert!(matches!(
            error(409, uniqueness),
            LmsError::Conflict { detail } if detail == "uniqueness: userName taken"
        ));
        for status in [401, 403] {
            let refused = error(status, r#"{"status":401,"detail":"bad token"}"#);
            assert!(matches!(
                &refused,
                LmsError::Unauthorized { status: s, detail } if *s == status && detail == "bad token"
            ));
            assert_eq!(
                refused.to_string(),
                format!("the learning platform rejected the token (HTTP {status}): bad token")
            );
        }
        assert!(matches!(
            error(404, r#"{"detail":"User 'x' not found"}"#),
            LmsError::NotFound { what } if what == "User 'x' not found"
        ));
        let invalid = r#"{"status":"400","scimType":"invalidValue","detail":"bad email"}"#;
        let mapped = error(400, invalid);
        assert!(matches!(
            &mapped,
            LmsError::Rejected { status: 400, detail } if detail == "invalidValue: bad email"
        ));
        assert!(!mapped.is_retryable());
    }

    #[test]
    fn non_scim_error_bodies_are_quoted_and_truncated() {
        assert!(matches!(
            error(400, "  "),
            LmsError::Rejected { detail, .. } if detail == "no detail given"
        ));
        let long = "x".repeat(1000);
        let LmsError::Rejected { detail, .. } = error(422, &long) else {
            panic!("a rejection")
        };
        assert_eq!(detail.chars().count(), DETAIL_LIMIT + 1);
    }

    #[test]
    fn only_429_and_5xx_are_transient() {
        assert!(is_transient(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_transient(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_transient(StatusCode::NOT_IMPLEMENTED));
        assert!(!is_transient(StatusCode::CONFLICT));
        assert!(!is_transient(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn success_bodies_are_json_or_empty() {
        assert!(matches!(parse_success_body(b""), Ok(None)));
        assert!(matches!(parse_success_body(b"{\"id\":\"1\"}"), Ok(Some(_))));
        assert!(matches!(
            parse_success_body(b"<html>"),
            Err(LmsError::Malformed(_))
        ));
    }
}
