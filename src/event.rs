//! The typed events the engine emits and the commands it accepts.
//!
//! This is the contract shared by the model, the TUI, the headless JSON output and tests.
//! Every enum that an operator reads (close reasons, failure kinds, DNS outcomes) has exactly
//! one textual form, used by `Display` and by serde alike.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize, Serializer};

/// Identity of one scrape target, shared (cheaply cloned) by every event about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetRef {
    /// Engine-wide unique id, stable for the life of the target.
    pub id: u64,
    /// The job the target belongs to.
    pub job: Arc<str>,
    /// The `instance` label (normally `host:port`).
    pub instance: Arc<str>,
}

/// One event: when it happened, which target it concerns (if any), and what happened.
#[derive(Debug, Clone)]
pub struct Event {
    /// Wall-clock time the event was produced.
    pub ts: SystemTime,
    /// The target the event concerns, if any.
    pub target: Option<Arc<TargetRef>>,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// An event stamped now.
    pub fn now(target: Option<Arc<TargetRef>>, kind: EventKind) -> Self {
        Event {
            ts: SystemTime::now(),
            target,
            kind,
        }
    }

    /// The event's name as it appears in JSON (`"event"` field).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// Why a DNS lookup happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsCause {
    /// A new connection was being dialled.
    Dial,
    /// The operator asked to re-resolve.
    ReResolve,
    /// The background recheck at TTL expiry.
    Recheck,
    /// A probe on a fresh connection.
    Probe,
    /// Service discovery (dns_sd_configs).
    Discovery,
}

/// How a DNS lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsFailKind {
    /// The name does not exist (or has no address records).
    Nxdomain,
    /// No server answered in time.
    Timeout,
    /// No server could be reached at all (refused, unreachable, none configured).
    NoServer,
    /// Anything else.
    Other,
}

/// How dialling a new connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnFailKind {
    /// The peer refused the connection (RST to SYN, or ICMP port unreachable).
    Refused,
    /// No answer before the scrape deadline.
    Timeout,
    /// The name could not be resolved.
    Resolution,
    /// The process ran out of file descriptors ("too many open files").
    Emfile,
    /// The TLS handshake failed.
    Tls,
    /// Anything else (network unreachable, …).
    Other,
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The server closed the connection (typically an idle keep-alive timeout on its side).
    PeerClosed,
    /// A scrape timed out on this connection; an HTTP/1 connection is unusable after that.
    Timeout,
    /// The connection was reset (RST) or broke mid-response.
    Reset,
    /// The response carried `Connection: close`.
    ConnectionClose,
    /// It stayed idle longer than the idle timeout.
    IdleTimeout,
    /// It reached `--max-conn-age`.
    MaxAge,
    /// The operator asked for a reconnect.
    Forced,
    /// A reload changed the job.
    Reload,
    /// Its target was removed.
    TargetRemoved,
    /// The engine is shutting down.
    Shutdown,
    /// Any other error on the connection.
    Error,
}

/// Scrape health of a target, as Prometheus's `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// Last scrape succeeded.
    Up,
    /// Last scrape failed.
    Down,
}

