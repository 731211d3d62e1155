//! The observer: polls the attached Prometheus's API, reads its namespace's socket table and
//! its descriptor table, attributes its outbound connections to pools, and turns what changed
//! into the same events the engine emits. It runs on one thread inside the process's network
//! namespace (see [`super::AttachSource`]), on a current-thread runtime, so every socket it
//! creates (API polls, DNS queries, probes, netlink) is created there.

mod actions;
mod dns;
mod poll;
mod probe;
mod scan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::api::{ApiTarget, UrlParts};
use super::diag::{Diag, SockInfo};
use super::proc::{self, Process};
use super::resolve::Resolver;
use crate::event::{CloseReason, Command, Event, EventKind, Origin, PoolKey, TargetId, TargetRef};

/// Where the observer reads Prometheus's API (from inside its namespace).
#[derive(Debug, Clone)]
pub struct ApiAddr {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// `Host` header.
    pub host: String,
    /// Route prefix without a trailing slash (`""` for `/`).
    pub prefix: String,
    /// Whether the API speaks https.
    pub https: bool,
    /// Credentials and TLS for it.
    pub client: super::api::Client,
}

impl ApiAddr {
    /// `method` on `path` below the route prefix (`/api/v1/targets?…`, `/-/reload`).
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        timeout: std::time::Duration,
    ) -> Result<super::api::Response, super::api::HttpError> {
        let path = format!("{}{path}", self.prefix);
        super::api::request(self.addr, method, &self.host, &path, timeout, &self.client).await
    }
}

/// A target as Prometheus's API last showed it.
struct Target {
    tref: Arc<TargetRef>,
    pool: PoolKey,
    url: UrlParts,
    /// Its job's proxy, when it has one.
    proxy: Option<UrlParts>,
    api: ApiTarget,
    timeout: Duration,
}

/// A pool: (job, scheme, host, port), and the current answer for its host.
#[derive(Default)]
struct Pool {
    targets: Vec<TargetId>,
    answer: Option<Vec<IpAddr>>,
    /// When to look the name up again (names only).
    recheck_at: Option<Instant>,
}

/// One of the process's sockets attributed to a pool.
struct Conn {
    id: u64,
    pool: PoolKey,
    sock: SockInfo,
    fd: i32,
    first_seen: Instant,
    /// The peer was reported as not in the current answer.
    stale: bool,
}

/// What the observer keeps between turns.
pub struct Observer {
    process: Process,
    api: ApiAddr,
    diag: Diag,
    resolver: Arc<Resolver>,
    tx: mpsc::Sender<Event>,
    targets: BTreeMap<TargetId, Target>,
    pools: BTreeMap<PoolKey, Pool>,
    /// Socket inode → fd in the attached process.
    owned: HashMap<u64, i32>,
    /// Inodes in the namespace known not to be the process's (other processes' sockets).
    foreign: HashSet<u64>,
    /// Attributed connections by socket cookie.
    conns: HashMap<[u8; 8], Conn>,
    /// Cookies destroyed on request: their disappearance is `forced`, not `gone`.
    forced: HashSet<[u8; 8]>,
    /// Last full fd table (for the census).
    fd_table: proc::FdTable,
    limits: (u64, u64),
    next_conn: u64,
    last_api_error: Option<String>,
    /// The process exited: waiting for a restart of the same executable in the same namespace.
    lost: bool,
    /// How long the last scan took, dump and attribution (the scan cadence adapts to it).
    scan_cost: Duration,
    /// How long the last census took (its cadence adapts to it).
    census_cost: Duration,
    /// Sockets to destroy once idle: (cookie, scans waited).
    pending_destroy: Vec<([u8; 8], u32)>,
    /// Targets whose last probe failed (written by the probe tasks).
    probe_failed: Arc<std::sync::Mutex<HashSet<TargetId>>>,
    /// Said once at the start (settings read differently, permissions missing).
    notices: Vec<String>,
    /// Why Prometheus's configuration could not be read for the probes (said once).
    config_unreadable: Option<String>,
    /// Its descriptor table cannot be read (no root): sockets are matched by owner uid.
    fds_unreadable: bool,
    /// Each job's `proxy_url` (`None`: direct), from the running configuration: a proxied
    /// job's pool is the proxy, since its sockets lead there.
    proxies: HashMap<String, Option<UrlParts>>,
    /// The targets read when checking the API at the start, for the first poll.
    first_read: Option<Vec<ApiTarget>>,
}

