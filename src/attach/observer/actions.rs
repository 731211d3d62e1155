//! Commands: probe, re-resolve, reconnect (destroying idle sockets) and reload.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::attach::api;
use crate::attach::diag::SockInfo;
use crate::attach::proc;
use crate::engine::spec::JobSettings;
use crate::event::{Command, DnsCause, EventKind, PoolKey, Selector, TargetId};

use super::probe::ProbeJob;
use super::{Observer, is_idle};

impl Observer {
    /// The jobs of Prometheus's own configuration (`--config.file`, read through
    /// `/proc/PID/root`), for the probes' credentials and TLS. Read at each probe command, as
    /// the file may have changed; when it cannot be read, probes go without, said once.
    async fn job_settings(&mut self) -> HashMap<String, Arc<JobSettings>> {
        let path = proc::config_path(&self.process);
        // Prometheus accepted the file: the most permissive rules (3's) read it.
        match crate::config::check_file(&path, crate::config::Compat::V3).await {
            Ok((jobs, _)) => {
                self.config_unreadable = None;
                jobs.into_iter()
                    .map(|j| (j.settings.name.to_string(), j.settings))
                    .collect()
            }
            Err(e) => {
                let e = format!(
                    "probes go without the jobs' credentials and TLS settings: Prometheus's \
                     configuration {} cannot be read: {e}",
                    path.display()
                );
                if self.config_unreadable.as_deref() != Some(&e) {
                    self.emit(None, EventKind::limitation(e.clone())).await;
                    self.config_unreadable = Some(e);
                }
                HashMap::new()
            }
        }
    }

    /// The client a probe of `t` uses: its job's credentials and TLS when known.
    async fn probe_client(
        &self,
        jobs: &HashMap<String, Arc<JobSettings>>,
        t: &super::Target,
    ) -> api::Client {
        let https = t.url.scheme == crate::event::Scheme::Https;
        let (auth, tls) = match jobs.get(&t.api.scrape_pool) {
            Some(j) => (j.auth.clone(), j.tls.clone()),
            None => Default::default(),
        };
        match api::Client::new(&auth, &tls, https) {
            Ok(c) => c,
            Err(e) => {
                self.emit(
                    Some(&t.tref),
                    EventKind::Error {
                        error: crate::redact::text(&format!(
                            "probe of job {}: its TLS settings cannot be used: {e}",
                            t.api.scrape_pool
                        )),
                    },
                )
                .await;
                api::Client::new(&crate::engine::spec::Auth::None, &Default::default(), https)
                    .unwrap_or_default()
            }
        }
    }

    pub(super) fn selected(&self, sel: &Selector) -> Vec<TargetId> {
        self.targets
            .values()
            .filter(|t| sel.matches(&t.tref))
            .map(|t| t.tref.id)
            .collect()
    }

    pub(super) async fn ack(&self, cmd: &str, targets: usize) {
        self.emit(
            None,
            EventKind::CommandAck {
                cmd: cmd.to_owned(),
                targets: targets as u64,
            },
        )
        .await;
    }

