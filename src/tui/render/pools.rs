//! Connection pools: per job and `scheme://host:port`, its connections and the targets using
//! it, so a shared pool (many blackbox probes, a few connections) reads correctly.
//!
//! ```text
//! ┌ pools: 3 pools, 4 connections ─────────────────────────────────────────┐
//! │ pool                         conns idle busy fds        oldest targets  │
//! │ node/http://10.0.0.1:9100        1    1    0 12         5m03s  1 a:9100 │
//! │ blackbox/http://bb:9115          2    1    1 14,15      1h02m 40 x, y…  │
//! └─────────────────────────────────────────────────────────────────────────┘
//! ```

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Row, Table};

use crate::tui::derived::PoolRow;
use crate::tui::format::{Theme, age, fit, since};

pub(super) fn render(
    frame: &mut Frame,
    area: Rect,
    pools: &[PoolRow],
    scroll: &mut usize,
    th: Theme,
    now: SystemTime,
) {
    let conns: u64 = pools.iter().map(|p| p.conns).sum();
    let block = Block::bordered().title(format!(
        " pools: {} pools, {conns} connections ",
        pools.len()
    ));
    let inner_rows = usize::from(area.height.saturating_sub(3));
    *scroll = (*scroll).min(pools.len().saturating_sub(inner_rows));
    let key_w = (usize::from(area.width) / 3).max(24);
    let rows: Vec<Row> = pools
        .iter()
        .skip(*scroll)
        .take(inner_rows)
        .map(|p| {
            let fds: Vec<String> = p.fds.iter().map(|f| f.to_string()).collect();
            let users = p
                .instances
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let more = if p.targets > p.instances.len() {
                ", …"
            } else {
                ""
            };
            Row::new(vec![
                fit(&p.key.to_string(), key_w),
                p.conns.to_string(),
                p.idle.to_string(),
                p.in_flight.to_string(),
                fit(&fds.join(","), 12),
                p.oldest.map_or("-".to_string(), |o| age(since(now, o))),
                format!("{} {users}{more}", p.targets),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(key_w as u16),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let header =
        Row::new(["pool", "conns", "idle", "busy", "fds", "oldest", "targets"]).style(th.title());
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
