//! Fetching a certificate's PDF from its `pdf_url`: only from allowed hosts, over HTTPS (plain
//! HTTP only to loopback hosts, and only where the host's [`NetworkPolicy`] allows it: the CLI
//! and tests), only to public addresses where the policy says so (an IP literal is refused up
//! front, a host name's addresses when it is resolved), with a size, a time and a redirect
//! limit, and only content that is a PDF. Redirects are followed by hand so that every hop is
//! checked against the same rules as the first URL.

use super::job::{RedactedUrl, looks_like_pdf};
use super::retrying::Retryable;
use crate::domain::settings::HostAllowList;
use crate::net::{NetworkPolicy, UrlRefusal};
use crate::retry::Deadline;
use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use std::time::Duration;
use url::Url;

/// Personio's limit for one document file (`POST /v1/company/documents`, `file` ≤ 30 MB), as
/// the Personio client enforces it before sending.
pub const MAX_PDF_BYTES: u64 = crate::ports::MAX_DOCUMENT_BYTES as u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// The largest body accepted; the download stops as soon as it is exceeded.
    pub max_bytes: u64,
    /// The whole fetch (every redirect hop and the body), further bounded by the caller's deadline.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_redirects: u32,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: MAX_PDF_BYTES,
            // 30 MB in two minutes needs 250 kB/s: slower than that, a later attempt is better.
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 5,
        }
    }
}

/// Why a PDF could not be fetched. URLs in messages never include their query (presigned
/// links carry their signature there).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("pdf_url host {host:?} is not in the integration's allowed_pdf_hosts")]
    HostNotAllowed { host: String },
    #[error("pdf_url must use https (plain http only for loopback hosts): {url}")]
    NotHttps { url: String },
    /// An internal address (or a URL this host does not fetch from), never retried.
    #[error("pdf_url host {host:?} {reason}")]
    AddressRefused { host: String, reason: String },
    #[error("the PDF server redirected more than {limit} times")]
    TooManyRedirects { limit: u32 },
    #[error("the PDF server sent an unusable redirect: {reason}")]
    BadRedirect { reason: String },
    #[error("the PDF is larger than {limit} bytes (Personio's limit for a document)")]
    TooLarge { limit: u64 },
    #[error(
        "the content at pdf_url is not a PDF (it does not start with %PDF-; Content-Type {content_type:?})"
    )]
    NotPdf { content_type: Option<String> },
    #[error("fetching the PDF timed out")]
    Timeout,
    #[error("the PDF server failed (HTTP {status})")]
    ServerUnavailable { status: u16 },
    #[error("no PDF at pdf_url (HTTP {status}): {url}")]
    NotFound { status: u16, url: String },
    #[error("the PDF server refused the request (HTTP {status}): {url}")]
    Refused { status: u16, url: String },
    #[error("could not reach the PDF server: {reason}")]
    Connection { reason: String },
    #[error("the HTTP client for PDFs could not be set up: {reason}")]
    Setup { reason: String },
}

impl FetchError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::ServerUnavailable { .. } | Self::Connection { .. }
        )
    }

    fn from_reqwest(error: reqwest::Error) -> Self {
        if let Some(refused) = crate::net::address_refusal(&error) {
            return Self::AddressRefused {
                host: refused.host.clone(),
                reason: refused.to_string(),
            };
        }
        if error.is_timeout() {
            return Self::Timeout;
        }
        // `without_url`: reqwest's message would otherwise repeat the presigned URL.
        Self::Connection {
            reason: error.without_url().to_string(),
        }
    }
}

impl Retryable for FetchError {
    fn is_retryable(&self) -> bool {
        FetchError::is_retryable(self)
    }
}

/// Downloads certificate PDFs. One per process: it holds the connection pool.
#[derive(Clone, Debug)]
pub struct PdfFetcher {
    client: reqwest::Client,
    limits: FetchLimits,
    network: NetworkPolicy,
}

impl PdfFetcher {
    /// A fetcher reaching what `network` allows: the host's policy (`ConnectPolicy::network` of
    /// the app layer), so the PDF fetch keeps to the same address rules as the connections.
    pub fn new(limits: FetchLimits, network: NetworkPolicy) -> Result<Self, FetchError> {
        let client = crate::net::client_builder(network)
            .connect_timeout(limits.connect_timeout)
            .build()
            .map_err(|error| FetchError::Setup {
                reason: error.to_string(),
            })?;
        Ok(Self {
            client,
            limits,
            network,
        })
    }

