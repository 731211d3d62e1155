//! HTTP/2 for https targets whose server chooses `h2` by ALPN (the job's `enable_http2`, on by
//! default, as in Prometheus): hyper's HTTP/2 client over the TLS stream scrapetop dialled
//! itself, so the descriptor, addresses and close reason are known as for HTTP/1.1.
//!
//! What Go's transport does, and so this module (measured against Prometheus 2.42, see
//! docs/prometheus-connections.md):
//! - one connection per pool (job and `scheme://host:port`) carries every target's scrapes at
//!   once, one stream each;
//! - a timeout resets only its stream (RST_STREAM); a refused body (size limit, parse error:
//!   [`BodyReader`] drains the rest) or a non-200 (drained) is read to its end within the
//!   deadline, as Prometheus drains it: the connection is kept either way;
//! - a GOAWAY lets the streams in flight finish; the next scrape dials a new connection;
//! - a PING when nothing was read for a minute, the connection dropped when its answer takes
//!   15 s (Prometheus sets `ReadIdleTimeout`; Go's `PingTimeout` default);
//! - closed when no stream was open for the idle timeout (5 minutes).
//!
//! A task per connection drives it (hyper's connection future) and reports its end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::client::TlsStream;

use crate::event::{CloseReason, ConnFailKind, TargetRef, TlsInfo};

use super::body::{BodyOptions, BodyReader};
use super::conn::{ConnShared, DialError, SockInfo};
use super::ctx::Ctx;
use super::pool::{self, Pool};
use super::scrape::{Counted, ScrapeError};
use super::target::TargetShared;

/// Go's `http2.Transport.ReadIdleTimeout` as Prometheus sets it: a PING after a minute
/// without a frame read.
const READ_IDLE: Duration = Duration::from_secs(60);
/// Go's default `PingTimeout`: the connection is dropped when the PING is not answered in it.
const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Go's default limit on a response's header list (`http.Transport` 10 MiB).
const MAX_HEADER_LIST: u32 = 10 << 20;
/// Go's transport stream window (`transportDefaultStreamFlow`, 4 MiB).
const STREAM_WINDOW: u32 = 4 << 20;
/// Go's transport connection window (`transportDefaultConnFlow`, 1 GiB): a credit, not memory.
const CONN_WINDOW: u32 = 1 << 30;
/// Most body bytes of a redirect read before its stream is reset (Go's `maxBodySlurpSize`).
const REDIRECT_SLURP: usize = 2048;

/// One HTTP/2 connection of a pool.
pub struct H2Conn {
    /// Shared state (id, fd, addresses, requests, close reason), as for HTTP/1.1.
    pub shared: Arc<ConnShared>,
    send: SendRequest<Empty<Bytes>>,
    /// Streams open now.
    streams: AtomicUsize,
    /// Wakes the driver: a close was asked for, or the last stream ended.
    wake: Notify,
    max_age: Option<Duration>,
}

impl H2Conn {
    /// Whether a new stream may be opened on it.
    pub fn usable(&self) -> bool {
        !self.shared.is_closed()
            && self.shared.pending_close().is_none()
            && !self.send.is_closed()
            && self
                .max_age
                .is_none_or(|m| self.shared.opened.elapsed() < m)
    }

    /// Wake the driver to look at the connection's state.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// An open stream: counted on its connection while it lives.
pub(super) struct Stream {
    conn: Arc<H2Conn>,
    epoch: std::time::Instant,
}

impl Stream {
    fn open(conn: &Arc<H2Conn>, user: &Arc<TargetRef>, epoch: std::time::Instant) -> Self {
        conn.streams.fetch_add(1, Ordering::AcqRel);
        conn.shared.in_use.store(true, Ordering::Release);
        conn.shared.set_user(user);
        conn.shared.requests.fetch_add(1, Ordering::AcqRel);
        Stream {
            conn: conn.clone(),
            epoch,
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.conn.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            let s = &self.conn.shared;
            s.idle_since_ms
                .store(self.epoch.elapsed().as_millis() as u64, Ordering::Release);
            s.in_use.store(false, Ordering::Release);
            self.conn.wake();
        }
    }
}

/// hyper's error with its causes, as one line.
fn describe(e: &hyper::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Why the connection ended, from the driver's result.
fn classify(res: &Result<(), hyper::Error>) -> CloseReason {
    let Err(e) = res else {
        // GOAWAY or EOF from the server.
        return CloseReason::PeerClosed;
    };
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                    CloseReason::Reset
                }
                std::io::ErrorKind::UnexpectedEof => CloseReason::PeerClosed,
                _ => CloseReason::Error,
            };
        }
        src = c.source();
    }
    if e.is_timeout() {
        // The PING went unanswered.
        return CloseReason::Timeout;
    }
    CloseReason::Error
}

