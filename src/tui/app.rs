//! The TUI's one owner of state: the model fed by engine events, and the view state (screen,
//! selection, sort, filter, prompts). Keys become [`Action`]s here and actions become
//! [`Command`]s in [`App::outbox`]; nothing here awaits anything, so a key never blocks on the
//! network (the run loop drains the outbox onto the unbounded command channel).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use crate::event::{Command, Event, Selector};
use crate::model::{Model, Pending};

use super::format::Theme;
use super::index::{self, Column, StateFilter, TextFilter, View};
use super::keys::{Action, Bindings, should_handle};

/// Connections older than this count as "old" in the header's hidden-problems line.
pub const OLD_CONN: Duration = Duration::from_secs(3600);

/// How often the index may be rebuilt when only the model moved (the operator's own changes
/// rebuild at once). 4 Hz keeps rows honest without sorting 10,000 targets every frame.
pub const INDEX_REFRESH: Duration = Duration::from_millis(250);

/// The screens, in Tab order (Help is reached with `?` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The targets table.
    Targets,
    /// The selected target's detail.
    Detail,
    /// Connection pools.
    Pools,
    /// File descriptors.
    Descriptors,
    /// The event log.
    Log,
    /// Every key.
    Help,
}

impl Screen {
    /// Screens reachable with Tab and 1-5.
    pub const TABS: [Screen; 5] = [
        Screen::Targets,
        Screen::Detail,
        Screen::Pools,
        Screen::Descriptors,
        Screen::Log,
    ];

    /// Tab label.
    pub fn title(self) -> &'static str {
        match self {
            Screen::Targets => "targets",
            Screen::Detail => "detail",
            Screen::Pools => "pools",
            Screen::Descriptors => "descriptors",
            Screen::Log => "events",
            Screen::Help => "help",
        }
    }
}

/// A per-target operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOp {
    /// Reconnect.
    Reconnect,
    /// Re-resolve.
    ReResolve,
    /// Probe.
    Probe,
}

impl TargetOp {
    fn command(self, sel: Selector) -> Command {
        match self {
            TargetOp::Reconnect => Command::Reconnect(sel),
            TargetOp::ReResolve => Command::ReResolve(sel),
            TargetOp::Probe => Command::Probe(sel),
        }
    }

    fn pending(self) -> Pending {
        match self {
            TargetOp::Reconnect => Pending::Reconnecting,
            TargetOp::ReResolve => Pending::Resolving,
            TargetOp::Probe => Pending::Probing,
        }
    }

    /// Verb for prompts.
    pub fn verb(self) -> &'static str {
        match self {
            TargetOp::Reconnect => "reconnect",
            TargetOp::ReResolve => "re-resolve",
            TargetOp::Probe => "probe",
        }
    }
}

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

/// Aggregates that walk all targets or connections, recomputed with the index, not per frame.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// Live targets per job (to send one command per job when a whole job is shown).
    pub job_totals: HashMap<Arc<str>, usize>,
    /// Open connections older than [`OLD_CONN`].
    pub old_conns: u64,
    /// Open connections whose target is idle.
    pub idle_conns: u64,
    /// Pools (only while the pools screen is shown).
    pub pools: Vec<PoolRow>,
    /// Open sockets by fd (only while the descriptors screen is shown).
    pub sockets: Vec<crate::model::OpenConn>,
}

pub use crate::model::PoolRow;

/// Static facts shown on screens.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Running the built-in demo.
    pub demo: bool,
    /// Where exports go.
    pub export_dir: PathBuf,
    /// Where logs go.
    pub log_file: PathBuf,
    /// The keys file in use.
    pub keys_file: Option<PathBuf>,
    /// "What to try" lines shown first in help (the demo's script).
    pub hints: Vec<String>,
}

