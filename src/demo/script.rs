//! The demo's story: its jobs and hosts, and the script that plays every interesting
//! connection behaviour once per cycle.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::dns_server::DnsServer;
use super::exporter::{Exporter, Mode};
use super::{Beat, Change, DB_BODY_LIMIT, TTL};
use crate::engine::spec::TargetSpec;

/// What the script does at one moment of a cycle (before it is resolved to a [`Change`]).
#[derive(Debug, Clone)]
pub(super) enum Act {
    Mode(&'static str, Mode),
    MoveRing(&'static str),
    DnsSilent(bool),
    Accepting(&'static str, bool),
}

/// A job of the fleet: name, port, timing (at speed 1) and its hosts.
pub(super) struct JobPlan {
    pub(super) job: &'static str,
    pub(super) port: u16,
    pub(super) interval_s: f64,
    pub(super) timeout_s: f64,
    pub(super) body_size_limit: u64,
    pub(super) metric: &'static str,
    /// Host name, last octet of its address, sample lines, idle close (seconds at speed 1).
    pub(super) hosts: &'static [(&'static str, u8, usize, Option<f64>)],
}

pub(super) const JOBS: &[JobPlan] = &[
    JobPlan {
        job: "node",
        port: 9100,
        interval_s: 3.0,
        timeout_s: 2.0,
        body_size_limit: 0,
        metric: "node",
        hosts: &[
            ("node-1", 2, 700, None),
            ("node-2", 3, 820, None),
            ("node-3", 4, 760, None),
            ("node-4", 5, 910, None),
            ("node-5", 6, 640, None),
            ("node-6", 7, 1020, None),
            ("node-7", 8, 880, None),
            ("node-8", 9, 730, None),
        ],
    },
    JobPlan {
        job: "api",
        port: 8080,
        interval_s: 2.0,
        timeout_s: 1.5,
        body_size_limit: 0,
        metric: "http",
        hosts: &[
            ("api-1", 10, 240, None),
            ("api-2", 11, 260, None),
            ("api-3", 12, 220, None),
            ("api-4", 13, 250, None),
        ],
    },
    JobPlan {
        job: "web",
        port: 8000,
        interval_s: 5.0,
        timeout_s: 4.0,
        body_size_limit: 0,
        metric: "nginx",
        hosts: &[("web-1", 16, 120, Some(3.0)), ("web-2", 17, 130, None)],
    },
    JobPlan {
        job: "db",
        port: 9187,
        interval_s: 4.0,
        timeout_s: 3.0,
        body_size_limit: DB_BODY_LIMIT,
        metric: "pg",
        hosts: &[
            ("pg-1", 18, 420, None),
            ("pg-2", 19, 530, None),
            ("pg-3", 20, 610, None),
            // ~115 KB: over the job's 64 KiB body_size_limit.
            ("pg-4", 21, 2500, None),
        ],
    },
    JobPlan {
        job: "cache",
        port: 9121,
        interval_s: 2.0,
        timeout_s: 1.5,
        body_size_limit: 0,
        metric: "redis",
        hosts: &[
            ("redis-1", 22, 180, None),
            ("redis-2", 23, 190, None),
            ("redis-3", 24, 170, None),
        ],
    },
    JobPlan {
        job: "blackbox",
        port: 9115,
        interval_s: 5.0,
        timeout_s: 4.0,
        body_size_limit: 0,
        metric: "probe",
        hosts: &[("blackbox", 25, 30, None)],
    },
];

/// Sites the blackbox job probes, all through the one exporter at `blackbox:9115`.
pub(super) const PROBED: &[&str] = &[
    "www", "shop", "docs", "status", "login", "cdn", "mail", "api", "blog", "search", "pay", "git",
    "wiki", "chat", "news", "maps", "id", "static", "video",
];

/// The addresses `api-2` moves between, one step per cycle; the spare ones run the same
/// exporter (the "new host"), so following the move works.
pub(super) const API2_RING: [u8; 3] = [11, 14, 15];

/// Host labels of the spare exporters on the ring's other addresses.
pub(super) const SPARES: [(&str, u8); 2] = [("api-2-new-a", 14), ("api-2-new-b", 15)];

/// The script, in seconds into a cycle at speed 1. Every behaviour happens before 150 s.
pub(super) fn plan(slow_ok: Duration, slow_over: Duration) -> Vec<(f64, Act)> {
    vec![
        (0.0, Act::Mode("node-5", Mode::Slow(slow_ok))),
        (10.0, Act::Mode("redis-3", Mode::ResetReused)),
        (15.0, Act::Mode("node-5", Mode::Slow(slow_over))),
        (20.0, Act::MoveRing("api-2")),
        (24.0, Act::Mode("node-5", Mode::Slow(slow_ok))),
        (25.0, Act::Mode("api-3", Mode::Status(503))),
        (40.0, Act::Mode("redis-3", Mode::ResetAll)),
        (45.0, Act::Mode("api-3", Mode::Ok)),
        (45.0, Act::DnsSilent(true)),
        (50.0, Act::Mode("redis-3", Mode::Ok)),
        (70.0, Act::DnsSilent(false)),
        (80.0, Act::Accepting("node-3", false)),
        (95.0, Act::Mode("node-5", Mode::Slow(slow_over))),
        (104.0, Act::Mode("node-5", Mode::Slow(slow_ok))),
        (120.0, Act::Mode("api-3", Mode::Status(503))),
        (135.0, Act::Mode("api-3", Mode::Ok)),
        (140.0, Act::Accepting("node-3", true)),
    ]
}

pub(super) fn loopback(octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, octet))
}

