//! A probe: resolve, connect and GET on a fresh connection beside the pooled one, with phase
//! timings, then close it. The pooled connection is untouched; a probe that fails while the
//! pooled connection works is the hidden failure scrapetop exists to show.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;

use crate::event::{DnsCause, EventKind, ProbeFailKind, ProbeResult};

use super::conn;
use super::ctx::Ctx;
use super::dial::{addresses, connect_any, tls_handshake};
use super::dns::ms;
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

fn deadline_msg(t: &TargetShared) -> String {
    ScrapeError::Deadline { url: t.spec.url() }.to_string()
}
