//! `--web.listen-address`: what the screens show, as Prometheus metrics on `/metrics`, so the
//! hidden risks (stale peer, DNS failing, fresh connections failing) can be alerted on by the
//! Prometheus an operator already runs, on every host, without anyone watching a terminal.
//!
//! Shape: the UI or headless loop owns the [`Model`]; after applying events it calls
//! [`Publisher::publish`], which at most once a second reads the model (in [`read_model`], the
//! only code here that knows the model) into an immutable [`Snapshot`] and hands it over a
//! `watch` channel. A scrape of `/metrics` takes the latest snapshot (an `Arc` clone) and
//! encodes it; it never touches the model, so a scrape cannot slow the UI, and a burst of
//! events costs nothing here beyond one snapshot a second. Ages are computed at scrape time
//! from timestamps in the snapshot, so they keep moving between snapshots.
//!
//! Encoding uses `prometheus-client` (the Prometheus project's own Rust client, maintained under
//! the prometheus GitHub org) through a custom [`Collector`], whose job is exactly this:
//! metrics from existing state, produced on each scrape, in the Prometheus text format 0.0.4
//! that every Prometheus version reads. Its escaping of label values and its number formatting
//! are then not ours to get wrong.
//!
//! Cardinality is bounded by the targets: labels are `job`, `instance` (and `target`, the target
//! id, once the model has one), plus `reason` for the reconnect counters — never a connection id,
//! an address or a port.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::event::{CloseReason, FdCensus, Health};
use crate::model::{DnsOutcome, Model};

/// How often at most the model is read into a new snapshot. The engine reports descriptors
/// every second, so a loop that applies events calls `publish` at least that often.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Every close reason, in the order the counters keep them (one list: the contract's).
const REASONS: &[CloseReason] = CloseReason::ALL;

fn reason_index(r: CloseReason) -> usize {
    REASONS
        .iter()
        .position(|x| *x == r)
        .unwrap_or(REASONS.len() - 1)
}

/// A bad `--web.listen-address`, or a port that cannot be bound.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Not `HOST:PORT`, `:PORT` or `[IPv6]:PORT`.
    #[error("--web.listen-address {0:?}: expected HOST:PORT, :PORT or [IPv6]:PORT")]
    Syntax(String),
    /// The host did not resolve.
    #[error("--web.listen-address {addr:?}: {error}")]
    Resolve {
        /// As given.
        addr: String,
        /// Resolver message.
        error: std::io::Error,
    },
    /// Binding failed (in use, not local, no permission).
    #[error("--web.listen-address {addr:?}: cannot listen on {sock}: {error}")]
    Bind {
        /// As given.
        addr: String,
        /// The address tried.
        sock: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// Bind `--web.listen-address` now (before the terminal is taken over, so a bad address is a
/// plain error, exit 2). `:PORT` means every IPv4 interface, as in Prometheus's own flag.
pub fn bind(addr: &str) -> Result<std::net::TcpListener, ListenError> {
    let syntax = || ListenError::Syntax(addr.to_owned());
    let (host, port) = addr.rsplit_once(':').ok_or_else(syntax)?;
    if port.is_empty() || port.parse::<u16>().is_err() {
        return Err(syntax());
    }
    let full = if host.is_empty() {
        format!("0.0.0.0:{port}")
    } else {
        addr.to_owned()
    };
    let socks: Vec<SocketAddr> = full
        .to_socket_addrs()
        .map_err(|error| ListenError::Resolve {
            addr: addr.to_owned(),
            error,
        })?
        .collect();
    let mut last = None;
    for sock in socks {
        match std::net::TcpListener::bind(sock) {
            Ok(l) => return Ok(l),
            Err(error) => last = Some((sock, error)),
        }
    }
    match last {
        Some((sock, error)) => Err(ListenError::Bind {
            addr: addr.to_owned(),
            sock,
            error,
        }),
        None => Err(syntax()),
    }
}

/// What `/metrics` says about one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetMetrics {
    /// `job` label.
    pub job: Arc<str>,
    /// `instance` label.
    pub instance: Arc<str>,
    /// `target` label: the target's stable id, when the model has one.
    pub target: Option<Arc<str>>,
    /// Result of the last scrape; `None` before the first.
    pub up: Option<bool>,
    /// When the open connection was opened; `None` without one.
    pub conn_opened: Option<SystemTime>,
    /// Requests carried by the open connection.
    pub conn_requests: Option<u64>,
    /// The open connection's peer is not in the latest DNS answer.
    pub stale_peer: bool,
    /// The latest lookup of the name failed.
    pub dns_failing: bool,
    /// The latest probe (fresh connection) failed.
    pub probe_failing: bool,
    /// When the name last resolved successfully.
    pub last_resolved: Option<SystemTime>,
    /// Connections that ended, per reason (index as in `REASONS`), since scrapetop started.
    pub reconnects: [u64; REASONS.len()],
}

