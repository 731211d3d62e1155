//! One observable HTTP/1.1 connection: dialled by us over our own socket, so its fd, local and
//! peer addresses are known. A leaf: its lifecycle (check-out, return, the driver task that
//! reports its end) belongs to the pool (`pool.rs`).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::event::{CloseReason, ConnFailKind, EventKind, TargetRef};

use super::ctx::Ctx;
use super::http1;
use super::pool::Pool;

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

/// State of one connection shared by its user and its pool.
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

    /// Ask for the connection to close for `reason`: an idle one when its pool next looks
    /// ([`Pool::reap_idle`](super::pool::Pool::reap_idle), at once from `close_all`), a busy one
    /// after its current request. The first reason given wins.
    pub fn request_close(&self, reason: CloseReason) {
        self.set_reason(reason);
    }

    /// Record `reason` unless one is already pending.
    pub(super) fn set_reason(&self, reason: CloseReason) {
        let _ = self.close_reason.compare_exchange(
            0,
            reason_code(reason),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
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

/// A live connection: our HTTP/1.1 client over the socket, its shared state, and what it
/// needs to report its own end. No task runs per connection: dropping it closes the socket
/// and emits `conn_closed` exactly once, with the reason set before (`error` if none was).
pub struct Conn {
    /// Shared state.
    pub shared: Arc<ConnShared>,
    pub(super) http: http1::Conn<http1::Stream>,
    pub(super) ctx: Arc<Ctx>,
    pub(super) pool: Arc<Pool>,
}

impl Conn {
    /// Whether a request may be sent on it now.
    pub fn usable(&self) -> bool {
        self.http.is_reusable() && !self.shared.is_closed() && self.shared.pending_close().is_none()
    }

    /// Close it for `reason` (unless another reason is already pending).
    pub fn close(self, reason: CloseReason) {
        self.shared.set_reason(reason);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.shared.report_closed(&self.ctx, &self.pool);
    }
}

impl ConnShared {
    /// Mark it ended and emit `conn_closed` with the reason set before (`error` if none was).
    /// Called exactly once per connection: by `Conn`'s drop, or by an HTTP/2 connection's
    /// driver task when it ends.
    pub(super) fn report_closed(&self, ctx: &Ctx, pool: &Pool) {
        self.closed.store(true, Ordering::Release);
        self.in_use.store(false, Ordering::Release);
        let reason = self.pending_close().unwrap_or(CloseReason::Error);
        pool.remove_live(self.id);
        ctx.fd_poke.notify_one();
        ctx.emit.emit(
            Some(&self.user()),
            EventKind::ConnClosed {
                conn_id: self.id,
                fd: self.fd,
                reason,
                lifetime_s: self.opened.elapsed().as_secs_f64(),
                requests: self.requests.load(Ordering::Acquire),
            },
        );
    }
}

/// Why a connection ended, from the client's error.
pub fn classify(e: &http1::Error) -> CloseReason {
    match e {
        http1::Error::Reset { .. } | http1::Error::UnexpectedEof => CloseReason::Reset,
        http1::Error::Closed => CloseReason::PeerClosed,
        _ => CloseReason::Error,
    }
}

/// Why an idle connection ended.
pub fn classify_idle(e: &http1::IdleEnd) -> CloseReason {
    match e {
        http1::IdleEnd::Closed => CloseReason::PeerClosed,
        http1::IdleEnd::Reset(_) => CloseReason::Reset,
        _ => CloseReason::Error,
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
