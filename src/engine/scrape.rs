//! One scrape over the target's pooled connection (dialling one when none is idle), as
//! Prometheus does it: one deadline over everything, a dead pooled connection retried once on
//! a fresh one, the body read (or drained) whole so the connection stays reusable.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::event::{CloseReason, EventKind, ScrapeResult};

use super::body::{BodyOptions, BodyReader, BodySummary};
use super::conn;
use super::conn::DialError;
use super::ctx::Ctx;
use super::dial::dial;
use super::dns::ms;
use super::http1::{self, Head};
use super::pool::InUse;
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
    let exchanged = match &t.spec.job.scrape_error {
        Some(e) => Err(((None, false), ScrapeError::Config(e.clone()))),
        None => exchange(ctx, t, deadline).await,
    };
    match exchanged {
        Err((conn, e)) => {
            (r.conn_id, r.reused) = conn;
            r.error = Some(e.to_string());
        }
        Ok(x) => {
            (r.conn_id, r.reused) = (x.conn_id, x.reused);
            r.status = Some(x.head.status());
            let counted = read_response(ctx, t, deadline, x.guard, &x.head).await;
            (r.bytes, r.samples) = (counted.bytes, counted.samples);
            r.error = counted.error.map(|e| e.to_string());
        }
    }
    r.up = r.error.is_none();
    r.duration_ms = ms(start.elapsed());
    t.last_up.store(r.up, Ordering::Release);
    ctx.emit.emit(Some(&t.tref), EventKind::Scrape(r));
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

/// Send the GET on the pooled connection (or a new one) and wait for the response head,
/// retrying once on a fresh connection when the pooled one was dead on arrival.
async fn exchange(
    ctx: &Arc<Ctx>,
    t: &Arc<TargetShared>,
    deadline: tokio::time::Instant,
) -> Result<Exchange, (ConnUsed, ScrapeError)> {
    let url = || t.spec.url();
    let dial_err = |e: DialError| ScrapeError::Dial {
        url: url(),
        message: e.message,
    };
    let (mut guard, mut reused) = match t.pool.take_idle() {
        Some(c) => (InUse::new(c, &t.tref), true),
        None => (
            dial(ctx, t, deadline)
                .await
                .map_err(|m| ((None, false), dial_err(m)))?,
            false,
        ),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let conn_id = guard.shared().map(|s| s.id);
        let used = (conn_id, reused);
        if t.removed.load(Ordering::Acquire) {
            guard.drop_reason = CloseReason::TargetRemoved;
        }
        let req = t.request().map_err(|e| (used, ScrapeError::Request(e)))?;
        if let Some(s) = guard.shared() {
            s.requests.fetch_add(1, Ordering::AcqRel);
        }
        let Some(http) = guard.http() else {
            return Err((used, ScrapeError::Deadline { url: url() }));
        };
        match tokio::time::timeout_at(deadline, http.send(req)).await {
            Ok(Ok(head)) => {
                return Ok(Exchange {
                    guard,
                    head,
                    conn_id,
                    reused,
                });
            }
            // Dropping the guard mid-request closes the connection (reason: timeout).
            Err(_) => return Err((used, ScrapeError::Deadline { url: url() })),
            Ok(Err(e)) if reused && attempt == 1 && http.retry_allowed(&e) => {
                // The pooled connection was dead on arrival: once more on a fresh one.
                let reason = match e {
                    http1::Error::Reset { .. } => CloseReason::Reset,
                    _ => CloseReason::PeerClosed,
                };
                guard.close(reason);
                guard = dial(ctx, t, deadline)
                    .await
                    .map_err(|m| ((conn_id, false), dial_err(m)))?;
                reused = false;
            }
            Ok(Err(e)) => {
                guard.close(conn::classify(&e));
                let err = ScrapeError::Http {
                    url: url(),
                    source: e,
                };
                return Err((used, err));
            }
        }
    }
}

/// What reading a response gave: uncompressed bytes and samples (as Prometheus reports them
/// also for a failed body) and the error.
#[derive(Default)]
struct Counted {
    bytes: u64,
    samples: u64,
    error: Option<ScrapeError>,
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
        return fail(ScrapeError::Deadline { url: t.spec.url() });
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
                None => ScrapeError::Deadline { url: t.spec.url() },
            };
            return fail(error);
        }
        Ok(BodyEnd::Done) => {}
        Ok(BodyEnd::Broken(e)) => {
            guard.close(conn::classify(&e));
            let url = t.spec.url();
            return fail(ScrapeError::Body { url, source: e });
        }
        Ok(BodyEnd::Refused(message)) => {
            guard.close(CloseReason::Timeout);
            return fail(ScrapeError::Read(message));
        }
    }
    let (counted, keep) = match reader.map(BodyReader::finish) {
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
    };
    if !keep {
        guard.close(CloseReason::Error);
    } else {
        // `finish` closes it with `connection_close` when the response ended it
        // (`Connection: close`, HTTP/1.0 without keep-alive, a body read to EOF).
        guard.finish(&t.pool, ctx.epoch, ctx.opts.max_conn_age);
    }
    counted
}
