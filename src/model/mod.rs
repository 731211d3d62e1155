//! Per-target state built from events, with bounded histories.
//!
//! The model is source-agnostic: it knows the event contract, not the engine. The TUI and the
//! headless output both read it; a source observing a real Prometheus feeds the same events.
//! Applying an event costs O(1) (hash lookups and bounded ring buffers); nothing here walks all
//! targets per event.
//!
//! - `target.rs`: one target's state and histories;
//! - `totals.rs`: running totals and per-minute rates (and a recount that checks them);
//! - `conns.rs`: open connections and pools;
//! - `snapshot.rs`: the serializable view (`state`, export).

mod conns;
mod snapshot;
mod target;
mod totals;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use crate::event::{DnsCause, Event, EventKind, Health, TargetId, TargetRef};

pub use self::conns::{OpenConn, PoolRow};
pub use self::snapshot::Snapshot;
pub use self::target::{
    ConnRecord, ConnState, DnsOutcome, DnsRecord, Pending, ProbeRecord, ScrapeRecord, TargetState,
    distinguishing,
};
pub use self::totals::{Rate, Totals};
pub use crate::event::FdCensus;

use self::target::{Added, push_bounded};
use self::totals::{Flag, PerMinute};

/// The model's maps: looked up several times per event, keyed by ids that no outsider
/// chooses, so foldhash's fast hasher (already in the build through hashbrown) rather than
/// SipHash.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// How many connections of a target's history are kept.
pub const CONN_HISTORY: usize = 32;
/// How many DNS outcomes per target are kept.
pub const DNS_HISTORY: usize = 32;
/// How many scrapes per target are kept (for the sparkline and detail view).
pub const SCRAPE_HISTORY: usize = 30;
/// How many reconnect timestamps per target are kept (for "reconnects in the last hour").
pub const RECONNECT_HISTORY: usize = 64;
/// How many events the event log keeps.
pub const EVENT_LOG: usize = 2000;

/// All state derived from events.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Targets in order of appearance; removed ones stay (flagged) so history is not lost.
    pub targets: Vec<TargetState>,
    /// Slot of each target by id.
    index: FastMap<TargetId, usize>,
    /// Slots of the targets sharing a job and instance (usually one).
    by_instance: FastMap<(Arc<str>, Arc<str>), Vec<usize>>,
    /// Open connections by id.
    pub conns: FastMap<u64, OpenConn>,
    /// The latest descriptor census.
    pub fds: Option<FdCensus>,
    /// Recent events, oldest first.
    pub log: VecDeque<Event>,
    /// Events dropped by the source (consumer too slow).
    pub dropped: u64,
    /// Whether scraping is paused.
    pub paused: bool,
    /// Incremented on every change; a renderer redraws when it moves.
    pub version: u64,
    /// Incremented when the set of targets or a sortable field changes membership.
    pub targets_version: u64,
    /// Running totals.
    pub totals: Totals,
    rates: PerMinute,
    /// Last error or notice to show the operator.
    pub last_message: Option<String>,
    /// What the source cannot read or do for as long as it runs (`notice` with
    /// `limitation`), oldest first, each once, at most [`MAX_LIMITATIONS`]: a banner.
    pub limitations: Vec<String>,
    /// Whether the event log keeps scrape events (they dominate at scale).
    pub log_scrapes: bool,
}

/// Limitations kept for the banner; a source names a handful (fd table, namespace, config).
pub const MAX_LIMITATIONS: usize = 8;

impl Model {
    /// An empty model.
    pub fn new() -> Self {
        Model {
            log_scrapes: true,
            ..Default::default()
        }
    }

    /// A target by id.
    pub fn find(&self, id: TargetId) -> Option<&TargetState> {
        self.index.get(&id).map(|&i| &self.targets[i])
    }

    /// Index into `targets` of a target by id.
    pub fn slot_of(&self, id: TargetId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    /// Slots of every target (removed ones included) of `job` with `instance`: several
    /// targets may share one (blackbox modules, two paths on one host).
    pub fn slots_with_instance(&self, job: &str, instance: &str) -> &[usize] {
        self.by_instance
            .get(&(Arc::from(job), Arc::from(instance)))
            .map_or(&[], Vec::as_slice)
    }

    /// What tells the target in `slot` apart from live targets sharing its job and instance
    /// (see [`distinguishing`]); `None` when its instance is unique.
    pub fn distinguishing(&self, slot: usize) -> Option<String> {
        let t = self.targets.get(slot)?;
        let peers = self.by_instance.get(&(t.job.clone(), t.instance.clone()))?;
        if peers.len() < 2 {
            return None;
        }
        distinguishing(
            t,
            peers
                .iter()
                .filter_map(|&s| self.targets.get(s))
                .filter(|o| !o.removed),
        )
    }

    /// The instance as a row shows it: with what tells it apart appended when other live
    /// targets of its job share it (`bb:9115 /probe?module=icmp`).
    pub fn instance_label(&self, slot: usize) -> std::borrow::Cow<'_, str> {
        let Some(t) = self.targets.get(slot) else {
            return "".into();
        };
        match self.distinguishing(slot) {
            Some(d) => format!("{} {d}", t.instance).into(),
            None => (&*t.instance).into(),
        }
    }

