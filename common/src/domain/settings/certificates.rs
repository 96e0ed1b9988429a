//! Per-integration settings of the certificate push (embedded in the integration's settings).

use serde::{Deserialize, Serialize};
use std::time::Duration;
use url::Host;

/// How long a claim on a certificate lasts by default: a Lambda runs at most 15 minutes, and a
/// worker never works on a certificate past its claim (see the pusher), so after this the
/// worker is surely gone and the next one may recover the certificate.
pub const DEFAULT_IN_PROGRESS_TTL_SECONDS: u64 = 15 * 60;
const MIN_IN_PROGRESS_TTL_SECONDS: u64 = 60;
const MAX_IN_PROGRESS_TTL_SECONDS: u64 = 24 * 60 * 60;
/// How long a job waits for its employee to be linked by default before it fails.
pub const DEFAULT_PARKED_EXPIRY_DAYS: u32 = 30;
const MAX_PARKED_EXPIRY_DAYS: u32 = 365;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateSettings {
    /// Whether certificate jobs are pushed at all (off: every job is refused, nothing recorded).
    pub enabled: bool,
    /// The Personio document category by name (trimmed, case-insensitive). `None`: the first that
    /// exists of "Learning certificates", "Bildungszertifikate", else "Other documents".
    pub category: Option<String>,
    /// Hosts `pdf_url`s may point to: exact names (`files.lms.example`) or a suffix form
    /// (`*.lms.example` matches every subdomain, not `lms.example` itself). Empty: no URL is
    /// fetched, only inline PDFs work.
    pub allowed_pdf_hosts: Vec<String>,
    /// How long one worker's claim on a certificate lasts (60 s to 24 h).
    pub in_progress_ttl_seconds: u64,
    /// How many days a job waits for its LMS user to be linked to an employee before it fails
    /// (1 to 365): a job for a user that never gets synced does not wait forever.
    pub parked_expiry_days: u32,
}

impl Default for CertificateSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            category: None,
            allowed_pdf_hosts: Vec::new(),
            in_progress_ttl_seconds: DEFAULT_IN_PROGRESS_TTL_SECONDS,
            parked_expiry_days: DEFAULT_PARKED_EXPIRY_DAYS,
        }
    }
}

/// A setting that cannot be used, naming it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CertificateSettingsError {
    /// `allowed_pdf_hosts[2]`, relative to the certificate settings.
    pub field: String,
    pub reason: String,
}

impl CertificateSettings {
    /// Checks every setting; the first problem is the error.
    pub fn validate(&self) -> Result<(), CertificateSettingsError> {
        if let Some(category) = &self.category
            && category.trim().is_empty()
        {
            return Err(CertificateSettingsError {
                field: "category".into(),
                reason: "must not be empty (leave it out to use the default categories)".into(),
            });
        }
        self.pdf_host_allow_list()?;
        if !(MIN_IN_PROGRESS_TTL_SECONDS..=MAX_IN_PROGRESS_TTL_SECONDS)
            .contains(&self.in_progress_ttl_seconds)
        {
            return Err(CertificateSettingsError {
                field: "in_progress_ttl_seconds".into(),
                reason: format!(
                    "must be between {MIN_IN_PROGRESS_TTL_SECONDS} and \
                     {MAX_IN_PROGRESS_TTL_SECONDS}, got {}",
                    self.in_progress_ttl_seconds
                ),
            });
        }
        if !(1..=MAX_PARKED_EXPIRY_DAYS).contains(&self.parked_expiry_days) {
            return Err(CertificateSettingsError {
                field: "parked_expiry_days".into(),
                reason: format!(
                    "must be between 1 and {MAX_PARKED_EXPIRY_DAYS}, got {}",
                    self.parked_expiry_days
                ),
            });
        }
        Ok(())
    }

    /// The parsed allow-list of PDF hosts.
    pub fn pdf_host_allow_list(&self) -> Result<HostAllowList, CertificateSettingsError> {
        self.allowed_pdf_hosts
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                HostPattern::parse(entry).map_err(|reason| CertificateSettingsError {
                    field: format!("allowed_pdf_hosts[{index}]"),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|patterns| HostAllowList { patterns })
    }

    pub fn in_progress_ttl(&self) -> Duration {
        Duration::from_secs(self.in_progress_ttl_seconds)
    }

    /// How long a parked job waits before it fails.
    pub fn parked_expiry(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.parked_expiry_days))
    }
}

