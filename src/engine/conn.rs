//! One observable HTTP/1.1 connection: dialled by us over our own socket, so its fd, local and
//! peer addresses are known, and driven by a task that reports exactly when and why it ends.

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
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;

use crate::event::{CloseReason, ConnFailKind, ConnInfo, EventKind, TargetRef, TlsInfo};

use super::Ctx;
use super::dns::ms;
use super::pool::Pool;

const REASONS: [CloseReason; 11] = [
    CloseReason::PeerClosed,
    CloseReason::Timeout,
    CloseReason::Reset,
    CloseReason::ConnectionClose,
    CloseReason::IdleTimeout,
    CloseReason::MaxAge,
    CloseReason::Forced,
    CloseReason::Reload,
    CloseReason::TargetRemoved,
    CloseReason::Shutdown,
    CloseReason::Error,
];

fn reason_code(r: CloseReason) -> u8 {
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
    in_use: AtomicBool,
    close_reason: AtomicU8,
    kill: Notify,
    /// Signalled when the user gives the connection back (finished or closed).
    released: Notify,
    /// Milliseconds since the engine epoch when it last went idle.
    idle_since_ms: AtomicU64,
    closed: AtomicBool,
    user: Mutex<Arc<TargetRef>>,
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
    fn kill_now(&self, reason: CloseReason) {
        let _ = self.close_reason.compare_exchange(
            0,
            reason_code(reason),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.kill.notify_one();
    }

    /// Its user gave it back: no longer in use; wake a driver waiting to report a close.
    fn release(&self) {
        self.in_use.store(false, Ordering::Release);
        self.released.notify_one();
    }

    fn pending_close(&self) -> Option<CloseReason> {
        reason_of(self.close_reason.load(Ordering::Acquire))
    }

    /// The target that used it last (whose history it belongs to).
    pub fn user(&self) -> Arc<TargetRef> {
        match self.user.lock() {
            Ok(u) => u.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_user(&self, t: &Arc<TargetRef>) {
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
    sender: SendRequest<Empty<Bytes>>,
}

impl Conn {
    /// Whether hyper still considers it usable.
    pub fn usable(&self) -> bool {
        !self.sender.is_closed()
            && !self.shared.is_closed()
            && self.shared.pending_close().is_none()
    }
}

/// A connection checked out of its pool for one request. Dropping it without `finish` (a
/// deadline cut the scrape short, or the task was stopped) closes the connection: an HTTP/1
/// connection with a request half-done is unusable.
pub struct InUse {
    conn: Option<Conn>,
    /// Reason used if dropped unfinished.
    pub drop_reason: CloseReason,
}

impl InUse {
    /// Check a connection out for `user`.
    pub fn new(conn: Conn, user: &Arc<TargetRef>) -> Self {
        conn.shared.in_use.store(true, Ordering::Release);
        conn.shared.set_user(user);
        InUse {
            conn: Some(conn),
            drop_reason: CloseReason::Timeout,
        }
    }

    /// Shared state of the connection.
    pub fn shared(&self) -> Option<&Arc<ConnShared>> {
        self.conn.as_ref().map(|c| &c.shared)
    }

    /// The request half.
    pub fn sender(&mut self) -> Option<&mut SendRequest<Empty<Bytes>>> {
        self.conn.as_mut().map(|c| &mut c.sender)
    }

    /// Close it now for `reason`.
    pub fn close(mut self, reason: CloseReason) {
        if let Some(c) = self.conn.take() {
            c.shared.kill_now(reason);
            c.shared.release();
        }
    }

    /// The request completed: return the connection to `pool`, or close it if a close was
    /// asked for meanwhile or it has reached `max_age`.
    pub fn finish(mut self, pool: &Pool, epoch: Instant, max_age: Option<Duration>) {
        let Some(c) = self.conn.take() else { return };
        let s = c.shared.clone();
        s.idle_since_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Release);
        s.release();
        if let Some(r) = s.pending_close() {
            s.kill_now(r);
        } else if max_age.is_some_and(|m| s.opened.elapsed() >= m) {
            s.kill_now(CloseReason::MaxAge);
        } else if c.sender.is_closed() {
            // hyper already knows it is done (e.g. the server closed it): nothing to keep.
        } else {
            pool.put_idle(c);
        }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.shared.kill_now(self.drop_reason);
            c.shared.release();
        }
    }
}

/// A dial failure.
#[derive(Debug, Clone)]
pub struct DialError {
    /// Classified kind.
    pub kind: ConnFailKind,
    /// What was dialled.
    pub addr: String,
    /// Message.
    pub message: String,
}

/// Classify an OS-level connect error.
pub fn classify_io(e: &std::io::Error) -> ConnFailKind {
    match e.raw_os_error() {
        Some(24) | Some(23) => return ConnFailKind::Emfile,
        Some(111) => return ConnFailKind::Refused,
        Some(110) => return ConnFailKind::Timeout,
        _ => {}
    }
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ConnFailKind::Refused,
        std::io::ErrorKind::TimedOut => ConnFailKind::Timeout,
        _ => ConnFailKind::Other,
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(24) => "socket: too many open files".to_owned(),
        Some(111) => "connect: connection refused".to_owned(),
        _ => format!("connect: {e}"),
    }
}

/// Connect to the first address that answers, within `deadline`. Returns the stream, the peer
/// and the connect time of the successful attempt.
pub async fn connect_any(
    addrs: &[SocketAddr],
    deadline: tokio::time::Instant,
) -> Result<(TcpStream, SocketAddr, Duration), DialError> {
    let mut last = DialError {
        kind: ConnFailKind::Other,
        addr: String::new(),
        message: "no addresses".to_owned(),
    };
    for (i, addr) in addrs.iter().enumerate() {
        // Like Go's dialSerial: each remaining address gets an equal share of the time left.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let share = left / (addrs.len() - i) as u32;
        let start = Instant::now();
        let res = async {
            let sock = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }?;
            sock.set_nodelay(true)?;
            sock.connect(*addr).await
        };
        match tokio::time::timeout(share, res).await {
            Ok(Ok(stream)) => {
                let took = start.elapsed();
                // Prometheus (Go) probes idle connections with TCP keep-alive every 15 s.
                let ka = socket2::TcpKeepalive::new()
                    .with_time(Duration::from_secs(15))
                    .with_interval(Duration::from_secs(15));
                let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
                return Ok((stream, *addr, took));
            }
            Ok(Err(e)) => {
                last = DialError {
                    kind: classify_io(&e),
                    addr: addr.to_string(),
                    message: format!("dial tcp {addr}: {}", io_message(&e)),
                };
                if last.kind == ConnFailKind::Emfile {
                    break;
                }
            }
            Err(_) => {
                last = DialError {
                    kind: ConnFailKind::Timeout,
                    addr: addr.to_string(),
                    message: format!("dial tcp {addr}: i/o timeout"),
                };
            }
        }
    }
    Err(last)
}

