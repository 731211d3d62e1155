//! What a reload does, decided without touching anything: a pure function from the running
//! targets, the new target list and the policy to a plan the engine then carries out. The
//! rows of README's reload-policy table are its unit tests.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::event::{CloseReason, PoolKey, TargetId};

use super::spec::JobSettings;

/// What to do with connections on reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReloadPolicy {
    /// As Prometheus: unchanged jobs keep their connections, changed jobs reconnect, a
    /// removed target's idle connection stays until the idle timeout.
    #[default]
    Prometheus,
    /// Only removed targets lose their connections.
    Keep,
    /// Every connection is closed.
    Reconnect,
}

impl ReloadPolicy {
    /// Every policy, in the order `--help` lists them.
    pub const ALL: [ReloadPolicy; 3] = [
        ReloadPolicy::Prometheus,
        ReloadPolicy::Keep,
        ReloadPolicy::Reconnect,
    ];

    /// The name on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReloadPolicy::Prometheus => "prometheus",
            ReloadPolicy::Keep => "keep",
            ReloadPolicy::Reconnect => "reconnect",
        }
    }
}

impl ReloadPolicy {
    /// What the policy does, in a line (for `--help`).
    pub fn meaning(&self) -> &'static str {
        match self {
            ReloadPolicy::Prometheus => {
                "As Prometheus: unchanged jobs keep their connections, changed jobs reconnect"
            }
            ReloadPolicy::Keep => "Only removed targets lose their connections",
            ReloadPolicy::Reconnect => "Every connection is closed",
        }
    }
}

impl fmt::Display for ReloadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reload policy name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reload policy {0:?}: expected prometheus, keep or reconnect")]
pub struct BadReloadPolicy(pub String);

impl FromStr for ReloadPolicy {
    type Err = BadReloadPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReloadPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| BadReloadPolicy(s.to_owned()))
    }
}

/// A running target as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Running<'a> {
    /// Its job's settings.
    pub job: &'a Arc<JobSettings>,
    /// Its pool.
    pub pool: &'a PoolKey,
}

/// What a reload does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Targets to stop: gone from the list, or in a job whose settings changed.
    pub stop: Vec<TargetId>,
    /// Targets to start: new ones, and the stopped ones of changed jobs.
    pub start: Vec<TargetId>,
    /// Pools whose live connections close now, with the reason, in this order (a connection
    /// asked twice keeps the first reason).
    pub close: Vec<(PoolKey, CloseReason)>,
    /// Pools to forget after closing them (a changed job gets new pools, as Prometheus builds
    /// a new client).
    pub forget: Vec<PoolKey>,
    /// Pools kept across a job change whose TLS configuration must be rebuilt.
    pub reset_tls: Vec<PoolKey>,
    /// Targets added (in the list, not running before).
    pub added: u64,
    /// Targets removed (running, not in the list).
    pub removed: u64,
    /// Targets restarted because their job's settings changed.
    pub changed: u64,
}

