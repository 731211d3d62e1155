//! HTTP/1.1 client cost: scrapetop's `engine::http1::Conn` against hyper's
//! `client::conn::http1` as the engine drives it today (read buffer sized to 4 KiB, a spawned
//! `Connection` task, a `Request` built from a cloned `HeaderMap` per scrape).
//!
//! `cargo bench --bench http1`. The loopback server runs in a child process (this binary,
//! re-executed), so the heap counted by the global allocator below and the CPU read from
//! /proc/self/stat are the client's alone.
//!
//! Measured: live heap per idle connection after 1 and after 100 requests on each of
//! `CONNS` connections; CPU and allocations per request with `CONNS_CPU` connections, each
//! driven by its own task on a 2-worker runtime (as the engine's target tasks are).

// The counting allocator below is the one place unsafe is allowed (the crate denies it).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use scrapetop::engine::http1::{Conn, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counts live heap bytes and allocation calls.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERVER_ENV: &str = "SCRAPETOP_HTTP1_BENCH_SERVER";
/// Connections for the memory figures.
const CONNS: usize = 1000;
/// Connections (tasks) for the CPU figures, and requests each.
const CONNS_CPU: usize = 100;
const REQS_CPU: usize = 400;
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// A 20-line page, as the fleet benchmark serves.
fn page() -> Vec<u8> {
    let mut body = String::new();
    for i in 0..20 {
        body.push_str(&format!(
            "bench_metric_total{{instance=\"x\",n=\"{i}\"}} {}\n",
            1000 + i
        ));
    }
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Child process: answer every request on every connection with the page.
fn server() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", l.local_addr().expect("addr"));
        let _ = std::io::stdout().flush();
        let resp: &'static [u8] = Box::leak(page().into_boxed_slice());
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut have = 0;
                loop {
                    match s.read(&mut buf[have..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have += n,
                    }
                    while let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.copy_within(p + 4..have, 0);
                        have -= p + 4;
                        if s.write_all(resp).await.is_err() {
                            return;
                        }
                    }
                    if have == buf.len() {
                        return;
                    }
                }
            });
        }
    });
}

fn cpu_ticks() -> u64 {
    // utime + stime (fields 14 and 15) of the whole process, in clock ticks (100 Hz).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(") ").map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split(' ').collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

async fn dial(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// What the engine does per scrape with hyper (target.rs `TargetShared::request` + `send` +
/// the body loop).
struct Hyper {
    headers: HeaderMap,
    host: HeaderValue,
}

impl Hyper {
    fn new(addr: SocketAddr) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("scrapetop/0.1.0"),
        );
        headers.insert(
            "x-prometheus-scrape-timeout-seconds",
            HeaderValue::from_static("10"),
        );
        Hyper {
            headers,
            host: HeaderValue::from_str(&addr.to_string()).expect("host"),
        }
    }

    async fn connect(&self, addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .read_buf_exact_size(Some(4096))
            .handshake::<_, Empty<Bytes>>(TokioIo::new(dial(addr).await))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        sender
    }

    async fn get(&self, sender: &mut SendRequest<Empty<Bytes>>) -> usize {
        let mut req = http::Request::get("/metrics")
            .body(Empty::new())
            .expect("request");
        *req.headers_mut() = self.headers.clone();
        req.headers_mut().insert(header::HOST, self.host.clone());
        sender.ready().await.expect("ready");
        let resp = sender.send_request(req).await.expect("send");
        let mut body = resp.into_body();
        let mut n = 0;
        while let Some(f) = body.frame().await {
            if let Ok(d) = f.expect("frame").into_data() {
                n += d.len();
            }
        }
        n
    }
}

fn ours_request(addr: SocketAddr) -> Request {
    Request::get(
        "/metrics",
        &addr.to_string(),
        &[
            ("Accept", ACCEPT),
            ("Accept-Encoding", "gzip"),
            ("User-Agent", "scrapetop/0.1.0"),
            ("X-Prometheus-Scrape-Timeout-Seconds", "10"),
        ],
    )
    .expect("request")
}

