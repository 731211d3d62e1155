//! One target: its scrape loop, and the per-target operations commands call (re-resolve, probe).

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;

use crate::event::{
    CloseReason, ConnFailKind, DnsCause, EventKind, ProbeFailKind, ProbeResult, ScrapeResult,
    TargetRef,
};

use super::Ctx;
use super::body::{Counter, Sink};
use super::conn::{self, DialError, InUse, SockInfo};
use super::dns::{Answer, ms, resolve};
use super::pool::Pool;
use super::spec::{Auth, Scheme, TargetSpec};

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
    last_bytes: std::sync::atomic::AtomicU64,
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
    fn read_buf(&self) -> usize {
        match self.last_bytes.load(Ordering::Relaxed) {
            0 => 4096,
            n => usize::try_from(n + 1024)
                .unwrap_or(usize::MAX)
                .checked_next_power_of_two()
                .unwrap_or(65536)
                .clamp(2048, 65536),
        }
    }

    fn request(&self) -> Result<Request<Empty<Bytes>>, String> {
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
        Box::pin(scrape(&ctx, &t)).await;
        if ctx.opts.recheck_dns {
            maybe_recheck(&ctx, &t);
        }
        if let Some(at) = next_probe
            && Instant::now() >= at
        {
            next_probe = ctx.opts.probe_every.map(|p| Instant::now() + p);
            let (c, t) = (ctx.clone(), t.clone());
            tokio::spawn(async move { probe(&c, &t).await });
        }
    }
}

struct Outcome {
    conn_id: Option<u64>,
    reused: bool,
    status: Option<u16>,
    bytes: u64,
    samples: u64,
}

/// Scrape once and report it.
pub async fn scrape(ctx: &Arc<Ctx>, t: &Arc<TargetShared>) {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + t.spec.job.timeout;
    let mut out = Outcome {
        conn_id: None,
        reused: false,
        status: None,
        bytes: 0,
        samples: 0,
    };
    let res = scrape_inner(ctx, t, deadline, &mut out).await;
    let up = res.is_ok();
    t.last_up.store(up, Ordering::Release);
    ctx.emit.emit(
        Some(&t.tref),
        EventKind::Scrape(ScrapeResult {
            conn_id: out.conn_id,
            reused: out.reused,
            status: out.status,
            duration_ms: ms(start.elapsed()),
            bytes: out.bytes,
            samples: out.samples,
            up,
            error: res.err(),
        }),
    );
}

fn deadline_msg(t: &TargetShared) -> String {
    format!("Get \"{}\": context deadline exceeded", t.spec.url())
}

/// Whether a failed request on a reused connection may be retried on a fresh one: the server
/// had closed (or reset) it before answering, as Go's transport retries.
fn retryable(e: &hyper::Error) -> bool {
    if e.is_canceled() || e.is_incomplete_message() {
        return true;
    }
    matches!(
        conn::io_source(e).map(|io| io.kind()),
        Some(
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
        )
    )
}

