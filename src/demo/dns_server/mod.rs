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
mod tests;
