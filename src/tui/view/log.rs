//! State of the event log screen.

/// What the event log screen remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogView {
    /// Substring (case-insensitive) a line must contain to be shown; empty shows all.
    pub filter: String,
    /// How many matching lines back from the newest the view starts (0 follows new events).
    pub scroll: usize,
}

impl LogView {
    /// Move by `delta` lines; down (positive) goes toward the newest line.
    pub fn move_by(&mut self, delta: isize) {
        self.scroll = self.scroll.saturating_add_signed(-delta);
    }
}
