//! Running totals over all targets, kept incrementally (never recomputed by walking all
//! targets per event), and per-minute rates by event time. [`Totals::recount`] walks
//! everything once: tests check that it always equals the running totals.

use std::time::SystemTime;

use serde::Serialize;

use super::{ConnState, Model, TargetState};
use crate::event::Health;

/// Totals kept incrementally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Targets present.
    pub targets: u64,
    /// Healthy.
    pub up: u64,
    /// Unhealthy.
    pub down: u64,
    /// Open connections.
    pub conns_open: u64,
    /// Targets whose connection is in flight.
    pub in_flight: u64,
    /// Targets flagged stale.
    pub stale: u64,
    /// Targets whose DNS is failing.
    pub dns_failing: u64,
    /// Targets whose latest probe failed.
    pub probe_failed: u64,
    /// Probes that failed while the pooled connection still works.
    pub hidden_failures: u64,
}

impl Totals {
    /// The totals counted from scratch over the targets present (O(targets)); equal to the
    /// running totals after any sequence of events.
    pub fn recount(m: &Model) -> Totals {
        let live = || m.targets.iter().filter(|t| !t.removed);
        let count = |f: &dyn Fn(&TargetState) -> bool| live().filter(|t| f(t)).count() as u64;
        Totals {
            targets: count(&|_| true),
            up: count(&|t| t.health == Health::Up),
            down: count(&|t| t.health == Health::Down),
            conns_open: m.conns.len() as u64,
            in_flight: count(&|t| t.conn_state == ConnState::InFlight),
            stale: count(&|t| t.stale),
            dns_failing: count(&|t| t.dns_failing),
            probe_failed: count(&|t| t.probe_failed),
            hidden_failures: count(&|t| t.probe.as_ref().is_some_and(|p| p.result.hidden_failure)),
        }
    }
}

/// A per-target flag with a running total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {
    Stale,
    DnsFailing,
    ProbeFailed,
}

impl Model {
    /// Move a target's health, keeping `up`/`down` in step.
    pub(crate) fn set_health(&mut self, slot: usize, new: Health) {
        let old = std::mem::replace(&mut self.targets[slot].health, new);
        for (h, add) in [(old, false), (new, true)] {
            let total = match h {
                Health::Up => &mut self.totals.up,
                Health::Down => &mut self.totals.down,
                Health::Unknown => continue,
            };
            if add {
                *total += 1;
            } else {
                *total -= 1;
            }
        }
    }

    /// Set a flag, keeping its total in step.
    pub(crate) fn set_flag(&mut self, slot: usize, which: Flag, on: bool) {
        let t = &mut self.targets[slot];
        let (field, total) = match which {
            Flag::Stale => (&mut t.stale, &mut self.totals.stale),
            Flag::DnsFailing => (&mut t.dns_failing, &mut self.totals.dns_failing),
            Flag::ProbeFailed => (&mut t.probe_failed, &mut self.totals.probe_failed),
        };
        if *field != on {
            *field = on;
            if on {
                *total += 1;
            } else {
                *total -= 1;
            }
        }
    }

    /// Set the connection state, keeping `in_flight` in step.
    pub(crate) fn set_state(&mut self, slot: usize, s: ConnState) {
        let t = &mut self.targets[slot];
        if t.conn_state == ConnState::InFlight {
            self.totals.in_flight -= 1;
        }
        if s == ConnState::InFlight {
            self.totals.in_flight += 1;
        }
        t.conn_state = s;
    }
}

/// Which counter a per-minute rate is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Connections opened.
    Dials = 0,
    /// Connections closed.
    Closes = 1,
    /// Dials failed.
    DialFailures = 2,
    /// DNS lookups.
    Lookups = 3,
    /// DNS failures.
    LookupFailures = 4,
    /// Scrapes.
    Scrapes = 5,
}

const RATES: usize = 6;

/// Counts per second over the last minute, by event time.
#[derive(Debug, Clone, Default)]
pub(crate) struct PerMinute {
    /// (unix second, counts) ring of 60 buckets.
    buckets: Vec<(u64, [u64; RATES])>,
}

impl PerMinute {
    pub(crate) fn add(&mut self, at: SystemTime, what: Rate) {
        if self.buckets.is_empty() {
            self.buckets = vec![(0, [0; RATES]); 60];
        }
        let sec = unix_secs(at);
        let b = &mut self.buckets[(sec % 60) as usize];
        if b.0 != sec {
            *b = (sec, [0; RATES]);
        }
        b.1[what as usize] += 1;
    }

    pub(crate) fn last_minute(&self, now: SystemTime, what: Rate) -> u64 {
        let now = unix_secs(now);
        self.buckets
            .iter()
            .filter(|(s, _)| *s + 60 > now && *s <= now)
            .map(|(_, c)| c[what as usize])
            .sum()
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
