//! Per-target state built from engine events, with bounded histories.
//!
//! The model is source-agnostic: it knows events, not the engine. The TUI and the headless
//! output both read it; a later source (observing a real Prometheus) feeds the same events.
//! Applying an event costs O(1) (hash lookups and bounded ring buffers); nothing here walks all
//! targets per event.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::event::{
    CloseReason, ConnFailKind, DnsCause, DnsFailKind, Event, EventKind, Health, TargetRef,
};

/// How many connections of a target's history are kept.
pub const CONN_HISTORY: usize = 32;
/// How many DNS outcomes per target are kept.
pub const DNS_HISTORY: usize = 32;
/// How many scrapes per target are kept (for the sparkline and detail view).
pub const SCRAPE_HISTORY: usize = 30;
/// How many reconnect timestamps per target are kept (for "reconnects in the last hour").
pub const RECONNECT_HISTORY: usize = 64;
/// How many events the event log keeps.
pub const EVENT_LOG: usize = 2000;

/// What a target's connection is doing, as far as events tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    /// No connection yet and no dial seen.
    #[default]
    None,
    /// Looking the name up for a dial.
    Resolving,
    /// Connecting.
    Dialling,
    /// A request is on the connection.
    InFlight,
    /// Connected, waiting for the next scrape.
    Idle,
    /// The last connection closed; the next scrape dials.
    Closed,
    /// The last dial failed.
    Failing,
}

impl ConnState {
    /// The one textual form.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConnState::None => "-",
            ConnState::Resolving => "resolving",
            ConnState::Dialling => "dialling",
            ConnState::InFlight => "in flight",
            ConnState::Idle => "idle",
            ConnState::Closed => "closed",
            ConnState::Failing => "failing",
        }
    }
}

impl std::fmt::Display for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator action sent to the engine and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pending {
    /// `reconnect` sent.
    Reconnecting,
    /// `re_resolve` sent.
    Resolving,
    /// `probe` sent.
    Probing,
}

impl Pending {
    /// Text shown in the row while waiting.
    pub fn as_str(&self) -> &'static str {
        match self {
            Pending::Reconnecting => "reconnecting…",
            Pending::Resolving => "resolving…",
            Pending::Probing => "probing…",
        }
    }
}

/// One connection in a target's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnRecord {
    /// Connection id.
    pub conn_id: u64,
    /// When it opened.
    #[serde(with = "ts")]
    pub opened: SystemTime,
    /// File descriptor.
    pub fd: i32,
    /// Local address.
    pub local: SocketAddr,
    /// Peer address.
    pub peer: SocketAddr,
    /// Connect time.
    pub connect_ms: f64,
    /// Requests carried (updated by scrapes, final at close).
    pub requests: u64,
    /// When and why it ended; `None` while open.
    pub closed: Option<(SystemTime, CloseReason)>,
}

/// One DNS outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsRecord {
    /// When it finished.
    #[serde(with = "ts")]
    pub at: SystemTime,
    /// The name.
    pub host: String,
    /// Why it was looked up.
    pub cause: DnsCause,
    /// How long it took.
    pub duration_ms: f64,
    /// The answer and its TTL, or the failure.
    pub outcome: DnsOutcome,
}

/// A DNS answer or failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsOutcome {
    /// Addresses and TTL seconds.
    Answer {
        /// Addresses.
        addrs: Vec<IpAddr>,
        /// TTL at the time of the answer.
        ttl_s: u64,
    },
    /// The lookup failed.
    Failed {
        /// How.
        kind: DnsFailKind,
        /// Resolver message.
        error: String,
    },
}

/// One scrape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScrapeRecord {
    /// When it finished.
    #[serde(with = "ts")]
    pub at: SystemTime,
    /// Success.
    pub up: bool,
    /// HTTP status.
    pub status: Option<u16>,
    /// Duration.
    pub duration_ms: f64,
    /// Uncompressed bytes.
    pub bytes: u64,
    /// Samples.
    pub samples: u64,
    /// Connection used.
    pub conn_id: Option<u64>,
    /// Whether that connection was reused.
    pub reused: bool,
    /// Error text.
    pub error: Option<String>,
}

