//! Drawing the reconnect timeline (see `tui::timeline` for what the lanes mean).
//!
//! ```text
//! last hour: 40 reconnects · every ~3s since 10:42 · ends: t timeout 38 · f forced 2
//!       10:00     10:10     10:20     10:30     10:40     10:50       now
//! conns ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━f━━━t+++++++++
//! dns   ·                    ◆                          · x x x
//! probe                                     ✓                    ✗
//! ━ open · 2-9,+ several ends in a cell · ░ not kept · ◆ answer changed · x failed  (1 cell ≈ 48s)
//! ```

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::model::{RECONNECT_HISTORY, TargetState};
use crate::tui::format::{Theme, age, clock, fit};
use crate::tui::timeline::{
    self, Axis, ConnCell, DnsCell, ProbeCell, ProbeMark, conn_glyph, dns_glyph, ends_by_reason,
    probe_glyph, reason_mark, severity,
};

/// Width of the lane names (`conns `, `dns   `, `probe `).
const LABEL: usize = 6;

/// How a connection cell is coloured: failures red, closes by the other side or a limit
/// yellow, open connections green, the operator's own closes plain.
pub(super) fn conn_style(c: ConnCell, th: Theme) -> Style {
    match c {
        ConnCell::Unknown | ConnCell::Empty => th.dim(),
        ConnCell::Open => th.good(),
        ConnCell::Ends { reason, .. } => match severity(reason) {
            2 => th.bad(),
            1 => th.warn(),
            _ => Style::default(),
        },
    }
}

/// Cells as spans, consecutive cells of one style in one span.
fn spans<C: Copy>(
    cells: &[C],
    glyph: impl Fn(C) -> char,
    style: impl Fn(C) -> Style,
) -> Vec<Span<'static>> {
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut cur: Option<Style> = None;
    for &c in cells {
        let st = style(c);
        if cur.is_some_and(|s| s != st) {
            out.push(Span::styled(
                std::mem::take(&mut text),
                cur.unwrap_or_default(),
            ));
        }
        cur = Some(st);
        text.push(glyph(c));
    }
    if !text.is_empty() {
        out.push(Span::styled(text, cur.unwrap_or_default()));
    }
    out
}

/// The connection lane alone, as spans (the targets table's strip).
pub(super) fn conn_strip(t: &TargetState, axis: Axis, th: Theme) -> Line<'static> {
    let lane = timeline::conn_lane(t, axis);
    Line::from(spans(&lane, conn_glyph, |c| conn_style(c, th)))
}

/// Clock labels under round minutes, `now` at the right end.
fn axis_line(axis: Axis) -> String {
    let n = axis.cells;
    let mut buf: Vec<char> = vec![' '; n];
    // The smallest round interval whose labels ("HH:MM" and a space) do not touch.
    let minutes = [1u64, 2, 5, 10, 15, 20, 30, 60]
        .into_iter()
        .find(|m| (*m as f64 * 60.0 / axis.step().as_secs_f64()) >= 7.0)
        .unwrap_or(60);
    let every = minutes * 60;
    let start = axis
        .start()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now_at = n.saturating_sub(3);
    let mut tick = start.div_ceil(every) * every;
    while let Some(i) = axis.cell(SystemTime::UNIX_EPOCH + Duration::from_secs(tick)) {
        let label = clock(SystemTime::UNIX_EPOCH + Duration::from_secs(tick));
        let label: Vec<char> = label.chars().take(5).collect();
        if i + label.len() < now_at {
            buf[i..i + label.len()].copy_from_slice(&label);
        }
        tick += every;
    }
    if n >= 3 {
        buf[now_at..now_at + 3].copy_from_slice(&['n', 'o', 'w']);
    }
    buf.into_iter().collect()
}

/// "22 reconnects" (in the window; "≥64" once the kept reconnect times are all inside it).
pub(super) fn reconnect_count(t: &TargetState, axis: Axis) -> String {
    let n = t.reconnects_since(axis.now, axis.window);
    let full = t.reconnect_times.len() >= RECONNECT_HISTORY && n >= RECONNECT_HISTORY;
    format!(
        "{}{n} reconnect{}",
        if full { "≥" } else { "" },
        if n == 1 { "" } else { "s" }
    )
}

