//! The boundary between a source of events and what shows them.
//!
//! A source emits [`Event`]s and takes [`Command`]s. The engine is one source (it scrapes by
//! itself and can do everything); an observer of a running Prometheus will be another, which
//! can watch but not, say, re-dial Prometheus's connections. The model, the TUI and the
//! headless output know only this boundary: the contract and the [`Capabilities`] a source
//! declares, so a command the source cannot honour is refused with a message naming the
//! capability instead of being sent and silently ignored.

use std::fmt;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::event::{Command, Event};

/// Something a source can do on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Close a target's connections so the next scrape dials afresh (`reconnect`).
    Reconnect,
    /// Look a target's name up now (`re_resolve`).
    ReResolve,
    /// Try a fresh connection beside the pooled one (`probe`).
    Probe,
    /// Re-read the target sources (`reload`).
    Reload,
    /// Add or swap in a target list file (`load`).
    Load,
    /// Stop and resume scraping (`pause`, `resume`).
    Pause,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 6] = [
        Capability::Reconnect,
        Capability::ReResolve,
        Capability::Probe,
        Capability::Reload,
        Capability::Load,
        Capability::Pause,
    ];

    /// The capability's name in messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            Capability::Reconnect => "reconnect",
            Capability::ReResolve => "re_resolve",
            Capability::Probe => "probe",
            Capability::Reload => "reload",
            Capability::Load => "load",
            Capability::Pause => "pause",
        }
    }

    /// What a command needs (`quit` needs nothing: every source can stop).
    pub fn needed_by(cmd: &Command) -> Option<Capability> {
        match cmd {
            Command::Reconnect(_) => Some(Capability::Reconnect),
            Command::ReResolve(_) => Some(Capability::ReResolve),
            Command::Probe(_) => Some(Capability::Probe),
            Command::Reload => Some(Capability::Reload),
            Command::Load { .. } => Some(Capability::Load),
            Command::Pause | Command::Resume => Some(Capability::Pause),
            Command::Quit => None,
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of capabilities a source declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities(u8);

impl Default for Capabilities {
    /// Everything: what the engine can do.
    fn default() -> Self {
        Capabilities::all()
    }
}

impl Capabilities {
    /// Every capability.
    pub const fn all() -> Self {
        Capabilities(0b11_1111)
    }

    /// No capability: a source that can only be watched.
    pub const fn none() -> Self {
        Capabilities(0)
    }

    /// These and `c`.
    pub const fn with(self, c: Capability) -> Self {
        Capabilities(self.0 | c.bit())
    }

    /// These without `c`.
    pub const fn without(self, c: Capability) -> Self {
        Capabilities(self.0 & !c.bit())
    }

    /// Whether `c` is declared.
    pub const fn has(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }

    /// Whether the source can carry out `cmd`; the refusal names the capability.
    pub fn check(self, cmd: &Command) -> Result<(), Unsupported> {
        match Capability::needed_by(cmd) {
            Some(c) if !self.has(c) => Err(Unsupported {
                cmd: cmd.name(),
                capability: c,
            }),
            _ => Ok(()),
        }
    }
}

/// A command refused because the source lacks a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{cmd}: this source cannot do that (it lacks the {capability} capability)")]
pub struct Unsupported {
    /// The command's name.
    pub cmd: &'static str,
    /// What it needs.
    pub capability: Capability,
}

/// A running source: events out, commands in, and what it can do.
pub struct SourceHandle {
    /// Send commands here (check them against `capabilities` first). Bounded at
    /// [`crate::engine::COMMAND_QUEUE`]: a sender that must not wait uses `try_send` and
    /// decides what a full queue means for it.
    pub commands: mpsc::Sender<Command>,
    /// Events arrive here.
    pub events: mpsc::Receiver<Event>,
    /// Resolves when the source has shut down.
    pub done: JoinHandle<()>,
    /// What the source can do.
    pub capabilities: Capabilities,
}

/// Something that, started on the current tokio runtime, becomes a running source.
pub trait Source {
    /// Why it could not start.
    type Error: std::error::Error + Send + Sync + 'static;

    /// What the source will be able to do, known before it starts.
    fn capabilities(&self) -> Capabilities;

    /// Start it.
    fn start(self) -> Result<SourceHandle, Self::Error>;
}

/// Why a source could not start on a thread of its own.
#[derive(Debug, thiserror::Error)]
pub enum OwnThreadError<E: std::error::Error + 'static> {
    /// Its runtime or its thread could not be made.
    #[error("cannot start the source's thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The source refused to start.
    #[error(transparent)]
    Source(E),
}

/// Start `source` on a thread of its own, driving a single-threaded runtime: its tasks never
/// migrate between threads, so a wake-up (a timer, a socket) costs no futex hand-off between
/// workers (measured: 10 % of the engine's CPU per scrape at 2,000 targets), and what the front
/// end does (a frame, a burst of JSON) never delays a scrape. Must be called inside a tokio
/// runtime: the returned `done` resolves on the caller's, once the source has stopped and its
/// thread has ended. The source's runtime is shut down with it (tasks left are dropped;
/// blocking work gets 200 ms).
pub fn start_on_own_thread<S: Source>(
    source: S,
    name: &str,
) -> Result<SourceHandle, OwnThreadError<S::Error>> {
    // The thread first: it is handed the runtime once the source has started. A runtime must
    // not be dropped inside the caller's (async) context, so every way out below that keeps
    // it shuts it down in the background instead.
    type Started = (tokio::runtime::Runtime, JoinHandle<()>);
    let (start_tx, start_rx) = std::sync::mpsc::channel::<Started>();
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // Nothing arrives when the source refused to start.
            if let Ok((rt, done)) = start_rx.recv() {
                let _ = rt.block_on(done);
                rt.shutdown_timeout(std::time::Duration::from_millis(200));
                let _ = ended_tx.send(());
            }
        })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = {
        let _in = rt.enter();
        source.start()
    };
    let SourceHandle {
        commands,
        events,
        done,
        capabilities,
    } = match started {
        Ok(h) => h,
        Err(e) => {
            rt.shutdown_background();
            return Err(OwnThreadError::Source(e));
        }
    };
    if let Err(std::sync::mpsc::SendError((rt, _))) = start_tx.send((rt, done)) {
        rt.shutdown_background();
        return Err(std::io::Error::other("the source's thread ended before it started").into());
    }
    // Resolves when the thread says so, or when it is gone without saying (a panic).
    let done = tokio::spawn(async move {
        let _ = ended_rx.await;
    });
    Ok(SourceHandle {
        commands,
        events,
        done,
        capabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Selector;

    #[test]
    fn a_command_needs_its_capability_and_the_refusal_names_it() {
        let watch_only = Capabilities::none().with(Capability::Reload);
        assert!(watch_only.check(&Command::Reload).is_ok());
        assert!(
            watch_only.check(&Command::Quit).is_ok(),
            "quit always works"
        );
        let e = watch_only
            .check(&Command::Reconnect(Selector::all()))
            .expect_err("refused");
        assert_eq!(e.capability, Capability::Reconnect);
        assert!(e.to_string().contains("reconnect capability"), "{e}");
        for c in Capability::ALL {
            assert!(Capabilities::all().has(c));
            assert!(!Capabilities::all().without(c).has(c));
            assert!(!Capabilities::none().has(c));
        }
    }
}