async fn scrape_inner(
    ctx: &Arc<Ctx>,
    t: &Arc<TargetShared>,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<(), String> {
    let (mut guard, reused) = match t.pool.take_idle() {
        Some(c) => (InUse::new(c, &t.tref), true),
        None => (dial(ctx, t, deadline).await?, false),
    };
    out.reused = reused;
    let mut attempt = 0;
    let resp = loop {
        attempt += 1;
        let Some(shared) = guard.shared().cloned() else {
            return Err("internal: connection vanished".to_owned());
        };
        out.conn_id = Some(shared.id);
        if t.removed.load(Ordering::Acquire) {
            guard.drop_reason = CloseReason::TargetRemoved;
        }
        let req = t.request()?;
        shared.requests.fetch_add(1, Ordering::AcqRel);
        let sent = send(&mut guard, req, deadline).await;
        match sent {
            Some(Ok(resp)) => break resp,
            None => return Err(deadline_msg(t)),
            Some(Err(e)) if out.reused && attempt == 1 && retryable(&e) => {
                // The pooled connection was dead on arrival: once more on a fresh one.
                let reason = match conn::io_source(&e).map(|io| io.kind()) {
                    Some(std::io::ErrorKind::ConnectionReset) => CloseReason::Reset,
                    _ => CloseReason::PeerClosed,
                };
                guard.close(reason);
                guard = dial(ctx, t, deadline).await?;
                out.reused = false;
            }
            Some(Err(e)) => {
                let reason = conn::classify_hyper(&e);
                guard.close(reason);
                return Err(format!("Get \"{}\": {e}", t.spec.url()));
            }
        }
    };
    let status = resp.status();
    out.status = Some(status.as_u16());
    let connection = resp
        .headers()
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    // `Connection: close`, or an HTTP/1.0 answer without keep-alive: closed after the response.
    let conn_close = connection.as_deref() == Some("close")
        || (resp.version() == http::Version::HTTP_10
            && connection.as_deref() != Some("keep-alive"));
    let gzip = resp
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let limit = t.spec.job.body_size_limit;
    let mut sink = Sink::new(gzip && status.is_success(), limit);
    let mut body = resp.into_body();
    // Read (or, for a non-200, drain) the whole body so the connection stays reusable. One
    // timer for the whole body, not one per frame.
    enum BodyEnd {
        Done,
        Broken(hyper::Error),
        Sink(String),
    }
    let read = tokio::time::timeout_at(deadline, async {
        loop {
            match body.frame().await {
                None => return BodyEnd::Done,
                Some(Err(e)) => return BodyEnd::Broken(e),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && status == http::StatusCode::OK
                        && let Err(e) = sink.feed(&data)
                    {
                        return BodyEnd::Sink(e);
                    }
                }
            }
        }
    })
    .await;
    match read {
        Err(_) => return Err(deadline_msg(t)),
        Ok(BodyEnd::Done) => {}
        Ok(BodyEnd::Broken(e)) => {
            let reason = conn::classify_hyper(&e);
            guard.close(reason);
            return Err(format!("Get \"{}\": reading body: {e}", t.spec.url()));
        }
        Ok(BodyEnd::Sink(e)) => {
            guard.close(CloseReason::Error);
            return Err(e);
        }
    }
    let counter = if status == http::StatusCode::OK {
        match sink.finish() {
            Ok(c) => c,
            Err(e) => {
                guard.close(CloseReason::Error);
                return Err(e);
            }
        }
    } else {
        Counter::default()
    };
    out.bytes = counter.bytes;
    t.last_bytes.store(counter.bytes, Ordering::Relaxed);
    out.samples = counter.samples;
    if conn_close {
        guard.close(CloseReason::ConnectionClose);
    } else {
        guard.finish(&t.pool, ctx.epoch, ctx.opts.max_conn_age);
    }
    if status != http::StatusCode::OK {
        return Err(format!(
            "server returned HTTP status {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned());
    }
    if counter.exceeded {
        return Err(format!(
            "body size limit exceeded (limit: {} bytes)",
            t.spec.job.body_size_limit
        ));
    }
    let sample_limit = t.spec.job.sample_limit;
    if sample_limit > 0 && counter.samples > sample_limit {
        return Err(format!(
            "sample limit exceeded ({} > {sample_limit})",
            counter.samples
        ));
    }
    Ok(())
}

/// Send a request on a checked-out connection; `None` when the deadline passed.
async fn send(
    guard: &mut InUse,
    req: Request<Empty<Bytes>>,
    deadline: tokio::time::Instant,
) -> Option<Result<hyper::Response<hyper::body::Incoming>, hyper::Error>> {
    let sender = guard.sender()?;
    tokio::time::timeout_at(deadline, async {
        sender.ready().await?;
        sender.send_request(req).await
    })
    .await
    .ok()
}

/// Resolve (if a name) into socket addresses, reporting DNS events with `cause`.
async fn addresses(
    ctx: &Ctx,
    t: &TargetShared,
    cause: DnsCause,
    deadline: tokio::time::Instant,
) -> Result<(Vec<SocketAddr>, Option<Answer>), DialError> {
    let host = &t.spec.host;
    let port = t.spec.port;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((vec![SocketAddr::new(ip, port)], None));
    }
    match resolve(ctx, &t.tref, host, cause, deadline).await {
        Ok(a) => {
            // Only a dial proves the pooled connection matches the answer; a probe's lookup
            // says nothing about it, and rescheduling there would postpone the background
            // recheck forever whenever probes run more often than every 30 s.
            if cause == DnsCause::Dial {
                schedule_recheck(ctx, &t.pool, &a);
            }
            Ok((
                a.addrs
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect(),
                Some(a),
            ))
        }
        Err(e) => Err(DialError {
            kind: ConnFailKind::Resolution,
            addr: t.spec.host_port(),
            message: format!("dial tcp: {}", e.message),
        }),
    }
}

fn schedule_recheck(ctx: &Ctx, pool: &Pool, a: &Answer) {
    let wait = a.ttl.max(ctx.opts.recheck_min);
    pool.set_next_recheck((ctx.epoch.elapsed() + wait).as_millis() as u64);
}

/// Dial a new pooled connection for `t`: resolve, connect, (TLS,) HTTP handshake.
async fn dial(
    ctx: &Arc<Ctx>,
    t: &Arc<TargetShared>,
    deadline: tokio::time::Instant,
) -> Result<InUse, String> {
    ctx.emit.emit(
        Some(&t.tref),
        EventKind::DialStarted {
            host: t.spec.host.clone(),
            port: t.spec.port,
        },
    );
    let res = async {
        let (addrs, _) = addresses(ctx, t, DnsCause::Dial, deadline).await?;
        let (stream, peer, took) = conn::connect_any(&addrs, deadline).await?;
        let info = SockInfo::of(&stream, peer, took);
        match t.spec.scheme {
            Scheme::Http => {
                conn::establish(ctx, &t.pool, &t.tref, stream, info, None, t.read_buf()).await
            }
            Scheme::Https => {
                let (tls, tls_info) = tls_handshake(t, stream, peer, deadline).await?;
                let rb = t.read_buf();
                conn::establish(ctx, &t.pool, &t.tref, tls, info, Some(tls_info), rb).await
            }
        }
    }
    .await;
    res.map_err(|e| {
        ctx.emit.emit(
            Some(&t.tref),
            EventKind::ConnFailed {
                addr: e.addr.clone(),
                kind: e.kind,
                error: e.message.clone(),
            },
        );
        format!("Get \"{}\": {}", t.spec.url(), e.message)
    })
}

/// TLS over a connected stream, within the scrape deadline (and Go's 10 s handshake timeout).
async fn tls_handshake(
    t: &TargetShared,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    deadline: tokio::time::Instant,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        crate::event::TlsInfo,
    ),
    DialError,
> {
    let fail = |message: String| DialError {
        kind: ConnFailKind::Tls,
        addr: peer.to_string(),
        message,
    };
    let cfg = t.pool.tls_config(&t.spec.job.tls).map_err(fail)?;
    let name = super::tls::server_name_for(&t.spec.job.tls, &t.spec.host).to_owned();
    let deadline = deadline.min(tokio::time::Instant::now() + Duration::from_secs(10));
    match tokio::time::timeout_at(deadline, super::tls::handshake(stream, &name, cfg)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(m)) => Err(fail(format!("tls: {m}"))),
        Err(_) => Err(DialError {
            kind: ConnFailKind::Timeout,
            addr: peer.to_string(),
            message: format!("dial tcp {peer}: TLS handshake timeout"),
        }),
    }
}

