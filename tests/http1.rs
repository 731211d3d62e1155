//! The purpose-built HTTP/1.1 client (`engine::http1`) against real loopback servers that
//! write exact bytes: framing, keep-alive, heads up to Go's limit, idle closes, resets.

// Panicking on bad test data is the point in a test crate.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scrapetop::engine::http1::{Conn, Error, IdleEnd, MAX_HEAD, Request, Stream, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every await on the network is bounded by this.
const T: Duration = Duration::from_secs(10);

async fn within<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(T, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {T:?}"),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read one request head; `None` when the client closed. The client sends one request at a
/// time, so nothing follows the head.
async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            buf.truncate(p + 4);
            return Some(buf);
        }
        assert!(buf.len() < 65536, "request head too long");
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

/// A server on 127.0.0.1 running `handle` for each accepted connection; the counter says how
/// many connections it accepted.
async fn serve<F, Fut>(handle: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(s));
        }
    });
    (addr, accepted)
}

/// A server answering every request on a connection with `resp`, until the client closes.
async fn serve_fixed(resp: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let resp = Arc::new(resp);
    serve(move |mut s| {
        let resp = resp.clone();
        async move {
            while read_request(&mut s).await.is_some() {
                if s.write_all(&resp).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

/// A server answering the first request of each connection with `resp`, then closing.
async fn serve_once(resp: Vec<u8>) -> SocketAddr {
    let resp = Arc::new(resp);
    serve(move |mut s| {
        let resp = resp.clone();
        async move {
            if read_request(&mut s).await.is_some() {
                let _ = s.write_all(&resp).await;
                let _ = s.shutdown().await;
            }
        }
    })
    .await
    .0
}

async fn connect(addr: SocketAddr) -> Conn<TcpStream> {
    Conn::new(within(TcpStream::connect(addr)).await.unwrap())
}

fn req() -> Request {
    Request::get(
        "/metrics",
        "127.0.0.1",
        &[
            ("Accept", "text/plain;version=0.0.4"),
            ("Accept-Encoding", "gzip"),
            ("User-Agent", "scrapetop-test"),
        ],
    )
    .unwrap()
}

/// The whole body (tests only: the engine streams it).
async fn body<S>(c: &mut Conn<S>) -> Result<Vec<u8>, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut out = Vec::new();
    for _ in 0..1_000_000 {
        match within(c.body_chunk()).await? {
            Some(d) => out.extend_from_slice(d),
            None => return Ok(out),
        }
    }
    panic!("body never ended");
}

/// Send one request and read the whole response.
async fn get(c: &mut Conn<TcpStream>) -> Result<(u16, Vec<u8>), Error> {
    let head = within(c.send(&req())).await?;
    Ok((head.status(), body(c).await?))
}

#[tokio::test]
async fn content_length_reused_for_100_requests() {
    let (addr, accepted) = serve_fixed(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
    )
    .await;
    let mut c = connect(addr).await;
    for i in 0..100 {
        let (status, b) = get(&mut c).await.unwrap();
        assert_eq!((status, &b[..]), (200, &b"hello"[..]), "request {i}");
        assert!(c.is_reusable(), "request {i}");
        assert_eq!(c.buffer_capacity(), 0, "an idle connection holds no buffer");
    }
    assert_eq!(c.requests(), 100);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for all");
}

#[tokio::test]
async fn request_bytes_are_what_go_sends() {
    let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
    let tx = std::sync::Mutex::new(Some(tx));
    let (addr, _) = serve(move |mut s| {
        let tx = tx.lock().unwrap().take();
        async move {
            if let (Some(r), Some(tx)) = (read_request(&mut s).await, tx) {
                let _ = tx.send(r);
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    let r = Request::get(
        "/metrics?a=b",
        "example:9100",
        &[
            ("x-prometheus-scrape-timeout-seconds", "10"),
            ("User-Agent", "Prometheus/2.42.0"),
            ("Accept-Encoding", "gzip"),
            ("Authorization", "Bearer token"),
        ],
    )
    .unwrap();
    let head = within(c.send(&r)).await.unwrap();
    assert_eq!(head.status(), 204);
    assert!(c.is_reusable(), "204 has no body");
    let got = within(rx).await.unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "GET /metrics?a=b HTTP/1.1\r\nHost: example:9100\r\nUser-Agent: Prometheus/2.42.0\r\n\
         Accept-Encoding: gzip\r\nAuthorization: Bearer token\r\n\
         X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"
    );
}

#[tokio::test]
async fn chunked_in_pieces() {
    let (addr, accepted) = serve(|mut s| async move {
        while read_request(&mut s).await.is_some() {
            for piece in [
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                b"5\r\nhel",
                b"lo\r\n6;ext=1\r",
                b"\n world\r\n",
                b"0\r\n\r\n",
            ] {
                if s.write_all(piece).await.is_err() || s.flush().await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    for _ in 0..3 {
        assert_eq!(get(&mut c).await.unwrap(), (200, b"hello world".to_vec()));
        assert!(c.is_reusable());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn chunked_with_trailers_then_reused() {
    let (addr, accepted) = serve_fixed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n\
          3\r\nabc\r\n0\r\nX-Checksum: 42\r\nX-Other: 1\r\n\r\n"
            .to_vec(),
    )
    .await;
    let mut c = connect(addr).await;
    for _ in 0..2 {
        assert_eq!(get(&mut c).await.unwrap(), (200, b"abc".to_vec()));
        assert!(c.is_reusable());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn close_delimited_body() {
    let addr =
        serve_once(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\na 1\nb 2\n".to_vec()).await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"a 1\nb 2\n".to_vec()));
    assert!(
        !c.is_reusable(),
        "a body ended by the close ends the connection"
    );
    assert!(matches!(
        within(c.send(&req())).await,
        Err(Error::NotReady(_))
    ));
}

#[tokio::test]
async fn http10_closes_unless_keep_alive() {
    // The server keeps the connection open: only the version says it must not be reused.
    let (addr, _) = serve_fixed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()).await;
    let mut c = connect(addr).await;
    let head = within(c.send(&req())).await.unwrap();
    assert_eq!(head.version(), Version::Http10);
    assert_eq!(body(&mut c).await.unwrap(), b"ok");
    assert!(!c.is_reusable());

    let (addr, accepted) = serve_fixed(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    )
    .await;
    let mut c = connect(addr).await;
    for _ in 0..2 {
        assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
        assert!(c.is_reusable());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // HTTP/1.0 without a length: the body runs to the close.
    let addr = serve_once(b"HTTP/1.0 200 OK\r\n\r\nm 1\n".to_vec()).await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"m 1\n".to_vec()));
    assert!(!c.is_reusable());
}

#[tokio::test]
async fn connection_close_from_either_side() {
    let (addr, _) = serve_fixed(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    )
    .await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    assert!(!c.is_reusable(), "server said close");

    let (addr, _) = serve_fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()).await;
    let mut c = connect(addr).await;
    let r = Request::get("/metrics", "h", &[("Connection", "close")]).unwrap();
    within(c.send(&r)).await.unwrap();
    assert_eq!(body(&mut c).await.unwrap(), b"ok");
    assert!(!c.is_reusable(), "we said close");
}

fn head_with(headers: &[(String, String)], body: &str) -> Vec<u8> {
    let mut h = String::from("HTTP/1.1 200 OK\r\n");
    for (n, v) in headers {
        h.push_str(&format!("{n}: {v}\r\n"));
    }
    h.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    h.into_bytes()
}

#[tokio::test]
async fn large_heads_and_many_headers() {
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("8 KiB head", vec![("X-Big".to_owned(), "a".repeat(8192))]),
        (
            "1 MiB header",
            vec![("X-Big".to_owned(), "b".repeat(1 << 20))],
        ),
        (
            "1 MiB of headers",
            (0..1024)
                .map(|i| (format!("X-H{i}"), "c".repeat(1000)))
                .collect(),
        ),
        (
            "120 headers",
            (0..120)
                .map(|i| (format!("X-N{i}"), i.to_string()))
                .collect(),
        ),
    ];
    for (what, headers) in cases {
        let (addr, accepted) = serve_fixed(head_with(&headers, "m 1\n")).await;
        let mut c = connect(addr).await;
        for _ in 0..2 {
            let head = within(c.send(&req())).await.unwrap();
            assert_eq!(head.status(), 200, "{what}");
            assert_eq!(head.header_count(), headers.len() + 1, "{what}");
            let (n, v) = &headers[headers.len() - 1];
            assert_eq!(head.get(n), Some(v.as_bytes()), "{what}");
            assert_eq!(body(&mut c).await.unwrap(), b"m 1\n", "{what}");
            assert!(c.is_reusable(), "{what}");
            assert_eq!(c.buffer_capacity(), 0, "{what}: buffer given back");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "{what}");
    }
}

#[tokio::test]
async fn head_over_the_limit_fails_without_lowering_it() {
    let big = head_with(&[("X-Big".to_owned(), "d".repeat(100_000))], "m 1\n");
    let (addr, _) = serve_fixed(big).await;
    let mut c = connect(addr).await.with_max_head(65536);
    let e = within(c.send(&req())).await.unwrap_err();
    assert!(matches!(e, Error::HeadTooLarge { limit: 65536 }), "{e}");
    assert!(e.to_string().contains("exceeded 65536 bytes"), "{e}");
    assert!(!c.is_reusable());
    // A new connection with the default limit takes the same head.
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"m 1\n".to_vec()));

    // Go's default limit, 10 MiB.
    let huge = head_with(&[("X-Huge".to_owned(), "e".repeat(MAX_HEAD))], "");
    let (addr, _) = serve_fixed(huge).await;
    let mut c = connect(addr).await;
    let e = within(c.send(&req())).await.unwrap_err();
    assert!(matches!(e, Error::HeadTooLarge { limit: MAX_HEAD }), "{e}");
    assert_eq!(c.buffer_capacity(), 0, "the failed head's buffer is freed");
}

#[tokio::test]
async fn interim_1xx_responses_are_skipped() {
    let (addr, accepted) = serve_fixed(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            .to_vec(),
    )
    .await;
    let mut c = connect(addr).await;
    for _ in 0..2 {
        assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
        assert!(c.is_reusable());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // Six of them: Go up to 1.23 (Prometheus 2) gives up after five, Go 1.24+ reads on.
    let mut six = b"HTTP/1.1 103 Early Hints\r\n\r\n".repeat(6);
    six.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let (addr, _) = serve_fixed(six).await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    let mut c = connect(addr).await.with_max_interim(Some(5));
    let e = within(c.send(&req())).await.unwrap_err();
    assert!(matches!(e, Error::TooManyInterim), "{e:?}");
    assert_eq!(
        e.to_string(),
        "net/http: too many 1xx informational responses"
    );
}

#[tokio::test]
async fn idle_close_is_noticed_without_a_request() {
    // FIN: the server closes after its answer, as on a keep-alive timeout.
    let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()).await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    assert!(c.is_reusable(), "nothing said close");
    assert!(matches!(within(c.idle_closed()).await, IdleEnd::Closed));
    assert!(!c.is_reusable());
    assert!(matches!(
        within(c.send(&req())).await,
        Err(Error::NotReady(_))
    ));

    // RST while idle.
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let go_rx = std::sync::Mutex::new(Some(go_rx));
    let (addr, _) = serve(move |mut s| {
        let go = go_rx.lock().unwrap().take();
        async move {
            if read_request(&mut s).await.is_some() {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                if let Some(go) = go {
                    let _ = go.await;
                }
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    assert!(c.check_idle().is_none(), "still open");
    go_tx.send(()).unwrap();
    assert!(matches!(within(c.idle_closed()).await, IdleEnd::Reset(_)));

    // Bytes nobody asked for.
    let (read_tx, read_rx) = tokio::sync::oneshot::channel::<()>();
    let read_rx = std::sync::Mutex::new(Some(read_rx));
    let (addr, _) = serve(move |mut s| {
        let read = read_rx.lock().unwrap().take();
        async move {
            if read_request(&mut s).await.is_some() {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                if let Some(read) = read {
                    let _ = read.await;
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
                let _ = read_request(&mut s).await;
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    read_tx.send(()).unwrap();
    let end = within(c.idle_closed()).await;
    assert!(matches!(end, IdleEnd::Unsolicited), "{end:?}");
    assert!(!c.is_reusable());
}

#[tokio::test]
async fn failure_before_any_byte_on_a_reused_connection_may_retry() {
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let closed_tx = std::sync::Mutex::new(Some(closed_tx));
    let (addr, _) = serve(move |mut s| {
        let tx = closed_tx.lock().unwrap().take();
        async move {
            if read_request(&mut s).await.is_some() {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                drop(s);
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    within(closed_rx).await.unwrap();
    // The client did not watch the idle connection: the request meets the close.
    let e = within(c.send(&req())).await.unwrap_err();
    assert!(matches!(e, Error::Closed | Error::Reset { .. }), "{e:?}");
    assert!(c.retry_allowed(&e), "reused and nothing received: {e:?}");

    // On a fresh connection Go does not retry.
    let addr = serve_once(Vec::new()).await;
    let mut c = connect(addr).await;
    let e = within(c.send(&req())).await.unwrap_err();
    assert!(matches!(e, Error::Closed), "{e:?}");
    assert_eq!(e.to_string(), "EOF");
    assert!(!c.retry_allowed(&e));

    // Part of a response came: no retry either.
    let (addr, _) = serve(|mut s| async move {
        if read_request(&mut s).await.is_some()
            && s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .is_ok()
            && read_request(&mut s).await.is_some()
        {
            // Half a head, then the close.
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        }
    })
    .await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    let e = within(c.send(&req())).await.unwrap_err();
    assert!(matches!(e, Error::UnexpectedEof), "{e:?}");
    assert!(!c.retry_allowed(&e));
}

#[tokio::test]
async fn reset_mid_body() {
    let (addr, _) = serve(|mut s| async move {
        if read_request(&mut s).await.is_some() {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789")
                .await;
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    })
    .await;
    let mut c = connect(addr).await;
    within(c.send(&req())).await.unwrap();
    let e = body(&mut c).await.unwrap_err();
    assert!(matches!(e, Error::Reset { .. }), "{e:?}");
    assert!(e.is_reset_or_eof());
    assert!(!c.is_reusable());
}

#[tokio::test]
async fn eof_mid_body_and_mid_chunk() {
    for resp in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
    ] {
        let addr = serve_once(resp.to_vec()).await;
        let mut c = connect(addr).await;
        within(c.send(&req())).await.unwrap();
        let e = body(&mut c).await.unwrap_err();
        assert!(matches!(e, Error::UnexpectedEof), "{e:?}");
        assert_eq!(e.to_string(), "unexpected EOF");
        assert!(!c.is_reusable());
    }
}

#[tokio::test]
async fn malformed_responses_are_typed_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"HTTP/1.1 2OO OK\r\n\r\n", "malformed HTTP status code"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed HTTP response"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "invalid byte in chunk length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX",
            "malformed chunked encoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "unsupported transfer encoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "multiple Content-Length",
        ),
    ];
    for (resp, want) in cases {
        let (addr, _) = serve_fixed(resp.to_vec()).await;
        let mut c = connect(addr).await;
        let e = match within(c.send(&req())).await {
            Err(e) => e,
            Ok(_) => body(&mut c).await.unwrap_err(),
        };
        assert!(e.to_string().contains(want), "{resp:?}: {e}");
        assert!(!c.is_reusable());
    }
}

#[tokio::test]
async fn non_200_drained_and_reused() {
    let (addr, accepted) = serve(|mut s| async move {
        let mut n = 0;
        while read_request(&mut s).await.is_some() {
            n += 1;
            let r: &[u8] = match n {
                1 => {
                    b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
                       13\r\nservice unavailable\r\n0\r\n\r\n"
                }
                2 => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
                _ => b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nm 1\n",
            };
            if s.write_all(r).await.is_err() {
                return;
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    let head = within(c.send(&req())).await.unwrap();
    assert_eq!((head.status(), head.reason()), (503, "Service Unavailable"));
    assert_eq!(within(c.drain()).await.unwrap(), 19);
    assert!(c.is_reusable());
    let head = within(c.send(&req())).await.unwrap();
    assert_eq!(head.status(), 404);
    assert_eq!(within(c.drain()).await.unwrap(), 9);
    assert_eq!(get(&mut c).await.unwrap(), (200, b"m 1\n".to_vec()));
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "kept across non-200s");

    // Not drained: not reusable.
    let head = within(c.send(&req())).await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(!c.is_reusable());
    assert!(matches!(
        within(c.send(&req())).await,
        Err(Error::NotReady(_))
    ));
}

#[tokio::test]
async fn buffer_grows_for_a_big_page_and_shrinks_back() {
    let big = "x 1\n".repeat(1 << 18); // 1 MiB
    let (addr, _) = serve(move |mut s| {
        let big = big.clone();
        async move {
            let mut n = 0;
            while read_request(&mut s).await.is_some() {
                n += 1;
                let body = if n == 2 { big.as_str() } else { "m 1\n" };
                let r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if s.write_all(r.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap().1, b"m 1\n");
    within(c.send(&req())).await.unwrap();
    let (mut peak, mut total) = (0, 0);
    while let Some(d) = within(c.body_chunk()).await.unwrap() {
        total += d.len();
        peak = peak.max(c.buffer_capacity());
    }
    assert_eq!(total, 1 << 20);
    assert!(peak > 4096, "grew for the big page: {peak}");
    assert!(peak <= 64 * 1024, "streams, never buffers the page: {peak}");
    assert_eq!(c.buffer_capacity(), 0, "freed once the response ended");
    // The next response starts big (the last page was big), the one after small again.
    for want_at_most in [64 * 1024, 1024] {
        within(c.send(&req())).await.unwrap();
        let cap = c.buffer_capacity();
        assert!(cap <= want_at_most, "{cap} > {want_at_most}");
        assert_eq!(body(&mut c).await.unwrap(), b"m 1\n");
    }
}

#[tokio::test]
async fn bytes_past_the_response_end_reuse() {
    let (addr, _) =
        serve_fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA".to_vec()).await;
    let mut c = connect(addr).await;
    assert_eq!(get(&mut c).await.unwrap(), (200, b"ok".to_vec()));
    if c.is_reusable() {
        // The extra bytes came in a later read: the idle watch sees them.
        assert!(matches!(
            within(c.idle_closed()).await,
            IdleEnd::Unsolicited
        ));
    }
    assert!(!c.is_reusable());
}

#[tokio::test]
async fn works_over_any_async_stream() {
    let (client, mut server) = tokio::io::duplex(256);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1024];
        let mut got = Vec::new();
        while find(&got, b"\r\n\r\n").is_none() {
            match server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = server
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nm 1\n")
            .await;
        let _ = server.shutdown().await;
    });
    let mut c = Conn::new(client);
    within(c.send(&req())).await.unwrap();
    assert_eq!(body(&mut c).await.unwrap(), b"m 1\n");
    assert!(matches!(within(c.idle_closed()).await, IdleEnd::Closed));
}

#[tokio::test]
async fn redirect_body_slurped_as_go_does() {
    let (addr, accepted) = serve(|mut s| async move {
        let mut n = 0;
        while read_request(&mut s).await.is_some() {
            n += 1;
            let r = if n == 1 {
                "HTTP/1.1 302 Found\r\nLocation: /elsewhere?x=1\r\nContent-Length: 5\r\n\r\nmoved"
                    .to_owned()
            } else {
                let body = "m".repeat(10_000);
                format!("HTTP/1.1 301 Moved Permanently\r\nLocation: http://other:9100/m\r\nContent-Length: 10000\r\n\r\n{body}")
            };
            if s.write_all(r.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let mut c = connect(addr).await;
    let head = within(c.send(&req())).await.unwrap();
    assert!(head.is_redirect());
    assert_eq!(
        (head.status(), head.location()),
        (302, Some("/elsewhere?x=1"))
    );
    assert!(
        within(c.drain_limit(2048)).await.unwrap(),
        "a short body is read"
    );
    assert!(c.is_reusable());
    let head = within(c.send(&req())).await.unwrap();
    assert_eq!(
        (head.status(), head.location()),
        (301, Some("http://other:9100/m"))
    );
    assert!(
        !within(c.drain_limit(2048)).await.unwrap(),
        "a long body costs the connection"
    );
    assert!(!c.is_reusable());
    assert_eq!(c.buffer_capacity(), 0);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// Over TLS 1.3 (the server sends session tickets after the handshake: they must not look
/// like an unsolicited response), reused, then an idle close_notify noticed without a request.
#[tokio::test]
async fn over_tls_reused_and_idle_close_noticed() {
    use rustls::pki_types::{PrivateKeyDer, ServerName};
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let close_rx = std::sync::Mutex::new(Some(close_rx));
    let (addr, accepted) = serve(move |s| {
        let acceptor = acceptor.clone();
        let close = close_rx.lock().unwrap().take();
        async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            for _ in 0..2 {
                let mut got = Vec::new();
                while find(&got, b"\r\n\r\n").is_none() {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let r = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nm 1\n";
                if tls.write_all(r).await.is_err() || tls.flush().await.is_err() {
                    return;
                }
            }
            if let Some(close) = close {
                let _ = close.await;
            }
            let _ = tls.shutdown().await; // close_notify, then FIN
        }
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = within(TcpStream::connect(addr)).await.unwrap();
    let tls = within(
        tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .unwrap();
    let mut c = Conn::new(Stream::from(tls));
    assert_eq!(c.get_ref().tcp().peer_addr().unwrap(), addr);
    for _ in 0..2 {
        within(c.send(&req())).await.unwrap();
        assert_eq!(body(&mut c).await.unwrap(), b"m 1\n");
        assert!(c.is_reusable());
    }
    assert!(c.check_idle().is_none(), "tickets are not a response");
    close_tx.send(()).unwrap();
    assert!(matches!(within(c.idle_closed()).await, IdleEnd::Closed));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn chunk_size_line_longer_than_go_allows() {
    // Go's chunked reader refuses a chunk-size line (extensions included) of 4096 bytes or more.
    let ext = "x".repeat(5000);
    let resp = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e={ext}\r\nhello\r\n0\r\n\r\n"
    );
    let (addr, _) = serve_fixed(resp.into_bytes()).await;
    let mut c = connect(addr).await;
    within(c.send(&req())).await.unwrap();
    let e = body(&mut c).await.unwrap_err();
    assert!(matches!(e, Error::Chunk("header line too long")), "{e:?}");
}