/// Everything `/metrics` serves, taken from the model at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Targets present (removed ones are left out).
    pub targets: Vec<TargetMetrics>,
    /// The latest descriptor census.
    pub fds: Option<FdCensus>,
}

/// One target as read from the model, with the closes its history still holds.
#[derive(Debug)]
pub struct Reading {
    /// Gauges (the counters are filled in by the publisher).
    pub metrics: TargetMetrics,
    /// Connections in the target's history that have ended: id and reason.
    pub closed: Vec<(u64, CloseReason)>,
}

/// The only code that reads the model. Everything /metrics needs comes out of here, so a
/// change of the model's shape is adapted in this one function.
pub fn read_model(model: &Model) -> (Vec<Reading>, Option<FdCensus>) {
    let targets = model
        .targets
        .iter()
        .filter(|t| !t.removed)
        .map(|t| {
            let open = t.open_conn();
            let last_resolved = t.dns.iter().rev().find_map(|d| match d.outcome {
                DnsOutcome::Answer { .. } => Some(d.at),
                DnsOutcome::Failed { .. } => None,
            });
            Reading {
                metrics: TargetMetrics {
                    job: t.job.clone(),
                    instance: t.instance.clone(),
                    target: Some(t.target.id.to_string().into()),
                    up: match t.health {
                        Health::Up => Some(true),
                        Health::Down => Some(false),
                        Health::Unknown => None,
                    },
                    conn_opened: open.map(|c| c.opened),
                    conn_requests: open.map(|c| c.requests),
                    stale_peer: t.stale,
                    dns_failing: t.dns_failing,
                    probe_failing: t.probe_failed,
                    last_resolved,
                    reconnects: [0; REASONS.len()],
                },
                closed: t
                    .conns
                    .iter()
                    .filter_map(|c| c.closed.map(|(_, r)| (c.conn_id, r)))
                    .collect(),
            }
        })
        .collect();
    (targets, model.fds)
}

/// A target's identity for the counters: job, instance and id.
type TargetKey = (Arc<str>, Arc<str>, Option<Arc<str>>);

/// Per target: the closes already counted (ids still in its bounded history) and the counts.
#[derive(Debug, Default)]
struct Counted {
    seen: Vec<u64>,
    by_reason: [u64; REASONS.len()],
}

#[derive(Debug)]
struct PublishState {
    last: Option<Instant>,
    version: u64,
    counted: HashMap<TargetKey, Counted>,
}

/// Hands snapshots of the model to the `/metrics` server. Cheap to clone; used from the one
/// loop that owns the model.
#[derive(Debug, Clone)]
pub struct Publisher {
    state: Arc<Mutex<PublishState>>,
    tx: Arc<watch::Sender<Arc<Snapshot>>>,
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}

impl Publisher {
    /// A publisher with an empty first snapshot.
    pub fn new() -> Self {
        let (tx, _) = watch::channel(Arc::new(Snapshot::default()));
        Publisher {
            state: Arc::new(Mutex::new(PublishState {
                last: None,
                version: u64::MAX,
                counted: HashMap::new(),
            })),
            tx: Arc::new(tx),
        }
    }

