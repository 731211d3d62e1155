//! State of the targets table: how it is sorted and filtered, the sorted index of target slots
//! it draws from, the selection and the scroll.

use std::time::{Duration, Instant, SystemTime};

use crate::model::Model;
use crate::tui::index::{self, Column, StateFilter, TextFilter, View};

/// How often the index may be rebuilt when only the model moved (the operator's own changes
/// rebuild at once). 4 Hz keeps rows honest without sorting 10,000 targets every frame.
pub const INDEX_REFRESH: Duration = Duration::from_millis(250);

/// What the targets table remembers between frames.
#[derive(Debug, Clone)]
pub struct TargetsView {
    /// Sort and filter.
    pub view: View,
    /// The filter text as typed (the parsed form is in `view.filter`).
    pub filter_text: String,
    /// Slots of shown targets, sorted (see `index`).
    pub rows: Vec<usize>,
    /// The selected target's slot; follows the target when rows reorder.
    pub selected: Option<usize>,
    /// Index into `rows` of the first visible row.
    pub offset: usize,
    /// Rows that fit in the table (set by the renderer, used by PgUp/PgDn).
    pub page: usize,
    /// Force a rebuild of the index on the next refresh.
    stale: bool,
    /// `(targets_version, version)` of the model the index was built from.
    built_from: (u64, u64),
    /// When the index was built.
    built_at: Option<Instant>,
}

impl Default for TargetsView {
    fn default() -> Self {
        TargetsView {
            view: View::default(),
            filter_text: String::new(),
            rows: Vec::new(),
            selected: None,
            offset: 0,
            page: 10,
            stale: true,
            built_from: (u64::MAX, u64::MAX),
            built_at: None,
        }
    }
}

impl TargetsView {
    /// Rebuild the index on the next refresh (the sort, filter or shown model changed).
    pub fn invalidate(&mut self) {
        self.stale = true;
    }

    /// Rebuild the index if the operator changed something, or if the model moved and the
    /// last rebuild is at least [`INDEX_REFRESH`] old. Returns whether it was rebuilt (the
    /// caller then refreshes what is aggregated with it).
    pub fn refresh(&mut self, m: &Model, clock: Instant, now: SystemTime) -> bool {
        let from = (m.targets_version, m.version);
        let due = self
            .built_at
            .is_none_or(|at| clock.duration_since(at) >= INDEX_REFRESH);
        if !(self.stale || (from != self.built_from && due)) {
            return false;
        }
        self.rows = index::build(m, &self.view, now);
        self.built_from = from;
        self.built_at = Some(clock);
        self.stale = false;
        if self.selected.is_none_or(|s| !self.rows.contains(&s)) {
            let row = self.selected_row().unwrap_or(0);
            self.selected = self
                .rows
                .get(row.min(self.rows.len().saturating_sub(1)))
                .copied();
        }
        true
    }

    /// Position of the selected target in `rows`.
    pub fn selected_row(&self) -> Option<usize> {
        let s = self.selected?;
        self.rows.iter().position(|&r| r == s)
    }

    /// Select the target shown at `row` (clamped) and scroll it into view.
    pub fn select_row(&mut self, row: usize) {
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

    /// Move the selection by `delta` rows.
    pub fn move_by(&mut self, delta: isize) {
        let cur = self.selected_row().unwrap_or(0);
        self.select_row(cur.saturating_add_signed(delta));
    }

    /// Keep the selection inside the `page` rows shown from `offset` (the index may have moved
    /// it since the last frame), and the page inside the rows.
    pub fn scroll_to_selection(&mut self, page: usize) {
        self.page = page.max(1);
        if let Some(row) = self.selected_row() {
            if row < self.offset {
                self.offset = row;
            } else if row >= self.offset + self.page {
                self.offset = row + 1 - self.page;
            }
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(self.page));
    }

    /// The slots of the rows on screen.
    pub fn visible(&self) -> &[usize] {
        let end = (self.offset + self.page).min(self.rows.len());
        &self.rows[self.offset.min(end)..end]
    }

    /// Set the text filter (parsed at once).
    pub fn set_filter(&mut self, text: String) {
        self.view.filter = TextFilter::parse(&text);
        self.filter_text = text;
        self.stale = true;
    }

    /// Whether a text or state filter narrows the table.
    pub fn is_filtered(&self) -> bool {
        !self.filter_text.is_empty() || self.view.state != StateFilter::Any
    }

    /// Drop the text and state filters.
    pub fn clear_filters(&mut self) {
        self.set_filter(String::new());
        self.view.state = StateFilter::Any;
    }

    /// Cycle the state filter.
    pub fn next_state_filter(&mut self) {
        self.view.state = self.view.state.next();
        self.stale = true;
    }

    /// Sort by the next (`forward`) or previous sortable column.
    pub fn cycle_sort(&mut self, forward: bool) {
        let cols: Vec<Column> = Column::ALL.into_iter().filter(|c| c.sortable()).collect();
        let i = cols.iter().position(|c| *c == self.view.sort).unwrap_or(0);
        let n = cols.len();
        let j = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        self.view.sort = cols[j];
        self.stale = true;
    }

    /// Invert the sort order.
    pub fn invert_sort(&mut self) {
        self.view.desc = !self.view.desc;
        self.stale = true;
    }
}