macro_rules! display_via_serde_name {
    ($($ty:ty => { $($variant:ident = $s:literal),* $(,)? })*) => {$(
        impl $ty {
            /// The one textual form of this value.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $s),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_via_serde_name! {
    DnsCause => { Dial = "dial", ReResolve = "re_resolve", Recheck = "recheck", Probe = "probe", Discovery = "discovery" }
    DnsFailKind => { Nxdomain = "nxdomain", Timeout = "timeout", NoServer = "no_server", Other = "other" }
    ConnFailKind => { Refused = "refused", Timeout = "timeout", Resolution = "resolution", Emfile = "emfile", Tls = "tls", Other = "other" }
    CloseReason => {
        PeerClosed = "peer_closed", Timeout = "timeout", Reset = "reset",
        ConnectionClose = "connection_close", IdleTimeout = "idle_timeout", MaxAge = "max_age",
        Forced = "forced", Reload = "reload", TargetRemoved = "target_removed",
        Shutdown = "shutdown", Error = "error",
    }
    Health => { Unknown = "unknown", Up = "up", Down = "down" }
}

/// TLS facts of a connection (https targets only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsInfo {
    /// Handshake duration.
    pub tls_ms: f64,
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    pub tls_version: String,
    /// The server certificate's notAfter, RFC 3339, if it could be read.
    pub cert_expiry: Option<String>,
}

/// A census of this process's descriptors and its RLIMIT_NOFILE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct FdCensus {
    /// All open descriptors.
    pub total: u64,
    /// Sockets.
    pub sockets: u64,
    /// Regular files, directories and devices.
    pub files: u64,
    /// Pipes.
    pub pipes: u64,
    /// Anything else (eventfd, epoll, …).
    pub other: u64,
    /// RLIMIT_NOFILE soft limit.
    pub soft_limit: u64,
    /// RLIMIT_NOFILE hard limit.
    pub hard_limit: u64,
}

/// What happened. Field names are the JSON field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A target joined the engine.
    TargetAdded {
        /// The scrape URL (credentials never included).
        url: String,
        /// The pool key `scheme://host:port` its connections come from.
        pool: String,
        /// Scrape interval, seconds.
        interval_s: f64,
        /// Scrape timeout, seconds.
        timeout_s: f64,
    },
    /// A target left the engine.
    TargetRemoved {},
    /// A dial started for this target (a lookup and a connect follow).
    DialStarted {
        /// Host name or address being dialled.
        host: String,
        /// Port.
        port: u16,
    },
    /// A name was resolved.
    DnsResolved {
        /// The name looked up.
        host: String,
        /// The addresses in the answer.
        addrs: Vec<IpAddr>,
        /// Remaining TTL of the answer, seconds.
        ttl_s: u64,
        /// How long the lookup took.
        duration_ms: f64,
        /// Why it was looked up.
        cause: DnsCause,
    },
    /// A lookup failed.
    DnsFailed {
        /// The name looked up.
        host: String,
        /// How it failed.
        kind: DnsFailKind,
        /// The resolver's message.
        error: String,
        /// How long until it failed.
        duration_ms: f64,
        /// Why it was looked up.
        cause: DnsCause,
    },
    /// A new connection is established.
    ConnOpened {
        /// Engine-wide connection id.
        conn_id: u64,
        /// Pool key `job/scheme://host:port`.
        pool: String,
        /// The socket's file descriptor number in this process.
        fd: i32,
        /// Local address (the local port tells reused fd numbers apart).
        local: SocketAddr,
        /// Peer address actually connected to.
        peer: SocketAddr,
        /// TCP connect duration.
        connect_ms: f64,
        /// TLS details for https.
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        tls: Option<TlsInfo>,
    },
    /// Dialling failed; no connection was made.
    ConnFailed {
        /// What was dialled (`host:port` or the address tried last).
        addr: String,
        /// How it failed.
        kind: ConnFailKind,
        /// The error text.
        error: String,
    },
    /// A connection ended.
    ConnClosed {
        /// Connection id.
        conn_id: u64,
        /// Its file descriptor number (now free for reuse).
        fd: i32,
        /// Why it ended.
        reason: CloseReason,
        /// How long it lived.
        lifetime_s: f64,
        /// How many requests it carried.
        requests: u64,
    },
    /// One scrape finished.
    Scrape {
        /// The connection that carried it, if one was made.
        conn_id: Option<u64>,
        /// Whether the connection had served an earlier request.
        reused: bool,
        /// HTTP status, if a response arrived.
        status: Option<u16>,
        /// Total duration, from the tick to the end of the body.
        duration_ms: f64,
        /// Uncompressed body bytes.
        bytes: u64,
        /// Sample lines (neither blank nor comments).
        samples: u64,
        /// The scrape succeeded.
        up: bool,
        /// Why it failed.
        error: Option<String>,
    },
    /// A live connection's peer is not in the current DNS answer.
    StalePeer {
        /// The stale connection.
        conn_id: u64,
        /// Its peer.
        peer: SocketAddr,
        /// The current answer.
        addrs: Vec<IpAddr>,
    },
    /// A fresh-connection probe finished.
    Probe {
        /// The probe succeeded (HTTP 200 and body read).
        ok: bool,
        /// How it failed (`refused`, `timeout`, `resolution`, `emfile`, `tls`, `http`, `other`).
        kind: Option<String>,
        /// The error text.
        error: Option<String>,
        /// Phase timings, ms.
        resolve_ms: Option<f64>,
        /// TCP connect time.
        connect_ms: Option<f64>,
        /// Time to the response headers.
        first_byte_ms: Option<f64>,
        /// Total time.
        total_ms: f64,
        /// The peer the probe connected to.
        peer: Option<SocketAddr>,
        /// HTTP status of the probe.
        status: Option<u16>,
        /// The pooled connection works while a fresh one fails: the seed story's hidden problem.
        hidden_failure: bool,
    },
    /// Descriptor census of this process.
    Fds(FdCensus),
    /// A command was received and carried out (its effects follow as their own events).
    CommandAck {
        /// The command's name.
        cmd: String,
        /// How many targets it applied to.
        targets: u64,
    },
    /// Scraping paused or resumed.
    Paused {
        /// True when paused.
        paused: bool,
    },
    /// A reload finished.
    Reload {
        /// Targets added.
        added: u64,
        /// Targets removed.
        removed: u64,
        /// Targets whose configuration changed.
        changed: u64,
        /// Connections kept.
        conns_kept: u64,
        /// Connections closed.
        conns_closed: u64,
        /// The error, if the reload was refused (the running configuration is kept).
        error: Option<String>,
    },
    /// Events were dropped because the consumer fell behind.
    Dropped {
        /// How many since the last report.
        count: u64,
    },
    /// A malformed command or other problem to report.
    Error {
        /// What went wrong.
        error: String,
    },
    /// Informational notice (e.g. ignored config sections).
    Notice {
        /// The text.
        message: String,
    },
}