/// Look the target's name up now and flag live connections whose peer left the answer.
pub async fn re_resolve(ctx: &Ctx, t: &TargetShared, cause: DnsCause) {
    let host = &t.spec.host;
    if host.parse::<IpAddr>().is_ok() {
        // An address needs no lookup; say so rather than stay silent.
        ctx.emit.emit(
            Some(&t.tref),
            EventKind::DnsResolved {
                host: host.clone(),
                addrs: vec![host.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))],
                ttl_s: 0,
                duration_ms: 0.0,
                cause,
            },
        );
        return;
    }
    let deadline = tokio::time::Instant::now() + t.spec.job.timeout;
    if let Ok(a) = resolve(ctx, &t.tref, host, cause, deadline).await {
        schedule_recheck(ctx, &t.pool, &a);
        flag_stale(ctx, &t.pool, &a.addrs);
    }
}

/// Report every live connection of `pool` whose peer is not in `addrs` (DNS moved, the
/// connection did not follow).
fn flag_stale(ctx: &Ctx, pool: &Pool, addrs: &[IpAddr]) {
    for c in pool.live() {
        if !c.is_closed() && !addrs.contains(&c.peer.ip()) {
            ctx.emit.emit(
                Some(&c.user()),
                EventKind::StalePeer {
                    conn_id: c.id,
                    peer: c.peer,
                    addrs: addrs.to_vec(),
                },
            );
        }
    }
}

