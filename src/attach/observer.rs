//! The observer: polls the attached Prometheus's API, reads its namespace's socket table and
//! its descriptor table, attributes its outbound connections to pools, and turns what changed
//! into the same events the engine emits. It runs on one thread inside the process's network
//! namespace (see [`super::AttachSource`]), on a current-thread runtime, so every socket it
//! creates (API polls, DNS queries, probes, netlink) is created there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::api::{self, ApiTarget, UrlParts};
use super::diag::{Diag, SockInfo, TCP_ESTABLISHED, TCP_LISTEN, watched_states};
use super::proc::{self, Process};
use super::resolve::Resolver;
use crate::event::{
    CloseReason, Command, ConnInfo, DnsCause, Event, EventKind, FdCensus, PoolKey, ProbeFailKind,
    ProbeResult, ScrapeResult, Selector, TargetId, TargetRef,
};

/// Where the observer reads Prometheus's API (from inside its namespace).
#[derive(Debug, Clone)]
pub struct ApiAddr {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// `Host` header.
    pub host: String,
    /// Route prefix without a trailing slash (`""` for `/`).
    pub prefix: String,
}

/// A target as Prometheus's API last showed it.
struct Target {
    tref: Arc<TargetRef>,
    pool: PoolKey,
    url: UrlParts,
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
    /// How long the last socket dump took (the cadence adapts to it).
    dump_cost: Duration,
    /// Sockets to destroy once idle: (cookie, scans waited).
    pending_destroy: Vec<([u8; 8], u32)>,
    /// Targets whose last probe failed (written by the probe tasks).
    probe_failed: Arc<std::sync::Mutex<HashSet<TargetId>>>,
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Observer {
    /// Set up on the namespace thread. Fails when the namespace's socket table cannot be read.
    pub fn new(process: Process, api: ApiAddr, tx: mpsc::Sender<Event>) -> std::io::Result<Self> {
        let diag = Diag::open()?;
        let resolver = Arc::new(Resolver::for_pid(process.pid));
        let limits = proc::nofile_limits(process.pid).unwrap_or((0, 0));
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
            dump_cost: Duration::ZERO,
            pending_destroy: Vec::new(),
            probe_failed: Arc::default(),
        })
    }

    async fn emit(&self, target: Option<&Arc<TargetRef>>, kind: EventKind) {
        let _ = self.tx.send(Event::now(target.cloned(), kind)).await;
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

    /// The socket scan period: 1 s, or 20× the last dump's cost (under 5 % of a core).
    fn scan_period(&self) -> Duration {
        (self.dump_cost * 20).clamp(Duration::from_secs(1), Duration::from_secs(15))
    }

    /// Run until `quit` or until the command channel closes.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        self.emit(
            None,
            EventKind::Notice {
                message: format!(
                    "attached to Prometheus PID {} (netns net:[{}]), API http://{}{}",
                    self.process.pid, self.process.netns, self.api.host, self.api.prefix
                ),
            },
        )
        .await;
        self.poll_api().await;
        self.scan().await;
        self.census().await;
        let mut next_api = Instant::now() + self.api_period();
        let mut next_scan = Instant::now() + self.scan_period();
        let mut next_census = Instant::now() + Duration::from_secs(5);
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
                        next_census = Instant::now() + Duration::from_secs(5);
                    }
                }
            }
        }
    }

    /// Notice an exit of the attached process, and re-attach to its restart (same
    /// executable, same network namespace) by itself.
    async fn check_process(&mut self) {
        let alive = std::fs::read_link(format!("/proc/{}/exe", self.process.pid))
            .is_ok_and(|e| e == self.process.exe);
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
                EventKind::Notice {
                    message: format!(
                        "Prometheus restarted: re-attached to PID {} (was {old})",
                        p.pid
                    ),
                },
            )
            .await;
        }
    }

    async fn poll_api(&mut self) {
        let path = format!("{}/api/v1/targets?state=active", self.api.prefix);
        let res = api::request(
            self.api.addr,
            http::Method::GET,
            &self.api.host,
            &path,
            Duration::from_secs(10),
        )
        .await;
        let parsed = match res {
            Ok(r) if r.status == 200 => api::parse_targets(&r.body),
            Ok(r) => Err(format!(
                "{path}: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
            )),
            Err(e) => Err(format!(
                "reading Prometheus's API at {}: {e}",
                self.api.addr
            )),
        };
        let list = match parsed {
            Ok(l) => {
                self.last_api_error = None;
                l
            }
            Err(e) => {
                // Said once per distinct failure, not at every poll.
                if self.last_api_error.as_deref() != Some(&e) {
                    self.emit(None, EventKind::Error { error: e.clone() }).await;
                    self.last_api_error = Some(e);
                }
                return;
            }
        };
        self.apply_targets(list).await;
    }

    async fn apply_targets(&mut self, list: Vec<ApiTarget>) {
        let mut seen = HashSet::new();
        let mut new_pools = Vec::new();
        for a in list {
            let id = TargetId::of(
                a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &a.scrape_url,
            );
            seen.insert(id);
            if let Some(t) = self.targets.get_mut(&id) {
                let advanced =
                    a.last_scrape != t.api.last_scrape && !a.last_scrape.starts_with("0001-");
                t.api = a;
                if advanced {
                    self.scrape_event(id).await;
                }
                continue;
            }
            let Some(url) = api::split_url(&a.scrape_url) else {
                self.emit(
                    None,
                    EventKind::Notice {
                        message: format!(
                            "target with an unreadable scrapeUrl {:?} skipped",
                            a.scrape_url
                        ),
                    },
                )
                .await;
                continue;
            };
            let job = a
                .labels
                .get("job")
                .cloned()
                .unwrap_or_else(|| a.scrape_pool.clone());
            let instance = a.labels.get("instance").cloned().unwrap_or_default();
            let tref = Arc::new(TargetRef {
                id,
                job: Arc::from(job.as_str()),
                instance: Arc::from(instance.as_str()),
            });
            let pool = PoolKey {
                job: Arc::from(a.scrape_pool.as_str()),
                scheme: url.scheme,
                host: Arc::from(url.host.as_str()),
                port: url.port,
            };
            let dur = |s: &Option<String>, d: u64| {
                s.as_deref()
                    .and_then(|s| crate::config::units::parse_duration(s).ok())
                    .unwrap_or(Duration::from_secs(d))
            };
            let interval = dur(&a.scrape_interval, 60);
            let timeout = dur(&a.scrape_timeout, 10);
            self.emit(
                Some(&tref),
                EventKind::TargetAdded {
                    url: a.scrape_url.clone(),
                    pool: pool.clone(),
                    interval_s: interval.as_secs_f64(),
                    timeout_s: timeout.as_secs_f64(),
                    labels: a.labels.clone(),
                },
            )
            .await;
            let p = self.pools.entry(pool.clone()).or_default();
            if p.targets.is_empty() {
                new_pools.push(pool.clone());
            }
            p.targets.push(id);
            let scraped = !a.last_scrape.is_empty() && !a.last_scrape.starts_with("0001-");
            self.targets.insert(
                id,
                Target {
                    tref,
                    pool,
                    url,
                    api: a,
                    timeout,
                },
            );
            if scraped {
                self.scrape_event(id).await;
            }
        }
        let removed: Vec<TargetId> = self
            .targets
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in removed {
            if let Some(t) = self.targets.remove(&id) {
                if let Some(p) = self.pools.get_mut(&t.pool) {
                    p.targets.retain(|x| *x != id);
                }
                self.emit(Some(&t.tref), EventKind::TargetRemoved {}).await;
            }
        }
        for pool in new_pools {
            self.resolve_pool(&pool, DnsCause::Recheck).await;
        }
        self.pools.retain(|_, p| !p.targets.is_empty());
    }

    async fn scrape_event(&self, id: TargetId) {
        let Some(t) = self.targets.get(&id) else {
            return;
        };
        let conn = self
            .pool_conns(&t.pool)
            .into_iter()
            .max_by_key(|c| c.sock.tcp.data_segs_out);
        let up = t.api.health == "up";
        self.emit(
            Some(&t.tref),
            EventKind::Scrape(ScrapeResult {
                conn_id: conn.map(|c| c.id),
                reused: conn.is_some_and(|c| c.sock.tcp.data_segs_out.unwrap_or(0) > 1),
                status: None,
                duration_ms: t.api.last_scrape_duration * 1000.0,
                bytes: 0,
                samples: 0,
                up,
                error: (!t.api.last_error.is_empty()).then(|| t.api.last_error.clone()),
            }),
        )
        .await;
    }

    fn pool_conns(&self, pool: &PoolKey) -> Vec<&Conn> {
        let mut v: Vec<&Conn> = self.conns.values().filter(|c| &c.pool == pool).collect();
        v.sort_by_key(|c| c.id);
        v
    }

    fn first_target(&self, pool: &PoolKey) -> Option<Arc<TargetRef>> {
        let p = self.pools.get(pool)?;
        p.targets
            .iter()
            .find_map(|id| self.targets.get(id))
            .map(|t| t.tref.clone())
    }

    /// Look a pool's host up from the process's point of view; report it; re-judge its
    /// connections.
    async fn resolve_pool(&mut self, pool: &PoolKey, cause: DnsCause) {
        let host = pool.host.to_string();
        let literal = host.parse::<IpAddr>().ok();
        let tref = self.first_target(pool);
        let res = self.resolver.lookup(&host).await;
        let Some(p) = self.pools.get_mut(pool) else {
            return;
        };
        match res {
            Ok(a) => {
                let changed = p.answer.as_ref() != Some(&a.addrs);
                p.answer = Some(a.addrs.clone());
                // Names are looked up again at TTL expiry, at most every 5 s (each lookup is a
                // query to Prometheus's own DNS server) and at least every 30 s (hosts files
                // have no TTL).
                p.recheck_at = literal.is_none().then(|| {
                    Instant::now() + a.ttl.clamp(Duration::from_secs(5), Duration::from_secs(30))
                });
                // A background recheck is reported when the answer changed; asked-for lookups
                // always.
                if literal.is_none() && (changed || cause != DnsCause::Recheck) {
                    self.emit(
                        tref.as_ref(),
                        EventKind::DnsResolved {
                            host,
                            addrs: a.addrs,
                            ttl_s: a.ttl.as_secs(),
                            duration_ms: ms(a.took),
                            cause,
                        },
                    )
                    .await;
                }
            }
            Err(f) => {
                p.recheck_at = Some(Instant::now() + Duration::from_secs(5));
                self.emit(
                    tref.as_ref(),
                    EventKind::DnsFailed {
                        host,
                        kind: f.kind,
                        error: f.message,
                        duration_ms: ms(f.took),
                        cause,
                    },
                )
                .await;
            }
        }
        self.judge(pool).await;
    }

    async fn recheck_dns(&mut self) {
        let now = Instant::now();
        let due: Vec<PoolKey> = self
            .pools
            .iter()
            .filter(|(_, p)| p.recheck_at.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.resolve_pool(&k, DnsCause::Recheck).await;
        }
    }

    /// Flag the pool's connections whose peer is not in the current answer.
    async fn judge(&mut self, pool: &PoolKey) {
        let Some(answer) = self.pools.get(pool).and_then(|p| p.answer.clone()) else {
            return;
        };
        let tref = self.first_target(pool);
        let mut flagged = Vec::new();
        for c in self.conns.values_mut().filter(|c| &c.pool == pool) {
            let stale = !answer.contains(&c.sock.peer.ip());
            if stale && !c.stale {
                flagged.push((c.id, c.sock.peer));
            }
            c.stale = stale;
        }
        for (conn_id, peer) in flagged {
            self.emit(
                tref.as_ref(),
                EventKind::StalePeer {
                    conn_id,
                    peer,
                    addrs: answer.clone(),
                },
            )
            .await;
        }
    }

    /// Where each target address leads: (ip, port) → pools, from the current answers.
    fn peer_index(&self) -> HashMap<SocketAddr, Vec<PoolKey>> {
        let mut idx: HashMap<SocketAddr, Vec<PoolKey>> = HashMap::new();
        for (k, p) in &self.pools {
            for ip in p.answer.iter().flatten() {
                idx.entry(SocketAddr::new(*ip, k.port))
                    .or_default()
                    .push(k.clone());
            }
        }
        idx
    }

    /// Read the namespace's socket table; rescan the fd table only when sockets appear that
    /// are neither known to be the process's nor known to be someone else's.
    async fn scan(&mut self) {
        let start = Instant::now();
        let socks = match self.diag.dump(watched_states()) {
            Ok(s) => s,
            Err(e) => {
                self.emit(
                    None,
                    EventKind::Error {
                        error: format!("reading the socket table of Prometheus's namespace: {e}"),
                    },
                )
                .await;
                return;
            }
        };
        self.dump_cost = start.elapsed();
        let unknown = socks
            .iter()
            .any(|s| !self.owned.contains_key(&s.inode) && !self.foreign.contains(&s.inode));
        if unknown {
            match proc::fd_table(self.process.pid) {
                Ok(t) => {
                    self.owned = t.sockets.clone();
                    self.fd_table = t;
                    self.foreign = socks
                        .iter()
                        .map(|s| s.inode)
                        .filter(|i| !self.owned.contains_key(i))
                        .collect();
                }
                Err(e) => {
                    self.emit(
                        None,
                        EventKind::Error {
                            error: format!(
                                "reading /proc/{}/fd (needs root or CAP_DAC_READ_SEARCH): {e}",
                                self.process.pid
                            ),
                        },
                    )
                    .await;
                }
            }
        }
        let mine: Vec<&SockInfo> = socks
            .iter()
            .filter(|s| self.owned.contains_key(&s.inode))
            .collect();
        let listen_ports: HashSet<u16> = mine
            .iter()
            .filter(|s| s.state == TCP_LISTEN)
            .map(|s| s.local.port())
            .collect();
        let idx = self.peer_index();
        let mut present = HashSet::new();
        let mut opened = Vec::new();
        for s in mine.iter().filter(|s| s.state == TCP_ESTABLISHED) {
            present.insert(s.cookie);
            if let Some(c) = self.conns.get_mut(&s.cookie) {
                c.sock = (*s).clone();
                continue;
            }
            // Inbound: a client of one of its own listeners. Never a target's.
            if listen_ports.contains(&s.local.port()) {
                continue;
            }
            let Some(pools) = idx.get(&s.peer) else {
                continue;
            };
            // Several pools on one address (two names for one address, or two jobs scraping
            // one endpoint): each has its own connections, and nothing on the socket says
            // whose it is. Give it to the candidate holding the fewest, so each pool shows
            // its one keep-alive connection, even if two equal ones may be swapped.
            let pool = pools
                .iter()
                .min_by_key(|p| self.conns.values().filter(|c| &c.pool == *p).count())
                .unwrap_or(&pools[0])
                .clone();
            let fd = self.owned.get(&s.inode).copied().unwrap_or(-1);
            let id = self.next_conn;
            self.next_conn += 1;
            self.conns.insert(
                s.cookie,
                Conn {
                    id,
                    pool: pool.clone(),
                    sock: (*s).clone(),
                    fd,
                    first_seen: Instant::now(),
                    stale: false,
                },
            );
            opened.push(s.cookie);
        }
        for cookie in opened {
            let Some(c) = self.conns.get(&cookie) else {
                continue;
            };
            let info = ConnInfo {
                conn_id: c.id,
                pool: c.pool.clone(),
                fd: c.fd,
                local: c.sock.local,
                peer: c.sock.peer,
                connect_ms: 0.0,
                tls: None,
            };
            let pool = c.pool.clone();
            let tref = self.first_target(&pool);
            self.emit(tref.as_ref(), EventKind::ConnOpened(info)).await;
            self.judge(&pool).await;
        }
        let closed: Vec<[u8; 8]> = self
            .conns
            .keys()
            .filter(|k| !present.contains(*k))
            .copied()
            .collect();
        for cookie in closed {
            let reason = if self.forced.remove(&cookie) {
                CloseReason::Forced
            } else {
                CloseReason::Gone
            };
            self.close(cookie, reason).await;
        }
        self.destroy_pending().await;
    }

    async fn close(&mut self, cookie: [u8; 8], reason: CloseReason) {
        let Some(c) = self.conns.remove(&cookie) else {
            return;
        };
        let tref = self.first_target(&c.pool);
        self.emit(
            tref.as_ref(),
            EventKind::ConnClosed {
                conn_id: c.id,
                fd: c.fd,
                reason,
                lifetime_s: c.first_seen.elapsed().as_secs_f64(),
                requests: u64::from(c.sock.tcp.data_segs_out.unwrap_or(0)),
            },
        )
        .await;
    }

    async fn census(&mut self) {
        // The census reads the whole table; the scan keeps only what changed.
        if let Ok(t) = proc::fd_table(self.process.pid) {
            self.fd_table = t;
        }
        let t = &self.fd_table;
        let c = FdCensus {
            total: t.total(),
            sockets: t.sockets.len() as u64,
            files: t.files,
            pipes: t.pipes,
            other: t.other,
            soft_limit: self.limits.0,
            hard_limit: self.limits.1,
            target_sockets: Some(self.conns.len() as u64),
            tsdb_files: Some(t.tsdb_files),
        };
        self.emit(None, EventKind::Fds(c)).await;
    }

    fn selected(&self, sel: &Selector) -> Vec<TargetId> {
        self.targets
            .values()
            .filter(|t| sel.matches(&t.tref))
            .map(|t| t.tref.id)
            .collect()
    }

    async fn ack(&self, cmd: &str, targets: usize) {
        self.emit(
            None,
            EventKind::CommandAck {
                cmd: cmd.to_owned(),
                targets: targets as u64,
            },
        )
        .await;
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Probe(sel) => {
                let ids = self.selected(&sel);
                self.ack("probe", ids.len()).await;
                for id in ids {
                    let Some(t) = self.targets.get(&id) else {
                        continue;
                    };
                    let job = ProbeJob {
                        tref: t.tref.clone(),
                        url: t.url.clone(),
                        timeout: t.timeout,
                        pooled_up: t.api.health == "up",
                        resolver: self.resolver.clone(),
                        tx: self.tx.clone(),
                        failed: self.probe_failed.clone(),
                    };
                    tokio::spawn(job.run());
                }
            }
            Command::ReResolve(sel) => {
                let ids = self.selected(&sel);
                self.ack("re_resolve", ids.len()).await;
                let pools: HashSet<PoolKey> = ids
                    .iter()
                    .filter_map(|id| self.targets.get(id))
                    .map(|t| t.pool.clone())
                    .collect();
                for p in pools {
                    self.resolve_pool(&p, DnsCause::ReResolve).await;
                }
            }
            Command::Reconnect(sel) => {
                let ids = self.selected(&sel);
                self.ack("reconnect", ids.len()).await;
                self.reconnect(&ids).await;
            }
            Command::Reload => self.reload().await,
            Command::Pause | Command::Resume | Command::Load { .. } => {
                self.emit(
                    None,
                    EventKind::Error {
                        error: format!(
                            "{}: not possible on an attached Prometheus (it scrapes by itself)",
                            cmd.name()
                        ),
                    },
                )
                .await;
            }
            Command::Quit => {}
        }
    }

    /// Destroy the selected targets' pooled sockets: Prometheus dials afresh (and resolves
    /// again) at its next scrape.
    async fn reconnect(&mut self, ids: &[TargetId]) {
        // A reconnect turns a hidden failure into a visible one: say so first.
        let failed: Vec<String> = {
            let f = self
                .probe_failed
                .lock()
                .map(|f| f.clone())
                .unwrap_or_default();
            ids.iter()
                .filter(|id| f.contains(id))
                .filter_map(|id| self.targets.get(id))
                .map(|t| format!("{}/{}", t.tref.job, t.tref.instance))
                .collect()
        };
        if !failed.is_empty() {
            self.emit(
                None,
                EventKind::Notice {
                    message: format!(
                        "reconnect: the last fresh-connection probe of {} failed; Prometheus's \
                         next dial may fail too and the target go down",
                        failed.join(", ")
                    ),
                },
            )
            .await;
        }
        let pools: HashSet<PoolKey> = ids
            .iter()
            .filter_map(|id| self.targets.get(id))
            .map(|t| t.pool.clone())
            .collect();
        let (idle, busy): (Vec<SockInfo>, Vec<SockInfo>) = self
            .conns
            .values()
            .filter(|c| pools.contains(&c.pool))
            .map(|c| c.sock.clone())
            .partition(is_idle);
        // A socket mid-request is destroyed once idle (checked at each scan, at most 3).
        self.pending_destroy
            .extend(busy.into_iter().map(|s| (s.cookie, 0)));
        self.destroy_now(idle).await;
        // Report the closes now rather than at the next scan.
        self.scan().await;
    }

    async fn destroy_now(&mut self, socks: Vec<SockInfo>) {
        use super::diag::DestroyError;
        let mut refused: Option<String> = None;
        let mut fallback_used = 0;
        for s in socks {
            let why = match self.diag.destroy(&s) {
                Ok(()) => {
                    self.forced.insert(s.cookie);
                    continue;
                }
                Err(DestroyError::Gone) => continue,
                Err(e @ (DestroyError::NoPermission | DestroyError::Unsupported)) => e,
                Err(e) => {
                    refused = Some(e.to_string());
                    break;
                }
            };
            // Fall back to a duplicate of Prometheus's descriptor, shut down (ptrace rights).
            let fd = self.owned.get(&s.inode).copied().unwrap_or(-1);
            match proc::shutdown_socket(self.process.pid, fd, s.inode) {
                Ok(()) => {
                    self.forced.insert(s.cookie);
                    fallback_used += 1;
                    if fallback_used == 1 {
                        self.emit(
                            None,
                            EventKind::Notice {
                                message: format!(
                                    "reconnect: {why}; closed through a duplicate of \
                                     Prometheus's descriptor instead (pidfd_getfd + shutdown)"
                                ),
                            },
                        )
                        .await;
                    }
                }
                Err(e) => {
                    refused = Some(format!(
                        "{why}; the fallback (pidfd_getfd + shutdown, needs ptrace rights over \
                         PID {}) failed too: {e}",
                        self.process.pid
                    ));
                    break;
                }
            }
        }
        if let Some(e) = refused {
            self.pending_destroy.clear();
            self.emit(
                None,
                EventKind::Error {
                    error: format!("reconnect: {e}"),
                },
            )
            .await;
        }
    }

    /// Destroy the pending sockets that became idle (or waited long enough).
    async fn destroy_pending(&mut self) {
        if self.pending_destroy.is_empty() {
            return;
        }
        let mut now = Vec::new();
        let mut keep = Vec::new();
        for (cookie, tries) in std::mem::take(&mut self.pending_destroy) {
            let Some(c) = self.conns.get(&cookie) else {
                continue;
            };
            if is_idle(&c.sock) || tries >= 3 {
                now.push(c.sock.clone());
            } else {
                keep.push((cookie, tries + 1));
            }
        }
        self.pending_destroy = keep;
        self.destroy_now(now).await;
    }

    async fn reload(&mut self) {
        if !self.process.flags.lifecycle {
            self.emit(
                None,
                EventKind::Error {
                    error: "reload: Prometheus's lifecycle API is off (started without \
                            --web.enable-lifecycle); POST /-/reload would be refused. Send it \
                            SIGHUP instead."
                        .to_owned(),
                },
            )
            .await;
            return;
        }
        let path = format!("{}/-/reload", self.api.prefix);
        let res = api::request(
            self.api.addr,
            http::Method::POST,
            &self.api.host,
            &path,
            Duration::from_secs(30),
        )
        .await;
        let error = match res {
            Ok(r) if r.status == 200 => None,
            Ok(r) => Some(format!(
                "Prometheus answered HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).trim()
            )),
            Err(e) => Some(e.to_string()),
        };
        self.ack("reload", 0).await;
        match error {
            None => {
                self.emit(
                    None,
                    EventKind::Notice {
                        message: "Prometheus reloaded its configuration".to_owned(),
                    },
                )
                .await;
                self.poll_api().await;
            }
            Some(e) => {
                self.emit(
                    None,
                    EventKind::Error {
                        error: format!("reload: {e}"),
                    },
                )
                .await
            }
        }
    }
}

