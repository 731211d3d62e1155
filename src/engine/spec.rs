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
    /// Follow HTTP redirects (up to 10, as Prometheus does); off: a redirect is a non-200.
    pub follow_redirects: bool,
    /// `enable_http2` (default true): offer `h2` by ALPN to https targets, as Prometheus's
    /// client does; `false` offers only `http/1.1`.
    pub enable_http2: bool,
    /// When set, every scrape of this job fails with this message instead of being attempted:
    /// a credentials or TLS file named in the configuration could not be read. Prometheus
    /// loads such a configuration and fails the job's scrapes; so does scrapetop.
    pub scrape_error: Option<String>,
    /// `label_limit`: most labels per sample (target labels included); 0 = no limit.
    pub label_limit: u64,
    /// `label_name_length_limit` in bytes; 0 = no limit.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit` in bytes; 0 = no limit.
    pub label_value_length_limit: u64,
    /// Which Prometheus to behave as when reading pages (`--compat`).
    pub compat: crate::expo::Compat,
    /// `fallback_scrape_protocol` (Prometheus 3): the parser for a missing or unknown
    /// Content-Type.
    pub fallback_scrape_protocol: Option<crate::expo::Format>,
    /// The `Accept` header from `scrape_protocols` (Prometheus 3); `None`: the default of
    /// `compat`.
    pub accept: Option<Arc<str>>,
    /// `scrape_native_histograms` and `always_scrape_classic_histograms` (Prometheus 3).
    pub histograms: crate::expo::Histograms,
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
            enable_http2: true,
            scrape_error: None,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            compat: crate::expo::Compat::V3,
            fallback_scrape_protocol: None,
            accept: None,
            histograms: crate::expo::Histograms::default(),
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

    /// The target's identity (labels + URL inside its job, as Prometheus): see [`TargetId`]
    /// and [`TargetId::in_pool`].
    pub fn id(&self) -> TargetId {
        let labels = self.final_labels();
        TargetId::in_pool(
            labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &self.url(),
            &self.job.name,
        )
    }

    /// Parse `host:port` or a URL (`http://host:port/path?query`) into a target of `job`.
    /// `instance` becomes `host:port` as Prometheus does. Validated as Go's URL parser and DNS
    /// would (control characters, escapes, port, host name lengths); every error quotes the
    /// input through [`crate::redact::quote`], so userinfo never shows.
    pub fn parse(s: &str, job: Arc<JobSettings>) -> Result<TargetSpec, TargetError> {
        let s = s.trim();
        let target = crate::redact::quote(s);
        if s.len() > MAX_TARGET_LEN {
            return Err(TargetError::TooLong {
                target,
                len: s.len(),
            });
        }
        if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(TargetError::ControlCharacter { target });
        }
        let (scheme, rest) = match s.find("://") {
            Some(i) => {
                let (name, rest) = (&s[..i], &s[i + 3..]);
                if name.eq_ignore_ascii_case("http") {
                    (Scheme::Http, rest)
                } else if name.eq_ignore_ascii_case("https") {
                    (Scheme::Https, rest)
                } else if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                {
                    return Err(TargetError::UnsupportedScheme {
                        scheme: name.to_owned(),
                        target,
                    });
                } else {
                    return Err(TargetError::NotAnAddress { target });
                }
            }
            None => (Scheme::Http, s),
        };
        // Go's URL parser: the authority ends at the first `/`, `?` or `#`.
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let hostport = split_host_port(authority);
        if authority.contains('@') || (hostport.is_none() && rest.contains('@')) {
            return Err(TargetError::Credentials { target });
        }
        let Some((host, port)) = hostport else {
            let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
            return Err(match invalid_host(host) {
                Some(why) if !host.is_empty() => TargetError::BadHost { target, why },
                _ => TargetError::NotAnAddress { target },
            });
        };
        // The fragment is never sent.
        let path = path.split('#').next().unwrap_or_default();
        if let Some(bad) = bad_escape(path) {
            return Err(TargetError::BadEscape {
                escape: bad.to_owned(),
                target,
            });
        }
        let port = port.unwrap_or_else(|| scheme.default_port());
        let path_and_query = if path.is_empty() {
            "/metrics".to_owned()
        } else if path.starts_with('?') {
            format!("/metrics{path}")
        } else {
            path.replace(' ', "%20")
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

/// Why a target address or URL cannot be scraped. `Display` is the user-facing message; every
/// variant holds the input only as [`crate::redact::quote`] made it (userinfo replaced, cut to
/// a readable length), so no variant can carry a secret into a log or an error line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Longer than [`MAX_TARGET_LEN`].
    #[error("target {target} is {len} bytes long: scrapetop accepts at most {MAX_TARGET_LEN}")]
    TooLong {
        /// The input, quoted and redacted.
        target: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A control character, which Go's URL parser refuses.
    #[error("invalid control character in URL {target}")]
    ControlCharacter {
        /// The input, quoted and redacted.
        target: String,
    },
    /// A scheme other than http and https.
    #[error("unsupported scheme {scheme:?} in {target} (http and https only)")]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
        /// The input, quoted and redacted.
        target: String,
    },
    /// Neither `host:port` nor a URL.
    #[error("invalid target address {target}: expected host:port or URL")]
    NotAnAddress {
        /// The input, quoted and redacted.
        target: String,
    },
    /// A host that is neither an IP address nor a name DNS could resolve.
    #[error("invalid target address {target}: {why}")]
    BadHost {
        /// The input, quoted and redacted.
        target: String,
        /// What is wrong with the host (see [`invalid_host`]).
        why: String,
    },
    /// Userinfo in the address: credentials belong in `basic_auth`, where they stay secret.
    #[error(
        "credentials in the target address are not supported (use basic_auth in a configuration file): {target}"
    )]
    Credentials {
        /// The input, quoted with its userinfo replaced.
        target: String,
    },
    /// A `%` not followed by two hex digits in the path.
    #[error("invalid URL escape {escape:?} in {target}")]
    BadEscape {
        /// The bad escape (at most three characters, never userinfo: it is after the host).
        escape: String,
        /// The input, quoted and redacted.
        target: String,
    },
}

