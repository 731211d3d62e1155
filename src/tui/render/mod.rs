//! Drawing. One module per screen region; this one lays the frame out and dispatches.
//!
//! ```text
//! ┌──────────────────────────────────────────────────────────────┐
//! │ header: title, totals, rates, fd gauge, hidden problems (5)  │
//! │ tabs: 1 targets 2 detail 3 pools 4 descriptors 5 events      │
//! │                                                              │
//! │ body: the current screen                                     │
//! │                                                              │
//! │ status: prompt, or the latest message                        │
//! │ footer: key hints from the binding table                     │
//! └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! Every render function takes an explicit `now` so that snapshots are stable.

mod descriptors;
mod detail;
mod footer;
mod header;
mod help;
pub mod log;
mod pools;
mod targets;
mod timeline;

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Screen};
use super::format::Theme;
use super::view::TargetsView;

/// The smallest terminal the UI draws in.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Lines of the header.
pub const HEADER_LINES: u16 = 5;

/// The regions of a frame.
#[derive(Debug, Clone, Copy)]
pub struct Areas {
    /// Totals and gauges.
    pub header: Rect,
    /// The source's lasting limitations (attach without root), when it has any.
    pub banner: Rect,
    /// Screen tabs and the table's sort / filter summary.
    pub tabs: Rect,
    /// The current screen.
    pub body: Rect,
    /// Prompt or message line.
    pub status: Rect,
    /// Key hints.
    pub footer: Rect,
}

/// Lines of the limitations banner for `n` limitations: one each, at most two (the second
/// then counts the rest).
pub fn banner_lines(n: usize) -> u16 {
    n.min(2) as u16
}

/// Split the frame into its regions; `banner` lines of limitations under the header.
pub fn areas(area: Rect, banner: u16) -> Areas {
    let [header, banner, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(HEADER_LINES),
        Constraint::Length(banner),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        banner,
        tabs,
        body,
        status,
        footer,
    }
}

/// The screen row of the first data row of the targets table (for mouse clicks), with
/// `banner` lines of limitations shown.
pub fn table_top(area: Rect, banner: u16) -> u16 {
    areas(area, banner).body.y + 1
}

/// Draw one frame of the app as of `now`.
pub fn draw(frame: &mut Frame, app: &mut App, now: SystemTime) {
    let area = frame.area();
    let th = app.theme;
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = vec![
            Line::from("terminal too small"),
            Line::from(format!(
                "{}x{}, need at least {}x{}",
                area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
            )),
            Line::from(format!(
                "{} quits",
                app.bindings.keys_text(super::keys::Action::Quit)
            )),
        ];
        frame.render_widget(Paragraph::new(msg), area);
        return;
    }
    let shown = app.frozen.as_deref().unwrap_or(&app.model);
    let a = areas(area, banner_lines(shown.limitations.len()));
    // Field-wise borrows: the shown model is read while each screen updates its own view.
    let window = app.timeline_window(now);
    let m = app.frozen.as_deref().unwrap_or(&app.model);
    let head = header::Header {
        model: m,
        derived: &app.derived,
        demo: app.facts.demo,
        quit_key: app.bindings.keys(super::keys::Action::Quit).first(),
        frozen: app.frozen.is_some(),
        engine_gone: app.engine_gone,
    };
    header::render(frame, a.header, &head, th, now);
    render_banner(frame, a.banner, &m.limitations, th);
    render_tabs(
        frame,
        a.tabs,
        app.screen,
        &app.targets,
        m.totals.targets,
        th,
    );
    match app.screen {
        Screen::Targets => targets::render(frame, a.body, m, &mut app.targets, th, (now, window)),
        Screen::Detail => {
            let t = app.detail.target.or(app.targets.selected);
            detail::render(frame, a.body, m, t, th, (now, window))
        }
        Screen::Pools => pools::render(
            frame,
            a.body,
            &app.derived.pools,
            &mut app.scrolls.pools,
            th,
            now,
        ),
        Screen::Descriptors => {
            let d = descriptors::Descriptors {
                model: m,
                sockets: &app.derived.sockets,
                log_file: &app.facts.log_file,
            };
            descriptors::render(frame, a.body, &d, &mut app.scrolls.descriptors, th, now)
        }
        Screen::Log => log::render(frame, a.body, m, &mut app.log, app.frozen.is_some(), th),
        Screen::Help => help::render(
            frame,
            a.body,
            &app.bindings,
            &app.facts,
            &mut app.scrolls.help,
            th,
        ),
    }
    let message = app.status.as_deref().or(m.last_message.as_deref());
    footer::render_status(frame, a.status, app.prompt.as_ref(), message, th);
    footer::render_hints(frame, a.footer, &app.bindings, th);
}

/// What the source cannot read or do, on every screen until it quits: one line each, the
/// second counting the rest (all of them are in the events screen and the `state` answer).
fn render_banner(frame: &mut Frame, area: Rect, limitations: &[String], th: Theme) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let lines: Vec<Line<'_>> = limitations
        .iter()
        .take(usize::from(area.height))
        .enumerate()
        .map(|(i, l)| {
            let more = limitations.len().saturating_sub(2);
            let tail = if i == 1 && more > 0 {
                format!(" (+{more} more: events screen)")
            } else {
                String::new()
            };
            let room = width.saturating_sub(4 + tail.chars().count());
            let text: String = if l.chars().count() > room {
                let mut t: String = l.chars().take(room.saturating_sub(1)).collect();
                t.push('…');
                t
            } else {
                l.clone()
            };
            Line::from(Span::styled(format!(" ⚠ {text}{tail}"), th.warn()))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_tabs(
    frame: &mut Frame,
    area: Rect,
    screen: Screen,
    table: &TargetsView,
    targets: u64,
    th: Theme,
) {
    let mut spans = Vec::new();
    for (i, s) in Screen::TABS.iter().enumerate() {
        let style = if *s == screen {
            th.selected()
        } else {
            th.dim()
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, s.title()), style));
    }
    if screen == Screen::Help {
        spans.push(Span::styled(" help ", th.selected()));
    }
    let arrow = if table.view.desc { "▼" } else { "▲" };
    let mut summary = format!(
        " {}/{targets} shown · sort {}{arrow}",
        table.rows.len(),
        table.view.sort.title().split(' ').next().unwrap_or("")
    );
    if table.view.state != super::index::StateFilter::Any {
        summary.push_str(&format!(" · state {}", table.view.state.as_str()));
    }
    if !table.filter_text.is_empty() {
        summary.push_str(&format!(" · filter \"{}\"", table.filter_text));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let room = usize::from(area.width).saturating_sub(used);
    spans.push(Span::styled(super::format::fit(&summary, room), th.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