    /// Read the model into a new snapshot if it changed and the last snapshot is at least
    /// [`PUBLISH_EVERY`] old. Call it after applying events; it returns at once otherwise.
    pub fn publish(&self, model: &Model) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.version == model.version || st.last.is_some_and(|l| l.elapsed() < PUBLISH_EVERY) {
            return;
        }
        st.last = Some(Instant::now());
        st.version = model.version;
        let (readings, fds) = read_model(model);
        let snap = count_closes(&mut st.counted, readings, fds);
        self.tx.send_replace(Arc::new(snap));
    }

    /// Read the model now, whatever the rate limit says (tests, and the last word at exit).
    pub fn publish_now(&self, model: &Model) {
        if let Ok(mut st) = self.state.lock() {
            st.last = None;
            st.version = u64::MAX;
        }
        self.publish(model);
    }

    /// The latest snapshot.
    pub fn latest(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.tx.subscribe()
    }
}

/// Turn the bounded close history of each target into monotonic counters: a close is counted
/// once, the first time a snapshot sees it. A history holds the last 32 connections, so a
/// count could only be missed by a target closing more than 32 connections within one second.
fn count_closes(
    counted: &mut HashMap<TargetKey, Counted>,
    readings: Vec<Reading>,
    fds: Option<FdCensus>,
) -> Snapshot {
    let mut targets = Vec::with_capacity(readings.len());
    for Reading {
        mut metrics,
        closed,
    } in readings
    {
        let key = (
            metrics.job.clone(),
            metrics.instance.clone(),
            metrics.target.clone(),
        );
        let c = counted.entry(key).or_default();
        // `seen` is sorted: a binary search per close, not a scan (32 × 32 per target adds up
        // at 10,000 targets).
        for (id, reason) in &closed {
            if c.seen.binary_search(id).is_err() {
                c.by_reason[reason_index(*reason)] += 1;
            }
        }
        c.seen.clear();
        c.seen.extend(closed.iter().map(|(id, _)| *id));
        c.seen.sort_unstable();
        metrics.reconnects = c.by_reason;
        targets.push(metrics);
    }
    Snapshot { targets, fds }
}

/// Encodes the latest snapshot on each scrape.
#[derive(Debug)]
struct SnapshotCollector {
    rx: watch::Receiver<Arc<Snapshot>>,
}

fn secs_since(now: SystemTime, t: SystemTime) -> f64 {
    now.duration_since(t).unwrap_or_default().as_secs_f64()
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snap = self.rx.borrow().clone();
        let now = SystemTime::now();
        encode_snapshot(&snap, now, &mut enc)
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn target_labels(t: &TargetMetrics) -> Labels<'_> {
    let mut l = vec![("job", &*t.job), ("instance", &*t.instance)];
    if let Some(id) = &t.target {
        l.push(("target", id));
    }
    l
}

