//! HTTP/2 for https targets (`enable_http2`): the engine against a real TLS server on loopback
//! that speaks HTTP/2 or HTTP/1.1 as ALPN decides (rustls and hyper's servers), counting the
//! connections it accepts and the protocol of every request.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use scrapetop::engine::EngineOptions;
use scrapetop::engine::spec::{JobSettings, TlsSettings};
use scrapetop::event::{CloseReason, Command, ConnInfo, EventKind, ScrapeResult, TlsInfo};

const S: Duration = Duration::from_secs(1);

/// A TLS server on loopback: HTTP/2 when ALPN chose `h2`, HTTP/1.1 otherwise. `/slow` answers
/// after 2 s; anything else is a two-sample page.
struct Server {
    port: u16,
    accepts: Arc<AtomicU64>,
    /// Connections that carried at least one request. Two scrapes that find no connection
    /// both dial, and the second connection is closed unused when both chose h2 (as Go's
    /// transport does): a shared connection is judged by this count, as the fidelity suite
    /// judges Prometheus's by nginx's log.
    used: Arc<AtomicU64>,
    /// The protocol of each request, in order (`h2`, `http/1.1`).
    protos: Arc<Mutex<Vec<&'static str>>>,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

async fn server(alpn: &[&[u8]]) -> Server {
    server_with(alpn, None).await
}

/// [`server`] that sends GOAWAY on an h2 connection after `goaway_after` requests (as nginx
/// does at `keepalive_requests`).
async fn server_with(alpn: &[&[u8]], goaway_after: Option<u64>) -> Server {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepts = Arc::new(AtomicU64::new(0));
    let used = Arc::new(AtomicU64::new(0));
    let protos = Arc::new(Mutex::new(Vec::new()));
    let (a, u, p) = (accepts.clone(), used.clone(), protos.clone());
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            a.fetch_add(1, Ordering::AcqRel);
            let (acceptor, u, p) = (acceptor.clone(), u.clone(), p.clone());
            let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
            let served = Arc::new(AtomicU64::new(0));
            let goaway = Arc::new(tokio::sync::Notify::new());
            let (served2, goaway2) = (served.clone(), goaway.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let proto = if h2 { "h2" } else { "http/1.1" };
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (u, p, first) = (u.clone(), p.clone(), first.clone());
                    let (served, goaway) = (served2.clone(), goaway2.clone());
                    async move {
                        if Some(served.fetch_add(1, Ordering::AcqRel) + 1) == goaway_after {
                            goaway.notify_one();
                        }
                        if first.swap(false, Ordering::AcqRel) {
                            u.fetch_add(1, Ordering::AcqRel);
                        }
                        p.lock().unwrap().push(proto);
                        if req.uri().path() == "/slow" {
                            tokio::time::sleep(2 * S).await;
                        }
                        hyper::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from_static(b"h2_a 1\nh2_b 2\n")))
                    }
                });
                let io = TokioIo::new(tls);
                if h2 {
                    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, svc);
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        () = goaway.notified() => conn.as_mut().graceful_shutdown(),
                    }
                    let _ = conn.await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            });
        }
    });
    Server {
        port,
        accepts,
        used,
        protos,
        ca: ca_path,
        _dir: dir,
    }
}

fn https_job(
    name: &str,
    srv: &Server,
    interval_ms: u64,
    timeout_ms: u64,
    h2: bool,
) -> Arc<JobSettings> {
    let mut j = (*job(name, interval_ms, timeout_ms)).clone();
    j.tls = TlsSettings {
        ca_file: Some(srv.ca.clone()),
        ..TlsSettings::default()
    };
    j.enable_http2 = h2;
    Arc::new(j)
}

fn opts() -> EngineOptions {
    EngineOptions {
        census_every: Duration::from_secs(3600),
        ..Default::default()
    }
}

fn alpns(run: &Run) -> Vec<Option<String>> {
    run.seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConnOpened(ConnInfo {
                tls: Some(TlsInfo { alpn, .. }),
                ..
            }) => Some(alpn.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_jobs_targets_on_one_host_share_one_h2_connection() {
    let srv = server(&[b"h2", b"http/1.1"]).await;
    let j = https_job("h2", &srv, 100, 80, true);
    let targets = ["a", "b", "c"]
        .iter()
        .map(|p| target(&format!("https://127.0.0.1:{}/m/{p}", srv.port), &j))
        .collect();
    let mut run = start(opts(), targets);
    let scrapes = run.wait_n("15 scrapes", 15, 5 * S, is_scrape).await;
    for s in &scrapes {
        assert!(scrape_up(s), "{s:?}");
    }
    assert_eq!(srv.used.load(Ordering::Acquire), 1, "{}", run.recent(20));
    let conns = srv.accepts.load(Ordering::Acquire);
    assert!(alpns(&run).iter().all(|a| a.as_deref() == Some("h2")));
    assert!(srv.protos.lock().unwrap().iter().all(|p| *p == "h2"));

    // A reconnect closes it (after its streams) and the next scrape dials a new one.
    run.send(Command::Reconnect(scrapetop::event::Selector::all()));
    let c = run
        .wait_for("forced close", 2 * S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::Forced,
                ..
            }
        ),
        "{c:?}"
    );
    run.wait_for("a new connection", 2 * S, |e| {
        matches!(e.kind, EventKind::ConnOpened(_))
    })
    .await;
    run.wait_n("3 scrapes", 3, 2 * S, scrape_up).await;
    assert_eq!(srv.used.load(Ordering::Acquire), 2);

    // A probe speaks h2 on its own fresh connection (HTTP/1.1 bytes there would fail it):
    // one per target, as each of the 3 is selected.
    run.send(Command::Probe(scrapetop::event::Selector::all()));
    let probes = run
        .wait_n("3 probes", 3, 2 * S, |e| {
            matches!(e.kind, EventKind::Probe(_))
        })
        .await;
    for p in &probes {
        let EventKind::Probe(p) = &p.kind else {
            unreachable!()
        };
        assert!(
            p.ok && p.status == Some(200) && p.first_byte_ms.is_some(),
            "{p:?}"
        );
    }
    assert_eq!(srv.used.load(Ordering::Acquire), 5);
    assert!(srv.accepts.load(Ordering::Acquire) >= conns + 4);
    run.quit().await;
}