fn maybe_recheck(ctx: &Arc<Ctx>, t: &Arc<TargetShared>) {
    if t.spec.host.parse::<IpAddr>().is_ok() || t.pool.live_count() == 0 {
        return;
    }
    let now = ctx.epoch.elapsed().as_millis() as u64;
    let next = t.pool.next_recheck_ms.load(Ordering::Acquire);
    if next == 0 || now < next {
        return;
    }
    // Claim this recheck so targets sharing the pool do not all look the name up.
    if t.pool
        .next_recheck_ms
        .compare_exchange(
            next,
            now + ctx.opts.recheck_min.as_millis() as u64,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        return;
    }
    let (c, t) = (ctx.clone(), t.clone());
    tokio::spawn(async move { re_resolve(&c, &t, DnsCause::Recheck).await });
}

/// Resolve, connect and GET on a fresh connection beside the pooled one, with phase timings;
/// the pooled connection is untouched.
pub async fn probe(ctx: &Arc<Ctx>, t: &Arc<TargetShared>) {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + t.spec.job.timeout;
    let mut resolve_ms = None;
    let mut connect_ms = None;
    let mut first_byte_ms = None;
    let mut peer = None;
    let mut status = None;
    let res: Result<(), (ProbeFailKind, String)> = async {
        let r0 = Instant::now();
        let (addrs, answer) = addresses(ctx, t, DnsCause::Probe, deadline)
            .await
            .map_err(|e| (e.kind.into(), e.message))?;
        if let Some(a) = &answer {
            resolve_ms = Some(ms(r0.elapsed()));
            // A fresh answer is also a chance to notice that the pooled connection is stale.
            flag_stale(ctx, &t.pool, &a.addrs);
        }
        let (stream, p, took) = conn::connect_any(&addrs, deadline)
            .await
            .map_err(|e| (e.kind.into(), e.message))?;
        connect_ms = Some(ms(took));
        peer = Some(p);
        let (mut sender, driver) = match t.spec.scheme {
            Scheme::Http => conn::handshake_plain(stream, t.read_buf()).await,
            Scheme::Https => {
                let (tls, _) = tls_handshake(t, stream, p, deadline)
                    .await
                    .map_err(|e| (e.kind.into(), e.message))?;
                conn::handshake_plain(tls, t.read_buf()).await
            }
        }
        .map_err(|e| (ProbeFailKind::Other, e))?;
        let drv = tokio::spawn(driver);
        let req = t.request().map_err(|e| (ProbeFailKind::Other, e))?;
        let resp = probe_get(&mut sender, req, deadline, t).await?;
        first_byte_ms = Some(ms(start.elapsed()));
        status = Some(resp.status().as_u16());
        let ok_status = resp.status() == http::StatusCode::OK;
        let mut body = resp.into_body();
        loop {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err((ProbeFailKind::Timeout, deadline_msg(t))),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err((ProbeFailKind::Other, format!("reading body: {e}")));
                }
                Ok(Some(Ok(_))) => {}
            }
        }
        drop(sender);
        drv.abort();
        if !ok_status {
            return Err((
                ProbeFailKind::Http,
                format!("server returned HTTP status {}", status.unwrap_or(0)),
            ));
        }
        Ok(())
    }
    .await;
    let ok = res.is_ok();
    let pooled_works = t.last_up.load(Ordering::Acquire) && t.pool.live_count() > 0;
    let (kind, error) = match res {
        Ok(()) => (None, None),
        Err((k, e)) => (Some(k), Some(e)),
    };
    ctx.emit.emit(
        Some(&t.tref),
        EventKind::Probe(ProbeResult {
            ok,
            kind,
            error,
            resolve_ms,
            connect_ms,
            first_byte_ms,
            total_ms: ms(start.elapsed()),
            peer,
            status,
            hidden_failure: !ok && pooled_works,
        }),
    );
}

async fn probe_get(
    sender: &mut SendRequest<Empty<Bytes>>,
    req: Request<Empty<Bytes>>,
    deadline: tokio::time::Instant,
    t: &TargetShared,
) -> Result<hyper::Response<hyper::body::Incoming>, (ProbeFailKind, String)> {
    match tokio::time::timeout_at(deadline, async {
        sender.ready().await?;
        sender.send_request(req).await
    })
    .await
    {
        Err(_) => Err((ProbeFailKind::Timeout, deadline_msg(t))),
        Ok(Err(e)) => Err((
            ProbeFailKind::Other,
            format!("Get \"{}\": {e}", t.spec.url()),
        )),
        Ok(Ok(r)) => Ok(r),
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
