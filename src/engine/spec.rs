//! What the engine is asked to scrape: jobs and their targets, independent of where they came
//! from (command line, prometheus.yml, file_sd, dns_sd).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::event::{PoolKey, TargetId};

pub use crate::event::Scheme;

/// A value that must never be shown, logged or serialized: prints as `<secret>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// TLS settings of a job (`tls_config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// PEM file of CA certificates to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against (and send as SNI).
    pub server_name: Option<String>,
    /// Skip verification of the server certificate.
    pub insecure_skip_verify: bool,
    /// Minimum TLS version: "TLS12" or "TLS13".
    pub min_version: Option<String>,
}

/// How a job authenticates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// HTTP basic auth.
    Basic {
        /// User name (not secret).
        username: String,
        /// Password.
        password: Secret,
    },
    /// `Authorization: <type> <credentials>` (bearer_token is type `Bearer`).
    Authorization {
        /// Scheme, e.g. `Bearer`.
        kind: String,
        /// Credentials.
        credentials: Secret,
    },
}

/// Settings shared by every target of a job. Two jobs with equal settings scrape identically,
/// which is what a reload compares to decide whether a job changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobSettings {
    /// Job name.
    pub name: Arc<str>,
    /// Scrape interval.
    pub interval: Duration,
    /// Scrape timeout (≤ interval).
    pub timeout: Duration,
    /// Maximum uncompressed body bytes; 0 = no limit.
    pub body_size_limit: u64,
    /// Maximum samples; 0 = no limit.
    pub sample_limit: u64,
    /// Credentials to send.
    pub auth: Auth,
    /// TLS settings for https targets.
    pub tls: TlsSettings,
    /// Follow HTTP redirects (accepted; scrapetop reports redirects as non-200).
    pub follow_redirects: bool,
}

impl JobSettings {
    /// A job with Prometheus's defaults (1m interval, 10s timeout, no limits).
    pub fn new(name: &str) -> Self {
        JobSettings {
            name: Arc::from(name),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            body_size_limit: 0,
            sample_limit: 0,
            auth: Auth::None,
            tls: TlsSettings::default(),
            follow_redirects: true,
        }
    }
}

/// One target to scrape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetSpec {
    /// Its job's settings (shared).
    pub job: Arc<JobSettings>,
    /// The `instance` label.
    pub instance: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query string, e.g. `/metrics` or `/probe?target=x&module=http_2xx`.
    pub path_and_query: String,
    /// Final labels after relabelling (for display; not used to scrape).
    pub labels: BTreeMap<String, String>,
}

impl TargetSpec {
    /// `host:port`, with brackets around IPv6 addresses.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The scrape URL (never contains credentials).
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.host_port(),
            self.path_and_query
        )
    }

    /// The pool this target's connections come from: its job's, for its scheme, host, port.
    pub fn pool_key(&self) -> PoolKey {
        PoolKey {
            job: self.job.name.clone(),
            scheme: self.scheme,
            host: Arc::from(self.host.as_str()),
            port: self.port,
        }
    }

    /// The final label set as Prometheus has it: `labels`, with `job` and `instance` added
    /// when a source gave none (a target parsed from `--target`).
    pub fn final_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.entry("job".to_owned())
            .or_insert_with(|| self.job.name.to_string());
        l.entry("instance".to_owned())
            .or_insert_with(|| self.instance.clone());
        l
    }

    /// The target's identity (labels + URL, as Prometheus): see [`TargetId`].
    pub fn id(&self) -> TargetId {
        let labels = self.final_labels();
        TargetId::of(
            labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &self.url(),
        )
    }

    /// Parse `host:port` or a URL (`http://host:port/path?query`) into a target of `job`.
    /// `instance` becomes `host:port` as Prometheus does.
    pub fn parse(s: &str, job: Arc<JobSettings>) -> Result<TargetSpec, String> {
        let s = s.trim();
        let (scheme, rest) = if let Some(r) = s.strip_prefix("http://") {
            (Scheme::Http, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (Scheme::Https, r)
        } else if s.contains("://") {
            return Err(format!("unsupported scheme in {s:?} (http and https only)"));
        } else {
            (Scheme::Http, s)
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "credentials in the target address are not supported: {:?}",
                redact_userinfo(s)
            ));
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("invalid target address {s:?}: expected host:port or URL"))?;
        let port = match port {
            Some(p) => p,
            None => scheme.default_port(),
        };
        let path_and_query = if path.is_empty() {
            "/metrics".to_owned()
        } else if path.starts_with('?') {
            format!("/metrics{path}")
        } else {
            path.to_owned()
        };
        let mut t = TargetSpec {
            job,
            instance: String::new(),
            scheme,
            host: host.to_owned(),
            port,
            path_and_query,
            labels: BTreeMap::new(),
        };
        t.instance = t.host_port();
        Ok(t)
    }
}

/// Replace credentials in `user:pass@host` forms by `<secret>`.
pub fn redact_userinfo(s: &str) -> String {
    match (s.find("://"), s.find('@')) {
        (Some(a), Some(b)) if b > a => format!("{}<secret>{}", &s[..a + 3], &s[b..]),
        (None, Some(b)) => format!("<secret>{}", &s[b..]),
        _ => s.to_owned(),
    }
}

/// Split `host:port`, `[v6]:port`, `host` into host and optional port; `None` if malformed.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if authority.is_empty() {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok().filter(|p: &u16| *p != 0)?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().ok().filter(|p| *p != 0)?)),
        None => (authority, None),
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    valid.then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Arc<JobSettings> {
        Arc::new(JobSettings::new("j"))
    }

    #[test]
    fn parses_targets() {
        let cases = [
            (
                "localhost:9100",
                "http://localhost:9100/metrics",
                "localhost:9100",
            ),
            (
                "127.0.0.1:80",
                "http://127.0.0.1:80/metrics",
                "127.0.0.1:80",
            ),
            (
                "https://h.example:8443/m?x=1",
                "https://h.example:8443/m?x=1",
                "h.example:8443",
            ),
            ("http://h", "http://h:80/metrics", "h:80"),
            ("[::1]:9100", "http://[::1]:9100/metrics", "[::1]:9100"),
        ];
        for (input, url, instance) in cases {
            let t = TargetSpec::parse(input, job()).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(t.url(), url, "{input}");
            assert_eq!(t.instance, instance, "{input}");
        }
    }

    #[test]
    fn rejects_bad_targets() {
        for input in [
            "",
            ":80",
            "host:0",
            "host:99999",
            "ftp://x:1",
            "a b:1",
            "[zz]:1",
        ] {
            assert!(TargetSpec::parse(input, job()).is_err(), "{input} accepted");
        }
        let e = TargetSpec::parse("http://user:pw@h:1", job()).unwrap_err();
        assert!(!e.contains("pw"), "secret leaked: {e}");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
    }
}
