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
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::tui::app::App;
use crate::tui::format::fit;

pub(super) fn render(frame: &mut Frame, area: Rect, app: &mut App) {
    let th = app.theme;
    let mut lines: Vec<Line> = Vec::new();
    if !app.facts.hints.is_empty() {
        lines.push(Line::from(Span::styled("What to try", th.key())));
        for h in &app.facts.hints {
            lines.push(Line::from(format!("• {h}")));
        }
        lines.push(Line::from(""));
    }
    for (spec, keys) in app.bindings.table() {
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
    lines.push(Line::from(format!(
        "log file: {}",
        app.facts.log_file.display()
    )));
    lines.push(Line::from(format!(
        "exports go to: {}",
        app.facts.export_dir.display()
    )));
    lines.push(Line::from(match &app.facts.keys_file {
        Some(p) => format!("keys file: {}", p.display()),
        None => {
            "keys file: none (built-in defaults; rebind with a YAML map of action: key)".to_string()
        }
    }));
    let inner = usize::from(area.height.saturating_sub(2));
    app.scroll = app.scroll.min(lines.len().saturating_sub(inner));
    let p = Paragraph::new(lines)
        .wrap(ratatui::widgets::Wrap { trim: false })
        .scroll((app.scroll as u16, 0))
        .block(Block::bordered().title(" help: keys (esc or ? to leave, j/k scroll) "));
    let _ = Constraint::Fill(1);
    frame.render_widget(p, area);
}
