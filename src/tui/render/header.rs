//! The header: what every screen shows on top.
//!
//! ```text
//! scrapetop  events dropped: 3  DEMO … q to quit              FROZEN  paused
//! targets 6  up 3  down 2  · conns open 4  idle 3  in flight 1
//! per min: dials 5  closes 2  dial fails 1 · dns 8  fails 2 · scrapes 40
//! fds [█████▓▒░░░░░░░░░░░░░] 1234/65536 2%  sockets 1200  files 20  other 14
//! hidden by live conns: stale peer 1 · DNS failing 1 · probe failing 1 · age>1h00m 2
//! ```

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::{Model, Rate};
use crate::tui::derived::{Derived, OLD_CONN};
use crate::tui::format::{Theme, age};
use crate::tui::keys::KeyBinding;

/// Width of the descriptor gauge bar.
const GAUGE: usize = 24;

/// What the header shows.
pub(super) struct Header<'a> {
    /// The shown model.
    pub model: &'a Model,
    /// Aggregates (idle and old connections).
    pub derived: &'a Derived,
    /// Running the built-in demo (the title says so and how to leave).
    pub demo: bool,
    /// The first key bound to quit.
    pub quit_key: Option<&'a KeyBinding>,
    /// The display is frozen.
    pub frozen: bool,
    /// The engine's event channel closed.
    pub engine_gone: bool,
}

pub(super) fn render(frame: &mut Frame, area: Rect, h: &Header<'_>, th: Theme, now: SystemTime) {
    let lines = vec![
        title_line(h, th),
        totals_line(h, th),
        rates_line(h.model, th, now),
        fds_line(h.model, th),
        hidden_line(h, th),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}

fn title_line(h: &Header<'_>, th: Theme) -> Line<'static> {
    let m = h.model;
    let n = |v: u64| v.to_string();
    let mut title = vec![Span::styled("scrapetop", th.title())];
    // Dropped events first: a UI that silently loses events lies to the operator.
    if m.dropped > 0 {
        title.push(Span::styled(
            format!("  events dropped: {}", n(m.dropped)),
            th.bad(),
        ));
    }
    if h.demo {
        let quit = h.quit_key.map(|k| k.to_string());
        title.push(Span::styled(
            format!(
                "  DEMO (simulated targets) · {} quits",
                quit.as_deref().unwrap_or("ctrl+c")
            ),
            th.warn(),
        ));
    }
    if h.frozen {
        title.push(Span::styled("  FROZEN (engine keeps running)", th.warn()));
    }
    if m.paused {
        title.push(Span::styled("  scraping paused", th.warn()));
    }
    if h.engine_gone {
        title.push(Span::styled("  engine stopped", th.bad()));
    }
    Line::from(title)
}

fn totals_line(h: &Header<'_>, th: Theme) -> Line<'static> {
    let t = &h.model.totals;

    Line::from(vec![
        Span::raw(format!("targets {}  ", t.targets)),
        Span::styled(format!("up {}", t.up), th.good()),
        Span::raw("  "),
        Span::styled(
            format!("down {}", t.down),
            if t.down > 0 { th.bad() } else { th.dim() },
        ),
        Span::raw(format!(
            "  · conns open {}  idle {}  in flight {}",
            t.conns_open, h.derived.idle_conns, t.in_flight
        )),
    ])
}

fn rates_line(m: &Model, th: Theme, now: SystemTime) -> Line<'static> {
    let pm = |r: Rate| m.per_minute(now, r);
    let fail_style = |v: u64| if v > 0 { th.bad() } else { th.dim() };
    Line::from(vec![
        Span::raw(format!(
            "per min: dials {}  closes {}  ",
            pm(Rate::Dials),
            pm(Rate::Closes)
        )),
        Span::styled(
            format!("dial fails {}", pm(Rate::DialFailures)),
            fail_style(pm(Rate::DialFailures)),
        ),
        Span::raw(format!(" · dns {}  ", pm(Rate::Lookups))),
        Span::styled(
            format!("fails {}", pm(Rate::LookupFailures)),
            fail_style(pm(Rate::LookupFailures)),
        ),
        Span::raw(format!(" · scrapes {}", pm(Rate::Scrapes))),
    ])
}

fn fds_line(m: &Model, th: Theme) -> Line<'static> {
    match m.fds {
        Some(f) if f.soft_limit > 0 => {
            // Any non-zero share gets at least one cell, so a small count is still visible.
            let cells = |v: u64| {
                let c = ((v as f64 / f.soft_limit as f64) * GAUGE as f64).round() as usize;
                if v > 0 { c.max(1) } else { 0 }
            };
            let s = cells(f.sockets).min(GAUGE);
            let fi = cells(f.files).min(GAUGE - s);
            let o = cells(f.pipes + f.other).min(GAUGE - s - fi);
            let pct = f.total as f64 * 100.0 / f.soft_limit as f64;
            let style = if pct >= 90.0 {
                th.bad()
            } else if pct >= 70.0 {
                th.warn()
            } else {
                th.good()
            };
            Line::from(vec![
                Span::raw("fds ["),
                Span::styled(
                    format!("{}{}{}", "█".repeat(s), "▓".repeat(fi), "▒".repeat(o)),
                    style,
                ),
                Span::styled("░".repeat(GAUGE - s - fi - o), th.dim()),
                Span::raw(format!(
                    "] {}/{} {pct:.0}%  sockets {}  files {}  other {}",
                    f.total,
                    f.soft_limit,
                    f.sockets,
                    f.files,
                    f.pipes + f.other
                )),
            ])
        }
        _ => Line::styled("fds: no census yet", th.dim()),
    }
}

fn hidden_line(h: &Header<'_>, th: Theme) -> Line<'static> {
    let m = h.model;
    let t = &m.totals;
    let hidden_style = |v: u64| if v > 0 { th.warn() } else { th.dim() };
    let mut hidden = vec![
        Span::raw("hidden by live conns: "),
        Span::styled(format!("stale peer {}", t.stale), hidden_style(t.stale)),
        Span::raw(" · "),
        Span::styled(
            format!("DNS failing {}", t.dns_failing),
            hidden_style(t.dns_failing),
        ),
        Span::raw(" · "),
        Span::styled(
            format!("probe failing {}", t.hidden_failures),
            hidden_style(t.hidden_failures),
        ),
        Span::raw(" · "),
        Span::styled(
            format!("age>{} {}", age(OLD_CONN), h.derived.old_conns),
            hidden_style(h.derived.old_conns),
        ),
    ];
    if m.dropped > 0 {
        hidden.push(Span::styled(format!("  dropped {}", m.dropped), th.bad()));
    }
    Line::from(hidden)
}
