//! Per-screen view state, apart from [`App`](super::app::App): what each screen remembers
//! between frames (selection, scroll, filter), and nothing it can recompute from the model.
//!
//! | screen | state |
//! |---|---|
//! | targets | [`TargetsView`]: sort, filter, the sorted index, selection, scroll |
//! | detail | [`DetailView`]: which target is shown (kept while the table re-sorts) |
//! | events | [`LogView`]: filter and scroll |
//! | pools, descriptors, help | one scroll offset each, in [`Scrolls`] |

pub mod detail;
pub mod log;
pub mod targets;

pub use detail::DetailView;
pub use log::LogView;
pub use targets::TargetsView;

/// Scroll offsets (rows from the top) of the screens that only scroll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scrolls {
    /// The pools screen.
    pub pools: usize,
    /// The descriptors screen.
    pub descriptors: usize,
    /// The help screen.
    pub help: usize,
}
