//! In-process authoritative DNS server for integration tests and the built-in demo.
//!
//! [`DnsServer`] serves a single zone (for example `demo.test.`) over UDP and TCP on
//! the same loopback port, using `hickory-server`. Records can be changed while the
//! server runs, and the server can be made *silent*: it still receives queries but
//! never answers, so clients time out as they would during a DNS outage.
//!
//! Names passed to the mutating methods are interpreted relative to the zone:
//!
//! * `"api-2"` means `api-2.<zone>`;
//! * `"api-2.demo.test."` (trailing dot) is taken as a fully qualified name and must be
//!   inside the zone;
//! * `"api-2.demo.test"` (no trailing dot, but already ending in the zone) is taken
//!   as `api-2.demo.test.`;
//! * `""` or `"@"` means the zone apex.

use std::{
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use hickory_server::{
    Server,
    net::runtime::Time,
    proto::{
        ProtoError,
        op::{Header, HeaderCounts, MessageType, Metadata},
        rr::{
            LowerName, Name, RData, Record, RecordSet, RecordType, RrKey,
            rdata::{A, AAAA, NS, SOA, SRV},
        },
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    store::in_memory::InMemoryZoneHandler,
    zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType},
};
use tokio::net::{TcpListener, UdpSocket};

/// TTL (and SOA `minimum`) used for the SOA and NS records, in seconds.
///
/// Resolvers that cache negative answers (NXDOMAIN) cache them for at most this long,
/// so a name created after an NXDOMAIN becomes visible quickly.
pub const NEGATIVE_TTL: u32 = 1;

/// How many times [`DnsServer::start`] retries when the TCP port that matches the
/// kernel-chosen UDP port is already taken (only when the requested port is 0).
const BIND_ATTEMPTS: usize = 16;

/// Idle timeout for TCP connections to the server.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-connection queue length for outgoing TCP responses.
const TCP_RESPONSE_BUFFER: usize = 32;

/// Upper bound for the graceful shutdown in [`DnsServer::stop`].
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors returned by [`DnsServer`].
#[derive(Debug, thiserror::Error)]
pub enum DnsServerError {
    /// A zone, record or SRV target name could not be parsed.
    #[error("invalid DNS name {name:?}: {source}")]
    InvalidName {
        /// The name as given by the caller.
        name: String,
        /// The parse error.
        #[source]
        source: ProtoError,
    },
    /// A fully qualified name was given that is not inside the served zone.
    #[error("name {name} is outside zone {zone}")]
    OutsideZone {
        /// The offending (fully qualified) name.
        name: String,
        /// The zone served by this server.
        zone: String,
    },
    /// The in-memory zone could not be created.
    #[error("failed to create zone {zone}: {reason}")]
    Zone {
        /// The zone name.
        zone: String,
        /// Reason reported by hickory-server.
        reason: String,
    },
    /// The UDP socket could not be bound.
    #[error("failed to bind UDP socket on {addr}: {source}")]
    BindUdp {
        /// Address we tried to bind.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The TCP listener could not be bound (on the port chosen for UDP).
    #[error("failed to bind TCP listener on {addr}: {source}")]
    BindTcp {
        /// Address we tried to bind.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Request handler wrapping the [`Catalog`]: counts queries and implements "silent" mode.
struct SilenceableHandler {
    catalog: Catalog,
    silent: Arc<AtomicBool>,
    queries: Arc<AtomicU64>,
}

// `RequestHandler` is declared with `#[async_trait]`; this is the desugared form, so the
// module needs no direct dependency on the `async-trait` crate.
impl RequestHandler for SilenceableHandler {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: ResponseHandler + 'async_trait,
        T: Time + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.queries.fetch_add(1, Ordering::Relaxed);
            if self.silent.load(Ordering::Relaxed) {
                // Drop the request: no response is sent, so the client times out.
                let metadata = Metadata::new(
                    request.metadata.id,
                    MessageType::Response,
                    request.metadata.op_code,
                );
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
            self.catalog
                .handle_request::<R, T>(request, response_handle)
                .await
        })
    }
}

/// A running authoritative DNS server for one zone, on UDP and TCP of the same port.
///
/// Dropping the value shuts the server down (sockets are released shortly after, once
/// the runtime has cancelled the server tasks); [`DnsServer::stop`] does the same and
/// waits for it.
pub struct DnsServer {
    addr: SocketAddr,
    origin: Name,
    zone: Arc<InMemoryZoneHandler>,
    silent: Arc<AtomicBool>,
    queries: Arc<AtomicU64>,
    server: Option<Server<SilenceableHandler>>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .field("zone", &self.origin.to_string())
            .field("silent", &self.silent.load(Ordering::Relaxed))
            .field("queries", &self.queries.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl DnsServer {
    /// Start serving zone `zone` (e.g. `"demo.test."`; the trailing dot is optional) on
    /// `bind` (e.g. `127.0.0.1:0` to pick a free port).
    ///
    /// UDP is bound first; TCP is then bound on the same port. When the requested port
    /// is 0 and the TCP port is taken, both are retried a few times with new ports.
    /// The zone starts with only its SOA and NS records; add names with
    /// [`set_addrs`](Self::set_addrs) and [`set_srv`](Self::set_srv).
    ///
    /// # Errors
    ///
    /// [`DnsServerError::InvalidName`] for a bad zone name, [`DnsServerError::BindUdp`] /
    /// [`DnsServerError::BindTcp`] when the port cannot be bound.
    pub async fn start(bind: SocketAddr, zone: &str) -> Result<DnsServer, DnsServerError> {
        let origin = parse_zone(zone)?;
        let zone_handler = Arc::new(new_zone(&origin)?);
        let (udp, tcp, addr) = bind_pair(bind).await?;

        let silent = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicU64::new(0));

        let mut catalog = Catalog::new();
        let as_dyn: Arc<dyn ZoneHandler> = zone_handler.clone();
        catalog.upsert(LowerName::new(&origin), vec![as_dyn]);

        let mut server = Server::new(SilenceableHandler {
            catalog,
            silent: Arc::clone(&silent),
            queries: Arc::clone(&queries),
        });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);

        Ok(DnsServer {
            addr,
            origin,
            zone: zone_handler,
            silent,
            queries,
            server: Some(server),
        })
    }

    /// The address (IP and port, shared by UDP and TCP) the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The served zone as a fully qualified name, e.g. `demo.test.`.
    pub fn zone(&self) -> String {
        self.origin.to_string()
    }

    /// The fully qualified name that `name` refers to in this zone (see the module
    /// docs for the rules), e.g. `"api-2"` -> `"api-2.demo.test."`.
    ///
    /// # Errors
    ///
    /// [`DnsServerError::InvalidName`] or [`DnsServerError::OutsideZone`] for a bad name.
    pub fn fqdn(&self, name: &str) -> Result<String, DnsServerError> {
        self.qualify(name).map(|n| n.to_string())
    }

    /// Replace all A and AAAA records of `name` (relative like `"api-2"` or an FQDN
    /// inside the zone) with `addrs`, served with a TTL of `ttl` seconds.
    ///
    /// An empty `addrs` removes the A/AAAA records; if the name then has no other
    /// records, queries for it answer NXDOMAIN.
    ///
    /// # Errors
    ///
    /// [`DnsServerError::InvalidName`] or [`DnsServerError::OutsideZone`] for a bad name.
    pub async fn set_addrs(
        &self,
        name: &str,
        addrs: &[IpAddr],
        ttl: u32,
    ) -> Result<(), DnsServerError> {
        let name = self.qualify(name)?;
        let mut v4 = RecordSet::with_ttl(name.clone(), RecordType::A, ttl);
        let mut v6 = RecordSet::with_ttl(name.clone(), RecordType::AAAA, ttl);
        for addr in addrs {
            match addr {
                IpAddr::V4(ip) => v4.add_rdata(RData::A(A(*ip))),
                IpAddr::V6(ip) => v6.add_rdata(RData::AAAA(AAAA(*ip))),
            };
        }
        let lower = LowerName::new(&name);
        let mut records = self.zone.records_mut().await;
        for set in [v4, v6] {
            let key = RrKey::new(lower.clone(), set.record_type());
            if set.is_empty() {
                records.remove(&key);
            } else {
                records.insert(key, Arc::new(set));
            }
        }
        Ok(())
    }

    /// Replace the SRV records of `name` (e.g. `"_http._tcp.api"`) with `records`,
    /// each `(priority, weight, port, target host)`, served with a TTL of `ttl` seconds.
    ///
    /// A target without a trailing dot is relative to the zone (`"api-1"` ->
    /// `api-1.<zone>`); a target with a trailing dot is used as is and may be outside
    /// the zone. An empty `records` removes the SRV records of `name`.
    ///
    /// # Errors
    ///
    /// [`DnsServerError::InvalidName`] or [`DnsServerError::OutsideZone`] for a bad name or target.
    pub async fn set_srv(
        &self,
        name: &str,
        records: &[(u16, u16, u16, String)],
        ttl: u32,
    ) -> Result<(), DnsServerError> {
        let name = self.qualify(name)?;
        let mut set = RecordSet::with_ttl(name.clone(), RecordType::SRV, ttl);
        for (priority, weight, port, target) in records {
            let target = self.qualify_target(target)?;
            set.add_rdata(RData::SRV(SRV::new(*priority, *weight, *port, target)));
        }
        let key = RrKey::new(LowerName::new(&name), RecordType::SRV);
        let mut map = self.zone.records_mut().await;
        if set.is_empty() {
            map.remove(&key);
        } else {
            map.insert(key, Arc::new(set));
        }
        Ok(())
    }

    /// Remove every record of `name`; later queries for it answer NXDOMAIN (unless
    /// names below it still exist). At the zone apex the SOA and NS records are kept.
    ///
    /// # Errors
    ///
    /// [`DnsServerError::InvalidName`] or [`DnsServerError::OutsideZone`] for a bad name.
    pub async fn remove(&self, name: &str) -> Result<(), DnsServerError> {
        let name = self.qualify(name)?;
        let lower = LowerName::new(&name);
        let apex = name == self.origin;
        self.zone.records_mut().await.retain(|key, _| {
            key.name != lower
                || (apex && matches!(key.record_type, RecordType::SOA | RecordType::NS))
        });
        Ok(())
    }

    /// While silent, the server receives (and counts) queries but never answers, so
    /// clients time out. `set_silent(false)` restores normal answers.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Relaxed);
    }

    /// Whether the server is currently silent.
    pub fn is_silent(&self) -> bool {
        self.silent.load(Ordering::Relaxed)
    }

    /// Count of DNS queries received so far over UDP and TCP, answered or not.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Stop serving and wait (bounded) until the server tasks have ended and the
    /// sockets are released.
    pub async fn stop(mut self) {
        if let Some(mut server) = self.server.take() {
            // The error case only reports an unexpected socket close; nothing to do.
            let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, server.shutdown_gracefully()).await;
        }
    }

    /// Interprets a record owner name relative to the zone (see module docs).
    fn qualify(&self, name: &str) -> Result<Name, DnsServerError> {
        let name = name.trim();
        if name.is_empty() || name == "@" {
            return Ok(self.origin.clone());
        }
        let parsed = parse_name(name)?;
        let fqdn = if parsed.is_fqdn() {
            parsed
        } else {
            let mut absolute = parsed.clone();
            absolute.set_fqdn(true);
            if self.origin.zone_of(&absolute) {
                absolute
            } else {
                parsed.append_domain(&self.origin).map_err(|source| {
                    DnsServerError::InvalidName {
                        name: name.to_string(),
                        source,
                    }
                })?
            }
        };
        if !self.origin.zone_of(&fqdn) {
            return Err(DnsServerError::OutsideZone {
                name: fqdn.to_string(),
                zone: self.origin.to_string(),
            });
        }
        Ok(fqdn)
    }

    /// Interprets an SRV target: FQDNs as is, relative names inside the zone.
    fn qualify_target(&self, target: &str) -> Result<Name, DnsServerError> {
        let target = target.trim();
        if target.ends_with('.') {
            parse_name(target)
        } else {
            self.qualify(target)
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Cancel the accept loops; dropping the server aborts the remaining tasks,
            // which closes the sockets.
            server.shutdown_token().cancel();
            drop(server);
        }
    }
}

