//! One Personio request with everything around it: the rate budget, the bearer token, the
//! timeout, retries with backoff for what can succeed later, and the mapping of answers to
//! [`HrError`].

use super::budget::{CredentialBudget, EndpointGroup};
use super::config::PersonioConfig;
use crate::counters::RequestCounters;
use crate::net_failure::{NoAnswer, Reachability};
use crate::ports::HrError;
use crate::retry::{Deadline, announce_wait, parse_retry_after};
use crate::secret::Secret;
use bytes::Bytes;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::Instrument;

/// Which token a request carries. v1 endpoints take `/v1/auth` tokens, v2 endpoints
/// `/v2/auth/token` tokens; Personio does not accept one for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenFlow {
    V1,
    V2,
}

/// Whether a request may be repeated after an answer that is lost or ambiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads: every transient failure is retried.
    Safe,
    /// An upload: a 5xx, a timeout or a dropped connection may have stored the document
    /// already, so only answers that say nothing was done (429) are retried; the rest is
    /// reported as retryable for the caller, who can look for the document first.
    OnlyWhenRefused,
}

/// What a call is, for the budget, the token, the retries and the logs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub name: &'static str,
    pub group: EndpointGroup,
    /// `None` for the auth requests themselves.
    pub token: Option<TokenFlow>,
    pub repeat: Repeat,
}

/// A failed attempt that a later attempt may fix.
#[derive(Debug)]
enum Transient {
    Throttled,
    ServerError(StatusCode),
    /// No usable answer: timed out, no connection, a broken connection or body.
    NoAnswer(NoAnswer),
    /// A 2xx body `parse` refused (usually cut short).
    Unparsable(String),
    /// Not transient at all: the address is one this host does not connect to (never retried).
    AddressRefused(String),
}

impl Transient {
    fn describe(&self) -> String {
        match self {
            Self::Throttled => "HTTP 429 Too Many Requests".to_owned(),
            Self::ServerError(status) => format!("HTTP {status}"),
            Self::NoAnswer(failure) => failure.describe(),
            Self::Unparsable(reason) => format!("incomplete or unreadable answer: {reason}"),
            Self::AddressRefused(reason) => reason.clone(),
        }
    }

    /// Whether the server can have acted on the request.
    fn server_may_have_acted(&self) -> bool {
        match self {
            Self::Throttled | Self::AddressRefused(_) => false,
            Self::NoAnswer(failure) => !failure.request_never_left(),
            Self::ServerError(_) | Self::Unparsable(_) => true,
        }
    }

    fn no_answer(&self) -> Option<&NoAnswer> {
        match self {
            Self::NoAnswer(failure) => Some(failure),
            _ => None,
        }
    }
}

#[derive(Clone)]
struct CachedToken {
    token: Secret,
    renew_at: Instant,
}

/// The current token of one flow: one in-flight authentication, every caller waits for it.
#[derive(Default)]
struct TokenSlot {
    current: Mutex<Option<CachedToken>>,
}

/// The shared machinery of one client: HTTP client, budget, tokens.
pub(crate) struct Transport {
    pub config: PersonioConfig,
    http: reqwest::Client,
    budget: Arc<CredentialBudget>,
    v1_token: TokenSlot,
    v2_token: TokenSlot,
    /// Every request that left (auth requests included) and every 429 received.
    pub counters: RequestCounters,
}

impl Transport {
    pub fn new(config: PersonioConfig, http: reqwest::Client) -> Self {
        let budget = CredentialBudget::shared(
            &config.base_url.origin().ascii_serialization(),
            &config.client_id,
            &config.limits,
        );
        Self {
            config,
            http,
            budget,
            v1_token: TokenSlot::default(),
            v2_token: TokenSlot::default(),
            counters: RequestCounters::new(),
        }
    }

