//! When a target scrapes: at a stable offset inside its interval, one scrape at a time, a
//! missed tick skipped; and what rides along (the background recheck, periodic probes).

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::event::TargetId;

use super::ctx::Ctx;
use super::target::TargetShared;
use super::{probe, recheck, scrape};

/// The stable offset of a target inside its interval, from its identity (labels + URL, as
/// Prometheus hashes a target for its offset), so scrapes spread evenly, a restart keeps the
/// phase, and targets sharing a URL (one address in several target groups) do not all scrape
/// at once.
///
/// Offsets fall on slots of 1/100 of the interval (10 ms at 1 s): scrapes still spread
/// evenly, but those sharing a slot start on one wake-up of the runtime instead of one each,
/// which saves a context switch per scrape at scale.
pub fn offset(id: TargetId, interval: Duration) -> Duration {
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    let n = interval.as_nanos().max(1) as u64;
    let slot = (n / 100).max(1);
    Duration::from_nanos((h.finish() % n) / slot * slot)
}

/// When the first scrape happens: the next time whose phase in the interval equals the offset.
fn first_tick(off: Duration, interval: Duration) -> tokio::time::Instant {
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let iv = interval.as_nanos().max(1);
    let phase = now_ns % iv;
    let off = off.as_nanos() % iv;
    let wait = if off >= phase {
        off - phase
    } else {
        iv - phase + off
    };
    tokio::time::Instant::now() + Duration::from_nanos(wait as u64)
}

/// The scrape loop of one target: one scrape at a time, missed ticks skipped.
pub async fn run(ctx: Arc<Ctx>, t: Arc<TargetShared>) {
    let interval = t.spec.job.interval;
    let off = offset(t.tref.id, interval);
    let mut tick = tokio::time::interval_at(first_tick(off, interval), interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut paused = ctx.paused.clone();
    let mut next_probe = ctx.opts.probe_every.map(|p| Instant::now() + p);
    let idle_timeout = ctx.opts.idle_timeout;
    loop {
        // Between scrapes the loop also watches its pool's idle connections, so a server's
        // close is reported at once and the idle timeout applies, without a task per
        // connection.
        loop {
            // A timer only for an expiry due before the next tick can come (the tick is at most
            // an interval away, and the loop looks again after it): with the usual idle
            // timeout (90 s) longer than the interval, a scrape then costs one timer, not two.
            let expiry = t
                .pool
                .idle_expiry(ctx.epoch, idle_timeout)
                .filter(|e| *e <= Instant::now() + interval);
            let expire = async {
                match expiry {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = tick.tick() => break,
                () = std::future::poll_fn(|cx| t.pool.poll_idle(cx)) => {}
                () = expire => t.pool.expire_idle(ctx.epoch, idle_timeout),
            }
        }
        if *paused.borrow_and_update() {
            continue;
        }
        // Boxed: the scrape's state machine is large (kilobytes); a target waiting for its next
        // tick then holds only this small loop, not the scrape's state.
        Box::pin(scrape::scrape(&ctx, &t)).await;
        if ctx.opts.recheck_dns {
            recheck::maybe_recheck(&ctx, &t);
        }
        if let Some(at) = next_probe
            && Instant::now() >= at
        {
            next_probe = ctx.opts.probe_every.map(|p| Instant::now() + p);
            let (c, t) = (ctx.clone(), t.clone());
            tokio::spawn(async move { probe::probe(&c, &t).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stable_and_inside_the_interval() {
        let iv = Duration::from_secs(15);
        let id = |u: &str| TargetId::of([("job", "node")], u);
        let a = offset(id("http://a:9100/metrics"), iv);
        assert_eq!(a, offset(id("http://a:9100/metrics"), iv));
        assert!(a < iv);
        let spread: std::collections::HashSet<_> = (0..100)
            .map(|i| offset(id(&format!("http://h{i}:9100/metrics")), iv).as_secs())
            .collect();
        assert!(spread.len() > 10, "offsets cluster: {spread:?}");
    }
}
