//! The SCIM client never follows a redirect: its bearer token goes to the configured base URL
//! and nowhere else.

use super::{ScimConfig, ScimLms};
use crate::certificates::fetch::test_server::{Reply, TestServer};
use crate::ports::{LearningPlatform, LmsError};
use crate::retry::Backoff;
use crate::secret::Secret;
use std::time::Duration;

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    for status in [301, 307, 308] {
        let elsewhere = TestServer::start(vec![("/collect", Reply::ok(b"{}"))]).await;
        let target = elsewhere.url("/collect").to_string();
        let lms = TestServer::start(vec![
            (
                "/scim/ServiceProviderConfig",
                Reply::redirect_with(status, &target),
            ),
            ("/scim/Users", Reply::redirect_with(status, &target)),
        ])
        .await;
        let mut config = ScimConfig::new(lms.url("/scim").as_str(), Secret::new("scim-t0ken"));
        config.backoff = Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_attempts: 2,
        };
        let client = ScimLms::new(config).unwrap();
        let error = client
            .find_user_by_email("ada@acme.example")
            .await
            .expect_err("a redirect is an error");
        let text = error.to_string();
        assert!(matches!(error, LmsError::Refused(_)), "{text}");
        assert!(!error.is_retryable());
        let origin = elsewhere.url("/").origin().ascii_serialization();
        assert!(text.contains(&format!("redirect to {origin}")), "{text}");
        assert!(!text.contains("scim-t0ken"), "{text}");
        assert_eq!(elsewhere.requests(), 0, "the other origin was reached");
    }
}