pub(super) fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Everything the demo owns that listens: the DNS server and the exporters by host label.
pub(super) struct Fleet {
    pub(super) dns: DnsServer,
    pub(super) exporters: BTreeMap<String, Exporter>,
}

impl Fleet {
    fn exporter(&self, host: &str) -> Option<&Exporter> {
        self.exporters.get(host)
    }
}

/// Add the `job` and `instance` labels a scrape configuration would end with.
pub(super) fn labelled(mut t: TargetSpec) -> TargetSpec {
    t.labels.insert("job".to_owned(), t.job.name.to_string());
    t.labels.insert("instance".to_owned(), t.instance.clone());
    t
}

/// Play the script cycle after cycle until aborted.
pub(super) async fn run_script(
    fleet: Arc<Fleet>,
    steps: Vec<(Duration, Act)>,
    cycle_len: Duration,
    beats: broadcast::Sender<Beat>,
) {
    let start = tokio::time::Instant::now();
    let mut ring_pos: BTreeMap<&'static str, usize> = BTreeMap::new();
    for cycle in 0u64.. {
        let cycle_start = start + cycle_len.mul_f64(cycle as f64);
        for (at, act) in &steps {
            tokio::time::sleep_until(cycle_start + *at).await;
            let change = match act {
                Act::Mode(host, mode) => {
                    if let Some(e) = fleet.exporter(host) {
                        e.set_mode(mode.clone());
                    }
                    Change::Mode {
                        host: (*host).to_owned(),
                        mode: mode.clone(),
                    }
                }
                Act::MoveRing(host) => {
                    let pos = ring_pos.entry(host).or_insert(0);
                    let from = loopback(API2_RING[*pos % API2_RING.len()]);
                    *pos += 1;
                    let to = loopback(API2_RING[*pos % API2_RING.len()]);
                    if let Err(e) = fleet.dns.set_addrs(host, &[to], TTL).await {
                        tracing::warn!(host, error = %e, "demo: moving a name failed");
                    }
                    Change::Moved {
                        host: (*host).to_owned(),
                        from,
                        to,
                    }
                }
                Act::DnsSilent(on) => {
                    fleet.dns.set_silent(*on);
                    Change::DnsSilent(*on)
                }
                Act::Accepting(host, on) => {
                    if let Some(e) = fleet.exporter(host)
                        && let Err(err) = e.set_accepting(*on).await
                    {
                        tracing::warn!(host, error = %err, "demo: changing accept failed");
                    }
                    Change::Accepting {
                        host: (*host).to_owned(),
                        on: *on,
                    }
                }
            };
            tracing::info!(cycle, "demo: {change}");
            let _ = beats.send(Beat {
                cycle,
                at: start.elapsed(),
                change,
            });
        }
        // Sleep out the rest of the cycle before starting over.
        tokio::time::sleep_until(cycle_start + cycle_len).await;
    }
}
