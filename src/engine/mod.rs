//! The scrape engine: persistent connections per target, watched and steered.
//!
//! It never imports a UI crate. It emits [`Event`]s on a channel and takes [`Command`]s on
//! another. Per scrape it takes no engine-wide lock: each target has its own task, each
//! `scheme://host:port` its own pool, and events go through a bounded channel whose overflow
//! is counted and reported (`dropped`), never blocking a scrape.

pub mod body;
pub mod conn;
mod control;
mod ctx;
mod dial;
pub mod dns;
pub mod fds;
mod h2;
pub mod http1;
pub mod pool;
mod probe;
mod recheck;
pub mod reload;
mod schedule;
mod scrape;
pub mod spec;
pub mod target;
mod target_set;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::event::{Command, Event, EventKind};
use crate::source::{Capabilities, Capability, Source, SourceHandle};

use self::control::Engine;
pub use self::ctx::{Ctx, Emitter, EngineOptions, FD_RESERVE};
use self::dns::Dns;
pub use self::reload::ReloadPolicy;
pub use self::target_set::{
    Discovery, FixedSources, Sources, SourcesError, TargetSet, TargetsFuture,
};

/// What the caller holds: commands in, events out (the engine is one [`Source`]).
pub type EngineHandle = SourceHandle;

/// The engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The resolver could not be set up (no usable /etc/resolv.conf, bad `--dns-server`).
    #[error("DNS resolver: {0}")]
    Resolver(#[from] dns::ResolverError),
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

/// Commands the engine's command loop holds before senders must wait (or, with `try_send`,
/// hear "full"). The loop takes each command in microseconds (reading sources happens off the
/// loop), so the queue fills only when a sender floods it; bounding it bounds memory then.
/// Front ends apply their own policy when it is full: headless stops reading stdin until there
/// is room (the writer of commands is slowed, nothing is dropped, and events keep flowing),
/// the TUI refuses the key with a message.
pub const COMMAND_QUEUE: usize = 1024;

type Spawned = (mpsc::Sender<Command>, mpsc::Receiver<Event>, JoinHandle<()>);

fn spawn(
    opts: EngineOptions,
    initial: TargetSet,
    sources: Arc<dyn Sources>,
) -> Result<Spawned, StartError> {
    if opts.raise_fd_limit {
        fds::raise_soft_limit();
    }
    let dns = Dns::new(opts.dns_server)?;
    let (tx, events) = mpsc::channel(opts.channel_capacity.max(16));
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
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
        ctx.emit.emit(None, EventKind::notice(n));
    }
    let mut engine = Engine::new(ctx, paused_tx, sources);
    let done = tokio::spawn(async move {
        engine.apply(initial.targets, ReloadPolicy::Keep, false);
        engine.run(cmd_rx).await;
    });
    Ok((cmd_tx, events, done))
}
