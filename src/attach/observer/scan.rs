//! The socket scan: the namespace's socket table, attributed to pools through the process's fd
//! table; and the fd census.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

use crate::attach::diag::{SockInfo, TCP_ESTABLISHED, TCP_LISTEN, watched_states};
use crate::attach::proc;
use crate::event::{CloseReason, ConnInfo, EventKind, FdCensus, PoolKey};

use super::{Conn, Observer};

impl Observer {
    /// Where each target address leads: (ip, port) → pools, from the current answers.
    pub(super) fn peer_index(&self) -> HashMap<SocketAddr, Vec<PoolKey>> {
        let mut idx: HashMap<SocketAddr, Vec<PoolKey>> = HashMap::new();
        for (k, p) in &self.pools {
            for ip in p.answer.iter().flatten() {
                idx.entry(SocketAddr::new(*ip, k.port))
                    .or_default()
                    .push(k.clone());
            }
        }
        idx
    }

    /// Read the namespace's socket table; rescan the fd table only when sockets appear that
    /// are neither known to be the process's nor known to be someone else's.
    pub(super) async fn scan(&mut self) {
        let start = Instant::now();
        let socks = match self.diag.dump(watched_states()) {
            Ok(s) => s,
            Err(e) => {
                self.emit(
                    None,
                    EventKind::Error {
                        error: format!("reading the socket table of Prometheus's namespace: {e}"),
                    },
                )
                .await;
                return;
            }
        };
        self.refresh_owned(&socks).await;
        let (present, opened) = self.attribute(&socks);
        for cookie in opened {
            let Some(c) = self.conns.get(&cookie) else {
                continue;
            };
            let info = ConnInfo {
                conn_id: c.id,
                pool: c.pool.clone(),
                fd: c.fd,
                local: c.sock.local,
                peer: c.sock.peer,
                connect_ms: 0.0,
                tls: None,
            };
            let pool = c.pool.clone();
            let tref = self.first_target(&pool);
            self.emit(tref.as_ref(), EventKind::ConnOpened(info)).await;
            self.judge(&pool).await;
        }
        let closed: Vec<[u8; 8]> = self
            .conns
            .keys()
            .filter(|k| !present.contains(*k))
            .copied()
            .collect();
        for cookie in closed {
            let reason = if self.forced.remove(&cookie) {
                CloseReason::Forced
            } else {
                CloseReason::Gone
            };
            self.close(cookie, reason).await;
        }
        self.destroy_pending().await;
        self.scan_cost = start.elapsed();
    }

    /// Rescan the fd table when sockets appear that are neither known to be the process's nor
    /// known to be someone else's.
    async fn refresh_owned(&mut self, socks: &[SockInfo]) {
        if self.fds_unreadable {
            // Without its descriptor table: its sockets are those of its uid (the notice at
            // the start says so), with no fd numbers.
            let uid = self.process.uid;
            self.owned = socks
                .iter()
                .filter(|s| Some(s.uid) == uid)
                .map(|s| (s.inode, -1))
                .collect();
            return;
        }
        let unknown = socks
            .iter()
            .any(|s| !self.owned.contains_key(&s.inode) && !self.foreign.contains(&s.inode));
        if unknown {
            match proc::fd_table(self.process.pid) {
                Ok(t) => {
                    self.owned = t.sockets.clone();
                    self.fd_table = t;
                    self.foreign = socks
                        .iter()
                        .map(|s| s.inode)
                        .filter(|i| !self.owned.contains_key(i))
                        .collect();
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    self.fds_unreadable = true;
                    self.emit(
                        None,
                        EventKind::limitation(format!(
                            "cannot read /proc/{}/fd ({e}): connections are matched by \
                                 owner uid and peer address, without fd numbers; run as root",
                            self.process.pid
                        )),
                    )
                    .await;
                }
                Err(e) => {
                    self.emit(
                        None,
                        EventKind::Error {
                            error: format!(
                                "reading /proc/{}/fd (needs root or CAP_DAC_READ_SEARCH): {e}",
                                self.process.pid
                            ),
                        },
                    )
                    .await;
                }
            }
        }
    }

    /// Attribute the process's new outbound connections to pools. Returns the cookies present
    /// now and those newly attributed.
    fn attribute(&mut self, socks: &[SockInfo]) -> (HashSet<[u8; 8]>, Vec<[u8; 8]>) {
        let mine: Vec<&SockInfo> = socks
            .iter()
            .filter(|s| self.owned.contains_key(&s.inode))
            .collect();
        let listen_ports: HashSet<u16> = mine
            .iter()
            .filter(|s| s.state == TCP_LISTEN)
            .map(|s| s.local.port())
            .collect();
        let idx = self.peer_index();
        let mut present = HashSet::new();
        let mut opened = Vec::new();
        for s in mine.iter().filter(|s| s.state == TCP_ESTABLISHED) {
            present.insert(s.cookie);
            if let Some(c) = self.conns.get_mut(&s.cookie) {
                c.sock = (*s).clone();
                continue;
            }
            // Inbound: a client of one of its own listeners. Never a target's.
            if listen_ports.contains(&s.local.port()) {
                continue;
            }
            let Some(pools) = idx.get(&s.peer) else {
                continue;
            };
            // Several pools on one address (two names for one address, or two jobs scraping
            // one endpoint): each has its own connections, and nothing on the socket says
            // whose it is. Give it to the candidate holding the fewest, so each pool shows
            // its one keep-alive connection, even if two equal ones may be swapped.
            let pool = match &pools[..] {
                [one] => one.clone(),
                _ => pools
                    .iter()
                    .min_by_key(|p| self.conns.values().filter(|c| &c.pool == *p).count())
                    .unwrap_or(&pools[0])
                    .clone(),
            };
            let fd = self.owned.get(&s.inode).copied().unwrap_or(-1);
            let id = self.next_conn;
            self.next_conn += 1;
            self.conns.insert(
                s.cookie,
                Conn {
                    id,
                    pool: pool.clone(),
                    sock: (*s).clone(),
                    fd,
                    first_seen: Instant::now(),
                    stale: false,
                },
            );
            opened.push(s.cookie);
        }
        (present, opened)
    }

    pub(super) async fn close(&mut self, cookie: [u8; 8], reason: CloseReason) {
        let Some(c) = self.conns.remove(&cookie) else {
            return;
        };
        let tref = self.first_target(&c.pool);
        self.emit(
            tref.as_ref(),
            EventKind::ConnClosed {
                conn_id: c.id,
                fd: c.fd,
                reason,
                lifetime_s: c.first_seen.elapsed().as_secs_f64(),
                requests: u64::from(c.sock.tcp.data_segs_out.unwrap_or(0)),
            },
        )
        .await;
    }

    pub(super) async fn census(&mut self) {
        // The census reads the whole table; the scan keeps only what changed. Without it
        // there is no census (said once, at the start), rather than a census of zeros.
        if self.fds_unreadable {
            return;
        }
        let start = Instant::now();
        let read = proc::fd_table(self.process.pid);
        self.census_cost = start.elapsed();
        match read {
            Ok(t) => self.fd_table = t,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                self.fds_unreadable = true;
                return;
            }
            Err(_) => {}
        }
        let t = &self.fd_table;
        let c = FdCensus {
            total: t.total(),
            sockets: t.sockets.len() as u64,
            files: t.files,
            pipes: t.pipes,
            other: t.other,
            soft_limit: self.limits.0,
            hard_limit: self.limits.1,
            target_sockets: Some(self.conns.len() as u64),
            tsdb_files: Some(t.tsdb_files),
        };
        self.emit(None, EventKind::Fds(c)).await;
    }
}
