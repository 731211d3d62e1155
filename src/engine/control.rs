//! The command loop: the one owner of the target table. It carries out commands, applies
//! reload plans and shuts down; it takes no lock, and never waits on a file or the network
//! (reading sources happens on a thread of its own, see [`off_loop`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::event::{
    CloseReason, Command, DnsCause, EventKind, PoolKey, Selector, TargetId, TargetRef,
};

use super::pool::Pool;
use super::reload::{self, ReloadPolicy};
use super::spec::TargetSpec;
use super::target::TargetShared;
use super::target_set::{Discovery, Sources, SourcesError, TargetSet, TargetsFuture};

/// What reading the sources gives: the new target set, or why not.
type SourcesRead = Result<TargetSet, SourcesError>;

/// Read the sources on a thread of their own, driven by the runtime's handle, so that a file
/// that blocks (a FIFO given to `load`, a stalled network mount) blocks only that thread: the
/// command loop keeps answering, and `quit` never waits for it (the thread is detached and
/// ends with the process). The result arrives on the returned channel.
fn off_loop(read: TargetsFuture) -> oneshot::Receiver<SourcesRead> {
    let (tx, rx) = oneshot::channel();
    let rt = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("scrapetop-sources".to_owned())
        .spawn(move || {
            let _ = tx.send(rt.block_on(read));
        });
    if let Err(e) = spawned {
        // No thread: the dropped sender makes the receiver report a failure at once.
        tracing::warn!("cannot start a thread to read the sources: {e}");
    }
    rx
}
use super::ctx::Ctx;
use super::{fds, probe, recheck, schedule};

struct Running {
    shared: Arc<TargetShared>,
    task: JoinHandle<()>,
}

/// The command loop's state. Only this loop touches the target table, so it needs no lock.
pub(super) struct Engine {
    ctx: Arc<Ctx>,
    paused_tx: watch::Sender<bool>,
    /// Keyed by identity (labels + URL inside a job): identical targets of one job are one,
    /// as in Prometheus.
    targets: HashMap<TargetId, Running>,
    pools: HashMap<PoolKey, Arc<Pool>>,
    /// A pool may have lost its last target (set by a removal, cleared by a sweep that finds
    /// none): the once-a-second sweep skips its walk over every target otherwise.
    orphans: bool,
    /// The same pools, weakly, for redirects between targets of a job.
    registry: super::pool::PoolRegistry,
    sources: Arc<dyn Sources>,
}

impl Engine {
    pub(super) fn new(
        ctx: Arc<Ctx>,
        paused_tx: watch::Sender<bool>,
        sources: Arc<dyn Sources>,
    ) -> Self {
        Engine {
            ctx,
            paused_tx,
            targets: HashMap::new(),
            pools: HashMap::new(),
            orphans: false,
            registry: Default::default(),
            sources,
        }
    }

    pub(super) async fn run(&mut self, mut cmds: mpsc::Receiver<Command>) {
        let census = tokio::spawn(fds::census_loop(self.ctx.clone()));
        // The read of the sources under way (a newer request replaces it).
        let mut reading: Option<(oneshot::Receiver<SourcesRead>, &'static str)> = None;
        // Idle connections are watched by their target's loop; those of pools whose targets
        // are gone are swept here.
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sweep.tick() => self.sweep_orphans(),
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { break };
                    match cmd {
                        Command::Quit => break,
                        Command::Reload => {
                            let sd = Discovery(self.ctx.clone());
                            reading = Some((off_loop(self.sources.reload(sd)), "reload"));
                        }
                        Command::Load { path, replace } => {
                            let sd = Discovery(self.ctx.clone());
                            let read = self.sources.load(path, replace, sd);
                            reading = Some((off_loop(read), "load"));
                        }
                        other => self.command(other),
                    }
                }
                res = async {
                    match reading.as_mut() {
                        Some((rx, _)) => rx.await,
                        None => std::future::pending().await,
                    }
                } => {
                    let what = reading.take().map_or("reload", |(_, w)| w);
                    let res = res.unwrap_or(Err(SourcesError::Stopped));
                    self.reloaded(what, res);
                }
            }
        }
        census.abort();
        self.shutdown().await;
    }

    /// Apply what a reload or load read, or report why it failed.
    fn reloaded(&mut self, what: &str, res: SourcesRead) {
        match res {
            Ok(set) => {
                for n in set.notices {
                    self.ctx.emit.emit(None, EventKind::notice(n));
                }
                let policy = self.ctx.opts.reload_policy;
                self.apply(set.targets, policy, true);
            }
            Err(e) => self.ctx.emit.emit(
                None,
                EventKind::Reload {
                    added: 0,
                    removed: 0,
                    changed: 0,
                    conns_kept: self.live_conns() as u64,
                    conns_closed: 0,
                    error: Some(format!("{what} failed, running configuration kept: {e}")),
                },
            ),
        }
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
                    tokio::spawn(async move {
                        recheck::re_resolve(&ctx, &t, DnsCause::ReResolve).await
                    });
                }
            }
            Command::Probe(_) => {
                for t in sel {
                    let ctx = self.ctx.clone();
                    tokio::spawn(async move { probe::probe(&ctx, &t).await });
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
                super::pool::registered(&self.registry, key.clone(), spec.host.clone(), spec.port)
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
        let task = tokio::spawn(schedule::run(self.ctx.clone(), shared.clone()));
        self.targets.insert(id, Running { shared, task });
    }

    fn remove(&mut self, id: &TargetId) {
        if let Some(r) = self.targets.remove(id) {
            self.orphans = true;
            r.shared.removed.store(true, Ordering::Release);
            r.task.abort();
            self.ctx
                .emit
                .emit(Some(&r.shared.tref), EventKind::TargetRemoved {});
        }
    }

    /// Make the running target set equal to `list` under `policy` (see [`reload::plan`]).
    pub(super) fn apply(&mut self, list: Vec<TargetSpec>, policy: ReloadPolicy, report: bool) {
        let before = self.live_conns();
        // Identical label set + URL in one job is one target, as Prometheus deduplicates
        // inside a pool; the first wins. Ids of different jobs never collide (see
        // `TargetId::in_pool`), so every job keeps its own.
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
                p.close_redirects(*reason);
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

    /// Close the ended and idled-out connections of pools no running target uses, and forget
    /// such pools once empty.
    fn sweep_orphans(&mut self) {
        if !self.orphans {
            return;
        }
        let used: HashSet<*const Pool> = self
            .targets
            .values()
            .map(|r| Arc::as_ptr(&r.shared.pool))
            .collect();
        let (epoch, idle) = (self.ctx.epoch, self.ctx.opts.idle_timeout);
        self.pools.retain(|_, p| {
            if used.contains(&Arc::as_ptr(p)) {
                return true;
            }
            p.sweep(epoch, idle);
            p.live_count() > 0
        });
        self.orphans = self.pools.values().any(|p| !used.contains(&Arc::as_ptr(p)));
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