type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

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

/// Register an established stream as a pooled connection of `pool` used by `user`: emit
/// `conn_opened`, spawn its driver, return it checked out.
pub async fn establish<S: Io>(
    ctx: &Arc<Ctx>,
    pool: &Arc<Pool>,
    user: &Arc<TargetRef>,
    stream: S,
    info: SockInfo,
    tls: Option<TlsInfo>,
    read_buf: usize,
) -> Result<InUse, DialError> {
    let (sender, driver) = handshake_plain(stream, read_buf)
        .await
        .map_err(|m| DialError {
            kind: ConnFailKind::Other,
            addr: info.peer.to_string(),
            message: m,
        })?;
    let shared = Arc::new(ConnShared {
        id: ctx.conn_ids.fetch_add(1, Ordering::Relaxed) + 1,
        fd: info.fd,
        local: info.local,
        peer: info.peer,
        opened: Instant::now(),
        requests: AtomicU64::new(0),
        in_use: AtomicBool::new(true),
        close_reason: AtomicU8::new(0),
        kill: Notify::new(),
        released: Notify::new(),
        idle_since_ms: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        user: Mutex::new(user.clone()),
    });
    ctx.emit.emit(
        Some(user),
        EventKind::ConnOpened(ConnInfo {
            conn_id: shared.id,
            pool: pool.key.clone(),
            fd: info.fd,
            local: info.local,
            peer: info.peer,
            connect_ms: ms(info.connect),
            tls,
        }),
    );
    pool.add_live(shared.clone());
    ctx.fd_poke.notify_one();
    tokio::spawn(drive(driver, shared.clone(), ctx.clone(), pool.clone()));
    Ok(InUse::new(Conn { shared, sender }, user))
}

/// Run the connection until it ends, then report why exactly once.
async fn drive(mut conn: Driver, shared: Arc<ConnShared>, ctx: Arc<Ctx>, pool: Arc<Pool>) {
    let idle_timeout = ctx.opts.idle_timeout;
    let result: Option<hyper::Result<()>> = loop {
        // While in use the idle deadline does not apply; look again one timeout later.
        let idle_deadline = if shared.in_use.load(Ordering::Acquire) {
            Instant::now() + idle_timeout
        } else {
            ctx.epoch
                + Duration::from_millis(shared.idle_since_ms.load(Ordering::Acquire))
                + idle_timeout
        };
        tokio::select! {
            r = &mut conn => break Some(r),
            _ = shared.kill.notified() => break None,
            _ = tokio::time::sleep_until(idle_deadline.into()) => {
                let since = shared.idle_since_ms.load(Ordering::Acquire);
                let idle_for = ctx.epoch.elapsed().saturating_sub(Duration::from_millis(since));
                if !shared.in_use.load(Ordering::Acquire) && idle_for >= idle_timeout {
                    shared.request_close(CloseReason::IdleTimeout);
                    break None;
                }
            }
        }
    };
    drop(conn); // closes the socket
    shared.closed.store(true, Ordering::Release);
    // The connection ended under a request (e.g. the server closed after the response):
    // its user knows best why (Connection: close, timeout), so wait for it, bounded.
    if result.is_some() && shared.in_use.load(Ordering::Acquire) && shared.pending_close().is_none()
    {
        let _ = tokio::time::timeout(Duration::from_secs(120), async {
            while shared.in_use.load(Ordering::Acquire) {
                shared.released.notified().await;
            }
        })
        .await;
    }
    let reason = match (shared.pending_close(), &result) {
        (Some(r), _) => r,
        (None, Some(Ok(()))) => CloseReason::PeerClosed,
        (None, Some(Err(e))) => classify_hyper(e),
        (None, None) => CloseReason::Error,
    };
    pool.remove_live(shared.id);
    ctx.fd_poke.notify_one();
    ctx.emit.emit(
        Some(&shared.user()),
        EventKind::ConnClosed {
            conn_id: shared.id,
            fd: shared.fd,
            reason,
            lifetime_s: shared.opened.elapsed().as_secs_f64(),
            requests: shared.requests.load(Ordering::Acquire),
        },
    );
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
