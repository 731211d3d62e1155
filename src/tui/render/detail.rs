//! One target in full. j/k move to the neighbouring target of the table.
//!
//! ```text
//! ┌ job / instance ─────────────────────────────────────────────────────────────┐
//! │ every 15s, timeout 10s · url · pool                                          │
//! │ health · conn · fd · local → peer                                            │
//! │ conn age · reqs · reconnects (1h/total) · flags                              │
//! └──────────────────────────────────────────────────────────────────────────────┘
//! ┌ last hour: 40 reconnects · every ~3s since 10:42 · ends: t timeout 38 ───────┐
//! │       10:00     10:10     10:20     10:30     10:40     10:50      now        │
//! │ conns ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━f━━t++++++++       │
//! │ dns   ·               ◆                                  · x x               │
//! │ probe                        ✓                                ✗              │
//! └──────────────────────────────────────────────────────────────────────────────┘
//! ┌ connections (newest first) ────────┐┌ scrapes ─────────────────────────────┐
//! │ opened closed lived ended reqs fd … ││ ▂▃▅▂▁ sparkline, recent scrapes      │
//! ├ DNS history ───────────────────────┤├ latest probe ───────────────────────┤
//! │ at cause dur answer ttl            ││ resolve connect ttfb …               │
//! └────────────────────────────────────┘└──────────────────────────────────────┘
//! ```
//! The connection history (when, how long it lived, why it ended) comes first in every row
//! and is never cut. Below 30 rows the borders, the DNS history, the scrapes and the probe
//! panel go (the timeline's lanes and the info lines carry their news), so that at 80x24 the
//! timeline and seven connections still show; below 120 columns the right-hand column goes
//! under the left one.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table};

use crate::model::{ConnRecord, DnsOutcome, Model, TargetState};
use crate::tui::format::{Theme, age, clock, fit, ms, since};
use crate::tui::timeline::{Axis, ConnCell, probes_of, window_name};

use super::timeline::conn_style;

/// Body rows from which the detail screen has borders and every panel.
const ROOMY: u16 = 30;

pub(super) fn render(
    frame: &mut Frame,
    area: Rect,
    m: &Model,
    target: Option<usize>,
    th: Theme,
    (now, window): (SystemTime, Duration),
) {
    let Some(t) = target.and_then(|s| m.targets.get(s)) else {
        let p = Paragraph::new("no target selected: pick one on the targets screen (1)")
            .block(Block::bordered().title(" detail "));
        frame.render_widget(p, area);
        return;
    };
    let probes = probes_of(t, &m.log);
    // Only `now` and the window matter to the info lines; the lanes size their own axis.
    let axis = Axis {
        now,
        cells: 1,
        window,
    };
    let roomy = area.height >= ROOMY;
    if !roomy {
        let [info, timeline, conns] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Length(5),
            Constraint::Fill(1),
        ])
        .areas(area);
        render_info(frame, info, t, th, axis, false);
        super::timeline::render(frame, timeline, t, &probes, th, (now, window), false);
        render_conns(frame, conns, t, th, now, false);
        return;
    }
    let [info, timeline, rest] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Fill(1),
    ])
    .areas(area);
    render_info(frame, info, t, th, axis, true);
    super::timeline::render(frame, timeline, t, &probes, th, (now, window), true);
    if area.width >= 120 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(rest);
        // The connection history first: it gets two thirds of the column.
        let [conns, dns] = Layout::vertical([Constraint::Fill(2), Constraint::Fill(1)]).areas(left);
        let [scrapes, probe] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(5)]).areas(right);
        render_conns(frame, conns, t, th, now, true);
        render_dns(frame, dns, t, th, now);
        render_scrapes(frame, scrapes, t, th);
        render_probe(frame, probe, t, th, now);
    } else {
        let [conns, dns, bottom] = Layout::vertical([
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Length(5),
        ])
        .areas(rest);
        let [scrapes, probe] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bottom);
        render_conns(frame, conns, t, th, now, true);
        render_dns(frame, dns, t, th, now);
        render_scrapes(frame, scrapes, t, th);
        render_probe(frame, probe, t, th, now);
    }
}

