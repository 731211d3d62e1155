//! A target's reconnect history as a picture: its connections over the last hour (less while
//! scrapetop is younger than that, see [`window_for`]) laid on a time
//! axis of N cells, each connection a bar from open to close with its end marked by reason, and
//! the DNS lookups and probes on the same axis. The detail screen draws all lanes; the targets
//! table draws a narrow connection lane per row.
//!
//! ```text
//! conns ░░░━━━━━━━━━━━━━━━p━━━━━━━━━━━━━━━━━━━━━f━━t++++++++++++++   (one cell ≈ 1 min)
//! dns      ·                 ◆      ·            x x x
//! probe                                  ✓             ✗
//! ```
//!
//! Only the model's bounded histories are read (at most [`CONN_HISTORY`] connections,
//! [`DNS_HISTORY`](crate::model::DNS_HISTORY) lookups, [`RECONNECT_HISTORY`] reconnect times per target), so the cost of a
//! lane is bounded whatever the target did. Where the kept history does not reach back to the
//! start of the window, the lane says so (`░`) instead of drawing an empty past.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::event::CloseReason;
use crate::model::{CONN_HISTORY, DnsOutcome, RECONNECT_HISTORY, TargetState};

/// How far back the timeline reaches once scrapetop has run that long.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// The windows a timeline zooms through while scrapetop is younger than [`WINDOW`], so that
/// the first minutes are not squeezed into the last cells of an hour.
const ZOOMS: [u64; 5] = [5, 10, 15, 30, 60];

/// The window for a UI that has seen events for `seen`: the smallest of 5, 10, 15, 30 and 60
/// minutes that covers it.
pub fn window_for(seen: Duration) -> Duration {
    let minutes = ZOOMS
        .into_iter()
        .find(|m| Duration::from_secs(m * 60) >= seen)
        .unwrap_or(60);
    Duration::from_secs(minutes * 60)
}

/// "last 10 min", "last hour".
pub fn window_name(w: Duration) -> String {
    if w >= WINDOW {
        "last hour".to_string()
    } else {
        format!("last {} min", w.as_secs() / 60)
    }
}

/// One cell of the connection lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnCell {
    /// Before the oldest kept connection, while older ones were dropped from the history.
    Unknown,
    /// No connection open.
    Empty,
    /// A connection open through (part of) the cell.
    Open,
    /// Connections ended in this cell: how many, and the most serious reason among them.
    Ends {
        /// Connections that ended in the cell.
        count: u32,
        /// The reason shown (see [`severity`]).
        reason: CloseReason,
    },
}

/// One cell of the DNS lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsCell {
    /// No lookup.
    Empty,
    /// Lookups, all answering what the previous answer said.
    Same,
    /// An answer that differs from the one before it.
    Changed,
    /// A failed lookup.
    Failed,
}

/// One cell of the probe lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeCell {
    /// No probe.
    Empty,
    /// Probes that succeeded.
    Ok,
    /// A failed probe.
    Failed,
}

/// A probe on the axis: when it finished and whether it worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeMark {
    /// When it finished.
    pub at: SystemTime,
    /// Whether the fresh connection worked.
    pub ok: bool,
}

/// The time axis: `cells` cells ending at `now`, covering `window`.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// The right edge of the last cell.
    pub now: SystemTime,
    /// Number of cells.
    pub cells: usize,
    /// How far back the first cell starts (see [`window_for`]).
    pub window: Duration,
}

