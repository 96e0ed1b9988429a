//! The admin API's route table: one list that the router matches and the OpenAPI test compares
//! with `openapi.json`, so a route cannot be served without being documented (or vice versa).

use http::Method;

/// What a matched request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    OpenApi,
    CreateIntegration,
    ListIntegrations,
    GetIntegration,
    UpdateIntegration,
    DeleteIntegration,
    SyncNow,
    Reconcile,
    Plan,
    Check,
    SyncEmployee,
    ListRuns,
    GetRun,
    SubmitCertificate,
    ListCertificates,
    SubmitCertificateBatch,
    GetCertificate,
    InstallWebhook,
    WebhookStatus,
    RemoveWebhook,
    ExplainEmployee,
    SettingsDefaults,
    ListAudit,
}

/// One route: method, path template (OpenAPI syntax, `{name}` for a parameter), endpoint.
pub struct Route {
    pub method: Method,
    pub template: &'static str,
    pub endpoint: Endpoint,
}

/// Every route the API serves. Literal segments win over parameters where both could match
/// (`/certificates/batch` before `/certificates/{certificate_id}`), because the first match
/// in this order is taken.
pub fn routes() -> [Route; 23] {
    let route = |method: Method, template: &'static str, endpoint: Endpoint| Route {
        method,
        template,
        endpoint,
    };
    [
        route(Method::GET, "/openapi.json", Endpoint::OpenApi),
        route(Method::POST, "/integrations", Endpoint::CreateIntegration),
        route(Method::GET, "/integrations", Endpoint::ListIntegrations),
        route(Method::GET, "/integrations/{id}", Endpoint::GetIntegration),
        route(
            Method::PUT,
            "/integrations/{id}",
            Endpoint::UpdateIntegration,
        ),
        route(
            Method::DELETE,
            "/integrations/{id}",
            Endpoint::DeleteIntegration,
        ),
        route(Method::POST, "/integrations/{id}/sync", Endpoint::SyncNow),
        route(
            Method::POST,
            "/integrations/{id}/reconcile",
            Endpoint::Reconcile,
        ),
        route(Method::POST, "/integrations/{id}/plan", Endpoint::Plan),
        route(Method::POST, "/integrations/{id}/check", Endpoint::Check),
        route(
            Method::POST,
            "/integrations/{id}/employees/{personio_id}/sync",
            Endpoint::SyncEmployee,
        ),
        route(Method::GET, "/integrations/{id}/runs", Endpoint::ListRuns),
        route(
            Method::GET,
            "/integrations/{id}/runs/{run_id}",
            Endpoint::GetRun,
        ),
        route(
            Method::POST,
            "/integrations/{id}/certificates",
            Endpoint::SubmitCertificate,
        ),
        route(
            Method::GET,
            "/integrations/{id}/certificates",
            Endpoint::ListCertificates,
        ),
        route(
            Method::POST,
            "/integrations/{id}/certificates/batch",
            Endpoint::SubmitCertificateBatch,
        ),
        route(
            Method::GET,
            "/integrations/{id}/certificates/{certificate_id}",
            Endpoint::GetCertificate,
        ),
        route(
            Method::PUT,
            "/integrations/{id}/webhook",
            Endpoint::InstallWebhook,
        ),
        route(
            Method::GET,
            "/integrations/{id}/webhook",
            Endpoint::WebhookStatus,
        ),
        route(
            Method::DELETE,
            "/integrations/{id}/webhook",
            Endpoint::RemoveWebhook,
        ),
        route(
            Method::GET,
            "/settings/defaults",
            Endpoint::SettingsDefaults,
        ),
        route(
            Method::GET,
            "/integrations/{id}/employees/{personio_id}",
            Endpoint::ExplainEmployee,
        ),
        route(Method::GET, "/integrations/{id}/audit", Endpoint::ListAudit),
    ]
}

/// The outcome of matching a request line against the table.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    Found {
        endpoint: Endpoint,
        /// The path parameters in template order (already percent-decoded).
        params: Vec<String>,
    },
    /// The path exists, the method does not: the methods it has, for the `Allow` header.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
}

pub fn match_route(method: &Method, path: &str) -> RouteMatch {
    let Some(segments) = split_path(path) else {
        return RouteMatch::NotFound;
    };
    let mut allowed = Vec::new();
    for route in routes() {
        let Some(params) = match_template(route.template, &segments) else {
            continue;
        };
        // HEAD is not offered: API Gateway answers it for nothing useful here.
        if route.method == *method {
            return RouteMatch::Found {
                endpoint: route.endpoint,
                params,
            };
        }
        if !allowed.contains(&route.method) {
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        RouteMatch::NotFound
    } else {
        RouteMatch::MethodNotAllowed { allowed }
    }
}

/// The decoded segments of a path; a trailing slash is tolerated. `None` for a path that is not
/// valid percent-encoded UTF-8 (no route can match it).
fn split_path(path: &str) -> Option<Vec<String>> {
    let trimmed = path.strip_prefix('/')?;
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    trimmed.split('/').map(percent_decode).collect()
}

fn match_template(template: &str, segments: &[String]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') && part.ends_with('}') {
            if segment.is_empty() {
                return None;
            }
            params.push(segment.clone());
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Undoes percent-encoding (`%2F` → `/`); `None` for a malformed escape or non-UTF-8 bytes.
pub(crate) fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = segment.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_parameters_literals_and_methods() {
        assert_eq!(
            match_route(&Method::GET, "/integrations/abc/runs/r%2F1"),
            RouteMatch::Found {
                endpoint: Endpoint::GetRun,
                params: vec!["abc".into(), "r/1".into()],
            }
        );
        assert_eq!(
            match_route(&Method::POST, "/integrations/abc/certificates/batch/"),
            RouteMatch::Found {
                endpoint: Endpoint::SubmitCertificateBatch,
                params: vec!["abc".into()],
            }
        );
        assert_eq!(
            match_route(&Method::GET, "/integrations/abc/certificates/batch"),
            RouteMatch::Found {
                endpoint: Endpoint::GetCertificate,
                params: vec!["abc".into(), "batch".into()],
            }
        );
        assert_eq!(
            match_route(&Method::PATCH, "/integrations/abc"),
            RouteMatch::MethodNotAllowed {
                allowed: vec![Method::GET, Method::PUT, Method::DELETE],
            }
        );
        assert_eq!(
            match_route(&Method::GET, "/integrations/abc/nothing"),
            RouteMatch::NotFound
        );
        assert_eq!(
            match_route(&Method::GET, "/integrations//runs"),
            RouteMatch::NotFound
        );
        assert_eq!(
            match_route(&Method::GET, "/integrations/%zz"),
            RouteMatch::NotFound
        );
        assert_eq!(match_route(&Method::GET, "relative"), RouteMatch::NotFound);
    }
}