#[tokio::test]
async fn a_timeout_resets_the_stream_and_keeps_the_h2_connection() {
    let srv = server(&[b"h2", b"http/1.1"]).await;
    let j = https_job("slow", &srv, 150, 100, true);
    let mut run = start(
        opts(),
        vec![target(&format!("https://127.0.0.1:{}/slow", srv.port), &j)],
    );
    let scrapes = run.wait_n("4 scrapes", 4, 5 * S, is_scrape).await;
    for s in &scrapes {
        let EventKind::Scrape(ScrapeResult { up, error, .. }) = &s.kind else {
            unreachable!()
        };
        assert!(!up);
        assert_eq!(
            error.as_deref(),
            Some(
                format!(
                    "Get \"https://127.0.0.1:{}/slow\": context deadline exceeded",
                    srv.port
                )
                .as_str()
            )
        );
    }
    assert_eq!(srv.accepts.load(Ordering::Acquire), 1);
    assert!(
        !run.seen
            .iter()
            .any(|e| matches!(e.kind, EventKind::ConnClosed { .. })),
        "{}",
        run.recent(20)
    );
    run.quit().await;
}

#[tokio::test]
async fn enable_http2_false_or_a_server_without_h2_speaks_http1() {
    // The server offers h2, the job does not.
    let srv = server(&[b"h2", b"http/1.1"]).await;
    let j = https_job("off", &srv, 100, 80, false);
    let mut run = start(
        opts(),
        vec![target(
            &format!("https://127.0.0.1:{}/metrics", srv.port),
            &j,
        )],
    );
    run.wait_n("3 scrapes", 3, 3 * S, scrape_up).await;
    assert_eq!(alpns(&run), [Some("http/1.1".to_owned())]);
    assert!(srv.protos.lock().unwrap().iter().all(|p| *p == "http/1.1"));
    assert_eq!(srv.accepts.load(Ordering::Acquire), 1);
    run.quit().await;

    // The job offers h2, the server knows no ALPN: HTTP/1.1, as Go does.
    let srv = server(&[]).await;
    let j = https_job("plain", &srv, 100, 80, true);
    let mut run = start(
        opts(),
        vec![target(
            &format!("https://127.0.0.1:{}/metrics", srv.port),
            &j,
        )],
    );
    run.wait_n("3 scrapes", 3, 3 * S, scrape_up).await;
    assert_eq!(alpns(&run), [None]);
    assert!(srv.protos.lock().unwrap().iter().all(|p| *p == "http/1.1"));
    assert_eq!(srv.accepts.load(Ordering::Acquire), 1);
    run.quit().await;
}

#[tokio::test]
async fn an_idle_h2_connection_closes_after_the_idle_timeout() {
    let srv = server(&[b"h2", b"http/1.1"]).await;
    let j = https_job("idle", &srv, 600, 300, true);
    let o = EngineOptions {
        idle_timeout: Duration::from_millis(200),
        ..opts()
    };
    let mut run = start(
        o,
        vec![target(
            &format!("https://127.0.0.1:{}/metrics", srv.port),
            &j,
        )],
    );
    let c = run
        .wait_for("an idle close", 3 * S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::IdleTimeout,
                requests: 1,
                ..
            }
        ),
        "{c:?}"
    );
    // The next scrape dials a new one.
    run.wait_n("2 scrapes", 2, 2 * S, scrape_up).await;
    assert!(srv.accepts.load(Ordering::Acquire) >= 2);
    run.quit().await;
}

#[tokio::test]
async fn a_goaway_ends_the_connection_after_its_streams_and_no_scrape_fails() {
    let srv = server_with(&[b"h2", b"http/1.1"], Some(2)).await;
    let j = https_job("goaway", &srv, 100, 80, true);
    let mut run = start(
        opts(),
        vec![target(
            &format!("https://127.0.0.1:{}/metrics", srv.port),
            &j,
        )],
    );
    let scrapes = run.wait_n("8 scrapes", 8, 5 * S, is_scrape).await;
    for s in &scrapes {
        assert!(scrape_up(s), "{s:?}\n{}", run.recent(20));
    }
    let closed: Vec<_> = run
        .seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ConnClosed {
                reason, requests, ..
            } => Some((reason, requests)),
            _ => None,
        })
        .collect();
    assert!(closed.len() >= 3, "{closed:?}");
    for c in &closed {
        assert_eq!(*c, (CloseReason::PeerClosed, 2), "{closed:?}");
    }
    assert!(srv.used.load(Ordering::Acquire) >= 4);
    run.quit().await;
}