    /// Per-minute rate of one counter as of `now`.
    pub fn per_minute(&self, now: SystemTime, what: Rate) -> u64 {
        self.rates.last_minute(now, what)
    }

    /// Mark targets as awaiting an operator action (the row shows it until the source answers).
    pub fn set_pending(&mut self, slots: impl IntoIterator<Item = usize>, p: Pending) {
        for s in slots {
            if let Some(t) = self.targets.get_mut(s) {
                t.pending = Some(p);
            }
        }
        self.version += 1;
    }

    /// Clear pending marks no answer will come for (the source refused the command).
    pub fn clear_pending(&mut self, p: Pending) {
        for t in &mut self.targets {
            t.answered(p);
        }
        self.version += 1;
    }

    /// The slot of a present (not removed) target an event is about.
    fn slot(&self, ev: &Event) -> Option<usize> {
        let t = ev.target.as_ref()?;
        let s = *self.index.get(&t.id)?;
        (!self.targets[s].removed).then_some(s)
    }

    /// Apply one event. O(1) apart from bounded histories.
    pub fn apply(&mut self, ev: Event) {
        self.version += 1;
        let at = ev.ts;
        let slot = self.slot(&ev);
        match &ev.kind {
            EventKind::TargetAdded {
                url,
                pool,
                interval_s,
                timeout_s,
                labels,
            } => {
                if let Some(t) = &ev.target {
                    let added = Added {
                        url,
                        pool,
                        interval_s: *interval_s,
                        timeout_s: *timeout_s,
                        labels,
                    };
                    self.add_target(t, added);
                }
            }
            EventKind::TargetRemoved {} => {
                if let Some(s) = slot {
                    self.clear_target(s);
                    self.targets[s].removed = true;
                    self.totals.targets -= 1;
                    self.targets_version += 1;
                }
            }
            EventKind::DialStarted { host, .. } => {
                if let Some(s) = slot {
                    let st = if host.parse::<IpAddr>().is_ok() {
                        ConnState::Dialling
                    } else {
                        ConnState::Resolving
                    };
                    self.set_state(s, st);
                }
            }
            EventKind::DnsResolved {
                host,
                addrs,
                ttl_s,
                duration_ms,
                cause,
            } => {
                self.rates.add(at, Rate::Lookups);
                if let Some(s) = slot {
                    let outcome = DnsOutcome::Answer {
                        addrs: addrs.clone(),
                        ttl_s: *ttl_s,
                    };
                    self.on_dns(s, at, host, *cause, *duration_ms, outcome);
                }
            }
            EventKind::DnsFailed {
                host,
                kind,
                error,
                duration_ms,
                cause,
            } => {
                self.rates.add(at, Rate::Lookups);
                self.rates.add(at, Rate::LookupFailures);
                if let Some(s) = slot {
                    let outcome = DnsOutcome::Failed {
                        kind: *kind,
                        error: error.clone(),
                    };
                    self.on_dns(s, at, host, *cause, *duration_ms, outcome);
                }
            }
            EventKind::ConnOpened(c) => {
                self.rates.add(at, Rate::Dials);
                if let Some(s) = slot {
                    self.on_conn_opened(s, at, c);
                }
            }
            EventKind::ConnFailed { kind, error, .. } => {
                self.rates.add(at, Rate::DialFailures);
                if let Some(s) = slot {
                    self.set_state(s, ConnState::Failing);
                    let t = &mut self.targets[s];
                    t.last_conn_error = Some((*kind, error.clone()));
                    t.answered(Pending::Reconnecting);
                }
            }
            EventKind::ConnClosed {
                conn_id,
                reason,
                requests,
                ..
            } => {
                self.rates.add(at, Rate::Closes);
                self.on_conn_closed(slot, at, *conn_id, *reason, *requests);
            }
            EventKind::Scrape(r) => {
                self.rates.add(at, Rate::Scrapes);
                if let Some(s) = slot {
                    self.on_scrape(s, at, r);
                }
                if !self.log_scrapes {
                    return;
                }
            }
            EventKind::StalePeer { conn_id, .. } => {
                if let Some(s) = slot
                    && self.targets[s].conn_id == Some(*conn_id)
                {
                    self.set_flag(s, Flag::Stale, true);
                }
            }
            EventKind::Probe(p) => {
                if let Some(s) = slot {
                    self.on_probe(s, at, p);
                }
            }
            EventKind::Fds(c) => {
                self.fds = Some(*c);
                return;
            }
            EventKind::Dropped { count } => self.dropped += count,
            EventKind::Paused { paused } => self.paused = *paused,
            EventKind::Error { error } => self.last_message = Some(format!("error: {error}")),
            EventKind::Notice {
                message,
                limitation,
            } => {
                if *limitation
                    && self.limitations.len() < MAX_LIMITATIONS
                    && !self.limitations.contains(message)
                {
                    self.limitations.push(message.clone());
                }
                self.last_message = Some(message.clone())
            }
            EventKind::Reload { error: Some(e), .. } => {
                self.last_message = Some(format!("reload failed: {e}"))
            }
            EventKind::Reload {
                added,
                removed,
                changed,
                ..
            } => {
                self.last_message = Some(format!(
                    "reloaded: {added} added, {removed} removed, {changed} changed"
                ))
            }
            EventKind::CommandAck { .. } => {}
        }
        push_bounded(&mut self.log, ev, EVENT_LOG);
    }

