//! The targets table's columns, its sort order and its filter, and the sorted+filtered index of
//! target slots the table draws from.
//!
//! Why an index: with 10,000 targets, sorting and filtering every frame costs milliseconds of a
//! shared core for nothing (tokio-console's table does this and does not scale). The app keeps
//! `Vec<usize>` of slots into `Model::targets`, rebuilds it at once when the operator changes the
//! sort, the filter or freezes the display, and otherwise at most a few times a second when the
//! model moved (see `App::refresh`). Rows are then built only for the visible slice.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime};

use crate::event::Health;
use crate::model::{ConnState, Model, TargetState};

pub use super::columns::Column;

/// The state filter, cycled with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    /// Every target.
    #[default]
    Any,
    /// Health down.
    Down,
    /// Dials failing.
    Failing,
    /// Any flag set (stale, DNS failing, probe failed).
    Flagged,
    /// Awaiting an operator action.
    Pending,
    /// Idle connection.
    Idle,
    /// Request in flight.
    InFlight,
    /// Connection closed.
    Closed,
}

impl StateFilter {
    const CYCLE: [StateFilter; 8] = [
        StateFilter::Any,
        StateFilter::Down,
        StateFilter::Failing,
        StateFilter::Flagged,
        StateFilter::Pending,
        StateFilter::Idle,
        StateFilter::InFlight,
        StateFilter::Closed,
    ];

    /// The next filter in the cycle.
    pub fn next(self) -> Self {
        let i = Self::CYCLE.iter().position(|s| *s == self).unwrap_or(0);
        Self::CYCLE[(i + 1) % Self::CYCLE.len()]
    }

    /// Its label.
    pub fn as_str(self) -> &'static str {
        match self {
            StateFilter::Any => "all",
            StateFilter::Down => "down",
            StateFilter::Failing => "failing",
            StateFilter::Flagged => "flagged",
            StateFilter::Pending => "pending",
            StateFilter::Idle => "idle",
            StateFilter::InFlight => "in flight",
            StateFilter::Closed => "closed",
        }
    }

    fn matches(self, t: &TargetState) -> bool {
        match self {
            StateFilter::Any => true,
            StateFilter::Down => t.health == Health::Down,
            StateFilter::Failing => t.conn_state == ConnState::Failing,
            StateFilter::Flagged => t.stale || t.dns_failing || t.probe_failed,
            StateFilter::Pending => t.pending.is_some(),
            StateFilter::Idle => t.conn_state == ConnState::Idle,
            StateFilter::InFlight => t.conn_state == ConnState::InFlight,
            StateFilter::Closed => t.conn_state == ConnState::Closed,
        }
    }
}

/// One term of the text filter.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// Substring of job, instance, peer, URL or error.
    Text(String),
    /// Substring of the job.
    Job(String),
    /// Connection state name starts with this.
    State(String),
    /// Health name starts with this.
    Health(String),
    /// A flag: stale, dns, probe, pending, hidden.
    Is(String),
}

/// A parsed text filter: every term must match (case-insensitive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextFilter {
    terms: Vec<Term>,
}

impl TextFilter {
    /// Parse `node state:idle is:stale 10.0`.
    pub fn parse(s: &str) -> Self {
        let terms = s
            .split_whitespace()
            .map(|w| {
                let w = w.to_lowercase();
                match w.split_once(':') {
                    Some(("job", v)) => Term::Job(v.to_string()),
                    Some(("state", v)) => Term::State(v.to_string()),
                    Some(("health", v)) => Term::Health(v.to_string()),
                    Some(("is", v)) => Term::Is(v.to_string()),
                    _ => Term::Text(w),
                }
            })
            .collect();
        TextFilter { terms }
    }

    /// Whether the filter is empty.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether a target passes.
    pub fn matches(&self, t: &TargetState) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Job(v) => contains_ci(&t.job, v),
            Term::State(v) => t.conn_state.as_str().starts_with(v.as_str()),
            Term::Health(v) => t.health.as_str().starts_with(v.as_str()),
            Term::Is(v) => match v.as_str() {
                "stale" => t.stale,
                "dns" => t.dns_failing,
                "probe" => t.probe_failed,
                "pending" => t.pending.is_some(),
                "hidden" => t.probe.as_ref().is_some_and(|p| p.hidden_failure),
                _ => false,
            },
            Term::Text(v) => {
                contains_ci(&t.job, v)
                    || contains_ci(&t.instance, v)
                    || contains_ci(&t.url, v)
                    || t.open_conn()
                        .is_some_and(|c| contains_ci(&c.peer.to_string(), v))
                    || t.last_scrape()
                        .and_then(|s| s.error())
                        .is_some_and(|e| contains_ci(e, v))
                    || t.last_conn_error
                        .as_ref()
                        .is_some_and(|(_, e)| contains_ci(e, v))
            }
        })
    }
}