/// Three lines: settings; health, state and the flags of hidden problems first, then the
/// connection; reconnects in the window and their pace, then the connection's age.
fn render_info(
    frame: &mut Frame,
    area: Rect,
    t: &TargetState,
    th: Theme,
    axis: Axis,
    bordered: bool,
) {
    let title = format!(
        " {} / {}{} ",
        t.job,
        t.instance,
        if t.removed { " (removed)" } else { "" }
    );
    let settings = format!(
        "every {}s, timeout {}s · {} · pool {}",
        t.interval_s,
        t.timeout_s,
        t.url,
        t.pool.endpoint()
    );
    let mut state = vec![
        Span::raw(format!("health {} · conn ", t.health)),
        Span::styled(
            t.pending
                .map(|p| p.as_str())
                .unwrap_or(t.conn_state.as_str()),
            if t.pending.is_some() {
                th.warn()
            } else {
                Default::default()
            },
        ),
    ];
    for (on, text) in [
        (t.stale, " · STALE PEER"),
        (t.dns_failing, " · DNS FAILING"),
        (t.probe_failed, " · PROBE FAILED"),
    ] {
        if on {
            state.push(Span::styled(text, th.warn()));
        }
    }
    let in_window = t.reconnects_since(axis.now, axis.window) as u64;
    let mut third = vec![Span::raw(format!(
        "{} in {}{}",
        super::timeline::reconnect_count(t, axis),
        window_name(axis.window),
        if t.reconnects_total > in_window {
            format!(" ({} in all)", t.reconnects_total)
        } else {
            String::new()
        }
    ))];
    if let Some(c) = super::timeline::cadence_text(t, axis) {
        third.push(Span::styled(format!(" · {c}"), th.warn()));
    }
    if let Some(c) = t.open_conn() {
        state.push(Span::raw(format!(
            " · fd {} · {} → {}",
            c.fd, c.local, c.peer
        )));
        third.push(Span::raw(format!(
            " · conn age {} · {} reqs",
            age(since(axis.now, c.opened)),
            c.requests
        )));
    }
    let p = if bordered {
        Paragraph::new(vec![
            Line::from(settings),
            Line::from(state),
            Line::from(third),
        ])
        .block(Block::bordered().title(Span::styled(title, th.title())))
    } else {
        let head = vec![
            Span::styled(title.trim().to_string(), th.title()),
            Span::raw(format!(" · {settings}")),
        ];
        Paragraph::new(vec![Line::from(head), Line::from(state), Line::from(third)])
    };
    frame.render_widget(p, area);
}

/// A column of the connection history, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HistCol {
    Opened,
    Closed,
    Lived,
    Ended,
    Reqs,
    Fd,
    Peer,
    Local,
    Id,
}

impl HistCol {
    /// Most wanted first: when it opened, how long it lived, why it ended.
    const BY_IMPORTANCE: [HistCol; 9] = [
        HistCol::Opened,
        HistCol::Lived,
        HistCol::Ended,
        HistCol::Closed,
        HistCol::Reqs,
        HistCol::Fd,
        HistCol::Peer,
        HistCol::Local,
        HistCol::Id,
    ];

    fn title(self) -> &'static str {
        match self {
            HistCol::Opened => "opened",
            HistCol::Closed => "closed",
            HistCol::Lived => "lived",
            HistCol::Ended => "ended",
            HistCol::Reqs => "reqs",
            HistCol::Fd => "fd",
            HistCol::Peer => "peer",
            HistCol::Local => "local",
            HistCol::Id => "conn",
        }
    }

    /// Cells; `ended` fits the longest reason (`connection_close`), so it is never cut.
    fn width(self) -> u16 {
        match self {
            HistCol::Opened | HistCol::Closed => 8,
            HistCol::Lived => 6,
            HistCol::Ended => 16,
            HistCol::Reqs | HistCol::Fd => 5,
            HistCol::Peer | HistCol::Local => 21,
            HistCol::Id => 6,
        }
    }

    /// The columns that fit in `width`, in display order.
    fn fitting(width: u16) -> Vec<HistCol> {
        let mut used = 0u16;
        let mut cols: Vec<HistCol> = Vec::new();
        for c in Self::BY_IMPORTANCE {
            let w = c.width() + u16::from(!cols.is_empty());
            if used + w <= width {
                used += w;
                cols.push(c);
            }
        }
        cols.sort();
        cols
    }

    fn cell(self, c: &ConnRecord, th: Theme, now: SystemTime) -> Cell<'static> {
        match self {
            HistCol::Opened => Cell::from(clock(c.opened)),
            HistCol::Closed => Cell::from(c.closed.map_or("-".to_string(), |(at, _)| clock(at))),
            HistCol::Lived => Cell::from(age(match c.closed {
                Some((at, _)) => at.duration_since(c.opened).unwrap_or_default(),
                None => since(now, c.opened),
            })),
            HistCol::Ended => match c.closed {
                Some((_, reason)) => Cell::from(Span::styled(
                    reason.to_string(),
                    conn_style(ConnCell::Ends { count: 1, reason }, th),
                )),
                None => Cell::from(Span::styled("open", th.good())),
            },
            HistCol::Reqs => Cell::from(c.requests.to_string()),
            HistCol::Fd => Cell::from(c.fd.to_string()),
            HistCol::Peer => Cell::from(fit(&c.peer.to_string(), 21)),
            HistCol::Local => Cell::from(fit(&c.local.to_string(), 21)),
            HistCol::Id => Cell::from(format!("#{}", c.conn_id)),
        }
    }
}

