//! body.rs against a real HTTP server on loopback: parse errors, gzip (multi-member, upper
//! case, corrupt, empty, a bomb), the size limit and the label/sample limits, each with the
//! connection's fate Prometheus gives it (kept unless the deadline passed mid-body).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use scrapetop::engine::body::{BodyErrorKind, BodyOptions, BodyReader, BodySummary};
use scrapetop::expo::{Compat, ErrorKind, Format};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A keep-alive HTTP/1.1 server answering every request with the same raw response
/// (Content-Length framing); counts accepted connections.
struct Server {
    addr: std::net::SocketAddr,
    accepts: Arc<AtomicU64>,
}

async fn serve(headers: &[(&str, &str)], body: Vec<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepts = Arc::new(AtomicU64::new(0));
    let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    response.extend_from_slice(&body);
    let response = Arc::new(response);
    let counter = accepts.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if s.write_all(&response).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Server { addr, accepts }
}

async fn connect(server: &Server) -> SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// One scrape over `sender` with body.rs, as the engine does it: the head's
/// Content-Type/Content-Encoding pick the reader, every frame is fed (drained after an
/// error), the deadline bounds everything.
async fn scrape(
    sender: &mut SendRequest<Empty<Bytes>>,
    opts: &BodyOptions,
    timeout: Duration,
) -> Result<BodySummary, scrapetop::engine::body::BodyError> {
    let deadline = Instant::now() + timeout;
    let opts = BodyOptions {
        deadline: Some(deadline),
        ..opts.clone()
    };
    sender.ready().await.expect("ready");
    let req = http::Request::get("/metrics")
        .header("host", "x")
        .body(Empty::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let header = |n| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (ct, ce) = (header("content-type"), header("content-encoding"));
    let mut reader = BodyReader::new(ct.as_deref(), ce.as_deref(), &opts);
    let mut body = resp.into_body();
    let read = tokio::time::timeout_at(deadline.into(), async {
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("frame");
            if let Ok(data) = frame.into_data() {
                reader.feed(&data).await?;
            }
        }
        Ok(())
    })
    .await;
    match read {
        Err(_) => Err(reader.deadline_error()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => reader.finish(),
    }
}

const TEXT: (&str, &str) = ("Content-Type", "text/plain; version=0.0.4; charset=utf-8");

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b).expect("gzip");
    enc.finish().expect("gzip")
}

fn page(n: usize) -> Vec<u8> {
    let mut p = b"# HELP m A metric.\n# TYPE m gauge\n".to_vec();
    for i in 0..n {
        p.extend_from_slice(format!("m{{i=\"{i}\"}} {i}\n").as_bytes());
    }
    p
}

/// Scrape twice on one connection: the second must reuse it (the first kept it).
async fn twice(
    server: &Server,
    opts: &BodyOptions,
) -> Result<BodySummary, scrapetop::engine::body::BodyError> {
    let before = server.accepts.load(Ordering::SeqCst);
    let mut c = connect(server).await;
    let first = scrape(&mut c, opts, Duration::from_secs(5)).await;
    if let Err(e) = &first {
        assert!(e.keeps_connection(), "{e:?}");
    }
    let second = scrape(&mut c, opts, Duration::from_secs(5)).await;
    assert_eq!(first, second);
    assert_eq!(
        server.accepts.load(Ordering::SeqCst),
        before + 1,
        "connection kept"
    );
    first
}

#[tokio::test]
async fn a_page_that_parses_counts_its_samples() {
    let s = serve(&[TEXT], page(100)).await;
    let got = twice(&s, &BodyOptions::default()).await.expect("up");
    assert_eq!((got.samples, got.format), (100, Some(Format::Text)));
}

