//! Connecting an integration: its Personio client and its SCIM client, built from the non-secret
//! connection settings, the secrets and the host's [`ConnectPolicy`]. Every host (the CLI and its
//! demo, the Lambda functions, the admin API) connects through here, so each rule about where an
//! integration's secrets may be sent (which URLs, which timeouts and budgets) is written once.
//!
//! Hosts that read the secrets from a credential store connect through a [`Connector`]
//! ([`CredentialsConnector`] in production); tests hand in doubles.

use crate::domain::integration::{IntegrationRecord, LmsConnection, PersonioConnection};
use crate::lms::scim::{ScimConfig, ScimLms, ScimSetupError};
use crate::net::{NetworkPolicy, UrlRefusal};
use crate::personio::{DEFAULT_BASE_URL, PersonioClient, PersonioConfig, RateLimits};
use crate::ports::{
    Credentials, CredentialsError, HrSource, IntegrationCredentials, LearningPlatform,
};
use crate::retry::Deadline;
use crate::secret::Secret;
use async_trait::async_trait;
use std::sync::Arc;
use url::Url;

const PERSONIO_BASE_URL: &str = "personio.base_url";
const SCIM_BASE_URL: &str = "lms.scim_base_url";

/// What a host allows its connections. Every host passes one; the rules it sets are applied in
/// this module (and, for the addresses, by the clients `crate::net` builds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectPolicy {
    /// Whether a base URL may be plain `http://` to a loopback address (`127.0.0.0/8`, `::1`,
    /// `localhost`). Anywhere else only `https://` is accepted: the Personio client secret and the
    /// SCIM token must not cross a network in clear.
    pub allow_loopback_http: bool,
    /// Whether only public addresses may be reached: a base URL naming (or resolving to) a
    /// loopback, private, link-local or metadata address is refused, at connect time too.
    pub public_addresses_only: bool,
    /// Whether the Personio client keeps to Personio's documented rate limits per credential.
    /// Only a host talking to a server of its own that has no limits turns it off.
    pub personio_rate_budget: bool,
}

impl ConnectPolicy {
    /// A host whose operator names the URLs and runs beside what they name: the CLI (a sandbox or
    /// a SCIM server on this machine or the company network) and tests.
    pub const LOCAL: Self = Self {
        allow_loopback_http: true,
        public_addresses_only: false,
        personio_rate_budget: true,
    };

    /// A host that connects to the URLs its tenants give it: the Lambda functions and the admin
    /// API. https to public addresses only, so that no tenant can aim a check or a plan at the
    /// metadata service (`169.254.169.254`), the VPC or the Lambda runtime on loopback.
    pub const HOSTED: Self = Self {
        allow_loopback_http: false,
        public_addresses_only: true,
        personio_rate_budget: true,
    };

    /// The rules for addresses, as the HTTP clients and the PDF fetcher take them.
    pub fn network(&self) -> NetworkPolicy {
        NetworkPolicy {
            allow_loopback_http: self.allow_loopback_http,
            public_addresses_only: self.public_addresses_only,
        }
    }
}

/// The two remote systems of one integration, connected.
#[derive(Clone)]
pub struct IntegrationAdapters {
    pub hr: Arc<dyn HrSource>,
    pub lms: Arc<dyn LearningPlatform>,
}

/// Why an integration cannot be connected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The secrets could not be read (missing, malformed, or the store is unavailable).
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// A base URL this host does not connect to; `field` names the setting.
    #[error("{field}: {reason}")]
    Url { field: &'static str, reason: String },
    /// This machine cannot build an HTTP client (its TLS setup).
    #[error("cannot set up the {system} client: {reason}")]
    Client {
        system: &'static str,
        reason: String,
    },
    /// A stored secret was given for another address than the integration now names: it is not
    /// sent there (the base URL was changed without giving the secret again).
    #[error(
        "{field}: the stored {secret} was given for {given_for}, not for {now}; give it again \
         with the new address"
    )]
    SecretGivenElsewhere {
        field: &'static str,
        secret: &'static str,
        given_for: String,
        now: String,
    },
}

impl ConnectError {
    /// Only an unreachable credential store can get better by itself; a missing or malformed
    /// secret and a bad URL need an admin.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Credentials(error) => error.is_retryable(),
            Self::Url { .. } | Self::Client { .. } | Self::SecretGivenElsewhere { .. } => false,
        }
    }
}