/// ASCII-case-insensitive substring test against an already lower-cased needle.
fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    let n = needle_lower.as_bytes();
    hay.as_bytes()
        .windows(n.len())
        .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// How the table is ordered and narrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Sort column.
    pub sort: Column,
    /// Descending order.
    pub desc: bool,
    /// Text filter.
    pub filter: TextFilter,
    /// State filter.
    pub state: StateFilter,
}

impl Default for View {
    fn default() -> Self {
        View {
            sort: Column::Job,
            desc: false,
            filter: TextFilter::default(),
            state: StateFilter::Any,
        }
    }
}

/// The slots of the targets to show, filtered and sorted. Removed targets are left out.
pub fn build(model: &Model, view: &View, now: SystemTime) -> Vec<usize> {
    let mut rows: Vec<usize> = model
        .targets
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.removed && view.state.matches(t) && view.filter.matches(t))
        .map(|(i, _)| i)
        .collect();
    let ts = &model.targets;
    // Stable sort: ties keep the order of appearance, so rows do not jump around.
    rows.sort_by(|&a, &b| {
        let o = compare(view.sort, &ts[a], &ts[b], now);
        if view.desc { o.reverse() } else { o }
    });
    rows
}

fn compare(col: Column, a: &TargetState, b: &TargetState, now: SystemTime) -> Ordering {
    let by_name = || a.job.cmp(&b.job).then_with(|| a.instance.cmp(&b.instance));
    let f = |x: Option<f64>, y: Option<f64>| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    let primary = match col {
        Column::Job => by_name(),
        Column::Instance => a.instance.cmp(&b.instance),
        Column::Health => (a.health as u8).cmp(&(b.health as u8)),
        Column::State => state_rank(a).cmp(&state_rank(b)),
        Column::Fd => a
            .open_conn()
            .map(|c| c.fd)
            .cmp(&b.open_conn().map(|c| c.fd)),
        Column::Peer => a
            .open_conn()
            .map(|c| c.peer)
            .cmp(&b.open_conn().map(|c| c.peer)),
        Column::LocalPort => a
            .open_conn()
            .map(|c| c.local.port())
            .cmp(&b.open_conn().map(|c| c.local.port())),
        Column::Age => {
            let age = |t: &TargetState| {
                t.open_conn()
                    .map(|c| now.duration_since(c.opened).unwrap_or_default())
            };
            age(a).cmp(&age(b))
        }
        Column::Requests => a
            .open_conn()
            .map(|c| c.requests)
            .cmp(&b.open_conn().map(|c| c.requests)),
        Column::Reconnects | Column::History => {
            let r = |t: &TargetState| {
                (
                    t.reconnects_since(now, Duration::from_secs(3600)),
                    t.reconnects_total,
                )
            };
            r(a).cmp(&r(b))
        }
        Column::Dns => a.last_dns().map(|d| d.at).cmp(&b.last_dns().map(|d| d.at)),
        Column::Flags => flag_bits(a).cmp(&flag_bits(b)),
        Column::Scrape => f(
            a.last_scrape().map(|s| s.duration_ms()),
            b.last_scrape().map(|s| s.duration_ms()),
        ),
        Column::Error => error_of(a).cmp(&error_of(b)),
    };
    primary.then_with(by_name)
}

fn state_rank(t: &TargetState) -> (bool, u8) {
    (t.pending.is_some(), t.conn_state as u8)
}

fn flag_bits(t: &TargetState) -> u8 {
    u8::from(t.stale) << 2 | u8::from(t.dns_failing) << 1 | u8::from(t.probe_failed)
}

/// The error a row shows: the last scrape's, else the last dial failure.
pub fn error_of(t: &TargetState) -> Option<&str> {
    t.last_scrape()
        .and_then(|s| s.error())
        .or_else(|| t.last_conn_error.as_ref().map(|(_, e)| e.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_terms() {
        let f = TextFilter::parse("Node state:idle");
        assert_eq!(
            f.terms,
            vec![Term::Text("node".into()), Term::State("idle".into())]
        );
        assert!(contains_ci("NodeExporter", "nodeex"));
        assert!(!contains_ci("node", "nodes"));
        assert!(TextFilter::parse("  ").is_empty());
    }

    #[test]
    fn state_filter_cycles() {
        let mut s = StateFilter::Any;
        for _ in 0..StateFilter::CYCLE.len() {
            s = s.next();
        }
        assert_eq!(s, StateFilter::Any);
    }
}