/// One allowed host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// The host itself, lower-cased.
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com` (kept with its leading dot).
    Subdomains(String),
}

impl HostPattern {
    fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim().trim_end_matches('.').to_lowercase();
        if entry.is_empty() {
            return Err("must not be empty".into());
        }
        if entry.contains("://") || entry.contains('/') {
            return Err(format!(
                "expected a host name like files.example.com, not a URL: {entry:?}"
            ));
        }
        let (wildcard, host) = match entry.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, entry.as_str()),
        };
        if host.contains('*') {
            return Err(format!(
                "a wildcard is only allowed as a leading \"*.\": {entry:?}"
            ));
        }
        // Bracketed IPv6 literals are written as in URLs.
        let parsed = Host::parse(host).map_err(|error| format!("not a host name: {error}"))?;
        match (wildcard, parsed) {
            (false, _) => Ok(Self::Exact(host.to_owned())),
            (true, Host::Domain(domain)) if domain.contains('.') => {
                Ok(Self::Subdomains(format!(".{domain}")))
            }
            (true, Host::Domain(_)) => Err(format!(
                "{entry:?} is too broad: name at least a registrable domain, like *.example.com"
            )),
            (true, _) => Err(format!(
                "a wildcard cannot apply to an IP address: {entry:?}"
            )),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(exact) => host == exact,
            Self::Subdomains(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
        }
    }
}

/// The hosts PDFs may be fetched from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAllowList {
    patterns: Vec<HostPattern>,
}

impl HostAllowList {
    /// Whether `host` (as `Url::host_str` gives it: lower-case, IPv6 bracketed) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_lowercase();
        self.patterns.iter().any(|pattern| pattern.matches(&host))
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with_hosts(hosts: &[&str]) -> CertificateSettings {
        CertificateSettings {
            enabled: true,
            allowed_pdf_hosts: hosts.iter().map(|host| host.to_string()).collect(),
            ..CertificateSettings::default()
        }
    }

    #[test]
    fn exact_and_subdomain_patterns_match_as_documented() {
        let list = settings_with_hosts(&["Files.LMS.example ", "*.cdn.example.com", "127.0.0.1"])
            .pdf_host_allow_list()
            .unwrap();
        assert!(list.allows("files.lms.example"));
        assert!(!list.allows("evil.files.lms.example"));
        assert!(list.allows("eu.cdn.example.com"));
        assert!(list.allows("a.b.cdn.example.com"));
        assert!(!list.allows("cdn.example.com"));
        assert!(!list.allows("evilcdn.example.com"));
        assert!(list.allows("127.0.0.1"));
        assert!(!list.allows("127.0.0.2"));
    }

    #[test]
    fn bad_entries_are_named_by_index() {
        for (entry, expected) in [
            ("https://files.example.com", "not a URL"),
            ("*.com", "too broad"),
            ("files.*.example.com", "only allowed as a leading"),
            ("", "must not be empty"),
            ("*.127.0.0.1", "IP address"),
        ] {
            let error = settings_with_hosts(&["ok.example.com", entry])
                .validate()
                .unwrap_err();
            assert_eq!(error.field, "allowed_pdf_hosts[1]");
            assert!(error.reason.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn ttl_and_category_are_checked() {
        let mut settings = settings_with_hosts(&[]);
        assert_eq!(settings.validate(), Ok(()));
        settings.in_progress_ttl_seconds = 5;
        assert_eq!(
            settings.validate().unwrap_err().field,
            "in_progress_ttl_seconds"
        );
        settings.in_progress_ttl_seconds = DEFAULT_IN_PROGRESS_TTL_SECONDS;
        settings.category = Some("  ".into());
        assert_eq!(settings.validate().unwrap_err().field, "category");
        settings.category = None;
        settings.parked_expiry_days = 0;
        assert_eq!(settings.validate().unwrap_err().field, "parked_expiry_days");
        settings.parked_expiry_days = 366;
        assert_eq!(settings.validate().unwrap_err().field, "parked_expiry_days");
    }

    #[test]
    fn missing_fields_take_their_defaults() {
        let settings: CertificateSettings =
            serde_json::from_value(serde_json::json!({"enabled": true})).unwrap();
        assert!(settings.enabled);
        assert_eq!(
            settings.in_progress_ttl_seconds,
            DEFAULT_IN_PROGRESS_TTL_SECONDS
        );
        assert!(settings.allowed_pdf_hosts.is_empty());
        assert_eq!(settings.parked_expiry_days, DEFAULT_PARKED_EXPIRY_DAYS);
    }
}