/// Checks an integration's base URLs against the host's policy without building anything: what
/// the CLI does when it loads its config and the admin API when an integration is written, so a
/// bad URL names its field at once rather than failing a run later.
pub fn check_connection(
    personio: &PersonioConnection,
    lms: &LmsConnection,
    policy: &ConnectPolicy,
) -> Result<(), ConnectError> {
    if let Some(base_url) = &personio.base_url {
        checked_url(PERSONIO_BASE_URL, base_url, policy)?;
    }
    checked_url(SCIM_BASE_URL, &lms.scim_base_url, policy)?;
    Ok(())
}

/// [`check_connection`], and where only public addresses may be reached, a lookup of each base
/// URL's host name: one that resolves to an internal address is refused when the integration is
/// written (the admin API). The clients check again at every connection, so a name re-pointed
/// later reaches nothing either.
pub async fn check_connection_resolved(
    personio: &PersonioConnection,
    lms: &LmsConnection,
    policy: &ConnectPolicy,
) -> Result<(), ConnectError> {
    check_connection(personio, lms, policy)?;
    let fields = personio
        .base_url
        .iter()
        .map(|url| (PERSONIO_BASE_URL, url))
        .chain(std::iter::once((SCIM_BASE_URL, &lms.scim_base_url)));
    for (field, text) in fields {
        let url = checked_url(field, text, policy)?;
        crate::net::check_resolved(&url, policy.network())
            .await
            .map_err(|refusal| refused_url(field, text, &refusal))?;
    }
    Ok(())
}

/// The origin (`https://host:port`) of the Personio base URL a connection uses (Personio's
/// own when none is set), or `None` when it is not a URL.
pub fn personio_origin(connection: &PersonioConnection) -> Option<String> {
    origin_of(connection.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))
}

/// The origin of the SCIM base URL, as [`personio_origin`].
pub fn scim_origin(connection: &LmsConnection) -> Option<String> {
    origin_of(&connection.scim_base_url)
}

fn origin_of(text: &str) -> Option<String> {
    Url::parse(text.trim())
        .ok()
        .map(|url| url.origin().ascii_serialization())
}

/// Refuses credentials given for another origin than the connection's (credentials that say
/// nothing of where they were given are taken as they are).
fn check_destinations(
    personio: &PersonioConnection,
    lms: &LmsConnection,
    credentials: &IntegrationCredentials,
) -> Result<(), ConnectError> {
    let checks = [
        (
            PERSONIO_BASE_URL,
            "Personio client secret",
            &credentials.personio_origin,
            personio_origin(personio),
        ),
        (
            SCIM_BASE_URL,
            "SCIM token",
            &credentials.scim_origin,
            scim_origin(lms),
        ),
    ];
    for (field, secret, given_for, now) in checks {
        if let Some(given_for) = given_for
            && now.as_ref() != Some(given_for)
        {
            return Err(ConnectError::SecretGivenElsewhere {
                field,
                secret,
                given_for: given_for.clone(),
                now: now.unwrap_or_else(|| "an address that is not a URL".into()),
            });
        }
    }
    Ok(())
}

/// Whether the credentials say they were given for exactly this integration's origins.
fn given_for(
    personio: &PersonioConnection,
    lms: &LmsConnection,
    credentials: &IntegrationCredentials,
) -> bool {
    credentials.personio_origin.is_some()
        && credentials.scim_origin.is_some()
        && check_destinations(personio, lms, credentials).is_ok()
}

/// Connects both systems of an integration. Every LMS call ends by `deadline` too (a Lambda
/// invocation's end, a CLI run's budget); Personio calls take their deadline per call. A secret
/// given for another origin than the connection's is not sent there.
pub fn connect_integration(
    personio: &PersonioConnection,
    lms: &LmsConnection,
    credentials: &IntegrationCredentials,
    policy: &ConnectPolicy,
    deadline: Deadline,
) -> Result<IntegrationAdapters, ConnectError> {
    check_destinations(personio, lms, credentials)?;
    let hr = connect_personio(
        personio,
        &credentials.personio_client_id,
        &credentials.personio_client_secret,
        policy,
    )?;
    let lms = connect_lms(lms, &credentials.lms_token, policy)?.bounded_by(deadline);
    Ok(IntegrationAdapters {
        hr: Arc::new(hr),
        lms: Arc::new(lms),
    })
}

