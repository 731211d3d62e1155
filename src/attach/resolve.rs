//! Name resolution as the attached process sees it: its own `/etc/hosts` first (read through
//! `/proc/PID/root`), then the name servers of its own resolv.conf, queried from inside its
//! network namespace (the observer's thread). Go's resolver consults files before DNS too.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::ResolveHosts;
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::event::DnsFailKind;

/// One answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Addresses.
    pub addrs: Vec<IpAddr>,
    /// TTL (hosts file: none, given as zero).
    pub ttl: Duration,
    /// How long the lookup took.
    pub took: Duration,
    /// `hosts` or `dns`.
    pub from: &'static str,
}

/// A failed lookup.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Classified.
    pub kind: DnsFailKind,
    /// Message.
    pub message: String,
    /// How long until it failed.
    pub took: Duration,
}

/// The attached process's resolver.
pub struct Resolver {
    root: PathBuf,
    dns: Option<TokioResolver>,
    /// Why there is no DNS resolver (resolv.conf unreadable), for failure messages.
    no_dns: String,
}

/// Addresses for `host` in a hosts file's text (case-insensitive, comments skipped).
pub fn hosts_lookup(text: &str, host: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split_whitespace();
        let Some(ip) = it.next().and_then(|s| s.parse::<IpAddr>().ok()) else {
            continue;
        };
        if it.any(|n| n.eq_ignore_ascii_case(host)) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

impl Resolver {
    /// For the process whose root is `/proc/PID/root`. Must be built on the observer's
    /// thread (inside the namespace).
    pub fn for_pid(pid: i32) -> Resolver {
        let mut root = PathBuf::from(format!("/proc/{pid}/root"));
        // Without ptrace rights over the process its root cannot be entered: the files of
        // scrapetop's own root stand in (the observer says so).
        if std::fs::read_link(&root).is_err() {
            root = PathBuf::from("/");
        }
        let conf = root.join("etc/resolv.conf");
        let (dns, no_dns) = match std::fs::read(&conf) {
            Ok(bytes) => match hickory_resolver::system_conf::parse_resolv_conf(bytes) {
                Ok((cfg, mut opts)) => {
                    opts.cache_size = 0;
                    opts.use_hosts_file = ResolveHosts::Never;
                    opts.timeout = opts.timeout.min(Duration::from_secs(2));
                    opts.attempts = opts.attempts.min(2);
                    match TokioResolver::builder_with_config(cfg, TokioRuntimeProvider::default())
                        .with_options(opts)
                        .build()
                    {
                        Ok(r) => (Some(r), String::new()),
                        Err(e) => (
                            None,
                            format!("building a resolver from {}: {e}", conf.display()),
                        ),
                    }
                }
                Err(e) => (None, format!("{}: {e}", conf.display())),
            },
            Err(e) => (None, format!("{}: {e}", conf.display())),
        };
        Resolver { root, dns, no_dns }
    }

    /// Resolve `host` (an IP address answers itself).
    pub async fn lookup(&self, host: &str) -> Result<Answer, Failure> {
        let start = Instant::now();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Answer {
                addrs: vec![ip],
                ttl: Duration::ZERO,
                took: Duration::ZERO,
                from: "literal",
            });
        }
        if let Ok(text) = std::fs::read_to_string(self.root.join("etc/hosts")) {
            let addrs = hosts_lookup(&text, host);
            if !addrs.is_empty() {
                return Ok(Answer {
                    addrs,
                    ttl: Duration::ZERO,
                    took: start.elapsed(),
                    from: "hosts",
                });
            }
        }
        let Some(dns) = &self.dns else {
            return Err(Failure {
                kind: DnsFailKind::NoServer,
                message: self.no_dns.clone(),
                took: start.elapsed(),
            });
        };
        match dns.lookup_ip(host).await {
            Ok(l) => {
                let addrs: Vec<IpAddr> = l.iter().collect();
                if addrs.is_empty() {
                    return Err(Failure {
                        kind: DnsFailKind::Nxdomain,
                        message: format!("no addresses for {host}"),
                        took: start.elapsed(),
                    });
                }
                Ok(Answer {
                    ttl: l.valid_until().saturating_duration_since(Instant::now()),
                    addrs,
                    took: start.elapsed(),
                    from: "dns",
                })
            }
            Err(e) => {
                let msg = e.to_string();
                let low = msg.to_ascii_lowercase();
                let kind = if low.contains("no record") || low.contains("nxdomain") {
                    DnsFailKind::Nxdomain
                } else if low.contains("timed out") || low.contains("timeout") {
                    DnsFailKind::Timeout
                } else {
                    DnsFailKind::Other
                };
                Err(Failure {
                    kind,
                    message: msg,
                    took: start.elapsed(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_lookup() {
        let text =
            "127.0.0.1 localhost\n# 10.0.0.9 web\n10.0.0.2 Web web.lab # comment\n10.0.0.3 web\n";
        assert_eq!(
            hosts_lookup(text, "web"),
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "10.0.0.3".parse().unwrap()
            ]
        );
        assert!(hosts_lookup(text, "nothere").is_empty());
    }
}
