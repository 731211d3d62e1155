//! The two bottom lines: the prompt or latest message, and key hints from the binding table.
//!
//! ```text
//! filter: node█   (enter keeps · esc restores)
//! q quit  ? help  enter detail  tab screen  r reconnect  d dns  p probe  / filter …
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::format::{Theme, fit};
use crate::tui::keys::Bindings;
use crate::tui::prompt::Prompt;

/// The open prompt, else `message` (the UI's own status, else the model's latest notice).
pub(super) fn render_status(
    frame: &mut Frame,
    area: Rect,
    prompt: Option<&Prompt>,
    message: Option<&str>,
    th: Theme,
) {
    let w = usize::from(area.width);
    let line = match prompt {
        Some(Prompt::Filter { input, .. }) => Line::from(vec![
            Span::styled("filter: ", th.key()),
            Span::raw(format!("{input}█")),
            Span::styled(
                "  (enter keeps · esc restores · job: state: health: is:)",
                th.dim(),
            ),
        ]),
        Some(Prompt::LogFilter { input, .. }) => Line::from(vec![
            Span::styled("event filter: ", th.key()),
            Span::raw(format!("{input}█")),
            Span::styled("  (enter keeps · esc restores)", th.dim()),
        ]),
        Some(Prompt::Confirm { op, targets }) => Line::styled(
            format!("{} all {targets} shown targets? y/n", op.verb()),
            th.warn(),
        ),
        Some(Prompt::LoadPath { input, candidates }) => {
            let mut spans = vec![
                Span::styled("load target list: ", th.key()),
                Span::raw(format!("{input}█")),
            ];
            if candidates.is_empty() {
                spans.push(Span::styled("  (tab completes · enter · esc)", th.dim()));
            } else {
                spans.push(Span::styled(
                    format!("  {}", candidates.join(" ")),
                    th.dim(),
                ));
            }
            Line::from(spans)
        }
        Some(Prompt::LoadMode { path }) => Line::styled(
            fit(
                &format!(
                    "{path}: [a]dd its targets or [r]eplace the sources with it? (esc cancels)"
                ),
                w,
            ),
            th.warn(),
        ),
        None => Line::from(fit(message.unwrap_or(""), w)),
    };
    frame.render_widget(Paragraph::new(line), area);
}

pub(super) fn render_hints(frame: &mut Frame, area: Rect, bindings: &Bindings, th: Theme) {
    let mut spans = Vec::new();
    let mut used = 0usize;
    for (key, label) in bindings.hints() {
        let w = key.chars().count() + label.chars().count() + 3;
        if used + w > usize::from(area.width) {
            break;
        }
        used += w;
        spans.push(Span::styled(key, th.key()));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