/// Start HTTP/2 on a TLS stream whose server chose `h2`: the preface within `deadline`,
/// `conn_opened`, the driver task. The connection becomes the pool's unless the pool already
/// has a usable one (two scrapes dialled at once): then that one is used and this one closed,
/// as Go's transport does.
pub(super) async fn establish(
    ctx: &Arc<Ctx>,
    pool: &Arc<Pool>,
    user: &Arc<TargetRef>,
    tls: TlsStream<TcpStream>,
    info: SockInfo,
    tls_info: TlsInfo,
    deadline: tokio::time::Instant,
) -> Result<Arc<H2Conn>, DialError> {
    let peer = info.peer;
    let mut b = Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .keep_alive_interval(READ_IDLE)
        .keep_alive_timeout(PING_TIMEOUT)
        .keep_alive_while_idle(true)
        .max_header_list_size(MAX_HEADER_LIST)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW);
    let hs = tokio::time::timeout_at(deadline, b.handshake(TokioIo::new(tls))).await;
    let (send, conn) = match hs {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            return Err(DialError {
                kind: ConnFailKind::Other,
                addr: peer.to_string(),
                message: format!("http2: {}", describe(&e)),
            });
        }
        Err(_) => {
            return Err(DialError {
                kind: ConnFailKind::Timeout,
                addr: peer.to_string(),
                message: format!("dial tcp {peer}: i/o timeout"),
            });
        }
    };
    let shared = pool::register(ctx, pool, user, &info, Some(tls_info));
    // Idle from now on (for the idle timeout) until its first stream opens.
    shared
        .idle_since_ms
        .store(ctx.epoch.elapsed().as_millis() as u64, Ordering::Release);
    let h = Arc::new(H2Conn {
        shared,
        send,
        streams: AtomicUsize::new(0),
        wake: Notify::new(),
        max_age: ctx.opts.max_conn_age,
    });
    let idle_timeout = ctx.opts.idle_timeout;
    tokio::spawn(drive(
        conn,
        h.clone(),
        ctx.clone(),
        Arc::downgrade(pool),
        idle_timeout,
    ));
    if pool.set_h2(&h) {
        Ok(h)
    } else {
        // The connection another scrape dialled meanwhile serves this one too.
        h.shared.set_reason(CloseReason::Error);
        h.wake();
        pool.h2_conn().ok_or_else(|| DialError {
            kind: ConnFailKind::Other,
            addr: peer.to_string(),
            message: "http2: no usable connection".to_owned(),
        })
    }
}

/// The connection's task: runs hyper's connection until the server ends it, it breaks, it is
/// asked to close (once its streams are done) or it idles out; then reports `conn_closed`.
async fn drive(
    conn: hyper::client::conn::http2::Connection<
        TokioIo<TlsStream<TcpStream>>,
        Empty<Bytes>,
        TokioExecutor,
    >,
    h: Arc<H2Conn>,
    ctx: Arc<Ctx>,
    pool: Weak<Pool>,
    idle_timeout: Duration,
) {
    // Boxed, not pinned on the stack: it must be dropped (the socket closed) before
    // `conn_closed` is reported.
    let mut conn = Box::pin(conn);
    let s = &h.shared;
    let res = loop {
        let idle = h.streams.load(Ordering::Acquire) == 0;
        let idle_for = ctx.epoch.elapsed().saturating_sub(Duration::from_millis(
            s.idle_since_ms.load(Ordering::Acquire),
        ));
        if idle && s.pending_close().is_some() {
            break Ok(());
        }
        if idle && idle_for >= idle_timeout {
            s.set_reason(CloseReason::IdleTimeout);
            break Ok(());
        }
        if idle
            && let Some(m) = h.max_age
            && s.opened.elapsed() >= m
        {
            s.set_reason(CloseReason::MaxAge);
            break Ok(());
        }
        let check = if idle {
            idle_timeout.saturating_sub(idle_for)
        } else {
            idle_timeout
        };
        tokio::select! {
            r = &mut conn => break r,
            () = h.wake.notified() => {}
            () = tokio::time::sleep(check) => {}
        }
    };
    if s.pending_close().is_none() {
        s.set_reason(classify(&res));
    }
    // Dropping the connection closes the socket.
    drop(conn);
    if let Some(pool) = pool.upgrade() {
        pool.forget_h2(s.id);
        s.report_closed(&ctx, &pool);
    } else {
        s.closed.store(true, Ordering::Release);
    }
}

