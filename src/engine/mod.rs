//! The scrape engine: persistent connections per target, watched and steered.
//!
//! It never imports a UI crate. It emits [`Event`]s on a channel and takes [`Command`]s on
//! another. Per scrape it takes no engine-wide lock: each target has its own task, each
//! `scheme://host:port` its own pool, and events go through a bounded channel whose overflow
//! is counted and reported (`dropped`), never blocking a scrape.

pub mod body;
pub mod conn;
mod control;
mod dial;
pub mod dns;
pub mod fds;
pub mod pool;
mod probe;
mod recheck;
pub mod reload;
mod scrape;
pub mod spec;
pub mod target;
mod target_set;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::event::{Command, Event, EventKind, TargetRef};
use crate::source::{Capabilities, Capability, Source, SourceHandle};

use self::control::Engine;
use self::dns::Dns;
pub use self::reload::ReloadPolicy;
pub use self::target_set::{Discovery, FixedSources, Sources, TargetSet, TargetsFuture};

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
    tx: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Emitter {
    /// Emit an event about `target` (or the engine).
    pub fn emit(&self, target: Option<&Arc<TargetRef>>, kind: EventKind) {
        if self.tx.try_send(Event::now(target.cloned(), kind)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Report drops since the last report, if any.
    fn report_dropped(&self) {
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

/// What the caller holds: commands in, events out (the engine is one [`Source`]).
pub type EngineHandle = SourceHandle;

/// The engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The resolver could not be set up (no usable /etc/resolv.conf, bad `--dns-server`).
    #[error("DNS resolver: {0}")]
    Resolver(String),
}

/// The engine as a [`Source`]: it scrapes by itself and can do everything asked of it (loading
/// target list files only when its sources can).
pub struct EngineSource {
    /// Engine-wide settings.
    pub opts: EngineOptions,
    /// The targets to start with.
    pub initial: TargetSet,
    /// Where reloads read targets from.
    pub sources: Arc<dyn Sources>,
}

impl Source for EngineSource {
    type Error = StartError;

    fn capabilities(&self) -> Capabilities {
        if self.sources.can_load() {
            Capabilities::all()
        } else {
            Capabilities::all().without(Capability::Load)
        }
    }

    fn start(self) -> Result<SourceHandle, StartError> {
        let capabilities = self.capabilities();
        let (commands, events, done) = spawn(self.opts, self.initial, self.sources)?;
        Ok(SourceHandle {
            commands,
            events,
            done,
            capabilities,
        })
    }
}

/// Start the engine on the current tokio runtime.
pub fn start(
    opts: EngineOptions,
    initial: TargetSet,
    sources: Arc<dyn Sources>,
) -> Result<EngineHandle, StartError> {
    EngineSource {
        opts,
        initial,
        sources,
    }
    .start()
}

type Spawned = (
    mpsc::UnboundedSender<Command>,
    mpsc::Receiver<Event>,
    JoinHandle<()>,
);

fn spawn(
    opts: EngineOptions,
    initial: TargetSet,
    sources: Arc<dyn Sources>,
) -> Result<Spawned, StartError> {
    if opts.raise_fd_limit {
        fds::raise_soft_limit();
    }
    let dns = Dns::new(opts.dns_server).map_err(StartError::Resolver)?;
    let (tx, events) = mpsc::channel(opts.channel_capacity.max(16));
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (paused_tx, paused) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        emit: Emitter {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        dns,
        opts,
        conn_ids: AtomicU64::new(0),
        epoch: Instant::now(),
        paused,
        fd_poke: Notify::new(),
        fd_ceiling: fds::limits().0.saturating_sub(FD_RESERVE),
    });
    for n in initial.notices {
        ctx.emit.emit(None, EventKind::Notice { message: n });
    }
    let mut engine = Engine::new(ctx, paused_tx, sources);
    let done = tokio::spawn(async move {
        engine.apply(initial.targets, ReloadPolicy::Keep, false);
        engine.run(cmd_rx).await;
    });
    Ok((cmd_tx, events, done))
}
