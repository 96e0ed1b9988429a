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
    /// `GET /v1/company/document-categories`
    DocumentCategories,
    /// `POST /v1/company/documents`
    DocumentUpload,
    /// `GET /v2/document-management/documents`
    DocumentListV2,
}

impl Endpoint {
    const ALL: [Self; 6] = [
        Self::AuthV1,
        Self::AuthV2,
        Self::Employees,
        Self::DocumentCategories,
        Self::DocumentUpload,
        Self::DocumentListV2,
    ];

    /// The path the router serves the operation on.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::AuthV1 => "/v1/auth",
            Self::AuthV2 => "/v2/auth/token",
            Self::Employees => "/v1/company/employees",
            Self::DocumentCategories => "/v1/company/document-categories",
            Self::DocumentUpload => "/v1/company/documents",
            Self::DocumentListV2 => "/v2/document-management/documents",
        }
    }

    fn method(self) -> Method {
        match self {
            Self::AuthV1 | Self::AuthV2 | Self::DocumentUpload => Method::POST,
            Self::Employees | Self::DocumentCategories | Self::DocumentListV2 => Method::GET,
        }
    }

    /// The operation a request is for; a trailing slash still counts (and then gets a 404).
    pub(crate) fn from_route(method: &Method, path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        Self::ALL
            .into_iter()
            .find(|endpoint| endpoint.method() == method && endpoint.path() == path)
    }

    /// v2 operations answer with v2 error bodies and take v2 tokens only.
    pub(crate) fn is_v2(self) -> bool {
        matches!(self, Self::AuthV2 | Self::DocumentListV2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_endpoint() {
        for endpoint in Endpoint::ALL {
            let found = Endpoint::from_route(&endpoint.method(), endpoint.path());
            assert_eq!(found, Some(endpoint));
            let with_slash = format!("{}/", endpoint.path());
            assert_eq!(
                Endpoint::from_route(&endpoint.method(), &with_slash),
                Some(endpoint)
            );
        }
        assert_eq!(Endpoint::from_route(&Method::GET, "/v1/auth"), None);
        assert_eq!(Endpoint::from_route(&Method::GET, "/v1/company"), None);
    }
}