/// A response head received on a stream.
pub(super) struct Exchange {
    /// The stream (open until the body is read or dropped).
    stream: Stream,
    /// The response.
    resp: hyper::Response<Incoming>,
}

impl Exchange {
    /// The status code.
    pub(super) fn status(&self) -> u16 {
        self.resp.status().as_u16()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.resp.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// A redirect status (301, 302, 303, 307, 308), as Go follows.
    pub(super) fn is_redirect(&self) -> bool {
        matches!(self.status(), 301 | 302 | 303 | 307 | 308)
    }

    /// The `Location` of a redirect.
    pub(super) fn location(&self) -> Option<String> {
        self.header("location").map(str::to_owned)
    }
}

/// Why a request on an HTTP/2 connection failed.
pub(super) enum Failed {
    /// Before any response: the connection may have been dead on arrival (GOAWAY, reset);
    /// worth one more try on a fresh one when it was reused.
    Unsent(ScrapeError),
    /// The server reset the stream; the connection stays.
    Stream(ScrapeError),
    /// The deadline passed.
    Deadline(ScrapeError),
}

/// Send the scrape's GET for `url` on `conn` and wait for the response head.
pub(super) async fn request(
    ctx: &Ctx,
    t: &TargetShared,
    conn: &Arc<H2Conn>,
    url: &str,
    deadline: tokio::time::Instant,
) -> Result<Exchange, Failed> {
    let mut req = hyper::Request::get(url);
    for (name, value) in t.headers() {
        req = req.header(name, value.as_str());
    }
    let req = req
        .body(Empty::new())
        .map_err(|e| Failed::Unsent(ScrapeError::Request(e.to_string())))?;
    let stream = Stream::open(conn, &t.tref, ctx.epoch);
    let mut send = conn.send.clone();
    let sent = async {
        send.ready().await?;
        send.send_request(req).await
    };
    match tokio::time::timeout_at(deadline, sent).await {
        Ok(Ok(resp)) => Ok(Exchange { stream, resp }),
        Ok(Err(e)) => {
            let err = ScrapeError::H2 {
                url: url.to_owned(),
                message: describe(&e),
            };
            if conn.send.is_closed() || e.is_closed() || e.is_canceled() {
                // The connection went away under the request (a GOAWAY, a close): it takes
                // no new stream, and the request, never processed, may go on a fresh one.
                conn.wake();
                Err(Failed::Unsent(err))
            } else {
                // The server reset this stream: the connection stays, no retry (Go retries
                // only a refused stream).
                Err(Failed::Stream(err))
            }
        }
        // Dropping the request resets its stream; the connection stays.
        Err(_) => Err(Failed::Deadline(ScrapeError::Deadline {
            url: url.to_owned(),
        })),
    }
}

/// Read a redirect's body as Go's client does (up to 2 KiB), then reset the stream.
pub(super) async fn slurp_redirect(x: Exchange, deadline: tokio::time::Instant) {
    let Exchange { stream, resp } = x;
    let mut body = resp.into_body();
    let _ = tokio::time::timeout_at(deadline, async {
        let mut n = 0;
        while n <= REDIRECT_SLURP {
            match body.frame().await {
                Some(Ok(f)) => n += f.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
    })
    .await;
    drop(body);
    drop(stream);
}

/// Read (a 200 through [`BodyReader`]; anything else drained) and judge the scrape, as the
/// HTTP/1.1 path does; the connection is never closed for what one stream did.
pub(super) async fn read_response(
    t: &TargetShared,
    x: Exchange,
    url: &str,
    deadline: tokio::time::Instant,
) -> Counted {
    let status = x.status();
    let mut reader = (status == 200).then(|| {
        let opts = BodyOptions::for_job(&t.spec.job, t.target_labels, Some(deadline.into_std()));
        BodyReader::new(
            x.header("content-type"),
            x.header("content-encoding"),
            &opts,
        )
    });
    let Exchange { stream, resp } = x;
    let mut body = resp.into_body();
    enum End {
        Done,
        Broken(String),
        /// The deadline passed while the reader inflated (its only refusal mid-body).
        Refused(String),
    }
    let read = tokio::time::timeout_at(deadline, async {
        loop {
            match body.frame().await {
                None => return End::Done,
                Some(Err(e)) => return End::Broken(describe(&e)),
                Some(Ok(f)) => {
                    let (Some(r), Some(data)) = (reader.as_mut(), f.data_ref()) else {
                        continue;
                    };
                    if let Err(e) = r.feed(data).await {
                        return End::Refused(e.message);
                    }
                }
            }
        }
    })
    .await;
    // Dropping an unfinished body resets the stream only.
    drop(body);
    drop(stream);
    let fail = |error| Counted {
        error: Some(error),
        ..Counted::default()
    };
    match read {
        Err(_) => {
            return fail(match &reader {
                Some(r) => ScrapeError::Read(r.deadline_error().message),
                None => ScrapeError::Deadline {
                    url: url.to_owned(),
                },
            });
        }
        Ok(End::Done) => {}
        Ok(End::Broken(message)) => {
            return fail(ScrapeError::H2Body {
                url: url.to_owned(),
                message,
            });
        }
        Ok(End::Refused(message)) => return fail(ScrapeError::Read(message)),
    }
    // Over HTTP/2 a failed body costs only its stream: the connection is kept either way.
    Counted::of(t, reader.map(BodyReader::finish), status).0
}

/// Why [`get_once`] failed.
pub(super) enum OnceError {
    /// The deadline passed.
    Deadline,
    /// The handshake, the request or the body failed (hyper's words).
    Failed(String),
}

/// One GET of the target's URL on a fresh HTTP/2 connection (a probe), then the connection
/// closed: the status, after `on_head` was called when the head arrived and the body was read.
pub(super) async fn get_once(
    tls: TlsStream<TcpStream>,
    t: &TargetShared,
    deadline: tokio::time::Instant,
    on_head: impl FnOnce(),
) -> Result<u16, OnceError> {
    let url = &t.url;
    let run = async {
        let (mut send, conn) = Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEADER_LIST)
            .handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
            .await
            .map_err(|e| OnceError::Failed(format!("http2: {}", describe(&e))))?;
        // Driven beside the request; dropped (the socket closed) with this future.
        let mut conn = std::pin::pin!(conn);
        let mut req = hyper::Request::get(&**url);
        for (name, value) in t.headers() {
            req = req.header(name, value.as_str());
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| OnceError::Failed(e.to_string()))?;
        let exchange = async {
            let resp = send.send_request(req).await?;
            on_head();
            let status = resp.status().as_u16();
            let mut body = resp.into_body();
            while let Some(f) = body.frame().await {
                f?;
            }
            Ok::<u16, hyper::Error>(status)
        };
        let mut exchange = std::pin::pin!(exchange);
        let fail = |e: hyper::Error| OnceError::Failed(format!("Get \"{url}\": {}", describe(&e)));
        // A finished connection future is not polled again; the exchange then ends by itself.
        let mut conn_done = false;
        loop {
            tokio::select! {
                r = &mut exchange => return r.map_err(fail),
                r = &mut conn, if !conn_done => {
                    conn_done = true;
                    r.map_err(fail)?;
                }
            }
        }
    };
    tokio::time::timeout_at(deadline, run)
        .await
        .unwrap_or(Err(OnceError::Deadline))
}