/// The latest probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeRecord {
    /// When it finished.
    #[serde(with = "ts")]
    pub at: SystemTime,
    /// Success.
    pub ok: bool,
    /// Failure kind.
    pub kind: Option<String>,
    /// Error.
    pub error: Option<String>,
    /// Resolve phase.
    pub resolve_ms: Option<f64>,
    /// Connect phase.
    pub connect_ms: Option<f64>,
    /// Time to first byte.
    pub first_byte_ms: Option<f64>,
    /// Total.
    pub total_ms: f64,
    /// Peer.
    pub peer: Option<SocketAddr>,
    /// Pooled connection works while a fresh one fails.
    pub hidden_failure: bool,
}

/// Everything known about one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetState {
    /// Identity.
    #[serde(skip)]
    pub target: Arc<TargetRef>,
    /// Job.
    pub job: Arc<str>,
    /// Instance.
    pub instance: Arc<str>,
    /// Scrape URL.
    pub url: String,
    /// Pool key.
    pub pool: String,
    /// Interval seconds.
    pub interval_s: f64,
    /// Timeout seconds.
    pub timeout_s: f64,
    /// Health from the last scrape.
    pub health: Health,
    /// Connection state.
    pub conn_state: ConnState,
    /// The open connection (last entry of `conns` while it is open).
    pub conn_id: Option<u64>,
    /// Connection history, oldest first.
    pub conns: VecDeque<ConnRecord>,
    /// DNS history, oldest first.
    pub dns: VecDeque<DnsRecord>,
    /// Scrape history, oldest first.
    pub scrapes: VecDeque<ScrapeRecord>,
    /// Last probe.
    pub probe: Option<ProbeRecord>,
    /// Times of recent dials after the first (reconnects), oldest first.
    #[serde(skip)]
    pub reconnect_times: VecDeque<SystemTime>,
    /// Reconnects in total (dials after the first connection).
    pub reconnects_total: u64,
    /// Connections opened in total.
    pub dials_total: u64,
    /// The open connection's peer is not in the latest DNS answer.
    pub stale: bool,
    /// The latest lookup of this target's name failed.
    pub dns_failing: bool,
    /// The latest probe failed.
    pub probe_failed: bool,
    /// Last dial failure.
    pub last_conn_error: Option<(ConnFailKind, String)>,
    /// Operator action awaiting the engine's answer.
    pub pending: Option<Pending>,
    /// The target was removed (kept for its history until the model forgets it).
    pub removed: bool,
}

impl TargetState {
    fn new(
        target: Arc<TargetRef>,
        url: String,
        pool: String,
        interval_s: f64,
        timeout_s: f64,
    ) -> Self {
        TargetState {
            job: target.job.clone(),
            instance: target.instance.clone(),
            target,
            url,
            pool,
            interval_s,
            timeout_s,
            health: Health::Unknown,
            conn_state: ConnState::None,
            conn_id: None,
            conns: VecDeque::new(),
            dns: VecDeque::new(),
            scrapes: VecDeque::new(),
            probe: None,
            reconnect_times: VecDeque::new(),
            reconnects_total: 0,
            dials_total: 0,
            stale: false,
            dns_failing: false,
            probe_failed: false,
            last_conn_error: None,
            pending: None,
            removed: false,
        }
    }

    /// The open connection's record.
    pub fn open_conn(&self) -> Option<&ConnRecord> {
        let id = self.conn_id?;
        self.conns.iter().rev().find(|c| c.conn_id == id)
    }

    /// The latest scrape.
    pub fn last_scrape(&self) -> Option<&ScrapeRecord> {
        self.scrapes.back()
    }

    /// The latest DNS outcome.
    pub fn last_dns(&self) -> Option<&DnsRecord> {
        self.dns.back()
    }

    /// Reconnects within `window` before `now`.
    pub fn reconnects_since(&self, now: SystemTime, window: Duration) -> usize {
        let from = now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
        self.reconnect_times.iter().filter(|t| **t >= from).count()
    }

    fn conn_mut(&mut self, id: u64) -> Option<&mut ConnRecord> {
        self.conns.iter_mut().rev().find(|c| c.conn_id == id)
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if q.capacity() == 0 {
        // Exactly the bound, at once: no regrowth, no slack (memory per target is bounded).
        q.reserve_exact(cap);
    }
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}

/// An open connection, wherever it belongs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenConn {
    /// Connection id.
    pub conn_id: u64,
    /// Pool key.
    pub pool: String,
    /// Index into `Model::targets` of the target that dialled it.
    pub slot: usize,
    /// Every target that has used it (more than one in a shared pool, e.g. blackbox).
    pub users: Vec<usize>,
    /// File descriptor.
    pub fd: i32,
    /// Local address.
    pub local: SocketAddr,
    /// Peer.
    pub peer: SocketAddr,
    /// Opened at.
    #[serde(with = "ts")]
    pub opened: SystemTime,
}

