//! A job's connections to one `scheme://host:port`. Normally one target uses a pool, so its
//! locks are uncontended; targets sharing a host:port (blackbox) share it as Prometheus does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::spec::TlsSettings;

use crate::event::CloseReason;

use super::conn::{Conn, ConnShared};

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
