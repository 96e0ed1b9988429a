//! Where outgoing connections may go. Every HTTP client that carries a secret (the Personio
//! client secret, the SCIM token) or fetches a URL a tenant gave (a certificate's `pdf_url`) is
//! built here, under the host's [`NetworkPolicy`]:
//!
//! - no redirect is followed: a secret never travels to an origin its owner did not name, and
//!   an https URL is never downgraded to plain http;
//! - plain http only to a loopback address, and only where the host allows it (the CLI, tests);
//! - on a host that reaches only public addresses (the Lambda functions), an IP literal of a
//!   loopback, private, link-local, metadata or otherwise internal address is refused when the
//!   URL is checked, and a host name is resolved by [`GuardedResolver`], which drops such
//!   addresses from every answer at connect time, so a name that resolves to an internal
//!   address (or is re-pointed at one after it was checked: DNS rebinding) reaches nothing.

use async_trait::async_trait;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// What a host's outgoing connections may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Whether a URL may be plain `http://` to a loopback address (`127.0.0.0/8`, `::1`,
    /// `localhost`). Anywhere else only `https://` is accepted.
    pub allow_loopback_http: bool,
    /// Whether only public addresses may be reached: IP literals and resolved addresses that are
    /// loopback, private, link-local (the cloud metadata service), shared, multicast or
    /// reserved are refused.
    pub public_addresses_only: bool,
}

impl NetworkPolicy {
    /// A host whose operator names the URLs and runs beside what they name: the CLI (a sandbox,
    /// a SCIM server or a file server on this machine or the company network) and tests.
    pub const LOCAL: Self = Self {
        allow_loopback_http: true,
        public_addresses_only: false,
    };

    /// A host that connects to the URLs its tenants give it (the Lambda functions and the admin
    /// API): https to public addresses only, so that no tenant can aim it at the metadata
    /// service, the VPC or the host itself.
    pub const HOSTED: Self = Self {
        allow_loopback_http: false,
        public_addresses_only: true,
    };
}

/// Why a URL is not connected to. The message completes a sentence whose subject is the URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("must be an http(s) URL")]
    Scheme,
    #[error("must name a host")]
    NoHost,
    #[error("must not carry a user name or password (the credentials have settings of their own)")]
    UserInfo,
    #[error(
        "must use https: plain http only to a loopback address, so that the credentials never \
         cross a network in clear"
    )]
    PlainHttp,
    #[error("must use https: this host connects to no plain http address")]
    PlainHttpHere,
    #[error("{0}")]
    Address(AddressRefused),
}

/// An address this host does not connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRefused {
    /// The host as the URL names it.
    pub host: String,
    pub address: IpAddr,
    /// What kind of address it is ("loopback", "private", …).
    pub class: &'static str,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let article = if self.class.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        if self.host == self.address.to_string() || self.host == format!("[{}]", self.address) {
            write!(
                f,
                "names {}, {article} {} address",
                self.address, self.class
            )?;
        } else {
            write!(
                f,
                "resolves to {}, {article} {} address",
                self.address, self.class
            )?;
        }
        f.write_str(": this host connects to public addresses only")
    }
}

impl StdError for AddressRefused {}

/// The kind of internal address `ip` is, or `None` for a public address.
pub fn internal_address_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