pub use crate::event::FdCensus;

/// Which counter a per-minute rate is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Connections opened.
    Dials = 0,
    /// Connections closed.
    Closes = 1,
    /// Dials failed.
    DialFailures = 2,
    /// DNS lookups.
    Lookups = 3,
    /// DNS failures.
    LookupFailures = 4,
    /// Scrapes.
    Scrapes = 5,
}

const RATES: usize = 6;

/// Counts per second over the last minute, by event time.
#[derive(Debug, Clone, Default)]
struct PerMinute {
    /// (unix second, counts) ring of 60 buckets.
    buckets: Vec<(u64, [u64; RATES])>,
}

impl PerMinute {
    fn add(&mut self, at: SystemTime, what: Rate) {
        if self.buckets.is_empty() {
            self.buckets = vec![(0, [0; RATES]); 60];
        }
        let sec = unix_secs(at);
        let b = &mut self.buckets[(sec % 60) as usize];
        if b.0 != sec {
            *b = (sec, [0; RATES]);
        }
        b.1[what as usize] += 1;
    }

    fn last_minute(&self, now: SystemTime, what: Rate) -> u64 {
        let now = unix_secs(now);
        self.buckets
            .iter()
            .filter(|(s, _)| *s + 60 > now && *s <= now)
            .map(|(_, c)| c[what as usize])
            .sum()
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Totals kept incrementally (never recomputed by walking all targets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Targets present.
    pub targets: u64,
    /// Healthy.
    pub up: u64,
    /// Unhealthy.
    pub down: u64,
    /// Open connections.
    pub conns_open: u64,
    /// Targets whose connection is in flight.
    pub in_flight: u64,
    /// Targets flagged stale.
    pub stale: u64,
    /// Targets whose DNS is failing.
    pub dns_failing: u64,
    /// Targets whose latest probe failed.
    pub probe_failed: u64,
    /// Probes that failed while the pooled connection still works.
    pub hidden_failures: u64,
}

/// All state derived from events.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Targets in order of appearance; removed ones stay (flagged) so history is not lost.
    pub targets: Vec<TargetState>,
    index: HashMap<u64, usize>,
    by_name: HashMap<(Arc<str>, Arc<str>), usize>,
    /// Open connections by id.
    pub conns: HashMap<u64, OpenConn>,
    /// The latest descriptor census.
    pub fds: Option<FdCensus>,
    /// Recent events, oldest first.
    pub log: VecDeque<Event>,
    /// Events dropped by the engine (consumer too slow).
    pub dropped: u64,
    /// Whether scraping is paused.
    pub paused: bool,
    /// Incremented on every change; a renderer redraws when it moves.
    pub version: u64,
    /// Incremented when the set of targets or a sortable field changes membership.
    pub targets_version: u64,
    /// Running totals.
    pub totals: Totals,
    rates: PerMinute,
    /// Last error or notice to show the operator.
    pub last_message: Option<String>,
    /// Whether the event log keeps scrape events (they dominate at scale).
    pub log_scrapes: bool,
}

impl Model {
    /// An empty model.
    pub fn new() -> Self {
        Model {
            log_scrapes: true,
            ..Default::default()
        }
    }

    /// Look a target up by job and instance.
    pub fn find(&self, job: &str, instance: &str) -> Option<&TargetState> {
        self.by_name
            .get(&(Arc::from(job), Arc::from(instance)))
            .map(|&i| &self.targets[i])
    }

    /// Index of a target by job and instance.
    pub fn slot_of(&self, job: &str, instance: &str) -> Option<usize> {
        self.by_name
            .get(&(Arc::from(job), Arc::from(instance)))
            .copied()
    }

    /// Per-minute rate of one counter as of `now`.
    pub fn per_minute(&self, now: SystemTime, what: Rate) -> u64 {
        self.rates.last_minute(now, what)
    }

    /// Mark targets as awaiting an operator action (the row shows it until the engine answers).
    pub fn set_pending(&mut self, slots: impl IntoIterator<Item = usize>, p: Pending) {
        for s in slots {
            if let Some(t) = self.targets.get_mut(s) {
                t.pending = Some(p);
            }
        }
        self.version += 1;
    }