fn parse_name(name: &str) -> Result<Name, DnsServerError> {
    Name::from_utf8(name).map_err(|source| DnsServerError::InvalidName {
        name: name.to_string(),
        source,
    })
}

fn parse_zone(zone: &str) -> Result<Name, DnsServerError> {
    let mut origin = parse_name(zone.trim())?;
    origin.set_fqdn(true);
    Ok(origin)
}

/// Builds the zone with its SOA and NS records.
fn new_zone(origin: &Name) -> Result<InMemoryZoneHandler, DnsServerError> {
    let zone_err = |reason: String| DnsServerError::Zone {
        zone: origin.to_string(),
        reason,
    };
    let label = |l: &str| {
        Name::from_ascii(l)
            .and_then(|n| n.append_domain(origin))
            .map_err(|e| zone_err(e.to_string()))
    };
    let ns = label("ns")?;
    let hostmaster = label("hostmaster")?;
    let soa = SOA::new(ns.clone(), hostmaster, 1, 3600, 600, 86_400, NEGATIVE_TTL);

    let mut zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let records = [
        Record::from_rdata(origin.clone(), NEGATIVE_TTL, RData::SOA(soa)),
        Record::from_rdata(origin.clone(), NEGATIVE_TTL, RData::NS(NS(ns))),
    ];
    for record in records {
        let rtype = record.record_type();
        if !zone.upsert_mut(record, 1) {
            return Err(zone_err(format!("could not insert {rtype} record")));
        }
    }
    Ok(zone)
}