/// AWS's instance metadata service (IPv4 and IPv6) and the ECS task metadata endpoint.
const METADATA_V4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
];
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let class = if METADATA_V4.contains(&ip) {
        "cloud metadata service"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if a == 100 && (b & 0xc0) == 64 {
        "shared (carrier-grade NAT)"
    } else if a == 0 {
        "unspecified"
    } else if ip.is_broadcast() {
        "broadcast"
    } else if ip.is_multicast() {
        "multicast"
    } else if a >= 240 || (a, b, c) == (192, 0, 0) || (a == 198 && (b & 0xfe) == 18) {
        "reserved"
    } else if ip.is_documentation() {
        "documentation"
    } else {
        return None;
    };
    Some(class)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d), compatible (::a.b.c.d).
    let embedded = |segments: &[u16; 8]| {
        Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        )
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_class(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_class(embedded(&segments));
    }
    let class = if ip == METADATA_V6 {
        "cloud metadata service"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if segments[..6] == [0; 6] {
        return v4_class(embedded(&segments)).or(Some("reserved"));
    } else if (segments[0] & 0xfe00) == 0xfc00 {
        "unique local (private)"
    } else if (segments[0] & 0xffc0) == 0xfe80 {
        "link-local"
    } else if (segments[0] & 0xffc0) == 0xfec0 {
        "site-local (private)"
    } else if ip.is_multicast() {
        "multicast"
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        "documentation"
    } else {
        return None;
    };
    Some(class)
}

/// Whether a URL's host is a loopback address or `localhost`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => {
            address.is_loopback() || address.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks what can be told from the URL itself: scheme, user info, and an IP literal host. A
/// host name is checked where it is resolved ([`GuardedResolver`], [`check_resolved`]).
pub fn check_url(url: &Url, policy: NetworkPolicy) -> Result<(), UrlRefusal> {
    let host = url.host().ok_or(UrlRefusal::NoHost)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::UserInfo);
    }
    match url.scheme() {
        "https" => {}
        "http" if !is_loopback(url) => return Err(UrlRefusal::PlainHttp),
        "http" if !policy.allow_loopback_http => return Err(UrlRefusal::PlainHttpHere),
        "http" => {}
        _ => return Err(UrlRefusal::Scheme),
    }
    if !policy.public_addresses_only {
        return Ok(());
    }
    let address = match host {
        Host::Ipv4(address) => IpAddr::V4(address),
        Host::Ipv6(address) => IpAddr::V6(address),
        Host::Domain(_) => return Ok(()),
    };
    match internal_address_class(address) {
        None => Ok(()),
        Some(class) => Err(UrlRefusal::Address(AddressRefused {
            host: url.host_str().unwrap_or_default().to_owned(),
            address,
            class,
        })),
    }
}

/// How long [`check_resolved`] waits for an answer before leaving the name to the connection.
const RESOLVE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// [`check_url`], then, where only public addresses may be reached, a lookup of the host name:
/// refused when any address it resolves to is internal. A name that cannot be resolved now is
/// not refused here (it may be a moment's DNS failure); the connection will tell.
pub async fn check_resolved(url: &Url, policy: NetworkPolicy) -> Result<(), UrlRefusal> {
    check_url(url, policy)?;
    let Some(Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    if !policy.public_addresses_only {
        return Ok(());
    }
    let lookup = tokio::time::timeout(RESOLVE_CHECK_TIMEOUT, SystemLookup.lookup(name)).await;
    let Ok(Ok(addresses)) = lookup else {
        return Ok(());
    };
    match addresses
        .into_iter()
        .find_map(|address| internal_address_class(address).map(|class| (address, class)))
    {
        None => Ok(()),
        Some((address, class)) => Err(UrlRefusal::Address(AddressRefused {
            host: name.to_owned(),
            address,
            class,
        })),
    }
}

/// Resolves host names to addresses.
#[async_trait]
pub trait HostLookup: Send + Sync {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver.
pub struct SystemLookup;

#[async_trait]
impl HostLookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0))
            .await?
            .map(|address| address.ip())
            .collect())
    }
}

/// The DNS resolver of clients that reach public addresses only: resolves with its
/// [`HostLookup`] and drops every internal address from the answer; a name left without an
/// address fails with [`AddressRefused`]. Checked on every connection, so a name that resolved
/// to a public address once cannot be re-pointed at an internal one.
pub struct GuardedResolver {
    lookup: Arc<dyn HostLookup>,
}

