//! The API poll: Prometheus's list of active targets becomes targets, pools and scrape events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::attach::api::{self, ApiTarget};
use crate::event::{DnsCause, EventKind, PoolKey, ScrapeResult, TargetId, TargetRef};

use super::{Observer, Target};

impl Observer {
    /// Read `/api/v1/targets`. `Err((refused, message))`: `refused` when the API turned our
    /// credentials or TLS down (401, 403, a failed handshake), which only the operator can fix.
    async fn fetch_targets(&self) -> Result<Vec<ApiTarget>, (bool, String)> {
        let path = format!("{}/api/v1/targets?state=active", self.api.prefix);
        let scheme = if self.api.https { "https" } else { "http" };
        let res = self
            .api
            .call(
                http::Method::GET,
                "/api/v1/targets?state=active",
                Duration::from_secs(10),
            )
            .await;
        match res {
            Ok(r) if r.status == 200 => api::parse_targets(&r.body).map_err(|e| (false, e)),
            Ok(r) if r.status == 401 || r.status == 403 => Err((
                true,
                format!(
                    "Prometheus's API at {scheme}://{}{path} answered HTTP {} ({}): {}",
                    self.api.host,
                    r.status,
                    if r.status == 401 {
                        "Unauthorized"
                    } else {
                        "Forbidden"
                    },
                    if self.api.client.has_auth() {
                        "the credentials of --http.config.file were refused"
                    } else {
                        "it requires credentials; give them with --http.config.file FILE \
                         (basic_auth, authorization, tls_config, as promtool reads it)"
                    }
                ),
            )),
            Ok(r) => Err((
                false,
                format!(
                    "{path}: HTTP {}: {}",
                    r.status,
                    crate::redact::text(&String::from_utf8_lossy(&r.body[..r.body.len().min(200)]))
                ),
            )),
            Err(e @ api::HttpError::Tls(_)) => Err((
                true,
                format!(
                    "reading Prometheus's API at {scheme}://{}: {e} (TLS settings: \
                     --http.config.file tls_config)",
                    self.api.host
                ),
            )),
            Err(e) => Err((
                false,
                format!("reading Prometheus's API at {}: {e}", self.api.addr),
            )),
        }
    }