/// Binds UDP on `bind`, then TCP on the same IP and port (retrying for port 0).
async fn bind_pair(
    bind: SocketAddr,
) -> Result<(UdpSocket, TcpListener, SocketAddr), DnsServerError> {
    let attempts = if bind.port() == 0 { BIND_ATTEMPTS } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(bind)
            .await
            .map_err(|source| DnsServerError::BindUdp { addr: bind, source })?;
        let addr = udp
            .local_addr()
            .map_err(|source| DnsServerError::BindUdp { addr: bind, source })?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp, addr)),
            Err(source) => last_err = Some(DnsServerError::BindTcp { addr, source }),
        }
    }
    Err(last_err.unwrap_or(DnsServerError::BindTcp {
        addr: bind,
        source: io::Error::from(io::ErrorKind::AddrInUse),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::{
        TokioResolver,
        config::{
            ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
            ResolverOpts,
        },
        net::{NetError, runtime::TokioRuntimeProvider},
    };
    use std::{
        net::{Ipv4Addr, Ipv6Addr},
        time::Instant,
    };
    use tokio::time::timeout;

    /// Upper bound for any single wait in these tests.
    const WAIT: Duration = Duration::from_secs(10);

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn localhost() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
    }

    /// Resolver that talks only to `addr` (UDP, and TCP on the same port), no cache.
    fn resolver(
        addr: SocketAddr,
        tcp_only: bool,
        query_timeout: Duration,
        attempts: usize,
    ) -> Result<TokioResolver, NetError> {
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        let connections = if tcp_only { vec![tcp] } else { vec![udp, tcp] };
        let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
            addr.ip(),
            true,
            connections,
        )]);
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.timeout = query_timeout;
        opts.attempts = attempts;
        opts.use_hosts_file = ResolveHosts::Never;
        TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
    }

    fn quick_resolver(addr: SocketAddr) -> Result<TokioResolver, NetError> {
        resolver(addr, false, Duration::from_millis(300), 0)
    }

    async fn ips(r: &TokioResolver, name: &str) -> Result<Vec<IpAddr>, Box<dyn std::error::Error>> {
        let lookup = timeout(WAIT, r.lookup_ip(name)).await??;
        let mut v: Vec<IpAddr> = lookup.iter().collect();
        v.sort();
        Ok(v)
    }

    #[tokio::test]
    async fn a_lookup_returns_addresses_and_ttl() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        assert_eq!(server.zone(), "demo.test.");
        let v4a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let v4b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        server.set_addrs("api-1", &[v4b, v4a, v6], 42).await?;

        let r = quick_resolver(server.addr())?;
        let before = Instant::now();
        let lookup = timeout(WAIT, r.lookup_ip("api-1.demo.test.")).await??;
        let mut got: Vec<IpAddr> = lookup.iter().collect();
        got.sort();
        assert_eq!(got, vec![v4a, v4b, v6]);
        for record in lookup.as_lookup().answers() {
            assert_eq!(record.ttl, 42, "{record}");
        }
        let valid_for = lookup.valid_until().saturating_duration_since(before);
        assert!(valid_for > Duration::from_secs(40) && valid_for <= Duration::from_secs(43));

        // The FQDN spelling without trailing dot addresses the same name.
        server.set_addrs("api-1.demo.test", &[v4a], 7).await?;
        let lookup = timeout(WAIT, r.ipv4_lookup("api-1.demo.test.")).await??;
        assert_eq!(lookup.answers().len(), 1);
        assert_eq!(lookup.answers()[0].ttl, 7);
        server.stop().await;
        Ok(())
    }

    #[tokio::test]
    async fn set_addrs_replaces_instead_of_adding() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test").await?;
        let r = quick_resolver(server.addr())?;
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let c = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3));
        server.set_addrs("api-2", &[a], 30).await?;
        assert_eq!(ips(&r, "api-2.demo.test.").await?, vec![a]);
        server.set_addrs("api-2.demo.test.", &[b, c], 30).await?;
        assert_eq!(ips(&r, "api-2.demo.test.").await?, vec![b, c]);
        server.set_addrs("api-2", &[a], 30).await?;
        assert_eq!(ips(&r, "api-2.demo.test.").await?, vec![a]);
        Ok(())
    }

    #[tokio::test]
    async fn remove_gives_nxdomain() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        let r = quick_resolver(server.addr())?;
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        server.set_addrs("gone", &[a], 5).await?;
        server
            .set_srv("gone", &[(1, 1, 80, "gone".into())], 5)
            .await?;
        assert_eq!(ips(&r, "gone.demo.test.").await?, vec![a]);

        server.remove("gone").await?;
        let err = timeout(WAIT, r.lookup_ip("gone.demo.test.")).await?.err();
        assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");
        let err = timeout(WAIT, r.srv_lookup("gone.demo.test.")).await?.err();
        assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");
        let err = timeout(WAIT, r.lookup_ip("never.demo.test.")).await?.err();
        assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");

        // A name that exists with other types only: NOERROR/NODATA, not NXDOMAIN.
        server
            .set_srv("srvonly", &[(1, 1, 80, "x".into())], 5)
            .await?;
        let err = timeout(WAIT, r.lookup_ip("srvonly.demo.test."))
            .await?
            .err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.is_no_records_found() && !e.is_nx_domain()),
            "{err:?}"
        );

        // Removing the apex keeps the zone alive.
        server.remove("@").await?;
        server.set_addrs("back", &[a], 5).await?;
        assert_eq!(ips(&r, "back.demo.test.").await?, vec![a]);
        Ok(())
    }

    #[tokio::test]
    async fn silent_times_out_then_recovers() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        server.set_addrs("api", &[a], 5).await?;
        let r = resolver(server.addr(), false, Duration::from_millis(300), 1)?;
        assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);

        server.set_silent(true);
        assert!(server.is_silent());
        let before_q = server.queries();
        let started = Instant::now();
        let res = timeout(WAIT, r.lookup_ip("api.demo.test.")).await?;
        let elapsed = started.elapsed();
        assert!(matches!(res, Err(NetError::Timeout)), "{res:?}");
        assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
        assert!(
            server.queries() > before_q,
            "silent queries are still counted"
        );

        server.set_silent(false);
        assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
        Ok(())
    }

    #[tokio::test]
    async fn srv_lookup() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        let r = quick_resolver(server.addr())?;
        server
            .set_srv(
                "_http._tcp.api",
                &[
                    (10, 5, 8080, "api-1".to_string()),
                    (20, 0, 9090, "backup.example.com.".to_string()),
                ],
                60,
            )
            .await?;
        let lookup = timeout(WAIT, r.srv_lookup("_http._tcp.api.demo.test.")).await??;
        let mut got: Vec<(u16, u16, u16, String, u32)> = lookup
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::SRV(srv) => Some((
                    srv.priority,
                    srv.weight,
                    srv.port,
                    srv.target.to_string(),
                    rec.ttl,
                )),
                _ => None,
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (10, 5, 8080, "api-1.demo.test.".to_string(), 60),
                (20, 0, 9090, "backup.example.com.".to_string(), 60),
            ]
        );

        // Replacing, then clearing.
        server
            .set_srv("_http._tcp.api", &[(1, 1, 1, "x".into())], 60)
            .await?;
        let lookup = timeout(WAIT, r.srv_lookup("_http._tcp.api.demo.test.")).await??;
        assert_eq!(lookup.answers().len(), 1);
        server.set_srv("_http._tcp.api", &[], 60).await?;
        let err = timeout(WAIT, r.srv_lookup("_http._tcp.api.demo.test."))
            .await?
            .err();
        assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");
        Ok(())
    }

    #[tokio::test]
    async fn queries_are_counted() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        let r = quick_resolver(server.addr())?;
        server
            .set_addrs("api", &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))], 5)
            .await?;
        assert_eq!(server.queries(), 0);
        for _ in 0..3 {
            timeout(WAIT, r.ipv4_lookup("api.demo.test.")).await??;
        }
        let _ = timeout(WAIT, r.ipv4_lookup("missing.demo.test.")).await?;
        assert_eq!(server.queries(), 4);
        Ok(())
    }

    #[tokio::test]
    async fn tcp_is_served_on_the_same_port() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        server.set_addrs("api", &[a], 5).await?;
        let mut r = resolver(server.addr(), true, Duration::from_millis(500), 0)?;
        assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
        // Silent also applies to TCP.
        server.set_silent(true);
        let res = timeout(WAIT, r.ipv4_lookup("api.demo.test.")).await?;
        assert!(matches!(res, Err(NetError::Timeout)), "{res:?}");
        server.set_silent(false);
        r = resolver(server.addr(), true, Duration::from_millis(500), 0)?;
        assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
        Ok(())
    }

    #[tokio::test]
    async fn stop_releases_the_port() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        let addr = server.addr();
        assert_ne!(addr.port(), 0);
        server.stop().await;
        let udp = UdpSocket::bind(addr).await?;
        let tcp = TcpListener::bind(addr).await?;
        drop((udp, tcp));

        // Same after a plain drop (sockets are closed once the aborted tasks are gone).
        let server = DnsServer::start(addr, "demo.test.").await?;
        assert_eq!(server.addr(), addr);
        drop(server);
        let bound = timeout(WAIT, async {
            loop {
                if let (Ok(u), Ok(t)) = (
                    std::net::UdpSocket::bind(addr),
                    std::net::TcpListener::bind(addr),
                ) {
                    return (u, t);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(bound.is_ok());
        Ok(())
    }

    #[tokio::test]
    async fn names_are_validated() -> TestResult {
        let server = DnsServer::start(localhost(), "demo.test.").await?;
        assert_eq!(server.fqdn("api-2")?, "api-2.demo.test.");
        // Names are normalised to lower case.
        assert_eq!(server.fqdn("API-2.demo.test")?, "api-2.demo.test.");
        assert_eq!(server.fqdn("@")?, "demo.test.");
        assert!(matches!(
            server.set_addrs("other.example.", &[], 5).await,
            Err(DnsServerError::OutsideZone { .. })
        ));
        assert!(matches!(
            server.remove("bad..name").await,
            Err(DnsServerError::InvalidName { .. })
        ));
        assert!(matches!(
            DnsServer::start(localhost(), "bad..zone").await,
            Err(DnsServerError::InvalidName { .. })
        ));
        Ok(())
    }

    #[tokio::test]
    async fn ipv4_only_strategy_and_case_insensitive_names() -> TestResult {
        let server = DnsServer::start(localhost(), "Demo.Test.").await?;
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        server.set_addrs("Api", &[a], 5).await?;
        let mut udp = ConnectionConfig::udp();
        udp.port = server.addr().port();
        let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
            server.addr().ip(),
            true,
            vec![udp],
        )]);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        builder.options_mut().cache_size = 0;
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4Only;
        let r = builder.build()?;
        assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
        assert_eq!(server.queries(), 1);
        Ok(())
    }
}