    pub(super) async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Probe(sel) => {
                let ids = self.selected(&sel);
                self.ack("probe", ids.len()).await;
                let jobs = self.job_settings().await;
                for id in ids {
                    let Some(t) = self.targets.get(&id) else {
                        continue;
                    };
                    let client = self.probe_client(&jobs, t).await;
                    let job = ProbeJob {
                        tref: t.tref.clone(),
                        url: t.url.clone(),
                        proxy: t.proxy.clone(),
                        client,
                        timeout: t.timeout,
                        pooled_up: t.api.health == "up",
                        resolver: self.resolver.clone(),
                        tx: self.tx.clone(),
                        failed: self.probe_failed.clone(),
                    };
                    tokio::spawn(job.run());
                }
            }
            Command::ReResolve(sel) => {
                let ids = self.selected(&sel);
                self.ack("re_resolve", ids.len()).await;
                let pools: HashSet<PoolKey> = ids
                    .iter()
                    .filter_map(|id| self.targets.get(id))
                    .map(|t| t.pool.clone())
                    .collect();
                for p in pools {
                    self.resolve_pool(&p, DnsCause::ReResolve).await;
                }
            }
            Command::Reconnect(sel) => {
                let ids = self.selected(&sel);
                self.ack("reconnect", ids.len()).await;
                self.reconnect(&ids).await;
            }
            Command::Reload => self.reload().await,
            Command::Pause | Command::Resume | Command::Load { .. } => {
                self.emit(
                    None,
                    EventKind::Error {
                        error: format!(
                            "{}: not possible on an attached Prometheus (it scrapes by itself)",
                            cmd.name()
                        ),
                    },
                )
                .await;
            }
            Command::Quit => {}
        }
    }

    /// Destroy the selected targets' pooled sockets: Prometheus dials afresh (and resolves
    /// again) at its next scrape.
    pub(super) async fn reconnect(&mut self, ids: &[TargetId]) {
        // A reconnect turns a hidden failure into a visible one: say so first.
        let failed: Vec<String> = {
            let f = self
                .probe_failed
                .lock()
                .map(|f| f.clone())
                .unwrap_or_default();
            ids.iter()
                .filter(|id| f.contains(id))
                .filter_map(|id| self.targets.get(id))
                .map(|t| format!("{}/{}", t.tref.job, t.tref.instance))
                .collect()
        };
        if !failed.is_empty() {
            self.emit(
                None,
                EventKind::notice(format!(
                    "reconnect: the last fresh-connection probe of {} failed; Prometheus's \
                         next dial may fail too and the target go down",
                    failed.join(", ")
                )),
            )
            .await;
        }
        let pools: HashSet<PoolKey> = ids
            .iter()
            .filter_map(|id| self.targets.get(id))
            .map(|t| t.pool.clone())
            .collect();
        let (idle, busy): (Vec<SockInfo>, Vec<SockInfo>) = self
            .conns
            .values()
            .filter(|c| pools.contains(&c.pool))
            .map(|c| c.sock.clone())
            .partition(is_idle);
        // A socket mid-request is destroyed once idle (checked at each scan, at most 3).
        self.pending_destroy
            .extend(busy.into_iter().map(|s| (s.cookie, 0)));
        self.destroy_now(idle).await;
        // Report the closes now rather than at the next scan.
        self.scan().await;
    }

    pub(super) async fn destroy_now(&mut self, socks: Vec<SockInfo>) {
        use crate::attach::diag::DestroyError;
        let mut refused: Option<String> = None;
        let mut fallback_used = 0;
        for s in socks {
            let why = match self.diag.destroy(&s) {
                Ok(()) => {
                    self.forced.insert(s.cookie);
                    continue;
                }
                Err(DestroyError::Gone) => continue,
                Err(e @ (DestroyError::NoPermission | DestroyError::Unsupported)) => e,
                Err(e) => {
                    refused = Some(e.to_string());
                    break;
                }
            };
            // Fall back to a duplicate of Prometheus's descriptor, shut down (ptrace rights).
            let fd = self.owned.get(&s.inode).copied().unwrap_or(-1);
            if fd < 0 {
                refused = Some(format!(
                    "{why}; the fallback (pidfd_getfd + shutdown) needs Prometheus's descriptor \
                     numbers, and /proc/{}/fd cannot be read without root",
                    self.process.pid
                ));
                break;
            }
            match proc::shutdown_socket(self.process.pid, fd, s.inode) {
                Ok(()) => {
                    self.forced.insert(s.cookie);
                    fallback_used += 1;
                    if fallback_used == 1 {
                        self.emit(
                            None,
                            EventKind::notice(format!(
                                "reconnect: {why}; closed through a duplicate of \
                                     Prometheus's descriptor instead (pidfd_getfd + shutdown)"
                            )),
                        )
                        .await;
                    }
                }
                Err(e) => {
                    refused = Some(format!(
                        "{why}; the fallback (pidfd_getfd + shutdown, needs ptrace rights over \
                         PID {}) failed too: {e}",
                        self.process.pid
                    ));
                    break;
                }
            }
        }
        if let Some(e) = refused {
            self.pending_destroy.clear();
            self.emit(
                None,
                EventKind::Error {
                    error: format!("reconnect: {e}"),
                },
            )
            .await;
        }
    }

    /// Destroy the pending sockets that became idle (or waited long enough).
    pub(super) async fn destroy_pending(&mut self) {
        if self.pending_destroy.is_empty() {
            return;
        }
        let mut now = Vec::new();
        let mut keep = Vec::new();
        for (cookie, tries) in std::mem::take(&mut self.pending_destroy) {
            let Some(c) = self.conns.get(&cookie) else {
                continue;
            };
            if is_idle(&c.sock) || tries >= 3 {
                now.push(c.sock.clone());
            } else {
                keep.push((cookie, tries + 1));
            }
        }
        self.pending_destroy = keep;
        self.destroy_now(now).await;
    }

    pub(super) async fn reload(&mut self) {
        if !self.process.flags.lifecycle {
            self.emit(
                None,
                EventKind::Error {
                    error: "reload: Prometheus's lifecycle API is off (started without \
                            --web.enable-lifecycle); POST /-/reload would be refused. Send it \
                            SIGHUP instead."
                        .to_owned(),
                },
            )
            .await;
            return;
        }
        let res = self
            .api
            .call(http::Method::POST, "/-/reload", Duration::from_secs(30))
            .await;
        let error = match res {
            Ok(r) if r.status == 200 => None,
            Ok(r) => Some(format!(
                "Prometheus answered HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).trim()
            )),
            Err(e) => Some(e.to_string()),
        };
        self.ack("reload", 0).await;
        match error {
            None => {
                self.emit(
                    None,
                    EventKind::notice("Prometheus reloaded its configuration"),
                )
                .await;
                self.poll_api().await;
            }
            Some(e) => {
                self.emit(
                    None,
                    EventKind::Error {
                        error: format!("reload: {e}"),
                    },
                )
                .await
            }
        }
    }
}
