//! The live event stream, newest at the bottom; filterable (`/`), pausable (space freezes it
//! with the rest of the display), scrollable.
//!
//! ```text
//! ┌ events: 1234 kept · filter "dns" · frozen ─────────────────────────────┐
//! │ 12:00:01.250 node/10.0.0.1:9100 dns_resolved a.example 10.0.0.1 ttl 30s │
//! │ 12:00:01.300 node/10.0.0.1:9100 conn_opened #7 fd 12 … → …              │
//! └─────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::event::{Event, EventKind};
use crate::model::Model;
use crate::tui::format::{Theme, clock_ms, fit, ms};
use crate::tui::view::LogView;

/// One line of details for an event kind.
// Over 100 lines: a table, one arm per event kind.
pub fn summary(kind: &EventKind) -> String {
    let addrs = |a: &[std::net::IpAddr]| {
        a.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match kind {
        EventKind::TargetAdded {
            url, interval_s, ..
        } => format!("{url} every {interval_s}s"),
        EventKind::TargetRemoved {} => String::new(),
        EventKind::DialStarted { host, port } => format!("{host}:{port}"),
        EventKind::DnsResolved {
            host,
            addrs: a,
            ttl_s,
            duration_ms,
            cause,
        } => {
            format!(
                "{host} → {} ttl {ttl_s}s in {} ({cause})",
                addrs(a),
                ms(*duration_ms)
            )
        }
        EventKind::DnsFailed {
            host,
            kind,
            error,
            cause,
            ..
        } => format!("{host} {kind}: {error} ({cause})"),
        EventKind::ConnOpened(crate::event::ConnInfo {
            conn_id,
            fd,
            local,
            peer,
            connect_ms,
            tls,
            ..
        }) => {
            // The protocol the server chose (https), e.g. ` h2`: a shared HTTP/2 connection.
            let alpn = tls.as_ref().and_then(|t| t.alpn.as_deref());
            let alpn = alpn.map(|a| format!(" {a}")).unwrap_or_default();
            format!(
                "#{conn_id} fd {fd} {local} → {peer} in {}{alpn}",
                ms(*connect_ms)
            )
        }
        EventKind::ConnFailed { addr, kind, error } => format!("{addr} {kind}: {error}"),
        EventKind::ConnClosed {
            conn_id,
            fd,
            reason,
            lifetime_s,
            requests,
        } => {
            format!("#{conn_id} fd {fd} {reason} after {lifetime_s:.0}s, {requests} reqs")
        }
        EventKind::Scrape(crate::event::ScrapeResult {
            conn_id,
            status,
            duration_ms,
            up,
            error,
            reused,
            ..
        }) => format!(
            "{} {} in {} on {}{}{}",
            if *up { "up" } else { "down" },
            status.map_or("---".to_string(), |s| s.to_string()),
            ms(*duration_ms),
            conn_id.map_or("no conn".to_string(), |c| format!("#{c}")),
            if *reused { " (reused)" } else { "" },
            error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
        EventKind::StalePeer {
            conn_id,
            peer,
            addrs: a,
        } => {
            format!("#{conn_id} peer {peer} not in answer {}", addrs(a))
        }
        EventKind::Probe(crate::event::ProbeResult {
            ok,
            kind,
            error,
            total_ms,
            hidden_failure,
            ..
        }) => format!(
            "{} in {}{}{}",
            if *ok { "ok" } else { "FAILED" },
            ms(*total_ms),
            match (kind, error) {
                (Some(k), Some(e)) => format!(" {k}: {e}"),
                (Some(k), None) => format!(" {k}"),
                (None, Some(e)) => format!(" {e}"),
                (None, None) => String::new(),
            },
            if *hidden_failure {
                " (hidden by the pooled connection)"
            } else {
                ""
            }
        ),
        EventKind::Fds(c) => format!("{}/{}", c.total, c.soft_limit),
        EventKind::CommandAck { cmd, targets } => format!("{cmd} → {targets} targets"),
        EventKind::Paused { paused } => if *paused { "paused" } else { "resumed" }.to_string(),
        EventKind::Reload {
            added,
            removed,
            changed,
            conns_kept,
            conns_closed,
            error,
        } => match error {
            Some(e) => format!("refused: {e}"),
            None => format!(
                "+{added} -{removed} ~{changed}, conns kept {conns_kept} closed {conns_closed}"
            ),
        },
        EventKind::Dropped { count } => format!("{count} events dropped"),
        EventKind::Error { error } => error.clone(),
        EventKind::Notice { message, .. } => message.clone(),
    }
}

/// The event as one log line.
pub fn line_text(ev: &Event) -> String {
    let who = ev
        .target
        .as_ref()
        .map(|t| format!(" {}/{}", t.job, t.instance))
        .unwrap_or_default();
    format!(
        "{}{who} {} {}",
        clock_ms(ev.ts),
        ev.name(),
        summary(&ev.kind)
    )
}

fn style_of(ev: &Event, th: Theme) -> ratatui::style::Style {
    match &ev.kind {
        EventKind::DnsFailed { .. }
        | EventKind::ConnFailed { .. }
        | EventKind::Dropped { .. }
        | EventKind::Error { .. } => th.bad(),
        EventKind::Scrape(s) if !s.up => th.bad(),
        EventKind::Probe(p) if !p.ok => th.bad(),
        EventKind::StalePeer { .. } | EventKind::ConnClosed { .. } => th.warn(),
        EventKind::Scrape(_) | EventKind::Fds(_) => th.dim(),
        _ => Default::default(),
    }
}

pub(super) fn render(
    frame: &mut Frame,
    area: Rect,
    m: &Model,
    view: &mut LogView,
    frozen: bool,
    th: Theme,
) {
    let height = usize::from(area.height.saturating_sub(2));
    let w = usize::from(area.width.saturating_sub(2));
    let needle = view.filter.to_lowercase();
    // Walk back from the newest event and stop once the screen is full: the cost is bounded by
    // what is shown (plus what the filter skips), never by formatting the whole log.
    let mut matched = 0usize;
    let mut lines: Vec<Line> = Vec::with_capacity(height);
    for ev in m.log.iter().rev() {
        let text = line_text(ev);
        if !needle.is_empty() && !text.to_lowercase().contains(&needle) {
            continue;
        }
        matched += 1;
        if matched <= view.scroll {
            continue;
        }
        lines.push(Line::styled(fit(&text, w), style_of(ev, th)));
        if lines.len() == height {
            break;
        }
    }
    // Scrolled past the oldest match: clamp so the view stays full.
    let clamped = (lines.len() < height && view.scroll > 0).then(|| matched.saturating_sub(height));
    lines.reverse();
    let mut title = vec![Span::raw(format!(" events: {} kept", m.log.len()))];
    if !view.filter.is_empty() {
        title.push(Span::raw(format!(" · filter \"{}\"", view.filter)));
    }
    if view.scroll > 0 {
        title.push(Span::raw(format!(" · {} newer below (G)", view.scroll)));
    }
    if frozen {
        title.push(Span::styled(" · frozen", th.warn()));
    }
    if !m.log_scrapes {
        title.push(Span::styled(" · scrapes not logged", th.dim()));
    }
    title.push(Span::raw(" "));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Line::from(title))),
        area,
    );
    if let Some(c) = clamped {
        view.scroll = c;
    }
}