/// All TUI state.
#[derive(Debug)]
pub struct App {
    /// The live model, fed by every engine event (also while frozen).
    pub model: Model,
    /// A copy of the model taken by the freeze key; screens read it while it exists. A copy
    /// (rather than just not redrawing) keeps scrolling, detail and export consistent with
    /// what the operator froze.
    pub frozen: Option<Box<Model>>,
    /// Key bindings.
    pub bindings: Bindings,
    /// Colours.
    pub theme: Theme,
    /// Static facts.
    pub facts: Facts,
    /// The screen shown.
    pub screen: Screen,
    /// Where Esc / `?` return to from help.
    pub back_to: Screen,
    /// Sort and filter of the targets table.
    pub view: View,
    /// The filter text as typed.
    pub filter_text: String,
    /// Slots of shown targets, sorted (see `index`).
    pub rows: Vec<usize>,
    /// The selected target's slot; follows the target when rows reorder.
    pub selected: Option<usize>,
    /// Index into `rows` of the first visible row.
    pub offset: usize,
    /// Rows that fit in the table (set by the renderer, used by PgUp/PgDn).
    pub page: usize,
    /// Scroll of the pools, descriptors and help screens (rows from the top).
    pub scroll: usize,
    /// Event log filter (substring of the rendered line).
    pub log_filter: String,
    /// Event log scroll, in lines back from the newest.
    pub log_scroll: usize,
    /// The prompt holding the keyboard, if any.
    pub prompt: Option<Prompt>,
    /// A transient message (export path, errors of the UI itself).
    pub status: Option<String>,
    /// Commands waiting to be sent to the engine.
    pub outbox: Vec<Command>,
    /// Set by the quit key.
    pub quit: bool,
    /// The engine's event channel closed.
    pub engine_gone: bool,
    /// Walk-all aggregates, refreshed with the index.
    pub derived: Derived,
    /// Force a rebuild of the index on the next refresh.
    index_stale: bool,
    /// `(targets_version, version)` of the model the index was built from.
    index_from: (u64, u64),
    /// When the index was built.
    index_at: Option<Instant>,
}

impl App {
    /// A fresh app around a model.
    pub fn new(model: Model, bindings: Bindings, theme: Theme, facts: Facts) -> Self {
        App {
            model,
            frozen: None,
            bindings,
            theme,
            facts,
            screen: Screen::Targets,
            back_to: Screen::Targets,
            view: View::default(),
            filter_text: String::new(),
            rows: Vec::new(),
            selected: None,
            offset: 0,
            page: 10,
            scroll: 0,
            log_filter: String::new(),
            log_scroll: 0,
            prompt: None,
            status: None,
            outbox: Vec::new(),
            quit: false,
            engine_gone: false,
            derived: Derived::default(),
            index_stale: true,
            index_from: (u64::MAX, u64::MAX),
            index_at: None,
        }
    }

    /// The model the screens show: the frozen copy while frozen, else the live one.
    pub fn shown(&self) -> &Model {
        self.frozen.as_deref().unwrap_or(&self.model)
    }

    /// Apply a batch of engine events to the live model.
    pub fn apply(&mut self, events: impl IntoIterator<Item = Event>) {
        for ev in events {
            self.model.apply(ev);
        }
    }

    /// A version that moves whenever what is shown may have changed.
    pub fn shown_version(&self) -> u64 {
        self.shown().version
    }

    /// Bring the index and the aggregates up to date. Rebuilds at once after an operator change;
    /// after model changes only every [`INDEX_REFRESH`] (see `index` for why).
    pub fn refresh(&mut self, clock: Instant, now: SystemTime) {
        // Field-wise borrow (not `self.shown()`) so the index can be assigned below.
        let m = self.frozen.as_deref().unwrap_or(&self.model);
        let from = (m.targets_version, m.version);
        let due = self
            .index_at
            .is_none_or(|at| clock.duration_since(at) >= INDEX_REFRESH);
        if !(self.index_stale || (from != self.index_from && due)) {
            return;
        }
        self.rows = index::build(m, &self.view, now);
        let job_totals = m.job_totals();
        let old_conns = m.conns_older_than(now, OLD_CONN);
        let idle_conns = m.idle_conns();
        let pools = if self.screen == Screen::Pools {
            m.pools()
        } else {
            Vec::new()
        };
        let sockets = if self.screen == Screen::Descriptors {
            let mut v: Vec<_> = m.conns.values().cloned().collect();
            v.sort_by_key(|c| (c.fd, c.conn_id));
            v
        } else {
            Vec::new()
        };
        self.derived = Derived {
            job_totals,
            old_conns,
            idle_conns,
            pools,
            sockets,
        };
        self.index_from = from;
        self.index_at = Some(clock);
        self.index_stale = false;
        if self.selected.is_none_or(|s| !self.rows.contains(&s)) {
            let row = self.selected_row().unwrap_or(0);
            self.selected = self
                .rows
                .get(row.min(self.rows.len().saturating_sub(1)))
                .copied();
        }
    }

    /// Force the next [`App::refresh`] to rebuild the index (tests, benchmarks).
    pub fn invalidate(&mut self) {
        self.index_stale = true;
    }

    /// Position of the selected target in `rows`.
    pub fn selected_row(&self) -> Option<usize> {
        let s = self.selected?;
        self.rows.iter().position(|&r| r == s)
    }

