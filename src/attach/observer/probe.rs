//! A probe: resolve, connect and GET on a fresh connection from Prometheus's namespace.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::attach::api::{self, UrlParts};
use crate::attach::resolve::Resolver;
use crate::event::{DnsCause, Event, EventKind, ProbeFailKind, ProbeResult, TargetId, TargetRef};

use super::ms;

/// One probe: resolve, connect and GET on a fresh connection from Prometheus's namespace.
pub(super) struct ProbeJob {
    pub(super) tref: Arc<TargetRef>,
    pub(super) url: UrlParts,
    /// The job's proxy: the probe goes through it, as Prometheus's scrapes do.
    pub(super) proxy: Option<UrlParts>,
    /// The job's credentials and TLS, from Prometheus's own configuration when readable.
    pub(super) client: api::Client,
    pub(super) timeout: Duration,
    pub(super) pooled_up: bool,
    pub(super) resolver: Arc<Resolver>,
    pub(super) tx: mpsc::Sender<Event>,
    pub(super) failed: Arc<std::sync::Mutex<HashSet<TargetId>>>,
}

impl ProbeJob {
    pub(super) async fn run(self) {
        let r = self.probe().await;
        if let Ok(mut f) = self.failed.lock() {
            if r.ok {
                f.remove(&self.tref.id);
            } else {
                f.insert(self.tref.id);
            }
        }
        let _ = self
            .tx
            .send(super::stamped(Some(self.tref.clone()), EventKind::Probe(r)))
            .await;
    }

    async fn probe(&self) -> ProbeResult {
        let start = Instant::now();
        let mut r = ProbeResult {
            ok: false,
            kind: None,
            error: None,
            resolve_ms: None,
            connect_ms: None,
            first_byte_ms: None,
            total_ms: 0.0,
            peer: None,
            status: None,
            hidden_failure: false,
        };
        // Through the job's proxy when it has one: what is dialled and resolved is the proxy.
        let dial = self.proxy.as_ref().unwrap_or(&self.url);
        let literal = dial.host.parse::<IpAddr>().is_ok();
        let fail = |mut r: ProbeResult, kind: ProbeFailKind, e: String| {
            r.kind = Some(kind);
            r.error = Some(e);
            r.total_ms = ms(start.elapsed());
            r.hidden_failure = self.pooled_up;
            r
        };
        if self.proxy.is_some() && self.url.scheme == crate::event::Scheme::Https {
            return fail(
                r,
                ProbeFailKind::Other,
                "probing an https target through its proxy_url (CONNECT) is not supported yet"
                    .to_owned(),
            );
        }
        let addrs = match self.resolver.lookup(&dial.host).await {
            Ok(a) => {
                if !literal {
                    r.resolve_ms = Some(ms(a.took));
                    let _ = self
                        .tx
                        .send(super::stamped(
                            Some(self.tref.clone()),
                            EventKind::DnsResolved {
                                host: dial.host.clone(),
                                addrs: a.addrs.clone(),
                                ttl_s: a.ttl.as_secs(),
                                duration_ms: ms(a.took),
                                cause: DnsCause::Probe,
                            },
                        ))
                        .await;
                }
                a.addrs
            }
            Err(f) => {
                r.resolve_ms = Some(ms(f.took));
                return fail(r, ProbeFailKind::Resolution, f.message);
            }
        };
        let Some(ip) = addrs.first() else {
            return fail(r, ProbeFailKind::Resolution, "empty answer".to_owned());
        };
        let peer = SocketAddr::new(*ip, dial.port);
        r.peer = Some(peer);
        let host = if self.url.host.contains(':') {
            format!("[{}]:{}", self.url.host, self.url.port)
        } else {
            format!("{}:{}", self.url.host, self.url.port)
        };
        // A proxy is sent the absolute URL (as Go's transport does for http).
        let target = match &self.proxy {
            Some(_) => format!("http://{host}{}", self.url.path_and_query),
            None => self.url.path_and_query.clone(),
        };
        let left = self.timeout.saturating_sub(start.elapsed());
        match api::request(peer, http::Method::GET, &host, &target, left, &self.client).await {
            Ok(resp) => {
                r.connect_ms = Some(ms(resp.connect));
                r.first_byte_ms = Some(ms(resp.first_byte));
                r.status = Some(resp.status);
                r.total_ms = ms(start.elapsed());
                if resp.status == 200 {
                    r.ok = true;
                    r
                } else {
                    fail(r, ProbeFailKind::Http, format!("HTTP {}", resp.status))
                }
            }
            Err(api::HttpError::Connect { err, .. }) => {
                let kind = if err.kind() == std::io::ErrorKind::ConnectionRefused {
                    ProbeFailKind::Refused
                } else {
                    ProbeFailKind::Other
                };
                fail(r, kind, format!("connect {peer}: {err}"))
            }
            Err(e @ api::HttpError::Tls(_)) => fail(r, ProbeFailKind::Tls, e.to_string()),
            Err(e @ api::HttpError::Timeout { .. }) => {
                fail(r, ProbeFailKind::Timeout, e.to_string())
            }
            Err(e) => fail(r, ProbeFailKind::Other, e.to_string()),
        }
    }
}