/// The Personio half of [`connect_integration`], for a host whose LMS is not reached over SCIM (the demo's
/// in-process LMS).
pub fn connect_personio(
    connection: &PersonioConnection,
    client_id: &str,
    client_secret: &Secret,
    policy: &ConnectPolicy,
) -> Result<PersonioClient, ConnectError> {
    let mut config = PersonioConfig::new(client_id, client_secret.clone());
    if let Some(base_url) = &connection.base_url {
        config = config.with_base_url(checked_url(PERSONIO_BASE_URL, base_url, policy)?);
    }
    config.partner_id = connection.partner_id.clone();
    config.app_id = connection.app_id.clone();
    config.network = policy.network();
    if !policy.personio_rate_budget {
        config.limits = RateLimits::unlimited();
    }
    PersonioClient::new(config).map_err(|error| ConnectError::Client {
        system: "Personio",
        reason: error.to_string(),
    })
}

fn connect_lms(
    connection: &LmsConnection,
    token: &Secret,
    policy: &ConnectPolicy,
) -> Result<ScimLms, ConnectError> {
    let base_url = checked_url(SCIM_BASE_URL, &connection.scim_base_url, policy)?;
    let mut config = ScimConfig::new(base_url.as_str(), token.clone());
    config.network = policy.network();
    ScimLms::new(config).map_err(|error| match error {
        ScimSetupError::HttpClient(error) => ConnectError::Client {
            system: "SCIM",
            reason: error.to_string(),
        },
        other => ConnectError::Url {
            field: SCIM_BASE_URL,
            reason: other.to_string(),
        },
    })
}

/// The one rule for an integration's base URLs: an http(s) URL without user info; https, or
/// plain http to a loopback address where the policy allows it; and an IP literal only of a
/// public address where only those may be reached (`crate::net::check_url`).
fn checked_url(
    field: &'static str,
    text: &str,
    policy: &ConnectPolicy,
) -> Result<Url, ConnectError> {
    let url = Url::parse(text.trim()).map_err(|error| ConnectError::Url {
        field,
        reason: format!("{text:?} is not a URL: {error}"),
    })?;
    crate::net::check_url(&url, policy.network())
        .map_err(|refusal| refused_url(field, text, &refusal))?;
    Ok(url)
}

/// A refused URL, naming the field; the URL itself only when it carries no user info (which
/// may be a password).
fn refused_url(field: &'static str, text: &str, refusal: &UrlRefusal) -> ConnectError {
    let reason = match refusal {
        UrlRefusal::UserInfo => format!("the URL {refusal}"),
        _ => format!("{text:?} {refusal}"),
    };
    ConnectError::Url { field, reason }
}

/// Connects an integration from its record. Production hosts use [`CredentialsConnector`];
/// tests may connect to doubles.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The policy the connections follow; the admin API checks new URLs against it too.
    fn policy(&self) -> ConnectPolicy;

    /// Connects the integration of `record`; its LMS calls end by `deadline`.
    async fn connect(
        &self,
        record: &IntegrationRecord,
        deadline: Deadline,
    ) -> Result<IntegrationAdapters, ConnectError>;
}

/// Every integration connected to the same adapters, built beforehand: a host that runs one
/// integration in process with adapters it made itself (the demo, benchmarks, tests).
pub struct FixedConnector {
    adapters: IntegrationAdapters,
    policy: ConnectPolicy,
}

impl FixedConnector {
    pub fn new(adapters: IntegrationAdapters, policy: ConnectPolicy) -> Self {
        Self { adapters, policy }
    }
}

#[async_trait]
impl Connector for FixedConnector {
    fn policy(&self) -> ConnectPolicy {
        self.policy
    }

    async fn connect(
        &self,
        _record: &IntegrationRecord,
        _deadline: Deadline,
    ) -> Result<IntegrationAdapters, ConnectError> {
        Ok(self.adapters.clone())
    }
}

/// Reads the integration's secrets from a credential store and connects the integration
/// ([`connect_integration`]), as every host that keeps integration records does.
pub struct CredentialsConnector {
    credentials: Arc<dyn Credentials>,
    policy: ConnectPolicy,
}