    fn select_row(&mut self, row: usize) {
        if self.rows.is_empty() {
            self.selected = None;
            return;
        }
        let row = row.min(self.rows.len() - 1);
        self.selected = Some(self.rows[row]);
        if row < self.offset {
            self.offset = row;
        } else if self.page > 0 && row >= self.offset + self.page {
            self.offset = row + 1 - self.page;
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.screen {
            Screen::Targets | Screen::Detail => {
                let cur = self.selected_row().unwrap_or(0);
                let row = cur.saturating_add_signed(delta);
                self.select_row(row);
            }
            Screen::Log => {
                // Down moves toward the newest line.
                self.log_scroll = self.log_scroll.saturating_add_signed(-delta);
            }
            Screen::Pools | Screen::Descriptors | Screen::Help => {
                self.scroll = self.scroll.saturating_add_signed(delta);
            }
        }
    }

    /// Handle a terminal key event. Returns whether anything may have changed on screen.
    pub fn on_key(&mut self, ev: KeyEvent) -> bool {
        if !should_handle(&ev) {
            return false;
        }
        if self.prompt.is_some() {
            self.on_prompt_key(ev);
            return true;
        }
        // Ctrl+C always quits, whatever the keys file says: the terminal must be recoverable.
        let hard_quit =
            ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL);
        let action = if hard_quit {
            Some(Action::Quit)
        } else {
            self.bindings.action(&ev)
        };
        match action {
            Some(a) => {
                self.status = None;
                self.on_action(a);
                true
            }
            None => false,
        }
    }

    /// Handle a mouse event (only delivered when mouse capture is on). `table_top` is the first
    /// screen row of table data.
    pub fn on_mouse(&mut self, ev: MouseEvent, table_top: u16) -> bool {
        match ev.kind {
            MouseEventKind::ScrollUp => self.move_by(-3),
            MouseEventKind::ScrollDown => self.move_by(3),
            MouseEventKind::Down(_) if self.screen == Screen::Targets && ev.row >= table_top => {
                let row = self.offset + usize::from(ev.row - table_top);
                if row < self.rows.len() {
                    self.select_row(row);
                }
            }
            _ => return false,
        }
        true
    }

