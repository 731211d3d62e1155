//! One target's state and its bounded histories: connections, DNS outcomes, scrapes and the
//! latest probe.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::event::{
    CloseReason, ConnFailKind, DnsCause, DnsFailKind, Health, PoolKey, ProbeResult, ScrapeResult,
    TargetId, TargetRef,
};

/// Timestamps as RFC 3339 with milliseconds, as in events.
pub(crate) mod ts {
    use serde::Serializer;
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*t))
    }
}

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

/// An operator action sent to the source and not yet answered.
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
    /// What a target waits for after `cmd` was sent.
    pub fn for_command(cmd: &crate::event::Command) -> Option<Pending> {
        use crate::event::Command;
        match cmd {
            Command::Reconnect(_) => Some(Pending::Reconnecting),
            Command::ReResolve(_) => Some(Pending::Resolving),
            Command::Probe(_) => Some(Pending::Probing),
            _ => None,
        }
    }

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
    /// Connect time (0 for a connection another target of a shared pool dialled).
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

/// One scrape: what its `scrape` event reported and when it finished.
///
/// Kept compact, since `SCRAPE_HISTORY` of them per target are the model's largest part: 56
/// bytes instead of 88 for the event's payload and its `SystemTime` (the time as nanoseconds
/// since the epoch, the options as flags, the error as one shared string that consecutive
/// failures with the same message point to). 10 MB less at 10,000 targets. Serialized
/// exactly as the payload with its `at` was.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeRecord {
    at_ns: u64,
    conn_id: u64,
    duration_ms: f64,
    bytes: u64,
    samples: u64,
    error: Option<Arc<String>>,
    status: u16,
    flags: u8,
}

const UP: u8 = 1;
const REUSED: u8 = 2;
const HAS_CONN: u8 = 4;
const HAS_STATUS: u8 = 8;

impl ScrapeRecord {
    /// The record of `r`, finished `at`; its error shares `prev`'s string when equal (a target
    /// failing the same way scrape after scrape keeps one copy of the message).
    pub fn new(at: SystemTime, r: &ScrapeResult, prev: Option<&ScrapeRecord>) -> Self {
        let error = r
            .error
            .as_ref()
            .map(|e| match prev.and_then(|p| p.error.as_ref()) {
                Some(p) if **p == *e => p.clone(),
                _ => Arc::new(e.clone()),
            });
        let at_ns = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let flag = |b: bool, f: u8| if b { f } else { 0 };
        ScrapeRecord {
            at_ns,
            conn_id: r.conn_id.unwrap_or(0),
            duration_ms: r.duration_ms,
            bytes: r.bytes,
            samples: r.samples,
            error,
            status: r.status.unwrap_or(0),
            flags: flag(r.up, UP)
                | flag(r.reused, REUSED)
                | flag(r.conn_id.is_some(), HAS_CONN)
                | flag(r.status.is_some(), HAS_STATUS),
        }
    }

    /// When it finished.
    pub fn at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.at_ns)
    }
    /// The connection that carried it, if one was made.
    pub fn conn_id(&self) -> Option<u64> {
        (self.flags & HAS_CONN != 0).then_some(self.conn_id)
    }
    /// Whether the connection had served an earlier request.
    pub fn reused(&self) -> bool {
        self.flags & REUSED != 0
    }
    /// HTTP status, if a response arrived.
    pub fn status(&self) -> Option<u16> {
        (self.flags & HAS_STATUS != 0).then_some(self.status)
    }
    /// Total duration, ms.
    pub fn duration_ms(&self) -> f64 {
        self.duration_ms
    }
    /// Uncompressed body bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// Sample lines.
    pub fn samples(&self) -> u64 {
        self.samples
    }
    /// The scrape succeeded (Prometheus's `up`).
    pub fn up(&self) -> bool {
        self.flags & UP != 0
    }
    /// Why it failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref().map(String::as_str)
    }
    /// The event payload it was made from.
    pub fn result(&self) -> ScrapeResult {
        ScrapeResult {
            conn_id: self.conn_id(),
            reused: self.reused(),
            status: self.status(),
            duration_ms: self.duration_ms,
            bytes: self.bytes,
            samples: self.samples,
            up: self.up(),
            error: self.error().map(str::to_owned),
        }
    }
}

impl Serialize for ScrapeRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct At(SystemTime);
        impl Serialize for At {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                ts::serialize(&self.0, s)
            }
        }
        // The fields and order of `at` followed by the flattened `ScrapeResult`.
        let mut st = s.serialize_struct("ScrapeRecord", 9)?;
        st.serialize_field("at", &At(self.at()))?;
        st.serialize_field("conn_id", &self.conn_id())?;
        st.serialize_field("reused", &self.reused())?;
        st.serialize_field("status", &self.status())?;
        st.serialize_field("duration_ms", &self.duration_ms)?;
        st.serialize_field("bytes", &self.bytes)?;
        st.serialize_field("samples", &self.samples)?;
        st.serialize_field("up", &self.up())?;
        st.serialize_field("error", &self.error())?;
        st.end()
    }
}

/// The latest probe: the event's payload and when it finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeRecord {
    /// When it finished.
    #[serde(with = "ts")]
    pub at: SystemTime,
    /// What the probe reported.
    #[serde(flatten)]
    pub result: ProbeResult,
}