impl GuardedResolver {
    pub fn new(lookup: Arc<dyn HostLookup>) -> Self {
        Self { lookup }
    }

    /// The public addresses of `host`, or why there are none to connect to.
    pub async fn public_addresses(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn StdError + Send + Sync>> {
        let addresses = self.lookup.lookup(host).await?;
        let mut refused = None;
        let public: Vec<IpAddr> = addresses
            .into_iter()
            .filter(|address| match internal_address_class(*address) {
                None => true,
                Some(class) => {
                    refused.get_or_insert(AddressRefused {
                        host: host.to_owned(),
                        address: *address,
                        class,
                    });
                    false
                }
            })
            .collect();
        match (public.is_empty(), refused) {
            (true, Some(refused)) => Err(Box::new(refused)),
            (true, None) => Err(format!("{host} resolves to no address").into()),
            (false, refused) => {
                if let Some(refused) = refused {
                    tracing::warn!(%refused, "internal addresses dropped from a DNS answer");
                }
                Ok(public)
            }
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = Self {
            lookup: self.lookup.clone(),
        };
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = lookup.public_addresses(&host).await?;
            let addresses: reqwest::dns::Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|address| SocketAddr::new(address, 0)),
            );
            Ok(addresses)
        })
    }
}

/// The builder of every HTTP client that carries a secret or fetches a tenant's URL: no
/// redirect followed; under a policy of public addresses only, names resolved by a
/// [`GuardedResolver`] and no proxy from the environment (a proxy would resolve the names
/// itself, out of the guard's sight).
pub fn client_builder(policy: NetworkPolicy) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if policy.public_addresses_only {
        builder
            .dns_resolver(Arc::new(GuardedResolver::new(Arc::new(SystemLookup))))
            .no_proxy()
    } else {
        builder
    }
}

/// The [`AddressRefused`] somewhere in an error's causes (a refused connection of a client
/// built by [`client_builder`]).
pub fn address_refusal<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a AddressRefused> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refused) = error.downcast_ref::<AddressRefused>() {
            return Some(refused);
        }
        current = error.source();
    }
    None
}

