//! Aggregates that walk every target or connection (job sizes, old and idle connections,
//! pools, sockets by fd). They are rebuilt with the targets index, a few times a second at most,
//! never per frame; pools and sockets only while their screen is shown. The walks themselves
//! live with the model (`Model::job_totals`, `Model::pools`, …) so every view counts alike.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::model::{Model, OpenConn};

pub use crate::model::PoolRow;

/// Connections older than this count as "old" in the header's hidden-problems line.
pub const OLD_CONN: Duration = Duration::from_secs(3600);

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
    pub sockets: Vec<OpenConn>,
}

impl Derived {
    /// Walk the model once; pools and sockets only when `pools` / `sockets` are asked for.
    pub fn build(m: &Model, now: SystemTime, pools: bool, sockets: bool) -> Self {
        let sockets = if sockets {
            let mut v: Vec<_> = m.conns.values().cloned().collect();
            v.sort_by_key(|c| (c.fd, c.conn_id));
            v
        } else {
            Vec::new()
        };
        Derived {
            job_totals: m.job_totals(),
            old_conns: m.conns_older_than(now, OLD_CONN),
            idle_conns: m.idle_conns(),
            pools: if pools { m.pools() } else { Vec::new() },
            sockets,
        }
    }
}