impl Axis {
    /// The left edge of the first cell.
    pub fn start(&self) -> SystemTime {
        self.now
            .checked_sub(self.window)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// The time one cell covers.
    pub fn step(&self) -> Duration {
        self.window / u32::try_from(self.cells.max(1)).unwrap_or(u32::MAX)
    }

    /// The cell an instant falls in; `None` before the window or after `now`.
    pub fn cell(&self, t: SystemTime) -> Option<usize> {
        if t > self.now {
            return None;
        }
        let since = t.duration_since(self.start()).ok()?;
        let span = self.window.as_secs_f64().max(1e-9);
        let i = (since.as_secs_f64() / span * self.cells as f64) as usize;
        Some(i.min(self.cells.saturating_sub(1)))
    }

    /// The cell of an instant, clamped into the window (before it: the first cell).
    fn clamped(&self, t: SystemTime) -> usize {
        if t < self.start() {
            0
        } else {
            self.cell(t).unwrap_or(self.cells.saturating_sub(1))
        }
    }
}

/// How serious a close reason is, for choosing what a cell with several ends shows and how it
/// is coloured: 2 a failure (timeout, reset, error), 1 the other side or a limit closed it,
/// 0 the operator or scrapetop itself did.
pub fn severity(r: CloseReason) -> u8 {
    match r {
        CloseReason::Timeout | CloseReason::Reset | CloseReason::Error => 2,
        CloseReason::PeerClosed
        | CloseReason::ConnectionClose
        | CloseReason::IdleTimeout
        | CloseReason::MaxAge
        | CloseReason::Gone => 1,
        CloseReason::Forced
        | CloseReason::Reload
        | CloseReason::TargetRemoved
        | CloseReason::Shutdown => 0,
    }
}

/// The one-letter mark of a close reason on a lane.
pub fn reason_mark(r: CloseReason) -> char {
    match r {
        CloseReason::PeerClosed => 'p',
        CloseReason::Timeout => 't',
        CloseReason::Reset => 'r',
        CloseReason::ConnectionClose => 'c',
        CloseReason::IdleTimeout => 'i',
        CloseReason::MaxAge => 'a',
        CloseReason::Forced => 'f',
        CloseReason::Reload => 'l',
        CloseReason::TargetRemoved => 'x',
        CloseReason::Shutdown => 's',
        CloseReason::Error => 'e',
        CloseReason::Gone => 'g',
    }
}

/// The character of a connection cell.
pub fn conn_glyph(c: ConnCell) -> char {
    match c {
        ConnCell::Unknown => '░',
        ConnCell::Empty => ' ',
        ConnCell::Open => '━',
        ConnCell::Ends { count: 1, reason } => reason_mark(reason),
        ConnCell::Ends { count, .. } if count < 10 => char::from_digit(count, 10).unwrap_or('+'),
        ConnCell::Ends { .. } => '+',
    }
}

/// The character of a DNS cell.
pub fn dns_glyph(c: DnsCell) -> char {
    match c {
        DnsCell::Empty => ' ',
        DnsCell::Same => '·',
        DnsCell::Changed => '◆',
        DnsCell::Failed => 'x',
    }
}

/// The character of a probe cell.
pub fn probe_glyph(c: ProbeCell) -> char {
    match c {
        ProbeCell::Empty => ' ',
        ProbeCell::Ok => '✓',
        ProbeCell::Failed => '✗',
    }
}

/// The connection lane of a target.
pub fn conn_lane(t: &TargetState, axis: Axis) -> Vec<ConnCell> {
    let mut cells = vec![ConnCell::Empty; axis.cells];
    if axis.cells == 0 {
        return cells;
    }
    // A full history may have lost older connections: the time before the oldest kept one is
    // unknown, not empty.
    if t.conns.len() >= CONN_HISTORY
        && let Some(first) = t.conns.front()
    {
        for c in cells.iter_mut().take(axis.clamped(first.opened)) {
            *c = ConnCell::Unknown;
        }
    }
    for c in &t.conns {
        let end = c.closed.map_or(axis.now, |(at, _)| at);
        if end < axis.start() {
            continue;
        }
        let (from, to) = (axis.clamped(c.opened), axis.clamped(end));
        if from > to {
            continue;
        }
        for cell in &mut cells[from..=to] {
            if matches!(*cell, ConnCell::Empty | ConnCell::Unknown) {
                *cell = ConnCell::Open;
            }
        }
    }
    // Ends are marked after every bar, so a bar that opens in the same cell does not hide them.
    for c in &t.conns {
        let Some((at, reason)) = c.closed else {
            continue;
        };
        let Some(i) = axis.cell(at) else {
            continue;
        };
        cells[i] = match cells[i] {
            ConnCell::Ends { count, reason: r } => ConnCell::Ends {
                count: count + 1,
                reason: if severity(reason) >= severity(r) {
                    reason
                } else {
                    r
                },
            },
            _ => ConnCell::Ends { count: 1, reason },
        };
    }
    cells
}

/// The DNS lane of a target: lookups, answers that changed, failures.
pub fn dns_lane(t: &TargetState, axis: Axis) -> Vec<DnsCell> {
    let mut cells = vec![DnsCell::Empty; axis.cells];
    let mut previous: Option<Vec<std::net::IpAddr>> = None;
    for d in &t.dns {
        let mark = match &d.outcome {
            DnsOutcome::Failed { .. } => DnsCell::Failed,
            DnsOutcome::Answer { addrs, .. } => {
                let mut sorted = addrs.clone();
                sorted.sort_unstable();
                let changed = previous.as_ref().is_some_and(|p| *p != sorted);
                previous = Some(sorted);
                if changed {
                    DnsCell::Changed
                } else {
                    DnsCell::Same
                }
            }
        };
        if let Some(i) = axis.cell(d.at) {
            let rank = |c: DnsCell| match c {
                DnsCell::Empty => 0,
                DnsCell::Same => 1,
                DnsCell::Changed => 2,
                DnsCell::Failed => 3,
            };
            if rank(mark) > rank(cells[i]) {
                cells[i] = mark;
            }
        }
    }
    cells
}

/// The probe lane: `probes` in any order; a failure outweighs a success in the same cell.
pub fn probe_lane(probes: &[ProbeMark], axis: Axis) -> Vec<ProbeCell> {
    let mut cells = vec![ProbeCell::Empty; axis.cells];
    for p in probes {
        if let Some(i) = axis.cell(p.at) {
            cells[i] = match (cells[i], p.ok) {
                (ProbeCell::Failed, _) | (_, false) => ProbeCell::Failed,
                _ => ProbeCell::Ok,
            };
        }
    }
    cells
}

/// A steady run of reconnects: "every ~3s since 10:42".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// The typical time between reconnects (median of the newest gaps).
    pub every: Duration,
    /// The first reconnect of the run.
    pub since: SystemTime,
    /// The run reaches back to the oldest kept reconnect time: it may have started earlier.
    pub at_least: bool,
    /// The last reconnect, when the run has stopped (no reconnect for 3 periods).
    pub until: Option<SystemTime>,
    /// Reconnects in the run.
    pub count: usize,
}