impl CredentialsConnector {
    pub fn new(credentials: Arc<dyn Credentials>, policy: ConnectPolicy) -> Self {
        Self {
            credentials,
            policy,
        }
    }
}

#[async_trait]
impl Connector for CredentialsConnector {
    fn policy(&self) -> ConnectPolicy {
        self.policy
    }

    async fn connect(
        &self,
        record: &IntegrationRecord,
        deadline: Deadline,
    ) -> Result<IntegrationAdapters, ConnectError> {
        let mut credentials = self.credentials.credentials(&record.id).await?;
        if !given_for(&record.personio, &record.lms, &credentials) {
            // Perhaps cached from before a change of address and its new secrets: read again.
            credentials = self.credentials.fresh_credentials(&record.id).await?;
        }
        connect_integration(
            &record.personio,
            &record.lms,
            &credentials,
            &self.policy,
            deadline,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> IntegrationCredentials {
        IntegrationCredentials::new("client", Secret::new("s3cret"), Secret::new("t0ken"))
    }

    fn lms(url: &str) -> LmsConnection {
        LmsConnection {
            scim_base_url: url.into(),
        }
    }

    fn personio(url: &str) -> PersonioConnection {
        PersonioConnection {
            base_url: Some(url.into()),
            ..PersonioConnection::default()
        }
    }

    fn refusal(result: Result<(), ConnectError>) -> String {
        match result {
            Ok(()) => panic!("expected a refusal"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn connects_with_defaults_and_overrides() {
        let personio = PersonioConnection {
            base_url: Some("http://127.0.0.1:9/".into()),
            partner_id: Some("partner".into()),
            app_id: None,
        };
        let client = connect_personio(
            &personio,
            "client",
            &Secret::new("s3cret"),
            &ConnectPolicy::LOCAL,
        )
        .unwrap();
        assert_eq!(client.config().base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(client.config().partner_id.as_deref(), Some("partner"));
        assert_eq!(client.config().limits, RateLimits::personio_documented());
        let default = connect_personio(
            &PersonioConnection::default(),
            "client",
            &Secret::new("s3cret"),
            &ConnectPolicy::HOSTED,
        )
        .unwrap();
        assert_eq!(
            default.config().base_url.as_str(),
            "https://api.personio.de/"
        );
        let unthrottled = ConnectPolicy {
            personio_rate_budget: false,
            ..ConnectPolicy::LOCAL
        };
        let client =
            connect_personio(&personio, "client", &Secret::new("s3cret"), &unthrottled).unwrap();
        assert_eq!(client.config().limits, RateLimits::unlimited());
        assert!(
            connect_integration(
                &personio,
                &lms("https://lms.example.com/scim/v2"),
                &credentials(),
                &ConnectPolicy::LOCAL,
                Deadline::none(),
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_urls_name_the_field() {
        let connect_refusal =
            |personio: &PersonioConnection, lms: &LmsConnection| match connect_integration(
                personio,
                lms,
                &credentials(),
                &ConnectPolicy::LOCAL,
                Deadline::none(),
            ) {
                Ok(_) => panic!("expected a refusal"),
                Err(error) => error.to_string(),
            };
        let https = lms("https://lms.example.com/scim/v2");
        let error = connect_refusal(&personio("not a url"), &https);
        assert!(error.starts_with("personio.base_url:"), "{error}");
        let error = connect_refusal(
            &PersonioConnection::default(),
            &lms("http://lms.example.com/scim/v2"),
        );
        assert!(error.starts_with("lms.scim_base_url:"), "{error}");
        let ftp = refusal(check_connection(
            &personio("ftp://x"),
            &https,
            &ConnectPolicy::LOCAL,
        ));
        assert_eq!(ftp, "personio.base_url: \"ftp://x\" must be an http(s) URL");
    }

    #[test]
    fn the_secrets_travel_over_https_or_to_loopback_only() {
        for url in [
            "https://lms.example/scim/v2",
            "http://127.0.0.1:8080/scim/v2",
            "http://[::1]:8080/",
            "http://localhost/scim",
        ] {
            assert!(
                check_connection(&personio(url), &lms(url), &ConnectPolicy::LOCAL).is_ok(),
                "{url}"
            );
        }
        let https = "https://lms.example/scim/v2";
        for url in ["http://lms.example/scim/v2", "http://10.0.0.1/"] {
            let lms_refused = refusal(check_connection(
                &PersonioConnection::default(),
                &lms(url),
                &ConnectPolicy::LOCAL,
            ));
            assert!(
                lms_refused.starts_with("lms.scim_base_url:") && lms_refused.contains("https"),
                "{lms_refused}"
            );
            let personio_refused = refusal(check_connection(
                &personio(url),
                &lms(https),
                &ConnectPolicy::LOCAL,
            ));
            assert!(
                personio_refused.starts_with("personio.base_url:"),
                "{personio_refused}"
            );
        }
        for url in ["lms.example/scim", "mailto:lms@example.com"] {
            assert!(
                check_connection(
                    &PersonioConnection::default(),
                    &lms(url),
                    &ConnectPolicy::LOCAL
                )
                .is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn a_hosted_policy_refuses_plain_http_even_to_loopback() {
        let loopback = "http://127.0.0.1:9001/2018-06-01/runtime";
        let https = "https://lms.example/scim/v2";
        let refused = refusal(check_connection(
            &personio(loopback),
            &lms(https),
            &ConnectPolicy::HOSTED,
        ));
        assert!(refused.starts_with("personio.base_url:"), "{refused}");
        let refused = refusal(check_connection(
            &PersonioConnection::default(),
            &lms(loopback),
            &ConnectPolicy::HOSTED,
        ));
        assert!(refused.starts_with("lms.scim_base_url:"), "{refused}");
        assert!(check_connection(&personio(https), &lms(https), &ConnectPolicy::HOSTED).is_ok());
    }

    #[test]
    fn a_hosted_policy_refuses_internal_addresses_at_connect_time() {
        let https = "https://lms.example/scim/v2";
        for (url, class) in [
            ("https://169.254.169.254/", "cloud metadata service"),
            ("https://10.0.0.8/scim", "private"),
            ("https://127.0.0.1:8443/", "loopback"),
            ("https://[::ffff:192.168.0.1]/", "private"),
        ] {
            let refused = match connect_integration(
                &personio(https),
                &lms(url),
                &credentials(),
                &ConnectPolicy::HOSTED,
                Deadline::none(),
            ) {
                Ok(_) => panic!("{url} must be refused"),
                Err(error) => error.to_string(),
            };
            assert!(
                refused.starts_with("lms.scim_base_url:") && refused.contains(class),
                "{refused}"
            );
            // The local host (the CLI) reaches its own network.
            assert!(check_connection(&personio(https), &lms(url), &ConnectPolicy::LOCAL).is_ok());
        }
        let with_password = refusal(check_connection(
            &personio("https://user:hunter2@api.personio.de"),
            &lms(https),
            &ConnectPolicy::LOCAL,
        ));
        assert!(
            with_password.contains("user name or password"),
            "{with_password}"
        );
        assert!(!with_password.contains("hunter2"), "{with_password}");
    }

    /// A host name passes the URL check, but where only public addresses may be reached its
    /// addresses are checked when the clients connect: a name resolving to loopback reaches
    /// nothing, neither Personio's client nor the SCIM client, and nothing is retried.
    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_when_connecting() {
        // Something listens there: only the address rule can keep the clients out.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}/",
            listener.local_addr().unwrap().port()
        );
        let adapters = connect_integration(
            &personio(&url),
            &lms(&format!("{url}scim/v2")),
            &credentials(),
            &ConnectPolicy::HOSTED,
            Deadline::none(),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let lms_error = adapters
            .lms
            .find_user_by_email("ada@acme.example")
            .await
            .expect_err("refused");
        assert!(
            matches!(lms_error, crate::ports::LmsError::Refused(_)),
            "{lms_error}"
        );
        assert!(
            lms_error
                .to_string()
                .contains("localhost resolves to 127.0.0.1, a loopback address"),
            "{lms_error}"
        );
        let hr_error = adapters
            .hr
            .document_categories(Deadline::after(std::time::Duration::from_secs(10)))
            .await
            .expect_err("refused");
        assert!(!hr_error.is_retryable(), "{hr_error}");
        assert!(
            hr_error
                .to_string()
                .contains("resolves to 127.0.0.1, a loopback address"),
            "{hr_error}"
        );
    }

    /// Stored secrets know the origin they were given for; a connection to another origin is
    /// refused, after one fresh read (the cache may hold secrets from before a rotation).
    #[tokio::test]
    async fn a_secret_is_never_sent_to_an_origin_it_was_not_given_for() {
        use crate::domain::IntegrationId;
        use std::sync::Mutex;

        struct Stored {
            cached: IntegrationCredentials,
            fresh: IntegrationCredentials,
            fresh_reads: Mutex<usize>,
        }

        #[async_trait]
        impl Credentials for Stored {
            async fn credentials(
                &self,
                _integration: &IntegrationId,
            ) -> Result<IntegrationCredentials, CredentialsError> {
                Ok(self.cached.clone())
            }

            async fn fresh_credentials(
                &self,
                _integration: &IntegrationId,
            ) -> Result<IntegrationCredentials, CredentialsError> {
                *self.fresh_reads.lock().unwrap() += 1;
                Ok(self.fresh.clone())
            }
        }

        let bound = |scim: &str| IntegrationCredentials {
            personio_origin: Some("https://api.personio.de".into()),
            scim_origin: Some(scim.into()),
            ..credentials()
        };
        let mut record = crate::store::contract::integration_record("acme", "tenant", None, 1);
        record.personio = PersonioConnection::default();
        record.lms = lms("https://academy.example.org/scim/v2");

        // Cached from before the move, stored anew with it: the fresh read connects.
        let rotated = Stored {
            cached: bound("https://lms.example.com"),
            fresh: bound("https://academy.example.org"),
            fresh_reads: Mutex::new(0),
        };
        let rotated = Arc::new(rotated);
        let connector = CredentialsConnector::new(rotated.clone(), ConnectPolicy::LOCAL);
        assert!(connector.connect(&record, Deadline::none()).await.is_ok());
        assert_eq!(*rotated.fresh_reads.lock().unwrap(), 1);

        // Still given for the old address: refused, naming both.
        let stale = Arc::new(Stored {
            cached: bound("https://lms.example.com"),
            fresh: bound("https://lms.example.com"),
            fresh_reads: Mutex::new(0),
        });
        let connector = CredentialsConnector::new(stale, ConnectPolicy::LOCAL);
        let error = connector
            .connect(&record, Deadline::none())
            .await
            .err()
            .expect("refused");
        assert_eq!(
            error.to_string(),
            "lms.scim_base_url: the stored SCIM token was given for https://lms.example.com, \
             not for https://academy.example.org; give it again with the new address"
        );
        assert!(!error.is_retryable());
    }

    #[tokio::test]
    async fn the_connector_reads_the_secrets_and_says_why_it_cannot_connect() {
        use crate::domain::IntegrationId;

        struct Secrets(Result<(), fn() -> CredentialsError>);

        #[async_trait]
        impl Credentials for Secrets {
            async fn credentials(
                &self,
                _integration: &IntegrationId,
            ) -> Result<IntegrationCredentials, CredentialsError> {
                self.0.map(|()| credentials()).map_err(|error| error())
            }
        }

        let mut record = crate::store::contract::integration_record("acme", "tenant", None, 1);
        record.lms = lms("https://lms.example.com/scim/v2");
        record.personio = PersonioConnection::default();
        let connector = CredentialsConnector::new(Arc::new(Secrets(Ok(()))), ConnectPolicy::HOSTED);
        assert_eq!(connector.policy(), ConnectPolicy::HOSTED);
        assert!(connector.connect(&record, Deadline::none()).await.is_ok());

        let unavailable = CredentialsConnector::new(
            Arc::new(Secrets(Err(|| {
                CredentialsError::Unavailable("throttled".into())
            }))),
            ConnectPolicy::HOSTED,
        );
        let error = unavailable
            .connect(&record, Deadline::none())
            .await
            .err()
            .expect("the secrets cannot be read");
        assert!(error.is_retryable(), "{error}");

        record.lms = lms("http://lms.example.com/scim/v2");
        let error = connector
            .connect(&record, Deadline::none())
            .await
            .err()
            .expect("a refused URL");
        assert!(!error.is_retryable(), "{error}");
        assert!(
            error.to_string().starts_with("lms.scim_base_url:"),
            "{error}"
        );
    }
}