#[tokio::test]
async fn an_html_page_is_down_and_the_connection_kept() {
    let html = b"<html><body>Please log in</body></html>\n".to_vec();
    let s = serve(&[("Content-Type", "text/html")], html).await;
    let e = twice(&s, &BodyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind, BodyErrorKind::Exposition(ErrorKind::ContentType));
    assert_eq!(
        e.message,
        r#"received unsupported Content-Type "text/html" and no fallback_scrape_protocol specified for target"#
    );
    let v2 = BodyOptions {
        compat: Compat::V2,
        ..Default::default()
    };
    let e = twice(&s, &v2).await.unwrap_err();
    assert_eq!(e.message, r#""INVALID" is not a valid start token"#);
    let fallback = BodyOptions {
        fallback: Some(Format::Text),
        ..Default::default()
    };
    let e = twice(&s, &fallback).await.unwrap_err();
    assert_eq!(e.kind, BodyErrorKind::Exposition(ErrorKind::Syntax));
}

#[tokio::test]
async fn openmetrics_needs_eof_and_a_nul_ends_the_text_format() {
    let om = (
        "Content-Type",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
    );
    let s = serve(&[om], b"a_total 1\n".to_vec()).await;
    let e = twice(&s, &BodyOptions::default()).await.unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.samples),
        ("data does not end with # EOF", 1)
    );
    let s = serve(&[TEXT], b"a 1\nb 2\n\0garbage {{{\n".to_vec()).await;
    assert_eq!(
        twice(&s, &BodyOptions::default())
            .await
            .expect("up")
            .samples,
        2
    );
}

#[tokio::test]
async fn body_size_limit_fails_at_the_limit() {
    let body = page(10);
    let len = body.len() as u64;
    let s = serve(&[TEXT], body.clone()).await;
    let at = BodyOptions {
        body_size_limit: len,
        ..Default::default()
    };
    let e = twice(&s, &at).await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str(), e.samples),
        (BodyErrorKind::SizeLimit, "body size limit exceeded", 0)
    );
    let above = BodyOptions {
        body_size_limit: len + 1,
        ..Default::default()
    };
    assert_eq!(twice(&s, &above).await.expect("up").samples, 10);
    // Uncompressed bytes count, and a read failure wins over a parse failure.
    let s = serve(
        &[TEXT, ("Content-Encoding", "gzip")],
        gzip(b"not a page at all\n"),
    )
    .await;
    let e = twice(
        &s,
        &BodyOptions {
            body_size_limit: 5,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, BodyErrorKind::SizeLimit);
}

#[tokio::test]
async fn gzip_as_prometheus_reads_it() {
    // Two members: read whole.
    let mut two = gzip(&page(200));
    two.extend_from_slice(&gzip(b"n 1\nn2 2\n"));
    let s = serve(&[TEXT, ("Content-Encoding", "gzip")], two).await;
    let got = twice(&s, &BodyOptions::default()).await.expect("up");
    assert_eq!(got.samples, 202);
    assert!(got.wire_bytes < got.bytes);

    // Upper case is not gzip to Prometheus: the compressed bytes are parsed, and fail.
    let s = serve(&[TEXT, ("Content-Encoding", "GZIP")], gzip(&page(3))).await;
    let e = twice(&s, &BodyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind, BodyErrorKind::Exposition(ErrorKind::Syntax), "{e}");

    // Not gzip at all, and a truncated stream: down, connection kept.
    let s = serve(&[TEXT, ("Content-Encoding", "gzip")], page(3)).await;
    let e = twice(&s, &BodyOptions::default()).await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (BodyErrorKind::Gzip, "gzip: invalid header")
    );
    let mut cut = gzip(&page(50));
    cut.truncate(cut.len() / 2);
    let s = serve(&[TEXT, ("Content-Encoding", "gzip")], cut).await;
    let e = twice(&s, &BodyOptions::default()).await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (BodyErrorKind::Gzip, "unexpected EOF")
    );
    // Go's gzip reader fails an empty body.
    let s = serve(&[TEXT, ("Content-Encoding", "gzip")], Vec::new()).await;
    let e = twice(&s, &BodyOptions::default()).await.unwrap_err();
    assert_eq!(e.message, "EOF");
}

