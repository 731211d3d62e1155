//! The typed events the engine emits and the commands it accepts.
//!
//! This is the contract shared by the model, the TUI, the headless JSON output and tests.
//! Every enum that an operator reads (close reasons, failure kinds, DNS outcomes) has exactly
//! one textual form, used by `Display` and by serde alike.

mod command;
mod ident;
mod json;
mod payload;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use command::{Command, Selector};
pub use ident::{BadPoolKey, BadTargetId, PoolKey, Scheme, TargetId, TargetRef};
pub use payload::{ConnInfo, ProbeFailKind, ProbeResult, ScrapeResult};

/// One event: when it happened, which target it concerns (if any), and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Wall-clock time the event was produced.
    pub ts: SystemTime,
    /// The target the event concerns, if any.
    pub target: Option<Arc<TargetRef>>,
    /// What happened.
    pub kind: EventKind,
    /// Where the fact came from, when a source reports facts of several origins (attach
    /// mode); `None` for scrapetop's own engine, and then absent from JSON.
    pub source: Option<Origin>,
}

impl Event {
    /// An event stamped now.
    pub fn now(target: Option<Arc<TargetRef>>, kind: EventKind) -> Self {
        Event {
            ts: SystemTime::now(),
            target,
            kind,
            source: None,
        }
    }

    /// The same event, saying where its fact came from.
    pub fn from_origin(mut self, origin: Origin) -> Self {
        self.source = Some(origin);
        self
    }

    /// The event's name as it appears in JSON (`"event"` field).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// Where an event's fact came from (JSON field `source`). Attach mode joins facts of
/// different trust: what the kernel says of a socket is exact, what the API says is
/// Prometheus's own view as of its last poll, what the resolver says is scrapetop's lookup
/// with Prometheus's files, and a probe is scrapetop's own connection, not Prometheus's. The
/// model treats all alike; the field is for the reader who must weigh them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The kernel: the socket table (NETLINK_SOCK_DIAG, `tcp_info`) and /proc (descriptors).
    Kernel,
    /// The attached Prometheus's HTTP API (`/api/v1/targets`, lifecycle).
    Api,
    /// scrapetop's own lookup, with the attached process's resolv.conf and hosts file, from
    /// its network namespace.
    Resolver,
    /// scrapetop's own fresh connection from the attached process's network namespace.
    Probe,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// An observed process's socket disappeared without scrapetop asking (attach mode: the
    /// observer sees that it closed, not why).
    Gone,
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
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

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
        Shutdown = "shutdown", Error = "error", Gone = "gone",
    }
    Health => { Unknown = "unknown", Up = "up", Down = "down" }
    Origin => { Kernel = "kernel", Api = "api", Resolver = "resolver", Probe = "probe" }
    ProbeFailKind => {
        Refused = "refused", Timeout = "timeout", Resolution = "resolution", Emfile = "emfile",
        Tls = "tls", Http = "http", Other = "other",
    }
}

/// TLS facts of a connection (https targets only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// Handshake duration.
    pub tls_ms: f64,
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    pub tls_version: String,
    /// The server certificate's notAfter, RFC 3339, if it could be read.
    pub cert_expiry: Option<String>,
    /// The application protocol the server chose by ALPN: `h2` or `http/1.1`; absent when it
    /// chose none (then HTTP/1.1 is spoken, as Go does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
}

/// A census of this process's descriptors and its RLIMIT_NOFILE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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
    /// Of the sockets, those attributed to a target's pool (attach mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_sockets: Option<u64>,
    /// Of the files, those of the TSDB: blocks, WAL, chunks (attach mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsdb_files: Option<u64>,
}

/// What happened. Field names are the JSON field names; the variant's snake_case name is the
/// JSON `event` name, and [`EventKind::name`] is tested against it for every variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A target joined the engine.
    TargetAdded {
        /// The scrape URL (credentials never included).
        url: String,
        /// The pool its connections come from.
        pool: PoolKey,
        /// Scrape interval, seconds.
        interval_s: f64,
        /// Scrape timeout, seconds.
        timeout_s: f64,
        /// The final label set (with `job` and `instance`), which with `url` makes the id.
        labels: BTreeMap<String, String>,
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
    ConnOpened(ConnInfo),
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
    Scrape(ScrapeResult),
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
    Probe(ProbeResult),
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
        /// `true` when the notice names something the source cannot read or do for as long
        /// as it runs, and why (attach without root: no fd table, no CAP_NET_ADMIN). The
        /// model keeps these and the TUI shows them as a banner on every screen; absent in
        /// JSON when false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        limitation: bool,
    },
}

impl EventKind {
    /// A plain `notice`.
    pub fn notice(message: impl Into<String>) -> Self {
        EventKind::Notice {
            message: message.into(),
            limitation: false,
        }
    }

    /// A `notice` naming a lasting limitation (shown as a banner).
    pub fn limitation(message: impl Into<String>) -> Self {
        EventKind::Notice {
            message: message.into(),
            limitation: true,
        }
    }

    /// The JSON `event` name.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::TargetAdded { .. } => "target_added",
            EventKind::TargetRemoved {} => "target_removed",
            EventKind::DialStarted { .. } => "dial_started",
            EventKind::DnsResolved { .. } => "dns_resolved",
            EventKind::DnsFailed { .. } => "dns_failed",
            EventKind::ConnOpened(_) => "conn_opened",
            EventKind::ConnFailed { .. } => "conn_failed",
            EventKind::ConnClosed { .. } => "conn_closed",
            EventKind::Scrape(_) => "scrape",
            EventKind::StalePeer { .. } => "stale_peer",
            EventKind::Probe(_) => "probe",
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

#[cfg(test)]
mod tests;
