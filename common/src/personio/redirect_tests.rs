//! The Personio client never follows a redirect: a 307/308 on either auth endpoint would send
//! the client secret (kept by the redirect, with the method and the body) to another origin.

use super::{PersonioClient, PersonioConfig, RateLimits};
use crate::certificates::fetch::test_server::{Reply, TestServer};
use crate::domain::employee::PersonioId;
use crate::ports::{HrError, HrSource};
use crate::retry::{Backoff, Deadline};
use crate::secret::Secret;
use std::time::Duration;

const SECRET: &str = "papi-s3cret-never-elsewhere";

async fn client_redirected_with(status: u16) -> (PersonioClient, TestServer, TestServer) {
    let elsewhere = TestServer::start(vec![("/collect", Reply::ok(b"{}"))]).await;
    let target = elsewhere.url("/collect").to_string();
    let personio = TestServer::start(vec![
        ("/v1/auth", Reply::redirect_with(status, &target)),
        ("/v2/auth/token", Reply::redirect_with(status, &target)),
    ])
    .await;
    let mut config =
        PersonioConfig::new("papi-client", Secret::new(SECRET)).with_base_url(personio.url("/"));
    config.limits = RateLimits::unlimited();
    config.backoff = Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        max_attempts: 2,
    };
    (PersonioClient::new(config).unwrap(), personio, elsewhere)
}

fn assert_refused_redirect(result: Result<impl std::fmt::Debug, HrError>, elsewhere: &TestServer) {
    let error = result.expect_err("a redirect is an error");
    let text = error.to_string();
    assert!(
        matches!(
            error,
            HrError::Rejected {
                status: 307 | 308,
                ..
            }
        ),
        "{text}"
    );
    let origin = elsewhere.url("/").origin().ascii_serialization();
    assert!(
        text.contains(&format!("a redirect to {origin}, not followed")),
        "{text}"
    );
    assert!(
        !text.contains(SECRET) && !text.contains("/collect"),
        "{text}"
    );
    assert!(!error.is_retryable());
    assert_eq!(elsewhere.requests(), 0, "the other origin was reached");
}

#[tokio::test]
async fn a_redirect_of_either_auth_endpoint_to_another_origin_is_not_followed() {
    for status in [307, 308] {
        // v1: every employee, category and upload call starts with POST /v1/auth.
        let (client, personio, elsewhere) = client_redirected_with(status).await;
        let categories = client
            .document_categories(Deadline::after(Duration::from_secs(10)))
            .await;
        assert_refused_redirect(categories, &elsewhere);
        assert_eq!(personio.requests(), 1, "asked once, not retried");

        // v2: the document list starts with POST /v2/auth/token.
        let (client, _personio, elsewhere) = client_redirected_with(status).await;
        let documents = client
            .find_documents(
                PersonioId(7),
                None,
                Deadline::after(Duration::from_secs(10)),
            )
            .await;
        assert_refused_redirect(documents, &elsewhere);
    }
}