impl EventKind {
    /// The JSON `event` name.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::TargetAdded { .. } => "target_added",
            EventKind::TargetRemoved {} => "target_removed",
            EventKind::DialStarted { .. } => "dial_started",
            EventKind::DnsResolved { .. } => "dns_resolved",
            EventKind::DnsFailed { .. } => "dns_failed",
            EventKind::ConnOpened { .. } => "conn_opened",
            EventKind::ConnFailed { .. } => "conn_failed",
            EventKind::ConnClosed { .. } => "conn_closed",
            EventKind::Scrape { .. } => "scrape",
            EventKind::StalePeer { .. } => "stale_peer",
            EventKind::Probe { .. } => "probe",
            EventKind::Fds(_) => "fds",
            EventKind::CommandAck { .. } => "command_ack",
            EventKind::Paused { .. } => "paused",
            EventKind::Reload { .. } => "reload",
            EventKind::Dropped { .. } => "dropped",
            EventKind::Error { .. } => "error",
            EventKind::Notice { .. } => "notice",
        }
    }
}

/// Serialized form of an event: `ts`, `job`, `instance`, then the kind's fields.
#[derive(Serialize)]
struct EventJson<'a> {
    ts: Rfc3339<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    #[serde(flatten)]
    kind: &'a EventKind,
}

struct Rfc3339<'a>(&'a SystemTime);

impl Serialize for Rfc3339<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*self.0))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventJson {
            ts: Rfc3339(&self.ts),
            job: self.target.as_ref().map(|t| &*t.job),
            instance: self.target.as_ref().map(|t| &*t.instance),
            kind: &self.kind,
        }
        .serialize(s)
    }
}

/// A command to the engine, as accepted on the headless stdin and sent by TUI keys.
///
/// JSON: `{"cmd":"reconnect","job":"node","instance":"h:9100"}`; omit `instance` for a whole
/// job, omit both for every target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Close the selected targets' idle connections now; in-flight scrapes finish first.
    Reconnect {
        /// A job name; omitted: every job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        /// An instance; omitted: every instance.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Look the selected targets' names up now without touching their connections.
    ReResolve {
        /// A job name; omitted: every job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        /// An instance; omitted: every instance.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Resolve, connect and GET on a fresh connection beside the pooled one.
    Probe {
        /// A job name; omitted: every job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        /// An instance; omitted: every instance.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Stop scraping (connections stay until their idle timeout).
    Pause,
    /// Resume scraping.
    Resume,
    /// Reload the target sources.
    Reload,
    /// Load a target list file (plain list or file_sd JSON/YAML) as a target source.
    Load {
        /// Path of the file.
        path: String,
        /// Replace the current sources instead of adding to them.
        #[serde(default)]
        replace: bool,
    },
    /// Shut down.
    Quit,
}

impl Command {
    /// The command's name as in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Reconnect { .. } => "reconnect",
            Command::ReResolve { .. } => "re_resolve",
            Command::Probe { .. } => "probe",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Reload => "reload",
            Command::Load { .. } => "load",
            Command::Quit => "quit",
        }
    }

    /// The targets a per-target command applies to (`None` for engine-wide commands).
    pub fn selector(&self) -> Option<Selector> {
        match self {
            Command::Reconnect { job, instance }
            | Command::ReResolve { job, instance }
            | Command::Probe { job, instance } => Some(Selector {
                job: job.clone(),
                instance: instance.clone(),
            }),
            _ => None,
        }
    }
}

/// Which targets a command applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// A job name; `None` means every job.
    pub job: Option<String>,
    /// An instance within the job (or in any job when `job` is omitted); `None` means all.
    pub instance: Option<String>,
}

impl Selector {
    /// Whether a target is selected.
    pub fn matches(&self, t: &TargetRef) -> bool {
        self.job.as_deref().is_none_or(|j| j == &*t.job)
            && self.instance.as_deref().is_none_or(|i| i == &*t.instance)
    }
}