    fn slot(&mut self, ev: &Event) -> Option<usize> {
        let t = ev.target.as_ref()?;
        self.index.get(&t.id).copied()
    }

    fn health_counts(&mut self, old: Health, new: Health) {
        match old {
            Health::Up => self.totals.up -= 1,
            Health::Down => self.totals.down -= 1,
            Health::Unknown => {}
        }
        match new {
            Health::Up => self.totals.up += 1,
            Health::Down => self.totals.down += 1,
            Health::Unknown => {}
        }
    }

    fn set_flag(&mut self, slot: usize, which: Flag, on: bool) {
        let t = &mut self.targets[slot];
        let (field, total) = match which {
            Flag::Stale => (&mut t.stale, &mut self.totals.stale),
            Flag::DnsFailing => (&mut t.dns_failing, &mut self.totals.dns_failing),
            Flag::ProbeFailed => (&mut t.probe_failed, &mut self.totals.probe_failed),
        };
        if *field != on {
            *field = on;
            if on {
                *total += 1;
            } else {
                *total -= 1;
            }
        }
    }

    fn set_state(&mut self, slot: usize, s: ConnState) {
        let t = &mut self.targets[slot];
        if t.conn_state == ConnState::InFlight {
            self.totals.in_flight -= 1;
        }
        if s == ConnState::InFlight {
            self.totals.in_flight += 1;
        }
        t.conn_state = s;
    }

    /// A target scraped over a connection another target dialled (a shared pool): make it the
    /// target's current connection, with a record in its history.
    fn adopt(&mut self, s: usize, conn_id: u64) {
        let Some(oc) = self.conns.get_mut(&conn_id) else {
            return;
        };
        if oc.users.contains(&s) {
            return;
        }
        oc.users.push(s);
        let rec = ConnRecord {
            conn_id,
            opened: oc.opened,
            fd: oc.fd,
            local: oc.local,
            peer: oc.peer,
            connect_ms: 0.0,
            requests: 0,
            closed: None,
        };
        let t = &mut self.targets[s];
        t.conn_id = Some(conn_id);
        if t.conn_mut(conn_id).is_none() {
            push_bounded(&mut t.conns, rec, CONN_HISTORY);
        }
    }

    /// Connection `conn_id` used by target `s` ended.
    fn conn_ended(
        &mut self,
        s: usize,
        conn_id: u64,
        at: SystemTime,
        reason: CloseReason,
        requests: u64,
    ) {
        let Some(t) = self.targets.get(s) else { return };
        let was_current = t.conn_id == Some(conn_id);
        if was_current {
            self.set_flag(s, Flag::Stale, false);
            let st = self.targets[s].conn_state;
            if st != ConnState::Resolving && st != ConnState::Dialling {
                self.set_state(s, ConnState::Closed);
            }
        }
        let t = &mut self.targets[s];
        if was_current {
            t.conn_id = None;
        }
        if let Some(c) = t.conn_mut(conn_id) {
            c.closed = Some((at, reason));
            c.requests = requests.max(c.requests);
        }
        if t.pending == Some(Pending::Reconnecting) {
            t.pending = None;
        }
    }