/// Decide what making `running` equal to `new` does under `policy`. `pools` are every pool the
/// engine holds; `initial` is the start-up (nothing to reconnect).
pub fn plan(
    running: &HashMap<TargetId, Running<'_>>,
    new: &HashMap<TargetId, &Arc<JobSettings>>,
    pools: &[&PoolKey],
    policy: ReloadPolicy,
    initial: bool,
) -> Plan {
    let mut p = Plan::default();
    let changed_jobs: HashSet<&str> = new
        .iter()
        .filter_map(|(id, job)| {
            let r = running.get(id)?;
            (**r.job != ***job).then_some(&*r.job.name)
        })
        .collect();
    let staying_pools: HashSet<&PoolKey> = running
        .iter()
        .filter(|(id, _)| new.contains_key(*id))
        .map(|(_, r)| r.pool)
        .collect();
    let mut closing: HashSet<&PoolKey> = HashSet::new();
    for (id, r) in running {
        let stays = new.contains_key(id);
        if stays && !changed_jobs.contains(&*r.job.name) {
            continue;
        }
        p.stop.push(*id);
        if stays {
            p.changed += 1;
            continue;
        }
        p.removed += 1;
        // Prometheus keeps a departed target's idle connection until the idle timeout (and
        // reuses it if the target comes back); the other policies close it now, unless a
        // staying target shares the pool.
        if policy != ReloadPolicy::Prometheus
            && !staying_pools.contains(r.pool)
            && closing.insert(r.pool)
        {
            p.close.push((r.pool.clone(), CloseReason::TargetRemoved));
        }
    }
    // Removals first (a pool hit twice closes with the first reason), each part in key order.
    p.close.sort();
    let mut pools = pools.to_vec();
    pools.sort();
    for key in pools {
        if changed_jobs.contains(&*key.job) {
            if policy == ReloadPolicy::Keep {
                // The restarted targets find these pools again and keep their connections;
                // only new dials see the job's new TLS settings.
                p.reset_tls.push((*key).clone());
            } else {
                p.close.push(((*key).clone(), CloseReason::Reload));
                p.forget.push((*key).clone());
            }
        } else if policy == ReloadPolicy::Reconnect && !initial {
            p.close.push(((*key).clone(), CloseReason::Reload));
        }
    }
    let stopped: HashSet<&TargetId> = p.stop.iter().collect();
    for id in new.keys() {
        if !running.contains_key(id) {
            p.added += 1;
            p.start.push(*id);
        } else if stopped.contains(id) {
            p.start.push(*id);
        }
    }
    p.stop.sort_unstable();
    p.start.sort_unstable();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Scheme;
    use std::time::Duration;

    fn pool(job: &str, host: &str) -> PoolKey {
        PoolKey {
            job: Arc::from(job),
            scheme: Scheme::Http,
            host: Arc::from(host),
            port: 9100,
        }
    }

    struct World {
        jobs: Vec<Arc<JobSettings>>,
        pools: Vec<PoolKey>,
    }

    /// Two jobs: `a` with targets 1 (pool a/h1) and 2 (pool a/h2), `b` with target 3 (b/h3).
    fn world() -> World {
        World {
            jobs: vec![
                Arc::new(JobSettings::new("a")),
                Arc::new(JobSettings::new("b")),
            ],
            pools: vec![pool("a", "h1"), pool("a", "h2"), pool("b", "h3")],
        }
    }

    fn running(w: &World) -> HashMap<TargetId, Running<'_>> {
        HashMap::from([
            (
                TargetId(1),
                Running {
                    job: &w.jobs[0],
                    pool: &w.pools[0],
                },
            ),
            (
                TargetId(2),
                Running {
                    job: &w.jobs[0],
                    pool: &w.pools[1],
                },
            ),
            (
                TargetId(3),
                Running {
                    job: &w.jobs[1],
                    pool: &w.pools[2],
                },
            ),
        ])
    }

    fn run(
        w: &World,
        new: &[(u64, &Arc<JobSettings>)],
        policy: ReloadPolicy,
        initial: bool,
    ) -> Plan {
        let new: HashMap<TargetId, &Arc<JobSettings>> =
            new.iter().map(|(id, j)| (TargetId(*id), *j)).collect();
        let pools: Vec<&PoolKey> = w.pools.iter().collect();
        plan(&running(w), &new, &pools, policy, initial)
    }

    fn ids(v: &[u64]) -> Vec<TargetId> {
        v.iter().copied().map(TargetId).collect()
    }

    #[test]
    fn policy_names_round_trip() {
        for p in ReloadPolicy::ALL {
            assert_eq!(p.as_str().parse::<ReloadPolicy>(), Ok(p));
        }
        assert!("Keep".parse::<ReloadPolicy>().is_err());
    }

    /// Row `prometheus`: unchanged job keeps every connection; changed job's idle connections
    /// closed (`reload`) and its targets re-dial; removed target's connection stays.
    #[test]
    fn prometheus_row() {
        let w = world();
        let unchanged = run(
            &w,
            &[(1, &w.jobs[0]), (2, &w.jobs[0]), (3, &w.jobs[1])],
            ReloadPolicy::Prometheus,
            false,
        );
        assert_eq!(unchanged, Plan::default(), "unchanged job keeps");

        let mut a2 = (*w.jobs[0]).clone();
        a2.interval = Duration::from_secs(30);
        let a2 = Arc::new(a2);
        let changed = run(
            &w,
            &[(1, &a2), (2, &a2), (3, &w.jobs[1])],
            ReloadPolicy::Prometheus,
            false,
        );
        assert_eq!(changed.stop, ids(&[1, 2]));
        assert_eq!(changed.start, ids(&[1, 2]));
        assert_eq!(changed.changed, 2);
        assert_eq!(
            changed.close,
            vec![
                (pool("a", "h1"), CloseReason::Reload),
                (pool("a", "h2"), CloseReason::Reload)
            ]
        );
        assert_eq!(changed.forget, vec![pool("a", "h1"), pool("a", "h2")]);

        let removed = run(
            &w,
            &[(1, &w.jobs[0]), (3, &w.jobs[1])],
            ReloadPolicy::Prometheus,
            false,
        );
        assert_eq!(removed.stop, ids(&[2]));
        assert_eq!(removed.removed, 1);
        assert!(removed.close.is_empty(), "removed target's conn stays");
    }

    /// Row `keep`: unchanged and changed jobs keep; a removed target's connection closes
    /// (`target_removed`).
    #[test]
    fn keep_row() {
        let w = world();
        let mut a2 = (*w.jobs[0]).clone();
        a2.interval = Duration::from_secs(30);
        let a2 = Arc::new(a2);
        let changed = run(
            &w,
            &[(1, &a2), (2, &a2), (3, &w.jobs[1])],
            ReloadPolicy::Keep,
            false,
        );
        assert!(changed.close.is_empty() && changed.forget.is_empty());
        assert_eq!(changed.reset_tls, vec![pool("a", "h1"), pool("a", "h2")]);
        assert_eq!(changed.changed, 2);

        let removed = run(&w, &[(1, &w.jobs[0])], ReloadPolicy::Keep, false);
        assert_eq!(removed.removed, 2);
        assert_eq!(
            removed.close,
            vec![
                (pool("a", "h2"), CloseReason::TargetRemoved),
                (pool("b", "h3"), CloseReason::TargetRemoved)
            ]
        );
    }

    /// Row `reconnect`: every connection closes (`reload`), removed ones too.
    #[test]
    fn reconnect_row() {
        let w = world();
        let same = run(
            &w,
            &[(1, &w.jobs[0]), (2, &w.jobs[0]), (3, &w.jobs[1])],
            ReloadPolicy::Reconnect,
            false,
        );
        assert_eq!(same.close.len(), 3);
        assert!(same.close.iter().all(|(_, r)| *r == CloseReason::Reload));
        assert!(same.stop.is_empty() && same.forget.is_empty());
        let removed = run(&w, &[(1, &w.jobs[0])], ReloadPolicy::Reconnect, false);
        assert!(
            removed
                .close
                .contains(&(pool("b", "h3"), CloseReason::TargetRemoved))
        );
        assert!(
            removed
                .close
                .contains(&(pool("a", "h1"), CloseReason::Reload))
        );
        // At start-up there is nothing to reconnect.
        let initial = run(
            &w,
            &[(1, &w.jobs[0]), (2, &w.jobs[0]), (3, &w.jobs[1])],
            ReloadPolicy::Reconnect,
            true,
        );
        assert!(initial.close.is_empty());
    }

    #[test]
    fn a_removed_target_sharing_a_pool_with_a_staying_one_keeps_it_open() {
        let w = World {
            jobs: vec![Arc::new(JobSettings::new("a"))],
            pools: vec![pool("a", "bb")],
        };
        let running = HashMap::from([
            (
                TargetId(1),
                Running {
                    job: &w.jobs[0],
                    pool: &w.pools[0],
                },
            ),
            (
                TargetId(2),
                Running {
                    job: &w.jobs[0],
                    pool: &w.pools[0],
                },
            ),
        ]);
        let new = HashMap::from([(TargetId(1), &w.jobs[0])]);
        let p = plan(&running, &new, &[&w.pools[0]], ReloadPolicy::Keep, false);
        assert_eq!(p.removed, 1);
        assert!(p.close.is_empty());
    }

    #[test]
    fn new_targets_are_added_also_in_a_changed_job() {
        let w = world();
        let mut a2 = (*w.jobs[0]).clone();
        a2.sample_limit = 5;
        let a2 = Arc::new(a2);
        let p = run(
            &w,
            &[(1, &a2), (2, &a2), (3, &w.jobs[1]), (4, &a2)],
            ReloadPolicy::Prometheus,
            false,
        );
        assert_eq!((p.added, p.changed, p.removed), (1, 2, 0));
        assert_eq!(p.start, ids(&[1, 2, 4]));
    }
}