/// Everything known about one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetState {
    /// Identity (shared with every event about the target).
    #[serde(skip)]
    pub target: Arc<TargetRef>,
    /// The id, as in events (`target`).
    #[serde(rename = "target")]
    pub id: TargetId,
    /// Job.
    pub job: Arc<str>,
    /// Instance (not unique: see [`TargetState::labels`] and `url` for what tells apart
    /// targets sharing it).
    pub instance: Arc<str>,
    /// Final labels, from `target_added`, sorted by name: a boxed slice rather than the
    /// event's `BTreeMap`, whose first node alone is 544 bytes (5 MB at 10,000 targets).
    #[serde(skip)]
    pub labels: Box<[(Box<str>, Box<str>)]>,
    /// Scrape URL.
    pub url: String,
    /// The pool its connections come from.
    pub pool: PoolKey,
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
    /// Operator action awaiting the source's answer.
    pub pending: Option<Pending>,
    /// The target was removed (kept for its history until the model forgets it).
    pub removed: bool,
}

/// What `target_added` says about a target.
pub(crate) struct Added<'a> {
    pub url: &'a str,
    pub pool: &'a PoolKey,
    pub interval_s: f64,
    pub timeout_s: f64,
    pub labels: &'a BTreeMap<String, String>,
}

impl TargetState {
    pub(crate) fn new(target: Arc<TargetRef>, a: Added<'_>) -> Self {
        TargetState {
            id: target.id,
            job: target.job.clone(),
            instance: target.instance.clone(),
            target,
            labels: a
                .labels
                .iter()
                .map(|(k, v)| (Box::from(k.as_str()), Box::from(v.as_str())))
                .collect(),
            url: a.url.to_owned(),
            pool: a.pool.clone(),
            interval_s: a.interval_s,
            timeout_s: a.timeout_s,
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

    /// A target that comes back (same id) keeps its histories.
    pub(crate) fn keep_history_of(&mut self, old: TargetState) {
        self.conns = old.conns;
        self.dns = old.dns;
        self.scrapes = old.scrapes;
        self.reconnect_times = old.reconnect_times;
        self.reconnects_total = old.reconnects_total;
        self.dials_total = old.dials_total;
    }

    /// The open connection's record.
    pub fn open_conn(&self) -> Option<&ConnRecord> {
        let id = self.conn_id?;
        self.conns.iter().rev().find(|c| c.conn_id == id)
    }

    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| &*self.labels[i].1)
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

    pub(crate) fn conn_mut(&mut self, id: u64) -> Option<&mut ConnRecord> {
        self.conns.iter_mut().rev().find(|c| c.conn_id == id)
    }

    /// Clear `p` if it is what the target waits for.
    pub(crate) fn answered(&mut self, p: Pending) {
        if self.pending == Some(p) {
            self.pending = None;
        }
    }
}

/// Append to a bounded history, dropping the oldest entry when full.
///
/// The buffer grows only as entries arrive (4, 8, 16, … doubling) and stops at exactly `cap`:
/// no slack past the bound, and a history that rarely moves (most targets open one connection
/// in their life) holds a few entries, not the bound's worth. At 10,000 targets reserving
/// `CONN_HISTORY` connection records up front cost 43.5 MB of a 135 MB heap (heaptrack).
pub(crate) fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    } else if q.len() == q.capacity() {
        let want = (q.capacity() * 2).max(4).min(cap);
        q.reserve_exact(want - q.len());
    }
    q.push_back(v);
}

/// What tells a target apart from others of its job that share its `instance`: the path and
/// query of its URL when those differ, else the labels whose values differ (`module=icmp`).
/// `None` when the instance is unique (nothing to add to the row).
pub fn distinguishing<'a>(
    t: &TargetState,
    same_instance: impl IntoIterator<Item = &'a TargetState>,
) -> Option<String> {
    let others: Vec<&TargetState> = same_instance
        .into_iter()
        .filter(|o| o.id != t.id && o.job == t.job && o.instance == t.instance)
        .collect();
    if others.is_empty() {
        return None;
    }
    let path = |u: &str| -> String {
        let rest = u.split_once("://").map_or(u, |(_, r)| r);
        rest.find(['/', '?'])
            .map_or(String::new(), |i| rest[i..].to_owned())
    };
    let mine = path(&t.url);
    if others.iter().all(|o| path(&o.url) != mine) {
        return Some(mine);
    }
    let differing: Vec<String> = t
        .labels
        .iter()
        .filter(|(k, v)| {
            &**k != "job" && &**k != "instance" && others.iter().any(|o| o.label(k) != Some(&**v))
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if differing.is_empty() {
        // Another scheme or port behind the same instance label: the URL says it.
        Some(t.url.clone())
    } else {
        Some(differing.join(","))
    }
}

// A probe record is its event's payload plus a time: reading `record.ok` rather than
// `record.result.ok` keeps every reader (screens, export) indifferent to that nesting.
impl std::ops::Deref for ProbeRecord {
    type Target = ProbeResult;
    fn deref(&self) -> &ProbeResult {
        &self.result
    }
}