#[tokio::test]
async fn limits_fail_the_scrape_with_prometheus_texts() {
    let s = serve(&[TEXT], page(20)).await;
    let mut o = BodyOptions::default();
    o.limits.sample_limit = 10;
    let e = twice(&s, &o).await.unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.samples),
        ("sample limit exceeded", 20)
    );
    let mut o = BodyOptions::default();
    o.limits.label_limit = 3;
    o.limits.target_labels = 2;
    let e = twice(&s, &o).await.unwrap_err();
    assert_eq!(
        e.message,
        "label_limit exceeded (metric: m, number of labels: 4, limit: 3)"
    );
    let mut o = BodyOptions::default();
    o.limits.label_value_length_limit = 1;
    let e = twice(&s, &o).await.unwrap_err();
    assert_eq!(
        e.message,
        r#"label_value_length_limit exceeded (metric: m, label name: i, value: "10", length: 2, limit: 1)"#
    );
    assert_eq!(e.samples, 11);
}

/// A ~1 MiB gzip body inflating to 1 GiB: down with `context deadline exceeded` close to
/// the timeout, the connection closed, and other tasks on the same thread keep running.
#[tokio::test(flavor = "current_thread")]
async fn a_gzip_bomb_is_bounded_by_the_deadline_and_yields() {
    let mut line = Vec::with_capacity(1 << 20);
    while line.len() < (1 << 20) {
        line.extend_from_slice(b"a 1\n");
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&line).expect("gzip");
    let member = enc.finish().expect("gzip");
    let mut bomb = Vec::with_capacity(member.len() * 1024);
    for _ in 0..1024 {
        bomb.extend_from_slice(&member);
    }
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let s = serve(&[TEXT, ("Content-Encoding", "gzip")], bomb).await;
    let mut c = connect(&s).await;

    // A ticker on the same thread: its longest gap shows whether inflation yields.
    let gap = Arc::new(AtomicU64::new(0));
    let (g, stop) = (
        gap.clone(),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let stop2 = stop.clone();
    let ticker = tokio::spawn(async move {
        let mut last = Instant::now();
        while !stop2.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let d = last.elapsed().as_millis() as u64;
            g.fetch_max(d, Ordering::Relaxed);
            last = Instant::now();
        }
    });
    let timeout = Duration::from_millis(800);
    let start = Instant::now();
    let e = scrape(&mut c, &BodyOptions::default(), timeout)
        .await
        .unwrap_err();
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    ticker.await.expect("ticker");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (BodyErrorKind::Deadline, "context deadline exceeded")
    );
    assert!(!e.keeps_connection());
    assert!(took < timeout + Duration::from_millis(400), "took {took:?}");
    let gap = gap.load(Ordering::Relaxed);
    assert!(gap < 250, "the thread was blocked for {gap} ms");
}

/// A protobuf body (the fidelity suite's summary and histograms page, gzipped): parsed as it
/// streams, counted as Prometheus counts it; a native histogram follows the job's settings
/// under compat 3 and fails under compat 2, keeping the connection either way.
#[tokio::test]
async fn protobuf_bodies_count_as_prometheus_and_keep_the_connection() {
    let seed = |name: &str| {
        let b = std::fs::read(format!(
            "{}/fuzz/seeds/expo_proto/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("seed");
        b[1..].to_vec()
    };
    let pb = (
        "Content-Type",
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&seed("summary_histogram-0")).expect("gzip");
    let body = gz.finish().expect("gzip");
    let s = serve(&[pb, ("Content-Encoding", "gzip")], body).await;
    let got = twice(&s, &BodyOptions::default()).await.expect("up");
    assert_eq!((got.samples, got.format), (13, Some(Format::Protobuf)));

    let s = serve(&[pb], seed("native-0")).await;
    // Prometheus 3 without scrape_native_histograms: the gauge, then _count, _sum, +Inf.
    assert_eq!(
        twice(&s, &BodyOptions::default())
            .await
            .expect("up")
            .samples,
        4
    );
    let native = BodyOptions {
        histograms: scrapetop::expo::Histograms {
            scrape_native: true,
            always_classic: false,
        },
        ..Default::default()
    };
    assert_eq!(twice(&s, &native).await.expect("up").samples, 2);
    let v2 = BodyOptions {
        compat: Compat::V2,
        ..Default::default()
    };
    let e = twice(&s, &v2).await.unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.samples),
        ("native histograms are disabled", 2)
    );
}