    fn add_target(&mut self, t: &Arc<TargetRef>, a: Added<'_>) {
        let st = TargetState::new(t.clone(), a);
        // A target that comes back (same id: same labels and URL) keeps its history.
        if let Some(&i) = self.index.get(&t.id) {
            if self.targets[i].removed {
                self.totals.targets += 1;
            } else {
                self.clear_target(i);
            }
            let old = std::mem::replace(&mut self.targets[i], st);
            self.targets[i].keep_history_of(old);
        } else {
            self.targets.push(st);
            let i = self.targets.len() - 1;
            self.index.insert(t.id, i);
            self.by_instance
                .entry((t.job.clone(), t.instance.clone()))
                .or_default()
                .push(i);
            self.totals.targets += 1;
        }
        self.targets_version += 1;
    }

    /// Take a target out of every running total (it is removed, or replaced).
    fn clear_target(&mut self, s: usize) {
        self.set_health(s, Health::Unknown);
        for f in [Flag::Stale, Flag::DnsFailing, Flag::ProbeFailed] {
            self.set_flag(s, f, false);
        }
        self.set_state(s, ConnState::None);
        let t = &mut self.targets[s];
        t.pending = None;
        if let Some(p) = &mut t.probe
            && p.result.hidden_failure
        {
            // The record stays for the detail view; the header counts only targets present.
            p.result.hidden_failure = false;
            self.totals.hidden_failures -= 1;
        }
    }

    fn on_dns(
        &mut self,
        s: usize,
        at: SystemTime,
        host: &str,
        cause: DnsCause,
        duration_ms: f64,
        outcome: DnsOutcome,
    ) {
        match &outcome {
            DnsOutcome::Answer { addrs, .. } => {
                if cause == DnsCause::Dial && self.targets[s].conn_state == ConnState::Resolving {
                    self.set_state(s, ConnState::Dialling);
                }
                self.set_flag(s, Flag::DnsFailing, false);
                // The connection is stale exactly when its peer is missing from the answer.
                let peer = self.targets[s].open_conn().map(|c| c.peer.ip());
                if let Some(p) = peer {
                    self.set_flag(s, Flag::Stale, !addrs.contains(&p));
                }
            }
            DnsOutcome::Failed { .. } => self.set_flag(s, Flag::DnsFailing, true),
        }
        let t = &mut self.targets[s];
        if cause == DnsCause::ReResolve {
            t.answered(Pending::Resolving);
        }
        let rec = DnsRecord {
            at,
            host: host.to_owned(),
            cause,
            duration_ms,
            outcome,
        };
        push_bounded(&mut t.dns, rec, DNS_HISTORY);
    }

    fn on_scrape(&mut self, s: usize, at: SystemTime, r: &crate::event::ScrapeResult) {
        if let Some(c) = r.conn_id {
            self.adopt(s, c);
        }
        let new = if r.up { Health::Up } else { Health::Down };
        let old = self.targets[s].health;
        self.set_health(s, new);
        let state = match r.conn_id {
            Some(c) if self.conns.contains_key(&c) => ConnState::Idle,
            Some(_) => ConnState::Closed,
            None => ConnState::Failing,
        };
        self.set_state(s, state);
        let t = &mut self.targets[s];
        if let Some(c) = r.conn_id.and_then(|c| t.conn_mut(c)) {
            c.requests += 1;
        }
        let rec = ScrapeRecord::new(at, r, t.scrapes.back());
        if t.scrapes.capacity() == 0 {
            // Every target scrapes its history full within SCRAPE_HISTORY intervals: reserve
            // the bound at once rather than regrow through 4, 8 and 16 (each a freed hole).
            t.scrapes.reserve_exact(SCRAPE_HISTORY);
        }
        push_bounded(&mut t.scrapes, rec, SCRAPE_HISTORY);
        if old != new {
            self.targets_version += 1;
        }
    }

    fn on_probe(&mut self, s: usize, at: SystemTime, p: &crate::event::ProbeResult) {
        let prev_hidden = self.targets[s]
            .probe
            .as_ref()
            .is_some_and(|p| p.result.hidden_failure);
        match (prev_hidden, p.hidden_failure) {
            (false, true) => self.totals.hidden_failures += 1,
            (true, false) => self.totals.hidden_failures -= 1,
            _ => {}
        }
        self.set_flag(s, Flag::ProbeFailed, !p.ok);
        let t = &mut self.targets[s];
        t.answered(Pending::Probing);
        t.probe = Some(ProbeRecord {
            at,
            result: p.clone(),
        });
    }
}
