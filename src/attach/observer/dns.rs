//! Pool names looked up from the process's point of view, and connections judged against
//! the answer.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::event::{DnsCause, EventKind, PoolKey};

use super::{Observer, ms};

impl Observer {
    /// Look a pool's host up from the process's point of view; report it; re-judge its
    /// connections.
    pub(super) async fn resolve_pool(&mut self, pool: &PoolKey, cause: DnsCause) {
        let host = pool.host.to_string();
        let literal = host.parse::<IpAddr>().ok();
        let tref = self.first_target(pool);
        let res = self.resolver.lookup(&host).await;
        let Some(p) = self.pools.get_mut(pool) else {
            return;
        };
        match res {
            Ok(a) => {
                let changed = p.answer.as_ref() != Some(&a.addrs);
                p.answer = Some(a.addrs.clone());
                // Names are looked up again at TTL expiry, at most every 5 s (each lookup is a
                // query to Prometheus's own DNS server) and at least every 30 s (hosts files
                // have no TTL).
                p.recheck_at = literal.is_none().then(|| {
                    Instant::now() + a.ttl.clamp(Duration::from_secs(5), Duration::from_secs(30))
                });
                // A background recheck is reported when the answer changed; asked-for lookups
                // always.
                if literal.is_none() && (changed || cause != DnsCause::Recheck) {
                    self.emit(
                        tref.as_ref(),
                        EventKind::DnsResolved {
                            host,
                            addrs: a.addrs,
                            ttl_s: a.ttl.as_secs(),
                            duration_ms: ms(a.took),
                            cause,
                        },
                    )
                    .await;
                }
            }
            Err(f) => {
                p.recheck_at = Some(Instant::now() + Duration::from_secs(5));
                self.emit(
                    tref.as_ref(),
                    EventKind::DnsFailed {
                        host,
                        kind: f.kind,
                        error: f.message,
                        duration_ms: ms(f.took),
                        cause,
                    },
                )
                .await;
            }
        }
        self.judge(pool).await;
    }

    pub(super) async fn recheck_dns(&mut self) {
        let now = Instant::now();
        let due: Vec<PoolKey> = self
            .pools
            .iter()
            .filter(|(_, p)| p.recheck_at.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.resolve_pool(&k, DnsCause::Recheck).await;
        }
    }

    /// Flag the pool's connections whose peer is not in the current answer.
    pub(super) async fn judge(&mut self, pool: &PoolKey) {
        let Some(answer) = self.pools.get(pool).and_then(|p| p.answer.clone()) else {
            return;
        };
        let tref = self.first_target(pool);
        let mut flagged = Vec::new();
        for c in self.conns.values_mut().filter(|c| &c.pool == pool) {
            let stale = !answer.contains(&c.sock.peer.ip());
            if stale && !c.stale {
                flagged.push((c.id, c.sock.peer));
            }
            c.stale = stale;
        }
        for (conn_id, peer) in flagged {
            self.emit(
                tref.as_ref(),
                EventKind::StalePeer {
                    conn_id,
                    peer,
                    addrs: answer.clone(),
                },
            )
            .await;
        }
    }
}