/// No request in flight: nothing unacknowledged, and data was received after the last send
/// (the response to the last request). A socket mid-request is left to finish.
fn is_idle(s: &SockInfo) -> bool {
    idle_facts(&s.tcp)
}

fn idle_facts(t: &super::diag::TcpFacts) -> bool {
    t.unacked.unwrap_or(0) == 0
        && match (t.last_data_sent_ms, t.last_data_recv_ms) {
            (Some(sent), Some(recv)) => recv <= sent,
            _ => true,
        }
}

/// An event of the observer, saying where its fact came from: each kind has one origin here
/// (the API's targets and scrapes, the kernel's sockets and descriptors, scrapetop's own
/// lookups and probes); notices, errors and acknowledgements are scrapetop's own and carry none.
fn stamped(target: Option<Arc<TargetRef>>, kind: EventKind) -> Event {
    let origin = match &kind {
        EventKind::TargetAdded { .. }
        | EventKind::TargetRemoved {}
        | EventKind::Scrape(_)
        | EventKind::Reload { .. } => Some(Origin::Api),
        EventKind::ConnOpened(_) | EventKind::ConnClosed { .. } | EventKind::Fds(_) => {
            Some(Origin::Kernel)
        }
        EventKind::DnsResolved { .. }
        | EventKind::DnsFailed { .. }
        | EventKind::StalePeer { .. } => Some(Origin::Resolver),
        EventKind::Probe(_) => Some(Origin::Probe),
        _ => None,
    };
    let ev = Event::now(target, kind);
    match origin {
        Some(o) => ev.from_origin(o),
        None => ev,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Observer {
    /// Set up on the namespace thread. Fails when the namespace's socket table cannot be read.
    pub fn new(
        process: Process,
        api: ApiAddr,
        tx: mpsc::Sender<Event>,
        notices: Vec<String>,
    ) -> std::io::Result<Self> {
        let diag = Diag::open()?;
        let resolver = Arc::new(Resolver::for_pid(process.pid));
        let limits = proc::nofile_limits(process.pid).unwrap_or((0, 0));
        let fds_unreadable = std::fs::read_dir(format!("/proc/{}/fd", process.pid))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied);
        Ok(Observer {
            process,
            api,
            diag,
            resolver,
            tx,
            targets: BTreeMap::new(),
            pools: BTreeMap::new(),
            owned: HashMap::new(),
            foreign: HashSet::new(),
            conns: HashMap::new(),
            forced: HashSet::new(),
            fd_table: proc::FdTable::default(),
            limits,
            next_conn: 1,
            last_api_error: None,
            lost: false,
            scan_cost: Duration::ZERO,
            census_cost: Duration::ZERO,
            pending_destroy: Vec::new(),
            probe_failed: Arc::default(),
            notices,
            config_unreadable: None,
            fds_unreadable,
            proxies: HashMap::new(),
            first_read: None,
        })
    }

    async fn emit(&self, target: Option<&Arc<TargetRef>>, kind: EventKind) {
        let _ = self.tx.send(stamped(target.cloned(), kind)).await;
    }

    /// The API poll period: about the shortest scrape interval (so each scrape is seen), at
    /// least 1 s, and longer for large fleets (one poll of 10,000 targets reads ~5 MB).
    fn api_period(&self) -> Duration {
        let min_interval = self
            .targets
            .values()
            .filter_map(|t| t.api.scrape_interval.as_deref())
            .filter_map(|s| crate::config::units::parse_duration(s).ok())
            .min()
            .unwrap_or(Duration::from_secs(2));
        let by_size = Duration::from_millis(self.targets.len() as u64 * 4);
        min_interval
            .max(Duration::from_secs(1))
            .max(by_size)
            .min(Duration::from_secs(30))
    }

    /// The socket scan period: 1 s, or 40× the last scan's cost (scans under 2.5 % of a core).
    fn scan_period(&self) -> Duration {
        (self.scan_cost * 40).clamp(Duration::from_secs(1), Duration::from_secs(15))
    }

    /// The census period: 5 s, or 100× the last census's cost (reading the descriptor table
    /// of a 10,000-target Prometheus takes ~30–50 ms): under 1 % of a core.
    fn census_period(&self) -> Duration {
        (self.census_cost * 100).clamp(Duration::from_secs(5), Duration::from_secs(60))
    }

    /// Run until `quit` or until the command channel closes.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        self.emit(
            None,
            EventKind::notice(format!(
                "attached to Prometheus PID {} (netns net:[{}]), API {}://{}{}",
                self.process.pid,
                self.process.netns,
                if self.api.https { "https" } else { "http" },
                self.api.host,
                self.api.prefix
            )),
        )
        .await;
        // What cannot be read, and what that costs: before anything else is shown.
        // What is missing lasts as long as this attach: kept as a banner, not only logged.
        for message in self.process.missing.clone() {
            self.emit(None, EventKind::limitation(message)).await;
        }
        for message in std::mem::take(&mut self.notices) {
            self.emit(None, EventKind::notice(message)).await;
        }
        self.poll_api().await;
        self.scan().await;
        self.census().await;
        let mut next_api = Instant::now() + self.api_period();
        let mut next_scan = Instant::now() + self.scan_period();
        let mut next_census = Instant::now() + self.census_period();
        let mut next_dns = Instant::now() + Duration::from_secs(1);
        loop {
            let wake = next_api.min(next_scan).min(next_census).min(next_dns);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Quit) => break,
                    Some(c) => self.command(c).await,
                },
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= next_api {
                        self.check_process().await;
                        if !self.lost {
                            self.poll_api().await;
                        }
                        next_api = Instant::now() + self.api_period();
                    }
                    if now >= next_scan {
                        if !self.lost {
                            self.scan().await;
                        }
                        next_scan = Instant::now() + self.scan_period();
                    }
                    if now >= next_dns {
                        self.recheck_dns().await;
                        next_dns = Instant::now() + Duration::from_secs(1);
                    }
                    if now >= next_census {
                        if !self.lost {
                            self.census().await;
                        }
                        next_census = Instant::now() + self.census_period();
                    }
                }
            }
        }
    }

    /// Notice an exit of the attached process, and re-attach to its restart (same
    /// executable, same network namespace) by itself.
    async fn check_process(&mut self) {
        let alive = proc::still_running(&self.process);
        if alive {
            return;
        }
        if !self.lost {
            self.lost = true;
            let gone: Vec<[u8; 8]> = self.conns.keys().copied().collect();
            for c in gone {
                self.close(c, CloseReason::Gone).await;
            }
            self.owned.clear();
            self.foreign.clear();
            self.emit(
                None,
                EventKind::Error {
                    error: format!(
                        "Prometheus PID {} exited; waiting for it to restart in the same namespace",
                        self.process.pid
                    ),
                },
            )
            .await;
        }
        let again: Vec<Process> = proc::all_prometheus()
            .into_iter()
            .filter(|p| p.exe == self.process.exe && p.netns == self.process.netns)
            .collect();
        if let [p] = &again[..] {
            let old = self.process.pid;
            self.process = p.clone();
            self.limits = proc::nofile_limits(p.pid).unwrap_or(self.limits);
            self.resolver = Arc::new(Resolver::for_pid(p.pid));
            self.lost = false;
            self.emit(
                None,
                EventKind::notice(format!(
                    "Prometheus restarted: re-attached to PID {} (was {old})",
                    p.pid
                )),
            )
            .await;
        }
    }

    fn first_target(&self, pool: &PoolKey) -> Option<Arc<TargetRef>> {
        let p = self.pools.get(pool)?;
        p.targets
            .iter()
            .find_map(|id| self.targets.get(id))
            .map(|t| t.tref.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::diag::TcpFacts;

    #[test]
    fn a_socket_is_idle_once_the_answer_came_after_the_request() {
        let t = |unacked, sent, recv| TcpFacts {
            unacked: Some(unacked),
            last_data_sent_ms: Some(sent),
            last_data_recv_ms: Some(recv),
            ..TcpFacts::default()
        };
        assert!(idle_facts(&t(0, 900, 899)), "answered: idle");
        assert!(
            !idle_facts(&t(0, 5, 900)),
            "request sent 5 ms ago, no answer yet"
        );
        assert!(!idle_facts(&t(1, 900, 899)), "data unacknowledged");
        assert!(idle_facts(&TcpFacts::default()), "unknown: treated as idle");
    }
}