    /// The absolute URL of an API path (`/v1/...`), keeping any path prefix of the base URL.
    pub fn url(&self, path: &str) -> String {
        let base = self.config.base_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// Sends the request `build` makes (again for every attempt) and parses the 2xx body with
    /// `parse`; a body `parse` refuses counts as a transient failure (it is usually cut short).
    pub async fn execute<T>(
        &self,
        call: Call,
        deadline: Deadline,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, HrError> {
        let span = tracing::debug_span!("personio", call = call.name);
        self.execute_inner(call, deadline, build, parse)
            .instrument(span)
            .await
    }

    async fn execute_inner<T>(
        &self,
        call: Call,
        deadline: Deadline,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, HrError> {
        let backoff = self.config.backoff;
        let mut retries = 0u32;
        let mut attempts = 0u32;
        let mut reauthenticated = false;
        let mut reachability = Reachability::default();
        loop {
            // The token first: the budget's slot is then taken right before the request leaves,
            // so that the server sees the spacing the budget planned.
            let token = match call.token {
                Some(flow) => Some(self.token(flow, deadline).await?),
                None => None,
            };
            // Held until the answer is in: the budget spaces later requests from it.
            let slot = self.budget.acquire(call.group, deadline).await?;
            let timeout = self.config.request_timeout.min(deadline.remaining());
            if timeout.is_zero() {
                return Err(HrError::DeadlineExceeded);
            }
            let mut request = self
                .with_partner_headers(build(&self.http), call.token)
                .timeout(timeout);
            if let Some(token) = &token {
                request = request.bearer_auth(token.expose());
            }
            attempts += 1;
            self.counters.sent();
            let started = Instant::now();
            let answer = exchange(request).await;
            drop(slot);
            let (transient, retry_after) = match answer {
                Ok((status, headers, body)) => {
                    tracing::debug!(
                        status = status.as_u16(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        attempt = attempts,
                        "answer"
                    );
                    if status.is_success() {
                        match parse(&body) {
                            Ok(value) => return Ok(value),
                            Err(reason) => (Transient::Unparsable(reason), None),
                        }
                    } else if status == StatusCode::UNAUTHORIZED && call.token.is_some() {
                        let message = error_message(&body, status);
                        if reauthenticated {
                            return Err(HrError::Unauthorized { message });
                        }
                        // The token may have been revoked or expired early: one fresh one.
                        tracing::info!(%message, "token refused, authenticating again");
                        if let (Some(flow), Some(token)) = (call.token, &token) {
                            self.forget_token(flow, token).await;
                        }
                        reauthenticated = true;
                        continue;
                    } else if status == StatusCode::TOO_MANY_REQUESTS {
                        self.counters.throttled();
                        (Transient::Throttled, retry_after_of(&headers))
                    } else if status.is_server_error() {
                        (Transient::ServerError(status), retry_after_of(&headers))
                    } else if status.is_redirection() {
                        return Err(HrError::Rejected {
                            status: status.as_u16(),
                            message: self.refused_redirect(&headers),
                        });
                    } else {
                        let message = error_message(&body, status);
                        return Err(if call.token.is_none() {
                            // A refusal of the auth endpoints is about the credentials, when it
                            // is Personio's refusal at all.
                            match not_personio_refusal(status, &body) {
                                Some(reason) => HrError::NotPersonio { reason },
                                None => HrError::Unauthorized { message },
                            }
                        } else {
                            HrError::Rejected {
                                status: status.as_u16(),
                                message,
                            }
                        });
                    }
                }
                Err(Transient::AddressRefused(reason)) => return Err(HrError::Invalid(reason)),
                Err(transient) => (transient, None),
            };
            let reason = transient.describe();
            if call.repeat == Repeat::OnlyWhenRefused && transient.server_may_have_acted() {
                tracing::warn!(%reason, "not repeating a request the server may have carried out");
                return Err(HrError::Unavailable { reason, attempts });
            }
            if reachability.give_up_after(transient.no_answer()) {
                tracing::warn!(%reason, attempts, "Personio cannot be reached; giving up");
                return Err(HrError::Unavailable { reason, attempts });
            }
            let Some(mut delay) = backoff.next_delay(retries, retry_after, deadline) else {
                tracing::warn!(%reason, attempts, "giving up");
                return Err(HrError::Unavailable { reason, attempts });
            };
            if matches!(transient, Transient::Throttled) {
                // Personio asks for at least a second after a 429 and sends no Retry-After.
                if retry_after.is_none() {
                    delay = delay.max(backoff.base);
                    if !deadline.allows(delay) {
                        return Err(HrError::Unavailable { reason, attempts });
                    }
                }
                self.budget.pause(call.group, Instant::now() + delay);
            }
            tracing::debug!(%reason, attempt = attempts, delay_ms = delay.as_millis() as u64, "retrying");
            announce_wait(
                &format!("Personio ({})", call.name),
                &reason,
                delay,
                deadline,
            );
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    /// Why a redirect is not followed, naming where it pointed (its origin only).
    fn refused_redirect(&self, headers: &HeaderMap) -> String {
        let location = headers.get(LOCATION).and_then(|value| value.to_str().ok());
        format!(
            "a redirect to {}, not followed: the credentials are sent to the configured \
             personio.base_url only",
            crate::net::redirect_origin(&self.config.base_url, location)
        )
    }

    fn with_partner_headers(
        &self,
        request: RequestBuilder,
        flow: Option<TokenFlow>,
    ) -> RequestBuilder {
        // v1 spells the headers with an `X-` prefix, v2 without.
        let (partner, app) = match flow {
            Some(TokenFlow::V2) => ("Personio-Partner-ID", "Personio-App-ID"),
            _ => ("X-Personio-Partner-ID", "X-Personio-App-ID"),
        };
        let mut request = request;
        if let Some(partner_id) = &self.config.partner_id {
            request = request.header(partner, partner_id);
        }
        if let Some(app_id) = &self.config.app_id {
            request = request.header(app, app_id);
        }
        request
    }

    fn slot(&self, flow: TokenFlow) -> &TokenSlot {
        match flow {
            TokenFlow::V1 => &self.v1_token,
            TokenFlow::V2 => &self.v2_token,
        }
    }

    /// A valid token of `flow`; authenticates when there is none. Holding the slot's lock while
    /// authenticating makes concurrent callers wait for this one authentication.
    fn token(&self, flow: TokenFlow, deadline: Deadline) -> BoxFuture<'_, Result<Secret, HrError>> {
        // Boxed: authenticating is itself a call through `execute`.
        Box::pin(async move {
            let mut current = self.slot(flow).current.lock().await;
            if let Some(cached) = current
                .as_ref()
                .filter(|cached| Instant::now() < cached.renew_at)
            {
                return Ok(cached.token.clone());
            }
            let (token, expires_in) = match flow {
                TokenFlow::V1 => self.authenticate_v1(deadline).await?,
                TokenFlow::V2 => self.authenticate_v2(deadline).await?,
            };
            let margin = self.config.token_renewal_margin.min(expires_in / 2);
            *current = Some(CachedToken {
                token: token.clone(),
                renew_at: Instant::now() + expires_in - margin,
            });
            Ok(token)
        })
    }

    /// Drops `refused` unless another caller already replaced it.
    async fn forget_token(&self, flow: TokenFlow, refused: &Secret) {
        let mut current = self.slot(flow).current.lock().await;
        if current
            .as_ref()
            .is_some_and(|cached| &cached.token == refused)
        {
            *current = None;
        }
    }

    async fn authenticate_v1(&self, deadline: Deadline) -> Result<(Secret, Duration), HrError> {
        let call = Call {
            name: "auth v1",
            group: EndpointGroup::Auth,
            token: None,
            repeat: Repeat::Safe,
        };
        let url = self.url("/v1/auth");
        let body = serde_json::json!({
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret.expose(),
        });
        self.execute(
            call,
            deadline,
            |http| http.post(&url).json(&body),
            |bytes| {
                let root: Value = serde_json::from_slice(bytes).map_err(|error| {
                    format!(
                        "the answer to the token request is not JSON ({error}): is the base URL \
                         Personio's API?"
                    )
                })?;
                let data = root.get("data").unwrap_or(&Value::Null);
                let token = data
                    .get("token")
                    .and_then(Value::as_str)
                    .filter(|token| !token.is_empty())
                    .ok_or("auth answer has no `data.token`")?;
                Ok((Secret::new(token), lifetime(data.get("expires_in"))))
            },
        )
        .await
    }

    async fn authenticate_v2(&self, deadline: Deadline) -> Result<(Secret, Duration), HrError> {
        let call = Call {
            name: "auth v2",
            group: EndpointGroup::Auth,
            token: None,
            repeat: Repeat::Safe,
        };
        let url = self.url("/v2/auth/token");
        // The spec requires a form body (the client's `form` feature is not worth a dependency).
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("client_secret", self.config.client_secret.expose())
            .finish();
        let post_form = |http: &reqwest::Client| {
            http.post(&url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.clone())
        };
        self.execute(call, deadline, post_form, |bytes| {
            let root: Value = serde_json::from_slice(bytes)
                .map_err(|error| format!("token answer is not JSON: {error}"))?;
            let token = root
                .get("access_token")
                .and_then(Value::as_str)
                .filter(|token| !token.is_empty())
                .ok_or("token answer has no `access_token`")?;
            Ok((Secret::new(token), lifetime(root.get("expires_in"))))
        })
        .await
    }
}

/// `expires_in` seconds (a number or numeric string); Personio's documented 24 h when absent.
fn lifetime(expires_in: Option<&Value>) -> Duration {
    const DOCUMENTED: Duration = Duration::from_secs(24 * 60 * 60);
    let seconds = expires_in.and_then(|value| {
        value
            .as_f64()
            .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
    });
    match seconds {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => Duration::from_secs_f64(seconds),
        _ => DOCUMENTED,
    }
}

fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_retry_after)
}

/// Sends and reads the whole body, so that a cut connection is a failed attempt, not a half
/// answer.
async fn exchange(request: RequestBuilder) -> Result<(StatusCode, HeaderMap, Bytes), Transient> {
    let response = request.send().await.map_err(classify)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(classify)?;
    Ok((status, headers, body))
}

/// A failed exchange: an address this host refuses to reach, or no answer.
fn classify(error: reqwest::Error) -> Transient {
    match crate::net::address_refusal(&error) {
        Some(refused) => {
            Transient::AddressRefused(format!("Personio's host {} {refused}", refused.host))
        }
        // `NoAnswer` drops the URL: a query string can hold an email address.
        None => Transient::NoAnswer(NoAnswer::of(error)),
    }
}

/// Personio's own words for a refusal: v1 `error.message`, v2 `errors[].detail`, OAuth
/// `error_description`; else the status.
/// Why a refused token request cannot have come from Personio, if it cannot: Personio refuses
/// bad credentials with 400/401/403/422 or with its JSON error shape; anything else (a 404 page,
/// a 405 from a web server) means the base URL points somewhere else.
fn not_personio_refusal(status: StatusCode, body: &[u8]) -> Option<String> {
    if matches!(status.as_u16(), 400 | 401 | 403 | 422) {
        return None;
    }
    let personio_shaped = serde_json::from_slice::<Value>(body).is_ok_and(|root| {
        ["error", "errors", "success", "error_description"]
            .iter()
            .any(|key| root.get(key).is_some())
    });
    (!personio_shaped).then(|| {
        format!(
            "the token request got HTTP {}{}, not a Personio answer",
            status.as_u16(),
            status
                .canonical_reason()
                .map_or_else(String::new, |reason| format!(" {reason}"))
        )
    })
}

pub(crate) fn error_message(body: &[u8], status: StatusCode) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let from_body = parsed.as_ref().and_then(|root| {
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        text(root.pointer("/error/message"))
            .or_else(|| {
                let details: Vec<String> = root
                    .get("errors")?
                    .as_array()?
                    .iter()
                    .filter_map(|error| {
                        text(error.get("detail")).or_else(|| text(error.get("title")))
                    })
                    .collect();
                (!details.is_empty()).then(|| details.join("; "))
            })
            .or_else(|| text(root.get("error_description")))
            .or_else(|| text(root.get("error")))
            .or_else(|| text(root.get("message")))
    });
    let mut message = from_body.unwrap_or_else(|| {
        status
            .canonical_reason()
            .map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_owned)
    });
    // Validation details (`error.error_data`) say which field is wrong.
    if let Some(details) = parsed
        .as_ref()
        .and_then(|root| root.pointer("/error/error_data"))
        .and_then(Value::as_object)
    {
        let fields: Vec<String> = details
            .iter()
            .map(|(field, problems)| match problems {
                Value::Array(items) => format!(
                    "{field}: {}",
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => format!("{field}: {other}"),
            })
            .collect();
        if !fields.is_empty() {
            message.push_str(" (");
            message.push_str(&fields.join("; "));
            message.push(')');
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_in_every_personio_shape() {
        let v1 = br#"{"success":false,"error":{"code":0,"message":"Der Mitarbeiter wurde nicht gefunden"}}"#;
        assert_eq!(
            error_message(v1, StatusCode::NOT_FOUND),
            "Der Mitarbeiter wurde nicht gefunden"
        );
        let v1_validation = br#"{"success":false,"error":{"code":0,"message":"The given data was invalid.","error_data":{"title":["The title field is required."]}}}"#;
        assert_eq!(
            error_message(v1_validation, StatusCode::UNPROCESSABLE_ENTITY),
            "The given data was invalid. (title: The title field is required.)"
        );
        let v2 = br#"{"personio_trace_id":"x","errors":[{"title":"Bad Request","detail":"owner_id is required."}]}"#;
        assert_eq!(
            error_message(v2, StatusCode::BAD_REQUEST),
            "owner_id is required."
        );
        let oauth =
            br#"{"error":"invalid_client","error_description":"Client authentication failed."}"#;
        assert_eq!(
            error_message(oauth, StatusCode::BAD_REQUEST),
            "Client authentication failed."
        );
        assert_eq!(error_message(b"<html>", StatusCode::FORBIDDEN), "Forbidden");
    }

    #[test]
    fn a_refusal_that_is_not_personio_s_is_not_blamed_on_the_credentials() {
        let html = b"<html><body>Not Found</body></html>";
        let reason = not_personio_refusal(StatusCode::NOT_FOUND, html).expect("not Personio");
        assert_eq!(
            reason,
            "the token request got HTTP 404 Not Found, not a Personio answer"
        );
        assert!(not_personio_refusal(StatusCode::METHOD_NOT_ALLOWED, b"").is_some());
        // Personio's own refusals, whatever the status.
        let v1 = br#"{"success":false,"error":{"code":0,"message":"Wrong credentials"}}"#;
        assert_eq!(not_personio_refusal(StatusCode::NOT_FOUND, v1), None);
        assert_eq!(not_personio_refusal(StatusCode::UNAUTHORIZED, html), None);
        assert_eq!(not_personio_refusal(StatusCode::FORBIDDEN, b""), None);
    }

    #[test]
    fn lifetimes_from_numbers_and_strings() {
        assert_eq!(
            lifetime(Some(&serde_json::json!(86400))),
            Duration::from_secs(86400)
        );
        assert_eq!(
            lifetime(Some(&serde_json::json!("3600"))),
            Duration::from_secs(3600)
        );
        assert_eq!(lifetime(None), Duration::from_secs(86400));
        assert_eq!(
            lifetime(Some(&serde_json::json!(-1))),
            Duration::from_secs(86400)
        );
    }
}
