//! Key bindings as data: one table of named actions with default keys.
//!
//! The help screen and the footer hints are generated from [`ACTIONS`], so they cannot drift
//! from what the keys do. A small YAML file may rebind actions:
//!
//! ```yaml
//! reconnect: x          # one key
//! quit: [q, ctrl+c]     # or several
//! ```
//!
//! Rebinding replaces that action's default keys. Unknown action names, unparsable keys and
//! a key bound to two actions are errors that name the file and the keys.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Everything a key can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Leave the program.
    Quit,
    /// Show the help screen.
    Help,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Jump to the first row.
    Top,
    /// Jump to the last row.
    Bottom,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// Open the selected target's detail.
    Detail,
    /// Close a prompt, leave detail or help.
    Back,
    /// Next screen.
    NextScreen,
    /// Previous screen.
    PrevScreen,
    /// Targets screen.
    ScreenTargets,
    /// Detail screen.
    ScreenDetail,
    /// Pools screen.
    ScreenPools,
    /// Descriptors screen.
    ScreenDescriptors,
    /// Event log screen.
    ScreenLog,
    /// Reconnect the selected target.
    Reconnect,
    /// Reconnect every shown target (asks first).
    ReconnectAll,
    /// Re-resolve the selected target.
    ReResolve,
    /// Re-resolve every shown target (asks first).
    ReResolveAll,
    /// Probe the selected target on a fresh connection.
    Probe,
    /// Probe every shown target (asks first).
    ProbeAll,
    /// Load a target list file.
    Load,
    /// Reload the current target sources.
    Reload,
    /// Edit the text filter.
    Filter,
    /// Cycle the state filter.
    StateFilter,
    /// Sort by the next column.
    SortNext,
    /// Sort by the previous column.
    SortPrev,
    /// Invert the sort order.
    SortInvert,
    /// Freeze the display (the engine keeps running).
    Freeze,
    /// Export state and histories as JSON.
    Export,
}

/// One row of the binding table.
#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    /// The action.
    pub action: Action,
    /// Its name in the keys file.
    pub name: &'static str,
    /// What it does (help screen).
    pub help: &'static str,
    /// Default keys.
    pub defaults: &'static [&'static str],
    /// Short label for the footer; `None` keeps it out of the footer.
    pub hint: Option<&'static str>,
}

macro_rules! actions {
    ($($action:ident $name:literal [$($key:literal),*] $hint:expr, $help:literal;)*) => {
        /// The binding table: every action, its name, its default keys, its help text.
        pub const ACTIONS: &[ActionSpec] = &[$(ActionSpec {
            action: Action::$action,
            name: $name,
            help: $help,
            defaults: &[$($key),*],
            hint: $hint,
        }),*];
    };
}

actions! {
    Quit "quit" ["q", "ctrl+c"] Some("quit"), "quit (tells the engine to shut down)";
    Help "help" ["?"] Some("help"), "show this help";
    Up "up" ["k", "up"] None, "move up";
    Down "down" ["j", "down"] None, "move down";
    Top "top" ["g", "home"] None, "first row";
    Bottom "bottom" ["G", "end"] None, "last row";
    PageUp "page_up" ["pgup"] None, "page up";
    PageDown "page_down" ["pgdn"] None, "page down";
    Detail "detail" ["enter"] Some("detail"), "open the selected target's detail";
    Back "back" ["esc"] None, "back / cancel";
    NextScreen "next_screen" ["tab"] Some("screen"), "next screen";
    PrevScreen "prev_screen" ["backtab"] None, "previous screen";
    ScreenTargets "screen_targets" ["1"] None, "targets screen";
    ScreenDetail "screen_detail" ["2"] None, "target detail screen";
    ScreenPools "screen_pools" ["3"] None, "pools screen";
    ScreenDescriptors "screen_descriptors" ["4"] None, "descriptors screen";
    ScreenLog "screen_log" ["5"] None, "event log screen";
    Reconnect "reconnect" ["r"] Some("reconnect"), "reconnect the selected target";
    ReconnectAll "reconnect_all" ["R"] None, "reconnect every shown target (asks first)";
    ReResolve "re_resolve" ["d"] Some("dns"), "re-resolve the selected target's name";
    ReResolveAll "re_resolve_all" ["D"] None, "re-resolve every shown target (asks first)";
    Probe "probe" ["p"] Some("probe"), "probe the selected target on a fresh connection";
    ProbeAll "probe_all" ["P"] None, "probe every shown target (asks first)";
    Load "load" ["L"] None, "load a target list file (Tab completes the path)";
    Reload "reload" ["ctrl+l"] None, "reload the current target sources";
    Filter "filter" ["/", "f"] Some("filter"), "filter by text (job:, state:, health:, is:stale|dns|probe|pending)";
    StateFilter "state_filter" ["t"] None, "cycle the state filter";
    SortNext "sort_next" ["s", "right"] Some("sort"), "sort by the next column";
    SortPrev "sort_prev" ["S", "left"] None, "sort by the previous column";
    SortInvert "sort_invert" ["i"] None, "invert the sort order";
    Freeze "freeze" ["space"] Some("freeze"), "freeze the display (the engine keeps running)";
    Export "export" ["e"] Some("export"), "export state and histories as JSON";
}

