//! The targets table. Rows are built only for the visible slice of the sorted index.
//!
//! ```text
//! job      instance          up   conn          flags fd    age    dns age/answer      reconn  last hour
//! node     10.0.0.1:9100     up   idle          ···   12    6m39s  -                   1/1     ━━━━━━━p━━━━
//! node     db.example:9100   up   idle          SD·   14    9m57s  1m30s FAIL timeout  0/0     ━━━━━━━━━━━━
//! ```
//! Which columns show at which width, and why, is in `columns`.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::event::Health;
use crate::model::{ConnState, DnsOutcome, DnsRecord, Model, TargetState};
use crate::tui::columns::{self, Column, DNS_FULL};
use crate::tui::format::{Theme, age, fit, ms, since};
use crate::tui::index::error_of;
use crate::tui::timeline::{self, Axis};
use crate::tui::view::TargetsView;

pub(super) fn render(
    frame: &mut Frame,
    area: Rect,
    m: &Model,
    view: &mut TargetsView,
    th: Theme,
    (now, window): (SystemTime, Duration),
) {
    view.scroll_to_selection(usize::from(area.height.saturating_sub(1)));
    // The instance column grows to the longest visible instance when there is room to spare
    // (only the visible rows are measured), so long names are not cut on wide terminals.
    // Targets sharing an instance (blackbox modules, two paths on one host) are told apart
    // by what differs, appended to the instance.
    let labels: Vec<_> = view
        .visible()
        .iter()
        .map(|&slot| m.instance_label(slot))
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let cols = columns::layout(area.width, u16::try_from(longest).unwrap_or(u16::MAX));
    let widths: Vec<Constraint> = cols.iter().map(|(_, w)| Constraint::Length(*w)).collect();
    let arrow = if view.view.desc { "▼" } else { "▲" };
    let header = Row::new(cols.iter().map(|(c, w)| {
        if *c == Column::History {
            Cell::from(timeline::window_name(window))
        } else if *c == view.view.sort {
            Cell::from(format!("{}{arrow}", c.title_at(*w)))
        } else {
            Cell::from(c.title_at(*w))
        }
    }))
    .style(th.title());

    if view.rows.is_empty() {
        let msg = if m.totals.targets == 0 {
            "no targets yet"
        } else {
            "no target matches the filter (esc clears it)"
        };
        let table = Table::new(Vec::<Row>::new(), widths).header(header);
        frame.render_widget(table, area);
        if area.height > 2 {
            let r = Rect {
                y: area.y + 2,
                height: 1,
                ..area
            };
            frame.render_widget(Paragraph::new(Line::styled(msg, th.dim())), r);
        }
        return;
    }

    let rows: Vec<Row> = view
        .visible()
        .iter()
        .zip(&labels)
        .filter_map(|(&slot, l)| Some((m.targets.get(slot)?, l)))
        .map(|(t, l)| {
            Row::new(cols.iter().map(|(c, w)| match c {
                Column::History => {
                    let axis = Axis {
                        now,
                        cells: usize::from(*w),
                        window,
                    };
                    Cell::from(super::timeline::conn_strip(t, axis, th))
                }
                _ => cell(*c, *w, t, l, th, now),
            }))
        })
        .collect();
    let mut state = TableState::default();
    state.select(view.selected_row().map(|r| r.saturating_sub(view.offset)));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(th.selected());
    frame.render_stateful_widget(table, area, &mut state);
}

/// The last lookup: `age answer` (or `age FAIL kind`); from [`DNS_FULL`] cells also the
/// lookup's duration and the TTL left.
fn dns_cell(d: &DnsRecord, w: usize, th: Theme, now: SystemTime) -> Cell<'static> {
    let ago = age(since(now, d.at));
    let full = w >= usize::from(DNS_FULL);
    let head = if full {
        format!("{ago} {}", ms(d.duration_ms))
    } else {
        ago
    };
    match &d.outcome {
        DnsOutcome::Answer { addrs, ttl_s } => {
            let answer = match addrs.as_slice() {
                [] => "(empty)".to_string(),
                [a] => a.to_string(),
                [a, rest @ ..] => format!("{a}+{}", rest.len()),
            };
            let text = if full {
                let left = ttl_s.saturating_sub(since(now, d.at).as_secs());
                format!("{head} {answer} ttl {left}s")
            } else {
                format!("{head} {answer}")
            };
            Cell::from(fit(&text, w))
        }
        DnsOutcome::Failed { kind, .. } => Cell::from(Span::styled(
            fit(&format!("{head} FAIL {kind}"), w),
            th.bad(),
        )),
    }
}

fn cell(
    c: Column,
    w: u16,
    t: &TargetState,
    instance: &str,
    th: Theme,
    now: SystemTime,
) -> Cell<'static> {
    let w = usize::from(w);
    let conn = t.open_conn();
    let dash = || Cell::from(Span::styled("-", th.dim()));
    match c {
        Column::Job => Cell::from(fit(&t.job, w)),
        Column::Instance => Cell::from(fit(instance, w)),
        Column::Health => match t.health {
            Health::Up => Cell::from(Span::styled("up", th.good())),
            Health::Down => Cell::from(Span::styled("down", th.bad())),
            Health::Unknown => Cell::from(Span::styled("?", th.dim())),
        },
        Column::State => match t.pending {
            Some(p) => Cell::from(Span::styled(p.as_str(), th.warn())),
            None => {
                let style = match t.conn_state {
                    ConnState::Failing => th.bad(),
                    ConnState::Idle | ConnState::InFlight => th.good(),
                    ConnState::Resolving | ConnState::Dialling => th.warn(),
                    ConnState::Closed | ConnState::None => th.dim(),
                };
                Cell::from(Span::styled(t.conn_state.as_str(), style))
            }
        },
        Column::Fd => conn.map_or_else(dash, |c| Cell::from(c.fd.to_string())),
        Column::Peer => conn.map_or_else(dash, |c| {
            let style = if t.stale {
                th.warn()
            } else {
                Default::default()
            };
            Cell::from(Span::styled(fit(&c.peer.to_string(), w), style))
        }),
        Column::LocalPort => conn.map_or_else(dash, |c| Cell::from(c.local.port().to_string())),
        Column::Age => conn.map_or_else(dash, |c| Cell::from(age(since(now, c.opened)))),
        Column::Requests => conn.map_or_else(dash, |c| Cell::from(c.requests.to_string())),
        Column::Reconnects => {
            let hour = t.reconnects_since(now, Duration::from_secs(3600));
            let style = if hour > 0 {
                th.warn()
            } else {
                Default::default()
            };
            Cell::from(Span::styled(
                format!("{hour}/{}", t.reconnects_total),
                style,
            ))
        }
        Column::Dns => t.last_dns().map_or_else(dash, |d| dns_cell(d, w, th, now)),
        // Drawn by the caller, which knows the window.
        Column::History => Cell::from(""),
        Column::Flags => {
            let f = |on: bool, ch: char| if on { ch } else { '·' };
            let text = format!(
                "{}{}{}",
                f(t.stale, 'S'),
                f(t.dns_failing, 'D'),
                f(t.probe_failed, 'P')
            );
            let style = if t.stale || t.dns_failing || t.probe_failed {
                th.warn()
            } else {
                th.dim()
            };
            Cell::from(Span::styled(text, style))
        }
        Column::Scrape => t
            .last_scrape()
            .map_or_else(dash, |s| Cell::from(ms(s.duration_ms()))),
        Column::Error => match error_of(t) {
            Some(e) => Cell::from(Span::styled(e.to_string(), th.bad())),
            None => Cell::from(""),
        },
    }
}
