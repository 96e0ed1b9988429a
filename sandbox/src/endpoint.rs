//! The API operations the sandbox serves, each named once with its method and path.

use axum::http::Method;

/// An API operation, for inspection counters and fault targeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /v1/auth`
    AuthV1,
    /// `POST /v2/auth/token`
    AuthV2,
    /// `GET /v1/company/employees`
    Employees,
    /// `GET /v1/company/employees/{employee_id}`
    Employee,
    /// `GET /v1/company/document-categories`
    DocumentCategories,
    /// `POST /v1/company/documents`
    DocumentUpload,
    /// `GET /v2/document-management/documents`
    DocumentListV2,
    /// `POST /v2/webhooks`
    WebhookCreate,
    /// `GET /v2/webhooks`
    WebhookList,
    /// `GET /v2/webhooks/{id}`
    WebhookGet,
    /// `PATCH /v2/webhooks/{id}`
    WebhookUpdate,
    /// `DELETE /v2/webhooks/{id}`
    WebhookDelete,
    /// `GET /v2/webhooks/{id}/events`
    WebhookEvents,
    /// `GET /v2/webhooks/{id}/activity`
    WebhookActivity,
    /// `POST /v2/webhooks/{id}/redelivery`
    WebhookRedelivery,
    /// `POST /v2/webhooks/{id}/ping`
    WebhookPing,
    /// `POST /v2/webhooks/{id}/test-event`
    WebhookTestEvent,
}

/// The OAuth scopes Personio's v2 API knows that the sandbox checks.
pub mod scopes {
    pub const DOCUMENTS_READ: &str = "personio:documents:read";
    pub const DOCUMENTS_WRITE: &str = "personio:documents:write";
    pub const WEBHOOKS_READ: &str = "personio:webhooks:read";
    pub const WEBHOOKS_WRITE: &str = "personio:webhooks:write";

    /// Every scope a sandbox credential may hold; new credentials hold all of them.
    pub const ALL: [&str; 4] = [
        DOCUMENTS_READ,
        DOCUMENTS_WRITE,
        WEBHOOKS_READ,
        WEBHOOKS_WRITE,
    ];
}

impl Endpoint {
    pub(crate) const ALL: [Self; 17] = [
        Self::AuthV1,
        Self::AuthV2,
        Self::Employees,
        Self::Employee,
        Self::DocumentCategories,
        Self::DocumentUpload,
        Self::DocumentListV2,
        Self::WebhookCreate,
        Self::WebhookList,
        Self::WebhookGet,
        Self::WebhookUpdate,
        Self::WebhookDelete,
        Self::WebhookEvents,
        Self::WebhookActivity,
        Self::WebhookRedelivery,
        Self::WebhookPing,
        Self::WebhookTestEvent,
    ];