async fn ours_get(c: &mut Conn<TcpStream>, req: &Request) -> usize {
    c.send(req).await.expect("send");
    let mut n = 0;
    while let Some(d) = c.body_chunk().await.expect("body") {
        n += d.len();
    }
    assert!(c.is_reusable());
    n
}

/// Let spawned tasks settle (hyper's connection tasks finish their turn).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn live() -> i64 {
    LIVE.load(Ordering::SeqCst)
}

/// Heap per idle connection after 1 and after 100 requests.
async fn memory(addr: SocketAddr, hyper: bool) -> (f64, f64) {
    settle().await;
    let base = live();
    let (after1, after100);
    if hyper {
        let h = Hyper::new(addr);
        let mut conns = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            let mut s = h.connect(addr).await;
            h.get(&mut s).await;
            conns.push(s);
        }
        settle().await;
        after1 = live() - base;
        for _ in 1..100 {
            for s in conns.iter_mut() {
                h.get(s).await;
            }
        }
        settle().await;
        after100 = live() - base;
        drop(conns);
    } else {
        let req = ours_request(addr);
        let mut conns = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            let mut c = Conn::new(dial(addr).await);
            ours_get(&mut c, &req).await;
            conns.push(c);
        }
        settle().await;
        after1 = live() - base;
        for _ in 1..100 {
            for c in conns.iter_mut() {
                ours_get(c, &req).await;
            }
        }
        settle().await;
        after100 = live() - base;
        drop(conns);
    }
    settle().await;
    (after1 as f64 / CONNS as f64, after100 as f64 / CONNS as f64)
}

/// CPU µs and allocations per request: `CONNS_CPU` tasks, each with its connection.
async fn cpu(addr: SocketAddr, hyper: bool) -> (f64, f64, f64) {
    let mut tasks = Vec::new();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let h = std::sync::Arc::new(Hyper::new(addr));
    let req = std::sync::Arc::new(ours_request(addr));
    for _ in 0..CONNS_CPU {
        let mut go = go_rx.clone();
        let (h, req) = (h.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            if hyper {
                let mut s = h.connect(addr).await;
                h.get(&mut s).await;
                let _ = go.wait_for(|g| *g).await;
                for _ in 0..REQS_CPU {
                    h.get(&mut s).await;
                }
            } else {
                let mut c = Conn::new(dial(addr).await);
                ours_get(&mut c, &req).await;
                let _ = go.wait_for(|g| *g).await;
                for _ in 0..REQS_CPU {
                    ours_get(&mut c, &req).await;
                }
            }
        }));
    }
    settle().await;
    let (t0, a0, w0) = (cpu_ticks(), ALLOCS.load(Ordering::SeqCst), Instant::now());
    let _ = go_tx.send(true);
    for t in tasks {
        t.await.expect("task");
    }
    let (t1, a1, wall) = (cpu_ticks(), ALLOCS.load(Ordering::SeqCst), w0.elapsed());
    let n = (CONNS_CPU * REQS_CPU) as f64;
    (
        (t1 - t0) as f64 * 10_000.0 / n,
        (a1 - a0) as f64 / n,
        wall.as_secs_f64() * 1e6 / n,
    )
}

fn main() {
    if std::env::var_os(SERVER_ENV).is_some() {
        server();
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .env(SERVER_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server address");
    let addr: SocketAddr = line.trim().parse().expect("server address");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| client | heap per idle conn after 1 request | after 100 requests | CPU µs / request | allocations / request | wall µs / request ({CONNS_CPU} conns) |"
    );
    println!("|---|---|---|---|---|---|");
    // Interleaved, twice each: ours, hyper, ours, hyper.
    for round in 0..2 {
        for (name, hyper) in [
            ("purpose-built (engine::http1)", false),
            ("hyper client::conn::http1", true),
        ] {
            let (m1, m100) = rt.block_on(memory(addr, hyper));
            let (us, allocs, wall) = rt.block_on(cpu(addr, hyper));
            println!(
                "| {name} (run {}) | {:.0} B | {:.0} B | {us:.1} | {allocs:.1} | {wall:.1} |",
                round + 1,
                m1,
                m100
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