/// "every ~3s since 10:42:10" (or "10:42:10–10:50:03" once the run stopped), for the newest
/// steady run of reconnects inside the window.
pub(super) fn cadence_text(t: &TargetState, axis: Axis) -> Option<String> {
    let c = timeline::cadence(&t.reconnect_times, axis.now)?;
    if c.since < axis.start() {
        return None;
    }
    let every = if c.every.as_secs() == 0 {
        format!("{}ms", c.every.as_millis())
    } else {
        age(c.every)
    };
    let when = match c.until {
        Some(u) => format!("{}–{}", clock(c.since), clock(u)),
        None if c.at_least => format!("since before {}", clock(c.since)),
        None => format!("since {}", clock(c.since)),
    };
    Some(format!("every ~{every} {when}"))
}

/// "ends: t timeout 38 · f forced 2": how the window's connections ended, by reason, each with
/// its mark on the lane (so this is also the legend of the letters).
fn ends(t: &TargetState, axis: Axis, th: Theme) -> Vec<Span<'static>> {
    let ends = ends_by_reason(t, axis);
    if ends.is_empty() {
        return vec![Span::styled("no connection ended", th.dim())];
    }
    let mut spans = vec![Span::raw("ends:")];
    for (i, (reason, count)) in ends.into_iter().enumerate() {
        let mark = ConnCell::Ends { count: 1, reason };
        spans.push(Span::raw(if i == 0 { " " } else { " · " }));
        spans.push(Span::styled(
            format!("{} {reason} {count}", reason_mark(reason)),
            conn_style(mark, th),
        ));
    }
    spans
}

/// What the other glyphs mean, and how long a cell is.
fn legend(axis: Axis) -> String {
    format!(
        " · ━ open · 2-9,+ several ends in a cell · ░ history not kept · dns: · lookup ◆ new answer x failed · probe ✓ ok ✗ failed · 1 cell ≈ {}",
        age(axis.step())
    )
}

fn lane<C: Copy>(
    name: &str,
    cells: &[C],
    glyph: impl Fn(C) -> char,
    style: impl Fn(C) -> Style,
    th: Theme,
) -> Line<'static> {
    let mut s = vec![Span::styled(format!("{name:<LABEL$}"), th.dim())];
    s.extend(spans(cells, glyph, style));
    Line::from(s)
}

/// The timeline of one target: a summary line, the axis, and the connection, DNS and probe
/// lanes; bordered (with the legend inside) when there is room, else five plain lines.
pub(super) fn render(
    frame: &mut Frame,
    area: Rect,
    t: &TargetState,
    probes: &[ProbeMark],
    th: Theme,
    (now, window): (SystemTime, Duration),
    bordered: bool,
) {
    let inner_w = usize::from(area.width.saturating_sub(if bordered { 2 } else { 0 }));
    let axis = Axis {
        now,
        cells: inner_w.saturating_sub(LABEL).max(1),
        window,
    };
    let conns = timeline::conn_lane(t, axis);
    let dns = timeline::dns_lane(t, axis);
    let probe = timeline::probe_lane(probes, axis);
    let dns_style = |c: DnsCell| match c {
        DnsCell::Failed => th.bad(),
        DnsCell::Changed => th.warn(),
        _ => th.dim(),
    };
    let probe_style = |c: ProbeCell| match c {
        ProbeCell::Failed => th.bad(),
        _ => th.good(),
    };
    let mut lines = vec![
        Line::styled(format!("{:LABEL$}{}", "", axis_line(axis)), th.dim()),
        lane("conns", &conns, conn_glyph, |c| conn_style(c, th), th),
        lane("dns", &dns, dns_glyph, dns_style, th),
        lane("probe", &probe, probe_glyph, probe_style, th),
    ];
    let mut ends = ends(t, axis, th);
    if bordered {
        // Title: the count and the run; inside, under the lanes: the ends and the legend.
        let mut title = vec![Span::styled(
            format!(
                " {}: {}",
                timeline::window_name(axis.window),
                reconnect_count(t, axis)
            ),
            th.title(),
        )];
        if let Some(c) = cadence_text(t, axis) {
            title.push(Span::styled(format!(" · {c}"), th.warn()));
        }
        title.push(Span::raw(" "));
        let used: usize = ends.iter().map(|s| s.width()).sum();
        ends.push(Span::styled(
            fit(&legend(axis), inner_w.saturating_sub(used)),
            th.dim(),
        ));
        lines.push(Line::from(ends));
        let block = Block::bordered().title(Line::from(title));
        frame.render_widget(Paragraph::new(lines).block(block), area);
    } else {
        // Five plain lines: the count and the run are on the info lines above.
        ends.insert(
            0,
            Span::styled(
                format!("{} · ", timeline::window_name(axis.window)),
                th.title(),
            ),
        );
        lines.insert(0, Line::from(ends));
        frame.render_widget(Paragraph::new(lines), area);
    }
}
