//! Prompts that take the keyboard until answered: the filters, the confirmation of an operation
//! on every shown target, and the path (with Tab completion) and mode of a target list to load.
//! Nothing here awaits anything: an answer becomes a command in the outbox.

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::event::Command;

use super::app::App;
use super::ops::TargetOp;

/// A prompt that takes the keyboard until it is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Editing the targets filter; `before` is restored by Esc.
    Filter {
        /// The text so far.
        input: String,
        /// The filter before editing.
        before: String,
    },
    /// Editing the event log filter.
    LogFilter {
        /// The text so far.
        input: String,
        /// The filter before editing.
        before: String,
    },
    /// Confirm an operation on every shown target.
    Confirm {
        /// The operation.
        op: TargetOp,
        /// How many targets it concerns.
        targets: usize,
    },
    /// Path of a target list to load.
    LoadPath {
        /// The path so far.
        input: String,
        /// Completions offered by the last Tab.
        candidates: Vec<String>,
    },
    /// Add the file's targets or replace the sources with it.
    LoadMode {
        /// The chosen file.
        path: String,
    },
}

impl App {
    /// A key while a prompt is open. Esc and ctrl+c cancel any prompt (filters go back to what
    /// they were before editing).
    pub(super) fn on_prompt_key(&mut self, ev: KeyEvent) {
        let Some(prompt) = self.prompt.take() else {
            return;
        };
        let ctrl_c = ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c || ev.code == KeyCode::Esc {
            match prompt {
                Prompt::Filter { before, .. } => self.targets.set_filter(before),
                Prompt::LogFilter { before, .. } => self.log.filter = before,
                _ => {}
            }
            return;
        }
        self.prompt = match prompt {
            Prompt::Filter { mut input, before } => {
                if ev.code == KeyCode::Enter {
                    None
                } else {
                    edit(&mut input, ev);
                    // Live filtering: the index rebuilds as the operator types.
                    self.targets.set_filter(input.clone());
                    Some(Prompt::Filter { input, before })
                }
            }
            Prompt::LogFilter { mut input, before } => {
                if ev.code == KeyCode::Enter {
                    None
                } else {
                    edit(&mut input, ev);
                    self.log.filter = input.clone();
                    self.log.scroll = 0;
                    Some(Prompt::LogFilter { input, before })
                }
            }
            Prompt::Confirm { op, targets } => self.on_confirm_key(op, targets, ev),
            Prompt::LoadPath { input, .. } => on_load_path_key(input, ev),
            Prompt::LoadMode { path } => self.on_load_mode_key(path, ev),
        };
    }

    fn on_confirm_key(&mut self, op: TargetOp, targets: usize, ev: KeyEvent) -> Option<Prompt> {
        match ev.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                let n = self.op_on_shown(op);
                self.status = Some(format!("{} {targets} targets ({n} commands)", op.verb()));
                None
            }
            KeyCode::Char('n') | KeyCode::Char('N') => None,
            _ => Some(Prompt::Confirm { op, targets }),
        }
    }

    fn on_load_mode_key(&mut self, path: String, ev: KeyEvent) -> Option<Prompt> {
        let replace = match ev.code {
            KeyCode::Char('a') | KeyCode::Char('A') => false,
            KeyCode::Char('r') | KeyCode::Char('R') => true,
            _ => return Some(Prompt::LoadMode { path }),
        };
        self.status = Some(format!(
            "{} {path}",
            if replace {
                "replacing sources with"
            } else {
                "adding targets from"
            }
        ));
        self.outbox.push(Command::Load { path, replace });
        None
    }
}

fn on_load_path_key(mut input: String, ev: KeyEvent) -> Option<Prompt> {
    match ev.code {
        KeyCode::Enter if !input.trim().is_empty() => Some(Prompt::LoadMode { path: input }),
        KeyCode::Tab => {
            let (completed, candidates) = complete_path(&input);
            Some(Prompt::LoadPath {
                input: completed,
                candidates,
            })
        }
        _ => {
            edit(&mut input, ev);
            Some(Prompt::LoadPath {
                input,
                candidates: Vec::new(),
            })
        }
    }
}

/// Line editing shared by the prompts.
fn edit(input: &mut String, ev: KeyEvent) {
    match ev.code {
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char('u') if ev.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
        KeyCode::Char('w') if ev.modifiers.contains(KeyModifiers::CONTROL) => {
            let keep = input
                .trim_end()
                .rfind([' ', '/'])
                .map(|i| i + 1)
                .unwrap_or(0);
            input.truncate(keep);
        }
        KeyCode::Char(c)
            if !ev
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            input.push(c)
        }
        _ => {}
    }
}

/// Complete a file path: one match completes fully (`/` after a directory), several complete
/// to their common prefix and are listed. Reads one local directory, never the network.
pub fn complete_path(input: &str) -> (String, Vec<String>) {
    let expanded = if let Some(rest) = input.strip_prefix("~/") {
        std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(rest).display().to_string())
            .unwrap_or_else(|| input.to_string())
    } else {
        input.to_string()
    };
    let (dir, prefix) = match expanded.rfind('/') {
        Some(i) => (&expanded[..=i], &expanded[i + 1..]),
        None => ("", expanded.as_str()),
    };
    let read = if dir.is_empty() {
        Path::new(".")
    } else {
        Path::new(dir)
    };
    let Ok(entries) = std::fs::read_dir(read) else {
        return (input.to_string(), Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir())
                || (e.file_type().is_ok_and(|t| t.is_symlink()) && e.path().is_dir());
            Some(if is_dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    match names.len() {
        0 => (expanded, Vec::new()),
        1 => (format!("{dir}{}", names[0]), Vec::new()),
        _ => {
            let first = &names[0];
            let common = names.iter().fold(first.len(), |n, s| {
                first
                    .chars()
                    .zip(s.chars())
                    .take_while(|(a, b)| a == b)
                    .count()
                    .min(n)
            });
            let common: String = first.chars().take(common).collect();
            (format!("{dir}{common}"), names)
        }
    }
}
