//! Every key, generated from the binding table (the same one the footer hints come from).
//!
//! ```text
//! ┌ help: keys (esc or ? to leave) ─────────────────────────────────────────┐
//! │ q, ctrl+c     quit            quit (tells the engine to shut down)        │
//! │ …                                                                        │
//! │ filter syntax · log file · keys file                                     │
//! └─────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::tui::app::Facts;
use crate::tui::format::{Theme, fit};
use crate::tui::keys::Bindings;

pub(super) fn render(
    frame: &mut Frame,
    area: Rect,
    bindings: &Bindings,
    facts: &Facts,
    scroll: &mut usize,
    th: Theme,
) {
    let mut lines: Vec<Line> = Vec::new();
    if !facts.hints.is_empty() {
        lines.push(Line::from(Span::styled("What to try", th.key())));
        for h in &facts.hints {
            lines.push(Line::from(format!("• {h}")));
        }
        lines.push(Line::from(""));
    }
    for (spec, keys) in bindings.table() {
        let k = if keys.is_empty() {
            "(unbound)".to_string()
        } else {
            keys.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<14}", fit(&k, 14)), th.key()),
            Span::styled(format!("{:<19}", spec.name), th.dim()),
            Span::raw(spec.help),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(
        "In prompts: enter accepts, esc cancels, ctrl+u clears; tab completes file names.",
    ));
    lines.push(Line::from(
        "Flags: S stale peer (not in the current DNS answer) · D DNS failing · P fresh-connection probe failed.",
    ));
    lines.push(Line::from(timeline_legend()));
    lines.push(Line::from(format!(
        "log file: {}",
        facts.log_file.display()
    )));
    lines.push(Line::from(format!(
        "exports go to: {}",
        facts.export_dir.display()
    )));
    lines.push(Line::from(match &facts.keys_file {
        Some(p) => format!("keys file: {}", p.display()),
        None => {
            "keys file: none (built-in defaults; rebind with a YAML map of action: key)".to_string()
        }
    }));
    let inner = usize::from(area.height.saturating_sub(2));
    *scroll = (*scroll).min(lines.len().saturating_sub(inner));
    let p = Paragraph::new(lines)
        .wrap(ratatui::widgets::Wrap { trim: false })
        .scroll((u16::try_from(*scroll).unwrap_or(u16::MAX), 0))
        .block(Block::bordered().title(" help: keys (esc or ? to leave, j/k scroll) "));
    frame.render_widget(p, area);
}

/// What the timeline's and the table strip's glyphs mean (the strip has no room for a legend).
fn timeline_legend() -> String {
    let reasons: Vec<String> = crate::event::CloseReason::ALL
        .iter()
        .copied()
        .map(|r| format!("{} {r}", crate::tui::timeline::reason_mark(r)))
        .collect();
    format!(
        "Timelines (detail, and the table's last-hour strip): ━ a connection open; where one ended, the reason: {}; 2-9, + several ended in one cell; ░ older history not kept; dns: · lookup, ◆ new answer, x failed; probe: ✓ ok, ✗ failed.",
        reasons.join(", ")
    )
}