/// One gauge family over every target that has a value for it.
fn gauge_family(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    targets: &[TargetMetrics],
    value: impl Fn(&TargetMetrics) -> Option<f64>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for t in targets {
        if let Some(v) = value(t) {
            let labels = target_labels(t);
            m.encode_family(&labels)?.encode_gauge(&v)?;
        }
    }
    Ok(())
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

// Over 100 lines: a table, one metric family after another.
fn encode_snapshot(
    snap: &Snapshot,
    now: SystemTime,
    enc: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let ts = &snap.targets;
    gauge_family(
        enc,
        "scrapetop_target_up",
        "1 if the target's last scrape by scrapetop succeeded, 0 if it failed (absent before the first)",
        ts,
        |t| t.up.map(flag),
    )?;
    gauge_family(
        enc,
        "scrapetop_target_connection_age_seconds",
        "Age of the target's open keep-alive connection (absent while it has none)",
        ts,
        |t| t.conn_opened.map(|o| secs_since(now, o)),
    )?;
    gauge_family(
        enc,
        "scrapetop_target_connection_requests",
        "Requests carried by the target's open connection",
        ts,
        |t| t.conn_requests.map(|r| r as f64),
    )?;
    gauge_family(
        enc,
        "scrapetop_target_stale_peer",
        "1 while the open connection's peer is missing from the name's current DNS answer",
        ts,
        |t| Some(flag(t.stale_peer)),
    )?;
    gauge_family(
        enc,
        "scrapetop_target_dns_failing",
        "1 while the latest lookup of the target's name failed",
        ts,
        |t| Some(flag(t.dns_failing)),
    )?;
    gauge_family(
        enc,
        "scrapetop_target_probe_failing",
        "1 while the latest probe on a fresh connection failed",
        ts,
        |t| Some(flag(t.probe_failing)),
    )?;
    gauge_family(
        enc,
        "scrapetop_target_dns_resolution_age_seconds",
        "Seconds since the target's name last resolved (absent before the first answer)",
        ts,
        |t| t.last_resolved.map(|r| secs_since(now, r)),
    )?;
    {
        let mut m = enc.encode_descriptor(
            "scrapetop_target_reconnects",
            "Connections of the target that ended, by reason; the next scrape dials and resolves again",
            None,
            MetricType::Counter,
        )?;
        for t in ts {
            for (i, n) in t.reconnects.iter().enumerate() {
                // Only reasons that happened: 11 zero series per target would multiply the
                // series count for nothing.
                if *n == 0 {
                    continue;
                }
                let mut labels = target_labels(t);
                labels.push(("reason", REASONS[i].as_str()));
                m.encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(n, None)?;
            }
        }
    }
    {
        let mut m = enc.encode_descriptor(
            "scrapetop_build_info",
            "Always 1: the scrapetop version and the git commit it was built from (empty outside git)",
            None,
            MetricType::Gauge,
        )?;
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("commit", env!("SCRAPETOP_GIT_COMMIT")),
        ];
        m.encode_family(&labels)?.encode_gauge(&1u64)?;
    }
    if let Some(f) = &snap.fds {
        let mut m = enc.encode_descriptor(
            "scrapetop_open_fds",
            "scrapetop's open file descriptors, by kind (the census of /proc/self/fd)",
            None,
            MetricType::Gauge,
        )?;
        for (kind, v) in [
            ("socket", f.sockets),
            ("file", f.files),
            ("pipe", f.pipes),
            ("other", f.other),
        ] {
            m.encode_family(&[("kind", kind)])?.encode_gauge(&v)?;
        }
        let mut m = enc.encode_descriptor(
            "scrapetop_open_fds_total",
            "scrapetop's open file descriptors, all kinds",
            None,
            MetricType::Gauge,
        )?;
        m.encode_gauge(&f.total)?;
        let mut m = enc.encode_descriptor(
            "scrapetop_fd_limit",
            "RLIMIT_NOFILE of the scrapetop process",
            None,
            MetricType::Gauge,
        )?;
        for (limit, v) in [("soft", f.soft_limit), ("hard", f.hard_limit)] {
            m.encode_family(&[("limit", limit)])?.encode_gauge(&v)?;
        }
    }
    Ok(())
}

