//! The payloads of the events that carry the most: one struct each, shared by the engine that
//! fills them, the model that keeps them and the tests that match them.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{ConnFailKind, PoolKey, TlsInfo};

/// A new connection: `conn_opened`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnInfo {
    /// Engine-wide connection id.
    pub conn_id: u64,
    /// The pool the connection belongs to (and returns to between scrapes).
    pub pool: PoolKey,
    /// The socket's file descriptor number in this process.
    pub fd: i32,
    /// Local address (the local port tells reused fd numbers apart).
    pub local: SocketAddr,
    /// Peer address actually connected to.
    pub peer: SocketAddr,
    /// TCP connect duration, ms.
    pub connect_ms: f64,
    /// TLS details for https.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
}

/// One finished scrape: `scrape`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapeResult {
    /// The connection that carried it, if one was made.
    pub conn_id: Option<u64>,
    /// Whether the connection had served an earlier request.
    pub reused: bool,
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Total duration, from the tick to the end of the body, ms.
    pub duration_ms: f64,
    /// Uncompressed body bytes.
    pub bytes: u64,
    /// Sample lines (neither blank nor comments).
    pub samples: u64,
    /// The scrape succeeded (Prometheus's `up`).
    pub up: bool,
    /// Why it failed.
    pub error: Option<String>,
}

/// How a probe on a fresh connection failed: a dial failure, or the server's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailKind {
    /// Connection refused.
    Refused,
    /// No answer before the target's timeout.
    Timeout,
    /// The name could not be resolved.
    Resolution,
    /// Out of file descriptors.
    Emfile,
    /// The TLS handshake failed.
    Tls,
    /// The server answered with a status other than 200.
    Http,
    /// Anything else.
    Other,
}

impl From<ConnFailKind> for ProbeFailKind {
    fn from(k: ConnFailKind) -> Self {
        match k {
            ConnFailKind::Refused => ProbeFailKind::Refused,
            ConnFailKind::Timeout => ProbeFailKind::Timeout,
            ConnFailKind::Resolution => ProbeFailKind::Resolution,
            ConnFailKind::Emfile => ProbeFailKind::Emfile,
            ConnFailKind::Tls => ProbeFailKind::Tls,
            ConnFailKind::Other => ProbeFailKind::Other,
        }
    }
}

/// One finished probe: `probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe succeeded (HTTP 200 and body read).
    pub ok: bool,
    /// How it failed.
    pub kind: Option<ProbeFailKind>,
    /// The error text.
    pub error: Option<String>,
    /// Resolve phase, ms (absent for an IP address).
    pub resolve_ms: Option<f64>,
    /// TCP connect time, ms.
    pub connect_ms: Option<f64>,
    /// Time to the response headers, ms.
    pub first_byte_ms: Option<f64>,
    /// Total time, ms.
    pub total_ms: f64,
    /// The peer the probe connected to.
    pub peer: Option<SocketAddr>,
    /// HTTP status of the probe.
    pub status: Option<u16>,
    /// The pooled connection works while a fresh one fails: the seed story's hidden problem.
    pub hidden_failure: bool,
}