/// The connection history, newest first: as many rows as fit (the history keeps 32).
fn render_conns(
    frame: &mut Frame,
    area: Rect,
    t: &TargetState,
    th: Theme,
    now: SystemTime,
    bordered: bool,
) {
    let inner_w = area.width.saturating_sub(if bordered { 2 } else { 0 });
    let cols = HistCol::fitting(inner_w);
    let header = Row::new(cols.iter().map(|c| c.title())).style(th.title());
    let rows: Vec<Row> = t
        .conns
        .iter()
        .rev()
        .map(|c| Row::new(cols.iter().map(|col| col.cell(c, th, now))))
        .collect();
    let empty = rows.is_empty();
    let widths: Vec<Constraint> = cols.iter().map(|c| Constraint::Length(c.width())).collect();
    let mut table = Table::new(rows, widths).header(header).column_spacing(1);
    if bordered {
        table = table.block(Block::bordered().title(format!(
            " connections (newest first): {} dials, {} reconnects ",
            t.dials_total, t.reconnects_total
        )));
    }
    frame.render_widget(table, area);
    if empty && area.height > 2 {
        let y = area.y + if bordered { 2 } else { 1 };
        let x = area.x + u16::from(bordered);
        let r = Rect::new(x, y, inner_w, 1);
        frame.render_widget(
            Paragraph::new(Line::styled("no connection yet", th.dim())),
            r,
        );
    }
}

fn render_dns(frame: &mut Frame, area: Rect, t: &TargetState, th: Theme, now: SystemTime) {
    let inner_h = usize::from(area.height.saturating_sub(2));
    let w = usize::from(area.width.saturating_sub(2));
    let mut lines = Vec::new();
    for d in t.dns.iter().rev().take(inner_h) {
        let head = format!(
            "{}  {:<10} {:>7}  ",
            clock(d.at),
            d.cause.as_str(),
            ms(d.duration_ms)
        );
        let (text, style) = match &d.outcome {
            DnsOutcome::Answer { addrs, ttl_s } => {
                let a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                let left = ttl_s.saturating_sub(since(now, d.at).as_secs());
                (
                    format!("{}  ttl {ttl_s}s ({left}s left)", a.join(" ")),
                    Default::default(),
                )
            }
            DnsOutcome::Failed { kind, error } => (format!("FAILED {kind}: {error}"), th.bad()),
        };
        lines.push(Line::from(vec![
            Span::raw(head.clone()),
            Span::styled(fit(&text, w.saturating_sub(head.chars().count())), style),
        ]));
    }
    if t.dns.is_empty() {
        lines.push(Line::styled(
            "no lookup yet (a reused connection never resolves)",
            th.dim(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" DNS history ")),
        area,
    );
}

fn render_scrapes(frame: &mut Frame, area: Rect, t: &TargetState, th: Theme) {
    let block = Block::bordered().title(format!(" scrapes (last {}) ", t.scrapes.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let [spark, list] =
        Layout::vertical([Constraint::Length(2.min(inner.height)), Constraint::Fill(1)])
            .areas(inner);
    // The sparkline shows the newest scrapes that fit, oldest on the left.
    let data: Vec<u64> = t
        .scrapes
        .iter()
        .rev()
        .take(usize::from(spark.width))
        .map(|s| (s.duration_ms() * 10.0) as u64)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    frame.render_widget(Sparkline::default().data(&data).style(th.good()), spark);
    let w = usize::from(list.width);
    let lines: Vec<Line> = t
        .scrapes
        .iter()
        .rev()
        .take(usize::from(list.height))
        .map(|s| {
            let text = format!(
                "{} {:>7} {} {:>6}B {:>4} samples{}{}",
                clock(s.at()),
                ms(s.duration_ms()),
                s.status().map_or("---".to_string(), |c| c.to_string()),
                s.bytes(),
                s.samples(),
                if s.reused() { " reused" } else { " new" },
                s.error().map(|e| format!(" {e}")).unwrap_or_default()
            );
            Line::styled(
                fit(&text, w),
                if s.up() { Default::default() } else { th.bad() },
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
}

fn render_probe(frame: &mut Frame, area: Rect, t: &TargetState, th: Theme, now: SystemTime) {
    let w = usize::from(area.width.saturating_sub(2));
    let opt = |v: Option<f64>| v.map_or("-".to_string(), ms);
    let lines = match &t.probe {
        None => vec![Line::styled(
            "no probe yet (p probes on a fresh connection)",
            th.dim(),
        )],
        Some(p) => {
            let verdict = if p.ok {
                Span::styled("ok", th.good())
            } else {
                Span::styled(
                    format!(
                        "FAILED {}: {}",
                        p.kind.map_or("?", |k| k.as_str()),
                        p.error.as_deref().unwrap_or("")
                    ),
                    th.bad(),
                )
            };
            let first = vec![
                Span::raw(format!("{} ago · ", age(since(now, p.at)))),
                verdict,
            ];
            let mut peer = vec![Span::raw(format!(
                "peer {}",
                p.peer.map_or("-".to_string(), |a| a.to_string())
            ))];
            if p.hidden_failure {
                peer.push(Span::styled(
                    " · hidden: the pooled connection still works",
                    th.warn(),
                ));
            }
            vec![
                Line::from(first),
                Line::from(fit(
                    &format!(
                        "resolve {} connect {} first byte {} total {}",
                        opt(p.resolve_ms),
                        opt(p.connect_ms),
                        opt(p.first_byte_ms),
                        ms(p.total_ms)
                    ),
                    w,
                )),
                Line::from(peer),
            ]
        }
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" latest probe ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