/// Longest target (address or URL) accepted, in bytes: far above any real URL, far below a
/// runaway line.
pub const MAX_TARGET_LEN: usize = 64 * 1024;

/// The first `%` not followed by two hex digits, as Go's URL parser rejects it.
fn bad_escape(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let i = s.find('%')?;
    let ok = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
    if ok(i + 1) && ok(i + 2) {
        bad_escape(&s[i + 3..])
    } else {
        Some(&s[i..(i + 3).min(s.len())])
    }
}

/// Replace credentials in `user:pass@host` forms by `<secret>` (everything before the last
/// `@`): see [`crate::redact::userinfo`].
pub fn redact_userinfo(s: &str) -> String {
    crate::redact::userinfo(s)
}

/// Why `host` is neither an IP address nor a name DNS could resolve (at most 253 bytes, labels
/// of 1 to 63 letters, digits, `-` or `_`, an optional final dot); `None` when it is fine.
pub fn invalid_host(host: &str) -> Option<String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Some("empty host name".into());
    }
    if name.len() > 253 {
        return Some(format!(
            "host name of {} bytes: DNS allows at most 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("empty label in host name".into());
        }
        if label.len() > 63 {
            return Some(format!(
                "host name label of {} bytes: DNS allows at most 63",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Some(format!("invalid character {c:?} in host name"));
        }
    }
    None
}

/// Split `host:port`, `[v6]:port`, `host` into host and optional port; `None` if malformed
/// (including a host name DNS would refuse: see [`invalid_host`]).
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
    if host.contains(':') {
        return None;
    }
    invalid_host(host).is_none().then_some((host, port))
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
        for input in [
            "http://user:pw@h:1",
            "http://user:p/w@h:1",
            "http://user:p?w@h:1",
            "http://user:p@w@h:1",
            "ftp://user:pw@h:1",
            "user:pw@h:1",
            "user:p/w@h:1/m",
        ] {
            let e = TargetSpec::parse(input, job())
                .expect_err(input)
                .to_string();
            assert!(
                !e.contains("pw") && !e.contains("p/w"),
                "secret leaked: {e}"
            );
            assert!(
                !e.contains("p?w") && !e.contains("p@w"),
                "secret leaked: {e}"
            );
        }
    }

    #[test]
    fn host_names_follow_dns_limits() {
        let label63 = "a".repeat(63);
        let ok = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
        assert_eq!(ok.len(), 253);
        assert!(TargetSpec::parse(&format!("{ok}:1"), job()).is_ok());
        assert!(TargetSpec::parse(&format!("{ok}.:1"), job()).is_ok());
        let cases = [
            (
                format!("{ok}b:1"),
                "host name of 254 bytes: DNS allows at most 253",
            ),
            (
                format!("{}.x:1", "a".repeat(64)),
                "host name label of 64 bytes",
            ),
            ("a..b:1".to_owned(), "empty label in host name"),
            (
                "x".repeat(50_000_000),
                "bytes long: scrapetop accepts at most 65536",
            ),
            ("http://h:1/%zz".to_owned(), "invalid URL escape \"%zz\""),
            ("http://h:1/a\nb".to_owned(), "invalid control character"),
        ];
        for (input, want) in cases {
            let e = TargetSpec::parse(&input, job())
                .expect_err(want)
                .to_string();
            assert!(e.contains(want), "{e}");
            assert!(e.len() < 400, "long error: {} bytes", e.len());
        }
    }

    /// Each refusal is its own variant, and its message is the one users have always read
    /// (the CLI, `check` and reload errors print it as is).
    #[test]
    fn errors_are_typed_and_keep_their_messages() {
        let cases = [
            (
                "ftp://x:1",
                "unsupported scheme \"ftp\" in \"ftp://x:1\" (http and https only)",
            ),
            (
                "://x:1",
                "invalid target address \"://x:1\": expected host:port or URL",
            ),
            (
                "a..b:1",
                "invalid target address \"a..b:1\": empty label in host name",
            ),
            (
                "http://u:pw@h:1",
                "credentials in the target address are not supported (use basic_auth in a \
                 configuration file): \"http://<secret>@h:1\"",
            ),
            ("h:1/%zz", "invalid URL escape \"%zz\" in \"h:1/%zz\""),
            (
                "h:1/\x7f",
                "invalid control character in URL \"h:1/\\u{7f}\"",
            ),
        ];
        for (input, want) in cases {
            let e = TargetSpec::parse(input, job()).expect_err(input);
            assert_eq!(e.to_string(), want, "{input}");
        }
        assert!(matches!(
            TargetSpec::parse("ftp://x:1", job()),
            Err(TargetError::UnsupportedScheme { scheme, .. }) if scheme == "ftp"
        ));
        assert!(matches!(
            TargetSpec::parse("a..b:1", job()),
            Err(TargetError::BadHost { .. })
        ));
        let long = "h".repeat(MAX_TARGET_LEN + 1);
        assert!(matches!(
            TargetSpec::parse(&long, job()),
            Err(TargetError::TooLong { len, .. }) if len == MAX_TARGET_LEN + 1
        ));
        // Debug (what a `{:?}` in a log prints) holds the redacted quote only.
        let e = TargetSpec::parse("http://user:hunter2@h:1", job()).expect_err("userinfo");
        assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
        assert!(matches!(e, TargetError::Credentials { .. }));
    }

    /// Prometheus keeps targets per pool: identical labels + URL in two jobs are two targets
    /// (two ids), in one job one; and an ordinary target's id is the documented hash of its
    /// labels and URL alone, the id an observer computes from Prometheus's API.
    #[test]
    fn ids_are_per_job_and_unchanged_when_the_job_label_names_the_job() {
        let in_job = |name: &str, job_label: Option<&str>| {
            let mut t = TargetSpec::parse("h:1", Arc::new(JobSettings::new(name))).expect("valid");
            if let Some(j) = job_label {
                t.labels.insert("job".into(), j.into());
            }
            t
        };
        let plain = in_job("node", None);
        assert_eq!(
            plain.id(),
            TargetId::of([("instance", "h:1"), ("job", "node")], "http://h:1/metrics")
        );
        assert_eq!(plain.id(), in_job("node", Some("node")).id());
        assert_ne!(in_job("a", None).id(), in_job("b", None).id());
        let (c1, c2) = (in_job("c1", Some("shared")), in_job("c2", Some("shared")));
        assert_eq!(c1.final_labels(), c2.final_labels());
        assert_ne!(c1.id(), c2.id(), "same labels and URL in two jobs");
        assert_eq!(c1.id(), in_job("c1", Some("shared")).id(), "stable");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
    }
}
