//! Shared test harness: start the engine against real loopback servers and await its events.
#![allow(dead_code, unused_macros)]

pub mod lines;

use std::sync::Arc;
use std::time::Duration;

use scrapetop::engine::spec::{JobSettings, TargetSpec};
use scrapetop::engine::{self, EngineHandle, EngineOptions, FixedSources, TargetSet};
use scrapetop::event::{Command, Event, EventKind};

/// A running engine and everything it has said so far.
pub struct Run {
    pub handle: EngineHandle,
    pub seen: Vec<Event>,
}

pub fn job(name: &str, interval_ms: u64, timeout_ms: u64) -> Arc<JobSettings> {
    let mut j = JobSettings::new(name);
    j.interval = Duration::from_millis(interval_ms);
    j.timeout = Duration::from_millis(timeout_ms);
    Arc::new(j)
}

pub fn target(s: &str, job: &Arc<JobSettings>) -> TargetSpec {
    TargetSpec::parse(s, job.clone()).expect("valid target")
}

pub fn start(opts: EngineOptions, targets: Vec<TargetSpec>) -> Run {
    let sources = Arc::new(FixedSources(targets.clone()));
    let set = TargetSet {
        targets,
        notices: Vec::new(),
    };
    let handle = engine::start(opts, set, sources).expect("engine starts");
    Run {
        handle,
        seen: Vec::new(),
    }
}

impl Run {
    pub fn send(&self, c: Command) {
        self.handle
            .commands
            .try_send(c)
            .expect("engine alive, queue not full");
    }

    /// Wait until an event matching `pred` arrives (events seen before this call count too
    /// only if `from` is earlier than their index). Panics with the recent events on timeout.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.handle.events.recv()).await {
                Ok(Some(ev)) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Ok(None) => panic!("engine ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {within:?} waiting for {what}; last events:\n{}",
                    self.recent(30)
                ),
            }
        }
    }

    /// Wait for `n` matching events.
    pub async fn wait_n(
        &mut self,
        what: &str,
        n: usize,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            got.push(self.wait_for(what, left, &pred).await);
        }
        got
    }

    /// Collect everything for `d` (for asserting that something did NOT happen).
    pub async fn drain_for(&mut self, d: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.handle.events.recv()).await
        {
            self.seen.push(ev.clone());
            got.push(ev);
        }
        got
    }

    pub fn recent(&self, n: usize) -> String {
        self.seen
            .iter()
            .rev()
            .take(n)
            .rev()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub async fn quit(self) {
        let _ = self.handle.commands.send(Command::Quit).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.handle.done).await;
    }
}

pub fn is_scrape(ev: &Event) -> bool {
    matches!(
        ev.kind,
        EventKind::Scrape(scrapetop::event::ScrapeResult { .. })
    )
}

pub fn scrape_up(ev: &Event) -> bool {
    matches!(
        ev.kind,
        EventKind::Scrape(scrapetop::event::ScrapeResult { up: true, .. })
    )
}

/// The server counts an accept on its own thread, possibly just after the client saw its
/// connection open: wait (bounded) until it has counted `n`, then insist on exactly `n`.
pub async fn assert_accepts(ex: &scrapetop::exporter::Exporter, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while ex.accepts() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(ex.accepts(), n, "connections accepted by {}", ex.addr());
}

/// `n` exporters on loopback serving `lines` sample lines each.
pub async fn exporters(n: usize, lines: usize) -> Vec<scrapetop::exporter::Exporter> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let cfg = scrapetop::exporter::ExporterConfig {
            lines,
            ..Default::default()
        };
        let bind = "127.0.0.1:0".parse().expect("loopback");
        all.push(
            scrapetop::exporter::Exporter::start(bind, cfg)
                .await
                .expect("exporter starts"),
        );
    }
    all
}

/// `--target ADDR` for each exporter.
pub fn target_args(exporters: &[scrapetop::exporter::Exporter]) -> Vec<String> {
    exporters
        .iter()
        .flat_map(|e| ["--target".to_owned(), e.addr().to_string()])
        .collect()
}

/// A DNS server on loopback serving the zone `test.`.
pub async fn dns_server() -> scrapetop::dnsserver::DnsServer {
    scrapetop::dnsserver::DnsServer::start("127.0.0.1:0".parse().expect("loopback"), "test.")
        .await
        .expect("dns server starts")
}
