//! The targets table's columns and how they share the width.
//!
//! What an operator comes for decides what stays on a narrow terminal: the connection's state,
//! its descriptor, the last DNS resolution (age and outcome), reconnects and the flags that
//! mark hidden problems come before the job, the connection's age, the reconnect strip, the
//! peer and the error, and those before the scrape duration, the request count and the local
//! port. [`layout`] adds columns in that order while they fit (a column that does not fit is
//! skipped, a later narrower one may still fit), then widens the DNS column to its full form,
//! the instance column to the longest visible instance and the reconnect strip, and gives the
//! error column what is left.
//!
//! | width | columns |
//! |---|---|
//! | 80 | instance up conn flags fd dns reconn |
//! | 120 | job instance up conn flags fd age dns reconn last-hour (scrape in what is left) |
//! | 160 | + peer error reqs |
//! | 200 | + lport, the full DNS form, a wider strip |

/// A column of the targets table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Job name.
    Job,
    /// Instance.
    Instance,
    /// up / down / unknown.
    Health,
    /// Connection state (or the pending operator action).
    State,
    /// Flags: S stale peer, D DNS failing, P probe failed.
    Flags,
    /// File descriptor of the open connection.
    Fd,
    /// Age of the open connection.
    Age,
    /// Peer address.
    Peer,
    /// Local port.
    LocalPort,
    /// Requests carried by the open connection.
    Requests,
    /// Last DNS resolution: age and answer or failure; wide: also duration and TTL left.
    Dns,
    /// Reconnects in the last hour / in total.
    Reconnects,
    /// The last hour's connections as a strip of cells (see `timeline`).
    History,
    /// Last scrape duration.
    Scrape,
    /// Last scrape or dial error.
    Error,
}

/// Width from which the DNS column shows its full form (`age dur answer ttl`).
pub const DNS_FULL: u16 = 36;

/// What [`layout`] does next while there is room, most wanted first.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Add a column at its minimum width.
    Add(Column),
    /// Widen a present column to this width, only if it all fits.
    Widen(Column, u16),
    /// Widen a present column by as much as fits, up to this width.
    Stretch(Column, u16),
}

/// The importance order (see the module's documentation).
const PLAN: [Step; 16] = [
    Step::Add(Column::Flags),
    Step::Add(Column::Fd),
    Step::Add(Column::Dns),
    Step::Add(Column::Reconnects),
    Step::Add(Column::Job),
    Step::Add(Column::Age),
    Step::Add(Column::History),
    Step::Add(Column::Peer),
    Step::Add(Column::Error),
    Step::Widen(Column::Dns, DNS_FULL),
    Step::Add(Column::Scrape),
    Step::Add(Column::Requests),
    Step::Add(Column::LocalPort),
    // The instance's target width is the longest visible one; see `layout`.
    Step::Stretch(Column::Instance, u16::MAX),
    Step::Stretch(Column::History, 24),
    Step::Stretch(Column::Dns, 40),
];

impl Column {
    /// Every column, in display order (and the order `s`/`S` cycle through, strip excepted).
    pub const ALL: [Column; 15] = [
        Column::Job,
        Column::Instance,
        Column::Health,
        Column::State,
        Column::Flags,
        Column::Fd,
        Column::Age,
        Column::Peer,
        Column::LocalPort,
        Column::Requests,
        Column::Dns,
        Column::Reconnects,
        Column::History,
        Column::Scrape,
        Column::Error,
    ];

    /// Whether the table can be sorted by this column (the strip sorts as `Reconnects` would,
    /// so it is left out of the cycle).
    pub fn sortable(self) -> bool {
        self != Column::History
    }

    /// Header text at width `w`.
    pub fn title_at(self, w: u16) -> &'static str {
        match self {
            Column::Dns if w >= DNS_FULL => "last dns (age dur answer ttl)",
            Column::Dns => "dns age/answer",
            c => c.title(),
        }
    }

    /// Header text.
    pub fn title(self) -> &'static str {
        match self {
            Column::Job => "job",
            Column::Instance => "instance",
            Column::Health => "up",
            Column::State => "conn",
            Column::Flags => "flags",
            Column::Fd => "fd",
            Column::Age => "age",
            Column::Peer => "peer",
            Column::LocalPort => "lport",
            Column::Requests => "reqs",
            Column::Dns => "last dns",
            Column::Reconnects => "reconn",
            Column::History => "last hour",
            Column::Scrape => "scrape",
            Column::Error => "error",
        }
    }

    /// Minimum width in cells.
    pub fn width(self) -> u16 {
        match self {
            Column::Job => 10,
            Column::Instance => 21,
            Column::Health => 4,
            Column::State => 13,
            Column::Flags => 5,
            Column::Fd => 5,
            Column::Age => 6,
            Column::Peer => 21,
            Column::LocalPort => 5,
            Column::Requests => 5,
            // "12m03s 10.0.100.200" or "9m57s FAIL nxdomain".
            Column::Dns => 19,
            Column::Reconnects => 7,
            // One cell per five minutes of the last hour.
            Column::History => 12,
            Column::Scrape => 6,
            Column::Error => 12,
        }
    }
}

