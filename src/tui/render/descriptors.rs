//! The process's descriptors: census by kind against the limits, and which connection each
//! socket belongs to.
//!
//! ```text
//! ┌ descriptors ───────────────────────────────────────────────────────────┐
//! │ open 1234 of soft 65536 (hard 1048576) · headroom 64302 (98%)           │
//! │ sockets 1200 (1190 scrape connections, 10 other) · files 20 · pipes 4 … │
//! └─────────────────────────────────────────────────────────────────────────┘
//! ┌ sockets of scrape connections ──────────────────────────────────────────┐
//! │ fd    conn  target              local → peer               age  pool     │
//! └─────────────────────────────────────────────────────────────────────────┘
//! ```

use std::path::Path;
use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table};

use crate::model::{Model, OpenConn};
use crate::tui::format::{Theme, age, fit, since};

/// What the descriptors screen shows.
pub(super) struct Descriptors<'a> {
    /// The shown model (census, target names).
    pub model: &'a Model,
    /// Open scrape connections by fd.
    pub sockets: &'a [OpenConn],
    /// The log file (one of the process's files).
    pub log_file: &'a Path,
}

pub(super) fn render(
    frame: &mut Frame,
    area: Rect,
    d: &Descriptors<'_>,
    scroll: &mut usize,
    th: Theme,
    now: SystemTime,
) {
    let [top, bottom] = Layout::vertical([Constraint::Length(5), Constraint::Fill(1)]).areas(area);
    let inner_rows = usize::from(bottom.height.saturating_sub(3));
    *scroll = (*scroll).min(d.sockets.len().saturating_sub(inner_rows));
    let m = d.model;
    let socks = d.sockets;
    let lines = census_lines(d, th);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" descriptors ")),
        top,
    );

    let wide = area.width >= 120;
    let rows: Vec<Row> = socks
        .iter()
        .skip(*scroll)
        .take(inner_rows)
        .map(|c| {
            let target = m
                .targets
                .get(c.slot)
                .map_or("-".to_string(), |t| format!("{}/{}", t.job, t.instance));
            let mut cells = vec![
                c.fd.to_string(),
                c.conn_id.to_string(),
                fit(&target, 28),
                format!("{} → {}", c.local, c.peer),
                age(since(now, c.opened)),
            ];
            if wide {
                cells.push(c.pool.to_string());
            }
            Row::new(cells)
        })
        .collect();
    // Below 120 columns the pool column goes (the pools screen has it).
    let mut widths = vec![
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(if wide { 28 } else { 22 }),
        Constraint::Length(if wide { 44 } else { 34 }),
        Constraint::Length(6),
    ];
    let mut titles = vec!["fd", "conn", "target", "local → peer", "age"];
    if wide {
        widths.push(Constraint::Fill(1));
        titles.push("pool");
    }
    let header = Row::new(titles).style(th.title());
    let block =
        Block::bordered().title(format!(" sockets of scrape connections: {} ", socks.len()));
    frame.render_widget(Table::new(rows, widths).header(header).block(block), bottom);
}

/// The census against the limits, and what the sockets are.
fn census_lines(d: &Descriptors<'_>, th: Theme) -> Vec<Line<'static>> {
    match d.model.fds {
        None => vec![Line::styled("no descriptor census yet", th.dim())],
        Some(f) => {
            let head = f.soft_limit.saturating_sub(f.total);
            let pct = if f.soft_limit > 0 {
                head as f64 * 100.0 / f.soft_limit as f64
            } else {
                0.0
            };
            let style = if pct < 10.0 {
                th.bad()
            } else if pct < 30.0 {
                th.warn()
            } else {
                th.good()
            };
            vec![
                Line::from(vec![
                    Span::raw(format!(
                        "open {} of soft limit {} (hard {}) · ",
                        f.total, f.soft_limit, f.hard_limit
                    )),
                    Span::styled(format!("headroom {head} ({pct:.0}%)"), style),
                ]),
                Line::from(format!(
                    "sockets {} ({} scrape connections, {} other: listeners, resolver, tty…)",
                    f.sockets,
                    d.sockets.len(),
                    f.sockets.saturating_sub(d.sockets.len() as u64)
                )),
                Line::from(format!(
                    "files {} (log file {}) · pipes {} · other {}",
                    f.files,
                    d.log_file.display(),
                    f.pipes,
                    f.other
                )),
            ]
        }
    }
}