/// The text `/metrics` answers with for `snap` at `now` (Prometheus text format 0.0.4).
pub fn render(snap: &Snapshot, now: SystemTime) -> Result<String, std::fmt::Error> {
    #[derive(Debug)]
    struct Fixed(Arc<Snapshot>, SystemTime);
    impl Collector for Fixed {
        fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            encode_snapshot(&self.0, self.1, &mut enc)
        }
    }
    let mut reg = Registry::default();
    reg.register_collector(Box::new(Fixed(Arc::new(snap.clone()), now)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &reg)?;
    Ok(out)
}

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `/metrics` on `listener` from `publisher`'s snapshots, on the current tokio runtime,
/// until the runtime shuts down.
pub fn serve(listener: std::net::TcpListener, publisher: &Publisher) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut reg = Registry::default();
    reg.register_collector(Box::new(SnapshotCollector {
        rx: publisher.subscribe(),
    }));
    let reg = Arc::new(reg);
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and the like: the scrapes matter more; try again shortly.
                    tracing::warn!("metrics: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let reg = reg.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let reg = reg.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&req, &reg)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn answer(req: &Request<hyper::body::Incoming>, reg: &Registry) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut body = String::new();
            if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut body, reg) {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("encoding: {e}\n"),
                );
            }
            let mut r = text(StatusCode::OK, body);
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
            );
            r
        }
        "/" => text(StatusCode::OK, "scrapetop: metrics are at /metrics\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind, TargetRef};

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn ev(t: &Arc<TargetRef>, s: u64, kind: EventKind) -> Event {
        Event {
            ts: at(s),
            target: Some(t.clone()),
            source: None,
            kind,
        }
    }

    fn opened(id: u64) -> EventKind {
        EventKind::ConnOpened(crate::event::ConnInfo {
            conn_id: id,
            pool: "node/http://a:1".parse().expect("pool key"),
            fd: 9,
            local: "127.0.0.1:5000".parse().expect("addr"),
            peer: "127.0.0.9:1".parse().expect("addr"),
            connect_ms: 0.1,
            tls: None,
        })
    }

    fn closed(id: u64, reason: CloseReason) -> EventKind {
        EventKind::ConnClosed {
            conn_id: id,
            fd: 9,
            reason,
            lifetime_s: 1.0,
            requests: 1,
        }
    }

    #[test]
    fn closes_count_once_each_across_snapshots_and_gauges_follow_the_model() {
        let t = Arc::new(TargetRef {
            id: crate::event::TargetId(1),
            job: Arc::from("node"),
            instance: Arc::from("a:1"),
        });
        let mut m = Model::new();
        m.apply(ev(
            &t,
            0,
            EventKind::TargetAdded {
                url: "http://a:1/metrics".into(),
                pool: "node/http://a:1".parse().expect("pool key"),
                interval_s: 1.0,
                timeout_s: 1.0,
                labels: Default::default(),
            },
        ));
        m.apply(ev(&t, 1, opened(1)));
        m.apply(ev(&t, 2, closed(1, CloseReason::Reset)));
        m.apply(ev(&t, 3, opened(2)));
        let p = Publisher::new();
        p.publish_now(&m);
        let s = p.latest();
        assert_eq!(s.targets.len(), 1);
        assert_eq!(s.targets[0].reconnects[reason_index(CloseReason::Reset)], 1);
        // The same history read again counts nothing new.
        m.apply(ev(
            &t,
            4,
            EventKind::StalePeer {
                conn_id: 2,
                peer: "127.0.0.9:1".parse().expect("addr"),
                addrs: vec!["127.0.0.8".parse().expect("ip")],
            },
        ));
        p.publish_now(&m);
        m.apply(ev(&t, 5, closed(2, CloseReason::Forced)));
        p.publish_now(&m);
        let s = p.latest();
        let r = &s.targets[0].reconnects;
        assert_eq!(r[reason_index(CloseReason::Reset)], 1);
        assert_eq!(r[reason_index(CloseReason::Forced)], 1);
        assert_eq!(s.targets[0].conn_opened, None);

        let text = render(&s, at(10)).expect("encodes");
        assert!(
            text.contains(
                "scrapetop_target_reconnects_total{job=\"node\",instance=\"a:1\",target=\"0000000000000001\",reason=\"reset\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("scrapetop_target_stale_peer{job=\"node\",instance=\"a:1\",target=\"0000000000000001\"} 0"),
            "{text}"
        );
        assert!(!text.contains("connection_age_seconds{"), "{text}");
    }

    #[test]
    fn rate_limited_publish_skips_until_a_second_has_passed() {
        let t = Arc::new(TargetRef {
            id: crate::event::TargetId(1),
            job: Arc::from("node"),
            instance: Arc::from("a:1"),
        });
        let mut m = Model::new();
        let p = Publisher::new();
        p.publish(&m);
        m.apply(ev(
            &t,
            0,
            EventKind::TargetAdded {
                url: "http://a:1/metrics".into(),
                pool: "node/http://a:1".parse().expect("pool key"),
                interval_s: 1.0,
                timeout_s: 1.0,
                labels: Default::default(),
            },
        ));
        p.publish(&m);
        assert!(p.latest().targets.is_empty(), "published within a second");
        p.publish_now(&m);
        assert_eq!(p.latest().targets.len(), 1);
    }

    #[test]
    fn listen_addresses_are_checked() {
        for bad in ["", "9100", "host", "127.0.0.1:", "127.0.0.1:99999", ":x"] {
            assert!(
                matches!(bind(bad), Err(ListenError::Syntax(_))),
                "{bad:?} accepted"
            );
        }
        let l = bind("127.0.0.1:0").expect("loopback binds");
        let taken = l.local_addr().expect("addr").to_string();
        assert!(matches!(bind(&taken), Err(ListenError::Bind { .. })));
        assert!(bind("[::1]:0").is_ok() || std::net::TcpListener::bind("[::1]:0").is_err());
    }
}
