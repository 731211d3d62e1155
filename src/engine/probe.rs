//! A probe: resolve, connect and GET on a fresh connection beside the pooled one, with phase
//! timings, then close it. The pooled connection is untouched; a probe that fails while the
//! pooled connection works is the hidden failure scrapetop exists to show.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::event::{DnsCause, EventKind, ProbeFailKind, ProbeResult};

use super::ctx::Ctx;
use super::dial::{addresses, connect_any, tls_handshake};
use super::dns::ms;
use super::h2;
use super::http1::Stream;
use super::recheck::flag_stale;
use super::scrape::ScrapeError;
use super::spec::Scheme;
use super::target::TargetShared;

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
        let (stream, p, took) = connect_any(&addrs, deadline, ctx.fd_ceiling)
            .await
            .map_err(|e| (e.kind.into(), e.message))?;
        connect_ms = Some(ms(took));
        peer = Some(p);
        let stream = match t.spec.scheme {
            Scheme::Http => Stream::from(stream),
            Scheme::Https => {
                let (tls, _) = tls_handshake(t, stream, p, deadline)
                    .await
                    .map_err(|e| (e.kind.into(), e.message))?;
                if tls.get_ref().1.alpn_protocol() == Some(super::tls::ALPN_H2) {
                    let on_head = || first_byte_ms = Some(ms(start.elapsed()));
                    let s = match super::h2::get_once(tls, t, deadline, on_head).await {
                        Ok(s) => s,
                        Err(h2::OnceError::Deadline) => {
                            return Err((ProbeFailKind::Timeout, deadline_msg(t)));
                        }
                        Err(h2::OnceError::Failed(e)) => return Err((ProbeFailKind::Other, e)),
                    };
                    status = Some(s);
                    if s != 200 {
                        return Err((
                            ProbeFailKind::Http,
                            format!("server returned HTTP status {s}"),
                        ));
                    }
                    return Ok(());
                }
                Stream::from(tls)
            }
        };
        let mut http = t.new_conn(stream);
        let req = t.request().map_err(|e| (ProbeFailKind::Other, e))?;
        let head = match tokio::time::timeout_at(deadline, http.send(req)).await {
            Err(_) => return Err((ProbeFailKind::Timeout, deadline_msg(t))),
            Ok(Err(e)) => {
                return Err((ProbeFailKind::Other, format!("Get \"{}\": {e}", t.url)));
            }
            Ok(Ok(h)) => h,
        };
        first_byte_ms = Some(ms(start.elapsed()));
        status = Some(head.status());
        let ok_status = head.status() == 200;
        match tokio::time::timeout_at(deadline, http.drain()).await {
            Err(_) => return Err((ProbeFailKind::Timeout, deadline_msg(t))),
            Ok(Err(e)) => {
                return Err((ProbeFailKind::Other, format!("reading body: {e}")));
            }
            Ok(Ok(_)) => {}
        }
        drop(http);
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

fn deadline_msg(t: &TargetShared) -> String {
    ScrapeError::Deadline {
        url: t.url.to_string(),
    }
    .to_string()
}