    /// Apply one event. O(1) apart from bounded histories.
    pub fn apply(&mut self, ev: Event) {
        self.version += 1;
        let at = ev.ts;
        let slot = self.slot(&ev);
        match &ev.kind {
            EventKind::TargetAdded {
                url,
                pool,
                interval_s,
                timeout_s,
            } => {
                if let Some(t) = &ev.target {
                    let key = (t.job.clone(), t.instance.clone());
                    let st = TargetState::new(
                        t.clone(),
                        url.clone(),
                        pool.clone(),
                        *interval_s,
                        *timeout_s,
                    );
                    // A target that comes back under the same name keeps its history.
                    if let Some(&i) = self.by_name.get(&key) {
                        let old = &mut self.targets[i];
                        if old.removed {
                            self.totals.targets += 1;
                        }
                        let keep = std::mem::replace(old, st);
                        let new = &mut self.targets[i];
                        new.conns = keep.conns;
                        new.dns = keep.dns;
                        new.scrapes = keep.scrapes;
                        new.reconnect_times = keep.reconnect_times;
                        new.reconnects_total = keep.reconnects_total;
                        new.dials_total = keep.dials_total;
                        self.health_counts(keep.health, Health::Unknown);
                        self.index.insert(t.id, i);
                    } else {
                        self.targets.push(st);
                        let i = self.targets.len() - 1;
                        self.index.insert(t.id, i);
                        self.by_name.insert(key, i);
                        self.totals.targets += 1;
                    }
                    self.targets_version += 1;
                }
            }
            EventKind::TargetRemoved {} => {
                if let Some(s) = slot {
                    let h = self.targets[s].health;
                    self.health_counts(h, Health::Unknown);
                    for f in [Flag::Stale, Flag::DnsFailing, Flag::ProbeFailed] {
                        self.set_flag(s, f, false);
                    }
                    self.set_state(s, ConnState::None);
                    let t = &mut self.targets[s];
                    t.health = Health::Unknown;
                    t.removed = true;
                    t.pending = None;
                    self.totals.targets -= 1;
                    self.targets_version += 1;
                }
            }
            EventKind::DialStarted { host, .. } => {
                if let Some(s) = slot {
                    let st = if host.parse::<IpAddr>().is_ok() {
                        ConnState::Dialling
                    } else {
                        ConnState::Resolving
                    };
                    self.set_state(s, st);
                }
            }
            EventKind::DnsResolved {
                host,
                addrs,
                ttl_s,
                duration_ms,
                cause,
            } => {
                self.rates.add(at, Rate::Lookups);
                if let Some(s) = slot {
                    if *cause == DnsCause::Dial
                        && self.targets[s].conn_state == ConnState::Resolving
                    {
                        self.set_state(s, ConnState::Dialling);
                    }
                    self.set_flag(s, Flag::DnsFailing, false);
                    // The connection is stale exactly when its peer is missing from the answer.
                    let peer = self.targets[s].open_conn().map(|c| c.peer.ip());
                    if let Some(p) = peer {
                        self.set_flag(s, Flag::Stale, !addrs.contains(&p));
                    }
                    let t = &mut self.targets[s];
                    if *cause == DnsCause::ReResolve && t.pending == Some(Pending::Resolving) {
                        t.pending = None;
                    }
                    push_bounded(
                        &mut t.dns,
                        DnsRecord {
                            at,
                            host: host.clone(),
                            cause: *cause,
                            duration_ms: *duration_ms,
                            outcome: DnsOutcome::Answer {
                                addrs: addrs.clone(),
                                ttl_s: *ttl_s,
                            },
                        },
                        DNS_HISTORY,
                    );
                }
            }
            EventKind::DnsFailed {
                host,
                kind,
                error,
                duration_ms,
                cause,
            } => {
                self.rates.add(at, Rate::Lookups);
                self.rates.add(at, Rate::LookupFailures);
                if let Some(s) = slot {
                    self.set_flag(s, Flag::DnsFailing, true);
                    let t = &mut self.targets[s];
                    if *cause == DnsCause::ReResolve && t.pending == Some(Pending::Resolving) {
                        t.pending = None;
                    }
                    push_bounded(
                        &mut t.dns,
                        DnsRecord {
                            at,
                            host: host.clone(),
                            cause: *cause,
                            duration_ms: *duration_ms,
                            outcome: DnsOutcome::Failed {
                                kind: *kind,
                                error: error.clone(),
                            },
                        },
                        DNS_HISTORY,
                    );
                }
            }
            EventKind::ConnOpened {
                conn_id,
                pool,
                fd,
                local,
                peer,
                connect_ms,
                ..
            } => {
                self.rates.add(at, Rate::Dials);
                self.totals.conns_open += 1;
                if let Some(s) = slot {
                    self.conns.insert(
                        *conn_id,
                        OpenConn {
                            conn_id: *conn_id,
                            pool: pool.clone(),
                            slot: s,
                            users: vec![s],
                            fd: *fd,
                            local: *local,
                            peer: *peer,
                            opened: at,
                        },
                    );
                    self.set_state(s, ConnState::InFlight);
                    self.set_flag(s, Flag::Stale, false);
                    let t = &mut self.targets[s];
                    t.dials_total += 1;
                    if t.dials_total > 1 {
                        t.reconnects_total += 1;
                        push_bounded(&mut t.reconnect_times, at, RECONNECT_HISTORY);
                    }
                    t.conn_id = Some(*conn_id);
                    t.last_conn_error = None;
                    push_bounded(
                        &mut t.conns,
                        ConnRecord {
                            conn_id: *conn_id,
                            opened: at,
                            fd: *fd,
                            local: *local,
                            peer: *peer,
                            connect_ms: *connect_ms,
                            requests: 0,
                            closed: None,
                        },
                        CONN_HISTORY,
                    );
                }
            }
            EventKind::ConnFailed { kind, error, .. } => {
                self.rates.add(at, Rate::DialFailures);
                if let Some(s) = slot {
                    self.set_state(s, ConnState::Failing);
                    let t = &mut self.targets[s];
                    t.last_conn_error = Some((*kind, error.clone()));
                    if t.pending == Some(Pending::Reconnecting) {
                        t.pending = None;
                    }
                }
            }
            EventKind::ConnClosed {
                conn_id,
                reason,
                requests,
                ..
            } => {
                self.rates.add(at, Rate::Closes);
                let mut users = match self.conns.remove(conn_id) {
                    Some(c) => {
                        self.totals.conns_open = self.totals.conns_open.saturating_sub(1);
                        c.users
                    }
                    None => Vec::new(),
                };
                if let Some(s) = slot
                    && !users.contains(&s)
                {
                    users.push(s);
                }
                // Every target that used the connection (a shared pool has several) sees it end.
                for s in users {
                    self.conn_ended(s, *conn_id, at, *reason, *requests);
                }
            }
            EventKind::Scrape {
                conn_id,
                reused,
                status,
                duration_ms,
                bytes,
                samples,
                up,
                error,
            } => {
                self.rates.add(at, Rate::Scrapes);
                if let (Some(s), Some(c)) = (slot, conn_id) {
                    self.adopt(s, *c);
                }
                if let Some(s) = slot {
                    let new = if *up { Health::Up } else { Health::Down };
                    let old = self.targets[s].health;
                    self.health_counts(old, new);
                    let still_open = conn_id.is_some_and(|c| self.conns.contains_key(&c));
                    let state = if still_open {
                        ConnState::Idle
                    } else if conn_id.is_some() {
                        ConnState::Closed
                    } else {
                        ConnState::Failing
                    };
                    self.set_state(s, state);
                    let t = &mut self.targets[s];
                    t.health = new;
                    if let Some(c) = conn_id.and_then(|c| t.conn_mut(c)) {
                        c.requests += 1;
                    }
                    push_bounded(
                        &mut t.scrapes,
                        ScrapeRecord {
                            at,
                            up: *up,
                            status: *status,
                            duration_ms: *duration_ms,
                            bytes: *bytes,
                            samples: *samples,
                            conn_id: *conn_id,
                            reused: *reused,
                            error: error.clone(),
                        },
                        SCRAPE_HISTORY,
                    );
                    if old != new {
                        self.targets_version += 1;
                    }
                }
                if !self.log_scrapes {
                    return;
                }
            }
            EventKind::StalePeer { conn_id, .. } => {
                if let Some(s) = slot
                    && self.targets[s].conn_id == Some(*conn_id)
                {
                    self.set_flag(s, Flag::Stale, true);
                }
            }
            EventKind::Probe {
                ok,
                kind,
                error,
                resolve_ms,
                connect_ms,
                first_byte_ms,
                total_ms,
                peer,
                hidden_failure,
                ..
            } => {
                if let Some(s) = slot {
                    let prev_hidden = self.targets[s]
                        .probe
                        .as_ref()
                        .is_some_and(|p| p.hidden_failure);
                    match (prev_hidden, *hidden_failure) {
                        (false, true) => self.totals.hidden_failures += 1,
                        (true, false) => self.totals.hidden_failures -= 1,
                        _ => {}
                    }
                    self.set_flag(s, Flag::ProbeFailed, !ok);
                    let t = &mut self.targets[s];
                    if t.pending == Some(Pending::Probing) {
                        t.pending = None;
                    }
                    t.probe = Some(ProbeRecord {
                        at,
                        ok: *ok,
                        kind: kind.clone(),
                        error: error.clone(),
                        resolve_ms: *resolve_ms,
                        connect_ms: *connect_ms,
                        first_byte_ms: *first_byte_ms,
                        total_ms: *total_ms,
                        peer: *peer,
                        hidden_failure: *hidden_failure,
                    });
                }
            }
            EventKind::Fds(c) => {
                self.fds = Some(*c);
                return;
            }
            EventKind::Dropped { count } => self.dropped += count,
            EventKind::Paused { paused } => self.paused = *paused,
            EventKind::Error { error } => self.last_message = Some(format!("error: {error}")),
            EventKind::Notice { message } => self.last_message = Some(message.clone()),
            EventKind::Reload { error: Some(e), .. } => {
                self.last_message = Some(format!("reload failed: {e}"))
            }
            EventKind::Reload {
                added,
                removed,
                changed,
                ..
            } => {
                self.last_message = Some(format!(
                    "reloaded: {added} added, {removed} removed, {changed} changed"
                ))
            }
            EventKind::CommandAck { .. } => {}
        }
        push_bounded(&mut self.log, ev, EVENT_LOG);
    }
}

#[derive(Clone, Copy)]
enum Flag {
    Stale,
    DnsFailing,
    ProbeFailed,
}

mod ts {
    use serde::Serializer;
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*t))
    }
}

