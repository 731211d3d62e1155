//! The scrape engine: persistent connections per target, watched and steered.
//!
//! It never imports a UI crate. It emits [`Event`]s on a channel and takes [`Command`]s on
//! another. Per scrape it takes no engine-wide lock: each target has its own task, each
//! `scheme://host:port` its own pool, and events go through a bounded channel whose overflow
//! is counted and reported (`dropped`), never blocking a scrape.

pub mod body;
pub mod conn;
pub mod dns;
pub mod fds;
pub mod pool;
pub mod reload;
pub mod spec;
pub mod target;
pub mod tls;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::event::{
    CloseReason, Command, DnsCause, Event, EventKind, PoolKey, Selector, TargetId, TargetRef,
};
use crate::source::{Capabilities, Capability, Source, SourceHandle};

use self::dns::Dns;
use self::pool::Pool;
pub use self::reload::ReloadPolicy;
use self::spec::TargetSpec;
use self::target::TargetShared;

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
}

/// A fresh set of targets from the sources, with what to tell the operator about them.
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    /// The complete list of targets to scrape.
    pub targets: Vec<TargetSpec>,
    /// Notices (ignored sections, failed discovery lookups), emitted as `notice` events.
    pub notices: Vec<String>,
}

/// A future that yields a fresh target set (the reload of the current sources, or a file to
/// load). Errors are user-facing messages naming the file and line.
pub type TargetsFuture = Pin<Box<dyn Future<Output = Result<TargetSet, String>> + Send>>;

/// Where targets come from, so the engine can reload them.
pub trait Sources: Send + Sync + 'static {
    /// Whether [`Sources::load`] can add target list files (the engine then declares the
    /// `load` capability).
    fn can_load(&self) -> bool {
        true
    }
    /// Read the current sources again; discovery lookups go through `sd`.
    fn reload(&self, sd: Discovery) -> TargetsFuture;
    /// Read a target list file; with `replace` it becomes the only source, otherwise it is
    /// added to the current ones. Returns the complete new target set; on error the current
    /// sources stay as they were.
    fn load(&self, path: String, replace: bool, sd: Discovery) -> TargetsFuture;
}

/// Sources fixed at start (command-line targets): reload yields the same list.
pub struct FixedSources(pub Vec<TargetSpec>);

impl Sources for FixedSources {
    fn can_load(&self) -> bool {
        false
    }

    fn reload(&self, _sd: Discovery) -> TargetsFuture {
        let targets = self.0.clone();
        Box::pin(async move {
            Ok(TargetSet {
                targets,
                notices: Vec::new(),
            })
        })
    }

    fn load(&self, path: String, _replace: bool, _sd: Discovery) -> TargetsFuture {
        Box::pin(async move {
            Err(format!(
                "{path}: loading target lists needs a target source"
            ))
        })
    }
}

/// Service-discovery lookups through the engine's resolver, reported as DNS events with cause
/// `discovery` (so they show in the event log like every other lookup).
#[derive(Clone)]
pub struct Discovery(Arc<Ctx>);

impl crate::config::SdResolver for Discovery {
    async fn lookup_ip(&self, name: &str) -> Result<Vec<std::net::IpAddr>, String> {
        let start = Instant::now();
        let res = self.0.dns.lookup(name).await;
        let duration_ms = dns::ms(start.elapsed());
        match res {
            Ok(a) => {
                self.0.emit.emit(
                    None,
                    EventKind::DnsResolved {
                        host: name.to_owned(),
                        addrs: a.addrs.clone(),
                        ttl_s: a.ttl.as_secs(),
                        duration_ms,
                        cause: DnsCause::Discovery,
                    },
                );
                Ok(a.addrs)
            }
            Err(e) => {
                self.0.emit.emit(
                    None,
                    EventKind::DnsFailed {
                        host: name.to_owned(),
                        kind: e.kind,
                        error: e.message.clone(),
                        duration_ms,
                        cause: DnsCause::Discovery,
                    },
                );
                Err(e.message)
            }
        }
    }

    async fn lookup_srv(&self, name: &str) -> Result<Vec<(String, u16)>, String> {
        let start = Instant::now();
        let res = self.0.dns.lookup_srv(name).await;
        if let Err(e) = &res {
            self.0.emit.emit(
                None,
                EventKind::DnsFailed {
                    host: name.to_owned(),
                    kind: e.kind,
                    error: e.message.clone(),
                    duration_ms: dns::ms(start.elapsed()),
                    cause: DnsCause::Discovery,
                },
            );
        }
        res.map_err(|e| e.message)
    }
}

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

struct Running {
    shared: Arc<TargetShared>,
    task: JoinHandle<()>,
}

