//! What every engine task shares: settings, the event emitter, the resolver, counters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};

use crate::event::{Event, EventKind, TargetRef};

use super::dns::Dns;
use super::reload::ReloadPolicy;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Use this DNS server instead of the system configuration.
    pub dns_server: Option<SocketAddr>,
    /// Idle connections close after this long.
    pub idle_timeout: Duration,
    /// Close a connection after its current scrape once it is this old.
    pub max_conn_age: Option<Duration>,
    /// Re-resolve names in the background at TTL expiry (≥ 30 s apart) to flag stale peers.
    pub recheck_dns: bool,
    /// The background recheck looks a name up at most this often (TTL permitting).
    pub recheck_min: Duration,
    /// Probe every target on a fresh connection this often.
    pub probe_every: Option<Duration>,
    /// Reload semantics.
    pub reload_policy: ReloadPolicy,
    /// Event channel capacity; overflow is counted, not blocking.
    pub channel_capacity: usize,
    /// Raise RLIMIT_NOFILE's soft limit to the hard limit at start.
    pub raise_fd_limit: bool,
    /// How often the descriptor census runs (it also runs soon after connections change).
    pub census_every: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            dns_server: None,
            idle_timeout: Duration::from_secs(300),
            max_conn_age: None,
            recheck_dns: true,
            recheck_min: Duration::from_secs(30),
            probe_every: None,
            reload_policy: ReloadPolicy::Prometheus,
            channel_capacity: 1 << 16,
            raise_fd_limit: true,
            census_every: Duration::from_secs(1),
        }
    }
}

/// Sends events without ever blocking; counts what it could not send.
#[derive(Clone)]
pub struct Emitter {
    pub(super) tx: mpsc::Sender<Event>,
    pub(super) dropped: Arc<AtomicU64>,
}

impl Emitter {
    /// Emit an event about `target` (or the engine).
    pub fn emit(&self, target: Option<&Arc<TargetRef>>, kind: EventKind) {
        if self.tx.try_send(Event::now(target.cloned(), kind)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Report drops since the last report, if any.
    pub(super) fn report_dropped(&self) {
        let n = self.dropped.swap(0, Ordering::Relaxed);
        if n > 0
            && self
                .tx
                .try_send(Event::now(None, EventKind::Dropped { count: n }))
                .is_err()
        {
            self.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Engine-wide shared state, read by every task.
pub struct Ctx {
    /// Event output.
    pub emit: Emitter,
    /// Resolver.
    pub dns: Dns,
    /// Settings.
    pub opts: EngineOptions,
    /// Connection id counter.
    pub conn_ids: AtomicU64,
    /// Start of the engine; atomics store milliseconds since it.
    pub epoch: Instant,
    /// True while paused.
    pub paused: watch::Receiver<bool>,
    /// Poked when connections open or close, so the census runs soon.
    pub fd_poke: Notify,
    /// Lowest descriptor number a new socket may not reach: RLIMIT_NOFILE's soft limit less
    /// [`FD_RESERVE`], so that at the limit a reload can still open its files.
    pub fd_ceiling: u64,
}

/// Descriptors kept free for the engine's own needs (reading a reloaded configuration, the
/// descriptor census): a dial that would use one fails with `emfile` instead.
pub const FD_RESERVE: u64 = 8;