impl Action {
    /// The table row of this action.
    pub fn spec(self) -> &'static ActionSpec {
        ACTIONS
            .iter()
            .find(|s| s.action == self)
            .unwrap_or(&ACTIONS[0])
    }
}

/// A key with its modifiers, normalised so that `R` and `shift+r` are the same binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyBinding {
    /// The key.
    pub code: KeyCode,
    /// Ctrl / Alt (Shift is folded into the character).
    pub modifiers: KeyModifiers,
}

impl KeyBinding {
    /// The binding a key event stands for.
    pub fn from_event(ev: &KeyEvent) -> Self {
        Self::normalised(ev.code, ev.modifiers)
    }

    fn normalised(code: KeyCode, mut modifiers: KeyModifiers) -> Self {
        // Terminals report `R` with or without SHIFT; the character already says it.
        if matches!(code, KeyCode::Char(_) | KeyCode::BackTab) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        modifiers &= KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT;
        KeyBinding { code, modifiers }
    }

    /// Parse `q`, `G`, `ctrl+l`, `alt+x`, `enter`, `pgdn`, `space`, `f5`, `?`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = s;
        // A lone "+" is the plus key; otherwise "+" separates modifiers.
        while let Some((m, tail)) = rest.split_once('+').filter(|(_, t)| !t.is_empty()) {
            match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => modifiers |= KeyModifiers::CONTROL,
                "alt" => modifiers |= KeyModifiers::ALT,
                "shift" => modifiers |= KeyModifiers::SHIFT,
                _ => return Err(format!("unknown modifier `{m}` in `{s}`")),
            }
            rest = tail;
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        if modifiers.contains(KeyModifiers::SHIFT) {
                            modifiers.remove(KeyModifiers::SHIFT);
                            KeyCode::Char(c.to_ascii_uppercase())
                        } else {
                            KeyCode::Char(c)
                        }
                    }
                    _ => return Err(format!("unknown key `{s}`")),
                }
            }
        };
        Ok(Self::normalised(code, modifiers))
    }
}

impl fmt::Display for KeyBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl+")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt+")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift+")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Only key presses act; repeats and releases (reported by some terminals) are ignored.
pub fn should_handle(ev: &KeyEvent) -> bool {
    ev.kind == KeyEventKind::Press
}

/// Why a keys file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The file could not be read.
    #[error("keys file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed or not a map of action names to keys.
    #[error("keys file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What is wrong, with the line and column when known.
        message: String,
    },
    /// An action name that does not exist.
    #[error("keys file {path}: unknown action `{name}` (known: {known})")]
    UnknownAction {
        /// The file.
        path: String,
        /// The bad name.
        name: String,
        /// The valid names.
        known: String,
    },
    /// A key that cannot be parsed.
    #[error("keys file {path}: action `{action}`: {message}")]
    BadKey {
        /// The file.
        path: String,
        /// The action it was meant for.
        action: String,
        /// What is wrong.
        message: String,
    },
    /// Two actions share keys.
    #[error("keys file {path}: {}", .duplicates.join("; "))]
    Duplicate {
        /// The file (or "built-in defaults").
        path: String,
        /// One line per shared key: "key `x` is bound to both `a` and `b`".
        duplicates: Vec<String>,
    },
}

/// The effective bindings: defaults, overridden by the keys file.
#[derive(Debug, Clone)]
pub struct Bindings {
    by_key: HashMap<KeyBinding, Action>,
    /// Keys per action, in table order.
    by_action: Vec<(&'static ActionSpec, Vec<KeyBinding>)>,
}

impl Bindings {
    /// The built-in defaults.
    pub fn defaults() -> Self {
        // The defaults are tested to parse and to be free of duplicates.
        Self::build(Self::default_keys(), "built-in defaults").unwrap_or_else(|_| Bindings {
            by_key: HashMap::new(),
            by_action: Vec::new(),
        })
    }

    fn default_keys() -> Vec<(&'static ActionSpec, Vec<KeyBinding>)> {
        ACTIONS
            .iter()
            .map(|s| {
                let keys = s
                    .defaults
                    .iter()
                    .filter_map(|k| KeyBinding::parse(k).ok())
                    .collect();
                (s, keys)
            })
            .collect()
    }