/// The columns shown in `width` cells (one cell between columns) with their widths, in display
/// order. `longest_instance` is the longest instance among the visible rows. The error column,
/// when shown, takes every cell left over.
pub fn layout(width: u16, longest_instance: u16) -> Vec<(Column, u16)> {
    let mut cols: Vec<(Column, u16)> = [Column::Instance, Column::Health, Column::State]
        .iter()
        .map(|c| (*c, c.width()))
        .collect();
    let used = |cols: &[(Column, u16)]| -> u16 {
        cols.iter()
            .map(|(_, w)| w + 1)
            .sum::<u16>()
            .saturating_sub(1)
    };
    for step in PLAN {
        let spare = width.saturating_sub(used(&cols));
        match step {
            Step::Add(c) if c.width() < spare => cols.push((c, c.width())),
            Step::Add(_) => {}
            Step::Widen(c, to) | Step::Stretch(c, to) => {
                let to = if c == Column::Instance {
                    longest_instance
                } else {
                    to
                };
                let Some(col) = cols.iter_mut().find(|(x, _)| *x == c) else {
                    continue;
                };
                let more = to.saturating_sub(col.1);
                if matches!(step, Step::Stretch(..)) {
                    col.1 += more.min(spare);
                } else if more <= spare {
                    col.1 += more;
                }
            }
        }
    }
    let spare = width.saturating_sub(used(&cols));
    if let Some(e) = cols.iter_mut().find(|(c, _)| *c == Column::Error) {
        e.1 += spare;
    }
    cols.sort_by_key(|(c, _)| Column::ALL.iter().position(|x| x == c));
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(w: u16) -> Vec<Column> {
        layout(w, 20).into_iter().map(|(c, _)| c).collect()
    }

    #[test]
    fn what_an_operator_came_for_stays_at_80_columns() {
        let cols = layout(80, 20);
        let shown: Vec<Column> = cols.iter().map(|(c, _)| *c).collect();
        for c in [
            Column::Instance,
            Column::Health,
            Column::State,
            Column::Fd,
            Column::Dns,
            Column::Reconnects,
            Column::Flags,
        ] {
            assert!(shown.contains(&c), "{c:?} at 80 columns: {shown:?}");
        }
        let total: u16 = cols.iter().map(|(_, w)| w + 1).sum::<u16>() - 1;
        assert!(total <= 80, "{total}");
    }

    #[test]
    fn a_column_is_left_out_only_for_lack_of_room_never_for_a_lesser_one() {
        let added: Vec<Column> = PLAN
            .iter()
            .filter_map(|s| match s {
                Step::Add(c) => Some(*c),
                _ => None,
            })
            .collect();
        for w in 80..=260 {
            let shown = names(w);
            assert!(shown.contains(&Column::Dns), "{w}: {shown:?}");
            for (i, higher) in added.iter().enumerate() {
                if shown.contains(higher) {
                    continue;
                }
                // A lesser column shown while `higher` is not must be narrower (it used what
                // was left).
                for lesser in added.iter().skip(i + 1).filter(|c| shown.contains(c)) {
                    assert!(
                        lesser.width() < higher.width(),
                        "{w}: {lesser:?} shown, {higher:?} not: {shown:?}"
                    );
                }
            }
            let total: u32 = layout(w, 20).iter().map(|(_, c)| u32::from(*c) + 1).sum();
            assert!(total - 1 <= u32::from(w), "{w}: {total}");
        }
        assert!(names(120).contains(&Column::History), "{:?}", names(120));
        for c in [Column::Peer, Column::Error] {
            assert!(names(160).contains(&c), "{c:?}: {:?}", names(160));
        }
        let wide = layout(200, 20);
        assert_eq!(wide.len(), Column::ALL.len(), "{wide:?}");
        assert!(
            wide.iter()
                .any(|(c, w)| *c == Column::Dns && *w >= DNS_FULL),
            "{wide:?}"
        );
    }

    #[test]
    fn the_instance_column_grows_to_the_longest_visible_instance() {
        let w = |cols: Vec<(Column, u16)>| {
            cols.iter()
                .find(|(c, _)| *c == Column::Instance)
                .map(|(_, w)| *w)
        };
        assert_eq!(w(layout(200, 30)), Some(30));
        assert_eq!(w(layout(80, 30)), Some(21), "no room to grow at 80");
    }
}
