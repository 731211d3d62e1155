//! A job's connections to one `scheme://host:port`. Normally one target uses a pool, so its
//! locks are uncontended; targets sharing a host:port (blackbox) share it as Prometheus does.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1::SendRequest;
use tokio::sync::Notify;

use crate::event::{CloseReason, ConnFailKind, ConnInfo, EventKind, TargetRef, TlsInfo};

use super::conn::{
    Conn, ConnShared, DialError, Driver, Io, SockInfo, classify_hyper, handshake_plain,
};
use super::ctx::Ctx;
use super::dns::ms;
use super::spec::TlsSettings;

/// Connections of one job to one `scheme://host:port`.
pub struct Pool {
    /// Which pool this is (job, scheme, host, port).
    pub key: crate::event::PoolKey,
    /// Host to resolve.
    pub host: String,
    /// Port.
    pub port: u16,
    idle: Mutex<Vec<Conn>>,
    live: Mutex<Vec<Arc<ConnShared>>>,
    /// Engine-epoch milliseconds before which the background recheck skips this name.
    pub next_recheck_ms: AtomicU64,
    /// The job's TLS client configuration, built on first use (https pools only).
    tls: Mutex<Option<Result<Arc<rustls::ClientConfig>, String>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Pool {
    /// An empty pool.
    pub fn new(key: crate::event::PoolKey, host: String, port: u16) -> Self {
        Pool {
            key,
            host,
            port,
            idle: Mutex::new(Vec::new()),
            live: Mutex::new(Vec::new()),
            next_recheck_ms: AtomicU64::new(0),
            tls: Mutex::new(None),
        }
    }

    /// The TLS client configuration for `settings`, built once per pool (a job's pools share
    /// its settings; a changed job gets new pools).
    pub fn tls_config(&self, settings: &TlsSettings) -> Result<Arc<rustls::ClientConfig>, String> {
        lock(&self.tls)
            .get_or_insert_with(|| super::tls::client_config(settings))
            .clone()
    }

    /// Forget the TLS configuration (the job's settings changed; the next dial rebuilds it).
    pub fn reset_tls(&self) {
        *lock(&self.tls) = None;
    }

    /// The most recently used idle connection that is still usable.
    pub fn take_idle(&self) -> Option<Conn> {
        let mut idle = lock(&self.idle);
        while let Some(c) = idle.pop() {
            if c.usable() {
                return Some(c);
            }
        }
        None
    }

    /// Return a connection after a request.
    pub fn put_idle(&self, c: Conn) {
        let mut idle = lock(&self.idle);
        idle.retain(|c| !c.shared.is_closed());
        idle.push(c);
    }

    pub(crate) fn add_live(&self, c: Arc<ConnShared>) {
        lock(&self.live).push(c);
    }

    pub(crate) fn remove_live(&self, id: u64) {
        lock(&self.live).retain(|c| c.id != id);
        lock(&self.idle).retain(|c| c.shared.id != id);
    }

    /// Live connections (idle or in use).
    pub fn live(&self) -> Vec<Arc<ConnShared>> {
        lock(&self.live).clone()
    }

    /// Number of live connections.
    pub fn live_count(&self) -> usize {
        lock(&self.live).len()
    }

    /// Close every connection: idle ones now, busy ones after their request. Returns how many.
    pub fn close_all(&self, reason: CloseReason) -> usize {
        let live = self.live();
        for c in &live {
            c.request_close(reason);
        }
        live.len()
    }

    /// Record when this name may next be rechecked.
    pub fn set_next_recheck(&self, at_ms: u64) {
        self.next_recheck_ms.store(at_ms, Ordering::Release);
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
