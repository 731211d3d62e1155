//! Aggregates that walk every target or connection (job sizes, old and idle connections,
//! pools, sockets by fd). They are rebuilt with the targets index, a few times a second at most,
//! never per frame; pools and sockets only while their screen is shown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::model::{ConnState, Model, OpenConn};

use super::format::since;

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

/// One connection pool: a job's connections to one `scheme://host:port`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolRow {
    /// `job/scheme://host:port`.
    pub key: String,
    /// Open connections.
    pub conns: u64,
    /// Of which idle.
    pub idle: u64,
    /// Of which carrying a request.
    pub in_flight: u64,
    /// Their descriptors.
    pub fds: Vec<i32>,
    /// When the oldest was opened.
    pub oldest: Option<SystemTime>,
    /// Targets scraped through this pool.
    pub targets: usize,
    /// The first few of them.
    pub instances: Vec<Arc<str>>,
}

/// The pool key of a target: `job/scheme://host:port`, as in `ConnOpened::pool`.
pub fn pool_key(t: &crate::model::TargetState) -> String {
    if t.pool.starts_with(&*t.job) && t.pool[t.job.len()..].starts_with('/') {
        t.pool.clone()
    } else {
        format!("{}/{}", t.job, t.pool)
    }
}

fn build_pools(m: &Model) -> Vec<PoolRow> {
    let mut by_key: HashMap<String, PoolRow> = HashMap::new();
    for t in m.targets.iter().filter(|t| !t.removed) {
        let key = pool_key(t);
        let row = by_key.entry(key.clone()).or_insert_with(|| PoolRow {
            key,
            ..Default::default()
        });
        row.targets += 1;
        if row.instances.len() < 3 {
            row.instances.push(t.instance.clone());
        }
    }
    for c in m.conns.values() {
        let row = by_key.entry(c.pool.clone()).or_insert_with(|| PoolRow {
            key: c.pool.clone(),
            ..Default::default()
        });
        row.conns += 1;
        let busy = m
            .targets
            .get(c.slot)
            .is_some_and(|t| t.conn_id == Some(c.conn_id) && t.conn_state == ConnState::InFlight);
        if busy {
            row.in_flight += 1;
        } else {
            row.idle += 1;
        }
        row.fds.push(c.fd);
        row.oldest = Some(row.oldest.map_or(c.opened, |o| o.min(c.opened)));
    }
    let mut rows: Vec<PoolRow> = by_key.into_values().collect();
    for r in &mut rows {
        r.fds.sort_unstable();
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

impl Derived {
    /// Walk the model once; pools and sockets only when `pools` / `sockets` are asked for.
    pub fn build(m: &Model, now: SystemTime, pools: bool, sockets: bool) -> Self {
        let mut job_totals: HashMap<Arc<str>, usize> = HashMap::new();
        for t in m.targets.iter().filter(|t| !t.removed) {
            *job_totals.entry(t.job.clone()).or_default() += 1;
        }
        let old_conns = m
            .conns
            .values()
            .filter(|c| since(now, c.opened) >= OLD_CONN)
            .count() as u64;
        let idle_conns = m
            .conns
            .values()
            .filter(|c| {
                m.targets.get(c.slot).is_none_or(|t| {
                    t.conn_id != Some(c.conn_id) || t.conn_state != ConnState::InFlight
                })
            })
            .count() as u64;
        let sockets = if sockets {
            let mut v: Vec<_> = m.conns.values().cloned().collect();
            v.sort_by_key(|c| (c.fd, c.conn_id));
            v
        } else {
            Vec::new()
        };
        Derived {
            job_totals,
            old_conns,
            idle_conns,
            pools: if pools { build_pools(m) } else { Vec::new() },
            sockets,
        }
    }
}