/// The newest steady run of reconnects in `times` (oldest first): at least three reconnects
/// whose gaps lie between half and twice the run's typical gap (the lower median of its newest
/// five). Slower reconnects after a run (the one that finally stayed up) end it rather than
/// hide it.
pub fn cadence(times: &VecDeque<SystemTime>, now: SystemTime) -> Option<Cadence> {
    let n = times.len();
    if n < 3 {
        return None;
    }
    // Newest first: gaps[k] lies between times[n-2-k] and times[n-1-k].
    let gaps: Vec<Duration> = (0..n - 1)
        .map(|k| {
            times[n - 1 - k]
                .duration_since(times[n - 2 - k])
                .unwrap_or_default()
        })
        .collect();
    let slack = Duration::from_millis(500);
    for start in 0..gaps.len() - 1 {
        let mut typical: Vec<Duration> = gaps[start..].iter().take(5).copied().collect();
        typical.sort_unstable();
        let every = typical[(typical.len() - 1) / 2];
        let (low, high) = ((every / 2).saturating_sub(slack), every * 2 + slack);
        let run = gaps[start..]
            .iter()
            .take_while(|g| **g >= low && **g <= high)
            .count();
        if run < 2 {
            continue;
        }
        let first = n - 1 - start - run;
        let last = times[n - 1 - start];
        let quiet =
            now.duration_since(last).unwrap_or_default() > every * 3 + Duration::from_secs(1);
        return Some(Cadence {
            every,
            since: times[first],
            at_least: first == 0 && n >= RECONNECT_HISTORY,
            until: (start > 0 || quiet).then_some(last),
            count: run + 1,
        });
    }
    None
}

/// Connections that ended inside the window, by reason, most frequent first.
pub fn ends_by_reason(t: &TargetState, axis: Axis) -> Vec<(CloseReason, usize)> {
    let mut out: Vec<(CloseReason, usize)> = Vec::new();
    for c in &t.conns {
        let Some((at, reason)) = c.closed else {
            continue;
        };
        if axis.cell(at).is_none() {
            continue;
        }
        match out.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => out.push((reason, 1)),
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(severity(b.0).cmp(&severity(a.0))));
    out
}

/// Probes of a target found in the event log (the model keeps only the latest per target),
/// plus that latest one.
pub fn probes_of(t: &TargetState, log: &VecDeque<crate::event::Event>) -> Vec<ProbeMark> {
    let mut out: Vec<ProbeMark> = log
        .iter()
        .filter(|ev| ev.target.as_deref() == Some(&*t.target))
        .filter_map(|ev| match ev.kind {
            crate::event::EventKind::Probe(crate::event::ProbeResult { ok, .. }) => {
                Some(ProbeMark { at: ev.ts, ok })
            }
            _ => None,
        })
        .collect();
    if let Some(p) = &t.probe
        && !out.iter().any(|m| m.at == p.at)
    {
        out.push(ProbeMark { at: p.at, ok: p.ok });
    }
    out
}