    /// Defaults overridden by a YAML keys file.
    pub fn from_file(path: &Path) -> Result<Self, KeysError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
            path: p.clone(),
            source,
        })?;
        Self::from_yaml(&text, &p)
    }

    /// Defaults overridden by YAML text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, KeysError> {
        let syntax = |message: String| KeysError::Syntax {
            path: origin.to_string(),
            message,
        };
        let mut table = Self::default_keys();
        if text.trim().is_empty() {
            return Self::build(table, origin);
        }
        let map: serde_yaml::Mapping = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            syntax(format!("{at}{e}"))
        })?;
        for (k, v) in map {
            let name = k
                .as_str()
                .ok_or_else(|| syntax(format!("action names must be strings, got {k:?}")))?;
            let Some(entry) = table.iter_mut().find(|(s, _)| s.name == name) else {
                return Err(KeysError::UnknownAction {
                    path: origin.to_string(),
                    name: name.to_string(),
                    known: ACTIONS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let raw: Vec<String> = match v {
                serde_yaml::Value::String(s) => vec![s],
                serde_yaml::Value::Sequence(seq) => seq
                    .into_iter()
                    .map(|x| match x {
                        serde_yaml::Value::String(s) => Ok(s),
                        // `1` parses as a number in YAML; accept it as the key "1".
                        serde_yaml::Value::Number(n) => Ok(n.to_string()),
                        other => Err(syntax(format!(
                            "`{name}`: a key must be a string, got {other:?}"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                serde_yaml::Value::Number(n) => vec![n.to_string()],
                other => {
                    return Err(syntax(format!(
                        "`{name}`: expected a key or a list of keys, got {other:?}"
                    )));
                }
            };
            let keys = raw
                .iter()
                .map(|k| KeyBinding::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|message| KeysError::BadKey {
                    path: origin.to_string(),
                    action: name.to_string(),
                    message,
                })?;
            entry.1 = keys;
        }
        Self::build(table, origin)
    }

    fn build(
        table: Vec<(&'static ActionSpec, Vec<KeyBinding>)>,
        origin: &str,
    ) -> Result<Self, KeysError> {
        let mut by_key: HashMap<KeyBinding, Action> = HashMap::new();
        let mut duplicates = Vec::new();
        for (spec, keys) in &table {
            for k in keys {
                if let Some(prev) = by_key.get(k) {
                    if *prev != spec.action {
                        duplicates.push(format!(
                            "key `{k}` is bound to both `{}` and `{}`",
                            prev.spec().name,
                            spec.name
                        ));
                    }
                } else {
                    by_key.insert(*k, spec.action);
                }
            }
        }
        if !duplicates.is_empty() {
            return Err(KeysError::Duplicate {
                path: origin.to_string(),
                duplicates,
            });
        }
        Ok(Bindings {
            by_key,
            by_action: table,
        })
    }

    /// The action bound to a key event, if any.
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.by_key.get(&KeyBinding::from_event(ev)).copied()
    }

    /// The keys of one action.
    pub fn keys(&self, a: Action) -> &[KeyBinding] {
        self.by_action
            .iter()
            .find(|(s, _)| s.action == a)
            .map(|(_, k)| k.as_slice())
            .unwrap_or(&[])
    }

    /// The keys of one action joined for display (`q, ctrl+c`).
    pub fn keys_text(&self, a: Action) -> String {
        let keys = self.keys(a);
        if keys.is_empty() {
            return "(unbound)".to_string();
        }
        keys.iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every action with its keys, in table order (help screen).
    pub fn table(&self) -> &[(&'static ActionSpec, Vec<KeyBinding>)] {
        &self.by_action
    }

    /// Footer hints: the first key and label of every action that has a hint.
    pub fn hints(&self) -> Vec<(String, &'static str)> {
        self.by_action
            .iter()
            .filter_map(|(s, keys)| Some((keys.first()?.to_string(), s.hint?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventState;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn defaults_parse_and_have_no_duplicates() {
        for s in ACTIONS {
            for k in s.defaults {
                assert!(KeyBinding::parse(k).is_ok(), "{k}");
            }
        }
        Bindings::build(Bindings::default_keys(), "defaults").expect("no duplicate defaults");
    }

    #[test]
    fn every_default_key_maps_to_its_action() {
        let b = Bindings::defaults();
        for s in ACTIONS {
            for k in s.defaults {
                let kb = KeyBinding::parse(k).expect("parses");
                let ev = key(kb.code, kb.modifiers);
                assert_eq!(b.action(&ev), Some(s.action), "key {k}");
            }
        }
    }

    #[test]
    fn shift_is_folded_into_characters() {
        let b = Bindings::defaults();
        let shifted = key(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(b.action(&shifted), Some(Action::ReconnectAll));
        let plain = key(KeyCode::Char('R'), KeyModifiers::NONE);
        assert_eq!(b.action(&plain), Some(Action::ReconnectAll));
        let backtab = key(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(b.action(&backtab), Some(Action::PrevScreen));
        assert_eq!(KeyBinding::parse("shift+r"), KeyBinding::parse("R"));
    }

    #[test]
    fn only_presses_are_handled() {
        let mut ev = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert!(should_handle(&ev));
        ev.kind = KeyEventKind::Release;
        assert!(!should_handle(&ev));
        ev.kind = KeyEventKind::Repeat;
        assert!(!should_handle(&ev));
        let _ = KeyEventState::NONE;
    }

    #[test]
    fn parse_table() {
        let cases = [
            ("q", KeyCode::Char('q'), KeyModifiers::NONE),
            ("ctrl+l", KeyCode::Char('l'), KeyModifiers::CONTROL),
            ("Ctrl+C", KeyCode::Char('C'), KeyModifiers::CONTROL),
            ("alt+x", KeyCode::Char('x'), KeyModifiers::ALT),
            ("enter", KeyCode::Enter, KeyModifiers::NONE),
            ("pgdn", KeyCode::PageDown, KeyModifiers::NONE),
            ("space", KeyCode::Char(' '), KeyModifiers::NONE),
            ("f5", KeyCode::F(5), KeyModifiers::NONE),
            ("+", KeyCode::Char('+'), KeyModifiers::NONE),
            ("ctrl++", KeyCode::Char('+'), KeyModifiers::CONTROL),
            ("?", KeyCode::Char('?'), KeyModifiers::NONE),
        ];
        for (s, code, m) in cases {
            assert_eq!(
                KeyBinding::parse(s),
                Ok(KeyBinding { code, modifiers: m }),
                "{s}"
            );
        }
        assert!(KeyBinding::parse("hyper+x").is_err());
        assert!(KeyBinding::parse("nosuchkey").is_err());
    }

    #[test]
    fn keys_file_overrides_an_action() {
        let b = Bindings::from_yaml("reconnect: x\nquit: [Q, ctrl+c]\nscreen_log: 9\n", "k.yaml")
            .expect("valid");
        assert_eq!(
            b.action(&key(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Reconnect)
        );
        assert_eq!(b.action(&key(KeyCode::Char('r'), KeyModifiers::NONE)), None);
        assert_eq!(
            b.action(&key(KeyCode::Char('Q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            b.action(&key(KeyCode::Char('9'), KeyModifiers::NONE)),
            Some(Action::ScreenLog)
        );
        assert_eq!(b.keys_text(Action::Quit), "Q, ctrl+c");
    }

    #[test]
    fn duplicates_are_rejected_naming_file_and_keys() {
        let err = Bindings::from_yaml("reconnect: p\n", "/home/u/keys.yaml")
            .expect_err("p is probe's key");
        let msg = err.to_string();
        assert_eq!(
            msg,
            "keys file /home/u/keys.yaml: key `p` is bound to both `reconnect` and `probe`"
        );
        let err = Bindings::from_yaml("help: [x]\nexport: [x]\n", "k.yaml").expect_err("dup");
        assert!(
            err.to_string()
                .contains("key `x` is bound to both `help` and `export`"),
            "{err}"
        );
    }

    #[test]
    fn invalid_keys_files() {
        let unknown = Bindings::from_yaml("reconect: r\n", "k.yaml").expect_err("typo");
        assert!(
            unknown
                .to_string()
                .starts_with("keys file k.yaml: unknown action `reconect`")
        );
        let bad = Bindings::from_yaml("reconnect: hyper+r\n", "k.yaml").expect_err("bad key");
        assert_eq!(
            bad.to_string(),
            "keys file k.yaml: action `reconnect`: unknown modifier `hyper` in `hyper+r`"
        );
        let syntax = Bindings::from_yaml("reconnect: [r\n", "k.yaml").expect_err("yaml");
        assert!(syntax.to_string().contains("line"), "{syntax}");
        let shape = Bindings::from_yaml("- r\n", "k.yaml").expect_err("not a map");
        assert!(
            shape.to_string().starts_with("keys file k.yaml:"),
            "{shape}"
        );
    }

    #[test]
    fn hints_come_from_the_table() {
        let b = Bindings::defaults();
        let hints = b.hints();
        assert_eq!(hints[0], ("q".to_string(), "quit"));
        assert!(hints.contains(&("r".to_string(), "reconnect")));
    }
}
