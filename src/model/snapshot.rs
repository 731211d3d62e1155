//! The serializable view of the whole model: what `e` exports in the TUI and
//! `{"cmd":"state"}` returns in headless mode.

use serde::Serialize;

use super::{FdCensus, Model, OpenConn, TargetState, Totals};

/// The whole state, borrowed from the model.
#[derive(Debug, Serialize)]
pub struct Snapshot<'a> {
    /// Running totals.
    pub totals: &'a Totals,
    /// Latest descriptor census.
    pub fds: Option<FdCensus>,
    /// Events the source dropped.
    pub dropped: u64,
    /// Scraping paused.
    pub paused: bool,
    /// What the source cannot read or do (attach without root), each with why; omitted
    /// when empty.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub limitations: &'a [String],
    /// Open connections.
    pub conns: Vec<&'a OpenConn>,
    /// Every target with its histories (removed ones included, flagged).
    pub targets: &'a [TargetState],
}

impl Model {
    /// The whole state, for export.
    pub fn snapshot(&self) -> Snapshot<'_> {
        let mut conns: Vec<&OpenConn> = self.conns.values().collect();
        conns.sort_by_key(|c| c.conn_id);
        Snapshot {
            totals: &self.totals,
            fds: self.fds,
            dropped: self.dropped,
            paused: self.paused,
            limitations: &self.limitations,
            conns,
            targets: &self.targets,
        }
    }
}
