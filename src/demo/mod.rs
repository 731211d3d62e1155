//! The built-in demo: a fleet of exporter-like targets on loopback addresses, an authoritative
//! DNS server for their names, and a script that makes every interesting connection behaviour
//! happen, so `scrapetop` with no arguments has something true to show.
//!
//! Everything runs inside this process and binds only to 127.0.0.0/8. Time is scaled by
//! [`DemoOptions::speed`]: intervals, timeouts, the proxy's idle close and the script shrink
//! together with the engine's probe and DNS recheck spacing, so tests can run the whole story
//! in seconds.
//!
//! ```text
//! job       targets (name.demo.test:port)        addresses        behaviour
//! node      node-1..8:9100                       127.0.0.2..9     node-3 refuses new conns, node-5 slow
//! api       api-1..4:8080                        127.0.0.10..13   api-2 moves (.11 → .14 → .15), api-3 503
//! web       web-1..2:8000                        127.0.0.16..17   web-1 behind a proxy closing idle conns
//! db        pg-1..4:9187 (body_size_limit 64k)   127.0.0.18..21   pg-4's body is over the limit
//! cache     redis-1..3:9121                      127.0.0.22..24   redis-3 resets connections
//! blackbox  19 × blackbox:9115/probe?target=…    127.0.0.25       one pool, many targets
//! ```

pub mod dns_server;
pub mod exporter;
mod script;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use self::dns_server::DnsServer;
use self::exporter::{Exporter, ExporterConfig, Mode};
use self::script::*;
use crate::engine::EngineOptions;
use crate::engine::spec::{JobSettings, TargetSpec};

/// The zone the demo's names live in.
pub const ZONE: &str = "demo.test.";

/// TTL of every demo record, seconds: short, so a moved name is noticed soon.
pub const TTL: u32 = 5;

/// How long one run of the script lasts at speed 1, seconds; then it starts over.
pub const CYCLE_S: f64 = 180.0;

/// How often every target is probed on a fresh connection at speed 1, seconds.
pub const PROBE_EVERY_S: f64 = 20.0;

/// The background DNS recheck's spacing at speed 1, seconds (the engine's default).
pub const RECHECK_MIN_S: f64 = 30.0;

/// Body size limit of the `db` job, bytes.
pub const DB_BODY_LIMIT: u64 = 64 * 1024;

/// Settings of a demo run.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Time compression: 1.0 is real time; 10.0 runs intervals, timeouts and the script ten
    /// times faster. Clamped to 0.1..=20.
    pub speed: f64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { speed: 1.0 }
    }
}

/// One change the script makes to the fleet.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An exporter now answers this way.
    Mode {
        /// The host whose exporter changed (e.g. `api-3`).
        host: String,
        /// How it answers from now on.
        mode: Mode,
    },
    /// A name's address record now points elsewhere.
    Moved {
        /// The name (e.g. `api-2`).
        host: String,
        /// The address it had.
        from: IpAddr,
        /// The address it has now.
        to: IpAddr,
    },
    /// The DNS server stops answering (`true`) or answers again (`false`).
    DnsSilent(bool),
    /// An exporter refuses new connections (`false`) or accepts them again (`true`);
    /// established connections go on either way.
    Accepting {
        /// The host.
        host: String,
        /// Whether new connections are accepted.
        on: bool,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Mode { host, mode } => match mode {
                Mode::Ok => write!(f, "{host} answers normally again"),
                Mode::Slow(d) => write!(f, "{host} answers after {}", fmt_secs(*d)),
                Mode::Status(s) => write!(f, "{host} answers HTTP {s}"),
                Mode::ConnectionClose => write!(f, "{host} answers with Connection: close"),
                Mode::ResetReused => write!(f, "{host} resets reused connections"),
                Mode::ResetAll => write!(f, "{host} resets every connection"),
            },
            Change::Moved { host, from, to } => {
                write!(f, "{host}.demo.test moved from {from} to {to}")
            }
            Change::DnsSilent(true) => f.write_str("the DNS server stopped answering"),
            Change::DnsSilent(false) => f.write_str("the DNS server answers again"),
            Change::Accepting { host, on: false } => {
                write!(f, "{host} refuses new connections (established ones go on)")
            }
            Change::Accepting { host, on: true } => {
                write!(f, "{host} accepts new connections again")
            }
        }
    }
}