/// A serializable view of the whole model: what `e` exports in the TUI and `{"cmd":"state"}`
/// returns in headless mode.
#[derive(Debug, Serialize)]
pub struct Snapshot<'a> {
    /// Running totals.
    pub totals: &'a Totals,
    /// Latest descriptor census.
    pub fds: Option<FdCensus>,
    /// Events the engine dropped.
    pub dropped: u64,
    /// Scraping paused.
    pub paused: bool,
    /// Open connections.
    pub conns: Vec<&'a OpenConn>,
    /// Every target with its histories (removed ones included, flagged).
    pub targets: &'a [TargetState],
}

impl Model {
    /// The whole state, for export.
    pub fn snapshot(&self) -> Snapshot<'_> {
        let mut conns: Vec<&OpenConn> = self.conns.values().collect();
        conns.sort_by_key(|c| c.conn_id);
        Snapshot {
            totals: &self.totals,
            fds: self.fds,
            dropped: self.dropped,
            paused: self.paused,
            conns,
            targets: &self.targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u64, instance: &str) -> Arc<TargetRef> {
        Arc::new(TargetRef {
            id,
            job: Arc::from("blackbox"),
            instance: Arc::from(instance),
        })
    }

    fn ev(target: &Arc<TargetRef>, kind: EventKind) -> Event {
        Event {
            ts: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            target: Some(target.clone()),
            kind,
        }
    }