    pub fn limits(&self) -> FetchLimits {
        self.limits
    }

    /// One attempt (redirects included) to fetch the PDF at `url`. The caller retries
    /// retryable errors.
    pub async fn fetch(
        &self,
        url: &Url,
        allowed: &HostAllowList,
        deadline: Deadline,
    ) -> Result<Bytes, FetchError> {
        let fetch_deadline = deadline.min(Deadline::after(self.limits.timeout));
        tokio::time::timeout_at(
            fetch_deadline.instant(),
            self.fetch_following_redirects(url, allowed),
        )
        .await
        .unwrap_or(Err(FetchError::Timeout))
    }

    async fn fetch_following_redirects(
        &self,
        url: &Url,
        allowed: &HostAllowList,
    ) -> Result<Bytes, FetchError> {
        let mut current = url.clone();
        let mut redirects = 0;
        loop {
            check_url(&current, allowed, self.network)?;
            let response = self
                .client
                .get(current.clone())
                .header(reqwest::header::ACCEPT, "application/pdf")
                .send()
                .await
                .map_err(FetchError::from_reqwest)?;
            let status = response.status();
            if status.is_redirection() {
                redirects += 1;
                if redirects > self.limits.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        limit: self.limits.max_redirects,
                    });
                }
                current = redirect_target(&current, &response)?;
                continue;
            }
            if !status.is_success() {
                return Err(status_error(status, &current));
            }
            return self.read_pdf_body(response).await;
        }
    }

    /// Streams the body, stopping at the size limit, and checks the PDF magic as soon as the
    /// first bytes are in (a large HTML error page is not downloaded whole).
    async fn read_pdf_body(&self, mut response: reqwest::Response) -> Result<Bytes, FetchError> {
        let limit = self.limits.max_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(FetchError::TooLarge { limit });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let not_pdf = || FetchError::NotPdf {
            content_type: content_type.clone(),
        };
        let mut body = BytesMut::new();
        let mut magic_checked = false;
        while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
            if !magic_checked && body.len() >= b"%PDF-".len() {
                if !looks_like_pdf(&body) {
                    return Err(not_pdf());
                }
                magic_checked = true;
            }
        }
        if !looks_like_pdf(&body) {
            return Err(not_pdf());
        }
        Ok(body.freeze())
    }
}

/// The scheme, address and host rules, for the first URL and every redirect target alike.
fn check_url(url: &Url, allowed: &HostAllowList, network: NetworkPolicy) -> Result<(), FetchError> {
    let host = url.host_str().unwrap_or_default();
    match crate::net::check_url(url, network) {
        Ok(()) => {}
        Err(UrlRefusal::Address(refused)) => {
            return Err(FetchError::AddressRefused {
                host: host.to_owned(),
                reason: refused.to_string(),
            });
        }
        Err(UrlRefusal::UserInfo) => {
            return Err(FetchError::AddressRefused {
                host: host.to_owned(),
                reason: UrlRefusal::UserInfo.to_string(),
            });
        }
        Err(_) => {
            return Err(FetchError::NotHttps {
                url: RedactedUrl(url).to_string(),
            });
        }
    }
    if !allowed.allows(host) {
        return Err(FetchError::HostNotAllowed {
            host: host.to_owned(),
        });
    }
    Ok(())
}

fn redirect_target(current: &Url, response: &reqwest::Response) -> Result<Url, FetchError> {
    let location = response
        .headers()
        .get(LOCATION)
        .ok_or_else(|| FetchError::BadRedirect {
            reason: format!("HTTP {} without a Location header", response.status()),
        })?
        .to_str()
        .map_err(|_| FetchError::BadRedirect {
            reason: "a Location header that is not text".into(),
        })?;
    // Relative locations are resolved against the URL that answered.
    current
        .join(location)
        .map_err(|error| FetchError::BadRedirect {
            reason: format!("Location is not a URL: {error}"),
        })
}