/// The command loop's state. Only this loop touches the target table, so it needs no lock.
struct Engine {
    ctx: Arc<Ctx>,
    paused_tx: watch::Sender<bool>,
    /// Keyed by identity (labels + URL): identical targets are one, as in Prometheus.
    targets: HashMap<TargetId, Running>,
    pools: HashMap<PoolKey, Arc<Pool>>,
    sources: Arc<dyn Sources>,
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
    });
    let mut engine = Engine {
        ctx,
        paused_tx,
        targets: HashMap::new(),
        pools: HashMap::new(),
        sources,
    };
    let done = tokio::spawn(async move {
        for n in initial.notices {
            engine.ctx.emit.emit(None, EventKind::Notice { message: n });
        }
        engine.apply(initial.targets, ReloadPolicy::Keep, false);
        engine.run(cmd_rx).await;
    });
    Ok((cmd_tx, events, done))
}

impl Engine {
    async fn run(&mut self, mut cmds: mpsc::UnboundedReceiver<Command>) {
        let census = tokio::spawn(census_loop(self.ctx.clone()));
        let mut pending_reload: Option<(TargetsFuture, &'static str)> = None;
        loop {
            tokio::select! {
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { break };
                    match cmd {
                        Command::Quit => break,
                        Command::Reload => {
                            let sd = Discovery(self.ctx.clone());
                            pending_reload = Some((self.sources.reload(sd), "reload"));
                        }
                        Command::Load { path, replace } => {
                            let sd = Discovery(self.ctx.clone());
                            pending_reload = Some((self.sources.load(path, replace, sd), "load"));
                        }
                        other => self.command(other),
                    }
                }
                res = async { match pending_reload.as_mut() { Some((f, _)) => f.await, None => std::future::pending().await } } => {
                    let what = pending_reload.take().map_or("reload", |(_, w)| w);
                    match res {
                        Ok(set) => {
                            for n in set.notices {
                                self.ctx.emit.emit(None, EventKind::Notice { message: n });
                            }
                            let policy = self.ctx.opts.reload_policy;
                            self.apply(set.targets, policy, true);
                        }
                        Err(e) => self.ctx.emit.emit(None, EventKind::Reload {
                            added: 0, removed: 0, changed: 0, conns_kept: self.live_conns() as u64, conns_closed: 0,
                            error: Some(format!("{what} failed, running configuration kept: {e}")),
                        }),
                    }
                }
            }
        }
        census.abort();
        self.shutdown().await;
    }

    fn live_conns(&self) -> usize {
        self.pools.values().map(|p| p.live_count()).sum()
    }

    fn selected(&self, sel: &Selector) -> Vec<Arc<TargetShared>> {
        self.targets
            .values()
            .filter(|r| sel.matches(&r.shared.tref))
            .map(|r| r.shared.clone())
            .collect()
    }

    fn command(&mut self, cmd: Command) {
        let name = cmd.name();
        let sel = match &cmd {
            Command::Pause | Command::Resume => {
                let p = matches!(cmd, Command::Pause);
                self.paused_tx.send_replace(p);
                self.ctx.emit.emit(None, EventKind::Paused { paused: p });
                Vec::new()
            }
            Command::Reconnect(s) | Command::ReResolve(s) | Command::Probe(s) => {
                let sel = self.selected(s);
                if sel.is_empty() {
                    // Acknowledging "0 targets" would read as done; it is a mistake to report.
                    self.ctx.emit.emit(
                        None,
                        EventKind::Error {
                            error: format!("{name}: no target matches {s}"),
                        },
                    );
                    return;
                }
                sel
            }
            Command::Reload | Command::Load { .. } | Command::Quit => Vec::new(),
        };
        let count = sel.len() as u64;
        match &cmd {
            Command::Reconnect(_) => {
                // A pool shared by several selected targets is closed once.
                let mut seen = HashSet::new();
                for t in sel {
                    if seen.insert(Arc::as_ptr(&t.pool)) {
                        t.pool.close_all(CloseReason::Forced);
                    }
                }
            }
            Command::ReResolve(_) => {
                for t in sel {
                    let ctx = self.ctx.clone();
                    tokio::spawn(
                        async move { target::re_resolve(&ctx, &t, DnsCause::ReResolve).await },
                    );
                }
            }
            Command::Probe(_) => {
                for t in sel {
                    let ctx = self.ctx.clone();
                    tokio::spawn(async move { target::probe(&ctx, &t).await });
                }
            }
            _ => {}
        }
        self.ctx.emit.emit(
            None,
            EventKind::CommandAck {
                cmd: name.to_owned(),
                targets: count,
            },
        );
    }

    fn pool_for(&mut self, spec: &TargetSpec) -> Arc<Pool> {
        let key = spec.pool_key();
        self.pools
            .entry(key)
            .or_insert_with_key(|key| {
                Arc::new(Pool::new(key.clone(), spec.host.clone(), spec.port))
            })
            .clone()
    }

