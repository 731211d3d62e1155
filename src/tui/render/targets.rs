//! The targets table. Rows are built only for the visible slice of the sorted index.
//!
//! ```text
//! job      instance           up  conn          fd  … reconn flags scrape error
//! node     10.0.0.1:9100      up  idle          12  …  0/3   S··   4.1ms
//! node     10.0.0.2:9100      dn  reconnecting… 14  …  2/9   ·D·   10s   context deadline…
//! ```
//! Columns that do not fit are dropped by `Column::priority`.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::event::Health;
use crate::model::{ConnState, DnsOutcome, TargetState};
use crate::tui::app::App;
use crate::tui::format::{Theme, age, fit, ms, since};
use crate::tui::index::{Column, error_of};

pub(super) fn render(frame: &mut Frame, area: Rect, app: &mut App, now: SystemTime) {
    let th = app.theme;
    let cols = Column::fitting(area.width);
    let page = usize::from(area.height.saturating_sub(1));
    app.page = page.max(1);
    // Keep the selection visible; the index may have moved it since the last frame.
    if let Some(row) = app.selected_row() {
        if row < app.offset {
            app.offset = row;
        } else if row >= app.offset + app.page {
            app.offset = row + 1 - app.page;
        }
    }
    app.offset = app.offset.min(app.rows.len().saturating_sub(app.page));

    // The instance column grows to the longest visible instance when there is room to spare
    // (only the visible rows are measured), so long names are not cut on wide terminals.
    let m = app.shown();
    let end = (app.offset + app.page).min(app.rows.len());
    // Targets sharing an instance (blackbox modules, two paths on one host) are told apart
    // by what differs, appended to the instance.
    let labels: Vec<_> = app.rows[app.offset.min(end)..end]
        .iter()
        .map(|&slot| m.instance_label(slot))
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let base: u16 = cols
        .iter()
        .map(|c| c.width() + 1)
        .sum::<u16>()
        .saturating_sub(1);
    let spare = area.width.saturating_sub(base);
    let inst_w = Column::Instance.width()
        + u16::try_from(longest)
            .unwrap_or(u16::MAX)
            .saturating_sub(Column::Instance.width())
            .min(spare);
    let width_of = |c: Column| {
        if c == Column::Instance {
            inst_w
        } else {
            c.width()
        }
    };
    let fixed: u16 = cols
        .iter()
        .filter(|c| **c != Column::Error)
        .map(|c| width_of(*c) + 1)
        .sum();
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| match c {
            Column::Error => Constraint::Min(area.width.saturating_sub(fixed).max(c.width())),
            c => Constraint::Length(width_of(*c)),
        })
        .collect();
    let arrow = if app.view.desc { "▼" } else { "▲" };
    let header = Row::new(cols.iter().map(|c| {
        if *c == app.view.sort {
            Cell::from(format!("{}{arrow}", c.title()))
        } else {
            Cell::from(c.title())
        }
    }))
    .style(th.title());

    if app.rows.is_empty() {
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

    let visible = &app.rows[app.offset..end];
    let rows: Vec<Row> = visible
        .iter()
        .zip(&labels)
        .filter_map(|(&slot, l)| Some((m.targets.get(slot)?, l)))
        .map(|(t, l)| Row::new(cols.iter().map(|c| cell(*c, width_of(*c), t, l, th, now))))
        .collect();
    let mut state = TableState::default();
    state.select(app.selected_row().map(|r| r.saturating_sub(app.offset)));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(th.selected());
    frame.render_stateful_widget(table, area, &mut state);
}

fn cell<'a>(
    c: Column,
    w: u16,
    t: &'a TargetState,
    instance: &str,
    th: Theme,
    now: SystemTime,
) -> Cell<'a> {
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
        Column::Dns => match t.last_dns() {
            None => dash(),
            Some(d) => {
                let head = format!("{} {}", age(since(now, d.at)), ms(d.duration_ms));
                match &d.outcome {
                    DnsOutcome::Answer { addrs, ttl_s } => {
                        let left = ttl_s.saturating_sub(since(now, d.at).as_secs());
                        let answer = match addrs.as_slice() {
                            [] => "(empty)".to_string(),
                            [a] => a.to_string(),
                            [a, rest @ ..] => format!("{a}+{}", rest.len()),
                        };
                        Cell::from(fit(&format!("{head} {answer} ttl {left}s"), w))
                    }
                    DnsOutcome::Failed { kind, .. } => Cell::from(Span::styled(
                        fit(&format!("{head} FAILED {kind}"), w),
                        th.bad(),
                    )),
                }
            }
        },
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
            .map_or_else(dash, |s| Cell::from(ms(s.duration_ms))),
        Column::Error => match error_of(t) {
            Some(e) => Cell::from(Span::styled(e.to_string(), th.bad())),
            None => Cell::from(""),
        },
    }
}