fn status_error(status: StatusCode, url: &Url) -> FetchError {
    let url = RedactedUrl(url).to_string();
    match status.as_u16() {
        404 | 410 => FetchError::NotFound {
            status: status.as_u16(),
            url,
        },
        408 | 429 => FetchError::ServerUnavailable {
            status: status.as_u16(),
        },
        code if status.is_server_error() => FetchError::ServerUnavailable { status: code },
        code => FetchError::Refused { status: code, url },
    }
}

#[cfg(test)]
pub(crate) mod test_server;

#[cfg(test)]
mod tests {
    use super::test_server::{Reply, TestServer};
    use super::*;
    use crate::domain::settings::CertificateSettings;

    fn allow(hosts: &[&str]) -> HostAllowList {
        CertificateSettings {
            allowed_pdf_hosts: hosts.iter().map(|host| host.to_string()).collect(),
            ..CertificateSettings::default()
        }
        .pdf_host_allow_list()
        .unwrap()
    }

    fn fetcher(limits: FetchLimits) -> PdfFetcher {
        PdfFetcher::new(limits, NetworkPolicy::LOCAL).unwrap()
    }

    async fn fetch(
        server: &TestServer,
        path: &str,
        limits: FetchLimits,
    ) -> Result<Bytes, FetchError> {
        fetcher(limits)
            .fetch(
                &server.url(path),
                &allow(&["127.0.0.1"]),
                Deadline::after(Duration::from_secs(20)),
            )
            .await
    }

    const PDF: &[u8] = b"%PDF-1.7\n% a tiny test document\n%%EOF\n";

    #[tokio::test]
    async fn fetches_a_pdf_through_allowed_redirects() {
        let server = TestServer::start(vec![
            ("/start", Reply::redirect("/moved")),
            ("/moved", Reply::redirect("/file.pdf")),
            ("/file.pdf", Reply::ok(PDF)),
        ])
        .await;
        let body = fetch(&server, "/start?sig=1", FetchLimits::default())
            .await
            .unwrap();
        assert_eq!(&body[..], PDF);
    }

