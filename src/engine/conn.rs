//! One observable HTTP/1.1 connection: dialled by us over our own socket, so its fd, local and
//! peer addresses are known. A leaf: its lifecycle (check-out, return, the driver task that
//! reports its end) belongs to the pool (`pool.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::event::{CloseReason, ConnFailKind, TargetRef};

/// Every close reason, in the order the counters keep them (one list: the contract's).
const REASONS: &[CloseReason] = CloseReason::ALL;

pub(super) fn reason_code(r: CloseReason) -> u8 {
    REASONS
        .iter()
        .position(|x| *x == r)
        .map_or(0, |i| i as u8 + 1)
}

fn reason_of(code: u8) -> Option<CloseReason> {
    REASONS.get((code as usize).checked_sub(1)?).copied()
}

/// State of one connection shared by its user, its pool and its driver task.
pub struct ConnShared {
    /// Engine-wide id.
    pub id: u64,
    /// Socket fd.
    pub fd: i32,
    /// Local address.
    pub local: SocketAddr,
    /// Peer address.
    pub peer: SocketAddr,
    /// When it was established.
    pub opened: Instant,
    /// Requests sent on it.
    pub requests: AtomicU64,
    pub(super) in_use: AtomicBool,
    pub(super) close_reason: AtomicU8,
    pub(super) kill: Notify,
    /// Signalled when the user gives the connection back (finished or closed).
    pub(super) released: Notify,
    /// Milliseconds since the engine epoch when it last went idle.
    pub(super) idle_since_ms: AtomicU64,
    pub(super) closed: AtomicBool,
    pub(super) user: Mutex<Arc<TargetRef>>,
}

impl ConnShared {
    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Ask for the connection to close for `reason`: at once if idle, after its current request
    /// otherwise. The first reason given wins.
    pub fn request_close(&self, reason: CloseReason) {
        let _ = self.close_reason.compare_exchange(
            0,
            reason_code(reason),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if !self.in_use.load(Ordering::Acquire) {
            self.kill.notify_one();
        }
    }

    /// Close now, whatever it is doing.
    pub(super) fn kill_now(&self, reason: CloseReason) {
        let _ = self.close_reason.compare_exchange(
            0,
            reason_code(reason),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.kill.notify_one();
    }

    /// Its user gave it back: no longer in use; wake a driver waiting to report a close.
    pub(super) fn release(&self) {
        self.in_use.store(false, Ordering::Release);
        self.released.notify_one();
    }

    pub(super) fn pending_close(&self) -> Option<CloseReason> {
        reason_of(self.close_reason.load(Ordering::Acquire))
    }

    /// The target that used it last (whose history it belongs to).
    pub fn user(&self) -> Arc<TargetRef> {
        match self.user.lock() {
            Ok(u) => u.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(super) fn set_user(&self, t: &Arc<TargetRef>) {
        let mut u = match self.user.lock() {
            Ok(u) => u,
            Err(p) => p.into_inner(),
        };
        if !Arc::ptr_eq(&u, t) {
            *u = t.clone();
        }
    }
}

/// A usable connection: the request half plus its shared state.
pub struct Conn {
    /// Shared state.
    pub shared: Arc<ConnShared>,
    pub(super) sender: SendRequest<Empty<Bytes>>,
}

impl Conn {
    /// Whether hyper still considers it usable.
    pub fn usable(&self) -> bool {
        !self.sender.is_closed()
            && !self.shared.is_closed()
            && self.shared.pending_close().is_none()
    }
}

/// A dial failure: what `conn_failed` reports.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DialError {
    /// Classified kind.
    pub kind: ConnFailKind,
    /// What was dialled.
    pub addr: String,
    /// Message.
    pub message: String,
}

pub(super) type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// A stream a connection can run over (plain TCP or TLS).
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Start HTTP/1.1 on an established stream without registering it anywhere (probes).
///
/// `read_buf` is the exact size of hyper's read buffer: sized to what the target serves, it
/// keeps an idle connection's memory small (hyper's adaptive buffer starts at 8 KiB).
pub async fn handshake_plain<S: Io>(
    stream: S,
    read_buf: usize,
) -> Result<(SendRequest<Empty<Bytes>>, Driver), String> {
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .read_buf_exact_size(Some(read_buf))
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http handshake: {e}"))?;
    Ok((sender, Box::pin(conn)))
}

/// Facts about a freshly connected socket, read before it is wrapped.
pub struct SockInfo {
    /// fd.
    pub fd: i32,
    /// Local address.
    pub local: SocketAddr,
    /// Peer.
    pub peer: SocketAddr,
    /// TCP connect duration.
    pub connect: Duration,
}

impl SockInfo {
    /// Read fd and addresses of a connected stream.
    pub fn of(stream: &TcpStream, peer: SocketAddr, connect: Duration) -> Self {
        SockInfo {
            fd: stream.as_raw_fd(),
            local: stream
                .local_addr()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            peer,
            connect,
        }
    }
}

/// The io error inside a hyper error, if any.
pub fn io_source(e: &hyper::Error) -> Option<&std::io::Error> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        src = s.source();
    }
    None
}

/// Why a connection ended, from hyper's error.
pub fn classify_hyper(e: &hyper::Error) -> CloseReason {
    if let Some(io) = io_source(e) {
        return match io.kind() {
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => CloseReason::Reset,
            _ => CloseReason::Error,
        };
    }
    if e.is_incomplete_message() {
        return CloseReason::Reset;
    }
    CloseReason::Error
}
