//! A job's connections to one `scheme://host:port`. Normally one target uses a pool, so its
//! locks are uncontended; targets sharing a host:port (blackbox) share it as Prometheus does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::event::{CloseReason, ConnInfo, EventKind, TargetRef, TlsInfo};

use super::conn::{Conn, ConnShared, SockInfo, classify_idle};
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
    /// Pools of the same job to where this pool's targets redirect (Prometheus keeps a
    /// connection to a redirect's destination too). Watched, expired and closed with this one.
    redirects: Mutex<Vec<Arc<Pool>>>,
    /// The HTTP/2 connection, when the server chose `h2`: one carries every target of the
    /// pool at once, as Go's transport shares one per authority (`h2.rs`).
    h2: Mutex<Option<Arc<super::h2::H2Conn>>>,
    /// The engine's pools, for a redirect to another target's host:port.
    registry: Option<PoolRegistry>,
}

/// Every target pool of the engine, by key: a redirect to another target of the same job
/// uses that target's pool (and connection), as Prometheus's one HTTP client per job does.
pub type PoolRegistry = Arc<Mutex<HashMap<crate::event::PoolKey, Weak<Pool>>>>;

/// A target pool, entered in `registry`.
pub fn registered(
    registry: &PoolRegistry,
    key: crate::event::PoolKey,
    host: String,
    port: u16,
) -> Arc<Pool> {
    let p = Arc::new(Pool {
        registry: Some(registry.clone()),
        ..Pool::new(key.clone(), host, port)
    });
    let mut reg = lock(registry);
    reg.retain(|_, w| w.strong_count() > 0);
    reg.insert(key, Arc::downgrade(&p));
    p
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
            redirects: Mutex::new(Vec::new()),
            h2: Mutex::new(None),
            registry: None,
        }
    }

    /// The pool's HTTP/2 connection if it can take a request now; one that cannot is
    /// forgotten (its driver closes it once its streams are done).
    pub(super) fn h2_conn(&self) -> Option<Arc<super::h2::H2Conn>> {
        let mut slot = lock(&self.h2);
        if slot.as_ref().is_some_and(|c| !c.usable())
            && let Some(c) = slot.take()
        {
            c.wake();
        }
        slot.clone()
    }

    /// Keep `c` as the pool's HTTP/2 connection. `false` when a usable one is already there
    /// (two scrapes dialled at once; Go closes the second connection, so does the caller).
    pub(super) fn set_h2(&self, c: &Arc<super::h2::H2Conn>) -> bool {
        let mut slot = lock(&self.h2);
        if slot.as_ref().is_some_and(|o| o.usable()) {
            return false;
        }
        *slot = Some(c.clone());
        true
    }

    /// Forget the HTTP/2 connection `id` (it ended, or must take no new request).
    pub(super) fn forget_h2(&self, id: u64) {
        let mut slot = lock(&self.h2);
        if slot.as_ref().is_some_and(|c| c.shared.id == id) {
            *slot = None;
        }
    }

    /// The pool of this job for a redirect to `scheme://host:port`: this pool itself when
    /// it is the same, another target's of the job when it has one there, otherwise one kept
    /// beside this one (created on first use).
    pub fn redirect_pool(
        self: &Arc<Self>,
        scheme: crate::event::Scheme,
        host: &str,
        port: u16,
    ) -> Arc<Pool> {
        if self.key.scheme == scheme && *self.key.host == *host && self.key.port == port {
            return self.clone();
        }
        let key = crate::event::PoolKey {
            job: self.key.job.clone(),
            scheme,
            host: Arc::from(host),
            port,
        };
        if let Some(p) = self
            .registry
            .as_ref()
            .and_then(|r| lock(r).get(&key)?.upgrade())
        {
            return p;
        }
        let mut subs = lock(&self.redirects);
        if let Some(p) = subs
            .iter()
            .find(|p| p.key.scheme == scheme && *p.key.host == *host && p.key.port == port)
        {
            return p.clone();
        }
        let p = Arc::new(Pool::new(key, host.to_owned(), port));
        subs.push(p.clone());
        p
    }

    fn subs(&self) -> Vec<Arc<Pool>> {
        lock(&self.redirects).clone()
    }

    /// The TLS client configuration for `settings`, built once per pool (a job's pools share
    /// its settings; a changed job gets new pools).
    pub fn tls_config(
        &self,
        settings: &TlsSettings,
        http2: bool,
    ) -> Result<Arc<rustls::ClientConfig>, String> {
        lock(&self.tls)
            .get_or_insert_with(|| super::tls::client_config(settings, http2))
            .clone()
    }

    /// Forget the TLS configuration (the job's settings changed; the next dial rebuilds it).
    pub fn reset_tls(&self) {
        *lock(&self.tls) = None;
    }

    /// The most recently used idle connection that is still usable. Each is looked at once
    /// without waiting (nobody may have watched it while idle): one the server closed ends
    /// here with its reason.
    pub fn take_idle(&self) -> Option<Conn> {
        let mut ended = Vec::new();
        let found = {
            let mut idle = lock(&self.idle);
            let mut found = None;
            while let Some(mut c) = idle.pop() {
                if let Some(end) = c.http.check_idle() {
                    c.shared.set_reason(classify_idle(&end));
                    ended.push(c);
                } else if c.usable() {
                    found = Some(c);
                    break;
                } else {
                    ended.push(c);
                }
            }
            found
        };
        drop(ended); // emits conn_closed outside the lock
        found
    }

    /// Return a connection after a request.
    pub fn put_idle(&self, c: Conn) {
        let mut idle = lock(&self.idle);
        if idle.capacity() == 0 {
            // One slot first: a pool normally holds one connection, and `Vec`'s first growth
            // reserves four (~700 bytes of `Conn`s; 6.9 MB at 10,000 targets). A shared pool
            // with more grows as usual from there.
            idle.reserve_exact(1);
        }
        idle.push(c);
    }

    /// Close the connections of the redirect pools for `reason` and the idle ones of this
    /// pool asked to close (`request_close`) now.
    pub fn close_redirects(&self, reason: CloseReason) {
        for p in self.subs() {
            p.close_all(reason);
        }
        self.reap_idle();
    }

    /// Close the idle connections asked to close (`request_close`) now (an HTTP/2 one once
    /// its streams are done).
    pub fn reap_idle(&self) {
        let _ = self.h2_conn();
        let ended: Vec<Conn> = {
            let mut idle = lock(&self.idle);
            let (gone, keep) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|c| c.shared.pending_close().is_some() || c.shared.is_closed());
            *idle = keep;
            gone
        };
        drop(ended);
    }

    /// Watch the idle connections: ready when one of them ended (the server closed or reset
    /// it, or it was asked to close); those are removed and closed with their reason. The lock
    /// is held only while polling, never across an await.
    pub fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut ready = self.poll_own_idle(cx).is_ready();
        if lock(&self.redirects).is_empty() {
            return if ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        for p in self.subs() {
            ready |= p.poll_own_idle(cx).is_ready();
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn poll_own_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        let ended: Vec<Conn> = {
            let mut idle = lock(&self.idle);
            let mut ended = Vec::new();
            let mut i = 0;
            while i < idle.len() {
                let c = &mut idle[i];
                let end = if c.shared.pending_close().is_some() {
                    true
                } else if let Poll::Ready(e) = c.http.poll_idle_closed(cx) {
                    c.shared.set_reason(classify_idle(&e));
                    true
                } else {
                    false
                };
                if end {
                    ended.push(idle.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            ended
        };
        if ended.is_empty() {
            Poll::Pending
        } else {
            drop(ended);
            Poll::Ready(())
        }
    }

    /// For a pool no running target watches (its targets were removed): close the idle
    /// connections that ended or idled out. Called periodically by the engine.
    pub fn sweep(&self, epoch: Instant, idle_timeout: Duration) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = self.poll_idle(&mut cx);
        self.expire_idle(epoch, idle_timeout);
    }

    /// When the oldest idle connection reaches `idle_timeout` (engine-epoch based).
    pub fn idle_expiry(&self, epoch: Instant, idle_timeout: Duration) -> Option<Instant> {
        let own = lock(&self.idle)
            .iter()
            .map(|c| c.shared.idle_since_ms.load(Ordering::Acquire))
            .min();
        let subs = lock(&self.redirects)
            .iter()
            .filter_map(|p| p.idle_expiry(epoch, idle_timeout))
            .min();
        let own = own.map(|ms| epoch + Duration::from_millis(ms) + idle_timeout);
        match (own, subs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Close the idle connections that have been idle for `idle_timeout`.
    pub fn expire_idle(&self, epoch: Instant, idle_timeout: Duration) {
        let now = epoch.elapsed();
        for c in lock(&self.idle).iter() {
            let since = Duration::from_millis(c.shared.idle_since_ms.load(Ordering::Acquire));
            if now.saturating_sub(since) >= idle_timeout {
                c.shared.set_reason(CloseReason::IdleTimeout);
            }
        }
        self.reap_idle();
        for p in self.subs() {
            p.expire_idle(epoch, idle_timeout);
        }
    }

    pub(crate) fn add_live(&self, c: Arc<ConnShared>) {
        lock(&self.live).push(c);
    }

    pub(crate) fn remove_live(&self, id: u64) {
        lock(&self.live).retain(|c| c.id != id);
    }

    /// Live connections (idle or in use).
    pub fn live(&self) -> Vec<Arc<ConnShared>> {
        lock(&self.live).clone()
    }

    /// Number of live connections, those of its redirect pools included.
    pub fn live_count(&self) -> usize {
        let own = lock(&self.live).len();
        let subs = lock(&self.redirects);
        own + subs.iter().map(|p| p.live_count()).sum::<usize>()
    }

    /// Close every connection: idle ones now, busy ones after their request. Returns how many.
    pub fn close_all(&self, reason: CloseReason) -> usize {
        let live = self.live();
        for c in &live {
            c.request_close(reason);
        }
        self.reap_idle();
        live.len()
            + self
                .subs()
                .iter()
                .map(|p| p.close_all(reason))
                .sum::<usize>()
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

    /// The HTTP/1.1 client connection.
    pub fn http(&mut self) -> Option<&mut super::http1::Conn<super::http1::Stream>> {
        self.conn.as_mut().map(|c| &mut c.http)
    }

    /// Close it now for `reason`.
    pub fn close(mut self, reason: CloseReason) {
        if let Some(c) = self.conn.take() {
            c.close(reason);
        }
    }

    /// The request completed: return the connection to `pool`, or close it if a close was
    /// asked for meanwhile, it has reached `max_age`, or the response ended it.
    pub fn finish(mut self, pool: &Pool, epoch: Instant, max_age: Option<Duration>) {
        let Some(c) = self.conn.take() else { return };
        let s = c.shared.clone();
        s.idle_since_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Release);
        s.in_use.store(false, Ordering::Release);
        if s.pending_close().is_some() {
            drop(c);
        } else if max_age.is_some_and(|m| s.opened.elapsed() >= m) {
            c.close(CloseReason::MaxAge);
        } else if !c.http.is_reusable() {
            c.close(CloseReason::ConnectionClose);
        } else {
            pool.put_idle(c);
        }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close(self.drop_reason);
        }
    }
}

/// Register a new connection of `pool` used by `user`: its shared state, `conn_opened`, the
/// pool's live list. HTTP/1.1 ([`establish`]) and HTTP/2 (`h2.rs`) alike.
pub(super) fn register(
    ctx: &Arc<Ctx>,
    pool: &Arc<Pool>,
    user: &Arc<TargetRef>,
    info: &SockInfo,
    tls: Option<TlsInfo>,
) -> Arc<ConnShared> {
    let shared = Arc::new(ConnShared {
        id: ctx.conn_ids.fetch_add(1, Ordering::Relaxed) + 1,
        fd: info.fd,
        local: info.local,
        peer: info.peer,
        opened: Instant::now(),
        requests: AtomicU64::new(0),
        in_use: AtomicBool::new(true),
        close_reason: AtomicU8::new(0),
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
    shared
}

/// Register an established stream as a pooled connection of `pool` used by `user`: emit
/// `conn_opened`, return it checked out.
pub fn establish(
    ctx: &Arc<Ctx>,
    pool: &Arc<Pool>,
    user: &Arc<TargetRef>,
    http: super::http1::Conn<super::http1::Stream>,
    info: SockInfo,
    tls: Option<TlsInfo>,
) -> InUse {
    let shared = register(ctx, pool, user, &info, tls);
    let conn = Conn {
        shared,
        http,
        ctx: ctx.clone(),
        pool: pool.clone(),
    };
    InUse::new(conn, user)
}