    /// The path the router serves the operation on (axum syntax: `{name}` is a path parameter).
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::AuthV1 => "/v1/auth",
            Self::AuthV2 => "/v2/auth/token",
            Self::Employees => "/v1/company/employees",
            Self::Employee => "/v1/company/employees/{employee_id}",
            Self::DocumentCategories => "/v1/company/document-categories",
            Self::DocumentUpload => "/v1/company/documents",
            Self::DocumentListV2 => "/v2/document-management/documents",
            Self::WebhookCreate | Self::WebhookList => "/v2/webhooks",
            Self::WebhookGet | Self::WebhookUpdate | Self::WebhookDelete => "/v2/webhooks/{id}",
            Self::WebhookEvents => "/v2/webhooks/{id}/events",
            Self::WebhookActivity => "/v2/webhooks/{id}/activity",
            Self::WebhookRedelivery => "/v2/webhooks/{id}/redelivery",
            Self::WebhookPing => "/v2/webhooks/{id}/ping",
            Self::WebhookTestEvent => "/v2/webhooks/{id}/test-event",
        }
    }

    fn method(self) -> Method {
        match self {
            Self::AuthV1
            | Self::AuthV2
            | Self::DocumentUpload
            | Self::WebhookCreate
            | Self::WebhookRedelivery
            | Self::WebhookPing
            | Self::WebhookTestEvent => Method::POST,
            Self::Employees
            | Self::Employee
            | Self::DocumentCategories
            | Self::DocumentListV2
            | Self::WebhookList
            | Self::WebhookGet
            | Self::WebhookEvents
            | Self::WebhookActivity => Method::GET,
            Self::WebhookUpdate => Method::PATCH,
            Self::WebhookDelete => Method::DELETE,
        }
    }

    /// The operation a request is for; a trailing slash still counts (and then gets a 404).
    pub(crate) fn from_route(method: &Method, path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        Self::ALL
            .into_iter()
            .find(|endpoint| endpoint.method() == method && matches_template(endpoint.path(), path))
    }

    /// v2 operations answer with v2 error bodies and take v2 tokens only.
    pub(crate) fn is_v2(self) -> bool {
        matches!(self, Self::AuthV2 | Self::DocumentListV2) || self.is_webhooks()
    }

    /// The webhooks management API, whose errors are `application/problem+json`.
    pub(crate) fn is_webhooks(self) -> bool {
        matches!(
            self,
            Self::WebhookCreate
                | Self::WebhookList
                | Self::WebhookGet
                | Self::WebhookUpdate
                | Self::WebhookDelete
                | Self::WebhookEvents
                | Self::WebhookActivity
                | Self::WebhookRedelivery
                | Self::WebhookPing
                | Self::WebhookTestEvent
        )
    }

    /// The v2 scope a token needs for this operation (v1 operations have none).
    pub(crate) fn required_scope(self) -> Option<&'static str> {
        match self {
            Self::DocumentListV2 => Some(scopes::DOCUMENTS_READ),
            Self::WebhookList | Self::WebhookGet | Self::WebhookEvents | Self::WebhookActivity => {
                Some(scopes::WEBHOOKS_READ)
            }
            Self::WebhookCreate
            | Self::WebhookUpdate
            | Self::WebhookDelete
            | Self::WebhookRedelivery
            | Self::WebhookPing
            | Self::WebhookTestEvent => Some(scopes::WEBHOOKS_WRITE),
            Self::AuthV1
            | Self::AuthV2
            | Self::Employees
            | Self::Employee
            | Self::DocumentCategories
            | Self::DocumentUpload => None,
        }
    }
}

/// Whether `path` fits `template`, segment by segment; `{…}` matches any non-empty segment.
fn matches_template(template: &str, path: &str) -> bool {
    let mut expected = template.split('/');
    let mut actual = path.split('/');
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(wanted), Some(segment)) => {
                let parameter = wanted.starts_with('{') && wanted.ends_with('}');
                if !(wanted == segment || (parameter && !segment.is_empty())) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_path(endpoint: Endpoint) -> String {
        endpoint
            .path()
            .replace("{employee_id}", "10001")
            .replace("{id}", "533e7206-f4a3-11ed-9c8b-436fad0b82d1")
    }

    #[test]
    fn routes_name_their_endpoint() {
        for endpoint in Endpoint::ALL {
            let path = example_path(endpoint);
            assert_eq!(
                Endpoint::from_route(&endpoint.method(), &path),
                Some(endpoint),
                "{path}"
            );
            let with_slash = format!("{path}/");
            assert_eq!(
                Endpoint::from_route(&endpoint.method(), &with_slash),
                Some(endpoint)
            );
        }
        assert_eq!(Endpoint::from_route(&Method::GET, "/v1/auth"), None);
        assert_eq!(Endpoint::from_route(&Method::GET, "/v1/company"), None);
        assert_eq!(
            Endpoint::from_route(&Method::GET, "/v1/company/employees/1/absences"),
            None
        );
        assert_eq!(Endpoint::from_route(&Method::PUT, "/v2/webhooks/x"), None);
    }

    #[test]
    fn v2_operations_need_scopes_and_v1_ones_do_not() {
        for endpoint in Endpoint::ALL {
            let scoped = endpoint.required_scope().is_some();
            let expected = endpoint.is_v2() && endpoint != Endpoint::AuthV2;
            assert_eq!(scoped, expected, "{endpoint:?}");
            if let Some(scope) = endpoint.required_scope() {
                assert!(scopes::ALL.contains(&scope));
            }
        }
    }
}
