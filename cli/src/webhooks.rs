//! `personio-lms webhooks install|status|remove`: the admin API's webhook routes
//! (`PUT|GET|DELETE /integrations/{id}/webhook`) from the command line. The webhook belongs to a
//! host that receives Personio's deliveries (`personio-lms serve`, or the AWS stack), so the
//! command asks that host; the work (Personio's webhook API, the token kept with the secrets,
//! the audit entry) happens there, as from the console.
//!
//! The admin token is read from `PERSONIO_LMS_ADMIN_TOKEN` (serve's admin token, or a JWT for
//! the AWS stack): never an argument, so it stays out of shell histories and process lists.

use crate::args::{DEFAULT_API, WebhookTarget, WebhooksAction, WebhooksActionKind};
use crate::error::{CliError, ExitCode};
use common::secret::Secret;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Where the command finds the admin token.
pub const ADMIN_TOKEN_VAR: &str = "PERSONIO_LMS_ADMIN_TOKEN";

/// The API runs Personio's webhook calls within its own budget (two minutes on serve).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(150);

pub async fn webhooks(action: &WebhooksAction) -> Result<ExitCode, CliError> {
    let (kind, target) = action.parts();
    let token = std::env::var(ADMIN_TOKEN_VAR)
        .ok()
        .filter(|token| !token.trim().is_empty())
        .map(Secret::new)
        .ok_or_else(|| {
            CliError::Input(format!(
                "set {ADMIN_TOKEN_VAR} to the host's admin token (serve prints it on its first \
                 start; on AWS a token of the stack's user pool)"
            ))
        })?;
    let url = route(&target.api, &target.integration)?;
    let method = match kind {
        WebhooksActionKind::Install => Method::PUT,
        WebhooksActionKind::Status => Method::GET,
        WebhooksActionKind::Remove => Method::DELETE,
    };
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| CliError::failed("cannot build the HTTP client", error))?;
    let response = client
        .request(method, url.clone())
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|error| {
            CliError::Failed(format!(
                "the admin API at {} cannot be reached: {}",
                target.api,
                without_url(&error)
            ))
        })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(refusal(status, &body, target));
    }
    if target.json {
        println!(
            "{:#}",
            if body.is_null() {
                serde_json::json!({})
            } else {
                body
            }
        );
        return Ok(ExitCode::Success);
    }
    println!("{}", describe(kind, target, &body));
    Ok(match kind {
        WebhooksActionKind::Status if body["active"] != Value::Bool(true) => ExitCode::CheckFailed,
        _ => ExitCode::Success,
    })
}

/// `{api}/integrations/{id}/webhook`, with the id as one path segment.
fn route(api: &str, integration: &str) -> Result<reqwest::Url, CliError> {
    let mut url = reqwest::Url::parse(api.trim())
        .map_err(|error| CliError::Input(format!("--api {api:?} is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::Input(format!(
            "--api {api:?}: only http and https URLs"
        )));
    }
    url.path_segments_mut()
        .map_err(|()| CliError::Input(format!("--api {api:?} cannot take a path")))?
        .pop_if_empty()
        .extend(["integrations", integration, "webhook"]);
    Ok(url)
}

/// reqwest's error with its causes (the connection refused, the TLS failure), which its own
/// message leaves out.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// A refusal of the API as one line naming what to do.
fn refusal(status: StatusCode, body: &Value, target: &WebhookTarget) -> CliError {
    let detail = body["detail"]
        .as_str()
        .or_else(|| body["title"].as_str())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error"));
    let message = format!("the admin API answered {}: {detail}", status.as_u16());
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CliError::Input(format!(
            "{message} (is {ADMIN_TOKEN_VAR} the admin token of {}?)",
            target.api
        )),
        StatusCode::NOT_FOUND => CliError::Input(message),
        _ => CliError::Failed(message),
    }
}

fn describe(kind: WebhooksActionKind, target: &WebhookTarget, body: &Value) -> String {
    let id = &target.integration;
    // The hints name the same host (`--api` is left out where it is the default).
    let api = if target.api == DEFAULT_API {
        String::new()
    } else {
        format!(" --api {}", target.api)
    };
    match kind {
        WebhooksActionKind::Install => {
            let webhook = &body["webhook"];
            let events = webhook["enabled_events"]
                .as_array()
                .map(|events| {
                    events
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            format!(
                "webhook {} for {id}: Personio delivers to {} ({}), {}\n  events: {events}\n  \
                 check its deliveries with `personio-lms webhooks status --integration {id}{api}`",
                if body["replaced"] == Value::Bool(true) {
                    "installed again (the old token no longer works)"
                } else {
                    "installed"
                },
                webhook["url"].as_str().unwrap_or("?"),
                webhook["id"].as_str().unwrap_or("?"),
                webhook["status"].as_str().unwrap_or("?").to_lowercase(),
            )
        }
        WebhooksActionKind::Status => {
            let mut text = format!(
                "webhooks of {id}: {}",
                body["summary"].as_str().unwrap_or("unknown")
            );
            if let Some(failure) = body["last_failure"].as_object() {
                text.push_str(&format!(
                    "\n  last failed delivery: {} at {} ({}{})",
                    failure
                        .get("event_name")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    failure.get("at").and_then(Value::as_str).unwrap_or("?"),
                    failure
                        .get("status_code")
                        .and_then(Value::as_u64)
                        .map(|code| format!("HTTP {code}"))
                        .unwrap_or_else(|| "no answer".into()),
                    failure
                        .get("error")
                        .and_then(Value::as_str)
                        .map(|error| format!(": {error}"))
                        .unwrap_or_default(),
                ));
            }
            if body["active"] != Value::Bool(true) {
                text.push_str(&format!(
                    "\n  install it with `personio-lms webhooks install --integration {id}{api}`"
                ));
            }
            text
        }
        WebhooksActionKind::Remove => format!(
            "webhook of {id} removed from Personio and its token deleted; scheduled runs go on"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_keeps_the_api_path_and_escapes_the_id() {
        assert_eq!(
            route("https://api.example.com/prod/", "acme")
                .unwrap()
                .as_str(),
            "https://api.example.com/prod/integrations/acme/webhook"
        );
        assert_eq!(
            route("http://127.0.0.1:8080", "a b/c").unwrap().as_str(),
            "http://127.0.0.1:8080/integrations/a%20b%2Fc/webhook"
        );
        assert!(route("ftp://example.com", "acme").is_err());
        assert!(route("not a url", "acme").is_err());
    }
}