    /// Carry out one action.
    pub fn on_action(&mut self, a: Action) {
        let page = self.page.max(1) as isize;
        match a {
            Action::Quit => {
                self.outbox.push(Command::Quit);
                self.quit = true;
            }
            Action::Help => {
                if self.screen == Screen::Help {
                    self.screen = self.back_to;
                } else {
                    self.back_to = self.screen;
                    self.screen = Screen::Help;
                    self.scroll = 0;
                }
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => match self.screen {
                Screen::Targets | Screen::Detail => self.select_row(0),
                Screen::Log => self.log_scroll = usize::MAX / 2,
                _ => self.scroll = 0,
            },
            Action::Bottom => match self.screen {
                Screen::Targets | Screen::Detail => {
                    self.select_row(self.rows.len().saturating_sub(1))
                }
                Screen::Log => self.log_scroll = 0,
                _ => self.scroll = usize::MAX / 2,
            },
            Action::Detail => {
                if self.selected.is_some() {
                    self.set_screen(Screen::Detail);
                }
            }
            Action::Back => match self.screen {
                Screen::Help => self.screen = self.back_to,
                Screen::Targets => {
                    if !self.filter_text.is_empty() || self.view.state != StateFilter::Any {
                        self.set_filter(String::new());
                        self.view.state = StateFilter::Any;
                        self.index_stale = true;
                    }
                }
                _ => self.set_screen(Screen::Targets),
            },
            Action::NextScreen | Action::PrevScreen => {
                let i = Screen::TABS
                    .iter()
                    .position(|s| *s == self.screen)
                    .unwrap_or(0);
                let n = Screen::TABS.len();
                let j = if a == Action::NextScreen {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.set_screen(Screen::TABS[j]);
            }
            Action::ScreenTargets => self.set_screen(Screen::Targets),
            Action::ScreenDetail => self.set_screen(Screen::Detail),
            Action::ScreenPools => self.set_screen(Screen::Pools),
            Action::ScreenDescriptors => self.set_screen(Screen::Descriptors),
            Action::ScreenLog => self.set_screen(Screen::Log),
            Action::Reconnect => self.target_op(TargetOp::Reconnect),
            Action::ReResolve => self.target_op(TargetOp::ReResolve),
            Action::Probe => self.target_op(TargetOp::Probe),
            Action::ReconnectAll => self.ask_all(TargetOp::Reconnect),
            Action::ReResolveAll => self.ask_all(TargetOp::ReResolve),
            Action::ProbeAll => self.ask_all(TargetOp::Probe),
            Action::Load => {
                self.prompt = Some(Prompt::LoadPath {
                    input: String::new(),
                    candidates: Vec::new(),
                })
            }
            Action::Reload => {
                self.outbox.push(Command::Reload);
                self.status = Some("reload requested".to_string());
            }
            Action::Filter => {
                self.prompt = Some(if self.screen == Screen::Log {
                    Prompt::LogFilter {
                        input: self.log_filter.clone(),
                        before: self.log_filter.clone(),
                    }
                } else {
                    Prompt::Filter {
                        input: self.filter_text.clone(),
                        before: self.filter_text.clone(),
                    }
                })
            }
            Action::StateFilter => {
                self.view.state = self.view.state.next();
                self.index_stale = true;
            }
            Action::SortNext | Action::SortPrev => {
                let i = Column::ALL
                    .iter()
                    .position(|c| *c == self.view.sort)
                    .unwrap_or(0);
                let n = Column::ALL.len();
                let j = if a == Action::SortNext {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.view.sort = Column::ALL[j];
                self.index_stale = true;
            }
            Action::SortInvert => {
                self.view.desc = !self.view.desc;
                self.index_stale = true;
            }
            Action::Freeze => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(Box::new(self.model.clone())),
                };
                self.index_stale = true;
            }
            Action::Export => self.export(SystemTime::now()),
        }
    }

    fn set_screen(&mut self, s: Screen) {
        if s != self.screen {
            self.scroll = 0;
            // Pools and descriptors are aggregated only while shown: build them now.
            self.index_stale = true;
        }
        self.screen = s;
    }

    fn set_filter(&mut self, text: String) {
        self.view.filter = TextFilter::parse(&text);
        self.filter_text = text;
        self.index_stale = true;
    }

    /// A command the source cannot carry out: say so, and stop showing it as pending.
    pub fn refuse(&mut self, cmd: &Command, why: &crate::source::Unsupported) {
        if let Some(p) = Pending::for_command(cmd) {
            self.model.clear_pending(p);
            if let Some(f) = self.frozen.as_deref_mut() {
                f.clear_pending(p);
            }
        }
        self.status = Some(why.to_string());
    }

    /// The operation on the selected target.
    fn target_op(&mut self, op: TargetOp) {
        let Some(slot) = self.selected else {
            self.status = Some("no target selected".to_string());
            return;
        };
        let Some(t) = self.shown().targets.get(slot) else {
            return;
        };
        let cmd = op.command(Selector::target(&t.target));
        self.outbox.push(cmd);
        self.mark_pending([slot], op.pending());
    }

    fn mark_pending<const N: usize>(&mut self, slots: [usize; N], p: Pending) {
        self.mark_pending_iter(slots.to_vec(), p);
    }

    fn mark_pending_iter(&mut self, slots: Vec<usize>, p: Pending) {
        // Slots are shared: the frozen copy is a clone of the live model.
        if let Some(f) = self.frozen.as_deref_mut() {
            f.set_pending(slots.iter().copied(), p);
        }
        self.model.set_pending(slots, p);
    }

    fn ask_all(&mut self, op: TargetOp) {
        if self.rows.is_empty() {
            self.status = Some("no targets shown".to_string());
            return;
        }
        self.prompt = Some(Prompt::Confirm {
            op,
            targets: self.rows.len(),
        });
    }

    /// Commands for every shown target: one per job when the whole job is shown, else one per
    /// target.
    pub fn commands_for_shown(&self, op: TargetOp) -> Vec<Command> {
        let m = self.shown();
        let mut per_job: Vec<(Arc<str>, Vec<usize>)> = Vec::new();
        let mut pos: HashMap<Arc<str>, usize> = HashMap::new();
        for &slot in &self.rows {
            let Some(t) = m.targets.get(slot) else {
                continue;
            };
            let i = *pos.entry(t.job.clone()).or_insert_with(|| {
                per_job.push((t.job.clone(), Vec::new()));
                per_job.len() - 1
            });
            per_job[i].1.push(slot);
        }
        let mut out = Vec::new();
        for (job, slots) in per_job {
            let whole = self.derived.job_totals.get(&job).copied() == Some(slots.len());
            if whole {
                out.push(op.command(Selector {
                    job: Some(job.to_string()),
                    ..Selector::all()
                }));
            } else {
                for s in slots {
                    let t = &m.targets[s];
                    out.push(op.command(Selector::target(&t.target)));
                }
            }
        }
        out
    }

    fn on_prompt_key(&mut self, ev: KeyEvent) {
        let Some(prompt) = self.prompt.take() else {
            return;
        };
        let ctrl_c = ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c || ev.code == KeyCode::Esc {
            match prompt {
                Prompt::Filter { before, .. } => self.set_filter(before),
                Prompt::LogFilter { before, .. } => self.log_filter = before,
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
                    self.set_filter(input.clone());
                    Some(Prompt::Filter { input, before })
                }
            }
            Prompt::LogFilter { mut input, before } => {
                if ev.code == KeyCode::Enter {
                    None
                } else {
                    edit(&mut input, ev);
                    self.log_filter = input.clone();
                    self.log_scroll = 0;
                    Some(Prompt::LogFilter { input, before })
                }
            }
            Prompt::Confirm { op, targets } => match ev.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    let cmds = self.commands_for_shown(op);
                    let n = cmds.len();
                    self.outbox.extend(cmds);
                    let slots = self.rows.clone();
                    self.mark_pending_iter(slots, op.pending());
                    self.status = Some(format!("{} {targets} targets ({n} commands)", op.verb()));
                    None
                }
                KeyCode::Char('n') | KeyCode::Char('N') => None,
                _ => Some(Prompt::Confirm { op, targets }),
            },
            Prompt::LoadPath {
                mut input,
                candidates,
            } => match ev.code {
                KeyCode::Enter if !input.trim().is_empty() => {
                    Some(Prompt::LoadMode { path: input })
                }
                KeyCode::Tab => {
                    let (completed, cands) = complete_path(&input);
                    Some(Prompt::LoadPath {
                        input: completed,
                        candidates: cands,
                    })
                }
                _ => {
                    edit(&mut input, ev);
                    let _ = candidates;
                    Some(Prompt::LoadPath {
                        input,
                        candidates: Vec::new(),
                    })
                }
            },
            Prompt::LoadMode { path } => match ev.code {
                KeyCode::Char('a')
                | KeyCode::Char('A')
                | KeyCode::Char('r')
                | KeyCode::Char('R') => {
                    let replace = matches!(ev.code, KeyCode::Char('r') | KeyCode::Char('R'));
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
                _ => Some(Prompt::LoadMode { path }),
            },
        };
    }

    /// Write the shown model (the frozen copy while frozen) and its histories as JSON to a new
    /// file in the export directory, and show its path.
    ///
    /// Runs synchronously: it is local disk, not network, and a copy handed to a blocking task
    /// would cost as much as the serialisation itself.
    pub fn export(&mut self, now: SystemTime) {
        match export_to(
            &self.facts.export_dir,
            self.shown(),
            self.frozen.is_some(),
            now,
        ) {
            Ok(path) => self.status = Some(format!("exported to {}", path.display())),
            Err(e) => {
                tracing::warn!("export failed: {e:#}");
                self.status = Some(format!("export failed: {e:#}"));
            }
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

/// The export document.
#[derive(serde::Serialize)]
struct Export<'a> {
    exported_at: String,
    frozen: bool,
    totals: &'a crate::model::Totals,
    fds: &'a Option<crate::model::FdCensus>,
    dropped: u64,
    paused: bool,
    targets: Vec<ExportTarget<'a>>,
    open_conns: Vec<&'a crate::model::OpenConn>,
    events: &'a std::collections::VecDeque<Event>,
}

#[derive(serde::Serialize)]
struct ExportTarget<'a> {
    #[serde(flatten)]
    state: &'a crate::model::TargetState,
    reconnect_times: Vec<String>,
}

/// Write the export file; returns its path.
pub fn export_to(dir: &Path, m: &Model, frozen: bool, now: SystemTime) -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    let mut path = dir.join(format!("scrapetop-{stamp}.json"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("scrapetop-{stamp}-{n}.json"));
    }
    let mut open_conns: Vec<_> = m.conns.values().collect();
    open_conns.sort_by_key(|c| c.conn_id);
    let doc = Export {
        exported_at: humantime::format_rfc3339_millis(now).to_string(),
        frozen,
        totals: &m.totals,
        fds: &m.fds,
        dropped: m.dropped,
        paused: m.paused,
        targets: m
            .targets
            .iter()
            .map(|t| ExportTarget {
                state: t,
                reconnect_times: t
                    .reconnect_times
                    .iter()
                    .map(|t| humantime::format_rfc3339_millis(*t).to_string())
                    .collect(),
            })
            .collect(),
        open_conns,
        events: &m.log,
    };
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, &doc)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::flush(&mut w).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
