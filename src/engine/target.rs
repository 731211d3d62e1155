//! One target: what it shares with the command loop, its request, and its scrape loop (the
//! scrape itself is in `scrape.rs`, dialling in `dial.rs`, probes and rechecks beside them).

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::Empty;

use crate::event::TargetRef;

use super::Ctx;
use super::pool::Pool;
use super::spec::{Auth, TargetSpec};

/// Accept header Prometheus sends (OpenMetrics first, then the text format).
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// State of a target shared between its task and the command loop.
pub struct TargetShared {
    /// Identity.
    pub tref: Arc<TargetRef>,
    /// What to scrape.
    pub spec: TargetSpec,
    /// Its pool.
    pub pool: Arc<Pool>,
    /// Last scrape succeeded.
    pub last_up: AtomicBool,
    /// Removed: an in-flight connection closes with reason `target_removed`.
    pub removed: AtomicBool,
    /// Uncompressed size of the last body read (0 before the first), to size read buffers.
    pub(super) last_bytes: std::sync::atomic::AtomicU64,
    /// Precomputed request headers (auth included).
    headers: http::HeaderMap,
    authority: HeaderValue,
}

impl TargetShared {
    /// Build the shared state of a target.
    pub fn new(tref: Arc<TargetRef>, spec: TargetSpec, pool: Arc<Pool>) -> Arc<Self> {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("scrapetop/", env!("CARGO_PKG_VERSION"))),
        );
        let t = spec.job.timeout.as_secs_f64();
        if let Ok(v) = HeaderValue::from_str(&format!("{t}")) {
            headers.insert("x-prometheus-scrape-timeout-seconds", v);
        }
        match &spec.job.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                let v = format!("Basic {}", base64(raw.as_bytes()));
                if let Ok(mut v) = HeaderValue::from_str(&v) {
                    v.set_sensitive(true);
                    headers.insert(header::AUTHORIZATION, v);
                }
            }
            Auth::Authorization { kind, credentials } => {
                if let Ok(mut v) =
                    HeaderValue::from_str(&format!("{kind} {}", credentials.expose()))
                {
                    v.set_sensitive(true);
                    headers.insert(header::AUTHORIZATION, v);
                }
            }
        }
        let authority = HeaderValue::from_str(&spec.host_port())
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Arc::new(TargetShared {
            tref,
            spec,
            pool,
            last_up: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            last_bytes: std::sync::atomic::AtomicU64::new(0),
            headers,
            authority,
        })
    }

    /// hyper's read buffer for a new connection: room for the last body plus headers, a power
    /// of two between 2 KiB and 64 KiB (4 KiB before the first scrape). Larger bodies are read
    /// in several reads; idle connections stay small.
    pub(super) fn read_buf(&self) -> usize {
        match self.last_bytes.load(Ordering::Relaxed) {
            0 => 4096,
            n => usize::try_from(n + 1024)
                .unwrap_or(usize::MAX)
                .checked_next_power_of_two()
                .unwrap_or(65536)
                .clamp(2048, 65536),
        }
    }

    pub(super) fn request(&self) -> Result<Request<Empty<Bytes>>, String> {
        let mut req = Request::get(self.spec.path_and_query.as_str())
            .body(Empty::new())
            .map_err(|e| format!("building request: {e}"))?;
        *req.headers_mut() = self.headers.clone();
        req.headers_mut()
            .insert(header::HOST, self.authority.clone());
        Ok(req)
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The stable offset of a target inside its interval (hash of job and URL), so scrapes
/// spread evenly and a restart keeps the phase.
///
/// Offsets fall on slots of 1/100 of the interval (10 ms at 1 s): scrapes still spread
/// evenly, but those sharing a slot start on one wake-up of the runtime instead of one each,
/// which saves a context switch per scrape at scale.
pub fn offset(job: &str, url: &str, interval: Duration) -> Duration {
    let mut h = std::hash::DefaultHasher::new();
    job.hash(&mut h);
    url.hash(&mut h);
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
    let off = offset(&t.spec.job.name, &t.spec.url(), interval);
    let mut tick = tokio::time::interval_at(first_tick(off, interval), interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut paused = ctx.paused.clone();
    let mut next_probe = ctx.opts.probe_every.map(|p| Instant::now() + p);
    loop {
        tick.tick().await;
        if *paused.borrow_and_update() {
            continue;
        }
        // Boxed: the scrape's state machine is large (kilobytes); a target waiting for its next
        // tick then holds only this small loop, not the scrape's state.
        Box::pin(super::scrape::scrape(&ctx, &t)).await;
        if ctx.opts.recheck_dns {
            super::recheck::maybe_recheck(&ctx, &t);
        }
        if let Some(at) = next_probe
            && Instant::now() >= at
        {
            next_probe = ctx.opts.probe_every.map(|p| Instant::now() + p);
            let (c, t) = (ctx.clone(), t.clone());
            tokio::spawn(async move { super::probe::probe(&c, &t).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn offsets_are_stable_and_inside_the_interval() {
        let iv = Duration::from_secs(15);
        let a = offset("node", "http://a:9100/metrics", iv);
        assert_eq!(a, offset("node", "http://a:9100/metrics", iv));
        assert!(a < iv);
        let spread: std::collections::HashSet<_> = (0..100)
            .map(|i| offset("node", &format!("http://h{i}:9100/metrics"), iv).as_secs())
            .collect();
        assert!(spread.len() > 10, "offsets cluster: {spread:?}");
    }
}