/// One probe: resolve, connect and GET on a fresh connection from Prometheus's namespace.
struct ProbeJob {
    tref: Arc<TargetRef>,
    url: UrlParts,
    timeout: Duration,
    pooled_up: bool,
    resolver: Arc<Resolver>,
    tx: mpsc::Sender<Event>,
    failed: Arc<std::sync::Mutex<HashSet<TargetId>>>,
}

impl ProbeJob {
    async fn run(self) {
        let r = self.probe().await;
        if let Ok(mut f) = self.failed.lock() {
            if r.ok {
                f.remove(&self.tref.id);
            } else {
                f.insert(self.tref.id);
            }
        }
        let _ = self
            .tx
            .send(Event::now(Some(self.tref.clone()), EventKind::Probe(r)))
            .await;
    }

    async fn probe(&self) -> ProbeResult {
        let start = Instant::now();
        let mut r = ProbeResult {
            ok: false,
            kind: None,
            error: None,
            resolve_ms: None,
            connect_ms: None,
            first_byte_ms: None,
            total_ms: 0.0,
            peer: None,
            status: None,
            hidden_failure: false,
        };
        let literal = self.url.host.parse::<IpAddr>().is_ok();
        let fail = |mut r: ProbeResult, kind: ProbeFailKind, e: String| {
            r.kind = Some(kind);
            r.error = Some(e);
            r.total_ms = ms(start.elapsed());
            r.hidden_failure = self.pooled_up;
            r
        };
        let addrs = match self.resolver.lookup(&self.url.host).await {
            Ok(a) => {
                if !literal {
                    r.resolve_ms = Some(ms(a.took));
                    let _ = self
                        .tx
                        .send(Event::now(
                            Some(self.tref.clone()),
                            EventKind::DnsResolved {
                                host: self.url.host.clone(),
                                addrs: a.addrs.clone(),
                                ttl_s: a.ttl.as_secs(),
                                duration_ms: ms(a.took),
                                cause: DnsCause::Probe,
                            },
                        ))
                        .await;
                }
                a.addrs
            }
            Err(f) => {
                r.resolve_ms = Some(ms(f.took));
                return fail(r, ProbeFailKind::Resolution, f.message);
            }
        };
        if self.url.scheme == crate::event::Scheme::Https {
            return fail(
                r,
                ProbeFailKind::Other,
                "https probes are not supported in attach mode yet".to_owned(),
            );
        }
        let Some(ip) = addrs.first() else {
            return fail(r, ProbeFailKind::Resolution, "empty answer".to_owned());
        };
        let peer = SocketAddr::new(*ip, self.url.port);
        r.peer = Some(peer);
        let host = if self.url.host.contains(':') {
            format!("[{}]:{}", self.url.host, self.url.port)
        } else {
            format!("{}:{}", self.url.host, self.url.port)
        };
        let left = self.timeout.saturating_sub(start.elapsed());
        match api::request(
            peer,
            http::Method::GET,
            &host,
            &self.url.path_and_query,
            left,
        )
        .await
        {
            Ok(resp) => {
                r.connect_ms = Some(ms(resp.connect));
                r.first_byte_ms = Some(ms(resp.first_byte));
                r.status = Some(resp.status);
                r.total_ms = ms(start.elapsed());
                if resp.status == 200 {
                    r.ok = true;
                    r
                } else {
                    fail(r, ProbeFailKind::Http, format!("HTTP {}", resp.status))
                }
            }
            Err(api::HttpError::Connect { err, .. }) => {
                let kind = if err.kind() == std::io::ErrorKind::ConnectionRefused {
                    ProbeFailKind::Refused
                } else {
                    ProbeFailKind::Other
                };
                fail(r, kind, format!("connect {peer}: {err}"))
            }
            Err(e @ api::HttpError::Timeout { .. }) => {
                fail(r, ProbeFailKind::Timeout, e.to_string())
            }
            Err(e) => fail(r, ProbeFailKind::Other, e.to_string()),
        }
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