    #[tokio::test]
    async fn each_failure_has_its_own_error() {
        let server = TestServer::start(vec![
            ("/html", Reply::ok(b"<html>login</html>")),
            ("/empty", Reply::ok(b"")),
            ("/gone", Reply::status(404)),
            ("/forbidden", Reply::status(403)),
            ("/broken", Reply::status(503)),
            ("/throttled", Reply::status(429)),
            ("/loop", Reply::redirect("/loop")),
            (
                "/offsite",
                Reply::redirect("https://evil.example.net/x.pdf"),
            ),
            (
                "/downgrade",
                Reply::redirect("http://files.example.com/x.pdf"),
            ),
            ("/slow", Reply::ok(PDF).delayed(Duration::from_secs(5))),
        ])
        .await;
        let limits = FetchLimits {
            timeout: Duration::from_millis(500),
            ..FetchLimits::default()
        };
        let outcome = |path: &'static str| {
            let server = &server;
            async move { fetch(server, path, limits).await.unwrap_err() }
        };
        assert!(matches!(outcome("/html").await, FetchError::NotPdf { .. }));
        assert!(matches!(outcome("/empty").await, FetchError::NotPdf { .. }));
        let gone = outcome("/gone").await;
        assert!(matches!(gone, FetchError::NotFound { status: 404, .. }));
        assert!(!gone.is_retryable());
        assert!(matches!(
            outcome("/forbidden").await,
            FetchError::Refused { status: 403, .. }
        ));
        let broken = outcome("/broken").await;
        assert!(matches!(
            broken,
            FetchError::ServerUnavailable { status: 503 }
        ));
        assert!(broken.is_retryable());
        assert!(outcome("/throttled").await.is_retryable());
        assert!(matches!(
            outcome("/loop").await,
            FetchError::TooManyRedirects { limit: 5 }
        ));
        assert!(matches!(
            outcome("/offsite").await,
            FetchError::HostNotAllowed { host } if host == "evil.example.net"
        ));
        assert!(matches!(
            outcome("/downgrade").await,
            FetchError::NotHttps { .. }
        ));
        let slow = outcome("/slow").await;
        assert!(matches!(slow, FetchError::Timeout));
        assert!(slow.is_retryable());
    }

    #[tokio::test]
    async fn hosts_and_schemes_are_checked_before_any_request() {
        let fetcher = fetcher(FetchLimits::default());
        let deadline = Deadline::after(Duration::from_secs(5));
        let not_listed = fetcher
            .fetch(
                &Url::parse("https://files.other.example/x.pdf").unwrap(),
                &allow(&["files.example.com"]),
                deadline,
            )
            .await
            .unwrap_err();
        assert!(matches!(not_listed, FetchError::HostNotAllowed { .. }));
        // Allowed host, but plain http to a non-loopback host.
        let plain = fetcher
            .fetch(
                &Url::parse("http://files.example.com/x.pdf?X-Amz-Signature=secret").unwrap(),
                &allow(&["files.example.com"]),
                deadline,
            )
            .await
            .unwrap_err();
        assert!(matches!(plain, FetchError::NotHttps { .. }));
        assert!(!plain.to_string().contains("secret"), "{plain}");
    }

    /// On a host of public addresses only (the Lambda functions), an allow-listed host is not
    /// enough: loopback over plain http, the metadata service, a private address and a name
    /// resolving to loopback are all refused before any request.
    #[tokio::test]
    async fn a_hosted_fetcher_reaches_public_addresses_only() {
        let server = TestServer::start(vec![("/c.pdf", Reply::ok(PDF))]).await;
        let hosted = PdfFetcher::new(FetchLimits::default(), NetworkPolicy::HOSTED).unwrap();
        let allowed = allow(&["127.0.0.1", "169.254.169.254", "10.0.0.7", "localhost"]);
        let deadline = Deadline::after(Duration::from_secs(5));
        let port = server.url("/c.pdf").port().unwrap_or_default();
        let refused = |text: String| {
            let hosted = &hosted;
            let allowed = &allowed;
            async move {
                hosted
                    .fetch(&Url::parse(&text).unwrap(), allowed, deadline)
                    .await
                    .unwrap_err()
            }
        };
        let loopback_http = refused(server.url("/c.pdf").to_string()).await;
        assert!(
            matches!(loopback_http, FetchError::NotHttps { .. }),
            "{loopback_http}"
        );
        for (text, class) in [
            (
                "https://169.254.169.254/latest/meta-data/".to_owned(),
                "cloud metadata",
            ),
            ("https://10.0.0.7/c.pdf".to_owned(), "private"),
            (format!("https://localhost:{port}/c.pdf"), "loopback"),
        ] {
            let error = refused(text.clone()).await;
            assert!(
                matches!(&error, FetchError::AddressRefused { reason, .. } if reason.contains(class)),
                "{text}: {error}"
            );
            assert!(!error.is_retryable());
        }
        assert_eq!(server.requests(), 0);
        // The same fetcher on the local host's policy fetches from loopback.
        let local = fetch(&server, "/c.pdf", FetchLimits::default())
            .await
            .unwrap();
        assert_eq!(&local[..], PDF);
    }

    #[tokio::test]
    async fn oversized_bodies_stop_at_the_limit() {
        let big = {
            let mut body = b"%PDF-1.7\n".to_vec();
            body.resize(2 * 1024 * 1024, b'x');
            body
        };
        let server = TestServer::start(vec![
            ("/declared", Reply::ok(&big)),
            ("/streamed", Reply::ok(&big).chunked()),
            ("/small", Reply::ok(PDF).chunked()),
        ])
        .await;
        let limits = FetchLimits {
            max_bytes: 1024 * 1024,
            ..FetchLimits::default()
        };
        for path in ["/declared", "/streamed"] {
            let error = fetch(&server, path, limits).await.unwrap_err();
            assert!(
                matches!(error, FetchError::TooLarge { limit: 1_048_576 }),
                "{path}: {error}"
            );
            assert!(!error.is_retryable());
        }
        assert_eq!(&fetch(&server, "/small", limits).await.unwrap()[..], PDF);
    }

    #[tokio::test]
    async fn the_real_limit_is_personios_30_mb() {
        let mut body = b"%PDF-1.7\n".to_vec();
        body.resize(MAX_PDF_BYTES as usize + 1, b'x');
        let server = TestServer::start(vec![("/huge", Reply::ok(&body).chunked())]).await;
        let error = fetch(&server, "/huge", FetchLimits::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::TooLarge {
                    limit: MAX_PDF_BYTES
                }
            ),
            "{error}"
        );
    }
}
