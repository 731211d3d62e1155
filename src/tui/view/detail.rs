//! State of the detail screen.

/// What the detail screen remembers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetailView {
    /// Slot of the target shown. Set when the screen is entered and when j/k move to a
    /// neighbour; it does not follow the table's re-sorting or filtering, so the target being
    /// read cannot be swapped for another one under the operator's eyes.
    pub target: Option<usize>,
}