    fn add(&mut self, id: TargetId, spec: TargetSpec) {
        let labels = spec.final_labels();
        let tref = Arc::new(TargetRef {
            id,
            job: spec.job.name.clone(),
            instance: Arc::from(spec.instance.as_str()),
        });
        let pool = self.pool_for(&spec);
        self.ctx.emit.emit(
            Some(&tref),
            EventKind::TargetAdded {
                url: spec.url(),
                pool: pool.key.clone(),
                interval_s: spec.job.interval.as_secs_f64(),
                timeout_s: spec.job.timeout.as_secs_f64(),
                labels,
            },
        );
        let shared = TargetShared::new(tref, spec, pool);
        let task = tokio::spawn(target::run(self.ctx.clone(), shared.clone()));
        self.targets.insert(id, Running { shared, task });
    }

    fn remove(&mut self, id: &TargetId) {
        if let Some(r) = self.targets.remove(id) {
            r.shared.removed.store(true, Ordering::Release);
            r.task.abort();
            self.ctx
                .emit
                .emit(Some(&r.shared.tref), EventKind::TargetRemoved {});
        }
    }

    /// Make the running target set equal to `list` under `policy` (see [`reload::plan`]).
    fn apply(&mut self, list: Vec<TargetSpec>, policy: ReloadPolicy, report: bool) {
        let before = self.live_conns();
        // Identical label set + URL is one target, as Prometheus deduplicates; the first wins.
        let mut new: HashMap<TargetId, TargetSpec> = HashMap::with_capacity(list.len());
        for s in list {
            new.entry(s.id()).or_insert(s);
        }
        let plan = {
            let running = self
                .targets
                .iter()
                .map(|(id, r)| {
                    let view = reload::Running {
                        job: &r.shared.spec.job,
                        pool: &r.shared.pool.key,
                    };
                    (*id, view)
                })
                .collect();
            let listed = new.iter().map(|(id, s)| (*id, &s.job)).collect();
            let pools: Vec<&PoolKey> = self.pools.keys().collect();
            reload::plan(&running, &listed, &pools, policy, !report)
        };
        // Connections asked to close by this reload (a set: a pool can be hit twice).
        let mut closed: HashSet<u64> = HashSet::new();
        for (key, reason) in &plan.close {
            if let Some(p) = self.pools.get(key) {
                for c in p.live() {
                    c.request_close(*reason);
                    closed.insert(c.id);
                }
            }
        }
        for key in &plan.forget {
            self.pools.remove(key);
        }
        for key in &plan.reset_tls {
            if let Some(p) = self.pools.get(key) {
                p.reset_tls();
            }
        }
        for id in &plan.stop {
            self.remove(id);
        }
        for id in &plan.start {
            if let Some(s) = new.remove(id) {
                self.add(*id, s);
            }
        }
        // Forget pools nobody uses and that hold no connection.
        let used: HashSet<*const Pool> = self
            .targets
            .values()
            .map(|r| Arc::as_ptr(&r.shared.pool))
            .collect();
        self.pools
            .retain(|_, p| used.contains(&Arc::as_ptr(p)) || p.live_count() > 0);
        if report {
            let closed = closed.len().min(before) as u64;
            self.ctx.emit.emit(
                None,
                EventKind::Reload {
                    added: plan.added,
                    removed: plan.removed,
                    changed: plan.changed,
                    conns_kept: before as u64 - closed,
                    conns_closed: closed,
                    error: None,
                },
            );
        }
    }

    async fn shutdown(&mut self) {
        for (_, r) in self.targets.drain() {
            r.task.abort();
        }
        for p in self.pools.values() {
            p.close_all(CloseReason::Shutdown);
        }
        // Give drivers a moment to report their closes (bounded).
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while self.pools.values().any(|p| p.live_count() > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.ctx.emit.report_dropped();
    }
}

/// Take a census every `census_every` (emitted each time, so a reader always has a fresh one),
/// and soon after connections change (emitted when it differs). Also reports dropped events.
async fn census_loop(ctx: Arc<Ctx>) {
    let mut last = None;
    let mut scanner = match fds::Scanner::open() {
        Ok(s) => Some(s),
        Err(e) => {
            ctx.emit.emit(
                None,
                EventKind::Error {
                    error: format!("descriptor census unavailable: {e}"),
                },
            );
            None
        }
    };
    let mut tick = tokio::time::interval(ctx.opts.census_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let periodic = tokio::select! {
            _ = tick.tick() => true,
            _ = ctx.fd_poke.notified() => {
                // Let a burst of opens/closes settle, and bound the census rate under churn
                // (reading /proc/self/fd costs a readlink per descriptor).
                tokio::time::sleep(Duration::from_millis(200)).await;
                false
            }
        };
        ctx.emit.report_dropped();
        let Some(mut sc) = scanner.take() else {
            continue;
        };
        let Ok((sc, c)) = tokio::task::spawn_blocking(move || {
            let c = sc.census();
            (sc, c)
        })
        .await
        else {
            continue;
        };
        scanner = Some(sc);
        let Ok(c) = c else { continue };
        if periodic || last != Some(c) {
            last = Some(c);
            ctx.emit.emit(None, EventKind::Fds(c));
        }
    }
}
