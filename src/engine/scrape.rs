//! One scrape over the target's pooled connection (dialling one when none is idle), as
//! Prometheus does it: one deadline over everything, a dead pooled connection retried once on
//! a fresh one, the body read (or drained) whole so the connection stays reusable.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::event::{CloseReason, EventKind, ScrapeResult};

use super::body::{BodyError, BodyOptions, BodyReader, BodySummary};
use super::conn;
use super::conn::DialError;
use super::ctx::Ctx;
use super::dial::{Dialled, dial_to, host_port};
use super::dns::ms;
use super::h2;
use super::http1::{self, Head};
use super::pool::{InUse, Pool};
use super::spec::Scheme;
use super::target::TargetShared;

/// Why a scrape failed. The text is what Prometheus would say (its `lastError`).
#[derive(Debug, thiserror::Error)]
pub(super) enum ScrapeError {
    /// The scrape timeout passed.
    #[error("Get \"{url}\": context deadline exceeded")]
    Deadline {
        /// The scrape URL.
        url: String,
    },
    /// No connection could be made (its own `conn_failed` event says why in detail).
    #[error("Get \"{url}\": {message}")]
    Dial {
        /// The scrape URL.
        url: String,
        /// The dial error.
        message: String,
    },
    /// A redirect could not be followed (Go's wording; the URL is the Location, as Go's is).
    #[error("Get \"{url}\": {message}")]
    Redirect {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The request could not be built.
    #[error("building request: {0}")]
    Request(String),
    /// The request failed on the connection.
    #[error("Get \"{url}\": {source}")]
    Http {
        /// The scrape URL.
        url: String,
        /// The client's error.
        source: http1::Error,
    },
    /// The request failed on an HTTP/2 connection.
    #[error("Get \"{url}\": {message}")]
    H2 {
        /// The scrape URL.
        url: String,
        /// hyper's error.
        message: String,
    },
    /// The body of an HTTP/2 response broke off.
    #[error("Get \"{url}\": reading body: {message}")]
    H2Body {
        /// The scrape URL.
        url: String,
        /// hyper's error.
        message: String,
    },
    /// The body broke off.
    #[error("Get \"{url}\": reading body: {source}")]
    Body {
        /// The scrape URL.
        url: String,
        /// The client's error.
        source: http1::Error,
    },
    /// The body was refused while read: size limit, gzip, exposition, sample or label
    /// limits (Prometheus's own wording, from [`BodyReader`]).
    #[error("{0}")]
    Read(String),
    /// A status other than 200 (the body was drained; the connection is kept).
    #[error("{}", status_text(*.0))]
    Status(u16),
    /// The job cannot be scraped as configured (an unreadable credentials or TLS file): every
    /// scrape fails with this, without dialling, as Prometheus's do.
    #[error("{0}")]
    Config(String),
}

fn status_text(s: u16) -> String {
    let reason = http::StatusCode::from_u16(s)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("");
    format!("server returned HTTP status {s} {reason}")
        .trim_end()
        .to_owned()
}

/// Scrape once and report it.
pub async fn scrape(ctx: &Arc<Ctx>, t: &Arc<TargetShared>) {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + t.spec.job.timeout;
    let mut r = ScrapeResult {
        conn_id: None,
        reused: false,
        status: None,
        duration_ms: 0.0,
        bytes: 0,
        samples: 0,
        up: false,
        error: None,
    };
    if let Some(e) = &t.spec.job.scrape_error {
        r.error = Some(ScrapeError::Config(e.clone()).to_string());
    } else {
        let mut hop = Hop {
            pool: t.pool.clone(),
            url: t.url.clone(),
            req: None,
        };
        let mut redirects = 0u32;
        loop {
            match exchange(ctx, t, &hop, deadline).await {
                Err((conn, e)) => {
                    (r.conn_id, r.reused) = conn;
                    r.error = Some(e.to_string());
                }
                Ok(Reply::H2(x, conn)) => {
                    (r.conn_id, r.reused) = conn;
                    r.status = Some(x.status());
                    match x.location() {
                        Some(loc) if t.spec.job.follow_redirects && x.is_redirect() => {
                            h2::slurp_redirect(x, deadline).await;
                            redirects += 1;
                            match next_hop(t, &hop, loc, redirects) {
                                Ok(next) => {
                                    hop = next;
                                    continue;
                                }
                                Err(e) => r.error = Some(e.to_string()),
                            }
                        }
                        _ => {
                            let counted = h2::read_response(t, x, &hop.url, deadline).await;
                            (r.bytes, r.samples) = (counted.bytes, counted.samples);
                            r.error = counted.error.map(|e| e.to_string());
                        }
                    }
                }
                Ok(Reply::H1(x)) if t.spec.job.follow_redirects && x.head.is_redirect() => {
                    (r.conn_id, r.reused) = (x.conn_id, x.reused);
                    r.status = Some(x.head.status());
                    redirects += 1;
                    match redirect(ctx, t, &hop, x, redirects, deadline).await {
                        Ok(next) => {
                            hop = next;
                            continue;
                        }
                        Err(e) => r.error = Some(e.to_string()),
                    }
                }
                Ok(Reply::H1(x)) => {
                    (r.conn_id, r.reused) = (x.conn_id, x.reused);
                    r.status = Some(x.head.status());
                    let counted =
                        read_response(ctx, t, deadline, x.guard, &x.head, &hop.pool).await;
                    (r.bytes, r.samples) = (counted.bytes, counted.samples);
                    r.error = counted.error.map(|e| e.to_string());
                }
            }
            break;
        }
    }
    r.up = r.error.is_none();
    r.duration_ms = ms(start.elapsed());
    t.last_up.store(r.up, Ordering::Release);
    ctx.emit.emit(Some(&t.tref), EventKind::Scrape(r));
}

/// Where a request of a scrape goes: the target itself, or a redirect's destination (a pool
/// of the same job, as Prometheus's client keeps one connection per host:port).
struct Hop {
    pool: Arc<Pool>,
    /// The URL, for error messages (the target's own is built once, not per scrape).
    url: Arc<str>,
    /// The request; `None`: the target's own.
    req: Option<http1::Request>,
}

/// Most redirects followed in one scrape (Go's client default).
const MAX_REDIRECTS: u32 = 10;
/// Most body bytes of a redirect read so its connection can be kept (Go's `maxBodySlurpSize`).
const REDIRECT_SLURP: u64 = 2048;

/// Follow the redirect response `x` (the `n`th of this scrape) as Go's client does: read up
/// to 2 KiB of its body so the connection can be kept (more costs the connection), then the
/// next hop, or `stopped after 10 redirects`.
async fn redirect(
    ctx: &Arc<Ctx>,
    t: &Arc<TargetShared>,
    hop: &Hop,
    x: Exchange,
    n: u32,
    deadline: tokio::time::Instant,
) -> Result<Hop, ScrapeError> {
    let Exchange {
        mut guard, head, ..
    } = x;
    let Some(loc) = head.location().map(str::to_owned) else {
        // Go hands a redirect without a Location back as the response.
        let counted = read_response(ctx, t, deadline, guard, &head, &hop.pool).await;
        return Err(counted.error.unwrap_or(ScrapeError::Status(head.status())));
    };
    let Some(http) = guard.http() else {
        return Err(ScrapeError::Deadline {
            url: hop.url.to_string(),
        });
    };
    match tokio::time::timeout_at(deadline, http.drain_limit(REDIRECT_SLURP)).await {
        // Dropping the guard mid-body closes the connection (reason: timeout).
        Err(_) => {
            return Err(ScrapeError::Deadline {
                url: hop.url.to_string(),
            });
        }
        Ok(Ok(true)) => guard.finish(&hop.pool, ctx.epoch, ctx.opts.max_conn_age),
        Ok(Ok(false)) => guard.close(CloseReason::Error),
        Ok(Err(e)) => guard.close(conn::classify(&e)),
    }
    next_hop(t, hop, loc, n)
}

/// The hop a redirect to `loc` (the `n`th of this scrape) leads to, or why it is not followed.
fn next_hop(t: &TargetShared, hop: &Hop, loc: String, n: u32) -> Result<Hop, ScrapeError> {
    if n > MAX_REDIRECTS {
        return Err(ScrapeError::Redirect {
            url: loc,
            message: format!("stopped after {MAX_REDIRECTS} redirects"),
        });
    }
    let (scheme, host, port, path) =
        resolve_location(&hop.url, &loc).ok_or_else(|| ScrapeError::Redirect {
            url: hop.url.to_string(),
            message: format!("failed to parse Location header {loc:?}"),
        })?;
    let hp = host_port(&host, port);
    let req = t.request_to(&path, &hp).map_err(ScrapeError::Request)?;
    let url = format!("{}://{hp}{path}", scheme.as_str());
    Ok(Hop {
        pool: t.pool.redirect_pool(scheme, &host, port),
        url: url.into(),
        req: Some(req),
    })
}

/// Resolve a `Location` against the URL it came from: scheme, host (IPv6 without brackets),
/// port, path and query. `None` for what cannot be followed.
fn resolve_location(base: &str, loc: &str) -> Option<(Scheme, String, u16, String)> {
    let loc = loc.split('#').next().unwrap_or("").trim();
    let (bscheme, rest) = base.split_once("://")?;
    let bpath_at = rest.find('/').unwrap_or(rest.len());
    let (bauth, bpath) = rest.split_at(bpath_at);
    let absolute = |scheme: &str, rest: &str| -> Option<(Scheme, String, u16, String)> {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        let at = rest.find(['/', '?']).unwrap_or(rest.len());
        let (auth, path) = rest.split_at(at);
        // Userinfo in a Location is dropped (never sent, never shown).
        let auth = auth.rsplit('@').next().unwrap_or(auth);
        let default = if scheme == Scheme::Https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
            let (h, tail) = v6.split_once(']')?;
            let port = match tail.strip_prefix(':') {
                Some(p) if !p.is_empty() => p.parse().ok()?,
                _ => default,
            };
            (h.to_owned(), port)
        } else {
            match auth.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() => (h.to_owned(), p.parse().ok()?),
                Some((h, _)) => (h.to_owned(), default),
                None => (auth.to_owned(), default),
            }
        };
        if host.is_empty() {
            return None;
        }
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => match p.split_once('?') {
                Some((p, q)) => format!("{}?{q}", remove_dot_segments(p)),
                None => remove_dot_segments(p),
            },
        };
        Some((scheme, host.to_ascii_lowercase(), port, path))
    };
    if let Some((scheme, rest)) = loc.split_once("://")
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return absolute(scheme, rest);
    }
    if let Some(rest) = loc.strip_prefix("//") {
        return absolute(bscheme, rest);
    }
    let path = if loc.starts_with('/') {
        loc.to_owned()
    } else if loc.is_empty() {
        bpath.to_owned()
    } else if loc.starts_with('?') {
        let p = bpath.split('?').next().unwrap_or("/");
        format!("{p}{loc}")
    } else {
        let p = bpath.split('?').next().unwrap_or("/");
        let dir = &p[..p.rfind('/').map_or(0, |i| i + 1)];
        format!("{}{loc}", if dir.is_empty() { "/" } else { dir })
    };
    absolute(bscheme, &format!("{bauth}{path}"))
}

