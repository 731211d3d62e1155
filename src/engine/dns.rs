//! Name resolution through hickory, with every lookup reported as an event.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::config::LookupError;
use crate::event::{DnsCause, DnsFailKind, EventKind, TargetRef};

use super::ctx::Ctx;

/// A successful lookup.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Addresses, in the resolver's order.
    pub addrs: Vec<IpAddr>,
    /// Remaining TTL.
    pub ttl: Duration,
}

/// A failed lookup.
#[derive(Debug, Clone)]
pub struct DnsError {
    /// Classified kind.
    pub kind: DnsFailKind,
    /// The resolver's message.
    pub message: String,
}

/// The engine's resolver. No cache: every lookup reaches a server, as every Prometheus dial does.
pub struct Dns {
    resolver: TokioResolver,
}

fn opts(base: ResolverOpts) -> ResolverOpts {
    let mut o = base;
    o.cache_size = 0;
    // The scrape deadline bounds every lookup; keep the resolver's own retry short enough that
    // a dead server is reported as a timeout, not hidden behind retries.
    o.timeout = o.timeout.min(Duration::from_secs(2));
    o.attempts = o.attempts.min(2);
    o
}

/// The resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    /// /etc/resolv.conf could not be read or parsed.
    #[error("reading the system resolver configuration: {0}")]
    SystemConfig(String),
    /// hickory refused the configuration.
    #[error("building the resolver{}: {message}", .server.map(|s| format!(" for {s}")).unwrap_or_default())]
    Build {
        /// The `--dns-server`, if one was given.
        server: Option<SocketAddr>,
        /// hickory's error.
        message: String,
    },
}

impl Dns {
    /// The system resolver configuration (/etc/resolv.conf, /etc/hosts).
    pub fn system() -> Result<Dns, ResolverError> {
        let mut b = TokioResolver::builder_tokio()
            .map_err(|e| ResolverError::SystemConfig(e.to_string()))?;
        *b.options_mut() = opts(b.options_mut().clone());
        let resolver = b.build().map_err(|e| ResolverError::Build {
            server: None,
            message: e.to_string(),
        })?;
        Ok(Dns { resolver })
    }

    /// One DNS server (UDP and TCP on the same port). /etc/hosts is still consulted.
    pub fn server(addr: SocketAddr) -> Result<Dns, ResolverError> {
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
        let cfg = ResolverConfig::from_name_servers(vec![ns]);
        let mut o = opts(ResolverOpts::default());
        o.timeout = Duration::from_secs(1);
        o.attempts = 1;
        let resolver = TokioResolver::builder_with_config(cfg, TokioRuntimeProvider::default())
            .with_options(o)
            .build()
            .map_err(|e| ResolverError::Build {
                server: Some(addr),
                message: e.to_string(),
            })?;
        Ok(Dns { resolver })
    }

    /// One server if given, else the system configuration.
    pub fn new(server: Option<SocketAddr>) -> Result<Dns, ResolverError> {
        match server {
            Some(a) => Dns::server(a),
            None => Dns::system(),
        }
    }

    /// Look up A/AAAA records of `host`.
    pub async fn lookup(&self, host: &str) -> Result<Answer, DnsError> {
        match self.resolver.lookup_ip(host).await {
            Ok(l) => {
                let ttl = l.valid_until().saturating_duration_since(Instant::now());
                let addrs: Vec<IpAddr> = l.iter().collect();
                if addrs.is_empty() {
                    return Err(DnsError {
                        kind: DnsFailKind::Nxdomain,
                        message: format!("no addresses for {host}"),
                    });
                }
                Ok(Answer { addrs, ttl })
            }
            Err(e) => Err(classify(host, &e)),
        }
    }

    /// Look up SRV records: (target host, port).
    pub async fn lookup_srv(&self, name: &str) -> Result<Vec<(String, u16)>, DnsError> {
        match self.resolver.srv_lookup(name).await {
            Ok(l) => Ok(l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_resolver::proto::rr::RData::SRV(s) => {
                        let t = s.target.to_utf8();
                        Some((t.trim_end_matches('.').to_owned(), s.port))
                    }
                    _ => None,
                })
                .collect()),
            Err(e) => Err(classify(name, &e)),
        }
    }
}

fn classify(host: &str, e: &NetError) -> DnsError {
    let kind = if e.is_nx_domain() || e.is_no_records_found() {
        DnsFailKind::Nxdomain
    } else {
        match e {
            NetError::Timeout => DnsFailKind::Timeout,
            NetError::NoConnections => DnsFailKind::NoServer,
            NetError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                DnsFailKind::NoServer
            }
            _ if e.is_connection_closed() => DnsFailKind::NoServer,
            _ => DnsFailKind::Other,
        }
    };
    let message = match kind {
        DnsFailKind::Nxdomain => format!("lookup {host}: no such host"),
        DnsFailKind::Timeout => format!("lookup {host}: i/o timeout"),
        DnsFailKind::NoServer => format!("lookup {host}: no DNS server reachable ({e})"),
        DnsFailKind::Other => format!("lookup {host}: {e}"),
    };
    DnsError { kind, message }
}

/// Resolve `host` for `target`, bounded by `deadline`, and report the outcome as an event.
pub(crate) async fn resolve(
    ctx: &Ctx,
    target: &Arc<TargetRef>,
    host: &str,
    cause: DnsCause,
    deadline: tokio::time::Instant,
) -> Result<Answer, DnsError> {
    let start = Instant::now();
    let res = match tokio::time::timeout_at(deadline, ctx.dns.lookup(host)).await {
        Ok(r) => r,
        Err(_) => Err(DnsError {
            kind: DnsFailKind::Timeout,
            message: format!("lookup {host}: i/o timeout (scrape deadline)"),
        }),
    };
    let duration_ms = ms(start.elapsed());
    match &res {
        Ok(a) => ctx.emit.emit(
            Some(target),
            EventKind::DnsResolved {
                host: host.to_owned(),
                addrs: a.addrs.clone(),
                ttl_s: a.ttl.as_secs(),
                duration_ms,
                cause,
            },
        ),
        Err(e) => ctx.emit.emit(
            Some(target),
            EventKind::DnsFailed {
                host: host.to_owned(),
                kind: e.kind,
                error: e.message.clone(),
                duration_ms,
                cause,
            },
        ),
    }
    res
}

/// Milliseconds with microsecond precision.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// Discovery lookups without events (the first load, before the engine runs).
impl crate::config::SdResolver for Dns {
    async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>, LookupError> {
        self.lookup(name)
            .await
            .map(|a| a.addrs)
            .map_err(LookupError::from)
    }

    async fn lookup_srv(&self, name: &str) -> Result<Vec<(String, u16)>, LookupError> {
        Dns::lookup_srv(self, name).await.map_err(LookupError::from)
    }
}

impl From<DnsError> for LookupError {
    fn from(e: DnsError) -> Self {
        LookupError::Failed {
            kind: e.kind,
            message: e.message,
        }
    }
}