    fn scrape(conn_id: u64, up: bool) -> EventKind {
        EventKind::Scrape {
            conn_id: Some(conn_id),
            reused: true,
            status: Some(200),
            duration_ms: 1.0,
            bytes: 10,
            samples: 1,
            up,
            error: None,
        }
    }

    #[test]
    fn a_shared_connection_belongs_to_every_target_using_it_until_it_closes() {
        let (a, b) = (t(1, "a.example"), t(2, "b.example"));
        let mut m = Model::new();
        for x in [&a, &b] {
            m.apply(ev(
                x,
                EventKind::TargetAdded {
                    url: "http://bb:9115/probe".into(),
                    pool: "blackbox/http://bb:9115".into(),
                    interval_s: 1.0,
                    timeout_s: 1.0,
                },
            ));
        }
        m.apply(ev(
            &a,
            EventKind::ConnOpened {
                conn_id: 7,
                pool: "blackbox/http://bb:9115".into(),
                fd: 9,
                local: "127.0.0.1:5000".parse().unwrap(),
                peer: "127.0.0.1:9115".parse().unwrap(),
                connect_ms: 0.1,
                tls: None,
            },
        ));
        m.apply(ev(&a, scrape(7, true)));
        m.apply(ev(&b, scrape(7, true)));
        assert_eq!(m.totals.up, 2);
        assert_eq!(m.targets[1].open_conn().map(|c| c.fd), Some(9));
        assert_eq!(m.targets[1].conn_state, ConnState::Idle);
        assert_eq!(m.totals.conns_open, 1);
        // The close is reported to the last user only; both targets see it.
        m.apply(ev(
            &b,
            EventKind::ConnClosed {
                conn_id: 7,
                fd: 9,
                reason: CloseReason::Forced,
                lifetime_s: 1.0,
                requests: 2,
            },
        ));
        for s in 0..2 {
            assert_eq!(m.targets[s].conn_id, None, "target {s}");
            assert_eq!(m.targets[s].conn_state, ConnState::Closed, "target {s}");
            let last = m.targets[s].conns.back().and_then(|c| c.closed);
            assert_eq!(
                last.map(|(_, r)| r),
                Some(CloseReason::Forced),
                "target {s}"
            );
        }
        assert_eq!(m.totals.conns_open, 0);
    }
}