/// The origin a redirect's `Location` points to (scheme, host, port; never path or query,
/// which can carry a signature), for saying where a refused redirect would have gone.
pub fn redirect_origin(base: &Url, location: Option<&str>) -> String {
    location
        .and_then(|location| base.join(location).ok())
        .map(|target| target.origin().ascii_serialization())
        .unwrap_or_else(|| "an unnamed location".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn refusal(text: &str, policy: NetworkPolicy) -> String {
        check_url(&url(text), policy).unwrap_err().to_string()
    }

    #[test]
    fn internal_addresses_are_classified() {
        for (address, class) in [
            ("169.254.169.254", "cloud metadata service"),
            ("127.0.0.53", "loopback"),
            ("10.1.2.3", "private"),
            ("172.31.255.1", "private"),
            ("192.168.0.10", "private"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "cloud metadata service"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata service"),
            ("fd00:ec2::254", "cloud metadata service"),
            ("fd12:3456::1", "unique local (private)"),
            ("fe80::1", "link-local"),
            ("::", "unspecified"),
        ] {
            let ip: IpAddr = address.parse().unwrap();
            assert_eq!(internal_address_class(ip), Some(class), "{address}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert_eq!(internal_address_class(ip), None, "{public}");
        }
    }

    #[test]
    fn urls_are_checked_by_scheme_user_info_and_ip_literal() {
        let hosted = NetworkPolicy::HOSTED;
        let local = NetworkPolicy::LOCAL;
        assert!(check_url(&url("https://api.personio.de"), hosted).is_ok());
        assert!(check_url(&url("http://127.0.0.1:8090/"), local).is_ok());
        assert!(check_url(&url("http://localhost:8090/"), local).is_ok());
        assert!(check_url(&url("https://10.0.0.5/scim"), local).is_ok());
        assert!(refusal("http://lms.example/scim", local).starts_with("must use https: plain"));
        assert!(refusal("http://127.0.0.1:9001/", hosted).contains("no plain http address"));
        assert_eq!(
            refusal("https://169.254.169.254/latest/meta-data/", hosted),
            "names 169.254.169.254, a cloud metadata service address: this host connects to \
             public addresses only"
        );
        assert!(refusal("https://10.0.0.5/scim", hosted).contains("a private address"));
        assert!(refusal("https://[::1]:8443/", hosted).contains("a loopback address"));
        assert!(refusal("https://user:pw@lms.example/", local).contains("user name or password"));
        assert_eq!(refusal("ftp://x", local), "must be an http(s) URL");
        // A decimal IPv4 literal is an IPv4 address all the same.
        assert!(refusal("https://2130706433/", hosted).contains("127.0.0.1"));
    }

    /// A lookup the test controls: what each name resolves to, changeable between calls.
    #[derive(Default)]
    struct ScriptedLookup(Mutex<HashMap<String, Vec<IpAddr>>>);

    impl ScriptedLookup {
        fn set(&self, host: &str, addresses: &[&str]) {
            self.0.lock().unwrap().insert(
                host.to_owned(),
                addresses.iter().map(|a| a.parse().unwrap()).collect(),
            );
        }
    }

    #[async_trait]
    impl HostLookup for ScriptedLookup {
        async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
            self.0
                .lock()
                .unwrap()
                .get(host)
                .cloned()
                .ok_or_else(|| std::io::Error::other("no such host"))
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_addresses_on_every_lookup() {
        let lookup = Arc::new(ScriptedLookup::default());
        let resolver = GuardedResolver::new(lookup.clone());
        lookup.set("lms.example", &["93.184.216.34"]);
        assert_eq!(
            resolver.public_addresses("lms.example").await.unwrap(),
            vec!["93.184.216.34".parse::<IpAddr>().unwrap()]
        );
        // Re-pointed after it was checked (DNS rebinding): refused at the next connection.
        lookup.set("lms.example", &["127.0.0.1"]);
        let error = resolver.public_addresses("lms.example").await.unwrap_err();
        let refused = address_refusal(error.as_ref()).expect("an address refusal");
        assert_eq!(refused.class, "loopback");
        assert_eq!(
            refused.to_string(),
            "resolves to 127.0.0.1, a loopback address: this host connects to public addresses \
             only"
        );
        // A mixed answer keeps only the public address.
        lookup.set("mixed.example", &["169.254.169.254", "93.184.216.34"]);
        assert_eq!(
            resolver.public_addresses("mixed.example").await.unwrap(),
            vec!["93.184.216.34".parse::<IpAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn a_client_of_public_addresses_only_cannot_reach_a_name_resolving_to_loopback() {
        // A server on loopback that would answer if the connection were made.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = client_builder(NetworkPolicy::HOSTED).build().unwrap();
        let error = client
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        let refused = address_refusal(&error).expect("refused by the resolver");
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.class, "loopback");
        assert!(
            check_resolved(
                &url(&format!("https://localhost:{port}/")),
                NetworkPolicy::HOSTED
            )
            .await
            .is_err()
        );
        assert!(
            check_resolved(
                &url(&format!("http://localhost:{port}/")),
                NetworkPolicy::LOCAL
            )
            .await
            .is_ok()
        );
    }

    #[test]
    fn a_redirect_is_named_by_its_origin_only() {
        let base = url("https://api.personio.de/v1/auth");
        assert_eq!(
            redirect_origin(&base, Some("https://evil.example:8443/steal?sig=1")),
            "https://evil.example:8443"
        );
        assert_eq!(
            redirect_origin(&base, Some("/v2/auth")),
            "https://api.personio.de"
        );
        assert_eq!(redirect_origin(&base, None), "an unnamed location");
    }
}