/// RFC 3986's `remove_dot_segments` as Go's `net/url` applies it to every resolved
/// reference, absolute ones included: `.` segments dropped, `..` removes the segment before
/// it (never above the root), a final `.` or `..` leaves a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut segs = path.split('/').peekable();
    // The leading empty segment of an absolute path.
    if path.starts_with('/') {
        segs.next();
    }
    let mut trailing = false;
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        match seg {
            "." => trailing = last,
            ".." => {
                out.pop();
                trailing = last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut p = String::with_capacity(path.len() + 1);
    for s in &out {
        p.push('/');
        p.push_str(s);
    }
    if trailing || p.is_empty() {
        p.push('/');
    }
    p
}

/// A response head received on a checked-out connection.
struct Exchange {
    guard: InUse,
    head: Head,
    conn_id: Option<u64>,
    reused: bool,
}

/// The connection a failed exchange used (id, reused), for the scrape event.
type ConnUsed = (Option<u64>, bool);

/// A response head, on an HTTP/1.1 or an HTTP/2 connection.
enum Reply {
    H1(Exchange),
    /// The connection used (id, reused) beside it.
    H2(h2::Exchange, ConnUsed),
}

/// Send the GET on the pooled connection (or a new one) and wait for the response head,
/// retrying once on a fresh connection when the pooled one was dead on arrival. An https pool
/// whose server chose `h2` has one HTTP/2 connection, shared by its targets.
async fn exchange(
    ctx: &Arc<Ctx>,
    t: &Arc<TargetShared>,
    hop: &Hop,
    deadline: tokio::time::Instant,
) -> Result<Reply, (ConnUsed, ScrapeError)> {
    let url = || hop.url.to_string();
    let dial_err = |e: DialError| ScrapeError::Dial {
        url: url(),
        message: e.message,
    };
    // The connection a retry replaces (for the scrape event when the retry's dial fails).
    let mut retry_of: Option<ConnUsed> = None;
    loop {
        let pooled = if retry_of.is_some() {
            None
        } else if let Some(c) = hop.pool.h2_conn() {
            Some(Dialled::H2(c))
        } else {
            hop.pool
                .take_idle()
                .map(|c| Dialled::H1(InUse::new(c, &t.tref)))
        };
        let reused = pooled.is_some();
        let via = match pooled {
            Some(v) => v,
            // Boxed, as the HTTP/2 request below: a dial (resolving, connecting, TLS) holds
            // kilobytes of state across its awaits, and inline it made every scrape's future
            // 9.5 KB (allocated and copied per scrape) for the rare scrape that dials.
            None => Box::pin(dial_to(ctx, t, &hop.pool, deadline))
                .await
                .map_err(|m| (retry_of.unwrap_or((None, false)), dial_err(m)))?,
        };
        let guard = match via {
            Dialled::H1(g) => g,
            Dialled::H2(c) => {
                let used = (Some(c.shared.id), reused);
                match Box::pin(h2::request(ctx, t, &c, &hop.url, deadline)).await {
                    Ok(x) => return Ok(Reply::H2(x, used)),
                    Err(h2::Failed::Unsent(_)) if reused && retry_of.is_none() => {
                        hop.pool.forget_h2(c.shared.id);
                        retry_of = Some((used.0, false));
                        continue;
                    }
                    Err(
                        h2::Failed::Unsent(e) | h2::Failed::Stream(e) | h2::Failed::Deadline(e),
                    ) => return Err((used, e)),
                }
            }
        };
        match exchange_h1(t, hop, guard, reused, retry_of.is_none(), deadline).await {
            H1::Done(r) => return r.map(Reply::H1),
            H1::Retry(used) => retry_of = Some(used),
        }
    }
}

/// What one HTTP/1.1 attempt gave: the result, or a retry on a fresh connection.
// Returned once per attempt and matched at once: boxing would allocate per scrape for nothing.
#[allow(clippy::large_enum_variant)]
enum H1 {
    Done(Result<Exchange, (ConnUsed, ScrapeError)>),
    /// The pooled connection was dead on arrival: (its id, not reused) for a failed redial.
    Retry(ConnUsed),
}

/// Send the GET on an HTTP/1.1 connection and wait for the response head.
async fn exchange_h1(
    t: &Arc<TargetShared>,
    hop: &Hop,
    mut guard: InUse,
    reused: bool,
    may_retry: bool,
    deadline: tokio::time::Instant,
) -> H1 {
    let url = || hop.url.to_string();
    let conn_id = guard.shared().map(|s| s.id);
    let used = (conn_id, reused);
    if t.removed.load(Ordering::Acquire) {
        guard.drop_reason = CloseReason::TargetRemoved;
    }
    let req = match &hop.req {
        Some(r) => r,
        None => match t.request() {
            Ok(r) => r,
            Err(e) => return H1::Done(Err((used, ScrapeError::Request(e)))),
        },
    };
    if let Some(s) = guard.shared() {
        s.requests.fetch_add(1, Ordering::AcqRel);
    }
    let Some(http) = guard.http() else {
        return H1::Done(Err((used, ScrapeError::Deadline { url: url() })));
    };
    match tokio::time::timeout_at(deadline, http.send(req)).await {
        Ok(Ok(head)) => H1::Done(Ok(Exchange {
            guard,
            head,
            conn_id,
            reused,
        })),
        // Dropping the guard mid-request closes the connection (reason: timeout).
        Err(_) => H1::Done(Err((used, ScrapeError::Deadline { url: url() }))),
        Ok(Err(e)) if reused && may_retry && http.retry_allowed(&e) => {
            // The pooled connection was dead on arrival: once more on a fresh one.
            let reason = match e {
                http1::Error::Reset { .. } => CloseReason::Reset,
                _ => CloseReason::PeerClosed,
            };
            guard.close(reason);
            H1::Retry((conn_id, false))
        }
        Ok(Err(e)) => {
            guard.close(conn::classify(&e));
            let err = ScrapeError::Http {
                url: url(),
                source: e,
            };
            H1::Done(Err((used, err)))
        }
    }
}

/// What reading a response gave: uncompressed bytes and samples (as Prometheus reports them
/// also for a failed body) and the error.
#[derive(Default)]
pub(super) struct Counted {
    pub(super) bytes: u64,
    pub(super) samples: u64,
    pub(super) error: Option<ScrapeError>,
}

impl Counted {
    /// What a response counts once its body is finished (`None`: a non-200, not read as a
    /// page), and whether its connection can carry the next request. Records the wire bytes on
    /// `t` for a page read whole. Shared by HTTP/1.1 and HTTP/2.
    pub(super) fn of(
        t: &TargetShared,
        finished: Option<Result<BodySummary, BodyError>>,
        status: u16,
    ) -> (Counted, bool) {
        match finished {
            None => (
                Counted {
                    error: Some(ScrapeError::Status(status)),
                    ..Counted::default()
                },
                true,
            ),
            Some(Ok(BodySummary {
                bytes,
                wire_bytes,
                samples,
                ..
            })) => {
                t.last_bytes.store(wire_bytes, Ordering::Relaxed);
                (
                    Counted {
                        bytes,
                        samples,
                        error: None,
                    },
                    true,
                )
            }
            Some(Err(e)) => {
                let keep = e.keeps_connection();
                (
                    Counted {
                        bytes: e.bytes,
                        samples: e.samples,
                        error: Some(ScrapeError::Read(e.message)),
                    },
                    keep,
                )
            }
        }
    }
}

/// Read (or, for a non-200, drain) the whole body so the connection stays reusable, then give
/// the connection back (or close it), and judge the scrape. A 200 body goes through
/// [`BodyReader`] (gzip, `body_size_limit`, the exposition parser and its sample and label
/// limits), which drains the rest after a failure so the connection is kept, as Prometheus's
/// is; only the deadline closes it.
async fn read_response(
    ctx: &Arc<Ctx>,
    t: &Arc<TargetShared>,
    deadline: tokio::time::Instant,
    mut guard: InUse,
    head: &Head,
    pool: &Pool,
) -> Counted {
    let fail = |e| Counted {
        error: Some(e),
        ..Counted::default()
    };
    let status = head.status();
    let mut reader = (status == 200).then(|| {
        let opts = BodyOptions::for_job(&t.spec.job, t.target_labels, Some(deadline.into_std()));
        BodyReader::new(
            head.get_str("content-type"),
            head.get_str("content-encoding"),
            &opts,
        )
    });
    let Some(http) = guard.http() else {
        return fail(ScrapeError::Deadline {
            url: t.url.to_string(),
        });
    };
    enum BodyEnd {
        Done,
        Broken(http1::Error),
        /// The reader refused the body (or the deadline passed while inflating).
        Refused(String),
    }
    // One timer for the whole body, not one per chunk.
    let read = tokio::time::timeout_at(deadline, async {
        let Some(r) = reader.as_mut() else {
            // A non-200: drained so the connection stays reusable.
            return match http.drain().await {
                Ok(_) => BodyEnd::Done,
                Err(e) => BodyEnd::Broken(e),
            };
        };
        loop {
            match http.body_chunk().await {
                Ok(None) => return BodyEnd::Done,
                Err(e) => return BodyEnd::Broken(e),
                Ok(Some(data)) => {
                    if let Err(e) = r.feed(data).await {
                        return BodyEnd::Refused(e.message);
                    }
                }
            }
        }
    })
    .await;
    match read {
        // Dropping the guard unfinished closes the connection (reason: timeout).
        Err(_) => {
            let error = match &reader {
                Some(r) => ScrapeError::Read(r.deadline_error().message),
                None => ScrapeError::Deadline {
                    url: t.url.to_string(),
                },
            };
            return fail(error);
        }
        Ok(BodyEnd::Done) => {}
        Ok(BodyEnd::Broken(e)) => {
            guard.close(conn::classify(&e));
            let url = t.url.to_string();
            return fail(ScrapeError::Body { url, source: e });
        }
        Ok(BodyEnd::Refused(message)) => {
            guard.close(CloseReason::Timeout);
            return fail(ScrapeError::Read(message));
        }
    }
    let (counted, keep) = Counted::of(t, reader.map(BodyReader::finish), status);
    if !keep {
        guard.close(CloseReason::Error);
    } else {
        // `finish` closes it with `connection_close` when the response ended it
        // (`Connection: close`, HTTP/1.0 without keep-alive, a body read to EOF).
        guard.finish(pool, ctx.epoch, ctx.opts.max_conn_age);
    }
    counted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, loc: &str) -> Option<(Scheme, String, u16, String)> {
        resolve_location(base, loc)
    }

    #[test]
    fn locations_resolve_against_the_request_url_as_go_does() {
        let base = "http://127.0.0.1:9100/metrics?x=1";
        let h = |s: &str| s.to_owned();
        assert_eq!(
            r(base, "/real"),
            Some((Scheme::Http, h("127.0.0.1"), 9100, h("/real")))
        );
        assert_eq!(
            r(base, "other"),
            Some((Scheme::Http, h("127.0.0.1"), 9100, h("/other")))
        );
        assert_eq!(
            r(base, "http://127.0.0.1:9200/m#frag"),
            Some((Scheme::Http, h("127.0.0.1"), 9200, h("/m")))
        );
        assert_eq!(
            r(base, "https://user:pw@Example.com?q"),
            Some((Scheme::Https, h("example.com"), 443, h("/?q")))
        );
        assert_eq!(
            r(base, "//[::1]:81/p"),
            Some((Scheme::Http, h("::1"), 81, h("/p")))
        );
        assert_eq!(
            r("http://h:1/a/b", "c?d"),
            Some((Scheme::Http, h("h"), 1, h("/a/c?d")))
        );
        // RFC 3986 section 5.4's examples (base http://a/b/c/d;p?q), normal and abnormal,
        // which Go's ResolveReference follows; and an absolute Location's dots removed too.
        let cases = [
            ("g", "/b/c/g"),
            ("./g", "/b/c/g"),
            ("g/", "/b/c/g/"),
            ("/g", "/g"),
            ("?y", "/b/c/d;p?y"),
            ("g?y", "/b/c/g?y"),
            ("g#s", "/b/c/g"),
            (";x", "/b/c/;x"),
            (".", "/b/c/"),
            ("./", "/b/c/"),
            ("..", "/b/"),
            ("../", "/b/"),
            ("../g", "/b/g"),
            ("../..", "/"),
            ("../../", "/"),
            ("../../g", "/g"),
            ("../../../g", "/g"),
            ("../../../../g", "/g"),
            ("/./g", "/g"),
            ("/../g", "/g"),
            ("g.", "/b/c/g."),
            (".g", "/b/c/.g"),
            ("g..", "/b/c/g.."),
            ("..g", "/b/c/..g"),
            ("./../g", "/b/g"),
            ("./g/.", "/b/c/g/"),
            ("g/./h", "/b/c/g/h"),
            ("g/../h", "/b/c/h"),
            ("g;x=1/./y", "/b/c/g;x=1/y"),
            ("g;x=1/../y", "/b/c/y"),
            ("g?y/./x", "/b/c/g?y/./x"),
            ("http://a/b/../c/./d", "/c/d"),
            ("//a/../x", "/x"),
        ];
        for (loc, want) in cases {
            assert_eq!(
                r("http://a/b/c/d;p?q", loc).map(|x| x.3),
                Some(h(want)),
                "{loc}"
            );
        }
        assert_eq!(r(base, "ftp://h/x"), None);
        assert_eq!(r(base, "http://h:notaport/x"), None);
    }
}
