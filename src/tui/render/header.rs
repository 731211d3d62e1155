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

use crate::model::Rate;
use crate::tui::app::{App, OLD_CONN};
use crate::tui::format::age;
use crate::tui::keys::Action;

/// Width of the descriptor gauge bar.
const GAUGE: usize = 24;

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, now: SystemTime) {
    let th = app.theme;
    let m = app.shown();
    let t = &m.totals;
    let n = |v: u64| v.to_string();

    let mut title = vec![Span::styled("scrapetop", th.title())];
    // Dropped events first: a UI that silently loses events lies to the operator.
    if m.dropped > 0 {
        title.push(Span::styled(
            format!("  events dropped: {}", n(m.dropped)),
            th.bad(),
        ));
    }
    if app.facts.demo {
        let quit = app
            .bindings
            .keys(Action::Quit)
            .first()
            .map(|k| k.to_string());
        title.push(Span::styled(
            format!(
                "  DEMO (simulated targets) · {} quits",
                quit.as_deref().unwrap_or("ctrl+c")
            ),
            th.warn(),
        ));
    }
    if app.frozen.is_some() {
        title.push(Span::styled("  FROZEN (engine keeps running)", th.warn()));
    }
    if m.paused {
        title.push(Span::styled("  scraping paused", th.warn()));
    }
    if app.engine_gone {
        title.push(Span::styled("  engine stopped", th.bad()));
    }

    let totals = Line::from(vec![
        Span::raw(format!("targets {}  ", t.targets)),
        Span::styled(format!("up {}", t.up), th.good()),
        Span::raw("  "),
        Span::styled(
            format!("down {}", t.down),
            if t.down > 0 { th.bad() } else { th.dim() },
        ),
        Span::raw(format!(
            "  · conns open {}  idle {}  in flight {}",
            t.conns_open, app.derived.idle_conns, t.in_flight
        )),
    ]);

    let pm = |r: Rate| m.per_minute(now, r);
    let fail_style = |v: u64| if v > 0 { th.bad() } else { th.dim() };
    let rates = Line::from(vec![
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
    ]);

    let fds = match m.fds {
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
    };

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
            format!("age>{} {}", age(OLD_CONN), app.derived.old_conns),
            hidden_style(app.derived.old_conns),
        ),
    ];
    if m.dropped > 0 {
        hidden.push(Span::styled(
            format!("  dropped {}", n(m.dropped)),
            th.bad(),
        ));
    }

    let lines = vec![Line::from(title), totals, rates, fds, Line::from(hidden)];
    frame.render_widget(Paragraph::new(lines), area);
}
