//! What the engine scrapes and where it comes from: a target set, and the sources a reload
//! reads again (with service-discovery lookups through the engine's resolver).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{ConfigError, LookupError};
use crate::event::{DnsCause, EventKind};

use super::ctx::Ctx;
use super::dns;
use super::spec::TargetSpec;

/// A fresh set of targets from the sources, with what to tell the operator about them.
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    /// The complete list of targets to scrape.
    pub targets: Vec<TargetSpec>,
    /// Notices (ignored sections, failed discovery lookups), emitted as `notice` events.
    pub notices: Vec<String>,
}

/// A future that yields a fresh target set (the reload of the current sources, or a file to
/// load).
pub type TargetsFuture = Pin<Box<dyn Future<Output = Result<TargetSet, SourcesError>> + Send>>;

/// Why a read of the sources gave no target set; the running targets then stay as they were.
/// `Display` is the user-facing message of the `reload` event's `error` (after
/// `"reload failed, running configuration kept: "`), naming file, line and value with secrets
/// redacted (a [`ConfigError`] redacts its own).
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// A file or flag that cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `load` when targets were given as fixed arguments (nothing to add a file to).
    #[error("{path}: loading target lists needs a target source")]
    CannotLoad {
        /// The file asked for.
        path: String,
    },
    /// Targets read from a running Prometheus's API: its failure, in the attach reader's words.
    #[error("{0}")]
    Prometheus(String),
    /// The thread reading the sources ended without an answer.
    #[error("reading the sources stopped")]
    Stopped,
}

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
        Box::pin(async move { Err(SourcesError::CannotLoad { path }) })
    }
}

/// Service-discovery lookups through the engine's resolver, reported as DNS events with cause
/// `discovery` (so they show in the event log like every other lookup).
#[derive(Clone)]
pub struct Discovery(pub(super) Arc<Ctx>);

impl crate::config::SdResolver for Discovery {
    async fn lookup_ip(&self, name: &str) -> Result<Vec<std::net::IpAddr>, LookupError> {
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
                Err(e.into())
            }
        }
    }

    async fn lookup_srv(&self, name: &str) -> Result<Vec<(String, u16)>, LookupError> {
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
        res.map_err(LookupError::from)
    }
}