/// A change the script made, as told to subscribers (the TUI header, tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    /// Which run of the script (0 first).
    pub cycle: u64,
    /// Real time since the demo started.
    pub at: Duration,
    /// What changed.
    pub change: Change,
}

/// A running demo: the fleet, its DNS server and the script.
pub struct Demo {
    speed: f64,
    fleet: Arc<Fleet>,
    targets: Vec<TargetSpec>,
    dns_addr: SocketAddr,
    listeners: Vec<SocketAddr>,
    beats: broadcast::Sender<Beat>,
    script: JoinHandle<()>,
}

impl fmt::Debug for Demo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demo")
            .field("speed", &self.speed)
            .field("dns", &self.dns_addr)
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

/// Start the exporters of one job on their addresses, all on one port: the preferred one if
/// free everywhere, otherwise one the kernel picks for the first address.
async fn start_job_exporters(
    port: u16,
    hosts: &[(String, IpAddr, ExporterConfig)],
) -> anyhow::Result<Vec<(String, Exporter)>> {
    let mut last_err = None;
    for attempt in 0..8 {
        let mut port = if attempt == 0 { port } else { 0 };
        let mut started = Vec::with_capacity(hosts.len());
        let mut failed = false;
        for (label, ip, cfg) in hosts {
            match Exporter::start(SocketAddr::new(*ip, port), cfg.clone()).await {
                Ok(e) => {
                    port = e.addr().port();
                    started.push((label.clone(), e));
                }
                Err(e) => {
                    last_err = Some(
                        anyhow::Error::new(e)
                            .context(format!("starting the demo exporter {label} on {ip}:{port}")),
                    );
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            return Ok(started);
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("starting the demo exporters")))
}

/// A job's targets, their names added to the demo DNS server. Blackbox hosts get one target
/// per probed site, as the usual relabelling gives.
async fn job_targets(
    plan: &JobPlan,
    job: &Arc<JobSettings>,
    port: u16,
    dns: &DnsServer,
) -> anyhow::Result<Vec<TargetSpec>> {
    let mut targets = Vec::new();
    for (host, octet, _, _) in plan.hosts {
        dns.set_addrs(host, &[loopback(*octet)], TTL)
            .await
            .context("adding a demo DNS record")?;
        if plan.job == "blackbox" {
            for site in PROBED {
                let probed = format!("{site}.example.org");
                let url =
                    format!("http://{host}.demo.test:{port}/probe?target={probed}&module=http_2xx");
                let mut t = TargetSpec::parse(&url, job.clone()).map_err(anyhow::Error::msg)?;
                // As the usual relabelling does: the probed site is the instance.
                t.instance = probed;
                t.labels.insert("module".to_owned(), "http_2xx".to_owned());
                targets.push(labelled(t));
            }
        } else {
            let url = format!("http://{host}.demo.test:{port}/metrics");
            let t = TargetSpec::parse(&url, job.clone()).map_err(anyhow::Error::msg)?;
            targets.push(labelled(t));
        }
    }
    Ok(targets)
}

impl Demo {
    /// Start the fleet, the DNS server and the script on the current tokio runtime.
    pub async fn start(opts: DemoOptions) -> anyhow::Result<Demo> {
        let speed = if opts.speed.is_finite() {
            opts.speed.clamp(0.1, 20.0)
        } else {
            1.0
        };
        let scale = |s: f64| Duration::from_secs_f64(s / speed);
        let dns = DnsServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), ZONE)
            .await
            .context("starting the demo DNS server")?;
        let dns_addr = dns.addr();

        let mut exporters = BTreeMap::new();
        let mut targets = Vec::new();
        let mut listeners = vec![dns_addr];
        let mut slow = (Duration::ZERO, Duration::ZERO);
        for plan in JOBS {
            let mut hosts: Vec<(String, IpAddr, ExporterConfig)> = plan
                .hosts
                .iter()
                .map(|(host, octet, lines, idle)| {
                    let cfg = ExporterConfig {
                        lines: *lines,
                        idle_close: idle.map(scale),
                        name: plan.metric.to_owned(),
                        tls: None,
                    };
                    ((*host).to_owned(), loopback(*octet), cfg)
                })
                .collect();
            if plan.job == "api" {
                for (label, octet) in SPARES {
                    let cfg = ExporterConfig {
                        lines: 260,
                        idle_close: None,
                        name: plan.metric.to_owned(),
                        tls: None,
                    };
                    hosts.push((label.to_owned(), loopback(octet), cfg));
                }
            }
            let started = start_job_exporters(plan.port, &hosts).await?;
            let port = started.first().map_or(plan.port, |(_, e)| e.addr().port());
            for (label, e) in started {
                listeners.push(e.addr());
                exporters.insert(label, e);
            }

            let mut job = JobSettings::new(plan.job);
            job.interval = scale(plan.interval_s);
            job.timeout = scale(plan.timeout_s);
            job.body_size_limit = plan.body_size_limit;
            if plan.job == "node" {
                // node-5 is slow: just under its timeout usually, over it now and then.
                slow = (job.timeout.mul_f64(0.5), job.timeout.mul_f64(1.5));
            }
            let job = Arc::new(job);
            targets.extend(job_targets(plan, &job, port, &dns).await?);
        }

        let fleet = Arc::new(Fleet { dns, exporters });
        let (beats, _) = broadcast::channel(64);
        let steps: Vec<(Duration, Act)> = plan(slow.0, slow.1)
            .into_iter()
            .map(|(s, a)| (scale(s), a))
            .collect();
        let script = tokio::spawn(run_script(
            fleet.clone(),
            steps,
            scale(CYCLE_S),
            beats.clone(),
        ));
        tracing::info!(
            speed,
            dns = %dns_addr,
            targets = targets.len(),
            "demo fleet started"
        );
        Ok(Demo {
            speed,
            fleet,
            targets,
            dns_addr,
            listeners,
            beats,
            script,
        })
    }

    /// The fleet's targets (40, in six jobs), with names under `demo.test.` that only the
    /// demo's DNS server resolves.
    pub fn targets(&self) -> Vec<TargetSpec> {
        self.targets.clone()
    }

    /// `base` with what the demo needs: its DNS server, the background DNS recheck (at most
    /// every 30 s) and probes every 20 s, both scaled by speed, so hidden problems surface by
    /// themselves.
    pub fn engine_options(&self, base: EngineOptions) -> EngineOptions {
        EngineOptions {
            dns_server: Some(self.dns_addr),
            recheck_dns: true,
            recheck_min: self.scaled(RECHECK_MIN_S),
            probe_every: Some(self.scaled(PROBE_EVERY_S)),
            ..base
        }
    }

    /// "What to try" lines for the help screen, with the script's times at this speed.
    pub fn hints(&self) -> Vec<String> {
        let t = |s: f64| fmt_secs(self.scaled(s));
        let api_port = self.port_of("api");
        vec![
            format!(
                "This is the built-in demo: {} targets on 127.0.0.x, names served by a DNS server on {}. The script repeats every {}.",
                self.targets.len(),
                self.dns_addr,
                t(CYCLE_S)
            ),
            format!(
                "At {} api-2.demo.test moves to another address; its connection stays on the old one. The background DNS recheck marks it stale within {}: press d on api-2.demo.test:{api_port} to see it, then r to reconnect and follow the move.",
                t(20.0),
                t(RECHECK_MIN_S)
            ),
            format!(
                "From {} node-3 refuses new connections but its established one goes on: it stays up. A probe (p, or the periodic one every {}) reveals it.",
                t(80.0),
                t(PROBE_EVERY_S)
            ),
            format!(
                "From {} to {} the DNS server is silent: scraping goes on over open connections; d and p show the failure, and web-1 (which reconnects every scrape) goes down.",
                t(45.0),
                t(70.0)
            ),
            format!(
                "web-1 sits behind a proxy that closes idle connections after {}: watch it reconnect on every scrape (conn_closed peer_closed).",
                t(3.0)
            ),
            format!(
                "api-3 answers 503 from {} to {}: the target is down but its connection is kept, as Prometheus does.",
                t(25.0),
                t(45.0)
            ),
            format!(
                "node-5 is slow and crosses its timeout from {} and {}: each timeout closes the connection and the next scrape dials again.",
                t(15.0),
                t(95.0)
            ),
            format!(
                "redis-3 resets reused connections from {} (the scrape is retried on a fresh one) and every connection from {}.",
                t(10.0),
                t(40.0)
            ),
            format!(
                "pg-4's page is larger than the db job's body_size_limit ({} KiB): down, connection kept.",
                DB_BODY_LIMIT / 1024
            ),
            format!(
                "blackbox: {} targets share one exporter at blackbox.demo.test, hence one pool and a few connections; r on one of them reconnects them all.",
                PROBED.len()
            ),
        ]
    }

    /// Follow the script: every change it makes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Beat> {
        self.beats.subscribe()
    }

    /// The demo DNS server's address (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    /// Every address the demo listens on (the DNS server first, then the exporters).
    pub fn listeners(&self) -> Vec<SocketAddr> {
        self.listeners.clone()
    }

    /// The time compression in effect.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64(secs / self.speed)
    }

    fn port_of(&self, job: &str) -> u16 {
        self.targets
            .iter()
            .find(|t| &*t.job.name == job)
            .map_or(0, |t| t.port)
    }

    /// Stop the script, the exporters and the DNS server; returns once no demo listener is
    /// left (bounded: after 5 s it gives up and logs what still listens).
    pub async fn stop(self) {
        let Demo {
            fleet,
            listeners,
            beats,
            script,
            ..
        } = self;
        script.abort();
        let _ = script.await;
        drop(beats);
        match Arc::try_unwrap(fleet) {
            Ok(Fleet { dns, exporters }) => {
                drop(exporters);
                dns.stop().await;
            }
            Err(fleet) => drop(fleet),
        }
        // Aborted server tasks release their sockets when the runtime drops them; wait until
        // every address can be bound again, which proves nothing listens on it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut left: Vec<SocketAddr> = listeners;
        loop {
            left.retain(|a| std::net::TcpListener::bind(a).is_err());
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(?left, "demo listeners still bound after stop");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_has_about_forty_targets_on_distinct_addresses() {
        let n: usize = JOBS
            .iter()
            .map(|j| {
                if j.job == "blackbox" {
                    PROBED.len()
                } else {
                    j.hosts.len()
                }
            })
            .sum();
        assert_eq!(n, 40);
        let mut octets: Vec<u8> = JOBS
            .iter()
            .flat_map(|j| j.hosts.iter().map(|h| h.1))
            .chain(SPARES.iter().map(|s| s.1))
            .collect();
        let len = octets.len();
        octets.sort_unstable();
        octets.dedup();
        assert_eq!(octets.len(), len, "two hosts share an address");
        assert!(octets.iter().all(|o| *o >= 2), "127.0.0.1 is left alone");
    }

    #[test]
    fn every_behaviour_happens_within_150_seconds_and_is_undone() {
        let p = plan(Duration::from_secs(1), Duration::from_secs(3));
        assert!(p.windows(2).all(|w| w[0].0 <= w[1].0), "steps out of order");
        assert!(p.iter().all(|(s, _)| *s < CYCLE_S));
        for (s, a) in &p {
            if matches!(
                a,
                Act::DnsSilent(true) | Act::Accepting(_, false) | Act::MoveRing(_)
            ) {
                assert!(
                    *s + PROBE_EVERY_S <= 150.0,
                    "{a:?} at {s} s surfaces too late"
                );
            }
        }
        // Whatever a cycle breaks it repairs before the next one starts.
        let last =
            |f: &dyn Fn(&Act) -> bool| p.iter().rev().find(|(_, a)| f(a)).map(|x| x.1.clone());
        assert!(matches!(
            last(&|a| matches!(a, Act::DnsSilent(_))),
            Some(Act::DnsSilent(false))
        ));
        assert!(matches!(
            last(&|a| matches!(a, Act::Accepting(..))),
            Some(Act::Accepting(_, true))
        ));
        for host in ["api-3", "redis-3"] {
            assert!(
                matches!(
                    last(&|a| matches!(a, Act::Mode(h, _) if *h == host)),
                    Some(Act::Mode(_, Mode::Ok))
                ),
                "{host} left broken"
            );
        }
    }
}
