//! One target in full. j/k move to the neighbouring target of the table.
//!
//! ```text
//! ┌ job / instance ─────────────────────────────────────────────┐
//! │ url … pool … every 15s, timeout 10s                          │
//! │ health · conn · fd · local → peer · flags · reconnects        │
//! └──────────────────────────────────────────────────────────────┘
//! ┌ connections (timeline) ──────────┐┌ scrapes ────────────────┐
//! │ opened  id fd local→peer reqs end ││ ▂▃▅▂▁ sparkline          │
//! └───────────────────────────────────┘│ recent scrapes           │
//! ┌ DNS history ─────────────────────┐├ latest probe ───────────┤
//! │ at cause dur answer ttl           ││ resolve connect ttfb …   │
//! └───────────────────────────────────┘└──────────────────────────┘
//! ```
//! Below 120 columns the right-hand column goes under the left one.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use crate::model::{DnsOutcome, TargetState};
use crate::tui::app::App;
use crate::tui::format::{Theme, age, clock, fit, ms, since};

pub(super) fn render(frame: &mut Frame, area: Rect, app: &mut App, now: SystemTime) {
    let th = app.theme;
    let m = app.shown();
    let Some(t) = app.selected.and_then(|s| m.targets.get(s)) else {
        let p = Paragraph::new("no target selected: pick one on the targets screen (1)")
            .block(Block::bordered().title(" detail "));
        frame.render_widget(p, area);
        return;
    };
    // On a short screen the info block loses its border so the histories keep some rows.
    let roomy = area.height >= 30;
    let info_h = if roomy { 5 } else { 3 };
    let [info, rest] =
        Layout::vertical([Constraint::Length(info_h), Constraint::Fill(1)]).areas(area);
    render_info(frame, info, t, th, now, roomy);
    if area.width >= 120 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(rest);
        let [conns, dns] = Layout::vertical([Constraint::Fill(3), Constraint::Fill(2)]).areas(left);
        let [scrapes, probe] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(5)]).areas(right);
        render_conns(frame, conns, t, th);
        render_dns(frame, dns, t, th, now);
        render_scrapes(frame, scrapes, t, th);
        render_probe(frame, probe, t, th, now);
    } else {
        let [conns, dns, bottom] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(5),
        ])
        .areas(rest);
        let [scrapes, probe] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bottom);
        render_conns(frame, conns, t, th);
        render_dns(frame, dns, t, th, now);
        render_scrapes(frame, scrapes, t, th);
        render_probe(frame, probe, t, th, now);
    }
}

fn render_info(
    frame: &mut Frame,
    area: Rect,
    t: &TargetState,
    th: Theme,
    now: SystemTime,
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
    let mut third = Vec::new();
    if let Some(c) = t.open_conn() {
        state.push(Span::raw(format!(
            " · fd {} · {} → {}",
            c.fd, c.local, c.peer
        )));
        third.push(Span::raw(format!(
            "conn age {} · {} reqs · ",
            age(since(now, c.opened)),
            c.requests
        )));
    }
    third.push(Span::raw(format!(
        "reconnects {}/{} (1h/total)",
        t.reconnects_since(now, std::time::Duration::from_secs(3600)),
        t.reconnects_total
    )));
    for (on, text) in [
        (t.stale, " STALE PEER"),
        (t.dns_failing, " DNS FAILING"),
        (t.probe_failed, " PROBE FAILED"),
    ] {
        if on {
            third.push(Span::styled(text, th.warn()));
        }
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

fn render_conns(frame: &mut Frame, area: Rect, t: &TargetState, th: Theme) {
    let inner_h = usize::from(area.height.saturating_sub(3));
    let w = usize::from(area.width.saturating_sub(2));
    let mut lines = vec![Line::styled(
        fit(
            "opened    conn  fd    local → peer                         reqs  lived   ended",
            w,
        ),
        th.title(),
    )];
    // Newest first: the most recent reconnects are what the operator came for.
    for c in t.conns.iter().rev().take(inner_h) {
        let (lived, end, style) = match c.closed {
            Some((at, reason)) => (
                age(at.duration_since(c.opened).unwrap_or_default()),
                reason.to_string(),
                th.dim(),
            ),
            None => ("-".to_string(), "open".to_string(), th.good()),
        };
        let line = format!(
            "{}  {:<5} {:<5} {:<36} {:<5} {:<7} ",
            clock(c.opened),
            c.conn_id,
            c.fd,
            format!("{} → {}", c.local, c.peer),
            c.requests,
            lived
        );
        lines.push(Line::from(vec![
            Span::raw(fit(&line, w)),
            Span::styled(end, style),
        ]));
    }
    if t.conns.is_empty() {
        lines.push(Line::styled("no connection yet", th.dim()));
    }
    let title = format!(
        " connections: {} dials, {} reconnects ",
        t.dials_total, t.reconnects_total
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
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
        .map(|s| (s.duration_ms * 10.0) as u64)
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
                clock(s.at),
                ms(s.duration_ms),
                s.status.map_or("---".to_string(), |c| c.to_string()),
                s.bytes,
                s.samples,
                if s.reused { " reused" } else { " new" },
                s.error
                    .as_deref()
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default()
            );
            Line::styled(
                fit(&text, w),
                if s.up { Default::default() } else { th.bad() },
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
