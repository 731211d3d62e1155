//! Open connections and the pools they belong to, derived from events, so that the TUI and
//! the headless `state` read the same numbers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::target::{ConnRecord, Pending, push_bounded, ts};
use super::totals::Flag;
use super::{CONN_HISTORY, ConnState, Model};
use crate::event::{CloseReason, ConnInfo, PoolKey};

/// An open connection, wherever it belongs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenConn {
    /// Connection id.
    pub conn_id: u64,
    /// Its pool.
    pub pool: PoolKey,
    /// Index into `Model::targets` of the target that dialled it.
    pub slot: usize,
    /// Every target that has used it (more than one in a shared pool, e.g. blackbox).
    pub users: Vec<usize>,
    /// File descriptor.
    pub fd: i32,
    /// Local address.
    pub local: SocketAddr,
    /// Peer.
    pub peer: SocketAddr,
    /// Opened at.
    #[serde(with = "ts")]
    pub opened: SystemTime,
}

/// One connection pool: a job's connections to one `scheme://host:port`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRow {
    /// Which pool.
    pub key: PoolKey,
    /// Open connections.
    pub conns: u64,
    /// Of which idle.
    pub idle: u64,
    /// Of which carrying a request.
    pub in_flight: u64,
    /// Their descriptors, ascending.
    pub fds: Vec<i32>,
    /// When the oldest was opened.
    pub oldest: Option<SystemTime>,
    /// Targets scraped through this pool.
    pub targets: usize,
    /// The first few of their instances.
    pub instances: Vec<Arc<str>>,
}

impl PoolRow {
    fn new(key: PoolKey) -> Self {
        PoolRow {
            key,
            conns: 0,
            idle: 0,
            in_flight: 0,
            fds: Vec::new(),
            oldest: None,
            targets: 0,
            instances: Vec::new(),
        }
    }
}

impl Model {
    /// Whether connection `c` is carrying a request (its current target is in flight on it).
    pub fn conn_busy(&self, c: &OpenConn) -> bool {
        self.targets
            .get(c.slot)
            .is_some_and(|t| t.conn_id == Some(c.conn_id) && t.conn_state == ConnState::InFlight)
    }

    /// Open connections not carrying a request.
    pub fn idle_conns(&self) -> u64 {
        self.conns.values().filter(|c| !self.conn_busy(c)).count() as u64
    }

    /// Open connections at least `age` old at `now`.
    pub fn conns_older_than(&self, now: SystemTime, age: Duration) -> u64 {
        self.conns
            .values()
            .filter(|c| now.duration_since(c.opened).unwrap_or_default() >= age)
            .count() as u64
    }

    /// Live targets per job.
    pub fn job_totals(&self) -> HashMap<Arc<str>, usize> {
        let mut out: HashMap<Arc<str>, usize> = HashMap::new();
        for t in self.targets.iter().filter(|t| !t.removed) {
            *out.entry(t.job.clone()).or_default() += 1;
        }
        out
    }

    /// Every pool with targets or connections, sorted by key. O(targets + connections): call
    /// it when a screen shows pools, not per event.
    pub fn pools(&self) -> Vec<PoolRow> {
        let mut by_key: HashMap<&PoolKey, PoolRow> = HashMap::new();
        for t in self.targets.iter().filter(|t| !t.removed) {
            let row = by_key
                .entry(&t.pool)
                .or_insert_with(|| PoolRow::new(t.pool.clone()));
            row.targets += 1;
            if row.instances.len() < 3 {
                row.instances.push(t.instance.clone());
            }
        }
        for c in self.conns.values() {
            let busy = self.conn_busy(c);
            let row = by_key
                .entry(&c.pool)
                .or_insert_with(|| PoolRow::new(c.pool.clone()));
            row.conns += 1;
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

    pub(crate) fn on_conn_opened(&mut self, s: usize, at: SystemTime, c: &ConnInfo) {
        self.totals.conns_open += 1;
        self.conns.insert(
            c.conn_id,
            OpenConn {
                conn_id: c.conn_id,
                pool: c.pool.clone(),
                slot: s,
                users: vec![s],
                fd: c.fd,
                local: c.local,
                peer: c.peer,
                opened: at,
            },
        );
        self.set_state(s, ConnState::InFlight);
        self.set_flag(s, Flag::Stale, false);
        let t = &mut self.targets[s];
        t.dials_total += 1;
        if t.dials_total > 1 {
            t.reconnects_total += 1;
            push_bounded(&mut t.reconnect_times, at, super::RECONNECT_HISTORY);
        }
        t.conn_id = Some(c.conn_id);
        t.last_conn_error = None;
        let rec = ConnRecord {
            conn_id: c.conn_id,
            opened: at,
            fd: c.fd,
            local: c.local,
            peer: c.peer,
            connect_ms: c.connect_ms,
            requests: 0,
            closed: None,
        };
        push_bounded(&mut t.conns, rec, CONN_HISTORY);
    }

    pub(crate) fn on_conn_closed(
        &mut self,
        slot: Option<usize>,
        at: SystemTime,
        conn_id: u64,
        reason: CloseReason,
        requests: u64,
    ) {
        let mut users = match self.conns.remove(&conn_id) {
            Some(c) => {
                self.totals.conns_open = self.totals.conns_open.saturating_sub(1);
                c.users
            }
            None => Vec::new(),
        };
        if let Some(s) = slot
            && !users.contains(&s)
        {
            users.push(s);
        }
        // Every target that used the connection (a shared pool has several) sees it end.
        for s in users {
            self.conn_ended(s, conn_id, at, reason, requests);
        }
    }

    /// A target scraped over a connection another target dialled (a shared pool): make it the
    /// target's current connection, with a record in its history.
    pub(crate) fn adopt(&mut self, s: usize, conn_id: u64) {
        let Some(oc) = self.conns.get_mut(&conn_id) else {
            return;
        };
        if oc.users.contains(&s) {
            return;
        }
        oc.users.push(s);
        let rec = ConnRecord {
            conn_id,
            opened: oc.opened,
            fd: oc.fd,
            local: oc.local,
            peer: oc.peer,
            connect_ms: 0.0,
            requests: 0,
            closed: None,
        };
        let t = &mut self.targets[s];
        t.conn_id = Some(conn_id);
        if t.conn_mut(conn_id).is_none() {
            push_bounded(&mut t.conns, rec, CONN_HISTORY);
        }
    }

    /// Connection `conn_id` used by target `s` ended.
    fn conn_ended(
        &mut self,
        s: usize,
        conn_id: u64,
        at: SystemTime,
        reason: CloseReason,
        requests: u64,
    ) {
        let Some(t) = self.targets.get(s) else { return };
        let was_current = t.conn_id == Some(conn_id);
        if was_current {
            self.set_flag(s, Flag::Stale, false);
            let st = self.targets[s].conn_state;
            if st != ConnState::Resolving && st != ConnState::Dialling {
                self.set_state(s, ConnState::Closed);
            }
        }
        let t = &mut self.targets[s];
        if was_current {
            t.conn_id = None;
        }
        if let Some(c) = t.conn_mut(conn_id) {
            c.closed = Some((at, reason));
            c.requests = requests.max(c.requests);
        }
        t.answered(Pending::Reconnecting);
    }
}
