//! Text forms of durations, ages and times shared by every screen, and the colour theme.

use std::time::{Duration, SystemTime};

use ratatui::style::{Color, Modifier, Style};

/// Time from `then` to `now`, zero when `then` is in the future.
pub fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// Compact age with at most two units: `45s`, `12m03s`, `3h12m`, `2d04h`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A duration in milliseconds: `0.8ms`, `12ms`, `1.2s`.
pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.1}ms")
    } else if v < 1000.0 {
        format!("{v:.0}ms")
    } else {
        format!("{:.1}s", v / 1000.0)
    }
}

/// Wall-clock time of day, UTC, `HH:MM:SS`.
pub fn clock(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.get(11..19).unwrap_or(&s).to_string()
}

/// Wall-clock time of day with milliseconds, UTC.
pub fn clock_ms(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_millis(t).to_string();
    s.get(11..23).unwrap_or(&s).to_string()
}

/// Cut `s` to at most `w` characters, marking the cut with `…`.
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

/// Styles of the UI; every one is plain when colour is off (`NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    /// Whether colours are used.
    pub color: bool,
}

impl Theme {
    /// Colour unless the `NO_COLOR` environment variable is set to anything non-empty.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Healthy things.
    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }
    /// Broken things (down, failing, dropped events).
    pub fn bad(&self) -> Style {
        self.fg(Color::Red)
    }
    /// Things to look at (stale, pending, hidden problems).
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    /// Less important text.
    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    /// Titles and table headers (bold works without colour).
    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    /// The selected row (reverse video works without colour).
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    /// Key names in hints.
    pub fn key(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(Duration::from_secs(5)), "5s");
        assert_eq!(age(Duration::from_secs(723)), "12m03s");
        assert_eq!(age(Duration::from_secs(3 * 3600 + 720)), "3h12m");
        assert_eq!(age(Duration::from_secs(2 * 86400 + 4 * 3600)), "2d04h");
    }

    #[test]
    fn millis_and_fit() {
        assert_eq!(ms(0.84), "0.8ms");
        assert_eq!(ms(12.4), "12ms");
        assert_eq!(ms(1234.0), "1.2s");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(
            clock(SystemTime::UNIX_EPOCH + Duration::from_secs(3661)),
            "01:01:01"
        );
    }
}