    /// The first read of the API: refused credentials or TLS end attach with the reason;
    /// anything else (Prometheus restarting, slow) is left to the polls to report. What was
    /// read is kept for the first poll.
    pub(crate) async fn check_api(&mut self) -> Result<(), String> {
        match self.fetch_targets().await {
            Err((true, e)) => Err(e),
            Ok(list) => {
                self.first_read = Some(list);
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    /// Learn the `proxy_url` of jobs not seen yet from the running configuration (read again
    /// only when a new job appears, e.g. after a reload).
    async fn refresh_proxies(&mut self, list: &[ApiTarget]) {
        if list
            .iter()
            .all(|a| self.proxies.contains_key(&a.scrape_pool))
        {
            return;
        }
        let path = format!("{}/api/v1/status/config", self.api.prefix);
        let res = self
            .api
            .call(
                http::Method::GET,
                "/api/v1/status/config",
                Duration::from_secs(10),
            )
            .await;
        let parsed = match res {
            Ok(r) if r.status == 200 => api::parse_config_proxies(&r.body),
            Ok(r) => Err(format!("{path}: HTTP {}", r.status)),
            Err(e) => Err(format!("{path}: {e}")),
        };
        match parsed {
            Ok(jobs) => {
                for (job, proxy) in jobs {
                    let parts = proxy.as_deref().and_then(api::split_url);
                    if proxy.is_some() && parts.is_none() {
                        self.emit(
                            None,
                            EventKind::notice(format!(
                                "job {job}: its proxy_url cannot be read; its targets are \
                                     shown as if scraped directly"
                            )),
                        )
                        .await;
                    }
                    self.proxies.insert(job, parts);
                }
            }
            Err(e) => {
                self.emit(
                    None,
                    EventKind::notice(format!(
                        "proxy_url of the jobs unknown ({e}): targets are shown as if \
                             scraped directly"
                    )),
                )
                .await;
            }
        }
        // Asked once per job, whatever the answer.
        for a in list {
            self.proxies.entry(a.scrape_pool.clone()).or_insert(None);
        }
    }

    pub(super) async fn poll_api(&mut self) {
        let read = match self.first_read.take() {
            Some(list) => Ok(list),
            None => self.fetch_targets().await,
        };
        let list = match read {
            Ok(l) => {
                self.last_api_error = None;
                l
            }
            Err((_, e)) => {
                // Said once per distinct failure, not at every poll.
                if self.last_api_error.as_deref() != Some(&e) {
                    self.emit(None, EventKind::Error { error: e.clone() }).await;
                    self.last_api_error = Some(e);
                }
                return;
            }
        };
        self.refresh_proxies(&list).await;
        self.apply_targets(list).await;
    }

    /// Take the API's list: new targets are added (and their new pools looked up), known ones
    /// report a scrape when it advanced, missing ones are removed.
    pub(super) async fn apply_targets(&mut self, list: Vec<ApiTarget>) {
        let busiest = self.busiest_conns();
        let mut seen = HashSet::new();
        let mut new_pools = Vec::new();
        for a in list {
            // Per pool, as the engine identifies targets (`--prometheus URL` gives the same ids).
            let id = TargetId::in_pool(
                a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &a.scrape_url,
                &a.scrape_pool,
            );
            seen.insert(id);
            if let Some(t) = self.targets.get_mut(&id) {
                let advanced =
                    a.last_scrape != t.api.last_scrape && !a.last_scrape.starts_with("0001-");
                t.api = a;
                if advanced {
                    self.scrape_event(id, &busiest).await;
                }
                continue;
            }
            let Some(url) = api::split_url(&a.scrape_url) else {
                self.emit(
                    None,
                    EventKind::notice(format!(
                        "target with an unreadable scrapeUrl {:?} skipped",
                        a.scrape_url
                    )),
                )
                .await;
                continue;
            };
            let job = a
                .labels
                .get("job")
                .cloned()
                .unwrap_or_else(|| a.scrape_pool.clone());
            let instance = a.labels.get("instance").cloned().unwrap_or_default();
            let tref = Arc::new(TargetRef {
                id,
                job: Arc::from(job.as_str()),
                instance: Arc::from(instance.as_str()),
            });
            // A proxied job's connections lead to its proxy: that is its pool (shared by
            // every target of the job, as Go's transport shares it).
            let proxy = self.proxies.get(&a.scrape_pool).cloned().flatten();
            let via = proxy.as_ref().unwrap_or(&url);
            let pool = PoolKey {
                job: Arc::from(a.scrape_pool.as_str()),
                scheme: via.scheme,
                host: Arc::from(via.host.as_str()),
                port: via.port,
            };
            let dur = |s: &Option<String>, d: u64| {
                s.as_deref()
                    .and_then(|s| crate::config::units::parse_duration(s).ok())
                    .unwrap_or(Duration::from_secs(d))
            };
            let interval = dur(&a.scrape_interval, 60);
            let timeout = dur(&a.scrape_timeout, 10);
            self.emit(
                Some(&tref),
                EventKind::TargetAdded {
                    url: a.scrape_url.clone(),
                    pool: pool.clone(),
                    interval_s: interval.as_secs_f64(),
                    timeout_s: timeout.as_secs_f64(),
                    labels: a.labels.clone(),
                },
            )
            .await;
            let p = self.pools.entry(pool.clone()).or_default();
            if p.targets.is_empty() {
                new_pools.push(pool.clone());
            }
            p.targets.push(id);
            let scraped = !a.last_scrape.is_empty() && !a.last_scrape.starts_with("0001-");
            self.targets.insert(
                id,
                Target {
                    tref,
                    pool,
                    url,
                    proxy,
                    api: a,
                    timeout,
                },
            );
            if scraped {
                self.scrape_event(id, &busiest).await;
            }
        }
        self.remove_unseen(&seen).await;
        for pool in new_pools {
            self.resolve_pool(&pool, DnsCause::Recheck).await;
        }
        self.pools.retain(|_, p| !p.targets.is_empty());
    }

    /// Report the targets the API no longer lists as removed, and drop them from their pools.
    async fn remove_unseen(&mut self, seen: &HashSet<TargetId>) {
        let removed: Vec<TargetId> = self
            .targets
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in removed {
            if let Some(t) = self.targets.remove(&id) {
                if let Some(p) = self.pools.get_mut(&t.pool) {
                    p.targets.retain(|x| *x != id);
                }
                self.emit(Some(&t.tref), EventKind::TargetRemoved {}).await;
            }
        }
    }

    /// Each pool's connection that carried the most requests: the one a scrape went over, as
    /// far as the kernel tells. Built once per poll (10,000 targets × 10,000 connections
    /// otherwise).
    fn busiest_conns(&self) -> HashMap<PoolKey, (u64, u32)> {
        let mut m: HashMap<PoolKey, (u64, u32)> = HashMap::new();
        for c in self.conns.values() {
            let segs = c.sock.tcp.data_segs_out.unwrap_or(0);
            let e = m.entry(c.pool.clone()).or_insert((c.id, segs));
            if segs > e.1 || (segs == e.1 && c.id > e.0) {
                *e = (c.id, segs);
            }
        }
        m
    }

    pub(super) async fn scrape_event(&self, id: TargetId, busiest: &HashMap<PoolKey, (u64, u32)>) {
        let Some(t) = self.targets.get(&id) else {
            return;
        };
        let conn = busiest.get(&t.pool);
        let up = t.api.health == "up";
        self.emit(
            Some(&t.tref),
            EventKind::Scrape(ScrapeResult {
                conn_id: conn.map(|c| c.0),
                reused: conn.is_some_and(|c| c.1 > 1),
                status: None,
                duration_ms: t.api.last_scrape_duration * 1000.0,
                bytes: 0,
                samples: 0,
                up,
                error: (!t.api.last_error.is_empty()).then(|| t.api.last_error.clone()),
            }),
        )
        .await;
    }
}
