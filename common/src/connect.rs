//! Builds an integration's adapters (the Personio client and the SCIM client) from the
//! non-secret connection settings plus the secrets. Every host (CLI, Lambda functions, admin API)
//! connects through here, so a new connection option is added once.

use crate::domain::integration::{LmsConnection, PersonioConnection};
use crate::lms::scim::{ScimConfig, ScimLms, ScimSetupError};
use crate::personio::{PersonioClient, PersonioConfig};
use crate::ports::{HrError, IntegrationCredentials};
use std::sync::Arc;
use url::Url;

/// The two remote systems of one integration.
#[derive(Clone)]
pub struct IntegrationAdapters {
    pub hr: Arc<PersonioClient>,
    pub lms: Arc<ScimLms>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("personio.base_url: {0}")]
    PersonioBaseUrl(String),
    #[error("cannot set up the Personio client: {0}")]
    Personio(#[from] HrError),
    #[error("lms.scim_base_url: {0}")]
    Scim(#[from] ScimSetupError),
}

/// The Personio client config for a connection (production limits and timeouts by default).
pub fn personio_config(
    connection: &PersonioConnection,
    credentials: &IntegrationCredentials,
) -> Result<PersonioConfig, ConnectError> {
    let mut config = PersonioConfig::new(
        credentials.personio_client_id.clone(),
        credentials.personio_client_secret.clone(),
    );
    if let Some(base_url) = &connection.base_url {
        let url = Url::parse(base_url.trim())
            .map_err(|error| ConnectError::PersonioBaseUrl(format!("{base_url:?}: {error}")))?;
        config = config.with_base_url(url);
    }
    config.partner_id = connection.partner_id.clone();
    config.app_id = connection.app_id.clone();
    Ok(config)
}

pub fn connect(
    personio: &PersonioConnection,
    lms: &LmsConnection,
    credentials: &IntegrationCredentials,
) -> Result<IntegrationAdapters, ConnectError> {
    let hr = PersonioClient::new(personio_config(personio, credentials)?)?;
    let lms = ScimLms::new(ScimConfig::new(
        lms.scim_base_url.clone(),
        credentials.lms_token.clone(),
    ))?;
    Ok(IntegrationAdapters {
        hr: Arc::new(hr),
        lms: Arc::new(lms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn credentials() -> IntegrationCredentials {
        IntegrationCredentials {
            personio_client_id: "client".into(),
            personio_client_secret: Secret::new("s3cret"),
            lms_token: Secret::new("t0ken"),
        }
    }

    #[test]
    fn connects_with_defaults_and_overrides() {
        let personio = PersonioConnection {
            base_url: Some("http://127.0.0.1:9/".into()),
            partner_id: Some("partner".into()),
            app_id: None,
        };
        let config = personio_config(&personio, &credentials()).unwrap();
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(config.partner_id.as_deref(), Some("partner"));
        let lms = LmsConnection {
            scim_base_url: "https://lms.example.com/scim/v2".into(),
        };
        assert!(connect(&personio, &lms, &credentials()).is_ok());
    }

    #[test]
    fn bad_urls_name_the_field() {
        let personio = PersonioConnection {
            base_url: Some("not a url".into()),
            ..PersonioConnection::default()
        };
        let lms = LmsConnection {
            scim_base_url: "https://lms.example.com/scim/v2".into(),
        };
        let error = connect(&personio, &lms, &credentials())
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("personio.base_url:")),
            "{error:?}"
        );
        let lms = LmsConnection {
            scim_base_url: "http://lms.example.com/scim/v2".into(),
        };
        let error = connect(&PersonioConnection::default(), &lms, &credentials())
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("lms.scim_base_url:")),
            "{error:?}"
        );
    }
}
