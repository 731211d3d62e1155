//! The TUI's one owner of state: the model fed by engine events, which screen is shown, each
//! screen's view state (see [`view`](super::view)), the open prompt and the outbox. Keys become
//! [`Action`]s here and actions become [`Command`]s in [`App::outbox`]; nothing here awaits
//! anything, so a key never blocks on the network (the run loop drains the outbox onto the
//! unbounded command channel).
//!
//! Operations on targets live in `ops`, prompts in `prompt`, the export in `export`.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use crate::event::{Command, Event};
use crate::model::Model;

use super::derived::Derived;
use super::format::Theme;
use super::keys::{Action, Bindings, should_handle};
use super::ops::TargetOp;
use super::prompt::Prompt;
use super::view::{DetailView, LogView, Scrolls, TargetsView};

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
    /// The targets table: sort, filter, index, selection.
    pub targets: TargetsView,
    /// The detail screen: which target it shows.
    pub detail: DetailView,
    /// The event log: filter and scroll.
    pub log: LogView,
    /// Scroll of the pools, descriptors and help screens.
    pub scrolls: Scrolls,
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
    /// Time of the first engine event: timelines zoom out from 5 minutes to the hour as the
    /// UI's knowledge grows (see `timeline::window_for`).
    pub first_event: Option<SystemTime>,
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
            targets: TargetsView::default(),
            detail: DetailView::default(),
            log: LogView::default(),
            scrolls: Scrolls::default(),
            prompt: None,
            status: None,
            outbox: Vec::new(),
            quit: false,
            engine_gone: false,
            derived: Derived::default(),
            first_event: None,
        }
    }

    /// The model the screens show: the frozen copy while frozen, else the live one.
    pub fn shown(&self) -> &Model {
        self.frozen.as_deref().unwrap_or(&self.model)
    }

    /// Apply a batch of engine events to the live model.
    pub fn apply(&mut self, events: impl IntoIterator<Item = Event>) {
        for ev in events {
            if self.first_event.is_none_or(|f| ev.ts < f) {
                self.first_event = Some(ev.ts);
            }
            self.model.apply(ev);
        }
    }

    /// How far back timelines reach as of `now`.
    pub fn timeline_window(&self, now: SystemTime) -> Duration {
        let seen = self.first_event.map_or(Duration::ZERO, |f| {
            now.duration_since(f).unwrap_or_default()
        });
        super::timeline::window_for(seen)
    }

    /// A version that moves whenever what is shown may have changed.
    pub fn shown_version(&self) -> u64 {
        self.shown().version
    }

    /// Bring the index and the aggregates up to date. Rebuilds at once after an operator change;
    /// after model changes only every [`INDEX_REFRESH`](super::view::targets::INDEX_REFRESH).
    pub fn refresh(&mut self, clock: Instant, now: SystemTime) {
        // Field-wise borrow (not `self.shown()`) so the views can be updated below.
        let m = self.frozen.as_deref().unwrap_or(&self.model);
        if self.targets.refresh(m, clock, now) {
            let pools = self.screen == Screen::Pools;
            let sockets = self.screen == Screen::Descriptors;
            self.derived = Derived::build(m, now, pools, sockets);
        }
    }

    /// Force the next [`App::refresh`] to rebuild the index (tests, benchmarks).
    pub fn invalidate(&mut self) {
        self.targets.invalidate();
    }

    /// The target the operator is looking at: the detail screen's, else the table's selection.
    pub fn current_target(&self) -> Option<usize> {
        match self.screen {
            Screen::Detail => self.detail.target.or(self.targets.selected),
            _ => self.targets.selected,
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.screen {
            Screen::Targets => self.targets.move_by(delta),
            Screen::Detail => {
                // From the target shown to its neighbour in the table.
                if let Some(t) = self.detail.target {
                    self.targets.selected = Some(t);
                }
                self.targets.move_by(delta);
                self.detail.target = self.targets.selected;
            }
            Screen::Log => self.log.move_by(delta),
            Screen::Pools => scroll_by(&mut self.scrolls.pools, delta),
            Screen::Descriptors => scroll_by(&mut self.scrolls.descriptors, delta),
            Screen::Help => scroll_by(&mut self.scrolls.help, delta),
        }
    }

    /// Jump to the first (`top`) or last row of the screen.
    fn jump(&mut self, top: bool) {
        let far = usize::MAX / 2;
        match self.screen {
            Screen::Targets | Screen::Detail => {
                let row = if top {
                    0
                } else {
                    self.targets.rows.len().saturating_sub(1)
                };
                self.targets.select_row(row);
                if self.screen == Screen::Detail {
                    self.detail.target = self.targets.selected;
                }
            }
            Screen::Log => self.log.scroll = if top { far } else { 0 },
            Screen::Pools => self.scrolls.pools = if top { 0 } else { far },
            Screen::Descriptors => self.scrolls.descriptors = if top { 0 } else { far },
            Screen::Help => self.scrolls.help = if top { 0 } else { far },
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
                let row = self.targets.offset + usize::from(ev.row - table_top);
                if row < self.targets.rows.len() {
                    self.targets.select_row(row);
                }
            }
            _ => return false,
        }
        true
    }

    /// Carry out one action.
    pub fn on_action(&mut self, a: Action) {
        if !self.on_navigation(a) {
            self.on_operation(a);
        }
    }

    /// Moving, switching screens and leaving. Returns whether `a` was one of those.
    fn on_navigation(&mut self, a: Action) -> bool {
        let page = self.targets.page.max(1) as isize;
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
                    self.scrolls.help = 0;
                }
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => self.jump(true),
            Action::Bottom => self.jump(false),
            Action::Detail => {
                if self.targets.selected.is_some() {
                    self.set_screen(Screen::Detail);
                }
            }
            Action::Back => match self.screen {
                Screen::Help => self.screen = self.back_to,
                Screen::Targets => {
                    if self.targets.is_filtered() {
                        self.targets.clear_filters();
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
            _ => return false,
        }
        true
    }

    /// Operations, prompts, sorting, filtering, freezing, export.
    fn on_operation(&mut self, a: Action) {
        match a {
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
                        input: self.log.filter.clone(),
                        before: self.log.filter.clone(),
                    }
                } else {
                    Prompt::Filter {
                        input: self.targets.filter_text.clone(),
                        before: self.targets.filter_text.clone(),
                    }
                })
            }
            Action::StateFilter => self.targets.next_state_filter(),
            Action::SortNext => self.targets.cycle_sort(true),
            Action::SortPrev => self.targets.cycle_sort(false),
            Action::SortInvert => self.targets.invert_sort(),
            Action::Freeze => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(Box::new(self.model.clone())),
                };
                self.targets.invalidate();
            }
            Action::Export => self.export(SystemTime::now()),
            // Navigation is handled by `on_navigation`.
            _ => {}
        }
    }

    fn set_screen(&mut self, s: Screen) {
        if s != self.screen {
            match s {
                Screen::Pools => self.scrolls.pools = 0,
                Screen::Descriptors => self.scrolls.descriptors = 0,
                Screen::Help => self.scrolls.help = 0,
                Screen::Detail => self.detail.target = self.targets.selected,
                Screen::Targets | Screen::Log => {}
            }
            if self.screen == Screen::Detail
                && let Some(t) = self.detail.target
                && self.targets.rows.contains(&t)
            {
                // Back in the table on the target that was being read.
                self.targets.selected = Some(t);
            }
            // Pools and descriptors are aggregated only while shown: build them now.
            self.targets.invalidate();
        }
        self.screen = s;
    }
}

fn scroll_by(scroll: &mut usize, delta: isize) {
    *scroll = scroll.saturating_add_signed(delta);
}
